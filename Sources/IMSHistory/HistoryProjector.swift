import DequeModule
import Foundation
import IMSDomain
import IMSEngine
import IMSJournal
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Follows the engine's journal into the history store, never slowing the writer: its own replica of the
/// state (`HistoryProjection`) on a thread of its own, reading the journal files the writer has made durable,
/// and an async writer that commits the rows with the projector's offset in one transaction.
///
/// Between them is a buffer bounded by rows. While PostgreSQL is down (or slow) the writer retries every
/// second and the buffer fills; once full, the projection thread stops reading the journal: the projector
/// falls behind and says so (`status`, `/health`, `ims_history_lag_records`, and a `HISTORY_BEHIND`
/// exception the desk sees after `behindNoticeSeconds`). Nothing is lost: the journal holds every record,
/// and the rows not committed are rebuilt from it. After a restart the projector starts at the record its
/// offset names (the first of the open snapshot interval), from the newest snapshot before it and the
/// journal, and writes again what it wrote before that commit was made, which the store's keys ignore.
public final class HistoryProjector: Sendable {
    /// What the projector is doing, for `/health` and the metrics.
    public struct Status: Sendable, Codable, Hashable {
        /// `starting`, `catchingUp` (more than a second behind the journal), `following`, or `behind`
        /// (PostgreSQL refuses writes or the buffer is full).
        public var state: String = "starting"
        /// The last journal record whose rows are committed.
        public var committedRecord: UInt64 = 0
        /// The last journal record the projection applied.
        public var projectedRecord: UInt64 = 0
        /// The last record the engine made durable.
        public var journalRecord: UInt64 = 0
        /// Records of the journal whose rows are not committed yet.
        public var lagRecords: UInt64 = 0
        /// Seconds between receiving the last committed record and committing it (at the last commit).
        public var lagSeconds: Double = 0
        /// Rows projected and waiting to be written.
        public var bufferedRows: Int = 0
        public var rowsWritten: Int = 0
        public var transactions: Int = 0
        /// Writes (and start-up steps) PostgreSQL refused since the projector started.
        public var writeFailures: Int = 0
        /// The last error from PostgreSQL, while writes fail.
        public var databaseError: String?
        /// Where this run started projecting.
        public var startedAtRecord: UInt64 = 0
    }

    /// How the projector runs.
    public struct Options: Sendable {
        public var projection = HistoryProjection.Settings()
        /// The most rows buffered between the projection and the writer before the projection waits.
        public var maxBufferedRows = 200_000
        /// The most rows one transaction writes.
        public var maxRowsPerTransaction = 20_000
        /// Seconds PostgreSQL has to answer a write before it counts as failed and is retried.
        public var databaseTimeoutSeconds = 10.0
        /// The same for the start-up steps (the migration, the offset): longer, since a migration makes tables and
        /// indexes, and a deadline it cannot meet on a loaded machine would abandon it and retry for ever.
        public var startupTimeoutSeconds = 60.0
        /// Seconds of failing writes (or a full buffer) before a `HISTORY_BEHIND` exception is raised.
        public var behindNoticeSeconds = 30.0
        /// The projection thread's niceness (Linux): 10 gives ingest the cores first.
        public var niceness: Int32 = 10
        /// Day partitions older than this many days are dropped (0: kept); checked hourly.
        public var retentionDays = 0
        /// The same for the decision and audit trail (locates, orders, exceptions, audit, rule steps).
        public var trailRetentionDays = 0

        public init() {}
    }

    private let store: PostgresHistoryStore
    private let source: any HistoryJournalSource
    private let catalog: MarketCatalog
    private let partitionCount: Int
    private let options: Options
    private let journalThrough: @Sendable () -> UInt64
    private let raise: @Sendable (Notice) -> Void
    private let logger: Logger
    private let shared = Mutex(Shared())
    private let room = NSCondition()
    private let lagHistogram = Mutex(LagSamples())

    private struct Shared {
        var status = Status()
        var queue: Deque<(rows: HistoryRows, lastEntryAt: Int64)> = []
        var stopped = false
        var behindSince: Date?
        var noticeRaised = false
    }

