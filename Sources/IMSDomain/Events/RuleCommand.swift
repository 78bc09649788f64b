/// A step of the rule lifecycle (SPEC 4.3), issued by a person through the API: a command, journaled and
/// replayed like any event, so the rules in force survive restarts and every step is audited.
///
/// Not accepted in NDJSON files or feeds: the rules endpoints build it.
public struct RuleCommand: Sendable, Hashable, Codable {
    public enum Action: String, Sendable, Hashable, Codable, CaseIterable {
        /// A new version from a rule set document (which must compile).
        case draft = "DRAFT"
        /// The author or anyone looked at what the version would change (required before approval).
        case preview = "PREVIEW"
        /// A second person, not the author, approves a previewed version.
        case approve = "APPROVE"
        /// The version will not be used.
        case reject = "REJECT"
        /// An approved version becomes the rules in force; the one before is superseded.
        case activate = "ACTIVATE"
    }

    public var action: Action
    /// The version acted on; for a draft, 0 (the next number is given).
    public var version: Int64
    /// Who issued it.
    public var user: String
    public var comment: String?
    /// The rule set document as JSON, for a draft.
    public var document: String?

    /// A `RuleCommand` from its fields.
    public init(action: Action, version: Int64, user: String, comment: String? = nil, document: String? = nil) {
        self.action = action; self.version = version; self.user = user; self.comment = comment; self.document = document
    }
}

// MARK: Journal encoding

extension RuleCommand: DeskCommand {
    public static let typeName = "ruleCommand"
    public static let binaryTag: UInt8 = 12

    /// Writes the value in IMS's binary encoding (journal records, snapshots); `init(from:)` reads it back.
    public func encode(to w: inout BinaryWriter) {
        w.write(action); w.write(version); w.write(user); w.write(comment); w.write(document)
    }
    /// Reads a value written by `encode(to:)`.
    public init(from r: inout BinaryReader) throws(BinaryFormatError) {
        self.init(
            action: try r.readCase(), version: try r.readInt64(), user: try r.readString(), comment: try r.readOptionalString(),
            document: try r.readOptionalString())
    }
}
