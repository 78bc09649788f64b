import Foundation
import Hummingbird
import IMSDomain
import IMSEngine
import IMSJournal
import IMSRuntime

/// Read endpoints: positions, reference data, markets and calendars, inventory, limits, financing and market
/// data (exceptions: `ExceptionRoutes`), as named handlers. Each throws `APIError` for a bad parameter or an
/// unknown id; the router answers it.
struct QueryRoutes {
    let engine: Engine
    let history: History?

    func register(on router: Router<IMSRequestContext>) {
        router.group("/api/v1")
            .get("positions/:bookId/:securityId", use: position)
            .get("positions", use: positions)
            .get("markets", use: markets)
            .get("markets/:marketId", use: market)
            .get("markets/:marketId/calendar", use: calendar)
            .get("securities", use: securities)
            .get("securities/:securityId", use: security)
            .get("securities/:securityId/bars", use: bars)
            .get("securities/:securityId/availability", use: securityAvailability)
            .get("financing/contracts", use: financingContracts)
            .get("financing/availability", use: financingAvailability)
            .get("limits/units/:aggregationUnitId", use: unitLimits)
            .get("limits/clients/:clientId", use: clientLimits)
            .get("inventory", use: inventoryList)
            .get("inventory/aggregates", use: inventoryAggregates)
            .get("inventory/top", use: inventoryTop)
            .get("inventory/:securityId", use: inventory)
            .get("books", use: books)
            .get("books/:bookId", use: book)
            .get("counterparties", use: counterparties)
            .get("counterparties/:counterpartyId", use: counterparty)
            .get("aggregation-units", use: aggregationUnits)
            .get("aggregation-units/:aggregationUnitId", use: aggregationUnit)
            .get("contracts", use: contracts)
            .get("fx-rates", use: fxRates)
    }

    // MARK: Positions

    @Sendable func position(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let bookId = context.pathParameter("bookId"), securityId = context.pathParameter("securityId")
        // A client sees the positions of its own books only; another's book is unknown to it.
        if context.clientScope != nil, !context.maySee(client: engine.readModel.read({ $0.book(bookId) })?.clientId) {
            throw APIError(.notFound, "no position for book \(bookId) in \(securityId)", field: "bookId")
        }
        if let (state, target) = try await stateAsOf(request) {
            return try Self.position(in: state.readModel, bookId: bookId, securityId: securityId, asOf: target)
        }
        return try engine.readModel.read { try Self.position(in: $0, bookId: bookId, securityId: securityId, asOf: nil) }
    }

    /// The state `asOf` names (a journal sequence number or a time), rebuilt from the journal; nil without `asOf`.
    func stateAsOf(_ request: Request) async throws -> (EngineState, ReplayTarget)? {
        guard let asOf = try QueryParameters(request).string("asOf") else { return nil }
        guard let target = ReplayTarget(parsing: asOf) else {
            throw APIError(.badRequest, "asOf must be a journal sequence number or an ISO-8601 timestamp, not \(asOf)", field: "asOf")
        }
        guard let history else {
            throw APIError(.badRequest, "asOf replays the journal; this server has none (it runs in memory)", field: "asOf")
        }
        do {
            return (try await history.state(at: target), target)
        } catch let busy as HistoryBusy {
            throw busy
        } catch {
            throw APIError(.internalServerError, "could not rebuild the state at \(target): \(error)")
        }
    }

    @Sendable func positions(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let (q, offset, limit) = try Self.pageParameters(request)
        var filter: PositionFilter
        do { filter = try PositionFilter(values: { q.unchecked($0) }) } catch { throw APIError.parameter(error.field, error.message) }
        filter.clientId = try context.scopedClient(filter.clientId)
        // The page is found and written on the read pool, below ingest's priority.
        let engine = engine, chosen = filter
        return JSONResponse.raw(try await ReadPool.shared.run { engine.readModel.read { $0.positions(matching: chosen, offset: offset, limit: limit) }.json })
    }

    static func position(in state: borrowing ReadModel, bookId: String, securityId: String, asOf: ReplayTarget?) throws(APIError) -> Response {
        if let view = state.position(bookId: bookId, securityId: securityId) { return JSONResponse.raw(view.json) }
        let when = asOf.map { " as of \($0)" } ?? ""
        if state.book(bookId) == nil { throw APIError(.notFound, "unknown book \(bookId)\(when)", field: "bookId") }
        if state.security(securityId) == nil { throw APIError(.notFound, "unknown security \(securityId)\(when)", field: "securityId") }
        throw APIError(.notFound, "book \(bookId) has no position in \(securityId)\(when)")
    }

