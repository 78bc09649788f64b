/// A decoded batch of input, as handed to the engine: the valid events and the lines that did not decode.
public struct IngestBatch: Sendable {
    /// How a batch with bad lines is treated.
    public enum Mode: String, Sendable, Codable {
        /// All lines valid or none applied (the default).
        case atomic
        /// Good lines applied; bad ones kept in the exceptions list.
        case partial
        /// Each line on its own, as `partial`, but a refused line is answered to whoever sent it and raises no
        /// exception: a batch of decisions (locate requests, order validations, cancellations) from the decision
        /// channel or `POST /api/v1/decisions`, where a refusal is an answer, not an input fault.
        case decisions
    }

    /// Whether a bad line leaves the others to be applied (`partial` and `decisions`).
    public var appliesLineByLine: Bool { mode != .atomic }

    public var mode: Mode
    /// When the batch arrived; the only time the engine sees.
    public var receivedAt: Timestamp
    public var events: [Event]
    /// The input line number of each event, parallel to `events`.
    public var lines: [Int32]
    /// Lines that failed to decode.
    public var rejected: [LineError]
    /// The feed stamp of each event, parallel to `events`; empty when no event has one.
    public var feedStamps: [FeedStamp?] = []
    /// Stamps the batch consumed whatever its lines became: the last offset of each topic partition a batch
    /// from upstream topics read (`FeedStamp.topic`), so that a record refused or undecodable is not read
    /// again after a restart. Applied after the events, and only when the batch is.
    public var feedMarks: [FeedStamp] = []
    /// The input text of each event (at most 1 KiB each), parallel to `events`, kept in partial mode so that
    /// a line refused by validation is listed in the exceptions as it was received. In memory only: the
    /// journal does not carry it (it would quadruple the journal), the engine journals the texts of the lines
    /// it refused afterwards instead (`JournalEntry.lineTexts`).
    public var lineTexts: LineTexts?
    /// Each event's text as journaled by the versions that kept it in the journal (read back, never written
    /// by this version: new batches journal an empty list).
    public var rawLines: [String] = []
    /// Whether the outcome should carry a result per event (`BatchOutcome.results`): commands ask for it,
    /// so they can be answered with what each did. Such a batch takes the sequential path. Not journaled:
    /// it changes the answer, never the state.
    public var wantsResults = false
    /// Who submitted it through the API: the identity an API key or token proved (`key:<id>:<name>`,
    /// `jwt:<subject>`), or the person a body named when the server runs without authentication. Journaled,
    /// so the audit trail it makes survives restarts and replays; nil for a feed or file loaded in-process.
    public var issuer: String?

    /// A `IngestBatch` from its fields.
    public init(mode: Mode = .atomic, receivedAt: Timestamp, events: [Event] = [], lines: [Int32] = [], rejected: [LineError] = []) {
        self.mode = mode
        self.receivedAt = receivedAt
        self.events = events
        self.lines = lines.isEmpty ? (0..<events.count).map { Int32($0 + 1) } : lines
        self.rejected = rejected
    }

    public var lineCount: Int { events.count + rejected.count }

    /// Moves each event `problem` finds fault with from `events` to `rejected`, naming its field, before the
    /// batch is journaled (checks that belong to the edge, such as a time too far ahead of the server's
    /// clock). Returns how many it moved.
    @discardableResult
    public mutating func refuse(where problem: (Event) -> FieldError?) -> Int {
        var keep: [Int] = []
        var refused: [LineError] = []
        for (i, event) in events.enumerated() {
            if let bad = problem(event) {
                refused.append(LineError(line: Int(lines[i]), field: bad.field, error: bad.message, raw: lineTexts.map { $0[i] }))
            } else {
                keep.append(i)
            }
        }
        guard !refused.isEmpty else { return 0 }
        events = keep.map { events[$0] }
        lines = keep.map { lines[$0] }
        if !feedStamps.isEmpty { feedStamps = keep.map { feedStamps[$0] } }
        if !rawLines.isEmpty { rawLines = keep.map { rawLines[$0] } }
        if let texts = lineTexts {
            var kept = LineTexts()
            for i in keep { Array(texts[i].utf8).withUnsafeBytes { kept.append($0) } }
            lineTexts = kept
        }
        rejected = (rejected + refused).sorted { $0.line < $1.line }
        return refused.count
    }
}

/// The text of a batch's lines, one after another in one buffer (one allocation per batch, not per line).
public struct LineTexts: Sendable {
    /// Longest text kept for a line, in bytes.
    public static let limit = 1024
    private var bytes: [UInt8] = []
    private var ends: [UInt32] = []

    /// A `LineTexts` from its fields.
    public init() {}

    /// Adds the next line's text (cut at `limit` bytes).
    public mutating func append(_ text: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: text.prefix(Self.limit))
        ends.append(UInt32(bytes.count))
    }

    public var count: Int { ends.count }

    /// The text of line `i` (the `i`th appended).
    public subscript(i: Int) -> String {
        let start = i == 0 ? 0 : Int(ends[i - 1])
        return String(decoding: bytes[start..<Int(ends[i])], as: UTF8.self)
    }
}

/// Where an event sits in its source feed: re-sending the same stamp changes nothing.
public struct FeedStamp: Sendable, Hashable {
    public var feedId: String
    public var sequence: Int64

    /// A `FeedStamp` from its fields.
    public init(feedId: String, sequence: Int64) {
        self.feedId = feedId
        self.sequence = sequence
    }

    /// How the feed ids of the topic partitions IMS consumes begin (`kafka:<topic>:<partition>`); input may
    /// not use it.
    public static let topicPrefix = "kafka:"

