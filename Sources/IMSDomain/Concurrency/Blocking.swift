import DequeModule
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

// The blocking hand-overs between IMS's own threads (the journal, the writer, the journal reader, the read
// pool), written once. IMS keeps these threads out of Swift concurrency on purpose: the writer and the
// journal must never wait behind the cooperative pool's tasks, and a blocked `fdatasync` must not hold one
// of its threads (docs/architecture.md, "Threads"). Async code reaches them through continuations.

/// A queue between threads: producers `put`, one consumer `take`s everything queued at once (a drain),
/// waiting when there is nothing. It is bounded by a cost (the events a batch carries, or one per item):
/// a producer waits (or is refused) while what is queued and what was taken but not yet `done` would pass
/// the capacity, and is always admitted when nothing is held, however large its item.
///
/// `@unchecked Sendable`: every stored property is read and written with `condition` held, which the
/// compiler cannot see; nothing escapes the lock.
public final class BlockingQueue<Element>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items = Deque<Element>()
    private var queuedCost = 0
    private var inFlightCost = 0
    private var closed = false
    private let capacity: Int
    private let cost: (Element) -> Int

    /// A queue holding at most `capacity` of `cost` (queued, plus taken and not yet `done`).
    public init(capacity: Int = .max, cost: @escaping (Element) -> Int = { _ in 1 }) {
        self.capacity = capacity
        self.cost = cost
    }

    /// The cost queued and in flight (taken, not yet `done`).
    public var pendingCost: Int {
        condition.lock(); defer { condition.unlock() }
        return queuedCost + inFlightCost
    }

    /// Queues `item`, waiting for room when `wait` (else refusing at once). False once the queue is closed.
    @discardableResult
    public func put(_ item: Element, wait: Bool = true) -> Bool {
        let c = cost(item)
        condition.lock()
        while !closed && queuedCost + inFlightCost > 0 && queuedCost + inFlightCost + c > capacity {
            if !wait {
                condition.unlock()
                return false
            }
            condition.wait()
        }
        if closed {
            condition.unlock()
            return false
        }
        items.append(item)
        queuedCost += c
        condition.unlock()
        // After unlocking: the consumer woken does not then block on the lock this thread still holds.
        condition.broadcast()
        return true
    }

    /// Queues items a bounded stage before this one already admitted: never waits, and is taken even after
    /// `close` (the consumer drains them before it is told the queue ended).
    public func pass(_ more: some Sequence<Element>) {
        condition.lock()
        for item in more {
            items.append(item)
            queuedCost += cost(item)
        }
        condition.unlock()
        condition.broadcast()
    }

    /// The oldest items up to `maxCost` (at least one), waiting until there is one; nil once the queue is
    /// closed and empty. Their cost stays held until `done(cost:)`.
    public func take(maxCost: Int = .max) -> [Element]? {
        condition.lock(); defer { condition.unlock() }
        while items.isEmpty && !closed { condition.wait() }
        if items.isEmpty { return nil }
        var out: [Element] = []
        var taken = 0
        while let first = items.first {
            let c = cost(first)
            guard out.isEmpty || taken + c <= maxCost else { break }
            taken += c
            out.append(items.removeFirst())
        }
        queuedCost -= taken
        inFlightCost += taken
        return out
    }

    /// `take`, but while nothing is queued it first runs `idle` (without the lock) for as long as `idle` returns
    /// true and nothing arrives: work that may wait for a quiet moment (the journal zero-fills ahead of its writes).
    public func take(maxCost: Int = .max, idle: () -> Bool) -> [Element]? {
        var more = true
        condition.lock()
        while items.isEmpty && !closed && more {
            condition.unlock()
            more = idle()
            condition.lock()
        }
        condition.unlock()
        return take(maxCost: maxCost)
    }

    /// Waits until something is queued, taking nothing (another thread may take it: `takeAvailable`); false once
    /// the queue is closed and empty.
    public func waitForItems() -> Bool {
        condition.lock(); defer { condition.unlock() }
        while items.isEmpty && !closed { condition.wait() }
        return !items.isEmpty
    }

    /// Everything queued now, without waiting (empty when nothing is). Its cost stays held until `done(cost:)`.
    public func takeAvailable() -> [Element] {
        condition.lock(); defer { condition.unlock() }
        guard !items.isEmpty else { return [] }
        let out = Array(items)
        let taken = out.reduce(0) { $0 + cost($1) }
        items.removeAll(keepingCapacity: true)
        queuedCost -= taken
        inFlightCost += taken
        return out
    }

    /// Releases `cost` of what was taken (the consumer, or a later stage, is done with it): producers waiting
    /// for room may go on.
    public func done(cost: Int) {
        guard cost != 0 else { return }
        condition.lock()
        inFlightCost -= cost
        condition.broadcast()
        condition.unlock()
    }

    /// Ends the queue: producers are refused from now on; the consumer takes what is queued, then nil.
    public func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// Ends the queue and drops what is queued (the consumer wants nothing more).
    public func cancel() {
        condition.lock()
        closed = true
        items.removeAll()
        queuedCost = 0
        condition.broadcast()
        condition.unlock()
    }
}

/// A value one thread sets once and others wait for (a blocked thread's answer; a result computed on a
/// thread of its own while the caller does something else).
///
/// `@unchecked Sendable`: `value` is written once and read with `condition` held.
public final class BlockingFuture<Value>: @unchecked Sendable {
    private let condition = NSCondition()
    private var value: Value?

    /// A `BlockingFuture` from its fields.
    public init() {}

    /// Runs `work` on a thread named `name` and holds its result.
    public static func run<T>(on name: String, stackSize: Int? = nil, _ work: @escaping @Sendable () throws -> T) -> BlockingFuture<Result<T, any Error>>
    where Value == Result<T, any Error> {
        let future = BlockingFuture<Result<T, any Error>>()
        let thread = Thread.named(name) { future.fulfil(Result { try work() }) }
        if let stackSize { thread.stackSize = stackSize }
        thread.start()
        return future
    }

    /// Sets the value (the first call wins) and wakes the waiters.
    public func fulfil(_ v: Value) {
        condition.lock()
        if value == nil { value = v }
        condition.broadcast()
        condition.unlock()
    }

    /// The value, waiting for it.
    public func wait() -> Value {
        condition.lock(); defer { condition.unlock() }
        while value == nil { condition.wait() }
        return value!
    }
}

extension Thread {
    /// A thread (not started) that also names itself `name` where the operating system shows it (`top -H`,
    /// `perf`, `/proc/<pid>/task/*/comm`: the first 15 bytes), which Foundation's `name` alone does not do on
    /// Linux: there every thread showed as the dispatch queue that started it.
    public static func named(_ name: String, _ body: @escaping @Sendable () -> Void) -> Thread {
        let thread = Thread {
            #if canImport(Glibc)
                // At most 15 bytes, or the call fails: a longer name loses its "ims-", then its end.
                let short = name.utf8.count > 15 && name.hasPrefix("ims-") ? String(name.dropFirst(4)) : name
                // (`pthread_setname_np` is not imported from Glibc; the kernel's file for it is the same call.)
                let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
                if fd >= 0 {
                    let bytes = Array(short.utf8.prefix(15))
                    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                    close(fd)
                }
            #endif
            body()
        }
        thread.name = name
        return thread
    }
}
