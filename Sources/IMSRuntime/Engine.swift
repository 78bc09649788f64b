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

/// The running engine: a journal stage that makes batches durable, then one writer thread that
/// owns `EngineState` and applies them in journal order (its partitions working in parallel within a batch).
///
/// Producers (HTTP handlers, the simulator, file loads) hand decoded batches
/// to `submit`. With a journal, a journal thread drains what is queued (up to
/// `maxGroupCommitEvents`), appends it in one group commit and passes it on; the writer applies it
/// under one lock acquisition and answers each producer, so an answer means
/// durable and applied. Without a journal (benchmarks, tests) the writer takes
/// batches directly. Readers take the state lock briefly through `read`. The
/// inbox is bounded: `submit` answers `EngineError.overloaded` past
/// `maxPendingEvents`, and the blocking `submitAndWait` waits for room instead.
///
/// ```swift
/// let engine = Engine(state: EngineState())
/// let outcome = try await engine.submit(batch)
/// let view = engine.read { $0.position(bookId: "B1", securityId: "S1") }
/// ```
public final class Engine: Sendable {
    /// Called with each batch's outcome, or why it was not applied.
    public typealias Completion = @Sendable (Result<BatchOutcome, EngineError>) -> Void

    private let state: Mutex<EngineState>
    /// Batches waiting for the journal (or, without one, the writer), bounded by the events they carry:
    /// their cost stays held until the writer has applied them (`done`), so `maxPendingEvents` bounds
    /// everything between a producer and the state.
    private let inbox: BlockingQueue<Work>
    /// Journaled entries on their way to the writer: unbounded and costless (the inbox already counts their
    /// events until they are applied).
    private let applyQueue = BlockingQueue<Work>(cost: { _ in 0 })
    private let journal: (any EngineJournal)?
    private let snapshots: (any SnapshotSink)?
    private let snapshotEveryEvents: Int
    private let busyNanos = Atomic<UInt64>(0)
    private let captureNanos = Atomic<UInt64>(0)
    private let journalHealth = Mutex(JournalHealth.healthy)
    private let stopped = DispatchSemaphore(value: 0)
    private let answers = Answers()
    private let observer = Mutex<(any EngineObserver)?>(nil)
    private let journaled = Atomic<UInt64>(0)
    /// Events of entries from another node's journal (`applyJournaled`) not yet applied.
    private let replicatedEvents = Atomic<Int>(0)
    /// Every drain's changes, with their values (see `ChangeFeed`).
    public let feed: ChangeFeed
    /// Where submitted batches spend their time, stage by stage (`ims_request_stage_seconds`).
    public let stageTimes = StageTimes()
    /// What queries read: kept up to date from the feed on its own thread, never under the writer's lock.
    public let readModel: ReadModelStore
    /// The most events allowed to wait for the writer.
    public let maxPendingEvents: Int
    /// The most events one group commit takes, so that the writer applies one group while the next is written.
    static let maxGroupCommitEvents = 50_000
    /// A group of at most this many events is applied by the journal thread itself when the writer is idle.
    static let inlineApplyEvents = 256
    /// Held by whichever thread is applying a drain (the writer, or the journal thread applying a small group).
    private let draining = NSLock()
    /// Events applied since the last snapshot (changed only under `draining`, or by the writer alone).
    private let eventsSinceSnapshot = Atomic<Int>(0)

