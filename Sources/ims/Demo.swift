import ArgumentParser
import Foundation
import Hummingbird
import IMSDomain
import IMSEngine
import IMSHistory
import IMSIngest
import IMSJournal
import IMSRuntime
import IMSServer
import Logging
import ServiceLifecycle

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve with embedded defaults and a realistic multi-market simulator.")

    @OptionGroup var server: ServerOptions
    @Option(help: "Simulated events per second.") var rate = 2_000
    @Option(help: "Seconds of wall time per simulated business day (every market rolls).") var daySeconds = 600
    @Option(help: "Random seed of the simulation.") var seed: UInt64 = 42
    @Flag(help: "Accept every request without credentials instead of making keys.") var insecureNoAuth = false
    @Option(
        help:
            "Project the demo into PostgreSQL at this URL (docs/history.md); the demo then journals to a temporary folder, which the projector follows."
    ) var history: String?
    @Option(help: "With --history, seconds between snapshots of each changed position and security.") var historySnapshotSeconds = 60

    /// A key per role, made for this run and printed once (kept in memory, or added to `--api-keys FILE`):
    /// the demo works as a secured server would, and anyone at the terminal can sign in.
    static func demoKeys(file: String?) throws -> APIKeyStore {
        let store = try APIKeyStore(file: file.map { URL(fileURLWithPath: $0) })
        let now = WallClockDate.now()
        let keys: [(String, Set<Role>, String?)] = [
            ("desk", [.admin, .operator, .approver, .feed], nil), ("admin", [.admin], nil), ("operator", [.operator], nil),
            ("approver", [.approver], nil), ("feed", [.feed], nil), ("client CL1", [.client], "CL1"),
        ]
        Console.line("demo API keys (send as Authorization: Bearer <key>; shown once):")
        for (name, roles, client) in keys {
            let made = try store.create(name: "demo \(name)", roles: roles, clientId: client, at: now)
            Console.line(
                "  \(name.padding(toLength: 11, withPad: " ", startingAt: 0)) \(made.key)   (\(roles.sorted().map(\.rawValue).joined(separator: ", ")))")
        }
        return store
    }

    func run() async throws {
        let settings = try await server.resolve()
        let logger = settings.startLogging()
        let catalog = try settings.catalog()
        // Memory only, unless the history store follows it: then a journal in a temporary folder.
        let engine: Engine
        var historyService: HistoryLifecycle?
        var journalDirectory: String?
        if let history {
            let directory = NSTemporaryDirectory() + "/ims-demo-\(getpid())"
            try? FileManager.default.removeItem(atPath: directory)
            let opened = try DataDirectory.open(directory, catalog: catalog, partitions: settings.partitions, now: WallClockDate.now())
            engine = Engine(state: opened.state, journal: opened.journal, snapshots: opened.snapshots)
            let store = try PostgresHistoryStore(url: history, logger: logger)
            var options = HistoryProjector.Options()
            options.projection = HistoryProjection.Settings(snapshotSeconds: historySnapshotSeconds)
            let projector = HistoryProjector(
                store: store, dataDirectory: directory, catalog: catalog, partitions: settings.partitions, options: options,
                journalThrough: { engine.readModel.read { $0.appliedRecord } }, raise: { engine.raise($0) }, logger: logger)
            historyService = HistoryLifecycle(service: HistoryService(store: store, projector: projector), logger: logger)
            journalDirectory = directory
            Console.line("demo: journal in \(directory), projected into \(store.description)")
        } else {
            engine = Engine(state: EngineState(catalog: catalog, partitions: settings.partitions))
        }
        let today = WallClockDate.today()
        var simulator = MarketSimulator(catalog: engine.read { $0.catalog }, startDate: today, seed: seed)
        let securities = MarketSimulator.demoSecuritiesCSV.utf8CString.withUnsafeBytes {
            BatchDecoder.decodeCSV(UnsafeRawBufferPointer(rebasing: $0.dropLast()), type: "security", receivedAt: WallClockDate.now())
        }
        _ = try engine.submitAndWait(securities)
        let setup = simulator.setupLines().joined(separator: "\n")
        let outcome = setup.utf8CString.withUnsafeBytes {
            BatchDecoder.decodeNDJSON(UnsafeRawBufferPointer(rebasing: $0.dropLast()), receivedAt: WallClockDate.now())
        }
        let result = try engine.submitAndWait(outcome)
        Console.line("demo: \(securities.events.count) securities in \(simulator.businessDates.count) markets, \(result.accepted) setup events")
        let feed = SimulatorFeed(engine: engine, simulator: simulator, rate: rate, daySeconds: daySeconds)
        var configuration = settings.configuration
        if let historyService {
            configuration.historyStore = historyService.service.store
            configuration.historyProjector = historyService.service.projector
            configuration.dataDirectory = journalDirectory
        }
        if insecureNoAuth {
            logger.warning("authentication is off (--insecure-no-auth): every request is accepted without credentials")
        } else {
            configuration.apiKeys = try Self.demoKeys(file: settings.optionalString("apiKeys"))
            // Tokens and TLS as `ims serve` takes them: a demo can be signed into with an identity provider's
            // tokens, over HTTPS.
            configuration.jwt = try await settings.jwtVerifier(logger: logger)
        }
        try settings.enableTLS(&configuration, logger: logger)
        if case .int = settings.value("fixPort") {
            // The sessions file when given; else one session, OMS, acting for client CL1 with its demo key.
            var fix = try settings.optionalString("fixSessions").flatMap { _ in try settings.fixGatewaySettings(authenticated: !insecureNoAuth) }
            if fix == nil {
                let key = configuration.apiKeys?.list().first { $0.name == "demo client CL1" }?.keyId
                fix = FIXGatewaySettings(compId: settings.string("fixCompId"), sessions: [.init(targetCompId: "OMS", keyId: key, clientId: "CL1")])
                Console.line(
                    "demo FIX session: SenderCompID (49) OMS, TargetCompID (56) \(settings.string("fixCompId"))\(key == nil ? "" : ", Password (554) the client CL1 key"), acting for client CL1"
                )
            }
            _ = try await settings.startFIX(
                settings: fix!, engine: engine, keys: configuration.apiKeys, tls: configuration.tls, storeFolder: nil, logger: logger)
        }
        let scheme = configuration.scheme
        let app = IMSApplication.application(engine: engine, configuration: configuration, logger: logger) { port in
            logger.info("serving", metadata: ["url": "\(scheme)://\(settings.host):\(port)", "simulatedEventsPerSecond": "\(rate)"])
            Console.line(
                "ims demo serving on \(scheme)://\(settings.host):\(port)  (\(rate) events/s); the dashboard: \(scheme)://\(settings.host):\(port)/ (sign in with the desk key)"
            )
        }
        // Stopped in reverse: the HTTP server, then the simulator, then the projector, then the engine (memory
        // only: no snapshot).
        let services: [any Service] = [EngineService(slot: EngineSlot(engine), durable: false, logger: logger)] + (historyService.map { [$0] } ?? [])
        try await IMSServices.run(services + [feed, app], logger: logger)
    }
}

