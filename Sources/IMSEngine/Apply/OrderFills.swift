import IMSDomain
import IMSRules

/// What the approved orders of a partition's securities still hold in the sell limits, and which trades
/// filled them. Derived: rebuilt from the order book (and its fills) on load.
///
/// An approved order holds its quantity in `SELL_APPROVED.LONG|SHORT` of its security, client and unit. The
/// trade that executes it carries its `orderId`; when that trade's sale enters the position (LONG falls, or
/// SHORT grows), the same quantity leaves `SELL_APPROVED`, so the limit (`LONG + LOCATE_APPROVED −
/// SELL_APPROVED`) counts the sale once, never twice. A trade's amendment or cancellation gives back what it
/// filled first, so the fill follows the trade's latest version.
struct OrderHolds: Sendable {
    struct Held: Sendable {
        var security: Int32
        var bucket: Int
        var side: OrderCommand.Side
        /// Its slots in the client and unit scopes (-1: none).
        var client: Int32
        var unit: Int32
        var remaining: Int64
    }

    var held: [String: Held] = [:]
    /// Trades that filled an order: (market << 32 | index in its table) → order id and quantity filled.
    var byTrade: [Int64: (orderId: String, quantity: Int64)] = [:]
    /// Fills changed since the state last took them, in order: order, trade, quantity (0: no longer fills).
    var changes: [(orderId: String, tradeId: String, quantity: Int64)] = []

    static func key(market m: Int, trade index: Int32) -> Int64 { Int64(m) << 32 | Int64(UInt32(bitPattern: index)) }
}

extension Partition {
    /// Adds `q` to what order `h` holds in its buckets.
    mutating func addHeld(_ h: OrderHolds.Held, _ q: Int64) {
        inventory.add(security: h.security, bucket: h.bucket, q)
        if h.client >= 0 { scoped.client.add(slot: h.client, bucket: h.bucket, q) }
        if h.unit >= 0 { scoped.unit.add(slot: h.unit, bucket: h.bucket, q) }
    }

    /// Gives back what trade (`m`, `index`) filled, if it filled an order that still holds.
    mutating func releaseFill(market m: Int, trade index: Int32, tradeId: String) {
        guard let fill = orderHolds.byTrade.removeValue(forKey: OrderHolds.key(market: m, trade: index)) else { return }
        orderHolds.changes.append((fill.orderId, tradeId, 0))
        guard var h = orderHolds.held[fill.orderId] else { return }
        h.remaining += fill.quantity
        orderHolds.held[fill.orderId] = h
        addHeld(h, fill.quantity)
    }

    /// Turns what order `orderId` holds into the position trade (`m`, `index`) just entered, up to what it
    /// still holds; raises `UNMATCHED_ORDER` for what cannot be matched.
    mutating func fillOrder(_ orderId: String, market m: Int, trade index: Int32, tradeId: String, security: Int32,
                            side: TradeSide, quantity: Int64, sequence: Int64, at time: Timestamp) {
        guard var h = orderHolds.held[orderId] else {
            raise(.unmatchedOrder, sequence: sequence, message: "trade \(tradeId) names order \(orderId), which holds no approved sale (unknown, rejected, expired or of another day)",
                  subject: tradeId, at: time)
            return
        }
        let matches = h.security == security && ((side == .sell && h.side == .sell) || (side == .sellShort && h.side == .sellShort))
        guard matches else {
            raise(.unmatchedOrder, sequence: sequence, message: "trade \(tradeId) (\(side.rawValue)) names order \(orderId), an approved \(h.side.rawValue) of another security or side; it fills nothing",
                  subject: tradeId, at: time)
            return
        }
        let fill = min(quantity, h.remaining)
        if quantity > h.remaining {
            raise(.unmatchedOrder, sequence: sequence, message: "trade \(tradeId) sells \(quantity) against order \(orderId)'s \(h.remaining) still approved; \(quantity - h.remaining) were never approved",
                  subject: tradeId, at: time)
        }
        guard fill > 0 else { return }
        h.remaining -= fill
        orderHolds.held[orderId] = h
        addHeld(h, -fill)
        orderHolds.byTrade[OrderHolds.key(market: m, trade: index)] = (orderId, fill)
        orderHolds.changes.append((orderId, tradeId, fill))
    }
}

extension EngineState {
    /// Takes the fills partition `k` changed into the order book (for the read model and the snapshot).
    mutating func takeOrderFills(partition k: Int) {
        guard !partitions[k].orderHolds.changes.isEmpty else { return }
        for (orderId, tradeId, quantity) in partitions[k].orderHolds.changes {
            orders.update(orderId) { $0.setFill(tradeId: tradeId, quantity: quantity) }
        }
        partitions[k].orderHolds.changes.removeAll(keepingCapacity: true)
    }

    /// What an approved order holds: its quantity less what its trades filled, in `SELL_APPROVED.LONG|SHORT`
    /// of its security, client and unit. `sign` 1 starts holding it (an approval, or a load: its fills are
    /// found again by trade id), −1 gives back what it still holds (expiry; `expireOrders` forgets the fills).
    mutating func countOrder(_ r: OrderRecord, sign: Int64) {
        guard r.decision == .approved, let security = reference.securityIndex(r.securityId) else { return }
        let k = partition(ofSecurity: security)
        if sign < 0 {
            guard let h = partitions[k].orderHolds.held.removeValue(forKey: r.orderId) else { return }
            partitions[k].addHeld(h, -h.remaining)
            return
        }
        let (client, isNew) = reference.clientIds.intern(r.clientId)
        if isNew { reference.version &+= 1 }
        var unitSlot: Int32 = -1
        if let unitId = r.aggregationUnitId, let unit = reference.unitIds.lookup(unitId) {
            unitSlot = partitions[k].scoped.unit.slot(scope: unit, security: security)
        }
        let h = OrderHolds.Held(security: security, bucket: r.side == .sellShort ? Bucket.sellApprovedShort : Bucket.sellApprovedLong,
                                side: r.side, client: partitions[k].scoped.client.slot(scope: client, security: security),
                                unit: unitSlot, remaining: r.heldQuantity)
        partitions[k].orderHolds.held[r.orderId] = h
        partitions[k].addHeld(h, h.remaining)
        for f in r.fills ?? [] {
            if let (m, index) = partitions[k].tradeLocation(f.tradeId, hash: ProbeTable.hash(of: f.tradeId)) {
                partitions[k].orderHolds.byTrade[OrderHolds.key(market: m, trade: index)] = (r.orderId, f.quantity)
            }
        }
    }
}
