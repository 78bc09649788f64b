import Foundation
import Synchronization
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Kills the real binary with SIGKILL while it ingests, restarts it, and checks that its state is
/// exactly the fold of the acknowledged batches (the batch in flight applied wholly or not at all).
@Suite(.serialized)
struct CrashTests {
    static let books = ["CB1", "CB2", "CB3"]
    static let securities = ["CS1", "CS2", "CS3", "CS4", "CS5"]
    static var positions: [String] { books.flatMap { b in securities.map { "\(b)/\($0)" } } }

    static let setup = """
        {"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}
        \(securities.map { #"{"type":"security","securityId":"\#($0)","marketId":"US"}"# }.joined(separator: "\n"))
        \(books.map { #"{"type":"book","bookId":"\#($0)","legalEntity":"PB-US","positionType":"FIRM"}"# }.joined(separator: "\n"))
        """

    /// Batch `id`: `size` buys spread round-robin over the 15 positions, quantities that differ per batch.
    static func batch(_ id: Int, size: Int = 300) -> (body: String, effect: [String: Int]) {
        var lines: [String] = []
        var effect: [String: Int] = [:]
        for k in 0..<size {
            let position = positions[(id + k) % positions.count]
            let parts = position.split(separator: "/")
            let quantity = 1 + (id * 7 + k) % 13
            effect[position, default: 0] += quantity
            lines.append(
                #"{"type":"trade","tradeId":"X\#(id)-\#(k)","version":1,"status":"NEW","bookId":"\#(parts[0])","securityId":"\#(parts[1])","side":"BUY","quantity":\#(quantity),"price":"10","tradeDate":"2026-11-25"}"#
            )
        }
        return (lines.joined(separator: "\n"), effect)
    }

    static func intradayBuys(_ server: IMSProcess.Server) throws -> [String: Int] {
        var out: [String: Int] = [:]
        for p in positions {
            let r = try IMSProcess.request(server, "GET", "/api/v1/positions/\(p)")
            out[p] = r.status == 200 ? ((r.json as? [String: Any])?["intradayBuys"] as? Int ?? -1) : 0
        }
        return out
    }

    static func adding(_ a: [String: Int], _ b: [String: Int]) -> [String: Int] { a.merging(b, uniquingKeysWith: +) }

