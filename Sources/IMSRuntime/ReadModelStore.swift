import Foundation
import IMSDomain
import IMSEngine
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The read model that REST, GraphQL and the streams share, kept up to date from the change feed.
///
/// One thread (`ims-read-model`) applies the feed's records as they come, holding the write side of a
/// reader-writer lock only while it applies them; any number of readers hold the read side at once. Neither
/// ever touches the engine writer's lock, so a query cannot slow ingest, and ingest slows a query only by the
/// time one group of records takes to apply. The lock prefers the writer, so a stream of readers cannot
/// starve it (readers coming after a waiting writer wait for it).
///
/// If the thread ever falls off the feed (it was dropped records: `ChangeFeed.Read.lagged`), it rebuilds the
/// model from the engine state, under the writer's lock once, and carries on from there.
///
/// `@unchecked Sendable`: the model is read and written only under the `pthread_rwlock` (which the
/// compiler cannot see); the counters are atomics.
public final class ReadModelStore: @unchecked Sendable {
    /// The model, at a fixed address: readers borrow it in place (a stored property would be copied out,
    /// retaining every one of its arrays, on each read).
    private let model: UnsafeMutablePointer<ReadModel>
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>
    /// The feed cursor the store reads with; a consumer that must see only what the store has applied
    /// follows it (`ChangeFeed.cursor(named:after:)`).
    public private(set) var cursor: ChangeFeed.Cursor?
    private let resyncCount = Atomic<Int>(0)
    private let applyNanos = Atomic<UInt64>(0)
    private let stopped = DispatchSemaphore(value: 0)
    /// Told each feed sequence the model shows (set once by `follow`).
    private var applied: @Sendable (UInt64) -> Void = { _ in }

    /// A `ReadModelStore` from its fields.
    public init(_ model: ReadModel) {
        self.model = .allocate(capacity: 1)
        self.model.initialize(to: model)
        lock = .allocate(capacity: 1)
        var attributes = pthread_rwlockattr_t()
        pthread_rwlockattr_init(&attributes)
        #if canImport(Glibc)
            pthread_rwlockattr_setkind_np(&attributes, Int32(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP))
        #endif
        pthread_rwlock_init(lock, &attributes)
        pthread_rwlockattr_destroy(&attributes)
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
        model.deinitialize(count: 1)
        model.deallocate()
    }

    /// Runs `body` with the read model as it is now; many readers may run at once.
    public func read<T>(_ body: (borrowing ReadModel) throws -> T) rethrows -> T {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try Self.lend(&model.pointee, to: body)
    }

    /// Lends the model to `body` without copying it. `body(model.pointee)` copies the whole model first (the
    /// compiler cannot borrow a value out of memory it does not own exclusively), which retains and then releases
    /// every table of it: on this machine's shared caches, dozens of cold cache lines on every read. An `inout`
    /// parameter is memory the compiler may borrow from. Nothing is written through it: readers only ever read,
    /// under the read lock.
    private static func lend<T>(_ model: inout ReadModel, to body: (borrowing ReadModel) throws -> T) rethrows -> T {
        try body(model)
    }

    /// A copy of the read model as it is now, for a long read: the lock is held only while it is copied
    /// (copy-on-write: every table is shared until this store next changes it, and is then copied once).
    /// So a long read never holds up the thread that applies the feed, nor the readers queued behind it.
    public func current() -> ReadModel {
        read { model in copy model }
    }

    /// Time spent applying records (holding the write lock), in nanoseconds.
    public var applyNanoseconds: UInt64 { applyNanos.load(ordering: .relaxed) }

    /// Times the store fell off the feed and rebuilt from the state.
    public var resynchronisations: Int { resyncCount.load(ordering: .relaxed) }

    /// Starts the thread that applies `feed`'s records; `resynchronise` gives a fresh model and the feed
    /// sequence it reflects.
    /// `applied` is called with each feed sequence once the model shows it.
    func follow(
        _ feed: ChangeFeed, resynchronise: @escaping @Sendable () -> (ReadModel, UInt64),
        applied: @escaping @Sendable (UInt64) -> Void
    ) {
        let cursor = feed.cursor(named: "read-model")
        self.cursor = cursor
        self.applied = applied
        cursor.consume(
            on: "ims-read-model",
            { [self] read in
                switch read {
                case .records(let records):
                    apply(records)
                case .lagged:
                    let (fresh, sequence) = resynchronise()
                    write {
                        $0 = fresh
                        $0.rebuilt(through: sequence)
                    }
                    cursor.reset(after: sequence)
                    resyncCount.add(1, ordering: .relaxed)
                    applied(sequence)
                case .timedOut, .closed:
                    break
                }
                return true
            }, closed: { [self] in stopped.signal() })
    }

    /// Applies a record the publisher claimed for this store's cursor (`ChangeFeed.publish(_:claimingFor:)`),
    /// on the publisher's thread: the same steps as the follower's, without waking it.
    func applyClaimed(_ record: ChangeRecord) {
        apply([record])
    }

    /// Applies records handed to this store's cursor, finishes them, then answers through the last.
    private func apply(_ records: [ChangeRecord]) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        write { model in for r in records { model.apply(r) } }
        applyNanos.add(DispatchTime.now().uptimeNanoseconds - t0, ordering: .relaxed)
        // Answers wait for this: the records are finished first, so the hub sees them no later.
        cursor?.finish()
        if let last = records.last { applied(last.feedSequence) }
    }

    /// Waits for the thread to end (after the feed is closed and drained).
    func waitUntilStopped() {
        stopped.wait()
        stopped.signal()
    }

    private func write(_ body: (inout ReadModel) -> Void) {
        pthread_rwlock_wrlock(lock)
        body(&model.pointee)
        pthread_rwlock_unlock(lock)
    }

}
