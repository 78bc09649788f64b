import Foundation
import Testing

/// SPEC 10, issue 15: every change a person makes through the API is on record with the identity that made
/// it, in `GET /api/v1/audit`, after a restart, and in `ims audit`'s export; maker/checker compares identities.
@Suite(.serialized)
struct AuditTests {
    /// The client-scoping fixture (two clients' books, a threshold-list security), the firm's THR and a trade.
    static let setup =
        ClientScopingTests.setup + "\n" + """
            {"type":"sodPosition","businessDate":"2026-11-25","bookId":"FIRM","securityId":"THR","contractualQty":5000,"settledQty":5000}
            {"type":"trade","tradeId":"T1","version":1,"status":"NEW","bookId":"FIRM","securityId":"IBM","side":"BUY","quantity":100,"price":"10","tradeDate":"2026-11-25"}
            """

    @Test func everyChangeIsOnRecordWithWhoMadeIt() throws {
        let keys = try IMSProcess.keyFile()
        let dir = keys.dir, file = keys.path
        let feed = try keys.make("loader", ["feed"]), ada = try keys.make("ada", ["admin"]), bob = try keys.make("bob", ["approver"])
        let olga = try keys.make("olga", ["operator"]), fund = try keys.make("fund1", ["client"], client: "CL1"),
            both = try keys.make("solo", ["admin", "approver"])
        let data = dir.appendingPathComponent("data")
        var server = try IMSProcess.start(["--api-keys", file], dataDir: data)
        func call(_ method: String, _ path: String, _ who: (key: String, user: String), _ body: String? = nil) throws -> (status: Int, json: Any?) {
            try IMSProcess.request(server, method, path, body: body, headers: ["Authorization": "Bearer \(who.key)"])
        }
        #expect(try call("POST", "/api/v1/events", feed, Self.setup).status == 200)
        // A rule version: drafted by ada, previewed, approved by bob, activated by ada. The body's "user" is
        // not who is recorded: the identity is.
        let export = try IMSProcess.run(["rules", "export", "--url", server.base], environment: ["IMS_API_KEY": ada.key])
        #expect(export.status == 0, "\(export.err)")
        let drafted = try IMSProcess.request(
            server, "POST", "/api/v1/rules/import?user=mallory&comment=same%20rules", body: export.out,
            headers: ["Authorization": "Bearer \(ada.key)"])
        #expect(drafted.status == 201, "\(String(describing: drafted.json))")
        let version = try #require((drafted.json as? [String: Any])?["version"] as? Int)
        #expect(try call("POST", "/api/v1/rules/\(version)/preview", ada, #"{"user":"mallory"}"#).status == 200)
        #expect(try call("POST", "/api/v1/rules/\(version)/approve", bob, #"{"user":"ada"}"#).status == 200)
        #expect(try call("POST", "/api/v1/rules/\(version)/activate", ada, "{}").status == 200)
        // Maker/checker by identity: one key that both drafts and approves cannot approve its own version.
        let own = try IMSProcess.request(server, "POST", "/api/v1/rules/import?user=x", body: export.out, headers: ["Authorization": "Bearer \(both.key)"])
        let ownVersion = try #require((own.json as? [String: Any])?["version"] as? Int)
        #expect(try call("POST", "/api/v1/rules/\(ownVersion)/preview", both, "{}").status == 200)
        let selfApproved = try call("POST", "/api/v1/rules/\(ownVersion)/approve", both, #"{"user":"someone-else"}"#)
        #expect(selfApproved.status == 422, "\(String(describing: selfApproved.json))")
        // A client's locate (PENDING: threshold list), the operator's decision, the client's order.
        let locate = try call(
            "POST", "/api/v1/locates", fund, #"{"requestId":"R1","clientId":"CL1","securityId":"THR","quantity":300,"side":"SHORT","requestor":"trader-7"}"#)
        #expect(locate.status == 201, "\(String(describing: locate.json))")
        let locateId = try #require((locate.json as? [String: Any])?["locateId"] as? String)
        #expect((locate.json as? [String: Any])?["status"] as? String == "PENDING")
        #expect(try call("POST", "/api/v1/locates/\(locateId)/decision", olga, #"{"action":"APPROVE","quantity":200,"reason":"partial"}"#).status == 200)
        #expect(
            try call(
                "POST", "/api/v1/orders/validate", fund,
                #"{"orderId":"O1","clientId":"CL1","bookId":"CL1-CASH","securityId":"THR","side":"SELL_SHORT","quantity":100,"price":"5"}"#
            ).status == 200)
        // A refused batch is on record too, with why.
        #expect(try call("POST", "/api/v1/events", ada, #"{"type":"trade","tradeId":"T2"}"#).status == 422)

        func trail(_ query: String = "") throws -> [[String: Any]] {
            let r = try call("GET", "/api/v1/audit\(query)", olga)
            #expect(r.status == 200)
            return (r.json as? [String: Any])?["items"] as? [[String: Any]] ?? []
        }
        func summary(_ entries: [[String: Any]]) -> [String] {
            entries.map { "\($0["user"] as? String ?? "?") \($0["action"] as? String ?? "?") \($0["outcome"] as? String ?? "?")" }
        }
        let expected = [
            "\(feed.user) EVENTS APPLIED",
            "\(ada.user) RULE_DRAFT APPLIED", "\(ada.user) RULE_PREVIEW APPLIED", "\(bob.user) RULE_APPROVE APPLIED", "\(ada.user) RULE_ACTIVATE APPLIED",
            "\(both.user) RULE_DRAFT APPLIED", "\(both.user) RULE_PREVIEW APPLIED", "\(both.user) RULE_APPROVE REJECTED",
            "\(fund.user) LOCATE_REQUEST APPLIED", "\(olga.user) LOCATE_DECIDE APPLIED", "\(fund.user) ORDER_VALIDATE APPLIED",
            "\(ada.user) EVENTS REJECTED",
        ]
        let live = try trail()
        #expect(summary(live) == expected)
        let byId = Dictionary(live.map { ($0["subject"] as? String ?? "", $0) }, uniquingKeysWith: { a, _ in a })
        #expect(byId["locate \(locateId)"] != nil, "the request names the locate it made: \(live.map { $0["subject"] ?? "" })")
        #expect(live.first?["subject"] as? String == "3 book, 1 marketDayRoll, 2 security, 5 sodPosition, 1 trade")
        #expect((live.last?["reason"] as? String)?.contains("line 1") == true, "\(String(describing: live.last))")
        // Filters.
        #expect(summary(try trail("?user=\(bob.user)")) == ["\(bob.user) RULE_APPROVE APPLIED"])
        #expect(summary(try trail("?action=LOCATE_DECIDE")) == ["\(olga.user) LOCATE_DECIDE APPLIED"])
        #expect(try trail("?subject=v\(version)").count == 4)
        #expect(try trail("?limit=2&afterId=2").map { $0["auditId"] as? Int } == [3, 4])
        #expect(try trail("?from=2100-01-01T00:00:00Z").isEmpty)
        #expect(try call("GET", "/api/v1/audit?from=yesterday", olga).status == 400)
        // Not for a client or a feed.
        #expect(try call("GET", "/api/v1/audit", fund).status == 403)
        #expect(try call("GET", "/api/v1/audit", feed).status == 403)

        // After a restart (from the snapshot written at shutdown) and after a crash (journal only), the same trail.
        server.stop()
        server = try IMSProcess.start(["--api-keys", file], dataDir: data)
        #expect(summary(try trail()) == expected)
        server.crash()
        try? FileManager.default.removeItem(at: data.appendingPathComponent("snapshots"))
        server = try IMSProcess.start(["--api-keys", file], dataDir: data)
        #expect(summary(try trail()) == expected)
        #expect(try trail().map { $0["at"] as? String } == live.map { $0["at"] as? String })
        server.stop()
        // The export: the whole trail from the journal.
        let exported = try IMSProcess.run(["audit", "--data-dir", data.path])
        #expect(exported.status == 0, "\(exported.err)")
        let lines = exported.out.split(separator: "\n").dropLast().map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(summary(lines.compactMap { $0 }) == expected)
        let onlyBob = try IMSProcess.run(["audit", "--data-dir", data.path, "--user", bob.user])
        #expect(onlyBob.out.split(separator: "\n").count == 2 && onlyBob.out.contains("RULE_APPROVE"))
    }
}
