import Foundation
import IMSDomain
import IMSEngine
import IMSIngest
import Testing

@testable import IMSJournal

/// Damage that is not a torn tail is never "repaired" by deleting acknowledged data: start refuses, touches
/// no file and names the place; `JournalMaintenance.repair` moves the damage aside on request.
struct CorruptionTests {
    /// A data directory with several small segments (and optionally a snapshot at its end).
    static func journal(snapshot: Bool = false) throws -> (dir: TemporaryDirectory, segments: [String], state: EngineState) {
        let dir = TemporaryDirectory()
        let batches = RecoveryTests.workload(seed: 77, batches: 60)
        // Small batches last, so the newest segment holds several records.
        let small = (1...6).map { i in
            var line = #"{"type":"fxRate","currency":"EUR","usdRate":1.0\#(i)}"#
            return line.withUTF8 { BatchDecoder.decodeNDJSON(UnsafeRawBufferPointer($0), receivedAt: Timestamp(micros: 1_000 + Int64(i))) }
        }
        let (state, _) = try RecoveryTests.runDurably(batches + small, in: dir.path, finalSnapshot: snapshot, segmentBytes: 32 << 10)
        let segments = JournalReader.segmentNames(dir.path + "/journal").map { dir.path + "/journal/" + $0.name }
        return (dir, segments, state)
    }

