import DequeModule
import Foundation
import IMSDomain
import IMSEngine
import IMSRuntime
import Synchronization

/// The limits that keep streams from hurting the engine or each other.
public struct StreamLimits: Sendable {
    /// Distinct changed items a subscriber may have waiting before it is told it is too far behind.
    public var maxPendingItems = 100_000
    /// Items sent in a snapshot at most.
    public var maxSnapshotItems = 100_000
    /// A heartbeat is sent after this long without any other message.
    public var heartbeat: Duration = .seconds(5)
    /// Streams one identity (an API key, a token's subject) may have open at once; more are refused.
    public var maxPerIdentity = 32

    public init(maxPendingItems: Int = 100_000, maxSnapshotItems: Int = 100_000, heartbeat: Duration = .seconds(5), maxPerIdentity: Int = 32) {
        self.maxPendingItems = maxPendingItems
        self.maxSnapshotItems = maxSnapshotItems
        self.heartbeat = heartbeat
        self.maxPerIdentity = maxPerIdentity
    }
}

/// Fans the engine's changes out to WebSocket subscribers, coalescing per subscriber.
///
/// A consumer of the change feed that follows the read model's cursor: it is only given a record once the
/// read model has applied it, so what it routes can be read there. Its own thread turns records into
/// per-subscriber sets of changed keys (a position, a security, a currency): a key changed ten times while
/// a client was slow is sent once, with its latest figures, read from the read model when the client's
/// turn comes. So a subscriber's backlog is bounded by the number of distinct items it watches, and past
/// `maxPendingItems` it is told it lags and must resubscribe. Neither the writer nor the read model ever
/// waits for the hub; if the hub itself fell off the feed, every subscriber is told it lags.
final class StreamHub: Sendable {
    let engine: Engine
    let limits: StreamLimits
    private let subscribers = Mutex<[Int: Subscriber]>([:])
    private let nextId = Atomic<Int>(1)
    /// Streams open per identity.
    private let openByOwner = Mutex<[String: Int]>([:])

    init(engine: Engine, limits: StreamLimits = StreamLimits()) {
        self.engine = engine
        self.limits = limits
        let cursor = engine.feed.cursor(named: "stream-hub", after: engine.readModel.cursor)
        // The thread holds the hub weakly and ends within a second of the hub going away.
        let thread = Thread { [weak self] in
            while true {
                let read = cursor.next(timeout: 1)
                guard let hub = self else { return }
                switch read {
                case .records(let records):
                    hub.route(records)
                    cursor.finish()
                case .lagged(let missed):
                    hub.lagAll(missed: missed)
                case .timedOut:
                    continue
                case .closed:
                    return
                }
            }
        }
        thread.name = "ims-stream-hub"
        thread.start()
    }

    /// Subscribers connected now.
    var subscriberCount: Int { subscribers.withLock { $0.count } }

    /// Per stream: subscribers connected, and the most changed items one of them has waiting.
    func subscriberStats() -> [StreamKind: (count: Int, maxPending: Int)] {
        var out: [StreamKind: (count: Int, maxPending: Int)] = [:]
        for s in subscribers.withLock({ Array($0.values) }) {
            let pending = s.state.withLock { $0.pendingCount }
            let old = out[s.kind] ?? (0, 0)
            out[s.kind] = (old.count + 1, max(old.maxPending, pending))
        }
        return out
    }

    func register(kind: StreamKind, owner: String? = nil) -> Subscriber? {
        if let owner {
            let admitted = openByOwner.withLock { open in
                guard open[owner, default: 0] < limits.maxPerIdentity else { return false }
                open[owner, default: 0] += 1
                return true
            }
            guard admitted else { return nil }
        }
        let subscriber = Subscriber(id: nextId.add(1, ordering: .relaxed).oldValue, kind: kind, owner: owner)
        subscribers.withLock { $0[subscriber.id] = subscriber }
        return subscriber
    }

    func unregister(_ subscriber: Subscriber) {
        subscribers.withLock { $0[subscriber.id] = nil }
        if let owner = subscriber.owner {
            openByOwner.withLock { open in
                open[owner, default: 1] -= 1
                if open[owner] == 0 { open[owner] = nil }
            }
        }
        subscriber.finish()
    }

