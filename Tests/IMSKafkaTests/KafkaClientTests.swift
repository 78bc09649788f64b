#if Kafka
    import Foundation
    import IMSKafka
    import Testing

    /// A real Kafka-compatible broker (noida-db, started by the test command's script as `IMS_KAFKA_BROKERS`):
    /// records appended by the idempotent producer come back in order, from any offset.
    @Suite(.serialized)
    struct KafkaClientTests {
        static var brokers: String {
            get throws {
                guard let brokers = ProcessInfo.processInfo.environment["IMS_KAFKA_BROKERS"], !brokers.isEmpty else {
                    throw KafkaError("IMS_KAFKA_BROKERS is not set: run the tests with ./scripts/test.sh, which starts a broker")
                }
                return brokers
            }
        }

        @Test func recordsComeBackInOrderFromAnyOffset() throws {
            let topic = "ims-test-\(UUID().uuidString.prefix(8))"
            let producer = try KafkaProducer(brokers: try Self.brokers, topic: topic)
            let records = (0..<300).map { Array("record \($0)".utf8) }
            var offsets: [Int64] = []
            for chunk in stride(from: 0, to: records.count, by: 100) { offsets += try producer.send(Array(records[chunk..<chunk + 100])) }
            #expect(offsets == Array(0..<300).map(Int64.init))
            let reader = try KafkaPartitionReader(brokers: try Self.brokers, topic: topic, from: 0)
            #expect(try reader.highWatermark() == 300)
            var read: [(Int64, [UInt8])] = []
            let deadline = Date().addingTimeInterval(20)
            while read.count < 300 && Date() < deadline {
                if let next = try reader.next() { read.append((next.offset, next.bytes)) }
            }
            #expect(read.map(\.0) == offsets)
            #expect(read.map(\.1) == records)
            // From the middle: a restart reading from a snapshot's offset.
            let tail = try KafkaPartitionReader(brokers: try Self.brokers, topic: topic, from: 250)
            var rest: [[UInt8]] = []
            while rest.count < 50 && Date() < deadline {
                if let next = try tail.next() { rest.append(next.bytes) }
            }
            #expect(rest == Array(records[250...]))
        }

        /// Leadership is fenced by the broker: a newer producer with the same transactional id fences the old
        /// one, whose next append fails for good; a reader sees only committed records.
        @Test func aNewerProducerWithTheSameTransactionalIdFencesTheOld() throws {
            let topic = "ims-fence-\(UUID().uuidString.prefix(8))"
            let old = try KafkaProducer(brokers: try Self.brokers, topic: topic, transactionalId: "ims-\(topic)")
            #expect(try old.send([Array("old 1".utf8)]) == [0])
            let new = try KafkaProducer(brokers: try Self.brokers, topic: topic, transactionalId: "ims-\(topic)")
            do {
                _ = try old.send([Array("old 2".utf8)])
                Issue.record("the fenced producer appended")
            } catch {
                #expect(error.isFenced, "\(error)")
            }
            let offsets = try new.send([Array("new 1".utf8)])
            #expect(offsets.count == 1)
            let reader = try KafkaPartitionReader(brokers: try Self.brokers, topic: topic, from: 0)
            var seen: [String] = []
            let deadline = Date().addingTimeInterval(20)
            while seen.count < 2 && Date() < deadline {
                if let next = try reader.next() { seen.append(String(decoding: next.bytes, as: UTF8.self)) }
            }
            #expect(seen == ["old 1", "new 1"])
        }

        @Test func aBadSettingIsRefusedNamingIt() {
            #expect(throws: KafkaError.self) { _ = try KafkaProducer(brokers: "127.0.0.1:1", topic: "t", settings: ["no.such.setting": "1"]) }
            do {
                _ = try KafkaProducer(brokers: "127.0.0.1:1", topic: "t", settings: ["no.such.setting": "1"])
            } catch {
                #expect(error.description.contains("no.such.setting"))
            }
        }
    }
#endif