    @Test func killedAtRandomMomentsTheStateIsTheFoldOfAcknowledgedBatches() throws {
        let dir = IMSProcess.freshDirectory()
        let log = dir.deletingLastPathComponent().appendingPathComponent(dir.lastPathComponent + ".log")
        defer { try? FileManager.default.removeItem(at: dir); try? FileManager.default.removeItem(at: log) }
        var server = try IMSProcess.start(dataDir: dir, log: log)
        #expect(try IMSProcess.request(server, "POST", "/api/v1/events", body: Self.setup).status == 200)

        // Every position, 0 where nothing was applied (a position never bought reads as 0 too).
        var expected = Dictionary(uniqueKeysWithValues: Self.positions.map { ($0, 0) })
        var nextBatch = 0
        var lastApplied: Int?
        var inFlightWhole = 0, inFlightNone = 0
        for round in 0..<20 {
            // Stream batches one after another; note each acknowledged one, and the one in flight.
            let acknowledged = Mutex<[Int]>([])
            let inFlight = Mutex<Int?>(nil)
            let first = nextBatch
            let streamer = Thread { [server] in
                var id = first
                while true {
                    inFlight.withLock { $0 = id }
                    guard let r = try? IMSProcess.request(server, "POST", "/api/v1/events", body: Self.batch(id).body, timeout: 5), r.status == 200 else {
                        return
                    }
                    acknowledged.withLock { $0.append(id) }
                    inFlight.withLock { $0 = nil }
                    id += 1
                }
            }
            streamer.start()
            // Round 0 kills at once, before the first batch can be durable: nothing of it may show.
            Thread.sleep(forTimeInterval: round == 0 ? 0 : Double.random(in: 0.05...0.6))
            server.crash()
            while streamer.isExecuting { Thread.sleep(forTimeInterval: 0.01) }
            let acked = acknowledged.withLock { $0 }
            for id in acked { expected = Self.adding(expected, Self.batch(id).effect) }
            if let last = acked.last { lastApplied = last }

            server = try IMSProcess.start(dataDir: dir, log: log)
            let actual = try Self.intradayBuys(server)
            if let pending = inFlight.withLock({ $0 }) {
                let withPending = Self.adding(expected, Self.batch(pending).effect)
                #expect(actual == expected || actual == withPending, "round \(round): in-flight batch \(pending) half applied: \(actual) against \(expected)")
                if actual == withPending { expected = withPending; inFlightWhole += 1; lastApplied = pending } else { inFlightNone += 1 }
                nextBatch = pending + 1
            } else {
                #expect(actual == expected, "round \(round)")
                nextBatch = (acked.last ?? first - 1) + 1
            }
        }
        // Re-sending an acknowledged batch after all those restarts changes nothing.
        let resent = try #require(lastApplied, "some batch was acknowledged")
        let again = try IMSProcess.request(server, "POST", "/api/v1/events", body: Self.batch(resent).body)
        #expect(again.status == 200)
        #expect((again.json as? [String: Any])?["ignored"] as? Int == 300)
        #expect(try Self.intradayBuys(server) == expected)
        server.stop()
        // A clean stop writes a snapshot; the next start replays nothing and agrees.
        server = try IMSProcess.start(dataDir: dir, log: log)
        #expect(try Self.intradayBuys(server) == expected)
        server.stop()
        let snapshots = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("snapshots").path)
        #expect(snapshots.contains { $0.hasSuffix(".snap") })
        print("crash harness: 20 kills, in-flight batch applied wholly \(inFlightWhole) times, not at all \(inFlightNone) times")
    }

    @Test func aFullDiskRefusesIngestWith503KeepsServingReadsAndResumes() throws {
        let dir = IMSProcess.freshDirectory()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        // A real full disk: a small tmpfs, which needs root (the test command runs as root in CI).
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=4m", "tmpfs", dir.path]
        try mount.run()
        mount.waitUntilExit()
        try #require(mount.terminationStatus == 0, "mounting a tmpfs for the full-disk test needs root")
        defer {
            let umount = Process()
            umount.executableURL = URL(fileURLWithPath: "/bin/umount")
            umount.arguments = [dir.path]
            try? umount.run()
            umount.waitUntilExit()
            try? FileManager.default.removeItem(at: dir)
        }
        let dataDir = dir.appendingPathComponent("data")
        // The server's log, outside the full tmpfs.
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("ims-log-\(UUID().uuidString).txt")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        var server = try IMSProcess.start(dataDir: dataDir, log: log)
        #expect(try IMSProcess.request(server, "POST", "/api/v1/events", body: Self.setup).status == 200)
        #expect(try IMSProcess.request(server, "POST", "/api/v1/events", body: Self.batch(1).body).status == 200)

        // Fill the disk.
        let filler = dir.appendingPathComponent("filler")
        FileManager.default.createFile(atPath: filler.path, contents: nil)
        let handle = try FileHandle(forWritingTo: filler)
        let chunk = Data(repeating: 0x55, count: 64 << 10)
        while (try? handle.write(contentsOf: chunk)) != nil {}
        try? handle.close()

        let refused = try IMSProcess.request(server, "POST", "/api/v1/events", body: Self.batch(2).body)
        #expect(refused.status == 503)
        let message = (refused.json as? [String: Any])?["error"] as? String ?? ""
        #expect(message.contains("No space left"), "the 503 says why: \(message)")
        let health = try IMSProcess.request(server, "GET", "/health")
        #expect((health.json as? [String: Any])?["status"] as? String == "degraded")
        // Not ready (a balancer sends writes elsewhere), still live (nobody restarts it for a full disk).
        let ready = try IMSProcess.request(server, "GET", "/health/ready")
        #expect(ready.status == 503)
        #expect(((ready.json as? [String: Any])?["reason"] as? String ?? "").contains("No space left"), "the 503 says why")
        #expect(try IMSProcess.request(server, "GET", "/health/live").status == 200)
        #expect(try Self.intradayBuys(server) == Self.batch(1).effect, "reads still served, the refused batch not applied")

        // Space returns: ingest resumes by itself.
        try FileManager.default.removeItem(at: filler)
        #expect(try IMSProcess.request(server, "POST", "/api/v1/events", body: Self.batch(3).body).status == 200)
        let expected = Self.adding(Self.batch(1).effect, Self.batch(3).effect)
        #expect(try Self.intradayBuys(server) == expected)
        #expect((try IMSProcess.request(server, "GET", "/health").json as? [String: Any])?["status"] as? String == "ok")
        #expect(try IMSProcess.request(server, "GET", "/health/ready").status == 200)
        // The log says when writes failed, why, and when they came back.
        Thread.sleep(forTimeInterval: 0.3)
        let logged = String(decoding: try Data(contentsOf: log), as: UTF8.self)
        #expect(logged.contains(#""level":"error","logger":"ims","message":"journal write failed"#) && logged.contains("No space left"), "\(logged)")
        #expect(logged.contains(#""message":"journal writes again""#))

        // Nothing acknowledged was lost, and the outage is in the exceptions list, across a crash.
        server.crash()
        server = try IMSProcess.start(dataDir: dataDir)
        defer { server.stop() }
        #expect(try Self.intradayBuys(server) == expected)
        let exceptions = try IMSProcess.request(server, "GET", "/api/v1/exceptions?kind=JOURNAL_WRITE_FAILED")
        let items = exceptions.json as? [[String: Any]] ?? []
        #expect(items.count == 1)
        #expect((items.first?["message"] as? String ?? "").contains("No space left"))
    }
}
