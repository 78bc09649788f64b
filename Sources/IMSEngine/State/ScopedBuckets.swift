import IMSDomain
import IMSRules

/// Inventory buckets per security within a scope: an aggregation unit, a legal entity or a client (SPEC 4.1).
///
/// Positions and contracts count in the scopes of their book (its legal entity, its aggregation unit in the
/// security's market, its client); lender availability has no book and stays at the security's level. A
/// position keeps its slots (`PositionRecord.scopeSlots`), found once when it is created, so a trade moves
/// them without a look-up. Derived like `InventoryBuckets`: rebuilt from scratch when a state loads.
///
/// A drain takes only the buckets that changed in each changed slot (`dirty`, a bit per bucket): a trade
/// moves two or three of a slot's buckets, and copying all of them for every scope doubled the change
/// capture's cost when the client scope came (measured).
struct ScopedBuckets: Sendable {
    /// (scope << 32 | security) → slot.
    private var slots: [UInt64: Int32] = [:]
    private(set) var keys: [UInt64] = []
    private(set) var values: ContiguousArray<Int64> = []
    /// Per slot, the buckets changed since the last drain (bit b: bucket b).
    private var dirty: ContiguousArray<UInt64> = []
    /// Slots whose keys a drain has already published: the read model numbers slots as the writer does, so
    /// a change names its slot and the read model needs no look-up by key.
    private var publishedSlots = 0
    var changed = ChangeMarks()
    var enabled = true

    static func key(scope: Int32, security: Int32) -> UInt64 { UInt64(UInt32(bitPattern: scope)) << 32 | UInt64(UInt32(bitPattern: security)) }

    /// The slot of (scope, security), made if new; -1 when there is no scope.
    mutating func slot(scope: Int32, security: Int32) -> Int32 {
        guard scope >= 0 else { return -1 }
        let key = Self.key(scope: scope, security: security)
        if let s = slots[key] { return s }
        let s = Int32(keys.count)
        slots[key] = s
        keys.append(key)
        values.append(contentsOf: repeatElement(0, count: Bucket.count))
        dirty.append(0)
        return s
    }

    @inline(__always)
    private mutating func markDirty(_ slot: Int32, _ bits: UInt64) {
        let old = dirty[Int(slot)]
        if old == 0 { changed.mark(slot) }
        dirty[Int(slot)] = old | bits
    }

    @inline(__always)
    mutating func movePosition(slot: Int32, type: PositionType, from old: Int64, to new: Int64) {
        guard slot >= 0, old != new, enabled else { return }
        InventoryBuckets.movePosition(&values, base: Int(slot) * Bucket.count, type: type, from: old, to: new)
        let t = UInt64(type.ordinal)
        var bits = UInt64(1) << t | UInt64(1) << (8 + t)
        if type == .clientFree {
            bits |= UInt64(1) << UInt64(Bucket.hypothecatable)
        } else if type == .payToHold {
            bits |= UInt64(1) << UInt64(Bucket.payToHold)
        }
        markDirty(slot, bits)
    }

    mutating func add(slot: Int32, bucket: Int, _ delta: Int64) {
        guard slot >= 0, delta != 0, enabled else { return }
        values[Int(slot) * Bucket.count + bucket] &+= delta
        markDirty(slot, UInt64(1) << UInt64(bucket))
    }

    /// Whether (scope, security) has buckets: a position or contract of the scope's books has touched it.
    func has(scope: Int32, security: Int32) -> Bool { slots[Self.key(scope: scope, security: security)] != nil }

    func vector(scope: Int32, security: Int32) -> BucketVector {
        var v = BucketVector()
        guard let s = slots[Self.key(scope: scope, security: security)] else { return v }
        for b in 0..<Bucket.count { v[b] = values[Int(s) * Bucket.count + b] }
        return v
    }

