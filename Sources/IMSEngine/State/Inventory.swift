import IMSDomain
import IMSRules

/// The inventory buckets (SPEC 4.1) of the securities one partition owns, kept up to date by every change
/// that moves them: a position's contractual quantity (by its book's position type), a contract's open
/// quantity (by its kind), a lender's availability (by its type). Each change adds its difference to its
/// own security's buckets only: O(1) per event, no rescan.
///
/// Derived state: snapshots do not carry it; it is rebuilt from positions, contracts and availability when
/// a state is loaded (`EngineState.rebuildInventory`), the same function the tests compare the running
/// figures against.
struct InventoryBuckets: Sendable, Equatable {
    /// Slot of each security by global index (-1: none yet).
    private(set) var slotOfSecurity: [Int32] = []
    private(set) var securityOfSlot: [Int32] = []
    /// `Bucket.count` values per slot.
    private(set) var values: ContiguousArray<Int64> = []
    /// `Bucket.count` values per settlement-ladder day per slot (`InventoryBuckets.ladderStride`): the dated
    /// buckets as they stand on SD0…SD4 (positions by projected settled quantity, contracts by their dates,
    /// lenders' lines by effective date). Undated buckets' places are unused.
    private(set) var ladder: ContiguousArray<Int64> = []

    static let ladderStride = Bucket.count * Bucket.ladderDays
    /// Slots changed since the last change record.
    var changed = ChangeMarks()
    /// Off only to measure what the buckets cost (`ims bench engine --no-inventory`).
    var enabled = true

    @inline(__always)
    private mutating func slot(_ security: Int32) -> Int {
        let s = Int(security)
        if s >= slotOfSecurity.count { slotOfSecurity.append(contentsOf: repeatElement(-1, count: s + 1 - slotOfSecurity.count + 64)) }
        let existing = slotOfSecurity[s]
        if existing >= 0 { return Int(existing) }
        let new = securityOfSlot.count
        slotOfSecurity[s] = Int32(new)
        securityOfSlot.append(security)
        values.append(contentsOf: repeatElement(0, count: Bucket.count))
        ladder.append(contentsOf: repeatElement(0, count: Self.ladderStride))
        return new
    }

    /// Adds `delta` to one dated bucket of `security` on ladder day `day`.
    @inline(__always)
    mutating func add(security: Int32, day: Int, bucket: Int, _ delta: Int64) {
        guard delta != 0, enabled else { return }
        let s = slot(security)
        ladder[s * Self.ladderStride + day * Bucket.count + bucket] &+= delta
        changed.mark(Int32(s))
    }

    /// Moves a position's ladder-day contributions from its projected settled rows `old` to `new` (only the
    /// days that differ: a trade settling on SDk moves days k…4).
    @inline(__always)
    mutating func moveLadder(security: Int32, type: PositionType, from old: Ladder5, to new: Ladder5) {
        guard old != new, enabled else { return }
        let s = slot(security)
        for k in 0..<Bucket.ladderDays where old[k] != new[k] {
            Self.movePosition(&ladder, base: s * Self.ladderStride + k * Bucket.count, type: type, from: old[k], to: new[k])
        }
        changed.mark(Int32(s))
    }

    /// Sets every ladder day of `security` to zero (before its days are recomputed: a day roll).
    mutating func clearLadder(security: Int32) {
        let s = Int(security)
        guard s < slotOfSecurity.count, slotOfSecurity[s] >= 0 else { return }
        let slot = Int(slotOfSecurity[s])
        for i in 0..<Self.ladderStride { ladder[slot * Self.ladderStride + i] = 0 }
        changed.mark(Int32(slot))
    }

    /// Adds `delta` to one bucket of `security`.
    @inline(__always)
    mutating func add(security: Int32, bucket: Int, _ delta: Int64) {
        guard delta != 0, enabled else { return }
        let s = slot(security)
        values[s * Bucket.count + bucket] &+= delta
        changed.mark(Int32(s))
    }

