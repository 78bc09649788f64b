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
    /// What a short sale in the market needs and which prices it may take (SPEC 4.3); the order checks read
    /// it. A catalog without it has no short-sale rules of the market's own.
    public var shortSale: ShortSaleRegime

    /// A market; `shortSale` defaults to none of the market's own rules.
    public init(
        marketId: String, name: String, mics: [String], country: String, timeZone: String,
        currency: String, settlementCycles: [SettlementCycle], calendarSource: String? = nil,
        shortSale: ShortSaleRegime = ShortSaleRegime()
    ) {
        self.marketId = marketId; self.name = name; self.mics = mics; self.country = country
        self.timeZone = timeZone; self.currency = currency; self.settlementCycles = settlementCycles
        self.calendarSource = calendarSource; self.shortSale = shortSale
    }

    enum CodingKeys: String, CodingKey {
        case marketId, name, mics, country, timeZone, currency, settlementCycles, calendarSource, shortSale
    }

    /// Decodes a market; a catalog written before short-sale regimes were data has none.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            marketId: try c.decode(String.self, forKey: .marketId), name: try c.decode(String.self, forKey: .name),
            mics: try c.decode([String].self, forKey: .mics), country: try c.decode(String.self, forKey: .country),
            timeZone: try c.decode(String.self, forKey: .timeZone), currency: try c.decode(String.self, forKey: .currency),
            settlementCycles: try c.decode([SettlementCycle].self, forKey: .settlementCycles),
            calendarSource: try c.decodeIfPresent(String.self, forKey: .calendarSource),
            shortSale: try c.decodeIfPresent(ShortSaleRegime.self, forKey: .shortSale) ?? ShortSaleRegime())
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

    /// A `SettlementCycle` from its fields.
    public init(effectiveFrom: BusinessDate, days: Int) {
        self.effectiveFrom = effectiveFrom
        self.days = days
    }
}

/// A market's short-sale regime (SPEC 4.3), as data in the market catalogue: what a short sale needs first,
/// a price floor every short sale keeps, and the price test a fall from the previous close triggers. The
/// order checks (`EngineState.decideOrder`) and the price-test trigger read it; no market id is tested in code.
public struct ShortSaleRegime: Sendable, Hashable, Codable {
    /// What a short sale needs before it is sent.
    public enum Requirement: String, Sendable, Hashable, Codable, CaseIterable {
        /// Nothing of the market's own.
        case none = "NONE"
        /// An approved locate or pay-to-hold of the client (US Reg SHO, EU/UK SSR, JP, HK, CA, AU, SG, IN).
        case locate = "LOCATE"
        /// The shares borrowed already in the aggregation unit (KR, TW).
        case preBorrow = "PRE_BORROW"
    }

    /// A floor on every short sale's price.
    public enum PriceFloor: String, Sendable, Hashable, Codable, CaseIterable {
        case none = "NONE"
        /// Not below the best ask (HK).
        case notBelowAsk = "NOT_BELOW_ASK"
        /// Not below the previous close (TW).
        case notBelowPreviousClose = "NOT_BELOW_PREVIOUS_CLOSE"
    }

    /// The price test that holds, after a fall of `priceTestTriggerPercent` from the previous close, for the
    /// rest of the day and the next business day.
    public enum PriceTest: String, Sendable, Hashable, Codable, CaseIterable {
        case none = "NONE"
        /// Not at or below the best bid (US Rule 201).
        case aboveBid = "ABOVE_BID"
        /// Above the last trade, or at it after an uptick (JP).
        case aboveLastOrAtUptick = "ABOVE_LAST_OR_AT_UPTICK"
    }

    public var requirement: Requirement
    public var priceFloor: PriceFloor
    public var priceTest: PriceTest
    /// The fall from the previous close, in percent, that starts the price test (10 in the US and JP).
    public var priceTestTriggerPercent: Int
    /// Short sales are allowed only in designated securities (HK's designated list, IN's F&O list): a
    /// security flagged `shortSellEligible: false` is refused with the list named.
    public var designatedList: Bool

    /// A `ShortSaleRegime` from its fields.
    public init(
        requirement: Requirement = .none, priceFloor: PriceFloor = .none, priceTest: PriceTest = .none,
        priceTestTriggerPercent: Int = 10, designatedList: Bool = false
    ) {
        self.requirement = requirement; self.priceFloor = priceFloor; self.priceTest = priceTest
        self.priceTestTriggerPercent = priceTestTriggerPercent; self.designatedList = designatedList
    }
}
