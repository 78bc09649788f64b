import DequeModule
import Dispatch
import IMSDomain

/// The whole in-memory state IMS computes from its events: reference data,
/// markets' business dates, positions with settlement ladders, trades,
/// contracts, availability, market data and exceptions.
///
/// A pure function of the events applied to it, in order: no clock, no
/// randomness, no I/O. Owned by one writer (`Engine`), whose partitions
/// (`Partition`: the securities hashed to each) apply a batch in parallel;
/// every mutation is O(1) per event except the day roll, which walks its market once.
public struct EngineState: Sendable {
    /// Markets, their calendars and business dates.
    var clock: MarketClock
    /// Markets and their calendars.
    public var catalog: MarketCatalog { clock.catalog }
    var markets: [MarketState] {
        get { clock.markets }
        _modify { yield &clock.markets }
    }
    var marketIds: Interner { clock.ids }
    /// Each market's calendar range, by market index: read per trade, kept flat.
    var calendarRanges: [ClosedRange<BusinessDate>] { clock.calendarRanges }

    /// Securities, books, counterparties and aggregation units.
    var reference = ReferenceData()

    // Positions, trades, prices and availability, by the partition that owns their security.
    var partitions: [Partition]
    /// log2 of the partition count.
    let partitionBits: Int

    /// The rule sets and the one in force.
    public internal(set) var rules = RuleBook()

    /// The locates of the day and their history.
    public internal(set) var locates = LocateBook()

    /// The orders validated today.
    public internal(set) var orders = OrderBook()

    // Market data (contracts are kept by the partition of their security).
    var fxRates: [String: FXRate] = [:]

    /// Changes marked for the next change record (always on); not part of the state proper, never in snapshots.
    var changeLog = ChangeLog()
    /// Sequence numbers seen per source feed, for de-duplication of stamped events.
    var feeds = SourceFeeds()
    /// Per market, a mass no position of it exceeds (see `PositionBound.swift`); derived, not in snapshots.
    var massCeilings: [Int64] = []
    /// The mass no position may exceed: `InputBounds.maxPositionMass`, lowered only by tests.
    var positionMassBound = InputBounds.maxPositionMass

    // Exceptions and counters.
    var exceptionLog = ExceptionLog()
    /// Who changed what through the API, from the issuers batches carry.
    var auditLog = AuditLog()
    /// Texts of lines refused since the engine last took them, known only in memory (`takeTextsToJournal`);
    /// not part of the state proper, never in snapshots.
    var textsToJournal: ExceptionTexts?
    /// The maximum number of exceptions kept; the oldest are dropped first.
    /// How many audit entries are kept in memory (the journal keeps them all).
    public var auditCapacity: Int {
        get { auditLog.capacity }
        set { auditLog.capacity = newValue }
    }

    public var exceptionCapacity: Int {
        get { exceptionLog.capacity }
        set { exceptionLog.capacity = newValue }
    }
    /// The sequence number of the last accepted event.
    public internal(set) var lastSequence: Int64 = 0
    /// The journal record number of the last entry applied (0 when none, or without a journal).
    public internal(set) var appliedRecord: UInt64 = 0
    /// When the last applied journal entry was received.
    public internal(set) var lastEntryAt = Timestamp(micros: 0)
    /// Counts of what has been applied, for metrics and health.
    public internal(set) var counters = Counters()

    /// The number of partitions a state has unless told otherwise: one per core of the reference machine.
    public static let defaultPartitionCount = 2

    /// A state with the given markets and nothing else.
    ///
    /// - Parameter partitions: how many partitions securities are hashed to (1, 2, 4 or 8); each applies
    ///   its share of a batch on its own core. Results do not depend on it; the snapshot image does.
    public init(catalog: MarketCatalog = .embedded, partitions: Int = EngineState.defaultPartitionCount) {
        precondition([1, 2, 4, 8].contains(partitions), "partitions must be 1, 2, 4 or 8")
        clock = MarketClock(catalog: catalog)
        reference.securitiesByMarket = Array(repeating: [], count: clock.markets.count)
        massCeilings = Array(repeating: 0, count: clock.markets.count)
        self.partitions = Array(repeating: Partition(markets: catalog.marketIds.count), count: partitions)
        self.partitionBits = partitions.trailingZeroBitCount
    }