    /// - Parameters:
    ///   - journal: where batches are made durable before they are applied; nil for a memory-only engine.
    ///   - snapshots: where copies of the state go every `snapshotEveryEvents` events and at `shutdown`.
    ///   - feedRecords: the most change records the feed keeps for a consumer that falls behind.
    public init(
        state: consuming EngineState = EngineState(), journal: (any EngineJournal)? = nil,
        snapshots: (any SnapshotSink)? = nil, snapshotEveryEvents: Int = 5_000_000, maxPendingEvents: Int = 4_000_000,
        feedRecords: Int = 4_096
    ) {
        var initial = state
        initial.discardChanges()
        inbox = BlockingQueue(capacity: maxPendingEvents) { $0.lineCount }
        feed = ChangeFeed(capacity: feedRecords)
        readModel = ReadModelStore(ReadModel(initial))
        self.state = Mutex(initial)
        self.journal = journal
        self.snapshots = snapshots
        self.snapshotEveryEvents = snapshotEveryEvents
        self.maxPendingEvents = maxPendingEvents
        if journal != nil {
            let journalThread = Thread.named("ims-journal") { [self] in self.runJournal() }
            journalThread.start()
        }
        readModel.follow(
            feed, resynchronise: { [unowned self] in self.read { (ReadModel($0), self.feed.lastPublished) } },
            applied: { [answers] in answers.answer(through: $0) })
        let thread = Thread.named("ims-engine-writer") { [self] in self.runWriter() }
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Applies a batch; answers once it is durable and applied.
    public func submit(_ batch: IngestBatch) async throws(EngineError) -> BatchOutcome {
        let result: Result<BatchOutcome, EngineError> = await withCheckedContinuation { continuation in
            if let refused = submit(batch, completion: { continuation.resume(returning: $0) }) { continuation.resume(returning: .failure(refused)) }
        }
        return try result.get()
    }

    /// Queues a batch without waiting for room or for its outcome: `completion` gets the outcome once the batch
    /// is durable, applied and visible in the read model (called on an engine thread: it must return at once).
    /// Returns why the batch was not taken (the inbox is full, or the engine stopped), and then never calls
    /// `completion`. The decision channel submits each frame so, in the order received.
    public func submit(_ batch: IngestBatch, completion: @escaping Completion) -> EngineError? {
        inbox.put(Work(batch, completion: completion), wait: false) ? nil : .overloaded
    }

    /// Journals an operational notice and applies it (it raises an exception the desk sees), after what is
    /// queued; false if the engine has stopped.
    @discardableResult
    public func raise(_ notice: Notice) -> Bool {
        inbox.put(Work(entry: .notice(notice), record: 0, completion: { _ in }), wait: false)
    }

    /// Applies a batch from a thread that may block, waiting for room in the inbox.
    public func submitAndWait(_ batch: IngestBatch) throws(EngineError) -> BatchOutcome {
        let done = BlockingFuture<Result<BatchOutcome, EngineError>>()
        guard inbox.put(Work(batch, completion: { done.fulfil($0) })) else {
            throw .stopped
        }
        return try done.wait().get()
    }

    /// Queues a batch without waiting for its outcome (the simulator's fire-and-forget feed).
    public func enqueue(_ batch: IngestBatch, completion: @escaping Completion = { _ in }) throws(EngineError) {
        guard inbox.put(Work(batch, completion: completion)) else { throw .stopped }
    }

    /// Applies an entry another node journaled (a standby following the leader's log), in the order given,
    /// after everything already queued; `completion` runs once the read model shows it. Needs a journal (the
    /// writer then takes its work journaled); nothing is journaled here.
    public func applyJournaled(_ entry: JournalEntry, record: UInt64, completion: @escaping Completion = { _ in }) {
        precondition(journal != nil, "applyJournaled needs an engine with a journal")
        var work = Work(entry: entry, record: record, completion: completion)
        work.replicated = true
        replicatedEvents.add(work.lineCount, ordering: .relaxed)
        applyQueue.pass([work])
    }

    /// Events handed to `applyJournaled` and not yet applied (what a follower bounds its reading by).
    public var replicatedPendingEvents: Int { replicatedEvents.load(ordering: .relaxed) }

    /// Runs `body` with the current state, holding the writer off while it runs.
    public func read<T>(_ body: (borrowing EngineState) throws -> T) rethrows -> T {
        try state.withLock { try body($0) }
    }

    /// Events queued and not yet applied.
    public var pendingEvents: Int { inbox.pendingCost }

    /// Total time the writer has spent applying batches, in nanoseconds.
    public var writerBusyNanoseconds: UInt64 { busyNanos.load(ordering: .relaxed) }

    /// Of `writerBusyNanoseconds`, the time spent taking each drain's change record for the feed.
    public var captureNanoseconds: UInt64 { captureNanos.load(ordering: .relaxed) }

    /// The last journal record made durable (0 before any, or without a journal).
    public var journaledRecord: UInt64 { journaled.load(ordering: .relaxed) }

    /// Sets what is told of each group commit and drain (metrics).
    public func observe(with observer: any EngineObserver) { self.observer.withLock { $0 = observer } }

    /// Whether the journal is taking writes, and the last failure if not.
    public var journalStatus: JournalHealth { journalHealth.withLock { $0 } }

    /// Stops taking batches, applies what is queued, then returns.
    public func stop() {
        inbox.close()
        stopped.wait()
        stopped.signal()
        feed.close()
        readModel.waitUntilStopped()
        answers.answer(through: .max)
    }

    /// Stops, then writes a final snapshot so the next start replays nothing.
    public func shutdown() throws {
        stop()
        if let snapshots { try snapshots.write(state.withLock { $0 }) }
    }

    private func runJournal() {
        guard let journal else { return }
        // While nothing waits, the journal prepares ahead (a chunk at a time, so a request arriving meanwhile waits
        // for one chunk at most).
        while let work = inbox.take(maxCost: Self.maxGroupCommitEvents, idle: { journal.prepareAhead() }) {
            let taken = StageTimes.now()
            var entries: [JournalEntry] = []
            entries.reserveCapacity(work.count + 1)
            let notice = journalHealth.withLock { $0.pendingNotice }
            if let notice { entries.append(.notice(notice)) }
            for item in work { entries.append(item.entry) }
            let events = work.reduce(0) { $0 + $1.lineCount }
            do {
                let j0 = DispatchTime.now().uptimeNanoseconds
                let first = try journal.append(entries)
                let nanoseconds = DispatchTime.now().uptimeNanoseconds - j0
                journaled.store(first + UInt64(entries.count) - 1, ordering: .relaxed)
                observer.withLock { $0 }?.journaled(entries: entries.count, events: events, nanoseconds: nanoseconds)
                if journalHealth.withLock({ $0.succeeded() }) { observer.withLock { $0 }?.journalRecovered() }
                var record = first
                var stamped: [Work] = []
                stamped.reserveCapacity(work.count + 1)
                if let notice {
                    stamped.append(Work(entry: .notice(notice), record: record, completion: { _ in }))
                    record += 1
                }
                let durable = StageTimes.now()
                for item in work {
                    var journaled = Work(entry: item.entry, record: record, completion: item.completion)
                    journaled.submitted = item.submitted
                    journaled.taken = taken
                    journaled.durable = durable
                    stamped.append(journaled)
                    record += 1
                }
                // A small group (a few decisions) is applied here when no drain is under way: one thread hand-over
                // fewer on a decision's path. A large one goes to the writer, which applies it while this thread
                // writes the next group.
                if events <= Self.inlineApplyEvents, draining.try() {
                    let earlier = applyQueue.takeAvailable()
                    if !earlier.isEmpty { drain(earlier) }
                    drain(stamped)
                    draining.unlock()
                } else {
                    applyQueue.pass(stamped)
                }
            } catch {
                journalHealth.withLock { $0.failed(error.message, batches: work.count, at: Timestamp(micros: Int64(Date().timeIntervalSince1970 * 1_000_000))) }
                observer.withLock { $0 }?.journalFailed(error.message, batches: work.count)
                inbox.done(cost: events)
                for item in work { item.completion(.failure(.journalUnavailable(error.message))) }
            }
        }
        applyQueue.close()
    }

    private func runWriter() {
        guard journal != nil else {
            while let work = inbox.take() { drain(work) }
            stopped.signal()
            return
        }
        // Whoever holds `draining` takes everything queued, in order: this thread, or the journal thread that
        // has just made a small group durable and applies it itself (`runJournal`). Waiting for work takes none
        // of it, so no drain can be overtaken by a later one.
        while applyQueue.waitForItems() {
            draining.withLock {
                let work = applyQueue.takeAvailable()
                if !work.isEmpty { drain(work) }
            }
        }
        stopped.signal()
    }

    /// Applies `work` (one drain) under the state's lock, publishes its changes, and queues its answers for when
    /// the read model shows them. The writer's, or the journal thread's while it holds `draining`.
    private func drain(_ work: [Work]) {
        var outcomes: [BatchOutcome?] = []
        outcomes.reserveCapacity(work.count)
        let t0 = DispatchTime.now().uptimeNanoseconds
        var snapshot: EngineState?
        var published: UInt64 = 0
        var claimed: ChangeRecord?
        var texts: ExceptionTexts?
        let events = work.reduce(0) { $0 + $1.lineCount }
        let replicated = work.reduce(0) { $0 + ($1.replicated ? $1.lineCount : 0) }
        state.withLock { state in
            let exceptionsFrom = state.nextExceptionIdentifier
            for item in work { outcomes.append(state.apply(item.entry, record: item.record)) }
            let earliest = work.map(\.entry.receivedAt).min() ?? Timestamp(micros: 0)
            let records = (work.first?.record ?? 0)...(work.last?.record ?? 0)
            // Published under the lock, so that the state seen by a reader of `read` reflects exactly the
            // records published so far (what a consumer that fell off the feed resynchronises from).
            let c0 = DispatchTime.now().uptimeNanoseconds
            // A small drain goes straight to the read model when its thread is idle and caught up: applied on
            // this thread below, so a decision's answer wakes no other thread on its way back.
            (published, claimed) = feed.publish(
                state.takeChangeRecord(
                    exceptionsFrom: exceptionsFrom, earliest: earliest, records: records,
                    results: outcomes.compactMap { $0 }),
                claimingFor: events <= Self.inlineApplyEvents ? readModel.cursor : nil)
            captureNanos.add(DispatchTime.now().uptimeNanoseconds - c0, ordering: .relaxed)
            texts = state.takeTextsToJournal()
            if snapshots != nil {
                let since = eventsSinceSnapshot.add(events, ordering: .relaxed).newValue
                if since >= snapshotEveryEvents {
                    eventsSinceSnapshot.store(0, ordering: .relaxed)
                    snapshot = state
                }
            }
        }
        let busy = DispatchTime.now().uptimeNanoseconds - t0
        busyNanos.add(busy, ordering: .relaxed)
        observer.withLock { $0 }?.applied(events: events, nanoseconds: busy)
        // The texts of lines refused in this drain follow their batches into the journal (before the
        // answers go, so a client that has its answer finds them journaled or queued to be).
        // Entries from another node's journal are followed by their texts in that journal.
        if let texts, journal != nil, work.contains(where: { !$0.replicated }) {
            inbox.pass([Work(entry: .lineTexts(texts), record: 0, completion: { _ in })])
        }
        // Events are counted in flight on the inbox until applied, whichever stage passed them on.
        inbox.done(cost: events - replicated)
        if replicated > 0 { replicatedEvents.subtract(replicated, ordering: .relaxed) }
        if let claimed { readModel.applyClaimed(claimed) }
        // Answered once the read model shows the drain (its thread calls `answer(through:)`), so that a
        // client that reads after its answer sees what it wrote.
        let applyStarted = t0, appliedAt = StageTimes.now(), stages = stageTimes
        answers.add(after: published) { [outcomes] in
            let answeredAt = StageTimes.now()
            for (item, outcome) in zip(work, outcomes) {
                if item.submitted > 0 {
                    var times: [(StageTimes.Stage, UInt64)] = [(.apply, appliedAt &- applyStarted), (.answer, answeredAt &- appliedAt)]
                    if item.durable > 0 {
                        times += [(.inbox, item.taken &- item.submitted), (.journal, item.durable &- item.taken), (.handoff, applyStarted &- item.durable)]
                    } else {
                        times.append((.inbox, applyStarted &- item.submitted))
                    }
                    stages.record(times)
                }
                item.completion(outcome.map { .success($0) } ?? .failure(.stopped))
            }
        }
        if let snapshot, let snapshots { snapshots.offer(snapshot) }
    }
}

/// The journal's health as the engine sees it: a state machine whose transitions say what the journal
/// thread must do (`JournalHealthTests`).
///
/// ```text
/// healthy ─append fails─▶ failing(since, lastError, refused) ─append fails─▶ failing(same since, refused + n)
///    ▲                                                              │
///    └──────────── append succeeds: the outage's notice is journaled first, then `recovered` ◀──┘
/// ```
public enum JournalHealth: Sendable, Hashable {
    case healthy
    /// Appends fail: ingest answers 503 meanwhile, and nothing is applied.
    case failing(since: Timestamp, lastError: String, refusedBatches: Int)

