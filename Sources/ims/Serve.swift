import ArgumentParser
import Foundation
import Hummingbird
import IMSDomain
import IMSEngine
import IMSFIX
import IMSHistory
import IMSJournal
import IMSRuntime
import IMSServer
import Logging
import Synchronization

#if Kafka
    import IMSKafka
#endif

/// The flags of the settings shared by the commands that run a server. Each flag is optional: unset, the
/// value comes from the environment, the configuration file or the default (`Settings.resolve`).
struct ServerOptions: ParsableArguments {
    @Option(help: "Configuration file (.json, .yaml or .yml) of settings keyed as the flags are, in camelCase (environment IMS_CONFIG).")
    var config: String?
    @Option(help: ArgumentHelp(Settings.help("host", "Address to listen on."))) var host: String?
    @Option(help: ArgumentHelp(Settings.help("port", "Port to listen on (0 picks a free one)."))) var port: Int?
    @Option(help: ArgumentHelp(Settings.help("marketsDir", "Folder with markets.json and calendars/<MARKET>.json replacing the shipped market data.")))
    var marketsDir: String?
    @Option(
        help: ArgumentHelp(
            Settings.help("partitions", "Partitions securities are hashed to, each applying on its own core: 1, 2, 4 or 8 (a loaded snapshot keeps its own).")))
    var partitions: Int?
    @Option(help: ArgumentHelp(Settings.help("maxBodyBytes", "Largest accepted request body, in bytes."))) var maxBodyBytes: Int?
    @Option(
        help: ArgumentHelp(
            Settings.help("maxFutureSeconds", "How far ahead of the server's clock a price or FX tick's ts may be; later ones are refused naming ts.")))
    var maxFutureSeconds: Int?
    @Option(help: ArgumentHelp(Settings.help("streamHeartbeatMs", "WebSocket heartbeat after this many milliseconds of silence.")))
    var streamHeartbeatMs: Int?
    @Option(help: ArgumentHelp(Settings.help("streamMaxPending", "Changed items a WebSocket subscriber may have waiting before it is told it lags.")))
    var streamMaxPending: Int?
    @Option(
        help: ArgumentHelp(Settings.help("writeStallMs", "Milliseconds a client may take nothing of what is written to it before its connection is closed.")))
    var writeStallMs: Int?
    @Option(help: ArgumentHelp(Settings.help("maxConnections", "Open connections at most; more are closed when accepted."))) var maxConnections: Int?
    @Option(help: ArgumentHelp(Settings.help("headTimeoutSeconds", "Seconds a request's line and headers may take to arrive.")))
    var headTimeoutSeconds: Int?
    @Option(help: ArgumentHelp(Settings.help("idleTimeoutSeconds", "Seconds an HTTP connection may stay idle between requests.")))
    var idleTimeoutSeconds: Int?
    @Option(help: ArgumentHelp(Settings.help("logFormat", "Log lines on standard error: json (one object per line) or text (for a terminal).")))
    var logFormat: String?
    @Option(help: ArgumentHelp(Settings.help("jwtSecretFile", "File holding the HS256 secret (32 bytes or more) of accepted JWT bearer tokens.")))
    var jwtSecretFile: String?
    @Option(help: ArgumentHelp(Settings.help("jwtPublicKeyFile", "PEM file of the RSA (RS256) or P-256 (ES256) public key of accepted JWT bearer tokens.")))
    var jwtPublicKeyFile: String?
    @Option(help: ArgumentHelp(Settings.help("jwtIssuer", "The issuer (iss) a JWT must name."))) var jwtIssuer: String?
    @Option(help: ArgumentHelp(Settings.help("jwtAudience", "The audience (aud) a JWT must be for."))) var jwtAudience: String?
    @Option(help: ArgumentHelp(Settings.help("jwtMaxLifetimeSeconds", "The longest a JWT may live, from now and from its iat; longer tokens are refused.")))
    var jwtMaxLifetimeSeconds: Int?
    @Option(
        help: ArgumentHelp(
            Settings.help("rateLimit", "Requests a second each identity may make (twice that in a burst; 429 with Retry-After beyond); 0: no limit.")))
    var rateLimit: Int?
    @Option(help: ArgumentHelp(Settings.help("streamsPerIdentity", "WebSocket streams one identity may have open at once; more are refused.")))
    var streamsPerIdentity: Int?
    @Option(
        help: ArgumentHelp(
            Settings.help(
                "decisionChannelMaxUnread",
                "Decisions a decision channel (/ws/decisions) may have taken and not written back; at this bound it reads no more until its client reads."
            )))
    var decisionChannelMaxUnread: Int?
    @Option(
        help: ArgumentHelp(Settings.help("fixPort", "Accept FIX 4.4 sessions on this port (0 picks a free one), as fixSessions configures them (docs/fix.md)."))
    )
    var fixPort: Int?
    @Option(
        help: ArgumentHelp(Settings.help("fixSessions", "YAML or JSON file of the FIX sessions accepted: each counterparty's CompID, API key and schedule.")))
    var fixSessions: String?
    @Option(help: ArgumentHelp(Settings.help("fixCompId", "IMS's CompID in FIX sessions (their TargetCompID).")))
    var fixCompId: String?
    @Option(help: ArgumentHelp(Settings.help("tlsCertificateFile", "PEM certificate chain: serve HTTPS and WSS (with tlsKeyFile).")))
    var tlsCertificateFile: String?
    @Option(help: ArgumentHelp(Settings.help("tlsKeyFile", "PEM private key of tlsCertificateFile.")))
    var tlsKeyFile: String?
    @Option(
        help: ArgumentHelp(
            Settings.help(
                "apiKeys", "API keys file (made by `ims keys create`): every request must then present a key with the role its route needs (docs/security.md).")
        ))
    var apiKeys: String?
    @Option(help: ArgumentHelp(Settings.help("logLevel", "Least level logged: trace, debug, info, notice, warning, error or critical.")))
    var logLevel: String?

