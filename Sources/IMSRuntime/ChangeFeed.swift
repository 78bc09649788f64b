import DequeModule
import Foundation
import IMSDomain
import IMSEngine
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The engine's output: a bounded in-process bus of `ChangeRecord`s with one cursor per consumer.
///
/// The Disruptor shape (as in LMAX and exchange-core): one publisher (the writer, once per drain), records
/// numbered 1, 2, 3…, and each consumer reading at its own pace through its own `Cursor`. The writer never
/// waits for a consumer: the bus keeps at most `capacity` records and `maxItems` changed items, dropping the
/// oldest, and a consumer whose next record was dropped is told it lagged (`Read.lagged`), with what it
/// missed, and moves to the oldest record kept. It then resynchronises from the state (the read model
/// rebuilds, a stream subscriber is sent a fresh snapshot). Consumers coalesce on their own side (the read
/// model keeps the latest value per item, the stream hub a set of keys per subscriber).
///
/// A cursor may follow another (`after:`): it is only given records the upstream cursor has finished with,
/// the Disruptor's dependency barrier. The stream hub follows the read model, so what it routes is already
/// readable there.
///
/// Wake-ups are targeted: each cursor waits on a condition of its own (all sharing the feed's one mutex), a
/// publish wakes only the waiting cursors that follow nobody, and a cursor finishing wakes only the waiting
/// cursors that follow it. So a record wakes each consumer once, when it can read it (one broadcast woke every
/// consumer on every publish and every finish, most of them to find nothing yet).
///
/// A publisher may also hand a record straight to a cursor that is idle and caught up (`publish(_:claimingFor:)`):
/// the engine applies a small drain to the read model on its own thread so, with no thread woken on a
/// decision's way back (`ReadModelStore.applyClaimed`).
///
/// `@unchecked Sendable` (the feed and its cursors): every stored `var` is read and written with the feed's
/// `mutex` held. It stays a ring of its own, not a `BlockingQueue`: it is read by many cursors, each at its own
/// place, not a queue with one consumer.
public final class ChangeFeed: @unchecked Sendable {
    /// What a consumer's `next` gave.
    public enum Read: Sendable {
        /// The next records, in order.
        case records([ChangeRecord])
        /// The records `missed` were dropped before this consumer read them; it now reads from `missed.upperBound + 1`.
        case lagged(missed: ClosedRange<UInt64>)
        /// Nothing new within the wait.
        case timedOut
        /// The feed was closed and this consumer has read everything.
        case closed
    }

    /// The most records kept.
    public let capacity: Int
    /// The most changed items kept, over all records kept (each record is kept whole).
    public let maxItems: Int

    private let mutex = FeedMutex()
    private var records: Deque<ChangeRecord> = []
    /// The feed sequence of `records.first`.
    private var firstKept: UInt64 = 1
    /// The sequence the next record gets.
    private var nextSequence: UInt64 = 1
    private var items = 0
    private var isClosed = false
    private var cursors: [WeakCursor] = []
    /// Conditions to signal once the mutex is released (`unlockAndSignal`).
    private var toSignal: [FeedCondition] = []

    /// A `ChangeFeed` from its fields.
    public init(capacity: Int = 4_096, maxItems: Int = 262_144, startingAfter sequence: UInt64 = 0) {
        precondition(capacity > 0 && maxItems > 0)
        self.capacity = capacity
        self.maxItems = maxItems
        firstKept = sequence + 1
        nextSequence = sequence + 1
    }

    /// The sequence of the last record published (0 before the first).
    public var lastPublished: UInt64 {
        mutex.lock(); defer { mutex.unlock() }
        return nextSequence - 1
    }

    /// Publishes a record, numbering it; drops the oldest records past the bounds. Never waits.
    @discardableResult
    public func publish(_ record: consuming ChangeRecord) -> UInt64 {
        publish(record, claimingFor: nil).sequence
    }

    /// Publishes a record and, when `claimant` (a cursor that follows nobody) has finished everything before it
    /// and waits for nothing it was handed, hands the record to it at once: `claimed` is then the record, which
    /// its caller must apply for that consumer and then `finish` the cursor. Otherwise the claimant reads it as
    /// usual (woken if it waits).
    public func publish(_ record: consuming ChangeRecord, claimingFor claimant: Cursor?) -> (sequence: UInt64, claimed: ChangeRecord?) {
        mutex.lock()
        let sequence = nextSequence
        record.feedSequence = sequence
        items += record.itemCount
        var claimed: ChangeRecord?
        var taker: Cursor?
        if let claimant, claimant.upstream == nil, claimant.read == sequence - 1, claimant.finished == claimant.read {
            claimant.read = sequence
            claimed = record
            taker = claimant
        }
        records.append(record)
        nextSequence += 1
        // Records dropped here are freed once the mutex is released (readers never wait on it), and a large one
        // on another thread (`ChangeRecordReclaimer`): the publisher is usually the journal thread.
        var dropped: ChangeRecord?
        var droppedMore: [ChangeRecord] = []
        while records.count > 1 && (records.count > capacity || items > maxItems) {
            let oldest = records.removeFirst()
            items -= oldest.itemCount
            firstKept += 1
            if dropped == nil { dropped = oldest } else { droppedMore.append(oldest) }
        }
        wakeWaiting { $0.upstream == nil && $0 !== taker }
        unlockAndSignal()
        if let dropped { ChangeRecordReclaimer.release(dropped) }
        for oldest in droppedMore { ChangeRecordReclaimer.release(oldest) }
        return (sequence, claimed)
    }

