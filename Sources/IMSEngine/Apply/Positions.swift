import IMSDomain

extension EngineState {
    /// The interned book and security of a validated event, its market, and that market's business date
    /// (set to `date` if the market has none yet).
    private mutating func resolve(bookId: String, securityId: String, initialDate date: BusinessDate, refs: ResolvedRefs = ResolvedRefs())
        -> (book: Int32, security: Int32, market: Int)
    {
        let security = refs.security >= 0 ? refs.security : reference.securityIds.lookup(securityId)!
        let book = refs.book >= 0 ? refs.book : reference.bookIds.lookup(bookId)!
        let m = Int(reference.securities[Int(security)].market)
        if markets[m].businessDate == nil {
            markets[m].setBusinessDate(date)
            rebuildLadder(market: m) // contracts and lenders' lines already held now have days
        }
        return (book, security, m)
    }

    mutating func applyTrade(_ t: Trade, sequence: Int64, at time: Timestamp, refs: ResolvedRefs) -> Bool {
        let (book, security, m) = resolve(bookId: t.bookId, securityId: t.securityId, initialDate: t.tradeDate, refs: refs)
        let k = partition(ofSecurity: security)
        let hash = refs.tradeHash != 0 ? refs.tradeHash : ProbeTable.hash(of: t.tradeId)
        let outcome = partitions[k].applyTrade(
            TradeFacts(t), id: t.tradeId, book: book, security: security, market: m, tradeHash: hash,
            record: .lookUp, position: -1, markets: markets, orderId: t.orderId, sequence: sequence, at: time)
        takeOrderFills(partition: k)
        if outcome == .arrivedAfterSnapshot {
            partitions[k].raiseLateTrade(t, today: markets[m].businessDate!, sequence: sequence, at: time)
        }
        takeRaised(partition: k) // late trades, unmatched orders
        return outcome != .stale
    }

    mutating func applySOD(_ s: SODPosition, sequence: Int64, at time: Timestamp, refs: ResolvedRefs = ResolvedRefs()) -> Bool {
        let (book, security, m) = resolve(bookId: s.bookId, securityId: s.securityId, initialDate: s.businessDate, refs: refs)
        let k = partition(ofSecurity: security)
        let changed = partitions[k].applySOD(s, book: book, security: security, market: m, sequence: sequence, at: time, markets: markets)
        takeRaised(partition: k)
        return changed
    }

    mutating func applyDayRoll(_ r: MarketDayRoll, sequence: Int64, at time: Timestamp) -> Bool {
        let m = Int(marketIds.lookup(r.marketId)!)
        guard let today = markets[m].businessDate else {
            markets[m].setBusinessDate(r.businessDate)
            rebuildLadder(market: m)
            return true
        }
        if r.businessDate == today { return false }
        changeLog.markets.append(Int32(m))
        let oldLadder = markets[m].ladder
        markets[m].setBusinessDate(r.businessDate)
        for k in partitions.indices {
            partitions[k].rollMarket(m, oldLadder: oldLadder, securities: reference.securitiesByMarket[m], markets: markets, sequence: sequence, at: time)
            takeRaised(partition: k)
        }
        massCeilings[m] = exactMassCeiling(market: m)
        rebuildLadder(market: m)
        expireLocates(market: m, sequence: sequence, at: time)
        expireOrders(market: m)
        return true
    }
}

extension Partition {
    // MARK: Trades

    /// What applying a trade did.
    enum TradeOutcome {
        /// Nothing: a version no newer than the one booked.
        case stale
        case applied
        /// Booked, but dated before the market's business date and arrived after the position's SOD snapshot,
        /// so it is not reflected: the caller raises `LATE_TRADE`.
        case arrivedAfterSnapshot
    }

