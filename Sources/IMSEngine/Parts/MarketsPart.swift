import IMSDomain

/// The markets' clock: each market's business date and ladder (`MarketClock`). Shared copy-on-write, so
/// every record carries it whole, with the markets that rolled in the drain.
enum MarketsPart: StatePart {
    static let sectionTag: UInt32 = 2
    static let name = "markets"

    struct Change: Sendable {
        var clock: MarketClock
        /// Markets that rolled to a new business date (all their positions are in the partitions' change).
        var rolledMarkets: [Int32]
    }

    static func write(_ state: EngineState, to w: inout BinaryWriter) { state.clock.encode(to: &w) }

    static func read(into state: inout EngineState, from r: inout BinaryReader, format: UInt32) throws(BinaryFormatError) {
        try state.clock.decode(from: &r)
    }

    static func capture(from state: inout EngineState, into record: inout ChangeRecord) {
        var rolled: [Int32] = []
        swap(&rolled, &state.changeLog.markets)
        record[Self.self] = Change(clock: state.clock, rolledMarkets: rolled)
    }

    static func apply(_ record: ChangeRecord, to model: inout ReadModel) {
        if let change = record[Self.self] { model.clock = change.clock }
    }

    static func itemCount(_ change: Change) -> Int { change.rolledMarkets.count }

    static func canonicalLines(_ model: ReadModel, into lines: inout [String]) {
        for m in model.marketViews() { lines.append("market \(m.market.marketId) \(m.businessDate.map { "\($0)" } ?? "-") \(m.securities)") }
    }
}

extension ChangeRecord {
    /// Markets that rolled to a new business date in the drain.
    public var rolledMarkets: [Int32] { self[MarketsPart.self]?.rolledMarkets ?? [] }
}
