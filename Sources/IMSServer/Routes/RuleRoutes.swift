import Foundation
import Hummingbird
import IMSDomain
import IMSEngine
import IMSRules
import IMSRuntime

/// The rule lifecycle (SPEC 4.3, docs/inventory.md): read the versions, draft (or import) a rule set,
/// preview what it would change, approve it as a second person, activate it, or reject it. Every step is
/// a `RuleCommand`, journaled like an event; until authentication (issue 15) the person is the body's `user`.
struct RuleRoutes {
    let engine: Engine

    /// A version as listed: its lifecycle and people, and with `document` the rule set itself.
    struct VersionView: Codable {
        var version: Int64
        var status: String
        var name: String
        var author: String
        var createdAt: Timestamp
        var sequence: Int64
        var approvedBy: String?
        var activatedBy: String?
        var rules: Int
        var document: RuleSetDocument?

        init(_ v: RuleVersion, document: Bool) {
            version = v.version; status = v.status.rawValue; name = v.document.name; author = v.author; createdAt = v.createdAt
            sequence = v.sequence; approvedBy = v.approvedBy; activatedBy = v.activatedBy
            rules = v.document.packs.reduce(0) { $0 + $1.rules.count }
            self.document = document ? v.document : nil
        }
    }

    struct Listing: Codable {
        var activeVersion: Int
        var versions: [VersionView]
    }

    /// The body of a lifecycle step.
    struct Step: Codable {
        var user: String?
        var comment: String?
    }

    /// The body of a draft: who, why, and the rule set.
    struct Draft: Codable {
        var user: String?
        var comment: String?
        var document: RuleSetDocument?
    }

