import Foundation
import IMSDomain
import IMSIngest
import IMSRules
import Testing

@testable import IMSEngine

/// Buckets per settlement-ladder day (SPEC 4.1), for-loan per day (SPEC 4.2) and JP's quanto rule (SPEC 4.3),
/// figure by figure on a hand-made day in Tokyo (T+2; 2026-11-25 is a Wednesday).
struct LadderInventoryTests {
    static let setup = [
        #"{"type":"marketDayRoll","marketId":"JP","businessDate":"2026-11-25"}"#,
        #"{"type":"security","securityId":"TOYOTA","isin":"JP3633400001","marketId":"JP","currency":"JPY"}"#,
        #"{"type":"security","securityId":"QUANTO","ticker":"QNT","marketId":"JP","currency":"USD"}"#,
        #"{"type":"book","bookId":"FIRM","legalEntity":"PB-JP","positionType":"FIRM"}"#,
        #"{"type":"counterparty","counterpartyId":"L1","name":"Lender","kind":"LENDER"}"#,
    ]

    /// The same day for both securities: 1,000 contractual of which 800 settled and 200 arriving on SD1; a buy of
    /// 300 (settling T+2, SD2); a sale of 1,500 settling on SD4; a borrow of 500 from SD1 to SD3 (it ends that
    /// day); an exclusive lender line of 100 from SD2.
    static func day(_ security: String) -> [String] {
        [
            #"{"type":"sodPosition","businessDate":"2026-11-25","bookId":"FIRM","securityId":"\#(security)","contractualQty":1000,"settledQty":800,"sd1Receipt":200}"#,
            #"{"type":"trade","tradeId":"B-\#(security)","version":1,"status":"NEW","bookId":"FIRM","securityId":"\#(security)","side":"BUY","quantity":300,"price":"10","tradeDate":"2026-11-25"}"#,
            #"{"type":"trade","tradeId":"S-\#(security)","version":1,"status":"NEW","bookId":"FIRM","securityId":"\#(security)","side":"SELL","quantity":1500,"price":"10","tradeDate":"2026-11-25","settleDate":"2026-12-01"}"#,
            #"{"type":"contract","contractId":"C-\#(security)","version":1,"kind":"BORROW","status":"OPEN","bookId":"FIRM","counterpartyId":"L1","securityId":"\#(security)","quantity":500,"rateBps":"25","startDate":"2026-11-26","endDate":"2026-11-30"}"#,
            #"{"type":"availability","sourceId":"L1","securityId":"\#(security)","quantity":100,"availabilityType":"EXCLUSIVE","effectiveDate":"2026-11-27"}"#,
        ]
    }

    func state(partitions: Int = 2) -> EngineState {
        var state = EngineState(partitions: partitions)
        InventoryTests.apply(&state, Self.setup, record: 1)
        InventoryTests.apply(&state, Self.day("TOYOTA") + Self.day("QUANTO"), record: 2)
        return state
    }

    @Test func eachDatedBucketHasItsLadderDays() throws {
        let state = state()
        let view = try #require(state.readModel.inventory("TOYOTA"))
        let ladder = try #require(view.ladder)
        #expect(ladder.map(\.date.description) == ["2026-11-25", "2026-11-26", "2026-11-27", "2026-11-30", "2026-12-01"])
        #expect(ladder.map(\.day) == ["SD0", "SD1", "SD2", "SD3", "SD4"])
        // Positions by projected settled row: 800, 1,000, 1,300, 1,300, then −200 once the sale settles.
        #expect(ladder.map { $0.buckets["LONG.FIRM"] ?? 0 } == [800, 1_000, 1_300, 1_300, 0])
        #expect(ladder.map { $0.buckets["SHORT.FIRM"] ?? 0 } == [0, 0, 0, 0, 200])
        // The borrow is in force on SD1 and SD2 (it ends on SD3); the line counts from SD2.
        #expect(ladder.map { $0.buckets["BORROWED"] ?? 0 } == [0, 500, 500, 0, 0])
        #expect(ladder.map { $0.buckets["EXTERNAL.EXCLUSIVE"] ?? 0 } == [0, 0, 100, 100, 100])
        // As it stands (contractual, every open contract and line): −200, so 200 short; borrowed 500; line 100.
        #expect(view.buckets["LONG.FIRM"] == 0 && view.buckets["SHORT.FIRM"] == 200 && view.buckets["BORROWED"] == 500)
        #expect(view.calculations.forLoan == 600) // 0 + 500 + 100
        #expect(view.calculations.overborrow == 300) // 500 − max(0, 200 + 0 − 0)
        // For-loan per day: LONG.FIRM + BORROWED + EXTERNAL.EXCLUSIVE of each day.
        #expect(ladder.map(\.calculations.forLoan) == [800, 1_500, 1_900, 1_400, 100])
        #expect(ladder.map(\.calculations.forPledge) == [800, 1_500, 1_900, 1_400, 100])
        #expect(ladder.map(\.calculations.locateAvailable) == [800, 1_500, 1_900, 1_400, 100])
    }