    /// Moves a position's contribution from `old` to `new` contractual quantity (`type`: its book's): the long
    /// part to `LONG.<type>` (and `HYPOTHECATABLE` or `PAY_TO_HOLD` for those types), the short part to
    /// `SHORT.<type>`, as `Bucket.positionContribution` says. Per trade on the hot path: one slot, four adds.
    @inline(__always)
    mutating func movePosition(security: Int32, type: PositionType, from old: Int64, to new: Int64) {
        guard old != new, enabled else { return }
        let s = slot(security)
        Self.movePosition(&values, base: s * Bucket.count, type: type, from: old, to: new)
        changed.mark(Int32(s))
    }

    /// The buckets a position's move changes, at `base` in `values` (shared with `ScopedBuckets`).
    @inline(__always)
    static func movePosition(_ values: inout ContiguousArray<Int64>, base: Int, type: PositionType, from old: Int64, to new: Int64) {
        let t = type.ordinal
        let long = max(new, 0) &- max(old, 0), short = max(0 &- new, 0) &- max(0 &- old, 0)
        values.withUnsafeMutableBufferPointer { v in
            v[base + t] &+= long
            v[base + 8 + t] &+= short
            if type == .clientFree { v[base + Bucket.hypothecatable] &+= long } else if type == .payToHold { v[base + Bucket.payToHold] &+= long }
        }
    }

    /// The buckets of `security`, with its ladder days unless `ladder` is false (all zero if it has none).
    func vector(security: Int32, ladder withLadder: Bool = true) -> BucketVector {
        var v = BucketVector(ladder: withLadder)
        let s = Int(security)
        guard s < slotOfSecurity.count, slotOfSecurity[s] >= 0 else { return v }
        let slot = Int(slotOfSecurity[s])
        v.values.withUnsafeMutableBufferPointer { out in
            for b in 0..<Bucket.count { out[b] = values[slot * Bucket.count + b] }
            guard withLadder else { return }
            for i in 0..<Self.ladderStride { out[Bucket.count + i] = ladder[slot * Self.ladderStride + i] }
        }
        return v
    }

    /// Bytes held: the buckets, their ladder days and the slot tables.
    var memoryBytes: Int { values.capacity * 8 + ladder.capacity * 8 + slotOfSecurity.capacity * 4 + securityOfSlot.capacity * 4 }
    var securityCount: Int { securityOfSlot.count }

    /// Every security with buckets, and them.
    func all() -> [(security: Int32, buckets: BucketVector)] {
        securityOfSlot.map { ($0, vector(security: $0)) }
    }

    /// The securities changed since the last call, with their buckets (flat, no array per security); clears
    /// the marks.
    mutating func takeChanges() -> InventoryChanges {
        var out = InventoryChanges()
        out.securities.reserveCapacity(changed.count)
        out.values.reserveCapacity(changed.count * Bucket.count)
        out.ladder.reserveCapacity(changed.count * Self.ladderStride)
        var marks = ChangeMarks()
        swap(&marks, &changed)
        defer { swap(&marks, &changed) } // keeps the marks' storage (cleared by `take`)
        marks.take { slot in
            let base = Int(slot) * Bucket.count, ladderBase = Int(slot) * Self.ladderStride
            out.securities.append(securityOfSlot[Int(slot)])
            out.values.append(contentsOf: values[base..<(base + Bucket.count)])
            out.ladder.append(contentsOf: ladder[ladderBase..<(ladderBase + Self.ladderStride)])
        }
        return out
    }

    /// Sets the buckets of the securities in `changes` (the read model following the change feed).
    mutating func take(_ changes: InventoryChanges, from k: Int) {
        let base = k * Bucket.count, s = slot(changes.securities[k])
        values.withUnsafeMutableBufferPointer { v in
            for b in 0..<Bucket.count { v[s * Bucket.count + b] = changes.values[base + b] }
        }
        let ladderBase = k * Self.ladderStride
        ladder.withUnsafeMutableBufferPointer { v in
            for i in 0..<Self.ladderStride { v[s * Self.ladderStride + i] = changes.ladder[ladderBase + i] }
        }
    }

