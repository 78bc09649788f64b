import IMSDomain

/// The live state of one book's position in one security, kept in contiguous storage.
///
/// Quantities follow SPEC 3: the SOD snapshot plus the day's active trades.
/// `receipt`/`deliver` hold both (SOD rows plus trades settling on that day);
/// the day's trades are also linked from `firstTrade`, so a replacement SOD
/// snapshot can be re-based without keeping a second copy of the SOD rows.
/// 152 bytes.
struct PositionRecord: Sendable {
    var book: Int32
    var security: Int32
    /// Head of the list of today's applied trades in this position (index in the market's trade table), or -1.
    var firstTrade: Int32 = -1
    /// True once an SOD snapshot for the market's current business date has been applied.
    var hasSOD = false
    /// Its book's position type: which inventory buckets its quantity goes to.
    var positionType: PositionType = .firm
    /// Its slots in the partition's aggregation-unit, legal-entity and client buckets (-1: none), found when created.
    var scopeSlots = ScopeSlots()
    var sodContractual: Int64 = 0
    var sodSettled: Int64 = 0
    var receipt = Ladder5.zero
    var deliver = Ladder5.zero
    /// Receipts and deliveries settling after SD4 (detail by date in `EngineState.later`).
    var laterReceipt: Int64 = 0
    var laterDeliver: Int64 = 0
    var intradayBuys: Int64 = 0
    var intradaySells: Int64 = 0
    var intradayShortSells: Int64 = 0

    init(book: Int32, security: Int32) {
        self.book = book
        self.security = security
    }

    var contractualQty: Int64 { sodContractual + intradayBuys - intradaySells - intradayShortSells }

    /// `projectedSettled[k]` = settled + Σ_{j≤k} (receipt[j] − deliver[j]).
    func projectedSettled(_ k: Int) -> Int64 {
        var total = sodSettled
        for j in 0...k { total += receipt[j] - deliver[j] }
        return total
    }
}

/// Receipts and deliveries of one position settling on one date beyond SD4.
struct LaterEntry: Sendable, Hashable {
    var date: BusinessDate
    var receipt: Int64
    var deliver: Int64
}
