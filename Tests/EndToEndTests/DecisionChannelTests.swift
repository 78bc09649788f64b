import Foundation
import Synchronization
import Testing

/// The decision channel (`/ws/decisions`, issue 30) against the real binary over real sockets: answers in order
/// with their correlation ids, a bad message answered and the channel kept open, the pool never over-allocated
/// whichever way requests come (channel, `POST /api/v1/decisions`, REST), a client that does not read held at
/// its bound and told, a reconnection after a restart answered with the first answers, and a client key acting
/// for its own client only.
@Suite(.serialized)
struct DecisionChannelTests {
    static let setup =
        """
        {"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}
        {"type":"security","securityId":"IBM","isin":"US4592001014","marketId":"US","currency":"USD"}
        {"type":"security","securityId":"BIG","marketId":"US","currency":"USD"}
        {"type":"aggregationUnit","aggregationUnitId":"AU-US","name":"US","marketId":"US","legalEntity":"PB-US","unitType":"NET","isDefault":true}
        {"type":"book","bookId":"FIRM","legalEntity":"PB-US","positionType":"FIRM"}
        {"type":"sodPosition","businessDate":"2026-11-25","bookId":"FIRM","securityId":"IBM","contractualQty":1205,"settledQty":1205}
        {"type":"sodPosition","businessDate":"2026-11-25","bookId":"FIRM","securityId":"BIG","contractualQty":1000000000,"settledQty":1000000000}
        {"type":"counterparty","counterpartyId":"L1","name":"Lender","kind":"LENDER"}
        {"type":"availability","sourceId":"L1","securityId":"BIG","quantity":1000000000,"availabilityType":"FIRM","effectiveDate":"2026-11-25"}
        """ + "\n"
        + (0..<7).map {
            #"{"type":"counterparty","counterpartyId":"C\#($0)","name":"Fund \#($0)","kind":"CLIENT"}"# + "\n"
                + #"{"type":"book","bookId":"C\#($0)-FREE","legalEntity":"PB-US","positionType":"CLIENT_FREE","clientId":"C\#($0)"}"#
        }.joined(separator: "\n")

    static func locate(_ id: String, request: String, client: String = "C1", security: String = "IBM", quantity: Int = 10) -> String {
        #"{"correlationId":"\#(id)","type":"locate","requestId":"\#(request)","clientId":"\#(client)","securityId":"\#(security)","quantity":\#(quantity),"side":"SHORT"}"#
    }

    static func order(_ id: String, order: String, client: String = "C1", security: String = "BIG", quantity: Int = 10) -> String {
        #"{"correlationId":"\#(id)","type":"order","orderId":"\#(order)","clientId":"\#(client)","bookId":"\#(client)-FREE","securityId":"\#(security)","side":"SELL_SHORT","quantity":\#(quantity),"price":"100"}"#
    }

    static func channel(_ server: IMSProcess.Server, reading: Bool = true, key: String? = nil) -> StreamProbe {
        StreamProbe("ws://127.0.0.1:\(server.port)/ws/decisions", reading: reading, key: key)
    }

    /// The answers received so far, in order, each frame's array flattened; notices (`type`) apart.
    static func answers(_ probe: StreamProbe) -> (answers: [[String: Any]], notices: [[String: Any]]) {
        var answers: [[String: Any]] = [], notices: [[String: Any]] = []
        for text in probe.texts {
            let json = try? JSONSerialization.jsonObject(with: Data(text.utf8))
            for item in (json as? [[String: Any]]) ?? (json as? [String: Any]).map { [$0] } ?? [] {
                if item["type"] != nil { notices.append(item) } else { answers.append(item) }
            }
        }
        return (answers, notices)
    }

    static func waitForAnswers(_ probe: StreamProbe, _ count: Int, seconds: Double = 30) -> [[String: Any]] {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let got = answers(probe).answers
            if got.count >= count { return got }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return answers(probe).answers
    }

    static func locateTotal(_ server: IMSProcess.Server, client: String) throws -> Int {
        (try IMSProcess.request(server, "GET", "/api/v1/locates?clientId=\(client)&limit=1").json as? [String: Any])?["total"] as? Int ?? -1
    }

