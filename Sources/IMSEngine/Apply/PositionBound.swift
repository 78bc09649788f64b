import IMSDomain

// Why no position figure can overflow.
//
// A position's *mass* is the sum of the magnitudes of the figures it stores: the SOD contractual and
// settled figures, the ten ladder cells, the `later` totals and the three intraday figures. Ladder cells,
// `later` and intraday figures are never negative (SOD rows are bounded to 0…maxQuantity and trades only
// add what they later take back), so every figure IMS derives (contractual, each projected row, a day
// roll's new settled figure) is a signed sum of stored figures, each taken once, and is bounded by the
// mass. Keeping every mass within `InputBounds.maxPositionMass` (10¹⁸) keeps every sum in 64 bits.
//
// What may raise a mass: a trade adds at most twice its quantity (a ladder or `later` cell and an intraday
// figure; the version it replaces is taken back first); an SOD snapshot re-based on today's trades adds at
// most its own figures' magnitudes (the trades' share of the old cells is carried over, the old SOD rows
// replaced). A day roll never raises one (it moves figures and resets the intraday ones).
//
// Checking each line against its position would cost a random memory read per trade on the writer's one
// thread. So the state keeps, per market, a ceiling that no position's mass exceeds: a batch whose
// growth fits under the bound on top of the ceiling is safe as a whole (the common case: one comparison
// per market per batch). Otherwise the ceiling is recomputed exactly, and if it still does not fit, each
// line of that market is checked against its own position, in input order, and a line that could take it
// over the bound is refused. The outcome is always that of the per-line check (the ceiling only proves it
// passes), so it does not depend on how loose the ceiling was: replays decide the same.

extension PositionRecord {
    /// The sum of the magnitudes of the figures this position stores (saturating at `Int64.max`).
    var mass: Int64 {
        var total = Int64(0)
        @inline(__always) func add(_ v: Int64) { total = saturatingAdd(total, v == .min ? .max : abs(v)) }
        add(sodContractual); add(sodSettled)
        for k in 0..<Ladder5.count { add(receipt[k]); add(deliver[k]) }
        add(laterReceipt); add(laterDeliver)
        add(intradayBuys); add(intradaySells); add(intradayShortSells)
        return total
    }
}

/// `a + b` for non-negative values, saturating at `Int64.max`.
@inline(__always) func saturatingAdd(_ a: Int64, _ b: Int64) -> Int64 {
    let (sum, overflow) = a.addingReportingOverflow(b)
    return overflow ? .max : sum
}

extension SODPosition {
    /// The magnitudes of this snapshot's figures, added up (each is bounded, so this cannot overflow).
    var mass: Int64 {
        var total = abs(contractualQty) + abs(settledQty)
        for q in receipts { total += abs(q) }
        for q in delivers { total += abs(q) }
        return total
    }
}

/// How much a batch could raise the position masses of each market, gathered while validating it.
struct MassGrowth {
    var byMarket: [Int64]
    /// Growth of events whose security is defined in the same batch (market not interned yet): counted in every market.
    var unplaced: Int64 = 0

    init(markets: Int) { byMarket = Array(repeating: 0, count: markets) }

    /// Notes the growth a validated event may cause.
    @inline(__always) mutating func note(_ event: Event, market: Int32?) {
        let delta: Int64
        switch event {
        case .trade(let t): delta = 2 * t.quantity
        case .sodPosition(let s): delta = s.mass
        default: return
        }
        if let market { byMarket[Int(market)] = saturatingAdd(byMarket[Int(market)], delta) } else { unplaced = saturatingAdd(unplaced, delta) }
    }

    /// Notes the growth a validated trade may cause (without copying the trade out of its event).
    @inline(__always) mutating func note(tradeQuantity q: Int64, market: Int32) {
        byMarket[Int(market)] = saturatingAdd(byMarket[Int(market)], 2 * q)
    }

