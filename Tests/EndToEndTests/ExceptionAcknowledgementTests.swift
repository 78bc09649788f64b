import Foundation
import Testing

/// Issue 16: the desk acknowledges exceptions it has dealt with. An acknowledgement is a journaled command:
/// who (the identity), when and the note survive a restart and a crash, are on the audit trail, reach
/// `/ws/exceptions` subscribers, and filter the list; bad requests are refused, naming the field, and change
/// nothing.
@Suite(.serialized)
struct ExceptionAcknowledgementTests {
    @Test func acknowledgementsAreJournaledAuditedStreamedAndFiltered() throws {
        let keys = try IMSProcess.keyFile()
        let dir = keys.dir, file = keys.path
        let feed = try keys.make("loader", ["feed"]), olga = try keys.make("olga", ["operator"]), pat = try keys.make("pat", ["operator"])
        let fund = try keys.make("fund1", ["client"], client: "CL1"), bob = try keys.make("bob", ["approver"])
        let data = dir.appendingPathComponent("data")
        var server = try IMSProcess.start(["--api-keys", file], dataDir: data)
        defer { server.stop() }
        func call(_ method: String, _ path: String, _ who: (key: String, user: String), _ body: String? = nil) throws -> (status: Int, json: Any?) {
            try IMSProcess.request(server, method, path, body: body, headers: ["Authorization": "Bearer \(who.key)"])
        }
        /// A listing as text with sorted keys, to compare two listings.
        func text(_ rows: [[String: Any]]) -> String {
            String(decoding: (try? JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys])) ?? Data(), as: UTF8.self)
        }
        func list(_ query: String = "") throws -> [[String: Any]] {
            let r = try call("GET", "/api/v1/exceptions\(query)", olga)
            #expect(r.status == 200, "\(String(describing: r.json))")
            return r.json as? [[String: Any]] ?? []
        }
        // Three bad lines kept as exceptions (partial mode), one good line applied.
        let posted = try IMSProcess.request(
            server, "POST", "/api/v1/events?mode=partial",
            body: """
                {"type":"trade","tradeId":"BAD1","quantity":-1}
                {"type":"security","securityId":"OK1","marketId":"US","currency":"USD"}
                {"type":"trade","tradeId":"BAD2"}
                {"type":"price","securityId":"NOPE","last":"1"}
                """, headers: ["Authorization": "Bearer \(feed.key)"])
        #expect(posted.status == 200, "\(String(describing: posted.json))")
        let raised = try list()
        #expect(raised.count == 3 && raised.allSatisfy { $0["acknowledgedBy"] == nil })
        let ids = raised.compactMap { $0["exceptionId"] as? Int }
        #expect(ids.count == 3)

        let stream = StreamProbe("ws://127.0.0.1:\(server.port)/ws/exceptions", key: olga.key)
        defer { stream.close() }
        stream.send(#"{"action":"subscribe","filter":{}}"#)
        #expect(stream.wait { !$0.ofType("snapshotComplete").isEmpty }.ofType("snapshot").count == 3)

        // olga acknowledges the first two, with a note; the body's user is not who is recorded.
        let first = try call(
            "POST", "/api/v1/exceptions/acknowledge", olga, #"{"exceptionIds":[\#(ids[0]),\#(ids[1])],"note":"feed fixed, resent","user":"mallory"}"#)
        #expect(first.status == 200, "\(String(describing: first.json))")
        let answer = first.json as? [String: Any]
        #expect(answer?["acknowledged"] as? Int == 2)
        let acknowledged = answer?["exceptions"] as? [[String: Any]] ?? []
        #expect(acknowledged.map { $0["acknowledgedBy"] as? String } == [olga.user, olga.user])
        #expect(acknowledged.allSatisfy { $0["acknowledgeNote"] as? String == "feed fixed, resent" && $0["acknowledgedAt"] is String })
        // The stream sends them again, acknowledged.
        let deltas = stream.wait { $0.ofType("delta").count >= 2 }.ofType("delta").data
        #expect(Set(deltas.compactMap { $0["exceptionId"] as? Int }) == Set(ids.prefix(2)))
        #expect(deltas.allSatisfy { $0["acknowledgedBy"] as? String == olga.user })
        // pat acknowledges the second and third: the second keeps olga's acknowledgement.
        let second = try call("POST", "/api/v1/exceptions/acknowledge", pat, #"{"exceptionIds":[\#(ids[1]),\#(ids[2])]}"#)
        #expect(second.status == 200)
        #expect((second.json as? [String: Any])?["acknowledged"] as? Int == 1)
        let after = try list()
        #expect(after.map { $0["acknowledgedBy"] as? String } == [olga.user, olga.user, pat.user])
        #expect(after[2]["acknowledgeNote"] == nil)

        // Filters.
        #expect(try list("?acknowledged=true").count == 3)
        #expect(try list("?acknowledged=false").isEmpty)
        #expect(try call("GET", "/api/v1/exceptions?acknowledged=maybe", olga).status == 400)

        // Refusals, each naming the field, none changing anything.
        let before = try list()
        for (body, status, field) in [
            (#"{"exceptionIds":[]}"#, 422, "exceptionIds"), (#"{}"#, 422, "exceptionIds"),
            (#"{"exceptionIds":[999]}"#, 404, "exceptionIds"), (#"{"exceptionIds":[0]}"#, 404, "exceptionIds"),
            (#"{"exceptionIds":[1],"note":"\#(String(repeating: "x", count: 600))"}"#, 422, "note"),
            (#"{"exceptionIds":"1"}"#, 400, "exceptionIds"), ("not json", 400, "body"),
            (#"{"exceptionIds":[1],"exceptionIds":[2]}"#, 400, "exceptionIds"),
            (#"{"exceptionIds":[\#((1...1_001).map(String.init).joined(separator: ","))]}"#, 422, "exceptionIds"),
        ] {
            let r = try call("POST", "/api/v1/exceptions/acknowledge", olga, body)
            #expect(r.status == status, "\(body.prefix(40)): \(String(describing: r.json))")
            #expect((r.json as? [String: Any])?["field"] as? String == field, "\(body.prefix(40)): \(String(describing: r.json))")
        }
        for who in [fund, feed, bob] {
            #expect(try call("POST", "/api/v1/exceptions/acknowledge", who, #"{"exceptionIds":[\#(ids[0])]}"#).status == 403)
        }
        #expect(text(try list()) == text(before))

        // GraphQL shows the same.
        let graph = try call("POST", "/graphql", olga, #"{"query":"{ exceptions(acknowledged: true) { exceptionId acknowledgedBy acknowledgeNote } }"}"#)
        let rows = ((graph.json as? [String: Any])?["data"] as? [String: Any])?["exceptions"] as? [[String: Any]] ?? []
        #expect(rows.map { $0["acknowledgedBy"] as? String } == [olga.user, olga.user, pat.user], "\(String(describing: graph.json))")

        // On the audit trail, by identity, every refused acknowledgement that was a readable request (empty,
        // unknown ids, a note too long: the engine refuses them after journaling) with why; unreadable bodies
        // never reach the journal.
        let trail = (try call("GET", "/api/v1/audit?action=EXCEPTION_ACKNOWLEDGE", olga).json as? [String: Any])?["items"] as? [[String: Any]] ?? []
        #expect(
            trail.map { "\($0["user"] as? String ?? "") \($0["outcome"] as? String ?? "")" }
                == ["\(olga.user) APPLIED", "\(pat.user) APPLIED"] + Array(repeating: "\(olga.user) REJECTED", count: 6))
        #expect((trail.last?["reason"] as? String)?.contains("at most 1000 at once") == true, "\(String(describing: trail.last))")
        #expect(trail.first?["detail"] as? String == "2 exceptions: feed fixed, resent")

        // After a clean restart (snapshot) and after kill -9 with the snapshots gone (journal only): the same.
        let expected = text(try list())
        stream.close()
        server.stop()
        server = try IMSProcess.start(["--api-keys", file], dataDir: data)
        #expect(text(try list()) == expected)
        server.crash()
        try? FileManager.default.removeItem(at: data.appendingPathComponent("snapshots"))
        server = try IMSProcess.start(["--api-keys", file], dataDir: data)
        #expect(text(try list()) == expected)
    }
}
