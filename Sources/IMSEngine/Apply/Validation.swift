import IMSDomain

/// What an event's validation found in the state, so applying it need not look it up again: interned ids
/// (-1 when the book or security was defined earlier in the same batch and is not interned yet) and, for a
/// trade, the facts applying it needs and where it is booked.
struct ResolvedRefs {
    var book: Int32 = -1
    var security: Int32 = -1
    /// The security's market (-1 when the security is defined in the same batch).
    var market: Int32 = -1
    var tradeHash: UInt64 = 0
    /// A trade not booked before this batch: checked against the batch's other new trades (`tradeConflicts`).
    var isNewTrade = false
    /// A new trade whose id an earlier new trade of the same batch also has.
    var repeatsNewTrade = false
    /// The record of a trade booked before this batch: its market and index in that market's table (-1: none).
    var bookedMarket: Int32 = -1
    var bookedIndex: Int32 = -1
    /// The trade's position (partition-local index) if it existed before the batch, found while prefetching; -1 if not known.
    var position: Int32 = -1
    var trade = TradeFacts()

    /// How the partitioned apply finds this trade's record: validated against the state before the batch,
    /// which nothing in a partitioned batch removes trades from.
    var tradeRecord: TradeRecordLookup {
        if bookedIndex >= 0 { return .booked(market: Int(bookedMarket), index: bookedIndex) }
        return isNewTrade && !repeatsNewTrade ? .new : .lookUp
    }
}

/// The fields of a trade that applying it reads: copying them is cheaper than copying the `Trade` (five strings) out of its event.
struct TradeFacts {
    var version: Int64 = 0
    var quantity: Int64 = 0
    var tradeDate = BusinessDate(dayNumber: 0)
    var settleDate: BusinessDate?
    var side = TradeSide.buy
    var status = TradeStatus.new
    /// It carries an `orderId` (read from the event only then).
    var hasOrder = false

    init() {}

    init(_ t: Trade) {
        version = t.version
        quantity = t.quantity
        tradeDate = t.tradeDate
        settleDate = t.settleDate
        side = t.side
        status = t.status
        hasOrder = t.orderId != nil
    }
}

/// Where applying a trade finds its record.
enum TradeRecordLookup {
    /// Look its id up in the trade index.
    case lookUp
    /// Not booked: append a record.
    case new
    /// Booked at this index of this market's table.
    case booked(market: Int, index: Int32)
}

/// What earlier events of the same batch have defined, so later ones may refer to them.
struct BatchScope {
    var books: Set<String> = []
    var securities: [String: Int32] = [:]
    var marketDates: [Int32: BusinessDate] = [:]
    var identifierClaims: [IdentifierKey: String] = [:]
    var aggregationUnitNames: [String: String] = [:]
    /// The rule book after the batch's earlier rule commands (nil: none yet).
    var rules: RuleBook?

    var isEmpty: Bool {
        books.isEmpty && securities.isEmpty && marketDates.isEmpty && identifierClaims.isEmpty && aggregationUnitNames.isEmpty && rules == nil
    }
}