    mutating func merge(_ other: MassGrowth) {
        for m in byMarket.indices { byMarket[m] = saturatingAdd(byMarket[m], other.byMarket[m]) }
        unplaced = saturatingAdd(unplaced, other.unplaced)
    }
}

extension EngineState {
    /// The largest mass of any position in market `m`, walked exactly.
    func exactMassCeiling(market m: Int) -> Int64 {
        var ceiling = Int64(0)
        for security in reference.securitiesByMarket[m] {
            let k = partition(ofSecurity: security)
            for p in partitions[k].positionsBySecurity[Int(security)] { ceiling = max(ceiling, partitions[k].positions[Int(p)].mass) }
        }
        return ceiling
    }

    /// Recomputes every market's ceiling exactly (after loading a snapshot).
    mutating func recomputeMassCeilings() {
        massCeilings = markets.indices.map { exactMassCeiling(market: $0) }
    }

    /// The lines of a validated batch that could take a position's mass over `InputBounds.maxPositionMass`,
    /// by event index; raises the ceilings by the batch's growth. `refused` marks lines already refused.
    mutating func positionBoundErrors(
        _ batch: IngestBatch, growth: MassGrowth, refused: [Bool],
        refs: UnsafeBufferPointer<ResolvedRefs>
    ) -> [(index: Int, error: FieldError)] {
        let bound = positionMassBound
        var slow = [Bool](repeating: false, count: markets.count)
        var anySlow = false
        for m in markets.indices {
            let g = saturatingAdd(growth.byMarket[m], growth.unplaced)
            if g == 0 { continue }
            if saturatingAdd(massCeilings[m], g) <= bound {
                massCeilings[m] += g
                continue
            }
            massCeilings[m] = exactMassCeiling(market: m)
            if saturatingAdd(massCeilings[m], g) <= bound {
                massCeilings[m] += g
                continue
            }
            slow[m] = true
            anySlow = true
        }
        guard anySlow else { return [] }

        // Line by line, for the markets that need it: each position's mass now plus what earlier lines of
        // the batch may add to it.
        var added: [String: Int64] = [:]
        var errors: [(index: Int, error: FieldError)] = []
        var accepted = [Int64](repeating: 0, count: markets.count)
        for i in batch.events.indices where refused.isEmpty || !refused[i] {
            let bookId: String, securityId: String, delta: Int64, field: String
            switch batch.events[i] {
            case .trade(let t): (bookId, securityId, delta, field) = (t.bookId, t.securityId, 2 * t.quantity, "quantity")
            case .sodPosition(let s): (bookId, securityId, delta, field) = (s.bookId, s.securityId, s.mass, "contractualQty")
            default: continue
            }
            let security = refs[i].security >= 0 ? refs[i].security : reference.securityIds.lookup(securityId)
            // A security defined in this batch has no positions yet; its market is checked as a whole.
            let market = security.map { Int(reference.securities[Int($0)].market) }
            if let market, !slow[market] { continue }
            let key = bookId + "\u{1}" + securityId
            var current = added[key] ?? -1
            if current < 0 {
                current = 0
                if let security, let book = reference.bookIds.lookup(bookId),
                    let p = partitions[partition(ofSecurity: security)].existingPosition(book: book, security: security)
                {
                    current = partitions[partition(ofSecurity: security)].positions[Int(p)].mass
                }
            }
            let after = saturatingAdd(current, delta)
            if after > bound {
                errors.append(
                    (
                        i,
                        FieldError(
                            field,
                            "position of book \(bookId) in \(securityId) would reach \(after == .max ? "beyond Int64" : String(after)) units in its figures' magnitudes, above the \(bound) IMS keeps a position within"
                        )
                    ))
                continue
            }
            added[key] = after
            if let market { accepted[market] = saturatingAdd(accepted[market], delta) }
        }
        for m in markets.indices where slow[m] { massCeilings[m] = saturatingAdd(massCeilings[m], accepted[m]) }
        return errors
    }
}
