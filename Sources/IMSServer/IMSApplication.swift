import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import HummingbirdWebSocket
import IMSEngine
import IMSHistory
import IMSJournal
import IMSRuntime
import Logging
import NIOSSL
import Synchronization

/// How the HTTP server listens and what it accepts.
public struct ServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// The largest request body accepted (HTTP 413 beyond).
    public var maxBodyBytes: Int
    /// How far ahead of the server's clock a price or FX tick's `ts` may be (refused beyond, naming `ts`):
    /// a tick dated in 2100 would otherwise hold a security's price and price-test state for good.
    public var maxFutureSkew: Duration = .seconds(300)
    /// The data directory whose journal answers `asOf` queries; nil for a memory-only engine.
    public var dataDirectory: String?
    /// Backlog and snapshot limits and the heartbeat of the WebSocket streams.
    public var streams = StreamLimits()
    /// Time-outs, head size and connection count limits of every connection.
    public var connections = ConnectionLimits()
    /// The journal and snapshots of a durable engine, for `/metrics`.
    public var storage: StorageStatus?
    /// The node's role and lag when the journal is replicated (`--journal kafka`): stated on every answer,
    /// in `/health` and `/metrics`; writes are refused unless it leads.
    public var replication: (any ReplicationState)?
    /// How `asOf` rebuilds an earlier state when the journal is not a file journal in `dataDirectory` (a
    /// Kafka topic): the newest snapshot before the target, then the log up to it.
    public var rebuild: (@Sendable (ReplayTarget) throws -> EngineState)?
    /// The upstream topics consumed as feeds (`kafkaFeedTopics`), for `/health` and `/metrics`.
    public var topicFeeds: TopicFeeds?
    /// The PostgreSQL history store (`--history`), which `/api/v1/history/…` reads, and its projector, which
    /// `/health` and `/metrics` report.
    public var historyStore: PostgresHistoryStore?
    public var historyProjector: HistoryProjector?
    /// The API keys every request may present (SPEC 10).
    public var apiKeys: APIKeyStore?
    /// The JWT bearer tokens every request may present instead.
    public var jwt: JWTVerifier?

    /// What requests must present, or nil when neither keys nor tokens are configured (no authentication).
    /// Requests a second each identity may make (429 with `Retry-After` beyond), when authentication is on.
    public var rateLimiter: RateLimiter?
    /// HTTPS and WSS with this certificate and key, when set (`TLSFiles`); plain HTTP otherwise.
    public var tls: TLSConfiguration?

    var credentials: Credentials? { apiKeys == nil && jwt == nil ? nil : Credentials(keys: apiKeys, jwt: jwt, limiter: rateLimiter) }

    /// The connection limits, with the credentials that WebSocket upgrades are checked against.
    var connectionPolicy: ConnectionLimits {
        var limits = connections
        limits.credentials = credentials
        return limits
    }

    /// A `ServerConfiguration` from its fields.
    public init(host: String = "127.0.0.1", port: Int = 8080, maxBodyBytes: Int = 64 << 20, dataDirectory: String? = nil) {
        self.host = host
        self.port = port
        self.maxBodyBytes = maxBodyBytes
        self.dataDirectory = dataDirectory
    }
}