    /// A projector of the file journal in `dataDirectory` into `store`. `journalThrough` says the last record
    /// the engine has made durable and applied; `raise` journals a notice (the engine's `raise`).
    public convenience init(
        store: PostgresHistoryStore, dataDirectory: String, catalog: MarketCatalog, partitions: Int, options: Options,
        journalThrough: @escaping @Sendable () -> UInt64, raise: @escaping @Sendable (Notice) -> Void, logger: Logger
    ) {
        self.init(
            store: store, source: FileJournalSource(dataDirectory: dataDirectory), catalog: catalog, partitions: partitions, options: options,
            journalThrough: journalThrough, raise: raise, logger: logger)
    }

    /// A projector of the journal `source` reads (a file journal's, a Kafka topic's) into `store`.
    public init(
        store: PostgresHistoryStore, source: any HistoryJournalSource, catalog: MarketCatalog, partitions: Int, options: Options,
        journalThrough: @escaping @Sendable () -> UInt64, raise: @escaping @Sendable (Notice) -> Void, logger: Logger
    ) {
        self.store = store
        self.source = source
        self.catalog = catalog
        self.partitionCount = partitions
        self.options = options
        self.journalThrough = journalThrough
        self.raise = raise
        self.logger = logger
    }

    public var status: Status {
        shared.withLock { s in
            var out = s.status
            out.journalRecord = journalThrough()
            out.lagRecords = out.journalRecord > out.committedRecord ? out.journalRecord - out.committedRecord : 0
            return out
        }
    }

    /// Percentiles of the lag (receive to commit) over the last commits, in seconds.
    public func lagPercentiles() -> (p50: Double, p99: Double, max: Double, samples: Int) { lagHistogram.withLock { $0.percentiles() } }

