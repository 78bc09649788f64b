import DequeModule
import Foundation
import HTTPTypes
import IMSDomain
import IMSEngine
import IMSFIX
import IMSRules
import IMSRuntime
import Logging
import Synchronization

/// The FIX sessions IMS accepts (`fixSessions`, a YAML or JSON file; docs/fix.md).
public struct FIXGatewaySettings: Sendable, Codable, Equatable {
    /// Our CompID (SenderCompID of what IMS sends).
    public var compId: String
    public var sessions: [Session]

    public struct Session: Sendable, Codable, Equatable {
        /// The counterparty's CompID.
        public var targetCompId: String
        /// The API key the counterparty logs on with (Password 554 carries the whole key): the session acts as
        /// that key's identity and client.
        public var keyId: String?
        /// The client a session acts for without authentication (`--insecure-no-auth`), or for a staff key.
        public var clientId: String?
        /// The daily window, `HH:MM` UTC: logons outside it are refused, and each start resets the numbers.
        public var start: String?
        public var end: String?
        /// The HeartBtInt (108) the counterparty's Logon must carry (nil: any from 1 to 300 seconds).
        public var heartbeatSeconds: Int?
        /// Messages the session may have taken and not answered before its socket is read no further (default
        /// 10,000).
        public var maxUnanswered: Int?

        public init(
            targetCompId: String, keyId: String? = nil, clientId: String? = nil, start: String? = nil, end: String? = nil, heartbeatSeconds: Int? = nil,
            maxUnanswered: Int? = nil
        ) {
            self.targetCompId = targetCompId; self.keyId = keyId; self.clientId = clientId; self.start = start; self.end = end
            self.heartbeatSeconds = heartbeatSeconds; self.maxUnanswered = maxUnanswered
        }
    }

    public init(compId: String, sessions: [Session]) {
        self.compId = compId
        self.sessions = sessions
    }

    /// What is wrong with the settings, naming the session and field.
    public func problems(authenticated: Bool) -> [String] {
        var out: [String] = []
        if compId.isEmpty { out.append("compId is empty") }
        var seen: Set<String> = []
        for (i, s) in sessions.enumerated() {
            let name = "sessions[\(i)] (\(s.targetCompId))"
            if s.targetCompId.isEmpty { out.append("sessions[\(i)].targetCompId is empty") }
            if !seen.insert(s.targetCompId).inserted { out.append("\(name): targetCompId repeats another session's") }
            if authenticated && s.keyId == nil { out.append("\(name).keyId is required: the Logon proves the session with that API key") }
            if !authenticated && s.clientId == nil { out.append("\(name).clientId is required without authentication") }
            if (s.start == nil) != (s.end == nil) { out.append("\(name): start and end go together") }
            if let hb = s.heartbeatSeconds, !(1...300).contains(hb) { out.append("\(name).heartbeatSeconds \(hb) must be 1 to 300") }
            if let n = s.maxUnanswered, !(1...10_000_000).contains(n) { out.append("\(name).maxUnanswered \(n) must be 1 to 10000000") }
            for (field, value) in [("start", s.start), ("end", s.end)] {
                if let value, FIXSchedule.seconds(value) == nil { out.append("\(name).\(field) \(value) is not HH:MM") }
            }
        }
        return out
    }

    /// The session layer's settings of each session.
    public var sessionSettings: [FIXSessionSettings] {
        sessions.map { s in
            var settings = FIXSessionSettings(senderCompID: compId, targetCompID: s.targetCompId)
            if let start = s.start.flatMap(FIXSchedule.seconds), let end = s.end.flatMap(FIXSchedule.seconds) {
                settings.schedule = FIXSchedule(start: start, end: end)
            }
            if let hb = s.heartbeatSeconds { settings.heartbeatRange = hb...hb }
            return settings
        }
    }
}

