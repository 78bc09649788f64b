import Foundation
import IMSDomain
import Synchronization

/// A locate as the API shows it (SPEC 6's fields first): the answer to a request, and its history.
public struct LocateView: Codable, Sendable, Equatable {
    public var locateId: String
    public var status: String
    public var approvedQuantity: Int64
    public var decrementQuantity: Int64
    public var reason: String?
    public var requestId: String
    public var clientId: String
    public var securityId: String
    public var marketId: String?
    public var side: String
    public var settlement: String
    public var quantity: Int64
    /// The indicative borrow rate from the lenders' lines, in basis points.
    public var rateBps: Decimal8?
    /// The market's business date it was asked on; it expires when the market rolls past it.
    public var businessDate: BusinessDate?
    /// The end of that business date in the market's time zone: when the day roll expires it at the latest.
    public var expiresAt: Timestamp?
    public var requestedAt: Timestamp
    public var requestedBy: String?
    public var history: [LocateRecord.Step]

    /// The JSON of the resource, written directly (keys sorted, as the encoder would): a locate answer is on
    /// the decision path, where `JSONEncoder` cost more than the decision itself (measured).
    public var json: String {
        var j = JSONText(capacity: 600 + history.count * 160)
        j.object { j in
            j.field("approvedQuantity", approvedQuantity)
            j.field("businessDate", businessDate)
            j.field("clientId", clientId)
            j.field("decrementQuantity", decrementQuantity)
            if let expiresAt { j.field("expiresAt", expiresAt.description) }
            j.key("history")
            j.array { j in
                for s in history {
                    j.object { j in
                        j.field("approvedQuantity", s.approvedQuantity)
                        j.field("at", s.at.description)
                        j.field("by", s.by)
                        j.field("reason", s.reason)
                        j.field("sequence", s.sequence)
                        j.field("status", s.status.rawValue)
                    }
                }
            }
            j.field("locateId", locateId)
            j.field("marketId", marketId)
            j.field("quantity", quantity)
            if let rateBps { j.key("rateBps"); j.raw(rateBps.description) }
            j.field("reason", reason)
            j.field("requestId", requestId)
            j.field("requestedAt", requestedAt.description)
            j.field("requestedBy", requestedBy)
            j.field("securityId", securityId)
            j.field("settlement", settlement)
            j.field("side", side)
            j.field("status", status)
        }
        return j.text
    }
}

/// Time zones by identifier, made once.
private let timeZones = Mutex<[String: TimeZone]>([:])

/// The locates a listing asks for.
public struct LocateFilter: Sendable, Hashable {
    public var clientId: String?
    public var securityId: String?
    public var status: LocateRecord.Status?
    public var marketId: String?
    public var businessDate: BusinessDate?
    /// Whether the locates are shown as their client sees them (`LocateView.forClient`): a client's stream.
    public var clientView = false

    /// A `LocateFilter` from its fields.
    public init(
        clientId: String? = nil, securityId: String? = nil, status: LocateRecord.Status? = nil, marketId: String? = nil,
        businessDate: BusinessDate? = nil
    ) {
        self.clientId = clientId; self.securityId = securityId; self.status = status; self.marketId = marketId; self.businessDate = businessDate
    }

    public static let fieldNames = ["clientId", "securityId", "status", "marketId"]

    public var values: [(name: String, value: String)] {
        [("clientId", clientId), ("securityId", securityId), ("status", status?.rawValue), ("marketId", marketId)].compactMap { n, v in v.map { (n, $0) } }
    }

    /// Whether a locate passes the filter.
    public func matches(_ r: LocateRecord) -> Bool {
        if let v = clientId, r.clientId != v { return false }
        if let v = securityId, r.securityId != v { return false }
        if let v = status, r.status != v { return false }
        if let v = marketId, r.marketId != v { return false }
        if let v = businessDate, r.businessDate != v { return false }
        return true
    }
}

/// A page of locates: PENDING first (the operator's queue), then the newest first.
public struct LocatePage: Codable, Sendable {
    public var items: [LocateView]
    public var total: Int
    public var offset: Int
    public var limit: Int
}