    /// Whether both hold the same figures (slots may be numbered differently).
    func sameFigures(as other: InventoryBuckets) -> Bool {
        let mine = Dictionary(uniqueKeysWithValues: all().filter { !$0.buckets.isZero }.map { ($0.security, $0.buckets) })
        let theirs = Dictionary(uniqueKeysWithValues: other.all().filter { !$0.buckets.isZero }.map { ($0.security, $0.buckets) })
        return mine == theirs
    }

    static func == (a: InventoryBuckets, b: InventoryBuckets) -> Bool { a.sameFigures(as: b) }
}

/// Where a contract's version counts.
struct ContractPlace: Sendable, Hashable {
    var book: Int32
    var security: Int32
    var market: Int
}

/// The inventory buckets a drain changed: securities, `Bucket.count` values for each in one array, and
/// `InventoryBuckets.ladderStride` ladder-day values for each in another.
struct InventoryChanges: Sendable {
    var securities: [Int32] = []
    var values: [Int64] = []
    var ladder: [Int64] = []

    var count: Int { securities.count }

    mutating func append(_ other: InventoryChanges) {
        securities += other.securities
        values += other.values
        ladder += other.ladder
    }
}

extension Contract {
    /// What the contract puts in its kind's bucket: the open quantity net of returns, while it is open or recalled.
    var openQuantity: Int64 {
        switch status {
        case .open, .recalled: max(0, quantity - returnedQty)
        case .returned, .cancelled: 0
        }
    }

    /// Whether the contract is in force on `date`: started, and not past its end date (it ends on that day).
    func isInForce(on date: BusinessDate) -> Bool {
        startDate <= date && (endDate.map { date < $0 } ?? true)
    }
}

extension Availability {
    /// Whether the lender's line counts on `date`: from its effective date.
    func counts(on date: BusinessDate) -> Bool { effectiveDate <= date }
}

extension PositionRecord {
    /// The projected settled quantity on each ladder day SD0…SD4 (SPEC 3): what the position puts in the
    /// ladder-day buckets.
    @inline(__always)
    var ladderRows: Ladder5 {
        var rows = Ladder5.zero
        var total = sodSettled
        total &+= receipt.q0 &- deliver.q0; rows.q0 = total
        total &+= receipt.q1 &- deliver.q1; rows.q1 = total
        total &+= receipt.q2 &- deliver.q2; rows.q2 = total
        total &+= receipt.q3 &- deliver.q3; rows.q3 = total
        total &+= receipt.q4 &- deliver.q4; rows.q4 = total
        return rows
    }
}

extension Partition {
    /// What a contract of `book` puts in its scopes' buckets (sign −1 takes it away).
    mutating func addScoped(_ c: Contract, book: Int32, security: Int32, market: Int, sign: Int64) {
        guard book >= 0, Int(book) < bookScopes.count else { return }
        scoped.add(bookScopes[Int(book)], market: market, security: security, bucket: Bucket.contract(c.kind), sign * c.openQuantity)
    }
}

extension Partition {
    /// Takes a contract's new version (the highest version wins), moving its open quantity in the buckets
    /// (`book` is the new version's book; the old version's place is remembered in `contractPlaces`).
    mutating func applyContract(_ c: Contract, security: Int32, book: Int32, market: Int, markets: [MarketState]) -> Bool {
        if let old = contracts[c.contractId] {
            if c.version <= old.version { return false }
            // The old version may have been in another book or security (of this partition).
            let place = contractPlaces[c.contractId]!
            addContract(old, at: place, sign: -1, ladder: markets[place.market].ladder)
        }
        let place = ContractPlace(book: book, security: security, market: market)
        contractPlaces[c.contractId] = place
        addContract(c, at: place, sign: 1, ladder: markets[market].ladder)
        contracts[c.contractId] = c
        changedContracts.insert(c.contractId)
        return true
    }

