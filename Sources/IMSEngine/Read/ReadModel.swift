import DequeModule
import IMSDomain
import IMSRules

/// What REST, GraphQL and the streams read: the engine's output, kept apart from the writer's state.
///
/// The query side of the engine. It holds only what queries need (reference data, market dates, positions
/// with their figures and ladders, market data, availability, contracts, exceptions, feeds) and is kept up
/// to date by applying the `ChangeRecord`s of the change feed in order, so readers never take the writer's
/// lock: a `ReadModelStore` applies records on its own thread and lets any number of readers in at once.
///
/// `ReadModel(state)` builds one from a state directly (sharing its storage copy-on-write, so it is cheap);
/// that is how the store starts, how it resynchronises if it ever falls off the feed, and how `asOf`
/// replays and `ims replay` answer queries. Built either way from the same history, two read models are
/// equal (`canonicalText`, tested after random streams with 1, 2 and 4 partitions).
public struct ReadModel: Sendable, PartitionLayout {
    var clock: MarketClock
    public var catalog: MarketCatalog { clock.catalog }
    var markets: [MarketState] { clock.markets }
    var marketIds: Interner { clock.ids }
    var reference: ReferenceData
    /// The rule sets and the one in force.
    public internal(set) var rules: RuleBook
    public internal(set) var locates: LocateBook
    public internal(set) var orders: OrderBook
    var partitions: [PositionStore]
    let partitionBits: Int
    var contracts: [String: Contract]
    var fxRates: [String: FXRate]
    var feeds: SourceFeeds
    var exceptionLog: ExceptionLog
    var auditLog: AuditLog
    /// The sequence number of the last accepted event reflected.
    public internal(set) var lastSequence: Int64
    /// The journal record number of the last entry reflected.
    public internal(set) var appliedRecord: UInt64
    /// When the last entry reflected was received.
    public internal(set) var lastEntryAt: Timestamp
    /// Counts of what has been applied.
    public internal(set) var counters: EngineState.Counters
    /// The last change record applied (0: built from a state).
    public internal(set) var feedSequence: UInt64 = 0

    /// The read model of `state` now.
    public init(_ state: EngineState) {
        clock = state.clock
        reference = state.reference
        rules = state.rules
        locates = state.locates
        orders = state.orders
        partitions = state.partitions.map {
            PositionStore(
                positions: $0.positions, later: $0.later, positionsBySecurity: $0.positionsBySecurity,
                positionsByBook: $0.positionsByBook, prices: $0.prices, availability: $0.availability,
                inventory: $0.inventory, scoped: $0.scoped)
        }
        partitionBits = state.partitionBits
        contracts = state.contracts
        fxRates = state.fxRates
        feeds = state.feeds
        exceptionLog = state.exceptionLog
        auditLog = state.auditLog
        lastSequence = state.lastSequence
        appliedRecord = state.appliedRecord
        lastEntryAt = state.lastEntryAt
        counters = state.counters
    }

    /// A model rebuilt from the state (`init(_:)`) shows every change record published up to `sequence` (the
    /// engine publishes under the state's lock): says so, as applying them would have.
    public mutating func rebuilt(through sequence: UInt64) { feedSequence = sequence }

    /// Applies the next change record of the feed: each registered part takes its change, in registry order
    /// (the reference data before the partitions it sizes), then the record's envelope.
    public mutating func apply(_ r: ChangeRecord) {
        for part in EngineState.parts { part.apply(r, to: &self) }
        lastSequence = r.lastSequence
        if r.lastRecord != 0 { appliedRecord = r.lastRecord }
        if r.lastEntryAt.micros != 0 { lastEntryAt = r.lastEntryAt }
        counters = r.counters
        feedSequence = r.feedSequence
    }

    /// Number of positions held.
    public var positionCount: Int { partitions.reduce(0) { $0 + $1.positions.count } }
    /// Number of securities known.
    public var securityCount: Int { reference.securities.count }
    /// Number of partitions.
    public var partitionCount: Int { partitions.count }
    /// The id the next exception will get: those below it are in `exceptions(afterId:)` (unless dropped).
    public var nextExceptionIdentifier: Int64 { exceptionLog.nextId }