    /// Books a validated trade version and applies its effect to its position. `record` says where its record
    /// is, and `position` (when not -1) its position's index, when they are already known.
    ///
    /// A trade carrying an `orderId` turns what that approved order holds into position (`fillOrder`); a
    /// newer version first gives back what the older one filled.
    mutating func applyTrade(
        _ t: TradeFacts, id: String, book: Int32, security: Int32, market m: Int, tradeHash hash: UInt64,
        record: TradeRecordLookup, position: Int32, markets: [MarketState],
        orderId: String?, sequence: Int64, at time: Timestamp
    ) -> TradeOutcome {
        let today = markets[m].businessDate!
        let booked: Int32?
        switch record {
        case .lookUp: booked = tradeLocation(id, hash: hash)?.index
        case .new: booked = nil
        case .booked(_, let index): booked = index
        }
        let index: Int32
        if let booked {
            index = booked
            if t.version <= trades[m].records[Int(index)].version { return .stale }
            if !orderHolds.byTrade.isEmpty { releaseFill(market: m, trade: index, tradeId: id) }
            removeTradeEffect(market: m, trade: index)
        } else {
            index = Int32(trades[m].records.count)
            trades[m].records.append(
                TradeRecord(
                    version: t.version, quantity: 0, security: security, tradeDate: t.tradeDate, settleDate: t.tradeDate, side: t.side, status: t.status))
            trades[m].ids.append(id)
            indexTrade(hash: hash, market: m, index: index)
        }
        let (settle, slot) = markets[m].settlement(tradeDate: t.tradeDate, explicit: t.settleDate)
        trades[m].records[Int(index)].version = t.version
        trades[m].records[Int(index)].quantity = t.quantity
        trades[m].records[Int(index)].side = t.side
        trades[m].records[Int(index)].status = t.status
        trades[m].records[Int(index)].tradeDate = t.tradeDate
        trades[m].records[Int(index)].settleDate = settle

        if t.status == .cancel { return .applied }
        if t.tradeDate < today {
            // Inside the SOD snapshot: ignored, but an exception if the snapshot was already taken.
            if let p = existingPosition(book: book, security: security), positions[Int(p)].hasSOD { return .arrivedAfterSnapshot }
            return .applied
        }
        let p = position >= 0 ? position : positionIndex(book: book, security: security, market: m)
        addTradeEffect(market: m, trade: index, position: p, slot: slot)
        if let orderId {
            fillOrder(
                orderId, book: book, market: m, trade: index, tradeId: id, security: security, side: t.side, quantity: t.quantity, sequence: sequence, at: time)
        }
        return .applied
    }

    mutating func raiseLateTrade(_ t: Trade, today: BusinessDate, sequence: Int64, at time: Timestamp) {
        raise(
            .lateTrade, sequence: sequence,
            message:
                "trade \(t.tradeId) dated \(t.tradeDate) arrived after the \(today) SOD snapshot of book \(t.bookId); it is not reflected until the next snapshot",
            subject: t.tradeId, at: time)
    }

    private mutating func addTradeEffect(market m: Int, trade index: Int32, position p: Int32, slot: Int8) {
        markPosition(p)
        let record = trades[m].records[Int(index)]
        let q = record.quantity
        let pi = Int(p)
        let before = positions[pi].contractualQty, rows = positions[pi].ladderRows
        defer { accountInventory(position: pi, from: before, rows: rows) }
        if slot == TradeRecord.laterSlot {
            addLater(position: p, date: record.settleDate, receipt: record.side.receives ? q : 0, deliver: record.side.receives ? 0 : q)
        } else if record.side.receives {
            positions[pi].receipt[Int(slot)] += q
        } else {
            positions[pi].deliver[Int(slot)] += q
        }
        switch record.side {
        case .buy, .buyCover: positions[pi].intradayBuys += q
        case .sell: positions[pi].intradaySells += q
        case .sellShort:
            positions[pi].intradayShortSells += q
            if positions[pi].scopeSlots.client >= 0 { noteShortSale(position: pi, q) }
        }
        let head = positions[pi].firstTrade
        if head >= 0 { trades[m].records[Int(head)].previousInPosition = index }
        trades[m].records[Int(index)].nextInPosition = head
        trades[m].records[Int(index)].previousInPosition = -1
        trades[m].records[Int(index)].position = p
        trades[m].records[Int(index)].slot = slot
        positions[pi].firstTrade = index
    }