    /// Every file of a directory tree with its bytes.
    static func files(_ root: String) -> [String: Data] {
        var out: [String: Data] = [:]
        for case let path as String in FileManager.default.enumerator(atPath: root)! {
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &isDirectory)
            if !isDirectory.boolValue { out[path] = FileManager.default.contents(atPath: root + "/" + path) }
        }
        return out
    }

    static func flip(_ path: String, at offset: Int) throws {
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[offset] ^= 0x10
        try bytes.write(to: URL(fileURLWithPath: path))
    }

    /// Opening refuses with a message containing each of `words`, and changes no file.
    static func expectRefusal(_ dir: TemporaryDirectory, mentioning words: [String]) {
        let before = files(dir.path)
        #expect(throws: RecoveryFailure.self) { _ = try DataDirectory.open(dir.path, catalog: .embedded, now: Timestamp(micros: 5)) }
        do {
            _ = try DataDirectory.open(dir.path, catalog: .embedded, now: Timestamp(micros: 5))
        } catch {
            for word in words { #expect("\(error)".contains(word), "\(error) should mention \(word)") }
            #expect("\(error)".contains("ims journal repair"))
        }
        #expect(files(dir.path) == before, "refusing to start changes no file")
    }

    @Test func aBitFlippedMidSegmentWithValidRecordsAfterItRefusesToStart() throws {
        let (dir, segments, _) = try Self.journal()
        defer { dir.remove() }
        #expect(segments.count >= 4)
        let newest = segments.last!
        try Self.flip(newest, at: JournalFormat.segmentHeaderSize + 40)
        Self.expectRefusal(
            dir, mentioning: ["corruption", (newest as NSString).lastPathComponent, "offset \(JournalFormat.segmentHeaderSize)", "valid data follows"])
        #expect(try JournalMaintenance.verify(dataDirectory: dir.path).verdict == .corrupt)
    }

    @Test func aBitFlippedInTheOldestSegmentRefusesToStartAndDeletesNothing() throws {
        let (dir, segments, _) = try Self.journal()
        defer { dir.remove() }
        try Self.flip(segments[0], at: 2_000)
        Self.expectRefusal(dir, mentioning: ["corruption", (segments[0] as NSString).lastPathComponent, "later segments"])
        #expect(JournalReader.segmentNames(dir.path + "/journal").count == segments.count)
    }

    @Test func aBadSegmentHeaderRefusesToStart() throws {
        let (dir, segments, _) = try Self.journal()
        defer { dir.remove() }
        try Self.flip(segments[1], at: 3)
        Self.expectRefusal(dir, mentioning: ["segment header is corrupt", (segments[1] as NSString).lastPathComponent])
    }

    @Test func aGapInRecordNumbersRefusesToStart() throws {
        let (dir, segments, _) = try Self.journal()
        defer { dir.remove() }
        try FileManager.default.removeItem(atPath: segments[2])
        Self.expectRefusal(dir, mentioning: ["are missing", (segments[3] as NSString).lastPathComponent])
    }

    @Test func aMissingFirstSegmentWithoutASnapshotRefusesToStart() throws {
        let (dir, segments, _) = try Self.journal()
        defer { dir.remove() }
        try FileManager.default.removeItem(atPath: segments[0])
        Self.expectRefusal(dir, mentioning: ["starts at record", "no snapshot covers them"])
        #expect(throws: RecoveryFailure.self) { _ = try JournalMaintenance.repair(dataDirectory: dir.path, at: Timestamp(micros: 9)) }
    }

    @Test func aMissingFirstSegmentCoveredByASnapshotStarts() throws {
        let (dir, segments, state) = try Self.journal(snapshot: true)
        defer { dir.remove() }
        try FileManager.default.removeItem(atPath: segments[0])
        let opened = try DataDirectory.open(dir.path, catalog: .embedded, now: Timestamp(micros: 5))
        #expect(opened.state.lastSequence == state.lastSequence)
    }

    @Test func damageOlderThanTheSnapshotStillRefusesToStart() throws {
        let (dir, segments, _) = try Self.journal(snapshot: true)
        defer { dir.remove() }
        try Self.flip(segments[1], at: 1_000)
        Self.expectRefusal(dir, mentioning: ["corruption", (segments[1] as NSString).lastPathComponent])
    }

    @Test func aTornTailWithNothingValidAfterItIsStillCutAutomatically() throws {
        let (dir, segments, state) = try Self.journal()
        defer { dir.remove() }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: segments.last!))
        handle.seekToEndOfFile()
        handle.write(Data((0..<3_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }))
        try handle.close()
        let opened = try DataDirectory.open(dir.path, catalog: .embedded, now: Timestamp(micros: 5))
        #expect(opened.state.lastSequence == state.lastSequence)
        #expect(opened.report.notices.map(\.kind) == [.journalTruncated])
    }

    @Test func replayOverDamageAnswersAnErrorNotAnEarlierState() throws {
        let (dir, segments, state) = try Self.journal()
        defer { dir.remove() }
        try Self.flip(segments[2], at: 5_000)
        // Before the damage: fine.
        let early = try Replay.state(dataDirectory: dir.path, catalog: .embedded, until: .sequence(10))
        #expect(early.lastSequence == 10)
        // At the end: an error naming the record, not the state at the damage.
        #expect(throws: ReplayFailure.self) { _ = try Replay.state(dataDirectory: dir.path, catalog: .embedded, until: .sequence(state.lastSequence)) }
        do {
            _ = try Replay.state(dataDirectory: dir.path, catalog: .embedded, until: .sequence(.max))
        } catch {
            #expect("\(error)".contains("after record"))
        }
    }

    @Test func repairMovesTheDamageAsideAndTheDirectoryThenStarts() throws {
        let (dir, segments, state) = try Self.journal(snapshot: true)
        defer { dir.remove() }
        let totalBefore = Self.files(dir.path + "/journal").values.reduce(0) { $0 + $1.count }
        try Self.flip(segments[2], at: 5_000)
        let repair = try JournalMaintenance.repair(dataDirectory: dir.path, at: Timestamp(micros: 9))
        let quarantine = try #require(repair.quarantine)
        #expect(repair.actions.contains { $0.contains("moved segment") })
        #expect(!repair.actions.contains { $0.contains("moved snapshot") }, "the snapshot covers the damage and is kept")
        #expect(repair.snapshotRecord == state.appliedRecord)
        // Nothing deleted: what is left plus what was moved aside holds every byte.
        let kept = Self.files(dir.path + "/journal").values.reduce(0) { $0 + $1.count }
        let moved = Self.files(quarantine).filter { $0.key.hasSuffix(".log") || $0.key.contains(".from-") }.values.reduce(0) { $0 + $1.count }
        #expect(kept + moved == totalBefore)
        #expect(FileManager.default.fileExists(atPath: quarantine + "/REPAIR.txt"))
        #expect(try JournalMaintenance.verify(dataDirectory: dir.path).verdict == .ok)
        let opened = try DataDirectory.open(dir.path, catalog: .embedded, now: Timestamp(micros: 5))
        #expect(opened.state.lastSequence == state.lastSequence, "no event lost")
        #expect(opened.state.appliedRecord == repair.lastRecord + 1, "and the repair's notice")
        #expect(opened.report.notices.map(\.kind) == [.journalRepaired])
    }

    @Test func unfinishedSnapshotFilesAreRemovedAtStart() throws {
        let (dir, _, state) = try Self.journal()
        defer { dir.remove() }
        let stale = dir.path + "/snapshots/.writing-00000000000000000007.snap"
        FileManager.default.createFile(atPath: stale, contents: Data("half a snapshot".utf8))
        let opened = try DataDirectory.open(dir.path, catalog: .embedded, now: Timestamp(micros: 5))
        #expect(opened.state.lastSequence == state.lastSequence)
        #expect(!FileManager.default.fileExists(atPath: stale))
    }
}