    /// Forgets a contract whose new version belongs to a security of another partition.
    mutating func removeContract(_ c: Contract, markets: [MarketState]) {
        guard let place = contractPlaces.removeValue(forKey: c.contractId) else { return }
        addContract(c, at: place, sign: -1, ladder: markets[place.market].ladder)
        contracts.removeValue(forKey: c.contractId)
        changedContracts.remove(c.contractId)
    }

    /// What a contract puts in its security's buckets, its ladder days (`ladder`: its market's SD0…SD4) and its
    /// book's scopes (sign −1 takes it away).
    mutating func addContract(_ c: Contract, at place: ContractPlace, sign: Int64, ladder: [BusinessDate]) {
        let q = sign * c.openQuantity, bucket = Bucket.contract(c.kind)
        inventory.add(security: place.security, bucket: bucket, q)
        addContractDays(c, security: place.security, sign: sign, ladder: ladder)
        addScoped(c, book: place.book, security: place.security, market: place.market, sign: sign)
    }

    /// A contract's open quantity on the ladder days it is in force.
    mutating func addContractDays(_ c: Contract, security: Int32, sign: Int64, ladder: [BusinessDate]) {
        let q = sign * c.openQuantity, bucket = Bucket.contract(c.kind)
        guard q != 0 else { return }
        for k in ladder.indices where c.isInForce(on: ladder[k]) { inventory.add(security: security, day: k, bucket: bucket, q) }
    }

    /// A lender's line on the ladder days it counts.
    mutating func addAvailabilityDays(_ a: Availability, security: Int32, sign: Int64, ladder: [BusinessDate]) {
        let q = sign * a.quantity, bucket = Bucket.external(a.availabilityType)
        guard q != 0 else { return }
        for k in ladder.indices where a.counts(on: ladder[k]) { inventory.add(security: security, day: k, bucket: bucket, q) }
    }
}

extension EngineState {
    /// Whether the partitions keep inventory buckets (always, but for `ims bench engine --no-inventory`).
    public var keepsInventory: Bool {
        get { partitions.allSatisfy(\.inventory.enabled) }
        set {
            for k in partitions.indices {
                partitions[k].inventory.enabled = newValue
                partitions[k].scoped.enabled = newValue
            }
        }
    }

    /// Recomputes every security's buckets from scratch: positions by their book's type, open contracts,
    /// lender availability. A loaded snapshot calls it (the buckets are derived, not stored); the tests
    /// compare it with the buckets kept up to date event by event.
    mutating func rebuildInventory() {
        changeLog.inventoryRebuilt = true
        reference.rebuildScopeIndexes()
        let scopes = reference.books.indices.map { bookScope(Int32($0)) }
        for k in partitions.indices {
            let enabled = partitions[k].inventory.enabled
            partitions[k].bookScopes = scopes
            partitions[k].inventory = InventoryBuckets()
            partitions[k].scoped = ScopedInventory()
            partitions[k].orderHolds = OrderHolds()
            partitions[k].locateUse = [:]
            partitions[k].inventory.enabled = enabled
            partitions[k].scoped.enabled = enabled
            for p in partitions[k].positions.indices {
                let record = partitions[k].positions[p]
                let scope = scopes[Int(record.book)], market = Int(reference.securities[Int(record.security)].market)
                partitions[k].positions[p].positionType = scope.type
                partitions[k].positions[p].scopeSlots = partitions[k].scoped.slots(scope, market: market, security: record.security)
                let r = partitions[k].positions[p]
                partitions[k].inventory.movePosition(security: r.security, type: r.positionType, from: 0, to: r.contractualQty)
                partitions[k].scoped.movePosition(r.scopeSlots, type: r.positionType, from: 0, to: r.contractualQty)
                if r.intradayShortSells != 0 && r.scopeSlots.client >= 0 { partitions[k].noteShortSale(position: p, r.intradayShortSells) }
            }
            partitions[k].availabilitySources = [:]
            for (key, a) in partitions[k].availability {
                partitions[k].inventory.add(security: key.security, bucket: Bucket.external(a.availabilityType), a.quantity)
                partitions[k].availabilitySources[key.security, default: []].append(key.sourceId)
            }
            partitions[k].contractPlaces = [:]
            for c in partitions[k].contracts.values {
                guard let security = reference.securityIds.lookup(c.securityId) else { continue }
                let place = ContractPlace(
                    book: reference.bookIds.lookup(c.bookId) ?? -1, security: security,
                    market: Int(reference.securities[Int(security)].market))
                partitions[k].contractPlaces[c.contractId] = place
                partitions[k].inventory.add(security: security, bucket: Bucket.contract(c.kind), c.openQuantity)
                partitions[k].addScoped(c, book: place.book, security: security, market: place.market, sign: 1)
            }
        }
        for m in markets.indices { rebuildLadder(market: m) }
        // What live locates hold (their clients get ids here too: they may have no book).
        for i in locates.live { countLocate(locates.records[i], sign: 1) }
        for i in orders.live { countOrder(orders.records[i], sign: 1) }
    }

