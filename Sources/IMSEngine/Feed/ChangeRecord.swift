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

    /// The first exception id raised in this drain: those in `exceptions` below it were raised before and
    /// changed since.
    public internal(set) var firstNewException: Int64 = 0
    /// The outcome of each batch of the drain, in journal order: what each command did.
    public internal(set) var results: [BatchOutcome] = []
    /// Each registered part's change, by its place in `EngineState.parts` (nil: unchanged); read and
    /// written through `record[Part.self]`.
    var changes: [(any Sendable)?] = Array(repeating: nil, count: EngineState.parts.count)
    /// Changed items carried, for the feed's memory bound: the sum of every part's count, taken once when
    /// the record is made.
    public internal(set) var itemCount = 0
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
    public mutating func takeChangeRecord(
        exceptionsFrom: Int64, earliest: Timestamp, records: ClosedRange<UInt64>,
        results: [BatchOutcome]
    ) -> ChangeRecord {
        var record = ChangeRecord()
        record.firstRecord = records.lowerBound
        record.lastRecord = records.upperBound
        record.lastSequence = lastSequence
        record.earliestReceivedAt = earliest
        record.lastEntryAt = lastEntryAt
        record.counters = counters
        record.results = results
        record.firstNewException = exceptionsFrom
        for part in Self.parts {
            part.capture(from: &self, into: &record)
            record.itemCount += part.itemCount(in: record)
        }
        return record
    }

    /// Drops the marks made so far (a state recovered by replay starts its feed from here).
    public mutating func discardChanges() {
        _ = takeChangeRecord(exceptionsFrom: exceptionLog.nextId, earliest: Timestamp(micros: 0), records: 0...0, results: [])
    }

    /// The next exception id to be given, so a caller can tell which exceptions are new.
    public var nextExceptionIdentifier: Int64 { exceptionLog.nextId }
}
