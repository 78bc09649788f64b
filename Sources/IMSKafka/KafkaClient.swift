#if Kafka
    import CRdKafka
    import Foundation

    /// A Kafka error, with librdkafka's text.
    public struct KafkaError: Error, CustomStringConvertible, Sendable {
        public var description: String
        /// The producer was fenced: another producer with its transactional id has started (a new leader).
        /// It can never append again.
        public var isFenced = false
        /// A read from an offset the partition does not hold (past its end: the log was cut short).
        public var isOffsetOutOfRange = false
        /// A transactional call that may succeed if called again (a commit that timed out: it may still commit).
        public var isRetriable = false
        /// The transaction must be aborted before another can begin.
        public var requiresAbort = false
        /// A record landed below one already written: the broker lost acknowledged records.
        public var isTruncation = false

        public init(_ description: String, isFenced: Bool = false, isOffsetOutOfRange: Bool = false) {
            self.description = description
            self.isFenced = isFenced
            self.isOffsetOutOfRange = isOffsetOutOfRange
        }

        /// The error a librdkafka transactional call returned (consumed), or nil.
        static func take(_ error: OpaquePointer?, _ what: String) -> KafkaError? {
            guard let error else { return nil }
            defer { rd_kafka_error_destroy(error) }
            let code = rd_kafka_error_code(error)
            let fenced =
                code == RD_KAFKA_RESP_ERR__FENCED || code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED
                || code == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH
            var taken = KafkaError("\(what): \(String(cString: rd_kafka_error_string(error)))", isFenced: fenced)
            taken.isRetriable = rd_kafka_error_is_retriable(error) != 0
            taken.requiresAbort = rd_kafka_error_txn_requires_abort(error) != 0
            return taken
        }
    }

    /// librdkafka settings (`bootstrap.servers`, `enable.idempotence`…), checked as they are set.
    struct KafkaConfiguration: ~Copyable {
        let handle: OpaquePointer

        init(_ settings: [String: String]) throws(KafkaError) {
            let conf = rd_kafka_conf_new()!
            for (key, value) in settings.sorted(by: { $0.key < $1.key }) {
                var error = [CChar](repeating: 0, count: 512)
                if rd_kafka_conf_set(conf, key, value, &error, error.count) != RD_KAFKA_CONF_OK {
                    let text = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    rd_kafka_conf_destroy(conf)
                    throw KafkaError("\(key)=\(value): \(text)")
                }
            }
            handle = conf
        }

        /// Hands the settings to a new client (which then owns them).
        consuming func client(_ type: rd_kafka_type_t) throws(KafkaError) -> OpaquePointer {
            var error = [CChar](repeating: 0, count: 512)
            let conf = handle
            discard self
            guard let client = rd_kafka_new(type, conf, &error, error.count) else {
                rd_kafka_conf_destroy(conf)
                throw KafkaError(String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
            return client
        }

        deinit { rd_kafka_conf_destroy(handle) }
    }

    /// One record to append: its key (nil for none) and value.
    public struct KafkaRecord: Sendable {
        public var key: [UInt8]?
        public var value: [UInt8]

        public init(key: [UInt8]?, value: [UInt8]) {
            self.key = key
            self.value = value
        }
    }

    /// One record read back: where it is, its key, value and the time its producer stamped on it.
    public struct KafkaMessage: Sendable {
        public var offset: Int64
        public var key: [UInt8]?
        public var bytes: [UInt8]
        /// Milliseconds since the epoch (the producer's create time), or -1 when the broker gave none.
        public var timestampMilliseconds: Int64

        public init(offset: Int64, key: [UInt8]?, bytes: [UInt8], timestampMilliseconds: Int64) {
            self.offset = offset
            self.key = key
            self.bytes = bytes
            self.timestampMilliseconds = timestampMilliseconds
        }
    }

    /// What a delivery report said of one record, filled in by librdkafka's callback.
    final class Delivery: @unchecked Sendable {
        // Written once by the delivery callback, on the thread that polls; read by that same thread after.
        var offset: Int64 = -1
        var error: rd_kafka_resp_err_t = RD_KAFKA_RESP_ERR_NO_ERROR
        var done = false

        /// Polls `client` (which runs the delivery callbacks) until every delivery is reported, within
        /// `timeout`; throws the first failed one's error.
        static func wait(for deliveries: [Delivery], polling client: OpaquePointer, timeout: Duration) throws(KafkaError) {
            let deadline = ContinuousClock.now + timeout
            while !deliveries.allSatisfy(\.done) {
                guard ContinuousClock.now < deadline else { throw KafkaError("no acknowledgement within \(timeout)") }
                rd_kafka_poll(client, 10)
            }
            if let failed = deliveries.first(where: { $0.error != RD_KAFKA_RESP_ERR_NO_ERROR }) {
                throw KafkaError("delivery: \(String(cString: rd_kafka_err2str(failed.error)))")
            }
        }
    }

    /// The delivery report callback: records the outcome in the record's `Delivery`.
    let deliveryReport: @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?) -> Void = { _, message, _ in
        guard let message, let opaque = message.pointee._private else { return }
        let delivery = Unmanaged<Delivery>.fromOpaque(opaque).takeRetainedValue()
        delivery.error = message.pointee.err
        delivery.offset = message.pointee.offset
        delivery.done = true
    }

    /// A producer to one partition of one topic: idempotent (`enable.idempotence`, which implies `acks=all`), so
    /// a record is in the log once, in order, when `send` returns its offset.
    ///
    /// Not thread-safe: one thread sends (the journal's).
    public final class KafkaProducer {
        private let client: OpaquePointer
        private let topic: OpaquePointer
        public let partition: Int32
        /// With a transactional id, each `send` is one transaction, and a newer producer with the same id
        /// fences this one: its next `send` throws an error whose `isFenced` is true.
        public let transactionalId: String?

        /// A producer to `topic`'s `partition` on `brokers` (`host:port,…`), with any further librdkafka settings.
        public init(
            brokers: String, topic name: String, partition: Int32 = 0, transactionalId: String? = nil, settings: [String: String] = [:],
            initTimeout: Duration = .seconds(30)
        ) throws(KafkaError) {
            var all = ["bootstrap.servers": brokers, "enable.idempotence": "true", "acks": "all", "linger.ms": "0"]
            if let transactionalId {
                all["transactional.id"] = transactionalId
                // A leader killed inside a transaction leaves it open; the broker aborts it after this long, so
                // that readers (read_committed) are held behind it no longer (a broker that aborts it when the
                // next leader fences the old one, as Kafka does, does so at once).
                all["transaction.timeout.ms"] = "5000"
            }
            all.merge(settings) { _, new in new }
            self.transactionalId = transactionalId
            let configuration = try KafkaConfiguration(all)
            rd_kafka_conf_set_dr_msg_cb(configuration.handle, deliveryReport)
            client = try configuration.client(RD_KAFKA_PRODUCER)
            guard let topic = rd_kafka_topic_new(client, name, nil) else {
                rd_kafka_destroy(client)
                throw KafkaError("topic \(name): \(String(cString: rd_kafka_err2str(rd_kafka_last_error())))")
            }
            self.topic = topic
            self.partition = partition
            if transactionalId != nil,
                let error = KafkaError.take(
                    rd_kafka_init_transactions(
                        client, Int32(initTimeout.components.seconds * 1_000 + initTimeout.components.attoseconds / 1_000_000_000_000_000)), "init transactions"
                )
            {
                rd_kafka_topic_destroy(topic)
                rd_kafka_destroy(client)
                throw error
            }
        }

        /// Appends `values` (without keys) in order; see `send(_:timeout:)` of records.
        public func send(_ values: [[UInt8]], timeout: Duration = .seconds(30)) throws(KafkaError) -> [Int64] {
            try send(values.map { KafkaRecord(key: nil, value: $0) }, timeout: timeout)
        }

        /// Appends `records` in order and waits until the broker acknowledged each (with a transactional id:
        /// in one transaction, committed); returns their offsets.
        public func send(_ records: [KafkaRecord], timeout: Duration = .seconds(30)) throws(KafkaError) -> [Int64] {
            if transactionalId != nil, let error = KafkaError.take(rd_kafka_begin_transaction(client), "begin transaction") { throw error }
            var deliveries: [Delivery] = []
            deliveries.reserveCapacity(records.count)
            for record in records {
                let delivery = Delivery()
                let opaque = Unmanaged.passRetained(delivery).toOpaque()
                let status = record.value.withUnsafeBytes { bytes in
                    let value = UnsafeMutableRawPointer(mutating: bytes.baseAddress)
                    guard let key = record.key else { return rd_kafka_produce(topic, partition, RD_KAFKA_MSG_F_COPY, value, bytes.count, nil, 0, opaque) }
                    return key.withUnsafeBytes { k in
                        rd_kafka_produce(topic, partition, RD_KAFKA_MSG_F_COPY, value, bytes.count, k.baseAddress, k.count, opaque)
                    }
                }
                guard status == 0 else {
                    Unmanaged<Delivery>.fromOpaque(opaque).release()
                    let error = KafkaError("produce: \(String(cString: rd_kafka_err2str(rd_kafka_last_error())))")
                    if transactionalId != nil { _ = KafkaError.take(rd_kafka_abort_transaction(client, 5_000), "abort transaction") }
                    throw error
                }
                deliveries.append(delivery)
            }
            if transactionalId != nil {
                let ms = Int32(timeout.components.seconds * 1_000)
                if let error = KafkaError.take(rd_kafka_commit_transaction(client, ms), "commit transaction") {
                    // A commit that timed out is still under way (it may yet commit): left for `finishTransaction`.
                    if error.requiresAbort { _ = KafkaError.take(rd_kafka_abort_transaction(client, min(ms, 1_000)), "abort transaction") }
                    rd_kafka_poll(client, 0)
                    throw error
                }
            }
            try Delivery.wait(for: deliveries, polling: client, timeout: timeout)
            return deliveries.map(\.offset)
        }

        /// Ends the transaction a failed `send` left open, within `timeout`: commits it if the failed commit may
        /// still succeed (a time-out), else aborts it. Returns whether it committed.
        public func finishTransaction(timeout: Duration) throws(KafkaError) -> Bool {
            let deadline = ContinuousClock.now + timeout
            while true {
                let ms = Int32(max(100, (deadline - ContinuousClock.now).components.seconds * 1_000))
                guard let error = KafkaError.take(rd_kafka_commit_transaction(client, ms), "commit transaction") else { return true }
                if error.requiresAbort {
                    if let failed = KafkaError.take(rd_kafka_abort_transaction(client, ms), "abort transaction") { throw failed }
                    return false
                }
                guard error.isRetriable, ContinuousClock.now < deadline else { throw error }
            }
        }

        deinit {
            rd_kafka_flush(client, 5_000)
            rd_kafka_topic_destroy(topic)
            rd_kafka_destroy(client)
        }
    }

    /// A reader of one partition of one topic from an offset, in order (the journal's replay and a standby's tail).
    ///
    /// Not thread-safe: one thread reads.
    public final class KafkaPartitionReader {
        private let client: OpaquePointer
        private let topic: OpaquePointer
        public let partition: Int32

        /// A reader of `topic`'s `partition` on `brokers`, starting at `offset` (the first record it returns).
        public init(brokers: String, topic name: String, partition: Int32 = 0, from offset: Int64, settings: [String: String] = [:]) throws(KafkaError) {
            // A short fetch wait: a standby hears of a record within milliseconds, not the default half second.
            var all = [
                "bootstrap.servers": brokers, "enable.auto.commit": "false", "isolation.level": "read_committed", "fetch.wait.max.ms": "5",
                // Never jump silently to another offset when the one asked for is gone: say so.
                "auto.offset.reset": "error",
                // noida-db answers a fetch from far behind with everything after it, more than `fetch.max.bytes`
                // (131 MB measured); librdkafka refuses an answer over this by default (100 MB) and the reader
                // would stall for good.
                "receive.message.max.bytes": "2147483647",
            ]
            all.merge(settings) { _, new in new }
            client = try KafkaConfiguration(all).client(RD_KAFKA_CONSUMER)
            guard let topic = rd_kafka_topic_new(client, name, nil) else {
                rd_kafka_destroy(client)
                throw KafkaError("topic \(name): \(String(cString: rd_kafka_err2str(rd_kafka_last_error())))")
            }
            self.topic = topic
            self.partition = partition
            guard rd_kafka_consume_start(topic, partition, offset) == 0 else {
                rd_kafka_topic_destroy(topic)
                rd_kafka_destroy(client)
                throw KafkaError("consume from \(offset): \(String(cString: rd_kafka_err2str(rd_kafka_last_error())))")
            }
        }

        /// The next record, waiting up to `timeout`; nil when none came (or the end of the partition was
        /// reached for now).
        public func next(timeout: Duration = .milliseconds(100)) throws(KafkaError) -> KafkaMessage? {
            let ms = Int32(timeout.components.seconds * 1_000 + timeout.components.attoseconds / 1_000_000_000_000_000)
            guard let message = rd_kafka_consume(topic, partition, ms) else { return nil }
            defer { rd_kafka_message_destroy(message) }
            let m = message.pointee
            if m.err == RD_KAFKA_RESP_ERR__PARTITION_EOF { return nil }
            guard m.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                let outOfRange = m.err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE || m.err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET
                throw KafkaError("consume at offset \(m.offset): \(String(cString: rd_kafka_err2str(m.err)))", isOffsetOutOfRange: outOfRange)
            }
            let bytes = m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.len)) } ?? []
            let key = m.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.key_len)) }
            var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
            let timestamp = rd_kafka_message_timestamp(message, &type)
            return KafkaMessage(offset: m.offset, key: key, bytes: bytes, timestampMilliseconds: timestamp)
        }

        /// The partition's high watermark (the offset the next record appended will get), as the broker says now.
        public func highWatermark(timeout: Duration = .seconds(5)) throws(KafkaError) -> Int64 {
            var low: Int64 = 0, high: Int64 = 0
            let ms = Int32(timeout.components.seconds * 1_000)
            let err = rd_kafka_query_watermark_offsets(client, rd_kafka_topic_name(topic), partition, &low, &high, ms)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError("watermarks: \(String(cString: rd_kafka_err2str(err)))") }
            return high
        }

        deinit {
            rd_kafka_consume_stop(topic, partition)
            rd_kafka_topic_destroy(topic)
            rd_kafka_destroy(client)
        }
    }
#endif