    /// Every (scope, security) with non-zero buckets.
    func all() -> [UInt64: BucketVector] {
        var out: [UInt64: BucketVector] = [:]
        for (i, key) in keys.enumerated() {
            var v = BucketVector()
            for b in 0..<Bucket.count { v[b] = values[i * Bucket.count + b] }
            if !v.isZero { out[key] = v }
        }
        return out
    }

    /// The slots made and the buckets changed since the last call (only the changed buckets' values); clears
    /// the marks.
    mutating func takeChanges() -> ScopedChanges {
        var out = ScopedChanges()
        out.firstNewSlot = publishedSlots
        out.newKeys = Array(keys[publishedSlots...])
        publishedSlots = keys.count
        var marks = ChangeMarks()
        swap(&marks, &changed)
        defer { swap(&marks, &changed) }
        out.slots.reserveCapacity(marks.count)
        out.masks.reserveCapacity(marks.count)
        marks.take { slot in
            let base = Int(slot) * Bucket.count
            var mask = dirty[Int(slot)]
            dirty[Int(slot)] = 0
            out.slots.append(slot)
            out.masks.append(mask)
            while mask != 0 {
                out.values.append(values[base + mask.trailingZeroBitCount])
                mask &= mask &- 1
            }
        }
        return out
    }

    /// Takes a drain's changes of the same table in the writer (the read model following the change feed):
    /// the slots it made, in its order (those this copy already has, from a whole copy, are skipped), then
    /// each changed slot's changed buckets.
    mutating func take(_ changes: ScopedChanges) {
        for (i, key) in changes.newKeys.enumerated() where changes.firstNewSlot + i >= keys.count {
            _ = slot(scope: Int32(bitPattern: UInt32(key >> 32)), security: Int32(bitPattern: UInt32(truncatingIfNeeded: key)))
        }
        values.withUnsafeMutableBufferPointer { v in
            changes.values.withUnsafeBufferPointer { c in
                var i = 0
                for k in changes.slots.indices {
                    let base = Int(changes.slots[k]) * Bucket.count
                    var m = changes.masks[k]
                    while m != 0 {
                        v[base + m.trailingZeroBitCount] = c[i]
                        i += 1
                        m &= m &- 1
                    }
                }
            }
        }
    }
}

/// What one partition's scoped table changed in a drain: the keys (scope << 32 | security) of the slots it
/// made, from slot `firstNewSlot` on; the changed slots, each with a mask of its changed buckets; and those
/// buckets' values one after another (as many per slot as its mask has bits).
struct ScopedChanges: Sendable {
    var firstNewSlot = 0
    var newKeys: [UInt64] = []
    var slots: [Int32] = []
    var masks: [UInt64] = []
    var values: [Int64] = []
}

/// The scopes inventory is kept by, beside the security itself (SPEC 4.1, 4.2): a book's aggregation unit in
/// the security's market, its legal entity, and its client (client books only).
public enum ScopeKind: Int, CaseIterable, Sendable {
    case aggregationUnit, legalEntity, client
}

/// A position's slot in each scope's table (-1: the book has none of that scope), found once when it is made.
struct ScopeSlots: Sendable, Equatable {
    var unit: Int32 = -1
    var entity: Int32 = -1
    var client: Int32 = -1
}

/// The buckets per (scope, security) of every scope kind, in one place: what a position or contract moves,
/// what a drain takes, what a rebuild resets, all by kind rather than once per table.
struct ScopedInventory: Sendable {
    var unit = ScopedBuckets()
    var entity = ScopedBuckets()
    var client = ScopedBuckets()

    subscript(_ kind: ScopeKind) -> ScopedBuckets {
        get {
            switch kind {
            case .aggregationUnit: unit
            case .legalEntity: entity
            case .client: client
            }
        }
        // In place: a getter-then-setter would copy the whole table on every change the read model takes.
        _modify {
            switch kind {
            case .aggregationUnit: yield &unit
            case .legalEntity: yield &entity
            case .client: yield &client
            }
        }
    }

