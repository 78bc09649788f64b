import Foundation
import IMSDomain
import IMSEngine
import IMSIngest
import IMSRules
import Testing

struct PositionTests {
    @Test func aTradeLandsOnItsSettlementDayAndIntradayFigures() {
        var h = Harness()
        h.ingest(
            #"{"type":"sodPosition","businessDate":"2026-11-24","bookId":"FIRM1","securityId":"AAPL","contractualQty":1000,"settledQty":800,"sd1Receipt":200}"#)
        h.ingest(
            [Harness.trade("T1", qty: 300), Harness.trade("T2", side: "SELL", qty: 50), Harness.trade("T3", side: "SELL_SHORT", qty: 70)].joined(
                separator: "\n"))
        let p = h.position()!
        #expect(p.businessDate?.description == "2026-11-24")
        #expect(p.ladder.map(\.date.description) == ["2026-11-24", "2026-11-25", "2026-11-27", "2026-11-30", "2026-12-01"])
        #expect(p.intradayBuys == 300 && p.intradaySells == 50 && p.intradayShortSells == 70)
        #expect(p.contractualQty == 1000 + 300 - 50 - 70)
        #expect(p.settledQty == 800)
        // US T+1 from 2026-11-24 settles 2026-11-25 = SD1.
        #expect(p.ladder[1].receipt == 200 + 300)
        #expect(p.ladder[1].deliver == 120)
        #expect(p.ladder.map(\.projectedSettled) == [800, 1180, 1180, 1180, 1180])
        #expect(p.projectedNetPosition == 1180)
    }

    @Test func settleDatesOffTheCalendarMoveToTheNextSettlementDayAndPastSD4GoLater() {
        var h = Harness()
        h.ingest(
            [
                Harness.trade("T1", qty: 10, settle: "2026-11-26"), // Thanksgiving: next settlement day SD2 (11-27)
                Harness.trade("T2", qty: 20, settle: "2026-12-10"),
            ].joined(separator: "\n"))
        let p = h.position()!
        #expect(p.ladder[2].receipt == 10)
        #expect(p.later.receipt == 20)
        #expect(p.later.entries.first?.date.description == "2026-12-10")
        #expect(p.projectedNetPosition == 10)
    }

    @Test func amendCancelAndLateOlderVersions() {
        var h = Harness()
        h.ingest(Harness.trade("T1", v: 1, qty: 100))
        h.ingest(Harness.trade("T1", v: 2, status: "AMEND", side: "SELL", qty: 40))
        #expect(h.position()!.intradayBuys == 0)
        #expect(h.position()!.intradaySells == 40)
        let late = h.ingest(Harness.trade("T1", v: 1, qty: 100))
        #expect(late.ignored == 1)
        #expect(h.position()!.intradaySells == 40)
        h.ingest(Harness.trade("T1", v: 3, status: "CANCEL", side: "SELL", qty: 40))
        let p = h.position()!
        #expect(p.intradaySells == 0 && p.contractualQty == 0 && p.ladder.allSatisfy { $0.deliver == 0 })
        let dup = h.ingest(Harness.trade("T1", v: 3, status: "CANCEL", side: "SELL", qty: 40))
        #expect(dup.accepted == 1 && dup.ignored == 1)
    }

    @Test func anAmendCanMoveATradeToAnotherBook() {
        var h = Harness()
        h.ingest(Harness.trade("T1", qty: 100))
        h.ingest(Harness.trade("T1", v: 2, status: "AMEND", book: "CL1", qty: 60))
        #expect(h.position("FIRM1")!.contractualQty == 0)
        #expect(h.position("CL1")!.contractualQty == 60)
    }

    @Test(arguments: 0..<25)
    func arrivalOrderOfVersionsDoesNotMatter(seed: Int) {
        // Several trades, each with NEW / AMEND / CANCEL versions, delivered in a random order with duplicates.
        var rng = SimulationRandom(seed: UInt64(seed))
        var lines: [String] = []
        for t in 0..<6 {
            let versions = 1 + rng.below(4)
            for v in 1...versions {
                let status = v == 1 ? "NEW" : (rng.below(4) == 0 ? "CANCEL" : "AMEND")
                let side = ["BUY", "SELL", "SELL_SHORT", "BUY_COVER"][rng.below(4)]
                let settle = ["2026-11-24", "2026-11-25", "2026-12-15", "2026-11-27"][rng.below(4)]
                lines.append(
                    Harness.trade(
                        "T\(t)", v: v, status: status, book: rng.below(2) == 0 ? "FIRM1" : "CL1", side: side,
                        qty: 10 * (1 + rng.below(9)), settle: settle))
            }
        }
        var inOrder = Harness()
        for l in lines { inOrder.ingest(l) }
        var shuffled = lines + lines.prefix(3)
        shuffled.shuffle(using: &rng)
        var permuted = Harness()
        for l in shuffled { permuted.ingest(l) }
        for book in ["FIRM1", "CL1"] {
            #expect(inOrder.position(book) == permuted.position(book))
        }
    }

    @Test func aReplacementSODKeepsTheDaysTrades() {
        var h = Harness()
        h.ingest(Harness.trade("T1", qty: 100))
        h.ingest(
            #"{"type":"sodPosition","businessDate":"2026-11-24","bookId":"FIRM1","securityId":"AAPL","contractualQty":500,"settledQty":500,"sd1Deliver":30}"#)
        var p = h.position()!
        #expect(p.contractualQty == 600)
        #expect(p.ladder[1].receipt == 100 && p.ladder[1].deliver == 30)
        h.ingest(#"{"type":"sodPosition","businessDate":"2026-11-24","bookId":"FIRM1","securityId":"AAPL","contractualQty":700,"settledQty":650}"#)
        p = h.position()!
        #expect(p.contractualQty == 800 && p.settledQty == 650)
        #expect(p.ladder[1].receipt == 100 && p.ladder[1].deliver == 0)
        #expect(p.sodReceived)
    }

    @Test func tradesOfEarlierDatesAreIgnoredWithAnExceptionAfterTheSnapshot() {
        var h = Harness()
        h.ingest(Harness.trade("OLD1", date: "2026-11-23"))
        #expect(h.position() == nil)
        #expect(h.state.readModel.exceptions().isEmpty)
        h.ingest(#"{"type":"sodPosition","businessDate":"2026-11-24","bookId":"FIRM1","securityId":"AAPL","contractualQty":5,"settledQty":5}"#)
        h.ingest(Harness.trade("OLD2", date: "2026-11-23"))
        #expect(h.position()!.contractualQty == 5)
        #expect(h.state.readModel.exceptions().map(\.kind) == [.lateTrade])
    }

    @Test func aTradeDatedAfterTheBusinessDateIsRejected() {
        var h = Harness()
        let o = h.ingest(Harness.trade("F1", date: "2026-11-25"))
        #expect(!o.applied)
        #expect(o.rejected.map(\.field) == ["tradeDate"])
    }

    @Test func dayRollWithoutSnapshotRollsSettledAndShiftsTheLadder() {
        var h = Harness()
        h.ingest(
            #"{"type":"sodPosition","businessDate":"2026-11-24","bookId":"FIRM1","securityId":"AAPL","contractualQty":1000,"settledQty":900,"sd0Receipt":100,"sd1Receipt":40,"sd2Deliver":25}"#
        )
        h.ingest([Harness.trade("T1", qty: 300), Harness.trade("T2", qty: 7, settle: "2026-12-10")].joined(separator: "\n"))
        h.ingest(#"{"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}"#)
        let p = h.position()!
        #expect(p.businessDate?.description == "2026-11-25")
        #expect(p.settledQty == 1000) // yesterday's SD0 row
        #expect(p.contractualQty == 1307)
        #expect(p.intradayBuys == 0 && p.intradaySells == 0 && p.intradayShortSells == 0)
        #expect(p.ladder[0].date.description == "2026-11-25")
        #expect(p.ladder[0].receipt == 340) // old SD1 (11-25) incl. the T+1 trade
        #expect(p.ladder[1].deliver == 25) // old SD2 (11-27) is now SD1
        #expect(!p.sodReceived)
        // The T+12 trade enters the ladder once its date is within SD4.
        h.ingest(#"{"type":"marketDayRoll","marketId":"US","businessDate":"2026-12-04"}"#)
        let q = h.position()!
        #expect(q.later.receipt == 0)
        #expect(q.ladder.first { $0.date.description == "2026-12-10" }?.receipt == 7)
        #expect(q.settledQty == 1000 + 340 - 25)
        // A re-sent roll changes nothing.
        #expect(h.ingest(#"{"type":"marketDayRoll","marketId":"US","businessDate":"2026-12-04"}"#).ignored == 1)
    }

    @Test func dayRollAppliesASnapshotThatArrivedEarly() {
        var h = Harness()
        h.ingest(Harness.trade("T1", qty: 300))
        h.ingest(#"{"type":"sodPosition","businessDate":"2026-11-25","bookId":"FIRM1","securityId":"AAPL","contractualQty":42,"settledQty":40,"sd0Receipt":2}"#)
        #expect(h.position()!.contractualQty == 300)
        h.ingest(#"{"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}"#)
        let p = h.position()!
        #expect(p.contractualQty == 42 && p.settledQty == 40 && p.ladder[0].receipt == 2 && p.sodReceived)
        // The roll retired yesterday's trades: re-sending one is an old-dated trade, not a new effect.
        h.ingest(Harness.trade("T1", v: 2, status: "AMEND", qty: 999, date: "2026-11-24"))
        #expect(h.position()!.contractualQty == 42)
    }

    @Test func rollsOnlyTheMarketThatRolls() {
        var h = Harness()
        h.ingest(Harness.trade("J1", security: "TOYOTA", qty: 100))
        h.ingest(#"{"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}"#)
        let p = h.position("FIRM1", "TOYOTA")!
        #expect(p.businessDate?.description == "2026-11-24")
        #expect(p.intradayBuys == 100)
        // JP T+2 from 11-24 settles 11-26 (SD2).
        #expect(p.ladder[2].receipt == 100)
    }

    @Test func aDayRollBackwardsIsRejected() {
        var h = Harness()
        let o = h.ingest(#"{"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-20"}"#)
        #expect(o.rejected.map(\.field) == ["businessDate"])
    }
}

struct PositionJSONTests {
    /// The hand-written JSON of a position is what `JSONEncoder` with sorted keys writes, byte for byte.
    @Test func handWrittenJSONEqualsTheEncoder() throws {
        var h = Harness()
        h.ingest(Harness.trade("J1", qty: 300, date: "2026-11-24"))
        h.ingest(Harness.trade("J2", side: "SELL_SHORT", qty: 120, date: "2026-11-24", settle: "2026-12-15"))
        h.ingest(Harness.trade("J3", book: "CL1", qty: 5, date: "2026-11-24"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let views = h.state.readModel.positions(matching: PositionFilter(), offset: 0, limit: 100).items
        #expect(views.count == 2)
        #expect(views.contains { !$0.later.entries.isEmpty })
        for view in views {
            #expect(view.json == String(decoding: try encoder.encode(view), as: UTF8.self))
        }
        let page = h.state.readModel.positions(matching: PositionFilter(), offset: 1, limit: 5)
        #expect(page.items.count == 1 && page.total == 2)
        #expect(page.json == String(decoding: try encoder.encode(page), as: UTF8.self))
    }
}

struct InventoryJSONTests {
    /// The hand-written JSON of an inventory listing page (the dashboard's first request) is what
    /// `JSONEncoder` with sorted keys writes, byte for byte: priced and unpriced rows, other currencies,
    /// negative figures.
    @Test func handWrittenInventoryJSONEqualsTheEncoder() throws {
        var h = Harness()
        h.ingest(#"{"type":"security","securityId":"EURX","ticker":"EUX","name":"Euro \"X\" AG","marketId":"DE","currency":"EUR","temperature":"WARM"}"#)
        h.ingest(#"{"type":"fxRate","currency":"EUR","usdRate":"1.0834"}"#)
        h.ingest(#"{"type":"price","securityId":"EURX","last":"187.123"}"#)
        h.ingest(#"{"type":"price","securityId":"AAPL","last":"231.07"}"#)
        h.ingest(Harness.trade("I1", qty: 300, date: "2026-11-24"))
        h.ingest(Harness.trade("I2", side: "SELL_SHORT", qty: 1_200, date: "2026-11-24"))
        h.ingest(
            #"{"type":"availability","sourceId":"L1","securityId":"EURX","quantity":70000,"availabilityType":"INDICATIVE","rateBps":"12","effectiveDate":"2026-11-24"}"#
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let page = h.state.readModel.inventoryRows(marketId: nil, region: nil, sort: .securityId, offset: 0, limit: 100)
        #expect(page.items.count >= 2)
        #expect(page.items.contains { $0.usdValues != nil } && page.items.contains { $0.usdValues == nil || $0.lastPrice == nil })
        // The ticker and name (with a quote in it) are the reference data's; a row without them leaves them out.
        #expect(page.items.contains { $0.ticker == "EUX" && $0.name == "Euro \"X\" AG" && $0.temperature == .warm })
        #expect(page.items.contains { $0.ticker == nil && $0.name == nil })
        #expect(page.items.contains { $0.calculations.forLoan < 0 || $0.shortQuantity > 0 })
        #expect(page.json == String(decoding: try encoder.encode(page), as: UTF8.self))
    }
}

struct DecisionJSONTests {
    /// The hand-written JSON of locate and order answers (on the decision path) is what `JSONEncoder` with
    /// sorted keys writes, byte for byte: with and without optional fields, checks, fills and history.
    @Test func handWrittenDecisionJSONEqualsTheEncoder() throws {
        var h = Harness()
        h.ingest(#"{"type":"aggregationUnit","aggregationUnitId":"AU-US","name":"US","marketId":"US","legalEntity":"PB-US","unitType":"NET","isDefault":true}"#)
        h.ingest(#"{"type":"sodPosition","businessDate":"2026-11-24","bookId":"CL1","securityId":"AAPL","contractualQty":500,"settledQty":500}"#)
        h.ingest(
            #"{"type":"availability","sourceId":"L1","securityId":"AAPL","quantity":900,"availabilityType":"FIRM","rateBps":"35.5","effectiveDate":"2026-11-24"}"#
        )
        func run(_ event: Event) {
            _ = h.state.process(IngestBatch(receivedAt: Timestamp(micros: 1_795_000_000_123_456), events: [event], lines: [1]))
        }
        run(
            Event(
                LocateCommand(action: .request, requestId: "r1", clientId: "C1", securityId: "AAPL", quantity: 300, side: .short, settlement: .cash, user: "u"))
        )
        run(Event(LocateCommand(action: .request, requestId: "r2", clientId: "C1", securityId: "NOPE", quantity: 5, side: .short, settlement: .swap)))
        run(Event(OrderCommand(orderId: "o1", clientId: "C1", bookId: "CL1", securityId: "AAPL", side: .sell, quantity: 200, price: Decimal8("10.25")!)))
        run(Event(OrderCommand(orderId: "o2", clientId: "C1", bookId: "CL1", securityId: "AAPL", side: .sellShort, quantity: 5_000, price: Decimal8(0))))
        run(Event(OrderCommand(orderId: "o3", clientId: "C1", bookId: "NOBOOK", securityId: "AAPL", side: .sell, quantity: 1, price: Decimal8(1))))
        h.ingest(
            #"{"type":"trade","tradeId":"T1","version":1,"status":"NEW","orderId":"o1","bookId":"CL1","securityId":"AAPL","side":"SELL","quantity":150,"price":10.5,"tradeDate":"2026-11-24"}"#
        )
        run(Event(OrderCancelCommand(orderId: "o1", clientId: "C1", reason: "done", user: "u")))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let model = h.state.readModel
        #expect(model.order(clientId: "C1", orderId: "o1")?.cancellation?.quantity == 50)
        let orders = ["o1", "o2", "o3"].compactMap { model.order(clientId: "C1", orderId: $0) }
        #expect(orders.count == 3 && orders[0].fills.count == 1 && !orders[1].reasons.isEmpty)
        for view in orders { #expect(view.json == String(decoding: try encoder.encode(view), as: UTF8.self)) }
        let locates = model.locates(matching: LocateFilter(), offset: 0, limit: 10).items
        #expect(locates.count == 2 && locates.contains { $0.rateBps != nil })
        for view in locates { #expect(view.json == String(decoding: try encoder.encode(view), as: UTF8.self)) }
    }
}