    private mutating func removeTradeEffect(market m: Int, trade index: Int32) {
        let record = trades[m].records[Int(index)]
        guard record.position >= 0 else { return }
        markPosition(record.position)
        let pi = Int(record.position)
        let q = record.quantity
        let before = positions[pi].contractualQty, rows = positions[pi].ladderRows
        defer { accountInventory(position: pi, from: before, rows: rows) }
        if record.slot == TradeRecord.laterSlot {
            addLater(position: record.position, date: record.settleDate, receipt: record.side.receives ? -q : 0, deliver: record.side.receives ? 0 : -q)
        } else if record.side.receives {
            positions[pi].receipt[Int(record.slot)] -= q
        } else {
            positions[pi].deliver[Int(record.slot)] -= q
        }
        switch record.side {
        case .buy, .buyCover: positions[pi].intradayBuys -= q
        case .sell: positions[pi].intradaySells -= q
        case .sellShort:
            positions[pi].intradayShortSells -= q
            if positions[pi].scopeSlots.client >= 0 { noteShortSale(position: pi, -q) }
        }
        if record.previousInPosition >= 0 {
            trades[m].records[Int(record.previousInPosition)].nextInPosition = record.nextInPosition
        } else {
            positions[pi].firstTrade = record.nextInPosition
        }
        if record.nextInPosition >= 0 {
            trades[m].records[Int(record.nextInPosition)].previousInPosition = record.previousInPosition
        }
        trades[m].records[Int(index)].position = -1
        trades[m].records[Int(index)].slot = -1
        trades[m].records[Int(index)].nextInPosition = -1
        trades[m].records[Int(index)].previousInPosition = -1
    }

    /// Moves the position's inventory contribution from its contractual quantity `before` a change, and its
    /// projected settled `rows`, to its figures now.
    @inline(__always)
    private mutating func accountInventory(position pi: Int, from before: Int64, rows: Ladder5) {
        let r = positions[pi]
        inventory.moveLadder(security: r.security, type: r.positionType, from: rows, to: r.ladderRows)
        let after = r.contractualQty
        guard after != before else { return }
        inventory.movePosition(security: r.security, type: r.positionType, from: before, to: after)
        scoped.movePosition(r.scopeSlots, type: r.positionType, from: before, to: after)
    }

    private mutating func addLater(position p: Int32, date: BusinessDate, receipt: Int64, deliver: Int64) {
        positions[Int(p)].laterReceipt += receipt
        positions[Int(p)].laterDeliver += deliver
        var entries = later.removeValue(forKey: p) ?? []
        if let i = entries.firstIndex(where: { $0.date == date }) {
            entries[i].receipt += receipt
            entries[i].deliver += deliver
            if entries[i].receipt == 0 && entries[i].deliver == 0 { entries.remove(at: i) }
        } else {
            entries.append(LaterEntry(date: date, receipt: receipt, deliver: deliver))
            entries.sort { $0.date < $1.date }
        }
        if !entries.isEmpty { later[p] = entries }
    }

    // MARK: SOD snapshots

    mutating func applySOD(
        _ s: SODPosition, book: Int32, security: Int32, market m: Int,
        sequence: Int64, at time: Timestamp, markets: [MarketState]
    ) -> Bool {
        let today = markets[m].businessDate!
        if s.businessDate < today {
            raise(
                .staleSOD, sequence: sequence,
                message:
                    "SOD snapshot of book \(s.bookId) in \(s.securityId) for \(s.businessDate) arrived after market \(markets[m].market.marketId) moved to \(today); ignored",
                subject: s.bookId, at: time)
            return false
        }
        if s.businessDate > today {
            pendingSOD[Int32(m), default: [:]][EngineState.positionKey(book: book, security: security)] = s
            return true
        }
        let p = positionIndex(book: book, security: security, market: m)
        rebase(position: p, on: s, market: m)
        return true
    }

    /// Replaces a position's SOD figures and re-adds the day's trades on top.
    private mutating func rebase(position p: Int32, on s: SODPosition, market m: Int) {
        markPosition(p)
        let pi = Int(p)
        let before = positions[pi].contractualQty, rows = positions[pi].ladderRows
        defer { accountInventory(position: pi, from: before, rows: rows) }
        positions[pi].sodContractual = s.contractualQty
        positions[pi].sodSettled = s.settledQty
        positions[pi].receipt = Ladder5(s.receipts)
        positions[pi].deliver = Ladder5(s.delivers)
        positions[pi].hasSOD = true
        var t = positions[pi].firstTrade
        while t >= 0 {
            let r = trades[m].records[Int(t)]
            if r.slot >= 0 && r.slot < TradeRecord.laterSlot {
                if r.side.receives { positions[pi].receipt[Int(r.slot)] += r.quantity } else { positions[pi].deliver[Int(r.slot)] += r.quantity }
            }
            t = r.nextInPosition
        }
    }

    // MARK: Day roll

