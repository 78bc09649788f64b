import Foundation
import Hummingbird
import IMSDomain
import IMSEngine
import IMSRuntime

/// The locate workflow (SPEC 4.4, 6): requests one by one or in bulk, the operator's decisions,
/// cancellations, and the listing. Every step is a `LocateCommand`, journaled before it is answered.
/// Signed in, the person is the identity; without authentication (`--insecure-no-auth`), the body's
/// `requestor` or `user`.
struct LocateRoutes {
    let engine: Engine

    /// `POST /api/v1/locates`, and one line of a bulk file.
    struct RequestBody: Codable, Equatable {
        var requestId: String?
        var clientId: String?
        var securityId: String?
        var quantity: Int64?
        var side: String?
        var settlement: String?
        var requestor: String?
    }

    struct Decision: Codable {
        var action: String?
        var quantity: Int64?
        var user: String?
        var reason: String?
    }

    struct Cancel: Codable {
        var clientId: String?
        var user: String?
        var reason: String?
    }

    /// One line's answer in a bulk request.
    struct BulkLine: Codable {
        var line: Int
        var locate: LocateView?
        var field: String?
        var error: String?
    }

    struct BulkAnswer: Codable {
        var accepted: Int
        var rejected: Int
        var results: [BulkLine]
    }

    static let maxBulkLines = 10_000
    static let requestShape = #"{"requestId","clientId","securityId","quantity","side","settlement","requestor"}"#
    static let requestFields: Set<String> = ["requestId", "clientId", "securityId", "quantity", "side", "settlement", "requestor"]

    /// The body read by `FlatJSON` when it can, exactly as `JSONBody.decode` would; nil: decode it with that.
    static func fastBody(_ data: Data) -> RequestBody? {
        guard let o = FlatJSON(data), o.hasOnly(requestFields), let requestId = o.string("requestId"), let clientId = o.string("clientId"),
            let securityId = o.string("securityId"), let quantity = o.int64("quantity"), let side = o.string("side"),
            let settlement = o.string("settlement"), let requestor = o.string("requestor")
        else { return nil }
        return RequestBody(
            requestId: requestId, clientId: clientId, securityId: securityId, quantity: quantity, side: side,
            settlement: settlement, requestor: requestor)
    }

    func register(on router: Router<IMSRequestContext>) {
        router.post("/api/v1/locates", use: requestLocate)
        router.post("/api/v1/locates/bulk", use: bulk)
        router.get("/api/v1/locates", use: list)
        router.get("/api/v1/locates/:locateId", use: locate)
        router.post("/api/v1/locates/:locateId/decision", use: decide)
        router.post("/api/v1/locates/:locateId/cancel", use: cancel)
    }

    @Sendable func requestLocate(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let data = try await JSONBody.bytes(request)
        let body = try Self.fastBody(data) ?? JSONBody.decode(RequestBody.self, from: data, shape: Self.requestShape)
        // Checked, journaled and answered as every decision is (a client acts for its own client, as the decoded
        // body says; a re-sent request gets its first answer).
        return try await DecisionDesk(engine: engine).decide([.locate(body)], caller: .init(identity: context.identity))[0].response()
    }

