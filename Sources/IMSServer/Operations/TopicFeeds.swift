import Foundation
import IMSDomain
import IMSEngine
import IMSIngest
import IMSRuntime
import Logging
import Synchronization

/// One record of an upstream topic: where it sits and its value (one NDJSON event).
public struct UpstreamRecord: Sendable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var value: [UInt8]

    /// A `UpstreamRecord` from its fields.
    public init(topic: String, partition: Int32, offset: Int64, value: [UInt8]) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.value = value
    }
}

/// Where each newly assigned partition resumes: the offset of its next record, or nil for its first.
public typealias TopicResume = ([(topic: String, partition: Int32)]) -> [Int64?]

/// Upstream topics as a consumer group member reads them (Kafka, with the `Kafka` trait). Used by one thread.
public protocol TopicSource: AnyObject {
    /// Up to `max` records, waiting up to `timeout` for the first. Assignments happen inside it.
    func poll(max: Int, timeout: Duration) -> [UpstreamRecord]
    /// Commits the offsets after the records taken, for the broker's lag tools (IMS resumes from its own).
    func commit(_ next: [(topic: String, partition: Int32, offset: Int64)])
    /// A partition's high watermark as last fetched.
    func highWatermark(topic: String, partition: Int32) -> Int64?
    /// The partitions read now.
    var assigned: [(topic: String, partition: Int32)] { get }
    /// The last error polling met, until a record comes.
    var lastError: String? { get }
    /// Leaves the group.
    func close()
}

/// Upstream topics consumed as feeds (`kafkaFeedTopics`): every record is one NDJSON event, its topic,
/// partition and offset its feed stamp (`kafka:<topic>:<partition>`, sequence offset + 1), so the offsets
/// consumed are in IMS's own journal and snapshots and a record is applied once, whatever the broker
/// redelivers after a rebalance or a restart.
///
/// - At each assignment a partition resumes after the highest offset the state holds (its first record if
///   none): the broker's committed offsets are written for lag tools, never read.
/// - Records are taken in batches of up to `maxBatch`, journaled in partial mode: a record that does not
///   decode or validate becomes a `REJECTED_INPUT` exception naming its topic, partition and offset (and a
///   record on the dead-letter topic, if one is set); it never stops its partition. Each batch also marks
///   the last offset of each partition it read (`IngestBatch.feedMarks`), so a refused last record is not
///   read again either.
/// - With a replicated journal only the leader consumes; a node that stops leading leaves the group, and
///   the new leader resumes from the state the log gave it.
public final class TopicFeeds: Sendable {
    /// What is consumed and how.
    public struct Settings: Sendable {
        public var topics: [String]
        public var group: String
        public var deadLetterTopic: String?
        /// The most records journaled as one batch.
        public var maxBatch = 5_000
        /// Ticks dated this far after the server's clock are refused, as on `POST /api/v1/events`.
        public var maxFutureSkew: Duration = .seconds(300)

        /// A `Settings` from its fields.
        public init(topics: [String], group: String, deadLetterTopic: String? = nil) {
            self.topics = topics
            self.group = group
            self.deadLetterTopic = deadLetterTopic
        }
    }

    /// Opens a source that calls `resume` at each assignment.
    public typealias Open = @Sendable (_ resume: @escaping TopicResume) throws -> any TopicSource

    /// What `/health` and `/metrics` show.
    public struct Status: Sendable {
        public enum State: String, Sendable { case starting, consuming, standby, stopped }
        public struct Partition: Sendable {
            public var topic: String
            public var partition: Int32
            /// The offset IMS resumes from (the next record it reads).
            public var offset: Int64
            public var highWatermark: Int64?
            /// Records in the partition that IMS has not taken yet.
            public var lag: Int64? { highWatermark.map { max(0, $0 - offset) } }
        }
        public var state = State.starting
        public var partitions: [Partition] = []
        /// Records taken and journaled.
        public var records = 0
        /// Records the broker handed again that IMS already held (skipped before the journal).
        public var redelivered = 0
        /// Records refused (undecodable or invalid): each an exception.
        public var rejected = 0
        /// Refused records written to the dead-letter topic.
        public var deadLettered = 0
        public var lastError: String?
    }