    // MARK: Markets and securities

    @Sendable func markets(_ request: Request, context: IMSRequestContext) async throws -> Response {
        JSONResponse.ok(engine.readModel.read { $0.marketViews() })
    }

    @Sendable func market(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let id = context.pathParameter("marketId")
        return JSONResponse.ok(try Self.found(engine.readModel.read { $0.market(id) }, "unknown market \(id)", field: "marketId"))
    }

    @Sendable func calendar(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let id = context.pathParameter("marketId")
        let calendar = try Self.found(engine.readModel.read { $0.calendar(id) }, "unknown market \(id)", field: "marketId")
        let q = QueryParameters(request)
        let from = try q.date("from") ?? calendar.range.lowerBound
        let to = try q.date("to") ?? calendar.range.upperBound
        guard from <= to else { throw APIError(.badRequest, "from must not be after to", field: "from") }
        guard to.dayNumber - from.dayNumber <= 4000 else { throw APIError(.badRequest, "at most 4000 days at a time", field: "to") }
        return JSONResponse.ok(CalendarView(calendar: calendar, from: from, to: to))
    }

    @Sendable func securities(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let (q, offset, limit) = try Self.pageParameters(request)
        if let identifier = try q.string("identifier") {
            let found = engine.readModel.read { $0.securities(identifier: identifier) }
            return JSONResponse.ok(Page(items: found, total: found.count, offset: 0, limit: found.count))
        }
        let (text, marketId) = (try q.string("q"), try q.string("marketId"))
        return JSONResponse.ok(engine.readModel.read { $0.searchSecurities(query: text, marketId: marketId, offset: offset, limit: limit) })
    }

    @Sendable func security(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let id = context.pathParameter("securityId")
        return JSONResponse.ok(
            try Self.found(engine.readModel.read { $0.security(id, visibleTo: context.clientScope) }, "unknown security \(id)", field: "securityId"))
    }

    @Sendable func bars(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let id = context.pathParameter("securityId")
        return JSONResponse.ok(try Self.found(engine.readModel.read { $0.intradayBars(id) }, "unknown security \(id)", field: "securityId"))
    }

    @Sendable func securityAvailability(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let id = context.pathParameter("securityId")
        return JSONResponse.ok(engine.readModel.read { $0.availability(securityId: id) })
    }

    // MARK: Financing and limits

    @Sendable func financingContracts(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let q = QueryParameters(request)
        let kind = try q.enumeration("kind", ContractKind.self), status = try q.enumeration("status", ContractStatus.self)
        let (security, counterparty, book) = (try q.string("securityId"), try q.string("counterpartyId"), try q.string("bookId"))
        return JSONResponse.ok(
            engine.readModel.read {
                $0.financingContracts(securityId: security, counterpartyId: counterparty, bookId: book, kind: kind, status: status)
            })
    }

    @Sendable func financingAvailability(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let q = QueryParameters(request)
        let type = try q.enumeration("availabilityType", AvailabilityType.self)
        let (security, source) = (try q.string("securityId"), try q.string("sourceId"))
        return JSONResponse.ok(engine.readModel.read { $0.financingAvailability(securityId: security, sourceId: source, type: type) })
    }

    @Sendable func unitLimits(_ request: Request, context: IMSRequestContext) async throws -> Response {
        try limits(request, context, .aggregationUnit, parameter: "aggregationUnitId", unknown: "unknown aggregation unit")
    }

    @Sendable func clientLimits(_ request: Request, context: IMSRequestContext) async throws -> Response {
        try limits(request, context, .client, parameter: "clientId", unknown: "no book or locate has this client")
    }

    /// A unit's or a client's sell limits.
    private func limits(_ request: Request, _ context: IMSRequestContext, _ kind: ScopeKind, parameter: String, unknown: String) throws(APIError) -> Response {
        let id = context.pathParameter(parameter)
        let security = try QueryParameters(request).string("securityId")
        return JSONResponse.ok(
            try Self.found(engine.readModel.read { $0.sellLimits(InventoryScope(kind, id), securityId: security) }, "\(unknown) \(id)", field: parameter))
    }

    // MARK: Inventory

    @Sendable func inventoryList(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let q = QueryParameters(request)
        let region = try q.enumeration("region", Region.self)
        let sort = try q.enumeration("sort", InventorySort.self) ?? .securityId
        let offset = try q.int("offset", default: 0, range: 0...Int(Int32.max)), limit = try q.int("limit", default: 100, range: 1...10_000)
        let marketId = try q.string("marketId")
        return JSONResponse.raw(engine.readModel.read { $0.inventoryRows(marketId: marketId, region: region, sort: sort, offset: offset, limit: limit) }.json)
    }