    /// Slots held in every scope kind.
    var count: Int { unit.keys.count + entity.keys.count + client.keys.count }

    var enabled: Bool {
        get { unit.enabled }
        set { unit.enabled = newValue; entity.enabled = newValue; client.enabled = newValue }
    }

    /// The slots of a position of a book of `scope` in `security` of market `market`, made if new.
    mutating func slots(_ scope: BookScope, market: Int, security: Int32) -> ScopeSlots {
        ScopeSlots(
            unit: unit.slot(scope: scope.units[market], security: security),
            entity: entity.slot(scope: scope.entity, security: security),
            client: client.slot(scope: scope.client, security: security))
    }

    @inline(__always)
    mutating func movePosition(_ slots: ScopeSlots, type: PositionType, from old: Int64, to new: Int64) {
        unit.movePosition(slot: slots.unit, type: type, from: old, to: new)
        entity.movePosition(slot: slots.entity, type: type, from: old, to: new)
        client.movePosition(slot: slots.client, type: type, from: old, to: new)
    }

    /// Adds `delta` to one bucket of `security` in each of a book's scopes.
    mutating func add(_ scope: BookScope, market: Int, security: Int32, bucket: Int, _ delta: Int64) {
        let slots = slots(scope, market: market, security: security)
        unit.add(slot: slots.unit, bucket: bucket, delta)
        entity.add(slot: slots.entity, bucket: bucket, delta)
        client.add(slot: slots.client, bucket: bucket, delta)
    }

    mutating func takeChanges() -> ScopedInventoryChanges {
        ScopedInventoryChanges(tables: [unit.takeChanges(), entity.takeChanges(), client.takeChanges()])
    }

    /// Takes a drain's changes of the writer's tables of the same partition.
    mutating func take(_ changes: ScopedInventoryChanges) {
        unit.take(changes.tables[ScopeKind.aggregationUnit.rawValue])
        entity.take(changes.tables[ScopeKind.legalEntity.rawValue])
        client.take(changes.tables[ScopeKind.client.rawValue])
    }
}

/// What one partition's scoped tables changed in a drain, by scope kind (`ScopeKind.rawValue`).
struct ScopedInventoryChanges: Sendable {
    var tables = Array(repeating: ScopedChanges(), count: ScopeKind.allCases.count)

    /// Slots made and slots changed, for the change feed's memory bound.
    var count: Int { tables.reduce(0) { $0 + $1.newKeys.count + $1.slots.count } }
}

/// Where a book's positions and contracts count: its position type, legal entity, client (-1: not a client
/// book), and aggregation unit in each market (by market index; -1: none).
struct BookScope: Sendable, Equatable {
    var type: PositionType
    var entity: Int32
    var client: Int32 = -1
    var units: [Int32]
}

extension EngineState {
    /// The scope of book `index` as the reference data now says: its own unit for a market, else its legal
    /// entity's default unit there.
    func bookScope(_ index: Int32) -> BookScope {
        let b = reference.books[Int(index)]
        let entity = reference.entityIds.lookup(b.legalEntity) ?? -1
        let units: [Int32] = clock.markets.map { m in
            let marketId = m.market.marketId
            let id = b.aggregationUnits[marketId] ?? reference.defaultUnits[b.legalEntity + "|" + marketId]
            return id.flatMap { reference.unitIds.lookup($0) } ?? -1
        }
        return BookScope(type: b.positionType, entity: entity, client: b.clientId.flatMap { reference.clientIds.lookup($0) } ?? -1, units: units)
    }

    /// Recomputes every book's scope; if any existing book's changed, rebuilds the buckets (rare: reference data).
    mutating func refreshBookScopes() {
        let scopes = reference.books.indices.map { bookScope(Int32($0)) }
        let changed = partitions.first.map { $0.bookScopes != scopes } ?? false
        for k in partitions.indices { partitions[k].bookScopes = scopes }
        if changed { rebuildInventory() }
    }
}
