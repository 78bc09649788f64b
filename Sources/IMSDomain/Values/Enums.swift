/// A trade's direction. BUY and BUY_COVER receive; SELL and SELL_SHORT deliver.
public enum TradeSide: String, Sendable, Codable, CaseIterable {
    case buy = "BUY", sell = "SELL", sellShort = "SELL_SHORT", buyCover = "BUY_COVER"

    /// True for the sides that receive securities.
    @inlinable public var receives: Bool { self == .buy || self == .buyCover }
}

/// A trade version's lifecycle status; CANCEL removes the trade's effect.
public enum TradeStatus: String, Sendable, Codable, CaseIterable {
    case new = "NEW", amend = "AMEND", cancel = "CANCEL"
}

/// What a securities-financing contract is.
public enum ContractKind: String, Sendable, Codable, CaseIterable {
    case borrow = "BORROW", loan = "LOAN", repo = "REPO", pledgeOut = "PLEDGE_OUT", pledgeIn = "PLEDGE_IN"
}

/// Where a securities-financing contract stands.
public enum ContractStatus: String, Sendable, Codable, CaseIterable {
    case open = "OPEN", recalled = "RECALLED", returned = "RETURNED", cancelled = "CANCELLED"
}

/// How firm a lender's availability is.
public enum AvailabilityType: String, Sendable, Codable, CaseIterable {
    case indicative = "INDICATIVE", firm = "FIRM", exclusive = "EXCLUSIVE"
}

/// The economic nature of a book's positions.
public enum PositionType: String, Sendable, Codable, CaseIterable {
    case firm = "FIRM"
    /// Client positions the prime broker may re-hypothecate.
    case clientFree = "CLIENT_FREE"
    case clientSegregated = "CLIENT_SEGREGATED"
    case synthetic = "SYNTHETIC"
    case repoPledge = "REPO_PLEDGE"
    case repoReceived = "REPO_RECEIVED"
    case payToHold = "PAY_TO_HOLD"
    /// Custodian reservations (for example Taiwan depot positions).
    case depot = "DEPOT"
}

/// The role a counterparty plays.
public enum CounterpartyKind: String, Sendable, Codable, CaseIterable {
    case `internal` = "INTERNAL", client = "CLIENT", clientAgent = "CLIENT_AGENT", broker = "BROKER"
    case lender = "LENDER", custodian = "CUSTODIAN", exchange = "EXCHANGE", clearingHouse = "CLEARING_HOUSE"
}

/// How an aggregation unit nets its books.
public enum AggregationUnitType: String, Sendable, Codable, CaseIterable {
    case long = "LONG", short = "SHORT", net = "NET"
}

/// The instrument class of a security.
public enum AssetType: String, Sendable, Codable, CaseIterable {
    case equity = "EQUITY", etf = "ETF", index = "INDEX", bond = "BOND", adr = "ADR", fund = "FUND", warrant = "WARRANT"
}

/// Borrow difficulty: general collateral, warm (harder and dearer than GC, not yet special) or hard to
/// borrow. Stored by position in the journal: a new case goes last.
public enum Temperature: String, Sendable, Codable, CaseIterable {
    case gc = "GC", htb = "HTB", warm = "WARM"

    /// The values, for messages: "GC, HTB or WARM".
    public static var names: String {
        let all = allCases.map(\.rawValue)
        return all.dropLast().joined(separator: ", ") + " or " + all.last!
    }
}
