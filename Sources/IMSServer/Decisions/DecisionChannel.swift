import Foundation
import HTTPTypes
import HummingbirdWebSocket
import IMSDomain
import IMSEngine
import IMSRuntime
import NIOWebSocket
import Synchronization

extension DecisionDesk {
    /// A frame's (or a body's) messages, prepared: the valid ones as one submission, the others answered.
    struct Frame: Sendable {
        var messages: [DecisionMessages.Message]
        var isArray: Bool
        var submission: Submission
        /// Each message's place among the submission's requests (nil: refused as it was read).
        var requestIndex: [Int?]
    }

    func prepare(_ messages: [DecisionMessages.Message], isArray: Bool, caller: Caller) -> Frame {
        var requests: [Request] = []
        var index: [Int?] = []
        for m in messages {
            if case .success(let r) = m.request {
                index.append(requests.count)
                requests.append(r)
            } else {
                index.append(nil)
            }
        }
        return Frame(messages: messages, isArray: isArray, submission: prepare(requests, caller: caller), requestIndex: index)
    }

    /// The answers to a prepared frame, as the JSON the caller gets (one object, or an array in order).
    func answerText(_ frame: Frame, outcomes: [Result<BatchOutcome, EngineError>]) -> String {
        let answered = answers(frame.submission, outcomes: outcomes)
        let all = zip(frame.messages, frame.requestIndex).map { m, k -> (answer: Answer, correlationId: String?, resource: String?) in
            switch m.request {
            case .failure(let refused): return (refused, m.correlationId, nil)
            case .success(let r): return (k.map { answered[$0] } ?? .failure(.internalServerError, "not prepared", field: nil), m.correlationId, r.resource)
            }
        }
        return DecisionMessages.json(all, isArray: frame.isArray)
    }
}

