import Foundation
import IMSDomain
import IMSEngine
import IMSHistory
import IMSIngest

/// A deterministic journal spanning minutes of receive time: reference data and SOD, then market flow
/// (prices, trades), clients' locate requests and sell orders as commands with an issuer, and a day roll,
/// with gaps of up to a second between entries so that tick and snapshot intervals close along the way.
struct HistoryWorkload {
    var simulator: MarketSimulator
    var random: SimulationRandom
    var clock: Int64 = 1_795_000_000_000_000

    init(seed: UInt64) {
        simulator = MarketSimulator(startDate: BusinessDate(parsing: "2026-11-25")!, seed: seed, clients: 6)
        random = SimulationRandom(seed: seed)
    }

    static func decode(_ text: String, mode: IngestBatch.Mode = .atomic, at micros: Int64) -> IngestBatch {
        text.utf8CString.withUnsafeBytes {
            BatchDecoder.decodeNDJSON(UnsafeRawBufferPointer(rebasing: $0.dropLast()), mode: mode, receivedAt: Timestamp(micros: micros))
        }
    }

    /// `count` journal entries after the setup.
    mutating func entries(_ count: Int) -> [JournalEntry] {
        var out: [JournalEntry] = []
        let securities = MarketSimulator.securitiesCSV.utf8CString.withUnsafeBytes {
            BatchDecoder.decodeCSV(UnsafeRawBufferPointer(rebasing: $0.dropLast()), type: "security", receivedAt: Timestamp(micros: clock))
        }
        out.append(.batch(securities))
        clock += 1_000
        out.append(.batch(Self.decode(simulator.setupLines().joined(separator: "\n"), at: clock)))
        for i in 0..<count {
            clock += Int64(random.next() % 900_000) + 1
            switch i % 9 {
            case 4:
                var events: [Event] = (0..<3).map { _ in Event(simulator.locateRequest()) }
                var trades: [String] = []
                for _ in 0..<2 {
                    let (order, trade) = simulator.sellOrder()
                    events.append(Event(order))
                    trades.append(trade)
                }
                var commands = IngestBatch(receivedAt: Timestamp(micros: clock), events: events, lines: (1...Int32(events.count)).map { $0 })
                commands.issuer = "key:desk"
                out.append(.batch(commands))
                clock += 1_000
                out.append(.batch(Self.decode(trades.joined(separator: "\n"), mode: .partial, at: clock)))
            default:
                var lines: [String] = []
                if i == count / 2 { lines += simulator.dayRollLines() }
                for _ in 0..<(Int(random.next() % 40) + 1) { lines.append(simulator.nextLine()) }
                out.append(.batch(Self.decode(lines.joined(separator: "\n"), mode: .partial, at: clock)))
            }
        }
        return out
    }
}

extension HistoryRows {
    /// Every row as one line of text with its table, sorted: two projections agree when these are equal.
    var lines: [String] {
        var out: [String] = []
        out += ticks.map { "tick \($0.at) \($0.securityId) \($0.last?.description ?? "-") \($0.bid?.description ?? "-") \($0.record)" }
        out += rates.map { "rate \($0.at) \($0.currency) \($0.usdRate) \($0.record)" }
        out += positions.map { "position \($0.at) \($0.kind.rawValue) \($0.bookId) \($0.securityId) \($0.record) \($0.json)" }
        out += inventory.map { "inventory \($0.at) \($0.kind.rawValue) \($0.securityId) \($0.record) \($0.json)" }
        out += locates.map { "locate \($0.at) \($0.locateId) \($0.record) \($0.json)" }
        out += orders.map { "order \($0.at) \($0.orderId) \($0.record) \($0.json)" }
        out += exceptions.map { "exception \($0.at) \($0.exceptionId) \($0.record) \($0.json)" }
        out += audit.map { "audit \($0.at) \($0.auditId) \($0.record) \($0.json)" }
        out += ruleSteps.map { "rule \($0.at) \($0.sequence) \($0.record) \($0.json)" }
        return out.sorted()
    }
}
