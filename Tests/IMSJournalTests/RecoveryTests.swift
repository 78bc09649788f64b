import Foundation
import IMSDomain
import IMSEngine
import IMSIngest
import IMSRuntime
import Testing

@testable import IMSJournal

struct RecoveryTests {
    /// Runs `batches` through an engine journaling into `dir`, then stops it (no final snapshot unless asked).
    static func runDurably(
        _ batches: [IngestBatch], in dir: String, snapshotEvery: Int = .max, finalSnapshot: Bool = false,
        segmentBytes: Int = 64 << 20
    ) throws -> (state: EngineState, outcomes: [BatchOutcome]) {
        let opened = try DataDirectory.open(dir, catalog: .embedded, segmentBytes: segmentBytes, now: Timestamp(micros: 1))
        let engine = Engine(state: opened.state, journal: opened.journal, snapshots: opened.snapshots, snapshotEveryEvents: snapshotEvery)
        let outcomes = try engine.run(batches)
        if finalSnapshot { try engine.shutdown() } else { engine.stop() }
        return (engine.read { $0 }, outcomes)
    }

    static func workload(seed: UInt64, batches: Int) -> [IngestBatch] {
        var w = Workload(seed: seed)
        var out = w.setup()
        for _ in 0..<batches { out.append(w.next()) }
        return out
    }

    @Test func everyEventTypeSurvivesTheBinaryCodec() throws {
        let batches = Self.workload(seed: 3, batches: 30)
        for batch in batches {
            var w = BinaryWriter()
            JournalEntry.batch(batch).encode(to: &w)
            let decoded = try w.bytes.withUnsafeBytes { raw in
                var r = BinaryReader(raw)
                return try JournalEntry(from: &r)
            }
            guard case .batch(let back) = decoded else { Issue.record("not a batch"); continue }
            #expect(back.events == batch.events)
            #expect(back.lines == batch.lines)
            #expect(back.rejected == batch.rejected)
            #expect(back.mode == batch.mode)
            #expect(back.receivedAt == batch.receivedAt)
        }
        let kinds = Set(batches.flatMap { $0.events.map(\.typeName) })
        #expect(kinds.isSuperset(of: ["security", "book", "sodPosition", "trade", "price", "contract", "availability", "marketDayRoll"]))
    }

    /// The replay property: the state after applying a stream equals the state rebuilt from its journal.
    @Test(arguments: [11, 12, 13, 14, 15] as [UInt64])
    func applyThenReplayEqualsApply(seed: UInt64) throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let batches = Self.workload(seed: seed, batches: 80)
        let (live, outcomes) = try Self.runDurably(batches, in: dir.path, segmentBytes: 64 << 10)
        #expect(outcomes.contains { !$0.applied }, "the workload includes refused atomic batches")
        #expect(outcomes.contains { $0.applied && !$0.rejected.isEmpty }, "and partial batches with rejects")

        var memoryOnly = EngineState()
        for b in batches { _ = memoryOnly.process(b) }
        let replayed = try DataDirectory.open(dir.path, catalog: .embedded, now: Timestamp(micros: 1)).state
        let again = try Replay.state(dataDirectory: dir.path, catalog: .embedded, until: .sequence(.max))

