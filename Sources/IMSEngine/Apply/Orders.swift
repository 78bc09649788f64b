import IMSDomain
import IMSRules

extension EngineState {
    /// Why an order cannot be validated at all (a malformed command), or nil.
    func orderProblem(_ o: OrderCommand) -> FieldError? {
        for (field, value) in [("orderId", o.orderId), ("clientId", o.clientId), ("bookId", o.bookId), ("securityId", o.securityId)] {
            if let bad = InputBounds.identifier(value, field: field) { return FieldError(bad.field, bad.message) }
        }
        guard o.quantity > 0, o.quantity <= maxLocateQuantity else { return FieldError("quantity", "quantity must be between 1 and \(maxLocateQuantity)") }
        guard o.price.units >= 0 else { return FieldError("price", "price must not be negative") }
        return nil
    }

    /// Validates an order: stage 1 the client's limit, stage 2 its aggregation unit's, and the market's rules.
    /// An approval takes the quantity from both limits (and the security's approved sells) at once. An order
    /// id belongs to its client: one the client used before on the same business day keeps its first answer;
    /// used again after its market rolled, it is a new order.
    mutating func applyOrder(_ o: OrderCommand, sequence: Int64, at time: Timestamp) -> Bool {
        if let first = orders.order(clientId: o.clientId, orderId: o.orderId), !clock.hasRolled(past: first.businessDate, marketId: first.marketId) {
            return false
        }
        let (record, counted) = decideOrder(o, sequence: sequence, at: time)
        let i = orders.add(record)
        if counted { countOrder(orders.records[i], sign: 1) }
        return true
    }

