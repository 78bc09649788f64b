/// A market's trading and settlement calendars over a fixed range of dates.
///
/// They differ: US exchanges trade on Columbus Day and Veterans Day, but
/// those are not settlement days. Weekends are never trading or settlement
/// days. Outside `range` only weekends are closed, and `covers(_:)` says so.
///
/// All look-ups are O(1): each day in range has a bit for trading and for
/// settlement, and an index of settlement days gives "n settlement days after".
public struct MarketCalendar: Sendable, Hashable {
    public let marketId: String
    /// First and last date the holiday lists describe.
    public let range: ClosedRange<BusinessDate>
    /// The last date up to which the exchange has published its holidays; later ones are estimated.
    public let holidaysPublishedThrough: BusinessDate
    /// Where the holidays come from.
    public let source: String
    public let tradingHolidays: [BusinessDate]
    public let settlementHolidays: [BusinessDate]

    private let isTrading: [Bool]
    private let isSettlement: [Bool]
    /// For each day in range, how many settlement days fall strictly before it since `range.lowerBound`.
    private let settlementOrdinal: [Int32]
    /// The settlement days in range, in order.
    private let settlementDays: [BusinessDate]

    /// A `MarketCalendar` from its fields.
    public init(
        marketId: String, range: ClosedRange<BusinessDate>, tradingHolidays: [BusinessDate],
        settlementHolidays: [BusinessDate], holidaysPublishedThrough: BusinessDate? = nil, source: String = ""
    ) {
        self.marketId = marketId
        self.range = range
        self.source = source
        self.holidaysPublishedThrough = holidaysPublishedThrough ?? range.upperBound
        self.tradingHolidays = tradingHolidays.sorted()
        self.settlementHolidays = settlementHolidays.sorted()
        let count = Int(range.upperBound.dayNumber - range.lowerBound.dayNumber) + 1
        var trading = [Bool](repeating: true, count: count)
        var settlement = [Bool](repeating: true, count: count)
        for i in 0..<count where BusinessDate(dayNumber: range.lowerBound.dayNumber + Int32(i)).isWeekend {
            trading[i] = false
            settlement[i] = false
        }
        for d in tradingHolidays where range.contains(d) { trading[Int(d.dayNumber - range.lowerBound.dayNumber)] = false }
        for d in settlementHolidays where range.contains(d) { settlement[Int(d.dayNumber - range.lowerBound.dayNumber)] = false }
        var ordinal = [Int32](repeating: 0, count: count)
        var days: [BusinessDate] = []
        for i in 0..<count {
            ordinal[i] = Int32(days.count)
            if settlement[i] { days.append(BusinessDate(dayNumber: range.lowerBound.dayNumber + Int32(i))) }
        }
        self.isTrading = trading
        self.isSettlement = settlement
        self.settlementOrdinal = ordinal
        self.settlementDays = days
    }

    /// True if the holiday lists describe `date`.
    public func covers(_ date: BusinessDate) -> Bool { range.contains(date) }

    /// True if the market's exchanges trade on `date`.
    public func isTradingDay(_ date: BusinessDate) -> Bool {
        guard range.contains(date) else { return !date.isWeekend }
        return isTrading[Int(date.dayNumber - range.lowerBound.dayNumber)]
    }

    /// True if the market's settlement system settles on `date`.
    public func isSettlementDay(_ date: BusinessDate) -> Bool {
        guard range.contains(date) else { return !date.isWeekend }
        return isSettlement[Int(date.dayNumber - range.lowerBound.dayNumber)]
    }

    /// The `n`-th settlement day strictly after `date` (n ≥ 1), as "T plus n business days" counts.
    public func addingSettlementDays(_ n: Int, to date: BusinessDate) -> BusinessDate {
        precondition(n >= 0)
        if n == 0 { return date }
        if range.contains(date) {
            let offset = Int(date.dayNumber - range.lowerBound.dayNumber)
            // settlement days at or before `date`:
            let upToDate = Int(settlementOrdinal[offset]) + (isSettlement[offset] ? 1 : 0)
            let target = upToDate + n - 1
            if target < settlementDays.count { return settlementDays[target] }
        }
        var d = date
        var left = n
        while left > 0 {
            d = d.adding(days: 1)
            if isSettlementDay(d) { left -= 1 }
        }
        return d
    }

    /// `date` itself if it is a settlement day, else the next settlement day after it.
    public func settlementDay(onOrAfter date: BusinessDate) -> BusinessDate {
        isSettlementDay(date) ? date : addingSettlementDays(1, to: date)
    }

    /// The next trading day strictly after `date`.
    public func nextTradingDay(after date: BusinessDate) -> BusinessDate {
        var d = date.adding(days: 1)
        while !isTradingDay(d) { d = d.adding(days: 1) }
        return d
    }

    /// The settlement ladder dates SD0…SD`count-1` for business date `t`: SD0 = `t`, SDk the k-th settlement day after `t`.
    public func ladderDates(businessDate t: BusinessDate, count: Int = 5) -> [BusinessDate] {
        (0..<count).map { $0 == 0 ? t : addingSettlementDays($0, to: t) }
    }
}