/// The decision channel, `/ws/decisions` (docs/locates.md): one WebSocket per client connection,
/// authenticated once at the upgrade and scoped to the caller's client as every route is.
///
/// Each text frame holds one decision or an array of them (`DecisionMessages`); each frame is checked, then
/// submitted to the engine as one batch in the order frames arrive, without waiting for the one before. So
/// a client can keep many frames in flight, and the engine journals and applies them in order. Answers go
/// back in the same order, each frame's as soon as it is durable and applied, rendered on the connection's
/// own task (never on the engine's threads). Answers already decided when the writer looks leave together, as
/// one message (a JSON array of every answer in order): a client pairs answers with its decisions by
/// correlation id, never by message.
///
/// Back-pressure: a connection may have at most `StreamLimits.maxUnreadDecisions` decisions taken and not
/// yet written to it. At that bound the server reads no more of its frames (TCP holds the client's sends)
/// and tells it once, after the answers already queued:
/// `{"type":"backpressure","unread":n,"limit":l,"error":…}`. A client that takes nothing from its socket
/// for `writeStallMs` is closed by the connection guard, as every connection is. Every decision taken is
/// answered if the client reads; one that was not taken was never journaled, and a re-send with the same
/// idempotency key after a reconnection gets the first answer of any that was.
///
/// A key revoked or a token expired while the channel is open: the next frame is refused (401) and the
/// channel closed.
enum DecisionChannel {
    static func run(
        desk: DecisionDesk, identity: Identity?, keys: APIKeyStore?, limits: StreamLimits,
        inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter
    ) async throws {
        let caller = DecisionDesk.Caller(identity: identity)
        let queue = OutgoingQueue()
        let unread = UnreadCount()
        let submitter = FrameSubmitter(desk: desk)
        try await withThrowingTaskGroup(of: Void.self) { group in
            // The writer: each frame's answers in the order the frames came. What is ready when it looks (answers
            // of frames already decided, notices) leaves as one message, so a busy channel pays one write per
            // burst, not per frame.
            group.addTask {
                var ready: [String] = [], decisions = 0
                func flush() async throws {
                    guard !ready.isEmpty else { return }
                    try await outbound.write(.text(ready.count == 1 ? ready[0] : DecisionMessages.joined(ready)))
                    ready.removeAll(keepingCapacity: true)
                    unread.written(decisions)
                    decisions = 0
                }
                while let items = await queue.takeAll() {
                    for item in items {
                        switch item {
                        case .text(let text):
                            ready.append(text)
                        case .frame(let pending):
                            var outcomes = pending.readyOutcomes()
                            if outcomes == nil {
                                // Not decided yet: what is ready goes first, then this frame's answers when they come.
                                try await flush()
                                let (waited, answeredAt) = await pending.outcomes()
                                if let answeredAt { desk.engine.stageTimes.record(.resume, nanoseconds: StageTimes.now() &- answeredAt) }
                                outcomes = waited
                            }
                            ready.append(desk.answerText(pending.frame, outcomes: outcomes ?? []))
                            decisions += pending.count
                        case .close(let code, let reason):
                            try await flush()
                            try await outbound.close(code, reason: reason)
                            return
                        }
                    }
                    try await flush()
                }
            }
            // The reader: frames checked and submitted in the order they arrive.
            group.addTask {
                defer { queue.finish() }
                for try await message in inbound.messages(maxSize: 1 << 20) {
                    if let refusal = Self.credentialRefusal(identity, keys: keys) {
                        queue.add(.text(DecisionMessages.json(.failure(.unauthorized, refusal, field: "Authorization"), correlationId: nil, resource: nil)))
                        queue.add(.close(.policyViolation, refusal))
                        return
                    }
                    guard case .text(let text) = message else {
                        queue.add(.text(DecisionMessages.json(DecisionMessages.notAMessage, correlationId: nil, resource: nil)))
                        continue
                    }
                    let messages: [DecisionMessages.Message], isArray: Bool
                    switch DecisionMessages.read(Array(text.utf8)) {
                    case .failure(let refused):
                        queue.add(.text(DecisionMessages.json(refused, correlationId: nil, resource: nil)))
                        continue
                    case .success(let read): (messages, isArray) = read
                    }
                    let count = max(1, messages.count)
                    // At the bound: say so once (after what is queued), then wait for the client to read.
                    if !unread.take(count, limit: limits.maxUnreadDecisions) {
                        queue.add(.text(Self.backpressure(unread: unread.count, limit: limits.maxUnreadDecisions)))
                        while !unread.take(count, limit: limits.maxUnreadDecisions) { try await Task.sleep(for: .milliseconds(2)) }
                    }
                    let frame = desk.prepare(messages, isArray: isArray, caller: caller)
                    let pending = PendingFrame(frame: frame, count: count)
                    queue.add(.frame(pending))
                    submitter.add(pending)
                }
            }
            try await group.waitForAll()
        }
    }

    /// What the writer sends next.
    enum Outgoing: Sendable {
        case text(String)
        case frame(PendingFrame)
        case close(WebSocketErrorCode, String)
    }

    /// Why a frame is refused because the caller's credential no longer holds, if it does not.
    static func credentialRefusal(_ identity: Identity?, keys: APIKeyStore?) -> String? {
        if let keyId = identity?.keyId, let keys, !keys.isActive(keyId: keyId) { return "the API key \(keyId) was revoked; sign in again" }
        if let expiry = identity?.expiresAt, expiry <= Date() {
            return "the bearer token expired at \(ISO8601DateFormatter().string(from: expiry)); sign in again"
        }
        return nil
    }

    static func backpressure(unread: Int, limit: Int) -> String {
        var j = JSONText(capacity: 256)
        j.object { j in
            j.field("type", "backpressure")
            j.field("unread", Int64(unread))
            j.field("limit", Int64(limit))
            j.field(
                "error",
                "\(unread) answers are waiting to be read, the most this channel holds: the server reads no more decisions from it until the client reads its answers"
            )
        }
        return j.text
    }
}

/// What a channel's reader hands its writer, in order: the writer takes everything queued at once.
final class OutgoingQueue: Sendable {
    private let state = Mutex<(items: [DecisionChannel.Outgoing], finished: Bool, waiter: CheckedContinuation<Void, Never>?)>(([], false, nil))

    func add(_ item: DecisionChannel.Outgoing) {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.items.append(item)
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }

    /// No more items will come.
    func finish() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.finished = true
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }

    /// Everything queued, waiting until there is something; nil once finished and empty.
    func takeAll() async -> [DecisionChannel.Outgoing]? {
        while true {
            let (items, finished) = state.withLock { s -> ([DecisionChannel.Outgoing], Bool) in
                defer { s.items.removeAll(keepingCapacity: true) }
                return (s.items, s.finished)
            }
            if !items.isEmpty { return items }
            if finished { return nil }
            await withCheckedContinuation { continuation in
                let now = state.withLock { s -> Bool in
                    if !s.items.isEmpty || s.finished { return true }
                    s.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        }
    }
}

/// A frame submitted to the engine, waiting for its outcomes.
final class PendingFrame: Sendable {
    typealias Outcomes = [Result<BatchOutcome, EngineError>]
    let frame: DecisionDesk.Frame
    /// Decisions it counts for against the unread bound.
    let count: Int
    private let state = Mutex<(outcomes: Outcomes?, at: UInt64, waiter: CheckedContinuation<(Outcomes, UInt64?), Never>?)>((nil, 0, nil))

    init(frame: DecisionDesk.Frame, count: Int) {
        self.frame = frame
        self.count = count
    }

    /// Called once, on an engine thread.
    func fulfil(_ outcomes: Outcomes) {
        let at = StageTimes.now()
        let waiter = state.withLock { s -> CheckedContinuation<(Outcomes, UInt64?), Never>? in
            s.outcomes = outcomes
            s.at = at
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: (outcomes, at))
    }

    /// The outcomes if they are there already.
    func readyOutcomes() -> Outcomes? { state.withLock { $0.outcomes } }

    /// The outcomes, and when they came if this task had to wait for them (nil: they were there already).
    func outcomes() async -> (Outcomes, UInt64?) {
        if let done = state.withLock({ $0.outcomes }) { return (done, nil) }
        return await withCheckedContinuation { continuation in
            let done = state.withLock { s -> Outcomes? in
                if let done = s.outcomes { return done }
                s.waiter = continuation
                return nil
            }
            if let done { continuation.resume(returning: (done, nil)) }
        }
    }
}

/// Submits a channel's frames in the order read, merging the frames that queued up while the last were being
/// submitted into one batch: at a high rate of small frames (an order system sending each decision as it comes)
/// the engine then takes one batch for many frames, not one per frame. At a low rate each frame goes alone, at
/// once. Frames merge only while they share one issuer (nearly always: the channel's identity), so the engine
/// sees every decision in the order sent.
final class FrameSubmitter: Sendable {
    let desk: DecisionDesk
    private let state = Mutex<(queued: [PendingFrame], running: Bool)>(([], false))

    init(desk: DecisionDesk) { self.desk = desk }

    /// Queues a frame; starts a task submitting what is queued unless one is running (it takes this one too).
    func add(_ frame: PendingFrame) {
        let start = state.withLock { s -> Bool in
            s.queued.append(frame)
            if s.running { return false }
            s.running = true
            return true
        }
        if start { Task { self.run() } }
    }

    /// Submits everything queued, run after run, until nothing is: one task at a time, so submissions keep
    /// the frames' order.
    private func run() {
        while true {
            let frames = state.withLock { s -> [PendingFrame] in
                defer { s.queued = [] }
                if s.queued.isEmpty { s.running = false }
                return s.queued
            }
            if frames.isEmpty { return }
            var run: [PendingFrame] = []
            for frame in frames {
                if let last = run.last, !Self.mergeable(last, frame) {
                    submit(run)
                    run = []
                }
                run.append(frame)
            }
            submit(run)
        }
    }

    /// Whether `next` may join the batch of `last`: each has at most one batch to submit, under one issuer.
    private static func mergeable(_ last: PendingFrame, _ next: PendingFrame) -> Bool {
        let a = last.frame.submission.batches, b = next.frame.submission.batches
        guard a.count <= 1, b.count <= 1 else { return false }
        guard let x = a.first, let y = b.first else { return true }
        return x.batch.issuer == y.batch.issuer
    }

    private func submit(_ frames: [PendingFrame]) {
        guard frames.count > 1 else {
            if let only = frames.first { desk.submit(only.frame.submission) { only.fulfil($0) } }
            return
        }
        // One batch for the run: each frame's lines follow the last frame's, and its outcome is its share.
        var merged: IngestBatch?
        var shares: [(frame: PendingFrame, lines: Range<Int>?)] = []
        shares.reserveCapacity(frames.count)
        for frame in frames {
            guard let batch = frame.frame.submission.batches.first?.batch else {
                shares.append((frame, nil))
                continue
            }
            if merged == nil {
                var empty = batch
                empty.events = []
                empty.lines = []
                merged = empty
            }
            // Appended in place: copying the batch each time made merging quadratic in the frames queued, which a
            // stack sample found taking a third of the server when it was behind.
            let first = merged!.events.count
            merged!.events.append(contentsOf: batch.events)
            merged!.lines.append(contentsOf: (first..<first + batch.events.count).map { Int32($0 + 1) })
            shares.append((frame, first..<first + batch.events.count))
        }
        guard let merged else {
            for (frame, _) in shares { frame.fulfil([]) }
            return
        }
        let done: @Sendable (Result<BatchOutcome, EngineError>) -> Void = { [shares] result in
            let parts: [Result<BatchOutcome, EngineError>?]
            switch result {
            case .failure(let error): parts = shares.map { $0.lines == nil ? nil : .failure(error) }
            case .success(let outcome): parts = outcome.shares(shares.map(\.lines)).map { $0.map { .success($0) } }
            }
            for ((frame, _), part) in zip(shares, parts) { frame.fulfil(part.map { [$0] } ?? []) }
        }
        if let refused = desk.engine.submit(merged, completion: done) { done(.failure(refused)) }
    }
}

extension BatchOutcome {
    /// The outcomes of the frames whose lines are at `ranges` (0-based positions in a merged batch, in order; nil:
    /// a frame with nothing in it), each renumbered from 1 as in its frame: one pass over the lines, which are in
    /// line order.
    func shares(_ ranges: [Range<Int>?]) -> [BatchOutcome?] {
        var r = 0, e = 0
        return ranges.map { range in
            guard let range else { return nil }
            let low = range.lowerBound + 1, high = range.upperBound
            var out = self
            out.results = Self.take(results, from: &r, lines: low...high, shift: range.lowerBound) {
                $0.line
            } set: {
                $0.line = $1
            }
            out.rejected = Self.take(rejected, from: &e, lines: low...high, shift: range.lowerBound) {
                $0.line
            } set: {
                $0.line = $1
            }
            return out
        }
    }

    /// The items of `all` (in line order) from `cursor` on whose line is in `lines`, renumbered down by `shift`.
    private static func take<T>(
        _ all: [T], from cursor: inout Int, lines: ClosedRange<Int>, shift: Int, line: (T) -> Int, set: (inout T, Int) -> Void
    ) -> [T] {
        var out: [T] = []
        while cursor < all.count && line(all[cursor]) < lines.lowerBound { cursor += 1 }
        while cursor < all.count && line(all[cursor]) <= lines.upperBound {
            var item = all[cursor]
            set(&item, line(item) - shift)
            out.append(item)
            cursor += 1
        }
        return out
    }
}

/// Decisions a channel has taken and not yet written back, against its bound.
final class UnreadCount: Sendable {
    private let state = Mutex<(unread: Int, written: Int)>((0, 0))

    /// Counts `n` more if they fit under `limit` (a frame larger than the limit fits when nothing is unread).
    func take(_ n: Int, limit: Int) -> Bool {
        state.withLock { s in
            guard s.unread == 0 || s.unread + n <= limit else { return false }
            s.unread += n
            return true
        }
    }

    func written(_ n: Int) {
        state.withLock {
            $0.unread -= n; $0.written += n
        }
    }

    var count: Int { state.withLock { $0.unread } }
    /// Every decision written back so far (the writer's progress).
    var writtenTotal: Int { state.withLock { $0.written } }
}