    /// An order's decision on the state as it is, changing nothing (the dry run's answer, and the first half
    /// of `applyOrder`). `counted`: whether applying it counts it against the limits (an order on an unknown
    /// security or book does not).
    func decideOrder(_ o: OrderCommand, sequence: Int64, at time: Timestamp) -> (record: OrderRecord, counted: Bool) {
        var record = OrderRecord(
            orderId: o.orderId, clientId: o.clientId, bookId: o.bookId, securityId: o.securityId, marketId: nil,
            aggregationUnitId: nil, side: o.side, quantity: o.quantity, price: o.price, decision: .rejected,
            checks: [], sequence: sequence, decidedAt: time, businessDate: nil, user: o.user)
        func check(_ stage: String, _ code: String, _ passed: Bool, _ message: String, available: Int64? = nil, required: Int64? = nil) {
            record.checks.append(OrderCheck(stage: stage, code: code, passed: passed, message: message, available: available, required: required))
        }
        let short = o.side == .sellShort
        guard let security = reference.securityIndex(o.securityId) else {
            check("ORDER", "UNKNOWN_SECURITY", false, "unknown security \(o.securityId)")
            return (record, false)
        }
        guard let book = reference.bookIds.lookup(o.bookId) else {
            check("ORDER", "UNKNOWN_BOOK", false, "unknown book \(o.bookId)")
            return (record, false)
        }
        let entry = reference.securities[Int(security)], m = Int(entry.market)
        let marketId = entry.record.marketId
        record.securityId = entry.record.securityId ?? o.securityId
        record.marketId = marketId
        record.businessDate = markets[m].businessDate
        let k = partition(ofSecurity: security)
        let scope = partitions[k].bookScopes[Int(book)]
        let bookRecord = reference.books[Int(book)]
        if let owner = bookRecord.clientId, owner != o.clientId {
            check("ORDER", "BOOK_NOT_CLIENTS", false, "book \(o.bookId) belongs to client \(owner), not \(o.clientId)")
        }
        let unit = scope.units[m]
        if unit >= 0 { record.aggregationUnitId = reference.unitIds.name(unit) }
        let active = rules.active.rules
        let choice = active.choose(for: reference.traits(security, markets: markets))

        // Stage 1: the client's limit in the security.
        let clientLimit: Int64
        if let client = reference.clientIds.lookup(o.clientId) {
            let values = active.evaluate(choice, partitions[k].scoped.client.vector(scope: client, security: security))
            clientLimit = short ? values.clientShortSellLimit : values.clientLongSellLimit
        } else {
            clientLimit = 0
        }
        check(
            "CLIENT", short ? "CLIENT_SHORT_SELL_LIMIT" : "CLIENT_LONG_SELL_LIMIT", clientLimit >= o.quantity,
            "the client's \(short ? "short" : "long")-sell limit is \(clientLimit)", available: clientLimit, required: o.quantity)

        // Stage 2: the aggregation unit's limit.
        if unit < 0 {
            check("UNIT", "NO_AGGREGATION_UNIT", false, "book \(o.bookId) has no aggregation unit in \(marketId)")
        } else {
            var b = partitions[k].scoped.unit.vector(scope: unit, security: security)
            let firm = partitions[k].inventory.vector(security: security, ladder: false)
            for t in AvailabilityType.allCases { b[Bucket.external(t)] = firm[Bucket.external(t)] }
            let values = active.evaluate(choice, b)
            let unitLimit = short ? values.unitShortSellLimit : values.unitLongSellLimit
            check(
                "UNIT", short ? "UNIT_SHORT_SELL_LIMIT" : "UNIT_LONG_SELL_LIMIT", unitLimit >= o.quantity,
                "aggregation unit \(record.aggregationUnitId!)'s \(short ? "short" : "long")-sell limit is \(unitLimit)",
                available: unitLimit, required: o.quantity)
        }

        // The market's short-sale rules (SPEC 4.3).
        if short {
            let traits = reference.traits(security, markets: markets)
            if traits.restricted { check("MARKET", "RESTRICTED", false, "the security is restricted") }
            // The market's regime, from the market catalogue (`ShortSaleRegime`).
            let regime = markets[m].market.shortSale
            if !traits.shortSellEligible {
                check(
                    "MARKET", "NOT_SHORTABLE", false,
                    regime.designatedList
                        ? "\(marketId) allows short sales only in designated securities, and this one is not designated"
                        : "\(marketId) does not allow short sales in this security (not designated / not F&O-eligible)")
            }
            switch regime.requirement {
            case .locate:
                var located: Int64 = 0
                if let c = reference.clientIds.lookup(o.clientId) {
                    let v = partitions[k].scoped.client.vector(scope: c, security: security)
                    located = v[Bucket.locateApprovedShort] + v[Bucket.payToHold]
                }
                check("MARKET", "LOCATE_REQUIRED", located > 0, "a short sale in \(marketId) needs a locate first", available: located, required: o.quantity)
            case .preBorrow:
                var preBorrowed: Int64 = 0
                if unit >= 0 {
                    let v = partitions[k].scoped.unit.vector(scope: unit, security: security)
                    preBorrowed = v[Bucket.borrowed] - v[Bucket.loaned] - v[Bucket.sellApprovedShort]
                }
                check(
                    "MARKET", "PRE_BORROW_REQUIRED", preBorrowed >= o.quantity, "a short sale in \(marketId) needs the shares borrowed first",
                    available: preBorrowed, required: o.quantity)
            case .none:
                break
            }
            let tick = partitions[k].prices[security]?.tick
            switch regime.priceFloor {
            case .notBelowAsk:
                if let ask = tick?.ask, o.price.units < ask.units {
                    check("MARKET", "PRICE_BELOW_ASK", false, "a short sale in \(marketId) may not be priced below the best ask \(ask)")
                }
            case .notBelowPreviousClose:
                if let close = tick?.previousClose, o.price.units < close.units {
                    check("MARKET", "PRICE_BELOW_PREVIOUS_CLOSE", false, "a short sale in \(marketId) may not be priced below the previous close \(close)")
                }
            case .none:
                break
            }
            // After a fall of the regime's trigger from the previous close: US Rule 201 (not at or below the
            // best bid), JP (above the last trade, or at it after an uptick).
            if let through = partitions[k].shortSaleRestrictions[security], let today = markets[m].businessDate, today <= through {
                switch regime.priceTest {
                case .aboveBid:
                    if let bid = tick?.bid, o.price.units <= bid.units {
                        check(
                            "MARKET", "PRICE_TEST_AT_OR_BELOW_BID", false,
                            "Rule 201 applies through \(through) (a \(regime.priceTestTriggerPercent)% fall): a short sale may not be priced at or below the best bid \(bid)"
                        )
                    }
                case .aboveLastOrAtUptick:
                    let uptick = partitions[k].prices[security]?.direction == 1
                    if let last = tick?.last, o.price.units < last.units || (o.price.units == last.units && !uptick) {
                        check(
                            "MARKET", "PRICE_TEST_NOT_ABOVE_LAST", false,
                            "the price restriction applies through \(through) (a \(regime.priceTestTriggerPercent)% fall): a short sale must be priced above the last trade \(last), or at it after an uptick"
                        )
                    }
                case .none:
                    break
                }
            }
        }
        if record.checks.allSatisfy(\.passed) {
            record.decision = .approved
        }
        return (record, true)
    }

