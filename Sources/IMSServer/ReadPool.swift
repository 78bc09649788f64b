import DequeModule
import Foundation
import HTTPTypes
import Hummingbird
import IMSDomain
import IMSEngine
import IMSRuntime

#if canImport(Glibc)
    import Glibc
#endif

/// Where reads do their work: query pages and stream messages are built on a few threads that run at a
/// lower scheduling priority than ingest.
///
/// The read model already keeps readers off the writer's lock; on a machine whose cores ingest keeps busy,
/// readers would still take the CPU the writer, the journal and the ingest handlers need. Built here, a
/// reader's work only gets the time ingest leaves (`nice` 10 on Linux, per thread), so readers slow each
/// other, not the writer. At most `maxQueued` jobs wait; past that a request is answered 503.
///
/// Threads start when work comes, at most `threads`, and each ends after `idleSeconds` without work: a pool
/// with nothing to do holds no thread, so nothing of it outlives the server that used it.
///
/// **Long reads** (rule previews, aggregates over every security: seconds, not microseconds) have a lane of
/// their own: at most `maxLongRunning` run at once, so the other threads stay free for stream deliveries
/// and pages; after each the lane rests so that long reads take at most `longShare` of one thread's time
/// (a tenth: measured, docs/benchmarks.md); and at most `maxLongQueued` wait (503 beyond). They compute on a copy of the read model
/// taken in an instant (`ReadModelStore.current()`), never holding its lock, so the read model's thread
/// (and every answer waiting for it, ingest's included) never waits for them.
///
/// The one worker pool of the server: `asOf` replays (`History`) run on a pool of their own made by the
/// same type. `@unchecked Sendable`: every stored `var` is read and written with `condition` held.
final class ReadPool: @unchecked Sendable {
    private let condition = NSCondition()
    /// Stream deliveries go first: a subscriber waiting for its next delta is what "latency" means to a desk.
    private var streamJobs: Deque<() -> Void> = []
    private var queryJobs: Deque<() -> Void> = []
    private var longJobs: Deque<() -> Void> = []
    private var longRunning = 0
    /// When the next long read may start (monotonic nanoseconds): after one that took `d`, the lane rests
    /// `d × (1 / longShare − 1)`, so long reads take at most `longShare` of one thread's time.
    private var longNotBefore: UInt64 = 0
    let longShare: Double
    let maxLongRunning: Int
    let maxLongQueued: Int
    private var workers = 0
    private var idleWorkers = 0
    let maxQueued: Int
    let threads: Int
    let niceness: Int32
    let idleSeconds: Double
    /// Its threads' name (`<name>-<n>`) and stack size (nil: the platform's).
    let name: String
    let stackSize: Int?

    /// The pool every route and stream of the process shares.
    static let shared = ReadPool()

    init(
        threads: Int = 2, niceness: Int32 = 10, maxQueued: Int = 512, maxLongRunning: Int = 1, maxLongQueued: Int = 8,
        longShare: Double = 0.1, idleSeconds: Double = 5, name: String = "ims-read", stackSize: Int? = nil
    ) {
        self.name = name
        self.stackSize = stackSize
        self.maxQueued = maxQueued
        self.longShare = min(1, max(0.01, longShare))
        self.maxLongRunning = maxLongRunning
        self.maxLongQueued = maxLongQueued
        self.threads = threads
        self.niceness = niceness
        self.idleSeconds = idleSeconds
    }

    /// Long reads waiting for their lane (for tests).
    var waitingLongReads: Int {
        condition.lock(); defer { condition.unlock() }
        return longJobs.count
    }

    /// The threads running now (for tests).
    var liveThreads: Int {
        condition.lock(); defer { condition.unlock() }
        return workers
    }

    /// Called with the lock held, after a job was queued: starts a thread if more jobs wait than threads idle and fewer than
    /// `threads` run.
    private func startWorkerIfNeeded() {
        // A long read resting for its share still needs a thread to wait for it.
        guard runnable > idleWorkers || (workers == 0 && !longJobs.isEmpty), workers < threads else { return }
        workers += 1
        let thread = Thread.named("\(name)-\(workers)") { [self] in
            #if canImport(Glibc)
                // On Linux, who = 0 with PRIO_PROCESS names the calling thread only.
                _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
            #endif
            while let job = next() { job() }
        }
        if let stackSize { thread.stackSize = stackSize }
        thread.start()
    }

