import Foundation
import Synchronization
import Testing

/// SIGTERM while batches are arriving: the process stops within a bound with exit status 0, and after a
/// restart every batch it acknowledged is in the state (batches in flight are wholly applied or not at all).
struct ShutdownTests {
    static let securities = 40

    static func applied(_ server: IMSProcess.Server) throws -> [Int] {
        try (0..<securities).map { s in
            let r = try IMSProcess.request(server, "GET", "/api/v1/positions/SB/SD\(s)")
            return r.status == 200 ? ((r.json as? [String: Any])?["intradayBuys"] as? Int ?? -1) : 0
        }
    }

    @Test func sigtermUnderLoadKeepsEveryAcknowledgedBatchAndExitsZero() throws {
        let dataDir = IMSProcess.freshDirectory()
        let server = try IMSProcess.start(dataDir: dataDir)
        #expect(try IMSProcess.request(server, "POST", "/api/v1/events", body: TradeFlow.setup(book: "SB", prefix: "SD", count: Self.securities)).status == 200)
        // Two clients post atomic batches, each buying 1 of every security, until the server goes away.
        let acknowledged = Atomic<Int>(0), sent = Atomic<Int>(0), next = Atomic<Int>(0)
        let done = DispatchGroup()
        for _ in 0..<2 {
            done.enter()
            Thread {
                defer { done.leave() }
                while true {
                    let round = next.add(1, ordering: .relaxed).oldValue
                    sent.add(1, ordering: .relaxed)
                    let body = TradeFlow.buys(round: round, book: "SB", prefix: "SD", tradePrefix: "ST", count: Self.securities, quantity: 1)
                    guard let r = try? IMSProcess.request(server, "POST", "/api/v1/events", body: body, timeout: 5), r.status == 200 else { return }
                    acknowledged.add(1, ordering: .relaxed)
                }
            }.start()
        }
        Thread.sleep(forTimeInterval: 1.5)
        let before = acknowledged.load(ordering: .relaxed)
        let t0 = Date()
        kill(server.process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(30)
        while server.process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        let seconds = Date().timeIntervalSince(t0)
        #expect(!server.process.isRunning, "the server stopped within 30 s of SIGTERM")
        if server.process.isRunning { kill(server.process.processIdentifier, SIGKILL) }
        server.process.waitUntilExit()
        #expect(server.process.terminationReason == .exit && server.process.terminationStatus == 0, "exit status \(server.process.terminationStatus)")
        done.wait()
        #expect(before > 0, "batches were acknowledged before the signal")
        #expect(seconds < 30)

        let restarted = try IMSProcess.start(dataDir: dataDir)
        defer { restarted.stop() }
        let counts = try Self.applied(restarted)
        let acked = acknowledged.load(ordering: .relaxed)
        #expect(Set(counts).count == 1, "every batch applied wholly or not at all: \(counts)")
        #expect(counts[0] >= acked, "every acknowledged batch survived: \(counts[0]) applied, \(acked) acknowledged")
        #expect(counts[0] <= sent.load(ordering: .relaxed))
        // The clean stop wrote a snapshot: the restart replayed nothing.
        let health = try IMSProcess.request(restarted, "GET", "/health")
        #expect(((health.json as? [String: Any])?["lastSequence"] as? Int ?? 0) == Self.securities * counts[0] + Self.securities + 2)
    }
}
