/// Something a gateway saw that changes no state but belongs on the audit trail: a FIX session logging on, a
/// Logon refused, a session ending, an application message refused before it became a decision. Journaled
/// (so it is replicated, replayed and projected into the history) and recorded as an audit entry with its
/// action; the engine does nothing else with it.
///
/// Not accepted in NDJSON event files or feeds: the FIX gateway builds it.
public struct AuditNoteCommand: Sendable, Hashable, Codable {
    /// `FIX_LOGON`, `FIX_LOGON_REFUSED`, `FIX_LOGOUT`, `FIX_REFUSED`, `FIX_QUOTE_ACCEPTED`.
    public var action: String
    /// What it is about: `session IMS-OMS`, `35=D ClOrdID O1`.
    public var subject: String
    public var detail: String?

    /// The actions a note may carry.
    public static let actions: Set<String> = ["FIX_LOGON", "FIX_LOGON_REFUSED", "FIX_LOGOUT", "FIX_REFUSED", "FIX_QUOTE_ACCEPTED"]
    /// The longest subject and detail, in UTF-8 bytes.
    public static let maxSubjectBytes = 256
    public static let maxDetailBytes = 2_048

    /// A `AuditNoteCommand` from its fields.
    public init(action: String, subject: String, detail: String? = nil) {
        self.action = action; self.subject = subject; self.detail = detail
    }
}

// MARK: Journal encoding

extension AuditNoteCommand: DeskCommand {
    public static let typeName = "auditNoteCommand"
    public static let binaryTag: UInt8 = 17

    /// Writes the value in IMS's binary encoding (journal records, snapshots); `init(from:)` reads it back.
    public func encode(to w: inout BinaryWriter) {
        w.write(action); w.write(subject); w.write(detail)
    }
    /// Reads a value written by `encode(to:)`.
    public init(from r: inout BinaryReader) throws(BinaryFormatError) {
        self.init(action: try r.readString(), subject: try r.readString(), detail: try r.readOptionalString())
    }
}
