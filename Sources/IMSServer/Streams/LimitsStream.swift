import IMSDomain
import IMSEngine

/// `/ws/limits`: an aggregation unit's or a client's sell limits per security, as
/// `GET /api/v1/limits/units/{aggregationUnitId}` and `/limits/clients/{clientId}` read them.
///
/// The filter names the unit or the client (exactly one), and optionally one security. A client's stream is
/// its own limits: `{}` means its own, and a unit or another client is refused. An id IMS does not know yet
/// gives an empty snapshot and deltas from when it appears (a client's first book or locate).
enum LimitsStream: StreamDefinition {
    static let idFields = ["aggregationUnitId", "clientId", "securityId"]
    static let name = "limits"
    static let filterKeys = ["aggregationUnitId", "clientId", "securityId"]

    struct Filter: Sendable, Hashable {
        var scope: InventoryScope
        var securityId: String?
    }

    static func filter(_ fields: [String: String], clientView: Bool) throws(BadFilter) -> Filter {
        let unit = fields["aggregationUnitId"].flatMap { $0.isEmpty ? nil : $0 }
        let client = fields["clientId"].flatMap { $0.isEmpty ? nil : $0 }
        switch (unit, client) {
        case (let unit?, nil):
            return Filter(scope: .aggregationUnit(unit), securityId: fields["securityId"])
        case (nil, let client?):
            return Filter(scope: .client(client), securityId: fields["securityId"])
        case (_?, _?):
            throw BadFilter(
                message: clientView
                    ? "a client's limits stream shows its own limits; leave out aggregationUnitId"
                    : "give aggregationUnitId or clientId, not both", field: "filter.aggregationUnitId")
        case (nil, nil):
            throw BadFilter(message: "give aggregationUnitId or clientId: whose limits to stream", field: "filter.aggregationUnitId")
        }
    }

    static func fields(of filter: Filter) -> [(name: String, value: String)] {
        var out: [(name: String, value: String)] =
            switch filter.scope {
            case .client(let id): [("clientId", id)]
            case .aggregationUnit(let id), .legalEntity(let id): [("aggregationUnitId", id)]
            }
        if let s = filter.securityId { out.append(("securityId", s)) }
        return out
    }

    static func changedKeys(
        in record: ChangeRecord, filter: Filter, model: borrowing ReadModel, at: Timestamp,
        into keys: inout [(Int32, Timestamp)]
    ) {
        let wanted = filter.securityId.flatMap { model.securityIndex($0) }
        if filter.securityId != nil && wanted == nil { return }
        for s in model.limitSecurities(changedIn: record, scope: filter.scope) where wanted == nil || wanted == s { keys.append((s, at)) }
    }

    static func snapshotKeys(filter: Filter, model: borrowing ReadModel, limit: Int) -> [Int32] {
        guard model.knowsLimitScope(filter.scope) else { return [] }
        if let id = filter.securityId { return model.securityIndex(id).map { [$0] } ?? [] }
        return Array(model.securities(heldBy: filter.scope).prefix(limit))
    }

    static func everyFilter(model: borrowing ReadModel) -> [Filter] {
        model.limitScopes().map { Filter(scope: $0, securityId: nil) }
    }

    static func render(_ key: Int32, filter: Filter, model: borrowing ReadModel, into items: inout [String]) -> Bool {
        if let view = model.sellLimit(filter.scope, security: key) { items.append(JSONResponse.text(view)) }
        return true
    }
}