extension EngineState {
    /// Checks an event against the state (and what earlier events of its batch defined), and
    /// notes its effects in `scope`. Returns nil if it may be applied; a security matched by
    /// identifier comes back in `completed` with its securityId filled in.
    /// (No `Result<Event, …>`: returning the event would copy it, per event, on the hot path.)
    func validate(_ event: Event, scope: inout BatchScope, completed: inout Event?, refs: inout ResolvedRefs) -> FieldError? {
        switch event {
        case .trade(let t):
            let book = reference.bookIds.lookup(t.bookId)
            guard book != nil || (!scope.books.isEmpty && scope.books.contains(t.bookId)) else {
                return FieldError("bookId", "unknown book \(t.bookId)")
            }
            let security = refs.security >= 0 ? refs.security : reference.securityIds.lookup(t.securityId)
            guard let market = security.map({ reference.securities[Int($0)].market }) ?? (scope.securities.isEmpty ? nil : scope.securities[t.securityId])
            else {
                return FieldError("securityId", "unknown security \(t.securityId)")
            }
            if let problem = tradeBoundsError(t, market: market) { return problem }
            if let settle = t.settleDate, settle < t.tradeDate {
                return FieldError("settleDate", "settleDate \(settle) is before tradeDate \(t.tradeDate)")
            }
            let tradeHash = refs.tradeHash != 0 ? refs.tradeHash : ProbeTable.hash(of: t.tradeId)
            let booked = bookedTrade(t.tradeId, hash: tradeHash, near: security)
            refs = ResolvedRefs(
                book: book ?? -1, security: security ?? -1, tradeHash: tradeHash, isNewTrade: booked == nil,
                bookedMarket: booked.map { Int32($0.market) } ?? -1, bookedIndex: booked?.index ?? -1,
                trade: TradeFacts(t))
            refs.market = security == nil ? -1 : market
            if let booked, booked.security != security {
                return FieldError("securityId", Self.securityChange(t.tradeId, booked: reference.securityIds.name(booked.security)))
            }
            if let today = businessDate(market, scope) {
                if t.tradeDate > today {
                    return FieldError("tradeDate", "tradeDate \(t.tradeDate) is after market \(marketIds.name(market))'s business date \(today)")
                }
            } else {
                scope.marketDates[market] = t.tradeDate
            }
            return nil
        case .sodPosition(let s):
            let book = reference.bookIds.lookup(s.bookId)
            guard book != nil || (!scope.books.isEmpty && scope.books.contains(s.bookId)) else { return FieldError("bookId", "unknown book \(s.bookId)") }
            let security = refs.security >= 0 ? refs.security : reference.securityIds.lookup(s.securityId)
            guard let market = security.map({ reference.securities[Int($0)].market }) ?? (scope.securities.isEmpty ? nil : scope.securities[s.securityId])
            else {
                return FieldError("securityId", "unknown security \(s.securityId)")
            }
            if let problem = sodBoundsError(s, market: market) { return problem }
            refs = ResolvedRefs(book: book ?? -1, security: security ?? -1, market: security == nil ? -1 : market)
            if businessDate(market, scope) == nil { scope.marketDates[market] = s.businessDate }
            return nil
        case .marketDayRoll(let r):
            guard let market = marketIds.lookup(r.marketId) else {
                return FieldError("marketId", "unknown market \(r.marketId)")
            }
            if let problem = dayRollBoundsError(r, market: market) { return problem }
            if let today = businessDate(market, scope), r.businessDate < today {
                return FieldError("businessDate", "businessDate \(r.businessDate) is before market \(r.marketId)'s business date \(today)")
            }
            scope.marketDates[market] = r.businessDate
            return nil
        case .command(let c):
            return c.engine.problem(in: self, scope: &scope)
        case .contract(let c):
            guard bookExists(c.bookId, scope) else { return FieldError("bookId", "unknown book \(c.bookId)") }
            guard let market = securityMarket(c.securityId, scope) else {
                return FieldError("securityId", "unknown security \(c.securityId)")
            }
            if let problem = contractBoundsError(c, market: market) { return problem }
            if c.returnedQty > c.quantity { return FieldError("returnedQty", "returnedQty \(c.returnedQty) exceeds quantity \(c.quantity)") }
            if c.recalledQty > c.quantity { return FieldError("recalledQty", "recalledQty \(c.recalledQty) exceeds quantity \(c.quantity)") }
            if let end = c.endDate, end < c.startDate { return FieldError("endDate", "endDate \(end) is before startDate \(c.startDate)") }
            let security = reference.securityIds.lookup(c.securityId)
            refs = ResolvedRefs(book: reference.bookIds.lookup(c.bookId) ?? -1, security: security ?? -1, market: security == nil ? -1 : market)
            return nil
        case .availability(let a):
            if let problem = validateMarketData(securityId: a.securityId, scope: scope, refs: &refs) { return problem }
            guard let market = refs.security >= 0 ? reference.securities[Int(refs.security)].market : scope.securities[a.securityId] else { return nil }
            return availabilityBoundsError(a, market: market)
        case .price(let p):
            if let problem = priceBoundsError(p) { return problem }
            return validateMarketData(securityId: p.securityId, scope: scope, refs: &refs)
        case .fxRate:
            return referenceBoundsError(event)
        case .security(let s):
            if let problem = referenceBoundsError(event) { return problem }
            switch validateSecurity(s, scope: &scope) {
            case .success(let record):
                completed = .security(record)
                return nil
            case .failure(let error):
                return error
            }
        case .book(let b):
            if let problem = referenceBoundsError(event) { return problem }
            for (marketId, _) in b.aggregationUnits where marketIds.lookup(marketId) == nil {
                return FieldError("aggregationUnits", "unknown market \(marketId)")
            }
            scope.books.insert(b.bookId)
            return nil
        case .aggregationUnit(let u):
            if let problem = referenceBoundsError(event) { return problem }
            guard marketIds.lookup(u.marketId) != nil else { return FieldError("marketId", "unknown market \(u.marketId)") }
            let nameKey = u.marketId + "|" + u.name
            if let owner = scope.aggregationUnitNames[nameKey] ?? reference.aggregationUnitNames[nameKey], owner != u.aggregationUnitId {
                return FieldError("name", "aggregation unit name \(u.name) is already used in market \(u.marketId) by \(owner)")
            }
            scope.aggregationUnitNames[nameKey] = u.aggregationUnitId
            return nil
        case .counterparty:
            return referenceBoundsError(event)
        }
    }