    /// JP: a quanto listing (its currency is not the market's) counts its positions only once settled (T+2).
    @Test func japaneseQuantoPositionsCountOnlyOnceSettled() throws {
        let state = state()
        let plain = try #require(state.readModel.inventory("TOYOTA", explain: true))
        let quanto = try #require(state.readModel.inventory("QUANTO", explain: true))
        #expect(plain.explain?.calculations.first?.ruleId == "forLoan")
        let forLoan = try #require(quanto.explain?.calculations.first { $0.calculation == "forLoan" })
        #expect(forLoan.ruleId == "JP.forLoan.quanto" && forLoan.pack == "JP")
        // Today: the settled 800, not the contractual −200; plus the borrow and the line.
        #expect(quanto.calculations.forLoan == 1_400)
        #expect(quanto.calculations.overborrow == 500) // 500 − max(0, 0 + 0 − 800)
        let part = try #require(forLoan.parts.first { $0.name == "LONG.FIRM@SD0" })
        #expect(part.quantity == 800 && part.contribution == 800)
        #expect(quanto.explain?.buckets["LONG.FIRM@SD0"]?.map(\.quantity) == [800])
        // Each ladder day reads its own settled row: the same figures as the plain security's days.
        #expect(quanto.ladder?.map(\.calculations.forLoan) == [800, 1_500, 1_900, 1_400, 100])
        let sd2 = try #require(quanto.ladder?[2].explain?.calculations.first { $0.calculation == "forLoan" })
        #expect(sd2.parts.first { $0.name?.hasPrefix("LONG.FIRM@") == true }?.name == "LONG.FIRM@SD2")
        #expect(quanto.ladder?[2].explain?.buckets["LONG.FIRM@SD2"]?.map(\.quantity) == [1_300])
        // Every explained number is the sum of its parts, on every day.
        for view in [plain, quanto] {
            for explanation in [view.explain!] + view.ladder!.map(\.explain!) {
                for c in explanation.calculations { #expect(c.parts.reduce(0) { $0 + $1.contribution } == c.value, "\(view.securityId) \(c.calculation)") }
                for (name, sources) in explanation.buckets where name.contains("@") {
                    let value = explanation.calculations.flatMap(\.parts).first { $0.name == name }?.quantity
                    #expect(value == nil || sources.reduce(0) { $0 + $1.quantity } == value, "\(name)")
                }
            }
        }
    }

    /// The day roll moves the ladder: positions' rows shift, the borrow leaves SD2, the line enters SD1.
    @Test(arguments: [1, 2, 4])
    func theDayRollMovesEveryDay(partitions: Int) throws {
        var state = state(partitions: partitions)
        InventoryTests.apply(&state, [#"{"type":"marketDayRoll","marketId":"JP","businessDate":"2026-11-26"}"#], record: 3)
        let ladder = try #require(state.readModel.inventory("TOYOTA")?.ladder)
        #expect(ladder.first?.date.description == "2026-11-26")
        #expect(ladder.map { $0.buckets["LONG.FIRM"] ?? 0 } == [1_000, 1_300, 1_300, 0, 0])
        #expect(ladder.map { $0.buckets["BORROWED"] ?? 0 } == [500, 500, 0, 0, 0])
        #expect(ladder.map { $0.buckets["EXTERNAL.EXCLUSIVE"] ?? 0 } == [0, 100, 100, 100, 100])
        #expect(ladder.map(\.calculations.forLoan) == [1_500, 1_900, 1_400, 100, 100])
        // The quanto listing today: its settled 1,000, the borrow, and the line (as it stands, whatever its date).
        #expect(state.readModel.inventory("QUANTO")?.calculations.forLoan == 1_600)
        // Kept event by event, equal to a recomputation (ladder days included); and after a snapshot reload.
        #expect(state.inventoryFigures() == state.inventoryFromScratch())
        let loaded = try state.snapshotImage().withUnsafeBytes { try EngineState(snapshotImage: $0) }
        #expect(loaded.inventoryFigures() == state.inventoryFigures())
        // A contract and a line that arrive before their market has a date get their days when it gets one.
        var fresh = EngineState(partitions: partitions)
        InventoryTests.apply(&fresh, Array(Self.setup.dropFirst()) + Array(Self.day("TOYOTA").suffix(2)), record: 1)
        InventoryTests.apply(&fresh, [#"{"type":"marketDayRoll","marketId":"JP","businessDate":"2026-11-25"}"#], record: 2)
        #expect(fresh.readModel.inventory("TOYOTA")?.ladder?.map(\.calculations.forLoan) == [0, 500, 600, 100, 100])
    }
}