    /// Recomputes the ladder-day buckets of market `m`'s securities from scratch: after a day roll (the days
    /// moved, so contracts and lenders' lines enter or leave days, and positions' rows shift), when the market
    /// gets its first business date, and when a state loads.
    mutating func rebuildLadder(market m: Int) {
        let ladder = markets[m].ladder
        let securities = reference.securitiesByMarket[m]
        for k in partitions.indices {
            for s in securities where partition(ofSecurity: s) == k {
                partitions[k].inventory.clearLadder(security: s)
                for p in partitions[k].positionsBySecurity[Int(s)] {
                    let r = partitions[k].positions[Int(p)]
                    partitions[k].inventory.moveLadder(security: s, type: r.positionType, from: .zero, to: r.ladderRows)
                }
            }
            guard !ladder.isEmpty else { continue }
            for (key, a) in partitions[k].availability where reference.securities[Int(key.security)].market == Int32(m) {
                partitions[k].addAvailabilityDays(a, security: key.security, sign: 1, ladder: ladder)
            }
            for (id, place) in partitions[k].contractPlaces where place.market == m {
                partitions[k].addContractDays(partitions[k].contracts[id]!, security: place.security, sign: 1, ladder: ladder)
            }
        }
    }

    /// The buckets of every security, as kept event by event (for tests and the from-scratch comparison).
    func inventoryFigures() -> [Int32: BucketVector] {
        var out: [Int32: BucketVector] = [:]
        for p in partitions { for (s, v) in p.inventory.all() where !v.isZero { out[s] = v } }
        return out
    }

    /// The buckets recomputed from scratch now.
    func inventoryFromScratch() -> [Int32: BucketVector] {
        var copy = self
        copy.rebuildInventory()
        return copy.inventoryFigures()
    }

    /// The aggregation-unit, legal-entity and client buckets as kept, by (scope name, security).
    func scopedFigures() -> (units: [String: BucketVector], entities: [String: BucketVector], clients: [String: BucketVector]) {
        var tables = Array(repeating: [String: BucketVector](), count: ScopeKind.allCases.count)
        for p in partitions {
            for kind in ScopeKind.allCases {
                for (key, v) in p.scoped[kind].all() { tables[kind.rawValue][reference.scopeName(kind, key: key)] = v }
            }
        }
        return (tables[0], tables[1], tables[2])
    }

    /// The same recomputed from scratch.
    func scopedFromScratch() -> (units: [String: BucketVector], entities: [String: BucketVector], clients: [String: BucketVector]) {
        var copy = self
        copy.rebuildInventory()
        return copy.scopedFigures()
    }
}
