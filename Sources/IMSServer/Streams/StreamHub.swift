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
    /// Decisions a decision channel (`/ws/decisions`) may have taken and not yet written back; at this bound
    /// it reads no more from the client until the client reads its answers.
    public var maxUnreadDecisions = 10_000

    /// A `StreamLimits` from its fields.
    public init(
        maxPendingItems: Int = 100_000, maxSnapshotItems: Int = 100_000, heartbeat: Duration = .seconds(5), maxPerIdentity: Int = 32,
        maxUnreadDecisions: Int = 10_000
    ) {
        self.maxPendingItems = maxPendingItems
        self.maxSnapshotItems = maxSnapshotItems
        self.heartbeat = heartbeat
        self.maxPerIdentity = maxPerIdentity
        self.maxUnreadDecisions = maxUnreadDecisions
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
    private let subscribers = Mutex<[Int: any HubSubscriber]>([:])
    private let nextId = Atomic<Int>(1)
    /// Streams open per identity.
    private let openByOwner = Mutex<[String: Int]>([:])
    /// Signalled when a subscriber connects, so that a dozing hub wakes at once.
    private let connected = DispatchSemaphore(value: 0)
    /// How long the hub dozes between reads of the feed while nobody is connected.
    static let dozeWithoutSubscribers: DispatchTimeInterval = .milliseconds(20)
    /// Reads of the feed that gave records (each a wake-up of the hub's thread).
    let recordReads = Atomic<Int>(0)

    init(engine: Engine, limits: StreamLimits = StreamLimits()) {
        self.engine = engine
        self.limits = limits
        let cursor = engine.feed.cursor(named: "stream-hub", after: engine.readModel.cursor)
        let connected = connected
        // The thread holds the hub weakly and ends within a second of the hub going away.
        cursor.consume(on: "ims-stream-hub") { [weak self] read in
            guard let hub = self else { return false }
            switch read {
            case .records(let records):
                hub.recordReads.add(1, ordering: .relaxed)
                hub.route(records)
            case .lagged(let missed): hub.lagAll(missed: missed)
            case .timedOut, .closed: break
            }
            // Nobody connected: the records only need taking. Taken a doze's worth at a time, not one wake-up per
            // record (a server answering decisions with no dashboard open paid one per decision). A subscriber
            // connecting ends the doze; what it is sent starts from its snapshot, read after it subscribes, so
            // the doze delays no change it must see. The feed keeps seconds of records, far more than a doze.
            if case .records = read, hub.subscriberCount == 0 {
                cursor.setDozing(true)
                _ = connected.wait(timeout: .now() + Self.dozeWithoutSubscribers)
                cursor.setDozing(false)
            }
            return true
        }
    }

    /// Subscribers connected now.
    var subscriberCount: Int { subscribers.withLock { $0.count } }

    /// Per stream (by name): subscribers connected, and the most changed items one of them has waiting.
    func subscriberStats() -> [String: (count: Int, maxPending: Int)] {
        var out: [String: (count: Int, maxPending: Int)] = [:]
        for s in subscribers.withLock({ Array($0.values) }) {
            let old = out[s.streamName] ?? (0, 0)
            out[s.streamName] = (old.count + 1, max(old.maxPending, s.pendingCount))
        }
        return out
    }

    /// A new subscriber of stream `S`; nil when `owner` already has `maxPerIdentity` streams open.
    func register<S: StreamDefinition>(_ stream: S.Type, owner: String? = nil) -> Subscription<S>? {
        if let owner {
            let admitted = openByOwner.withLock { open in
                guard open[owner, default: 0] < limits.maxPerIdentity else { return false }
                open[owner, default: 0] += 1
                return true
            }
            guard admitted else { return nil }
        }
        let subscriber = Subscription<S>(id: nextId.add(1, ordering: .relaxed).oldValue, owner: owner)
        let first = subscribers.withLock {
            $0[subscriber.id] = subscriber
            return $0.count == 1
        }
        if first { connected.signal() }
        return subscriber
    }

    func unregister(_ subscriber: some HubSubscriber) {
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

/// What the hub needs of a subscriber, whatever its stream.
protocol HubSubscriber: AnyObject, Sendable {
    var id: Int { get }
    /// The stream's name (`StreamDefinition.name`).
    var streamName: String { get }
    /// The identity whose stream this is (counted against `maxPerIdentity`), when signed in.
    var owner: String? { get }
    /// Whether it takes deltas now (subscribed, snapshot started, not lagging).
    var isActive: Bool { get }
    /// Changed items waiting to be sent.
    var pendingCount: Int { get }
    /// Adds the changed keys of `records` its filter passes (the hub's thread, under the read lock).
    func mark(_ records: [ChangeRecord], in model: borrowing ReadModel, limit: Int)
    /// Stops deltas: the client is told it lags and must resubscribe.
    func markLagging(pending: Int)
    /// Ends its signals (the connection closed).
    func finish()
}

/// Where a subscription is in its life, with the filter of each state that has one. Transitions return
/// what the caller must do, so the rules are in one place and tested alone (`SubscriptionPhaseTests`).
///
/// ```text
/// idle ──subscribe──▶ snapshotDue ──sender takes──▶ active ──backlog past the limit / hub lagged──▶ lagging
///   ▲                     ▲                                                            │ sender takes
///   └──unsubscribe (any)  └──subscribe (any) ◀───────────── stopped ◀──────────────────┘ (told once)
/// ```
enum SubscriptionPhase<Filter: Sendable & Hashable>: Sendable, Equatable {
    /// No filter: before the first subscribe, or after an unsubscribe.
    case idle
    /// Subscribed: the sender must send a snapshot before any delta.
    case snapshotDue(Filter)
    /// Taking deltas.
    case active(Filter)
    /// Fell too far behind (`pending` items); the sender has not told the client yet.
    case lagging(Filter, pending: Int)
    /// Told it lags; no deltas until it subscribes again.
    case stopped

    /// What the sender does on its turn.
    enum Turn: Equatable, Sendable {
        case snapshot(Filter)
        case laggingNotice(pending: Int)
        case deltas(Filter)
        case nothing
    }

    /// A subscribe command: from any state, a fresh snapshot of `filter`.
    mutating func subscribe(_ filter: Filter) { self = .snapshotDue(filter) }

    /// An unsubscribe command: back to idle from any state.
    mutating func unsubscribe() { self = .idle }

    /// The sender's turn: a due snapshot starts deltas; a lag is told once and stops them.
    mutating func takeTurn() -> Turn {
        switch self {
        case .snapshotDue(let f):
            self = .active(f)
            return .snapshot(f)
        case .lagging(_, let pending):
            self = .stopped
            return .laggingNotice(pending: pending)
        case .active(let f):
            return .deltas(f)
        case .idle, .stopped:
            return .nothing
        }
    }

    /// The backlog passed the limit, or the hub fell off the feed: an active subscription lags (its pending
    /// keys must be dropped). Returns whether it changed.
    mutating func fallBehind(pending: Int) -> Bool {
        guard case .active(let f) = self else { return false }
        self = .lagging(f, pending: pending)
        return true
    }

    /// The filter whose changes are marked now: only an active subscription takes deltas.
    var activeFilter: Filter? {
        if case .active(let f) = self { return f }
        return nil
    }
}

/// One connection's subscription to stream `S`: where it is (`SubscriptionPhase`) and the keys changed since
/// it last sent.
final class Subscription<S: StreamDefinition>: HubSubscriber {
    struct State {
        var phase = SubscriptionPhase<S.Filter>.idle
        var pending = PendingKeys<S.Key>()
        var lastSequence: Int64 = 0
        /// The last change record its snapshot shows (`ReadModel.feedSequence` when the snapshot's keys were read):
        /// deltas come only from later records, so nothing in the snapshot is sent again as a delta however late
        /// the hub reads the feed. `.max` until the snapshot is read.
        var snapshotThrough: UInt64 = .max
        /// Messages for the client that are not data (errors, acknowledgements).
        var notices: [String] = []
    }

    let id: Int
    let owner: String?
    let state = Mutex(State())
    let signals: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init(id: Int, owner: String? = nil) {
        self.id = id
        self.owner = owner
        (signals, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    var streamName: String { S.name }
    var isActive: Bool { state.withLock { $0.phase.activeFilter != nil } }
    var pendingCount: Int { state.withLock { $0.pending.count } }

    func signal() { continuation.yield() }
    func finish() { continuation.finish() }

    func subscribe(_ filter: S.Filter) {
        state.withLock { s in
            s.phase.subscribe(filter)
            s.pending.removeAll()
            s.snapshotThrough = .max
        }
        signal()
    }

    /// Its snapshot was read from the read model having applied change records up to `feedSequence`. Called under
    /// the read model's read lock, so no later record can be applied (and so routed) before this is set.
    func snapshotRead(through feedSequence: UInt64) {
        state.withLock { $0.snapshotThrough = feedSequence }
    }

    func unsubscribe() {
        state.withLock { s in
            s.phase.unsubscribe()
            s.pending.removeAll()
            s.notices.append(#"{"type":"unsubscribed"}"#)
        }
        signal()
    }

    func notify(_ message: String) {
        state.withLock { $0.notices.append(message) }
        signal()
    }

    func markLagging(pending: Int) {
        let changed = state.withLock { s -> Bool in
            guard s.phase.fallBehind(pending: pending) else { return false }
            s.pending.removeAll()
            return true
        }
        if changed { signal() }
    }

    func mark(_ records: [ChangeRecord], in model: borrowing ReadModel, limit: Int) {
        guard let (filter, after) = state.withLock({ s in s.phase.activeFilter.map { ($0, s.snapshotThrough) } }) else { return }
        // Matched outside the subscriber's lock, so the sender is never held up by the matching. Each key
        // carries the receive time of the earliest event of the record that changed it (or its own). Records its
        // snapshot already shows are passed over.
        var keys: [(S.Key, Timestamp)] = []
        for r in records where r.feedSequence > after {
            S.changedKeys(in: r, filter: filter, model: model, at: r.earliestReceivedAt, into: &keys)
        }
        guard !keys.isEmpty else { return }
        let lastSequence = records.last!.lastSequence
        let changed = state.withLock { s -> Bool in
            guard s.phase.activeFilter == filter else { return false }
            for (key, at) in keys { s.pending.mark(key, at: at) }
            s.lastSequence = max(s.lastSequence, lastSequence)
            if s.pending.count > limit, s.phase.fallBehind(pending: s.pending.count) { s.pending.removeAll() }
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
