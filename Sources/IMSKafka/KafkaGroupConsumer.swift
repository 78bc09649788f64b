#if Kafka
    import CRdKafka
    import Foundation

    /// A member of a consumer group reading topics (the upstream feeds): the group decides which partitions it
    /// reads, and at each assignment `resume` says where each one starts, so the offsets the caller keeps (in
    /// IMS's own journal) rule, not those committed to the broker. Offsets are committed to the broker too, for
    /// the tools that watch a group's lag.
    ///
    /// Not thread-safe: one thread polls (the rebalance callback runs inside `poll`, on that thread).
    public final class KafkaGroupConsumer {
        /// One record read: where it sits and its value.
        public struct Record: Sendable {
            public var topic: String
            public var partition: Int32
            public var offset: Int64
            public var value: [UInt8]
        }

        /// Where each newly assigned partition starts: the offset of the next record to read, or nil for the
        /// partition's first record.
        public typealias Resume = ([(topic: String, partition: Int32)]) -> [Int64?]

        private let client: OpaquePointer
        private let rebalance: Rebalance

        /// Joins `group` on `brokers` and subscribes to `topics`. `sessionTimeout` bounds how long the group
        /// waits for a member that vanished before it hands its partitions to another. With `instance` (static
        /// membership, `group.instance.id`), a member that joins under the same name takes the place of the one
        /// that had it at once, with its partitions: how a new leader takes over the feeds without waiting for the
        /// dead one's session to run out.
        public init(
            brokers: String, group: String, topics: [String], instance: String? = nil, sessionTimeout: Duration = .seconds(6),
            settings: [String: String] = [:], resume: @escaping Resume
        ) throws(KafkaError) {
            let ms = Int(sessionTimeout.components.seconds * 1_000)
            var all = [
                "bootstrap.servers": brokers, "group.id": group, "enable.auto.commit": "false", "enable.auto.offset.store": "false",
                "auto.offset.reset": "earliest", "isolation.level": "read_committed", "fetch.wait.max.ms": "10",
                "session.timeout.ms": "\(ms)", "heartbeat.interval.ms": "\(max(100, ms / 6))",
                // Some brokers (noida-db among them) answer a fetch with more than `fetch.max.bytes`: accept it
                // rather than fail the connection.
                "receive.message.max.bytes": "2147483647",
            ]
            if let instance { all["group.instance.id"] = instance }
            all.merge(settings) { _, new in new }
            let configuration = try KafkaConfiguration(all)
            rebalance = Rebalance(resume: resume)
            rd_kafka_conf_set_opaque(configuration.handle, Unmanaged.passUnretained(rebalance).toOpaque())
            rd_kafka_conf_set_rebalance_cb(configuration.handle, rebalanceCallback)
            client = try configuration.client(RD_KAFKA_CONSUMER)
            rd_kafka_poll_set_consumer(client)
            let list = rd_kafka_topic_partition_list_new(Int32(topics.count))!
            defer { rd_kafka_topic_partition_list_destroy(list) }
            for topic in topics { rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA) }
            let err = rd_kafka_subscribe(client, list)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                rd_kafka_destroy(client)
                throw KafkaError("subscribe to \(topics.joined(separator: ",")): \(String(cString: rd_kafka_err2str(err)))")
            }
        }

        /// The partitions this member reads now.
        public var assigned: [(topic: String, partition: Int32)] { rebalance.assigned }

        /// The last error the broker or librdkafka reported while polling, until a record comes.
        public private(set) var lastError: String?

        /// Up to `max` records, waiting up to `timeout` for the first; empty when none came. Errors (a broker
        /// away, a partition gone) are kept in `lastError`: librdkafka retries by itself.
        public func poll(max: Int, timeout: Duration) -> [Record] {
            var records: [Record] = []
            var wait = Int32(timeout.components.seconds * 1_000 + timeout.components.attoseconds / 1_000_000_000_000_000)
            while records.count < max, let message = rd_kafka_consumer_poll(client, wait) {
                defer { rd_kafka_message_destroy(message) }
                wait = 0
                let m = message.pointee
                if m.err == RD_KAFKA_RESP_ERR__PARTITION_EOF { continue }
                guard m.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                    let topic = m.rkt.map { String(cString: rd_kafka_topic_name($0)) }
                    lastError = (topic.map { "\($0): " } ?? "") + String(cString: rd_kafka_err2str(m.err))
                    continue
                }
                lastError = nil
                let value = m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.len)) } ?? []
                records.append(Record(topic: topicName(m.rkt), partition: m.partition, offset: m.offset, value: value))
            }
            return records
        }

        /// Topic names by librdkafka's handle: one string per topic, shared by its records.
        private var topicNames: [OpaquePointer: String] = [:]

        private func topicName(_ handle: OpaquePointer) -> String {
            if let name = topicNames[handle] { return name }
            let name = String(cString: rd_kafka_topic_name(handle))
            topicNames[handle] = name
            return name
        }

        /// Commits `next` (the offset after the last record taken, per partition) to the broker, without
        /// waiting: for lag tools only, since IMS resumes from its own journal.
        public func commit(_ next: [(topic: String, partition: Int32, offset: Int64)]) {
            guard !next.isEmpty else { return }
            let list = rd_kafka_topic_partition_list_new(Int32(next.count))!
            defer { rd_kafka_topic_partition_list_destroy(list) }
            for n in next { rd_kafka_topic_partition_list_add(list, n.topic, n.partition).pointee.offset = n.offset }
            _ = rd_kafka_commit(client, list, 1)
        }

        /// The partition's high watermark as last fetched (nil before any fetch answered).
        public func highWatermark(topic: String, partition: Int32) -> Int64? {
            var low: Int64 = -1, high: Int64 = -1
            let err = rd_kafka_get_watermark_offsets(client, topic, partition, &low, &high)
            return err == RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0 ? high : nil
        }

        private var closed = false

        /// Leaves the group (its partitions go to another member at once).
        public func close() {
            guard !closed else { return }
            closed = true
            _ = rd_kafka_consumer_close(client)
        }

        deinit {
            close()
            rd_kafka_destroy(client)
        }
    }

    /// What the rebalance callback needs (the polling thread's only).
    final class Rebalance: @unchecked Sendable {
        let resume: KafkaGroupConsumer.Resume
        var assigned: [(topic: String, partition: Int32)] = []
        init(resume: @escaping KafkaGroupConsumer.Resume) { self.resume = resume }
    }

    /// Assigns each new partition at the offset `resume` gives (eager rebalancing: all are revoked, then all
    /// assigned).
    let rebalanceCallback:
        @convention(c) (OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?) -> Void = {
            client, err, partitions, opaque in
            guard let client, let opaque else { return }
            let rebalance = Unmanaged<Rebalance>.fromOpaque(opaque).takeUnretainedValue()
            if err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, let partitions {
                let count = Int(partitions.pointee.cnt)
                var list: [(topic: String, partition: Int32)] = []
                for i in 0..<count {
                    let p = partitions.pointee.elems[i]
                    list.append((String(cString: p.topic), p.partition))
                }
                let offsets = rebalance.resume(list)
                for i in 0..<count { partitions.pointee.elems[i].offset = offsets[i] ?? Int64(RD_KAFKA_OFFSET_BEGINNING) }
                rebalance.assigned = list
                rd_kafka_assign(client, partitions)
            } else {
                rebalance.assigned = []
                rd_kafka_assign(client, nil)
            }
        }