    /// What has been applied so far.
    public struct Counters: Sendable, Hashable {
        public var events: Int64 = 0
        public var ignored: Int64 = 0
        public var rejected: Int64 = 0
    }

    /// Number of positions held.
    public var positionCount: Int { partitions.reduce(0) { $0 + $1.positionCount } }
    /// Number of partitions securities are hashed to.
    public var partitionCount: Int { partitions.count }
    /// Number of securities known.
    public var securityCount: Int { reference.securities.count }
}

/// The reference data: securities (with their identifiers), books, counterparties and aggregation units.
///
/// One part of `EngineState`, changed only on the sequential path (never by partitions), and shared with
/// the read model by copy-on-write: each change bumps `version`, and the change feed carries the new value
/// only when it differs from the one last published.
public struct ReferenceData: Sendable {
    var securities: ContiguousArray<SecurityEntry> = []
    var securityIds = Interner()
    var identifierIndex: [IdentifierKey: Int32] = [:]
    /// Every security with each ticker (tickers repeat across markets; `identifierIndex` keeps one). Derived:
    /// kept with the securities, rebuilt on load.
    var securitiesByTicker: [String: [Int32]] = [:]
    var securitiesByMarket: [[Int32]] = []
    var books: ContiguousArray<Book> = []
    var bookIds = Interner()
    var counterparties: [String: Counterparty] = [:]
    var aggregationUnits: [String: AggregationUnit] = [:]
    /// "marketId|name" → aggregationUnitId, names being unique in a market.
    var aggregationUnitNames: [String: String] = [:]
    /// (provider, securityId) → last applied version, for per-provider versioning.
    var providerVersions: [String: Int64] = [:]
    /// The partition of each security, by index: a stable hash of its id (`EngineState.partition(ofSecurityId:partitions:)`),
    /// or, for securities loaded from a format-2 snapshot, its index modulo the partition count.
    var securityPartitions: [UInt8] = []
    /// Bumped by every change, so that a publisher can tell whether it changed.
    var version: UInt64 = 0
    /// Derived (rebuilt on load): legal entities and aggregation units as dense ids, and each legal entity's
    /// default unit per market ("entity|market" → unit id; the smallest id if several claim it).
    var entityIds = Interner()
    var unitIds = Interner()
    /// Derived: the clients of client books, as dense ids (locates and orders add the clients they name).
    var clientIds = Interner()
    /// Derived: the clients some book names (rebuilt on load with the scope indexes).
    var bookClients: Set<String> = []
    var defaultUnits: [String: String] = [:]
    /// Derived: the index and ETF securities each security is a constituent of (by security id), for rules'
    /// `indexMember` conditions.
    var memberships: [String: Set<String>] = [:]

    /// Notes a security's constituents in `memberships`, replacing those of its previous record.
    mutating func noteConstituents(of new: Security, replacing old: Security?) {
        guard let id = new.securityId ?? old?.securityId else { return }
        for c in old?.constituents ?? [] {
            memberships[c.securityId]?.remove(id)
            if memberships[c.securityId]?.isEmpty == true { memberships.removeValue(forKey: c.securityId) }
        }
        for c in new.constituents { memberships[c.securityId, default: []].insert(id) }
    }

    /// Rebuilds the derived scope indexes from the books and units. Ids already given are kept (the buckets
    /// and the read model know scopes by them); new names get the next ones.
    mutating func rebuildScopeIndexes() {
        defaultUnits = [:]
        memberships = [:]
        for s in securities where !s.record.constituents.isEmpty { noteConstituents(of: s.record, replacing: nil) }
        for b in books { note(b) }
        for u in aggregationUnits.values.sorted(by: { $0.aggregationUnitId < $1.aggregationUnitId }) { note(u) }
    }

