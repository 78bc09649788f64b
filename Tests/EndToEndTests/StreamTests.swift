import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The WebSocket streams of the real binary over real sockets.
struct StreamTests {
    static let setup = """
        {"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}
        {"type":"security","securityId":"WA","marketId":"US","currency":"USD"}
        {"type":"security","securityId":"WB","marketId":"US","currency":"USD"}
        {"type":"book","bookId":"WB1","legalEntity":"PB-US","positionType":"FIRM"}
        {"type":"book","bookId":"WB2","legalEntity":"PB-US","positionType":"FIRM"}
        {"type":"trade","tradeId":"W0","version":1,"status":"NEW","bookId":"WB1","securityId":"WA","side":"BUY","quantity":10,"price":"1","tradeDate":"2026-11-25"}
        {"type":"trade","tradeId":"W00","version":1,"status":"NEW","bookId":"WB2","securityId":"WA","side":"BUY","quantity":20,"price":"1","tradeDate":"2026-11-25"}
        """

    static func trade(_ id: String, book: String, security: String = "WA", qty: Int) -> String {
        #"{"type":"trade","tradeId":"\#(id)","version":1,"status":"NEW","bookId":"\#(book)","securityId":"\#(security)","side":"BUY","quantity":\#(qty),"price":"1","tradeDate":"2026-11-25"}"#
    }

    static func post(_ server: IMSProcess.Server, _ body: String, mode: String = "atomic") throws {
        let r = try IMSProcess.request(server, "POST", "/api/v1/events?mode=\(mode)", body: body)
        #expect(r.status == 200, "\(String(describing: r.json))")
    }

    static func sequencesAreContiguous(_ messages: [[String: Any]]) -> Bool {
        let s = messages.compactMap { $0["sequence"] as? Int }
        return s.count == messages.count && s == Array(1...max(1, s.count)).prefix(s.count).map { $0 }
    }