    /// Migrates the schema, reads the offset and runs until the task is cancelled or `stop` is called: the
    /// projection on a thread of its own, the writes here.
    public func run() async throws {
        try await retrying("migrating the history schema") {
            try await withHistoryTimeout(seconds: self.options.startupTimeoutSeconds) { try await self.store.migrate() }
        }
        let offset = try await retrying("reading the projector's offset") {
            try await withHistoryTimeout(seconds: self.options.startupTimeoutSeconds) { try await self.store.offset() }
        }
        let (startState, follower) = try source.open(after: (offset?.resume ?? 1) - 1, catalog: catalog, partitions: partitionCount)
        let handOver = FollowerBox(follower)
        shared.withLock {
            $0.status.startedAtRecord = startState.appliedRecord + 1
            $0.status.committedRecord = offset?.last ?? startState.appliedRecord
            $0.status.projectedRecord = startState.appliedRecord
        }
        logger.info(
            "history projector starting",
            metadata: ["resumeRecord": "\(startState.appliedRecord + 1)", "committedRecord": "\(offset?.last ?? 0)"])
        let thread = Thread.named("ims-history") { [self] in
            #if canImport(Glibc)
                // Below ingest's priority (on Linux, who = 0 with PRIO_PROCESS names the calling thread only): a
                // saturated engine keeps its cores and the projector catches up when it leaves time.
                _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, options.niceness)
            #endif
            project(from: startState, following: handOver.follower)
        }
        thread.start()
        var lastRetention = Date.distantPast
        while !Task.isCancelled && !shared.withLock({ $0.stopped }) {
            if options.retentionDays > 0 || options.trailRetentionDays > 0, Date().timeIntervalSince(lastRetention) > 3600 {
                lastRetention = Date()
                if let dropped = try? await store.dropPartitions(olderThan: options.retentionDays, trailDays: options.trailRetentionDays),
                    !dropped.isEmpty
                {
                    logger.info("history partitions dropped by retention", metadata: ["partitions": "\(dropped.joined(separator: ", "))"])
                }
            }
            guard let (batch, lastEntryAt) = takeBatch() else {
                try? await Task.sleep(for: .milliseconds(20))
                continue
            }
            while true {
                do {
                    try await withHistoryTimeout(seconds: options.databaseTimeoutSeconds) { try await self.store.write(batch, lastEntryAt: lastEntryAt) }
                    committed(batch, lastEntryAt: lastEntryAt)
                    break
                } catch {
                    failed(error)
                    if Task.isCancelled || shared.withLock({ $0.stopped }) { break }
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
        stop()
    }

    /// Stops the projection thread (the writer stops with its task).
    public func stop() {
        shared.withLock { $0.stopped = true }
        room.lock()
        room.broadcast()
        room.unlock()
    }

    /// Retries `work` every second until it succeeds, saying why it waits.
    private func retrying<T: Sendable>(_ what: String, _ work: @Sendable () async throws -> T) async throws -> T {
        while true {
            do {
                return try await work()
            } catch {
                failed(error)
                logger.warning("history: \(what) failed; retrying in 1 s", metadata: ["error": "\(String(reflecting: error))"])
                try Task.checkCancellation()
                if shared.withLock({ $0.stopped }) { throw CancellationError() }
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// The projection thread: reads the journal as the engine makes it durable, and hands rows to the writer.
    private func project(from start: EngineState, following tail: any JournalFollower) {
        var projection = HistoryProjection(state: start, settings: options.projection)
        var lastHandOff = Date()
        while !shared.withLock({ $0.stopped }) {
            let limit = journalThrough()
            var read = 0
            do {
                read = try tail.read(through: limit) { number, entry in
                    projection.apply(entry, record: number)
                    return projection.pendingRows < options.maxRowsPerTransaction
                }
            } catch {
                logger.error("history projection stopped: the journal cannot be read", metadata: ["error": "\(error)"])
                shared.withLock {
                    $0.status.state = "failed"; $0.status.databaseError = "journal: \(error)"
                }
                return
            }
            let lastEntryAt = projection.state.lastEntryAt.micros
            shared.withLock { $0.status.projectedRecord = projection.state.appliedRecord }
            if projection.pendingRows >= options.maxRowsPerTransaction || (read > 0 && Date().timeIntervalSince(lastHandOff) > 0.1)
                || (read == 0 && projection.state.appliedRecord > shared.withLock { $0.status.committedRecord } && !hasQueued())
            {
                hand(projection.takeRows(), lastEntryAt: lastEntryAt)
                lastHandOff = Date()
            }
            if read == 0 { Thread.sleep(forTimeInterval: 0.01) }
        }
    }

    private func hasQueued() -> Bool { shared.withLock { !$0.queue.isEmpty } }

    /// Queues rows for the writer, waiting while the buffer is full.
    private func hand(_ rows: HistoryRows, lastEntryAt: Int64) {
        room.lock()
        defer { room.unlock() }
        while true {
            let full = shared.withLock { s -> Bool in
                if s.stopped { return false }
                if s.status.bufferedRows + rows.count > options.maxBufferedRows && !s.queue.isEmpty { return true }
                s.queue.append((rows, lastEntryAt))
                s.status.bufferedRows += rows.count
                return false
            }
            if !full { return }
            behind("the buffer of \(options.maxBufferedRows) rows is full")
            room.wait(until: Date().addingTimeInterval(0.5))
        }
    }

    /// The next rows to write: queued batches merged up to a transaction's size.
    private func takeBatch() -> (HistoryRows, Int64)? {
        shared.withLock { s -> (HistoryRows, Int64)? in
            guard var merged = s.queue.popFirst() else { return nil }
            while let next = s.queue.first, merged.rows.count + next.rows.count <= options.maxRowsPerTransaction {
                merged.rows.append(next.rows)
                merged.lastEntryAt = next.lastEntryAt
                s.queue.removeFirst()
            }
            return merged
        }
    }

    private func committed(_ rows: HistoryRows, lastEntryAt: Int64) {
        let lag = max(0, Date().timeIntervalSince1970 - Double(lastEntryAt) / 1_000_000)
        lagHistogram.withLock { $0.add(lag) }
        let recovered = shared.withLock { s -> Bool in
            s.status.committedRecord = rows.lastRecord
            s.status.bufferedRows -= rows.count
            s.status.rowsWritten += rows.count
            s.status.transactions += 1
            s.status.lagSeconds = lag
            s.status.databaseError = nil
            s.status.state = s.queue.count > 2 ? "catchingUp" : "following"
            let was = s.behindSince != nil
            s.behindSince = nil
            s.noticeRaised = false
            return was
        }
        if recovered { logger.info("history writes recovered", metadata: ["committedRecord": "\(rows.lastRecord)"]) }
        room.lock()
        room.broadcast()
        room.unlock()
    }

    private func failed(_ error: any Error) {
        let text = Self.describe(error)
        shared.withLock {
            $0.status.databaseError = text
            $0.status.writeFailures += 1
        }
        behind("PostgreSQL: \(text)")
    }

    /// Marks the projector behind; past `behindNoticeSeconds`, raises the exception once.
    private func behind(_ why: String) {
        let raiseNow = shared.withLock { s -> Bool in
            s.status.state = "behind"
            let since = s.behindSince ?? Date()
            s.behindSince = since
            guard !s.noticeRaised, Date().timeIntervalSince(since) >= options.behindNoticeSeconds else { return false }
            s.noticeRaised = true
            return true
        }
        if raiseNow {
            logger.error("history projector behind", metadata: ["why": "\(why)"])
            raise(
                Notice(
                    kind: .historyBehind,
                    message:
                        "the history store has not been written for \(Int(options.behindNoticeSeconds)) s (\(why)); it catches up from the journal by itself",
                    at: Timestamp(micros: Int64(Date().timeIntervalSince1970 * 1_000_000))))
        }
    }

    static func describe(_ error: any Error) -> String {
        let text = String(reflecting: error)
        return text.count > 300 ? String(text.prefix(300)) + "…" : text
    }
}

/// Runs `work`, throwing if it has not finished after `seconds` (and cancelling it): a pool that cannot
/// connect keeps a request waiting rather than failing it, and a query on a connection the server dropped
/// may never end. The caller is answered at the deadline without waiting for `work` to notice its
/// cancellation (a write abandoned so may still commit later: writes are idempotent, and the projector's
/// offset never moves back).
public func withHistoryTimeout<T: Sendable>(seconds: Double, _ work: @escaping @Sendable () async throws -> T) async throws -> T {
    let once = Once()
    return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        let task = Task {
            do {
                let value = try await work()
                if once.claim() { continuation.resume(returning: value) }
            } catch {
                if once.claim() { continuation.resume(throwing: error) }
            }
        }
        Task {
            try? await Task.sleep(for: .milliseconds(Int(seconds * 1_000)))
            if once.claim() {
                task.cancel()
                continuation.resume(throwing: HistoryError("PostgreSQL did not answer within \(seconds) s"))
            }
        }
    }
}

/// The journal follower handed from the task that opened it to the projection thread, which alone uses it.
private final class FollowerBox: @unchecked Sendable {
    let follower: any JournalFollower
    init(_ follower: any JournalFollower) { self.follower = follower }
}

/// Who answers first.
private final class Once: Sendable {
    private let done = Mutex(false)

    /// True for the first caller only.
    func claim() -> Bool {
        done.withLock { done in
            if done { return false }
            done = true
            return true
        }
    }
}

/// The last 4,096 lags, for percentiles.
struct LagSamples {
    private var samples: [Double] = []
    private var next = 0

    mutating func add(_ value: Double) {
        if samples.count < 4_096 {
            samples.append(value)
        } else {
            samples[next] = value
            next = (next + 1) % 4_096
        }
    }

    func percentiles() -> (p50: Double, p99: Double, max: Double, samples: Int) {
        guard !samples.isEmpty else { return (0, 0, 0, 0) }
        let sorted = samples.sorted()
        func at(_ q: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * q))] }
        return (at(0.5), at(0.99), sorted.last!, sorted.count)
    }
}

/// The store's connection pool and the projector, run together until the projector stops (at shutdown).
public struct HistoryService: Sendable {
    public let store: PostgresHistoryStore
    public let projector: HistoryProjector

    public init(store: PostgresHistoryStore, projector: HistoryProjector) {
        self.store = store
        self.projector = projector
    }

    /// Runs both; returns once the projector has stopped, closing the pool.
    public func run(logger: Logger) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await store.run() }
            do {
                try await projector.run()
            } catch is CancellationError {
            } catch {
                logger.error("the history projector stopped", metadata: ["error": "\(error)"])
            }
            group.cancelAll()
        }
    }
}
