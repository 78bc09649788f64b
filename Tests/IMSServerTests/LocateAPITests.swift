import Foundation
import Hummingbird
import HummingbirdTesting
import IMSEngine
import IMSRuntime
import IMSServer
import Testing

/// The locate workflow over the API (SPEC 4.4, 6): every branch of the default policy in its order, the
/// decrement, idempotent re-sends, the operator's decisions and their 409, cancellation, bulk files with bad
/// lines, and expiry at the day roll.
struct LocateAPITests {
    /// IBM: firm long 1,000 and an indicative line of 400 at 35 bp (haircut 0.5), so 1,200 can be located.
    static let setup = """
        {"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}
        {"type":"marketDayRoll","marketId":"HK","businessDate":"2026-11-25"}
        {"type":"security","securityId":"IBM","isin":"US4592001014","marketId":"US","currency":"USD"}
        {"type":"security","securityId":"ETB","marketId":"US","currency":"USD","easyToBorrow":true}
        {"type":"security","securityId":"THR","marketId":"US","currency":"USD","thresholdList":true}
        {"type":"security","securityId":"RES","marketId":"US","currency":"USD","restricted":true,"easyToBorrow":true}
        {"type":"security","securityId":"0005","marketId":"HK","currency":"HKD","shortSellEligible":false}
        {"type":"security","securityId":"BIG","marketId":"US","currency":"USD"}
        {"type":"book","bookId":"FIRM","legalEntity":"PB-US","positionType":"FIRM"}
        {"type":"sodPosition","businessDate":"2026-11-25","bookId":"FIRM","securityId":"IBM","contractualQty":1000,"settledQty":1000}
        {"type":"sodPosition","businessDate":"2026-11-25","bookId":"FIRM","securityId":"BIG","contractualQty":5000000,"settledQty":5000000}
        {"type":"counterparty","counterpartyId":"L1","name":"Lender","kind":"LENDER"}
        {"type":"counterparty","counterpartyId":"C1","name":"Fund one","kind":"CLIENT"}
        {"type":"counterparty","counterpartyId":"C2","name":"Fund two","kind":"CLIENT"}
        {"type":"counterparty","counterpartyId":"C3","name":"Fund three","kind":"CLIENT"}
        {"type":"counterparty","counterpartyId":"C4","name":"Fund four","kind":"CLIENT_AGENT"}
        {"type":"availability","sourceId":"L1","securityId":"IBM","quantity":400,"availabilityType":"INDICATIVE","rateBps":"35","effectiveDate":"2026-11-25"}
        """