/// A journal that already holds a batch that used to trap the process (it was journaled before it was
/// applied) still starts: validation, run again on replay, refuses it.
struct OverflowReplayTests {
    @Test func aJournalHoldingOverflowingBatchesStarts() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let lines = [
            #"{"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}"#,
            #"{"type":"security","securityId":"AAPL","marketId":"US"}"#,
            #"{"type":"book","bookId":"B","legalEntity":"PB-US","positionType":"FIRM"}"#,
        ]
        let bad = [
            #"{"type":"trade","tradeId":"X1","version":1,"status":"NEW","bookId":"B","securityId":"AAPL","side":"BUY","quantity":5000000000000000000,"price":1,"tradeDate":"2026-11-25"}"#,
            #"{"type":"trade","tradeId":"X2","version":1,"status":"NEW","bookId":"B","securityId":"AAPL","side":"BUY","quantity":5000000000000000000,"price":1,"tradeDate":"2026-11-25"}"#,
            #"{"type":"sodPosition","businessDate":"2026-11-25","bookId":"B","securityId":"AAPL","contractualQty":1,"settledQty":9000000000000000000,"sd0Receipt":9000000000000000000}"#,
            #"{"type":"price","securityId":"AAPL","last":1,"feedId":"F","feedSeq":9223372036854775807}"#,
            #"{"type":"price","securityId":"AAPL","last":2,"feedId":"F","feedSeq":1}"#,
        ]
        func batch(_ text: [String], mode: IngestBatch.Mode) -> IngestBatch {
            var body = text.joined(separator: "\n")
            return body.withUTF8 { BatchDecoder.decodeNDJSON(UnsafeRawBufferPointer($0), mode: mode, receivedAt: Timestamp(micros: 5)) }
        }
        let (live, outcomes) = try RecoveryTests.runDurably([batch(lines, mode: .atomic), batch(bad, mode: .partial)], in: dir.path)
        #expect(outcomes[1].rejected.count == 4)
        let reopened = try DataDirectory.open(dir.path, catalog: .embedded, now: Timestamp(micros: 9))
        #expect(reopened.state.snapshotImage() == live.snapshotImage())
        #expect(reopened.state.readModel.position(bookId: "B", securityId: "AAPL") == nil)
        let replayed = try Replay.state(dataDirectory: dir.path, catalog: .embedded, until: .sequence(.max))
        #expect(replayed.lastSequence == live.lastSequence)
    }
}