#endif

#if Kafka
    /// Creates topics (the tests' and benchmarks' upstream topics with several partitions).
    public enum KafkaTopicAdmin {
        /// Creates `topic` with `partitions` partitions on `brokers`; succeeds if it already exists.
        public static func create(brokers: String, topic: String, partitions: Int32, timeout: Duration = .seconds(10)) throws(KafkaError) {
            let client = try KafkaConfiguration(["bootstrap.servers": brokers]).client(RD_KAFKA_PRODUCER)
            defer { rd_kafka_destroy(client) }
            var error = [CChar](repeating: 0, count: 512)
            guard let newTopic = rd_kafka_NewTopic_new(topic, partitions, 1, &error, error.count) else {
                throw KafkaError("topic \(topic): \(String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
            }
            defer { rd_kafka_NewTopic_destroy(newTopic) }
            let queue = rd_kafka_queue_new(client)!
            defer { rd_kafka_queue_destroy(queue) }
            var topics: [OpaquePointer?] = [newTopic]
            rd_kafka_CreateTopics(client, &topics, 1, nil, queue)
            let ms = Int32(timeout.components.seconds * 1_000)
            guard let event = rd_kafka_queue_poll(queue, ms) else { throw KafkaError("create topic \(topic): no answer within \(timeout)") }
            defer { rd_kafka_event_destroy(event) }
            if rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR {
                throw KafkaError("create topic \(topic): \(String(cString: rd_kafka_event_error_string(event)))")
            }
            guard let result = rd_kafka_event_CreateTopics_result(event) else { throw KafkaError("create topic \(topic): no result") }
            var count = 0
            guard let results = rd_kafka_CreateTopics_result_topics(result, &count), count == 1, let one = results[0] else { return }
            let err = rd_kafka_topic_result_error(one)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS else {
                throw KafkaError(
                    "create topic \(topic): \(rd_kafka_topic_result_error_string(one).map { String(cString: $0) } ?? String(cString: rd_kafka_err2str(err)))")
            }
        }
    }
#endif
