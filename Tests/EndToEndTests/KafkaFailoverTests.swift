#if Kafka
    import Foundation
    import Synchronization
    import Testing

    #if canImport(FoundationNetworking)
        import FoundationNetworking
    #endif

    /// A leader and a standby over a real broker's topic (`--journal kafka`): the leader killed or paused under
    /// load, the standby takes over, nothing acknowledged is lost or applied twice, and every node that
    /// applies the topic holds the same state.
    @Suite(.serialized)
    struct KafkaFailoverTests {
        static var brokers: String {
            get throws {
                guard let brokers = ProcessInfo.processInfo.environment["IMS_KAFKA_BROKERS"], !brokers.isEmpty else {
                    throw CocoaError(
                        .fileReadUnknown,
                        userInfo: [NSLocalizedDescriptionKey: "IMS_KAFKA_BROKERS is not set: run the tests with ./scripts/test.sh, which starts a broker"])
                }
                return brokers
            }
        }

        /// A node of the deployment: its name, data directory and the running server (nil while down).
        final class Cluster: @unchecked Sendable {
            let topic = "ims-e2e-\(UUID().uuidString.prefix(8))"
            let brokers: String
            private let lock = NSLock()
            private var servers: [String: IMSProcess.Server] = [:]
            private var dirs: [String: URL] = [:]
            let log = FileManager.default.temporaryDirectory.appendingPathComponent("ims-kafka-e2e-\(UUID().uuidString).log")

            init(brokers: String) { self.brokers = brokers }

            /// Arguments every node is started with, besides the journal's.
            var extra: [String] = []

            func start(_ node: String, lease: Int = 1_000) throws {
                let dir = lock.withLock { dirs[node] ?? IMSProcess.freshDirectory() }
                let server = try IMSProcess.start(
                    [
                        "--journal", "kafka", "--kafka-brokers", brokers, "--kafka-topic", topic, "--kafka-node", node, "--kafka-lease-ms", "\(lease)",
                        "--kafka-heartbeat-ms", "100", "--log-format", "text",
                    ] + extra, dataDir: dir, log: log)
                lock.withLock {
                    dirs[node] = dir
                    servers[node] = server
                }
            }

            /// A leads (the first node claims once its lease has run out), B follows, and the setup is written.
            func startLeaderAndStandby() throws {
                try start("A")
                #expect(leader() == "A", "the first node claims leadership after its lease")
                try start("B")
                #expect(write("/api/v1/events", KafkaFailoverTests.setup)?.status == 200)
            }

            func server(_ node: String) -> IMSProcess.Server? { lock.withLock { servers[node] } }
            var running: [(node: String, server: IMSProcess.Server)] { lock.withLock { servers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } } }

            func kill(_ node: String, signal: Int32 = SIGKILL) {
                guard let server = lock.withLock({ servers.removeValue(forKey: node) }) else { return }
                if signal == SIGKILL { server.crash() } else { server.stop() }
            }

            /// The node that answers 200 on /health/leader, waiting up to `seconds`.
            func leader(within seconds: Double = 15) -> String? {
                let deadline = Date().addingTimeInterval(seconds)
                while Date() < deadline {
                    for (node, server) in running where (try? IMSProcess.request(server, "GET", "/health/leader", timeout: 2))?.status == 200 { return node }
                    Thread.sleep(forTimeInterval: 0.02)
                }
                return nil
            }

            /// Sends a write to whichever node takes it, retrying (the same body: its idempotency keys) until one
            /// answers 2xx; nil after `seconds`.
            func write(_ path: String, _ body: String, seconds: Double = 60) -> (status: Int, json: Any?)? {
                let deadline = Date().addingTimeInterval(seconds)
                while Date() < deadline {
                    for (_, server) in running {
                        if let r = try? IMSProcess.request(server, "POST", path, body: body, timeout: 5), (200..<300).contains(r.status) { return r }
                    }
                    Thread.sleep(forTimeInterval: 0.02)
                }
                return nil
            }

            func state(_ node: String) -> (record: Int, hash: String)? {
                guard let server = server(node), let json = (try? IMSProcess.request(server, "GET", "/health/state"))?.json as? [String: Any],
                    let record = json["appliedRecord"] as? Int, let hash = json["sha256"] as? String
                else { return nil }
                return (record, hash)
            }

            /// Waits until every running node stands at the same record, and returns each one's hash there.
            func converged(within seconds: Double = 30, among nodes: Set<String>? = nil) -> [String: String]? {
                let deadline = Date().addingTimeInterval(seconds)
                while Date() < deadline {
                    let states = running.filter { nodes?.contains($0.node) ?? true }.map { ($0.node, state($0.node)) }
                    let records = Set(states.map { $0.1?.record ?? -1 })
                    if records.count == 1, let r = records.first, r > 0 {
                        return Dictionary(uniqueKeysWithValues: states.map { ($0.0, $0.1!.hash) })
                    }
                    Thread.sleep(forTimeInterval: 0.1)
                }
                return nil
            }

            func stopAll() { for (node, _) in running { kill(node, signal: SIGTERM) } }

            /// The parts of the state whose hashes differ between the running nodes (`/health/state?parts=true`),
            /// for a failure's message.
            var differingParts: String {
                var byPart: [String: Set<String>] = [:]
                for (_, server) in running {
                    let parts =
                        ((try? IMSProcess.request(server, "GET", "/health/state?parts=true"))?.json as? [String: Any])?["parts"] as? [String: String] ?? [:]
                    for (part, hash) in parts { byPart[part, default: []].insert(hash) }
                }
                var out = "parts that differ: " + byPart.filter { $0.value.count > 1 }.keys.sorted().joined(separator: ", ")
                // What the nodes hold where they differ, through the API: the exceptions and the audit trail.
                for path in ["/api/v1/exceptions?limit=10000", "/api/v1/audit?limit=10000"] {
                    let lists = running.map { node, server -> (String, [String]) in
                        let json = (try? IMSProcess.request(server, "GET", path))?.json
                        let items = (json as? [[String: Any]]) ?? ((json as? [String: Any])?["items"] as? [[String: Any]]) ?? []
                        return (node, items.map { item in item.keys.sorted().map { "\($0)=\(item[$0]!)" }.joined(separator: " ") })
                    }
                    guard let first = lists.first else { continue }
                    for (node, items) in lists.dropFirst() where items != first.1 {
                        let only = Set(items).symmetricDifference(first.1)
                        out += "\n\(path): \(first.0) has \(first.1.count), \(node) has \(items.count); differing: \(only.sorted().prefix(8))"
                    }
                }
                return out
            }

            /// Each node's replication status and the log's last lines, for a failure's message.
            var diagnosis: String {
                let health = running.map { node, server in
                    let replication = ((try? IMSProcess.request(server, "GET", "/health"))?.json as? [String: Any])?["replication"]
                    return "\(node): \(replication.map { "\($0)" } ?? "no answer")"
                }
                let lines = ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").filter { $0.contains("replica") }.suffix(30)
                return health.joined(separator: "; ") + "\n" + lines.joined(separator: "\n")
            }
        }

        static let securities = ["KS1", "KS2", "KS3"]
        static let setup = """
            {"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}
            {"type":"security","securityId":"IBM","isin":"US4592001014","marketId":"US","currency":"USD"}
            {"type":"book","bookId":"FIRM","legalEntity":"PB-US","positionType":"FIRM"}
            {"type":"sodPosition","businessDate":"2026-11-25","bookId":"FIRM","securityId":"IBM","contractualQty":1205,"settledQty":1205}
            {"type":"counterparty","counterpartyId":"C1","name":"Fund 1","kind":"CLIENT"}
            \(securities.map { #"{"type":"security","securityId":"\#($0)","marketId":"US"}"# }.joined(separator: "\n"))
            """

        /// Batch `id`: 20 buys over the three securities in FIRM, with quantities that differ per batch.
        static func batch(_ id: Int) -> (body: String, effect: [String: Int]) {
            var effect: [String: Int] = [:]
            let lines = (0..<20).map { k -> String in
                let security = securities[(id + k) % securities.count]
                let quantity = 1 + (id * 5 + k) % 11
                effect[security, default: 0] += quantity
                return
                    #"{"type":"trade","tradeId":"K\#(id)-\#(k)","version":1,"status":"NEW","bookId":"FIRM","securityId":"\#(security)","side":"BUY","quantity":\#(quantity),"price":"10","tradeDate":"2026-11-25"}"#
            }
            return (lines.joined(separator: "\n"), effect)
        }

        static func intradayBuys(_ server: IMSProcess.Server) -> [String: Int] {
            var out: [String: Int] = [:]
            for s in securities {
                let r = try? IMSProcess.request(server, "GET", "/api/v1/positions/FIRM/\(s)")
                out[s] = r?.status == 200 ? ((r?.json as? [String: Any])?["intradayBuys"] as? Int ?? -1) : 0
            }
            return out
        }

        @Test func theLeaderKilledTenTimesUnderLoadLosesNothingAndAppliesNothingTwice() throws {
            let cluster = Cluster(brokers: try Self.brokers)
            defer {
                cluster.stopAll()
                try? FileManager.default.removeItem(at: cluster.log)
            }
            try cluster.startLeaderAndStandby()

            // The load: trade batches and locate requests, each retried on whichever node takes it until answered.
            let stop = Atomic<Bool>(false)
            let done = Mutex<(batches: Int, locates: [String: Int], unanswered: Int)>((0, [:], 0))
            let writer = Thread {
                var id = 0
                while !stop.load(ordering: .relaxed) {
                    guard cluster.write("/api/v1/events", Self.batch(id).body) != nil else {
                        done.withLock { $0.unanswered += 1 }
                        return
                    }
                    let request = "L\(id)"
                    let body = #"{"requestId":"\#(request)","clientId":"C1","securityId":"IBM","quantity":10,"side":"SHORT"}"#
                    guard let answer = cluster.write("/api/v1/locates", body) else {
                        done.withLock { $0.unanswered += 1 }
                        return
                    }
                    let approved = (answer.json as? [String: Any])?["approvedQuantity"] as? Int ?? -1
                    id += 1
                    done.withLock {
                        $0.batches = id
                        $0.locates[request] = approved
                    }
                }
            }
            writer.start()
            var failovers: [Double] = []
            for round in 0..<10 {
                Thread.sleep(forTimeInterval: Double.random(in: 0.2...1.2))
                guard let leader = cluster.leader() else {
                    Issue.record("round \(round): no leader")
                    break
                }
                let t0 = Date()
                cluster.kill(leader)
                // Failover: the leader killed → the first write answered by the new leader.
                let probe = Self.batch(100_000 + round).body
                guard cluster.write("/api/v1/events", probe, seconds: 30) != nil else {
                    Issue.record("round \(round): no node took a write within 30 s of the leader's death: \(cluster.diagnosis)")
                    break
                }
                failovers.append(Date().timeIntervalSince(t0) * 1_000)
                // The old leader comes back as a standby, from its own data directory.
                try cluster.start(leader)
            }
            stop.store(true, ordering: .relaxed)
            while writer.isExecuting { Thread.sleep(forTimeInterval: 0.02) }
            let (batches, locates, unanswered) = done.withLock { $0 }
            #expect(unanswered == 0)
            #expect(batches > 10, "the load went on through the failovers")

            // Every acknowledged batch once (and the failover probes once each).
            var expected: [String: Int] = [:]
            for id in 0..<batches { expected.merge(Self.batch(id).effect, uniquingKeysWith: +) }
            for round in 0..<failovers.count { expected.merge(Self.batch(100_000 + round).effect, uniquingKeysWith: +) }
            let hashes = try #require(cluster.converged(), "the nodes reach the same record")
            #expect(Set(hashes.values).count == 1, "every node holds the same state: \(hashes)")
            for (node, server) in cluster.running { #expect(Self.intradayBuys(server) == expected, "node \(node)") }

            // No locate approved twice or over the pool: each request's answer is its first, and they add up.
            let approved = locates.values.reduce(0, +)
            #expect(locates.values.allSatisfy { $0 >= 0 })
            #expect(approved <= 1_205)
            let server = try #require(cluster.running.first?.server)
            let pool =
                ((try IMSProcess.request(server, "GET", "/api/v1/inventory/IBM").json as? [String: Any])?["calculations"] as? [String: Any])?["locateAvailable"]
                as? Int
            #expect(pool == 1_205 - approved)
            let listed = (try IMSProcess.request(server, "GET", "/api/v1/locates?limit=10000").json as? [String: Any])?["total"] as? Int
            #expect(listed == locates.count)

            // A fresh node replaying the whole topic reaches the same state.
            try cluster.start("FRESH")
            let withFresh = try #require(cluster.converged(), "the fresh node catches up")
            #expect(Set(withFresh.values).count == 1, "a replay of the topic holds the leader's state: \(withFresh)")
            let sorted = failovers.sorted()
            print(
                "kafka failover: \(failovers.count) kills, failover ms p50 \(Int(sorted[sorted.count / 2])) max \(Int(sorted.last ?? 0)); \(batches) batches and locates, \(approved) shares located"
            )
        }

        @Test func aPausedLeaderThatResumesCannotAppendAndStepsDown() throws {
            let cluster = Cluster(brokers: try Self.brokers)
            defer {
                cluster.stopAll()
                try? FileManager.default.removeItem(at: cluster.log)
            }
            try cluster.startLeaderAndStandby()
            let a = try #require(cluster.server("A")), b = try #require(cluster.server("B"))
            kill(a.process.processIdentifier, SIGSTOP)
            // B takes over once A's lease has run out.
            var bLeads = false
            for _ in 0..<300 where !bLeads {
                bLeads = (try? IMSProcess.request(b, "GET", "/health/leader"))?.status == 200
                if !bLeads { Thread.sleep(forTimeInterval: 0.02) }
            }
            #expect(bLeads)
            #expect((try IMSProcess.request(b, "POST", "/api/v1/events", body: Self.batch(1).body)).status == 200)
            kill(a.process.processIdentifier, SIGCONT)
            // A's next heartbeat is fenced: it steps down, refuses writes naming B, and follows B's records.
            var aFollows = false
            for _ in 0..<300 where !aFollows {
                let health = (try? IMSProcess.request(a, "GET", "/health"))?.json as? [String: Any]
                aFollows = (health?["replication"] as? [String: Any])?["role"] as? String == "standby"
                if !aFollows { Thread.sleep(forTimeInterval: 0.02) }
            }
            #expect(aFollows, "the resumed leader stepped down")
            // It learns who leads from the log (B's claim or heartbeat).
            for _ in 0..<300 {
                let health = (try? IMSProcess.request(a, "GET", "/health"))?.json as? [String: Any]
                if (health?["replication"] as? [String: Any])?["leaderNode"] as? String == "B" { break }
                Thread.sleep(forTimeInterval: 0.02)
            }
            let refused = try IMSProcess.request(a, "POST", "/api/v1/events", body: Self.batch(2).body)
            #expect(refused.status == 503)
            let message = (refused.json as? [String: Any])?["error"] as? String ?? ""
            #expect(message.contains("the leader, B at http"), "names the leader: \(message)")
            let hashes = try #require(cluster.converged())
            #expect(Set(hashes.values).count == 1, "\(hashes) \(cluster.differingParts)")
            #expect(Self.intradayBuys(a) == Self.batch(1).effect)
            let log = (try? String(contentsOf: cluster.log, encoding: .utf8)) ?? ""
            #expect(log.contains("stepped down: fenced"), "the log says A was fenced")
        }

        @Test func leadershipMovesByHandAndOnACleanStop() throws {
            let cluster = Cluster(brokers: try Self.brokers)
            defer {
                cluster.stopAll()
                try? FileManager.default.removeItem(at: cluster.log)
            }
            try cluster.startLeaderAndStandby()
            let a = try #require(cluster.server("A"))
            // On a standby the step-down is a write: refused, naming the leader.
            let b = try #require(cluster.server("B"))
            #expect(try IMSProcess.request(b, "POST", "/api/v1/cluster/step-down").status == 503)
            // `ims cluster status`: one leader, the standby following it; exit 0. A node that does not answer
            // is listed as unreachable, and with no leader among the answers the command exits 1.
            let status = try IMSProcess.run(["cluster", "status", "--nodes", "\(a.base),\(b.base)"])
            #expect(status.status == 0, "\(status.out)\(status.err)")
            let rows = status.out.split(separator: "\n").map(String.init)
            #expect(rows.contains { $0.hasPrefix(a.base) && $0.contains(" leader ") }, "\(status.out)")
            #expect(rows.contains { $0.hasPrefix(b.base) && $0.contains(" standby ") && $0.contains(" A ") }, "\(status.out)")
            let json = try IMSProcess.run(["cluster", "status", "--nodes", "\(b.base),http://127.0.0.1:1", "--format", "json"])
            #expect(json.status == 1, "no leader among the nodes asked")
            #expect(json.out.contains(#""status":"unreachable"#), "\(json.out)")
            let moved = try IMSProcess.request(a, "POST", "/api/v1/cluster/step-down")
            #expect(moved.status == 200)
            let t0 = Date()
            #expect(cluster.leader(within: 5) == "B")
            let byHand = Date().timeIntervalSince(t0)
            #expect(cluster.write("/api/v1/events", Self.batch(1).body, seconds: 5)?.status == 200)
            // A clean stop of the leader resigns too: A takes over without waiting for a lease.
            let t1 = Date()
            cluster.kill("B", signal: SIGTERM)
            #expect(cluster.leader(within: 5) == "A")
            let onStop = Date().timeIntervalSince(t1)
            #expect(Self.intradayBuys(a) == Self.batch(1).effect)
            let afterFirst = try #require((try IMSProcess.request(a, "GET", "/health").json as? [String: Any])?["lastSequence"] as? Int)
            // B restarts from its snapshot and the topic after it.
            try cluster.start("B")
            #expect(cluster.write("/api/v1/events", Self.batch(2).body)?.status == 200)
            let hashes = try #require(cluster.converged())
            #expect(Set(hashes.values).count == 1, "\(hashes) \(cluster.differingParts)")
            // `asOf` replays the topic: on A from its start, on B from its snapshot (taken at the clean stop).
            let restarted = try #require(cluster.server("B"))
            for node in [a, restarted] {
                let before = try IMSProcess.request(node, "GET", "/api/v1/positions/FIRM/KS1?asOf=\(afterFirst)")
                #expect(before.status == 200, "\(before.json ?? "")")
                #expect((before.json as? [String: Any])?["intradayBuys"] as? Int == Self.batch(1).effect["KS1"], "the position before batch 2")
                let now = try IMSProcess.request(node, "GET", "/api/v1/positions/FIRM/KS1?asOf=\(afterFirst + 40)")
                #expect((now.json as? [String: Any])?["intradayBuys"] as? Int == Self.intradayBuys(a)["KS1"], "the position after batch 2")
            }
            let log = (try? String(contentsOf: cluster.log, encoding: .utf8)) ?? ""
            #expect(log.contains("loaded") && log.contains("record=") && !log.contains("snapshot without a topic position"))
            print("kafka leadership moved by hand in \(Int(byHand * 1_000)) ms, after a clean stop in \(Int(onStop * 1_000)) ms")
        }
    }