    /// Takes a book's legal entity and client into the scope indexes.
    mutating func note(_ b: Book) {
        _ = entityIds.intern(b.legalEntity)
        if let c = b.clientId { _ = clientIds.intern(c); bookClients.insert(c) }
    }

    /// Whether `clientId` is a client IMS knows: a book's client, or a counterparty of kind CLIENT or
    /// CLIENT_AGENT.
    func knowsClient(_ clientId: String) -> Bool {
        if bookClients.contains(clientId) { return true }
        guard let c = counterparties[clientId] else { return false }
        return c.kind == .client || c.kind == .clientAgent
    }

    /// The ids of a scope kind.
    func scopeIds(_ kind: ScopeKind) -> Interner {
        switch kind {
        case .aggregationUnit: unitIds
        case .legalEntity: entityIds
        case .client: clientIds
        }
    }

    /// "scope|security" for a scoped-buckets key (by name: ids depend on the order names arrived in).
    func scopeName(_ kind: ScopeKind, key: UInt64) -> String {
        scopeIds(kind).name(Int32(bitPattern: UInt32(key >> 32))) + "|" + securityIds.name(Int32(bitPattern: UInt32(truncatingIfNeeded: key)))
    }

    /// Takes a unit into the scope indexes.
    mutating func note(_ u: AggregationUnit) {
        _ = unitIds.intern(u.aggregationUnitId)
        _ = entityIds.intern(u.legalEntity)
        let key = u.legalEntity + "|" + u.marketId
        if u.isDefault, defaultUnits[key].map({ u.aggregationUnitId < $0 }) ?? true { defaultUnits[key] = u.aggregationUnitId }
    }
}

/// The markets' clock and calendars, one part of the state: the catalog (markets and their calendars),
/// each market's business date and settlement ladder, and the markets' interned ids; it reads and writes
/// its own snapshot section. Day rolls move it. Shared with the read model by copy-on-write.
public struct MarketClock: Sendable {
    public let catalog: MarketCatalog
    var markets: [MarketState] = []
    var ids = Interner()
    /// Each market's calendar range, by market index: read per trade, kept flat.
    private(set) var calendarRanges: [ClosedRange<BusinessDate>] = []

    init(catalog: MarketCatalog) {
        self.catalog = catalog
        for id in catalog.marketIds {
            let (index, _) = ids.intern(id)
            markets.append(MarketState(index: index, market: catalog.markets[id]!, calendar: catalog.calendars[id]!))
        }
        calendarRanges = markets.map(\.calendar.range)
    }

    /// Whether `date` is a business date market `marketId` has rolled past: a locate or order asked then is
    /// of an earlier day, so its id may be used again (a new request, not yesterday's answer).
    public func hasRolled(past date: BusinessDate?, marketId: String?) -> Bool {
        guard let date, let marketId, let m = ids.lookup(marketId), let today = markets[Int(m)].businessDate else { return false }
        return today > date
    }

    // MARK: Snapshot section

    func encode(to w: inout BinaryWriter) {
        w.writeCount(markets.count)
        for m in markets { w.write(m.market.marketId); w.write(m.businessDate) }
    }

    mutating func decode(from r: inout BinaryReader) throws(BinaryFormatError) {
        for _ in 0..<(try r.readCount()) {
            let id = try r.readString()
            let date = try r.readOptionalDate()
            guard let m = ids.lookup(id) else { throw BinaryFormatError("snapshot names market \(id), which the catalog lacks") }
            if let date { markets[Int(m)].setBusinessDate(date) }
        }
    }
}