    @Test func answersComeInOrderAndABadMessageNeverClosesTheChannel() throws {
        let server = try IMSProcess.start()
        defer { server.stop() }
        #expect(try IMSProcess.request(server, "POST", "/api/v1/events", body: Self.setup).status == 200)
        let probe = Self.channel(server)
        defer { probe.close() }
        // Frames sent back to back without waiting: a single decision, an array mixing good and bad ones, text
        // that is no JSON, a message repeating a key, then a good one again.
        probe.send(Self.locate("c1", request: "R1", security: "BIG"))
        probe.send(
            "["
                + [Self.order("c2", order: "O1"), Self.locate("c3", request: "R2"), #"{"correlationId":"c4","type":"locate","quantity":"ten"}"#]
                .joined(separator: ",") + "]")
        probe.send("not json at all")
        probe.send(#"{"correlationId":"c5","type":"locate","requestId":"R3","clientId":"C1","clientId":"C2","securityId":"IBM","quantity":10,"side":"SHORT"}"#)
        probe.send(Self.locate("c6", request: "R4"))
        let answers = Self.waitForAnswers(probe, 7)
        #expect(answers.map { $0["correlationId"] as? String } == ["c1", "c2", "c3", "c4", nil, "c5", "c6"], "\(answers)")
        #expect(answers.map { $0["status"] as? Int } == [201, 200, 201, 400, 400, 400, 201])
        #expect(answers.map { $0["field"] as? String } == [nil, nil, nil, "quantity", "body", "clientId", nil])
        // The order sold short what the first locate covered: approved in the same sequence it was sent in.
        #expect((answers[1]["order"] as? [String: Any])?["decision"] as? String == "APPROVED", "\(answers[1])")
        // The same journal commands as REST: the locates are there, with their audit entries.
        #expect(try Self.locateTotal(server, client: "C1") == 3)
        let audit = (try IMSProcess.request(server, "GET", "/api/v1/audit?limit=1000").json as? [String: Any])?["items"] as? [[String: Any]] ?? []
        #expect(audit.filter { ($0["action"] as? String) == "LOCATE_REQUEST" }.count == 3, "\(audit.map { $0["action"] ?? "" })")
        #expect(audit.filter { ($0["action"] as? String) == "ORDER_VALIDATE" }.count == 1)
    }

    /// 200 requests of 10 shares against a pool of 1,205, split over two channels, `POST /api/v1/decisions`
    /// and REST, all at once: 1,205 handed out, never more.
    @Test func twoHundredLocatesOverEveryWayNeverOverAllocateThePool() throws {
        let server = try IMSProcess.start()
        defer { server.stop() }
        #expect(try IMSProcess.request(server, "POST", "/api/v1/events", body: Self.setup).status == 200)
        let approved = Mutex<[Int]>([])
        @Sendable func note(_ answer: [String: Any]) {
            approved.withLock { $0.append((answer["locate"] as? [String: Any])?["approvedQuantity"] as? Int ?? -1) }
        }
        var threads: [Thread] = []
        // 80 over two channels, in frames of 1 to 4.
        let probes = [Self.channel(server), Self.channel(server)]
        defer { for p in probes { p.close() } }
        for (k, probe) in probes.enumerated() {
            threads.append(
                Thread {
                    var i = 0
                    while i < 40 {
                        let n = min(1 + i % 4, 40 - i)
                        let items = (i..<i + n).map { Self.locate("w\(k)-\($0)", request: "W\(k)-\($0)", client: "C\($0 % 7)") }
                        probe.send(n == 1 ? items[0] : "[" + items.joined(separator: ",") + "]")
                        i += n
                    }
                })
        }
        // 60 in three bodies of 20.
        for b in 0..<3 {
            threads.append(
                Thread {
                    let body = "[" + (0..<20).map { Self.locate("b\(b)-\($0)", request: "B\(b)-\($0)", client: "C\($0 % 7)") }.joined(separator: ",") + "]"
                    let answers = (try? IMSProcess.request(server, "POST", "/api/v1/decisions", body: body, timeout: 60))?.json as? [[String: Any]] ?? []
                    for a in answers { note(a) }
                    if answers.count != 20 { approved.withLock { $0.append(-1_000) } }
                })
        }
        // 60 one by one over REST, from six threads.
        for t in 0..<6 {
            threads.append(
                Thread {
                    for i in 0..<10 {
                        let body = #"{"requestId":"H\#(t)-\#(i)","clientId":"C\#((t + i) % 7)","securityId":"IBM","quantity":10,"side":"SHORT"}"#
                        let r = try? IMSProcess.request(server, "POST", "/api/v1/locates", body: body, timeout: 60)
                        approved.withLock { $0.append(r?.status == 201 ? (r?.json as? [String: Any])?["approvedQuantity"] as? Int ?? -1 : -1_000) }
                    }
                })
        }
        for t in threads { t.start() }
        for probe in probes {
            let answers = Self.waitForAnswers(probe, 40, seconds: 60)
            #expect(answers.count == 40 && answers.allSatisfy { $0["status"] as? Int == 201 }, "\(answers.prefix(3))")
            for a in answers { note(a) }
        }
        let deadline = Date().addingTimeInterval(60)
        while approved.withLock({ $0.count }) < 200 && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        let all = approved.withLock { $0 }
        #expect(all.count == 200 && all.allSatisfy { $0 >= 0 }, "\(all.filter { $0 < 0 }.count) failed of \(all.count)")
        #expect(all.reduce(0, +) == 1_205, "handed out \(all.reduce(0, +)) of a pool of 1,205")
        let inventory = try IMSProcess.request(server, "GET", "/api/v1/inventory/IBM").json as? [String: Any]
        #expect((inventory?["calculations"] as? [String: Any])?["locateAvailable"] as? Int == 0)
        #expect((try IMSProcess.request(server, "GET", "/api/v1/locates?limit=1").json as? [String: Any])?["total"] as? Int == 200)
    }

    /// A client that sends and never reads: the server stops taking its decisions at its bound (what it took
    /// stays put while other clients are served), tells it, and answers everything it took, in order, once
    /// it reads.
    @Test func aClientThatDoesNotReadIsHeldAtItsBoundAndTold() throws {
        let server = try IMSProcess.start(["--decision-channel-max-unread", "200"])
        defer { server.stop() }
        #expect(try IMSProcess.request(server, "POST", "/api/v1/events", body: Self.setup).status == 200)
        let probe = Self.channel(server, reading: false)
        defer { probe.close() }
        let frames = 100, perFrame = 500
        let sender = Thread {
            for f in 0..<frames {
                probe.send(
                    "[" + (0..<perFrame).map { Self.locate("\(f * perFrame + $0)", request: "S\(f)-\($0)", security: "BIG") }.joined(separator: ",") + "]")
            }
        }
        sender.start()
        // What the server has taken stops growing short of what was sent.
        var taken = -1, previous = -2
        let deadline = Date().addingTimeInterval(60)
        while taken != previous && Date() < deadline {
            previous = taken
            Thread.sleep(forTimeInterval: 0.5)
            taken = try Self.locateTotal(server, client: "C1")
        }
        #expect(taken == previous && taken > 0 && taken < frames * perFrame, "took \(taken) of \(frames * perFrame) without the client reading")
        // Others are served meanwhile.
        let other = try IMSProcess.request(
            server, "POST", "/api/v1/locates", body: #"{"requestId":"X1","clientId":"C2","securityId":"BIG","quantity":10,"side":"SHORT"}"#, timeout: 5)
        #expect(other.status == 201)
        // Once it reads: every decision answered, in order, and told once it was at its bound.
        probe.startReading()
        let answers = Self.waitForAnswers(probe, frames * perFrame, seconds: 120)
        #expect(answers.count == frames * perFrame)
        #expect(answers.enumerated().allSatisfy { i, a in a["correlationId"] as? String == "\(i)" && a["status"] as? Int == 201 })
        let notices = Self.answers(probe).notices
        #expect(!notices.isEmpty && notices.allSatisfy { $0["type"] as? String == "backpressure" && $0["limit"] as? Int == 200 }, "\(notices.prefix(2))")
        #expect(try Self.locateTotal(server, client: "C1") == frames * perFrame)
    }

    /// Decisions answered, the server restarted, the client reconnects and sends the same messages (the same
    /// idempotency keys): it gets the first answers, and nothing is decided twice.
    @Test func aReconnectionAfterARestartGetsTheFirstAnswers() throws {
        let dir = IMSProcess.freshDirectory()
        var server = try IMSProcess.start(dataDir: dir)
        #expect(try IMSProcess.request(server, "POST", "/api/v1/events", body: Self.setup).status == 200)
        let frame =
            "["
            + [Self.locate("a", request: "R1", quantity: 700), Self.order("b", order: "O1", quantity: 300), Self.locate("c", request: "R2", quantity: 700)]
            .joined(separator: ",") + "]"
        var probe = Self.channel(server)
        probe.send(frame)
        let first = Self.waitForAnswers(probe, 3)
        probe.close()
        #expect(first.map { $0["status"] as? Int } == [201, 200, 201])
        server.stop()
        server = try IMSProcess.start(dataDir: dir)
        defer { server.stop() }
        probe = Self.channel(server)
        defer { probe.close() }
        probe.send(frame)
        let again = Self.waitForAnswers(probe, 3)
        #expect(again.map { $0["status"] as? Int } == [200, 200, 200])
        for (a, b) in zip(first, again) {
            let x = (a["locate"] ?? a["order"]) as? [String: Any], y = (b["locate"] ?? b["order"]) as? [String: Any]
            for key in ["locateId", "status", "approvedQuantity", "decision", "orderId"] { #expect("\(x?[key] ?? "")" == "\(y?[key] ?? "")", "\(key)") }
        }
        // The second locate got what the first left: 1,205 − 700.
        #expect(((again[2]["locate"] as? [String: Any])?["approvedQuantity"] as? Int) == 505)
        #expect(try Self.locateTotal(server, client: "C1") == 2)
    }

    /// With keys: a client acts for its own client only (403 naming clientId for another's), staff for any;
    /// a revoked key's next frame is refused (401) and the channel closed.
    @Test func aClientKeyActsForItsOwnClientOnlyAndARevokedKeyIsStopped() throws {
        let dir = IMSProcess.freshDirectory()
        let keyFile = try IMSProcess.keyFile(in: dir)
        let feed = try keyFile.make("loader", ["feed"]).key, fund = try keyFile.make("fund1", ["client"], client: "C1").key
        let server = try IMSProcess.start(["--api-keys", keyFile.path], dataDir: dir.appendingPathComponent("data"))
        defer { server.stop() }
        #expect(try IMSProcess.request(server, "POST", "/api/v1/events", body: Self.setup, headers: ["Authorization": "Bearer \(feed)"]).status == 200)
        // The feed key may not decide; no key at all is refused at the upgrade.
        let refused = try IMSProcess.request(server, "GET", "/ws/decisions", headers: ["Authorization": "Bearer \(feed)"])
        #expect(refused.status == 403)
        let probe = Self.channel(server, key: fund)
        defer { probe.close() }
        probe.send("[" + [Self.locate("own", request: "R1", client: "C1"), Self.locate("other", request: "R2", client: "C2")].joined(separator: ",") + "]")
        let answers = Self.waitForAnswers(probe, 2)
        #expect(answers.map { $0["status"] as? Int } == [201, 403])
        #expect(answers.last?["field"] as? String == "clientId")
        // Revoked: the next frame is refused and the channel closed.
        let keyId = String(fund.split(separator: "_")[1])
        #expect(try IMSProcess.run(["keys", "revoke", "--file", keyFile.path, keyId]).status == 0)
        Thread.sleep(forTimeInterval: 1.5)
        probe.send(Self.locate("late", request: "R3"))
        let deadline = Date().addingTimeInterval(10)
        while probe.closeCode == nil && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(probe.closeCode == 1008)
        let last = probe.messages.last
        #expect(last?["status"] as? Int == 401 && last?["field"] as? String == "Authorization", "\(String(describing: last))")
    }
}
