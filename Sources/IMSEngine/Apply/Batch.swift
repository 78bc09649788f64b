import IMSDomain

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
    /// What each line did, in input order, when the batch asked (`IngestBatch.wantsResults`); else empty.
    public var results: [EventResult] = []
    /// Of `rejected`, the lines the decoder refused (the rest failed validation against the state).
    public var decodeRejected = 0

    /// A `BatchOutcome` from its fields.
    public init(accepted: Int, ignored: Int, rejected: [LineError], lastSequence: Int64, applied: Bool, results: [EventResult] = []) {
        self.accepted = accepted
        self.ignored = ignored
        self.rejected = rejected
        self.lastSequence = lastSequence
        self.applied = applied
        self.results = results
    }
}

/// What one line of a batch did.
public struct EventResult: Sendable, Hashable {
    public enum Status: String, Sendable, Hashable, Codable {
        /// Applied: it changed the state.
        case applied = "APPLIED"
        /// Accepted but changed nothing (a duplicate, a stale version, a feed stamp seen before).
        case unchanged = "UNCHANGED"
        /// Refused: the batch's `rejected` names its field and why.
        case rejected = "REJECTED"
        /// Valid but not applied: its atomic batch was refused, or a replay stopped before it.
        case notApplied = "NOT_APPLIED"
    }

    /// The input line.
    public var line: Int
    public var status: Status
    /// The sequence number it was given (applied or unchanged), else nil.
    public var sequence: Int64?

    /// A `EventResult` from its fields.
    public init(line: Int, status: Status, sequence: Int64? = nil) {
        self.line = line
        self.status = status
        self.sequence = sequence
    }
}
