#if Kafka
    import Foundation
    import IMSDomain
    import IMSEngine
    import Synchronization

    /// How IMS lays its journal out in a topic partition.
    ///
    /// ```text
    /// journal record n   key: n, then the writer's epoch, each 8 bytes big-endian   value: JournalEntry.encode
    /// control record     key: "ims.control"                                        value: ControlRecord as JSON
    /// ```
    ///
    /// Record numbers travel in the key because offsets are not record numbers: each leader's transaction
    /// leaves a commit marker in the partition, and control records take offsets too. The epoch travels
    /// with each record so that every reader decides alike which records count, whatever the broker's
    /// transactions do: a record written under an epoch older than the newest claim before it in the log is a
    /// deposed leader's and is skipped by all. The records that count are numbered 1, 2, 3… without a gap (a
    /// claimant reads the whole log before its claim), which every reader checks.
    public enum TopicRecord: Sendable {
        case entry(record: UInt64, epoch: Int64, JournalEntry)
        case control(ControlRecord)

        public static let controlKey = Array("ims.control".utf8)

        /// The key of journal record `record` written under `epoch`.
        public static func key(record: UInt64, epoch: Int64) -> [UInt8] {
            (0..<8).map { UInt8(truncatingIfNeeded: record >> (56 - 8 * $0)) }
                + (0..<8).map { UInt8(truncatingIfNeeded: UInt64(bitPattern: epoch) >> (56 - 8 * $0)) }
        }

        /// The Kafka record of journal entry `entry` numbered `record`, written under `epoch`.
        public static func journal(_ entry: JournalEntry, record: UInt64, epoch: Int64) -> KafkaRecord {
            var w = BinaryWriter(capacity: 256)
            entry.encode(to: &w)
            return KafkaRecord(key: key(record: record, epoch: epoch), value: w.bytes)
        }

        /// The Kafka record of a control record.
        public static func controlRecord(_ control: ControlRecord) -> KafkaRecord {
            KafkaRecord(key: controlKey, value: Array((try? JSONEncoder().encode(control)) ?? Data()))
        }

        /// What a record read from the topic is, or why it is none of IMS's.
        public init(_ message: KafkaMessage) throws(KafkaError) {
            guard let key = message.key else { throw KafkaError("offset \(message.offset): a record without a key is not IMS's") }
            if key == Self.controlKey {
                guard let control = try? JSONDecoder().decode(ControlRecord.self, from: Data(message.bytes)) else {
                    throw KafkaError("offset \(message.offset): an unreadable control record")
                }
                self = .control(control)
                return
            }
            guard key.count == 16 else { throw KafkaError("offset \(message.offset): a key of \(key.count) bytes is not a record number and epoch") }
            let record = key.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let epoch = Int64(bitPattern: key.suffix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
            do {
                let entry = try message.bytes.withUnsafeBytes { raw throws(BinaryFormatError) -> JournalEntry in
                    var r = BinaryReader(raw)
                    return try JournalEntry(from: &r)
                }
                self = .entry(record: record, epoch: epoch, entry)
            } catch {
                throw KafkaError("offset \(message.offset): record \(record) is not a journal entry: \(error)")
            }
        }
    }

    /// A record of who leads, written to the journal's topic beside the entries.
    public struct ControlRecord: Codable, Sendable, Hashable {
        public enum Kind: String, Codable, Sendable {
            /// A node has fenced every earlier leader and takes over from the records before this one.
            case claim
            /// The leader is alive (written when it has appended nothing for a heartbeat interval).
            case heartbeat
            /// The leader gives leadership up (it is stopping, or an operator moved leadership): standbys claim
            /// at once instead of waiting for the lease.
            case resign
        }

        public var type: Kind
        /// Leadership epochs only grow: a claim's epoch is above every epoch before it in the log.
        public var epoch: Int64
        public var node: String
        /// Where the leader serves its API (what a standby names when it refuses a write).
        public var url: String
        /// The last journal record before this control record.
        public var record: UInt64

        public init(type: Kind, epoch: Int64, node: String, url: String, record: UInt64) {
            self.type = type
            self.epoch = epoch
            self.node = node
            self.url = url
            self.record = record
        }
    }

    /// The engine's journal as one partition of a Kafka topic (`TopicRecord`), appended only while this node
    /// leads. Each group commit is one transaction of an idempotent producer (`acks=all`) whose transactional
    /// id every node of the deployment shares: a node that claims leadership fences every earlier producer,
    /// so a paused old leader can never append after a new one has claimed. An append returns only once the
    /// broker committed it.
    ///
    /// Not leading, `append` refuses with the reason (`refuse`), and the engine answers 503.
    public final class KafkaJournal: EngineJournal, @unchecked Sendable {
        // `@unchecked Sendable`: the producer and the fields below are used under `lock` only.
        private let lock = NSLock()
        private var producer: KafkaProducer?
        private var dangling: KafkaProducer?
        private var nextRecord: UInt64 = 1
        /// The epoch this node leads under (written with each record).
        private var epoch: Int64 = 0
        private var writtenThrough: Int64 = -1
        private var lastWrite = ContinuousClock.now
        private var refusal = "this node does not lead"
        private var stepDown: (@Sendable (_ stepDown: StepDown) -> Void)?
        /// Why this node stopped leading and where its reading resumes, set in the same locked step that stops
        /// its appends, until the replica's thread takes it (`leadership()`).
        private var stepDownNote: StepDown?
        private let written = Atomic<Int64>(-1)
        /// Offsets of some records (every 64th), for a snapshot to say where to resume reading.
        public let checkpoints = Checkpoints()

        /// The longest an append waits for the broker before the leader gives up and steps down (its writers
        /// answered 503, to retry): a broker that is down stalls writes this long, not indefinitely.
        public static let appendTimeout = Duration.seconds(5)

        /// A journal that refuses appends until `lead` is called.
        public init() {}

        /// A journal that leads at once without transactions, numbering from `nextRecord`: one writer alone on
        /// the partition (tools and tests).
        public init(brokers: String, topic: String, partition: Int32 = 0, nextRecord: UInt64 = 1, settings: [String: String] = [:]) throws(KafkaError) {
            producer = try KafkaProducer(brokers: brokers, topic: topic, partition: partition, settings: settings)
            self.nextRecord = nextRecord
        }

        /// Starts appending with `producer` (which has fenced every earlier leader), numbering from
        /// `nextRecord`; `writtenThrough` is the offset of the claim. `stepDown` is called (once, on the
        /// journal's thread) with the offset to resume reading at and the last record appended, when an append fails, after which the journal refuses until it leads again.
        public func lead(
            producer: KafkaProducer, nextRecord: UInt64, epoch: Int64, writtenThrough: Int64,
            stepDown: @escaping @Sendable (_ stepDown: StepDown) -> Void
        ) {
            lock.withLock {
                self.producer = producer
                stepDownNote = nil
                self.nextRecord = nextRecord
                self.epoch = epoch
                self.writtenThrough = writtenThrough
                written.store(writtenThrough, ordering: .relaxed)
                self.stepDown = stepDown
                lastWrite = .now
            }
        }

        /// Refuses appends from now on, saying `reason`; returns the offset after the last record this node
        /// wrote (where its reading of the log resumes), or nil if it was not leading.
        @discardableResult
        public func refuse(_ reason: String) -> Int64? {
            lock.withLock {
                refusal = reason
                guard producer != nil else { return nil }
                producer = nil
                return writtenThrough + 1
            }
        }

        /// Whether appends go to the topic now.
        public var isLeading: Bool { lock.withLock { producer != nil } }

        /// What the replica's thread must do about leadership now.
        public enum Leadership: Sendable {
            /// This node leads: it heartbeats.
            case leading
            /// This node stopped leading since the replica's thread last asked: it must follow the log from where
            /// the step-down says, never from where it read before it led.
            case steppedDown(StepDown)
            /// This node follows the log.
            case following
        }

        /// Whether this node leads and, if it has stopped since the last call, why and where its reading resumes:
        /// read together under the journal's lock, so that the replica's thread can never see "not leading"
        /// before it can see where to resume. (It once could, between a failed append giving up the producer
        /// and the step-down callback: it then claimed from the offset and record it had before it led, and
        /// applied its own records a second time, seen as audit, counters and exceptions differing between
        /// nodes after the broker-outage test.)
        public func leadership() -> Leadership {
            lock.withLock {
                if producer != nil { return .leading }
                if let note = stepDownNote {
                    stepDownNote = nil
                    return .steppedDown(note)
                }
                return .following
            }
        }

        /// Appends the entries as records of one transaction, in order; returns the first's record number once
        /// the broker committed them. A failure (fenced, the broker unreachable) steps the node down.
        public func append(_ entries: [JournalEntry]) throws(JournalFailure) -> UInt64 {
            lock.lock()
            guard let producer else {
                let reason = refusal
                lock.unlock()
                throw JournalFailure(reason)
            }
            let first = nextRecord
            let records = entries.enumerated().map { TopicRecord.journal($1, record: first + UInt64($0), epoch: epoch) }
            do {
                let offsets = try producer.send(records, timeout: Self.appendTimeout)
                try checkGrowing(offsets)
                nextRecord += UInt64(entries.count)
                writtenThrough = offsets.last ?? writtenThrough
                written.store(writtenThrough, ordering: .relaxed)
                lastWrite = .now
                for (i, offset) in offsets.enumerated() { checkpoints.note(record: first + UInt64(i), offset: offset) }
                lock.unlock()
                return first
            } catch {
                let reason = error.isFenced ? "fenced: another node has claimed leadership" : error.isTruncation ? error.description : "Kafka: \(error)"
                let down = failed(reason, fenced: error.isFenced, truncated: error.isTruncation)
                lock.unlock()
                if let down { stepDown?(down) }
                throw JournalFailure(reason)
            }
        }

        /// Writes `control` (a heartbeat) if nothing was appended for `idle`. Fails like an append.
        public func heartbeat(_ control: @autoclosure () -> ControlRecord, ifIdleFor idle: Duration) {
            lock.lock()
            guard let producer, ContinuousClock.now - lastWrite >= idle else {
                lock.unlock()
                return
            }
            var beat = control()
            beat.record = nextRecord - 1
            do {
                let offsets = try producer.send([TopicRecord.controlRecord(beat)], timeout: Self.appendTimeout)
                try checkGrowing(offsets)
                writtenThrough = offsets.last ?? writtenThrough
                written.store(writtenThrough, ordering: .relaxed)
                lastWrite = .now
                lock.unlock()
            } catch {
                let reason = error.isFenced ? "fenced: another node has claimed leadership" : error.isTruncation ? error.description : "Kafka: \(error)"
                let down = failed(reason, fenced: error.isFenced, truncated: error.isTruncation)
                lock.unlock()
                if let down { stepDown?(down) }
            }
        }

        /// Writes `control` (a resignation) as the last record of this leader and stops leading; returns the
        /// step-down (also noted for `leadership()`: where this node's reading resumes), or nil if it was not
        /// leading.
        @discardableResult
        public func resign(_ control: ControlRecord, reason: String) -> StepDown? {
            lock.withLock {
                guard let producer else { return nil }
                var last = control
                last.record = nextRecord - 1
                if let offset = try? producer.send([TopicRecord.controlRecord(last)], timeout: .seconds(5)).last { writtenThrough = offset }
                written.store(writtenThrough, ordering: .relaxed)
                refusal = reason
                self.producer = nil
                let down = StepDown(reason: reason, resumeAt: writtenThrough + 1, lastRecord: nextRecord - 1, logLostRecords: false)
                stepDownNote = down
                return down
            }
        }

        /// Under the lock: a write landed at or below an offset this node had already written, so the broker has
        /// lost records it acknowledged.
        private func checkGrowing(_ offsets: [Int64]) throws(KafkaError) {
            if let error = Self.overtaken(offsets, after: writtenThrough) { throw error }
            guard let first = offsets.first else { return }
            guard first <= writtenThrough else { return }
            var error = KafkaError(
                "the log lost records this node had written: a record landed at offset \(first), this node had written up to \(writtenThrough); the broker lost acknowledged writes"
            )
            error.isTruncation = true
            throw error
        }

        /// Whether another node wrote to the partition among or before records this leader just wrote at
        /// `offsets`, its last earlier write being at `writtenThrough`: the fenced error if so.
        ///
        /// Each of this leader's transactions ends in one commit marker, so its next record lands right after it,
        /// and the records of one transaction follow one another. A group commit may leave in several produce
        /// requests (`linger.ms` 0), so a claim can land between two of them, or before the first, when this
        /// node's producer was not fenced in time. Records after that claim count for no reader (their epoch is
        /// older), so this node must not apply them either: it steps down as if fenced, and reads the log again
        /// from its last write, applying what the readers apply.
        static func overtaken(_ offsets: [Int64], after writtenThrough: Int64) -> KafkaError? {
            guard let first = offsets.first else { return nil }
            if first > writtenThrough + 2 {
                return KafkaError(
                    "fenced: another node wrote to the partition between offsets \(writtenThrough) and \(first), after this node's last write",
                    isFenced: true)
            }
            for (a, b) in zip(offsets, offsets.dropFirst()) where b != a + 1 {
                return KafkaError("fenced: another node wrote to the partition between this node's records at offsets \(a) and \(b)", isFenced: true)
            }
            return nil
        }

        /// Under the lock: stops leading after a failed write; the step-down (noted for `leadership()`), or nil if
        /// this node was not leading.
        private func failed(_ reason: String, fenced: Bool, truncated: Bool) -> StepDown? {
            refusal = "this node stepped down (\(reason))"
            guard let failed = producer else { return nil }
            producer = nil
            // Its transaction may still be open on the broker (the commit timed out): kept to be ended before this
            // node claims again, so that readers (read_committed) are not held behind it.
            if !fenced { dangling = failed }
            let down = StepDown(reason: reason, resumeAt: writtenThrough + 1, lastRecord: nextRecord - 1, logLostRecords: truncated)
            stepDownNote = down
            return down
        }

        /// Ends the transaction a failed append may have left open, if any (committing it if its commit was
        /// only slow: its records then come back through the log like any other); says what became of it.
        public func finishDangling(timeout: Duration = .seconds(10)) -> String? {
            guard
                let producer = lock.withLock({ () -> KafkaProducer? in
                    defer { dangling = nil }; return dangling
                })
            else { return nil }
            do {
                return try producer.finishTransaction(timeout: timeout)
                    ? "the transaction of the failed append committed late: its records are in the log and will be applied from it"
                    : "aborted the transaction the failed append left open"
            } catch {
                return "the transaction the failed append left open could not be ended: \(error)"
            }
        }

        /// The offset after the last record this node wrote (read without waiting for an append in flight).
        public var writtenOffset: Int64 { written.load(ordering: .relaxed) + 1 }

        /// The last journal record this node appended (while leading).
        public var lastRecord: UInt64 { lock.withLock { nextRecord - 1 } }
    }

    /// Why a leader stopped leading, and where its reading of the log resumes.
    public struct StepDown: Sendable {
        public var reason: String
        /// The offset after the last record this node wrote.
        public var resumeAt: Int64
        /// The last journal record this node appended.
        public var lastRecord: UInt64
        /// The broker lost records this node had written: the node must not follow the log from here.
        public var logLostRecords: Bool
    }

    /// Offsets of journal records, kept for every 64th record and bounded: where a reader must start to see
    /// every record after a snapshot's (re-reading a few it already has, which it skips).
    public final class Checkpoints: Sendable {
        public init() {}

        private let points = Mutex<[(record: UInt64, offset: Int64)]>([])
        static let every: UInt64 = 64
        static let most = 65_536

        /// Notes where `record` is; kept if it is the first, or 64 records past the last kept.
        public func note(record: UInt64, offset: Int64) {
            points.withLock { p in
                if let last = p.last, record < last.record + Self.every { return }
                if p.count >= Self.most { p.removeFirst(p.count / 2) }
                p.append((record, offset))
            }
        }

        /// An offset at or before the one of the first record after `record`: that of the last checkpoint at
        /// or before `record`, or nil when none is that old.
        public func offset(after record: UInt64) -> Int64? {
            points.withLock { p in p.last(where: { $0.record <= record })?.offset }
        }
    }

    /// Reads journal entries back from the topic, from an offset on (a restart after a snapshot, a standby
    /// following the leader, a check of what a leader wrote).
    public final class KafkaJournalReader {
        private let reader: KafkaPartitionReader

        /// A reader of `topic`'s `partition` from `offset`.
        ///
        /// It reads every record the partition holds, committed or not (`read_uncommitted`), so that every node
        /// applies exactly the same records whatever became of their transactions, and a transaction a dead
        /// leader left open never holds the readers back (under `read_committed` they wait at it until the
        /// broker aborts it, which some brokers never do). Which records count is decided by their epochs
        /// (`TopicRecord`), alike on every node. A record whose transaction did not commit was never
        /// acknowledged to its writer, who retries it with the same idempotency key: applying it is what a file
        /// journal does with a record whose writer died before the answer.
        public init(brokers: String, topic: String, partition: Int32 = 0, fromOffset offset: Int64 = 0) throws(KafkaError) {
            reader = try KafkaPartitionReader(
                brokers: brokers, topic: topic, partition: partition, from: offset, settings: ["isolation.level": "read_uncommitted"])
        }

        /// The next record and where it was, waiting up to `timeout`; nil when none came.
        public func next(timeout: Duration = .milliseconds(100)) throws(KafkaError) -> (message: KafkaMessage, record: TopicRecord)? {
            guard let message = try reader.next(timeout: timeout) else { return nil }
            return (message, try TopicRecord(message))
        }

        /// The offset the next record appended will get.
        public func highWatermark() throws(KafkaError) -> Int64 { try reader.highWatermark() }
    }
#endif

#if Kafka
    /// Which journal records of the log count, decided alike by every reader from the log alone: a follower, a
    /// claimant reading up to its claim, an `asOf` replay.
    ///
    /// - Records up to the starting position's may come again (reading from a snapshot's checkpoint re-reads a
    ///   few): skipped, until a newer one counts.
    /// - A record written under an epoch older than the newest claim before it is a deposed leader's: it counts
    ///   for no one.
    /// - The records that count are numbered one after another; anything else means the log is not what this
    ///   reading applied (`ReplicaDivergence`).
    public struct LogReading: Sendable {
        /// The last journal record that counted.
        public private(set) var applied: UInt64
        /// The highest leadership epoch seen.
        public private(set) var epoch: Int64
        private var rereadThrough: UInt64

        /// What a record is to this reading.
        public enum Verdict: Sendable, Equatable {
            case counts
            /// Read again after a checkpoint: already applied.
            case reread
            /// A deposed leader's.
            case deposed
        }

        /// A reading of the log after `position` (the state's last record and epoch).
        public init(from position: ReplicaPosition) {
            applied = position.record
            epoch = position.epoch
            rereadThrough = position.record
        }

        /// What journal record `number`, written under `written` at `offset`, is to this reading; one that counts
        /// becomes the last applied. Throws when it does not follow the last one that counted.
        public mutating func take(record number: UInt64, epoch written: Int64, offset: Int64) throws(ReplicaDivergence) -> Verdict {
            if number <= applied && number <= rereadThrough { return .reread }
            if written < epoch { return .deposed }
            rereadThrough = 0
            guard number == applied + 1 else { throw .gap(expected: applied + 1, found: number, offset: offset) }
            applied = number
            return .counts
        }

        /// A control record (claim, heartbeat, resignation) of epoch `control` was read.
        public mutating func see(epoch control: Int64) { epoch = max(epoch, control) }

        /// This node leads under `claimed` (above every epoch it has seen).
        public mutating func lead(epoch claimed: Int64) { epoch = max(epoch, claimed) }

        /// After leading, the reading goes on after `lastRecord`, this node's own last record, from the offset after
        /// its last write: nothing there is a re-read.
        public mutating func resume(after lastRecord: UInt64) {
            applied = lastRecord
            rereadThrough = 0
        }
    }

    /// Reads the journal's entries back from the topic as a follower would (a deposed leader's records skipped
    /// by epoch, record numbers consecutive), for `asOf`: the state at an earlier point is a snapshot, then
    /// the log up to that point.
    public enum KafkaLogReplay {
        /// Hands `body` each entry after `position`, in order, until it returns false or the log's end (its
        /// high watermark when the reading began) is reached.
        public static func read(
            brokers: String, topic: String, partition: Int32 = 0, from position: ReplicaPosition, _ body: (UInt64, JournalEntry) throws -> Bool
        ) throws {
            let reader = try KafkaJournalReader(brokers: brokers, topic: topic, partition: partition, fromOffset: position.offset)
            let end = try reader.highWatermark()
            var reading = LogReading(from: position)
            var offset = position.offset
            while offset < end {
                guard let (message, record) = try reader.next(timeout: .seconds(5)) else {
                    throw KafkaError("the log ends at offset \(offset), before its high watermark \(end) when the reading began")
                }
                offset = message.offset + 1
                switch record {
                case .entry(let number, let written, let entry):
                    guard try reading.take(record: number, epoch: written, offset: message.offset) == .counts else { continue }
                    guard try body(number, entry) else { return }
                case .control(let control):
                    reading.see(epoch: control.epoch)
                }
            }
        }
    }
#endif
