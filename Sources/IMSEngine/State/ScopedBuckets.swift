import IMSDomain
import IMSRules

/// Inventory buckets per security within a scope: an aggregation unit, or a legal entity (SPEC 4.1).
///
/// Positions and contracts count in the scope of their book (its legal entity, and its aggregation unit in
/// the security's market); lender availability has no book and stays at the security's level. A position
/// keeps its two slots (`PositionRecord.unitSlot`, `entitySlot`), found once when it is created, so a trade
/// moves them without a look-up. Derived like `InventoryBuckets`: rebuilt from scratch when a state loads.
struct ScopedBuckets: Sendable {
    /// (scope << 32 | security) → slot.
    private var slots: [UInt64: Int32] = [:]
    private(set) var keys: [UInt64] = []
    private(set) var values: ContiguousArray<Int64> = []
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
        return s
    }

    @inline(__always)
    mutating func movePosition(slot: Int32, type: PositionType, from old: Int64, to new: Int64) {
        guard slot >= 0, old != new, enabled else { return }
        InventoryBuckets.movePosition(&values, base: Int(slot) * Bucket.count, type: type, from: old, to: new)
        changed.mark(slot)
    }

    mutating func add(slot: Int32, bucket: Int, _ delta: Int64) {
        guard slot >= 0, delta != 0, enabled else { return }
        values[Int(slot) * Bucket.count + bucket] &+= delta
        changed.mark(slot)
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

    /// The slots changed since the last call, flat; clears the marks.
    mutating func takeChanges() -> ScopedChanges {
        var out = ScopedChanges()
        var marks = ChangeMarks()
        swap(&marks, &changed)
        defer { swap(&marks, &changed) }
        marks.take { slot in
            let base = Int(slot) * Bucket.count
            out.keys.append(keys[Int(slot)])
            out.values.append(contentsOf: values[base..<(base + Bucket.count)])
        }
        return out
    }

    /// Sets entry `k` of `changes` (the read model following the change feed).
    mutating func take(_ changes: ScopedChanges, from k: Int) {
        let key = changes.keys[k]
        let s = Int(slot(scope: Int32(bitPattern: UInt32(key >> 32)), security: Int32(bitPattern: UInt32(truncatingIfNeeded: key))))
        for b in 0..<Bucket.count { values[s * Bucket.count + b] = changes.values[k * Bucket.count + b] }
    }
}

/// Scoped buckets a drain changed: keys (scope << 32 | security) and `Bucket.count` values each.
struct ScopedChanges: Sendable {
    var keys: [UInt64] = []
    var values: [Int64] = []

    var count: Int { keys.count }

    mutating func append(_ other: ScopedChanges) {
        keys += other.keys
        values += other.values
    }
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
        set {
            switch kind {
            case .aggregationUnit: unit = newValue
            case .legalEntity: entity = newValue
            case .client: client = newValue
            }
        }
    }

    var enabled: Bool {
        get { unit.enabled }
        set { unit.enabled = newValue; entity.enabled = newValue; client.enabled = newValue }
    }

    /// The slots of a position of a book of `scope` in `security` of market `market`, made if new.
    mutating func slots(_ scope: BookScope, market: Int, security: Int32) -> ScopeSlots {
        ScopeSlots(unit: unit.slot(scope: scope.units[market], security: security),
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
}

/// The scoped buckets a drain changed, by scope kind (`ScopeKind.rawValue`).
struct ScopedInventoryChanges: Sendable {
    var tables = Array(repeating: ScopedChanges(), count: ScopeKind.allCases.count)

    mutating func append(_ other: ScopedInventoryChanges) {
        for k in tables.indices { tables[k].append(other.tables[k]) }
    }
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