    /// The audit entries matching `filter`, oldest first, at most `limit`; and the id of the oldest kept.
    public func auditEntries(_ filter: AuditFilter, limit: Int) -> (entries: [AuditEntry], firstKept: Int64) {
        (auditLog.list(filter, limit: limit), auditLog.firstId)
    }

    /// Everything a query can see, as text in a fixed order: equal read models give equal texts. Each
    /// registered part writes its own lines.
    public func canonicalText() -> String {
        var lines: [String] = []
        for part in EngineState.parts { part.canonicalLines(self, into: &lines) }
        return lines.joined(separator: "\n")
    }

    /// Each part's canonical text by the part's name, so that two states that differ can say where.
    public func canonicalTextByPart() -> [(part: String, text: String)] {
        EngineState.parts.map { part in
            var lines: [String] = []
            part.canonicalLines(self, into: &lines)
            return (part.name, lines.joined(separator: "\n"))
        }
    }
}

/// One partition's positions and market data, as the read model keeps them (engine-local indices).
struct PositionStore: Sendable {
    var positions: ContiguousArray<PositionRecord>
    var later: [Int32: [LaterEntry]]
    var positionsBySecurity: [[Int32]]
    var positionsByBook: [[Int32]]
    var prices: [Int32: PriceState]
    var availability: [AvailabilityKey: Availability]
    /// Inventory buckets of the partition's securities, as the change feed brings them; and per unit and entity.
    var inventory: InventoryBuckets
    var scoped: ScopedInventory

    mutating func grow(securities: Int, books: Int) {
        positionsBySecurity.grow(to: securities)
        positionsByBook.grow(to: books)
    }

    /// Takes a drain's changed positions: new ones (local index past the end) are created in index order.
    mutating func apply(_ changes: [PositionChange]) {
        var created: [PositionChange] = []
        let existing = positions.count
        positions.withUnsafeMutableBufferPointer { stored in
            for c in changes {
                if Int(c.local) < existing {
                    stored[Int(c.local)] = c.record
                } else {
                    created.append(c)
                }
            }
        }
        for c in changes where Int(c.local) < existing {
            if let entries = c.later { later[c.local] = entries } else if !later.isEmpty { later.removeValue(forKey: c.local) }
        }
        guard !created.isEmpty else { return }
        created.sort { $0.local < $1.local }
        for c in created {
            precondition(Int(c.local) == positions.count, "the change feed skipped position \(positions.count) (got \(c.local))")
            positions.append(c.record)
            if let entries = c.later { later[c.local] = entries }
            positionsBySecurity[Int(c.record.security)].append(c.local)
            positionsByBook[Int(c.record.book)].append(c.local)
        }
    }
}

extension ReadModel {
    /// The record of a position, by id.
    func record(position id: Int32) -> PositionRecord {
        let (k, local) = locate(position: id)
        return partitions[k].positions[Int(local)]
    }

    /// Ids of the positions listed per partition (local indices, each list ascending), merged in id order.
    func mergedPositionIds(_ lists: [[Int32]]) -> [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(lists.reduce(0) { $0 + $1.count })
        var cursors = Array(repeating: 0, count: lists.count)
        while true {
            var best = -1
            for k in lists.indices where cursors[k] < lists[k].count {
                if best < 0 || lists[k][cursors[k]] < lists[best][cursors[best]] { best = k }
            }
            if best < 0 { return out }
            out.append(positionId(partition: best, local: lists[best][cursors[best]]))
            cursors[best] += 1
        }
    }

    /// The id of every position, in id order.
    func allPositionIds() -> [Int32] {
        mergedPositionIds(partitions.map { Array(0..<Int32($0.positions.count)) })
    }
}

extension EngineState {
    /// The read model of this state now (cheap: it shares the state's storage until either changes).
    public var readModel: ReadModel { ReadModel(self) }
}