    @Sendable func bulk(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let data = try await JSONBody.bytes(request, limit: 16 << 20)
        let text = String(decoding: data, as: UTF8.self)
        let parsed = Self.parseBulk(text, csv: request.headers[.contentType]?.contains("csv") == true)
        if parsed.count > Self.maxBulkLines {
            throw APIError(.contentTooLarge, "at most \(Self.maxBulkLines) requests per file", field: "body")
        }
        var results: [BulkLine] = []
        var commands: [(line: Int, command: LocateCommand)] = []
        for (line, item) in parsed {
            switch item {
            case .failure(let bad): results.append(BulkLine(line: line, field: bad.field, error: bad.message))
            case .success(let c): commands.append((line, c))
            }
        }
        if !commands.isEmpty {
            var batch = IngestBatch(receivedAt: WallClock.now(), events: commands.map { Event($0.command) }, lines: commands.map { Int32($0.line) })
            batch.mode = .partial
            batch.wantsResults = true
            batch.issuer = context.issuer(named: nil)
            let outcome = try await engine.submitting(batch)
            let refused = Dictionary(outcome.rejected.map { ($0.line, $0) }, uniquingKeysWith: { a, _ in a })
            engine.readModel.read { m in
                for (line, c) in commands {
                    if let r = refused[line] {
                        results.append(BulkLine(line: line, field: r.field, error: r.error))
                    } else if let l = m.locate(clientId: c.clientId!, requestId: c.requestId!) {
                        results.append(BulkLine(line: line, locate: l))
                    }
                }
            }
        }
        results.sort { $0.line < $1.line }
        let accepted = results.filter { $0.locate != nil }.count
        return JSONResponse.ok(BulkAnswer(accepted: accepted, rejected: results.count - accepted, results: results))
    }

    @Sendable func list(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let q = QueryParameters(request)
        let client = try context.scopedClient(q.string("clientId"))
        let status = try q.enumeration("status", LocateRecord.Status.self)
        var date: BusinessDate?
        if let text = try q.string("date") {
            guard let d = BusinessDate(parsing: text) else { throw APIError(.badRequest, "date must be yyyy-MM-dd", field: "date") }
            date = d
        }
        let offset = try q.int("offset", default: 0, range: 0...Int(Int32.max)), limit = try q.int("limit", default: 100, range: 1...10_000)
        let filter = LocateFilter(
            clientId: client, securityId: try q.string("securityId"), status: status,
            marketId: try q.string("marketId"), businessDate: date)
        var page = engine.readModel.read { $0.locates(matching: filter, offset: offset, limit: limit) }
        if context.clientScope != nil { page.items = page.items.map { $0.forClient() } }
        return JSONResponse.ok(page)
    }

    @Sendable func locate(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let id = context.pathParameter("locateId")
        // Another client's locate is unknown to a client.
        guard let view = engine.readModel.read({ $0.locate(id) }), context.maySee(client: view.clientId) else {
            throw APIError(.notFound, "unknown locate \(id)", field: "locateId")
        }
        return JSONResponse.raw(context.clientScope == nil ? view.json : view.forClient().json)
    }

