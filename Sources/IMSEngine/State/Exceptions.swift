import IMSDomain

/// Something a person should look at: bad input, a conflict, a late or stale event.
public struct ExceptionRecord: Sendable, Hashable, Codable {
    public var exceptionId: Int64
    public var kind: ExceptionKind
    /// The journal sequence of the event or batch that raised it.
    public var sequence: Int64
    /// The line of the batch, for rejected input.
    public var line: Int?
    public var field: String?
    public var message: String
    /// What it is about, such as a trade or security id.
    public var subject: String?
    /// The rejected input line, truncated to 1 KiB.
    public var raw: String?
    /// When the batch that raised it arrived.
    public var receivedAt: Timestamp
    /// Who acknowledged it (an identity such as `key:3:desk`, or the body's user), when someone has.
    public var acknowledgedBy: String? = nil
    /// When it was acknowledged (the acknowledging command's arrival).
    public var acknowledgedAt: Timestamp? = nil
    /// What the person who acknowledged it wrote.
    public var acknowledgeNote: String? = nil

    public var isAcknowledged: Bool { acknowledgedBy != nil }
}

/// The kinds of exception IMS raises.
public enum ExceptionKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// An input line failed validation (partial mode keeps it here).
    case rejectedInput = "REJECTED_INPUT"
    /// A trade dated before the market's business date arrived after that date's SOD snapshot.
    case lateTrade = "LATE_TRADE"
    /// An SOD snapshot for a business date the market has already left.
    case staleSOD = "STALE_SOD"
    /// An SOD snapshot held for a future date was passed over by a day roll.
    case droppedSOD = "DROPPED_SOD"
    /// A source feed skipped sequence numbers (`feedSeq`); the missing events are applied if they come.
    case feedGap = "FEED_GAP"
    /// The journal's tail was torn or corrupt at startup and was cut back to the last valid record.
    case journalTruncated = "JOURNAL_TRUNCATED"
    /// A snapshot failed its checksum or could not be read; recovery used an older one or the journal.
    case snapshotCorrupt = "SNAPSHOT_CORRUPT"
    /// The journal could not be written for a while; ingest answered 503 and nothing was applied.
    case journalWriteFailed = "JOURNAL_WRITE_FAILED"
    /// A trade carried an `orderId` that holds nothing for it (unknown, rejected or expired, another security
    /// or side), or sold more than the order still held: what it sold beyond the approval was never approved.
    case unmatchedOrder = "UNMATCHED_ORDER"
    // New kinds go last: journals and snapshots store a kind by its position.
    /// `ims journal repair` moved damaged journal data or snapshots aside: what was moved, where, and which
    /// records the state no longer holds. Raised by the first start after the repair.
    case journalRepaired = "JOURNAL_REPAIRED"
    /// The history projector could not write to PostgreSQL for a while, or fell behind the journal by more
    /// than it may buffer: the history tables lag (they catch up by themselves from the journal).
    case historyBehind = "HISTORY_BEHIND"
}
