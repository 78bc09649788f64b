/// One input to IMS. Every feed, file and command becomes a sequence of `Event`s.
///
/// Reference data is `indirect` (rare and large) so the hot cases stay small.
public enum Event: Sendable, Hashable {
    indirect case security(Security)
    indirect case counterparty(Counterparty)
    indirect case aggregationUnit(AggregationUnit)
    indirect case book(Book)
    case sodPosition(SODPosition)
    case trade(Trade)
    case contract(Contract)
    case availability(Availability)
    case price(PriceTick)
    case fxRate(FXRate)
    case marketDayRoll(MarketDayRoll)
    /// A desk command (a rule step, a locate, an order to validate, an acknowledgement: from the API, never
    /// from files or feeds), of any kind registered in `DeskCommands`.
    indirect case command(AnyDeskCommand)

    /// The `type` field that names this event in NDJSON (a command's kind name for a desk command).
    public var typeName: String {
        switch self {
        case .command(let c): c.typeName
        default: kind!.typeName
        }
    }

    /// Whether the event concerns one security's state only: a trade, SOD position, price, lender availability
    /// or lending contract.
    @inlinable public var concernsOneSecurity: Bool { kind?.concernsOneSecurity ?? false }

    /// Every event type name, as accepted in the `type` field.
    public static let typeNames = Kind.allCases.map(\.typeName)

    /// The kind of a data event; nil for a desk command (whose kinds are `DeskCommands.kinds`).
    @inlinable public var kind: Kind? {
        switch self {
        case .security: .security
        case .counterparty: .counterparty
        case .aggregationUnit: .aggregationUnit
        case .book: .book
        case .sodPosition: .sodPosition
        case .trade: .trade
        case .contract: .contract
        case .availability: .availability
        case .price: .price
        case .fxRate: .fxRate
        case .marketDayRoll: .marketDayRoll
        case .command: nil
        }
    }

    /// Every kind of data event, in one table: its `type` name in NDJSON and CSV (the case's name), its tag
    /// in the journal's binary encoding (the raw value: written into journals, so fixed forever), and
    /// whether it concerns one security's state only (the partitions apply those in parallel).
    ///
    /// Adding a kind: its struct, its case here and in `Event`; the compiler then names every exhaustive
    /// switch that must handle it (`kind` above, the field decoder `EventFields`, the binary codec,
    /// validation, bounds and apply). Desk commands are registered apart (`DeskCommands`).
    public enum Kind: UInt8, CaseIterable, Sendable {
        case security = 1
        case counterparty, aggregationUnit, book, sodPosition, trade, contract, availability, price, fxRate, marketDayRoll

        /// The `type` name, as accepted in NDJSON and CSV.
        public var typeName: String { Self.names[Int(rawValue) - 1] }
        private static let names = allCases.map { "\($0)" }

        /// The kind named `typeName`, if any (per line of input: the commonest kinds are compared first).
        public init?(typeName: String) {
            guard let kind = Self.byFrequency.first(where: { $0.typeName == typeName }) else { return nil }
            self = kind
        }
        private static let byFrequency: [Kind] = [
            .trade, .price, .availability, .contract, .sodPosition, .fxRate, .security, .book,
            .counterparty, .aggregationUnit, .marketDayRoll,
        ]

        /// Trades, SOD positions, prices, lender availability and lending contracts: one security's state only.
        @inlinable public var concernsOneSecurity: Bool {
            switch self {
            case .trade, .sodPosition, .price, .availability, .contract: true
            default: false
            }
        }
    }
}

/// A book's start-of-day snapshot of one security for a business date; it replaces the previous one.
public struct SODPosition: Sendable, Hashable, Codable {
    public var businessDate: BusinessDate
    public var bookId: String
    public var securityId: String
    public var contractualQty: Int64
    public var settledQty: Int64
    /// Expected receipts on SD0…SD4.
    public var receipts: [Int64]
    /// Expected deliveries on SD0…SD4.
    public var delivers: [Int64]

    /// A `SODPosition` from its fields.
    public init(
        businessDate: BusinessDate, bookId: String, securityId: String, contractualQty: Int64, settledQty: Int64,
        receipts: [Int64] = [0, 0, 0, 0, 0], delivers: [Int64] = [0, 0, 0, 0, 0]
    ) {
        self.businessDate = businessDate; self.bookId = bookId; self.securityId = securityId
        self.contractualQty = contractualQty; self.settledQty = settledQty; self.receipts = receipts; self.delivers = delivers
    }
}

