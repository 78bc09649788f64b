import IMSDomain
import IMSEngine
import IMSJournal

/// Where the history projector reads the journal: the state after a record, and the records after it as
/// they become durable. A file journal (`FileJournalSource`) or, with `--journal kafka`, the topic.
public protocol HistoryJournalSource: Sendable {
    /// The state after record `record` (0: the empty state), rebuilt from the newest snapshot at or before it
    /// and the journal, and a follower of the records after it.
    func open(after record: UInt64, catalog: MarketCatalog, partitions: Int) throws -> (state: EngineState, follower: any JournalFollower)
}

/// Hands out a journal's records in order as they become available.
public protocol JournalFollower: AnyObject {
    /// Calls `body` with each record after those handed so far, through `limit`, that can be read now;
    /// returns how many. Stops early, after the record, when `body` returns false.
    func read(through limit: UInt64, _ body: (UInt64, JournalEntry) throws -> Bool) throws -> Int
}

extension JournalTail: JournalFollower {}

/// The journal files of a data directory, and its snapshots.
public struct FileJournalSource: HistoryJournalSource {
    public let dataDirectory: String

    public init(dataDirectory: String) { self.dataDirectory = dataDirectory }

    public func open(after record: UInt64, catalog: MarketCatalog, partitions: Int) throws -> (state: EngineState, follower: any JournalFollower) {
        var state = EngineState(catalog: catalog, partitions: partitions)
        if record > 0, let store = try? SnapshotStore(directory: DataDirectory.snapshotDirectory(dataDirectory)) {
            for info in store.list().sorted(by: { $0.appliedRecord > $1.appliedRecord }) where info.appliedRecord <= record {
                if let loaded = try? store.load(info, catalog: catalog) {
                    state = loaded
                    break
                }
            }
        }
        let tail = JournalTail(directory: DataDirectory.journalDirectory(dataDirectory), from: state.appliedRecord + 1)
        if state.appliedRecord < record {
            try tail.read(through: record) { number, entry in
                state.apply(entry, record: number)
                _ = state.takeTextsToJournal()
                return true
            }
            guard state.appliedRecord == record else {
                throw HistoryError("the journal ends at record \(state.appliedRecord), before record \(record) the history store has reached")
            }
        }
        return (state, tail)
    }
}
