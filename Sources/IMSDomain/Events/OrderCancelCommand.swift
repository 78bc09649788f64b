/// A client (or the desk) cancels what is left of an approved sell order: the quantity its trades have not
/// filled goes back to the client's and the aggregation unit's sell limits (FIX OrderCancelRequest 35=F,
/// `POST /api/v1/orders/{orderId}/cancel`). A command, journaled and replayed like any event.
///
/// Not accepted in NDJSON event files or feeds.
public struct OrderCancelCommand: Sendable, Hashable, Codable {
    public var orderId: String
    public var clientId: String
    /// Why (free text), on the order and the audit trail.
    public var reason: String?
    /// Who cancelled: the identity when signed in, else the body's `user`.
    public var user: String?

    /// The longest reason, in UTF-8 bytes.
    public static let maxReasonBytes = 512

    /// A `OrderCancelCommand` from its fields.
    public init(orderId: String, clientId: String, reason: String? = nil, user: String? = nil) {
        self.orderId = orderId; self.clientId = clientId; self.reason = reason; self.user = user
    }
}

// MARK: Journal encoding

extension OrderCancelCommand: DeskCommand {
    public static let typeName = "orderCancelCommand"
    public static let binaryTag: UInt8 = 16

    /// Writes the value in IMS's binary encoding (journal records, snapshots); `init(from:)` reads it back.
    public func encode(to w: inout BinaryWriter) {
        w.write(orderId); w.write(clientId); w.write(reason); w.write(user)
    }
    /// Reads a value written by `encode(to:)`.
    public init(from r: inout BinaryReader) throws(BinaryFormatError) {
        self.init(orderId: try r.readString(), clientId: try r.readString(), reason: try r.readOptionalString(), user: try r.readOptionalString())
    }
}
