import IMSDomain

/// One interval of a security's prices: the first, highest, lowest and last price of the ticks in it.
public struct PriceBar: Sendable, Equatable, Codable {
    /// When the interval starts (a multiple of its width since 1970).
    public var start: Timestamp
    public var open: Decimal8
    public var high: Decimal8
    public var low: Decimal8
    public var close: Decimal8
    public var ticks: Int64
}

/// A security's ticks of its market's business day as bars of `minutes` minutes, at most `capacity` of
/// them (a whole day), so that a chart opened at any time starts with the day so far.
///
/// A part of the writer's state, kept in the snapshot (section `intradayBars`): a restart keeps the day. A
/// bar's time is the tick's own `ts`, else its journal record's time: never the wall clock, so replays
/// build the same bars. The first tick of a new business date starts afresh; until then the API answers
/// no bars for a date that is no longer the market's.
struct IntradayBars: Sendable, Equatable {
    static let minutes: Int64 = 5
    static let capacity = 288
    static var width: Int64 { minutes * 60_000_000 }

    /// The business date of the bars (its market's, when their ticks came).
    var date: BusinessDate?
    /// Closed bars, oldest first; appended once an interval ends (a copy of at most a day's bars then,
    /// when a reader shares them), not per tick.
    var closed: [PriceBar] = []
    /// The bar being built: updated in place by every tick.
    var current: PriceBar?

    mutating func add(_ price: Decimal8, at time: Timestamp, date: BusinessDate?) {
        if date != self.date { self = IntradayBars(date: date) }
        let width = Self.width
        let start = Timestamp(micros: time.micros - ((time.micros % width) + width) % width)
        if var bar = current, start.micros <= bar.start.micros {
            // The same interval, or a tick late for a closed one: into the bar being built.
            if price.units > bar.high.units { bar.high = price }
            if price.units < bar.low.units { bar.low = price }
            bar.close = price
            bar.ticks += 1
            current = bar
            return
        }
        if let bar = current {
            closed.append(bar)
            if closed.count >= Self.capacity { closed.removeFirst(closed.count - Self.capacity + 1) }
        }
        current = PriceBar(start: start, open: price, high: price, low: price, close: price, ticks: 1)
    }

    /// Every bar, the one being built last.
    var all: [PriceBar] { current.map { closed + [$0] } ?? closed }

    func encode(to w: inout BinaryWriter) {
        w.write(date!)
        let bars = all
        w.writeCount(bars.count)
        for b in bars {
            w.write(b.start); w.write(b.open); w.write(b.high); w.write(b.low); w.write(b.close); w.writeVarint(b.ticks)
        }
    }

    init(date: BusinessDate? = nil) { self.date = date }

    init(from r: inout BinaryReader) throws(BinaryFormatError) {
        date = try r.readDate()
        var bars: [PriceBar] = []
        for _ in 0..<(try r.readCount()) {
            bars.append(
                PriceBar(
                    start: try r.readTimestamp(), open: try r.readDecimal(), high: try r.readDecimal(), low: try r.readDecimal(),
                    close: try r.readDecimal(), ticks: try r.readVarInt()))
        }
        guard bars.count <= Self.capacity else { throw BinaryFormatError("snapshot has \(bars.count) intraday bars for a security; at most \(Self.capacity)") }
        current = bars.popLast()
        closed = bars
    }
}
