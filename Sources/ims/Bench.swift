import ArgumentParser
import Foundation
import Histogram
import IMSDomain
import IMSEngine
import IMSIngest
import IMSJournal
import IMSRuntime
import IMSServer
import Synchronization

#if Kafka
    import IMSKafka
#endif

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure IMS. Prints progress, then one JSON object as the last line.",
        discussion: """
            engine: a realistic generated mix, decoded beforehand (NDJSON decoding is timed and reported apart), through validation, \
            the durable journal (group commit, --fsync) and the engine, in process.
            recovery: journals --events events, then times a restart from the journal alone and from a snapshot.
            ingest: the same mix POSTed to a running server (--url) from this separate process.
            memory: bytes of memory per position with --positions positions held.
            latency: trades POSTed at --rate to a running server (--url) while a WebSocket subscriber (--filter) measures \
            server receive → delivery.
            read: latency, plus --readers clients looping on GET /api/v1/positions?limit=100 and a second subscriber to every \
            position ({}) reading as fast as it can: the ingest rate, the one-market subscriber's and the {} subscriber's \
            latencies, and the readers' request rate are reported. With --heavy-readers N, N more clients loop on the long reads \
            (rule previews, aggregates by aggregation unit); /health/ready is probed every 20 ms in both and its latency reported.
            rules: --securities securities with positions, a contract and lender availability each; times a what-if preview of a \
            changed rule set over all of them, its activation (draft, preview, approval, activation as journaled commands), a \
            recalculation of every security under it, and reports the inventory's memory per security.
            feeds: --events (default 1,000,000) of the generated mix produced to a fresh topic of 4 partitions on --kafka-brokers, \
            one NDJSON event per record keyed by security, then consumed by IMS's topic feeds (kafkaFeedTopics) into an engine with a \
            file journal (--fsync): records per second taken, journaled and applied (a binary built with --traits Kafka).
            decisions: --events locate requests and order validations sent to a running server (--url) at --rate (0: saturated), \
            each way of --channel in turn (default all: floor, http, batch, ws, ws-floor): a request each over --connections (default 32), \
            POST /api/v1/decisions with every decision due per request (at most --batch, default 1000), and the decision channel \
            over --ws-connections WebSockets (ws-floor: its floor, one locate re-sent and answered from the read model); each \
            answer comes after its journal sync. Reports decisionsPerSecond and the \
            latency percentiles from when each decision was due to its answer, and each way's ratio to the HTTP floor.
            history: the engine's mix (--events, --batch, --desk, default 20 commands a batch), stamped with the wall clock, into an \
            engine with a file journal, alternately without and with the PostgreSQL history projector following it into a fresh \
            database on --history (an admin URL: postgres://user@host/db), --rounds times; offered at --pace events/s (0: \
            saturated). Reports both ingest rates and their ratio, the projector's receive-to-commit lag (p50, p99, max), rows \
            written and catch-up time, and the time to answer a week of the busiest security's prices (ticks and 1-minute bars).
            """)

    enum Kind: String, ExpressibleByArgument, CaseIterable { case engine, ingest, memory, recovery, latency, read, rules, decisions, feeds, history }

    @Argument(help: "engine | ingest | memory | recovery | latency | read | rules | decisions | feeds | history") var kind: Kind
    @Option(help: "Events to send.") var events = 2_000_000
    @Option(help: "Events per batch (request).") var batch = 5_000
    @Option(help: "Server for the ingest benchmark.") var url = "http://127.0.0.1:8080"
    @Option(help: "Parallel connections for the ingest benchmark.") var connections = 2
    @Option(help: "Positions to hold for the memory benchmark.") var positions = 1_000_000
    @Option(help: "Securities for the rules benchmark.") var securities = 100_000
    @Option(help: "Journal sync policy for engine and recovery: batch, <N>ms or never.") var fsync = "batch"
    @Flag(help: "Run the engine benchmark without a journal (memory only).") var noJournal = false
    @Option(
        help:
            "The engine benchmark's journal: file, or kafka (a fresh topic on --kafka-brokers, with a standby in process; a binary built with --traits Kafka).")
    var journal = "file"
    @Option(help: "Brokers for --journal kafka (default: IMS_KAFKA_BROKERS).") var kafkaBrokers: String?
    @Option(help: "In the engine benchmark, offer at most this many events a second (0: as fast as the engine takes them).") var pace = 0
    @Flag(help: "With --journal kafka, no standby in process (it would share the two cores with the leader).") var noStandby = false
    @Flag(help: "Run the engine benchmark without inventory buckets, to measure what they cost.") var noInventory = false
    @Flag(help: "In the decisions benchmark, measure only GET /health/live (--channel floor): the server's HTTP floor on this machine.") var httpFloor = false
    @Option(
        parsing: .upToNextOption,
        help: ArgumentHelp(
            "In the decisions benchmark, the ways to measure, one after another: floor (GET /health/live), http (a decision per request), batch (POST /api/v1/decisions), ws (the decision channel), ws-floor (the channel's floor: one locate re-sent, answered without the journal or the engine), fix (one FIX session, with --fix).",
            valueName: "channel"))
    var channel: [DecisionsBench.Channel] = []
    @Option(help: "In the decisions benchmark, WebSockets of the ws channel.") var wsConnections = 4
    @Option(
        help:
            "In the decisions benchmark, the FIX acceptor (host:port) for --channel fix: a session with SenderCompID BENCH acting for client BENCHFIX (Password from IMS_FIX_KEY or IMS_API_KEY); with it, every way includes fix."
    ) var fix: String?
    @Option(
        help:
            "In the engine benchmark, the desk's commands (locate requests and sell orders, half each) sent before each batch, each as its own request; the orders' executions trade in the next batch."
    ) var desk = 0
    @Option(help: "Partitions for the engine and recovery benchmarks: 1, 2, 4 or 8.") var partitions = EngineState.defaultPartitionCount
    @Option(help: "Folder for the benchmark's journal (default: a fresh temporary folder, removed afterwards).") var dataDir: String?
    @Option(help: "Target events per second for the latency benchmark.") var rate = 300_000
    @Option(help: "The history benchmark's PostgreSQL (default: IMS_POSTGRES_URL); it makes and drops databases there.") var history: String?
    @Option(help: "The history benchmark's runs of each kind (without and with the projector), alternated.") var rounds = 2
    @Option(help: "The history benchmark's snapshot interval, in seconds.") var historySnapshotSeconds = 60
    @Option(help: "Clients looping on GET /api/v1/positions?limit=100 in the read benchmark.") var readers = 8
    @Flag(inversion: .prefixedNo, help: "In the read benchmark, add the {} subscriber.") var watchAll = true
    @Option(help: "In the read and latency benchmarks, clients looping on rule previews and aggregates by aggregation unit (the long reads).")
    var heavyReaders = 0
    @Option(help: "The latency benchmark subscriber's filter (JSON).") var filter = #"{"marketId":"JP","positionType":"FIRM"}"#

    func validate() throws {
        guard [1, 2, 4, 8].contains(partitions) else { throw ValidationError("--partitions must be 1, 2, 4 or 8") }
    }

    func run() async throws {
        switch kind {
        case .latency, .read:
            var latency = LatencyBench()
            latency.readers = kind == .read ? readers : 0
            latency.watchAll = kind == .read && watchAll
            latency.heavyReaders = heavyReaders
            latency.readyProbeMs = 20
            latency.url = url
            latency.rate = rate
            latency.events = events
            latency.batch = batch == 5_000 ? 1_000 : batch
            latency.connections = connections
            latency.filter = filter
            try await latency.run()
        case .engine: try engineBench()
        case .ingest: try ingestBench()
        case .memory: memoryBench()
        case .rules: try await rulesBench()
        case .decisions:
            try DecisionsBench(
                url: url, rate: rate == 300_000 ? 20_000 : rate, decisions: events == 2_000_000 ? 200_000 : events,
                connections: connections == 2 ? 32 : connections,
                channels: httpFloor ? [.floor] : channel.isEmpty ? DecisionsBench.Channel.allCases.filter { $0 != .fix || fix != nil } : channel,
                wsConnections: wsConnections, batch: batch == 5_000 ? 1_000 : batch, fix: fix
            ).run()
        case .recovery: try recoveryBench()
        case .history:
            guard let history = history ?? ProcessInfo.processInfo.environment["IMS_POSTGRES_URL"] else {
                throw ValidationError("bench history needs --history postgres://user@host/database (or IMS_POSTGRES_URL)")
            }
            try await HistoryBench(
                url: history, events: events, batch: batch, desk: desk == 0 ? 20 : desk, pace: pace, rounds: rounds, partitions: partitions,
                policy: try syncPolicy(), snapshotSeconds: historySnapshotSeconds
            ).run()
        case .feeds:
            #if Kafka
                guard let brokers = kafkaBrokers ?? ProcessInfo.processInfo.environment["IMS_KAFKA_BROKERS"] else {
                    throw ValidationError("bench feeds needs --kafka-brokers (or IMS_KAFKA_BROKERS)")
                }
                try FeedsBench.run(
                    events: events == 2_000_000 ? 1_000_000 : events, partitions: partitions, brokers: brokers, directory: benchDirectory().path,
                    policy: try syncPolicy())
            #else
                throw ValidationError("bench feeds needs a binary built with --traits Kafka")
            #endif
        }
    }

    /// A fresh data directory for a benchmark, and whether to remove it afterwards.
    func benchDirectory() -> (path: String, temporary: Bool) {
        if let dataDir { return (dataDir, false) }
        return (NSTemporaryDirectory() + "/ims-bench-\(getpid())", true)
    }

    func syncPolicy() throws -> SyncPolicy {
        guard let policy = SyncPolicy(argument: fsync) else { throw ValidationError("--fsync must be batch, <N>ms or never") }
        return policy
    }

    /// The simulator's next `lines` events as one NDJSON body.
    static func nextBody(_ simulator: inout MarketSimulator, lines: Int) -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(lines * 260)
        for i in 0..<lines {
            if i > 0 { body.append(0x0A) }
            body.append(contentsOf: simulator.nextLine().utf8)
        }
        return body
    }

    /// Posts the securities and the simulator's setup to a running server, as the HTTP benchmarks start.
    static func postSetup(_ setup: [UInt8], to client: BlockingHTTPClient) throws {
        let securities = try client.post("/api/v1/events?type=security", body: Array(MarketSimulator.securitiesCSV.utf8), contentType: "text/csv")
        guard securities.status == 200 else { throw ValidationError("securities: HTTP \(securities.status) \(securities.text.prefix(300))") }
        let s = try client.post("/api/v1/events", body: setup)
        guard s.status == 200 else { throw ValidationError("setup: HTTP \(s.status) \(s.text.prefix(300))") }
    }

    /// The simulated flow as NDJSON bodies of `batch` lines, after the setup.
    static func generate(events: Int, batch: Int, prefix: String) -> (setup: [UInt8], chunks: [[UInt8]]) {
        let g = generate(events: events, batch: batch, prefix: prefix, desk: 0)
        return (g.setup, g.chunks)
    }

    /// The setup, the flow in chunks of `batch` events, and before each chunk `desk` commands of the desk
    /// (locate requests and sell orders, half each); the trades executing a chunk's orders (carrying their
    /// ids) open the next chunk, within its `batch` events.
    static func generate(events: Int, batch: Int, prefix: String, desk: Int) -> (setup: [UInt8], chunks: [[UInt8]], desk: [[Event]]) {
        var simulator = MarketSimulator(startDate: BusinessDate(parsing: "2026-11-25")!, seed: 7, prefix: prefix)
        let setup = Array(simulator.setupLines().joined(separator: "\n").utf8)
        var chunks: [[UInt8]] = [], commands: [[Event]] = []
        var executions: [String] = []
        var left = events
        while left > 0 {
            let n = min(batch, left)
            var these: [Event] = (0..<desk / 2).map { _ in Event(simulator.locateRequest()) }
            let carried = executions.prefix(n)
            executions.removeAll()
            for _ in 0..<(desk - desk / 2) {
                let (order, trade) = simulator.sellOrder()
                these.append(Event(order))
                executions.append(trade)
            }
            var body = Array(carried.joined(separator: "\n").utf8)
            if n > carried.count {
                if !body.isEmpty { body.append(0x0A) }
                body += Self.nextBody(&simulator, lines: n - carried.count)
            }
            chunks.append(body)
            commands.append(these)
            left -= n
        }
        return (setup, chunks, commands)
    }

    static func decode(_ body: [UInt8], mode: IngestBatch.Mode = .atomic) -> IngestBatch {
        body.withUnsafeBytes { BatchDecoder.decodeNDJSON($0, mode: mode, receivedAt: Timestamp(micros: 0)) }
    }

    static func securitiesBatch() -> IngestBatch {
        MarketSimulator.securitiesCSV.utf8CString.withUnsafeBytes {
            BatchDecoder.decodeCSV(UnsafeRawBufferPointer(rebasing: $0.dropLast()), type: "security", receivedAt: Timestamp(micros: 0))
        }
    }

    /// Events the engine benchmark keeps in flight: the producer waits for room, so a batch's latency is
    /// its time in a full pipeline rather than behind the whole run.
    static let engineWindow = 100_000

    func engineBench() throws {
        print("generating \(events) events\(desk > 0 ? ", \(desk) desk commands per batch" : "")...")
        let (setup, chunks, deskCommands) = Self.generate(events: events, batch: batch, prefix: "", desk: desk)
        let directory = benchDirectory()
        defer { if directory.temporary { try? FileManager.default.removeItem(atPath: directory.path) } }
        var fileJournal: SegmentedJournal?
        let engine: Engine
        var kafka: AnyObject?
        if journal == "kafka" {
            #if Kafka
                guard let brokers = kafkaBrokers ?? ProcessInfo.processInfo.environment["IMS_KAFKA_BROKERS"] else {
                    throw ValidationError("--journal kafka needs --kafka-brokers (or IMS_KAFKA_BROKERS)")
                }
                let pair = try KafkaBenchPair(
                    brokers: brokers, partitions: partitions, keepsInventory: !noInventory, window: Self.engineWindow, withStandby: !noStandby)
                engine = pair.leader
                kafka = pair
            #else
                throw ValidationError("--journal kafka needs a binary built with --traits Kafka")
            #endif
        } else if noJournal {
            var state = EngineState(partitions: partitions)
            state.keepsInventory = !noInventory
            engine = Engine(state: state, maxPendingEvents: Self.engineWindow)
        } else {
            try? FileManager.default.removeItem(atPath: directory.path)
            let opened = try DataDirectory.open(directory.path, catalog: .embedded, partitions: partitions, policy: try syncPolicy(), now: Timestamp(micros: 0))
            fileJournal = opened.journal
            var state = opened.state
            state.keepsInventory = !noInventory
            engine = Engine(state: state, journal: opened.journal, maxPendingEvents: Self.engineWindow)
            print("journal in \(directory.path), fsync \(try syncPolicy())")
        }
        // As served: the metrics observe every group commit and drain, and count every drain's outcomes.
        IMSMetrics.shared.attach(engine)
        _ = try engine.submitAndWait(Self.securitiesBatch())
        let setupOutcome = try engine.submitAndWait(Self.decode(setup))
        guard setupOutcome.applied else { throw ValidationError("setup rejected: \(setupOutcome.rejected.prefix(3))") }
        // SPEC 8's scan floor over the same bodies, in the same sitting: the engine's bar is a ratio to it.
        let floor = ScanFloor.eventsPerSecond(chunks)
        print("scan floor: \(floor) events/s")
        // The events arrive decoded, as from the journal or an in-process feed: the clock measures validation,
        // the journal and the engine. NDJSON decoding is timed on its own and reported beside it.
        let d0 = DispatchTime.now().uptimeNanoseconds
        let batches = chunks.map { Self.decode($0, mode: .partial) }
        let decodeNanos = DispatchTime.now().uptimeNanoseconds - d0
        print("running: validate + \(noJournal ? "" : "journal + ")apply, \(batches.count) batches of \(batch)")
        let histogram = Mutex(Histogram<UInt64>(highestTrackableValue: 60_000_000))
        let rejected = Atomic<Int>(0)
        let done = DispatchSemaphore(value: 0)
        let start = DispatchTime.now().uptimeNanoseconds
        let busyBefore = engine.writerBusyNanoseconds
        let captureBefore = engine.captureNanoseconds
        let readModelBefore = engine.readModel.applyNanoseconds
        let journalBefore = fileJournal?.bytesWritten ?? 0
        let deskFailures = Atomic<Int>(0)
        for (i, decoded) in batches.enumerated() {
            // The desk's commands, each its own batch as HTTP requests bring them.
            for command in deskCommands[i] {
                try engine.enqueue(IngestBatch(receivedAt: Timestamp(micros: 0), events: [command], lines: [1])) { result in
                    if (try? result.get())?.rejected.isEmpty != true { deskFailures.add(1, ordering: .relaxed) }
                }
            }
            if pace > 0 {
                // Offered at the pace: batch i is due i × batch / pace seconds after the start.
                let due = start + UInt64(Double(i * batch) / Double(pace) * 1e9)
                while DispatchTime.now().uptimeNanoseconds < due { usleep(100) }
            }
            let t0 = DispatchTime.now().uptimeNanoseconds
            let count = UInt64(decoded.lineCount)
            let last = i == batches.count - 1
            try engine.enqueue(decoded) { result in
                let micros = (DispatchTime.now().uptimeNanoseconds - t0) / 1_000
                histogram.withLock { _ = $0.record(micros, count: .init(count)) }
                rejected.add((try? result.get())?.rejected.count ?? Int(count), ordering: .relaxed)
                if last { done.signal() }
            }
        }
        done.wait()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let positions = engine.read { $0.positionCount }
        let h = histogram.withLock { $0 }
        var replication: [String: String] = [:]
        #if Kafka
            if let pair = kafka as? KafkaBenchPair, let (catchUp, same) = pair.standbyCatchesUp(), let follower = pair.standbyReplica {
                let lag = { (q: Double) in String(format: "%.1f", follower.lagMilliseconds(quantile: q) ?? -1) }
                replication = [
                    "standbyLagP50Milliseconds": lag(0.5), "standbyLagP99Milliseconds": lag(0.99), "standbyLagMaxMilliseconds": lag(1),
                    "standbyCatchUpSeconds": String(format: "%.3f", catchUp), "standbyStateEqual": "\(same)",
                ]
            }
            (kafka as? KafkaBenchPair)?.stop()
        #endif
        Self.report(
            kind: "engine", events: events, seconds: seconds, histogram: h,
            extra: replication.merging([
                "positions": "\(positions)", "partitions": "\(partitions)", "rejected": "\(rejected.load(ordering: .relaxed))", "batch": "\(batch)",
                "deskCommands": "\(deskCommands.reduce(0) { $0 + $1.count })", "deskCommandsRefused": "\(deskFailures.load(ordering: .relaxed))",
                "locatesApproved": "\(engine.read { s in s.locates.records.filter { $0.status == .approved || $0.status == .partial }.count })",
                "ordersApproved": "\(engine.read { s in s.orders.records.filter { $0.decision == .approved }.count })",
                "ndjsonDecodeEventsPerSecond": String(Int(Double(events) / (Double(decodeNanos) / 1e9))),
                "scanFloorEventsPerSecond": "\(floor)",
                "ratioToScanFloor": String(format: "%.2f", Double(events) / seconds / Double(max(floor, 1))),
                "engineSeconds": String(format: "%.3f", Double(engine.writerBusyNanoseconds - busyBefore) / 1e9),
                "changeCaptureSeconds": String(format: "%.3f", Double(engine.captureNanoseconds - captureBefore) / 1e9),
                "readModelSeconds": String(format: "%.3f", Double(engine.readModel.applyNanoseconds - readModelBefore) / 1e9),
                "journal": noJournal ? "false" : journal == "kafka" ? "\"kafka\"" : "\"\(try syncPolicy())\"", "inventory": noInventory ? "false" : "true",
                "journalBytesPerEvent": String(format: "%.1f", Double((fileJournal?.bytesWritten ?? 0) - journalBefore) / Double(events)),
                "pace": "\(pace)",
            ]) { a, _ in a })
        if kafka == nil { engine.stop() }
    }

    func ingestBench() throws {
        let prefix = "B\(getpid())-"
        print("generating \(events) events...")
        let (setup, chunks) = Self.generate(events: events, batch: batch, prefix: prefix)
        try Self.postSetup(setup, to: try BlockingHTTPClient(url: url))
        print("posting \(chunks.count) batches of \(batch) over \(connections) connections to \(url)")
        let histogram = Mutex(Histogram<UInt64>(highestTrackableValue: 60_000_000))
        let next = Atomic<Int>(0)
        let failures = Atomic<Int>(0)
        let group = DispatchGroup()
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<connections {
            group.enter()
            let thread = Thread { [url] in
                defer { group.leave() }
                guard let client = try? BlockingHTTPClient(url: url) else { failures.add(1, ordering: .relaxed); return }
                while true {
                    let i = next.add(1, ordering: .relaxed).oldValue
                    if i >= chunks.count { return }
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    guard let response = try? client.post("/api/v1/events?mode=partial", body: chunks[i]), response.status == 200 else {
                        failures.add(1, ordering: .relaxed)
                        continue
                    }
                    let micros = (DispatchTime.now().uptimeNanoseconds - t0) / 1_000
                    histogram.withLock { _ = $0.record(micros) }
                }
            }
            thread.start()
        }
        group.wait()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let h = histogram.withLock { $0 }
        Self.report(
            kind: "ingest", events: events, seconds: seconds, histogram: h,
            extra: [
                "failedRequests": "\(failures.load(ordering: .relaxed))", "batch": "\(batch)", "connections": "\(connections)",
                "latencyOf": "\"request\"",
            ])
        if failures.load(ordering: .relaxed) > 0 { throw ExitCode.failure }
    }

    func recoveryBench() throws {
        let directory = benchDirectory()
        defer { if directory.temporary { try? FileManager.default.removeItem(atPath: directory.path) } }
        try? FileManager.default.removeItem(atPath: directory.path)
        print("journaling \(events) events into \(directory.path)...")
        var scanFloor = 0
        do {
            let opened = try DataDirectory.open(directory.path, catalog: .embedded, partitions: partitions, policy: try syncPolicy(), now: Timestamp(micros: 0))
            let engine = Engine(state: opened.state, journal: opened.journal)
            _ = try engine.submitAndWait(Self.securitiesBatch())
            var simulator = MarketSimulator(startDate: BusinessDate(parsing: "2026-11-25")!, seed: 7)
            _ = try engine.submitAndWait(Self.decode(Array(simulator.setupLines().joined(separator: "\n").utf8)))
            var left = events
            var sample: [[UInt8]] = []
            while left > 0 {
                let n = min(batch, left)
                let body = Self.nextBody(&simulator, lines: n)
                // The scan floor is measured over the first 2M events' bodies (the same mix).
                if sample.count * batch < 2_000_000 { sample.append(body) }
                try engine.enqueue(Self.decode(body, mode: .partial))
                left -= n
            }
            engine.stop()
            scanFloor = ScanFloor.eventsPerSecond(sample)
        }
        let journalBytes = Self.directorySize(directory.path + "/journal")
        let cold = try DataDirectory.open(directory.path, catalog: .embedded, partitions: partitions, now: Timestamp(micros: 0))
        let replayed = cold.report.replayedEvents
        print("restart from the journal alone: \(String(format: "%.3f", cold.report.totalSeconds)) s for \(replayed) events")
        let snapshotStart = DispatchTime.now().uptimeNanoseconds
        try cold.snapshots.write(cold.state)
        let snapshotSeconds = Double(DispatchTime.now().uptimeNanoseconds - snapshotStart) / 1e9
        let warm = try DataDirectory.open(directory.path, catalog: .embedded, partitions: partitions, now: Timestamp(micros: 0))
        print("restart from a snapshot: \(String(format: "%.3f", warm.report.totalSeconds)) s")
        let fields = [
            "\"kind\":\"recovery\"", "\"events\":\(replayed)", "\"partitions\":\(partitions)",
            "\"eventsPerSecond\":\(Int(Double(replayed) / cold.report.replaySeconds))",
            "\"scanFloorEventsPerSecond\":\(scanFloor)",
            "\"ratioToScanFloor\":\(String(format: "%.2f", Double(replayed) / cold.report.replaySeconds / Double(max(scanFloor, 1))))",
            "\"journalBytes\":\(journalBytes)", "\"journalBytesPerEvent\":\(String(format: "%.1f", Double(journalBytes) / Double(max(replayed, 1))))",
            "\"restartSecondsWithoutSnapshot\":\(String(format: "%.3f", cold.report.totalSeconds))",
            "\"restartSecondsWithSnapshot\":\(String(format: "%.3f", warm.report.totalSeconds))",
            "\"snapshotWriteSeconds\":\(String(format: "%.3f", snapshotSeconds))",
            "\"snapshotBytes\":\(warm.snapshots.list().first.map { Self.fileSize($0.path) } ?? 0)",
            "\"positions\":\(warm.state.positionCount)",
        ]
        print("{" + fields.joined(separator: ",") + "}")
    }

    static func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
    }

    static func directorySize(_ path: String) -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).reduce(0) { $0 + fileSize(path + "/" + $1) }
    }

    func memoryBench() {
        // Positions are SOD snapshots of `books` books across the universe.
        let securityCount = 1_000
        let books = max(1, positions / securityCount)
        var state = EngineState()
        var reference = "{\"type\":\"marketDayRoll\",\"marketId\":\"US\",\"businessDate\":\"2026-11-25\"}\n"
        for s in 0..<securityCount { reference += "{\"type\":\"security\",\"securityId\":\"M\(s)\",\"marketId\":\"US\"}\n" }
        for b in 0..<books { reference += "{\"type\":\"book\",\"bookId\":\"MB\(b)\",\"legalEntity\":\"LE\",\"positionType\":\"FIRM\"}\n" }
        _ = state.process(Self.decode(Array(reference.utf8)))
        let before = Self.residentBytes()
        for b in 0..<books {
            var body = ""
            for s in 0..<securityCount {
                body +=
                    "{\"type\":\"sodPosition\",\"businessDate\":\"2026-11-25\",\"bookId\":\"MB\(b)\",\"securityId\":\"M\(s)\",\"contractualQty\":\(s + 100),\"settledQty\":\(s),\"sd1Receipt\":100}\n"
            }
            _ = state.process(Self.decode(Array(body.utf8)))
        }
        let after = Self.residentBytes()
        let held = state.positionCount
        let perPosition = Double(after - before) / Double(held)
        print("{\"kind\":\"memory\",\"positions\":\(held),\"bytesPerPosition\":\(Int(perPosition.rounded())),\"residentBytes\":\(after)}")
    }

    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        return (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    static func report(kind: String, events: Int, seconds: Double, histogram: Histogram<UInt64>, extra: [String: String]) {
        var fields = [
            "\"kind\":\"\(kind)\"",
            "\"events\":\(events)",
            "\"seconds\":\(String(format: "%.3f", seconds))",
            "\"eventsPerSecond\":\(Int(Double(events) / seconds))",
            "\"p50Micros\":\(histogram.valueAtPercentile(50))",
            "\"p99Micros\":\(histogram.valueAtPercentile(99))",
            "\"p999Micros\":\(histogram.valueAtPercentile(99.9))",
        ]
        for (k, v) in extra.sorted(by: { $0.key < $1.key }) { fields.append("\"\(k)\":\(v)") }
        print("{" + fields.joined(separator: ",") + "}")
    }
}
