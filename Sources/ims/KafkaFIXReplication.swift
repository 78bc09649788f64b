import Foundation
import IMSDomain
import IMSFIX
import IMSRuntime
import IMSServer
import Logging
import Synchronization

#if Kafka
    import IMSKafka

    /// The FIX sessions' stores replicated over the journal's brokers (`--journal kafka`, docs/fix.md), so a
    /// standby that takes over resumes every session where the leader left it.
    ///
    /// The leader sends each change to a session's store (a sent message, a sequence number, a reset) to the
    /// topic `<kafkaTopic>-fix` (one partition, in order, with the leader's epoch), after its own files and
    /// without holding up the session; standbys apply the topic to their own copies of the stores and refuse
    /// Logons. When this node becomes the leader it first applies everything the topic holds, then takes each
    /// session over: what the old leader sent but had not yet replicated is lost to this copy, so the numbers it
    /// sends start `takeoverSkip` further on (a counterparty's ResendRequest for them gets a gap fill), and
    /// messages the old leader took and had not answered are asked for again (the store keeps the first
    /// unanswered number). A change from an older epoch than one already seen (a fenced leader's late write) is
    /// ignored.
    final class KafkaFIXReplication: @unchecked Sendable {
        // `@unchecked Sendable`: `reader`, `offset` and `maxEpoch` are the replication thread's alone.
        static let takeoverSkip = 100_000

        private let brokers: String
        let topic: String
        private let stores: [String: FileFIXStore]
        private let handles: [FIXSessionHandle]
        private let replica: any ReplicationState
        private let gateway: FIXGateway
        private let logger: Logger
        private let leading = Atomic<Bool>(false)
        private let stopping = Atomic<Bool>(false)
        private let outbox = Mutex<[[UInt8]]>([])
        private let wake = DispatchSemaphore(value: 0)
        private let finished = DispatchSemaphore(value: 0)
        private var reader: KafkaPartitionReader?
        private var offset: Int64 = 0
        private var maxEpoch: Int64 = 0

        init(
            brokers: String, journalTopic: String, stores: [String: FileFIXStore], handles: [FIXSessionHandle], replica: any ReplicationState,
            gateway: FIXGateway, logger: Logger
        ) {
            self.brokers = brokers
            self.topic = "\(journalTopic)-fix"
            self.stores = stores
            self.handles = handles
            self.replica = replica
            self.gateway = gateway
            self.logger = logger
            gateway.refuseLogons { [weak self, replica] in
                guard let self, !self.leading.load(ordering: .relaxed) else { return nil }
                let s = replica.replicaStatus
                return "this node is a standby: log on to the leader" + (s.leaderNode.map { " (node \($0)\(s.leaderURL.map { ", \($0)" } ?? ""))" } ?? "")
            }
        }

        func start() {
            let follower = Thread.named("ims-fix-replication") { [self] in
                while !stopping.load(ordering: .relaxed) { step() }
                finished.signal()
            }
            follower.start()
            let sender = Thread.named("ims-fix-replication-send") { [self] in send() }
            sender.start()
        }

        func stop() {
            guard !stopping.exchange(true, ordering: .relaxed) else { return }
            wake.signal()
            finished.wait()
            for store in stores.values { store.replicate(to: nil) }
        }

        /// One turn: follow the topic as a standby, or take over / step down when the role changed.
        private func step() {
            let status = replica.replicaStatus
            if status.role == .leader {
                if !leading.load(ordering: .relaxed) { takeOver(epoch: status.epoch) }
                Thread.sleep(forTimeInterval: 0.05)
                return
            }
            if leading.load(ordering: .relaxed) { stepDown() }
            _ = follow(timeout: .milliseconds(100))
        }

        /// Applies the next change on the topic, if one comes within `timeout`; false when none came.
        private func follow(timeout: Duration) -> Bool {
            do {
                if reader == nil { reader = try KafkaPartitionReader(brokers: brokers, topic: topic, from: offset) }
                guard let m = try reader?.next(timeout: timeout) else { return false }
                offset = m.offset + 1
                apply(m.bytes)
                return true
            } catch {
                // The topic may not exist yet (no leader has written to it): try again shortly.
                reader = nil
                Thread.sleep(forTimeInterval: 0.2)
                return false
            }
        }

        /// `<epoch> <session>\n` and the store change.
        private func apply(_ bytes: [UInt8]) {
            guard let nl = bytes.firstIndex(of: 10) else { return }
            let head = String(decoding: bytes[..<nl], as: UTF8.self).split(separator: " ")
            guard head.count == 2, let epoch = Int64(head[0]), let store = stores[String(head[1])], let op = FIXStoreOp(bytes[(nl + 1)...]) else { return }
            guard epoch >= maxEpoch else { return }
            maxEpoch = epoch
            store.apply(op)
        }

        private func takeOver(epoch: Int64) {
            // Everything the old leader replicated, first.
            var caughtUp = false
            for _ in 0..<200 where !caughtUp {
                if !follow(timeout: .milliseconds(50)) {
                    let high: Int64 = reader.flatMap { try? $0.highWatermark(timeout: .seconds(2)) } ?? 0
                    caughtUp = offset >= high
                }
            }
            reader = nil
            maxEpoch = max(maxEpoch, epoch)
            for (id, store) in stores {
                store.replicate { [weak self] op in self?.enqueue(epoch: epoch, session: id, op) }
            }
            for handle in handles { handle.takeOver(skip: Self.takeoverSkip) }
            gateway.adoptPending(for: handles)
            leading.store(true, ordering: .relaxed)
            logger.notice("FIX sessions taken over", metadata: ["topic": "\(topic)", "offset": "\(offset)", "epoch": "\(epoch)"])
        }

        private func stepDown() {
            leading.store(false, ordering: .relaxed)
            for store in stores.values { store.replicate(to: nil) }
            for handle in handles { handle.logout("this node is no longer the leader") }
            logger.notice("FIX sessions: this node follows again", metadata: ["topic": "\(topic)"])
        }

        private func enqueue(epoch: Int64, session: String, _ op: FIXStoreOp) {
            outbox.withLock { $0.append(Array("\(epoch) \(session)\n".utf8) + op.encoded) }
            wake.signal()
        }

        /// The leader's sender: what the stores changed, in order, as one send per wake-up.
        private func send() {
            var producer: KafkaTopicProducer?
            var pending: [[UInt8]] = []
            while !stopping.load(ordering: .relaxed) {
                if pending.isEmpty {
                    _ = wake.wait(timeout: .now() + 0.2)
                    pending = outbox.withLock { all in
                        defer { all.removeAll(keepingCapacity: true) }
                        return all
                    }
                    if pending.isEmpty { continue }
                }
                do {
                    if producer == nil { producer = try KafkaTopicProducer(brokers: brokers) }
                    try producer!.send(pending.map { (topic: topic, key: "fix", value: $0) })
                    pending = []
                } catch {
                    logger.warning("FIX store replication: \(error); retrying", metadata: ["topic": "\(topic)"])
                    producer = nil
                    Thread.sleep(forTimeInterval: 0.5)
                }
            }
        }
    }
#endif
