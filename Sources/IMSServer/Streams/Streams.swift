import Foundation
import IMSDomain
import IMSEngine

// The streams of SPEC 6, each registered in `StreamRegistry.streams`.

/// `/ws/position`: positions with their ladders, as `GET /api/v1/positions` lists them.
enum PositionStream: StreamDefinition {
    static let idFields = ["bookId", "securityId"]
    static let name = "position"
    static var filterKeys: [String] { PositionFilter.fields.map(\.name) }

    static func filter(_ fields: [String: String], clientView: Bool) throws(BadFilter) -> PositionFilter {
        do {
            return try PositionFilter(values: { fields[$0] })
        } catch {
            throw BadFilter(message: error.message, field: "filter.\(error.field)")
        }
    }

    static func fields(of filter: PositionFilter) -> [(name: String, value: String)] { filter.values.map { ($0.name, $0.value) } }

    static func changedKeys(
        in record: ChangeRecord, filter: PositionFilter, model: borrowing ReadModel, at: Timestamp,
        into keys: inout [(Int32, Timestamp)]
    ) {
        for p in model.positions(changedIn: record, matching: filter) { keys.append((p, at)) }
    }

    static func snapshotKeys(filter: PositionFilter, model: borrowing ReadModel, limit: Int) -> [Int32] {
        Array(model.positionIndices(matching: filter).prefix(limit))
    }

    static func render(_ key: Int32, filter: PositionFilter, model: borrowing ReadModel, into items: inout [String]) -> Bool {
        items.append(model.positionView(at: key).json)
        return true
    }
}

/// `/ws/market-data`: last prices and FX rates, as `GET /api/v1/market-data` lists them.
enum MarketDataStream: StreamDefinition {
    static let idFields = ["securityId", "currency"]
    static let name = "market-data"
    static var filterKeys: [String] { MarketDataFilter.fields.map(\.name) }

    /// A security's price or a currency's rate.
    enum Key: Hashable, Sendable {
        case security(Int32)
        case currency(String)
    }

    static func filter(_ fields: [String: String], clientView: Bool) throws(BadFilter) -> MarketDataFilter {
        MarketDataFilter(values: { fields[$0] })
    }

    static func fields(of filter: MarketDataFilter) -> [(name: String, value: String)] { filter.values.map { ($0.name, $0.value) } }

    static func changedKeys(
        in record: ChangeRecord, filter: MarketDataFilter, model: borrowing ReadModel, at: Timestamp,
        into keys: inout [(Key, Timestamp)]
    ) {
        for i in record.priceSecurities {
            if let v = model.priceView(security: i), model.marketData(v, matches: filter) { keys.append((.security(i), at)) }
        }
        for rate in record.fxRates {
            if let v = model.fxView(currency: rate.currency), model.marketData(v, matches: filter) { keys.append((.currency(rate.currency), at)) }
        }
    }

    static func snapshotKeys(filter: MarketDataFilter, model: borrowing ReadModel, limit: Int) -> [Key] {
        let (prices, currencies) = model.marketDataKeys()
        var out: [Key] = []
        for i in prices where out.count < limit {
            if let v = model.priceView(security: i), model.marketData(v, matches: filter) { out.append(.security(i)) }
        }
        for c in currencies where out.count < limit {
            if let v = model.fxView(currency: c), model.marketData(v, matches: filter) { out.append(.currency(c)) }
        }
        return out
    }

    static func render(_ key: Key, filter: MarketDataFilter, model: borrowing ReadModel, into items: inout [String]) -> Bool {
        let view: MarketDataView? =
            switch key {
            case .security(let i): model.priceView(security: i)
            case .currency(let c): model.fxView(currency: c)
            }
        if let view { items.append(JSONResponse.text(view)) }
        return true
    }
}

/// `/ws/exceptions`: the exceptions queue, the newest 100 first, then each exception raised or changed
/// (acknowledged, given its line's text), with its own time.
enum ExceptionsStream: StreamDefinition {
    static let idFields = ["exceptionId"]
    static let name = "exceptions"
    static let filterKeys = ["kind"]
    /// Exceptions in the snapshot at most: the newest.
    static let snapshotCount: Int64 = 100

    static func filter(_ fields: [String: String], clientView: Bool) throws(BadFilter) -> ExceptionKind? {
        guard let k = fields["kind"] else { return nil }
        guard let kind = ExceptionKind(rawValue: k) else { throw BadFilter(message: "unknown exception kind \(k)", field: "filter.kind") }
        return kind
    }

    static func fields(of filter: ExceptionKind?) -> [(name: String, value: String)] { filter.map { [("kind", $0.rawValue)] } ?? [] }

    static func changedKeys(
        in record: ChangeRecord, filter: ExceptionKind?, model: borrowing ReadModel, at: Timestamp,
        into keys: inout [(Int64, Timestamp)]
    ) {
        for e in record.exceptions where filter == nil || e.kind == filter { keys.append((e.exceptionId, e.receivedAt)) }
    }