    @Test func snapshotThenFilteredDeltasWithContiguousSequences() throws {
        let server = try IMSProcess.start(["--stream-heartbeat-ms", "300"])
        defer { server.stop() }
        try Self.post(server, Self.setup)
        let probe = StreamProbe("ws://127.0.0.1:\(server.port)/ws/position")
        defer { probe.close() }
        probe.send(#"{"action":"subscribe","filter":{"bookId":"WB1"}}"#)
        var m = probe.wait { !$0.ofType("snapshotComplete").isEmpty }
        #expect(m.first?["type"] as? String == "subscribed")
        let snapshot = m.ofType("snapshot").data
        #expect(snapshot.count == 1)
        #expect(snapshot.first?["bookId"] as? String == "WB1")
        #expect(snapshot.first?["contractualQty"] as? Int == 10)
        #expect(snapshot.first?["ladder"] as? [[String: Any]] != nil, "the fields of the REST resource")

        try Self.post(server, Self.trade("W1", book: "WB2", qty: 5) + "\n" + Self.trade("W2", book: "WB1", qty: 7))
        m = probe.wait { $0.ofType("delta").data.contains { $0["contractualQty"] as? Int == 17 } }
        let deltas = m.ofType("delta")
        #expect(deltas.data.allSatisfy { $0["bookId"] as? String == "WB1" }, "the filter keeps WB2 out")
        #expect(deltas.last?["receivedAt"] as? Int ?? 0 > 0)
        #expect(deltas.last?["engineSequence"] as? Int ?? 0 >= 9)

        // Heartbeats come when nothing else does.
        m = probe.wait { !$0.ofType("heartbeat").isEmpty }
        #expect(!m.ofType("heartbeat").isEmpty)
        #expect(Self.sequencesAreContiguous(m), "sequence rises by one per message: \(m.compactMap { $0["sequence"] as? Int })")

        // Resubscribing with another filter: a fresh snapshot, sequence still rising.
        let before = m.count
        probe.send(#"{"action":"subscribe","filter":{"securityId":"WA"}}"#)
        m = probe.wait { $0.dropFirst(before).contains { $0["type"] as? String == "snapshotComplete" } }
        let second = Array(m.dropFirst(before))
        #expect(Set(second.ofType("snapshot").data.compactMap { $0["bookId"] as? String }) == ["WB1", "WB2"])
        #expect(Self.sequencesAreContiguous(m))
    }

    @Test func marketDataAndExceptionsStreams() throws {
        let server = try IMSProcess.start()
        defer { server.stop() }
        try Self.post(server, Self.setup)
        let market = StreamProbe("ws://127.0.0.1:\(server.port)/ws/market-data")
        let exceptions = StreamProbe("ws://127.0.0.1:\(server.port)/ws/exceptions")
        defer { market.close(); exceptions.close() }
        market.send(#"{"action":"subscribe","filter":{"securityId":"WB"}}"#)
        exceptions.send(#"{"action":"subscribe","filter":{"kind":"REJECTED_INPUT"}}"#)
        market.wait { !$0.ofType("snapshotComplete").isEmpty }
        exceptions.wait { !$0.ofType("snapshotComplete").isEmpty }

        try Self.post(
            server,
            """
            {"type":"price","securityId":"WA","last":"10.5"}
            {"type":"price","securityId":"WB","last":"20.25","bid":"20.2","ask":"20.3"}
            {"type":"trade","tradeId":"BAD","quantity":-1}
            """, mode: "partial")
        let prices = market.wait { !$0.ofType("delta").isEmpty }.ofType("delta").data
        #expect(prices.count == 1)
        #expect(prices.first?["securityId"] as? String == "WB")
        #expect(prices.first?["last"] as? String == "20.25" || prices.first?["last"] as? Double == 20.25)
        let rejected = exceptions.wait { !$0.ofType("delta").isEmpty }.ofType("delta").data
        #expect(rejected.first?["kind"] as? String == "REJECTED_INPUT")
        #expect(rejected.first?["line"] as? Int == 3)
    }

    /// `/ws/inventory`: a snapshot of the subscribed securities, a delta when a trade, contract or lender
    /// line moves their buckets, and every matching security again when a new rule set comes into force.
    @Test func inventoryStreamFollowsBucketsAndRuleActivations() throws {
        let server = try IMSProcess.start()
        defer { server.stop() }
        try Self.post(server, Self.setup + "\n" + #"{"type":"counterparty","counterpartyId":"L1","name":"Lender","kind":"LENDER"}"#)
        let probe = StreamProbe("ws://127.0.0.1:\(server.port)/ws/inventory")
        defer { probe.close() }
        probe.send(#"{"action":"subscribe","filter":{"securityId":"WA"}}"#)
        let snapshot = probe.wait { !$0.ofType("snapshotComplete").isEmpty }.ofType("snapshot").data
        #expect(snapshot.count == 1)
        #expect(((snapshot.first?["buckets"] as? [String: Any])?["LONG.FIRM"] as? Int) == 30)
        #expect(((snapshot.first?["calculations"] as? [String: Any])?["forLoan"] as? Int) == 30)

        // A borrow in WA reaches the subscriber; a trade in WB does not.
        try Self.post(
            server,
            Self.trade("W9", book: "WB1", security: "WB", qty: 5) + "\n"
                + #"{"type":"contract","contractId":"C1","version":1,"kind":"BORROW","status":"OPEN","bookId":"WB1","counterpartyId":"L1","securityId":"WA","quantity":70,"rateBps":"20","startDate":"2026-11-25"}"#
        )
        let deltas = probe.wait { !$0.ofType("delta").isEmpty }.ofType("delta").data
        #expect(deltas.count == 1)
        #expect(deltas.first?["securityId"] as? String == "WA")
        #expect(((deltas.first?["calculations"] as? [String: Any])?["forLoan"] as? Int) == 100) // 30 long + 70 borrowed

        // A rule change in force: WA is sent again with the new version, though none of its buckets moved.
        var document = try #require(try IMSProcess.request(server, "GET", "/api/v1/rules/1").json as? [String: Any])["document"] as! [String: Any]
        var packs = document["packs"] as! [[String: Any]]
        var rules = packs[0]["rules"] as! [[String: Any]]
        rules[0]["formula"] = "LONG.FIRM"
        packs[0]["rules"] = rules
        document["packs"] = packs
        let body = String(decoding: try JSONSerialization.data(withJSONObject: ["user": "alice", "document": document]), as: UTF8.self)
        #expect(try IMSProcess.request(server, "POST", "/api/v1/rules/drafts", body: body).status == 201)
        #expect(try IMSProcess.request(server, "POST", "/api/v1/rules/2/preview", body: #"{"user":"alice"}"#).status == 200)
        #expect(try IMSProcess.request(server, "POST", "/api/v1/rules/2/approve", body: #"{"user":"bob"}"#).status == 200)
        #expect(try IMSProcess.request(server, "POST", "/api/v1/rules/2/activate", body: #"{"user":"bob"}"#).status == 200)
        let after = probe.wait { $0.ofType("delta").data.contains { $0["ruleVersion"] as? Int == 2 } }.ofType("delta").data
        let last = try #require(after.last)
        #expect(((last["calculations"] as? [String: Any])?["forLoan"] as? Int) == 30) // the borrow no longer counts
        #expect(Self.sequencesAreContiguous(probe.wait { _ in true }))
    }

    /// `setup` (PB-US's books WB1, WB2) and a second legal entity, PB-EU, with its unit in US and a book that
    /// bought 7 WA.
    static let twoEntities =
        setup + "\n" + """
            {"type":"aggregationUnit","aggregationUnitId":"AU-EU-US","name":"EU desk in US","marketId":"US","legalEntity":"PB-EU","unitType":"NET"}
            {"type":"book","bookId":"WE1","legalEntity":"PB-EU","positionType":"FIRM","aggregationUnits":{"US":"AU-EU-US"}}
            """ + "\n" + trade("WE-1", book: "WE1", qty: 7)

    /// `/ws/inventory` by legal entity or aggregation unit: the scope's share of each security it holds.
    @Test func inventoryStreamByScope() throws {
        let server = try IMSProcess.start()
        defer { server.stop() }
        try Self.post(server, Self.twoEntities)
        for filter in [#"{"legalEntity":"PB-EU"}"#, #"{"aggregationUnitId":"AU-EU-US","marketId":"US"}"#] {
            let probe = StreamProbe("ws://127.0.0.1:\(server.port)/ws/inventory")
            defer { probe.close() }
            probe.send(#"{"action":"subscribe","filter":\#(filter)}"#)
            let snapshot = probe.wait { !$0.ofType("snapshotComplete").isEmpty }.ofType("snapshot").data
            // Only WA: the scope holds nothing of WB; its share is its own 7, not the firm's 37.
            #expect(snapshot.map { $0["securityId"] as? String } == ["WA"], "\(filter)")
            #expect(((snapshot.first?["buckets"] as? [String: Any])?["LONG.FIRM"] as? Int) == 7, "\(filter)")
            #expect(snapshot.first?["legalEntity"] as? String == (filter.contains("legalEntity") ? "PB-EU" : nil))
            #expect(snapshot.first?["aggregationUnitId"] as? String == (filter.contains("AU-EU") ? "AU-EU-US" : nil))
            #expect(snapshot.first?["ladder"] == nil, "a scope's share has no ladder days")
            probe.close()
        }
        let probe = StreamProbe("ws://127.0.0.1:\(server.port)/ws/inventory")
        defer { probe.close() }
        probe.send(#"{"action":"subscribe","filter":{"legalEntity":"PB-EU"}}"#)
        _ = probe.wait { !$0.ofType("snapshotComplete").isEmpty }
        // The scope's first trade in WB brings WB, with its share.
        try Self.post(server, Self.trade("WE-2", book: "WE1", security: "WB", qty: 3))
        let delta = probe.wait { !$0.ofType("delta").isEmpty }.ofType("delta").data
        #expect(delta.first?["securityId"] as? String == "WB")
        #expect(((delta.first?["buckets"] as? [String: Any])?["LONG.FIRM"] as? Int) == 3)
        probe.send(#"{"action":"subscribe","filter":{"legalEntity":"PB-EU","aggregationUnitId":"AU-EU-US"}}"#)
        let error = probe.wait { !$0.ofType("error").isEmpty }.ofType("error").first
        #expect(error?["field"] as? String == "filter.legalEntity")
    }

    /// `/ws/inventory` with `by`: every legal entity's (or unit's) share of each security, one item per scope
    /// and security, the desk's breakdown; a change sends every holding scope's share again.
    @Test func inventoryStreamByEveryScope() throws {
        let server = try IMSProcess.start()
        defer { server.stop() }
        try Self.post(server, Self.twoEntities)
        func share(_ item: [String: Any]) -> String {
            let long = (item["buckets"] as? [String: Any])?["LONG.FIRM"] as? Int ?? -1
            return "\(item["legalEntity"] as? String ?? item["aggregationUnitId"] as? String ?? "firm") \(item["securityId"] as? String ?? "?") \(long)"
        }
        let probe = StreamProbe("ws://127.0.0.1:\(server.port)/ws/inventory")
        defer { probe.close() }
        probe.send(#"{"action":"subscribe","filter":{"by":"legalEntity"}}"#)
        var m = probe.wait { !$0.ofType("snapshotComplete").isEmpty }
        #expect(m.ofType("snapshot").data.map(share).sorted() == ["PB-EU WA 7", "PB-US WA 30"])
        #expect(m.ofType("subscribed").first.flatMap { ($0["filter"] as? [String: Any])?["by"] as? String } == "legalEntity")
        // A trade of PB-US in WA sends both entities' shares of WA again; PB-EU's first WB brings WB.
        try Self.post(server, Self.trade("W5", book: "WB1", qty: 5))
        m = probe.wait { $0.ofType("delta").count >= 2 }
        #expect(m.ofType("delta").data.map(share).sorted() == ["PB-EU WA 7", "PB-US WA 35"])
        try Self.post(server, Self.trade("WE-2", book: "WE1", security: "WB", qty: 3))
        m = probe.wait { $0.ofType("delta").count >= 3 }
        #expect(m.ofType("delta").data.dropFirst(2).map(share) == ["PB-EU WB 3"])
        // By unit: the unit's share, named by aggregationUnitId.
        let before = m.count
        probe.send(#"{"action":"subscribe","filter":{"by":"aggregationUnit","securityId":"WB"}}"#)
        m = probe.wait { $0.dropFirst(before).contains { $0["type"] as? String == "snapshotComplete" } }
        #expect(Array(m.dropFirst(before)).ofType("snapshot").data.map(share) == ["AU-EU-US WB 3"])
        // Refused, naming the field.
        for (filter, field) in [(#"{"by":"desk"}"#, "filter.by"), (#"{"by":"legalEntity","legalEntity":"PB-EU"}"#, "filter.by")] {
            let count = probe.wait { _ in true }.ofType("error").count
            probe.send(#"{"action":"subscribe","filter":\#(filter)}"#)
            let errors = probe.wait { $0.ofType("error").count > count }.ofType("error")
            #expect(errors.last?["field"] as? String == field, "\(filter): \(String(describing: errors.last))")
        }
    }

    /// `/ws/locate`: the operator's queue. A snapshot of the PENDING locates, a delta for each new one, and one
    /// more for a locate that is decided (it leaves the queue).
    @Test func locateStreamIsTheOperatorsQueue() throws {
        let server = try IMSProcess.start()
        defer { server.stop() }
        try Self.post(
            server,
            Self.setup + "\n" + #"{"type":"security","securityId":"THR","marketId":"US","currency":"USD","thresholdList":true}"#
                + "\n" + #"{"type":"counterparty","counterpartyId":"C1","name":"Fund one","kind":"CLIENT"}"#)
        func request(_ id: String, _ security: String) throws -> String {
            let r = try IMSProcess.request(
                server, "POST", "/api/v1/locates", body: #"{"requestId":"\#(id)","clientId":"C1","securityId":"\#(security)","quantity":5,"side":"SHORT"}"#)
            return (r.json as? [String: Any])?["locateId"] as? String ?? ""
        }
        let first = try request("q1", "THR")
        _ = try request("q2", "WA") // approved at once: not in the queue
        let probe = StreamProbe("ws://127.0.0.1:\(server.port)/ws/locate")
        defer { probe.close() }
        probe.send(#"{"action":"subscribe","filter":{"status":"PENDING"}}"#)
        let snapshot = probe.wait { !$0.ofType("snapshotComplete").isEmpty }.ofType("snapshot").data
        #expect(snapshot.map { $0["locateId"] as? String } == [first])
        let second = try request("q3", "THR")
        #expect(probe.wait { !$0.ofType("delta").isEmpty }.ofType("delta").data.first?["locateId"] as? String == second)
        #expect(try IMSProcess.request(server, "POST", "/api/v1/locates/\(first)/decision", body: #"{"action":"REJECT","user":"op"}"#).status == 200)
        let deltas = probe.wait { $0.ofType("delta").count >= 2 }.ofType("delta").data
        #expect(deltas.last?["locateId"] as? String == first && deltas.last?["status"] as? String == "REJECTED")
        probe.send(#"{"action":"subscribe","filter":{"status":"MAYBE"}}"#)
        #expect(probe.wait { !$0.ofType("error").isEmpty }.ofType("error").first?["field"] as? String == "filter.status")
    }

    /// `/ws/limits` (added through the stream registry): a client's limits per security, as
    /// `GET /api/v1/limits/clients/{clientId}` reads them, first as a snapshot, then each change as a delta.
    @Test func limitsStreamFollowsAClientsLimits() throws {
        let server = try IMSProcess.start()
        defer { server.stop() }
        try Self.post(
            server,
            Self.setup + "\n" + """
                {"type":"counterparty","counterpartyId":"C1","name":"Fund one","kind":"CLIENT"}
                {"type":"book","bookId":"CB1","legalEntity":"PB-US","positionType":"CLIENT_FREE","clientId":"C1"}
                """ + "\n" + Self.trade("C0", book: "CB1", qty: 40))
        func rest() throws -> [[String: Any]] {
            try IMSProcess.request(server, "GET", "/api/v1/limits/clients/C1").json as? [[String: Any]] ?? []
        }
        let probe = StreamProbe("ws://127.0.0.1:\(server.port)/ws/limits")
        defer { probe.close() }
        probe.send(#"{"action":"subscribe","filter":{"clientId":"C1"}}"#)
        var m = probe.wait { !$0.ofType("snapshotComplete").isEmpty }
        #expect((m.ofType("subscribed").first?["filter"] as? [String: Any])?["clientId"] as? String == "C1")
        let snapshot = m.ofType("snapshot").data
        #expect(snapshot.map { $0["securityId"] as? String } == ["WA"])
        #expect(snapshot.first?["longSellLimit"] as? Int == (try rest()).first?["longSellLimit"] as? Int)
        #expect(snapshot.first?["longSellLimit"] as? Int == 40)

        // A buy in the client's book raises its long-sell limit: one delta, the REST figure.
        try Self.post(server, Self.trade("C1", book: "CB1", qty: 25))
        m = probe.wait { $0.ofType("delta").data.contains { $0["longSellLimit"] as? Int == 65 } }
        #expect(m.ofType("delta").data.last?["securityId"] as? String == "WA")
        #expect((try rest()).first?["longSellLimit"] as? Int == 65)
        // A trade in a firm book does not move the client's limits: no delta for it.
        let before = probe.messages.ofType("delta").count
        try Self.post(server, Self.trade("F1", book: "WB1", security: "WB", qty: 5))
        // An approved short locate raises its short-sell limit.
        let locate = try IMSProcess.request(
            server, "POST", "/api/v1/locates", body: #"{"requestId":"c1","clientId":"C1","securityId":"WA","quantity":10,"side":"SHORT"}"#)
        let approved = (locate.json as? [String: Any])?["approvedQuantity"] as? Int ?? -1
        m = probe.wait { $0.ofType("delta").count > before }
        let after = Array(m.ofType("delta").dropFirst(before)).data
        #expect(after.allSatisfy { $0["securityId"] as? String == "WA" }, "\(after)")
        #expect(after.last?["shortSellLimit"] as? Int == (try rest()).first?["shortSellLimit"] as? Int)
        #expect(approved >= 0)
        #expect(Self.sequencesAreContiguous(m))

        // A filter must name whose limits: a unit or a client, not both, not neither.
        probe.send(#"{"action":"subscribe","filter":{}}"#)
        probe.send(#"{"action":"subscribe","filter":{"clientId":"C1","aggregationUnitId":"U"}}"#)
        let errors = probe.wait { $0.ofType("error").count >= 2 }.ofType("error")
        #expect(errors.map { $0["field"] as? String } == ["filter.aggregationUnitId", "filter.aggregationUnitId"])
    }

    @Test func badCommandsGetErrorsNamingTheField() throws {
        let server = try IMSProcess.start()
        defer { server.stop() }
        let probe = StreamProbe("ws://127.0.0.1:\(server.port)/ws/position")
        defer { probe.close() }
        probe.send(#"{"action":"subscribe","filter":{"colour":"red"}}"#)
        probe.send(#"{"action":"subscribe","filter":{"positionType":"NOPE"}}"#)
        probe.send(#"{"action":"dance"}"#)
        probe.send("not json")
        let errors = probe.wait { $0.ofType("error").count >= 4 }.ofType("error")
        #expect(errors.map { $0["field"] as? String } == ["filter.colour", "filter.positionType", "action", nil])
    }
}