    /// Moves this partition's positions in market `m` to the market's new business date (already set in
    /// `markets`), applying SOD snapshots held for that date, and forgets the market's trades.
    mutating func rollMarket(
        _ m: Int, oldLadder: [BusinessDate], securities: [Int32], markets: [MarketState],
        sequence: Int64, at time: Timestamp
    ) {
        let newDate = markets[m].businessDate!
        var pending = pendingSOD.removeValue(forKey: Int32(m)) ?? [:]
        for security in securities {
            for p in positionsBySecurity[Int(security)] {
                markPosition(p)
                let key = EngineState.positionKey(book: positions[Int(p)].book, security: security)
                if let s = pending[key], s.businessDate == newDate {
                    pending.removeValue(forKey: key)
                    resetForNewDay(position: p, contractual: positions[Int(p)].contractualQty)
                    rebase(position: p, on: s, market: m)
                    dropLaterEntries(position: p, through: markets[m].ladder.last!)
                } else {
                    rollForward(position: p, oldLadder: oldLadder, market: markets[m])
                }
            }
        }
        // In key order, so that replays raise the same exceptions in the same order.
        for (key, s) in pending.sorted(by: { $0.key < $1.key }) {
            if s.businessDate == newDate {
                let p = positionIndex(book: Int32(truncatingIfNeeded: key >> 32), security: Int32(truncatingIfNeeded: key), market: m)
                rebase(position: p, on: s, market: m)
            } else if s.businessDate > newDate {
                pendingSOD[Int32(m), default: [:]][key] = s
            } else {
                raise(
                    .droppedSOD, sequence: sequence,
                    message:
                        "SOD snapshot of book \(s.bookId) in \(s.securityId) for \(s.businessDate) was passed over by the roll of \(markets[m].market.marketId) to \(newDate)",
                    subject: s.bookId, at: time)
            }
        }
        dropTrades(market: m)
    }

    private mutating func resetForNewDay(position p: Int32, contractual: Int64) {
        let pi = Int(p)
        positions[pi].sodContractual = contractual
        if positions[pi].intradayShortSells != 0 && positions[pi].scopeSlots.client >= 0 {
            noteShortSale(position: pi, -positions[pi].intradayShortSells)
        }
        positions[pi].intradayBuys = 0
        positions[pi].intradaySells = 0
        positions[pi].intradayShortSells = 0
        positions[pi].firstTrade = -1
        positions[pi].hasSOD = false
    }

    /// Rolls a position to the market's new business date with no new snapshot:
    /// what settled before it becomes settled, ladder rows move to their new days.
    private mutating func rollForward(position p: Int32, oldLadder: [BusinessDate], market state: MarketState) {
        let pi = Int(p)
        let newDate = state.businessDate!
        var settled = positions[pi].sodSettled
        var receipt = Ladder5.zero, deliver = Ladder5.zero
        for k in 0..<oldLadder.count {
            let r = positions[pi].receipt[k], d = positions[pi].deliver[k]
            if r == 0 && d == 0 { continue }
            if oldLadder[k] < newDate {
                settled += r - d
            } else {
                let slot = Int(state.slot(forSettleDate: oldLadder[k]))
                receipt[slot] += r
                deliver[slot] += d
            }
        }
        if let entries = later[p] {
            let last = state.ladder.last!
            var keep: [LaterEntry] = []
            for e in entries {
                if e.date > last { keep.append(e); continue }
                positions[pi].laterReceipt -= e.receipt
                positions[pi].laterDeliver -= e.deliver
                if e.date < newDate {
                    settled += e.receipt - e.deliver
                } else {
                    let slot = Int(state.slot(forSettleDate: state.calendar.settlementDay(onOrAfter: e.date)))
                    receipt[slot] += e.receipt
                    deliver[slot] += e.deliver
                }
            }
            later[p] = keep.isEmpty ? nil : keep
        }
        resetForNewDay(position: p, contractual: positions[pi].contractualQty)
        positions[pi].sodSettled = settled
        positions[pi].receipt = receipt
        positions[pi].deliver = deliver
    }

    private mutating func dropLaterEntries(position p: Int32, through last: BusinessDate) {
        guard let entries = later[p] else { return }
        let keep = entries.filter { $0.date > last }
        for e in entries where e.date <= last {
            positions[Int(p)].laterReceipt -= e.receipt
            positions[Int(p)].laterDeliver -= e.deliver
        }
        later[p] = keep.isEmpty ? nil : keep
    }
}
