import Foundation
import HTTPTypes
import Hummingbird
import IMSDomain
import IMSEngine
import IMSRules
import IMSRuntime
import Synchronization

/// The decision path shared by every way a decision is asked for: `POST /api/v1/locates`,
/// `POST /api/v1/orders/validate` and `POST /api/v1/locates/{id}/cancel` one at a time, `POST /api/v1/decisions`
/// many in one body, and the decision channel (`/ws/decisions`) many per frame.
///
/// Three steps, so that a channel can submit in the order it reads and answer on its own task:
///
/// ```text
/// prepare (one read of the read model)   each request checked as its route checks it; a re-sent one answered
///    │                                   with its first answer; the rest become commands
///    ▼
/// submit (one batch, `IngestBatch.Mode.decisions`)   one journal entry for all of them: each applied or refused
///    │                                               on its own, with the caller as issuer, on the audit trail
///    ▼
/// answers (one read of the read model)   each answer rendered as its route renders it, in request order
/// ```
struct DecisionDesk: Sendable {
    let engine: Engine

    /// One decision asked for, as its REST route's body says it.
    enum Request: Sendable {
        case locate(LocateRoutes.RequestBody)
        case order(OrderRoutes.Body)
        case cancelLocate(locateId: String, LocateRoutes.Cancel)
        case cancelOrder(orderId: String, OrderRoutes.Cancel)

        /// What the answer carries (`locate` or `order`).
        var resource: String {
            switch self {
            case .locate, .cancelLocate: "locate"
            case .order, .cancelOrder: "order"
            }
        }
    }

    /// The answer to one request: the status its REST route would answer with, and the resource's JSON, or
    /// the error naming its field.
    struct Answer: Sendable, Equatable {
        var status: HTTPResponse.Status
        /// The locate's or order's JSON, on success.
        var body: String?
        var error: String?
        var field: String?
        /// Seconds to wait before retrying (the engine could not take the batch).
        var retryAfter: Int?

        static func ok(_ body: String, _ status: HTTPResponse.Status = .ok) -> Answer { Answer(status: status, body: body) }
        static func failure(_ status: HTTPResponse.Status, _ error: String, field: String?) -> Answer { Answer(status: status, error: error, field: field) }
        static func engine(_ error: EngineError) -> Answer { Answer(status: .serviceUnavailable, error: error.description, retryAfter: 1) }

        /// The answer as a REST route returns it: the resource, or the error thrown.
        func response() throws(APIError) -> Response {
            if let body { return JSONResponse.raw(body, status: status) }
            throw APIError(status, error ?? "failed", field: field, retryAfter: retryAfter)
        }
    }

    /// Who asks: the identity a key or token proved (nil without authentication).
    struct Caller: Sendable {
        var identity: Identity?

        /// The client a caller without a staff role acts for (nil: staff, or no authentication).
        var clientScope: String? { identity?.clientScope }

        /// Who a command is recorded as issued by: the identity; without authentication, the person named.
        func issuer(named: String?) -> String { identity?.subject ?? (named.flatMap { $0.isEmpty ? nil : $0 } ?? "anonymous") }

        /// 403 naming `clientId` when a client acts for another client than its own.
        func notOwnClient(_ named: String?) -> Answer? {
            guard let own = clientScope else { return nil }
            guard let named, named == own, !own.isEmpty else {
                return .failure(.forbidden, AccessPolicy.actsForOwnOnly(own: own, named: named), field: "clientId")
            }
            return nil
        }

        func maySee(client: String?) -> Bool { clientScope.map { $0 == client } ?? true }
    }

    /// A request after `prepare`: answered already, or a command to submit and how to answer it afterwards.
    enum Prepared: Sendable {
        case answered(Answer)
        case command(Event, issuer: String, answer: Pending)

        /// How a submitted command is answered once applied.
        enum Pending: Sendable {
            case locate(clientId: String, requestId: String)
            case order(clientId: String, orderId: String, scoped: Bool)
            case cancelLocate(locateId: String, scoped: Bool)
            case cancelOrder(clientId: String, orderId: String, scoped: Bool)
        }
    }