    /// Sums over every security: a long read (its own lane of the read pool, on a copy of the read model).
    @Sendable func inventoryAggregates(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let by = try QueryParameters(request).string("by") ?? "market"
        switch by {
        case "market", "region":
            return await ReadPool.shared.long(engine.readModel) { JSONResponse.ok($0.inventoryAggregates(byRegion: by == "region")) }
        case "legalEntity", "aggregationUnit":
            return await ReadPool.shared.long(engine.readModel) {
                JSONResponse.ok($0.inventoryAggregates(by: by == "aggregationUnit" ? .aggregationUnit : .legalEntity))
            }
        default:
            throw APIError(.badRequest, "by must be market, region, legalEntity or aggregationUnit", field: "by")
        }
    }

    @Sendable func inventoryTop(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let q = QueryParameters(request)
        let list = try q.string("list") ?? "constrained"
        guard list == "constrained" || list == "overborrow" else { throw APIError(.badRequest, "list must be constrained or overborrow", field: "list") }
        let limit = try q.int("limit", default: 20, range: 1...1_000)
        return JSONResponse.ok(engine.readModel.read { $0.inventoryTop(list, limit: limit) })
    }

    @Sendable func inventory(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let id = context.pathParameter("securityId")
        let q = QueryParameters(request)
        let explain = try q.bool("explain", default: false)
        let scope: InventoryScope?
        let (unit, entity, client) = (try q.string("aggregationUnitId"), try q.string("legalEntity"), try q.string("clientId"))
        do throws(ScopeChoiceError) {
            scope = try InventoryScope.named(aggregationUnitId: unit, legalEntity: entity, clientId: client)
        } catch {
            throw APIError(.badRequest, error.message, field: error.field)
        }
        if let (state, target) = try await stateAsOf(request) {
            return JSONResponse.ok(
                try Self.found(state.readModel.inventory(id, explain: explain, scope: scope), "unknown security \(id) as of \(target)", field: "securityId"))
        }
        return JSONResponse.ok(
            try Self.found(engine.readModel.read { $0.inventory(id, explain: explain, scope: scope) }, "unknown security \(id)", field: "securityId"))
    }

    // MARK: Reference data

    @Sendable func books(_ request: Request, context: IMSRequestContext) async throws -> Response {
        JSONResponse.ok(engine.readModel.read { $0.allBooks() })
    }

    @Sendable func book(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let id = context.pathParameter("bookId")
        return JSONResponse.ok(try Self.found(engine.readModel.read { $0.book(id) }, "unknown book \(id)", field: "bookId"))
    }

    @Sendable func counterparties(_ request: Request, context: IMSRequestContext) async throws -> Response {
        JSONResponse.ok(engine.readModel.read { $0.allCounterparties() })
    }

    @Sendable func counterparty(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let id = context.pathParameter("counterpartyId")
        return JSONResponse.ok(try Self.found(engine.readModel.read { $0.counterparty(id) }, "unknown counterparty \(id)", field: "counterpartyId"))
    }

    @Sendable func aggregationUnits(_ request: Request, context: IMSRequestContext) async throws -> Response {
        JSONResponse.ok(engine.readModel.read { $0.allAggregationUnits() })
    }

    @Sendable func aggregationUnit(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let id = context.pathParameter("aggregationUnitId")
        return JSONResponse.ok(try Self.found(engine.readModel.read { $0.aggregationUnit(id) }, "unknown aggregation unit \(id)", field: "aggregationUnitId"))
    }

    @Sendable func contracts(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let securityId = try QueryParameters(request).string("securityId")
        return JSONResponse.ok(engine.readModel.read { $0.contracts(securityId: securityId) })
    }

    @Sendable func fxRates(_ request: Request, context: IMSRequestContext) async throws -> Response {
        JSONResponse.ok(engine.readModel.read { $0.allFXRates() })
    }

    // MARK: Helpers

    /// The value, or 404 naming the field.
    static func found<T>(_ value: T?, _ message: @autoclosure () -> String, field: String) throws(APIError) -> T {
        guard let value else { throw APIError(.notFound, message(), field: field) }
        return value
    }

    /// A request's query parameters with its checked `offset` and `limit`.
    static func pageParameters(_ request: Request) throws(APIError) -> (QueryParameters, Int, Int) {
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