    /// True while appends fail.
    public var failing: Bool { if case .failing = self { true } else { false } }
    /// The last append's error while failing.
    public var lastError: String? { if case .failing(_, let error, _) = self { error } else { nil } }
    /// When the failures began.
    public var failingSince: Timestamp? { if case .failing(let since, _, _) = self { since } else { nil } }
    /// Batches refused since the failures began.
    public var refusedBatches: Int { if case .failing(_, _, let n) = self { n } else { 0 } }

    /// The notice to journal ahead of the next append while failing: when it succeeds, the journal says
    /// what the outage refused.
    var pendingNotice: Notice? {
        guard case .failing(let since, let error, let refused) = self else { return nil }
        return Notice(
            kind: .journalWriteFailed,
            message: "journal writes failed from \(since) (\(refused) batches refused with 503, none applied): \(error)", at: since)
    }

    /// An append of `batches` batches failed with `message` at `time`.
    mutating func failed(_ message: String, batches: Int, at time: Timestamp) {
        switch self {
        case .healthy: self = .failing(since: time, lastError: message, refusedBatches: batches)
        case .failing(let since, _, let refused): self = .failing(since: since, lastError: message, refusedBatches: refused + batches)
        }
    }

    /// An append succeeded (with the pending notice in it, if any). Returns whether the journal recovered
    /// (was failing): the observer is told.
    mutating func succeeded() -> Bool {
        defer { self = .healthy }
        return failing
    }
}

/// Told what the engine's threads did, a group or a drain at a time (never per event): how metrics see
/// the journal and the writer without touching the hot path. Called on those threads: return quickly.
public protocol EngineObserver: AnyObject, Sendable {
    /// The journal thread made `entries` entries (`events` events) durable in one group commit, taking
    /// `nanoseconds` to encode, write and sync them.
    func journaled(entries: Int, events: Int, nanoseconds: UInt64)
    /// The writer applied a drain of `events` events in `nanoseconds` (validation, apply and capture).
    func applied(events: Int, nanoseconds: UInt64)
    /// A group commit failed (disk full, I/O error): its `batches` were answered 503, nothing applied.
    func journalFailed(_ message: String, batches: Int)
    /// The journal wrote again after failures.
    func journalRecovered()
}

/// Why the engine did not take a batch.
public enum EngineError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Too many events are waiting; retry later (HTTP 503).
    case overloaded
    /// The engine has stopped.
    case stopped
    /// The journal cannot make batches durable (disk full, I/O error); nothing was applied (HTTP 503).
    case journalUnavailable(String)

