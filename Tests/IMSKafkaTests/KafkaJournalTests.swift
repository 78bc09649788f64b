#if Kafka
    import Foundation
    import IMSDomain
    import IMSEngine
    import IMSIngest
    import IMSRuntime
    import Synchronization

    @testable import IMSKafka
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

            // From the start. Record numbers travel in the keys; records the state already holds are skipped.
            func replay(into state: inout EngineState, fromOffset offset: Int64) throws {
                let reader = try KafkaJournalReader(brokers: brokers, topic: topic, fromOffset: offset)
                #expect(try reader.highWatermark() == Int64(lastRecord))
                let deadline = Date().addingTimeInterval(20)
                while state.appliedRecord < lastRecord && Date() < deadline {
                    guard let (_, record) = try reader.next() else { continue }
                    guard case .entry(let number, _, let entry) = record else {
                        Issue.record("a sole writer writes no control records")
                        continue
                    }
                    if number <= state.appliedRecord { continue }
                    #expect(number == state.appliedRecord + 1)
                    state.apply(entry, record: number)
                }
            }
            var replica = EngineState()
            try replay(into: &replica, fromOffset: 0)
            #expect(replica.readModel.canonicalText() == leader)

            // From a snapshot of record 2: its image, then the records after it (from an offset at or before
            // record 3's, as a checkpoint gives).
            var early = EngineState()
            let reader = try KafkaJournalReader(brokers: brokers, topic: topic)
            let deadline = Date().addingTimeInterval(20)
            while early.appliedRecord < 2 && Date() < deadline {
                if let (_, record) = try reader.next(), case .entry(let number, _, let entry) = record { early.apply(entry, record: number) }
            }
            let image = early.snapshotImage()
            var restarted = try image.withUnsafeBytes { try EngineState(snapshotImage: $0) }
            #expect(restarted.appliedRecord == 2)
            try replay(into: &restarted, fromOffset: 1)
            #expect(restarted.readModel.canonicalText() == leader)
        }

        @Test func recordNumbersTravelInTheKeyAndForeignRecordsAreNamed() throws {
            #expect(TopicRecord.key(record: 0x0102_0304_0506_0708, epoch: 9) == [1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 9])
            let entry = JournalEntry.batch(Self.decode(Self.batches[1], at: 7))
            let framed = TopicRecord.journal(entry, record: 42, epoch: 3)
            guard
                case .entry(let number, let epoch, _) = try TopicRecord(KafkaMessage(offset: 9, key: framed.key, bytes: framed.value, timestampMilliseconds: 0))
            else {
                Issue.record("not read back as an entry")
                return
            }
            #expect(number == 42 && epoch == 3)
            let claim = ControlRecord(type: .claim, epoch: 3, node: "n1", url: "http://h:1", record: 41)
            let control = TopicRecord.controlRecord(claim)
            guard case .control(let back) = try TopicRecord(KafkaMessage(offset: 10, key: control.key, bytes: control.value, timestampMilliseconds: 0)) else {
                Issue.record("not read back as a control record")
                return
            }
            #expect(back == claim)
            // Another producer's record on the topic is refused naming its offset, never applied.
            for key in [nil, Array("x".utf8)] as [[UInt8]?] {
                do {
                    _ = try TopicRecord(KafkaMessage(offset: 11, key: key, bytes: Array("{}".utf8), timestampMilliseconds: 0))
                    Issue.record("a foreign record was taken")
                } catch {
                    #expect(error.description.contains("offset 11"))
                }
            }
            do {
                _ = try TopicRecord(KafkaMessage(offset: 12, key: TopicRecord.key(record: 5, epoch: 1), bytes: [0xFF, 0, 1], timestampMilliseconds: 0))
                Issue.record("garbage was taken as an entry")
            } catch {
                #expect(error.description.contains("record 5 is not a journal entry"))
            }
        }

        /// A leader's write counts only if nothing of another node's came before or among its records: its
        /// first record right after its last transaction's commit marker, the others one after another.
        @Test func aLeaderWhoseRecordsAnotherNodesClaimCameAmongIsOvertaken() {
            // Last write at 10, its commit marker at 11: a transaction of three at 12, 13, 14 is this leader's alone.
            #expect(KafkaJournal.overtaken([12, 13, 14], after: 10) == nil)
            #expect(KafkaJournal.overtaken([11], after: 10) == nil, "without a marker (no transactions)")
            // A claim before the first record.
            #expect(KafkaJournal.overtaken([13, 14], after: 10)?.isFenced == true)
            // A claim between two produce requests of one group commit: the first record counts for the readers,
            // the second does not (its epoch is older than the claim before it), so the leader applies neither.
            let among = KafkaJournal.overtaken([12, 14, 15], after: 10)
            #expect(among?.isFenced == true)
            #expect(among?.description.contains("between this node's records at offsets 12 and 14") == true)
        }

        /// A leader fenced by another node's producer: the append fails, and the same call that says it no longer
        /// leads says where to resume (after its last write) and its last record, once; then it follows. Whatever
        /// thread asks while the append fails never sees "not leading" without the step-down (the cause of the
        /// broker-outage test's divergence, docs/architecture.md).
        @Test func aFailedAppendHandsTheStepDownOverInTheSameStep() throws {
            let brokers = try KafkaClientTests.brokers
            let topic = "ims-stepdown-\(UUID().uuidString.prefix(8))"
            try KafkaTopicAdmin.create(brokers: brokers, topic: topic, partitions: 1)
            let id = "ims-test-\(topic)"
            let journal = KafkaJournal()
            let called = Mutex<StepDown?>(nil)
            let producer = try KafkaProducer(brokers: brokers, topic: topic, transactionalId: id, initTimeout: .seconds(10))
            let claim = try producer.send([TopicRecord.controlRecord(ControlRecord(type: .claim, epoch: 1, node: "A", url: "", record: 0))])
            journal.lead(producer: producer, nextRecord: 1, epoch: 1, writtenThrough: claim[0]) { down in called.withLock { $0 = down } }
            let entry = JournalEntry.batch(Self.decode(Self.batches[0], at: 1))
            #expect(try journal.append([entry, entry]) == 1)
            let lastWrite = journal.writtenOffset - 1
            // Another node's producer with the same transactional id fences this one.
            _ = try KafkaProducer(brokers: brokers, topic: topic, transactionalId: id, initTimeout: .seconds(10))
            // A reader racing the failing append never sees "not leading" before the step-down is there.
            let stop = Atomic<Bool>(false), sawGap = Atomic<Bool>(false), taken = Mutex<StepDown?>(nil)
            let watcher = Thread {
                while !stop.load(ordering: .relaxed) {
                    switch journal.leadership() {
                    case .leading: continue
                    case .steppedDown(let down): taken.withLock { $0 = down }
                    case .following: if taken.withLock({ $0 == nil }) { sawGap.store(true, ordering: .relaxed) }
                    }
                }
            }
            watcher.start()
            #expect(throws: JournalFailure.self) { try journal.append([entry]) }
            Thread.sleep(forTimeInterval: 0.05)
            stop.store(true, ordering: .relaxed)
            while watcher.isExecuting { Thread.sleep(forTimeInterval: 0.01) }
            let gap = sawGap.load(ordering: .relaxed)
            #expect(!gap, "a reader saw the node not leading before the step-down was there")
            let down = try #require(taken.withLock { $0 })
            #expect(down.lastRecord == 2 && down.resumeAt == lastWrite + 1 && !down.logLostRecords, "\(down)")
            #expect(called.withLock { $0?.resumeAt } == down.resumeAt)
            // Taken once: afterwards the node follows.
            if case .following = journal.leadership() {} else { Issue.record("the step-down was handed over twice") }
        }

        @Test func checkpointsGiveAnOffsetAtOrBeforeTheNextRecord() throws {
            let checkpoints = Checkpoints()
            #expect(checkpoints.offset(after: 5) == nil)
            // Record r at offset 2r (commit markers and control records take offsets too).
            for record in UInt64(1)...1_000 { checkpoints.note(record: record, offset: Int64(record) * 2) }
            for record in [UInt64(1), 64, 65, 500, 999, 1_000, 5_000] {
                let offset = try #require(checkpoints.offset(after: record))
                #expect(offset <= Int64(record + 1) * 2, "reading from \(offset) sees record \(record + 1)")
                #expect(offset >= Int64(min(record, 1_000)) * 2 - 2 * 64, "and re-reads fewer than 64 records")
            }
        }
    }
#endif
