import Foundation
import Hummingbird
import IMSDomain
import IMSEngine
import IMSRuntime
import IMSJournal

/// Read endpoints: positions, reference data, markets and calendars, market data (exceptions: `ExceptionRoutes`).
struct QueryRoutes {
    let engine: Engine
    let history: History?

    func register(on router: Router<IMSRequestContext>) {
        router.get("/api/v1/positions/:bookId/:securityId") { request, context in
            let bookId = context.pathParameter("bookId"), securityId = context.pathParameter("securityId")
            // A client sees the positions of its own books only; another's book is unknown to it.
            if context.clientScope != nil, !context.maySee(client: engine.readModel.read({ $0.book(bookId) })?.clientId) {
                return JSONResponse.failure(.notFound, "no position for book \(bookId) in \(securityId)", field: "bookId")
            }
            if let asOf = QueryParameters(request).string("asOf") {
                guard let target = ReplayTarget(parsing: asOf) else {
                    return JSONResponse.failure(.badRequest, "asOf must be a journal sequence number or an ISO-8601 timestamp, not \(asOf)", field: "asOf")
                }
                guard let history else {
                    return JSONResponse.failure(.badRequest, "asOf needs a journal; this server runs without a data directory", field: "asOf")
                }
                do {
                    let state = try await history.state(at: target)
                    return Self.position(in: state.readModel, bookId: bookId, securityId: securityId, asOf: target)
                } catch let busy as HistoryBusy {
                    return JSONResponse.failure(.serviceUnavailable, busy.description, field: "asOf")
                } catch {
                    return JSONResponse.failure(.internalServerError, "could not rebuild the state at \(target): \(error)")
                }
            }
            return engine.readModel.read { Self.position(in: $0, bookId: bookId, securityId: securityId, asOf: nil) }
        }
        router.get("/api/v1/positions") { request, context in
            let query: (filter: PositionFilter, offset: Int, limit: Int)
            do {
                let (q, offset, limit) = try pageParameters(request)
                var filter = try PositionFilter(values: { q.string($0) })
                filter.clientId = try context.scopedClient(filter.clientId)
                query = (filter, offset, limit)
            } catch let error as BadParameter {
                return error.response
            } catch let error as FilterError {
                return BadParameter(name: error.field, message: error.message).response
            }
            // The page is found and written on the read pool, below ingest's priority.
            do {
                let json = try await ReadPool.shared.run {
                    engine.readModel.read { $0.positions(matching: query.filter, offset: query.offset, limit: query.limit) }.json
                }
                return JSONResponse.raw(json)
            } catch {
                return JSONResponse.failure(.serviceUnavailable, "\(error)")
            }
        }

        router.get("/api/v1/markets") { _, _ in JSONResponse.ok(engine.readModel.read { $0.marketViews() }) }
        router.get("/api/v1/markets/:marketId") { _, context in
            let id = context.pathParameter("marketId")
            guard let view = engine.readModel.read({ $0.market(id) }) else { return JSONResponse.failure(.notFound, "unknown market \(id)", field: "marketId") }
            return JSONResponse.ok(view)
        }
        router.get("/api/v1/markets/:marketId/calendar") { request, context in
            let id = context.pathParameter("marketId")
            guard let calendar = engine.readModel.read({ $0.calendar(id) }) else { return JSONResponse.failure(.notFound, "unknown market \(id)", field: "marketId") }
            do {
                let q = QueryParameters(request)
                let from = try q.date("from") ?? calendar.range.lowerBound
                let to = try q.date("to") ?? calendar.range.upperBound
                guard from <= to else { return JSONResponse.failure(.badRequest, "from must not be after to", field: "from") }
                guard to.dayNumber - from.dayNumber <= 4000 else { return JSONResponse.failure(.badRequest, "at most 4000 days at a time", field: "to") }
                return JSONResponse.ok(CalendarView(calendar: calendar, from: from, to: to))
            } catch let error as BadParameter {
                return error.response
            }
        }

        router.get("/api/v1/securities") { request, _ in
            try paged(request) { q, offset, limit in
                if let identifier = q.string("identifier") {
                    let found = engine.readModel.read { $0.securities(identifier: identifier) }
                    return JSONResponse.ok(Page(items: found, total: found.count, offset: 0, limit: found.count))
                }
                return JSONResponse.ok(engine.readModel.read { $0.searchSecurities(query: q.string("q"), marketId: q.string("marketId"), offset: offset, limit: limit) })
            }
        }
        router.get("/api/v1/securities/:securityId") { _, context in
            let id = context.pathParameter("securityId")
            guard let view = engine.readModel.read({ $0.security(id, visibleTo: context.clientScope) }) else { return JSONResponse.failure(.notFound, "unknown security \(id)", field: "securityId") }
            return JSONResponse.ok(view)
        }
        router.get("/api/v1/securities/:securityId/bars") { _, context in
            let id = context.pathParameter("securityId")
            guard let view = engine.readModel.read({ $0.intradayBars(id) }) else { return JSONResponse.failure(.notFound, "unknown security \(id)", field: "securityId") }
            return JSONResponse.ok(view)
        }
        router.get("/api/v1/securities/:securityId/availability") { _, context in
            let id = context.pathParameter("securityId")
            return JSONResponse.ok(engine.readModel.read { $0.availability(securityId: id) })
        }
        router.get("/api/v1/financing/contracts") { request, _ in
            let q = QueryParameters(request)
            do {
                let kind = try q.enumeration("kind", ContractKind.self), status = try q.enumeration("status", ContractStatus.self)
                let (security, counterparty, book) = (q.string("securityId"), q.string("counterpartyId"), q.string("bookId"))
                return JSONResponse.ok(engine.readModel.read {
                    $0.financingContracts(securityId: security, counterpartyId: counterparty, bookId: book, kind: kind, status: status)
                })
            } catch let bad as BadParameter { return bad.response }
        }
        router.get("/api/v1/financing/availability") { request, _ in
            let q = QueryParameters(request)
            do {
                let type = try q.enumeration("availabilityType", AvailabilityType.self)
                let (security, source) = (q.string("securityId"), q.string("sourceId"))
                return JSONResponse.ok(engine.readModel.read { $0.financingAvailability(securityId: security, sourceId: source, type: type) })
            } catch let bad as BadParameter { return bad.response }
        }
        // A unit's or a client's sell limits: one route per scope kind.
        for (path, kind, unknown) in [("units", ScopeKind.aggregationUnit, "unknown aggregation unit"),
                                      ("clients", ScopeKind.client, "no book or locate has this client")] {
            let parameter = kind == .client ? "clientId" : "aggregationUnitId"
            router.get("/api/v1/limits/\(path)/:\(parameter)") { request, context in
                let id = context.pathParameter(parameter)
                let security = QueryParameters(request).string("securityId")
                guard let limits = engine.readModel.read({ $0.sellLimits(InventoryScope(kind, id), securityId: security) }) else {
                    return JSONResponse.failure(.notFound, "\(unknown) \(id)", field: parameter)
                }
                return JSONResponse.ok(limits)
            }
        }
        router.get("/api/v1/inventory") { request, _ in
            let q = QueryParameters(request)
            do {
                let region = try q.enumeration("region", Region.self)
                let sort = try q.enumeration("sort", InventorySort.self) ?? .securityId
                let offset = try q.int("offset", default: 0, range: 0...Int(Int32.max)), limit = try q.int("limit", default: 100, range: 1...10_000)
                let marketId = q.string("marketId")
                let page = engine.readModel.read { $0.inventoryRows(marketId: marketId, region: region, sort: sort, offset: offset, limit: limit) }
                return JSONResponse.raw(page.json)
            } catch let bad as BadParameter { return bad.response }
        }
        // Sums over every security: a long read (its own lane of the read pool, on a copy of the read model).
        router.get("/api/v1/inventory/aggregates") { request, _ in
            let by = QueryParameters(request).string("by") ?? "market"
            switch by {
            case "market", "region":
                return await ReadPool.shared.long(engine.readModel) { JSONResponse.ok($0.inventoryAggregates(byRegion: by == "region")) }
            case "legalEntity", "aggregationUnit":
                return await ReadPool.shared.long(engine.readModel) { JSONResponse.ok($0.inventoryAggregates(by: by == "aggregationUnit" ? .aggregationUnit : .legalEntity)) }
            default: return JSONResponse.failure(.badRequest, "by must be market, region, legalEntity or aggregationUnit", field: "by")
            }
        }
        router.get("/api/v1/inventory/top") { request, _ in
            let q = QueryParameters(request)
            let list = q.string("list") ?? "constrained"
            guard list == "constrained" || list == "overborrow" else {
                return JSONResponse.failure(.badRequest, "list must be constrained or overborrow", field: "list")
            }
            let limit: Int
            do { limit = try q.int("limit", default: 20, range: 1...1_000) } catch let bad as BadParameter { return bad.response }
            return JSONResponse.ok(engine.readModel.read { $0.inventoryTop(list, limit: limit) })
        }
        router.get("/api/v1/inventory/:securityId") { request, context in
            let id = context.pathParameter("securityId")
            let q = QueryParameters(request)
            let explain: Bool
            do { explain = try q.bool("explain", default: false) } catch let bad as BadParameter { return bad.response }
            let scope: InventoryScope?
            do throws(ScopeChoiceError) {
                scope = try InventoryScope.named(aggregationUnitId: q.string("aggregationUnitId"), legalEntity: q.string("legalEntity"), clientId: q.string("clientId"))
            } catch {
                return JSONResponse.failure(.badRequest, error.message, field: error.field)
            }
            guard let view = engine.readModel.read({ $0.inventory(id, explain: explain, scope: scope) }) else {
                return JSONResponse.failure(.notFound, "unknown security \(id)", field: "securityId")
            }
            return JSONResponse.ok(view)
        }
        router.get("/api/v1/books") { _, _ in JSONResponse.ok(engine.readModel.read { $0.allBooks() }) }
        router.get("/api/v1/books/:bookId") { _, context in
            let id = context.pathParameter("bookId")
            guard let book = engine.readModel.read({ $0.book(id) }) else { return JSONResponse.failure(.notFound, "unknown book \(id)", field: "bookId") }
            return JSONResponse.ok(book)
        }
        router.get("/api/v1/counterparties") { _, _ in JSONResponse.ok(engine.readModel.read { $0.allCounterparties() }) }
        router.get("/api/v1/counterparties/:counterpartyId") { _, context in
            let id = context.pathParameter("counterpartyId")
            guard let c = engine.readModel.read({ $0.counterparty(id) }) else { return JSONResponse.failure(.notFound, "unknown counterparty \(id)", field: "counterpartyId") }
            return JSONResponse.ok(c)
        }
        router.get("/api/v1/aggregation-units") { _, _ in JSONResponse.ok(engine.readModel.read { $0.allAggregationUnits() }) }
        router.get("/api/v1/aggregation-units/:aggregationUnitId") { _, context in
            let id = context.pathParameter("aggregationUnitId")
            guard let u = engine.readModel.read({ $0.aggregationUnit(id) }) else { return JSONResponse.failure(.notFound, "unknown aggregation unit \(id)", field: "aggregationUnitId") }
            return JSONResponse.ok(u)
        }
        router.get("/api/v1/contracts") { request, _ in
            let securityId = QueryParameters(request).string("securityId")
            return JSONResponse.ok(engine.readModel.read { $0.contracts(securityId: securityId) })
        }
        router.get("/api/v1/fx-rates") { _, _ in JSONResponse.ok(engine.readModel.read { $0.allFXRates() }) }
    }

