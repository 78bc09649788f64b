import Foundation
import IMSDomain
import IMSIngest
import Testing

@testable import IMSEngine
@testable import IMSJournal

/// `ims journal repair` keeps every snapshot that loads and the longest verified journal: damage that a
/// valid snapshot covers costs no state; the next start says what was moved in a `JOURNAL_REPAIRED`
/// exception; and `verify` names the snapshot start will load.
struct RepairTests {
    /// A data directory whose snapshot covers the first `covered` batches of a workload, with `after`
    /// more batches journaled behind it. Returns the directory and a fingerprint of its full state.
    static func directory(covered: Int, after: Int, segmentBytes: Int) throws -> (dir: TemporaryDirectory, snapshotRecord: UInt64, fingerprint: Fingerprint) {
        let dir = TemporaryDirectory("ims-repair")
        let batches = RecoveryTests.workload(seed: 91, batches: covered + after)
        let split = batches.count - after
        let (first, _) = try RecoveryTests.runDurably(Array(batches[..<split]), in: dir.path, finalSnapshot: true, segmentBytes: segmentBytes)
        if after > 0 { _ = try RecoveryTests.runDurably(Array(batches[split...]), in: dir.path, segmentBytes: segmentBytes) }
        return (dir, first.appliedRecord, try Fingerprint(dir.path))
    }

    /// The state the journal rebuilds up to its last event, and how far it reaches.
    struct Fingerprint: Equatable {
        var lastSequence: Int64
        var digest: String

        init(_ path: String) throws {
            let state = try Replay.state(dataDirectory: path, catalog: .embedded, until: .sequence(.max))
            let atLastEvent = try Replay.state(dataDirectory: path, catalog: .embedded, until: .sequence(state.lastSequence))
            lastSequence = state.lastSequence
            // Positions, inventory, rules, locates and orders: what the events made (notices aside).
            digest = atLastEvent.readModel.canonicalText().split(separator: "\n").filter { !$0.hasPrefix("exception") }.joined(separator: "\n")
        }
    }

    static func segments(_ dir: TemporaryDirectory) -> [String] {
        JournalReader.segmentNames(dir.path + "/journal").map { dir.path + "/journal/" + $0.name }
    }

    static func repairedNotices(_ opened: DataDirectory) -> [ExceptionRecord] {
        opened.state.readModel.exceptions(afterId: 0, kind: .journalRepaired, limit: 10)
    }

    /// The issue's reproduction: one flipped byte in the only segment's header, a valid snapshot of every record.
    @Test func aDamagedHeaderUnderAValidSnapshotKeepsTheWholeState() throws {
        let (dir, snapshotRecord, before) = try Self.directory(covered: 40, after: 0, segmentBytes: 64 << 20)
        defer { dir.remove() }
        let segments = Self.segments(dir)
        #expect(segments.count == 1)
        try CorruptionTests.flip(segments[0], at: 3)
        let report = try JournalMaintenance.verify(dataDirectory: dir.path)
        #expect(report.verdict == .corrupt)
        #expect(report.snapshotRecord == snapshotRecord)

        let repair = try JournalMaintenance.repair(dataDirectory: dir.path, at: Timestamp(micros: 9))
        #expect(repair.snapshotRecord == snapshotRecord)
        #expect(repair.lastRecord == snapshotRecord)
        #expect(!repair.actions.contains { $0.contains("moved snapshot") }, "\(repair.actions)")
        let after = try JournalMaintenance.verify(dataDirectory: dir.path)
        #expect(after.verdict == .ok, "\(after)")
        #expect(after.gaps.count == 1)

        let opened = try DataDirectory.open(dir.path, catalog: .embedded, now: Timestamp(micros: 10))
        #expect(opened.report.snapshotRecord == snapshotRecord)
        #expect(opened.state.lastSequence == before.lastSequence)
        let notices = Self.repairedNotices(opened)
        #expect(notices.count == 1)
        #expect(notices.first?.message.contains("segment header is corrupt") == true)
        #expect(notices.first?.message.contains("quarantine") == true)
        #expect(!FileManager.default.fileExists(atPath: JournalMaintenance.pendingPath(dir.path)), "said once")
        // The journal goes on after the snapshot, and a second start raises nothing new.
        _ = try opened.journal.append([.notice(Notice(kind: .feedGap, message: "after the repair", at: Timestamp(micros: 11)))])
        let again = try DataDirectory.open(dir.path, catalog: .embedded, now: Timestamp(micros: 12))
        #expect(again.state.appliedRecord == snapshotRecord + 2)
        #expect(Self.repairedNotices(again).count == 1)
        #expect(again.state.lastSequence == before.lastSequence)
    }