    /// Marks every subscriber's pending keys for the records, under one read of the read model.
    private func route(_ records: [ChangeRecord]) {
        let targets = subscribers.withLock { Array($0.values) }.filter { $0.isActive }
        guard !targets.isEmpty else { return }
        engine.readModel.read { model in
            for subscriber in targets { subscriber.mark(records, in: model, limit: limits.maxPendingItems) }
        }
    }

    /// The hub fell off the feed: every subscriber may have missed changes, so each is told it lags.
    private func lagAll(missed: ClosedRange<UInt64>) {
        for subscriber in subscribers.withLock({ Array($0.values) }) { subscriber.markLagging(pending: missed.count) }
    }
}

/// Which stream a connection is on.
enum StreamKind: String, Sendable, CaseIterable {
    case position
    case marketData = "market-data"
    case exceptions
    case inventory
    case locate
}

/// What a subscriber asked for.
enum StreamFilter: Sendable, Hashable {
    case position(PositionFilter)
    case marketData(MarketDataFilter)
    case exceptions(ExceptionKind?)
    case inventory(InventoryFilter)
    case locate(LocateFilter)
}

/// One connection's subscription: its filter and the keys changed since it last sent.
final class Subscriber: Sendable {
    struct State {
        var filter: StreamFilter?
        /// Set by a subscribe: the sender must (re)send a snapshot before any delta.
        var snapshotRequested = false
        var active = false
        var positions = PendingKeys<Int32>()
        var prices = PendingKeys<Int32>()
        var currencies = PendingKeys<String>()
        var inventory = PendingKeys<Int32>()
        var locates = PendingKeys<Int32>()
        /// Exceptions were raised that are not sent yet (each delta carries its exception's own time).
        var exceptionsPending = false
        var lastExceptionId: Int64 = 0
        /// Exceptions changed after the drain that raised them: those already sent (ids up to `lastExceptionId`
        /// when the sender takes them) are sent again, as they now are.
        var updatedExceptions = Set<Int64>()
        var lastSequence: Int64 = 0
        /// Set when the backlog passed the limit; deltas stop until the client resubscribes.
        var lagging: Int?
        /// Messages for the client that are not data (errors, acknowledgements).
        var notices: [String] = []

        var pendingCount: Int { positions.count + prices.count + currencies.count + inventory.count + locates.count }

        mutating func dropPending() {
            positions.removeAll(); prices.removeAll(); currencies.removeAll(); inventory.removeAll(); locates.removeAll()
        }
    }