/// Builds IMS's HTTP application over a running engine.
public enum IMSApplication {
    /// The router with every route, for serving or for in-process tests.
    public static func router(engine: Engine, configuration: ServerConfiguration) -> Router<IMSRequestContext> {
        let router = Router(context: IMSRequestContext.self)
        router.add(middleware: HTTPMetricsMiddleware())
        if configuration.tls != nil { router.add(middleware: StrictTransportMiddleware()) }
        if let credentials = configuration.credentials {
            router.add(middleware: CredentialAuthenticator<IMSRequestContext>(credentials: credentials))
            router.add(middleware: AccessPolicyMiddleware<IMSRequestContext>(limiter: credentials.limiter))
        }
        if let replication = configuration.replication { router.add(middleware: ReplicaMiddleware<IMSRequestContext>(replication: replication)) }
        OperationsRoutes(engine: engine, configuration: configuration).register(on: router)
        router.get("/openapi.json") { _, _ in JSONResponse.raw(OpenAPIDocument.json) }
        router.get("/docs") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/html; charset=utf-8", .contentSecurityPolicy: SecurityHeaders.docsPolicy, .xContentTypeOptions: "nosniff"],
                body: .init(byteBuffer: ByteBuffer(string: DocsPage.html)))
        }
        EventRoutes(engine: engine, maxBodyBytes: configuration.maxBodyBytes, maxFutureSkew: configuration.maxFutureSkew).register(on: router)
        let history =
            configuration.rebuild.map { History(rebuild: $0) }
            ?? configuration.dataDirectory.map { History(dataDirectory: $0, catalog: engine.readModel.read { $0.catalog }) }
        QueryRoutes(engine: engine, history: history).register(on: router)
        RuleRoutes(engine: engine).register(on: router)
        LocateRoutes(engine: engine).register(on: router)
        OrderRoutes(engine: engine).register(on: router)
        DecisionRoutes(engine: engine).register(on: router)
        AuditRoutes(engine: engine).register(on: router)
        HistoryRoutes(engine: engine, store: configuration.historyStore).register(on: router)
        ExceptionRoutes(engine: engine).register(on: router)
        DashboardRoutes().register(on: router)
        do {
            try GraphQLRoute(engine: engine, history: configuration.historyStore).register(on: router)
        } catch {
            preconditionFailure("the GraphQL schema does not build: \(error)")
        }
        return router
    }

    /// The WebSocket streams (SPEC 6): `/ws/<name>` for every stream of `StreamRegistry`.
    static func streamRouter(hub: StreamHub, credentials: Credentials? = nil) -> Router<IMSWebSocketContext> {
        let router = Router(context: IMSWebSocketContext.self)
        if let credentials {
            router.add(middleware: CredentialAuthenticator<IMSWebSocketContext>(credentials: credentials))
            router.add(middleware: AccessPolicyMiddleware<IMSWebSocketContext>(limiter: credentials.limiter))
        }
        // The decision channel (not a stream of the state: a client's decisions and their answers).
        router.ws("/ws/decisions") { inbound, outbound, context in
            try await DecisionChannel.run(
                desk: DecisionDesk(engine: hub.engine), identity: context.requestContext.identity, keys: credentials?.keys, limits: hub.limits,
                inbound: inbound, outbound: outbound)
        }
        for stream in StreamRegistry.streams {
            router.ws(RouterPath("/ws/\(stream.name)")) { inbound, outbound, context in
                try await stream.serve(
                    hub: hub, identity: context.requestContext.identity, keys: credentials?.keys,
                    inbound: inbound, outbound: outbound)
            }
        }
        return router
    }

    /// HTTP/1.1 with the WebSocket upgrade, every connection behind a `ConnectionGuard`: heads must arrive in
    /// time and within size, idle connections close, the connection count is capped, client frames must be masked.
    static func server(webSocketRouter: Router<IMSWebSocketContext>, limits: ConnectionLimits) -> HTTPServerBuilder {
        server(webSocketResponder: webSocketRouter.buildResponder(), limits: limits)
    }

    static func server(webSocketResponder: some HTTPResponder<IMSWebSocketContext>, limits: ConnectionLimits) -> HTTPServerBuilder {
        let counter = ConnectionCounter()
        let http1 = HTTP1Channel.Configuration(
            idleTimeout: limits.idleTimeout,
            httpDecoderConfiguration: .init(maxHeaderFieldSize: limits.maxHeadBytes, maxHeaderListSize: limits.maxHeadBytes, maxHeaderFieldCount: 200))
        return HTTPServerBuilder { responder in
            GuardedChildChannel(
                inner: HTTP1WebSocketUpgradeChannel(
                    responder: responder, webSocketResponder: webSocketResponder,
                    configuration: .init(http1: http1, ws: .init(maxFrameSize: 1 << 20))),
                limits: limits, counter: counter)
        }
    }

    /// Everything a served engine needs: its metrics counting, the HTTP routes with `/metrics`, and the
    /// streams over a hub of their own.
    static func serving(_ engine: Engine, configuration: ServerConfiguration)
        -> (http: Router<IMSRequestContext>, webSocket: Router<IMSWebSocketContext>)
    {
        IMSMetrics.shared.attach(engine)
        let hub = StreamHub(engine: engine, limits: configuration.streams)
        let http = router(engine: engine, configuration: configuration)
        OperationsRoutes(engine: engine, configuration: configuration).registerMetrics(on: http, hub: hub)
        return (http, streamRouter(hub: hub, credentials: configuration.credentials))
    }

    /// The server, behind TLS when configured: the TLS handler comes first on each connection, so the
    /// connection guard, HTTP and the WebSocket upgrade see the decrypted bytes as they would plain ones.
    static func secured(_ builder: HTTPServerBuilder, _ tls: TLSConfiguration?) -> HTTPServerBuilder {
        guard let tls else { return builder }
        // `tls` only wraps the builder (the SSL context is made per connection, and `TLSFiles` made one at
        // start to check the files): it does not throw.
        do { return try .tls(builder, tlsConfiguration: tls) } catch { preconditionFailure("TLS server builder: \(error)") }
    }

    /// The application, ready to `runService()`.
    public static func application(
        engine: Engine, configuration: ServerConfiguration, logger: Logger? = nil,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        var log = logger ?? Logger(label: "ims")
        if logger == nil { log.logLevel = .info }
        let (router, webSocketRouter) = serving(engine, configuration: configuration)
        return Application(
            router: router,
            server: secured(server(webSocketRouter: webSocketRouter, limits: configuration.connectionPolicy), configuration.tls),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "ims"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
            logger: log)
    }

    /// An application that listens at once and serves the engine once `gate.open` is given it: until then
    /// (recovery) it answers `/health/live` 200, `/health/ready` and `/health` 503 "recovering", and 503 to
    /// everything else. So an orchestrator sees a live, not-ready process during a long recovery.
    public static func application(
        gate: ServingGate, configuration: ServerConfiguration, logger: Logger,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            responder: GateResponder(gate: gate),
            server: secured(server(webSocketResponder: GateWebSocketResponder(gate: gate), limits: configuration.connectionPolicy), configuration.tls),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "ims"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
            logger: logger)
    }
}