    /// Damage in a segment the snapshot covers, with records after the snapshot in later segments: all
    /// of them are kept, so the repaired directory holds the same state as before the damage.
    @Test func damageBeforeTheSnapshotKeepsTheRecordsAfterIt() throws {
        let (dir, snapshotRecord, before) = try Self.directory(covered: 40, after: 30, segmentBytes: 32 << 10)
        defer { dir.remove() }
        let segments = Self.segments(dir)
        #expect(segments.count >= 4)
        let firstAfter = JournalReader.segmentNames(dir.path + "/journal").firstIndex { $0.first > snapshotRecord }
        #expect(firstAfter != nil && firstAfter! >= 2, "records after the snapshot are in later segments")
        try CorruptionTests.flip(segments[1], at: 1_000)
        #expect(try JournalMaintenance.verify(dataDirectory: dir.path).verdict == .corrupt)

        let repair = try JournalMaintenance.repair(dataDirectory: dir.path, at: Timestamp(micros: 9))
        #expect(repair.snapshotRecord == snapshotRecord)
        #expect(try JournalMaintenance.verify(dataDirectory: dir.path).verdict == .ok)
        #expect(try Fingerprint(dir.path) == before, "nothing the events made was lost")
        // The verified prefix stayed: time travel before the damage still works.
        let early = try Replay.state(dataDirectory: dir.path, catalog: .embedded, until: .sequence(5), ignoringSnapshots: true)
        #expect(early.lastSequence == 5)
        let opened = try DataDirectory.open(dir.path, catalog: .embedded, now: Timestamp(micros: 10))
        #expect(opened.state.lastSequence == before.lastSequence)
        #expect(Self.repairedNotices(opened).count == 1)
    }

    /// Damage before the snapshot in the same segment as the records after it: the repair reads on past
    /// the damage and keeps those records in a segment of their own.
    @Test func recordsAfterTheSnapshotInTheDamagedSegmentAreSalvaged() throws {
        let (dir, snapshotRecord, before) = try Self.directory(covered: 30, after: 20, segmentBytes: 64 << 20)
        defer { dir.remove() }
        #expect(Self.segments(dir).count == 1)
        try CorruptionTests.flip(Self.segments(dir)[0], at: 2_000)
        let repair = try JournalMaintenance.repair(dataDirectory: dir.path, at: Timestamp(micros: 9))
        #expect(repair.actions.contains { $0.contains("read on past the damage") }, "\(repair.actions)")
        #expect(repair.lastRecord > snapshotRecord)
        #expect(try JournalMaintenance.verify(dataDirectory: dir.path).verdict == .ok)
        #expect(try Fingerprint(dir.path) == before)
    }

    /// Damage after the snapshot: the snapshot and the records up to the damage stay, the rest is moved.
    @Test func damageAfterTheSnapshotCutsThereAndKeepsTheSnapshot() throws {
        let (dir, snapshotRecord, before) = try Self.directory(covered: 30, after: 30, segmentBytes: 32 << 10)
        defer { dir.remove() }
        let names = JournalReader.segmentNames(dir.path + "/journal")
        let late = try #require(names.lastIndex { $0.first > snapshotRecord + 1 })
        try CorruptionTests.flip(dir.path + "/journal/" + names[late].name, at: 200)
        let repair = try JournalMaintenance.repair(dataDirectory: dir.path, at: Timestamp(micros: 9))
        #expect(repair.lastRecord >= snapshotRecord && repair.lastRecord < names[late].first + 5)
        #expect(!repair.actions.contains { $0.contains("moved snapshot") })
        let opened = try DataDirectory.open(dir.path, catalog: .embedded, now: Timestamp(micros: 10))
        #expect(opened.report.snapshotRecord == snapshotRecord)
        #expect(opened.state.lastSequence < before.lastSequence)
        #expect(Self.repairedNotices(opened).first?.message.contains("through \(repair.lastRecord)") == true)
    }

