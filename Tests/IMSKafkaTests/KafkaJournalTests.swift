#if Kafka
    import Foundation
    import IMSDomain
    import IMSEngine
    import IMSIngest
    import IMSKafka
    import IMSRuntime
    import Testing

    /// The engine journaling to a Kafka topic: a replica that reads the topic and applies it holds the same
    /// state, from the start or from a snapshot's record on.
    @Suite(.serialized)
    struct KafkaJournalTests {
        static let batches = [
            """
            {"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}
            {"type":"security","securityId":"AAPL","isin":"US0378331005","marketId":"US","currency":"USD"}
            {"type":"book","bookId":"FIRM1","legalEntity":"PB-US","positionType":"FIRM"}
            {"type":"book","bookId":"CL1","legalEntity":"PB-US","positionType":"CLIENT_FREE","clientId":"C1"}
            """,
            #"{"type":"trade","tradeId":"T1","version":1,"status":"NEW","bookId":"FIRM1","securityId":"AAPL","side":"BUY","quantity":300,"price":"10","tradeDate":"2026-11-25"}"#,
            #"{"type":"price","securityId":"AAPL","last":"10.5"}"#,
            #"{"type":"trade","tradeId":"T2","version":1,"status":"NEW","bookId":"CL1","securityId":"AAPL","side":"SELL","quantity":40,"price":"10","tradeDate":"2026-11-25"}"#,
            #"{"type":"trade","tradeId":"T1","version":2,"status":"AMEND","bookId":"FIRM1","securityId":"AAPL","side":"BUY","quantity":350,"price":"10","tradeDate":"2026-11-25"}"#,
        ]

        static func decode(_ text: String, at micros: Int64) -> IngestBatch {
            var text = text
            return text.withUTF8 { BatchDecoder.decodeNDJSON(UnsafeRawBufferPointer($0), mode: .partial, receivedAt: Timestamp(micros: micros)) }
        }

        @Test func aReplicaReadingTheTopicHoldsTheLeadersState() async throws {
            let brokers = try KafkaClientTests.brokers
            let topic = "ims-journal-\(UUID().uuidString.prefix(8))"
            let engine = Engine(state: EngineState(), journal: try KafkaJournal(brokers: brokers, topic: topic))
            for (i, text) in Self.batches.enumerated() {
                let outcome = try await engine.submit(Self.decode(text, at: Int64(i + 1)))
                #expect(outcome.applied)
            }
            let leader = engine.readModel.read { $0.canonicalText() }
            let lastRecord = engine.readModel.read { $0.appliedRecord }
            engine.stop()
            #expect(lastRecord == UInt64(Self.batches.count))

            // From the start.
            func replay(into state: inout EngineState, from record: UInt64) throws {
                let reader = try KafkaJournalReader(brokers: brokers, topic: topic, fromRecord: record)
                #expect(try reader.nextRecord() == lastRecord + 1)
                let deadline = Date().addingTimeInterval(20)
                var next = record
                while next <= lastRecord && Date() < deadline {
                    guard let (number, entry) = try reader.next() else { continue }
                    #expect(number == next)
                    state.apply(entry, record: number)
                    next += 1
                }
            }
            var replica = EngineState()
            try replay(into: &replica, from: 1)
            #expect(replica.readModel.canonicalText() == leader)

            // From a snapshot of record 2: its image, then the records after it.
            var early = EngineState()
            let reader = try KafkaJournalReader(brokers: brokers, topic: topic, fromRecord: 1)
            var taken = 0
            let deadline = Date().addingTimeInterval(20)
            while taken < 2 && Date() < deadline {
                if let (number, entry) = try reader.next() {
                    early.apply(entry, record: number)
                    taken += 1
                }
            }
            let image = early.snapshotImage()
            var restarted = try image.withUnsafeBytes { try EngineState(snapshotImage: $0) }
            #expect(restarted.appliedRecord == 2)
            try replay(into: &restarted, from: restarted.appliedRecord + 1)
            #expect(restarted.readModel.canonicalText() == leader)
        }
    }
#endif
