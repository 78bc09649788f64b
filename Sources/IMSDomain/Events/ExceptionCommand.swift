/// A person's step on the exceptions list: acknowledging that they have seen (and dealt with) some exceptions.
/// A command, journaled and replayed like any event, so who acknowledged what, and when, survives restarts
/// and is on the audit trail.
///
/// Not accepted in NDJSON event files or feeds: `POST /api/v1/exceptions/acknowledge` builds it.
public struct ExceptionCommand: Sendable, Hashable, Codable {
    public enum Action: String, Sendable, Hashable, Codable, CaseIterable {
        /// Marks the listed exceptions acknowledged (those already acknowledged keep their first acknowledgement).
        case acknowledge = "ACKNOWLEDGE"
    }

    /// The most exceptions one command may name.
    public static let maxExceptions = 1_000
    /// The longest note, in UTF-8 bytes.
    public static let maxNoteBytes = 512

    public var action: Action
    public var exceptionIds: [Int64]
    /// What the person did about them (free text).
    public var note: String?
    /// Who acknowledged: the identity when signed in, else the body's `user`.
    public var user: String?

    /// A `ExceptionCommand` from its fields.
    public init(action: Action = .acknowledge, exceptionIds: [Int64], note: String? = nil, user: String? = nil) {
        self.action = action; self.exceptionIds = exceptionIds; self.note = note; self.user = user
    }
}

// MARK: Journal encoding

extension ExceptionCommand: DeskCommand {
    public static let typeName = "exceptionCommand"
    public static let binaryTag: UInt8 = 15

    /// Writes the value in IMS's binary encoding (journal records, snapshots); `init(from:)` reads it back.
    public func encode(to w: inout BinaryWriter) {
        w.write(action); w.writeCount(exceptionIds.count)
        for id in exceptionIds { w.writeVarint(id) }
        w.write(note); w.write(user)
    }
    /// Reads a value written by `encode(to:)`.
    public init(from r: inout BinaryReader) throws(BinaryFormatError) {
        let action: Action = try r.readCase()
        var ids: [Int64] = []
        for _ in 0..<(try r.readCount()) { ids.append(try r.readVarInt()) }
        self.init(action: action, exceptionIds: ids, note: try r.readOptionalString(), user: try r.readOptionalString())
    }
}
