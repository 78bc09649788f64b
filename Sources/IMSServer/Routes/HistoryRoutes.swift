import Foundation
import Hummingbird
import IMSDomain
import IMSEngine
import IMSHistory
import IMSRuntime

/// `/api/v1/history/…`: ranges of the past from the PostgreSQL history store (`--history`): prices (ticks
/// or bars), position and inventory snapshots, every state change of locates and every order decision.
/// Clients see their own books, locates and orders, as on the live routes. Without a store, 501 says how to
/// configure one; while PostgreSQL does not answer, 503 with `Retry-After`.
struct HistoryRoutes {
    let engine: Engine
    let store: PostgresHistoryStore?

    /// How far back a range reaches when `from` is not given.
    static let defaultSpan: Int64 = 86_400_000_000

    func register(on router: Router<IMSRequestContext>) {
        router.group("/api/v1/history")
            .get("prices/:securityId", use: prices)
            .get("positions", use: positions)
            .get("inventory/:securityId", use: inventory)
            .get("locates", use: locates)
            .get("orders", use: orders)
    }

    @Sendable func prices(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let q = QueryParameters(request)
        let securityId = canonical(try Self.text(context.pathParameter("securityId"), "securityId"))
        var interval: BarInterval?
        if let text = try q.string("interval") {
            guard let parsed = BarInterval(parsing: text) else {
                throw APIError.parameter("interval", "must be a width such as 30s, 1m, 5m, 1h or 1d")
            }
            interval = parsed
        }
        let range = try Self.range(q, span: 7 * Self.defaultSpan)
        let store = try available()
        let bars = interval
        return try await answer { try await store.prices(securityId: securityId, range: range, interval: bars) }
    }

    @Sendable func positions(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let q = QueryParameters(request)
        let bookId = try q.string("bookId").map { try Self.text($0, "bookId") }
        let securityId = try q.string("securityId").map { canonical(try Self.text($0, "securityId")) }
        guard bookId != nil || securityId != nil else {
            throw APIError.parameter("bookId", "name a bookId, a securityId or both")
        }
        var books: [String]?
        if let own = context.clientScope {
            // A client sees its own books only; another's book is unknown to it.
            let mine = engine.readModel.read { $0.bookIds(ofClient: own) }
            if let bookId, !mine.contains(bookId) { throw APIError(.notFound, "unknown book \(bookId)", field: "bookId") }
            books = mine
        }
        let range = try Self.range(q, span: Self.defaultSpan)
        let store = try available()
        let scope = books
        return try await answer { try await store.positions(bookId: bookId, securityId: securityId, books: scope, range: range) }
    }

    @Sendable func inventory(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let securityId = canonical(try Self.text(context.pathParameter("securityId"), "securityId"))
        let range = try Self.range(QueryParameters(request), span: Self.defaultSpan)
        let store = try available()
        return try await answer { try await store.inventory(securityId: securityId, range: range) }
    }

    @Sendable func locates(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let q = QueryParameters(request)
        let clientId = try context.scopedClient(try q.string("clientId").map { try Self.text($0, "clientId") })
        let securityId = try q.string("securityId").map { canonical(try Self.text($0, "securityId")) }
        let locateId = try q.string("locateId").map { try Self.text($0, "locateId") }
        let range = try Self.range(q, span: Self.defaultSpan)
        let store = try available()
        let clientView = context.clientScope != nil
        return try await answer {
            try await store.locates(clientId: clientId, securityId: securityId, locateId: locateId, clientView: clientView, range: range)
        }
    }

    @Sendable func orders(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let q = QueryParameters(request)
        let clientId = try context.scopedClient(try q.string("clientId").map { try Self.text($0, "clientId") })
        let securityId = try q.string("securityId").map { canonical(try Self.text($0, "securityId")) }
        let orderId = try q.string("orderId").map { try Self.text($0, "orderId") }
        let decision = try q.enumeration("decision", OrderRecord.Decision.self)
        let range = try Self.range(q, span: Self.defaultSpan)
        let store = try available()
        let clientView = context.clientScope != nil
        return try await answer {
            try await store.orders(
                clientId: clientId, securityId: securityId, orderId: orderId, decision: decision?.rawValue, clientView: clientView, range: range)
        }
    }

    /// The store, or 501 naming the setting that configures one.
    private func available() throws(APIError) -> PostgresHistoryStore {
        guard let store else {
            throw APIError(.notImplemented, "this server keeps no history store: start it with --history postgres://user@host/database (docs/history.md)")
        }
        return store
    }

    /// A security's id from any of its identifiers (an unknown one as given: it may have left the reference data).
    private func canonical(_ id: String) -> String { engine.readModel.read { $0.security(id)?.securityId } ?? id }

    /// An identifier as PostgreSQL can hold it: at most 256 bytes, no NUL or other control character.
    static func text(_ value: String, _ name: String) throws(APIError) -> String {
        guard value.utf8.count <= 256, !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw APIError.parameter(name, "must be at most 256 bytes with no control characters")
        }
        return value
    }

    /// The times the store can hold: 1900-01-01 up to 2200-01-01.
    static let times = Timestamp(micros: -2_208_988_800_000_000)..<Timestamp(micros: 7_258_118_400_000_000)

    /// `from`, `to`, `offset` and `limit`: `to` defaults to now, `from` to `span` before it.
    static func range(_ q: QueryParameters, span: Int64) throws(APIError) -> HistoryRange {
        let to = try q.timestamp("to") ?? Timestamp(micros: Int64(Date().timeIntervalSince1970 * 1_000_000))
        guard times.contains(to) || to == times.upperBound else { throw APIError.parameter("to", "must be from 1900 up to 2200") }
        let from = try q.timestamp("from") ?? Timestamp(micros: max(times.lowerBound.micros, to.micros - span))
        guard times.contains(from) else { throw APIError.parameter("from", "must be from 1900 up to 2200") }
        guard from < to else { throw APIError.parameter("from", "must be before to") }
        return HistoryRange(
            from: from, to: to, offset: try q.int("offset", default: 0, range: 0...Int(Int32.max)),
            limit: try q.int("limit", default: 1_000, range: 1...HistoryRange.maxLimit))
    }

    /// The store's JSON page, or 503 while PostgreSQL does not answer.
    private func answer(_ query: @escaping @Sendable () async throws -> String) async throws -> Response {
        do {
            return JSONResponse.raw(try await withHistoryTimeout(seconds: 10, query))
        } catch {
            throw APIError(.serviceUnavailable, "the history store did not answer: \(String(describing: error).prefix(300))", retryAfter: 5)
        }
    }
}