/// A line refused by validation in a partial batch is listed as it was received, also after a restart.
struct RawLineTests {
    @Test func aRefusedLineKeepsItsTextThroughTheJournal() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let bad =
            #"{"type":"trade","tradeId":"X1","version":1,"status":"NEW","bookId":"NOBOOK","securityId":"AAPL","side":"BUY","quantity":5,"price":1,"tradeDate":"2026-11-25"}"#
        var body = [
            #"{"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}"#,
            #"{"type":"security","securityId":"AAPL","marketId":"US"}"#,
            bad,
        ].joined(separator: "\n")
        let batch = body.withUTF8 { BatchDecoder.decodeNDJSON(UnsafeRawBufferPointer($0), mode: .partial, receivedAt: Timestamp(micros: 5)) }
        #expect(batch.lineTexts?.count == 3)
        let (live, outcomes) = try RecoveryTests.runDurably([batch], in: dir.path)
        #expect(outcomes.first?.rejected.map(\.field) == ["bookId"])
        let listed = live.readModel.exceptions(afterId: 0, kind: .rejectedInput, limit: 10)
        #expect(listed.map(\.raw) == [bad], "the line as received, not the decoded event's description")
        // The journal holds the batch without its lines' texts, then the refused line's text alone.
        var entries: [JournalEntry] = []
        try JournalReader.scan(directory: DataDirectory.journalDirectory(dir.path)) { _, entry in
            entries.append(entry); return true
        }
        #expect(entries.count == 2)
        if case .batch(let journaled) = entries.first {
            #expect(journaled.rawLines.isEmpty && journaled.lineTexts == nil)
        } else {
            Issue.record("the first entry is not the batch")
        }
        if case .lineTexts(let texts) = entries.last {
            #expect(texts.texts == [bad] && texts.exceptionIds == listed.map(\.exceptionId))
        } else {
            Issue.record("the refused line's text was not journaled")
        }
        // Replayed from the journal alone (no snapshot was written), the exception has its text again.
        let reopened = try DataDirectory.open(dir.path, catalog: .embedded, now: Timestamp(micros: 9))
        #expect(reopened.report.snapshotRecord == nil)
        #expect(reopened.state.readModel.exceptions(afterId: 0, kind: .rejectedInput, limit: 10).map(\.raw) == [bad])
        #expect(reopened.state.snapshotImage() == live.snapshotImage())
    }

    @Test func aJournalThatKeptEveryLinesTextStillReplaysIt() throws {
        var body =
            #"{"type":"trade","tradeId":"X1","version":1,"status":"NEW","bookId":"NOBOOK","securityId":"AAPL","side":"BUY","quantity":5,"price":1,"tradeDate":"2026-11-25"}"#
        var batch = body.withUTF8 { BatchDecoder.decodeNDJSON(UnsafeRawBufferPointer($0), mode: .partial, receivedAt: Timestamp(micros: 5)) }
        batch.lineTexts = nil
        batch.rawLines = ["the line as an older version journaled it"]
        var w = BinaryWriter()
        JournalEntry.batch(batch).encode(to: &w)
        let decoded = try w.bytes.withUnsafeBytes { raw in
            var r = BinaryReader(raw)
            return try JournalEntry(from: &r)
        }
        var state = EngineState(catalog: .embedded)
        state.apply(decoded, record: 1)
        #expect(state.readModel.exceptions(afterId: 0, kind: .rejectedInput, limit: 10).map(\.raw) == ["the line as an older version journaled it"])
    }

    @Test func aBatchJournaledWithoutRawLinesStillDecodes() throws {
        var w = BinaryWriter()
        var batch = IngestBatch(mode: .partial, receivedAt: Timestamp(micros: 1), events: [.fxRate(FXRate(currency: "EUR", usdRate: Decimal8(1), ts: nil))])
        batch.rawLines = []
        batch.encode(to: &w)
        // The old format ended after the feed stamps: drop the raw-line count (one zero byte).
        #expect(w.bytes.last == 0)
        let old = Array(w.bytes.dropLast())
        let decoded = try old.withUnsafeBytes { raw in
            var r = BinaryReader(raw)
            return try IngestBatch(from: &r)
        }
        #expect(decoded.events == batch.events && decoded.rawLines.isEmpty)
    }
}
