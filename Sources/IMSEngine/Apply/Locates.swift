import IMSDomain
import IMSRules

extension ReferenceData {
    /// What a rule's condition is tested against, for security `index`.
    func traits(_ index: Int32, markets: [MarketState]) -> SecurityTraits {
        let entry = securities[Int(index)], s = entry.record
        let marketCurrency = markets[Int(entry.market)].market.currency
        return SecurityTraits(
            marketId: s.marketId, temperature: s.temperature, assetType: s.assetType, easyToBorrow: s.easyToBorrow,
            thresholdList: s.thresholdList, restricted: s.restricted, shortSellEligible: s.shortSellEligible,
            indexMemberships: s.securityId.flatMap { memberships[$0] } ?? [],
            quanto: s.currency.map { $0 != marketCurrency } ?? false)
    }

    /// A security by internal id or any of its identifiers.
    func securityIndex(_ idOrIdentifier: String) -> Int32? {
        if let i = securityIds.lookup(idOrIdentifier) { return i }
        for kind in IdentifierKind.allCases {
            if let i = identifierIndex[IdentifierKey(kind: kind, value: idOrIdentifier)] { return i }
        }
        return nil
    }
}

/// The largest quantity a locate may ask for.
let maxLocateQuantity: Int64 = 1_000_000_000_000

extension EngineState {
    // MARK: Validation

    /// Why a locate command cannot be applied now, or nil. A request for an unknown or restricted security is
    /// not refused: it is answered (REJECTED with its reason). A field `status` means the locate is not in a
    /// state the command can act on (the API answers 409).
    func locateProblem(_ c: LocateCommand) -> FieldError? {
        func missing(_ field: String) -> FieldError { FieldError(field, "\(field) is required") }
        switch c.action {
        case .request:
            guard let requestId = c.requestId, !requestId.isEmpty else { return missing("requestId") }
            guard requestId.utf8.count <= 128 else { return FieldError("requestId", "requestId is longer than 128 bytes") }
            guard let clientId = c.clientId, !clientId.isEmpty else { return missing("clientId") }
            guard clientId.utf8.count <= 128 else { return FieldError("clientId", "clientId is longer than 128 bytes") }
            guard reference.knowsClient(clientId) else {
                return FieldError("clientId", "unknown client \(clientId): no book or client counterparty names it")
            }
            guard let securityId = c.securityId, !securityId.isEmpty else { return missing("securityId") }
            guard securityId.utf8.count <= 128 else { return FieldError("securityId", "securityId is longer than 128 bytes") }
            guard let q = c.quantity else { return missing("quantity") }
            guard q > 0, q <= maxLocateQuantity else { return FieldError("quantity", "quantity must be between 1 and \(maxLocateQuantity)") }
            guard c.side != nil else { return missing("side") }
            return nil
        case .decide:
            guard let id = c.locateId, let locate = locates.locate(id) else { return FieldError("locateId", "unknown locate \(c.locateId ?? "")") }
            guard locate.status == .pending else {
                return FieldError("status", "locate \(id) is \(locate.status.rawValue); only a PENDING locate can be decided")
            }
            guard let decision = c.decision else { return missing("action") }
            guard let user = c.user, !user.isEmpty else { return missing("user") }
            guard decision == .approve else { return nil }
            let q = c.quantity ?? locate.quantity
            guard q > 0, q <= locate.quantity else { return FieldError("quantity", "quantity must be between 1 and the \(locate.quantity) requested") }
            // An approval re-checks availability now.
            guard let security = reference.securityIndex(locate.securityId) else { return FieldError("locateId", "its security is unknown") }
            let facts = locateFacts(security: security, clientId: locate.clientId, side: locate.side, settlement: locate.settlement, quantity: q)
            let factor = rules.active.rules.locatePolicy.decrement(facts).factor
            let need = CompiledLocatePolicy.decrement(of: q, factor: factor), available = locateAvailable(security)
            guard need <= available else {
                return FieldError(
                    "quantity",
                    "approving \(q) takes \(need) from the pool, which has \(available) now; approve at most \(CompiledLocatePolicy.coverable(by: available, factor: factor, requested: q))"
                )
            }
            return nil
        case .cancel:
            guard let id = c.locateId, let locate = locates.locate(id) else { return FieldError("locateId", "unknown locate \(c.locateId ?? "")") }
            guard let clientId = c.clientId, clientId == locate.clientId else { return FieldError("clientId", "locate \(id) is another client's") }
            guard locate.status.isLive else { return FieldError("status", "locate \(id) is \(locate.status.rawValue); only a live locate can be cancelled") }
            return nil
        }
    }

