import IMSDomain

/// What one drain of the writer changed, for the streams: handed to the change listener after applying.
///
/// Collected only while a listener is set, so a server without subscribers pays nothing.
/// Indices are the engine's interned ones; a listener resolves them with `EngineState` reads.
public struct ChangeSet: Sendable {
    /// Positions whose figures changed (ids; may repeat).
    public var positions: [Int32] = []
    /// Markets that rolled to a new business date: every position in them changed.
    public var markets: [Int32] = []
    /// Securities with a new price tick.
    public var prices: [Int32] = []
    /// Currencies with a new FX rate.
    public var currencies: [String] = []
    /// Exceptions raised in this drain: ids in `exceptionIds`.
    public var exceptionIds: Range<Int64> = 0..<0
    /// The engine's last sequence after the drain.
    public var lastSequence: Int64 = 0
    /// When the earliest batch of the drain was received: the start of the latency a subscriber sees.
    public var earliestReceivedAt = Timestamp(micros: .max)

    public var isEmpty: Bool {
        positions.isEmpty && markets.isEmpty && prices.isEmpty && currencies.isEmpty && exceptionIds.isEmpty
    }
}

/// Marks collected by `apply` while change capture is on (positions and prices are marked by their partitions).
struct ChangeLog: Sendable {
    var isOn = false
    var markets: [Int32] = []
    var currencies: [String] = []
}

extension EngineState {
    /// Turns change capture on or off (the engine does this when a listener is set).
    mutating func captureChanges(_ on: Bool) {
        changeLog = ChangeLog()
        changeLog.isOn = on
        for k in partitions.indices {
            partitions[k].capturing = on
            partitions[k].changedPositions = []
            partitions[k].changedPrices = []
        }
    }

    /// The changes marked since the last call, with the exceptions raised after `exceptionsFrom`.
    mutating func takeChanges(exceptionsFrom: Int64, earliest: Timestamp) -> ChangeSet {
        var set = ChangeSet()
        for k in partitions.indices {
            for p in partitions[k].changedPositions { set.positions.append(positionId(partition: k, local: p)) }
            set.prices.append(contentsOf: partitions[k].changedPrices)
            partitions[k].changedPositions.removeAll(keepingCapacity: true)
            partitions[k].changedPrices.removeAll(keepingCapacity: true)
        }
        swap(&set.markets, &changeLog.markets)
        swap(&set.currencies, &changeLog.currencies)
        set.exceptionIds = exceptionsFrom..<nextExceptionId
        set.lastSequence = lastSequence
        set.earliestReceivedAt = earliest
        return set
    }

    /// The next exception id to be given, so a caller can tell which exceptions are new.
    public var nextExceptionIdentifier: Int64 { nextExceptionId }
}
