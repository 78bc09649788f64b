import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A stalled WebSocket client must not hold up the engine, other clients, or the server's memory.
struct SlowConsumerTests {
    static let securities = 2_000

    static var setup: String { TradeFlow.setup(book: "SB", prefix: "SLOW", count: securities) }

    /// One trade in every security: every position changes.
    static func round(_ r: Int) -> String {
        TradeFlow.buys(round: r, book: "SB", prefix: "SLOW", tradePrefix: "R", count: securities, quantity: 1)
    }

    static func residentKiB(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    @Test func aStalledClientIsCoalescedToldItLagsAndCanResubscribe() throws {
        let server = try IMSProcess.start(["--stream-max-pending", "1000"])
        defer { server.stop() }
        #expect(try IMSProcess.request(server, "POST", "/api/v1/events", body: Self.setup).status == 200)
        #expect(try IMSProcess.request(server, "POST", "/api/v1/events", body: Self.round(0)).status == 200)

        let url = "ws://127.0.0.1:\(server.port)/ws/position"
        let stalled = StreamProbe(url, reading: false)
        let live = StreamProbe(url)
        defer { stalled.close(); live.close() }
        // The stalled client watches all 2,000 positions (more than its 1,000-item backlog allows); the live one a
        // market's worth that is still under the limit.
        stalled.send(#"{"action":"subscribe","filter":{}}"#)
        live.send(#"{"action":"subscribe","filter":{"securityId":"SLOW7"}}"#)
        let started = live.wait { !$0.ofType("snapshotComplete").isEmpty }
        #expect(started.ofType("snapshot").count == 1)
        let baseline = Self.residentKiB(server.process.processIdentifier)

        // 40 rounds of 2,000 changes each while one client reads nothing: every one is answered
        // (durable and applied), and nothing is left waiting in the engine.
        let started40 = Date()
        for r in 1...40 {
            let posted = try IMSProcess.request(server, "POST", "/api/v1/events", body: Self.round(r))
            #expect(posted.status == 200)
        }
        let ingestSeconds = Date().timeIntervalSince(started40)
        let health = try IMSProcess.request(server, "GET", "/health").json as? [String: Any]
        #expect(health?["pendingEvents"] as? Int == 0)
        #expect(health?["lastSequence"] as? Int == 2_002 + 41 * 2_000)
        // The live client gets the final figure (41 buys), whatever the stalled one does, and no lagging notice.
        let final = live.wait(seconds: 30) { m in m.ofType("delta").data.contains { $0["intradayBuys"] as? Int == 41 } }
        #expect(final.ofType("delta").data.contains { $0["intradayBuys"] as? Int == 41 })
        #expect(final.ofType("lagging").isEmpty)
        #expect(final.ofType("delta").count <= 40, "at most one delta per change of its one position")
        let after = Self.residentKiB(server.process.processIdentifier)
        #expect(after - baseline < 200_000, "server memory grew by \(after - baseline) KiB with a stalled client")

        // The stalled client, once it reads, is told it fell behind; resubscribing gives the latest state.
        stalled.startReading()
        let told = stalled.wait(seconds: 20) { !$0.ofType("lagging").isEmpty }
        #expect(!told.ofType("lagging").isEmpty)
        stalled.send(#"{"action":"subscribe","filter":{"securityId":"SLOW7"}}"#)
        let again = stalled.wait(seconds: 20) { m in
            m.ofType("snapshot").data.contains { $0["securityId"] as? String == "SLOW7" && $0["intradayBuys"] as? Int == 41 }
        }
        #expect(again.ofType("snapshot").data.contains { $0["securityId"] as? String == "SLOW7" && $0["intradayBuys"] as? Int == 41 })
        print(
            "slow consumer: 80,000 events ingested in \(String(format: "%.2f", ingestSeconds)) s; server RSS \(baseline) KiB before, \(after) KiB after 80,000 changes with a stalled client; live client got \(final.ofType("delta").count) deltas for its 40 changes"
        )
    }
}
