import IMSDomain
import IMSRules

/// The share of the state one writer owns: the positions, settlement ladders, today's trades, prices and
/// lender availability of the securities hashed to it.
///
/// A security belongs to the partition a stable hash of its id picks (`EngineState.partition(ofSecurityId:partitions:)`),
/// so any producer can route by it; securities loaded from a format-2 snapshot keep `index & (count − 1)`. A partition is only ever touched by one thread at a
/// time, and its apply methods read the rest of the state (markets, securities) without changing it, so
/// the partitions of a batch apply in parallel. Indices in here are local; a position's engine-wide id is
/// `local << partitionBits | partition` (see `EngineState.positionId`).
struct Partition: Sendable {
    var positions: ContiguousArray<PositionRecord> = []
    /// (book, security) → local index in `positions`.
    var positionTable = ProbeTable()
    /// Local position indices by (global) security index and by book index; only owned securities have any.
    var positionsBySecurity: [[Int32]] = []
    var positionsByBook: [[Int32]] = []
    /// Settlements beyond SD4, by local position index.
    var later: [Int32: [LaterEntry]] = [:]
    /// SOD snapshots for a business date the market has not reached yet, by market then position key.
    var pendingSOD: [Int32: [UInt64: SODPosition]] = [:]
    /// Trades of each market's current business date, in owned securities.
    var trades: [MarketTrades]
    /// tradeId → (market << 32 | index in that market's table); keys compared through `trades[m].ids`.
    var tradeIndex = ProbeTable(summarized: true)
    var availability: [AvailabilityKey: Availability] = [:]
    /// Securities whose short sales are restricted after a 10% fall, and the last business date it holds.
    var shortSaleRestrictions: [Int32: BusinessDate] = [:]
    /// The lenders with a line in each security (derived: rebuilt on load), for its indicative rate.
    var availabilitySources: [Int32: [String]] = [:]
    var prices: [Int32: PriceState] = [:]
    /// Lending contracts of the securities owned here, by contract id.
    var contracts: [String: Contract] = [:]
    /// Where each contract's current version counts: its book, security and market (derived: rebuilt on load).
    var contractPlaces: [String: ContractPlace] = [:]
    var changedContracts = Set<String>()
    /// The inventory buckets of the securities owned here, kept up to date by every change.
    var inventory = InventoryBuckets()
    /// The same buckets per aggregation unit, legal entity and client.
    var scoped = ScopedInventory()
    /// Clients' short locates and short sales of the day, by client slot (see `LocateUse`).
    var locateUse: [Int32: LocateUse] = [:]
    /// What the approved orders of these securities still hold, and the trades that filled them.
    var orderHolds = OrderHolds()
    /// Each book's position type, legal entity and units, by book index (a copy per partition, kept by the
    /// sequential path).
    var bookScopes: [BookScope] = []

    /// Changes marked for the next change record (see `ChangeRecord.swift`): local positions and securities
    /// (a price), each once per drain.
    var changedPositions = ChangeMarks()
    var changedPrices = ChangeMarks()
    var changedAvailability = Set<AvailabilityKey>()
    /// Exceptions raised while applying, numbered when the state takes them into its list.
    var raised: [ExceptionRecord] = []

    init(markets: Int) {
        trades = Array(repeating: MarketTrades(), count: markets)
    }

    /// Number of positions held.
    var positionCount: Int { positions.count }

    /// Makes room in the per-security and per-book lists (a snapshot without a partitions section has none).
    mutating func grow(securities: Int, books: Int) {
        positionsBySecurity.grow(to: securities)
        positionsByBook.grow(to: books)
    }

    // MARK: Positions

    /// The local index of the position of `book` in `security`, if it exists.
    @inline(__always)
    func existingPosition(book: Int32, security: Int32) -> Int32? {
        let hash = EngineState.hash(positionKey: EngineState.positionKey(book: book, security: security))
        return positionTable.find(hash: hash) { _ in true }.map { Int32(truncatingIfNeeded: $0) }
    }

    /// The local index of the position of `book` in `security`, creating it if needed.
    mutating func positionIndex(book: Int32, security: Int32, market: Int) -> Int32 {
        if let index = existingPosition(book: book, security: security) { return index }
        let index = Int32(positions.count)
        var record = PositionRecord(book: book, security: security)
        let scope = bookScopes[Int(book)]
        record.positionType = scope.type
        record.scopeSlots = scoped.slots(scope, market: market, security: security)
        positions.append(record)
        positionTable.insert(hash: EngineState.hash(positionKey: EngineState.positionKey(book: book, security: security)), payload: UInt64(index))
        positionsBySecurity[Int(security)].append(index)
        positionsByBook[Int(book)].append(index)
        markPosition(index)
        return index
    }

