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

            func start(_ node: String, lease: Int = 1_000) throws {
                let dir = lock.withLock { dirs[node] ?? IMSProcess.freshDirectory() }
                let server = try IMSProcess.start(
                    [
                        "--journal", "kafka", "--kafka-brokers", brokers, "--kafka-topic", topic, "--kafka-node", node, "--kafka-lease-ms", "\(lease)",
                        "--kafka-heartbeat-ms", "100", "--log-format", "text",
                    ], dataDir: dir, log: log)
                lock.withLock {
                    dirs[node] = dir
                    servers[node] = server
                }
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
            func converged(within seconds: Double = 30) -> [String: String]? {
                let deadline = Date().addingTimeInterval(seconds)
                while Date() < deadline {
                    let states = running.map { ($0.node, state($0.node)) }
                    let records = Set(states.map { $0.1?.record ?? -1 })
                    if records.count == 1, let r = records.first, r > 0 {
                        return Dictionary(uniqueKeysWithValues: states.map { ($0.0, $0.1!.hash) })
                    }
                    Thread.sleep(forTimeInterval: 0.1)
                }
                return nil
            }

            func stopAll() { for (node, _) in running { kill(node, signal: SIGTERM) } }
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
            try cluster.start("A")
            #expect(cluster.leader() == "A", "the first node claims leadership after its lease")
            try cluster.start("B")
            #expect(cluster.write("/api/v1/events", Self.setup)?.status == 200)

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
                    Issue.record("round \(round): no node took a write within 30 s of the leader's death")
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
            try cluster.start("A")
            #expect(cluster.leader() == "A")
            try cluster.start("B")
            #expect(cluster.write("/api/v1/events", Self.setup)?.status == 200)
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
            let refused = try IMSProcess.request(a, "POST", "/api/v1/events", body: Self.batch(2).body)
            #expect(refused.status == 503)
            let message = (refused.json as? [String: Any])?["error"] as? String ?? ""
            #expect(message.contains("the leader, B at http"), "names the leader: \(message)")
            let hashes = try #require(cluster.converged())
            #expect(Set(hashes.values).count == 1, "\(hashes)")
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
            try cluster.start("A")
            #expect(cluster.leader() == "A")
            try cluster.start("B")
            #expect(cluster.write("/api/v1/events", Self.setup)?.status == 200)
            let a = try #require(cluster.server("A"))
            // On a standby the step-down is a write: refused, naming the leader.
            let b = try #require(cluster.server("B"))
            #expect(try IMSProcess.request(b, "POST", "/api/v1/cluster/step-down").status == 503)
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
            // B restarts from its snapshot and the topic after it.
            try cluster.start("B")
            #expect(cluster.write("/api/v1/events", Self.batch(2).body)?.status == 200)
            let hashes = try #require(cluster.converged())
            #expect(Set(hashes.values).count == 1, "\(hashes)")
            let log = (try? String(contentsOf: cluster.log, encoding: .utf8)) ?? ""
            #expect(log.contains("loaded") && log.contains("record=") && !log.contains("snapshot without a topic position"))
            print("kafka leadership moved by hand in \(Int(byHand * 1_000)) ms, after a clean stop in \(Int(onStop * 1_000)) ms")
        }
    }
#endif