/// One version of a trade. The highest version wins; CANCEL removes the trade's effect.
public struct Trade: Sendable, Hashable, Codable {
    public var tradeId: String
    public var version: Int64
    public var status: TradeStatus
    public var orderId: String?
    public var bookId: String
    public var securityId: String
    public var side: TradeSide
    public var quantity: Int64
    public var price: Decimal8
    public var tradeDate: BusinessDate
    public var settleDate: BusinessDate?
    public var counterpartyId: String?

    /// A `Trade` from its fields.
    public init(
        tradeId: String, version: Int64, status: TradeStatus, orderId: String? = nil, bookId: String, securityId: String,
        side: TradeSide, quantity: Int64, price: Decimal8, tradeDate: BusinessDate, settleDate: BusinessDate? = nil,
        counterpartyId: String? = nil
    ) {
        self.tradeId = tradeId; self.version = version; self.status = status; self.orderId = orderId; self.bookId = bookId
        self.securityId = securityId; self.side = side; self.quantity = quantity; self.price = price
        self.tradeDate = tradeDate; self.settleDate = settleDate; self.counterpartyId = counterpartyId
    }
}

/// One version of a securities-financing contract (borrow, loan, repo, pledge). The highest version wins.
public struct Contract: Sendable, Hashable, Codable {
    public var contractId: String
    public var version: Int64
    public var kind: ContractKind
    public var status: ContractStatus
    public var bookId: String
    public var counterpartyId: String
    public var securityId: String
    public var quantity: Int64
    public var returnedQty: Int64
    public var recalledQty: Int64
    /// Fee or rebate rate in basis points.
    public var rateBps: Decimal8
    public var collateralType: String?
    public var startDate: BusinessDate
    public var endDate: BusinessDate?

    /// A `Contract` from its fields.
    public init(
        contractId: String, version: Int64, kind: ContractKind, status: ContractStatus, bookId: String,
        counterpartyId: String, securityId: String, quantity: Int64, returnedQty: Int64 = 0, recalledQty: Int64 = 0,
        rateBps: Decimal8 = .zero, collateralType: String? = nil, startDate: BusinessDate, endDate: BusinessDate? = nil
    ) {
        self.contractId = contractId; self.version = version; self.kind = kind; self.status = status; self.bookId = bookId
        self.counterpartyId = counterpartyId; self.securityId = securityId; self.quantity = quantity
        self.returnedQty = returnedQty; self.recalledQty = recalledQty; self.rateBps = rateBps
        self.collateralType = collateralType; self.startDate = startDate; self.endDate = endDate
    }
}

/// A lender's offer of a security; replaces that lender's previous figure for it.
public struct Availability: Sendable, Hashable, Codable {
    public var sourceId: String
    public var securityId: String
    public var quantity: Int64
    public var availabilityType: AvailabilityType
    public var rateBps: Decimal8?
    public var effectiveDate: BusinessDate

    /// A `Availability` from its fields.
    public init(
        sourceId: String, securityId: String, quantity: Int64, availabilityType: AvailabilityType,
        rateBps: Decimal8? = nil, effectiveDate: BusinessDate
    ) {
        self.sourceId = sourceId; self.securityId = securityId; self.quantity = quantity
        self.availabilityType = availabilityType; self.rateBps = rateBps; self.effectiveDate = effectiveDate
    }
}

/// A market-data tick for a security; the last value wins for calculations.
public struct PriceTick: Sendable, Hashable, Codable {
    public var securityId: String
    public var last: Decimal8
    public var bid: Decimal8?
    public var ask: Decimal8?
    public var previousClose: Decimal8?
    public var currency: String?
    public var source: String?
    public var ts: Timestamp?

    /// A `PriceTick` from its fields.
    public init(
        securityId: String, last: Decimal8, bid: Decimal8? = nil, ask: Decimal8? = nil, previousClose: Decimal8? = nil,
        currency: String? = nil, source: String? = nil, ts: Timestamp? = nil
    ) {
        self.securityId = securityId; self.last = last; self.bid = bid; self.ask = ask
        self.previousClose = previousClose; self.currency = currency; self.source = source; self.ts = ts
    }
}

/// The USD value of one unit of a currency; the last value wins.
public struct FXRate: Sendable, Hashable, Codable {
    public var currency: String
    public var usdRate: Decimal8
    public var ts: Timestamp?

    /// A `FXRate` from its fields.
    public init(currency: String, usdRate: Decimal8, ts: Timestamp? = nil) {
        self.currency = currency; self.usdRate = usdRate; self.ts = ts
    }
}

/// A market starts a new business date.
public struct MarketDayRoll: Sendable, Hashable, Codable {
    public var marketId: String
    public var businessDate: BusinessDate

    /// A `MarketDayRoll` from its fields.
    public init(marketId: String, businessDate: BusinessDate) {
        self.marketId = marketId
        self.businessDate = businessDate
    }
}
