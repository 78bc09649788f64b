/// A step of the locate workflow (SPEC 4.4): a client's request, an operator's decision, or a cancellation.
/// A command, journaled and replayed like any event: the decision of an automatic request is made when the
/// command is applied, from the state at that point, so a replay reaches the same answers.
///
/// Not accepted in NDJSON event files or feeds: the locate endpoints build it.
public struct LocateCommand: Sendable, Hashable, Codable {
    public enum Action: String, Sendable, Hashable, Codable, CaseIterable {
        /// A client asks to locate shares; the locate policy answers at once (or leaves it PENDING).
        case request = "REQUEST"
        /// An operator approves (all or part) or rejects a PENDING locate.
        case decide = "DECIDE"
        /// The client withdraws its locate; what it held is given back.
        case cancel = "CANCEL"
    }

    /// What the shares are for: a short sale, or a long sale of shares not yet in hand.
    public enum Side: String, Sendable, Hashable, Codable, CaseIterable {
        case short = "SHORT"
        case long = "LONG"
    }

    /// How the client trades: cash equities or a swap.
    public enum Settlement: String, Sendable, Hashable, Codable, CaseIterable {
        case cash = "CASH"
        case swap = "SWAP"
    }

    public enum Decision: String, Sendable, Hashable, Codable, CaseIterable {
        case approve = "APPROVE"
        case reject = "REJECT"
    }

    public var action: Action
    /// REQUEST: the client's idempotency key (a re-sent request with the same key gets the first answer).
    public var requestId: String?
    public var clientId: String?
    public var securityId: String?
    public var quantity: Int64?
    public var side: Side?
    public var settlement: Settlement?
    /// Who asked, decided or cancelled: the requestor, the operator, the client's user.
    public var user: String?
    /// DECIDE, CANCEL: the locate acted on.
    public var locateId: String?
    public var decision: Decision?
    /// DECIDE: the operator's reason (a rejection's code or words).
    public var reason: String?

    /// A `LocateCommand` from its fields.
    public init(
        action: Action, requestId: String? = nil, clientId: String? = nil, securityId: String? = nil, quantity: Int64? = nil,
        side: Side? = nil, settlement: Settlement? = nil, user: String? = nil, locateId: String? = nil,
        decision: Decision? = nil, reason: String? = nil
    ) {
        self.action = action; self.requestId = requestId; self.clientId = clientId; self.securityId = securityId
        self.quantity = quantity; self.side = side; self.settlement = settlement; self.user = user; self.locateId = locateId
        self.decision = decision; self.reason = reason
    }
}

// MARK: Journal encoding

extension LocateCommand: DeskCommand {
    public static let typeName = "locateCommand"
    public static let binaryTag: UInt8 = 13

    /// Writes the value in IMS's binary encoding (journal records, snapshots); `init(from:)` reads it back.
    public func encode(to w: inout BinaryWriter) {
        w.write(action); w.write(requestId); w.write(clientId); w.write(securityId); w.write(quantity)
        w.write(side?.rawValue); w.write(settlement?.rawValue); w.write(user); w.write(locateId); w.write(decision?.rawValue); w.write(reason)
    }
    /// Reads a value written by `encode(to:)`.
    public init(from r: inout BinaryReader) throws(BinaryFormatError) {
        func optionalCase<T: RawRepresentable<String>>(_ r: inout BinaryReader, _: T.Type) throws(BinaryFormatError) -> T? {
            guard let text = try r.readOptionalString() else { return nil }
            guard let value = T(rawValue: text) else { throw BinaryFormatError("unknown \(T.self) \(text)") }
            return value
        }
        self.init(
            action: try r.readCase(), requestId: try r.readOptionalString(), clientId: try r.readOptionalString(),
            securityId: try r.readOptionalString(), quantity: try r.readOptionalInt64(),
            side: try optionalCase(&r, Side.self), settlement: try optionalCase(&r, Settlement.self), user: try r.readOptionalString(),
            locateId: try r.readOptionalString(), decision: try optionalCase(&r, Decision.self), reason: try r.readOptionalString())
    }
}
