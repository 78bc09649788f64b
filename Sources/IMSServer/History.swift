import DequeModule
import Foundation
import Hummingbird
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
    /// Rebuilds the state at a target from the journal, whichever it is (a file journal's segments, a Kafka
    /// topic).
    let rebuild: @Sendable (ReplayTarget) throws -> EngineState
    let workers: Int
    let maxQueued: Int
    private let cached = Mutex<(target: ReplayTarget, state: EngineState)?>(nil)
    /// The replays queued or running, by target: a request for one of them waits for it.
    private let inFlight = Mutex<[ReplayTarget: Task<EngineState, any Error>]>([:])
    /// The threads replays run on: a pool of their own (at normal priority, with room for deep stacks),
    /// so replays never take the read pool's threads from pages and streams.
    private let pool: ReadPool
    /// The most replays that ran at once (for tests and metrics).
    let peakConcurrentReplays = Atomic<Int>(0)
    private let running = Atomic<Int>(0)

    /// A history over the file journal of `dataDirectory`.
    convenience init(dataDirectory: String, catalog: MarketCatalog, workers: Int = 2, maxQueued: Int = 64) {
        self.init(workers: workers, maxQueued: maxQueued) { target in
            try Replay.state(dataDirectory: dataDirectory, catalog: catalog, until: target)
        }
    }

    /// A history that rebuilds with `rebuild`.
    init(workers: Int = 2, maxQueued: Int = 64, rebuild: @escaping @Sendable (ReplayTarget) throws -> EngineState) {
        self.rebuild = rebuild
        self.workers = workers
        self.maxQueued = maxQueued
        pool = ReadPool(threads: workers, niceness: 0, maxQueued: maxQueued, name: "ims-history", stackSize: 8 << 20)
    }

    /// The state at `target`, replayed by one of the pool's threads.
    func state(at target: ReplayTarget) async throws -> EngineState {
        if let hit = cached.withLock({ $0?.target == target ? $0?.state : nil }) { return hit }
        let task = inFlight.withLock { tasks in
            if let running = tasks[target] { return running }
            let task = Task { [self] in try await replay(target) }
            tasks[target] = task
            return task
        }
        defer { inFlight.withLock { if $0[target] == task { $0[target] = nil } } }
        let state = try await task.value
        cached.withLock { $0 = (target, state) }
        return state
    }

    private func replay(_ target: ReplayTarget) async throws -> EngineState {
        let result: Result<EngineState, any Error>
        do {
            result = try await pool.run(.query) { [self] in
                let now = running.add(1, ordering: .relaxed).newValue
                peakConcurrentReplays.max(now, ordering: .relaxed)
                defer { running.subtract(1, ordering: .relaxed) }
                return Result { try rebuild(target) }
            }
        } catch is ReadPoolBusy {
            throw HistoryBusy(queued: maxQueued)
        }
        return try result.get()
    }
}

/// Too many `asOf` replays are waiting: the request is refused rather than queued without bound.
struct HistoryBusy: HTTPResponseError, CustomStringConvertible {
    var queued: Int
    var description: String { "\(queued) as-of replays are already waiting; try again shortly" }
    var status: HTTPResponse.Status { .serviceUnavailable }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        APIError(status, description, field: "asOf", retryAfter: 1).response
    }
}
