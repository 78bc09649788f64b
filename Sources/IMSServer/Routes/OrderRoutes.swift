import Foundation
import Hummingbird
import IMSDomain
import IMSEngine
import IMSRules
import IMSRuntime

/// Order validation (SPEC 5, 6): `POST /api/v1/orders/validate` journals an `OrderCommand` and answers with
/// the decision once it is durable (with `?dryRun=true`, the decision it would get, changing nothing); `GET /api/v1/orders/{orderId}` shows it again.
struct OrderRoutes {
    let engine: Engine

    /// The decisions an order listing is filtered by (an expired approval's answer stays APPROVED).
    enum OrderDecisionFilter: String, CaseIterable {
        case approved = "APPROVED"
        case rejected = "REJECTED"
    }

    struct Body: Codable, Equatable {
        var orderId: String?
        var clientId: String?
        var bookId: String?
        var securityId: String?
        var side: String?
        var quantity: Int64?
        var price: Decimal8Text?
        var user: String?
    }

    /// `POST /api/v1/orders/{orderId}/cancel`'s body: the client (staff name it; a client's own is implied),
    /// why, and who (without authentication).
    struct Cancel: Codable, Equatable {
        var clientId: String?
        var reason: String?
        var user: String?
    }

    static let shape = #"{"orderId","clientId","bookId","securityId","side","quantity","price","user"}"#
    static let fields: Set<String> = ["orderId", "clientId", "bookId", "securityId", "side", "quantity", "price", "user"]

    /// The body read by `FlatJSON` when it can, exactly as `JSONBody.decode` would; nil: decode it with that.
    static func fastBody(_ data: Data) -> Body? {
        guard let o = FlatJSON(data), o.hasOnly(fields), let orderId = o.string("orderId"), let clientId = o.string("clientId"),
            let bookId = o.string("bookId"),
            let securityId = o.string("securityId"), let side = o.string("side"), let quantity = o.int64("quantity"),
            let price = o.decimal("price"), let user = o.string("user")
        else { return nil }
        return Body(orderId: orderId, clientId: clientId, bookId: bookId, securityId: securityId, side: side, quantity: quantity, price: price, user: user)
    }

    func register(on router: Router<IMSRequestContext>) {
        router.post("/api/v1/orders/validate", use: validate)
        router.get("/api/v1/orders", use: list)
        router.get("/api/v1/orders/:orderId", use: order)
        router.post("/api/v1/orders/:orderId/cancel", use: cancel)
    }

    /// Cancels what is left of an approved order: 200 with the order as it is then (its `cancellation` says
    /// what went back to the limits), 404 for an order the caller does not know, 409 when nothing is left to
    /// cancel (rejected, expired, cancelled already).
    @Sendable func cancel(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let id = context.pathParameter("orderId")
        if let bad = InputBounds.identifier(id, field: "orderId") { throw APIError(.badRequest, bad.message, field: bad.field) }
        let body = try await JSONBody.decode(Cancel.self, from: request, shape: #"{"clientId","reason","user"}"#)
        return try await DecisionDesk(engine: engine).decide([.cancelOrder(orderId: id, body)], caller: .init(identity: context.identity))[0].response()
    }

    @Sendable func validate(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let data = try await JSONBody.bytes(request)
        let body = try Self.fastBody(data) ?? JSONBody.decode(Body.self, from: data, shape: Self.shape)
        let caller = DecisionDesk.Caller(identity: context.identity)
        if try QueryParameters(request).bool("dryRun", default: false) {
            // The decision the order would get now, on the writer's state (a short read under its lock), checked
            // as a real one is: nothing journaled, reserved or audited.
            let command: OrderCommand
            switch engine.readModel.read({ model in DecisionDesk.orderCommand(body, caller: caller, model: model) }) {
            case .failure(let refused): return try refused.response()
            case .success(let c): command = c
            }
            let now = WallClock.now()
            switch engine.read({ state in Result { () throws(FieldError) in try state.dryRunOrder(command, at: now) } }) {
            case .success(let view): return JSONResponse.raw(DecisionDesk.render(view, scoped: caller.clientScope != nil))
            case .failure(let error): throw APIError(.unprocessableContent, error.message, field: error.field)
            }
        }
        return try await DecisionDesk(engine: engine).decide([.order(body)], caller: caller)[0].response()
    }

    @Sendable func list(_ request: Request, context: IMSRequestContext) async throws -> Response {
        // A client lists its own orders (naming another is refused); staff any client's, or all.
        let q = QueryParameters(request)
        let clientId = try context.scopedClient(q.string("clientId"))
        let offset = try q.int("offset", default: 0, range: 0...Int(Int32.max))
        let limit = try q.int("limit", default: 100, range: 1...10_000)
        let decision: OrderRecord.Decision? = try q.enumeration("decision", OrderDecisionFilter.self).map { $0 == .approved ? .approved : .rejected }
        let securityId = try q.string("securityId")
        let engine = engine
        let page = try await ReadPool.shared.run {
            engine.readModel.read { $0.orderPage(clientId: clientId, securityId: securityId, decision: decision, offset: offset, limit: limit) }
        }
        var j = JSONText(capacity: 64 + page.items.count * 800)
        j.object { j in
            j.key("items")
            j.array { j in for view in page.items { j.raw(context.clientScope == nil ? view.json : view.forClient().json) } }
            j.field("limit", Int64(limit))
            j.field("offset", Int64(offset))
            j.field("total", Int64(page.total))
        }
        return JSONResponse.raw(j.text)
    }

    @Sendable func order(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let id = context.pathParameter("orderId")
        // A client sees its own orders only (another client's is unknown to it); staff name the client, or get
        // the newest order with this id.
        let named = try context.scopedClient(QueryParameters(request).string("clientId"))
        let view = engine.readModel.read { m in named.map { m.order(clientId: $0, orderId: id) } ?? m.orders(withId: id).first }
        guard let view else { throw APIError(.notFound, "unknown order \(id)", field: "orderId") }
        return JSONResponse.raw(context.clientScope == nil ? view.json : view.forClient().json)
    }

}