/// A market's live business date and its settlement ladder.
struct MarketState: Sendable {
    var index: Int32
    var market: Market
    var calendar: MarketCalendar
    /// The market's current business date `T`; nil until the first day roll or SOD snapshot.
    var businessDate: BusinessDate?
    /// SD0…SD4 for `businessDate`.
    var ladder: [BusinessDate] = []
    /// The contractual settle date of a trade dated `businessDate`, and its ladder slot: the common case, precomputed.
    var regularSettleDate = BusinessDate(dayNumber: 0)
    var regularSlot: Int8 = 0

    mutating func setBusinessDate(_ date: BusinessDate) {
        businessDate = date
        ladder = calendar.ladderDates(businessDate: date)
        regularSettleDate = calendar.addingSettlementDays(market.settlementDays(forTradeDate: date), to: date)
        regularSlot = slot(forSettleDate: calendar.settlementDay(onOrAfter: regularSettleDate))
    }

    /// The settle date of a trade of `tradeDate` with no explicit one, and its ladder slot.
    @inline(__always)
    func settlement(tradeDate: BusinessDate, explicit: BusinessDate?) -> (date: BusinessDate, slot: Int8) {
        if explicit == nil && tradeDate == businessDate { return (regularSettleDate, regularSlot) }
        let date = explicit ?? calendar.addingSettlementDays(market.settlementDays(forTradeDate: tradeDate), to: tradeDate)
        return (date, slot(forSettleDate: calendar.settlementDay(onOrAfter: date)))
    }

    /// The ladder slot for a settle date: the first SDk on or after it, or `TradeRecord.laterSlot` past SD4.
    func slot(forSettleDate date: BusinessDate) -> Int8 {
        for k in 0..<ladder.count where ladder[k] >= date { return Int8(k) }
        return TradeRecord.laterSlot
    }
}

/// A security as IMS holds it: the merged record plus its interned market.
struct SecurityEntry: Sendable {
    var record: Security
    var market: Int32
}

/// An identifier of a given kind, as a key.
struct IdentifierKey: Hashable, Sendable {
    var kind: IdentifierKind
    var value: String
}

/// One lender's figure for one security.
struct AvailabilityKey: Hashable, Sendable {
    var sourceId: String
    var security: Int32
}

/// The last tick of a security and how many ticks have arrived.
struct PriceState: Sendable {
    var tick: PriceTick
    var tickCount: Int64
    /// Today's ticks as bars: the drill-down's price chart starts with the day so far.
    var bars = IntradayBars()
    /// The direction of the last change of `last`: 1 up, −1 down, 0 none seen yet. A tick at the same price
    /// keeps it (a zero-plus tick is still up), as JP's price restriction reads it.
    var direction: Int8 = 0
    /// The last business date a short-sale price test holds through (a copy of the partition's
    /// `shortSaleRestrictions`, for the read model).
    var restrictedThrough: BusinessDate? = nil
}

