import DequeModule
import IMSDomain

/// A market with its live business date and ladder.
public struct MarketView: Sendable, Hashable, Codable {
    public var market: Market
    public var businessDate: BusinessDate?
    /// SD0…SD4 for `businessDate`.
    public var settlementLadder: [BusinessDate]
    public var calendarRange: ClosedRange<BusinessDate>
    public var holidaysPublishedThrough: BusinessDate
    public var calendarSource: String
    public var securities: Int
}

/// A security with its market data.
public struct SecurityView: Sendable, Hashable, Codable {
    public var security: Security
    public var lastPrice: PriceTick?
    public var priceTicks: Int64
    public var positions: Int
    /// `UP` or `DOWN`: the direction of the last change of the last price (a tick at the same price keeps it).
    public var tickDirection: String?
    /// After a 10% fall from the previous close, short sales are under the price test (US Rule 201, JP)
    /// through this business date.
    public var shortSaleRestrictedThrough: BusinessDate?
}

extension ReadModel {
    /// Every market with its business date, ladder and calendar.
    public func marketViews() -> [MarketView] { markets.map(marketView) }

    /// A security as `client` may see it (nil: staff, everything): its count of positions is the client's own,
    /// so a client cannot tell from it whether others hold the security.
    public func security(_ id: String, visibleTo client: String?) -> SecurityView? {
        guard var view = security(id) else { return nil }
        if let client {
            view.positions = positions(matching: PositionFilter(securityId: view.security.securityId, clientId: client), offset: 0, limit: 1).total
        }
        return view
    }

    /// One market, by id.
    public func market(_ id: String) -> MarketView? { marketIds.lookup(id).map { marketView(markets[Int($0)]) } }

    /// A market's trading and settlement calendar.
    public func calendar(_ marketId: String) -> MarketCalendar? {
        marketIds.lookup(marketId).map { markets[Int($0)].calendar }
    }

    private func marketView(_ m: MarketState) -> MarketView {
        MarketView(
            market: m.market, businessDate: m.businessDate, settlementLadder: m.ladder, calendarRange: m.calendar.range,
            holidaysPublishedThrough: m.calendar.holidaysPublishedThrough, calendarSource: m.calendar.source,
            securities: reference.securitiesByMarket[Int(m.index)].count)
    }

    /// A security by its internal id, or by any of its identifiers.
    public func security(_ idOrIdentifier: String) -> SecurityView? {
        if let index = reference.securityIds.lookup(idOrIdentifier) { return securityView(index) }
        return securities(identifier: idOrIdentifier).first
    }

    /// The index of a security by its internal id, or by any of its identifiers (the first it names).
    public func securityIndex(_ idOrIdentifier: String) -> Int32? {
        if let index = reference.securityIds.lookup(idOrIdentifier) { return index }
        return security(idOrIdentifier).flatMap { $0.security.securityId }.flatMap { reference.securityIds.lookup($0) }
    }

    /// The securities one identifier (of any kind, tickers included) names.
    public func securities(identifier: String) -> [SecurityView] {
        var found: [Int32] = []
        if let index = reference.securityIds.lookup(identifier) { found.append(index) }
        for kind in IdentifierKind.allCases {
            if let index = reference.identifierIndex[IdentifierKey(kind: kind, value: identifier)], !found.contains(index) { found.append(index) }
        }
        // Tickers repeat across markets; the index keeps one.
        for index in reference.securitiesByTicker[identifier] ?? [] where !found.contains(index) { found.append(index) }
        return found.map(securityView)
    }

    /// Securities whose id, identifiers or name contain `query` (case-insensitive), optionally in one market.
    public func searchSecurities(query: String?, marketId: String?, offset: Int, limit: Int) -> Page<SecurityView> {
        let needle = query?.lowercased()
        let market = marketId.flatMap { marketIds.lookup($0) }
        if marketId != nil && market == nil { return Page(items: [], total: 0, offset: offset, limit: limit) }
        var matched: [Int32] = []
        for (i, s) in reference.securities.enumerated() {
            if let market, s.market != market { continue }
            if let needle, !needle.isEmpty {
                let fields = [reference.securityIds.name(Int32(i)), s.record.name ?? ""] + s.record.identifiers.map(\.1)
                guard fields.contains(where: { $0.lowercased().contains(needle) }) else { continue }
            }
            matched.append(Int32(i))
        }
        return Page(items: matched.dropFirst(offset).prefix(limit).map(securityView), total: matched.count, offset: offset, limit: limit)
    }