extension ReadModel {
    /// A locate as the API shows it.
    public func locateView(_ r: LocateRecord) -> LocateView {
        var expires: Timestamp?
        if let date = r.businessDate, let marketId = r.marketId, let m = marketIds.lookup(marketId) {
            let identifier = markets[Int(m)].market.timeZone
            let zone = timeZones.withLock { cache -> TimeZone? in
                if let z = cache[identifier] { return z }
                let z = TimeZone(identifier: identifier)
                cache[identifier] = z
                return z
            }
            if let zone {
                // Midnight after the business date, local time: midnight UTC less the zone's offset then.
                let utcMidnight = Int64(date.adding(days: 1).dayNumber) * 86_400
                let offset = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(utcMidnight))))
                expires = Timestamp(micros: (utcMidnight - offset) * 1_000_000)
            }
        }
        return LocateView(
            locateId: r.locateId, status: r.status.rawValue, approvedQuantity: r.approvedQuantity, decrementQuantity: r.decrementQuantity,
            reason: r.reason, requestId: r.requestId, clientId: r.clientId, securityId: r.securityId, marketId: r.marketId,
            side: r.side.rawValue, settlement: r.settlement.rawValue, quantity: r.quantity, rateBps: r.rateBps,
            businessDate: r.businessDate, expiresAt: expires, requestedAt: r.requestedAt, requestedBy: r.requestedBy, history: r.history)
    }

    /// A locate as the API shows it, by id.
    /// (`if let`, not `.map(locateView)`: a method of the model as a closure captures a copy of the model,
    /// retaining every table, on every call.)
    public func locate(_ id: String) -> LocateView? {
        guard let r = locates.locate(id) else { return nil }
        return locateView(r)
    }

    /// The locate a client's request id made, as the API shows it.
    public func locate(clientId: String, requestId: String) -> LocateView? {
        guard let r = locates.locate(clientId: clientId, requestId: requestId) else { return nil }
        return locateView(r)
    }

    /// The indices of the locates `filter` passes: PENDING first, then the newest first.
    public func locateIndices(matching filter: LocateFilter) -> [Int32] {
        var matching = locates.records.indices.filter { filter.matches(locates.records[$0]) }
        matching.sort { a, b in
            let pa = locates.records[a].status == .pending, pb = locates.records[b].status == .pending
            return pa != pb ? pa : a > b
        }
        return matching.map { Int32($0) }
    }

    /// The locates a change record changed that `filter` passes, by index. With a status, a locate that just
    /// left it is passed too (once), so a queue of PENDING locates learns that one was decided.
    public func locates(changedIn r: ChangeRecord, matching filter: LocateFilter) -> [Int32] {
        r.locates.compactMap { l in
            var others = filter
            others.status = nil
            guard others.matches(l) else { return nil }
            if let status = filter.status, l.status != status, !(l.history.count >= 2 && l.history[l.history.count - 2].status == status) { return nil }
            return locates.index(l.locateId).map { Int32($0) }
        }
    }

    /// Locate `index` as the REST resource's JSON (a stream's `data`), as its client sees it when `forClient`.
    public func locateJSON(_ index: Int32, forClient: Bool = false) -> String? {
        guard Int(index) < locates.records.count else { return nil }
        let view = locateView(locates.records[Int(index)])
        return forClient ? view.forClient().json : view.json
    }

    /// The locates `filter` passes: PENDING first, then the newest first.
    public func locates(matching filter: LocateFilter, offset: Int, limit: Int) -> LocatePage {
        let matching = locateIndices(matching: filter)
        let page = matching.dropFirst(offset).prefix(limit).map { locateView(locates.records[Int($0)]) }
        return LocatePage(items: Array(page), total: matching.count, offset: offset, limit: limit)
    }
}

/// `POST /api/v1/orders/validate`'s answer (SPEC 6's fields first): the decision, the failed checks as
/// reasons, and every check made with the limit it was checked against.
public struct OrderView: Codable, Sendable, Equatable {
    public var orderId: String
    public var decision: String
    public var reasons: [OrderCheck]
    public var checks: [OrderCheck]
    public var clientId: String
    public var bookId: String
    public var securityId: String
    public var marketId: String?
    public var aggregationUnitId: String?
    public var side: String
    public var quantity: Int64
    public var price: Decimal8
    public var sequence: Int64
    public var decidedAt: Timestamp
    public var businessDate: BusinessDate?
    /// What trades carrying this order's id have filled, and which trades.
    public var filledQuantity: Int64
    public var fills: [OrderFill]

    /// An approval whose market rolled (what it held was given back). Its decision stays APPROVED (SPEC 6: an
    /// order's answer is APPROVED or REJECTED).
    public var expired: Bool
    /// A dry run's answer (nothing journaled, reserved or audited); absent on a real decision.
    public var dryRun: Bool?
    /// What was left of it, cancelled (`POST /api/v1/orders/{orderId}/cancel`, FIX 35=F); absent when not.
    public var cancellation: OrderCancellation?

    /// The view of an order record, as the API shows it.
    public init(_ r: OrderRecord) {
        orderId = r.orderId; decision = r.decision == .expired ? OrderRecord.Decision.approved.rawValue : r.decision.rawValue
        expired = r.decision == .expired
        reasons = r.reasons; checks = r.checks; clientId = r.clientId
        bookId = r.bookId; securityId = r.securityId; marketId = r.marketId; aggregationUnitId = r.aggregationUnitId
        side = r.side.rawValue; quantity = r.quantity; price = r.price; sequence = r.sequence; decidedAt = r.decidedAt
        businessDate = r.businessDate
        filledQuantity = r.filledQuantity; fills = r.fills ?? []
        cancellation = r.cancellation
    }

