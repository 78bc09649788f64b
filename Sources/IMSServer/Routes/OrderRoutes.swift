import Foundation
import Hummingbird
import IMSDomain
import IMSEngine
import IMSRules
import IMSRuntime

/// Order validation (SPEC 5, 6): `POST /api/v1/orders/validate` journals an `OrderCommand` and answers with
/// the decision once it is durable; `GET /api/v1/orders/{orderId}` shows it again.
struct OrderRoutes {
    let engine: Engine

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

    /// The body read by `FlatJSON` when it can, exactly as `JSONDecoder` would; nil: decode it with that.
    static func fastBody(_ data: Data) -> Body? {
        guard let o = FlatJSON(data), let orderId = o.string("orderId"), let clientId = o.string("clientId"), let bookId = o.string("bookId"),
              let securityId = o.string("securityId"), let side = o.string("side"), let quantity = o.int64("quantity"),
              let price = o.decimal("price"), let user = o.string("user") else { return nil }
        return Body(orderId: orderId, clientId: clientId, bookId: bookId, securityId: securityId, side: side, quantity: quantity, price: price, user: user)
    }

    func register(on router: Router<IMSRequestContext>) {
        router.post("/api/v1/orders/validate") { request, context in
            let body: Body
            let data = try await LocateRoutes.body(request)
            if let fast = Self.fastBody(data) { body = fast } else { do { body = try JSONDecoder().decode(Body.self, from: data) } catch {
                return JSONResponse.failure(.badRequest, "the body must be {\"orderId\",\"clientId\",\"bookId\",\"securityId\",\"side\",\"quantity\",\"price\"}: \(RuleRoutes.reason(error))", field: "body")
            } }
            for (field, value) in [("orderId", body.orderId), ("clientId", body.clientId), ("bookId", body.bookId), ("securityId", body.securityId)] where value?.isEmpty ?? true {
                return JSONResponse.failure(.unprocessableContent, "\(field) is required", field: field)
            }
            guard let sideText = body.side, let side = OrderCommand.Side(rawValue: sideText) else {
                return JSONResponse.failure(.unprocessableContent, "side must be SELL or SELL_SHORT", field: "side")
            }
            guard let quantity = body.quantity else { return JSONResponse.failure(.unprocessableContent, "quantity is required", field: "quantity") }
            let orderId = body.orderId!
            if let first = engine.readModel.read({ $0.order(orderId) }) { return JSONResponse.raw(first.json) }
            let command = OrderCommand(orderId: orderId, clientId: body.clientId!, bookId: body.bookId!, securityId: body.securityId!, side: side,
                                       quantity: quantity, price: body.price?.value ?? .zero, user: body.user)
            var batch = IngestBatch(receivedAt: WallClock.now(), events: [.orderCommand(command)], lines: [1])
            batch.wantsResults = true
            batch.issuer = context.issuer(named: command.user)
            let outcome: BatchOutcome
            do throws(EngineError) { outcome = try await engine.submit(batch) } catch { return JSONResponse.failure(.serviceUnavailable, error.description) }
            if let refused = outcome.rejected.first { return JSONResponse.failure(.unprocessableContent, refused.error, field: refused.field) }
            guard let view = engine.readModel.read({ $0.order(orderId) }) else {
                return JSONResponse.failure(.internalServerError, "the order was journaled but its decision is not visible")
            }
            return JSONResponse.raw(view.json)
        }
        router.get("/api/v1/orders/:orderId") { _, context in
            let id = context.pathParameter("orderId")
            // Another client's order is unknown to a client.
            guard let view = engine.readModel.read({ $0.order(id) }), context.maySee(client: view.clientId) else {
                return JSONResponse.failure(.notFound, "unknown order \(id)", field: "orderId")
            }
            return JSONResponse.raw(view.json)
        }
    }
}