    private func validateMarketData(securityId: String, scope: BatchScope, refs: inout ResolvedRefs) -> FieldError? {
        if refs.security < 0, let index = reference.securityIds.lookup(securityId) { refs.security = index }
        guard refs.security >= 0 || (!scope.securities.isEmpty && scope.securities[securityId] != nil) else {
            return FieldError("securityId", "unknown security \(securityId)")
        }
        return nil
    }

    static func securityChange(_ tradeId: String, booked: String) -> String {
        "trade \(tradeId) is booked in security \(booked); a new version cannot change its security (cancel it and book a new trade)"
    }

    /// New trades of one batch (ascending event indices, all validated) that repeat an earlier one's id with
    /// another security: the validation against the state cannot see them, as neither is booked yet. Marks
    /// every repeat in `refs`, so that applying it looks up the record the earlier one made.
    func tradeConflicts(_ events: [Event], newTrades: [Int], refs: UnsafeMutableBufferPointer<ResolvedRefs>) -> [(index: Int, error: FieldError)] {
        guard newTrades.count > 1 else { return [] }
        var seen = ProbeTable(minimumCapacity: newTrades.count)
        var conflicts: [(index: Int, error: FieldError)] = []
        for i in newTrades {
            // Trade ids are compared only when hashes match: a repeat, or rarely a collision.
            let earlier = seen.find(hash: refs[i].tradeHash) { j in
                guard case .trade(let a) = events[Int(j)], case .trade(let b) = events[i] else { return false }
                return a.tradeId == b.tradeId
            }
            guard let j = earlier.map({ Int($0) }) else {
                seen.insert(hash: refs[i].tradeHash, payload: UInt64(i))
                continue
            }
            refs[i].repeatsNewTrade = true
            if refs[i].security >= 0 && refs[i].security == refs[j].security { continue }
            guard case .trade(let t) = events[i], case .trade(let first) = events[j], first.securityId != t.securityId else { continue }
            conflicts.append((i, FieldError("securityId", Self.securityChange(t.tradeId, booked: first.securityId) + "; both are in this batch")))
        }
        return conflicts
    }