    /// Jobs a thread may take now (with the lock held): long reads count only while their lane has room.
    private var runnable: Int {
        streamJobs.count + queryJobs.count + (longReadMayStart ? min(longJobs.count, maxLongRunning - longRunning) : 0)
    }

    private var longReadMayStart: Bool {
        longRunning < maxLongRunning && DispatchTime.now().uptimeNanoseconds >= longNotBefore
    }

    /// The next job, or nil (and the calling thread ends) when none came for `idleSeconds`.
    private func next() -> (() -> Void)? {
        condition.lock(); defer { condition.unlock() }
        while runnable == 0 {
            idleWorkers += 1
            // A long read waiting for its lane's rest: wake when the rest ends.
            let resting = !longJobs.isEmpty && longRunning < maxLongRunning
            let wait = resting ? max(0.001, Double(longNotBefore &- min(longNotBefore, DispatchTime.now().uptimeNanoseconds)) / 1e9) : idleSeconds
            let signalled = condition.wait(until: Date().addingTimeInterval(wait))
            idleWorkers -= 1
            if !signalled && runnable == 0 && longJobs.isEmpty {
                workers -= 1
                return nil
            }
        }
        if !streamJobs.isEmpty { return streamJobs.removeFirst() }
        if !queryJobs.isEmpty { return queryJobs.removeFirst() }
        longRunning += 1
        let job = longJobs.removeFirst()
        return { [self] in
            let start = DispatchTime.now().uptimeNanoseconds
            job()
            let end = DispatchTime.now().uptimeNanoseconds
            condition.lock()
            longRunning -= 1
            longNotBefore = end + UInt64(Double(end - start) * (1 / longShare - 1))
            startWorkerIfNeeded()
            condition.broadcast()
            condition.unlock()
        }
    }

    /// Runs `body` on the pool and returns its result; throws `ReadPoolBusy` when too many jobs wait.
    /// What a job is for: stream messages run before queries.
    enum Lane { case stream, query, long }

    func run<T: Sendable>(_ lane: Lane = .query, _ body: @escaping @Sendable () -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            condition.lock()
            let full = lane == .long ? longJobs.count >= maxLongQueued : streamJobs.count + queryJobs.count >= maxQueued
            guard !full else {
                condition.unlock()
                continuation.resume(throwing: ReadPoolBusy(long: lane == .long))
                return
            }
            let job = { continuation.resume(returning: body()) }
            switch lane {
            case .stream: streamJobs.append(job)
            case .query: queryJobs.append(job)
            case .long: longJobs.append(job)
            }
            startWorkerIfNeeded()
            condition.signal()
            condition.unlock()
        }
    }
}

/// Too many reads are waiting: answered 503, retry shortly.
struct ReadPoolBusy: HTTPResponseError, CustomStringConvertible {
    var long = false
    var description: String {
        long ? "too many long reads (rule previews, aggregates) are waiting; retry shortly" : "too many reads are waiting; retry shortly"
    }

    var status: HTTPResponse.Status { .serviceUnavailable }

    /// 503 with `Retry-After`.
    var response: Response { APIError(status, description, retryAfter: long ? 5 : 1).response }

    func response(from request: Request, context: some RequestContext) throws -> Response { response }
}

extension ReadPool {
    /// Runs a long read on a copy of the read model taken now, in the long-read lane; answers 503 when
    /// that lane is full.
    func long(_ store: ReadModelStore, _ body: @escaping @Sendable (ReadModel) -> Response) async -> Response {
        do {
            return try await run(.long) { body(store.current()) }
        } catch let busy as ReadPoolBusy {
            return busy.response
        } catch {
            return APIError(.serviceUnavailable, "\(error)", retryAfter: 1).response
        }
    }
}