extension EngineState {
    @inline(__always) static func positionKey(book: Int32, security: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: book)) << 32 | UInt64(UInt32(bitPattern: security))
    }

    /// A bijective mix of a position key (odd multiply, then xor-shift: both invertible), so equal hashes
    /// mean equal keys and a look-up never reads the position record to compare. The key that mixes to 0
    /// (the table's empty mark) is given the mix of `UInt64.max` instead, a key no position has (book −1).
    @inline(__always) static func hash(positionKey key: UInt64) -> UInt64 {
        @inline(__always) func mix(_ k: UInt64) -> UInt64 {
            let h = k &* 0x9E37_79B9_7F4A_7C15
            return h ^ (h >> 29)
        }
        let h = mix(key)
        return h == 0 ? mix(UInt64.max) : h
    }

    /// The id of the position of `book` in `security`, if it exists.
    func existingPosition(book: Int32, security: Int32) -> Int32? {
        let k = partition(ofSecurity: security)
        return partitions[k].existingPosition(book: book, security: security).map { positionId(partition: k, local: $0) }
    }

    /// Runs `body` for every partition at once, each on its own thread with its partition alone
    /// (`body` must touch nothing else that another partition's call writes).
    mutating func forEachPartitionInParallel(_ body: (Int, inout Partition) -> Void) {
        partitions.withUnsafeMutableBufferPointer { parts in
            let shared = UncheckedSendable(parts)
            withoutActuallyEscaping(body) { body in
                let work = UncheckedSendable(body)
                DispatchQueue.concurrentPerform(iterations: parts.count) { k in work.value(k, &shared.value[k]) }
            }
        }
    }

    /// Takes the exceptions a partition raised into the list, numbering them.
    @inline(__always) mutating func takeRaised(partition k: Int) {
        guard !partitions[k].raised.isEmpty else { return }
        for e in partitions[k].raised {
            raise(e.kind, sequence: e.sequence, message: e.message, subject: e.subject, at: e.receivedAt)
        }
        partitions[k].raised.removeAll(keepingCapacity: true)
    }

    /// The texts of refused lines that the journal does not have yet, to journal after their batches
    /// (`JournalEntry.lineTexts`); nil when there are none.
    public mutating func takeTextsToJournal() -> ExceptionTexts? {
        defer { textsToJournal = nil }
        return textsToJournal
    }

    /// Gives rejected-input exceptions their line's text where it is missing (a replay of a batch whose
    /// texts were journaled after it). Exceptions already dropped from the list are skipped.
    mutating func fillTexts(_ t: ExceptionTexts) {
        changeLog.updatedExceptions += exceptionLog.fill(t)
    }

    mutating func raise(
        _ kind: ExceptionKind, sequence: Int64, line: Int? = nil, field: String? = nil,
        message: String, subject: String? = nil, raw: String? = nil, at time: Timestamp
    ) {
        exceptionLog.append(
            ExceptionRecord(
                exceptionId: 0, kind: kind, sequence: sequence, line: line, field: field,
                message: message, subject: subject, raw: raw, receivedAt: time))
    }
}

/// How securities and positions map to partitions: shared by the state and its read model.
protocol PartitionLayout {
    /// log2 of the partition count.
    var partitionBits: Int { get }
    var reference: ReferenceData { get }
}

extension PartitionLayout {
    /// The partition that owns a security.
    @inline(__always) func partition(ofSecurity security: Int32) -> Int { Int(reference.securityPartitions[Int(security)]) }

    /// The engine-wide id of a partition's position.
    @inline(__always) func positionId(partition k: Int, local: Int32) -> Int32 { local << Int32(partitionBits) | Int32(k) }

    /// The partition and local index of a position id.
    @inline(__always) func locate(position id: Int32) -> (partition: Int, local: Int32) {
        (Int(id) & ((1 << partitionBits) - 1), id >> Int32(partitionBits))
    }
}

extension EngineState: PartitionLayout {
    /// The partition a security with this id goes to among `partitions` (1, 2, 4 or 8): the top bits of
    /// FNV-1a-64 of its UTF-8 bytes multiplied by 0x9E3779B97F4A7C15. Stable across processes and versions,
    /// so an ingest edge or a Kafka producer can route by it without asking IMS.
    public static func partition(ofSecurityId id: String, partitions: Int) -> Int {
        guard partitions > 1 else { return 0 }
        // Written out here (not the hash tables' own, which may change): the function is part of the interface.
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in id.utf8 {
            h ^= UInt64(b)
            h &*= 0x0000_0100_0000_01b3
        }
        let mixed = h &* 0x9E37_79B9_7F4A_7C15
        return Int(mixed >> UInt64(64 - partitions.trailingZeroBitCount))
    }
}

/// A value handed to the threads of `concurrentPerform`, each working on its own element of it (a partition,
/// a slot of an output buffer): the compiler cannot see that the threads' writes are disjoint, the callers
/// guarantee it.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