    var flagValues: [String: SettingValue] {
        var values: [String: SettingValue] = [:]
        values["host"] = host.map(SettingValue.string)
        values["port"] = port.map(SettingValue.int)
        values["marketsDir"] = marketsDir.map(SettingValue.string)
        values["partitions"] = partitions.map(SettingValue.int)
        values["maxBodyBytes"] = maxBodyBytes.map(SettingValue.int)
        values["maxFutureSeconds"] = maxFutureSeconds.map(SettingValue.int)
        values["streamHeartbeatMs"] = streamHeartbeatMs.map(SettingValue.int)
        values["streamMaxPending"] = streamMaxPending.map(SettingValue.int)
        values["writeStallMs"] = writeStallMs.map(SettingValue.int)
        values["maxConnections"] = maxConnections.map(SettingValue.int)
        values["headTimeoutSeconds"] = headTimeoutSeconds.map(SettingValue.int)
        values["idleTimeoutSeconds"] = idleTimeoutSeconds.map(SettingValue.int)
        values["logFormat"] = logFormat.map(SettingValue.string)
        values["logLevel"] = logLevel.map(SettingValue.string)
        values["apiKeys"] = apiKeys.map(SettingValue.string)
        values["jwtSecretFile"] = jwtSecretFile.map(SettingValue.string)
        values["jwtPublicKeyFile"] = jwtPublicKeyFile.map(SettingValue.string)
        values["jwtIssuer"] = jwtIssuer.map(SettingValue.string)
        values["jwtAudience"] = jwtAudience.map(SettingValue.string)
        values["jwtMaxLifetimeSeconds"] = jwtMaxLifetimeSeconds.map(SettingValue.int)
        values["rateLimit"] = rateLimit.map(SettingValue.int)
        values["streamsPerIdentity"] = streamsPerIdentity.map(SettingValue.int)
        values["decisionChannelMaxUnread"] = decisionChannelMaxUnread.map(SettingValue.int)
        values["fixPort"] = fixPort.map(SettingValue.int)
        values["fixSessions"] = fixSessions.map(SettingValue.string)
        values["fixCompId"] = fixCompId.map(SettingValue.string)
        values["tlsCertificateFile"] = tlsCertificateFile.map(SettingValue.string)
        values["tlsKeyFile"] = tlsKeyFile.map(SettingValue.string)
        return values
    }

