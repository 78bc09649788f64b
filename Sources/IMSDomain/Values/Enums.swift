/// A trade's direction. BUY and BUY_COVER receive; SELL and SELL_SHORT deliver.
public enum TradeSide: String, Sendable, Codable, CaseIterable {
    case buy = "BUY"
    case sell = "SELL"
    case sellShort = "SELL_SHORT"
    case buyCover = "BUY_COVER"

    /// True for the sides that receive securities.
    @inlinable public var receives: Bool { self == .buy || self == .buyCover }
}

/// A trade version's lifecycle status; CANCEL removes the trade's effect.
public enum TradeStatus: String, Sendable, Codable, CaseIterable {
    case new = "NEW"
    case amend = "AMEND"
    case cancel = "CANCEL"
}

/// What a securities-financing contract is.
public enum ContractKind: String, Sendable, Codable, CaseIterable {
    case borrow = "BORROW"
    case loan = "LOAN"
    case repo = "REPO"
    case pledgeOut = "PLEDGE_OUT"
    case pledgeIn = "PLEDGE_IN"
}

/// Where a securities-financing contract stands.
public enum ContractStatus: String, Sendable, Codable, CaseIterable {
    case open = "OPEN"
    case recalled = "RECALLED"
    case returned = "RETURNED"
    case cancelled = "CANCELLED"
}

/// How firm a lender's availability is.
public enum AvailabilityType: String, Sendable, Codable, CaseIterable {
    case indicative = "INDICATIVE"
    case firm = "FIRM"
    case exclusive = "EXCLUSIVE"
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
    case `internal` = "INTERNAL"
    case client = "CLIENT"
    case clientAgent = "CLIENT_AGENT"
    case broker = "BROKER"
    case lender = "LENDER"
    case custodian = "CUSTODIAN"
    case exchange = "EXCHANGE"
    case clearingHouse = "CLEARING_HOUSE"
}

/// How an aggregation unit nets its books.
public enum AggregationUnitType: String, Sendable, Codable, CaseIterable {
    case long = "LONG"
    case short = "SHORT"
    case net = "NET"
}

/// The instrument class of a security.
public enum AssetType: String, Sendable, Codable, CaseIterable {
    case equity = "EQUITY"
    case etf = "ETF"
    case index = "INDEX"
    case bond = "BOND"
    case adr = "ADR"
    case fund = "FUND"
    case warrant = "WARRANT"
}

/// Borrow difficulty: general collateral, warm (harder and dearer than GC, not yet special) or hard to
/// borrow. Stored by position in the journal: a new case goes last.
public enum Temperature: String, Sendable, Codable, CaseIterable {
    case gc = "GC"
    case htb = "HTB"
    case warm = "WARM"

    /// The values, for messages: "GC, HTB or WARM".
    public static var names: String {
        let all = allCases.map(\.rawValue)
        return all.dropLast().joined(separator: ", ") + " or " + all.last!
    }
}
