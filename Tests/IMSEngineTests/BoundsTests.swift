import Foundation
import IMSDomain
import IMSIngest
import Testing

@testable import IMSEngine

/// No input can make a figure leave the 64-bit range: each reproduction of issue 10 (which trapped the
/// process, at apply or at the first read) is now refused with its line and field, changing nothing.
struct BoundsTests {
    @Test func twoHugeTradesAreRefusedByTheQuantityBound() {
        var h = Harness()
        let before = h.state.snapshotImage()
        let outcome = h.ingest(
            [Harness.trade("T1", qty: 5_000_000_000_000_000_000 / 2), Harness.trade("T2", qty: 5_000_000_000_000_000_000 / 2)].joined(separator: "\n"))
        #expect(!outcome.applied)
        #expect(outcome.rejected.map(\.line) == [1, 2])
        #expect(outcome.rejected.allSatisfy { $0.field == "quantity" })
        #expect(h.state.snapshotImage() == before)
        let sells = h.ingest(
            [Harness.trade("S1", side: "SELL", qty: 9_000_000_000_000_000_000), Harness.trade("S2", side: "SELL", qty: 9_000_000_000_000_000_000)].joined(
                separator: "\n"), mode: .partial)
        #expect(sells.accepted == 0 && sells.rejected.count == 2)
        #expect(h.position() == nil)
    }

    @Test func theLargestQuantityIsAcceptedAndOneMoreIsNot() {
        var h = Harness()
        #expect(h.ingest(Harness.trade("T1", qty: Int(InputBounds.maxQuantity))).applied)
        let over = h.ingest(Harness.trade("T2", qty: Int(InputBounds.maxQuantity) + 1))
        #expect(over.rejected.first?.field == "quantity")
        #expect(h.position()!.intradayBuys == InputBounds.maxQuantity)
    }