    /// Resolves every setting, with these flags (and `extra`, another group's) winning; `--config`, else
    /// `IMS_CONFIG`, names the file.
    func resolve(with extra: [String: SettingValue] = [:]) async throws -> ResolvedSettings {
        let environment = ProcessInfo.processInfo.environment
        return try await Settings.resolve(
            flags: flagValues.merging(extra) { a, _ in a },
            configFile: config ?? environment["IMS_CONFIG"], environment: environment)
    }
}

/// The flags of the durable data directory's settings.
struct StorageOptions: ParsableArguments {
    @Option(help: ArgumentHelp(Settings.help("dataDir", "Folder for IMS's journal and snapshots (created if missing)."))) var dataDir: String?
    @Option(help: ArgumentHelp(Settings.help("fsync", "When the journal syncs to disk: batch (before every answer), <N>ms, or never.")))
    var fsync: String?
    @Option(help: ArgumentHelp(Settings.help("snapshotEvery", "Take a snapshot after this many events (and always on a clean shutdown).")))
    var snapshotEvery: Int?
    @Option(
        help: ArgumentHelp(
            Settings.help(
                "journal", "Where the journal is: file (in dataDir) or kafka (a topic partition shared by a leader and standbys; docs/operations.md).")
        ))
    var journal: String?
    @Option(help: ArgumentHelp(Settings.help("kafkaBrokers", "Brokers of the Kafka journal, host:port[,host:port…]."))) var kafkaBrokers: String?
    @Option(help: ArgumentHelp(Settings.help("kafkaTopic", "Topic of the Kafka journal (its partition 0)."))) var kafkaTopic: String?
    @Option(help: ArgumentHelp(Settings.help("kafkaNode", "This node's name among the leader and standbys (default: the host's name).")))
    var kafkaNode: String?
    @Option(
        help: ArgumentHelp(Settings.help("kafkaAdvertisedUrl", "Where this node serves, as standbys name it to writers (default: its scheme, host and port).")))
    var kafkaAdvertisedUrl: String?
    @Option(help: ArgumentHelp(Settings.help("kafkaLeaseMs", "A standby that hears nothing from the leader for this long claims leadership.")))
    var kafkaLeaseMs: Int?
    @Option(help: ArgumentHelp(Settings.help("kafkaHeartbeatMs", "A leader that has appended nothing for this long writes a heartbeat.")))
    var kafkaHeartbeatMs: Int?
    @Option(
        help: ArgumentHelp(
            Settings.help(
                "kafkaPublishPrefix", "Publish every stream's changes to the topics <prefix>.<stream> on kafkaBrokers (the leader only, when replicated).")))
    var kafkaPublishPrefix: String?
    @Option(
        help: ArgumentHelp(
            Settings.help(
                "kafkaFeedTopics",
                "Consume these topics (comma-separated) on kafkaBrokers as feeds of NDJSON events, one per record (the leader only, when replicated).")
        ))
    var kafkaFeedTopics: String?
    @Option(help: ArgumentHelp(Settings.help("kafkaFeedGroup", "The consumer group IMS joins to read kafkaFeedTopics.")))
    var kafkaFeedGroup: String?
    @Option(help: ArgumentHelp(Settings.help("kafkaDeadLetterTopic", "Write each refused record of kafkaFeedTopics to this topic too.")))
    var kafkaDeadLetterTopic: String?
    @Option(
        help: ArgumentHelp(
            Settings.help("history", "Project the journal into PostgreSQL at this URL: ticks, snapshots, locates, orders, the audit trail (docs/history.md).")))
    var history: String?
    @Option(help: ArgumentHelp(Settings.help("historySnapshotSeconds", "Seconds between the history's snapshots of each changed position and security.")))
    var historySnapshotSeconds: Int?
    @Option(help: ArgumentHelp(Settings.help("historyTickSeconds", "The history keeps the last tick of each security per this many seconds.")))
    var historyTickSeconds: Int?
    @Option(help: ArgumentHelp(Settings.help("historyRetentionDays", "Drop history day partitions older than this (0: keep all).")))
    var historyRetentionDays: Int?
    @Option(
        help: ArgumentHelp(
            Settings.help("historyTrailRetentionDays", "Keep the locates, orders, exceptions, audit trail and rule steps this many days (0: all).")))
    var historyTrailRetentionDays: Int?
    @Option(help: ArgumentHelp(Settings.help("historyMaxBufferedRows", "History rows buffered while PostgreSQL is slow or down, before the projector waits.")))
    var historyMaxBufferedRows: Int?

