import IMSDomain
import IMSRules

/// The partitions: each one's positions with their ladders, trades of the day, prices, lender availability,
/// contracts and inventory buckets (`Partition`). A record carries what changed, by partition; contracts
/// are carried here (a partition marks them) though the image keeps them in the financing section.
enum PartitionsPart: StatePart {
    static let sectionTag: UInt32 = 4
    static let name = "partitions"

    struct Change: Sendable {
        /// Changed positions, by partition (each position once, with its latest figures).
        var positions: [[PositionChange]] = []
        /// Securities with a new last price, and their price state.
        var prices: [(security: Int32, price: PriceState)] = []
        /// Lender availability that changed.
        var availability: [(key: AvailabilityKey, value: Availability)] = []
        /// Securities whose inventory buckets changed, with the buckets.
        var inventory = InventoryChanges()
        /// What each partition's scoped tables (aggregation unit, legal entity, client) changed, by
        /// partition: slots are numbered per partition.
        var scoped: [ScopedInventoryChanges] = []
        /// Every partition's buckets whole, when they were rebuilt in this drain (buckets that vanished
        /// would not be sent as changes).
        var rebuiltInventory: [(securities: InventoryBuckets, scoped: ScopedInventory)]?
        /// Contracts that changed, by contract id.
        var contracts: [Contract] = []
    }

    static func write(_ state: EngineState, to w: inout BinaryWriter) {
        for part in state.partitions { part.encode(to: &w) }
    }

    static func read(into state: inout EngineState, from r: inout BinaryReader, format: UInt32) throws(BinaryFormatError) {
        let securities = state.reference.securities.count, books = state.reference.books.count
        for k in state.partitions.indices { try state.partitions[k].decode(from: &r, securities: securities, books: books) }
    }

    static func capture(from state: inout EngineState, into record: inout ChangeRecord) {
        var taken = Array(repeating: PartitionChanges(), count: state.partitions.count)
        // Copying a position is cheap next to waking the other cores: only large drains are taken in parallel.
        if state.partitions.count > 1 && state.partitions.reduce(0, { $0 + $1.changedPositions.count }) >= 8_192 {
            taken.withUnsafeMutableBufferPointer { out in
                let shared = UncheckedSendable(out)
                state.forEachPartitionInParallel { k, partition in shared.value[k] = partition.takeChanges() }
            }
        } else {
            for k in state.partitions.indices { taken[k] = state.partitions[k].takeChanges() }
        }
        var change = Change()
        change.positions = taken.map(\.positions)
        for t in taken {
            change.prices += t.prices
            change.availability += t.availability
            change.inventory.append(t.inventory)
            change.scoped.append(t.scoped) // one per partition, in partition order
            change.contracts += t.contracts
        }
        change.contracts.sort { $0.contractId < $1.contractId }
        if state.changeLog.inventoryRebuilt {
            change.rebuiltInventory = state.partitions.map { ($0.inventory, $0.scoped) }
            state.changeLog.inventoryRebuilt = false
        }
        record[Self.self] = change
    }

    static func apply(_ record: ChangeRecord, to model: inout ReadModel) {
        guard let r = record[Self.self] else { return }
        for (k, changes) in r.positions.enumerated() where !changes.isEmpty { model.partitions[k].apply(changes) }
        for (security, price) in r.prices { model.partitions[model.partition(ofSecurity: security)].prices[security] = price }
        for (key, value) in r.availability { model.partitions[model.partition(ofSecurity: key.security)].availability[key] = value }
        if let whole = r.rebuiltInventory {
            for k in model.partitions.indices { (model.partitions[k].inventory, model.partitions[k].scoped) = whole[k] }
        }
        for k in r.inventory.securities.indices {
            model.partitions[model.partition(ofSecurity: r.inventory.securities[k])].inventory.take(r.inventory, from: k)
        }
        for (k, changes) in r.scoped.enumerated() { model.partitions[k].scoped.take(changes) }
        for c in r.contracts { model.contracts[c.contractId] = c }
    }

    static func itemCount(_ change: Change) -> Int {
        change.positions.reduce(0) { $0 + $1.count } + change.prices.count + change.availability.count + change.inventory.count
            + change.scoped.reduce(0) { $0 + $1.count } + change.contracts.count
            + (change.rebuiltInventory?.reduce(0) { $0 + $1.securities.securityCount + $1.scoped.count } ?? 0)
    }

    static func canonicalLines(_ model: ReadModel, into lines: inout [String]) {
        for id in model.allPositionIds() { lines.append("position \(id) " + model.positionView(at: id).json) }
        for v in model.marketDataSnapshot(MarketDataFilter(), limit: .max) { lines.append("market data \(v)") }
        for c in model.contracts(securityId: nil) { lines.append("contract \(c)") }
        for p in model.partitions {
            for (key, a) in p.availability.sorted(by: { ($0.key.security, $0.key.sourceId) < ($1.key.security, $1.key.sourceId) }) {
                lines.append("availability \(key.security) \(a)")
            }
        }
        var scoped: [String] = []
        for p in model.partitions {
            for (security, b) in p.inventory.all().sorted(by: { $0.security < $1.security }) where !b.isZero {
                lines.append("inventory \(security) \(b.values)")
            }
            // By name: ids depend on the order names arrived in, which a state loaded from a snapshot does not keep.
            for kind in ScopeKind.allCases {
                for (key, b) in p.scoped[kind].all() { scoped.append("\(kind) inventory \(model.reference.scopeName(kind, key: key)) \(b.values)") }
            }
        }
        lines += scoped.sorted()
    }
}

extension ChangeRecord {
    /// Changed positions, by partition.
    var positions: [[PositionChange]] { self[PartitionsPart.self]?.positions ?? [] }
    /// Securities whose last price changed.
    public var priceSecurities: [Int32] { self[PartitionsPart.self]?.prices.map(\.security) ?? [] }
    /// Securities whose inventory buckets changed in the drain.
    public var inventorySecurities: [Int32] { self[PartitionsPart.self]?.inventory.securities ?? [] }
    /// Contracts that changed in the drain.
    public var contracts: [Contract] { self[PartitionsPart.self]?.contracts ?? [] }
}