    /// The requests of one submission, prepared: `batches` are what to submit (one per issuer, in order;
    /// nearly always one), each with the positions of its requests among `prepared`.
    struct Submission: Sendable {
        var prepared: [Prepared]
        var batches: [(batch: IngestBatch, indices: [Int])]
    }

    // MARK: Prepare

    /// Checks every request as its route does and groups the commands into batches, under one read of the
    /// read model.
    func prepare(_ requests: [Request], caller: Caller, receivedAt: Timestamp = WallClock.now()) -> Submission {
        // A loop, not `map`: a closure capturing the borrowed model copies it (retaining every table) per call.
        let prepared = engine.readModel.read { model in
            var out: [Prepared] = []
            out.reserveCapacity(requests.count)
            for request in requests { out.append(prepare(request, caller: caller, model: model)) }
            return out
        }
        var batches: [(batch: IngestBatch, indices: [Int])] = []
        var byIssuer: [String: Int] = [:]
        for (i, p) in prepared.enumerated() {
            guard case .command(let event, let issuer, _) = p else { continue }
            let k: Int
            if let known = byIssuer[issuer] {
                k = known
            } else {
                k = batches.count
                byIssuer[issuer] = k
                var batch = IngestBatch(mode: .decisions, receivedAt: receivedAt)
                batch.wantsResults = true
                batch.issuer = issuer
                batches.append((batch, []))
            }
            batches[k].batch.events.append(event)
            batches[k].batch.lines.append(Int32(batches[k].indices.count + 1))
            batches[k].indices.append(i)
        }
        return Submission(prepared: prepared, batches: batches)
    }

    private func prepare(_ request: Request, caller: Caller, model: borrowing ReadModel) -> Prepared {
        switch request {
        case .locate(let body):
            if let refused = caller.notOwnClient(body.clientId) { return .answered(refused) }
            let command: LocateCommand
            switch LocateRoutes.command(body) {
            case .failure(let bad): return .answered(.failure(.unprocessableContent, bad.message, field: bad.field))
            case .success(let c): command = c
            }
            // A re-sent request gets its first answer, without a new journal entry (on the same business day).
            if let first = model.locateOfToday(clientId: command.clientId!, requestId: command.requestId!) { return .answered(.ok(first.json)) }
            return .command(
                Event(command), issuer: caller.issuer(named: command.user), answer: .locate(clientId: command.clientId!, requestId: command.requestId!))

        case .order(let body):
            let command: OrderCommand
            switch Self.orderCommand(body, caller: caller, model: model) {
            case .failure(let refused): return .answered(refused)
            case .success(let c): command = c
            }
            let scoped = caller.clientScope != nil
            if let first = model.orderOfToday(clientId: command.clientId, orderId: command.orderId) {
                return .answered(.ok(Self.render(first, scoped: scoped)))
            }
            return .command(
                Event(command), issuer: caller.issuer(named: command.user),
                answer: .order(clientId: command.clientId, orderId: command.orderId, scoped: scoped))

        case .cancelLocate(let id, let body):
            // A client cancels its own locates: the body may name its client (no other); another client's
            // locate is unknown to it, as on GET.
            if let refused = caller.notOwnClient(body.clientId ?? caller.clientScope) { return .answered(refused) }
            guard let current = model.locate(id), caller.maySee(client: current.clientId) else {
                return .answered(.failure(.notFound, "unknown locate \(id)", field: "locateId"))
            }
            // Signed in, who cancelled is the identity.
            let command = LocateCommand(
                action: .cancel, clientId: caller.clientScope ?? body.clientId, user: caller.identity?.subject ?? body.user, locateId: id,
                reason: body.reason)
            return .command(Event(command), issuer: caller.issuer(named: command.user), answer: .cancelLocate(locateId: id, scoped: caller.clientScope != nil))

        case .cancelOrder(let id, let body):
            return prepareOrderCancel(id, body, caller: caller, model: model)
        }
    }