    /// The feed id of a topic partition IMS consumes.
    public static func topicFeedId(_ topic: String, partition: Int32) -> String { "\(topicPrefix)\(topic):\(partition)" }

    /// The stamp of the record at `offset` of a topic partition: its sequence is the offset + 1 (sequences
    /// start at 1), so the feed's high sequence is the offset to resume from.
    public static func topic(_ topic: String, partition: Int32, offset: Int64) -> FeedStamp {
        FeedStamp(feedId: topicFeedId(topic, partition: partition), sequence: offset + 1)
    }

    /// Whether this stamps a record of a topic partition: its sequence only rises, with gaps that are normal
    /// (offsets taken by transaction markers or compaction), never a `FEED_GAP`.
    public var isTopicOffset: Bool { feedId.hasPrefix(Self.topicPrefix) }

    /// `topic T partition P offset O` for a topic partition's stamp, nil for any other.
    public var topicPosition: String? {
        guard isTopicOffset, let colon = feedId.lastIndex(of: ":") else { return nil }
        let topic = feedId[feedId.index(feedId.startIndex, offsetBy: Self.topicPrefix.count)..<colon]
        return "topic \(topic) partition \(feedId[feedId.index(after: colon)...]) offset \(sequence - 1)"
    }
}

/// Why one input line was rejected: its line number, the field at fault, and what is wrong.
public struct LineError: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    public var line: Int
    public var field: String
    public var error: String
    /// The offending input, truncated, kept for the exceptions list.
    public var raw: String?

    /// A `LineError` from its fields.
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

    /// A `FieldError` from its fields.
    public init(_ field: String, _ message: String) {
        self.field = field
        self.message = message
    }
}

extension IngestBatch.Mode {
    /// Its byte in the journal's batch encoding (fixed once released).
    var byte: UInt8 {
        switch self {
        case .atomic: 0
        case .partial: 1
        case .decisions: 2
        }
    }

    init?(byte: UInt8) {
        switch byte {
        case 0: self = .atomic
        case 1: self = .partial
        case 2: self = .decisions
        default: return nil
        }
    }
}

extension IngestBatch: BinaryCodable {
    /// Writes the value in IMS's binary encoding (journal records, snapshots); `init(from:)` reads it back.
    public func encode(to w: inout BinaryWriter) {
        w.write(mode.byte)
        w.write(receivedAt)
        w.writeCount(events.count)
        for (event, line) in zip(events, lines) {
            w.writeVarint(Int64(line))
            event.encode(to: &w)
        }
        w.writeCount(rejected.count)
        for e in rejected {
            w.writeVarint(Int64(e.line)); w.write(e.field); w.write(e.error); w.write(e.raw)
        }
        w.writeCount(feedStamps.count)
        for stamp in feedStamps {
            w.write(stamp?.feedId)
            if let stamp { w.writeVarint(stamp.sequence) }
        }
        // Last, so that batches journaled before it existed (which end here) still decode.
        w.writeCount(rawLines.count)
        for line in rawLines { w.write(line) }
        // After it, for the same reason: batches journaled before the audit trail end before this.
        w.write(issuer)
        // Last again, and only when there are any, so that batches without them are as before.
        if !feedMarks.isEmpty {
            w.writeCount(feedMarks.count)
            for mark in feedMarks { w.write(mark.feedId); w.writeVarint(mark.sequence) }
        }
    }

    /// Reads a value written by `encode(to:)`.
    public init(from r: inout BinaryReader) throws(BinaryFormatError) {
        let modeByte = try r.readUInt8()
        guard let mode = Mode(byte: modeByte) else { throw BinaryFormatError("bad batch mode \(modeByte)") }
        let receivedAt = try r.readTimestamp()
        let n = try r.readCount()
        var events: [Event] = [], lines: [Int32] = []
        events.reserveCapacity(n); lines.reserveCapacity(n)
        for _ in 0..<n {
            lines.append(Int32(truncatingIfNeeded: try r.readVarInt()))
            events.append(try Event(from: &r))
        }
        var rejected: [LineError] = []
        for _ in 0..<(try r.readCount()) {
            rejected.append(LineError(line: Int(try r.readVarInt()), field: try r.readString(), error: try r.readString(), raw: try r.readOptionalString()))
        }
        var stamps: [FeedStamp?] = []
        for _ in 0..<(try r.readCount()) {
            if let id = try r.readOptionalString() { stamps.append(FeedStamp(feedId: id, sequence: try r.readVarInt())) } else { stamps.append(nil) }
        }
        guard stamps.isEmpty || stamps.count == events.count else {
            throw BinaryFormatError("batch has \(stamps.count) feed stamps for \(events.count) events")
        }
        var raws: [String] = []
        if !r.isAtEnd {
            for _ in 0..<(try r.readCount()) { raws.append(try r.readString()) }
            guard raws.isEmpty || raws.count == events.count else { throw BinaryFormatError("batch has \(raws.count) raw lines for \(events.count) events") }
        }
        let issuer = r.isAtEnd ? nil : try r.readOptionalString()
        var marks: [FeedStamp] = []
        if !r.isAtEnd {
            for _ in 0..<(try r.readCount()) { marks.append(FeedStamp(feedId: try r.readString(), sequence: try r.readVarInt())) }
        }
        self.init(mode: mode, receivedAt: receivedAt, events: events, lines: lines, rejected: rejected)
        if events.isEmpty { self.lines = [] }
        feedStamps = stamps
        rawLines = raws
        self.issuer = issuer
        feedMarks = marks
    }
}
