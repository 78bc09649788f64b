import IMSDomain

/// A decoded batch of input, as handed to the engine: the valid events and the lines that did not decode.
public struct IngestBatch: Sendable {
    /// How a batch with bad lines is treated.
    public enum Mode: String, Sendable, Codable {
        /// All lines valid or none applied (the default).
        case atomic
        /// Good lines applied; bad ones kept in the exceptions list.
        case partial
    }

    public var mode: Mode
    /// When the batch arrived; the only time the engine sees.
    public var receivedAt: Timestamp
    public var events: [Event]
    /// The input line number of each event, parallel to `events`.
    public var lines: [Int32]
    /// Lines that failed to decode.
    public var rejected: [LineError]

    public init(mode: Mode = .atomic, receivedAt: Timestamp, events: [Event] = [], lines: [Int32] = [], rejected: [LineError] = []) {
        self.mode = mode
        self.receivedAt = receivedAt
        self.events = events
        self.lines = lines.isEmpty ? (0..<events.count).map { Int32($0 + 1) } : lines
        self.rejected = rejected
    }

    public var lineCount: Int { events.count + rejected.count }
}

/// Why one input line was rejected: its line number, the field at fault, and what is wrong.
public struct LineError: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    public var line: Int
    public var field: String
    public var error: String
    /// The offending input, truncated, kept for the exceptions list.
    public var raw: String?

    public init(line: Int, field: String, error: String, raw: String? = nil) {
        self.line = line
        self.field = field
        self.error = error
        self.raw = raw
    }

    public var description: String { "line \(line): \(field): \(error)" }

    enum CodingKeys: String, CodingKey { case line, field, error }
}

/// A field-level problem found while validating one event against the state.
public struct FieldError: Error, Sendable, Hashable {
    public var field: String
    public var message: String

    public init(_ field: String, _ message: String) {
        self.field = field
        self.message = message
    }
}

/// What became of a batch.
public struct BatchOutcome: Sendable, Hashable {
    /// Lines accepted (applied, or already applied before and ignored as duplicates).
    public var accepted: Int
    /// Accepted lines that changed nothing: duplicates and stale versions.
    public var ignored: Int
    /// Lines rejected, each naming line and field.
    public var rejected: [LineError]
    /// The sequence number of the last accepted event (the current one if none).
    public var lastSequence: Int64
    /// False if an atomic batch was refused as a whole.
    public var applied: Bool
}