    /// Marks every cursor waiting now that `matches` to be signalled (the mutex held): `unlockAndSignal` signals
    /// them once the mutex is released, so a woken consumer does not at once block on the mutex its waker
    /// still holds (a second switch for every wake-up).
    private func wakeWaiting(_ matches: (Cursor) -> Bool) {
        var dropped = false
        for entry in cursors {
            guard let cursor = entry.cursor else {
                dropped = true
                continue
            }
            if cursor.waiting && matches(cursor) { toSignal.append(cursor.wake) }
        }
        if dropped { cursors.removeAll { $0.cursor == nil } }
    }

    /// Releases the mutex, then signals the cursors `wakeWaiting` marked.
    private func unlockAndSignal() {
        if toSignal.isEmpty {
            mutex.unlock()
            return
        }
        let signals = toSignal
        toSignal.removeAll(keepingCapacity: true)
        mutex.unlock()
        for condition in signals { condition.signal() }
    }

    /// Signals what `wakeWaiting` marked with the mutex still held (before a wait releases it).
    private func signalMarked() {
        for condition in toSignal { condition.signal() }
        toSignal.removeAll(keepingCapacity: true)
    }

    /// Ends the feed: consumers read what is kept, then get `.closed`.
    public func close() {
        mutex.lock()
        isClosed = true
        wakeWaiting { _ in true }
        unlockAndSignal()
    }

    /// A new consumer, reading from the next record published (or after `upstream` has finished with each).
    public func cursor(named name: String, after upstream: Cursor? = nil) -> Cursor {
        mutex.lock(); defer { mutex.unlock() }
        let cursor = Cursor(feed: self, name: name, position: nextSequence - 1, upstream: upstream)
        cursors.append(WeakCursor(cursor: cursor))
        return cursor
    }

    /// Every live consumer: its name, the last record it finished, how many published records it has not, and
    /// whether it dozes (takes records only now and then, having nobody to pass them to: its lag is no backlog).
    public func consumers() -> [(name: String, position: UInt64, lag: UInt64, dozing: Bool)] {
        mutex.lock(); defer { mutex.unlock() }
        cursors.removeAll { $0.cursor == nil }
        return cursors.compactMap(\.cursor).map { ($0.name, $0.finished, nextSequence - 1 - $0.finished, $0.dozing) }
            .sorted { $0.name < $1.name }
    }

    /// One consumer's place on the feed.
    public final class Cursor: @unchecked Sendable {
        public let name: String
        private let feed: ChangeFeed
        fileprivate let upstream: Cursor?
        /// The last record handed out (guarded by the feed's lock).
        fileprivate var read: UInt64
        /// The last record this consumer has finished with (guarded by the feed's lock).
        fileprivate var finished: UInt64
        /// Waiting in `next` for something to read (guarded by the feed's lock).
        fileprivate var waiting = false
        /// Said by its consumer: it takes records only now and then (guarded by the feed's lock).
        fileprivate var dozing = false
        /// What the consumer waits on; signalled only when there may be something for it.
        fileprivate let wake: FeedCondition

        fileprivate init(feed: ChangeFeed, name: String, position: UInt64, upstream: Cursor?) {
            self.feed = feed
            self.name = name
            self.read = position
            self.finished = position
            self.upstream = upstream
            wake = FeedCondition(feed.mutex)
        }

        /// The last record this consumer has finished with.
        public var position: UInt64 {
            feed.mutex.lock(); defer { feed.mutex.unlock() }
            return finished
        }

        /// Says whether this consumer dozes (`consumers()` tells it, so that its lag is not read as a backlog).
        public func setDozing(_ on: Bool) {
            feed.mutex.lock()
            dozing = on
            feed.mutex.unlock()
        }

        /// Moves the cursor to just after `sequence` (after a resynchronisation from a state that already
        /// reflects it).
        public func reset(after sequence: UInt64) {
            feed.mutex.lock()
            read = sequence
            finished = sequence
            wakeFollowers()
            feed.unlockAndSignal()
        }

        /// Wakes the waiting cursors that follow this one (the feed's mutex held).
        fileprivate func wakeFollowers() {
            feed.wakeWaiting { $0.upstream === self }
        }