    private func prepareOrderCancel(_ id: String, _ body: OrderRoutes.Cancel, caller: Caller, model: borrowing ReadModel) -> Prepared {
        // A client cancels its own orders; staff name the client whose order it is.
        if let refused = caller.notOwnClient(body.clientId ?? caller.clientScope) { return .answered(refused) }
        guard let client = caller.clientScope ?? body.clientId, !client.isEmpty else {
            return .answered(.failure(.unprocessableContent, "clientId is required: an order id belongs to its client", field: "clientId"))
        }
        guard model.order(clientId: client, orderId: id) != nil else {
            return .answered(.failure(.notFound, "unknown order \(id)", field: "orderId"))
        }
        let command = OrderCancelCommand(orderId: id, clientId: client, reason: body.reason, user: caller.identity?.subject ?? body.user)
        return .command(
            Event(command), issuer: caller.issuer(named: command.user),
            answer: .cancelOrder(clientId: client, orderId: id, scoped: caller.clientScope != nil))
    }

    /// An order validation's body as a command, checked as `POST /api/v1/orders/validate` checks it (its dry run
    /// too), or the answer refusing it.
    static func orderCommand(_ body: OrderRoutes.Body, caller: Caller, model: borrowing ReadModel) -> Result<OrderCommand, Answer> {
        // A client validates its own orders (the decoded body's client), on its own books only.
        if let refused = caller.notOwnClient(body.clientId) { return .failure(refused) }
        for (field, value) in [("orderId", body.orderId), ("clientId", body.clientId), ("bookId", body.bookId), ("securityId", body.securityId)] {
            if let bad = InputBounds.identifier(value, field: field) { return .failure(.failure(.unprocessableContent, bad.message, field: bad.field)) }
        }
        guard let sideText = body.side, let side = OrderCommand.Side(rawValue: sideText) else {
            return .failure(.failure(.unprocessableContent, "side must be SELL or SELL_SHORT", field: "side"))
        }
        guard let quantity = body.quantity else { return .failure(.failure(.unprocessableContent, "quantity is required", field: "quantity")) }
        if let price = body.price?.value, let bad = InputBounds.decimal(price, limit: InputBounds.maxPrice, field: "price") {
            return .failure(.failure(.unprocessableContent, "price \(bad.message)", field: "price"))
        }
        // Another client's book, or the firm's, is unknown to a client (the same answer as no book).
        if let own = caller.clientScope, model.book(body.bookId!)?.clientId != own {
            return .failure(.failure(.notFound, "unknown book \(body.bookId!)", field: "bookId"))
        }
        return .success(
            OrderCommand(
                orderId: body.orderId!, clientId: body.clientId!, bookId: body.bookId!, securityId: body.securityId!, side: side,
                quantity: quantity, price: body.price?.value ?? .zero, user: body.user))
    }

    // MARK: Submit

    /// Submits the batches in order, without waiting: `completion` gets their outcomes (in the same order) once
    /// every one is durable, applied and visible, on an engine thread (it must return at once). Nothing to
    /// submit: called at once.
    func submit(_ submission: Submission, completion: @escaping @Sendable ([Result<BatchOutcome, EngineError>]) -> Void) {
        let count = submission.batches.count
        guard count > 0 else { return completion([]) }
        let results = Mutex<[Result<BatchOutcome, EngineError>?]>(Array(repeating: nil, count: count))
        let left = Atomic<Int>(count)
        for (k, entry) in submission.batches.enumerated() {
            let done: @Sendable (Result<BatchOutcome, EngineError>) -> Void = { result in
                results.withLock { $0[k] = result }
                if left.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { completion(results.withLock { $0.map { $0! } }) }
            }
            if let refused = engine.submit(entry.batch, completion: done) { done(.failure(refused)) }
        }
    }

    /// Submits and waits for the outcomes (timing the hop back to this task: `StageTimes.Stage.resume`).
    func outcomes(of submission: Submission) async -> [Result<BatchOutcome, EngineError>] {
        let (outcomes, answeredAt) = await withCheckedContinuation { continuation in
            submit(submission) { continuation.resume(returning: ($0, StageTimes.now())) }
        }
        if !submission.batches.isEmpty { engine.stageTimes.record(.resume, nanoseconds: StageTimes.now() &- answeredAt) }
        return outcomes
    }