    private func paged(_ request: Request, _ body: (QueryParameters, Int, Int) throws -> Response) throws -> Response {
        do {
            let (q, offset, limit) = try pageParameters(request)
            return try body(q, offset, limit)
        } catch let error as BadParameter {
            return error.response
        }
    }

    /// A request's query parameters with its checked `offset` and `limit`.
    private func pageParameters(_ request: Request) throws -> (QueryParameters, Int, Int) {
        let q = QueryParameters(request)
        return (q, try q.int("offset", default: 0, range: 0...Int(Int32.max)), try q.int("limit", default: 100, range: 1...10_000))
    }
}

/// A market's calendar over a range of dates: which days trade and which settle.
struct CalendarView: Codable {
    var marketId: String
    var from: BusinessDate
    var to: BusinessDate
    var source: String
    var holidaysPublishedThrough: BusinessDate
    var days: [Day]

    struct Day: Codable {
        var date: BusinessDate
        var trading: Bool
        var settlement: Bool
    }

    init(calendar: MarketCalendar, from: BusinessDate, to: BusinessDate) {
        marketId = calendar.marketId
        self.from = from
        self.to = to
        source = calendar.source
        holidaysPublishedThrough = calendar.holidaysPublishedThrough
        days = (0...Int(to.dayNumber - from.dayNumber)).map {
            let d = from.adding(days: $0)
            return Day(date: d, trading: calendar.isTradingDay(d), settlement: calendar.isSettlementDay(d))
        }
    }
}

extension QueryRoutes {
    static func position(in state: borrowing ReadModel, bookId: String, securityId: String, asOf: ReplayTarget?) -> Response {
        if let view = state.position(bookId: bookId, securityId: securityId) { return JSONResponse.raw(view.json) }
        let when = asOf.map { " as of \($0)" } ?? ""
        if state.book(bookId) == nil { return JSONResponse.failure(.notFound, "unknown book \(bookId)\(when)", field: "bookId") }
        if state.security(securityId) == nil { return JSONResponse.failure(.notFound, "unknown security \(securityId)\(when)", field: "securityId") }
        return JSONResponse.failure(.notFound, "book \(bookId) has no position in \(securityId)\(when)")
    }
}

extension RequestContext {
    /// A path parameter, percent-decoded, so that ids with spaces, `/` or non-ASCII characters (sent as
    /// `%20`, `%2F`, UTF-8 escapes) are read back through the paths that name them. Empty if absent or if
    /// its escapes are not valid UTF-8 (no id is empty, so the look-up then finds nothing).
    func pathParameter(_ name: String) -> String {
        guard let raw = parameters.get(name) else { return "" }
        return raw.removingPercentEncoding ?? ""
    }
}
