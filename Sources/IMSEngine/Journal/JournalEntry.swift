import IMSDomain

/// One record of the engine's journal: what the engine applied, in order.
///
/// The engine's state is a pure function of its journal entries; replaying
/// them in order rebuilds it exactly.
public enum JournalEntry: Sendable {
    /// An ingested batch, exactly as decoded; validation runs again on replay and decides the same.
    case batch(IngestBatch)
    /// Something the operator must know that did not come from a feed (a truncated journal tail,
    /// a corrupt snapshot, a period of failed writes); applying it adds an exception.
    case notice(Notice)
    /// The texts of lines refused by validation, journaled after their batch (which carries no line texts,
    /// to keep the journal small): applying it fills in the text of those exceptions when missing, as it is
    /// on replay. Live, the exceptions already have it.
    case lineTexts(ExceptionTexts)
}

/// Texts of rejected-input exceptions, by exception id (ids are given in journal order, so replay gives
/// the same ones).
public struct ExceptionTexts: Sendable, Hashable {
    /// When the batch these lines came from was received.
    public var at: Timestamp
    public var exceptionIds: [Int64] = []
    public var texts: [String] = []

    /// A `ExceptionTexts` from its fields.
    public init(at: Timestamp) { self.at = at }
}

/// An operational event recorded in the journal so that it reaches the exceptions list and survives restarts.
public struct Notice: Sendable, Hashable {
    public var kind: ExceptionKind
    public var message: String
    public var at: Timestamp

    /// A `Notice` from its fields.
    public init(kind: ExceptionKind, message: String, at: Timestamp) {
        self.kind = kind
        self.message = message
        self.at = at
    }
}

extension JournalEntry: BinaryCodable {
    /// Writes the value in IMS's binary encoding (journal records, snapshots); `init(from:)` reads it back.
    public func encode(to w: inout BinaryWriter) {
        switch self {
        case .batch(let b): w.write(UInt8(1)); b.encode(to: &w)
        case .notice(let n): w.write(UInt8(2)); w.write(n.kind); w.write(n.message); w.write(n.at)
        case .lineTexts(let t):
            w.write(UInt8(3)); w.write(t.at); w.writeCount(t.texts.count)
            for (id, text) in zip(t.exceptionIds, t.texts) { w.writeVarint(id); w.write(text) }
        }
    }

    /// Reads a value written by `encode(to:)`.
    public init(from r: inout BinaryReader) throws(BinaryFormatError) {
        switch try r.readUInt8() {
        case 1: self = .batch(try IngestBatch(from: &r))
        case 2: self = .notice(Notice(kind: try r.readCase(), message: try r.readString(), at: try r.readTimestamp()))
        case 3:
            var t = ExceptionTexts(at: try r.readTimestamp())
            for _ in 0..<(try r.readCount()) {
                t.exceptionIds.append(try r.readVarInt())
                t.texts.append(try r.readString())
            }
            self = .lineTexts(t)
        case let k: throw BinaryFormatError("unknown journal entry kind \(k)")
        }
    }
}

/// Where the engine makes its input durable before applying it (a local segmented file, or a Kafka partition).
public protocol EngineJournal: AnyObject, Sendable {
    /// Appends `entries` in order and returns once they are durable under the journal's sync policy.
    /// Returns the record number given to the first; the others follow consecutively.
    /// Throws, having written nothing that will be read back, when they cannot be made durable.
    func append(_ entries: [JournalEntry]) throws(JournalFailure) -> UInt64
    /// Does a little of the work that makes later appends cheaper (the file journal zero-fills its segment ahead
    /// of the writes), called while nothing waits to be journaled; returns whether there is more to do.
    func prepareAhead() -> Bool
}

extension EngineJournal {
    /// Nothing to prepare.
    public func prepareAhead() -> Bool { false }
}

/// Why the journal could not make entries durable (a full disk, an I/O error).
public struct JournalFailure: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    /// A `JournalFailure` from its fields.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Receives copies of the engine state to persist as snapshots, off the writer thread.
public protocol SnapshotSink: AnyObject, Sendable {
    /// Offers a state to snapshot; returns at once. May ignore the offer while a snapshot is being written.
    func offer(_ state: EngineState)
    /// Writes a snapshot of `state` and returns when it is durable (clean shutdown).
    func write(_ state: EngineState) throws
}

extension JournalEntry {
    /// When the entry was received: the time `asOf` timestamps are compared with.
    public var receivedAt: Timestamp {
        switch self {
        case .batch(let b): b.receivedAt
        case .notice(let n): n.at
        case .lineTexts(let t): t.at
        }
    }
}

extension EngineState {
    /// Applies one journal entry with record number `record`. Returns the outcome for a batch.
    @discardableResult
    public mutating func apply(_ entry: JournalEntry, record: UInt64, untilSequence: Int64 = .max) -> BatchOutcome? {
        defer { appliedRecord = record }
        switch entry {
        case .batch(let b):
            lastEntryAt = b.receivedAt
            var outcome = process(b, untilSequence: untilSequence)
            outcome.decodeRejected = b.rejected.count
            if let issuer = b.issuer { recordAudit(of: b, issuer: issuer, outcome: outcome, record: record) }
            return outcome
        case .notice(let n):
            lastEntryAt = n.at
            raise(n.kind, sequence: lastSequence, message: n.message, at: n.at)
            return nil
        case .lineTexts(let t):
            fillTexts(t)
            return nil
        }
    }
}