    // MARK: Answer

    /// The answer to every request, in order, from the outcomes of its batches (one read of the read model).
    func answers(_ submission: Submission, outcomes: [Result<BatchOutcome, EngineError>]) -> [Answer] {
        // Where each submitted request's line landed: its batch's outcome, and its line there.
        var placed: [Int: (outcome: Int, line: Int)] = [:]
        for (k, entry) in submission.batches.enumerated() {
            for (n, i) in entry.indices.enumerated() { placed[i] = (k, n + 1) }
        }
        let started = StageTimes.now()
        defer { if !submission.batches.isEmpty { engine.stageTimes.record(.render, nanoseconds: StageTimes.now() &- started) } }
        return engine.readModel.read { model in
            var answers: [Answer] = []
            answers.reserveCapacity(submission.prepared.count)
            for (i, p) in submission.prepared.enumerated() {
                switch p {
                case .answered(let answer): answers.append(answer)
                case .command(_, _, let pending):
                    guard let (k, line) = placed[i] else {
                        answers.append(.failure(.internalServerError, "the request was not submitted", field: nil))
                        continue
                    }
                    switch outcomes[k] {
                    case .failure(let error): answers.append(.engine(error))
                    case .success(let outcome):
                        if let refused = outcome.rejected.first(where: { $0.line == line }) {
                            answers.append(Self.refusal(refused, pending))
                        } else {
                            let applied = outcome.results.first { $0.line == line }?.status == .applied
                            answers.append(Self.answer(pending, applied: applied, model: model))
                        }
                    }
                }
            }
            return answers
        }
    }

    /// Prepares, submits, waits and answers: what a REST route and `POST /api/v1/decisions` do.
    func decide(_ requests: [Request], caller: Caller) async -> [Answer] {
        let submission = prepare(requests, caller: caller)
        return answers(submission, outcomes: await outcomes(of: submission))
    }

    /// A command the engine refused: 409 when a cancellation finds the locate no longer cancellable, else 422,
    /// naming the field.
    static func refusal(_ refused: LineError, _ pending: Prepared.Pending) -> Answer {
        var status = HTTPResponse.Status.unprocessableContent
        switch pending {
        case .cancelLocate, .cancelOrder: if refused.field == "status" { status = .conflict }
        default: break
        }
        return .failure(status, refused.error, field: refused.field)
    }

    static func answer(_ pending: Prepared.Pending, applied: Bool, model: borrowing ReadModel) -> Answer {
        switch pending {
        case .locate(let clientId, let requestId):
            guard let view = model.locate(clientId: clientId, requestId: requestId) else {
                return .failure(.internalServerError, "the request was journaled but its locate is not visible", field: nil)
            }
            // 201 for a new locate; 200 when a re-send of the same request made it first.
            return .ok(view.json, applied ? .created : .ok)
        case .order(let clientId, let orderId, let scoped):
            guard let view = model.order(clientId: clientId, orderId: orderId) else {
                return .failure(.internalServerError, "the order was journaled but its decision is not visible", field: nil)
            }
            return .ok(render(view, scoped: scoped))
        case .cancelLocate(let id, let scoped):
            guard let view = model.locate(id) else { return .failure(.internalServerError, "locate \(id) vanished", field: nil) }
            return .ok(scoped ? view.forClient().json : view.json)
        case .cancelOrder(let clientId, let orderId, let scoped):
            guard let view = model.order(clientId: clientId, orderId: orderId) else {
                return .failure(.internalServerError, "order \(orderId) vanished", field: nil)
            }
            return .ok(render(view, scoped: scoped))
        }
    }

    /// An order's decision as a caller sees it: a client without the firm's figures.
    static func render(_ view: OrderView, scoped: Bool) -> String { scoped ? view.forClient().json : view.json }
}

/// An answer that refuses (how `orderCommand` says why, as a `Result`'s failure).
extension DecisionDesk.Answer: Error {}
