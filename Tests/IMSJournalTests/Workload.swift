import Foundation
import IMSDomain
import IMSEngine
import IMSIngest
import IMSJournal
import IMSRuntime

/// A deterministic stream of realistic batches: reference data, SOD, trades with amends and cancels,
/// prices, day rolls, and now and then a partial batch with a bad line or an atomic batch that is refused.
struct Workload {
    var simulator: MarketSimulator
    var random: SimulationRandom
    var clock: Int64 = 1_795_000_000_000_000
    /// The most flow events in one batch.
    var maxBatch: Int
    /// Whether events carry `feedId`/`feedSeq`, with now and then a skipped or repeated number.
    var stampFeed: Bool
    var feedSeq: Int64 = 0

    init(seed: UInt64, maxBatch: Int = 200, stampFeed: Bool = false) {
        simulator = MarketSimulator(startDate: BusinessDate(parsing: "2026-11-25")!, seed: seed, clients: 6)
        random = SimulationRandom(seed: seed)
        self.maxBatch = maxBatch
        self.stampFeed = stampFeed
    }

    static func decode(_ text: String, mode: IngestBatch.Mode = .atomic, at micros: Int64) -> IngestBatch {
        text.utf8CString.withUnsafeBytes {
            BatchDecoder.decodeNDJSON(UnsafeRawBufferPointer(rebasing: $0.dropLast()), mode: mode, receivedAt: Timestamp(micros: micros))
        }
    }

    /// The securities and the setup (books, SOD snapshots, contracts...) as two batches.
    mutating func setup() -> [IngestBatch] {
        let securities = MarketSimulator.securitiesCSV.utf8CString.withUnsafeBytes {
            BatchDecoder.decodeCSV(UnsafeRawBufferPointer(rebasing: $0.dropLast()), type: "security", receivedAt: Timestamp(micros: clock))
        }
        clock += 1_000
        return [securities, Self.decode(simulator.setupLines().joined(separator: "\n"), at: clock)]
    }

    /// The desk's work: clients' locate requests and sell orders (commands), then the trades that execute
    /// the orders, carrying their ids.
    mutating func desk(locates: Int = 6, orders: Int = 6) -> [IngestBatch] {
        clock += 1_000
        var events: [Event] = (0..<locates).map { _ in Event(simulator.locateRequest()) }
        var trades: [String] = []
        for _ in 0..<orders {
            let (order, trade) = simulator.sellOrder()
            events.append(Event(order))
            trades.append(trade)
        }
        let commands = IngestBatch(receivedAt: Timestamp(micros: clock), events: events, lines: (1...Int32(events.count)).map { $0 })
        clock += 1_000
        return [commands, Self.decode(trades.joined(separator: "\n"), mode: .partial, at: clock)]
    }

    /// The next batch of the flow.
    mutating func next() -> IngestBatch {
        clock += Int64(random.next() % 5_000) + 1
        var lines: [String] = []
        let n = Int(random.next() % UInt64(maxBatch)) + 1
        if random.next() % 40 == 0 { lines += simulator.dayRollLines() }
        for _ in 0..<n { lines.append(simulator.nextLine()) }
        if stampFeed {
            lines = lines.map { line in
                switch random.next() % 40 {
                case 0: feedSeq += 3
                case 1: break
                default: feedSeq += 1
                }
                return String(line.dropLast()) + #","feedId":"SIM","feedSeq":\#(feedSeq)}"#
            }
        }
        switch random.next() % 10 {
        case 0:
            lines.insert("{\"type\":\"trade\",\"tradeId\":\"BAD\",\"quantity\":-5}", at: lines.count / 2)
            return Self.decode(lines.joined(separator: "\n"), mode: .partial, at: clock)
        case 1:
            lines.append("{\"type\":\"price\",\"securityId\":\"NO-SUCH\",\"last\":\"1\"}")
            return Self.decode(lines.joined(separator: "\n"), mode: .atomic, at: clock)
        default:
            return Self.decode(lines.joined(separator: "\n"), mode: random.next() % 2 == 0 ? .atomic : .partial, at: clock)
        }
    }
}

/// A fresh directory under the system's temporary folder, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init(_ name: String = "ims-test") {
        path = NSTemporaryDirectory() + "/\(name)-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

extension Engine {
    /// Submits every batch in order, waiting for each.
    func run(_ batches: [IngestBatch]) throws -> [BatchOutcome] {
        try batches.map { try submitAndWait($0) }
    }
}
