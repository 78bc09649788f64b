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
    private let started = Atomic<Bool>(false)
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
        guard !started.exchange(true, ordering: .relaxed) else { return }
        let thread = Thread.named("ims-topic-feeds") { [self] in
            run()
            finished.signal()
        }
        thread.start()
    }

    /// Stops consuming and leaves the group; returns once the thread is done (at once if it never started).
    public func stop() {
        guard !stopping.exchange(true, ordering: .relaxed), started.load(ordering: .relaxed) else { return }
        finished.wait()
    }

    /// A topic partition.
    private struct Partition: Hashable {
        var topic: String
        var partition: Int32
    }

    /// Where the consuming thread stands in each partition (its own only; the source calls `resume` inside
    /// `poll`, on that thread): the next offset to take, and the next after what is journaled and applied.
    private final class Cursor: @unchecked Sendable {
        var taken: [Partition: Int64] = [:]
        var applied: [Partition: Int64] = [:]
    }

    /// The batches handed to the engine and not yet answered, and the answers not yet taken in.
    private final class InFlight: @unchecked Sendable {
        private let condition = NSCondition()
        private var count = 0
        private var answers: [(records: [UpstreamRecord], result: Result<BatchOutcome, EngineError>)] = []

        /// Waits until fewer than `limit` batches are in flight, then counts one more.
        func enter(below limit: Int) {
            condition.lock()
            while count >= limit { condition.wait() }
            count += 1
            condition.unlock()
        }

        func answer(_ records: [UpstreamRecord], _ result: Result<BatchOutcome, EngineError>) {
            condition.lock()
            answers.append((records, result))
            count -= 1
            condition.broadcast()
            condition.unlock()
        }

        /// The answers come so far; with `all`, after waiting for every batch in flight.
        func take(all: Bool) -> [(records: [UpstreamRecord], result: Result<BatchOutcome, EngineError>)] {
            condition.lock()
            defer { condition.unlock() }
            while all && count > 0 { condition.wait() }
            defer { answers.removeAll() }
            return answers
        }
    }

    /// Batches handed to the engine before the first is answered: taking and decoding the next records
    /// overlaps journaling and applying the last ones.
    static let maxInFlight = 2

    private func run() {
        var source: (any TopicSource)?
        let cursor = Cursor()
        let inFlight = InFlight()
        var failed: EngineError?
        /// Takes in the answers come so far (every one with `all`): counts, dead letters, the applied cursor,
        /// the commit to the broker.
        func settle(all: Bool) {
            var next: [Partition: Int64] = [:]
            for (records, result) in inFlight.take(all: all) {
                switch result {
                case .failure(let error):
                    failed = failed ?? error
                case .success(let outcome):
                    for r in records { next[Partition(topic: r.topic, partition: r.partition)] = r.offset + 1 }
                    let lettered = deadLetter(outcome.rejected, of: records)
                    shared.withLock {
                        $0.records += records.count
                        $0.rejected += outcome.rejected.count
                        $0.deadLettered += lettered
                    }
                }
            }
            for (p, offset) in next where offset > cursor.applied[p, default: 0] { cursor.applied[p] = offset }
            source?.commit(next.map { ($0.key.topic, $0.key.partition, $0.value) })
        }
        defer {
            settle(all: true)
            source?.close()
            shared.withLock { $0.state = .stopped }
        }
        while !stopping.load(ordering: .relaxed) {
            settle(all: false)
            if let error = failed {
                // Not applied, or not known to be (the journal refused it, or this node stopped leading): once
                // every batch in flight is answered, read again from what the state holds.
                settle(all: true)
                failed = nil
                shared.withLock { $0.lastError = "\(error)" }
                logger.warning("a batch from upstream topics was not journaled; reading again from the state", metadata: ["error": "\(error)"])
                source?.close()
                source = nil
                if !stopping.load(ordering: .relaxed) { Thread.sleep(forTimeInterval: 1) }
                continue
            }
            let leads = replication.map { $0.replicaStatus.role == .leader } ?? true
            guard leads else {
                if let open = source {
                    settle(all: true)
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
                        // Where each partition resumes is what the state holds once every batch is answered.
                        settle(all: true)
                        let offsets = engine.read { state in
                            partitions.map { state.feedHigh(FeedStamp.topicFeedId($0.topic, partition: $0.partition)) }
                        }
                        cursor.taken = [:]
                        for (p, offset) in zip(partitions, offsets) { cursor.taken[Partition(topic: p.topic, partition: p.partition)] = offset ?? 0 }
                        cursor.applied = cursor.taken
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
            let fresh = Self.fresh(records, taken: &cursor.taken)
            observe(consumer, cursor: cursor, redelivered: records.count - fresh.count)
            guard !fresh.isEmpty else { continue }
            let batch = Self.batch(fresh, receivedAt: WallClock.now(), maxFutureSkew: settings.maxFutureSkew)
            inFlight.enter(below: Self.maxInFlight)
            do {
                try engine.enqueue(batch) { inFlight.answer(fresh, $0) }
            } catch {
                inFlight.answer(fresh, .failure(error))
            }
        }
    }

    /// The records at or after where each partition was taken up to, and the cursor moved past them. Records
    /// come in runs of one partition: the cursor is looked up once a run.
    private static func fresh(_ records: [UpstreamRecord], taken: inout [Partition: Int64]) -> [UpstreamRecord] {
        var out: [UpstreamRecord] = []
        out.reserveCapacity(records.count)
        var i = 0
        while i < records.count {
            let key = Partition(topic: records[i].topic, partition: records[i].partition)
            var next = taken[key, default: 0]
            while i < records.count && records[i].partition == key.partition && records[i].topic == key.topic {
                if records[i].offset >= next {
                    out.append(records[i])
                    next = records[i].offset + 1
                }
                i += 1
            }
            taken[key] = next
        }
        return out
    }

    /// Records the partitions' positions and the source's error for `status`.
    private func observe(_ source: any TopicSource, cursor: Cursor, redelivered: Int) {
        let partitions = source.assigned.map { p in
            Status.Partition(
                topic: p.topic, partition: p.partition, offset: cursor.applied[Partition(topic: p.topic, partition: p.partition), default: 0],
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
        // Each record's feed id, made once per run of one partition (records come in such runs).
        var feedIds: [String] = []
        feedIds.reserveCapacity(records.count)
        var last: [String: FeedStamp] = [:]
        for (i, r) in records.enumerated() {
            if i == 0 || r.partition != records[i - 1].partition || r.topic != records[i - 1].topic {
                feedIds.append(FeedStamp.topicFeedId(r.topic, partition: r.partition))
            } else {
                feedIds.append(feedIds[i - 1])
            }
            if i == records.count - 1 || r.partition != records[i + 1].partition || r.topic != records[i + 1].topic {
                last[feedIds[i]] = FeedStamp(feedId: feedIds[i], sequence: r.offset + 1)
            }
        }
        // Each event's own `feedId`/`feedSeq`, if it has them, give way to where the record sits.
        batch.feedStamps = batch.lines.map { line in FeedStamp(feedId: feedIds[Int(line) - 1], sequence: records[Int(line) - 1].offset + 1) }
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