/// What the server answers with: nothing but health while the engine recovers, then the engine's routes.
public final class ServingGate: Sendable {
    private let routes = Mutex<(http: RouterResponder<IMSRequestContext>, ws: RouterResponder<IMSWebSocketContext>)?>(nil)
    let recovering: RouterResponder<IMSRequestContext>

    /// A `ServingGate` from its fields.
    public init() {
        let router = Router(context: IMSRequestContext.self)
        router.add(middleware: HTTPMetricsMiddleware())
        OperationsRoutes.registerLiveness(on: router)
        for path in ["/health/ready", "/health"] {
            router.get(RouterPath(path)) { _, _ in
                JSONResponse.raw(
                    #"{"status":"unavailable","reason":"recovering: loading the snapshot and replaying the journal"}"#, status: .serviceUnavailable)
            }
        }
        for method in [HTTPRequest.Method.get, .post, .put, .delete, .patch] {
            router.on("**", method: method) { _, _ -> Response in
                throw APIError(.serviceUnavailable, "IMS is recovering its state; retry shortly", retryAfter: 1)
            }
        }
        recovering = router.buildResponder()
    }

    /// Starts serving `engine` (after its recovery).
    public func open(engine: Engine, configuration: ServerConfiguration) {
        let (http, webSocket) = IMSApplication.serving(engine, configuration: configuration)
        routes.withLock { $0 = (http.buildResponder(), webSocket.buildResponder()) }
    }

    var http: RouterResponder<IMSRequestContext>? { routes.withLock { $0?.http } }
    var ws: RouterResponder<IMSWebSocketContext>? { routes.withLock { $0?.ws } }
}

struct GateResponder: HTTPResponder {
    let gate: ServingGate
    func respond(to request: Request, context: IMSRequestContext) async throws -> Response {
        try await (gate.http ?? gate.recovering).respond(to: request, context: context)
    }
}

struct GateWebSocketResponder: HTTPResponder {
    let gate: ServingGate
    func respond(to request: Request, context: IMSWebSocketContext) async throws -> Response {
        guard let ws = gate.ws else { return Response(status: .serviceUnavailable) } // no upgrade; the HTTP answer says why
        return try await ws.respond(to: request, context: context)
    }
}