    let engine: Engine
    let settings: Settings
    private let open: Open
    private let deadLetters: (any TopicSink)?
    private let replication: (any ReplicationState)?
    private let logger: Logger
    private let shared = Mutex(Status())
    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    /// A consumer of `settings.topics` into `engine`, through the sources `open` makes.
    public init(
        engine: Engine, settings: Settings, open: @escaping Open, deadLetters: (any TopicSink)?, replication: (any ReplicationState)?, logger: Logger
    ) {
        self.engine = engine
        self.settings = settings
        self.open = open
        self.deadLetters = deadLetters
        self.replication = replication
        self.logger = logger
    }

    public var status: Status { shared.withLock { $0 } }

    /// Starts consuming on a thread of its own.
    public func start() {
        let thread = Thread { [self] in
            run()
            finished.signal()
        }
        thread.name = "ims-topic-feeds"
        thread.start()
    }

    /// Stops consuming and leaves the group; returns once the thread is done.
    public func stop() {
        guard !stopping.exchange(true, ordering: .relaxed) else { return }
        finished.wait()
    }

    /// The next offset of each partition, as the thread knows it (set at assignment from the state).
    private final class Cursor: @unchecked Sendable {
        // `@unchecked Sendable`: the consuming thread's only (the source calls `resume` inside `poll`).
        var next: [String: Int64] = [:]
        static func key(_ topic: String, _ partition: Int32) -> String { FeedStamp.topicFeedId(topic, partition: partition) }
    }

    private func run() {
        var source: (any TopicSource)?
        let cursor = Cursor()
        defer {
            source?.close()
            shared.withLock { $0.state = .stopped }
        }
        while !stopping.load(ordering: .relaxed) {
            let leads = replication.map { $0.replicaStatus.role == .leader } ?? true
            guard leads else {
                if let open = source {
                    open.close()
                    source = nil
                    logger.info("stopped consuming upstream topics: this node no longer leads")
                }
                shared.withLock {
                    $0.state = .standby; $0.partitions = []
                }
                Thread.sleep(forTimeInterval: 0.1)
                continue
            }
            if source == nil {
                do {
                    source = try open { [engine] partitions in
                        let offsets = engine.read { state in
                            partitions.map { state.feedHigh(FeedStamp.topicFeedId($0.topic, partition: $0.partition)) }
                        }
                        cursor.next = [:]
                        for (p, offset) in zip(partitions, offsets) { cursor.next[Cursor.key(p.topic, p.partition)] = offset ?? 0 }
                        return offsets
                    }
                    shared.withLock {
                        $0.state = .consuming; $0.lastError = nil
                    }
                    logger.info("consuming upstream topics", metadata: ["topics": "\(settings.topics.joined(separator: ","))", "group": "\(settings.group)"])
                } catch {
                    shared.withLock { $0.lastError = "\(error)" }
                    logger.error("cannot consume upstream topics; retrying in 1 s", metadata: ["error": "\(error)"])
                    Thread.sleep(forTimeInterval: 1)
                    continue
                }
            }
            guard let consumer = source else { continue }
            let records = consumer.poll(max: settings.maxBatch, timeout: .milliseconds(100))
            let fresh = records.filter { $0.offset >= cursor.next[Cursor.key($0.topic, $0.partition), default: 0] }
            observe(consumer, cursor: cursor, redelivered: records.count - fresh.count)
            guard !fresh.isEmpty else { continue }
            let batch = Self.batch(fresh, receivedAt: WallClock.now(), maxFutureSkew: settings.maxFutureSkew)
            let outcome: BatchOutcome
            do {
                outcome = try engine.submitAndWait(batch)
            } catch {
                // Not applied, or not known to be (the journal refused it, or this node stopped leading):
                // read again from what the state holds.
                shared.withLock { $0.lastError = "\(error)" }
                logger.warning("a batch from upstream topics was not journaled; reading again from the state", metadata: ["error": "\(error)"])
                consumer.close()
                source = nil
                if !stopping.load(ordering: .relaxed) { Thread.sleep(forTimeInterval: 1) }
                continue
            }
            var next: [String: (topic: String, partition: Int32, offset: Int64)] = [:]
            for r in fresh {
                cursor.next[Cursor.key(r.topic, r.partition)] = r.offset + 1
                next[Cursor.key(r.topic, r.partition)] = (r.topic, r.partition, r.offset + 1)
            }
            let lettered = deadLetter(outcome.rejected, of: fresh)
            shared.withLock {
                $0.records += fresh.count
                $0.rejected += outcome.rejected.count
                $0.deadLettered += lettered
            }
            consumer.commit(Array(next.values))
        }
    }