    @Sendable func decide(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let id = context.pathParameter("locateId")
        let body = try await JSONBody.decode(Decision.self, from: request, shape: #"{"action":"APPROVE"|"REJECT","quantity","user","reason"}"#)
        guard let action = body.action, let decision = LocateCommand.Decision(rawValue: action) else {
            throw APIError(.unprocessableContent, "action must be APPROVE or REJECT", field: "action")
        }
        return try await submit(
            LocateCommand(action: .decide, quantity: body.quantity, user: body.user, locateId: id, decision: decision, reason: body.reason), id: id,
            context: context)
    }

    @Sendable func cancel(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let id = context.pathParameter("locateId")
        let body = try await JSONBody.decode(Cancel.self, from: request, shape: #"{"clientId","user","reason"}"#)
        return try await DecisionDesk(engine: engine).decide([.cancelLocate(locateId: id, body)], caller: .init(identity: context.identity))[0].response()
    }

    /// Journals an operator's decision and answers with the locate as it is then: 404 for an unknown locate,
    /// 409 when it is no longer in a state the command can act on, 422 naming the field otherwise.
    private func submit(_ command: LocateCommand, id: String, context: IMSRequestContext) async throws(APIError) -> Response {
        guard let current = engine.readModel.read({ $0.locate(id) }), context.maySee(client: current.clientId) else {
            throw APIError(.notFound, "unknown locate \(id)", field: "locateId")
        }
        // Signed in, who decided or cancelled is the identity.
        var command = command
        if let who = context.identity?.subject { command.user = who }
        // No longer in a state the command can act on: 409.
        _ = try await engine.journal(command, issuer: context.issuer(named: command.user)) { $0.field == "status" ? .conflict : .unprocessableContent }
        guard let view = engine.readModel.read({ $0.locate(id) }) else { throw APIError(.internalServerError, "locate \(id) vanished") }
        return JSONResponse.raw(context.clientScope == nil ? view.json : view.forClient().json)
    }

    struct Bad: Error {
        var field: String
        var message: String
    }

    /// A request body as a command, or what is wrong with it.
    static func command(_ r: RequestBody) -> Result<LocateCommand, Bad> {
        for (field, value) in [("requestId", r.requestId), ("clientId", r.clientId), ("securityId", r.securityId)] {
            if let bad = InputBounds.identifier(value, field: field) { return .failure(Bad(field: bad.field, message: bad.message)) }
        }
        if let who = r.requestor, who.utf8.count > InputBounds.maxTextBytes {
            return .failure(Bad(field: "requestor", message: "requestor is longer than \(InputBounds.maxTextBytes) bytes"))
        }
        guard let quantity = r.quantity else { return .failure(Bad(field: "quantity", message: "quantity is required")) }
        guard let sideText = r.side, let side = LocateCommand.Side(rawValue: sideText) else {
            return .failure(Bad(field: "side", message: "side must be SHORT or LONG"))
        }
        var settlement = LocateCommand.Settlement.cash
        if let s = r.settlement {
            guard let v = LocateCommand.Settlement(rawValue: s) else { return .failure(Bad(field: "settlement", message: "settlement must be CASH or SWAP")) }
            settlement = v
        }
        return .success(
            LocateCommand(
                action: .request, requestId: r.requestId, clientId: r.clientId, securityId: r.securityId, quantity: quantity,
                side: side, settlement: settlement, user: r.requestor))
    }

    /// The lines of a bulk file (NDJSON, or CSV with a header row naming the fields), numbered from 1 (a CSV's
    /// header is line 1). Blank lines are skipped. CSV cells are split at commas (identifiers hold none).
    static func parseBulk(_ text: String, csv: Bool) -> [(Int, Result<LocateCommand, Bad>)] {
        var out: [(Int, Result<LocateCommand, Bad>)] = []
        var header: [String]?
        let rows = text.split(separator: "\n", omittingEmptySubsequences: false)
        // The format is the content type's, else the first line's: a JSON object, or a CSV header.
        let first = rows.first { !$0.trimmingCharacters(in: .whitespaces).isEmpty }?.trimmingCharacters(in: .whitespaces) ?? ""
        let isCSV = csv || !first.hasPrefix("{")
        for (n, raw) in rows.enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty { continue }
            if isCSV {
                let cells = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
                guard let names = header else {
                    if let twice = cells.first(where: { c in cells.filter { $0 == c }.count > 1 }) {
                        return [(n + 1, .failure(Bad(field: twice, message: "the header names \(twice) more than once")))]
                    }
                    header = cells
                    continue
                }
                guard cells.count == names.count else {
                    out.append((n + 1, .failure(Bad(field: "line", message: "\(cells.count) cells where the header has \(names.count)"))))
                    continue
                }
                let fields = Dictionary(zip(names, cells), uniquingKeysWith: { a, _ in a })
                var q: Int64?
                if let text = fields["quantity"], !text.isEmpty {
                    guard let v = Int64(text) else {
                        out.append((n + 1, .failure(Bad(field: "quantity", message: "quantity must be a whole number")))); continue
                    }
                    q = v
                }
                let r = RequestBody(
                    requestId: fields["requestId"], clientId: fields["clientId"], securityId: fields["securityId"], quantity: q,
                    side: fields["side"], settlement: fields["settlement"].flatMap { $0.isEmpty ? nil : $0 }, requestor: fields["requestor"])
                out.append((n + 1, command(r)))
            } else {
                do throws(APIError) {
                    out.append((n + 1, command(try JSONBody.decode(RequestBody.self, from: Data(line.utf8), shape: requestShape))))
                } catch {
                    out.append((n + 1, .failure(Bad(field: error.field.map { $0 == "body" ? "line" : $0 } ?? "line", message: error.message))))
                }
            }
        }
        return out
    }
}
