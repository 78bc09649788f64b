import IMSDomain
import IMSRules

/// What the approved orders of a partition's securities still hold in the sell limits, and which trades
/// filled them. Derived: rebuilt from the order book (and its fills) on load.
///
/// An approved order holds its quantity in `SELL_APPROVED.LONG|SHORT` of its security, client and unit. The
/// trade that executes it carries its `orderId` (and is booked to the order's book). A fill leaves
/// `SELL_APPROVED` where the sale itself now counts: a long sale's in the position (LONG falls), a short
/// sale's in the client's locate (the sale uses it up, `LOCATE_APPROVED.SHORT` falls). So the limits count a
/// sale once, never twice. The unit's short-sell limit is made of what was borrowed, lent and offered
/// (`BORROWED − LOANED + EXTERNAL`), which a short sale does not change: there a short sale's fill stays in
/// `SELL_APPROVED.SHORT` until the day roll, else the same shares could be approved again.
/// A trade's amendment or cancellation gives back what it filled first, so the fill follows the trade's latest
/// version.
struct OrderHolds: Sendable {
    struct Held: Sendable {
        var security: Int32
        var bucket: Int
        var side: OrderCommand.Side
        /// Its slots in the client and unit scopes (-1: none).
        var client: Int32
        var unit: Int32
        /// What no trade has filled yet (what later trades may still fill).
        var remaining: Int64
        /// Cancelled: it holds nothing more, and a fill given back (its trade cancelled) is not held again.
        var closed = false
        /// Whether a fill leaves the unit's `SELL_APPROVED` (a long sale; a short sale's stays until the day roll).
        var unitReleasesOnFill: Bool { side == .sell }
    }

    /// How a trade names the order it executes: the book it is booked to and the order id it carries.
    struct Key: Hashable, Sendable {
        var book: Int32
        var orderId: String
    }

    // Grown without a stall, as the order book is (`GrowingTables.swift`).
    var held = ShardedDictionary<Key, Held>()
    /// Trades that filled an order: (market << 32 | index in its table) → the order and quantity filled.
    var byTrade = ShardedDictionary<Int64, (order: Key, quantity: Int64)>()
    /// Fills changed since the state last took them, in order: order, trade, quantity (0: no longer fills).
    var changes: [(order: Key, tradeId: String, quantity: Int64)] = []

    static func key(market m: Int, trade index: Int32) -> Int64 { Int64(m) << 32 | Int64(UInt32(bitPattern: index)) }
}

extension Partition {
    /// Adds `q` to what order `h` holds in the security's and client's buckets, and `unitQ` in its unit's.
    mutating func addHeld(_ h: OrderHolds.Held, _ q: Int64, unit unitQ: Int64) {
        inventory.add(security: h.security, bucket: h.bucket, q)
        if h.client >= 0 { scoped.client.add(slot: h.client, bucket: h.bucket, q) }
        if h.unit >= 0 { scoped.unit.add(slot: h.unit, bucket: h.bucket, unitQ) }
    }

    /// Gives back what trade (`m`, `index`) filled, if it filled an order that still holds.
    mutating func releaseFill(market m: Int, trade index: Int32, tradeId: String) {
        guard let fill = orderHolds.byTrade.removeValue(forKey: OrderHolds.key(market: m, trade: index)) else { return }
        orderHolds.changes.append((fill.order, tradeId, 0))
        guard var h = orderHolds.held[fill.order], !h.closed else { return }
        h.remaining += fill.quantity
        orderHolds.held[fill.order] = h
        addHeld(h, fill.quantity, unit: h.unitReleasesOnFill ? fill.quantity : 0)
    }

