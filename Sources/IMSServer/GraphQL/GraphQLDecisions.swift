import Graphiti
import IMSDomain
import IMSEngine
import IMSRuntime

// Locates and orders in GraphQL: the same read model, filters and client narrowing as `GET /api/v1/locates` and
// `GET /api/v1/orders`. A client key sees its own (naming another client is an error; another client's locate or
// order is null, as it is 404 over REST) and each as its client sees it (`forClient`: who decided a locate's
// steps stays in-house, an order's firm-level checks say only whether they passed).

struct LocatesArguments: Codable, Sendable {
    var clientId: String?, securityId: String?, status: String?, marketId: String?, date: String?
    var offset: Int?, limit: Int?
}
struct OrdersArguments: Codable, Sendable { var clientId: String?; var securityId: String?; var decision: String?; var offset: Int?; var limit: Int? }
struct OrderArguments: Codable, Sendable { var orderId: String; var clientId: String? }

extension GraphQLContext {
    /// The client a listing is narrowed to: a client key's own (naming another is an error), or what staff named.
    func scopedClient(_ named: String?) throws -> String? {
        guard let own = clientScope else { return named }
        if let named, named != own { throw GraphQLArgumentError("clientId: " + AccessPolicy.notOwnClient(own: own, named: named)) }
        return own
    }

    /// Whether the caller may see something of `client` (staff: everything).
    func maySee(client: String?) -> Bool { clientScope == nil || client == clientScope }
}

extension GraphQLResolver {
    func locates(context: GraphQLContext, arguments a: LocatesArguments) throws -> LocatePage {
        let (offset, limit) = try PageArguments(offset: a.offset, limit: a.limit).checked()
        let client = try context.scopedClient(a.clientId)
        var status: LocateRecord.Status?
        if let text = a.status {
            guard let parsed = LocateRecord.Status(rawValue: text) else {
                throw GraphQLArgumentError("status must be one of \(LocateRecord.Status.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            status = parsed
        }
        var date: BusinessDate?
        if let text = a.date {
            guard let parsed = BusinessDate(parsing: text) else { throw GraphQLArgumentError("date must be yyyy-MM-dd") }
            date = parsed
        }
        let filter = LocateFilter(clientId: client, securityId: a.securityId, status: status, marketId: a.marketId, businessDate: date)
        var page = context.readModel.read { $0.locates(matching: filter, offset: offset, limit: limit) }
        if context.clientScope != nil { page.items = page.items.map { $0.forClient() } }
        return page
    }

    func locate(context: GraphQLContext, arguments: IdArguments) -> LocateView? {
        guard let view = context.readModel.read({ $0.locate(arguments.id) }), context.maySee(client: view.clientId) else { return nil }
        return context.clientScope == nil ? view : view.forClient()
    }

    func orders(context: GraphQLContext, arguments a: OrdersArguments) throws -> OrderPage {
        let (offset, limit) = try PageArguments(offset: a.offset, limit: a.limit).checked()
        let client = try context.scopedClient(a.clientId)
        var decision: OrderRecord.Decision?
        if let text = a.decision {
            // An expired approval's answer stays APPROVED, so APPROVED counts it too (as over REST).
            guard text == "APPROVED" || text == "REJECTED", let parsed = OrderRecord.Decision(rawValue: text) else {
                throw GraphQLArgumentError("decision must be APPROVED or REJECTED")
            }
            decision = parsed
        }
        let page = context.readModel.read { $0.orderPage(clientId: client, securityId: a.securityId, decision: decision, offset: offset, limit: limit) }
        let items = context.clientScope == nil ? page.items : page.items.map { $0.forClient() }
        return OrderPage(items: items, total: page.total, offset: offset, limit: limit)
    }

    /// An order id belongs to its client: a client key gets its own; staff name the client, or get the newest
    /// order with the id.
    func order(context: GraphQLContext, arguments a: OrderArguments) throws -> OrderView? {
        let named = try context.scopedClient(a.clientId)
        let view = context.readModel.read { m in named.map { m.order(clientId: $0, orderId: a.orderId) } ?? m.orders(withId: a.orderId).first }
        guard let view else { return nil }
        return context.clientScope == nil ? view : view.forClient()
    }
}

extension LocateRecord.Step { var statusName: String { status.rawValue } }
