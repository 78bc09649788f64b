import IMSDomain

/// A market-data item as the streams show it: a security's last tick, or a currency's FX rate.
public struct MarketDataView: Sendable, Hashable, Codable {
    /// `price` or `fxRate`.
    public var kind: String
    public var securityId: String?
    public var marketId: String?
    public var currency: String?
    public var last: Decimal8?
    public var bid: Decimal8?
    public var ask: Decimal8?
    public var previousClose: Decimal8?
    public var source: String?
    public var usdRate: Decimal8?
    public var ts: Timestamp?
    /// Ticks received for the security so far.
    public var tickCount: Int64?
    /// `UP` or `DOWN`: the direction of the last change of `last` (a tick at the same price keeps it).
    public var tickDirection: String?
    /// Short sales are under the price test (US Rule 201, JP) through this business date, after a 10% fall.
    public var shortSaleRestrictedThrough: BusinessDate?
}

/// Which market data a stream subscriber wants; nil fields match everything.
public struct MarketDataFilter: Sendable, Hashable {
    public var securityId: String?
    public var marketId: String?
    /// A currency: its FX rate, and prices quoted in it.
    public var currency: String?

    /// A `MarketDataFilter` from its fields.
    public init(securityId: String? = nil, marketId: String? = nil, currency: String? = nil) {
        self.securityId = securityId; self.marketId = marketId; self.currency = currency
    }
}

extension ReadModel {
    /// The position at an engine index, as the API shows it.
    public func positionView(at index: Int32) -> PositionView { view(position: index) }

    /// Whether the position at `index` passes `filter`.
    public func position(_ index: Int32, matches filter: PositionFilter) -> Bool {
        var market: Int32?
        if let id = filter.marketId {
            guard let m = marketIds.lookup(id) else { return false }
            market = m
        }
        return matches(position: index, filter: filter, market: market)
    }

    /// Every position held in a market (after its day roll all of them changed).
    public func positionIndices(market: Int32) -> [Int32] {
        reference.securitiesByMarket[Int(market)].flatMap { positionIds(security: $0) }
    }

    /// The last tick of the security at `index`, if any.
    public func priceView(security index: Int32) -> MarketDataView? {
        guard let p = partitions[partition(ofSecurity: index)].prices[index] else { return nil }
        let entry = reference.securities[Int(index)]
        return MarketDataView(
            kind: "price", securityId: entry.record.securityId, marketId: entry.record.marketId,
            currency: p.tick.currency ?? entry.record.currency, last: p.tick.last, bid: p.tick.bid, ask: p.tick.ask,
            previousClose: p.tick.previousClose, source: p.tick.source, ts: p.tick.ts, tickCount: p.tickCount,
            tickDirection: p.direction > 0 ? "UP" : p.direction < 0 ? "DOWN" : nil,
            shortSaleRestrictedThrough: restriction(p, market: entry.market))
    }

    /// The last business date the price test holds through, while it is in force (the market's business date
    /// not past it).
    func restriction(_ p: PriceState, market: Int32) -> BusinessDate? {
        guard let through = p.restrictedThrough, let today = markets[Int(market)].businessDate, today <= through else { return nil }
        return through
    }

    /// The FX rate of a currency, if any.
    public func fxView(currency: String) -> MarketDataView? {
        guard let f = fxRates[currency] else { return nil }
        return MarketDataView(kind: "fxRate", currency: f.currency, usdRate: f.usdRate, ts: f.ts)
    }

    /// Whether a price or rate passes a market-data filter.
    public func marketData(_ view: MarketDataView, matches filter: MarketDataFilter) -> Bool {
        if let id = filter.securityId, view.securityId != id { return false }
        if let id = filter.marketId, view.marketId != id { return false }
        if let c = filter.currency, view.currency != c { return false }
        if view.kind == "fxRate" && (filter.securityId != nil || filter.marketId != nil) { return false }
        return true
    }

    /// The keys of every market-data item, in snapshot order: securities with a price, then currencies with a rate.
    public func marketDataKeys() -> (prices: [Int32], currencies: [String]) {
        (partitions.flatMap(\.prices.keys).sorted(), fxRates.keys.sorted())
    }

    /// Everything matching `filter` now, in the order of `marketDataKeys` (the one place that order is decided).
    public func marketDataSnapshot(_ filter: MarketDataFilter, limit: Int) -> [MarketDataView] {
        let (prices, currencies) = marketDataKeys()
        let views = prices.lazy.compactMap { priceView(security: $0) } + currencies.lazy.compactMap { fxView(currency: $0) }
        return Array(views.lazy.filter { marketData($0, matches: filter) }.prefix(limit))
    }

    /// Index lists of every position matching `filter`, for a stream snapshot.
    public func positionIndices(matching filter: PositionFilter) -> [Int32] {
        allPositionIds().filter { position($0, matches: filter) }
    }
}
