import DequeModule
import Foundation
import IMSDomain
import IMSEngine
import IMSJournal
import Synchronization

/// Answers "as of" questions by rebuilding the state at an earlier journal point, off the event loop, on a
/// bounded pool of worker threads.
///
/// The rebuilt state of the last target asked is kept, so a client paging through positions as of one
/// point pays for the replay once; requests for a target already being rebuilt wait for that replay. At most
/// `workers` replays run at once and at most `maxQueued` wait; beyond that a request is refused at once
/// (`HistoryBusy`), so a burst of `asOf` queries cannot start a thread each.
final class History: Sendable {
    let dataDirectory: String
    let catalog: MarketCatalog
    let workers: Int
    let maxQueued: Int
    private let cached = Mutex<(target: ReplayTarget, state: EngineState)?>(nil)
    private let queue: JobQueue
    /// The most replays that ran at once (for tests and metrics).
    let peakConcurrentReplays = Atomic<Int>(0)
    private let running = Atomic<Int>(0)

    init(dataDirectory: String, catalog: MarketCatalog, workers: Int = 2, maxQueued: Int = 64) {
        self.dataDirectory = dataDirectory
        self.catalog = catalog
        self.workers = workers
        self.maxQueued = maxQueued
        queue = JobQueue()
    }

    /// The state at `target`, replayed by one of the pool's threads.
    func state(at target: ReplayTarget) async throws -> EngineState {
        if let hit = cached.withLock({ $0?.target == target ? $0?.state : nil }) { return hit }
        let result: Result<EngineState, any Error> = await withCheckedContinuation { continuation in
            let accepted = queue.add(target, continuation, limit: maxQueued) { [self] in startWorkerIfNeeded() }
            if !accepted { continuation.resume(returning: .failure(HistoryBusy(queued: maxQueued))) }
        }
        let state = try result.get()
        cached.withLock { $0 = (target, state) }
        return state
    }

    private func startWorkerIfNeeded() {
        guard queue.claimWorker(limit: workers) else { return }
        let thread = Thread { [self] in
            while let (target, waiters) = queue.next() {
                let now = running.add(1, ordering: .relaxed).newValue
                peakConcurrentReplays.max(now, ordering: .relaxed)
                let result = Result { try Replay.state(dataDirectory: dataDirectory, catalog: catalog, until: target) }
                running.subtract(1, ordering: .relaxed)
                for waiter in waiters { waiter.resume(returning: result) }
            }
        }
        thread.name = "ims-history"
        thread.stackSize = 8 << 20
        thread.start()
    }
}

/// Too many `asOf` replays are waiting: the request is refused rather than queued without bound.
struct HistoryBusy: Error, CustomStringConvertible {
    var queued: Int
    var description: String { "\(queued) as-of replays are already waiting; try again shortly" }
}

/// Replay jobs by target (requests for one target share a job), and how many workers run.
private final class JobQueue: @unchecked Sendable {
    typealias Waiter = CheckedContinuation<Result<EngineState, any Error>, Never>
    private let condition = NSCondition()
    private var jobs: Deque<(ReplayTarget, [Waiter])> = []
    private var workers = 0

    /// Queues a request; false when `limit` jobs already wait. `wake` runs after the job is queued.
    func add(_ target: ReplayTarget, _ waiter: Waiter, limit: Int, wake: () -> Void) -> Bool {
        condition.lock()
        if let i = jobs.firstIndex(where: { $0.0 == target }) {
            jobs[i].1.append(waiter)
        } else {
            guard jobs.count < limit else { condition.unlock(); return false }
            jobs.append((target, [waiter]))
        }
        condition.signal()
        condition.unlock()
        wake()
        return true
    }

    /// Whether a new worker may start (fewer than `limit` run and work waits).
    func claimWorker(limit: Int) -> Bool {
        condition.lock(); defer { condition.unlock() }
        guard workers < limit, !jobs.isEmpty else { return false }
        workers += 1
        return true
    }

    /// The next job; nil (and the worker ends) when none has come for a few seconds.
    func next() -> (ReplayTarget, [Waiter])? {
        condition.lock(); defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(5)
        while jobs.isEmpty {
            if !condition.wait(until: deadline) && jobs.isEmpty {
                workers -= 1
                return nil
            }
        }
        return jobs.removeFirst()
    }
}