    var flagValues: [String: SettingValue] {
        var values: [String: SettingValue] = [:]
        values["dataDir"] = dataDir.map(SettingValue.string)
        values["fsync"] = fsync.map(SettingValue.string)
        values["snapshotEvery"] = snapshotEvery.map(SettingValue.int)
        values["journal"] = journal.map(SettingValue.string)
        values["kafkaBrokers"] = kafkaBrokers.map(SettingValue.string)
        values["kafkaTopic"] = kafkaTopic.map(SettingValue.string)
        values["kafkaNode"] = kafkaNode.map(SettingValue.string)
        values["kafkaAdvertisedUrl"] = kafkaAdvertisedUrl.map(SettingValue.string)
        values["kafkaLeaseMs"] = kafkaLeaseMs.map(SettingValue.int)
        values["kafkaHeartbeatMs"] = kafkaHeartbeatMs.map(SettingValue.int)
        values["kafkaPublishPrefix"] = kafkaPublishPrefix.map(SettingValue.string)
        values["kafkaFeedTopics"] = kafkaFeedTopics.map(SettingValue.string)
        values["kafkaFeedGroup"] = kafkaFeedGroup.map(SettingValue.string)
        values["kafkaDeadLetterTopic"] = kafkaDeadLetterTopic.map(SettingValue.string)
        values["history"] = history.map(SettingValue.string)
        values["historySnapshotSeconds"] = historySnapshotSeconds.map(SettingValue.int)
        values["historyTickSeconds"] = historyTickSeconds.map(SettingValue.int)
        values["historyRetentionDays"] = historyRetentionDays.map(SettingValue.int)
        values["historyTrailRetentionDays"] = historyTrailRetentionDays.map(SettingValue.int)
        values["historyMaxBufferedRows"] = historyMaxBufferedRows.map(SettingValue.int)
        return values
    }
}

/// What the settings mean to a server.
extension ResolvedSettings {
    var host: String { string("host") }
    var partitions: Int { int("partitions") }
    var dataDir: String { string("dataDir") }

    /// Sends every log line of the process through IMS's handler; returns IMS's logger, having logged the
    /// settings that are not defaults and where they came from.
    func startLogging() -> Logger {
        IMSLogHandler.bootstrap(
            format: IMSLogHandler.Format(rawValue: string("logFormat")) ?? .json,
            level: Logger.Level(rawValue: string("logLevel")) ?? .info)
        let logger = Logger(label: "ims")
        var metadata: Logger.Metadata = [:]
        for entry in entries where entry.source != "default" {
            metadata[entry.setting.key] = "\(entry.value.map(String.init(describing:)) ?? "") (\(entry.source))"
        }
        logger.info("configuration", metadata: metadata)
        return logger
    }

    func catalog() throws -> MarketCatalog {
        guard let dir = optionalString("marketsDir") else { return .embedded }
        let url = URL(fileURLWithPath: dir)
        let markets = try Data(contentsOf: url.appendingPathComponent("markets.json"))
        var calendars: [String: [UInt8]] = [:]
        let files = try FileManager.default.contentsOfDirectory(atPath: url.appendingPathComponent("calendars").path)
        for file in files where file.hasSuffix(".json") {
            calendars[String(file.dropLast(5))] = Array(try Data(contentsOf: url.appendingPathComponent("calendars/\(file)")))
        }
        return try MarketCatalog(marketsJSON: Array(markets), calendarJSON: calendars)
    }