    static func json(_ r: TestResponse) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as? [String: Any] ?? [:]
    }

    static func request(_ client: any TestClientProtocol, _ body: String, status expected: HTTPResponse.Status = .created) async throws -> [String: Any] {
        try await client.execute(uri: "/api/v1/locates", method: .post, body: ByteBuffer(string: body)) { r in
            #expect(r.status == expected, "\(body): \(String(buffer: r.body))")
            return try json(r)
        }
    }

    static func locate(_ id: String, client: String, security: String, quantity: Int, side: String = "SHORT") -> String {
        #"{"requestId":"\#(id)","clientId":"\#(client)","securityId":"\#(security)","quantity":\#(quantity),"side":"\#(side)"}"#
    }

    static func locateAvailable(_ client: any TestClientProtocol, _ security: String) async throws -> Int {
        try await client.execute(uri: "/api/v1/inventory/\(security)", method: .get) { r in
            ((try json(r)["calculations"] as? [String: Any])?["locateAvailable"] as? Int) ?? -1
        }
    }

    func withServer(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let engine = Engine()
        defer { engine.stop() }
        let app = Application(router: IMSApplication.router(engine: engine, configuration: ServerConfiguration()))
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/v1/events", method: .post, body: ByteBuffer(string: Self.setup)) { r in #expect(r.status == .ok) }
            try await body(client)
        }
    }

    @Test func theDefaultPolicyInItsOrder() async throws {
        try await withServer { client in
            func answer(_ id: String, _ security: String, _ q: Int) async throws -> (String?, Int?, Int?, String?) {
                let a = try await Self.request(client, Self.locate(id, client: "C1", security: security, quantity: q))
                return (a["status"] as? String, a["approvedQuantity"] as? Int, a["decrementQuantity"] as? Int, a["reason"] as? String)
            }
            #expect(try await answer("u", "NOPE", 10) == ("REJECTED", 0, 0, "UNKNOWN_SECURITY"))
            // Restricted comes before easy-to-borrow.
            #expect(try await answer("r", "RES", 10) == ("REJECTED", 0, 0, "RESTRICTED"))
            #expect(try await answer("h", "0005", 10) == ("REJECTED", 0, 0, "NOT_SHORTABLE"))
            // US easy-to-borrow: approved in full with no decrement, whatever the pool (ETB has none).
            #expect(try await answer("e", "ETB", 50_000) == ("APPROVED", 50_000, 0, nil))
            #expect(try await answer("t", "THR", 10) == ("PENDING", 0, 0, "THRESHOLD_LIST"))
            #expect(try await answer("c", "BIG", 1_000_001) == ("PENDING", 0, 0, "ABOVE_AUTO_APPROVE_CAP"))
            #expect(try await answer("c2", "BIG", 1_000_000) == ("APPROVED", 1_000_000, 1_000_000, nil))
            // IBM's pool: 1,000 + ⌊0.5 × 400⌋ = 1,200. 700 fits; then 900 gets the 500 left; then nothing.
            #expect(try await Self.locateAvailable(client, "IBM") == 1_200)
            #expect(try await answer("a1", "IBM", 700) == ("APPROVED", 700, 700, nil))
            #expect(try await answer("a2", "IBM", 900) == ("PARTIAL", 500, 500, "INSUFFICIENT_AVAILABILITY"))
            #expect(try await answer("a3", "IBM", 1) == ("REJECTED", 0, 0, "INSUFFICIENT_AVAILABILITY"))
            #expect(try await Self.locateAvailable(client, "IBM") == 0)
            // The answer carries the indicative rate, the expiry, and who decided.
            let a1 = try await client.execute(
                uri:
                    "/api/v1/locates/\(try await Self.request(client, Self.locate("a1", client: "C1", security: "IBM", quantity: 700), status: .ok)["locateId"] as! String)",
                method: .get
            ) { try Self.json($0) }
            #expect(a1["rateBps"] as? Int == 35 && a1["expiresAt"] as? String == "2026-11-26T05:00:00Z")
            #expect(((a1["history"] as? [[String: Any]])?.first?["by"] as? String) == "policy:availability")
            // The client's short-sell limit counts its approved locates (700 + 500 in IBM).
            let limits = try await client.execute(uri: "/api/v1/limits/clients/C1?securityId=IBM", method: .get) { r in
                try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as? [[String: Any]] ?? []
            }
            #expect(limits.first?["shortSellLimit"] as? Int == 1_200)
        }
    }

    @Test func aResentRequestGetsItsFirstAnswer() async throws {
        try await withServer { client in
            let first = try await Self.request(client, Self.locate("same", client: "C1", security: "IBM", quantity: 300))
            // Sent again with another quantity: the first answer, 200, nothing more taken.
            let again = try await Self.request(client, Self.locate("same", client: "C1", security: "IBM", quantity: 900), status: .ok)
            #expect(again["locateId"] as? String == first["locateId"] as? String && again["approvedQuantity"] as? Int == 300)
            #expect(try await Self.locateAvailable(client, "IBM") == 900)
            // The same key from another client is another request.
            let other = try await Self.request(client, Self.locate("same", client: "C2", security: "IBM", quantity: 100))
            #expect(other["locateId"] as? String != first["locateId"] as? String)
            // Bad requests are refused naming the field, and change nothing.
            for (body, field) in [
                (#"{"clientId":"C1","securityId":"IBM","quantity":1,"side":"SHORT"}"#, "requestId"),
                (Self.locate("z", client: "C1", security: "IBM", quantity: 0), "quantity"),
                (#"{"requestId":"z","clientId":"C1","securityId":"IBM","quantity":1,"side":"SIDEWAYS"}"#, "side"),
                (#"{"requestId":"z","clientId":"C1","securityId":"IBM","quantity":1,"side":"SHORT","settlement":"BARTER"}"#, "settlement"),
            ] {
                let refused = try await Self.request(client, body, status: .unprocessableContent)
                #expect(refused["field"] as? String == field)
            }
            #expect(try await Self.locateAvailable(client, "IBM") == 800)
        }
    }

    @Test func anOperatorDecidesPendingLocatesOnce() async throws {
        try await withServer { client in
            let pending = try await Self.request(client, Self.locate("p", client: "C1", security: "THR", quantity: 10))
            let id = try #require(pending["locateId"] as? String)
            func decide(_ locate: String, _ body: String) async throws -> (HTTPResponse.Status, [String: Any]) {
                try await client.execute(uri: "/api/v1/locates/\(locate)/decision", method: .post, body: ByteBuffer(string: body)) {
                    ($0.status, try Self.json($0))
                }
            }
            // THR has no pool: the approval's re-check refuses it, naming the quantity; the locate stays PENDING.
            let refused = try await decide(id, #"{"action":"APPROVE","user":"op1"}"#)
            #expect(refused.0 == .unprocessableContent && refused.1["field"] as? String == "quantity")
            // IBM's threshold-listed twin: give THR a pool by a lender line, then approve part.
            try await client.execute(
                uri: "/api/v1/events", method: .post,
                body: ByteBuffer(
                    string:
                        #"{"type":"availability","sourceId":"L1","securityId":"THR","quantity":8,"availabilityType":"FIRM","rateBps":"50","effectiveDate":"2026-11-25"}"#
                )
            ) { r in #expect(r.status == .ok) }
            let approved = try await decide(id, #"{"action":"APPROVE","quantity":6,"user":"op1","reason":"checked with the desk"}"#)
            #expect(approved.0 == .ok && approved.1["status"] as? String == "PARTIAL" && approved.1["approvedQuantity"] as? Int == 6)
            let steps = approved.1["history"] as? [[String: Any]] ?? []
            #expect(steps.map { $0["by"] as? String } == ["policy:thresholdList", "op1"] && steps.last?["reason"] as? String == "checked with the desk")
            #expect(try await Self.locateAvailable(client, "THR") == 2)
            // Decided already: 409, and nothing changes.
            let again = try await decide(id, #"{"action":"REJECT","user":"op2"}"#)
            #expect(again.0 == .conflict && again.1["field"] as? String == "status")
            #expect(try await decide("L999", #"{"action":"REJECT","user":"op2"}"#).0 == .notFound)
            #expect(try await decide(id, #"{"action":"MAYBE","user":"op2"}"#).0 == .unprocessableContent)
            // A rejection by the operator.
            let second = try await Self.request(client, Self.locate("p2", client: "C1", security: "THR", quantity: 1))
            let rejected = try await decide(second["locateId"] as! String, #"{"action":"REJECT","user":"op2","reason":"KYC"}"#)
            #expect(rejected.1["status"] as? String == "REJECTED" && rejected.1["reason"] as? String == "KYC")
            // The queue lists pending locates first.
            let third = try await Self.request(client, Self.locate("p3", client: "C2", security: "THR", quantity: 1))
            let page = try await client.execute(uri: "/api/v1/locates?securityId=THR", method: .get) { try Self.json($0) }
            #expect((page["items"] as? [[String: Any]])?.first?["locateId"] as? String == third["locateId"] as? String && page["total"] as? Int == 3)
            let onlyPending = try await client.execute(uri: "/api/v1/locates?status=PENDING", method: .get) { try Self.json($0) }
            #expect(onlyPending["total"] as? Int == 1)
            try await client.execute(uri: "/api/v1/locates?status=NOPE", method: .get) { r in #expect(r.status == .badRequest) }
        }
    }

    @Test func aClientCancelsItsOwnLocate() async throws {
        try await withServer { client in
            let l = try await Self.request(client, Self.locate("x", client: "C1", security: "IBM", quantity: 1_000))
            let id = try #require(l["locateId"] as? String)
            #expect(try await Self.locateAvailable(client, "IBM") == 200)
            func cancel(_ body: String) async throws -> (HTTPResponse.Status, [String: Any]) {
                try await client.execute(uri: "/api/v1/locates/\(id)/cancel", method: .post, body: ByteBuffer(string: body)) { ($0.status, try Self.json($0)) }
            }
            let other = try await cancel(#"{"clientId":"C2"}"#)
            #expect(other.0 == .unprocessableContent && other.1["field"] as? String == "clientId")
            let done = try await cancel(#"{"clientId":"C1","user":"trader1"}"#)
            #expect(done.0 == .ok && done.1["status"] as? String == "CANCELLED")
            #expect(try await Self.locateAvailable(client, "IBM") == 1_200)
            #expect(try await cancel(#"{"clientId":"C1"}"#).0 == .conflict)
        }
    }

    @Test func bulkFilesAnswerEveryLineAndNameTheBadOnes() async throws {
        try await withServer { client in
            let csv = """
                requestId,clientId,securityId,quantity,side
                b1,C3,IBM,100,SHORT
                b2,C3,IBM,abc,SHORT
                b3,C3,,5,SHORT
                b4,C3,IBM,50,LONG,extra
                b5,C3,IBM,0,SHORT
                b6,C3,ETB,70,SHORT
                """
            let answer = try await client.execute(
                uri: "/api/v1/locates/bulk", method: .post, headers: [.contentType: "text/csv"], body: ByteBuffer(string: csv)
            ) { r in
                #expect(r.status == .ok)
                return try Self.json(r)
            }
            let lines = answer["results"] as? [[String: Any]] ?? []
            #expect(lines.map { $0["line"] as? Int } == [2, 3, 4, 5, 6, 7])
            #expect(lines.map { $0["field"] as? String } == [nil, "quantity", "securityId", "line", "quantity", nil])
            #expect(answer["accepted"] as? Int == 2 && answer["rejected"] as? Int == 4)
            #expect(((lines[0]["locate"] as? [String: Any])?["status"] as? String) == "APPROVED")
            let ndjson =
                Self.locate("n1", client: "C4", security: "IBM", quantity: 10) + "\nnot json\n" + Self.locate("n2", client: "C4", security: "IBM", quantity: 20)
            let second = try await client.execute(uri: "/api/v1/locates/bulk", method: .post, body: ByteBuffer(string: ndjson)) { try Self.json($0) }
            #expect((second["results"] as? [[String: Any]])?.map { $0["line"] as? Int } == [1, 2, 3] && second["accepted"] as? Int == 2)
            // 100 + 10 + 20 taken from IBM's 1,200.
            #expect(try await Self.locateAvailable(client, "IBM") == 1_070)
            // A client IMS does not know (no book, no client counterparty) is refused, naming clientId.
            let unknown = try await Self.request(client, Self.locate("u1", client: "NOBODY", security: "IBM", quantity: 10), status: .unprocessableContent)
            #expect(unknown["field"] as? String == "clientId" && (unknown["error"] as? String)?.contains("unknown client NOBODY") == true)
        }
    }

    @Test func locatesExpireAtTheirMarketsDayRoll() async throws {
        try await withServer { client in
            let us = try await Self.request(client, Self.locate("d1", client: "C1", security: "IBM", quantity: 400))
            let pending = try await Self.request(client, Self.locate("d2", client: "C1", security: "THR", quantity: 5))
            #expect(try await Self.locateAvailable(client, "IBM") == 800)
            // Hong Kong rolls: US locates stay.
            try await client.execute(
                uri: "/api/v1/events", method: .post, body: ByteBuffer(string: #"{"type":"marketDayRoll","marketId":"HK","businessDate":"2026-11-26"}"#)
            ) { _ in }
            #expect(
                try await client.execute(uri: "/api/v1/locates/\(us["locateId"] as! String)", method: .get) { try Self.json($0)["status"] as? String }
                    == "APPROVED")
            try await client.execute(
                uri: "/api/v1/events", method: .post, body: ByteBuffer(string: #"{"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-27"}"#)
            ) { _ in }
            for id in [us["locateId"], pending["locateId"]] {
                let l = try await client.execute(uri: "/api/v1/locates/\(id as! String)", method: .get) { try Self.json($0) }
                #expect(l["status"] as? String == "EXPIRED" && (l["history"] as? [[String: Any]])?.last?["by"] as? String == "dayRoll")
            }
            // The pool has its shares back (the SOD position rolled forward).
            #expect(try await Self.locateAvailable(client, "IBM") == 1_200)
        }
    }
}