    /// Where an existing trade of today is booked (its security, market and index in that market's table), looking
    /// first in the partition of `security`.
    func bookedTrade(_ id: String, hash: UInt64, near security: Int32?) -> (security: Int32, market: Int, index: Int32)? {
        let first = security.map { partition(ofSecurity: $0) } ?? 0
        for step in partitions.indices {
            let k = (first + step) & (partitions.count - 1)
            if let (m, i) = partitions[k].tradeLocation(id, hash: hash) { return (partitions[k].trades[m].records[Int(i)].security, m, i) }
        }
        return nil
    }

    private func validateSecurity(_ s: Security, scope: inout BatchScope) -> Result<Security, FieldError> {
        guard let market = marketIds.lookup(s.marketId) else {
            return .failure(FieldError("marketId", "unknown market \(s.marketId)"))
        }
        var record = s
        let keys = s.identifiers.filter { $0.0.isGloballyUnique }.map { IdentifierKey(kind: $0.0, value: $0.1) }
        if record.securityId == nil {
            var matched: String?
            for key in keys {
                guard let owner = identifierOwner(key, scope) else { continue }
                if let m = matched, m != owner {
                    return .failure(
                        FieldError(
                            key.kind.rawValue, "\(key.kind.rawValue) \(key.value) identifies \(owner) but other identifiers identify \(m); resolve the conflict"
                        ))
                }
                matched = owner
            }
            guard let id = matched ?? newSecurityId(for: s, scope) else {
                return .failure(FieldError("securityId", "a security needs securityId or at least one of isin, cusip, sedol, ric, bloombergId"))
            }
            record.securityId = id
        }
        let id = record.securityId!
        for key in keys {
            if let owner = identifierOwner(key, scope), owner != id {
                return .failure(
                    FieldError(
                        key.kind.rawValue, "\(key.kind.rawValue) \(key.value) already identifies security \(owner); resolve the conflict before updating \(id)")
                )
            }
        }
        if let existing = reference.securityIds.lookup(id), reference.securities[Int(existing)].market != market {
            return .failure(
                FieldError("marketId", "security \(id) belongs to market \(reference.securities[Int(existing)].record.marketId); its market cannot change"))
        }
        if let inScope = scope.securities[id], inScope != market {
            return .failure(FieldError("marketId", "security \(id) was given another market earlier in this batch"))
        }
        for c in s.constituents where securityMarket(c.securityId, scope) == nil && c.securityId != id {
            return .failure(FieldError("constituents", "unknown constituent security \(c.securityId)"))
        }
        scope.securities[id] = market
        for key in keys { scope.identifierClaims[key] = id }
        return .success(record)
    }

    /// A deterministic internal id for a security first seen without one: `S-` and its first global identifier.
    private func newSecurityId(for s: Security, _ scope: BatchScope) -> String? {
        guard let first = s.identifiers.first(where: { $0.0.isGloballyUnique }) else { return nil }
        var candidate = "S-" + first.1
        var n = 2
        while reference.securityIds.lookup(candidate) != nil || scope.securities[candidate] != nil {
            candidate = "S-\(first.1)-\(n)"
            n += 1
        }
        return candidate
    }

    func identifierOwner(_ key: IdentifierKey, _ scope: BatchScope) -> String? {
        if let owner = scope.identifierClaims[key] { return owner }
        return reference.identifierIndex[key].map { reference.securityIds.name($0) }
    }

    @inline(__always) func bookExists(_ id: String, _ scope: BatchScope) -> Bool {
        reference.bookIds.lookup(id) != nil || (!scope.books.isEmpty && scope.books.contains(id))
    }

    @inline(__always) func securityMarket(_ id: String, _ scope: BatchScope) -> Int32? {
        if let index = reference.securityIds.lookup(id) { return reference.securities[Int(index)].market }
        return scope.securities.isEmpty ? nil : scope.securities[id]
    }

    @inline(__always) func businessDate(_ market: Int32, _ scope: BatchScope) -> BusinessDate? {
        if !scope.marketDates.isEmpty, let d = scope.marketDates[market] { return d }
        return markets[Int(market)].businessDate
    }
}