    /// The API keys every request must present, from `--api-keys`. Without them the server refuses to start,
    /// unless `insecure` (`--insecure-no-auth`): then nil, and the log says every request is accepted.
    func apiKeyStore(insecure: Bool, logger: Logger) throws -> APIKeyStore? {
        guard let path = optionalString("apiKeys") else {
            guard insecure || optionalString("jwtSecretFile") != nil || optionalString("jwtPublicKeyFile") != nil else {
                throw ValidationError(
                    "ims serve needs credentials: --api-keys FILE (make keys with `ims keys create --file FILE --name NAME --role admin`) and/or --jwt-secret-file or --jwt-public-key-file, or --insecure-no-auth to accept every request without them"
                )
            }
            if insecure { logger.warning("authentication is off (--insecure-no-auth): every request is accepted without credentials") }
            return nil
        }
        let store = try APIKeyStore(file: URL(fileURLWithPath: path))
        guard store.hasActiveKeys else { throw ValidationError("\(path) holds no active API key: make one with `ims keys create --file \(path) --role admin`") }
        logger.info("authentication: API keys", metadata: ["file": "\(path)", "activeKeys": "\(store.list().filter(\.isActive).count)"])
        return store
    }

    /// The JWT verifier, when a secret or public key file is configured.
    func jwtVerifier(logger: Logger) async throws -> JWTVerifier? {
        let secretFile = optionalString("jwtSecretFile"), keyFile = optionalString("jwtPublicKeyFile")
        guard secretFile != nil || keyFile != nil else { return nil }
        func read(_ path: String?) throws -> String? {
            guard let path else { return nil }
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ValidationError("cannot read \(path)") }
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        // A shared secret others can read is a secret others have.
        if let secretFile, let mode = (try? FileManager.default.attributesOfItem(atPath: secretFile))?[.posixPermissions] as? Int, mode & 0o077 != 0 {
            logger.warning("the JWT secret file is readable by others: chmod 600 it", metadata: ["file": "\(secretFile)", "mode": "\(String(mode, radix: 8))"])
        }
        do {
            let verifier = try await JWTVerifier(
                hs256Secret: try read(secretFile), publicKeyPEM: try read(keyFile),
                issuer: string("jwtIssuer"), audience: string("jwtAudience"),
                maxLifetime: TimeInterval(int("jwtMaxLifetimeSeconds")))
            logger.info(
                "authentication: JWT bearer tokens",
                metadata: [
                    "issuer": "\(string("jwtIssuer"))", "audience": "\(string("jwtAudience"))",
                    "hs256": "\(secretFile != nil)", "publicKey": "\(keyFile ?? "none")",
                ])
            return verifier
        } catch let error as APIKeyError {
            throw ValidationError(error.description)
        }
    }

    /// HTTPS and WSS when both TLS files are set; one without the other stops the start.
    func enableTLS(_ configuration: inout ServerConfiguration, logger: Logger) throws {
        let certificate = optionalString("tlsCertificateFile"), key = optionalString("tlsKeyFile")
        switch (certificate, key) {
        case (nil, nil): return
        case (let c?, let k?):
            do { try configuration.enableTLS(certificateFile: c, keyFile: k) } catch { throw ValidationError(error.description) }
            logger.info("TLS: serving HTTPS and WSS", metadata: ["certificate": "\(c)"])
        default:
            throw ValidationError("TLS needs both tlsCertificateFile and tlsKeyFile")
        }
    }

    var configuration: ServerConfiguration {
        var c = ServerConfiguration(host: host, port: int("port"), maxBodyBytes: int("maxBodyBytes"))
        c.maxFutureSkew = .seconds(int("maxFutureSeconds"))
        c.streams = StreamLimits(
            maxPendingItems: int("streamMaxPending"), heartbeat: .milliseconds(int("streamHeartbeatMs")),
            maxPerIdentity: int("streamsPerIdentity"), maxUnreadDecisions: int("decisionChannelMaxUnread"))
        c.connections.maxWriteStall = .milliseconds(Int64(int("writeStallMs")))
        c.connections.maxConnections = int("maxConnections")
        c.connections.headTimeout = .seconds(Int64(int("headTimeoutSeconds")))
        c.connections.idleTimeout = .seconds(Int64(int("idleTimeoutSeconds")))
        if int("rateLimit") > 0 { c.rateLimiter = RateLimiter(rate: int("rateLimit")) }
        return c
    }