    // MARK: Applying

    mutating func applyLocate(_ c: LocateCommand, sequence: Int64, at time: Timestamp) -> Bool {
        switch c.action {
        case .request: return requestLocate(c, sequence: sequence, at: time)
        case .decide:
            guard let i = locates.index(c.locateId ?? "") else { return false }
            let locate = locates.records[i]
            if c.decision == .approve, let security = reference.securityIndex(locate.securityId) {
                let q = c.quantity ?? locate.quantity
                let facts = locateFacts(security: security, clientId: locate.clientId, side: locate.side, settlement: locate.settlement, quantity: q)
                let factor = rules.active.rules.locatePolicy.decrement(facts).factor
                changeLocate(i) {
                    $0.approvedQuantity = q
                    $0.decrementQuantity = CompiledLocatePolicy.decrement(of: q, factor: factor)
                    $0.status = q == $0.quantity ? .approved : .partial
                    $0.reason = c.reason
                    $0.history.append(.init(sequence: sequence, at: time, status: $0.status, approvedQuantity: q, by: c.user ?? "", reason: c.reason))
                }
            } else {
                changeLocate(i) {
                    $0.status = .rejected
                    $0.reason = c.reason ?? "REJECTED_BY_OPERATOR"
                    $0.history.append(.init(sequence: sequence, at: time, status: .rejected, approvedQuantity: 0, by: c.user ?? "", reason: $0.reason))
                }
            }
            return true
        case .cancel:
            guard let i = locates.index(c.locateId ?? "") else { return false }
            changeLocate(i) {
                $0.status = .cancelled
                $0.history.append(
                    .init(
                        sequence: sequence, at: time, status: .cancelled, approvedQuantity: $0.approvedQuantity, by: c.user ?? c.clientId ?? "",
                        reason: c.reason))
            }
            return true
        }
    }