/// IMS behind the FIX acceptor (docs/fix.md): each session's application messages become the decisions the
/// REST API and the decision channel make (`DecisionDesk`), with the session's identity as the caller.
///
/// - QuoteRequest (35=R), one or more instruments: a locate request each (requestId = QuoteReqID, or
///   `QuoteReqID#n` for the n-th of several), answered by a Quote (35=S: QuoteID 117 = the locate id,
///   OfferSize 135 = approved, OfferPx 133 = indicative rate in basis points) or a QuoteRequestReject (35=AG)
///   with the reason; a PENDING one by a QuoteStatusReport (35=AI, 297=10), then its Quote or reject when the
///   desk decides.
/// - NewOrderSingle (35=D), Side 2 (sell) or 5/6 (sell short): the two-stage order validation (orderId =
///   ClOrdID, bookId = Account 1), answered by an ExecutionReport: 39=0 approved (the checks in Text 58), 39=8
///   rejected (every failed check in 58).
/// - OrderCancelRequest (35=F): of an order (OrigClOrdID = its ClOrdID), what its trades have not filled goes
///   back to the limits; of a locate (QuoteID 117, or OrigClOrdID = its QuoteReqID), the locate is cancelled and
///   its shares go back to the pool. ExecutionReport 39=4, or OrderCancelReject (35=9) naming why not.
///
/// Messages of a session are taken in order; those that queue up while the engine works go to it as one
/// batch (one journal write), answers leaving in order.
public final class FIXGateway: FIXApplication {
    let desk: DecisionDesk
    private let keys: APIKeyStore?
    private let configs: [String: FIXGatewaySettings.Session]
    private let identities = Mutex<[String: Identity]>([:])
    private let workers = Mutex<[String: Worker]>([:])
    let pending: PendingQuotes
    private let logger: Logger
    /// Why this node takes no Logon now (a standby of a replicated journal: the leader's address), or nil.
    private let refusal: Mutex<(@Sendable () -> String?)?> = Mutex(nil)

    /// Refuses every Logon while `why` answers a reason (a standby); nil: takes them.
    public func refuseLogons(_ why: (@Sendable () -> String?)?) { refusal.withLock { $0 = why } }

    public init(engine: Engine, keys: APIKeyStore?, settings: FIXGatewaySettings, pendingFile: URL?, logger: Logger) {
        self.desk = DecisionDesk(engine: engine)
        self.keys = keys
        self.configs = Dictionary(uniqueKeysWithValues: settings.sessions.map { ("\(settings.compId)-\($0.targetCompId)", $0) })
        self.pending = PendingQuotes(file: pendingFile)
        self.logger = logger
    }

    // MARK: FIXApplication

    public func authenticate(logon: FIXMessage, session: FIXSessionHandle) -> String? {
        guard let config = configs[session.id] else { return "no such session" }
        if let why = refusal.withLock({ $0 })?() { return why }
        let identity: Identity
        if let keys {
            guard let presented = logon[Tag.password], !presented.isEmpty else { return "Password (554) must carry the session's API key" }
            guard let proven = keys.identity(forKey: presented), proven.keyId == config.keyId else {
                return "Password (554) is not the session's API key, or the key is revoked"
            }
            guard proven.roles.contains(.client) || proven.roles.contains(.operator) || proven.roles.contains(.admin) else {
                return "the session's API key has no client or operator role"
            }
            var acting = proven
            if acting.clientScope == nil {
                // A staff key acts for the configured client only.
                guard let client = config.clientId else { return "a staff key's session needs clientId in its settings" }
                acting = Identity(subject: proven.subject, roles: [.client], clientId: client, keyId: proven.keyId)
            }
            identity = Identity(subject: "\(acting.subject) via FIX \(session.id)", roles: acting.roles, clientId: acting.clientId, keyId: acting.keyId)
        } else {
            identity = Identity(subject: "FIX \(session.id)", roles: [.client], clientId: config.clientId)
        }
        identities.withLock { $0[session.id] = identity }
        logger.info("FIX \(session.id): logged on", metadata: ["identity": "\(identity.subject)", "clientId": "\(identity.clientId ?? "")"])
        return nil
    }

    public func received(_ message: FIXMessage, session: FIXSessionHandle) {
        worker(for: session).add(message)
    }