    /// `POST /api/v1/orders/validate?dryRun=true`: what the order would be answered now, with every check,
    /// journaling, reserving and auditing nothing. An order id the client already used today answers with
    /// that order's decision, as the real call would.
    public func dryRunOrder(_ o: OrderCommand, at time: Timestamp) throws(FieldError) -> OrderView {
        if let problem = orderProblem(o) { throw problem }
        if let first = orders.order(clientId: o.clientId, orderId: o.orderId), !clock.hasRolled(past: first.businessDate, marketId: first.marketId) {
            return OrderView(first)
        }
        var view = OrderView(decideOrder(o, sequence: 0, at: time).record)
        view.dryRun = true
        return view
    }

    /// Why order cancellation `c` cannot be applied: an order of that client unknown, of an earlier day, or with
    /// nothing left to give back (rejected, already cancelled).
    func orderCancelProblem(_ c: OrderCancelCommand) -> FieldError? {
        for (field, value) in [("orderId", c.orderId), ("clientId", c.clientId)] {
            if let bad = InputBounds.identifier(value, field: field) { return FieldError(bad.field, bad.message) }
        }
        if let reason = c.reason, reason.utf8.count > OrderCancelCommand.maxReasonBytes {
            return FieldError("reason", "reason is longer than \(OrderCancelCommand.maxReasonBytes) bytes")
        }
        guard let order = orders.order(clientId: c.clientId, orderId: c.orderId) else {
            return FieldError("orderId", "unknown order \(c.orderId) of client \(c.clientId)")
        }
        switch order.decision {
        case .rejected: return FieldError("status", "order \(c.orderId) was rejected: it holds nothing to cancel")
        case .expired: return FieldError("status", "order \(c.orderId) expired with its market's day roll")
        case .approved:
            if order.cancellation != nil { return FieldError("status", "order \(c.orderId) is cancelled already") }
            if clock.hasRolled(past: order.businessDate, marketId: order.marketId) {
                return FieldError("status", "order \(c.orderId) expired with its market's day roll")
            }
        }
        return nil
    }

    /// Cancels what is left of an approved order: what its trades have not filled goes back to the client's and
    /// the unit's sell limits; what they filled stays as it was. Returns false when there was nothing to cancel
    /// (a second cancellation in the same batch).
    mutating func applyOrderCancel(_ c: OrderCancelCommand, sequence: Int64, at time: Timestamp) -> Bool {
        guard let i = orders.index(clientId: c.clientId, orderId: c.orderId), orders.records[i].decision == .approved,
            orders.records[i].cancellation == nil
        else { return false }
        countOrder(orders.records[i], sign: -1)
        orders.update(i) {
            $0.cancellation = OrderCancellation(
                sequence: sequence, at: time, quantity: max(0, $0.quantity - $0.filledQuantity), by: c.user ?? "anonymous", reason: c.reason)
        }
        countOrder(orders.records[i], sign: 1)
        return true
    }

    /// Expires the day's approved orders of market `m` (its business date has rolled).
    mutating func expireOrders(market m: Int) {
        let marketId = markets[m].market.marketId
        for i in orders.live where orders.records[i].marketId == marketId {
            countOrder(orders.records[i], sign: -1)
            orders.update(i) { $0.decision = .expired }
        }
        // The market's trades of the day are gone with its roll, and so is what they filled.
        for k in partitions.indices where !partitions[k].orderHolds.byTrade.isEmpty {
            partitions[k].orderHolds.byTrade.removeAll { key, _ in Int(key >> 32) == m }
        }
    }
}
