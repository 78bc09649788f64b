#if Kafka
    import Foundation
    import IMSDomain
    import IMSEngine
    import IMSRuntime
    import Synchronization

    /// What a node of a replicated deployment needs to know.
    public struct ReplicaSettings: Sendable {
        /// `host:port,…` of the brokers.
        public var brokers: String
        public var topic: String
        public var partition: Int32 = 0
        /// This node's name, unique in the deployment.
        public var node: String
        /// Where this node serves its API (what standbys name when they refuse a write).
        public var url: String
        /// A standby that has heard nothing from the log for this long claims leadership.
        public var lease: Duration = .milliseconds(1_000)
        /// A leader that has appended nothing for this long writes a heartbeat.
        public var heartbeat: Duration = .milliseconds(200)
        /// More librdkafka settings for the producer.
        public var producerSettings: [String: String] = [:]

        /// Shared by every node of the deployment: a claimant's producer fences every earlier leader's.
        public var transactionalId: String { "ims-leader-\(topic)-\(partition)" }

        public init(brokers: String, topic: String, partition: Int32 = 0, node: String, url: String) {
            self.brokers = brokers
            self.topic = topic
            self.partition = partition
            self.node = node
            self.url = url
        }
    }

    /// Where a state stands in the topic: stored beside each snapshot, so that a restart reads only the records
    /// after it.
    public struct ReplicaPosition: Codable, Sendable, Hashable {
        /// The state's last journal record.
        public var record: UInt64
        /// Reading from this offset sees every record after `record` (and perhaps a few before, skipped).
        public var offset: Int64
        /// The highest leadership epoch the state's node had seen.
        public var epoch: Int64

        public init(record: UInt64, offset: Int64, epoch: Int64) {
            self.record = record
            self.offset = offset
            self.epoch = epoch
        }

        /// An empty state: the whole topic.
        public static let start = ReplicaPosition(record: 0, offset: 0, epoch: 0)
    }

    /// One node of a leader-and-standbys deployment over a Kafka topic partition (`TopicRecord`).
    ///
    /// ```text
    /// standby ──no record or heartbeat for a lease──▶ candidate ──read the log up to its own claim──▶ leader
    ///    ▲            (a producer with the shared transactional id            │
    ///    │             fences every earlier leader; the claim is written)     │
    ///    └────────────── an append or heartbeat fails (fenced, broker unreachable) ◀─┘
    /// ```
    ///
    /// A standby applies each journal record as it arrives (`Engine.applyJournaled`) and refuses writes
    /// naming the leader. A claimant reads everything committed before its claim before it appends, and no
    /// fenced producer can commit after it, so record numbers stay consecutive in the log and every node that
    /// applies it holds the same state. A leader that fails to append steps down and reads the log from the
    /// last record it wrote, so a record whose commit it could not confirm is applied if and only if it is in
    /// the log.
    public final class KafkaReplica: ReplicationState, @unchecked Sendable {
        // `@unchecked Sendable`: the follower's fields (below `reader`) are used by the replica's thread only;
        // what others read is behind `status`.
        public let settings: ReplicaSettings
        public let journal: KafkaJournal
        private let engine: Engine
        private let start: ReplicaPosition
        private let log: @Sendable (_ level: LogLevel, _ message: String) -> Void
        private let status: Mutex<ReplicaStatus>
        private let stopping = Atomic<Bool>(false)
        /// Set by `stepDown`: wait two leases before claiming again.
        private let holdOff = Atomic<Bool>(false)
        private let finished = DispatchSemaphore(value: 0)
        private let lags = Mutex(LagSamples())

        private var reader: KafkaJournalReader?
        /// Which of the log's records count, and the last that did (`LogReading`, as every reader decides).
        private var reading: LogReading
        private var applied: UInt64 { reading.applied }
        private var epoch: Int64 { reading.epoch }
        private var readFrom: Int64
        private var lastHeard = ContinuousClock.now
        private var lastWatermark = ContinuousClock.now - .seconds(10)
        private var halted = false
        /// Since when the partition's high watermark has stood below where this node read, if it does.
        private var shortSince: ContinuousClock.Instant?

        /// How loud a line of the replica's log is.
        public enum LogLevel: Sendable { case info, notice, warning, error, critical }

        /// The most events handed to the engine and not yet applied before the follower waits.
        static let maxPendingEvents = 1_000_000

        /// A replica of `engine` (whose journal is `journal`, and whose state stands at `position`).
        public init(
            settings: ReplicaSettings, engine: Engine, journal: KafkaJournal, from position: ReplicaPosition,
            log: @escaping @Sendable (_ level: LogLevel, _ message: String) -> Void = { _, _ in }
        ) {
            self.settings = settings
            self.engine = engine
            self.journal = journal
            self.start = position
            self.log = log
            reading = LogReading(from: position)
            readFrom = position.offset
            status = Mutex(ReplicaStatus(role: .standby, node: settings.node, epoch: position.epoch, appliedRecord: position.record, offset: position.offset))
            journal.checkpoints.note(record: position.record, offset: position.offset)
            journal.refuse("standby: no leader is known yet")
        }

        /// Starts following the log (and leading when the lease runs out).
        public func run() {
            let thread = Thread.named("ims-replica") { [self] in
                while !stopping.load(ordering: .relaxed) { step() }
                finished.signal()
            }
            thread.start()
        }

        /// Stops following or leading; appends are refused from now on. A leader writes its resignation, so that
        /// a standby takes over at once.
        public func stop() {
            guard !stopping.exchange(true, ordering: .relaxed) else { return }
            finished.wait()
            if journal.resign(ControlRecord(type: .resign, epoch: epoch, node: settings.node, url: settings.url, record: 0), reason: "this node is stopping")
                != nil
            {
                log(.notice, "resigned leadership: this node is stopping")
            }
            journal.refuse("this node is stopping")
            reader = nil
        }

        /// Gives leadership up by hand (`POST /api/v1/cluster/step-down`): the leader writes its resignation and
        /// follows the log; it does not claim again for two leases, so a standby takes over. False if this
        /// node does not lead.
        public func stepDown() -> Bool {
            let control = ControlRecord(type: .resign, epoch: epoch, node: settings.node, url: settings.url, record: 0)
            // Before the resignation: the replica's thread may take the step-down as soon as it is written.
            holdOff.store(true, ordering: .relaxed)
            guard let down = journal.resign(control, reason: "this node stepped down by hand") else {
                holdOff.store(false, ordering: .relaxed)
                return false
            }
            noteStepDown(down)
            return true
        }

        public var replicaStatus: ReplicaStatus {
            var current = status.withLock { $0 }
            current.appliedRecord = engine.readModel.read { $0.appliedRecord }
            if current.role == .leader {
                // The leader does not read the partition: where it has written to, and no stale watermark.
                current.offset = journal.writtenOffset
                current.highWatermark = nil
            }
            return current
        }

        /// The position to store with a snapshot of a state whose last record is `record`.
        public func position(for record: UInt64) -> ReplicaPosition {
            let offset = journal.checkpoints.offset(after: record) ?? start.offset
            return ReplicaPosition(record: record, offset: offset, epoch: status.withLock { $0.epoch })
        }

        /// Milliseconds from append to apply of the records this node applied from the log: the quantile `q`
        /// of the last 65,536 (nil before any).
        public func lagMilliseconds(quantile q: Double) -> Double? { lags.withLock { $0.quantile(q) } }

        /// Says at once that this node no longer leads (its thread takes the step-down from the journal and
        /// follows the log from `resumeAt`).
        private func noteStepDown(_ down: StepDown) {
            status.withLock {
                $0.role = .standby
                $0.leaderNode = nil
                $0.leaderURL = nil
            }
        }

        // MARK: The replica's thread

        private func step() {
            if halted {
                Thread.sleep(forTimeInterval: 0.2)
                return
            }
            // Leading, or stepped down since last asked (with where to resume), read in one step.
            let leadership = journal.leadership()
            if case .leading = leadership {
                journal.heartbeat(
                    ControlRecord(type: .heartbeat, epoch: epoch, node: settings.node, url: settings.url, record: 0), ifIdleFor: settings.heartbeat)
                Thread.sleep(forTimeInterval: Double(settings.heartbeat.components.attoseconds) / 4e18 + Double(settings.heartbeat.components.seconds) / 4)
                return
            }
            if case .steppedDown(let down) = leadership {
                reading.resume(after: down.lastRecord)
                readFrom = down.resumeAt
                reader = nil
                lastHeard = holdOff.exchange(false, ordering: .relaxed) ? .now + settings.lease : .now
                status.withLock {
                    $0.role = .standby
                    $0.leaderNode = nil
                    $0.leaderURL = nil
                }
                guard !down.logLostRecords else {
                    halted = true
                    status.withLock {
                        $0.brokerError = down.reason
                        $0.halted = true
                    }
                    journal.refuse("this node stopped: \(down.reason)")
                    log(.critical, "\(down.reason): this node stops following the log and will not lead")
                    return
                }
                log(.warning, "stepped down: \(down.reason); following the log from offset \(down.resumeAt)")
            }
            do {
                let reader = try openReader()
                while engine.replicatedPendingEvents > Self.maxPendingEvents && !stopping.load(ordering: .relaxed) { Thread.sleep(forTimeInterval: 0.001) }
                if let (message, record) = try reader.next(timeout: .milliseconds(20)) {
                    lastHeard = max(lastHeard, .now)
                    shortSince = nil
                    try take(message, record)
                    // A resignation: claim at once rather than wait for the lease (unless this node just resigned).
                    if case .control(let control) = record, control.type == .resign, control.node != settings.node { lastHeard = .now - settings.lease }
                } else {
                    // Caught up for now: nothing of the log waits here (the partition's last offset may be a
                    // commit marker, which is never delivered).
                    if engine.replicatedPendingEvents == 0 {
                        status.withLock {
                            $0.offset = max($0.offset, $0.highWatermark ?? 0)
                            $0.lagMilliseconds = 0
                        }
                    }
                    if ContinuousClock.now - lastHeard >= settings.lease { claim() }
                }
                if ContinuousClock.now - lastWatermark >= .milliseconds(250) {
                    lastWatermark = .now
                    let high = try reader.highWatermark()
                    // The partition ends before where this node has read: the log was cut short, if it stays so. A
                    // broker may report a high watermark held back by open transactions for a moment (noida-db
                    // does), so only one that stays below for 3 s, with nothing read meanwhile, counts.
                    if high < readFrom {
                        let since = shortSince ?? .now
                        shortSince = since
                        if ContinuousClock.now - since >= .seconds(3) {
                            throw ReplicaDivergence.truncated(readThrough: readFrom, highWatermark: high, applied: applied)
                        }
                    } else {
                        shortSince = nil
                    }
                    status.withLock {
                        $0.highWatermark = high
                        $0.brokerError = nil
                    }
                }
            } catch let error as ReplicaDivergence {
                halted = true
                status.withLock {
                    $0.brokerError = error.description
                    $0.halted = true
                }
                journal.refuse("this node stopped: \(error.description)")
                log(.critical, "\(error.description): this node stops following the log and will not lead")
            } catch let error as KafkaError where error.isOffsetOutOfRange {
                // Where this node would read next is past the partition's end: the log was cut short.
                halted = true
                let divergence = ReplicaDivergence.truncated(readThrough: readFrom, highWatermark: (try? reader?.highWatermark()) ?? -1, applied: applied)
                status.withLock {
                    $0.brokerError = divergence.description
                    $0.halted = true
                }
                journal.refuse("this node stopped: \(divergence.description)")
                log(.critical, "\(divergence.description): this node stops following the log and will not lead")
            } catch {
                status.withLock { $0.brokerError = "\(error)" }
                log(.warning, "reading the log: \(error)")
                self.reader = nil
                Thread.sleep(forTimeInterval: 0.1)
            }
        }

        private func openReader() throws(KafkaError) -> KafkaJournalReader {
            if let reader { return reader }
            let opened = try KafkaJournalReader(brokers: settings.brokers, topic: settings.topic, partition: settings.partition, fromOffset: readFrom)
            reader = opened
            return opened
        }

        /// Applies one record read from the log. Returns the claim it was, if it was one.
        @discardableResult
        private func take(_ message: KafkaMessage, _ record: TopicRecord) throws -> ControlRecord? {
            readFrom = message.offset + 1
            switch record {
            case .entry(let number, let written, let entry):
                switch try reading.take(record: number, epoch: written, offset: message.offset) {
                case .reread: return nil
                case .deposed:
                    log(.info, "skipped record \(number) at offset \(message.offset): written under epoch \(written), after a claim of epoch \(epoch)")
                    return nil
                case .counts: break
                }
                journal.checkpoints.note(record: number, offset: message.offset)
                let produced = message.timestampMilliseconds
                engine.applyJournaled(entry, record: number) { [weak self] _ in
                    guard produced > 0, let self else { return }
                    let lag = max(0, Date().timeIntervalSince1970 * 1_000 - Double(produced))
                    lags.withLock { $0.add(lag) }
                    status.withLock { $0.lagMilliseconds = lag }
                }
                status.withLock {
                    $0.appliedRecord = number
                    $0.offset = message.offset + 1
                }
                return nil
            case .control(let control):
                reading.see(epoch: control.epoch)
                journal.refuse("standby: writes go to the leader, \(control.node) at \(control.url)")
                status.withLock {
                    $0.epoch = epoch
                    $0.leaderNode = control.node
                    $0.leaderURL = control.url
                    $0.offset = message.offset + 1
                }
                if control.type == .resign {
                    journal.refuse("standby: the leader, \(control.node), has resigned; an election is under way")
                    status.withLock {
                        $0.leaderNode = nil
                        $0.leaderURL = nil
                    }
                }
                return control.type == .claim ? control : nil
            }
        }

        /// Takes leadership: fences every earlier leader, writes a claim, applies the log up to it, then leads.
        private func claim() {
            status.withLock { $0.role = .candidate }
            let t0 = ContinuousClock.now
            log(.notice, "no record or heartbeat for \(settings.lease): claiming leadership (epoch above \(epoch))")
            if let ended = journal.finishDangling() { log(.notice, ended) }
            do {
                let producer = try KafkaProducer(
                    brokers: settings.brokers, topic: settings.topic, partition: settings.partition, transactionalId: settings.transactionalId,
                    settings: settings.producerSettings, initTimeout: .seconds(10))
                var claimEpoch = epoch + 1
                var claimAt = try writeClaim(producer, epoch: claimEpoch)
                // The claim landed before where this node had read to: the broker lost records it had acknowledged.
                if claimAt < readFrom { throw ReplicaDivergence.truncated(readThrough: readFrom, highWatermark: claimAt, applied: applied) }
                let deadline = ContinuousClock.now + .seconds(30)
                while true {
                    // Everything committed before the claim (what earlier leaders wrote), then the claim itself.
                    var contested = false
                    while readFrom <= claimAt {
                        guard ContinuousClock.now < deadline else { throw KafkaError("the claim at offset \(claimAt) was not read back within 30 s") }
                        guard let (message, record) = try openReader().next(timeout: .milliseconds(50)) else { continue }
                        if let other = try take(message, record), message.offset != claimAt, other.epoch >= claimEpoch { contested = true }
                    }
                    guard contested else { break }
                    // Another claim with our epoch came first (and was fenced by ours): claim above it.
                    claimEpoch = epoch + 1
                    claimAt = try writeClaim(producer, epoch: claimEpoch)
                }
                reading.lead(epoch: claimEpoch)
                reader = nil
                journal.lead(producer: producer, nextRecord: applied + 1, epoch: claimEpoch, writtenThrough: claimAt) { [weak self] down in
                    self?.noteStepDown(down)
                }
                let failovers = status.withLock {
                    $0.role = .leader
                    $0.epoch = claimEpoch
                    $0.leaderNode = settings.node
                    $0.leaderURL = settings.url
                    $0.lagMilliseconds = 0
                    $0.failovers += 1
                    $0.brokerError = nil
                    return $0.failovers
                }
                let ms = Double((ContinuousClock.now - t0).components.attoseconds) / 1e15 + Double((ContinuousClock.now - t0).components.seconds) * 1e3
                log(
                    .notice,
                    "leading: epoch \(claimEpoch), from record \(applied + 1), claim at offset \(claimAt), took \(Int(ms)) ms (failovers: \(failovers))")
            } catch let error as ReplicaDivergence {
                halted = true
                status.withLock {
                    $0.role = .standby
                    $0.brokerError = error.description
                    $0.halted = true
                }
                journal.refuse("this node stopped: \(error.description)")
                log(.critical, "\(error.description): this node stops following the log and will not lead")
            } catch {
                status.withLock {
                    $0.role = .standby
                    $0.brokerError = "\(error)"
                }
                log(.warning, "claiming leadership failed: \(error)")
                lastHeard = .now
            }
        }

        private func writeClaim(_ producer: KafkaProducer, epoch: Int64) throws(KafkaError) -> Int64 {
            let claim = ControlRecord(type: .claim, epoch: epoch, node: settings.node, url: settings.url, record: applied)
            guard let offset = try producer.send([TopicRecord.controlRecord(claim)], timeout: KafkaJournal.appendTimeout).first else {
                throw KafkaError("the claim was not acknowledged")
            }
            return offset
        }
    }

    /// The log no longer agrees with what this node applied: record numbers that do not follow one another
    /// (two leaders wrote, which fencing prevents, or the topic holds another deployment's records), or the
    /// partition shorter than what this node read (the broker lost records it had acknowledged). The node
    /// stops following and never leads: its state holds what the log has lost, and an operator decides.
    public struct ReplicaDivergence: Error, CustomStringConvertible {
        public var description: String

        static func gap(expected: UInt64, found: UInt64, offset: Int64) -> ReplicaDivergence {
            ReplicaDivergence(description: "the log diverges: record \(found) at offset \(offset) where record \(expected) was due")
        }

        static func truncated(readThrough: Int64, highWatermark: Int64, applied: UInt64) -> ReplicaDivergence {
            ReplicaDivergence(
                description:
                    "the log lost records this node had read: it ends at offset \(highWatermark) but this node read up to offset \(readThrough) (record \(applied)); the broker lost acknowledged writes"
            )
        }
    }

    /// The last lags measured, for quantiles.
    struct LagSamples {
        private var samples: [Double] = []
        private var next = 0
        static let capacity = 65_536

        mutating func add(_ value: Double) {
            if samples.count < Self.capacity {
                samples.append(value)
            } else {
                samples[next] = value
                next = (next + 1) % Self.capacity
            }
        }

        func quantile(_ q: Double) -> Double? {
            guard !samples.isEmpty else { return nil }
            let sorted = samples.sorted()
            return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * q))]
        }
    }
#endif