    /// Logons, refused Logons and session ends, on the audit trail (`AuditNoteCommand`).
    public func sessionEvent(_ event: FIXSessionEvent, session: FIXSessionHandle) {
        let issuer = identity(of: session)?.subject ?? "FIX \(session.id)"
        switch event {
        case .loggedOn(let peer): note("FIX_LOGON", "session \(session.id)", "from \(peer)", issuer: issuer)
        case .logonRefused(let why): note("FIX_LOGON_REFUSED", "session \(session.id)", why, issuer: "FIX \(session.id)")
        case .ended(let why): note("FIX_LOGOUT", "session \(session.id)", why, issuer: issuer)
        }
    }

    /// Journals an audit note, without waiting for it.
    func note(_ action: String, _ subject: String, _ detail: String?, issuer: String) {
        notes(
            [AuditNoteCommand(action: action, subject: String(subject.utf8.prefix(256)) ?? subject, detail: detail.map { String($0.prefix(1_000)) })],
            issuer: issuer)
    }

    func notes(_ commands: [AuditNoteCommand], issuer: String) {
        guard !commands.isEmpty else { return }
        var batch = IngestBatch(mode: .decisions, receivedAt: WallClock.now())
        batch.issuer = issuer
        for c in commands {
            batch.events.append(Event(c))
            batch.lines.append(Int32(batch.events.count))
        }
        if let refused = desk.engine.submit(batch, completion: { _ in }) {
            logger.warning("FIX audit note not journaled: \(refused)")
        }
    }

    /// An application message answered at the gateway with a refusal, as an audit note.
    static func refusalNote(_ m: FIXMessage, reply: FIXMessage) -> AuditNoteCommand {
        let id = m[Tag.clOrdID] ?? m[Tag.quoteReqID] ?? m[Tag.execID] ?? "seq \(m.seqNum ?? 0)"
        return AuditNoteCommand(
            action: "FIX_REFUSED", subject: String("35=\(m.msgType) \(id)".prefix(200)),
            detail: String("answered 35=\(reply.msgType): \(reply[Tag.text] ?? "")".prefix(1_000)))
    }

    private func worker(for session: FIXSessionHandle) -> Worker {
        workers.withLock { all in
            if let w = all[session.id] { return w }
            let w = Worker(gateway: self, session: session)
            all[session.id] = w
            return w
        }
    }

    func identity(of session: FIXSessionHandle) -> Identity? { identities.withLock { $0[session.id] } }

    /// Stops the workers and the watcher.
    public func stop() {
        workers.withLock { all in for w in all.values { w.stop() } }
    }

    // MARK: Pending quotes

    /// Quotes still PENDING that sessions asked for on another node (the leader this node took over from): found
    /// in the replicated journal's locates (requested `via FIX <session>`), so their Quote follows the desk's
    /// decision here. The instrument is echoed as the security's ticker (or id): the original Symbol was the
    /// other node's.
    public func adoptPending(for sessions: [FIXSessionHandle]) {
        let known = Set(pending.all().map(\.locateId))
        let found: [PendingQuotes.Entry] = desk.engine.readModel.read { model in
            sessions.flatMap { session -> [PendingQuotes.Entry] in
                let marker = "via FIX \(session.id)"
                return model.locates(matching: LocateFilter(status: .pending), offset: 0, limit: 100_000).items.compactMap { view in
                    guard !known.contains(view.locateId), view.requestedBy?.hasSuffix(marker) == true else { return nil }
                    let symbol = model.security(view.securityId)?.security.ticker ?? view.securityId
                    var instrument = FIXReplies.Instrument(FIXMessage("R", [(Tag.symbol, symbol), (Tag.orderQty, String(view.quantity))]))
                    instrument.quantity = String(view.quantity)
                    return PendingQuotes.Entry(locateId: view.locateId, sessionId: session.id, quoteReqID: view.requestId, instrument: instrument)
                }
            }
        }
        for e in found { pending.add(e) }
        if !found.isEmpty { logger.notice("FIX: \(found.count) pending quotes adopted from the journal") }
    }

