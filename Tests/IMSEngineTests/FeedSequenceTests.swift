import IMSDomain
import IMSIngest
import Testing

@testable import IMSEngine

/// At-least-once delivery by feed sequence: `feedId` + `feedSeq` on any event.
struct FeedSequenceTests {
    static func price(_ seq: Int, last: String, feed: String = "BBG") -> String {
        #"{"type":"price","securityId":"AAPL","last":"\#(last)","feedId":"\#(feed)","feedSeq":\#(seq)}"#
    }

    static func stampedTrade(_ id: String, seq: Int) -> String {
        String(Harness.trade(id, qty: 10, date: "2026-11-24").dropLast()) + #","feedId":"OMS","feedSeq":\#(seq)}"#
    }

    @Test func aResentStampIsIgnoredEvenWithoutAVersion() {
        var h = Harness()
        let first = h.ingest([1, 2, 3].map { Self.stampedTrade("F\($0)", seq: $0) }.joined(separator: "\n"))
        #expect(first.accepted == 3 && first.ignored == 0)
        // The same feed position with a different trade id is still the same event: ignored.
        let again = h.ingest(Self.stampedTrade("F-other", seq: 2))
        #expect(again.applied && again.ignored == 1)
        #expect(h.position()?.intradayBuys == 30)
        // Another feed's numbers are its own.
        let other = h.ingest(Self.price(2, last: "101.5", feed: "REUTERS"))
        #expect(other.ignored == 0)
    }

    @Test func aJumpRaisesAFeedGapAndLateEventsFillIt() {
        var h = Harness()
        h.ingest(Self.price(1, last: "100"))
        let jump = h.ingest(Self.price(5, last: "105"))
        #expect(jump.ignored == 0)
        let gaps = h.state.readModel.exceptions(afterId: 0, kind: .feedGap, limit: 10)
        #expect(gaps.count == 1)
        #expect(gaps.first?.message.contains("2…4") == true)
        #expect(gaps.first?.subject == "BBG")
        // 3 arrives late: applied. Sent again: a duplicate.
        #expect(h.ingest(Self.price(3, last: "103")).ignored == 0)
        #expect(h.ingest(Self.price(3, last: "103")).ignored == 1)
        #expect(h.ingest(Self.price(5, last: "105")).ignored == 1)
        #expect(h.state.feeds["BBG"]?.gaps == [2...2, 4...4])
        #expect(h.ingest(Self.price(6, last: "106")).ignored == 0)
        #expect(h.state.readModel.exceptions(afterId: 0, kind: .feedGap, limit: 10).count == 1)
    }

    @Test(arguments: [
        (#"{"type":"price","securityId":"AAPL","last":"1","feedId":"BBG"}"#, "feedSeq"),
        (#"{"type":"price","securityId":"AAPL","last":"1","feedSeq":4}"#, "feedId"),
        (#"{"type":"price","securityId":"AAPL","last":"1","feedId":"BBG","feedSeq":0}"#, "feedSeq"),
        (#"{"type":"price","securityId":"AAPL","last":"1","feedId":"","feedSeq":3}"#, "feedId"),
        (#"{"type":"price","securityId":"AAPL","last":"1","feedId":"BBG","feedSeq":"x"}"#, "feedSeq"),
    ])
    func incompleteOrBadStampsAreRejectedNamingTheField(line: String, field: String) {
        var h = Harness()
        let before = h.state.snapshotImage()
        let outcome = h.ingest(line)
        #expect(!outcome.applied)
        #expect(outcome.rejected.first?.field == field)
        #expect(h.state.snapshotImage() == before)
    }

    @Test func feedStateKeepsAtMostAThousandHoles() {
        var feed = FeedState()
        for i in 0..<1_500 { _ = feed.receive(Int64(i * 2 + 1)) }
        #expect(feed.gaps.count == FeedState.maximumGaps)
        #expect(feed.receive(2_998) == .late)
        #expect(feed.receive(3) == .duplicate, "holes past the limit are forgotten")
    }
}