/// The history store and its projector as a service: they run until graceful shutdown reaches them.
struct HistoryLifecycle: Service {
    let service: HistoryService
    let logger: Logger

    func run() async throws {
        await withGracefulShutdownHandler {
            await service.run(logger: logger)
        } onGracefulShutdown: {
            service.projector.stop()
        }
    }
}

/// The simulator as a service: it feeds the engine at a steady rate until graceful shutdown reaches it.
struct SimulatorFeed: Service {
    let engine: Engine
    let simulator: MarketSimulator
    let rate: Int
    let daySeconds: Int

    init(engine: Engine, simulator: MarketSimulator, rate: Int, daySeconds: Int) {
        self.engine = engine
        self.simulator = simulator
        self.rate = max(1, rate)
        self.daySeconds = max(10, daySeconds)
    }

    func run() async throws {
        // Ends at graceful shutdown (or cancellation); what it queued before is applied by the engine.
        try? await cancelWhenGracefulShutdown { try await feed() }
    }

    private func feed() async throws {
        var simulator = self.simulator
        let tick = 0.05
        let perTick = max(1, Int(Double(rate) * tick))
        var nextRoll = Date().addingTimeInterval(TimeInterval(daySeconds))
        // Locates: a pre-open bulk file each simulated day, then a steady flow (about 1% of the events).
        var locates = simulator.openingLocates()
        var locateCredit = 0.0
        // Sell orders (about 0.5% of the events), validated a tick before the trades that execute them; a
        // rejected order never reaches the market, so its trade is dropped.
        var orders: [OrderCommand] = []
        var executions: [(orderId: String, trade: String)] = []
        var orderCredit = 0.0
        // A 12% fall in a few US and Japanese names a little into each simulated day: the price tests apply.
        let fallOffset = TimeInterval(min(30, daySeconds / 4))
        var nextFall = Date().addingTimeInterval(fallOffset)
        while !Task.isCancelled {
            let started = Date()
            var lines: [String] = []
            executions.removeAll { execution in
                switch engine.readModel.read({ $0.orders(withId: execution.orderId).first?.decision }) {
                case "APPROVED": lines.append(execution.trade); return true
                case nil: return false // not decided yet: next tick
                default: return true
                }
            }
            lines.reserveCapacity(perTick + 20)
            if started >= nextRoll {
                lines += simulator.dayRollLines()
                nextRoll = started.addingTimeInterval(TimeInterval(daySeconds))
                nextFall = started.addingTimeInterval(fallOffset)
                locates += simulator.openingLocates()
            }
            if started >= nextFall {
                lines += simulator.tenPercentFalls()
                nextFall = nextRoll.addingTimeInterval(fallOffset)
            }
            for _ in 0..<perTick { lines.append(simulator.nextLine()) }
            let body = lines.joined(separator: "\n")
            var batch = body.utf8CString.withUnsafeBytes {
                BatchDecoder.decodeNDJSON(UnsafeRawBufferPointer(rebasing: $0.dropLast()), mode: .partial, receivedAt: WallClockDate.now())
            }
            locateCredit += Double(perTick) / 100
            while locateCredit >= 1 { locates.append(simulator.locateRequest()); locateCredit -= 1 }
            for (k, command) in locates.enumerated() { // numbered after the NDJSON lines
                batch.events.append(Event(command))
                batch.lines.append(Int32(lines.count + k + 1))
            }
            locates.removeAll()
            orderCredit += Double(perTick) / 200
            while orderCredit >= 1 {
                let (order, trade) = simulator.sellOrder()
                orders.append(order)
                executions.append((order.orderId, trade))
                orderCredit -= 1
            }
            var line = Int32(lines.count) + (batch.lines.last.map { max(0, $0 - Int32(lines.count)) } ?? 0)
            for command in orders { // numbered after the locates
                line += 1
                batch.events.append(Event(command))
                batch.lines.append(line)
            }
            orders.removeAll()
            do { try engine.enqueue(batch) } catch { return }
            let elapsed = Date().timeIntervalSince(started)
            if elapsed < tick { try await Task.sleep(for: .milliseconds(Int((tick - elapsed) * 1_000))) }
        }
    }
}

/// The wall clock, for the edges of the system (never inside the engine).
enum WallClockDate {
    static func now() -> Timestamp { Timestamp(micros: Int64(Date().timeIntervalSince1970 * 1_000_000)) }
    static func today() -> BusinessDate { now().utcDate }
}
