/// A sell order to validate before it goes to the market (SPEC 5): stage 1 the client's limit, stage 2 the
/// aggregation unit's, and the market's short-sale rules. A command, journaled and replayed like any event;
/// an approval takes the quantity from both limits at once.
///
/// Not accepted in NDJSON event files or feeds: `POST /api/v1/orders/validate` builds it.
public struct OrderCommand: Sendable, Hashable, Codable {
    public enum Side: String, Sendable, Hashable, Codable, CaseIterable {
        case sell = "SELL"
        case sellShort = "SELL_SHORT"
    }

    public var orderId: String
    public var clientId: String
    public var bookId: String
    public var securityId: String
    public var side: Side
    public var quantity: Int64
    /// The order's limit price (0 for a market order).
    public var price: Decimal8
    public var user: String?

    /// A `OrderCommand` from its fields.
    public init(orderId: String, clientId: String, bookId: String, securityId: String, side: Side, quantity: Int64, price: Decimal8, user: String? = nil) {
        self.orderId = orderId; self.clientId = clientId; self.bookId = bookId; self.securityId = securityId
        self.side = side; self.quantity = quantity; self.price = price; self.user = user
    }
}

// MARK: Journal encoding

extension OrderCommand: DeskCommand {
    public static let typeName = "orderCommand"
    public static let binaryTag: UInt8 = 14

    /// Writes the value in IMS's binary encoding (journal records, snapshots); `init(from:)` reads it back.
    public func encode(to w: inout BinaryWriter) {
        w.write(orderId); w.write(clientId); w.write(bookId); w.write(securityId); w.write(side); w.write(quantity); w.write(price); w.write(user)
    }
    /// Reads a value written by `encode(to:)`.
    public init(from r: inout BinaryReader) throws(BinaryFormatError) {
        self.init(
            orderId: try r.readString(), clientId: try r.readString(), bookId: try r.readString(), securityId: try r.readString(),
            side: try r.readCase(), quantity: try r.readInt64(), price: try r.readDecimal(), user: try r.readOptionalString())
    }
}
