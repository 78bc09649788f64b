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
        case approved = "APPROVED"
        case rejected = "REJECTED"
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

    /// The cancellation of what was left of it (nil: not cancelled; older snapshots have no such field).
    public var cancellation: OrderCancellation?

    public var reasons: [OrderCheck] { checks.filter { !$0.passed } }
    /// What its trades have turned into position.
    public var filledQuantity: Int64 { fills?.reduce(0) { $0 + $1.quantity } ?? 0 }
    /// What it still holds in the security's and client's sell limits: its quantity less what its trades
    /// filled; nothing once cancelled.
    public var heldQuantity: Int64 { decision == .approved && cancellation == nil ? max(0, quantity - filledQuantity) : 0 }
    /// What it holds in its aggregation unit's limits until the day roll: a long sale as `heldQuantity`, a
    /// short sale all of it (`OrderHolds`), less what a cancellation gave back.
    public var unitHeldQuantity: Int64 {
        guard decision == .approved else { return 0 }
        return side == .sellShort ? quantity - (cancellation?.quantity ?? 0) : heldQuantity
    }

    /// An order id in the namespace of its owner: a client (how an order is known, as a locate by client and
    /// request id) or a book (how a trade names the order it executes).
    public struct Key: Hashable, Sendable {
        public var owner: String
        public var orderId: String

        /// A `Key` from its fields.
        public init(_ owner: String, _ orderId: String) { self.owner = owner; self.orderId = orderId }
    }

    /// How an order is known: by its client and id.
    public var key: Key { Key(clientId, orderId) }
    /// How a trade names it: by the book the trade is booked to and the order id.
    public var holdKey: Key { Key(bookId, orderId) }

    /// Records that trade `tradeId` now fills `quantity` of it (0: no longer fills it).
    mutating func setFill(tradeId: String, quantity: Int64) {
        var list = fills ?? []
        list.removeAll { $0.tradeId == tradeId }
        if quantity > 0 { list.append(OrderFill(tradeId: tradeId, quantity: quantity)) }
        fills = list.isEmpty ? nil : list
    }
}

/// What was left of an approved order, cancelled: given back to the sell limits (`OrderCancelCommand`).
public struct OrderCancellation: Sendable, Codable, Equatable {
    public var sequence: Int64
    public var at: Timestamp
    /// What was given back: the quantity its trades had not filled then.
    public var quantity: Int64
    public var by: String
    public var reason: String?
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
    // Grown without a stall, as the locates are (`GrowingTables.swift`).
    public private(set) var records = ChunkedArray<OrderRecord>()
    /// (client, order id) → index of its latest record: an order id belongs to its client.
    private var byId = ShardedDictionary<OrderRecord.Key, Int>()
    /// Order id → the keys (`key`) of the clients that used it.
    private var byOrderId = ShardedDictionary<String, [OrderRecord.Key]>()
    /// (book, order id) → index: what a trade carrying the order id on that book fills.
    private var byHoldKey = ShardedDictionary<OrderRecord.Key, Int>()
    /// Approved orders that still hold their quantity.
    private(set) var live = IndexBitSet()
    var changed: Set<Int> = []

    /// A `OrderBook` from its fields.
    public init() {}

    public var count: Int { records.count }

    /// The index of the latest order `orderId` of client `clientId`.
    func index(clientId: String, orderId: String) -> Int? { byId[OrderRecord.Key(clientId, orderId)] }

    /// The latest order `orderId` of client `clientId`.
    public func order(clientId: String, orderId: String) -> OrderRecord? { byId[OrderRecord.Key(clientId, orderId)].map { records[$0] } }

    /// The latest order with id `orderId` of each client that used it, newest first (staff look-ups by id).
    public func orders(withId orderId: String) -> [OrderRecord] {
        (byOrderId[orderId] ?? []).compactMap { byId[$0].map { records[$0] } }.sorted { $0.sequence > $1.sequence }
    }

    /// The latest record of each (client, order id) that passes `include`, newest first.
    public func latest(where include: (OrderRecord) -> Bool) -> [OrderRecord] {
        records.indices.reversed().compactMap { i in
            let r = records[i]
            return byId[r.key] == i && include(r) ? r : nil
        }
    }

    mutating func add(_ r: OrderRecord) -> Int {
        let i = records.count
        records.append(r)
        if byId[r.key] == nil { byOrderId[r.orderId, default: []].append(r.key) }
        byId[r.key] = i
        byHoldKey[r.holdKey] = i
        if r.decision == .approved { live.insert(i) }
        changed.insert(i)
        return i
    }

    mutating func update(_ i: Int, _ body: (inout OrderRecord) -> Void) {
        body(&records[i])
        if records[i].decision == .approved { live.insert(i) } else { live.remove(i) }
        changed.insert(i)
    }

    mutating func update(holdKey: OrderRecord.Key, _ body: (inout OrderRecord) -> Void) {
        if let i = byHoldKey[holdKey] { update(i, body) }
    }

    /// Takes an order as the change feed brings it (the read model): the same record (client, id and
    /// sequence) is updated; a newer one (the id reused on a later day) is added.
    /// It leaves no change mark, as `LocateBook.take` does not.
    mutating func take(_ r: OrderRecord) {
        let i: Int
        if let j = byId[r.key], records[j].sequence == r.sequence {
            update(j) { $0 = r }
            i = j
        } else {
            i = add(r)
        }
        changed.remove(i)
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
