import Foundation
import IMSDomain
import IMSIngest
import IMSRuntime
import Logging
import Synchronization
import Testing

@testable import IMSEngine
@testable import IMSServer

/// How records of upstream topics become a journaled batch (`TopicFeeds.batch`) and what the engine makes of
/// their stamps: each record applied once whatever is redelivered, bad records named by topic, partition and
/// offset, offsets that skip raising no gap.
struct TopicFeedBatchTests {

    /// Stopping topic feeds that never started returns at once (it waited for a thread that never ran), and a
    /// second start starts nothing.
    @Test func stoppingFeedsThatNeverStartedReturns() {
        let engine = IMSRuntime.Engine()
        defer { engine.stop() }
        let opened = Atomic<Int>(0)
        let feeds = TopicFeeds(
            engine: engine, settings: .init(topics: ["t"], group: "g"),
            open: { _ in
                opened.add(1, ordering: .relaxed)
                throw CocoaError(.featureUnsupported)
            }, deadLetters: nil, replication: nil, logger: Logger(label: "test"))
        feeds.stop()
        #expect(opened.load(ordering: .relaxed) == 0)
    }
    static let reference = """
        {"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-24"}
        {"type":"security","securityId":"AAPL","marketId":"US"}
        {"type":"book","bookId":"FIRM1","legalEntity":"PB-US","positionType":"FIRM"}
        """

    static func state() -> EngineState {
        var state = EngineState()
        var text = reference
        let batch = text.withUTF8 { BatchDecoder.decodeNDJSON(UnsafeRawBufferPointer($0), receivedAt: Timestamp(micros: 0)) }
        #expect(state.process(batch).rejected.isEmpty)
        return state
    }

    static func trade(_ id: String, qty: Int = 100, extra: String = "") -> String {
        #"{"type":"trade","tradeId":"\#(id)","version":1,"status":"NEW","bookId":"FIRM1","securityId":"AAPL","side":"BUY","quantity":\#(qty),"price":"10","tradeDate":"2026-11-24"\#(extra)}"#
    }

    static func record(_ partition: Int32, _ offset: Int64, _ value: String) -> UpstreamRecord {
        UpstreamRecord(topic: "trades", partition: partition, offset: offset, value: Array(value.utf8))
    }

