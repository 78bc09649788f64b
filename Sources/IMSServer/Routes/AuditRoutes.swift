import Hummingbird
import IMSDomain
import IMSEngine
import IMSRuntime

/// `GET /api/v1/audit`: who changed what through the API, oldest first, filtered by user, action,
/// subject and time, paged forward with `afterId`. The entries come from the journal (each batch records its
/// issuer), so they are the same after a restart or a replay; the newest 100,000 are kept in memory, and
/// `ims audit` exports them all from the journal.
struct AuditRoutes {
    let engine: Engine

    struct Page: Encodable {
        var items: [AuditEntry]
        /// The id of the oldest entry still kept in memory (older ones: `ims audit`).
        var oldestKept: Int64
        /// The `afterId` for the next page (the last item's id), or nil when this page is the last.
        var nextAfterId: Int64?
    }

    func register(on router: Router<IMSRequestContext>) {
        router.get("/api/v1/audit", use: list)
    }

    @Sendable func list(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let q = QueryParameters(request)
        let filter = AuditFilter(
            user: try q.string("user"), action: try q.string("action"), subject: try q.string("subject"),
            from: try q.timestamp("from"), to: try q.timestamp("to"),
            afterId: Int64(try q.int("afterId", default: 0, range: 0...Int.max)))
        let limit = try q.int("limit", default: 100, range: 1...10_000)
        let (items, oldest) = engine.readModel.read { $0.auditEntries(filter, limit: limit) }
        return JSONResponse.ok(Page(items: items, oldestKept: oldest, nextAfterId: items.count == limit ? items.last?.auditId : nil))
    }
}