    /// Records the partitions' positions and the source's error for `status`.
    private func observe(_ source: any TopicSource, cursor: Cursor, redelivered: Int) {
        let partitions = source.assigned.map { p in
            Status.Partition(
                topic: p.topic, partition: p.partition, offset: cursor.next[Cursor.key(p.topic, p.partition), default: 0],
                highWatermark: source.highWatermark(topic: p.topic, partition: p.partition))
        }
        let error = source.lastError
        shared.withLock {
            $0.partitions = partitions.sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
            $0.redelivered += redelivered
            if let error { $0.lastError = error }
        }
    }

    /// Writes each refused record to the dead-letter topic, if one is set; returns how many were written.
    private func deadLetter(_ rejected: [LineError], of records: [UpstreamRecord]) -> Int {
        guard let deadLetters, let topic = settings.deadLetterTopic, !rejected.isEmpty else { return 0 }
        var out: [(topic: String, key: String, value: [UInt8])] = []
        for e in rejected where e.line >= 1 && e.line <= records.count {
            let r = records[e.line - 1]
            var value = #"{"topic":"# + JSONText.quoted(r.topic) + #","partition":\#(r.partition),"offset":\#(r.offset),"field":"#
            value += JSONText.quoted(e.field) + #","error":"# + JSONText.quoted(e.error) + #","value":"#
            value += JSONText.quoted(String(decoding: r.value, as: UTF8.self)) + "}"
            out.append((topic, "\(r.topic):\(r.partition):\(r.offset)", Array(value.utf8)))
        }
        do {
            try deadLetters.send(out)
            return out.count
        } catch {
            // The exceptions list holds every refused record anyway: the partition goes on.
            logger.error("writing refused records to the dead-letter topic failed", metadata: ["topic": "\(topic)", "error": "\(error)"])
            shared.withLock { $0.lastError = "dead-letter topic \(topic): \(error)" }
            return 0
        }
    }

    /// The batch journaled for `records`: one NDJSON event per record, line `i + 1` for record `i`, each
    /// event stamped with its record's position, the last offset of each partition marked, and every refused
    /// line's error prefixed with its position. In partial mode, so a bad record never holds the others up.
    public static func batch(_ records: [UpstreamRecord], receivedAt: Timestamp, maxFutureSkew: Duration = .seconds(300)) -> IngestBatch {
        var body: [UInt8] = []
        body.reserveCapacity(records.reduce(0) { $0 + $1.value.count + 1 })
        var refused: [LineError] = []
        for (i, r) in records.enumerated() {
            var value = r.value[...]
            while let last = value.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") { value = value.dropLast() }
            if let problem = problem(value) {
                refused.append(LineError(line: i + 1, field: "value", error: problem, raw: String(decoding: value.prefix(LineTexts.limit), as: UTF8.self)))
            } else {
                body.append(contentsOf: value)
            }
            body.append(UInt8(ascii: "\n"))
        }
        var batch = body.withUnsafeBytes { BatchDecoder.decodeNDJSON($0, mode: .partial, receivedAt: receivedAt) }
        EventRoutes.refuseFutureTimes(&batch, skew: maxFutureSkew)
        // Each event's own `feedId`/`feedSeq`, if it has them, give way to where the record sits.
        batch.feedStamps = batch.lines.map { line in
            let r = records[Int(line) - 1]
            return FeedStamp.topic(r.topic, partition: r.partition, offset: r.offset)
        }
        var last: [String: FeedStamp] = [:]
        for r in records { last[FeedStamp.topicFeedId(r.topic, partition: r.partition)] = FeedStamp.topic(r.topic, partition: r.partition, offset: r.offset) }
        batch.feedMarks = last.values.sorted { $0.feedId < $1.feedId }
        batch.rejected = (batch.rejected + refused).map { e in
            var e = e
            let r = records[e.line - 1]
            e.error = "\(FeedStamp.topic(r.topic, partition: r.partition, offset: r.offset).topicPosition ?? ""): \(e.error)"
            return e
        }.sorted { $0.line < $1.line }
        return batch
    }

    /// What makes a record's value something other than one NDJSON event, if anything does.
    private static func problem(_ value: ArraySlice<UInt8>) -> String? {
        if value.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return "the record is empty; each record must hold one NDJSON event" }
        if value.contains(UInt8(ascii: "\n")) { return "the record holds more than one line; each record must hold one NDJSON event" }
        if value.starts(with: [0xEF, 0xBB, 0xBF]) { return "the record starts with a byte-order mark; send UTF-8 without one" }
        return nil
    }
}
