import Foundation
import IMSDomain
import IMSEngine
import IMSHistory
import IMSJournal

#if Kafka
    import IMSKafka

    /// The history projector's journal when the journal is a Kafka topic: the newest local snapshot with a topic
    /// position at or before the record asked for, then the topic, read as a follower reads it (a deposed
    /// leader's records skipped by epoch, record numbers consecutive).
    struct KafkaHistorySource: HistoryJournalSource {
        let brokers: String
        let topic: String
        let snapshotDirectory: String

        func open(after record: UInt64, catalog: MarketCatalog, partitions: Int) throws -> (state: EngineState, follower: any JournalFollower) {
            var state = EngineState(catalog: catalog, partitions: partitions)
            var position = ReplicaPosition.start
            if record > 0, let store = try? SnapshotStore(directory: snapshotDirectory) {
                for info in store.list().sorted(by: { $0.appliedRecord > $1.appliedRecord }) where info.appliedRecord <= record {
                    guard let stored = ReplicaSnapshots.position(of: info), let loaded = try? store.load(info, catalog: catalog) else { continue }
                    (state, position) = (loaded, stored)
                    break
                }
            }
            let follower = try KafkaJournalFollower(brokers: brokers, topic: topic, from: position)
            let deadline = Date().addingTimeInterval(60)
            while state.appliedRecord < record {
                let read = try follower.read(through: record) { number, entry in
                    state.apply(entry, record: number)
                    _ = state.takeTextsToJournal()
                    return true
                }
                if read == 0 && Date() > deadline {
                    throw HistoryError("the topic \(topic) ends at record \(state.appliedRecord), before record \(record) the history store has reached")
                }
            }
            return (state, follower)
        }
    }

    /// Reads a journal topic from a position on, as a follower does, holding back a record read past the limit.
    final class KafkaJournalFollower: JournalFollower {
        private let reader: KafkaJournalReader
        private var reading: LogReading
        private var held: (record: UInt64, entry: JournalEntry)?

        init(brokers: String, topic: String, from position: ReplicaPosition) throws {
            reader = try KafkaJournalReader(brokers: brokers, topic: topic, fromOffset: position.offset)
            reading = LogReading(from: position)
        }

        func read(through limit: UInt64, _ body: (UInt64, JournalEntry) throws -> Bool) throws -> Int {
            var handed = 0
            while true {
                if let (number, entry) = held {
                    guard number <= limit else { return handed }
                    held = nil
                    handed += 1
                    if try !body(number, entry) { return handed }
                    continue
                }
                guard let (message, record) = try reader.next(timeout: .milliseconds(handed == 0 ? 20 : 1)) else { return handed }
                switch record {
                case .entry(let number, let written, let entry):
                    guard try reading.take(record: number, epoch: written, offset: message.offset) == .counts else { continue }
                    held = (number, entry)
                case .control(let control):
                    reading.see(epoch: control.epoch)
                }
            }
        }
    }
#endif
