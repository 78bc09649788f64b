import IMSDomain
import IMSRules

/// What one drain of the writer changed, with the values: the unit of the change feed.
///
/// The writer builds one record after each drain (every batch it applied under one lock acquisition) and
/// publishes it on the `ChangeFeed`. A record is self-contained for its consumers: changed positions carry
/// their figures, prices and rates their values, and the reference data and market dates travel whole
/// (shared copy-on-write, so publishing them costs nothing) when they changed. Applying the records in
/// order to a `ReadModel` built from the state at record `n` gives the read model of the state after the
/// last one (tested with 1, 2 and 4 partitions).
///
/// `firstRecord…lastRecord` are the journal record numbers the drain applied, so a consumer that keeps its
/// own store (a PostgreSQL projection, a Kafka topic) can resume after a restart from the last record it
/// stored and skip what it has seen.
public struct ChangeRecord: Sendable {
    /// The record's place on the feed: 1, 2, 3… with no gaps (set by `ChangeFeed.publish`).
    public var feedSequence: UInt64 = 0
    /// The journal records applied in this drain (0…0 without a journal).
    public var firstRecord: UInt64 = 0
    public var lastRecord: UInt64 = 0
    /// The engine's last event sequence after the drain.
    public var lastSequence: Int64 = 0
    /// When the earliest batch of the drain was received: the start of the latency a subscriber sees.
    public var earliestReceivedAt = Timestamp(micros: .max)
    /// When the last entry of the drain was received.
    public var lastEntryAt = Timestamp(micros: 0)
    public var counters = EngineState.Counters()

    /// Changed positions, by partition (each position once, with its latest figures).
    var positions: [[PositionChange]] = []
    /// Securities with a new last price, and their price state.
    var prices: [(security: Int32, price: PriceState)] = []
    /// Lender availability that changed.
    var availability: [(key: AvailabilityKey, value: Availability)] = []
    /// Securities whose inventory buckets changed, with the buckets.
    var inventory = InventoryChanges()
    /// Aggregation-unit, legal-entity and client buckets that changed.
    /// What each partition's scoped tables changed (by partition: slots are numbered per partition).
    var scoped: [ScopedInventoryChanges] = []
    /// Every partition's buckets whole, when they were rebuilt in this drain.
    var rebuiltInventory: [(securities: InventoryBuckets, scoped: ScopedInventory)]?
    /// FX rates that changed.
    public internal(set) var fxRates: [FXRate] = []
    /// Contracts that changed.
    public internal(set) var contracts: [Contract] = []
    /// Exceptions changed in this drain (given their line's text, or acknowledged), then those raised in it,
    /// oldest first.
    public internal(set) var exceptions: [ExceptionRecord] = []
    /// The first id raised in this drain: those in `exceptions` below it were raised before and changed since.
    public internal(set) var firstNewException: Int64 = 0
    /// Markets that rolled to a new business date (all their positions are in `positions`).
    public internal(set) var rolledMarkets: [Int32] = []
    /// The reference data, when it changed in this drain.
    var reference: ReferenceData?
    /// The rule book, when it changed in this drain.
    var rules: RuleBook?
    /// Locates that changed, as they are now.
    var locates: [LocateRecord] = []
    /// Orders validated (or expired) in the drain.
    var orders: [OrderRecord] = []
    /// Audit entries made in the drain.
    public internal(set) var audit: [AuditEntry] = []
    /// The markets' clock: business dates and ladders (shared, so always carried).
    var clock: MarketClock?
    /// Source feeds' sequence state (shared, so always carried).
    var feeds = SourceFeeds()
    /// The outcome of each batch of the drain, in journal order: what each command did.
    public internal(set) var results: [BatchOutcome] = []

    /// Changed items carried, for the feed's memory bound.
    public var itemCount: Int {
        positions.reduce(0) { $0 + $1.count } + prices.count + availability.count + inventory.count + fxRates.count + contracts.count
            + exceptions.count + (reference == nil ? 0 : 1)
    }

    /// Securities whose last price changed.
    public var priceSecurities: [Int32] { prices.map(\.security) }
}

/// A position's latest figures, as the read model stores them.
struct PositionChange: Sendable {
    var local: Int32
    var record: PositionRecord
    /// Its settlements after SD4 by date (nil: none).
    var later: [LaterEntry]?
}

/// Marks the apply step leaves for the next change record: always on (it is one append per change).
struct ChangeLog: Sendable {
    var markets: [Int32] = []
    var currencies = Set<String>()
    /// Exceptions changed after they were raised: given their line's text (`EngineState.fillTexts`) or acknowledged.
    var updatedExceptions: [Int64] = []
    /// The reference data's version last published.
    var publishedReference: UInt64 = .max
    /// The rule book's change count last published.
    var publishedRules: UInt64 = .max
    /// The inventory buckets were rebuilt from scratch (a book or unit moved scopes): the next record
    /// carries them whole, since buckets that vanished would not be sent as changes.
    var inventoryRebuilt = false
}

/// Indices marked as changed, each once: a bit set, walked in ascending order when taken.
struct ChangeMarks: Sendable {
    private var bits: [UInt64] = []
    /// How many are marked.
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    @inline(__always) mutating func mark(_ i: Int32) {
        let word = Int(i) >> 6, bit = UInt64(1) << UInt64(i & 63)
        if word >= bits.count { bits.append(contentsOf: repeatElement(0, count: word + 1 - bits.count + 256)) }
        if bits[word] & bit != 0 { return }
        bits[word] |= bit
        count += 1
    }

