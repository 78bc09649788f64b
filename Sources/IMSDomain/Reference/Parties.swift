/// A legal person IMS deals with: client, lender, broker, custodian, or the firm itself.
public struct Counterparty: Sendable, Hashable, Codable {
    public var counterpartyId: String
    public var name: String
    public var lei: String?
    public var kind: CounterpartyKind
    public var parentId: String?
    public var kycStatus: String?
    public var status: String?
    public var version: Int64?

    /// A `Counterparty` from its fields.
    public init(
        counterpartyId: String, name: String, lei: String? = nil, kind: CounterpartyKind, parentId: String? = nil,
        kycStatus: String? = nil, status: String? = nil, version: Int64? = nil
    ) {
        self.counterpartyId = counterpartyId; self.name = name; self.lei = lei; self.kind = kind
        self.parentId = parentId; self.kycStatus = kycStatus; self.status = status; self.version = version
    }
}

/// The unit over which a legal entity nets positions in one market for regulatory limits.
public struct AggregationUnit: Sendable, Hashable, Codable {
    public var aggregationUnitId: String
    /// Unique within its market.
    public var name: String
    public var marketId: String
    public var legalEntity: String
    public var type: AggregationUnitType
    /// True if this is the legal entity's default unit for its market.
    public var isDefault: Bool
    public var version: Int64?

    /// A `AggregationUnit` from its fields.
    public init(
        aggregationUnitId: String, name: String, marketId: String, legalEntity: String,
        type: AggregationUnitType, isDefault: Bool = false, version: Int64? = nil
    ) {
        self.aggregationUnitId = aggregationUnitId; self.name = name; self.marketId = marketId
        self.legalEntity = legalEntity; self.type = type; self.isDefault = isDefault; self.version = version
    }
}

/// A book: where positions are kept, of one position type, owned by a legal entity (and a client for client books).
public struct Book: Sendable, Hashable, Codable {
    public var bookId: String
    public var name: String?
    public var legalEntity: String
    public var positionType: PositionType
    public var clientId: String?
    /// marketId → aggregationUnitId; a market not listed uses the legal entity's default unit.
    public var aggregationUnits: [String: String]
    public var version: Int64?

    /// A `Book` from its fields.
    public init(
        bookId: String, name: String? = nil, legalEntity: String, positionType: PositionType, clientId: String? = nil,
        aggregationUnits: [String: String] = [:], version: Int64? = nil
    ) {
        self.bookId = bookId; self.name = name; self.legalEntity = legalEntity; self.positionType = positionType
        self.clientId = clientId; self.aggregationUnits = aggregationUnits; self.version = version
    }
}
