import Foundation
import Hummingbird
import IMSDomain
import IMSEngine
import IMSRules
import IMSRuntime

/// The rule lifecycle (SPEC 4.3, docs/inventory.md): read the versions, draft (or import) a rule set,
/// preview what it would change, approve it as a second person, activate it, or reject it. Every step is
/// a `RuleCommand`, journaled like an event. Signed in, the person is the identity (maker/checker compares
/// identities); without authentication, the body's `user`.
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
        router.get("/api/v1/rules", use: list)
        router.get("/api/v1/rules/audit", use: audit)
        router.get("/api/v1/rules/:version", use: version)
        router.get("/api/v1/rules/:version/export", use: export)
        router.get("/api/v1/rules/:version/preview", use: preview)
        router.post("/api/v1/rules/drafts", use: draft)
        // An exported document, as is: `ims rules import` posts the file `ims rules export` wrote.
        router.post("/api/v1/rules/import", use: importDocument)
        for action in [RuleCommand.Action.preview, .approve, .reject, .activate] {
            router.post("/api/v1/rules/:version/\(action.rawValue.lowercased())") { request, context in
                try await step(action, request, context: context)
            }
        }
    }

    @Sendable func list(_ request: Request, context: IMSRequestContext) async throws -> Response {
        JSONResponse.ok(
            engine.readModel.read { m in
                Listing(activeVersion: m.rules.active.version, versions: m.rules.versions.map { VersionView($0, document: false) })
            })
    }

    @Sendable func audit(_ request: Request, context: IMSRequestContext) async throws -> Response {
        JSONResponse.ok(engine.readModel.read { $0.rules.audit })
    }

    @Sendable func version(_ request: Request, context: IMSRequestContext) async throws -> Response {
        JSONResponse.ok(VersionView(try version(context), document: true))
    }

    @Sendable func export(_ request: Request, context: IMSRequestContext) async throws -> Response {
        JSONResponse.raw(Data(try version(context).document.encoded()))
    }

    /// Every security under two rule sets, and today's locates decided again: a long read.
    @Sendable func preview(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let limit = try QueryParameters(request).int("limit", default: 100, range: 1...10_000)
        let n = try Self.versionNumber(context)
        return await ReadPool.shared.long(engine.readModel) { m in
            guard let v = m.rules.version(n) else { return APIError(.notFound, "no rule set version \(n)", field: "version").response }
            return JSONResponse.ok(m.preview(ActiveRules(version: Int(v.version), rules: v.compiled), limit: limit))
        }
    }

    @Sendable func draft(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let draft = try await JSONBody.decode(
            Draft.self, from: request, shape: #"{"user","comment","document"}"#,
            limit: InputBounds.maxRuleDocumentBytes, limits: .ruleDocument)
        guard let document = draft.document else { throw APIError(.unprocessableContent, "a draft needs a rule set document", field: "document") }
        try Self.refuseOverlong(user: draft.user, comment: draft.comment)
        // Validated completely (read, limits, every formula compiled and bounded) before it is journaled.
        let text = document.encoded()
        try await Self.compile(text, field: { _ in "document" })
        return try await submit(
            RuleCommand(
                action: .draft, version: 0, user: draft.user ?? "", comment: draft.comment,
                document: String(decoding: text, as: UTF8.self)), created: true, context: context)
    }

    @Sendable func importDocument(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let query = QueryParameters(request)
        let bytes = try await JSONBody.bytes(request, limit: InputBounds.maxRuleDocumentBytes)
        try Self.refuseOverlong(user: query.string("user"), comment: query.string("comment"))
        // Validated completely (read strictly, limits, every formula compiled and bounded) before it is journaled.
        try await Self.compile(Array(bytes), field: { $0.field })
        return try await submit(
            RuleCommand(
                action: .draft, version: 0, user: query.string("user") ?? "", comment: query.string("comment"),
                document: String(decoding: bytes, as: UTF8.self)), created: true, context: context)
    }

    /// A lifecycle step: preview, approve, reject or activate.
    func step(_ action: RuleCommand.Action, _ request: Request, context: IMSRequestContext) async throws -> Response {
        let number = try Self.versionNumber(context)
        let step = try await JSONBody.decode(Step.self, from: request, shape: #"{"user","comment"}"#)
        let response = try await submit(
            RuleCommand(action: action, version: number, user: step.user ?? "", comment: step.comment), created: false, context: context)
        guard action == .preview else { return response }
        // The step is recorded; the answer is the what-if itself (a long read). Should the long-read lane
        // be full, the step stands and the answer says to fetch the what-if with GET …/preview.
        return await ReadPool.shared.long(engine.readModel) { m in
            guard let v = m.rules.version(number) else { return response }
            return JSONResponse.ok(m.preview(ActiveRules(version: Int(v.version), rules: v.compiled)))
        }
    }

    /// The path's version number, 400 when it is not one.
    private static func versionNumber(_ context: IMSRequestContext) throws(APIError) -> Int64 {
        guard let n = Int64(context.pathParameter("version")) else { throw APIError(.badRequest, "the version must be a whole number", field: "version") }
        return n
    }

    /// The path's version, 404 when there is none.
    private func version(_ context: IMSRequestContext) throws(APIError) -> RuleVersion {
        let n = try Self.versionNumber(context)
        guard let v = engine.readModel.read({ $0.rules.version(n) }) else { throw APIError(.notFound, "no rule set version \(n)", field: "version") }
        return v
    }

    /// Compiles a rule document on the read pool's long lane (a document of thousands of rules takes a while:
    /// never on an event loop); 422 naming the field when it does not compile, 503 when the lane is full.
    static func compile(_ text: [UInt8], field: @escaping @Sendable (RuleError) -> String?) async throws {
        let problem = try await ReadPool.shared.run(.long) { () -> APIError? in
            do throws(RuleError) { _ = try CompiledRuleSet(json: text) } catch {
                return APIError(.unprocessableContent, error.description, field: field(error))
            }
            return nil
        }
        if let problem { throw problem }
    }

    /// 422 naming `user` or `comment` when one is longer than free text may be.
    static func refuseOverlong(user: String?, comment: String?) throws(APIError) {
        for (field, value) in [("user", user), ("comment", comment)] where (value?.utf8.count ?? 0) > InputBounds.maxTextBytes {
            throw APIError(.unprocessableContent, "\(field) is longer than \(InputBounds.maxTextBytes) bytes", field: field)
        }
    }

    /// Journals one command and answers with the version it made or moved (201 for a new draft), or 422
    /// naming the field when the command is refused.
    private func submit(_ command: RuleCommand, created: Bool, context: IMSRequestContext) async throws(APIError) -> Response {
        // Signed in, the person is the identity (maker/checker compares identities); without authentication,
        // the body's `user`.
        var command = command
        if let who = context.identity?.subject { command.user = who }
        let outcome = try await engine.journal(command, issuer: context.issuer(named: command.user))
        let sequence = outcome.results.first?.sequence
        let made = engine.readModel.read { m in
            command.action == .draft ? m.rules.versions.last { $0.sequence == sequence } : m.rules.version(command.version)
        }
        guard let made else { throw APIError(.internalServerError, "the command was applied but its version is not visible") }
        return JSONResponse.ok(VersionView(made, document: false), status: created ? .created : .ok)
    }
}