    mutating func raise(_ kind: ExceptionKind, sequence: Int64, message: String, subject: String?, at time: Timestamp) {
        raised.append(
            ExceptionRecord(
                exceptionId: 0, kind: kind, sequence: sequence, line: nil, field: nil,
                message: message, subject: subject, raw: nil, receivedAt: time))
    }

    // MARK: Trades of the day

    /// Where today's trade `id` lives: its market and its index in that market's trade table.
    @inline(__always)
    func tradeLocation(_ id: String, hash: UInt64) -> (market: Int, index: Int32)? {
        tradeIndex.find(hash: hash) { packed in
            trades[Int(packed >> 32)].ids[Int(UInt32(truncatingIfNeeded: packed))] == id
        }.map { (Int($0 >> 32), Int32(truncatingIfNeeded: UInt32(truncatingIfNeeded: $0))) }
    }

    mutating func indexTrade(hash: UInt64, market: Int, index: Int32) {
        tradeIndex.insert(hash: hash, payload: UInt64(market) << 32 | UInt64(UInt32(index)))
    }

    /// Forgets every trade of market `m` (its business date has rolled).
    mutating func dropTrades(market m: Int) {
        let ids = trades[m].ids
        if ids.count == tradeIndex.count {
            tradeIndex.removeAll()
        } else {
            for (i, id) in ids.enumerated() {
                let packed = UInt64(m) << 32 | UInt64(UInt32(i))
                tradeIndex.remove(hash: ProbeTable.hash(of: id)) { $0 == packed }
            }
        }
        trades[m] = MarketTrades()
    }

    // MARK: Market data and availability

    /// A lender's new figure (`ladder`: the security's market's SD0…SD4).
    mutating func applyAvailability(_ a: Availability, security: Int32, ladder: [BusinessDate]) -> Bool {
        let key = AvailabilityKey(sourceId: a.sourceId, security: security)
        let old = availability[key]
        if old == a { return false }
        if old == nil { availabilitySources[security, default: []].append(a.sourceId) }
        if let old {
            inventory.add(security: security, bucket: Bucket.external(old.availabilityType), -old.quantity)
            addAvailabilityDays(old, security: security, sign: -1, ladder: ladder)
        }
        inventory.add(security: security, bucket: Bucket.external(a.availabilityType), a.quantity)
        addAvailabilityDays(a, security: security, sign: 1, ladder: ladder)
        availability[key] = a
        changedAvailability.insert(key)
        return true
    }

    /// A tick; in a market whose regime has a price test (US Rule 201, JP), a last price its trigger (10%) or more below the previous
    /// close restricts short sales for the rest of the day and the next business day (`market`: the
    /// security's market, for its date and calendar).
    mutating func applyPrice(_ p: PriceTick, security: Int32, market: MarketState, at time: Timestamp) -> Bool {
        let regime = market.market.shortSale
        if regime.priceTest != .none, let close = p.previousClose, close.units > 0,
            Int128(p.last.units) * 100 <= Int128(close.units) * Int128(100 - regime.priceTestTriggerPercent), let today = market.businessDate
        {
            let through = market.calendar.nextTradingDay(after: today)
            if shortSaleRestrictions[security].map { $0 < through } ?? true { shortSaleRestrictions[security] = through }
        }
        markPrice(security)
        if let old = prices[security] {
            if let ts = p.ts, let oldTs = old.tick.ts, ts < oldTs {
                prices[security]!.restrictedThrough = shortSaleRestrictions[security]
                return false
            }
            let direction: Int8 = p.last.units > old.tick.last.units ? 1 : p.last.units < old.tick.last.units ? -1 : old.direction
            var bars = old.bars
            bars.add(p.last, at: p.ts ?? time, date: market.businessDate)
            prices[security] = PriceState(
                tick: p, tickCount: old.tickCount + 1, bars: bars, direction: direction, restrictedThrough: shortSaleRestrictions[security])
        } else {
            var bars = IntradayBars()
            bars.add(p.last, at: p.ts ?? time, date: market.businessDate)
            prices[security] = PriceState(tick: p, tickCount: 1, bars: bars, restrictedThrough: shortSaleRestrictions[security])
        }
        return true
    }
}

extension Array where Element == [Int32] {
    /// Appends empty lists until there are `count`.
    mutating func grow(to count: Int) {
        if self.count < count { self += Array(repeating: [], count: count - self.count) }
    }
}
