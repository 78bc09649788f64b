import Crypto
import Foundation
import Hummingbird
import IMSDomain
import IMSEngine
import IMSHistory
import IMSRuntime

/// Health for orchestrators and people: `/health/live`, `/health/ready`, `/health`; and `/metrics`.
struct OperationsRoutes {
    let engine: Engine
    let configuration: ServerConfiguration

    func register(on router: Router<IMSRequestContext>) {
        Self.registerLiveness(on: router)
        router.get("/health/ready", use: ready)
        router.get("/health/leader", use: leader)
        router.get("/health/state", use: stateHash)
        router.post("/api/v1/cluster/step-down", use: stepDown)
        router.get("/health", use: healthRoute)
        router.get("/api/v1/me", use: me)
        router.get("/metrics/history", use: metricsHistory)
    }

    /// Ready to take traffic: recovered (the server listens only once recovery is done) and the journal
    /// writable; otherwise 503 with the reason, so a balancer sends writes elsewhere.
    @Sendable func ready(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let journal = engine.journalStatus
        if let status = configuration.replication?.replicaStatus, status.halted {
            return JSONResponse.raw(
                #"{"status":"unavailable","reason":"# + JSONText.quoted("this node stopped following the log: \(status.brokerError ?? "")") + "}",
                status: .serviceUnavailable)
        }
        if journal.failing {
            var body = #"{"status":"unavailable","reason":"the journal cannot write"#
            if let error = journal.lastError { body += ": " + String(JSONText.quoted(error).dropFirst().dropLast()) }
            return JSONResponse.raw(body + #""}"#, status: .serviceUnavailable)
        }
        return JSONResponse.raw(#"{"status":"ready"}"#)
    }

    /// `/health/leader`: 200 on the node that takes writes (every node without a replicated journal), 503 on
    /// a standby or a candidate, so that a balancer sends writes to the leader only.
    @Sendable func leader(_ request: Request, context: IMSRequestContext) async throws -> Response {
        guard let status = configuration.replication?.replicaStatus else { return JSONResponse.raw(#"{"role":"leader"}"#) }
        let body = #"{"role":"\#(status.role.rawValue)""# + (status.leaderURL.map { ",\"leader\":" + JSONText.quoted($0) } ?? "") + "}"
        return JSONResponse.raw(body, status: status.role == .leader ? .ok : .serviceUnavailable)
    }

    /// `POST /api/v1/cluster/step-down`: the leader gives leadership up and a standby takes over (moving
    /// leadership by hand, before maintenance of the leader's machine).
    @Sendable func stepDown(_ request: Request, context: IMSRequestContext) async throws -> Response {
        guard let replication = configuration.replication else {
            throw APIError(.conflict, "this node's journal is not replicated (--journal kafka): there is no leadership to move")
        }
        guard replication.stepDown() else { throw APIError(.conflict, "this node does not lead") }
        return JSONResponse.raw(#"{"steppedDown":true,"node":"# + JSONText.quoted(replication.replicaStatus.node) + "}")
    }

    /// `/health/state`: the SHA-256 of the state's canonical text with the record it stands at, so that two
    /// nodes (a leader and a standby, or a node and a replay of its journal) can be compared.
    /// With `?parts=true`, each part's hash too (`parts`: name → SHA-256), so that two nodes that differ
    /// say in what.
    @Sendable func stateHash(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let withParts = try QueryParameters(request).bool("parts", default: false)
        let (record, sequence, text, parts) = engine.readModel.read {
            ($0.appliedRecord, $0.lastSequence, $0.canonicalText(), withParts ? $0.canonicalTextByPart() : [])
        }
        func sha(_ text: String) -> String { SHA256.hash(data: Array(text.utf8)).map { String(format: "%02x", $0) }.joined() }
        var body = "{\"appliedRecord\":\(record),\"lastSequence\":\(sequence),\"sha256\":\"\(sha(text))\""
        if withParts {
            body += ",\"parts\":{" + parts.map { JSONText.quoted($0.part) + ":\"" + sha($0.text) + "\"" }.joined(separator: ",") + "}"
        }
        return JSONResponse.raw(body + "}")
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
            let body = metrics.scrape(
                engine: engine, hub: hub, storage: configuration.storage, replication: configuration.replication,
                topicFeeds: configuration.topicFeeds, history: configuration.historyProjector)
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
        let replication = configuration.replication?.replicaStatus
        let degraded = journal.failing || repairUnacknowledged || replication?.halted == true
        var body = "{\"status\":\"\(degraded ? "degraded" : "ok")\",\"lastSequence\":\(events),\"positions\":\(positions),"
        body += "\"pendingEvents\":\(engine.pendingEvents),\"journal\":{\"durable\":\(configuration.dataDirectory != nil || configuration.replication != nil),"
        body += "\"appliedRecord\":\(record),\"failing\":\(journal.failing),\"repairUnacknowledged\":\(repairUnacknowledged)"
        if let error = journal.lastError, journal.failing { body += ",\"lastError\":" + JSONText.quoted(error) }
        body += "},\"feed\":{\"published\":\(engine.feed.lastPublished),"
        body += "\"readModelResynchronisations\":\(engine.readModel.resynchronisations),\"consumers\":["
        body += engine.feed.consumers().map {
            "{\"name\":" + JSONText.quoted($0.name) + ",\"position\":\($0.position),\"lag\":\($0.lag),\"dozing\":\($0.dozing)}"
        }
        .joined(separator: ",")
        body += "]}"
        if let status = replication {
            body += ",\"replication\":{\"role\":\"\(status.role.rawValue)\",\"node\":" + JSONText.quoted(status.node) + ",\"epoch\":\(status.epoch)"
            if let node = status.leaderNode { body += ",\"leaderNode\":" + JSONText.quoted(node) }
            if let url = status.leaderURL { body += ",\"leaderUrl\":" + JSONText.quoted(url) }
            body += ",\"appliedRecord\":\(status.appliedRecord),\"offset\":\(status.offset)"
            if let high = status.highWatermark { body += ",\"highWatermark\":\(high)" }
            body += ",\"lagOffsets\":\(status.lagOffsets),\"lagMilliseconds\":\(status.lagMilliseconds),\"failovers\":\(status.failovers)"
            if let error = status.brokerError { body += ",\"brokerError\":" + JSONText.quoted(error) }
            body += ",\"halted\":\(status.halted)}"
        }
        if let feeds = configuration.topicFeeds { body += ",\"topicFeeds\":" + Self.json(feeds) }
        if let projector = configuration.historyProjector { body += ",\"history\":" + JSONResponse.text(projector.status) }
        return body + "}"
    }

    /// The upstream topics' block of `/health`.
    static func json(_ feeds: TopicFeeds) -> String {
        let status = feeds.status
        var body = "{\"state\":\"\(status.state.rawValue)\",\"group\":" + JSONText.quoted(feeds.settings.group) + ",\"topics\":["
        body += feeds.settings.topics.map(JSONText.quoted).joined(separator: ",") + "]"
        if let topic = feeds.settings.deadLetterTopic { body += ",\"deadLetterTopic\":" + JSONText.quoted(topic) }
        body += ",\"records\":\(status.records),\"redelivered\":\(status.redelivered),\"rejected\":\(status.rejected),\"deadLettered\":\(status.deadLettered)"
        if let error = status.lastError { body += ",\"lastError\":" + JSONText.quoted(error) }
        body += ",\"partitions\":["
        body += status.partitions.map { p in
            var item = "{\"topic\":" + JSONText.quoted(p.topic) + ",\"partition\":\(p.partition),\"offset\":\(p.offset)"
            if let high = p.highWatermark, let lag = p.lag { item += ",\"highWatermark\":\(high),\"lag\":\(lag)" }
            return item + "}"
        }.joined(separator: ",")
        return body + "]}"
    }
}