    public var description: String {
        switch self {
        case .overloaded: "the engine's inbox is full; retry shortly"
        case .stopped: "the engine has stopped"
        case .journalUnavailable(let why): "the journal cannot make this batch durable, so it was not applied: \(why); retry shortly"
        }
    }
}

/// An entry on its way through the engine's stages: its journal record number once journaled, and who is
/// waiting for its outcome.
private struct Work {
    var entry: JournalEntry
    /// The journal record number, once journaled.
    var record: UInt64
    var completion: Engine.Completion
    /// Journaled by another node (`applyJournaled`): never in the inbox, never journaled here.
    var replicated = false
    /// When it was submitted, taken by the journal thread, and made durable (`StageTimes.now()`; 0: not timed).
    var submitted: UInt64 = 0
    var taken: UInt64 = 0
    var durable: UInt64 = 0

    init(entry: JournalEntry, record: UInt64, completion: @escaping Engine.Completion) {
        self.entry = entry
        self.record = record
        self.completion = completion
    }

    init(_ batch: IngestBatch, completion: @escaping Engine.Completion) {
        self.init(entry: .batch(batch), record: 0, completion: completion)
        submitted = StageTimes.now()
    }

    /// Events the entry carries (0 for notices and line texts).
    var lineCount: Int {
        if case .batch(let b) = entry { return b.lineCount }
        return 0
    }
}

/// Answers to batches, each waiting for the read model to apply the feed record of its drain.
private final class Answers: Sendable {
    private struct Queue {
        var waiting: Deque<(sequence: UInt64, run: @Sendable () -> Void)> = []
        /// The highest sequence the read model has applied.
        var applied: UInt64 = 0
    }
    private let queue = Mutex(Queue())

    /// Queues the answers of a drain published as `sequence`; runs them at once if the read model already
    /// shows it (it may apply the record before the writer gets here).
    func add(after sequence: UInt64, _ run: @escaping @Sendable () -> Void) {
        let now = queue.withLock { q -> Bool in
            if sequence <= q.applied && q.waiting.isEmpty { return true }
            q.waiting.append((sequence, run))
            return false
        }
        if now { run() } else { answer(through: 0) }
    }

    /// Runs the answers of every record up to `sequence` (and of any the model had already passed), in order.
    func answer(through sequence: UInt64) {
        let due = queue.withLock { q -> [@Sendable () -> Void] in
            q.applied = max(q.applied, sequence)
            var out: [@Sendable () -> Void] = []
            while let first = q.waiting.first, first.sequence <= q.applied { out.append(q.waiting.removeFirst().run) }
            return out
        }
        for run in due { run() }
    }
}
