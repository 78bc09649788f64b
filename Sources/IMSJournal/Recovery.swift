import Foundation
import IMSDomain
import IMSEngine

/// How a start went: what was loaded, replayed and repaired.
public struct RecoveryReport: Sendable {
    /// The journal record the loaded snapshot covered, if one was loaded.
    public var snapshotRecord: UInt64?
    public var snapshotSeconds = 0.0
    public var replayedRecords = 0
    public var replayedEvents = 0
    public var replaySeconds = 0.0
    public var journalBytesRead = 0
    /// Problems found and repaired; each is also journaled as an exception.
    public var notices: [Notice] = []

    public var totalSeconds: Double { snapshotSeconds + replaySeconds }
}

/// Opens a data directory: newest valid snapshot, then the journal after it, repairing a torn tail.
///
/// ```swift
/// let opened = try DataDirectory.open("/var/lib/ims", catalog: .embedded)
/// let engine = Engine(state: opened.state, journal: opened.journal, snapshots: opened.snapshots)
/// ```
public struct DataDirectory: Sendable {
    public var state: EngineState
    public var journal: SegmentedJournal
    public var snapshots: SnapshotStore
    public var report: RecoveryReport

    /// The journal's folder in a data directory.
    public static func journalDirectory(_ path: String) -> String { path + "/journal" }
    /// The snapshots' folder in a data directory.
    public static func snapshotDirectory(_ path: String) -> String { path + "/snapshots" }