    /// Calls `body` with every marked index in ascending order, and clears the marks.
    mutating func take(_ body: (Int32) -> Void) {
        guard count != 0 else { return }
        for w in bits.indices where bits[w] != 0 {
            var word = bits[w]
            bits[w] = 0
            while word != 0 {
                body(Int32(w << 6 | word.trailingZeroBitCount))
                word &= word &- 1
            }
        }
        count = 0
    }
}

extension Partition {
    /// Notes that local position `p` changed (once per drain).
    @inline(__always) mutating func markPosition(_ p: Int32) { changedPositions.mark(p) }

    /// Notes that security `s`'s price changed (once per drain).
    @inline(__always) mutating func markPrice(_ s: Int32) { changedPrices.mark(s) }

    /// The positions, prices and availability changed since the last call, with their values; clears the marks.
    mutating func takeChanges() -> PartitionChanges {
        var out = PartitionChanges()
        out.positions.reserveCapacity(changedPositions.count)
        // Walked through the bit set, so positions are copied in ascending order: the reads here and the
        // read model's writes stream through memory instead of jumping (half the cost, measured).
        let hasLater = !later.isEmpty
        changedPositions.take { p in
            out.positions.append(PositionChange(local: p, record: positions[Int(p)], later: hasLater ? later[p] : nil))
        }
        changedPrices.take { s in
            if let p = prices[s] { out.prices.append((s, p)) }
        }
        for key in changedAvailability { if let a = availability[key] { out.availability.append((key, a)) } }
        changedAvailability.removeAll()
        out.inventory = inventory.takeChanges()
        out.scoped = scoped.takeChanges()
        for id in changedContracts { if let c = contracts[id] { out.contracts.append(c) } }
        changedContracts.removeAll(keepingCapacity: true)
        return out
    }
}

/// What one partition changed in a drain.
struct PartitionChanges {
    var positions: [PositionChange] = []
    var prices: [(security: Int32, price: PriceState)] = []
    var availability: [(key: AvailabilityKey, value: Availability)] = []
    var inventory = InventoryChanges()
    var scoped = ScopedInventoryChanges()
    var contracts: [Contract] = []
}

extension EngineState {
    /// The change record of everything applied since the last call: the writer calls it once per drain.
    ///
    /// - Parameters:
    ///   - exceptionsFrom: the next exception id before the drain (`nextExceptionIdentifier`).
    ///   - records: the journal records the drain applied.
    public mutating func takeChangeRecord(exceptionsFrom: Int64, earliest: Timestamp, records: ClosedRange<UInt64>,
                                   results: [BatchOutcome]) -> ChangeRecord {
        var record = ChangeRecord()
        record.firstRecord = records.lowerBound
        record.lastRecord = records.upperBound
        record.lastSequence = lastSequence
        record.earliestReceivedAt = earliest
        record.lastEntryAt = lastEntryAt
        record.counters = counters
        record.results = results
        var taken = Array(repeating: PartitionChanges(), count: partitions.count)
        // Copying a position is cheap next to waking the other cores: only large drains are taken in parallel.
        if partitions.count > 1 && partitions.reduce(0, { $0 + $1.changedPositions.count }) >= 8_192 {
            taken.withUnsafeMutableBufferPointer { out in
                let shared = UnsafeSendable(out)
                forEachPartitionInParallel { k, partition in shared.value[k] = partition.takeChanges() }
            }
        } else {
            for k in partitions.indices { taken[k] = partitions[k].takeChanges() }
        }
        record.positions = taken.map(\.positions)
        for t in taken {
            record.prices += t.prices
            record.availability += t.availability
            record.inventory.append(t.inventory)
            record.scoped.append(t.scoped)  // one per partition, in partition order
            record.contracts += t.contracts
        }
        for c in changeLog.currencies.sorted() { if let f = fxRates[c] { record.fxRates.append(f) } }
        changeLog.currencies.removeAll()
        record.contracts.sort { $0.contractId < $1.contractId }
        swap(&record.rolledMarkets, &changeLog.markets)
        record.exceptions = exceptionLog.changes(from: exceptionsFrom, updated: changeLog.updatedExceptions)
        record.firstNewException = exceptionsFrom
        changeLog.updatedExceptions.removeAll()
        if changeLog.inventoryRebuilt {
            record.rebuiltInventory = partitions.map { ($0.inventory, $0.scoped) }
            changeLog.inventoryRebuilt = false
        }
        record.locates = locates.takeChanges()
        record.orders = orders.takeChanges()
        record.audit = auditLog.takeChanges()
        if changeLog.publishedRules != rules.changeCount {
            record.rules = rules
            changeLog.publishedRules = rules.changeCount
        }
        if changeLog.publishedReference != reference.version {
            record.reference = reference
            changeLog.publishedReference = reference.version
        }
        record.clock = clock
        record.feeds = feeds
        return record
    }

    /// Drops the marks made so far (a state recovered by replay starts its feed from here).
    public mutating func discardChanges() {
        _ = takeChangeRecord(exceptionsFrom: exceptionLog.nextId, earliest: Timestamp(micros: 0), records: 0...0, results: [])
    }

    /// The next exception id to be given, so a caller can tell which exceptions are new.
    public var nextExceptionIdentifier: Int64 { exceptionLog.nextId }
}

/// A buffer handed to the threads of `concurrentPerform`, each writing its own element.
private struct UnsafeSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