#endif

#if Kafka
    /// A broker of the test's own (noida-db, from the venv the test command's script installs), so that it can
    /// be killed and restarted on the same port and directory.
    final class OwnBroker: @unchecked Sendable {
        let port: Int
        let dir: URL
        private var process: Process?

        init() throws {
            let socket = try Self.freePort()
            port = socket
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("ims-kafka-own-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try start()
        }

        var address: String { "127.0.0.1:\(port)" }

        func start() throws {
            let binary = IMSProcess.root.appendingPathComponent(".build/venv-kafka/bin/noida-db").path
            guard FileManager.default.isExecutableFile(atPath: binary) else {
                throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "\(binary) is missing: scripts/kafka-broker.sh start installs it"])
            }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = ["start", "--only", "kafka", "--data-dir", dir.path, "--kafka-port", "\(port)"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            process = p
            for _ in 0..<200 {
                if Self.answers(port) { return }
                Thread.sleep(forTimeInterval: 0.05)
            }
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "the broker did not start on \(port)"])
        }

        /// SIGINT: the broker saves its log and stops (SIGKILL if it has not within 15 s).
        func stop() {
            let deadline = Date().addingTimeInterval(15)
            signal("-INT", wait: false)
            while process?.isRunning == true && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if process?.isRunning == true { kill() }
            process = nil
            while Self.answers(port) { Thread.sleep(forTimeInterval: 0.05) }
        }

        /// SIGSTOP: the broker stops answering (a hung or unreachable broker) until `resume`.
        func pause() { signal("-STOP", wait: false) }

        /// SIGCONT after `pause`.
        func resume() { signal("-CONT", wait: false) }

        /// SIGKILL to the broker and the server it started (found by its directory).
        func kill() { signal("-KILL") }

        private func signal(_ flag: String, wait: Bool = true) {
            let pkill = Process()
            pkill.executableURL = URL(fileURLWithPath: "/usr/bin/pkill")
            pkill.arguments = [flag, "-f", "--", "--data-dir \(dir.path)"]
            try? pkill.run()
            pkill.waitUntilExit()
            guard wait else { return }
            process?.waitUntilExit()
            process = nil
            while Self.answers(port) { Thread.sleep(forTimeInterval: 0.05) }
        }

        func remove() {
            kill()
            try? FileManager.default.removeItem(at: dir)
        }

        static func answers(_ port: Int) -> Bool {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            return withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
        }

        static func freePort() throws -> Int {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = 0
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
            }
            guard bound else { throw CocoaError(.fileReadUnknown) }
            return Int(UInt16(bigEndian: address.sin_port))
        }
    }

    extension KafkaFailoverTests {
        /// Batches written one at a time, each retried on whichever node takes it until one does.
        final class Load: @unchecked Sendable {
            let stop = Atomic<Bool>(false)
            let acknowledged = Mutex<[Int]>([])
            let refusals = Atomic<Int>(0)
            private var thread: Thread?

            func start(_ cluster: Cluster, from first: Int) {
                let thread = Thread { [self] in
                    var id = first
                    while !stop.load(ordering: .relaxed) {
                        var taken = false
                        while !taken && !stop.load(ordering: .relaxed) {
                            for (_, server) in cluster.running {
                                guard let r = try? IMSProcess.request(server, "POST", "/api/v1/events", body: KafkaFailoverTests.batch(id).body, timeout: 15)
                                else { continue }
                                if r.status == 200 {
                                    taken = true
                                    break
                                }
                                if r.status == 503 { refusals.add(1, ordering: .relaxed) }
                            }
                            if !taken { Thread.sleep(forTimeInterval: 0.05) }
                        }
                        if taken { acknowledged.withLock { $0.append(id) } }
                        id += 1
                        // A steady, modest load: noida-db rewrites its whole log to a file every so often.
                        Thread.sleep(forTimeInterval: 0.01)
                    }
                }
                self.thread = thread
                thread.start()
            }

            var count: Int { acknowledged.withLock { $0.count } }

            func finish() -> [Int] {
                stop.store(true, ordering: .relaxed)
                while thread?.isExecuting == true { Thread.sleep(forTimeInterval: 0.02) }
                return acknowledged.withLock { $0 }
            }
        }

        /// The broker unreachable under load and back: writes answer 503 meanwhile, reads go on, nothing
        /// acknowledged is lost, and the nodes resume by themselves. Then the broker killed with SIGKILL and
        /// restarted: either it kept every acknowledged record and writes resume, or it lost some (noida-db
        /// saves its log to a file every so often) and every node that had read them stops, says why and never
        /// leads; none diverges silently.
        @Test func theBrokerUnreachableStallsWritesAndABrokerThatLosesRecordsIsCaught() throws {
            let broker = try OwnBroker()
            defer { broker.remove() }
            let cluster = Cluster(brokers: broker.address)
            defer {
                cluster.stopAll()
                if ProcessInfo.processInfo.environment["IMS_KEEP_TEST_LOGS"] == nil { try? FileManager.default.removeItem(at: cluster.log) }
            }
            try cluster.startLeaderAndStandby()

            // 1. The broker unreachable (SIGSTOP) for 7 s under load (longer than an append waits: the leader steps down), then back (SIGCONT).
            let load = Load()
            load.start(cluster, from: 0)
            Thread.sleep(forTimeInterval: 1)
            broker.pause()
            let downAt = load.count
            Thread.sleep(forTimeInterval: 7)
            for (node, server) in cluster.running {
                #expect((try? IMSProcess.request(server, "GET", "/api/v1/positions/FIRM/KS1"))?.status == 200, "node \(node) reads while the broker is down")
            }
            #expect(load.count - downAt <= 1, "nothing is acknowledged without the broker (one may have been in flight)")
            broker.resume()
            let resumed = Date().addingTimeInterval(60)
            while load.count < downAt + 5 && Date() < resumed { Thread.sleep(forTimeInterval: 0.1) }
            let acked = load.finish()
            #expect(acked.count >= downAt + 5, "writes resumed by themselves after the broker came back")
            #expect(load.refusals.load(ordering: .relaxed) > 0, "writes were refused with 503 while the broker was down")
            var expected: [String: Int] = [:]
            for id in acked { expected.merge(Self.batch(id).effect, uniquingKeysWith: +) }
            guard let hashes = cluster.converged(within: 60) else {
                Issue.record("the nodes did not reach the same record: \(cluster.diagnosis)")
                return
            }
            // Seen to differ in 3 of about 12 whole-suite runs before the step-down was handed over atomically
            // (KafkaJournal.leadership(), docs/architecture.md): the old leader applied its own records twice.
            #expect(Set(hashes.values).count == 1, "\(hashes) \(cluster.differingParts)\n\(cluster.diagnosis)")
            for (node, server) in cluster.running { #expect(Self.intradayBuys(server) == expected, "node \(node)") }
            print(
                "kafka broker unreachable for 7 s: \(acked.count) batches acknowledged, \(load.refusals.load(ordering: .relaxed)) refusals with 503 meanwhile"
            )

            // 2. Killed with SIGKILL under load and restarted. A node that had read records the broker lost
            // stops (noida-db may lose the last ones); one that had not goes on, and may lead.
            let second = Load()
            second.start(cluster, from: 10_000)
            Thread.sleep(forTimeInterval: 1)
            broker.kill()
            try broker.start()
            func replication(_ server: IMSProcess.Server) -> [String: Any]? {
                ((try? IMSProcess.request(server, "GET", "/health"))?.json as? [String: Any])?["replication"] as? [String: Any]
            }
            let settle = Date().addingTimeInterval(20)
            var settled = false
            while !settled && Date() < settle {
                let statuses = cluster.running.map { replication($0.server) }
                let live = statuses.filter { $0?["halted"] as? Bool != true }
                settled = live.isEmpty || (second.count > 5 && live.contains { $0?["role"] as? String == "leader" })
                if !settled { Thread.sleep(forTimeInterval: 0.2) }
            }
            // Long enough for a node that read lost records to be sure of it (3 s).
            Thread.sleep(forTimeInterval: 4)
            let secondAcked = second.finish()
            #expect(settled, "after the broker's SIGKILL the nodes neither resumed nor stopped: \(cluster.diagnosis)")
            var halted: [String] = [], live: Set<String> = []
            for (node, server) in cluster.running {
                let status = replication(server)
                guard status?["halted"] as? Bool == true else {
                    live.insert(node)
                    continue
                }
                halted.append(node)
                // It lost records it had read: it says so, refuses writes and is not ready; reads go on.
                #expect((status?["brokerError"] as? String ?? "").contains("the broker lost acknowledged writes"), "node \(node)")
                #expect(try IMSProcess.request(server, "GET", "/health/ready").status == 503)
                #expect(try IMSProcess.request(server, "POST", "/api/v1/events", body: Self.batch(99_999).body).status == 503)
                #expect(try IMSProcess.request(server, "GET", "/api/v1/positions/FIRM/KS1").status == 200, "reads go on")
            }
            if halted.isEmpty {
                // The broker kept every acknowledged record: all of it is there once, on every node.
                for id in secondAcked { expected.merge(Self.batch(id).effect, uniquingKeysWith: +) }
                guard let hashes = cluster.converged(within: 60) else {
                    Issue.record("the nodes did not reach the same record: \(cluster.diagnosis)")
                    return
                }
                #expect(Set(hashes.values).count == 1, "\(hashes) \(cluster.differingParts)")
                for (node, server) in cluster.running { #expect(Self.intradayBuys(server) == expected, "node \(node)") }
            } else if !live.isEmpty {
                // The nodes that go on agree with each other.
                let hashes = try #require(cluster.converged(within: 60, among: live), "the live nodes reach the same record: \(cluster.diagnosis)")
                #expect(Set(hashes.values).count == 1, "\(hashes) \(cluster.differingParts)")
            }
            print(
                "kafka broker SIGKILLed: \(halted.isEmpty ? "it kept every acknowledged record; writes resumed" : "it lost acknowledged records; \(halted.sorted()) stopped, \(live.sorted()) went on") (\(secondAcked.count) batches)"
            )
        }
    }
#endif

#if Kafka
    extension KafkaFailoverTests {
        /// A broker whose log goes back in time (its saved state restored from before the last records, as a
        /// broker that lost acknowledged writes): every node that had read past the new end stops, says why,
        /// refuses writes and is not ready, and none leads on; reads of what it holds go on.
        @Test func aLogThatLostAcknowledgedRecordsStopsEveryNodeThatReadThem() throws {
            let broker = try OwnBroker()
            defer { broker.remove() }
            let cluster = Cluster(brokers: broker.address)
            defer {
                cluster.stopAll()
                try? FileManager.default.removeItem(at: cluster.log)
            }
            try cluster.startLeaderAndStandby()
            for id in 0..<5 { #expect(cluster.write("/api/v1/events", Self.batch(id).body)?.status == 200) }
            // The broker's state as it next saves it (noida-db rewrites kafka.json every so often), kept aside.
            let file = broker.dir.appendingPathComponent("kafka.json")
            let written = Date()
            var early: Data?
            while early == nil && Date() < written.addingTimeInterval(20) {
                let saved = (try? FileManager.default.attributesOfItem(atPath: file.path))?[.modificationDate] as? Date
                if let saved, saved > written.addingTimeInterval(0.2), let data = try? Data(contentsOf: file),
                    (try? JSONSerialization.jsonObject(with: data)) != nil
                {
                    early = data
                }
                Thread.sleep(forTimeInterval: 0.1)
            }
            let saved = try #require(early, "the broker saved its state")
            for id in 5..<15 { #expect(cluster.write("/api/v1/events", Self.batch(id).body)?.status == 200) }
            #expect(cluster.converged() != nil)
            // The broker comes back without the last ten batches.
            broker.kill()
            try saved.write(to: file)
            try broker.start()
            var stopped = false
            let deadline = Date().addingTimeInterval(20)
            while !stopped && Date() < deadline {
                stopped = cluster.running.allSatisfy { _, server in
                    (((try? IMSProcess.request(server, "GET", "/health"))?.json as? [String: Any])?["replication"] as? [String: Any])?["halted"] as? Bool
                        == true
                }
                if !stopped { Thread.sleep(forTimeInterval: 0.1) }
            }
            #expect(stopped, "every node stopped: \(cluster.diagnosis)")
            for (node, server) in cluster.running {
                let health = try IMSProcess.request(server, "GET", "/health").json as? [String: Any]
                #expect(health?["status"] as? String == "degraded", "node \(node)")
                let why = (health?["replication"] as? [String: Any])?["brokerError"] as? String ?? ""
                #expect(why.contains("the broker lost acknowledged writes"), "node \(node): \(why)")
                #expect(try IMSProcess.request(server, "GET", "/health/ready").status == 503)
                #expect(try IMSProcess.request(server, "GET", "/health/leader").status == 503)
                #expect(try IMSProcess.request(server, "POST", "/api/v1/events", body: Self.batch(99).body).status == 503)
                #expect(try IMSProcess.request(server, "GET", "/api/v1/positions/FIRM/KS1").status == 200, "reads go on")
            }
        }
    }
#endif