    /// The JSON of the answer, written directly (keys sorted, as the encoder would): it is on the decision
    /// path, where `JSONEncoder` took a tenth of the server's time (measured).
    public var json: String {
        func checkList(_ j: inout JSONText, _ list: [OrderCheck]) {
            j.array { j in
                for c in list {
                    j.object { j in
                        if let available = c.available { j.field("available", available) }
                        j.field("code", c.code)
                        j.field("message", c.message)
                        j.field("passed", c.passed)
                        if let required = c.required { j.field("required", required) }
                        j.field("stage", c.stage)
                    }
                }
            }
        }
        var j = JSONText(capacity: 700 + checks.count * 200)
        j.object { j in
            j.field("aggregationUnitId", aggregationUnitId)
            j.field("bookId", bookId)
            j.field("businessDate", businessDate)
            if let cancellation {
                j.key("cancellation")
                j.object { j in
                    j.field("at", cancellation.at.description)
                    j.field("by", cancellation.by)
                    j.field("quantity", cancellation.quantity)
                    if let reason = cancellation.reason { j.field("reason", reason) }
                    j.field("sequence", cancellation.sequence)
                }
            }
            j.key("checks")
            checkList(&j, checks)
            j.field("clientId", clientId)
            j.field("decidedAt", decidedAt.description)
            j.field("decision", decision)
            if let dryRun { j.field("dryRun", dryRun) }
            j.field("expired", expired)
            j.field("filledQuantity", filledQuantity)
            j.key("fills")
            j.array { j in
                for f in fills {
                    j.object { j in
                        j.field("quantity", f.quantity); j.field("tradeId", f.tradeId)
                    }
                }
            }
            j.field("marketId", marketId)
            j.field("orderId", orderId)
            j.key("price"); j.raw(price.description)
            j.field("quantity", quantity)
            j.key("reasons")
            checkList(&j, reasons)
            j.field("securityId", securityId)
            j.field("sequence", sequence)
            j.field("side", side)
        }
        return j.text
    }
}

extension LocateView {
    /// The locate as its client sees it: who decided each step is the policy, the day roll, the client's own
    /// requestor, or "desk" for a person of the prime broker (whose key ids and names stay in-house).
    public func forClient() -> LocateView {
        var v = self
        v.history = history.map { step in
            var s = step
            if !(s.by.hasPrefix("policy") || s.by == "dayRoll" || s.by == requestedBy) { s.by = "desk" }
            return s
        }
        return v
    }
}

extension OrderView {
    /// The answer as a client sees it: its own figures only. The aggregation unit's checks (stage 2, and the
    /// pre-borrow check, which reads the unit's borrows) say whether they passed, not the firm's figures.
    public func forClient() -> OrderView {
        var v = self
        func redact(_ c: OrderCheck) -> OrderCheck {
            guard c.stage == "UNIT" || c.code == "PRE_BORROW_REQUIRED" else { return c }
            var c = c
            c.available = nil
            c.message = c.passed ? "the firm's limit covers the order" : "the firm's limit does not cover the order"
            return c
        }
        v.checks = checks.map(redact)
        v.reasons = reasons.map(redact)
        v.aggregationUnitId = nil
        return v
    }
}

extension ReadModel {
    /// Order `orderId` of client `clientId` (its latest, if the id was used again on a later day).
    public func order(clientId: String, orderId: String) -> OrderView? {
        orders.order(clientId: clientId, orderId: orderId).map(OrderView.init)
    }

    /// The same, only if it was asked on its market's current business day: what a re-sent request is answered
    /// with (after the market rolls, the id starts a new order).
    public func orderOfToday(clientId: String, orderId: String) -> OrderView? {
        guard let r = orders.order(clientId: clientId, orderId: orderId), !clock.hasRolled(past: r.businessDate, marketId: r.marketId) else { return nil }
        return OrderView(r)
    }

    /// `GET /api/v1/orders`: the orders of the order book (each client's latest with each id), newest first,
    /// of a client, a security (its internal id) and a decision (`APPROVED` counts the expired approvals too,
    /// as their answer stays APPROVED), paged.
    public func orderPage(clientId: String?, securityId: String?, decision: OrderRecord.Decision?, offset: Int, limit: Int) -> (items: [OrderView], total: Int)
    {
        let matching = orders.latest { r in
            (clientId == nil || r.clientId == clientId) && (securityId == nil || r.securityId == securityId)
                && (decision == nil || r.decision == decision || (decision == .approved && r.decision == .expired))
        }
        return (matching.dropFirst(offset).prefix(limit).map(OrderView.init), matching.count)
    }

    /// Every client's latest order with id `orderId`, newest first (staff look it up by id alone).
    public func orders(withId orderId: String) -> [OrderView] { orders.orders(withId: orderId).map(OrderView.init) }

    /// Locate request `requestId` of client `clientId`, only if asked on its market's current business day.
    public func locateOfToday(clientId: String, requestId: String) -> LocateView? {
        guard let r = locates.locate(clientId: clientId, requestId: requestId), !clock.hasRolled(past: r.businessDate, marketId: r.marketId) else { return nil }
        return locateView(r)
    }
}