    private mutating func requestLocate(_ c: LocateCommand, sequence: Int64, at time: Timestamp) -> Bool {
        let clientId = c.clientId ?? "", requestId = c.requestId ?? "", q = c.quantity ?? 0
        // A re-sent request: the first answer stands.
        // A re-sent request on the same business day: the first answer stands (a request id used again after
        // its market rolled is a new request).
        if let first = locates.locate(clientId: clientId, requestId: requestId), !clock.hasRolled(past: first.businessDate, marketId: first.marketId) {
            return false
        }
        var record = LocateRecord(
            locateId: "L\(sequence)", requestId: requestId, clientId: clientId, securityId: c.securityId ?? "", marketId: nil,
            side: c.side ?? .short, settlement: c.settlement ?? .cash, quantity: q, approvedQuantity: 0, decrementQuantity: 0,
            status: .rejected, reason: nil, rateBps: nil, businessDate: nil, requestedAt: time, requestedBy: c.user, history: [])
        var by = "policy"
        if let security = reference.securityIndex(record.securityId) {
            let entry = reference.securities[Int(security)]
            record.securityId = entry.record.securityId ?? record.securityId
            record.marketId = entry.record.marketId
            record.businessDate = markets[Int(entry.market)].businessDate
            record.rateBps = indicativeRate(security, quantity: q)
            let facts = locateFacts(security: security, clientId: clientId, side: record.side, settlement: record.settlement, quantity: q)
            let policy = rules.active.rules.locatePolicy
            let rule = policy.decide(facts)
            let factor = policy.decrement(facts).factor
            by = "policy:" + rule.id
            switch rule.outcome {
            case .approve:
                record.status = .approved
                record.approvedQuantity = q
            case .pending(let reason):
                record.status = .pending
                record.reason = reason
            case .reject(let reason):
                record.reason = reason
            case .availability:
                let available = locateAvailable(security)
                let covered = CompiledLocatePolicy.coverable(by: available, factor: factor, requested: q)
                if covered == q {
                    record.status = .approved
                    record.approvedQuantity = q
                } else if covered > 0 {
                    record.status = .partial
                    record.approvedQuantity = covered
                    record.reason = "INSUFFICIENT_AVAILABILITY"
                } else {
                    record.reason = "INSUFFICIENT_AVAILABILITY"
                }
            }
            record.decrementQuantity = CompiledLocatePolicy.decrement(of: record.approvedQuantity, factor: factor)
        } else {
            record.reason = "UNKNOWN_SECURITY"
        }
        record.history.append(
            .init(sequence: sequence, at: time, status: record.status, approvedQuantity: record.approvedQuantity, by: by, reason: record.reason))
        let i = locates.add(record)
        countLocate(locates.records[i], sign: 1)
        return true
    }

    /// Changes locate `i`, moving what it holds in the buckets.
    private mutating func changeLocate(_ i: Int, _ body: (inout LocateRecord) -> Void) {
        countLocate(locates.records[i], sign: -1)
        locates.update(i, body)
        countLocate(locates.records[i], sign: 1)
    }

    /// What a locate holds: its decrement in the security's `LOCATE_DECREMENT`, its approved quantity in its
    /// client's `LOCATE_APPROVED.SHORT` or `.LONG` (sign −1 takes it back). A short locate counts through
    /// its client's `LocateUse`, which the client's short sales of the day use up.
    mutating func countLocate(_ r: LocateRecord, sign: Int64) {
        guard r.status == .approved || r.status == .partial, let security = reference.securityIndex(r.securityId) else { return }
        let k = partition(ofSecurity: security)
        let (client, isNew) = reference.clientIds.intern(r.clientId)
        if isNew { reference.version &+= 1 } // the read model needs the client's id for its limits
        let slot = partitions[k].scoped.client.slot(scope: client, security: security)
        if r.side == .short {
            partitions[k].changeLocateUse(slot: slot, security: security) {
                $0.located += sign * r.approvedQuantity
                $0.decrement += sign * r.decrementQuantity
            }
        } else {
            partitions[k].inventory.add(security: security, bucket: Bucket.locateDecrement, sign * r.decrementQuantity)
            partitions[k].scoped.client.add(slot: slot, bucket: Bucket.locateApprovedLong, sign * r.approvedQuantity)
        }
    }

    /// Expires the live locates of market `m`'s securities (its business date has rolled).
    mutating func expireLocates(market m: Int, sequence: Int64, at time: Timestamp) {
        let marketId = markets[m].market.marketId
        for i in locates.live where locates.records[i].marketId == marketId {
            changeLocate(i) {
                $0.status = .expired
                $0.history.append(.init(sequence: sequence, at: time, status: .expired, approvedQuantity: $0.approvedQuantity, by: "dayRoll", reason: nil))
            }
        }
    }

    // MARK: Facts

    func locateFacts(security: Int32, clientId: String, side: LocateCommand.Side, settlement: LocateCommand.Settlement, quantity: Int64) -> LocateFacts {
        let entry = reference.securities[Int(security)]
        let securityId = entry.record.securityId ?? ""
        return LocateFacts(
            traits: reference.traits(security, markets: markets), country: markets[Int(entry.market)].market.country,
            side: side, settlement: settlement, clientId: clientId, quantity: quantity,
            rateBps: indicativeRate(security, quantity: quantity),
            clientApproved: locates.approved(clientId: clientId, securityId: securityId),
            securityApproved: locates.approvedBySecurity[securityId] ?? 0)
    }