    /// Without a snapshot the repair is what it was: the journal ends before the damage.
    @Test func withoutASnapshotTheJournalEndsBeforeTheDamage() throws {
        let (dir, segments, _) = try CorruptionTests.journal()
        defer { dir.remove() }
        try CorruptionTests.flip(segments[2], at: 5_000)
        let damage = try #require(try JournalReader.scan(directory: dir.path + "/journal").damage)
        let repair = try JournalMaintenance.repair(dataDirectory: dir.path, at: Timestamp(micros: 9))
        #expect(repair.snapshotRecord == nil)
        #expect(repair.lastRecord == damage.lastGoodRecord)
        let opened = try DataDirectory.open(dir.path, catalog: .embedded, now: Timestamp(micros: 10))
        #expect(opened.state.appliedRecord == repair.lastRecord + 1, "the records before the damage and the notice")
        #expect(Self.repairedNotices(opened).count == 1)
    }

    /// `verify` loads snapshots as start does: a snapshot whose header holds but whose body does not is
    /// named as skipped, and the one it names is the one start loads.
    @Test func verifyNamesTheSnapshotStartLoads() throws {
        let (dir, older, _) = try Self.directory(covered: 20, after: 0, segmentBytes: 64 << 20)
        defer { dir.remove() }
        let (newer, _) = try RecoveryTests.runDurably(RecoveryTests.workload(seed: 5, batches: 10).suffix(5), in: dir.path, finalSnapshot: true)
        let store = try SnapshotStore(directory: dir.path + "/snapshots")
        let newest = try #require(store.list().first)
        #expect(newest.appliedRecord == newer.appliedRecord)
        try CorruptionTests.flip(newest.path, at: SnapshotStore.headerSize + 100)

        let report = try JournalMaintenance.verify(dataDirectory: dir.path)
        #expect(report.verdict == .ok)
        #expect(report.snapshotRecord == older)
        #expect(report.skippedSnapshots.count == 1 && report.skippedSnapshots[0].contains(newest.path))
        let opened = try DataDirectory.open(dir.path, catalog: .embedded, now: Timestamp(micros: 10))
        #expect(opened.report.snapshotRecord == report.snapshotRecord)
    }

    /// A rule draft journaled before today's limits (a formula nested 40 deep): `verify` lists it, start
    /// refuses it again as it replays and goes on.
    @Test func verifyListsCommandsTodaysLimitsRefuse() throws {
        let dir = TemporaryDirectory("ims-repair")
        defer { dir.remove() }
        let formula = String(repeating: "(", count: 40) + "1" + String(repeating: ")", count: 40)
        let document = #"{"packs":[{"market":"*","rules":[{"calculation":"forLoan","formula":"\#(formula)"}]}]}"#
        let draft = RuleCommand(action: .draft, version: 0, user: "old-version", document: document)
        #expect(draft.documentProblem != nil)
        let opened = try DataDirectory.open(dir.path, catalog: .embedded, now: Timestamp(micros: 1))
        var batch = IngestBatch(receivedAt: Timestamp(micros: 2), events: [Event(draft)], lines: [1])
        batch.issuer = "key:1:desk"
        _ = try opened.journal.append([.batch(batch)])

        let report = try JournalMaintenance.verify(dataDirectory: dir.path)
        #expect(report.verdict == .ok)
        #expect(report.refusedOnReplayCount == 1)
        #expect(report.refusedOnReplay.first?.contains("record 1, line 1 (issued by key:1:desk): document") == true, "\(report.refusedOnReplay)")
        let reopened = try DataDirectory.open(dir.path, catalog: .embedded, now: Timestamp(micros: 3))
        #expect(reopened.state.rules.versions.count == 1, "the draft was refused on replay")
    }
}