    /// Recovers the data directory and starts an engine on it.
    func openEngine(catalog: MarketCatalog, logger: Logger) throws -> (engine: Engine, storage: StorageStatus, report: RecoveryReport) {
        let dataDir = self.dataDir
        guard let policy = SyncPolicy(argument: string("fsync")) else { preconditionFailure("fsync was checked when resolved") }
        let opened = try DataDirectory.open(dataDir, catalog: catalog, partitions: partitions, policy: policy, now: WallClockDate.now()) { line in
            logger.info("\(line)", metadata: ["dataDir": "\(dataDir)"])
        }
        let r = opened.report
        logger.info(
            "recovered",
            metadata: [
                "dataDir": "\(dataDir)", "snapshotRecord": "\(r.snapshotRecord.map(String.init) ?? "none")",
                "snapshotSeconds": "\(String(format: "%.3f", r.snapshotSeconds))", "replayedRecords": "\(r.replayedRecords)",
                "replayedEvents": "\(r.replayedEvents)", "replaySeconds": "\(String(format: "%.3f", r.replaySeconds))",
                "seconds": "\(String(format: "%.3f", r.totalSeconds))", "lastSequence": "\(opened.state.lastSequence)",
                "appliedRecord": "\(opened.state.appliedRecord)", "notices": "\(r.notices.count)",
            ])
        opened.snapshots.report { report in
            switch report {
            case .written(let record, let bytes, let seconds):
                logger.info("snapshot written", metadata: ["record": "\(record)", "bytes": "\(bytes)", "seconds": "\(String(format: "%.3f", seconds))"])
            case .failed(let record, let error):
                logger.error("snapshot failed; the journal still holds everything", metadata: ["record": "\(record)", "error": "\(error)"])
            }
        }
        let engine = Engine(state: opened.state, journal: opened.journal, snapshots: opened.snapshots, snapshotEveryEvents: int("snapshotEvery"))
        let repaired = r.notices.contains { $0.kind == .journalRepaired }
        return (engine, StorageStatus(journal: opened.journal, snapshots: opened.snapshots, repairedAtStart: repaired), opened.report)
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the IMS API.")

    @OptionGroup var server: ServerOptions
    @OptionGroup var storage: StorageOptions
    @Flag(help: "Accept every request without credentials (no --api-keys); the log says so.") var insecureNoAuth = false

    func run() async throws {
        let settings = try await server.resolve(with: storage.flagValues)
        let logger = settings.startLogging()
        let catalog = try settings.catalog()
        let publishPrefix = settings.optionalString("kafkaPublishPrefix")
        let feedTopics = (settings.optionalString("kafkaFeedTopics") ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        for (key, used) in [("kafkaPublishPrefix", publishPrefix != nil), ("kafkaFeedTopics", !feedTopics.isEmpty)] where used {
            #if Kafka
                guard settings.optionalString("kafkaBrokers") != nil else {
                    throw ValidationError("\(key) needs kafkaBrokers (--kafka-brokers host:port)")
                }
            #else
                throw ValidationError("\(key) needs a binary built with Kafka: swift build --traits Kafka (with librdkafka-dev installed)")
            #endif
        }
        if settings.optionalString("kafkaDeadLetterTopic") != nil && feedTopics.isEmpty {
            throw ValidationError("kafkaDeadLetterTopic needs kafkaFeedTopics: it holds the refused records of those topics")
        }
        var configuration = settings.configuration
        configuration.dataDirectory = settings.dataDir
        configuration.apiKeys = try settings.apiKeyStore(insecure: insecureNoAuth, logger: logger)
        configuration.jwt = try await settings.jwtVerifier(logger: logger)
        try settings.enableTLS(&configuration, logger: logger)
        let fixSettings = try settings.fixGatewaySettings(authenticated: !insecureNoAuth)
        if fixSettings != nil && configuration.apiKeys == nil && !insecureNoAuth {
            throw ValidationError("FIX sessions log on with API keys: fixPort needs --api-keys (or --insecure-no-auth)")
        }
        let scheme = configuration.scheme
        let kafka = settings.string("journal") == "kafka"
        if kafka {
            #if Kafka
                guard settings.optionalString("kafkaBrokers") != nil else {
                    throw ValidationError("--journal kafka needs kafkaBrokers (--kafka-brokers host:port)")
                }
                guard settings.int("kafkaHeartbeatMs") < settings.int("kafkaLeaseMs") else {
                    throw ValidationError("kafkaHeartbeatMs (\(settings.int("kafkaHeartbeatMs"))) must be below kafkaLeaseMs (\(settings.int("kafkaLeaseMs")))")
                }
            #else
                throw ValidationError("--journal kafka needs a binary built with Kafka: swift build --traits Kafka (with librdkafka-dev installed)")
            #endif
        }
        let historyURL = settings.optionalString("history")
        let historyStore = try historyURL.map { try PostgresHistoryStore(url: $0, logger: logger) }
        // Listen at once: while the state recovers, /health/live answers 200 and /health/ready 503.
        let gate = ServingGate()
        let slot = EngineSlot()
        let listening = ListeningPort()
        let app = IMSApplication.application(gate: gate, configuration: configuration, logger: logger) { port in
            listening.set(port)
            logger.info("listening", metadata: ["url": "\(scheme)://\(settings.host):\(port)"])
            Console.line("ims serving on \(scheme)://\(settings.host):\(port)")
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            // The engine is listed first, so it stops last: after the HTTP server has answered what it took.
            group.addTask { try await IMSServices.run([EngineService(slot: slot, durable: true, logger: logger), app], logger: logger) }
            let engine: Engine
            let seconds: Double
            if kafka {
                #if Kafka
                    var advertised = settings.optionalString("kafkaAdvertisedUrl") ?? ""
                    if advertised.isEmpty { advertised = "\(scheme)://\(settings.host):\(try await listening.port())" }
                    let opened = try await Self.offThePool { [advertised] in
                        try KafkaStorage.open(settings: settings, catalog: catalog, url: advertised, logger: logger)
                    }
                    guard slot.fill(opened.engine, beforeStop: { opened.replica.stop() }) else {
                        opened.replica.stop()
                        opened.engine.stop()
                        try await group.waitForAll()
                        return
                    }
                    (engine, seconds) = (opened.engine, opened.seconds)
                    configuration.storage = opened.storage
                    configuration.replication = opened.replica
                    // `asOf` replays the topic from the newest snapshot before its target.
                    configuration.dataDirectory = nil
                    configuration.rebuild = KafkaStorage.rebuild(settings: settings, catalog: catalog)
                #else
                    preconditionFailure("checked before listening")
                #endif
            } else {
                let (opened, status, report) = try await Self.offThePool {
                    try settings.openEngine(catalog: catalog, logger: logger)
                }
                guard slot.fill(opened) else {
                    opened.stop() // SIGTERM during recovery: nothing was served, nothing to snapshot
                    try await group.waitForAll()
                    return
                }
                (engine, seconds) = (opened, report.totalSeconds)
                configuration.storage = status
            }
            IMSMetrics.shared.recovered(seconds: seconds)
            #if Kafka
                if let publishPrefix {
                    let sink = try KafkaTopicSink(brokers: settings.string("kafkaBrokers"))
                    ChangePublisher.start(engine: engine, sink: sink, prefix: publishPrefix, replication: configuration.replication, logger: logger)
                    logger.info("publishing changes to Kafka", metadata: ["topics": "\(publishPrefix).<stream>"])
                }
                if !feedTopics.isEmpty {
                    let feeds = try KafkaFeeds.start(
                        engine: engine, settings: settings, topics: feedTopics, replication: configuration.replication, logger: logger)
                    configuration.topicFeeds = feeds
                    slot.beforeStop { feeds.stop() }
                }
            #endif
            if let historyStore {
                let projector = try settings.historyProjector(store: historyStore, engine: engine, catalog: catalog, kafka: kafka, logger: logger)
                configuration.historyStore = historyStore
                configuration.historyProjector = projector
                group.addTask { await HistoryService(store: historyStore, projector: projector).run(logger: logger) }
                slot.beforeStop { projector.stop() }
                logger.info("projecting the journal into PostgreSQL", metadata: ["history": "\(historyStore.description)"])
            }
            gate.open(engine: engine, configuration: configuration)
            if let fixSettings {
                let fix = try await settings.startFIX(
                    settings: fixSettings, engine: engine, keys: configuration.apiKeys, tls: configuration.tls,
                    storeFolder: URL(fileURLWithPath: settings.dataDir).appendingPathComponent("fix"), standbyFirst: kafka, logger: logger)
                var stopReplication: @Sendable () -> Void = {}
                #if Kafka
                    if kafka, let replica = configuration.replication {
                        let replication = KafkaFIXReplication(
                            brokers: settings.string("kafkaBrokers"), journalTopic: settings.string("kafkaTopic"), stores: fix.stores, handles: fix.handles,
                            replica: replica, gateway: fix.gateway, logger: logger)
                        replication.start()
                        stopReplication = { replication.stop() }
                    }
                #endif
                slot.beforeStop { [stopReplication] in
                    fix.watcher.cancel()
                    fix.acceptor.stop()
                    fix.gateway.stop()
                    stopReplication()
                }
            }
            logger.info("ready")
            try await group.waitForAll()
            Console.line("ims: stopped; snapshot written at record \(engine.read { $0.appliedRecord })")
        }
    }

    /// Runs blocking work (recovery reads the whole journal) on a thread of its own, not on one of the few
    /// threads that run the server's tasks.
    static func offThePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread.named("ims-recovery") { continuation.resume(with: Result { try work() }) }
            thread.start()
        }
    }
}