    /// Answers quotes the desk has decided since they were left PENDING; run every `interval` until cancelled.
    public func watchPending(sessions: [FIXSessionHandle], interval: Duration = .milliseconds(200)) async {
        let byId = Dictionary(uniqueKeysWithValues: sessions.map { ($0.id, $0) })
        while !Task.isCancelled {
            let waiting = pending.all()
            if !waiting.isEmpty {
                let decided: [(PendingQuotes.Entry, LocateView)] = desk.engine.readModel.read { model in
                    waiting.compactMap { e in model.locate(e.locateId).flatMap { $0.status == "PENDING" ? nil : (e, $0) } }
                }
                for (entry, view) in decided {
                    guard let session = byId[entry.sessionId] else { continue }
                    session.send(FIXReplies.locate(view, entry: entry.instrument, quoteReqID: entry.quoteReqID))
                    pending.remove(entry.locateId)
                }
            }
            try? await Task.sleep(for: interval)
        }
    }
}

/// Quotes left PENDING, so their answer follows the desk's decision, across restarts (a small JSON file in
/// the session store's folder).
final class PendingQuotes: Sendable {
    struct Entry: Codable, Sendable, Equatable {
        var locateId: String
        var sessionId: String
        var quoteReqID: String
        var instrument: FIXReplies.Instrument
    }
    private let file: URL?
    private let entries: Mutex<[String: Entry]>

    init(file: URL?) {
        self.file = file
        var loaded: [String: Entry] = [:]
        if let file, let data = try? Data(contentsOf: file), let list = try? JSONDecoder().decode([Entry].self, from: data) {
            for e in list { loaded[e.locateId] = e }
        }
        entries = Mutex(loaded)
    }

    func all() -> [Entry] { entries.withLock { Array($0.values) } }
    func add(_ e: Entry) { update { $0[e.locateId] = e } }
    func remove(_ locateId: String) { update { $0[locateId] = nil } }

    private func update(_ change: (inout [String: Entry]) -> Void) {
        entries.withLock { all in
            change(&all)
            guard let file else { return }
            let list = all.values.sorted { $0.locateId < $1.locateId }
            if let data = try? JSONEncoder().encode(list) {
                let temporary = file.appendingPathExtension("new")
                if (try? data.write(to: temporary)) != nil { _ = rename(temporary.path, file.path) }
            }
        }
    }
}

extension FIXGateway {
    /// One session's application messages, taken in order: what queued while the engine worked goes as one
    /// submission; answers leave in the order the messages came.
    final class Worker: Sendable {
        private let queue = Mutex<(messages: Deque<FIXMessage>, stopped: Bool)>(([], false))
        private let signal: AsyncStream<Void>.Continuation
        private let task: Mutex<Task<Void, Never>?> = Mutex(nil)

        init(gateway: FIXGateway, session: FIXSessionHandle) {
            let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
            signal = continuation
            let t = Task { [self] in
                for await _ in stream {
                    while true {
                        let batch = takeAll()
                        if batch.isEmpty { break }
                        await gateway.handle(batch, session: session)
                    }
                }
            }
            task.withLock { $0 = t }
        }

        private func takeAll() -> [FIXMessage] {
            queue.withLock { q in
                defer { q.messages.removeAll(keepingCapacity: true) }
                return Array(q.messages)
            }
        }

        func add(_ message: FIXMessage) {
            queue.withLock { $0.messages.append(message) }
            signal.yield()
        }

        func stop() {
            signal.finish()
            task.withLock { $0?.cancel() }
        }
    }

