import Foundation
import Synchronization
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Readers and a writer at once, through the real server: the read model serves queries while ingest runs,
/// and every acknowledged change reaches a subscriber to everything.
struct ReadersAndWriterTests {
    static let securities = 300
    static let rounds = 30

    static var setup: String { TradeFlow.setup(book: "RW", prefix: "RW", count: securities) }

    /// Round `r` buys `r + 1` shares of every security.
    static func round(_ r: Int) -> String {
        TradeFlow.buys(round: r, book: "RW", prefix: "RW", tradePrefix: "RW", count: securities, quantity: r + 1)
    }

    @Test func everyAcknowledgedChangeReachesTheWholeViewWhileReadersQuery() throws {
        let server = try IMSProcess.start([])
        defer { server.stop() }
        #expect(try IMSProcess.request(server, "POST", "/api/v1/events", body: Self.setup).status == 200)
        let everything = StreamProbe("ws://127.0.0.1:\(server.port)/ws/position")
        defer { everything.close() }
        everything.send(#"{"action":"subscribe","filter":{}}"#)
        _ = everything.wait { !$0.ofType("snapshotComplete").isEmpty }

        // Four readers loop on listings and single positions while the writer takes the rounds.
        let stop = Atomic<Bool>(false)
        let readerErrors = Atomic<Int>(0)
        let readerRequests = Atomic<Int>(0)
        let readers = (0..<4).map { k in
            let done = DispatchSemaphore(value: 0)
            Thread {
                defer { done.signal() }
                var n = 0
                while !stop.load(ordering: .relaxed) {
                    let path = n % 2 == 0 ? "/api/v1/positions?limit=100&offset=\(k * 10)" : "/api/v1/positions/RW/RW\(n % Self.securities)"
                    let status = (try? IMSProcess.request(server, "GET", path).status) ?? 0
                    // A position not yet traded is a 404; anything else must be a clean answer.
                    if status != 200 && status != 404 { readerErrors.add(1, ordering: .relaxed) }
                    readerRequests.add(1, ordering: .relaxed)
                    n += 1
                }
            }.start()
            return done
        }
        for r in 0..<Self.rounds {
            let posted = try IMSProcess.request(server, "POST", "/api/v1/events", body: Self.round(r))
            #expect(posted.status == 200)
            // Read your writes: once answered, the change is in the read model.
            let one = try IMSProcess.request(server, "GET", "/api/v1/positions/RW/RW\(r % Self.securities)").json as? [String: Any]
            let bought = (0...r).reduce(0) { $0 + $1 + 1 }
            #expect(one?["intradayBuys"] as? Int == bought)
        }
        stop.store(true, ordering: .relaxed)
        for done in readers { done.wait() }
        #expect(readerErrors.load(ordering: .relaxed) == 0)
        #expect(readerRequests.load(ordering: .relaxed) > 0)

        // The subscriber's final view of every position is the final figure: all rounds bought.
        let expected = (0..<Self.rounds).reduce(0) { $0 + $1 + 1 }
        let received = everything.wait(seconds: 60) { messages in
            var latest: [String: Int] = [:]
            for m in messages where m["type"] as? String == "delta" || m["type"] as? String == "snapshot" {
                if let data = m["data"] as? [String: Any], let id = data["securityId"] as? String, let buys = data["intradayBuys"] as? Int { latest[id] = buys }
            }
            return latest.count == Self.securities && latest.values.allSatisfy { $0 == expected }
        }
        var latest: [String: Int] = [:]
        for m in received where m["type"] as? String == "delta" || m["type"] as? String == "snapshot" {
            if let data = m["data"] as? [String: Any], let id = data["securityId"] as? String, let buys = data["intradayBuys"] as? Int { latest[id] = buys }
        }
        #expect(latest.count == Self.securities)
        #expect(latest.values.filter { $0 != expected }.isEmpty, "positions whose last delta is not the final figure")
        #expect(received.ofType("lagging").isEmpty)
        // Sequence numbers rise by one: nothing was lost on the way.
        let sequences = received.compactMap { $0["sequence"] as? Int }
        #expect(sequences == Array(1...sequences.count))
    }
}
