#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DequeModule
import Foundation
import IMSDomain
import Synchronization

/// The running engine: one writer thread that owns `EngineState` and applies batches in order.
///
/// Producers (HTTP handlers, the simulator, file loads) hand decoded batches
/// to `submit`; the writer drains everything queued, applies it under one
/// lock acquisition, and answers each producer. Readers take the same lock
/// briefly through `read`. The inbox is bounded: `submit` answers
/// `EngineError.overloaded` past `maxPendingEvents`, and the blocking
/// `submitAndWait` waits for room instead.
///
/// ```swift
/// let engine = Engine(state: EngineState())
/// let outcome = await engine.submit(batch)
/// let view = engine.read { $0.position(bookId: "B1", securityId: "S1") }
/// ```
public final class Engine: Sendable {
    private let state: Mutex<EngineState>
    private let inbox = Inbox()
    private let busyNanos = Atomic<UInt64>(0)
    /// The most events allowed to wait for the writer.
    public let maxPendingEvents: Int

    public init(state: consuming EngineState = EngineState(), maxPendingEvents: Int = 4_000_000) {
        self.state = Mutex(state)
        self.maxPendingEvents = maxPendingEvents
        let thread = Thread { [inbox, self] in
            _ = inbox
            self.runWriter()
        }
        thread.name = "ims-engine-writer"
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Applies a batch; answers once it is applied.
    public func submit(_ batch: IngestBatch) async throws(EngineError) -> BatchOutcome {
        let result: Result<BatchOutcome, EngineError> = await withCheckedContinuation { continuation in
            if !inbox.enqueue(batch, limit: maxPendingEvents, wait: false, completion: { continuation.resume(returning: .success($0)) }) {
                continuation.resume(returning: .failure(.overloaded))
            }
        }
        return try result.get()
    }

    /// Applies a batch from a thread that may block, waiting for room in the inbox.
    public func submitAndWait(_ batch: IngestBatch) throws(EngineError) -> BatchOutcome {
        let done = Completion()
        guard inbox.enqueue(batch, limit: maxPendingEvents, wait: true, completion: { done.fulfil($0) }) else {
            throw .stopped
        }
        return done.wait()
    }

    /// Queues a batch without waiting for its outcome (the simulator's fire-and-forget feed).
    public func enqueue(_ batch: IngestBatch, completion: @escaping @Sendable (BatchOutcome) -> Void = { _ in }) throws(EngineError) {
        guard inbox.enqueue(batch, limit: maxPendingEvents, wait: true, completion: completion) else { throw .stopped }
    }

    /// Runs `body` with the current state, holding the writer off while it runs.
    public func read<T>(_ body: (borrowing EngineState) throws -> T) rethrows -> T {
        try state.withLock { try body($0) }
    }

    /// Events queued and not yet applied.
    public var pendingEvents: Int { inbox.pendingEvents }

    /// Total time the writer has spent applying batches, in nanoseconds.
    public var writerBusyNanoseconds: UInt64 { busyNanos.load(ordering: .relaxed) }

    /// Stops the writer after it has applied what is queued.
    public func stop() { inbox.close() }

    private func runWriter() {
        while let work = inbox.takeAll() {
            var outcomes: [BatchOutcome] = []
            outcomes.reserveCapacity(work.count)
            let t0 = DispatchTime.now().uptimeNanoseconds
            state.withLock { state in
                for item in work { outcomes.append(state.process(item.batch)) }
            }
            busyNanos.add(DispatchTime.now().uptimeNanoseconds - t0, ordering: .relaxed)
            inbox.finished(events: work.reduce(0) { $0 + $1.batch.lineCount })
            for (item, outcome) in zip(work, outcomes) { item.completion(outcome) }
        }
    }
}

/// Why the engine did not take a batch.
public enum EngineError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Too many events are waiting; retry later (HTTP 503).
    case overloaded
    /// The engine has stopped.
    case stopped

    public var description: String {
        switch self {
        case .overloaded: "the engine's inbox is full; retry shortly"
        case .stopped: "the engine has stopped"
        }
    }
}

/// The writer's bounded queue of batches, with a condition variable to wake it.
private final class Inbox: @unchecked Sendable {
    struct Item {
        var batch: IngestBatch
        var completion: @Sendable (BatchOutcome) -> Void
    }

    private let condition = NSCondition()
    private var items: Deque<Item> = []
    private var queuedEvents = 0
    private var inFlightEvents = 0
    private var closed = false

    var pendingEvents: Int {
        condition.lock(); defer { condition.unlock() }
        return queuedEvents + inFlightEvents
    }

    func enqueue(_ batch: IngestBatch, limit: Int, wait: Bool, completion: @escaping @Sendable (BatchOutcome) -> Void) -> Bool {
        condition.lock(); defer { condition.unlock() }
        while !closed && queuedEvents + inFlightEvents > 0 && queuedEvents + inFlightEvents + batch.lineCount > limit {
            if !wait { return false }
            condition.wait()
        }
        if closed { return false }
        items.append(Item(batch: batch, completion: completion))
        queuedEvents += batch.lineCount
        condition.broadcast()
        return true
    }

    /// Everything queued, waiting until there is something; nil once closed and drained.
    func takeAll() -> [Item]? {
        condition.lock(); defer { condition.unlock() }
        while items.isEmpty && !closed { condition.wait() }
        if items.isEmpty { return nil }
        let work = Array(items)
        items.removeAll(keepingCapacity: true)
        inFlightEvents += queuedEvents
        queuedEvents = 0
        return work
    }

    func finished(events: Int) {
        condition.lock()
        inFlightEvents -= events
        condition.broadcast()
        condition.unlock()
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}

/// A one-shot result a blocked thread waits for.
private final class Completion: @unchecked Sendable {
    private let condition = NSCondition()
    private var outcome: BatchOutcome?

    func fulfil(_ value: BatchOutcome) {
        condition.lock()
        outcome = value
        condition.broadcast()
        condition.unlock()
    }

    func wait() -> BatchOutcome {
        condition.lock(); defer { condition.unlock() }
        while outcome == nil { condition.wait() }
        return outcome!
    }
}