    func register(on router: Router<IMSRequestContext>) {
        router.get("/api/v1/rules") { _, _ in
            JSONResponse.ok(engine.readModel.read { m in
                Listing(activeVersion: m.rules.active.version, versions: m.rules.versions.map { VersionView($0, document: false) })
            })
        }
        router.get("/api/v1/rules/audit") { _, _ in JSONResponse.ok(engine.readModel.read { $0.rules.audit }) }
        router.get("/api/v1/rules/:version") { _, context in
            try version(context) { v in JSONResponse.ok(VersionView(v, document: true)) }
        }
        router.get("/api/v1/rules/:version/export") { _, context in
            try version(context) { v in JSONResponse.raw(Data(v.document.encoded())) }
        }
        router.get("/api/v1/rules/:version/preview") { request, context in
            let limit: Int
            do { limit = try QueryParameters(request).int("limit", default: 100, range: 1...10_000) } catch let bad as BadParameter { return bad.response }
            let text = context.pathParameter("version")
            guard let n = Int64(text) else { return JSONResponse.failure(.badRequest, "the version must be a whole number", field: "version") }
            // Every security under two rule sets, and today's locates decided again: a long read.
            return await ReadPool.shared.long(engine.readModel) { m in
                guard let v = m.rules.version(n) else { return JSONResponse.failure(.notFound, "no rule set version \(n)", field: "version") }
                return JSONResponse.ok(m.preview(ActiveRules(version: Int(v.version), rules: v.compiled), limit: limit))
            }
        }
        router.post("/api/v1/rules/drafts") { request, context in
            let draft = try await JSONBody.decode(Draft.self, from: request, shape: #"{"user","comment","document"}"#,
                                                  limit: InputBounds.maxRuleDocumentBytes, limits: .ruleDocument)
            guard let document = draft.document else { return JSONResponse.failure(.unprocessableContent, "a draft needs a rule set document", field: "document") }
            if let long = Self.overlong(user: draft.user, comment: draft.comment) { return long }
            // Validated completely (read, limits, every formula compiled and bounded) before it is journaled.
            let text = document.encoded()
            if let refused = await Self.compileProblem(text, field: { _ in "document" }) { return refused }
            return await submit(RuleCommand(action: .draft, version: 0, user: draft.user ?? "", comment: draft.comment,
                                            document: String(decoding: text, as: UTF8.self)), created: true, context: context)
        }
        // An exported document, as is: `ims rules import` posts the file `ims rules export` wrote.
        router.post("/api/v1/rules/import") { request, context in
            let query = QueryParameters(request)
            let bytes = try await JSONBody.bytes(request, limit: InputBounds.maxRuleDocumentBytes)
            if let long = Self.overlong(user: query.string("user"), comment: query.string("comment")) { return long }
            // Validated completely (read strictly, limits, every formula compiled and bounded) before it is journaled.
            if let refused = await Self.compileProblem(Array(bytes), field: { $0.field }) { return refused }
            return await submit(RuleCommand(action: .draft, version: 0, user: query.string("user") ?? "", comment: query.string("comment"),
                                            document: String(decoding: bytes, as: UTF8.self)), created: true, context: context)
        }
        for action in [RuleCommand.Action.preview, .approve, .reject, .activate] {
            router.post("/api/v1/rules/:version/\(action.rawValue.lowercased())") { request, context in
                guard let number = Int64(context.pathParameter("version")) else {
                    return JSONResponse.failure(.badRequest, "the version must be a whole number", field: "version")
                }
                let step = try await JSONBody.decode(Step.self, from: request, shape: #"{"user","comment"}"#)
                let response = await submit(RuleCommand(action: action, version: number, user: step.user ?? "", comment: step.comment), created: false, context: context)
                guard action == .preview, response.status == .ok else { return response }
                // The step is recorded; the answer is the what-if itself (a long read). Should the long-read lane
                // be full, the step stands and the answer says to fetch the what-if with GET …/preview.
                return await ReadPool.shared.long(engine.readModel) { m in
                    guard let v = m.rules.version(number) else { return response }
                    return JSONResponse.ok(m.preview(ActiveRules(version: Int(v.version), rules: v.compiled)))
                }
            }
        }
    }

    private func version(_ context: IMSRequestContext, _ body: (RuleVersion) -> Response) throws -> Response {
        let text = context.pathParameter("version")
        guard let n = Int64(text) else { return JSONResponse.failure(.badRequest, "the version must be a whole number", field: "version") }
        guard let v = engine.readModel.read({ $0.rules.version(n) }) else { return JSONResponse.failure(.notFound, "no rule set version \(n)", field: "version") }
        return body(v)
    }

    /// Compiles a rule document on the read pool's long lane (a document of thousands of rules takes a while:
    /// never on an event loop); a 422 naming the field when it does not compile, 503 when the lane is full.
    static func compileProblem(_ text: [UInt8], field: @escaping @Sendable (RuleError) -> String?) async -> Response? {
        do {
            return try await ReadPool.shared.run(.long) { () -> Response? in
                do throws(RuleError) { _ = try CompiledRuleSet(json: text) } catch {
                    return JSONResponse.failure(.unprocessableContent, error.description, field: field(error))
                }
                return nil
            }
        } catch let busy as ReadPoolBusy {
            return busy.response
        } catch {
            return JSONResponse.failure(.serviceUnavailable, "\(error)")
        }
    }

    /// A 422 naming `user` or `comment` when one is longer than free text may be.
    static func overlong(user: String?, comment: String?) -> Response? {
        for (field, value) in [("user", user), ("comment", comment)] where (value?.utf8.count ?? 0) > InputBounds.maxTextBytes {
            return JSONResponse.failure(.unprocessableContent, "\(field) is longer than \(InputBounds.maxTextBytes) bytes", field: field)
        }
        return nil
    }

    /// Journals one command and answers with the version it made or moved (201 for a new draft), or 422
    /// naming the field when the command is refused.
    private func submit(_ command: RuleCommand, created: Bool, context: IMSRequestContext) async -> Response {
        // Signed in, the person is the identity (maker/checker compares identities); without authentication,
        // the body's `user`.
        var command = command
        if let who = context.identity?.subject { command.user = who }
        var batch = IngestBatch(receivedAt: WallClock.now(), events: [.ruleCommand(command)], lines: [1])
        batch.issuer = context.issuer(named: command.user)
        batch.wantsResults = true
        let outcome: BatchOutcome
        do { outcome = try await engine.submit(batch) } catch { return JSONResponse.failure(.serviceUnavailable, error.description) }
        if let refused = outcome.rejected.first { return JSONResponse.failure(.unprocessableContent, refused.error, field: refused.field) }
        let sequence = outcome.results.first?.sequence
        return engine.readModel.read { m in
            let v = command.action == .draft ? m.rules.versions.last { $0.sequence == sequence } : m.rules.version(command.version)
            guard let v else { return JSONResponse.failure(.internalServerError, "the command was applied but its version is not visible") }
            return JSONResponse.ok(VersionView(v, document: false), status: created ? .created : .ok)
        }
    }
}
