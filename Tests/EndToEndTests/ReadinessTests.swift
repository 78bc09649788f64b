import Foundation
import Testing

/// The server listens before it recovers: live at once, not ready (503, saying why) until the journal is
/// replayed, then ready, with everything recovered.
struct ReadinessTests {
    @Test func notReadyDuringALongRecoveryThenReady() throws {
        let dataDir = IMSProcess.freshDirectory()
        // A journal of 100,000 events (the engine benchmark writes one and keeps it with --data-dir); the
        // test binary is a debug build, so replaying it takes a noticeable while.
        let bench = Process()
        bench.executableURL = URL(fileURLWithPath: IMSProcess.binary)
        bench.arguments = ["bench", "engine", "--events", "100000", "--fsync", "never", "--data-dir", dataDir.path]
        bench.standardOutput = FileHandle.nullDevice
        try bench.run()
        bench.waitUntilExit()
        try #require(bench.terminationStatus == 0)

        let server = try IMSProcess.start(dataDir: dataDir, waitUntilReady: false)
        defer { server.stop() }
        let first = try IMSProcess.request(server, "GET", "/health/ready")
        #expect(first.status == 503, "not ready while recovering")
        #expect(((first.json as? [String: Any])?["reason"] as? String ?? "").contains("recovering"))
        #expect(try IMSProcess.request(server, "GET", "/health/live").status == 200, "live while recovering")
        #expect(try IMSProcess.request(server, "GET", "/api/v1/positions?limit=1").status == 503, "no answer from a state half replayed")
        var ready = false
        let deadline = Date().addingTimeInterval(120)
        while !ready && Date() < deadline {
            ready = try IMSProcess.request(server, "GET", "/health/ready").status == 200
            if !ready { Thread.sleep(forTimeInterval: 0.05) }
        }
        #expect(ready, "ready once recovered")
        let health = try IMSProcess.request(server, "GET", "/health")
        #expect(health.status == 200)
        #expect(((health.json as? [String: Any])?["lastSequence"] as? Int ?? 0) >= 100_000, "the whole journal was replayed")
    }
}