        #expect(replayed.lastSequence == live.lastSequence)
        #expect(replayed.snapshotImage().digest == live.snapshotImage().digest)
        #expect(again.snapshotImage().digest == live.snapshotImage().digest, "two replays are identical")
        // Apart from journal bookkeeping, a memory-only run reaches the same state.
        #expect(memoryOnly.positionCount == live.positionCount)
        #expect(memoryOnly.lastSequence == live.lastSequence)
        let segments = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/journal").filter { $0.hasSuffix(".log") }
        #expect(segments.count > 1, "small segments make the journal roll over")
    }

    @Test func snapshotImageRoundTripsExactly() throws {
        var state = EngineState()
        for b in Self.workload(seed: 21, batches: 60) { _ = state.process(b) }
        let image = state.snapshotImage()
        let loaded = try image.withUnsafeBytes { try EngineState(snapshotImage: $0) }
        #expect(loaded.snapshotImage().digest == image.digest)
        #expect(
            loaded.readModel.positions(matching: PositionFilter(), offset: 0, limit: 10_000).items
                == state.readModel.positions(matching: PositionFilter(), offset: 0, limit: 10_000).items)
        // Truncated images are refused with an error, not a crash.
        for cut in [1, 17, image.count / 2, image.count - 1] {
            #expect(throws: BinaryFormatError.self) { try Array(image.prefix(cut)).withUnsafeBytes { try EngineState(snapshotImage: $0) } }
        }
    }

    /// A state loaded from its snapshot rebuilds its position tables and trade indexes: re-sending the last
    /// batches (duplicates, amends of trades booked before the snapshot) does to it exactly what it does to
    /// the state that wrote the snapshot.
    @Test(arguments: [1, 2, 4])
    func aLoadedSnapshotFindsEveryTradeAndPosition(partitions: Int) throws {
        var state = EngineState(partitions: partitions)
        let batches = Self.workload(seed: 41, batches: 90)
        for b in batches { _ = state.process(b) }
        var loaded = try state.snapshotImage().withUnsafeBytes { try EngineState(snapshotImage: $0) }
        var ignored = 0
        for b in batches.suffix(30) {
            let expected = state.process(b)
            #expect(loaded.process(b) == expected)
            ignored += expected.ignored
        }
        #expect(ignored > 100, "re-sent trades are found and ignored")
        #expect(
            loaded.readModel.positions(matching: PositionFilter(), offset: 0, limit: .max).items
                == state.readModel.positions(matching: PositionFilter(), offset: 0, limit: .max).items)
        #expect(loaded.snapshotImage().digest == state.snapshotImage().digest)
    }

    @Test func restartFromSnapshotPlusTailEqualsFullReplay() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let batches = Self.workload(seed: 31, batches: 120)
        let (live, _) = try Self.runDurably(Array(batches.prefix(60)), in: dir.path, finalSnapshot: true)
        let (live2, _) = try Self.runDurably(Array(batches.dropFirst(60)), in: dir.path)
        let reopened = try DataDirectory.open(dir.path, catalog: .embedded, now: Timestamp(micros: 1))
        #expect(reopened.report.snapshotRecord == live.appliedRecord)
        // The tail: the second run's 60 batches, and the texts of the lines it refused (journaled after them).
        #expect(reopened.report.replayedRecords == Int(live2.appliedRecord - live.appliedRecord))
        #expect(reopened.report.replayedRecords >= batches.count - 60)
        #expect(reopened.state.snapshotImage().digest == live2.snapshotImage().digest)
        let full = try Replay.state(dataDirectory: dir.path, catalog: .embedded, until: .sequence(.max), ignoringSnapshots: true)
        #expect(full.snapshotImage().digest == live2.snapshotImage().digest)
    }

    @Test(arguments: ["garbage", "halfRecord", "flippedByte", "zeroes"])
    func tornOrCorruptTailIsCutToTheLastValidRecord(damage: String) throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let batches = Self.workload(seed: 41, batches: 20)
        let (_, outcomes) = try Self.runDurably(Array(batches.prefix(21)), in: dir.path)
        let segment = dir.path + "/journal/" + JournalFormat.segmentName(firstRecord: 1)
        // Where the records end (the file goes on with the zeros the journal writes ahead of them).
        let goodSize = try JournalReader.scan(directory: dir.path + "/journal").tailSize
        let (whole, _) = try Self.runDurably([batches[21]], in: dir.path)
        var expected = EngineState()
        for b in batches.prefix(21) { _ = expected.process(b) }
        let end = try JournalReader.scan(directory: dir.path + "/journal").tailSize
        #expect(FileIO.size(segment)! > end, "zeros were written ahead of the records")
        var bytes = Array(try [UInt8](Data(contentsOf: URL(fileURLWithPath: segment))).prefix(end))
        switch damage {
        case "garbage": bytes += Array("not a record at all".utf8)
        case "halfRecord": bytes.removeLast((bytes.count - goodSize) / 2)
        case "flippedByte": bytes[bytes.count - 3] ^= 0xFF
        default: bytes += [UInt8](repeating: 0, count: 4096)
        }
        try Data(bytes).write(to: URL(fileURLWithPath: segment))

        let reopened = try DataDirectory.open(dir.path, catalog: .embedded, now: Timestamp(micros: 99))
        let exceptions = reopened.state.readModel.exceptions(afterId: 0, kind: .journalTruncated, limit: 10)
        // Zeros after the last record are the space written ahead: the end, not damage.
        let notices = damage == "zeroes" ? 0 : 1
        #expect(exceptions.count == notices)
        if damage == "garbage" || damage == "zeroes" {
            // The last whole record survives; only the junk after it goes.
            #expect(reopened.state.lastSequence == whole.lastSequence)
        } else {
            #expect(reopened.state.lastSequence == expected.lastSequence)
            #expect(reopened.state.positionCount == expected.positionCount)
        }
        #expect(outcomes.count == 21)
        // The repaired journal takes appends, and the next start is clean and keeps the notice.
        let next = try reopened.journal.append([.batch(batches[21])])
        #expect(next == reopened.state.appliedRecord + 1)
        let third = try DataDirectory.open(dir.path, catalog: .embedded, now: Timestamp(micros: 100))
        #expect(third.report.notices.isEmpty)
        #expect(third.state.readModel.exceptions(afterId: 0, kind: .journalTruncated, limit: 10).count == notices)
        #expect(third.state.appliedRecord == next)
    }

    @Test func corruptSnapshotFallsBackToAnOlderOneOrTheJournal() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let batches = Self.workload(seed: 51, batches: 40)
        _ = try Self.runDurably(Array(batches.prefix(20)), in: dir.path, finalSnapshot: true)
        let (live, _) = try Self.runDurably(Array(batches.dropFirst(20)), in: dir.path, finalSnapshot: true)
        let store = try SnapshotStore(directory: dir.path + "/snapshots")
        let snapshots = store.list()
        #expect(snapshots.count == 2)
        // Damage the newest snapshot's body: recovery uses the older one plus the journal.
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: snapshots[0].path)))
        bytes[bytes.count / 2] ^= 0x5A
        try Data(bytes).write(to: URL(fileURLWithPath: snapshots[0].path))
        let first = try DataDirectory.open(dir.path, catalog: .embedded, now: Timestamp(micros: 5))
        #expect(first.report.snapshotRecord == snapshots[1].appliedRecord)
        #expect(first.state.lastSequence == live.lastSequence)
        #expect(first.state.readModel.exceptions(afterId: 0, kind: .snapshotCorrupt, limit: 10).count == 1)
        // Damage the other one's header too: a full replay of the journal.
        var older = try [UInt8](Data(contentsOf: URL(fileURLWithPath: snapshots[1].path)))
        older[10] ^= 0x01
        try Data(older).write(to: URL(fileURLWithPath: snapshots[1].path))
        let second = try DataDirectory.open(dir.path, catalog: .embedded, now: Timestamp(micros: 6))
        #expect(second.report.snapshotRecord == nil)
        #expect(second.state.lastSequence == live.lastSequence)
        #expect(second.state.positionCount == live.positionCount)
        #expect(second.state.readModel.exceptions(afterId: 0, kind: .snapshotCorrupt, limit: 10).count == 3)
    }

    @Test func resendingAfterARestartChangesNothing() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let batches = Self.workload(seed: 61, batches: 30)
        let (live, _) = try Self.runDurably(batches, in: dir.path)
        let positionsBefore = live.readModel.positions(matching: PositionFilter(), offset: 0, limit: 100_000).items
        // Everything again, after a restart: trades, SOD snapshots, reference versions, day rolls.
        let (after, outcomes) = try Self.runDurably(batches.filter { $0.mode == .atomic || $0.rejected.isEmpty }, in: dir.path)
        #expect(after.readModel.positions(matching: PositionFilter(), offset: 0, limit: 100_000).items == positionsBefore)
        let applied = outcomes.filter(\.applied)
        #expect(applied.reduce(0) { $0 + $1.ignored } > 0)
    }

    @Test func replayStopsAtASequenceOrATime() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let batches = Self.workload(seed: 71, batches: 50)
        _ = try Self.runDurably(Array(batches.prefix(25)), in: dir.path, finalSnapshot: true)
        _ = try Self.runDurably(Array(batches.dropFirst(25)), in: dir.path)
        var reference = EngineState()
        var checkpoints: [(sequence: Int64, time: Timestamp, image: [UInt8])] = []
        for b in batches {
            _ = reference.process(b)
            checkpoints.append((reference.lastSequence, b.receivedAt, reference.snapshotImage()))
        }
        for i in [3, 24, 25, 40] {
            let (sequence, time, _) = checkpoints[i]
            let bySequence = try Replay.state(dataDirectory: dir.path, catalog: .embedded, until: .sequence(sequence))
            #expect(bySequence.lastSequence == sequence)
            let byTime = try Replay.state(dataDirectory: dir.path, catalog: .embedded, until: .time(time))
            #expect(byTime.lastSequence == sequence)
            #expect(
                byTime.readModel.positions(matching: PositionFilter(), offset: 0, limit: 100_000).items.count
                    == bySequence.readModel.positions(matching: PositionFilter(), offset: 0, limit: 100_000).items.count)
        }
        // A sequence inside a batch stops inside it.
        let middle = checkpoints[30].sequence - 3
        #expect(try Replay.state(dataDirectory: dir.path, catalog: .embedded, until: .sequence(middle)).lastSequence == middle)
    }
}