    /// The security's `locateAvailable` under the rules in force, now.
    func locateAvailable(_ security: Int32) -> Int64 {
        let active = rules.active.rules
        let choice = active.choose(for: reference.traits(security, markets: markets))
        let b = partitions[partition(ofSecurity: security)].inventory.vector(security: security, ladder: active.usesLadderDays(choice))
        return active.evaluate(choice, b).locateAvailable
    }

    /// The indicative borrow rate for `quantity`: the quantity-weighted rate of the cheapest lender lines
    /// (with a rate) that cover it, or of all of them if they do not; nil when no line has a rate.
    func indicativeRate(_ security: Int32, quantity: Int64) -> Decimal8? {
        let p = partitions[partition(ofSecurity: security)]
        var lines: [(rate: Decimal8, quantity: Int64)] = []
        for source in p.availabilitySources[security] ?? [] {
            if let a = p.availability[AvailabilityKey(sourceId: source, security: security)], a.quantity > 0, let rate = a.rateBps {
                lines.append((rate, a.quantity))
            }
        }
        guard !lines.isEmpty else { return nil }
        lines.sort { ($0.rate.units, $0.quantity) < ($1.rate.units, $1.quantity) }
        var remaining = quantity, weighted = Int128(0), taken: Int64 = 0
        for line in lines where remaining > 0 {
            let q = min(line.quantity, remaining)
            weighted += Int128(line.rate.units) * Int128(q)
            taken += q
            remaining -= q
        }
        return Decimal8(units: Int64(weighted / Int128(max(taken, 1))))
    }
}

/// A client's short locates in one security and its short sales of the day, which use them up (SPEC 4.4:
/// the decrement "is adjusted intraday as the client trades").
///
/// The client's `LOCATE_APPROVED.SHORT` is what its locates still cover, `max(0, located − shortSold)`: a
/// short sale uses its locate, so the short-sell limit does not count it again once the sale's order has
/// turned into position. The security's `LOCATE_DECREMENT` counts `max(decrement, min(shortSold, located))`:
/// a locate decremented at less than 100% (GC, US easy-to-borrow at 0%) decrements what the client has
/// actually sold short against it, since those shares are now needed.
struct LocateUse: Sendable, Equatable {
    var located: Int64 = 0
    var decrement: Int64 = 0
    var shortSold: Int64 = 0

    var approvedShort: Int64 { max(0, located - shortSold) }
    var effectiveDecrement: Int64 { max(decrement, min(shortSold, located)) }
}

extension Partition {
    /// Changes the locate use of client slot `slot` (in `security`), moving its client's
    /// `LOCATE_APPROVED.SHORT` and the security's `LOCATE_DECREMENT` by what the change makes of them.
    mutating func changeLocateUse(slot: Int32, security: Int32, _ body: (inout LocateUse) -> Void) {
        var use = locateUse[slot] ?? LocateUse()
        let before = use
        body(&use)
        locateUse[slot] = use == LocateUse() ? nil : use
        let approved = use.approvedShort - before.approvedShort, decrement = use.effectiveDecrement - before.effectiveDecrement
        if approved != 0 { scoped.client.add(slot: slot, bucket: Bucket.locateApprovedShort, approved) }
        if decrement != 0 { inventory.add(security: security, bucket: Bucket.locateDecrement, decrement) }
    }

    /// Position `pi` (of a client's book) sold `q` more short today (negative: less).
    mutating func noteShortSale(position pi: Int, _ q: Int64) {
        let r = positions[pi]
        changeLocateUse(slot: r.scopeSlots.client, security: r.security) { $0.shortSold += q }
    }
}