    static func snapshotKeys(filter: ExceptionKind?, model: borrowing ReadModel, limit: Int) -> [Int64] {
        let next = model.nextExceptionIdentifier
        let recent = model.exceptions(afterId: max(0, next - 1 - snapshotCount), kind: filter, limit: Int(snapshotCount))
        return recent.prefix(limit).map(\.exceptionId)
    }

    static func render(_ key: Int64, filter: ExceptionKind?, model: borrowing ReadModel, into items: inout [String]) -> Bool {
        guard let e = model.exception(key) else { return false }
        items.append(JSONResponse.text(e))
        return true
    }

    static let goneNotice: String? = "exceptions were dropped from the list before they could be sent; resubscribe for the current list"
    /// The exceptions queue is the desk's (rejected lines show other clients' data): staff only.
    static let openToClients = false
}

/// `/ws/inventory`: each security's inventory (or one scope's share, or every holding scope's), as
/// `GET /api/v1/inventory/{securityId}` reads it.
enum InventoryStream: StreamDefinition {
    static let idFields = ["securityId", "legalEntity", "aggregationUnitId"]
    static let name = "inventory"
    static var filterKeys: [String] { InventoryFilter.fieldNames }

    static func filter(_ fields: [String: String], clientView: Bool) throws(BadFilter) -> InventoryFilter {
        let scope: InventoryScope?
        do throws(ScopeChoiceError) {
            scope = try InventoryScope.named(aggregationUnitId: fields["aggregationUnitId"], legalEntity: fields["legalEntity"], clientId: fields["clientId"])
        } catch {
            throw BadFilter(message: error.message, field: "filter.\(error.field)")
        }
        var by: ScopeKind?
        if let b = fields["by"] {
            guard let kind = InventoryFilter.byNames.first(where: { $0.name == b })?.kind else {
                throw BadFilter(message: "by must be \(InventoryFilter.byNames.map(\.name).joined(separator: " or "))", field: "filter.by")
            }
            by = kind
            if scope != nil {
                throw BadFilter(
                    message: "by shows every \(b)'s share; it cannot be combined with a legalEntity, aggregationUnitId or clientId", field: "filter.by")
            }
        }
        return InventoryFilter(securityId: fields["securityId"], marketId: fields["marketId"], scope: scope, by: by)
    }

    static func fields(of filter: InventoryFilter) -> [(name: String, value: String)] { filter.values.map { ($0.name, $0.value) } }

    static func changedKeys(
        in record: ChangeRecord, filter: InventoryFilter, model: borrowing ReadModel, at: Timestamp,
        into keys: inout [(Int32, Timestamp)]
    ) {
        // A new rule set in force changes every calculation: every matching security is sent again.
        let changed =
            record.rulesChanged ? model.inventoryIndices(matching: filter) : record.inventorySecurities.filter { model.inventory($0, matches: filter) }
        for s in changed { keys.append((s, at)) }
    }

    static func snapshotKeys(filter: InventoryFilter, model: borrowing ReadModel, limit: Int) -> [Int32] {
        Array(model.inventoryIndices(matching: filter).prefix(limit))
    }

    static func render(_ key: Int32, filter: InventoryFilter, model: borrowing ReadModel, into items: inout [String]) -> Bool {
        items += model.inventoryItems(key, filter: filter)
        return true
    }
}

/// `/ws/locate`: locates as they are requested and decided, as `GET /api/v1/locates` lists them (as their
/// client sees them on a client's stream).
enum LocateStream: StreamDefinition {
    static let idFields = ["locateId"]
    static let name = "locate"
    static var filterKeys: [String] { LocateFilter.fieldNames }

    static func filter(_ fields: [String: String], clientView: Bool) throws(BadFilter) -> LocateFilter {
        var status: LocateRecord.Status?
        if let s = fields["status"] {
            guard let v = LocateRecord.Status(rawValue: s) else {
                throw BadFilter(
                    message: "unknown status \(s); use \(LocateRecord.Status.allCases.map(\.rawValue).joined(separator: ", "))", field: "filter.status")
            }
            status = v
        }
        var filter = LocateFilter(clientId: fields["clientId"], securityId: fields["securityId"], status: status, marketId: fields["marketId"])
        filter.clientView = clientView
        return filter
    }

    static func fields(of filter: LocateFilter) -> [(name: String, value: String)] { filter.values.map { ($0.name, $0.value) } }

    static func changedKeys(
        in record: ChangeRecord, filter: LocateFilter, model: borrowing ReadModel, at: Timestamp,
        into keys: inout [(Int32, Timestamp)]
    ) {
        for i in model.locates(changedIn: record, matching: filter) { keys.append((i, at)) }
    }

    static func snapshotKeys(filter: LocateFilter, model: borrowing ReadModel, limit: Int) -> [Int32] {
        Array(model.locateIndices(matching: filter).prefix(limit))
    }

    static func render(_ key: Int32, filter: LocateFilter, model: borrowing ReadModel, into items: inout [String]) -> Bool {
        if let json = model.locateJSON(key, forClient: filter.clientView) { items.append(json) }
        return true
    }
}