    @Test(arguments: ["settledQty", "contractualQty", "sd0Receipt", "sd4Deliver"])
    func hugeSODFiguresAreRefused(field: String) {
        var h = Harness()
        let sod =
            #"{"type":"sodPosition","businessDate":"2026-11-24","bookId":"FIRM1","securityId":"AAPL","contractualQty":1,"settledQty":1,"\#(field)":9000000000000000000}"#
            .replacingOccurrences(of: #""\#(field)":1,"#, with: "")
        let outcome = h.ingest(sod)
        #expect(outcome.rejected.map(\.field) == [field])
        #expect(h.position() == nil)
    }

    @Test func feedSequencesAboveTheBoundAreRefusedAndTheLargestIsSafe() {
        var h = Harness()
        let price = #"{"type":"price","securityId":"AAPL","last":10,"feedId":"F","feedSeq":SEQ}"#
        let top = h.ingest(price.replacingOccurrences(of: "SEQ", with: "9223372036854775807"))
        #expect(top.rejected.map(\.field) == ["feedSeq"])
        #expect(h.ingest(price.replacingOccurrences(of: "SEQ", with: String(InputBounds.maxFeedSequence))).applied)
        // 5 fills part of the hole below the top (a late event); the same again is a duplicate.
        #expect(h.ingest(price.replacingOccurrences(of: "SEQ", with: "5")).ignored == 0)
        #expect(h.ingest(price.replacingOccurrences(of: "SEQ", with: "5")).ignored == 1)
    }

    @Test func aFeedStateAtTheTopOfTheRangeDoesNotTrap() {
        var feed = FeedState(high: .max)
        #expect(feed.receive(.max) == .duplicate)
        #expect(feed.receive(7) == .duplicate)
    }

    @Test func datesOutsideTheCalendarsAreRefused() {
        var h = Harness()
        let before = h.state.snapshotImage()
        #expect(h.ingest(#"{"type":"marketDayRoll","marketId":"US","businessDate":"9999-12-31"}"#).rejected.map(\.field) == ["businessDate"])
        #expect(h.ingest(#"{"type":"marketDayRoll","marketId":"US","businessDate":"2030-12-30"}"#).rejected.map(\.field) == ["businessDate"])
        #expect(h.ingest(Harness.trade("T1", settle: "2062-01-02")).rejected.map(\.field) == ["settleDate"])
        #expect(h.state.snapshotImage() == before)

        // A market with no business date yet must not take one from a trade dated 2062.
        var fresh = Harness(
            reference: #"{"type":"security","securityId":"AAPL","marketId":"US"}"# + "\n"
                + #"{"type":"book","bookId":"FIRM1","legalEntity":"PB-US","positionType":"FIRM"}"#)
        let far = fresh.ingest(Harness.trade("T1", date: "2062-01-02"))
        #expect(far.rejected.map(\.field) == ["tradeDate"])
        #expect(fresh.state.readModel.market("US")?.businessDate == nil)
    }

    @Test func pricesRatesAndVersionsHaveBounds() {
        var h = Harness()
        #expect(h.ingest(#"{"type":"price","securityId":"AAPL","last":10,"previousClose":9000000000}"#).rejected.map(\.field) == ["previousClose"])
        #expect(h.ingest(#"{"type":"fxRate","currency":"EUR","usdRate":90000000}"#).rejected.map(\.field) == ["usdRate"])
        #expect(h.ingest(Harness.trade("T1", v: 1 << 60)).rejected.map(\.field) == ["version"])
    }

    // MARK: The position bound

    /// A state whose positions may hold at most `bound` in their figures' magnitudes.
    static func harness(bound: Int64, partitions: Int = 2) -> Harness {
        var h = Harness(reference: "")
        h.state = EngineState(partitions: partitions)
        h.ingest(Harness.reference)
        h.state.positionMassBound = bound
        return h
    }

    @Test func aTradeThatWouldTakeItsPositionOverTheBoundIsRefused() {
        var h = Self.harness(bound: 1_000)
        #expect(h.ingest(Harness.trade("T1", qty: 400)).applied) // mass 800
        let over = h.ingest(Harness.trade("T2", qty: 101))
        #expect(!over.applied && over.rejected.map(\.field) == ["quantity"])
        #expect(over.rejected.first?.error.contains("FIRM1") == true)
        #expect(h.ingest(Harness.trade("T3", qty: 100)).applied) // exactly 1,000
        #expect(h.position()!.intradayBuys == 500)
        // Another position is unaffected.
        #expect(h.ingest(Harness.trade("T4", book: "CL1", qty: 400)).applied)
    }

    @Test(arguments: [1, 2, 4])
    func withinOneBatchTheLineThatCrossesIsNamedWhateverThePath(partitions: Int) {
        // 300 trades of 2 (mass 4 each) on one position, bound 1,000: line 251 would reach 1,004.
        let lines = (1...300).map { Harness.trade("T\($0)", qty: 2) }.joined(separator: "\n")
        var atomic = Self.harness(bound: 1_000, partitions: partitions)
        let refused = atomic.ingest(lines)
        #expect(!refused.applied)
        #expect(refused.rejected.first?.line == 251 && refused.rejected.count == 50)
        #expect(atomic.position() == nil)

        var partial = Self.harness(bound: 1_000, partitions: partitions)
        let applied = partial.ingest(lines, mode: .partial)
        #expect(applied.accepted == 250 && applied.rejected.count == 50)
        #expect(partial.position()!.intradayBuys == 500)
    }

    @Test func anSODSnapshotCountsItsFiguresAgainstTheBound() {
        var h = Self.harness(bound: 1_000)
        #expect(h.ingest(Harness.trade("T1", qty: 300)).applied) // mass 600
        let sod = #"{"type":"sodPosition","businessDate":"2026-11-24","bookId":"FIRM1","securityId":"AAPL","contractualQty":300,"settledQty":200}"#
        #expect(h.ingest(sod).rejected.map(\.field) == ["contractualQty"])
        #expect(h.ingest(sod.replacingOccurrences(of: "300", with: "100")).applied)
        #expect(h.position()!.sodContractualQty == 100)
    }

    @Test func massIsAnUpperBoundOfEveryFigureAfterRandomFlows() {
        // The claim the bound rests on: contractual and every projected row are within the position's mass.
        var h = Harness()
        var lines: [String] = []
        for i in 0..<400 {
            let side = ["BUY", "SELL", "SELL_SHORT", "BUY_COVER"][i % 4]
            lines.append(
                Harness.trade(
                    "T\(i % 150)", v: i / 150 + 1, status: i >= 150 ? (i % 7 == 0 ? "CANCEL" : "AMEND") : "NEW",
                    book: i % 3 == 0 ? "CL1" : "FIRM1", side: side, qty: 1 + (i * 37) % 1000,
                    settle: i % 5 == 0 ? "2026-12-\(10 + i % 15)" : nil))
        }
        h.ingest(lines.joined(separator: "\n"), mode: .partial)
        h.ingest(#"{"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}"#)
        for book in ["FIRM1", "CL1"] {
            guard let p = h.position(book) else { Issue.record("no position"); continue }
            let bound = h.state.massCeilings[Int(h.state.marketIds.lookup("US")!)]
            #expect(abs(p.contractualQty) <= bound)
            #expect(p.ladder.allSatisfy { abs($0.projectedSettled) <= bound })
        }
    }
}
