import IMSDomain

/// What IMS keeps of a trade: its winning version and where its effect was applied.
struct TradeRecord: Sendable {
    var version: Int64
    var quantity: Int64
    /// The security it was booked in; later versions cannot change it.
    var security: Int32
    /// The (partition-local) position its effect is applied to, or -1 when it has none (cancelled, or of an earlier date).
    var position: Int32 = -1
    /// Next and previous trade in the same position's list, or -1.
    var nextInPosition: Int32 = -1
    var previousInPosition: Int32 = -1
    var tradeDate: BusinessDate
    var settleDate: BusinessDate
    /// Ladder slot 0…4, `TradeRecord.laterSlot` for after SD4, -1 when not applied.
    var slot: Int8 = -1
    var side: TradeSide
    var status: TradeStatus

    static let laterSlot: Int8 = 5
}

/// One market's trades of its current business date.
struct MarketTrades: Sendable {
    var records: ContiguousArray<TradeRecord> = []
    var ids: [String] = []
}
