import Foundation
import IMSDomain
import IMSIngest
import IMSJournal
import Testing

@testable import IMSEngine

/// Snapshots are lists of tagged sections: older images still load, newer ones are refused clearly.
struct SnapshotCompatibilityTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/format2").path

    /// A data directory written by the session-5 version (format 2, securities placed by index) starts, and
    /// answers exactly what that version answered; new securities then go where the stable hash says.
    @Test func aFormat2DirectoryFromAnEarlierVersionStartsAndAnswersTheSame() throws {
        let dir = TemporaryDirectory("ims-format2")
        defer { dir.remove() }
        try FileManager.default.removeItem(atPath: dir.path)
        try FileManager.default.copyItem(atPath: Self.fixture + "/data", toPath: dir.path)
        let opened = try DataDirectory.open(dir.path, catalog: .embedded, now: Timestamp(micros: 1))
        var state = opened.state
        #expect(state.lastSequence == 14)
        for (book, security, file) in [("FX-B1", "FXS0", "pos-B1-S0.json"), ("FX-B2", "FXS3", "pos-B2-S3.json")] {
            let expected = try String(contentsOfFile: Self.fixture + "/" + file, encoding: .utf8)
            #expect(state.readModel.position(bookId: book, securityId: security)?.json == expected)
        }
        #expect(state.readModel.exceptions(limit: 10).map(\.kind) == [.feedGap, .rejectedInput])
        #expect(state.readModel.marketDataSnapshot(MarketDataFilter(), limit: 10).count == 2)
        #expect(state.reference.securityPartitions == [0, 1, 0, 1], "format 2 placed security s in s & 1")
        // A trade on an old security and a new security, then the image round-trips in format 3.
        let more = Workload.decode(
            """
            {"type":"security","securityId":"FXNEW","marketId":"US"}
            {"type":"trade","tradeId":"T9","version":1,"status":"NEW","bookId":"FX-B1","securityId":"FXNEW","side":"BUY","quantity":3,"price":"1","tradeDate":"2026-11-25"}
            {"type":"trade","tradeId":"T10","version":1,"status":"NEW","bookId":"FX-B1","securityId":"FXS0","side":"BUY","quantity":1,"price":"1","tradeDate":"2026-11-25"}
            """, at: 2)
        #expect(state.process(more).rejected.isEmpty)
        #expect(Int(state.reference.securityPartitions[4]) == EngineState.partition(ofSecurityId: "FXNEW", partitions: 2))
        #expect(state.readModel.position(bookId: "FX-B1", securityId: "FXS0")?.intradayBuys == 106)
        let image = state.snapshotImage()
        let reloaded = try image.withUnsafeBytes { try EngineState(snapshotImage: $0) }
        #expect(reloaded.snapshotImage() == image)
        #expect(reloaded.readModel.canonicalText() == state.readModel.canonicalText())
    }

    static let fixture1e3c732 = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/v1e3c732").path

    /// Parsed JSON, to compare answers whatever the key order and escaping.
    static func parsed(_ text: String) throws -> NSObject {
        try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) as! NSObject
    }

    static func encoded<T: Encodable>(_ value: T) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.dateEncodingStrategy = .iso8601
        return String(decoding: try e.encode(value), as: UTF8.self)
    }

    /// A data directory written by `1e3c732` (the version before the state's parts were registered once: a
    /// snapshot without the `intradayBars` section, then journal records after it) opens, and answers what
    /// that version answered; its snapshot re-encodes to the same bytes; and the whole journal replayed
    /// from nothing gives the same state as the snapshot and its tail.
    @Test func aDirectoryWrittenBy1e3c732OpensAndAnswersTheSame() throws {
        let dir = TemporaryDirectory("ims-1e3c732")
        defer { dir.remove() }
        try FileManager.default.removeItem(atPath: dir.path)
        try FileManager.default.copyItem(atPath: Self.fixture1e3c732 + "/data", toPath: dir.path)
        let opened = try DataDirectory.open(dir.path, catalog: .embedded, now: Timestamp(micros: 1))
        #expect(opened.report.snapshotRecord == 6)
        #expect(opened.report.replayedRecords > 0, "the journal's tail after the snapshot is replayed")
        let model = opened.state.readModel
        func expected(_ name: String) throws -> NSObject {
            try Self.parsed(String(contentsOfFile: Self.fixture1e3c732 + "/expected-\(name).json", encoding: .utf8))
        }
        #expect(try Self.parsed(#require(model.position(bookId: "FIRM", securityId: "IBM")).json) == expected("positions_FIRM_IBM"))
        #expect(try Self.parsed(#require(model.position(bookId: "CL1", securityId: "TOY")).json) == expected("positions_CL1_TOY"))
        for id in ["IBM", "TOY"] {
            let index = try #require(model.securityIndex(id))
            #expect(try Self.parsed(#require(model.inventoryJSON(index))) == expected("inventory_\(id)"))
        }
        #expect(try Self.parsed(Self.encoded(model.locates(matching: LocateFilter(), offset: 0, limit: 100))) == expected("locates"))
        #expect(try Self.parsed(Self.encoded(model.exceptions(limit: 100))) == expected("exceptions"))
        #expect(try Self.parsed(Self.encoded(#require(model.sellLimits(.client("C1"))))) == expected("limits_clients_C1"))
        let audit = try #require(try expected("audit") as? NSDictionary)
        let entries = model.auditEntries(AuditFilter(), limit: 100).entries
        #expect(try Self.parsed(Self.encoded(entries)) == audit["items"] as? NSObject)

        // The snapshot alone re-encodes to its bytes, less the section added since (intraday bars).
        let store = try SnapshotStore(directory: DataDirectory.snapshotDirectory(dir.path))
        let info = try #require(store.list().first)
        let file = try Data(contentsOf: URL(fileURLWithPath: info.path))
        let body = Array(file[SnapshotStore.headerSize...])
        let loaded = try store.load(info, catalog: .embedded)
        #expect(loaded.snapshotImage(leavingOut: IntradayBarsPart.self) == body)

        // The whole journal from nothing: the same state.
        let scratch = TemporaryDirectory("ims-1e3c732-replay")
        defer { scratch.remove() }
        try FileManager.default.removeItem(atPath: scratch.path)
        try FileManager.default.createDirectory(atPath: scratch.path, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.fixture1e3c732 + "/data/journal", toPath: scratch.path + "/journal")
        let replayed = try DataDirectory.open(scratch.path, catalog: .embedded, now: Timestamp(micros: 1))
        #expect(replayed.report.snapshotRecord == nil)
        #expect(replayed.state.readModel.canonicalText() == model.canonicalText())
    }

    static func state(seed: UInt64) -> EngineState {
        var workload = Workload(seed: seed, maxBatch: 400, stampFeed: true)
        var state = EngineState()
        for batch in workload.setup() { _ = state.process(batch) }
        for _ in 0..<20 { _ = state.process(workload.next()) }
        return state
    }

    /// An image written before a part existed (here: without the feeds section) loads, with that part
    /// empty and every other part as it was.
    @Test func anImageWithoutASectionLoadsWithThatPartEmpty() throws {
        let state = Self.state(seed: 61)
        #expect(!state.feeds.isEmpty)
        let without = state.snapshotImage(leavingOut: FeedsPart.self)
        let loaded = try without.withUnsafeBytes { try EngineState(snapshotImage: $0) }
        #expect(loaded.feeds.isEmpty)
        var expected = state
        expected.feeds = SourceFeeds()
        #expect(loaded.snapshotImage() == expected.snapshotImage())
    }

    /// Acknowledgements are a section of their own (issue 16): an image from before them loads with none
    /// acknowledged, the full image round-trips, and a section naming an exception the image lacks is refused.
    @Test func acknowledgementsHaveTheirOwnSection() throws {
        var state = Self.state(seed: 63)
        var bad = Workload.decode(
            """
            {"type":"trade","tradeId":"BAD1","quantity":-1}
            {"type":"trade","tradeId":"BAD2"}
            """, at: 3)
        bad.mode = .partial
        _ = state.process(bad)
        let all = state.readModel.exceptions(kind: .rejectedInput, limit: 100).map(\.exceptionId)
        let ids = Array(all.suffix(2))
        #expect(ids.count == 2)
        let ack = state.process(
            IngestBatch(receivedAt: Timestamp(micros: 4), events: [Event(ExceptionCommand(exceptionIds: [ids[1]], note: "seen", user: "olga"))], lines: [1]))
        #expect(ack.applied && ack.rejected.isEmpty)
        #expect(state.readModel.exception(ids[1])?.acknowledgedBy == "olga" && state.readModel.exception(ids[0])?.acknowledgedBy == nil)
        let image = state.snapshotImage()
        let reloaded = try image.withUnsafeBytes { try EngineState(snapshotImage: $0) }
        #expect(reloaded.snapshotImage() == image)
        #expect(reloaded.readModel.exception(ids[1])?.acknowledgeNote == "seen")
        #expect(reloaded.readModel.exception(ids[1])?.acknowledgedAt == Timestamp(micros: 4))
        let older = try state.snapshotImage(leavingOut: AcknowledgementsPart.self)
            .withUnsafeBytes { try EngineState(snapshotImage: $0) }
        #expect(older.readModel.exceptions(acknowledged: true, limit: 10).isEmpty)
        #expect(older.readModel.exceptions(kind: .rejectedInput, limit: 100).map(\.exceptionId) == all)
        // An acknowledgement of an exception the image does not hold.
        var forged = state.snapshotImage(leavingOut: AcknowledgementsPart.self)
        var w = BinaryWriter()
        w.writeCount(1); w.writeVarint(Int64(9_999)); w.write("x" as String?); w.write(Timestamp(micros: 5) as Timestamp?); w.write(nil as String?)
        var head = BinaryWriter()
        head.write(AcknowledgementsPart.sectionTag); head.write(UInt64(w.bytes.count))
        forged += head.bytes + w.bytes
        do {
            _ = try forged.withUnsafeBytes { try EngineState(snapshotImage: $0) }
            Issue.record("a forged acknowledgement loaded")
        } catch {
            #expect("\(error)".contains("exception 9999"))
        }
    }

    /// A section this version does not know (a newer version's) is refused, naming its tag; so is damage.
    @Test func anUnknownSectionOrABadLengthIsRefusedClearly() throws {
        let image = Self.state(seed: 62).snapshotImage()
        var unknown = image
        var w = BinaryWriter()
        w.write(UInt32(99)); w.write(UInt64(3)); w.write(UInt8(1)); w.write(UInt8(2)); w.write(UInt8(3))
        unknown += w.bytes
        #expect(throws: BinaryFormatError.self) { _ = try unknown.withUnsafeBytes { try EngineState(snapshotImage: $0) } }
        do {
            _ = try unknown.withUnsafeBytes { try EngineState(snapshotImage: $0) }
        } catch {
            #expect("\(error)".contains("tag 99") && "\(error)".contains("newer version"))
        }
        var truncated = image
        truncated.removeLast(5)
        #expect(throws: BinaryFormatError.self) { _ = try truncated.withUnsafeBytes { try EngineState(snapshotImage: $0) } }
    }

    /// The partition of a security id is a fixed function anyone can compute (values pinned here).
    @Test func thePartitionOfASecurityIdIsStable() {
        let pinned = ["AAPL", "S-BE0003565737", "FXS0", "7203.T"].map { id in
            [1, 2, 4, 8].map { EngineState.partition(ofSecurityId: id, partitions: $0) }
        }
        #expect(pinned.allSatisfy { $0[0] == 0 })
        for (row, id) in zip(pinned, ["AAPL", "S-BE0003565737", "FXS0", "7203.T"]) {
            // Each count takes the top bits of one mixed hash: 2 partitions is the top bit of 4's choice.
            #expect(row[1] == row[2] >> 1 && row[2] == row[3] >> 1, "\(id)")
        }
        #expect(pinned.map { $0[3] } == Self.pinnedEight)
        // Spread: 1,000 ids over 2 partitions land within 45–55% each.
        let ones = (0..<1_000).filter { EngineState.partition(ofSecurityId: "SEC\($0)", partitions: 2) == 1 }.count
        #expect((450...550).contains(ones))
    }

    /// Computed apart, in Python: `(fnv1a64(id) * 0x9E3779B97F4A7C15 mod 2^64) >> 61`.
    static let pinnedEight = [0, 7, 1, 4]
}
