import Hummingbird
import IMSDomain
import IMSEngine
import IMSRuntime

/// Health for orchestrators and people: `/health/live`, `/health/ready`, `/health`; and `/metrics`.
struct OperationsRoutes {
    let engine: Engine
    let configuration: ServerConfiguration

    func register(on router: Router<IMSRequestContext>) {
        Self.registerLiveness(on: router)
        router.get("/health/ready", use: ready)
        router.get("/health", use: healthRoute)
        router.get("/api/v1/me", use: me)
        router.get("/metrics/history", use: metricsHistory)
    }

    /// Ready to take traffic: recovered (the server listens only once recovery is done) and the journal
    /// writable; otherwise 503 with the reason, so a balancer sends writes elsewhere.
    @Sendable func ready(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let journal = engine.journalStatus
        if journal.failing {
            var body = #"{"status":"unavailable","reason":"the journal cannot write"#
            if let error = journal.lastError { body += ": " + String(JSONText.quoted(error).dropFirst().dropLast()) }
            return JSONResponse.raw(body + #""}"#, status: .serviceUnavailable)
        }
        return JSONResponse.raw(#"{"status":"ready"}"#)
    }

    @Sendable func healthRoute(_ request: Request, context: IMSRequestContext) async throws -> Response {
        JSONResponse.raw(health())
    }

    /// Who the caller is, for the dashboard to offer only what the roles may do. Without authentication
    /// (`--insecure-no-auth`) every caller acts with every role.
    @Sendable func me(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let who = context.identity
        return JSONResponse.ok(
            Me(
                subject: who?.subject ?? "anonymous", roles: (who?.roles ?? Set(Role.allCases)).map(\.rawValue).sorted(),
                clientId: who?.clientId, authenticated: who != nil))
    }

    @Sendable func metricsHistory(_ request: Request, context: IMSRequestContext) async throws -> Response {
        JSONResponse.raw(IMSMetrics.shared.history.json)
    }

    /// `GET /api/v1/me`.
    struct Me: Codable {
        var subject: String
        var roles: [String]
        var clientId: String?
        var authenticated: Bool
    }

    /// `/health/live`: the process answers. Nothing else is checked, so a slow or recovering engine never
    /// gets the process restarted; the recovering server (`ServingGate`) answers it too.
    static func registerLiveness(on router: Router<IMSRequestContext>) {
        router.get("/health/live") { _, _ in JSONResponse.raw(#"{"status":"live"}"#) }
    }

    /// `/metrics`, which reads the stream hub too.
    func registerMetrics(on router: Router<IMSRequestContext>, hub: StreamHub) {
        let metrics = IMSMetrics.shared
        router.get("/metrics") { [configuration] _, _ in
            let body = metrics.scrape(engine: engine, hub: hub, storage: configuration.storage)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
    }

    private func health() -> String {
        let (events, positions, record) = engine.readModel.read { ($0.lastSequence, $0.positionCount, $0.appliedRecord) }
        let journal = engine.journalStatus
        // After a repair, until a person acknowledges the JOURNAL_REPAIRED exception (looked for only then).
        let repairUnacknowledged =
            configuration.storage?.repairedAtStart == true
            && !engine.readModel.read { $0.exceptions(kind: .journalRepaired, acknowledged: false, limit: 1).isEmpty }
        let degraded = journal.failing || repairUnacknowledged
        var body = "{\"status\":\"\(degraded ? "degraded" : "ok")\",\"lastSequence\":\(events),\"positions\":\(positions),"
        body += "\"pendingEvents\":\(engine.pendingEvents),\"journal\":{\"durable\":\(configuration.dataDirectory != nil),"
        body += "\"appliedRecord\":\(record),\"failing\":\(journal.failing),\"repairUnacknowledged\":\(repairUnacknowledged)"
        if let error = journal.lastError, journal.failing { body += ",\"lastError\":" + JSONText.quoted(error) }
        body += "},\"feed\":{\"published\":\(engine.feed.lastPublished),"
        body += "\"readModelResynchronisations\":\(engine.readModel.resynchronisations),\"consumers\":["
        body += engine.feed.consumers().map { "{\"name\":" + JSONText.quoted($0.name) + ",\"position\":\($0.position),\"lag\":\($0.lag)}" }
            .joined(separator: ",")
        body += "]}}"
        return body
    }
}
