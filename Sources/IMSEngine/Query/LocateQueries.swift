import Foundation
import IMSDomain

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
}

/// The locates a listing asks for.
public struct LocateFilter: Sendable, Hashable {
    public var clientId: String?
    public var securityId: String?
    public var status: LocateRecord.Status?
    public var marketId: String?
    public var businessDate: BusinessDate?

    public init(clientId: String? = nil, securityId: String? = nil, status: LocateRecord.Status? = nil, marketId: String? = nil,
                businessDate: BusinessDate? = nil) {
        self.clientId = clientId; self.securityId = securityId; self.status = status; self.marketId = marketId; self.businessDate = businessDate
    }

    public static let fieldNames = ["clientId", "securityId", "status", "marketId"]

    public var values: [(name: String, value: String)] {
        [("clientId", clientId), ("securityId", securityId), ("status", status?.rawValue), ("marketId", marketId)].compactMap { n, v in v.map { (n, $0) } }
    }

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
    public func locateView(_ r: LocateRecord) -> LocateView {
        var expires: Timestamp?
        if let date = r.businessDate, let marketId = r.marketId, let m = marketIds.lookup(marketId),
           let zone = TimeZone(identifier: markets[Int(m)].market.timeZone) {
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = zone
            let (y, mo, d) = date.adding(days: 1).components
            if let end = calendar.date(from: DateComponents(year: y, month: mo, day: d)) {
                expires = Timestamp(micros: Int64((end.timeIntervalSince1970 * 1_000_000).rounded()))
            }
        }
        return LocateView(locateId: r.locateId, status: r.status.rawValue, approvedQuantity: r.approvedQuantity, decrementQuantity: r.decrementQuantity,
                          reason: r.reason, requestId: r.requestId, clientId: r.clientId, securityId: r.securityId, marketId: r.marketId,
                          side: r.side.rawValue, settlement: r.settlement.rawValue, quantity: r.quantity, rateBps: r.rateBps,
                          businessDate: r.businessDate, expiresAt: expires, requestedAt: r.requestedAt, requestedBy: r.requestedBy, history: r.history)
    }

    public func locate(_ id: String) -> LocateView? { locates.locate(id).map(locateView) }

    public func locate(clientId: String, requestId: String) -> LocateView? {
        locates.locate(clientId: clientId, requestId: requestId).map(locateView)
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

    /// Locate `index` as the REST resource's JSON (a stream's `data`).
    public func locateJSON(_ index: Int32) -> String? {
        guard Int(index) < locates.records.count else { return nil }
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return (try? e.encode(locateView(locates.records[Int(index)]))).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The locates `filter` passes: PENDING first, then the newest first.
    public func locates(matching filter: LocateFilter, offset: Int, limit: Int) -> LocatePage {
        var matching = locates.records.indices.filter { filter.matches(locates.records[$0]) }
        matching.sort { a, b in
            let pa = locates.records[a].status == .pending, pb = locates.records[b].status == .pending
            return pa != pb ? pa : a > b
        }
        let page = matching.dropFirst(offset).prefix(limit).map { locateView(locates.records[$0]) }
        return LocatePage(items: Array(page), total: matching.count, offset: offset, limit: limit)
    }
}
