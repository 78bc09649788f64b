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
final class ReadPool: @unchecked Sendable {
    private let condition = NSCondition()
    /// Stream deliveries go first: a subscriber waiting for its next delta is what "latency" means to a desk.
    private var streamJobs: Deque<() -> Void> = []
    private var queryJobs: Deque<() -> Void> = []
    let maxQueued: Int

    /// The pool every route and stream of the process shares.
    static let shared = ReadPool()

    init(threads: Int = 2, niceness: Int32 = 10, maxQueued: Int = 512) {
        self.maxQueued = maxQueued
        for k in 0..<threads {
            let thread = Thread { [self] in
                #if canImport(Glibc)
                // On Linux, who = 0 with PRIO_PROCESS names the calling thread only.
                _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
                #endif
                while true {
                    condition.lock()
                    while streamJobs.isEmpty && queryJobs.isEmpty { condition.wait() }
                    let job = streamJobs.isEmpty ? queryJobs.removeFirst() : streamJobs.removeFirst()
                    condition.unlock()
                    job()
                }
            }
            thread.name = "ims-read-\(k)"
            thread.start()
        }
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
            condition.signal()
            condition.unlock()
        }
    }
}

/// Too many reads are waiting: answered 503, retry shortly.
struct ReadPoolBusy: Error, CustomStringConvertible {
    var description: String { "too many reads are waiting; retry shortly" }
}