    /// Recovers the state held in `path` (creating it if new) and opens its journal for appending.
    /// `now` stamps the notices of any repair; `log` receives one line per step.
    /// A new directory's state has `partitions` partitions; a loaded snapshot keeps its own.
    public static func open(
        _ path: String, catalog: MarketCatalog, partitions: Int = EngineState.defaultPartitionCount, policy: SyncPolicy = .everyBatch,
        segmentBytes: Int = 64 << 20, now: Timestamp, log: (String) -> Void = { _ in }
    ) throws -> DataDirectory {
        try FileIO.makeDirectory(path)
        let store = try SnapshotStore(directory: snapshotDirectory(path))
        for stale in store.removeUnfinished() { log("removed \(stale), a snapshot a crash left unfinished") }
        var report = RecoveryReport()
        var state = EngineState(catalog: catalog, partitions: partitions)
        // The journal segments the newest snapshot covers are checked on another thread while it loads.
        let journalDirectory = journalDirectory(path)
        let predicted = store.list().first?.appliedRecord ?? 0
        let verification = BlockingFuture.run(on: "ims-journal-verify") { try JournalReader.verifyCovered(directory: journalDirectory, through: predicted) }
        let snapshotStart = Date()
        for (file, reason) in store.damaged() {
            report.notices.append(Notice(kind: .snapshotCorrupt, message: "snapshot \(file) is unreadable and was skipped: \(reason)", at: now))
        }
        for info in store.list() {
            do {
                state = try store.load(info, catalog: catalog)
                report.snapshotRecord = info.appliedRecord
                break
            } catch {
                report.notices.append(
                    Notice(
                        kind: .snapshotCorrupt,
                        message: "snapshot \(info.path) is corrupt and was skipped (\(error)); recovering from an older snapshot or the whole journal", at: now)
                )
            }
        }
        report.snapshotSeconds = Date().timeIntervalSince(snapshotStart)
        if let record = report.snapshotRecord {
            log("loaded snapshot at record \(record) (sequence \(state.lastSequence)) in \(String(format: "%.3f", report.snapshotSeconds)) s")
        }

        let covered = try verification.wait().get()
        if let damage = covered.damage {
            throw RecoveryFailure(corruption: "the journal in \(journalDirectory) is damaged: \(damage)", dataDirectory: path)
        }
        // Checked before anything is read or cut: a journal whose start is gone cannot rebuild the state.
        if let first = JournalReader.segmentNames(journalDirectory).first?.first, first > 1, state.appliedRecord < first - 1 {
            throw RecoveryFailure(
                corruption: "the journal in \(journalDirectory) starts at record \(first): segments holding records 1…\(first - 1) are missing"
                    + (report.snapshotRecord.map { " and the newest snapshot covers only record \($0)" } ?? " and no snapshot covers them"),
                dataDirectory: path)
        }
        let replayStart = Date()
        let eventsBefore = state.counters.events + state.counters.ignored
        let scan = try JournalReader.scanPipelined(
            directory: journalDirectory, from: state.appliedRecord + 1, repair: true,
            mustReach: state.appliedRecord,
            verifiedThrough: min(covered.verifiedThrough, state.appliedRecord),
            coveredThrough: state.appliedRecord
        ) { number, entry in
            state.apply(entry, record: number)
            return true
        }
        if let damage = scan.damage, damage.kind == .corrupt {
            throw RecoveryFailure(corruption: "the journal in \(journalDirectory) is damaged: \(damage)", dataDirectory: path)
        }
        report.replaySeconds = Date().timeIntervalSince(replayStart)
        report.replayedRecords = scan.recordsRead
        report.replayedEvents = Int(state.counters.events + state.counters.ignored - eventsBefore)
        report.journalBytesRead = scan.bytesRead
        if scan.lastRecord < state.appliedRecord {
            throw RecoveryFailure(
                "the journal in \(journalDirectory) ends at record \(scan.lastRecord) but the snapshot covers record \(state.appliedRecord): journal segments are missing; restore them or move the snapshots away to start from the journal alone"
            )
        }
        if let cut = scan.truncation {
            report.notices.append(
                Notice(kind: .journalTruncated, message: "journal tail was torn or corrupt and was cut back to record \(scan.lastRecord): \(cut)", at: now))
        }
        for gap in scan.gaps {
            log(
                "journal records \(gap.lowerBound)…\(gap.upperBound) are not in \(journalDirectory); the snapshot at record \(state.appliedRecord) covers them (time travel before record \(gap.upperBound + 1) stops at record \(gap.lowerBound - 1))"
            )
        }
        let pendingRepair = JournalMaintenance.pendingRepairNote(dataDirectory: path)
        if let note = pendingRepair {
            report.notices.append(Notice(kind: .journalRepaired, message: note, at: now))
        }
        log(
            "replayed \(report.replayedRecords) journal records (\(report.replayedEvents) events) in \(String(format: "%.3f", report.replaySeconds)) s; next record \(scan.lastRecord + 1), sequence \(state.lastSequence)"
        )

        let journal = try SegmentedJournal(directory: journalDirectory, after: scan, policy: policy, segmentBytes: segmentBytes)
        if !report.notices.isEmpty {
            let entries = report.notices.map { JournalEntry.notice($0) }
            let first = try journal.append(entries)
            for (i, entry) in entries.enumerated() { state.apply(entry, record: first + UInt64(i)) }
            for n in report.notices { log("\(n.kind.rawValue): \(n.message)") }
        }
        // Reported once: the notice is journaled (and synced under the default policy) before the note goes.
        if pendingRepair != nil { try JournalMaintenance.clearPendingRepairNote(dataDirectory: path) }
        return DataDirectory(state: state, journal: journal, snapshots: store, report: report)
    }
}

/// Why a data directory could not be opened.
public struct RecoveryFailure: Error, CustomStringConvertible {
    public var description: String
    /// A `RecoveryFailure` from its fields.
    public init(_ description: String) { self.description = description }

    /// Corruption found at start: nothing was changed, and the operator is told what to run.
    init(corruption: String, dataDirectory path: String) {
        description =
            corruption + ". No file was changed. Run `ims journal verify --data-dir \(path)` for a full report; "
            + "restore the damaged files from a copy, or run `ims journal repair --data-dir \(path)` to move the damaged data aside "
            + "(it is kept, not deleted) and start from what precedes it, losing the events after the damage"
    }
}

/// Why a replay (`asOf`, `ims replay`) could not rebuild the state asked for.
public struct ReplayFailure: Error, CustomStringConvertible {
    public var description: String
    /// A `ReplayFailure` from its fields.
    public init(_ description: String) { self.description = description }
}

