import Foundation
import IMSDomain
import Testing

@testable import IMSEngine

/// The day's books grow in small steps (`GrowingTables.swift`); each type must still behave exactly as the
/// standard collection it replaces, value semantics included.
struct GrowingTablesTests {
    struct Random {
        var state: UInt64
        mutating func next(_ bound: UInt64) -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return (z ^ (z >> 31)) % bound
        }
    }

    /// Appends across many chunks and changes in place agree with an Array; a copy is not changed by the original.
    @Test func chunkedArrayAgreesWithAnArray() {
        var chunked = ChunkedArray<String>()
        var reference: [String] = []
        var random = Random(state: 7)
        let n = ChunkedArray<String>.chunkSize * 3 + 17
        for i in 0..<n {
            chunked.append("r\(i)")
            reference.append("r\(i)")
            if i % 5 == 0 {
                let j = Int(random.next(UInt64(reference.count)))
                chunked[j] += "+"
                reference[j] += "+"
            }
        }
        #expect(chunked.count == n)
        #expect(Array(chunked) == reference)
        #expect(chunked.indices == reference.indices)
        #expect(chunked.last == reference.last)
        let copy = chunked
        chunked[ChunkedArray<String>.chunkSize + 1] = "changed"
        chunked.append("more")
        #expect(Array(copy) == reference)
        #expect(chunked[ChunkedArray<String>.chunkSize + 1] == "changed")
        #expect(chunked.count == n + 1)
    }

    /// A snapshot writes the day's records straight from their chunks: the same JSON as the array's.
    @Test func chunkedArrayEncodesAsTheArrayDoes() throws {
        var chunked = ChunkedArray<LocateRecord>()
        var array: [LocateRecord] = []
        for i in 0..<(ChunkedArray<LocateRecord>.chunkSize + 3) {
            let r = ReadModelBookMarksTests.locate(i, status: i % 2 == 0 ? .approved : .pending)
            chunked.append(r)
            array.append(r)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        #expect(try encoder.encode(chunked) == encoder.encode(array))
        #expect(try encoder.encode(ChunkedArray<LocateRecord>()) == encoder.encode([LocateRecord]()))
    }

    /// Random sets, defaults, removals and filtered removals agree with a Dictionary, count included.
    @Test(arguments: [1, 2, 3])
    func shardedDictionaryAgreesWithADictionary(seed: UInt64) {
        var sharded = ShardedDictionary<String, Int>()
        var reference: [String: Int] = [:]
        var random = Random(state: seed)
        for step in 0..<30_000 {
            let key = "K\(random.next(5_000))"
            switch random.next(5) {
            case 0:
                #expect(sharded.removeValue(forKey: key) == reference.removeValue(forKey: key))
            case 1:
                sharded[key, default: 0] += step
                reference[key, default: 0] += step
            case 2:
                sharded[key] = nil
                reference[key] = nil
            default:
                sharded[key] = step
                reference[key] = step
            }
        }
        #expect(sharded.count == reference.count)
        #expect(sharded.isEmpty == reference.isEmpty)
        for i in 0..<5_000 { #expect(sharded["K\(i)"] == reference["K\(i)"]) }
        #expect(Dictionary(uniqueKeysWithValues: sharded.entries.map { ($0.key, $0.value) }) == reference)

        let copy = sharded
        sharded.removeAll { key, value in value % 2 == 0 }
        reference = reference.filter { $0.value % 2 != 0 }
        #expect(sharded.count == reference.count)
        #expect(Dictionary(uniqueKeysWithValues: sharded.entries.map { ($0.key, $0.value) }) == reference)
        #expect(copy.count > sharded.count)
    }

    /// What bounds a growth step: the keys spread over the shards, so the largest holds about a thousandth of
    /// them (the shares run from 1 to 2 over the shards: at most 1.39 times the mean, plus chance).
    @Test func shardsShareTheEntries() {
        var sharded = ShardedDictionary<String, Int>()
        for i in 0..<100_000 { sharded["CL\(i % 7)|REQ-\(i)"] = i }
        #expect(sharded.count == 100_000)
        let mean = 100_000 / ShardedDictionary<String, Int>.shardCount
        #expect(sharded.largestShard < mean * 2)
    }

    /// The shards grow one after another across a doubling, never most of them in one burst: over the 2^19 inserts
    /// after the first 2^19 (one doubling), no window of 8,192 inserts sees more than a twentieth of the shards
    /// grow. Spread over the doubling it is about 16 a window; with equal shards they would all grow within
    /// chance's spread of one total (about 120 a window at the peak).
    @Test func shardsGrowSpreadOverADoubling() {
        var sharded = ShardedDictionary<Int, Int>()
        for i in 0..<(1 << 19) { sharded[i] = i }
        var capacities = sharded.shardCapacities
        var most = 0, grown = 0
        for window in 0..<64 {
            for i in 0..<8_192 {
                let k = 1 << 19 + window * 8_192 + i
                sharded[k] = k
            }
            let now = sharded.shardCapacities
            let changed = zip(now, capacities).filter { $0 != $1 }.count
            most = max(most, changed)
            grown += changed
            capacities = now
        }
        #expect(grown > ShardedDictionary<Int, Int>.shardCount / 2)
        #expect(most <= ShardedDictionary<Int, Int>.shardCount / 20)
    }

    /// Inserts and removals agree with a Set; members come back in increasing order.
    @Test func indexBitSetAgreesWithASet() {
        var bits = IndexBitSet()
        var reference = Set<Int>()
        var random = Random(state: 11)
        for _ in 0..<20_000 {
            let i = Int(random.next(3_000))
            if random.next(3) == 0 {
                bits.remove(i)
                reference.remove(i)
            } else {
                bits.insert(i)
                reference.insert(i)
            }
        }
        bits.remove(1_000_000)
        #expect(bits.count == reference.count)
        #expect(Array(bits) == reference.sorted())
        for i in 0..<3_100 { #expect(bits.contains(i) == reference.contains(i)) }
        #expect(!bits.contains(1_000_000))
    }
}

/// The read model's books follow the feed and nothing takes changes from them: taking a record leaves no
/// change mark (one per record stayed all day, rehashed as it grew), while the writer's books still mark.
struct ReadModelBookMarksTests {
    static func locate(_ i: Int, status: LocateRecord.Status) -> LocateRecord {
        LocateRecord(
            locateId: "L\(i)", requestId: "R\(i)", clientId: "C1", securityId: "S1", marketId: "XNYS", side: .short, settlement: .cash,
            quantity: 100, approvedQuantity: status == .approved ? 100 : 0, decrementQuantity: 0, status: status, reason: nil, rateBps: nil,
            businessDate: nil, requestedAt: Timestamp(micros: Int64(i)), requestedBy: nil, history: [])
    }

    static func order(_ i: Int, sequence: Int64) -> OrderRecord {
        OrderRecord(
            orderId: "O\(i)", clientId: "C1", bookId: "B1", securityId: "S1", marketId: "XNYS", aggregationUnitId: nil, side: .sellShort,
            quantity: 10, price: Decimal8(units: 100), decision: .approved, checks: [], sequence: sequence, decidedAt: Timestamp(micros: sequence),
            businessDate: nil, user: nil, fills: nil, cancellation: nil)
    }

    @Test func takingLocatesLeavesNoMarks() {
        var book = LocateBook()
        for i in 0..<3_000 { book.take(Self.locate(i, status: .pending)) }
        for i in stride(from: 0, to: 3_000, by: 3) { book.take(Self.locate(i, status: .approved)) }
        #expect(book.count == 3_000)
        #expect(book.changed.isEmpty)
        #expect(book.locate("L3")?.status == .approved)
        #expect(book.locate(clientId: "C1", requestId: "R4")?.status == .pending)
        #expect(book.live.count == 3_000)

        var writer = LocateBook()
        _ = writer.add(Self.locate(0, status: .pending))
        #expect(writer.takeChanges().map(\.locateId) == ["L0"])
    }

    @Test func takingOrdersLeavesNoMarks() {
        var book = OrderBook()
        for i in 0..<3_000 { book.take(Self.order(i, sequence: Int64(i))) }
        for i in stride(from: 0, to: 3_000, by: 3) { book.take(Self.order(i, sequence: Int64(i))) }
        #expect(book.count == 3_000)
        #expect(book.changed.isEmpty)
        #expect(book.order(clientId: "C1", orderId: "O3")?.sequence == 3)

        var writer = OrderBook()
        _ = writer.add(Self.order(0, sequence: 1))
        #expect(writer.takeChanges().map(\.orderId) == ["O0"])
    }
}

/// A client's request ids and its approved quantities are keyed by (client, id) kept apart: a joined key
/// ("client|id") let client `A` with request `B|C` find client `A|B`'s request `C`, so a re-send answered with
/// another client's locate, and mixed their approved quantities.
struct LocateBookKeysTests {
    static func locate(_ n: Int, client: String, request: String, security: String) -> LocateRecord {
        var r = ReadModelBookMarksTests.locate(n, status: .approved)
        r.clientId = client
        r.requestId = request
        r.securityId = security
        return r
    }

    @Test func idsWithTheSeparatorNeverMeetAnotherClients() {
        var book = LocateBook()
        _ = book.add(Self.locate(1, client: "A|B", request: "C", security: "S|T"))
        #expect(book.locate(clientId: "A|B", requestId: "C")?.locateId == "L1")
        #expect(book.locate(clientId: "A", requestId: "B|C") == nil)
        #expect(book.approved(clientId: "A|B", securityId: "S|T") == 100)
        #expect(book.approved(clientId: "A", securityId: "B|S|T") == 0)
        _ = book.add(Self.locate(2, client: "A", request: "B|C", security: "B|S|T"))
        #expect(book.locate(clientId: "A", requestId: "B|C")?.locateId == "L2")
        #expect(book.locate(clientId: "A|B", requestId: "C")?.locateId == "L1")
        #expect(book.approved(clientId: "A", securityId: "B|S|T") == 100)
        #expect(book.approved(clientId: "A|B", securityId: "S|T") == 100)
    }
}