    /// What one application message asks, read: the desk's requests it makes, and how its answers become FIX.
    enum Asked {
        /// Answered without the engine (a reject, a BusinessMessageReject…).
        case replies([FIXMessage])
        /// Quotes for a QuoteRequest's instruments: one desk request each (nil: refused as read, with the reply).
        case quotes(quoteReqID: String, [(request: DecisionDesk.Request?, instrument: FIXReplies.Instrument, refusal: FIXMessage?)])
        case order(DecisionDesk.Request, FIXReplies.OrderEcho)
        case cancelLocate(DecisionDesk.Request, FIXReplies.OrderEcho, locateId: String)
        case cancelOrder(DecisionDesk.Request, FIXReplies.OrderEcho)
        /// A quote accepted: its ExecutionReport, and the note that puts it on the audit trail.
        case accepted(FIXMessage, AuditNoteCommand)
    }

    /// Takes a batch in order: runs of executions (35=8) become trades, runs of the rest decisions. A session
    /// whose key was revoked since its Logon takes nothing more: each message is refused and the session logged
    /// out.
    func handle(_ messages: [FIXMessage], session: FIXSessionHandle) async {
        if let keys, let keyId = identity(of: session)?.keyId, !keys.isActive(keyId: keyId) {
            let text = "the session's API key was revoked"
            session.send(messages.map { FIXReplies.businessReject($0, text: text) }, answering: messages.compactMap(\.seqNum))
            notes(
                messages.map { AuditNoteCommand(action: "FIX_REFUSED", subject: "35=\($0.msgType) seq \($0.seqNum ?? 0)", detail: text) },
                issuer: "FIX \(session.id)")
            session.logout(text)
            return
        }
        var run: [FIXMessage] = []
        for m in messages {
            if let last = run.last, (last.msgType == "8") != (m.msgType == "8") {
                await (last.msgType == "8" ? executions(run, session: session) : decide(run, session: session))
                run = []
            }
            run.append(m)
        }
        if let last = run.last { await (last.msgType == "8" ? executions(run, session: session) : decide(run, session: session)) }
    }

    /// Executions the OMS reports (ExecutionReport 35=8 with ExecType F, a fill; H, a fill withdrawn) as trades
    /// carrying the order id (ClOrdID 11), booked to Account (1), the session client's book: their fills turn
    /// what the order holds into position. Each trade's id is `FIX-<TargetCompID>-<ExecID>`, so a counterparty
    /// names only its own trades. A refused one is answered with a BusinessMessageReject (35=j) naming why;
    /// other ExecTypes are taken without effect.
    func executions(_ messages: [FIXMessage], session: FIXSessionHandle) async {
        guard let identity = identity(of: session) else { return session.send([], answering: messages.compactMap(\.seqNum)) }
        let client = identity.clientScope ?? identity.clientId ?? ""
        let now = WallClock.now()
        var replies: [FIXMessage] = []
        var batch = IngestBatch(mode: .decisions, receivedAt: now)
        batch.wantsResults = true
        batch.issuer = identity.subject
        var origin: [FIXMessage] = []
        desk.engine.readModel.read { model in
            for m in messages {
                switch FIXRequests.execution(m, client: client, counterparty: session.settings.targetCompID, model: model) {
                case .none: continue
                case .failure(let refused): replies.append(FIXReplies.businessReject(m, text: refused.text))
                case .success(let trade):
                    batch.events.append(.trade(trade))
                    batch.lines.append(Int32(batch.events.count))
                    origin.append(m)
                }
            }
        }
        if !batch.events.isEmpty {
            do {
                let outcome = try await desk.engine.submitting(batch)
                for refused in outcome.rejected where refused.line >= 1 && refused.line <= origin.count {
                    replies.append(FIXReplies.businessReject(origin[refused.line - 1], text: "\(refused.field): \(refused.error)"))
                }
            } catch {
                for m in origin { replies.append(FIXReplies.businessReject(m, text: "\(error)")) }
            }
        }
        session.send(replies, answering: messages.compactMap(\.seqNum))
        notes(
            replies.compactMap { reply in
                messages.first { $0.seqNum.map(String.init) == reply[Tag.refSeqNum] }.map { Self.refusalNote($0, reply: reply) }
            }, issuer: identity.subject)
    }

