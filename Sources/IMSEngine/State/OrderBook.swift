import Foundation
import IMSDomain

/// One check of an order's validation: which stage, what was checked, whether it passed, and against what.
public struct OrderCheck: Sendable, Codable, Equatable {
    /// `CLIENT` (stage 1), `UNIT` (stage 2) or `MARKET` (the market's short-sale rules), or `ORDER`.
    public var stage: String
    public var code: String
    public var passed: Bool
    public var message: String
    /// The limit (or price) checked against, and what the order needed.
    public var available: Int64?
    public var required: Int64?
}

/// An order's validation and what became of it (SPEC 5).
public struct OrderRecord: Sendable, Codable, Equatable {
    public enum Decision: String, Sendable, Codable, CaseIterable {
        case approved = "APPROVED", rejected = "REJECTED"
        /// An approval whose market has rolled: what it held is given back.
        case expired = "EXPIRED"
    }

    public var orderId: String
    public var clientId: String
    public var bookId: String
    public var securityId: String
    public var marketId: String?
    public var aggregationUnitId: String?
    public var side: OrderCommand.Side
    public var quantity: Int64
    public var price: Decimal8
    public var decision: Decision
    /// Every check made, in order; the failed ones are the reasons of a rejection.
    public var checks: [OrderCheck]
    public var sequence: Int64
    public var decidedAt: Timestamp
    public var businessDate: BusinessDate?
    public var user: String?

    /// The trades that carried this order's id and took their quantity from what it holds (nil: none; older
    /// snapshots have no such field).
    public var fills: [OrderFill]?

    public var reasons: [OrderCheck] { checks.filter { !$0.passed } }
    /// What its trades have turned into position.
    public var filledQuantity: Int64 { fills?.reduce(0) { $0 + $1.quantity } ?? 0 }
    /// What it still holds in the sell limits: its quantity less what its trades filled.
    public var heldQuantity: Int64 { decision == .approved ? max(0, quantity - filledQuantity) : 0 }

    /// Records that trade `tradeId` now fills `quantity` of it (0: no longer fills it).
    mutating func setFill(tradeId: String, quantity: Int64) {
        var list = fills ?? []
        list.removeAll { $0.tradeId == tradeId }
        if quantity > 0 { list.append(OrderFill(tradeId: tradeId, quantity: quantity)) }
        fills = list.isEmpty ? nil : list
    }
}

/// A trade that filled (part of) an approved order: the reservation became position.
public struct OrderFill: Sendable, Codable, Equatable {
    public var tradeId: String
    public var quantity: Int64
}

/// The orders validated today: a part of the state, changed only by `OrderCommand`s and day rolls.
/// What an approved order holds (`SELL_APPROVED.LONG|SHORT` of its security, client and unit) is derived and
/// rebuilt on load.
public struct OrderBook: Sendable {
    public private(set) var records: [OrderRecord] = []
    private var byId: [String: Int] = [:]
    /// Approved orders that still hold their quantity.
    private(set) var live: Set<Int> = []
    var changed: Set<Int> = []

    public init() {}

    public var count: Int { records.count }

    public func order(_ id: String) -> OrderRecord? { byId[id].map { records[$0] } }

    mutating func add(_ r: OrderRecord) -> Int {
        let i = records.count
        records.append(r)
        byId[r.orderId] = i
        if r.decision == .approved { live.insert(i) }
        changed.insert(i)
        return i
    }

    mutating func update(_ i: Int, _ body: (inout OrderRecord) -> Void) {
        body(&records[i])
        if records[i].decision == .approved { live.insert(i) } else { live.remove(i) }
        changed.insert(i)
    }

    mutating func update(_ orderId: String, _ body: (inout OrderRecord) -> Void) {
        if let i = byId[orderId] { update(i, body) }
    }

    /// Takes an order as the change feed brings it (the read model).
    mutating func take(_ r: OrderRecord) {
        if let i = byId[r.orderId] { update(i) { $0 = r } } else { _ = add(r) }
    }

    mutating func takeChanges() -> [OrderRecord] {
        defer { changed.removeAll(keepingCapacity: true) }
        return changed.sorted().map { records[$0] }
    }

    func encode(to w: inout BinaryWriter) { JSONSection.write(records, to: &w) }

    init(from r: inout BinaryReader) throws(BinaryFormatError) {
        self.init()
        for record in try JSONSection.read([OrderRecord].self, from: &r, what: "orders") { _ = add(record) }
        changed.removeAll()
    }
}
