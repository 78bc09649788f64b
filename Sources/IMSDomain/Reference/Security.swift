/// A security as a provider describes it: identifiers, market, flags, basket.
///
/// `securityId` is IMS's internal id. A provider that does not know it sends
/// identifiers only, and IMS matches them to an existing security (or creates
/// one); two internal securities claiming one identifier is an exception for
/// a person to resolve, never a silent merge.
public struct Security: Sendable, Hashable, Codable {
    public var securityId: String?
    public var isin: String?
    public var cusip: String?
    public var sedol: String?
    public var ticker: String?
    public var ric: String?
    public var bloombergId: String?
    public var name: String?
    public var marketId: String
    public var currency: String?
    public var assetType: AssetType
    /// The provider's version; a record changes only when it is newer. Absent: last write wins.
    public var version: Int64?
    /// Which provider sent it (versions are compared per provider).
    public var provider: String?
    public var temperature: Temperature
    public var easyToBorrow: Bool
    public var thresholdList: Bool
    public var restricted: Bool
    public var shortSellEligible: Bool
    /// Basket constituents for ETFs and indexes.
    public var constituents: [Constituent]

    /// A `Security` from its fields.
    public init(
        securityId: String?, isin: String? = nil, cusip: String? = nil, sedol: String? = nil, ticker: String? = nil,
        ric: String? = nil, bloombergId: String? = nil, name: String? = nil, marketId: String, currency: String? = nil,
        assetType: AssetType = .equity, version: Int64? = nil, provider: String? = nil, temperature: Temperature = .gc,
        easyToBorrow: Bool = false, thresholdList: Bool = false, restricted: Bool = false, shortSellEligible: Bool = true,
        constituents: [Constituent] = []
    ) {
        self.securityId = securityId; self.isin = isin; self.cusip = cusip; self.sedol = sedol; self.ticker = ticker
        self.ric = ric; self.bloombergId = bloombergId; self.name = name; self.marketId = marketId; self.currency = currency
        self.assetType = assetType; self.version = version; self.provider = provider; self.temperature = temperature
        self.easyToBorrow = easyToBorrow; self.thresholdList = thresholdList; self.restricted = restricted
        self.shortSellEligible = shortSellEligible; self.constituents = constituents
    }

    /// The identifiers this record carries, by kind.
    public var identifiers: [(IdentifierKind, String)] {
        var out: [(IdentifierKind, String)] = []
        if let isin { out.append((.isin, isin)) }
        if let cusip { out.append((.cusip, cusip)) }
        if let sedol { out.append((.sedol, sedol)) }
        if let ticker { out.append((.ticker, ticker)) }
        if let ric { out.append((.ric, ric)) }
        if let bloombergId { out.append((.bloombergId, bloombergId)) }
        return out
    }
}

/// One member of an ETF or index basket.
public struct Constituent: Sendable, Hashable, Codable {
    public var securityId: String
    public var weight: Decimal8

    /// A `Constituent` from its fields.
    public init(securityId: String, weight: Decimal8) {
        self.securityId = securityId
        self.weight = weight
    }
}

/// The kinds of public identifier a security can be found by.
public enum IdentifierKind: String, Sendable, Hashable, Codable, CaseIterable {
    case isin, cusip, sedol, ticker, ric, bloombergId

    /// True for identifiers that name exactly one security worldwide. A ticker
    /// is unique only within its market, so it is searchable but never used to
    /// match providers' records.
    public var isGloballyUnique: Bool { self != .ticker }
}