extension Array where Element == UInt8 {
    /// Length and checksum: what a failed comparison prints instead of megabytes.
    var digest: String { "\(count) bytes, crc \(CRC32C.checksum(self))" }
}

struct FeedStampRecoveryTests {
    @Test func feedStampsSeenBeforeARestartAreStillDuplicatesAfterIt() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        var w = Workload(seed: 81)
        let setup = w.setup()
        let security = "S-US0378331005"
        func prices(_ seqs: [Int], at micros: Int64) -> IngestBatch {
            Workload.decode(
                seqs.map { #"{"type":"price","securityId":"\#(security)","last":"\#(100 + $0)","feedId":"BBG","feedSeq":\#($0)}"# }
                    .joined(separator: "\n"), at: micros)
        }
        let (before, _) = try RecoveryTests.runDurably(setup + [prices([1, 2, 3], at: 5)], in: dir.path)
        #expect(before.readModel.security(security)?.lastPrice?.last.description == "103")
        let (after, outcomes) = try RecoveryTests.runDurably([prices([2, 3], at: 6), prices([4], at: 7)], in: dir.path)
        #expect(outcomes[0].ignored == 2, "already seen before the restart")
        #expect(outcomes[1].ignored == 0)
        #expect(after.readModel.security(security)?.lastPrice?.last.description == "104")
    }
}
