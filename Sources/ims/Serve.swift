import ArgumentParser
import Foundation
import Hummingbird
import IMSDomain
import IMSEngine
import IMSRuntime
import IMSJournal
import IMSServer
import Logging

/// Options shared by the commands that run a server.
struct ServerOptions: ParsableArguments {
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks a free one).") var port = 8080
    @Option(help: "Folder with markets.json and calendars/<MARKET>.json replacing the shipped market data.")
    var marketsDir: String?
    @Option(help: "Largest accepted request body, in bytes.") var maxBodyBytes = 64 << 20
    @Option(help: "WebSocket heartbeat after this many milliseconds of silence.") var streamHeartbeatMs = 5_000
    @Option(help: "Changed items a WebSocket subscriber may have waiting before it is told it lags.") var streamMaxPending = 100_000
    @Option(help: "Partitions securities are hashed to, each applying on its own core: 1, 2, 4 or 8 (a loaded snapshot keeps its own).")
    var partitions = EngineState.defaultPartitionCount
    @Option(help: "Milliseconds a client may take nothing of what is written to it before its connection is closed.") var writeStallMs = 30_000
    @Option(help: "Open connections at most; more are closed when accepted.") var maxConnections = 10_000
    @Option(help: "Seconds a request's line and headers may take to arrive.") var headTimeoutSeconds = 10
    @Option(help: "Seconds an HTTP connection may stay idle between requests.") var idleTimeoutSeconds = 60
    @Option(help: "Log lines on standard error: json (one object per line) or text (for a terminal).")
    var logFormat: IMSLogHandler.Format = .json
    @Option(help: "Least level logged: trace, debug, info, notice, warning, error or critical.") var logLevel: Logger.Level = .info

    /// Sends every log line of the process through IMS's handler; returns IMS's logger.
    func startLogging() -> Logger {
        IMSLogHandler.bootstrap(format: logFormat, level: logLevel)
        return Logger(label: "ims")
    }

    func validate() throws {
        guard [1, 2, 4, 8].contains(partitions) else { throw ValidationError("--partitions must be 1, 2, 4 or 8") }
        guard maxConnections > 0 else { throw ValidationError("--max-connections must be positive") }
        guard headTimeoutSeconds > 0, idleTimeoutSeconds > 0 else { throw ValidationError("--head-timeout-seconds and --idle-timeout-seconds must be positive") }
    }

    func catalog() throws -> MarketCatalog {
        guard let dir = marketsDir else { return .embedded }
        let url = URL(fileURLWithPath: dir)
        let markets = try Data(contentsOf: url.appendingPathComponent("markets.json"))
        var calendars: [String: [UInt8]] = [:]
        let files = try FileManager.default.contentsOfDirectory(atPath: url.appendingPathComponent("calendars").path)
        for file in files where file.hasSuffix(".json") {
            calendars[String(file.dropLast(5))] = Array(try Data(contentsOf: url.appendingPathComponent("calendars/\(file)")))
        }
        return try MarketCatalog(marketsJSON: Array(markets), calendarJSON: calendars)
    }

    var configuration: ServerConfiguration {
        var c = ServerConfiguration(host: host, port: port, maxBodyBytes: maxBodyBytes)
        c.streams = StreamLimits(maxPendingItems: streamMaxPending, heartbeat: .milliseconds(streamHeartbeatMs))
        c.connections.maxWriteStall = .milliseconds(Int64(writeStallMs))
        c.connections.maxConnections = maxConnections
        c.connections.headTimeout = .seconds(Int64(headTimeoutSeconds))
        c.connections.idleTimeout = .seconds(Int64(idleTimeoutSeconds))
        return c
    }
}

/// Options of the durable data directory.
struct StorageOptions: ParsableArguments {
    @Option(help: "Folder for IMS's journal and snapshots (created if missing).") var dataDir = "./ims-data"
    @Option(help: "When the journal syncs to disk: batch (before every answer; the default), <N>ms, or never.")
    var fsync = "batch"
    @Option(help: "Take a snapshot after this many events (and always on a clean shutdown).") var snapshotEvery = 5_000_000

    func policy() throws -> SyncPolicy {
        guard let policy = SyncPolicy(argument: fsync) else { throw ValidationError("--fsync must be batch, <N>ms or never, not \(fsync)") }
        return policy
    }

    /// Recovers the data directory and starts an engine on it.
    func openEngine(catalog: MarketCatalog, partitions: Int, logger: Logger) throws -> (engine: Engine, storage: StorageStatus, report: RecoveryReport) {
        let opened = try DataDirectory.open(dataDir, catalog: catalog, partitions: partitions, policy: try policy(), now: WallClockDate.now()) { line in
            logger.info("\(line)", metadata: ["dataDir": "\(dataDir)"])
        }
        let r = opened.report
        logger.info("recovered", metadata: [
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
        let engine = Engine(state: opened.state, journal: opened.journal, snapshots: opened.snapshots, snapshotEveryEvents: snapshotEvery)
        return (engine, StorageStatus(journal: opened.journal, snapshots: opened.snapshots), opened.report)
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the IMS API.")

    @OptionGroup var server: ServerOptions
    @OptionGroup var storage: StorageOptions

    func run() async throws {
        let logger = server.startLogging()
        let catalog = try server.catalog()
        var configuration = server.configuration
        configuration.dataDirectory = storage.dataDir
        // Listen at once: while the state recovers, /health/live answers 200 and /health/ready 503.
        let gate = ServingGate()
        let slot = EngineSlot()
        let app = IMSApplication.application(gate: gate, configuration: configuration, logger: logger) { port in
            logger.info("listening", metadata: ["url": "http://\(server.host):\(port)"])
            Console.line("ims serving on http://\(server.host):\(port)")
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            // The engine is listed first, so it stops last: after the HTTP server has answered what it took.
            group.addTask { try await IMSServices.run([EngineService(slot: slot, durable: true, logger: logger), app], logger: logger) }
            let (engine, status, report) = try await Self.offThePool { [storage, server] in
                try storage.openEngine(catalog: catalog, partitions: server.partitions, logger: logger)
            }
            guard slot.fill(engine) else {
                engine.stop()  // SIGTERM during recovery: nothing was served, nothing to snapshot
                try await group.waitForAll()
                return
            }
            configuration.storage = status
            IMSMetrics.shared.recovered(seconds: report.totalSeconds)
            gate.open(engine: engine, configuration: configuration)
            logger.info("ready")
            try await group.waitForAll()
            Console.line("ims: stopped; snapshot written at record \(engine.read { $0.appliedRecord })")
        }
    }

    /// Runs blocking work (recovery reads the whole journal) on a thread of its own, not on one of the few
    /// threads that run the server's tasks.
    static func offThePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try work() }) }
            thread.name = "ims-recovery"
            thread.start()
        }
    }
}

/// Lines for the operator, written at once (not held in stdout's buffer when it is a file or pipe).
enum Console {
    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}

extension IMSLogHandler.Format: ExpressibleByArgument {}
extension Logger.Level: @retroactive ExpressibleByArgument {}
