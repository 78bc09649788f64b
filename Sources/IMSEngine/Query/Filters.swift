import IMSDomain

/// One field of a filter, as every interface names and documents it: REST query parameters, GraphQL
/// arguments, stream subscription filters and the OpenAPI document all take their names from here.
public struct FilterField: Sendable, Hashable {
    public let name: String
    public let description: String
    /// The values allowed, when the field is an enumeration.
    public let values: [String]?
}

/// A filter value that is not allowed, naming its field.
public struct FilterError: Error, Sendable, Hashable, CustomStringConvertible {
    public var field: String
    public var message: String
    public var description: String { "\(field) \(message)" }

    /// A `FilterError` from its fields.
    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }
}

extension PositionFilter {
    /// The fields of a position filter, in the order interfaces list them.
    public static let fields: [FilterField] = [
        FilterField(name: "bookId", description: "Book", values: nil),
        FilterField(name: "securityId", description: "Security", values: nil),
        FilterField(name: "marketId", description: "Market", values: nil),
        FilterField(name: "aggregationUnitId", description: "Aggregation unit", values: nil),
        FilterField(name: "positionType", description: "Position type", values: PositionType.allCases.map(\.rawValue)),
        FilterField(name: "legalEntity", description: "Legal entity", values: nil),
        FilterField(name: "clientId", description: "Client", values: nil),
    ]

    /// A filter from named text values (`value(name)` for each of `fields`; nil or empty: not filtered). A value
    /// longer than an identifier may be is refused, naming its field: it could match nothing.
    public init(values value: (String) -> String?) throws(FilterError) {
        func text(_ name: String) throws(FilterError) -> String? {
            guard let v = value(name), !v.isEmpty else { return nil }
            guard v.utf8.count <= InputBounds.maxIdentifierBytes else {
                throw FilterError(field: name, message: "is longer than \(InputBounds.maxIdentifierBytes) bytes")
            }
            return v
        }
        var type: PositionType?
        if let t = try text("positionType") {
            guard let parsed = PositionType(rawValue: t) else {
                throw FilterError(field: "positionType", message: "must be one of \(PositionType.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            type = parsed
        }
        self.init(
            bookId: try text("bookId"), securityId: try text("securityId"), marketId: try text("marketId"),
            aggregationUnitId: try text("aggregationUnitId"), positionType: type, legalEntity: try text("legalEntity"),
            clientId: try text("clientId"))
    }

    /// The filter's set fields, by name (for echoing a subscription back).
    public var values: [(name: String, value: String)] {
        [
            ("bookId", bookId), ("securityId", securityId), ("marketId", marketId), ("aggregationUnitId", aggregationUnitId),
            ("positionType", positionType?.rawValue), ("legalEntity", legalEntity), ("clientId", clientId),
        ]
        .compactMap { name, value in value.map { (name, $0) } }
    }
}

extension MarketDataFilter {
    /// The fields of a market-data filter.
    public static let fields: [FilterField] = [
        FilterField(name: "securityId", description: "Security", values: nil),
        FilterField(name: "marketId", description: "Market", values: nil),
        FilterField(name: "currency", description: "Currency: its FX rate, and prices quoted in it", values: nil),
    ]

    /// A filter from named text values.
    public init(values value: (String) -> String?) {
        func text(_ name: String) -> String? { value(name).flatMap { $0.isEmpty ? nil : $0 } }
        self.init(securityId: text("securityId"), marketId: text("marketId"), currency: text("currency"))
    }

    /// The filter's set fields, by name.
    public var values: [(name: String, value: String)] {
        [("securityId", securityId), ("marketId", marketId), ("currency", currency)].compactMap { name, value in value.map { (name, $0) } }
    }
}
