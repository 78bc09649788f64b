/// A market IMS supports: where its securities trade and settle, and on which calendars.
public struct Market: Sendable, Hashable, Codable {
    /// Short code such as `US`, `UK`, `JP`.
    public var marketId: String
    public var name: String
    /// Market identifier codes (ISO 10383) of its venues.
    public var mics: [String]
    /// ISO 3166 country code.
    public var country: String
    /// IANA time zone of the primary venue.
    public var timeZone: String
    /// ISO 4217 currency.
    public var currency: String
    /// Settlement cycles in business days, each effective from a trade date, ascending.
    public var settlementCycles: [SettlementCycle]
    /// The exchange calendar the holidays were generated from.
    public var calendarSource: String?

    public init(marketId: String, name: String, mics: [String], country: String, timeZone: String,
                currency: String, settlementCycles: [SettlementCycle], calendarSource: String? = nil) {
        self.marketId = marketId; self.name = name; self.mics = mics; self.country = country
        self.timeZone = timeZone; self.currency = currency; self.settlementCycles = settlementCycles
        self.calendarSource = calendarSource
    }

    /// The settlement cycle (in settlement days) for a trade dated `tradeDate`.
    public func settlementDays(forTradeDate tradeDate: BusinessDate) -> Int {
        var days = settlementCycles.first?.days ?? 2
        for cycle in settlementCycles where cycle.effectiveFrom <= tradeDate { days = cycle.days }
        return days
    }
}

/// A settlement cycle (T+`days`) effective for trades dated on or after `effectiveFrom`.
public struct SettlementCycle: Sendable, Hashable, Codable {
    public var effectiveFrom: BusinessDate
    public var days: Int

    public init(effectiveFrom: BusinessDate, days: Int) {
        self.effectiveFrom = effectiveFrom
        self.days = days
    }
}