    /// Reads a batch, decides what the engine must in one submission, and sends every answer in order.
    func decide(_ messages: [FIXMessage], session: FIXSessionHandle) async {
        guard let identity = identity(of: session) else { return session.send([], answering: messages.compactMap(\.seqNum)) }
        let caller = DecisionDesk.Caller(identity: identity)
        let asked = desk.engine.readModel.read { model in messages.map { FIXRequests.read($0, identity: identity, model: model) } }
        var requests: [DecisionDesk.Request] = []
        for a in asked {
            switch a {
            case .quotes(_, let entries): requests += entries.compactMap(\.request)
            case .order(let r, _), .cancelLocate(let r, _, _), .cancelOrder(let r, _): requests.append(r)
            case .replies, .accepted: break
            }
        }
        var answers: [DecisionDesk.Answer] = []
        if !requests.isEmpty {
            let submission = desk.prepare(requests, caller: caller)
            answers = desk.answers(submission, outcomes: await desk.outcomes(of: submission))
        }
        var next = 0
        var out: [FIXMessage] = []
        var newlyPending: [PendingQuotes.Entry] = []
        // Every answer that refuses (and every quote accepted), on the audit trail too.
        var refusals: [AuditNoteCommand] = []
        desk.engine.readModel.read { model in
            for (m, a) in zip(messages, asked) {
                func refuse(_ reply: FIXMessage) {
                    out.append(reply)
                    refusals.append(Self.refusalNote(m, reply: reply))
                }
                switch a {
                case .replies(let replies):
                    for reply in replies { refuse(reply) }
                case .accepted(let reply, let note):
                    out.append(reply)
                    refusals.append(note)
                case .quotes(let quoteReqID, let entries):
                    for entry in entries {
                        guard let request = entry.request else {
                            if let refusal = entry.refusal { refuse(refusal) }
                            continue
                        }
                        let answer = answers[next]
                        next += 1
                        guard case .locate(let body) = request, answer.body != nil,
                            let view = model.locate(clientId: body.clientId ?? "", requestId: body.requestId ?? "")
                        else {
                            refuse(FIXReplies.quoteRequestReject(quoteReqID, entry.instrument, reason: 99, text: answer.error ?? "refused"))
                            continue
                        }
                        out.append(FIXReplies.locate(view, entry: entry.instrument, quoteReqID: quoteReqID))
                        if view.status == "PENDING" {
                            newlyPending.append(
                                PendingQuotes.Entry(locateId: view.locateId, sessionId: session.id, quoteReqID: quoteReqID, instrument: entry.instrument))
                        }
                    }
                case .order(let request, let echo):
                    let answer = answers[next]
                    next += 1
                    guard case .order(let body) = request, answer.body != nil,
                        let view = model.order(clientId: body.clientId ?? "", orderId: body.orderId ?? "")
                    else {
                        refuse(FIXReplies.orderRejected(echo, text: "\(answer.field.map { "\($0): " } ?? "")\(answer.error ?? "refused")"))
                        continue
                    }
                    out.append(FIXReplies.order(view, echo: echo))
                case .cancelOrder(let request, let echo):
                    let answer = answers[next]
                    next += 1
                    if answer.body != nil, case .cancelOrder(let orderId, let body) = request,
                        let view = model.order(clientId: body.clientId ?? "", orderId: orderId)
                    {
                        out.append(FIXReplies.orderCancelled(view, echo: echo))
                    } else {
                        refuse(FIXReplies.cancelReject(echo, text: answer.error ?? "refused", unknown: answer.status == .notFound))
                    }
                case .cancelLocate(_, let echo, let locateId):
                    let answer = answers[next]
                    next += 1
                    if answer.body != nil, let view = model.locate(locateId) {
                        out.append(FIXReplies.locateCancelled(view, echo: echo))
                    } else {
                        refuse(FIXReplies.cancelReject(echo, text: answer.error ?? "refused", unknown: answer.status == .notFound))
                    }
                }
            }
        }
        for e in newlyPending { pending.add(e) }
        session.send(out, answering: messages.compactMap(\.seqNum))
        notes(refusals, issuer: identity.subject)
    }
}
