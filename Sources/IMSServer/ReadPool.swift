#if canImport(Glibc)
import Glibc
#endif
import DequeModule
import Foundation

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
final class ReadPool: @unchecked Sendable {
    private let condition = NSCondition()
    /// Stream deliveries go first: a subscriber waiting for its next delta is what "latency" means to a desk.
    private var streamJobs: Deque<() -> Void> = []
    private var queryJobs: Deque<() -> Void> = []
    private var workers = 0
    private var idleWorkers = 0
    let maxQueued: Int
    let threads: Int
    let niceness: Int32
    let idleSeconds: Double

    /// The pool every route and stream of the process shares.
    static let shared = ReadPool()

    init(threads: Int = 2, niceness: Int32 = 10, maxQueued: Int = 512, idleSeconds: Double = 5) {
        self.maxQueued = maxQueued
        self.threads = threads
        self.niceness = niceness
        self.idleSeconds = idleSeconds
    }

    /// The threads running now (for tests).
    var liveThreads: Int {
        condition.lock(); defer { condition.unlock() }
        return workers
    }

    /// Called with the lock held, after a job was queued: starts a thread if more jobs wait than threads idle and fewer than
    /// `threads` run.
    private func startWorkerIfNeeded() {
        guard streamJobs.count + queryJobs.count > idleWorkers, workers < threads else { return }
        workers += 1
        let thread = Thread { [self] in
            #if canImport(Glibc)
            // On Linux, who = 0 with PRIO_PROCESS names the calling thread only.
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
            #endif
            while let job = next() { job() }
        }
        thread.name = "ims-read-\(workers)"
        thread.start()
    }

    /// The next job, or nil (and the calling thread ends) when none came for `idleSeconds`.
    private func next() -> (() -> Void)? {
        condition.lock(); defer { condition.unlock() }
        while streamJobs.isEmpty && queryJobs.isEmpty {
            idleWorkers += 1
            let signalled = condition.wait(until: Date().addingTimeInterval(idleSeconds))
            idleWorkers -= 1
            if !signalled && streamJobs.isEmpty && queryJobs.isEmpty {
                workers -= 1
                return nil
            }
        }
        return streamJobs.isEmpty ? queryJobs.removeFirst() : streamJobs.removeFirst()
    }

    /// Runs `body` on the pool and returns its result; throws `ReadPoolBusy` when too many jobs wait.
    /// What a job is for: stream messages run before queries.
    enum Lane { case stream, query }

    func run<T: Sendable>(_ lane: Lane = .query, _ body: @escaping @Sendable () -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            condition.lock()
            guard streamJobs.count + queryJobs.count < maxQueued else {
                condition.unlock()
                continuation.resume(throwing: ReadPoolBusy())
                return
            }
            let job = { continuation.resume(returning: body()) }
            if lane == .stream { streamJobs.append(job) } else { queryJobs.append(job) }
            startWorkerIfNeeded()
            condition.signal()
            condition.unlock()
        }
    }
}

/// Too many reads are waiting: answered 503, retry shortly.
struct ReadPoolBusy: Error, CustomStringConvertible {
    var description: String { "too many reads are waiting; retry shortly" }
}
