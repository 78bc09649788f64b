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
                    let pending = PendingFrame(frame: frame, count: count, queue: queue)
                    queue.add(.frame(pending))
                    // Submitted here, on the reader's task: `submit` only queues the batch for the engine, so the
                    // reader is back for the next frame at once (a task per submission cost a hop and measured no
                    // better). Frames that reach the engine while it journals a group are journaled in the next
                    // one together, in order.
                    desk.submit(frame.submission) { pending.fulfil($0) }
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
            // A frame not decided yet wakes nobody: the writer could only wait again. Its decision does (`decided`).
            if case .frame(let pending) = item, pending.readyOutcomes() == nil { return nil }
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }

    /// A frame queued here was decided: wakes the writer if it waits for something to send.
    func decided() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
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
    /// The channel's queue this frame waits in, told when it is decided. Weak: the queue holds its frames, and a
    /// channel that ends with frames still queued must not keep itself alive through them.
    private weak let queue: OutgoingQueue?
    private let state = Mutex<(outcomes: Outcomes?, at: UInt64, waiter: CheckedContinuation<(Outcomes, UInt64?), Never>?)>((nil, 0, nil))

    init(frame: DecisionDesk.Frame, count: Int, queue: OutgoingQueue) {
        self.frame = frame
        self.count = count
        self.queue = queue
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
        if let waiter { waiter.resume(returning: (outcomes, at)) } else { queue?.decided() }
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
