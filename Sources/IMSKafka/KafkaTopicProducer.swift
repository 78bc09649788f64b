#if Kafka
    import CRdKafka
    import Foundation

    /// An idempotent producer (`acks=all`) to any topic, each record to the partition its key hashes to
    /// (librdkafka's default partitioner): the change feed's publisher.
    ///
    /// Not thread-safe: one thread sends.
    public final class KafkaTopicProducer {
        private let client: OpaquePointer
        private var topics: [String: OpaquePointer] = [:]

        public init(brokers: String, settings: [String: String] = [:]) throws(KafkaError) {
            var all = ["bootstrap.servers": brokers, "enable.idempotence": "true", "acks": "all", "linger.ms": "5"]
            all.merge(settings) { _, new in new }
            let configuration = try KafkaConfiguration(all)
            rd_kafka_conf_set_dr_msg_cb(configuration.handle, deliveryReport)
            client = try configuration.client(RD_KAFKA_PRODUCER)
        }

        private func topic(_ name: String) throws(KafkaError) -> OpaquePointer {
            if let topic = topics[name] { return topic }
            guard let topic = rd_kafka_topic_new(client, name, nil) else {
                throw KafkaError("topic \(name): \(String(cString: rd_kafka_err2str(rd_kafka_last_error())))")
            }
            topics[name] = topic
            return topic
        }

        /// Sends `records` (topic, key, value) and waits until the broker acknowledged each.
        public func send(_ records: [(topic: String, key: String, value: [UInt8])], timeout: Duration = .seconds(10)) throws(KafkaError) {
            var deliveries: [Delivery] = []
            deliveries.reserveCapacity(records.count)
            for record in records {
                let handle = try topic(record.topic)
                let delivery = Delivery()
                let opaque = Unmanaged.passRetained(delivery).toOpaque()
                var status: Int32 = 0
                repeat {
                    status = record.value.withUnsafeBytes { value in
                        Array(record.key.utf8).withUnsafeBytes { key in
                            rd_kafka_produce(
                                handle, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, UnsafeMutableRawPointer(mutating: value.baseAddress), value.count,
                                key.baseAddress, key.count, opaque)
                        }
                    }
                    // A full local queue: let deliveries drain, then try again.
                    if status != 0 && rd_kafka_last_error() == RD_KAFKA_RESP_ERR__QUEUE_FULL { rd_kafka_poll(client, 10) } else { break }
                } while true
                guard status == 0 else {
                    Unmanaged<Delivery>.fromOpaque(opaque).release()
                    throw KafkaError("produce to \(record.topic): \(String(cString: rd_kafka_err2str(rd_kafka_last_error())))")
                }
                deliveries.append(delivery)
            }
            try Delivery.wait(for: deliveries, polling: client, timeout: timeout)
        }

        deinit {
            rd_kafka_flush(client, 5_000)
            for topic in topics.values { rd_kafka_topic_destroy(topic) }
            rd_kafka_destroy(client)
        }
    }
#endif
