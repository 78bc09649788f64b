import Foundation
import IMSDomain
import Testing

struct CalendarTests {
    let catalog = MarketCatalog.embedded

    func settle(_ market: String, _ trade: String) -> String {
        let m = catalog.markets[market]!, c = catalog.calendars[market]!
        let d = BusinessDate(parsing: trade)!
        return c.addingSettlementDays(m.settlementDays(forTradeDate: d), to: d).description
    }

    @Test(
        "US T+1 skips Thanksgiving and the Fed's Columbus Day",
        arguments: [
            ("2026-11-25", "2026-11-27"), // Thanksgiving 11-26
            ("2026-10-09", "2026-10-13"), // Columbus Day 10-12 trades but does not settle
            ("2026-11-10", "2026-11-12"), // Veterans Day 11-11
            ("2026-11-27", "2026-11-30"),
            ("2024-05-24", "2024-05-29"), // still T+2 before 2024-05-28
        ])
    func usSettlement(trade: String, expected: String) {
        #expect(settle("US", trade) == expected)
    }

    @Test(
        "JP T+2 around Labour Thanksgiving Day 2026-11-23",
        arguments: [
            ("2026-11-19", "2026-11-24"), ("2026-11-20", "2026-11-25"), ("2026-11-24", "2026-11-26"),
        ])
    func jpSettlement(trade: String, expected: String) {
        #expect(settle("JP", trade) == expected)
    }

    @Test("UK, EU and CH move from T+2 to T+1 on 2027-10-11", arguments: ["UK", "DE", "FR", "NL", "CH"])
    func europeMovesToT1(market: String) {
        let m = catalog.markets[market]!
        #expect(m.settlementDays(forTradeDate: BusinessDate(parsing: "2027-10-08")!) == 2)
        #expect(m.settlementDays(forTradeDate: BusinessDate(parsing: "2027-10-11")!) == 1)
    }

    @Test func tradingAndSettlementCalendarsDiffer() {
        let us = catalog.calendars["US"]!
        let columbus = BusinessDate(parsing: "2026-10-12")!
        #expect(us.isTradingDay(columbus))
        #expect(!us.isSettlementDay(columbus))
        let de = catalog.calendars["DE"]!
        let christmasEve = BusinessDate(parsing: "2026-12-24")!
        #expect(!de.isTradingDay(christmasEve))
        #expect(de.isSettlementDay(christmasEve)) // T2S settles when Xetra is closed
    }

    @Test func everyRequiredMarketHasCalendarsFor2020Through2030() {
        for id in ["US", "CA", "UK", "DE", "FR", "NL", "CH", "HK", "JP", "KR", "TW", "AU", "SG", "IN"] {
            let c = catalog.calendars[id]
            #expect(c != nil, "missing \(id)")
            #expect(c?.covers(BusinessDate(parsing: "2020-01-01")!) == true)
            #expect(c?.covers(BusinessDate(parsing: "2030-12-31")!) == true)
            #expect((c?.tradingHolidays.count ?? 0) > 30, "\(id) has too few holidays")
        }
        #expect(catalog.calendars["SG"]!.holidaysPublishedThrough < BusinessDate(parsing: "2030-12-31")!)
    }

    @Test func embeddedDataMatchesTheDataFolder() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let markets = try Data(contentsOf: root.appendingPathComponent("data/markets.json"))
        var calendars: [String: [UInt8]] = [:]
        for id in catalog.marketIds {
            calendars[id] = Array(try Data(contentsOf: root.appendingPathComponent("data/calendars/\(id).json")))
        }
        let fromFiles = try MarketCatalog(marketsJSON: Array(markets), calendarJSON: calendars)
        #expect(fromFiles.marketIds == catalog.marketIds)
        for id in catalog.marketIds {
            #expect(fromFiles.calendars[id] == catalog.calendars[id])
            #expect(fromFiles.markets[id] == catalog.markets[id])
        }
    }

    @Test func ladderDatesStartAtTEvenWhenTIsNotASettlementDay() {
        let us = catalog.calendars["US"]!
        let ladder = us.ladderDates(businessDate: BusinessDate(parsing: "2026-10-12")!).map(\.description)
        #expect(ladder == ["2026-10-12", "2026-10-13", "2026-10-14", "2026-10-15", "2026-10-16"])
    }
}

struct ValueTests {
    @Test(arguments: ["2026-02-29", "2026-13-01", "2026-1-01", "26-01-01", "2026-01-32", "abcd-ef-gh", ""])
    func invalidDatesDoNotParse(text: String) {
        #expect(BusinessDate(parsing: text) == nil)
    }

    @Test func datesRoundTripAndKnowTheirWeekday() {
        let d = BusinessDate(parsing: "2026-11-25")!
        #expect(d.description == "2026-11-25")
        #expect(d.weekday == 3)
        #expect(BusinessDate(parsing: "2024-02-29")!.adding(days: 1).description == "2024-03-01")
        #expect(BusinessDate(parsing: "1969-12-31")!.dayNumber == -1)
    }

    @Test func decimalsAreExact() {
        #expect(Decimal8("187.23")!.units == 18_723_000_000)
        #expect(Decimal8("-0.00000001")!.units == -1)
        #expect(Decimal8("1.5e2")!.description == "150")
        #expect(Decimal8("0.123456789") == nil)
        #expect(Decimal8("1.") == nil)
        #expect(Decimal8("99999999999") == nil)
    }

    @Test func timestampsParseOffsetsAndFractions() {
        #expect(Timestamp(parsing: "2026-11-25T14:30:00Z")!.description == "2026-11-25T14:30:00Z")
        #expect(Timestamp(parsing: "2026-11-25T09:30:00.5-05:00")!.description == "2026-11-25T14:30:00.500000Z")
        #expect(Timestamp(parsing: "2026-11-25 14:30") == nil)
    }

    /// Times and dates are written as bytes: the text parses back to the same instant across years 1 to 9999,
    /// with and without a fraction, at the day's edges, and agrees with Foundation's ISO-8601 formatting.
    @Test func timestampsAndDatesPrintAsFoundationDoesAndParseBack() {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        var rng = SystemRandomNumberGenerator()
        let edges: [Int64] = [0, 86_400_000_000 - 1, -1, 253_402_300_799_999_999, -62_135_596_800_000_000, 1_796_000_000_123_456]
        let random = (0..<2_000).map { _ in Int64.random(in: -62_135_596_800_000_000...253_402_300_799_999_999, using: &rng) }
        for micros in edges + random + random.map({ $0 / 1_000_000 * 1_000_000 }) {
            let t = Timestamp(micros: micros)
            let text = t.description
            #expect(Timestamp(parsing: text) == t, "\(micros) → \(text)")
            // Foundation's calendar is Julian before October 1582: compared from 1600 on.
            if micros >= -11_676_096_000_000_000 {
                let seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
                let whole = formatter.string(from: Date(timeIntervalSince1970: Double(seconds)))
                #expect(text.prefix(19) + "Z" == whole, "\(micros): \(text) against \(whole)")
            }
            #expect(t.utcDate.description == String(text.prefix(10)))
        }
        #expect(Timestamp(micros: 1_500_000).description == "1970-01-01T00:00:01.500000Z")
    }
}