    static let records = [
        record(0, 10, trade("T1") + "\n"),
        record(1, 4, #"{"type":"trade","tradeId":"T2""#),
        record(0, 12, trade("T3", extra: #","feedId":"OWN","feedSeq":7"#)),
        record(1, 7, trade("T4") + "\n" + trade("T5")),
        record(0, 13, "  "),
        record(
            1, 9,
            #"{"type":"trade","tradeId":"T6","version":1,"status":"NEW","bookId":"FIRM1","securityId":"NOPE","side":"BUY","quantity":1,"price":"10","tradeDate":"2026-11-24"}"#
        ),
    ]

    @Test func eachRecordIsOneLineStampedWithWhereItSits() {
        let batch = TopicFeeds.batch(Self.records, receivedAt: Timestamp(micros: 1))
        #expect(batch.mode == .partial)
        #expect(batch.lines == [1, 3, 6], "line i + 1 is record i")
        #expect(
            batch.feedStamps == [
                FeedStamp(feedId: "kafka:trades:0", sequence: 11), FeedStamp(feedId: "kafka:trades:0", sequence: 13),
                FeedStamp(feedId: "kafka:trades:1", sequence: 10),
            ], "the record's place wins over the event's own feedId/feedSeq")
        #expect(
            batch.feedMarks == [FeedStamp(feedId: "kafka:trades:0", sequence: 14), FeedStamp(feedId: "kafka:trades:1", sequence: 10)],
            "the last offset of each partition read, bad records included")
        #expect(batch.rejected.map(\.line) == [2, 4, 5])
        #expect(batch.rejected[1].field == "value" && batch.rejected[2].field == "value")
        #expect(batch.rejected[0].error.hasPrefix("topic trades partition 1 offset 4: "))
        #expect(batch.rejected[1].error == "topic trades partition 1 offset 7: the record holds more than one line; each record must hold one NDJSON event")
        #expect(batch.rejected[2].error.hasPrefix("topic trades partition 0 offset 13: the record is empty"))
    }

    @Test func aRedeliveredBatchChangesNothingAndTheFeedResumesAfterItsLastOffset() {
        var state = Self.state()
        let first = state.process(TopicFeeds.batch(Self.records, receivedAt: Timestamp(micros: 1)))
        #expect(first.accepted == 2 && first.rejected.count == 4)
        // The invalid event is named by where it sits too.
        #expect(first.rejected.contains { $0.field == "securityId" && $0.error.hasPrefix("topic trades partition 1 offset 9: ") })
        #expect(state.readModel.position(bookId: "FIRM1", securityId: "AAPL")?.intradayBuys == 200)
        #expect(state.feedHigh("kafka:trades:0") == 14 && state.feedHigh("kafka:trades:1") == 10, "where each partition resumes")
        let exceptions = state.exceptionLog.count

        // The same events again (a rebalance, a restart): each is a duplicate. (The consumer's cursor keeps
        // redelivered records from the journal altogether; the stamps are the engine's own guard.)
        let again = state.process(TopicFeeds.batch([Self.records[0], Self.records[2]], receivedAt: Timestamp(micros: 2)))
        #expect(again.accepted == 2 && again.ignored == 2)
        #expect(state.readModel.position(bookId: "FIRM1", securityId: "AAPL")?.intradayBuys == 200)
        #expect(state.feedHigh("kafka:trades:0") == 14, "an older mark never moves a partition back")

        // Offsets skip (transaction markers, compaction): no FEED_GAP, the next one is applied.
        let later = state.process(TopicFeeds.batch([Self.record(0, 40, Self.trade("T7"))], receivedAt: Timestamp(micros: 3)))
        #expect(later.accepted == 1 && later.ignored == 0)
        #expect(state.readModel.position(bookId: "FIRM1", securityId: "AAPL")?.intradayBuys == 300)
        #expect(!state.readModel.exceptions(kind: .feedGap, limit: 10).contains { $0.subject?.hasPrefix("kafka:") == true })
        #expect(state.exceptionLog.count == exceptions, "no exception for the redelivered or the skipping records")
    }

    @Test func marksTravelInTheJournalAndBatchesWithoutThemAreUnchanged() throws {
        let batch = TopicFeeds.batch(Self.records, receivedAt: Timestamp(micros: 1))
        var w = BinaryWriter()
        batch.encode(to: &w)
        let back = try w.bytes.withUnsafeBytes { bytes in
            var r = BinaryReader(bytes)
            return try IngestBatch(from: &r)
        }
        #expect(back.feedMarks == batch.feedMarks && back.feedStamps == batch.feedStamps)

        var plain = batch
        plain.feedMarks = []
        var w1 = BinaryWriter()
        plain.encode(to: &w1)
        var w2 = BinaryWriter()
        batch.encode(to: &w2)
        #expect(w2.bytes.count > w1.bytes.count)
        let plainBack = try w1.bytes.withUnsafeBytes { bytes in
            var r = BinaryReader(bytes)
            return try IngestBatch(from: &r)
        }
        #expect(plainBack.feedMarks.isEmpty && plainBack.feedStamps == batch.feedStamps)
    }

    @Test func inputMayNotUseTheFeedIdsOfTopics() {
        var text = Self.trade("T1", extra: #","feedId":"kafka:trades:0","feedSeq":1"#)
        let batch = text.withUTF8 { BatchDecoder.decodeNDJSON(UnsafeRawBufferPointer($0), receivedAt: Timestamp(micros: 0)) }
        #expect(batch.events.isEmpty)
        #expect(batch.rejected.first?.field == "feedId")
        #expect(batch.rejected.first?.error.contains("names the topic partitions IMS consumes") == true)
    }
}