    /// `GET /api/v1/securities/{id}/bars`: a security's intraday price bars of its market's business day
    /// (none once the market has rolled past their date, until the new day's first tick).
    public func intradayBars(_ idOrIdentifier: String) -> IntradayBarsView? {
        guard let id = security(idOrIdentifier)?.security.securityId, let index = reference.securityIds.lookup(id) else { return nil }
        let market = markets[Int(reference.securities[Int(index)].market)]
        let bars = partitions[partition(ofSecurity: index)].prices[index]?.bars
        let today = bars.flatMap { $0.date == market.businessDate ? $0.all : nil } ?? []
        return IntradayBarsView(
            securityId: id, marketId: market.market.marketId, businessDate: market.businessDate,
            intervalMinutes: IntradayBars.minutes, bars: today)
    }

    private func securityView(_ index: Int32) -> SecurityView {
        let owner = partitions[partition(ofSecurity: index)]
        let price = owner.prices[index]
        return SecurityView(
            security: reference.securities[Int(index)].record, lastPrice: price?.tick, priceTicks: price?.tickCount ?? 0,
            positions: owner.positionsBySecurity[Int(index)].count,
            tickDirection: price.flatMap { $0.direction > 0 ? "UP" : $0.direction < 0 ? "DOWN" : nil },
            shortSaleRestrictedThrough: price.flatMap { restriction($0, market: reference.securities[Int(index)].market) })
    }

    /// A book, by id.
    public func book(_ id: String) -> Book? { reference.bookIds.lookup(id).map { reference.books[Int($0)] } }
    /// Every book, in the order they were first defined.
    public func allBooks() -> [Book] { Array(reference.books) }
    /// A counterparty, by id.
    public func counterparty(_ id: String) -> Counterparty? { reference.counterparties[id] }
    /// Every counterparty, by id.
    public func allCounterparties() -> [Counterparty] { reference.counterparties.values.sorted { $0.counterpartyId < $1.counterpartyId } }
    /// An aggregation unit, by id.
    public func aggregationUnit(_ id: String) -> AggregationUnit? { reference.aggregationUnits[id] }
    /// Every aggregation unit, by id.
    public func allAggregationUnits() -> [AggregationUnit] { reference.aggregationUnits.values.sorted { $0.aggregationUnitId < $1.aggregationUnitId } }
    /// The lending contracts, of one security or of all, by contract id.
    public func contracts(securityId: String?) -> [Contract] {
        contracts.values.filter { securityId == nil || $0.securityId == securityId }.sorted { $0.contractId < $1.contractId }
    }
    /// A security's lender lines, by lender.
    public func availability(securityId: String) -> [Availability] {
        guard let index = reference.securityIds.lookup(securityId) else { return [] }
        return partitions[partition(ofSecurity: index)].availability.filter { $0.key.security == index }.map(\.value).sorted { $0.sourceId < $1.sourceId }
    }
    /// Every FX rate, by currency.
    public func allFXRates() -> [FXRate] { fxRates.values.sorted { $0.currency < $1.currency } }

    /// Exceptions after `afterId` (oldest first), optionally of one kind, and acknowledged or not.
    public func exceptions(afterId: Int64 = 0, kind: ExceptionKind? = nil, acknowledged: Bool? = nil, limit: Int = 100) -> [ExceptionRecord] {
        exceptionLog.list(afterId: afterId, kind: kind, acknowledged: acknowledged, limit: limit)
    }

    /// The exception with id `id`, when it is still kept.
    public func exception(_ id: Int64) -> ExceptionRecord? { exceptionLog.entry(id) }

    /// The number of exceptions held.
    public var exceptionCount: Int { exceptionLog.count }
}

/// A security's intraday bars (`GET /api/v1/securities/{id}/bars`).
public struct IntradayBarsView: Sendable, Equatable, Codable {
    public var securityId: String
    public var marketId: String
    public var businessDate: BusinessDate?
    public var intervalMinutes: Int64
    /// Oldest first; the last is the interval still open.
    public var bars: [PriceBar]
}