extension ResolvedSettings {
    /// The history projector of `engine`'s journal (its file journal, or with `kafka` the topic) into `store`, as
    /// the settings say.
    func historyProjector(store: PostgresHistoryStore, engine: Engine, catalog: MarketCatalog, kafka: Bool, logger: Logger) throws -> HistoryProjector {
        var source: any HistoryJournalSource = FileJournalSource(dataDirectory: dataDir)
        if kafka {
            #if Kafka
                source = KafkaHistorySource(
                    brokers: string("kafkaBrokers"), topic: string("kafkaTopic"), snapshotDirectory: DataDirectory.snapshotDirectory(dataDir))
            #else
                throw ValidationError("--journal kafka needs a binary built with Kafka")
            #endif
        }
        var options = HistoryProjector.Options()
        options.projection = HistoryProjection.Settings(snapshotSeconds: int("historySnapshotSeconds"), tickSeconds: int("historyTickSeconds"))
        options.retentionDays = int("historyRetentionDays")
        options.trailRetentionDays = int("historyTrailRetentionDays")
        options.maxBufferedRows = int("historyMaxBufferedRows")
        return HistoryProjector(
            store: store, source: source, catalog: catalog, partitions: partitions, options: options,
            journalThrough: { engine.readModel.read { $0.appliedRecord } }, raise: { engine.raise($0) }, logger: logger)
    }
}

/// The port the server listens on, once it does.
final class ListeningPort: Sendable {
    private let port = Mutex<Int?>(nil)

    func set(_ value: Int) { port.withLock { $0 = value } }

    /// The port, waiting up to 30 s for the server to listen.
    func port() async throws -> Int {
        for _ in 0..<3_000 {
            if let value = port.withLock({ $0 }) { return value }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw ValidationError("the server did not listen within 30 s")
    }
}

/// Lines for the operator, written at once (not held in stdout's buffer when it is a file or pipe).
enum Console {
    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}
