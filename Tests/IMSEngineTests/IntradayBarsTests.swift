import Foundation
import IMSDomain
import IMSIngest
import Testing

@testable import IMSEngine

/// The day so far for the drill-down's price chart (issue 26, 9): ticks become 5-minute bars, bounded,
/// timed by the tick's own time (else its record's), kept in the snapshot, and started afresh on the
/// market's next business date.
struct IntradayBarsTests {
    static func price(_ last: String, _ ts: String, security: String = "AAPL") -> String {
        #"{"type":"price","securityId":"\#(security)","last":"\#(last)","ts":"\#(ts)"}"#
    }

    @Test func ticksBecomeBarsThatTheSnapshotKeeps() throws {
        var h = Harness()
        h.ingest(
            [
                Self.price("100", "2026-11-24T14:30:05Z"), Self.price("103", "2026-11-24T14:31:00Z"), Self.price("99.5", "2026-11-24T14:34:59Z"),
                Self.price("101", "2026-11-24T14:35:00Z"), Self.price("102", "2026-11-24T14:52:10Z"),
            ].joined(separator: "\n"))
        let view = try #require(h.state.readModel.intradayBars("US0378331005")) // by ISIN too
        #expect(view.securityId == "AAPL" && view.intervalMinutes == 5 && view.businessDate?.description == "2026-11-24")
        let d = { (text: String) in Decimal8(text)! }
        #expect(view.bars.map(\.start.description) == ["2026-11-24T14:30:00Z", "2026-11-24T14:35:00Z", "2026-11-24T14:50:00Z"])
        #expect(view.bars[0] == PriceBar(start: view.bars[0].start, open: d("100"), high: d("103"), low: d("99.5"), close: d("99.5"), ticks: 3))
        #expect(view.bars.map(\.ticks) == [3, 1, 1] && view.bars[2].close == d("102"))
        // A tick older than the last one is ignored, as the last price ignores it: the bars do not move.
        h.ingest(Self.price("98", "2026-11-24T14:31:30Z"))
        let late = try #require(h.state.readModel.intradayBars("AAPL"))
        #expect(late == view)
        // A tick without a time of its own is timed by its record (the batch's receipt, here 1970-01-01):
        // an earlier interval than the open bar's, so it goes into the bar being built.
        h.ingest(#"{"type":"price","securityId":"AAPL","last":"97"}"#)
        let untimed = try #require(h.state.readModel.intradayBars("AAPL"))
        #expect(untimed.bars.count == 3 && untimed.bars[2].low == d("97") && untimed.bars[2].close == d("97") && untimed.bars[2].ticks == 2)
        // The snapshot keeps the bars: a restored state answers the same, and writes the same image.
        let image = h.state.snapshotImage()
        let restored = try image.withUnsafeBytes { try EngineState(snapshotImage: $0) }
        #expect(restored.readModel.intradayBars("AAPL") == untimed)
        #expect(restored.snapshotImage() == image)
        // An image written before the section existed loads with no bars (the next tick starts them).
        let old = h.state.snapshotImage(leavingOut: IntradayBarsPart.self)
        let older = try old.withUnsafeBytes { try EngineState(snapshotImage: $0) }
        #expect(older.readModel.intradayBars("AAPL")?.bars == [])
        // The market rolls: yesterday's bars are no longer answered; the new day's first tick starts afresh.
        h.ingest(#"{"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}"#)
        #expect(h.state.readModel.intradayBars("AAPL")?.bars == [])
        h.ingest(Self.price("104", "2026-11-25T14:30:00Z"))
        #expect(h.state.readModel.intradayBars("AAPL")?.bars.map(\.open) == [d("104")])
        #expect(h.state.readModel.intradayBars("NOPE") == nil)
    }

    @Test func aDayIsTheBound() {
        let day = BusinessDate(parsing: "2026-11-24")
        var bars = IntradayBars(date: day)
        let start = Timestamp(micros: 1_795_000_000_000_000)
        for k in 0..<(IntradayBars.capacity + 50) {
            bars.add(Decimal8(k + 1), at: Timestamp(micros: start.micros + Int64(k) * IntradayBars.width), date: day)
        }
        #expect(bars.all.count == IntradayBars.capacity)
        #expect(bars.all.first?.open == Decimal8(51) && bars.all.last?.open == Decimal8(IntradayBars.capacity + 50))
    }
}