        /// The next records (at most `max`), waiting up to `timeout` seconds for one. Marks what was handed
        /// out before as finished.
        public func next(max: Int = .max, timeout: Double) -> Read {
            let feed = self.feed
            feed.mutex.lock(); defer { feed.unlockAndSignal() }
            if finished < read {
                finished = read
                wakeFollowers()
            }
            let deadline = FeedCondition.deadline(after: timeout)
            while true {
                if read + 1 < feed.firstKept {
                    let missed = (read + 1)...(feed.firstKept - 1)
                    read = feed.firstKept - 1
                    finished = read
                    wakeFollowers()
                    return .lagged(missed: missed)
                }
                let limit = upstream.map { Swift.min($0.finished, feed.nextSequence - 1) } ?? feed.nextSequence - 1
                if read < limit {
                    let from = Int(read + 1 - feed.firstKept)
                    let count = Swift.min(Int(limit - read), max)
                    let out = Array(feed.records[from..<(from + count)])
                    read += UInt64(count)
                    return .records(out)
                }
                if feed.isClosed && (upstream == nil || limit == feed.nextSequence - 1) { return .closed }
                feed.signalMarked()
                waiting = true
                let woken = wake.wait(until: deadline)
                waiting = false
                if !woken { return .timedOut }
            }
        }

        /// Runs this consumer on a thread of its own, the one loop every consumer of the feed shares: `body`
        /// gets each read (records, a lag notice, or `.timedOut` after a second of quiet, for a consumer that
        /// must look around) and returns whether to go on; records are marked finished once `body` returns,
        /// so dependent cursors see them only then. `closed` runs once the feed has closed and this consumer
        /// has read everything.
        public func consume(on threadName: String, _ body: @escaping @Sendable (Read) -> Bool, closed: @escaping @Sendable () -> Void = {}) {
            let thread = Thread.named(threadName) { [self] in
                while true {
                    let read = next(timeout: 1)
                    if case .closed = read {
                        closed()
                        return
                    }
                    guard body(read) else { return }
                    if case .records = read { finish() }
                }
            }
            thread.start()
        }

        /// Marks everything handed out as finished, so that cursors after this one may read it.
        public func finish() {
            feed.mutex.lock()
            finished = read
            wakeFollowers()
            feed.unlockAndSignal()
        }
    }

    private struct WeakCursor {
        weak var cursor: Cursor?
    }
}

/// The feed's mutex (a `pthread_mutex_t` at a fixed address, which its cursors' conditions wait with).
final class FeedMutex: @unchecked Sendable {
    fileprivate let raw: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        raw = .allocate(capacity: 1)
        pthread_mutex_init(raw, nil)
    }

    deinit {
        pthread_mutex_destroy(raw)
        raw.deallocate()
    }

    func lock() { pthread_mutex_lock(raw) }
    func unlock() { pthread_mutex_unlock(raw) }
}

/// A condition one cursor waits on with the feed's mutex held (monotonic clock, so a change of the wall clock
/// neither stretches nor cuts a wait).
final class FeedCondition: @unchecked Sendable {
    private let raw: UnsafeMutablePointer<pthread_cond_t>
    private let mutex: FeedMutex

    init(_ mutex: FeedMutex) {
        self.mutex = mutex
        raw = .allocate(capacity: 1)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(raw, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(raw)
        raw.deallocate()
    }

    /// The monotonic time `seconds` from now.
    static func deadline(after seconds: Double) -> timespec {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let nanos = Int(now.tv_nsec) + Int(max(0, seconds) * 1e9)
        return timespec(tv_sec: now.tv_sec + nanos / 1_000_000_000, tv_nsec: nanos % 1_000_000_000)
    }

    /// Waits (the mutex held) until signalled or `deadline`; false once the deadline has passed.
    func wait(until deadline: timespec) -> Bool {
        var deadline = deadline
        return pthread_cond_timedwait(raw, mutex.raw, &deadline) != ETIMEDOUT
    }

    /// Wakes the waiter, if any.
    func signal() { pthread_cond_signal(raw) }
}

/// Frees large change records on a thread of its own (`ims-reclaim`): a record of a bulk load or a rule's
/// recalculation holds hundreds of thousands of items, and freeing it takes milliseconds that the thread
/// dropping it from the feed (the journal thread, with decisions waiting on it) would otherwise spend. A small
/// record is freed where it is dropped: handing it over would cost a wake-up per decision.
public enum ChangeRecordReclaimer {
    /// Records of at least this many items are freed on the reclaiming thread.
    public static let largeItems = 4_096

    private static let queue: BlockingQueue<ChangeRecord> = {
        let queue = BlockingQueue<ChangeRecord>()
        Thread.named("ims-reclaim") {
            while let taken = queue.take() {
                let count = taken.count
                free(taken)
                reclaimed.add(count, ordering: .relaxed)
                queue.done(cost: count)
            }
        }.start()
        return queue
    }()

    /// Large records handed to the reclaiming thread since the process started.
    public static let handedOver = Atomic<Int>(0)
    /// Of those, how many it has freed.
    public static let reclaimed = Atomic<Int>(0)

    @inline(never) private static func free(_ records: consuming [ChangeRecord]) {}

    /// Frees `record`: here if it is small, on the reclaiming thread if it is large.
    public static func release(_ record: consuming ChangeRecord) {
        guard record.itemCount >= largeItems else { return }
        handedOver.add(1, ordering: .relaxed)
        _ = queue.put(record, wait: false)
    }
}