    let id: Int
    let kind: StreamKind
    /// The identity whose stream this is (counted against `maxPerIdentity`), when signed in.
    let owner: String?
    let state = Mutex(State())
    let signals: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init(id: Int, kind: StreamKind, owner: String? = nil) {
        self.id = id
        self.kind = kind
        self.owner = owner
        (signals, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    var isActive: Bool { state.withLock { $0.active && $0.lagging == nil } }

    func signal() { continuation.yield() }
    func finish() { continuation.finish() }

    func subscribe(_ filter: StreamFilter) {
        state.withLock { s in
            s = State(filter: filter, snapshotRequested: true, notices: s.notices)
        }
        signal()
    }

    func unsubscribe() {
        state.withLock { s in s = State(notices: s.notices + [#"{"type":"unsubscribed"}"#]) }
        signal()
    }

    func notify(_ message: String) {
        state.withLock { $0.notices.append(message) }
        signal()
    }

    /// Stops deltas: the client is told it lags and must resubscribe.
    func markLagging(pending: Int) {
        let changed = state.withLock { s -> Bool in
            guard s.active, s.lagging == nil else { return false }
            s.lagging = pending
            s.dropPending()
            return true
        }
        if changed { signal() }
    }

    /// Adds the changed keys of `records` this subscriber's filter passes. Called by the hub under the read
    /// model's read lock.
    func mark(_ records: [ChangeRecord], in model: borrowing ReadModel, limit: Int) {
        guard let filter = state.withLock({ $0.active && $0.lagging == nil ? $0.filter : nil }) else { return }
        // Matched outside the subscriber's lock, so the sender is never held up by the matching. Each key
        // carries the receive time of the earliest event of the record that changed it.
        var positions: [(Int32, Timestamp)] = [], prices: [(Int32, Timestamp)] = [], currencies: [(String, Timestamp)] = []
        var inventory: [(Int32, Timestamp)] = [], locates: [(Int32, Timestamp)] = []
        var exceptions = false
        var exceptionIds: [Int64] = []
        for r in records {
            let at = r.earliestReceivedAt
            switch filter {
            case .position(let f):
                for p in model.positions(changedIn: r, matching: f) { positions.append((p, at)) }
            case .marketData(let f):
                for i in r.priceSecurities {
                    if let v = model.priceView(security: i), model.marketData(v, matches: f) { prices.append((i, at)) }
                }
                for rate in r.fxRates {
                    if let v = model.fxView(currency: rate.currency), model.marketData(v, matches: f) { currencies.append((rate.currency, at)) }
                }
            case .exceptions:
                if !r.exceptions.isEmpty { exceptions = true }
                for e in r.exceptions where e.exceptionId < r.firstNewException { exceptionIds.append(e.exceptionId) }
            case .inventory(let f):
                // A new rule set in force changes every calculation: every matching security is sent again.
                let changed = r.rulesChanged ? model.inventoryIndices(matching: f) : r.inventorySecurities.filter { model.inventory($0, matches: f) }
                for s in changed { inventory.append((s, at)) }
            case .locate(let f):
                for i in model.locates(changedIn: r, matching: f) { locates.append((i, at)) }
            }
        }
        guard !positions.isEmpty || !prices.isEmpty || !currencies.isEmpty || !inventory.isEmpty || !locates.isEmpty || exceptions else { return }
        let lastSequence = records.last!.lastSequence
        let changed = state.withLock { s -> Bool in
            guard s.active, s.lagging == nil, s.filter == filter else { return false }
            for (key, at) in positions { s.positions.mark(key, at: at) }
            for (key, at) in prices { s.prices.mark(key, at: at) }
            for (key, at) in currencies { s.currencies.mark(key, at: at) }
            for (key, at) in inventory { s.inventory.mark(key, at: at) }
            for (key, at) in locates { s.locates.mark(key, at: at) }
            if exceptions {
                s.exceptionsPending = true
                // Exceptions raised before this drain and changed in it: sent again as they now are when they were
                // sent already (the sender keeps those up to the last it sent; newer ones go out as new).
                s.updatedExceptions.formUnion(exceptionIds)
            }
            s.lastSequence = max(s.lastSequence, lastSequence)
            if s.pendingCount > limit {
                s.lagging = s.pendingCount
                s.dropPending()
            }
            return true
        }
        if changed { signal() }
    }
}

/// Keys waiting to be sent to one subscriber: each at most once however often it changed (coalescing), in
/// the order they first changed (so under a steady backlog every key still waits at most one pass through
/// it, none starves), each with the receive time of the earliest change not yet sent.
struct PendingKeys<Key: Hashable & Sendable>: Sendable {
    private var order = Deque<Key>()
    private var since: [Key: Timestamp] = [:]

    var count: Int { order.count }
    var isEmpty: Bool { order.isEmpty }

    /// Notes that `key` changed by an event received at `time`; a key already waiting keeps its place and time.
    mutating func mark(_ key: Key, at time: Timestamp) {
        guard since[key] == nil else { return }
        since[key] = time
        order.append(key)
    }

    /// Takes up to `n` keys, oldest first.
    mutating func take(_ n: Int) -> [(key: Key, since: Timestamp)] {
        var out: [(key: Key, since: Timestamp)] = []
        out.reserveCapacity(min(n, order.count))
        while out.count < n, let key = order.popFirst() {
            out.append((key, since.removeValue(forKey: key)!))
        }
        return out
    }

    mutating func removeAll() {
        order.removeAll()
        since.removeAll()
    }
}