/// A point in the journal to rebuild the state at.
public enum ReplayTarget: Sendable, Hashable, CustomStringConvertible {
    /// Up to and including the event with this sequence number.
    case sequence(Int64)
    /// Everything received at or before this time.
    case time(Timestamp)

    /// Parses a sequence number or an ISO-8601 timestamp.
    public init?(parsing text: String) {
        if let n = Int64(text), n >= 0 { self = .sequence(n); return }
        guard let t = Timestamp(parsing: text) else { return nil }
        self = .time(t)
    }

    public var description: String {
        switch self {
        case .sequence(let n): "sequence \(n)"
        case .time(let t): "time \(t)"
        }
    }
}

/// Rebuilds the state at an earlier point from snapshots and the journal, read-only.
public enum Replay {
    /// Whether the journal of a data directory still starts at record 1 (no segment was removed).
    public static func journalStartsAtFirstRecord(dataDirectory path: String) -> Bool {
        (JournalReader.segmentNames(DataDirectory.journalDirectory(path)).first?.first ?? 1) <= 1
    }

    /// The state as it was at `target`: the newest snapshot not past it, then the journal up to it.
    public static func state(
        dataDirectory path: String, catalog: MarketCatalog, until target: ReplayTarget,
        partitions: Int = EngineState.defaultPartitionCount, ignoringSnapshots: Bool = false,
        auditCapacity: Int? = nil
    ) throws -> EngineState {
        var state = EngineState(catalog: catalog, partitions: partitions)
        if !ignoringSnapshots, let store = try? SnapshotStore(directory: DataDirectory.snapshotDirectory(path)) {
            for info in store.list() where usable(info, toward: target) {
                if let loaded = try? store.load(info, catalog: catalog) { state = loaded; break }
            }
        }
        if let auditCapacity { state.auditCapacity = auditCapacity }
        let journalDirectory = DataDirectory.journalDirectory(path)
        if let first = JournalReader.segmentNames(journalDirectory).first?.first, first > 1, state.appliedRecord < first - 1 {
            throw ReplayFailure(
                "cannot rebuild the state at \(target): journal records 1…\(first - 1) are missing and no snapshot before \(target) covers them")
        }
        var reached = false
        let scan = try JournalReader.scanPipelined(directory: journalDirectory, from: state.appliedRecord + 1, coveredThrough: state.appliedRecord) {
            number, entry in
            if step(&state, entry: entry, record: number, toward: target) { return true }
            reached = true
            return false
        }
        // A sequence the state already reached is reached, whatever follows.
        if case .sequence(let n) = target, state.lastSequence >= n { reached = true }
        // A torn tail is the journal's end; corruption before the target means the state asked for cannot be known.
        if !reached, let damage = scan.damage, damage.kind == .corrupt {
            throw ReplayFailure(
                "cannot rebuild the state at \(target): the journal is damaged after record \(damage.lastGoodRecord) (\(damage)); the state is known only up to sequence \(state.lastSequence)"
            )
        }
        return state
    }

    /// Whether a snapshot stands at or before `target`, so a replay toward it may start there.
    public static func usable(_ info: SnapshotStore.Info, toward target: ReplayTarget) -> Bool {
        switch target {
        case .sequence(let n): info.lastSequence <= n
        case .time(let t): info.lastEntryAt <= t
        }
    }

    /// Applies journal record `record` to `state` if it comes before `target`; false (and nothing applied)
    /// once the state has reached it. Any journal's replay (a file's, a Kafka topic's) steps this way.
    public static func step(_ state: inout EngineState, entry: JournalEntry, record: UInt64, toward target: ReplayTarget) -> Bool {
        switch target {
        case .sequence(let n):
            if state.lastSequence >= n { return false }
            state.apply(entry, record: record, untilSequence: n)
        case .time(let t):
            if entry.receivedAt > t { return false }
            state.apply(entry, record: record)
        }
        return true
    }
}