    /// Turns what order `orderId` of book `book` holds into the position trade (`m`, `index`) just entered, up
    /// to what it still holds. A short sale needs an approval (SPEC 4.3, 5), so a short sale whose order holds
    /// none (unknown, rejected, expired, of another day, another security or side) or too little raises
    /// `UNMATCHED_ORDER`; a long sale or a buy that names an order it cannot fill raises nothing (no approval
    /// was required of it; docs/locates.md).
    mutating func fillOrder(
        _ orderId: String, book: Int32, market m: Int, trade index: Int32, tradeId: String, security: Int32,
        side: TradeSide, quantity: Int64, sequence: Int64, at time: Timestamp
    ) {
        guard side == .sell || side == .sellShort else { return }
        let key = OrderHolds.Key(book: book, orderId: orderId)
        let approvalRequired = side == .sellShort
        guard var h = orderHolds.held[key] else {
            if approvalRequired {
                raise(
                    .unmatchedOrder, sequence: sequence,
                    message:
                        "short sale \(tradeId) names order \(orderId), which holds no approved short sale on its book (unknown, rejected, expired or of another day)",
                    subject: tradeId, at: time)
            }
            return
        }
        let matches = h.security == security && h.side.rawValue == side.rawValue
        guard matches else {
            if approvalRequired {
                raise(
                    .unmatchedOrder, sequence: sequence,
                    message: "short sale \(tradeId) names order \(orderId), an approved \(h.side.rawValue) of another security or side; it fills nothing",
                    subject: tradeId, at: time)
            }
            return
        }
        let fill = min(quantity, h.remaining)
        if quantity > h.remaining && approvalRequired {
            raise(
                .unmatchedOrder, sequence: sequence,
                message:
                    "short sale \(tradeId) sells \(quantity) against order \(orderId)'s \(h.remaining) still approved; \(quantity - h.remaining) were never approved",
                subject: tradeId, at: time)
        }
        guard fill > 0 else { return }
        h.remaining -= fill
        orderHolds.held[key] = h
        addHeld(h, -fill, unit: h.unitReleasesOnFill ? -fill : 0)
        orderHolds.byTrade[OrderHolds.key(market: m, trade: index)] = (key, fill)
        orderHolds.changes.append((key, tradeId, fill))
    }
}

extension EngineState {
    /// Takes the fills partition `k` changed into the order book (for the read model and the snapshot).
    mutating func takeOrderFills(partition k: Int) {
        guard !partitions[k].orderHolds.changes.isEmpty else { return }
        for (order, tradeId, quantity) in partitions[k].orderHolds.changes {
            orders.update(holdKey: OrderRecord.Key(reference.bookIds.name(order.book), order.orderId)) { $0.setFill(tradeId: tradeId, quantity: quantity) }
        }
        partitions[k].orderHolds.changes.removeAll(keepingCapacity: true)
    }

    /// What an approved order holds: its quantity less what its trades filled, in `SELL_APPROVED.LONG|SHORT`
    /// of its security, client and unit. `sign` 1 starts holding it (an approval, or a load: its fills are
    /// found again by trade id), −1 gives back what it still holds (expiry; `expireOrders` forgets the fills).
    mutating func countOrder(_ r: OrderRecord, sign: Int64) {
        guard r.decision == .approved, let security = reference.securityIndex(r.securityId), let book = reference.bookIds.lookup(r.bookId) else { return }
        let k = partition(ofSecurity: security)
        let key = OrderHolds.Key(book: book, orderId: r.orderId)
        if sign < 0 {
            guard let h = partitions[k].orderHolds.held.removeValue(forKey: key) else { return }
            partitions[k].addHeld(h, -r.heldQuantity, unit: -r.unitHeldQuantity)
            return
        }
        let (client, isNew) = reference.clientIds.intern(r.clientId)
        if isNew { reference.version &+= 1 }
        var unitSlot: Int32 = -1
        if let unitId = r.aggregationUnitId, let unit = reference.unitIds.lookup(unitId) {
            unitSlot = partitions[k].scoped.unit.slot(scope: unit, security: security)
        }
        let h = OrderHolds.Held(
            security: security, bucket: r.side == .sellShort ? Bucket.sellApprovedShort : Bucket.sellApprovedLong,
            side: r.side, client: partitions[k].scoped.client.slot(scope: client, security: security),
            unit: unitSlot, remaining: r.heldQuantity, closed: r.cancellation != nil)
        partitions[k].orderHolds.held[key] = h
        partitions[k].addHeld(h, r.heldQuantity, unit: r.unitHeldQuantity)
        for f in r.fills ?? [] {
            if let (m, index) = partitions[k].tradeLocation(f.tradeId, hash: ProbeTable.hash(of: f.tradeId)) {
                partitions[k].orderHolds.byTrade[OrderHolds.key(market: m, trade: index)] = (key, f.quantity)
            }
        }
    }
}
