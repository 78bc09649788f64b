import Foundation
import Testing

/// Issue 25's reproductions against the real binary: what crashed it, poisoned its journal, or let one client
/// act as another.
@Suite(.serialized)
struct TrustTests {
    static func shippedDocument() throws -> [String: Any] {
        let text = try String(contentsOf: IMSProcess.root.appendingPathComponent("data/rules/default.json"), encoding: .utf8)
        return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    /// A draft whose formula nested 10,000 levels (287 KB) segfaulted the server before it answered; it was
    /// journaled, so every restart segfaulted too. Now it is refused before the journal, and the server (and a
    /// restart of it) goes on.
    @Test func aDeepFormulaDraftIsRefusedAndNothingIsJournaled() throws {
        let dir = IMSProcess.freshDirectory()
        let server = try IMSProcess.start(dataDir: dir)
        var document = try Self.shippedDocument()
        var packs = try #require(document["packs"] as? [[String: Any]])
        var rules = try #require(packs[0]["rules"] as? [[String: Any]])
        let deep = String(repeating: "(", count: 10_000) + "LONG.FIRM" + String(repeating: ")", count: 10_000)
        rules[0]["formula"] = deep
        packs[0]["rules"] = rules
        document["packs"] = packs
        let body = String(decoding: try JSONSerialization.data(withJSONObject: ["user": "alice", "document": document]), as: UTF8.self)
        #expect(body.utf8.count > 20_000)
        let before = try #require(try IMSProcess.request(server, "GET", "/health").json as? [String: Any])["lastSequence"] as? Int
        let refused = try IMSProcess.request(server, "POST", "/api/v1/rules/drafts", body: body)
        #expect(
            refused.status == 400 && ((refused.json as? [String: Any])?["error"] as? String)?.contains("longer than 4096") == true,
            "\(String(describing: refused.json))")
        #expect((refused.json as? [String: Any])?["field"] as? String == "document.packs[0].rules[0].formula")
        // 30 levels deep within the length: refused too, by its nesting.
        rules[0]["formula"] = String(repeating: "(", count: 40) + "LONG.FIRM" + String(repeating: ")", count: 40)
        packs[0]["rules"] = rules
        document["packs"] = packs
        let nested = String(decoding: try JSONSerialization.data(withJSONObject: ["user": "alice", "document": document]), as: UTF8.self)
        let refusedToo = try IMSProcess.request(server, "POST", "/api/v1/rules/drafts", body: nested)
        #expect(refusedToo.status == 422 && ((refusedToo.json as? [String: Any])?["error"] as? String)?.contains("nests deeper") == true)
        #expect(try #require(try IMSProcess.request(server, "GET", "/health").json as? [String: Any])["lastSequence"] as? Int == before, "nothing journaled")
        // What IMS writes is its owner's alone: the data directory 0700, its files 0600.
        func mode(_ path: String) throws -> Int { try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) }
        #expect(try mode(dir.path) & 0o077 == 0)
        let files = try #require(FileManager.default.enumerator(atPath: dir.path)?.allObjects as? [String])
        #expect(!files.isEmpty)
        for f in files { #expect(try mode(dir.appendingPathComponent(f).path) & 0o077 == 0, "\(f)") }
        server.stop()
        let again = try IMSProcess.start(dataDir: dir)
        defer { again.stop() }
        #expect(try IMSProcess.request(again, "GET", "/api/v1/rules").status == 200)
        let verify = try IMSProcess.run(["journal", "verify", "--data-dir", dir.path])
        #expect(verify.status == 0, "\(verify.out) \(verify.err)")
    }

    /// One flipped byte in the only segment's header made `repair --yes` quarantine the whole journal and a
    /// valid snapshot of all of it, and the server then started empty with health "ok". Now the snapshot is
    /// kept, the state comes back whole, and the desk sees a JOURNAL_REPAIRED exception (health "degraded"
    /// until someone acknowledges it).
    @Test func repairUnderAValidSnapshotKeepsTheStateAndSaysSo() throws {
        let dir = IMSProcess.freshDirectory()
        let server = try IMSProcess.start(dataDir: dir)
        #expect(try IMSProcess.request(server, "POST", "/api/v1/events", body: ClientScopingTests.setup).status == 200)
        let before = try #require(try IMSProcess.request(server, "GET", "/health").json as? [String: Any])
        let position = try IMSProcess.request(server, "GET", "/api/v1/positions/FIRM/IBM")
        server.stop() // writes a snapshot of every record
        let journal = dir.appendingPathComponent("journal")
        let segments = try FileManager.default.contentsOfDirectory(atPath: journal.path).filter { $0.hasSuffix(".log") }
        #expect(segments.count == 1)
        let segment = journal.appendingPathComponent(segments[0])
        var bytes = try Data(contentsOf: segment)
        bytes[3] ^= 0x10
        try bytes.write(to: segment)

        let verify = try IMSProcess.run(["journal", "verify", "--data-dir", dir.path])
        #expect(verify.status == 1)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(verify.out.utf8)) as? [String: Any])
        #expect(report["snapshotRecord"] as? Int != nil, "\(verify.out)")
        let repair = try IMSProcess.run(["journal", "repair", "--yes", "--data-dir", dir.path])
        #expect(repair.status == 0, "\(repair.out) \(repair.err)")
        #expect(!repair.out.contains("moved snapshot"), "\(repair.out)")
        #expect(try IMSProcess.run(["journal", "verify", "--data-dir", dir.path]).status == 0)

        let again = try IMSProcess.start(dataDir: dir)
        defer { again.stop() }
        let health = try #require(try IMSProcess.request(again, "GET", "/health").json as? [String: Any])
        #expect(health["lastSequence"] as? Int == before["lastSequence"] as? Int)
        #expect(health["positions"] as? Int == before["positions"] as? Int)
        #expect(health["status"] as? String == "degraded")
        #expect((health["journal"] as? [String: Any])?["repairUnacknowledged"] as? Bool == true)
        let restored = try IMSProcess.request(again, "GET", "/api/v1/positions/FIRM/IBM")
        func canonical(_ json: Any?) throws -> String {
            String(decoding: try JSONSerialization.data(withJSONObject: json ?? [:], options: [.sortedKeys]), as: UTF8.self)
        }
        #expect(restored.status == 200)
        #expect(try canonical(restored.json) == canonical(position.json))
        let items = try #require(try IMSProcess.request(again, "GET", "/api/v1/exceptions?kind=JOURNAL_REPAIRED").json as? [[String: Any]])
        #expect(items.count == 1)
        #expect((items.first?["message"] as? String)?.contains("quarantine") == true)
        let id = try #require(items.first?["exceptionId"] as? Int)
        #expect(
            try IMSProcess.request(again, "POST", "/api/v1/exceptions/acknowledge", body: #"{"exceptionIds":[\#(id)],"note":"restored from the snapshot"}"#)
                .status == 200)
        let after = try #require(try IMSProcess.request(again, "GET", "/health").json as? [String: Any])
        #expect(after["status"] as? String == "ok")
    }

    /// A client key posting `{"clientId":"CL2",…,"clientId":"CL1"}` acted for CL2: the access check read one
    /// clientId, the handler another.
    @Test func aRepeatedClientIdActsForNobody() throws {
        let dir = IMSProcess.freshDirectory()
        let keys = try ClientScopingTests.keys(in: dir)
        let server = try IMSProcess.start(["--api-keys", keys.file], dataDir: dir.appendingPathComponent("data"))
        defer { server.stop() }
        func call(_ method: String, _ path: String, _ key: String, _ body: String? = nil) throws -> (status: Int, json: Any?) {
            try IMSProcess.request(server, method, path, body: body, headers: ["Authorization": "Bearer \(key)"])
        }
        #expect(try call("POST", "/api/v1/events", keys.feed, ClientScopingTests.setup).status == 200)
        for body in [
            #"{"requestId":"R1","clientId":"CL2","securityId":"IBM","quantity":10,"side":"SHORT","clientId":"CL1"}"#,
            #"{"requestId":"R1","clientId":"CL1","securityId":"IBM","quantity":10,"side":"SHORT","client\u0049d":"CL2"}"#,
        ] {
            let r = try call("POST", "/api/v1/locates", keys.fund1, body)
            #expect(r.status == 400 && (r.json as? [String: Any])?["field"] as? String == "clientId", "\(body): \(String(describing: r.json))")
        }
        let listed = try call("GET", "/api/v1/locates", keys.desk)
        #expect(((listed.json as? [String: Any])?["items"] as? [[String: Any]])?.isEmpty == true, "no locate was made for anyone")
    }

    /// `ims keys revoke` racing `ims keys create` on one file lost the revocation in 8 of 10 runs.
    @Test func aRevocationRacingACreationIsKept() throws {
        for _ in 0..<5 {
            let keyFile = try IMSProcess.keyFile()
            let first = try keyFile.make("first", ["operator"])
            let keyId = String(first.key.split(separator: "_")[1])
            let group = DispatchGroup()
            for i in 0..<4 {
                group.enter()
                Thread {
                    if i == 0 {
                        let r = try? IMSProcess.run(["keys", "revoke", "--file", keyFile.path, keyId])
                        #expect(r?.status == 0, "\(r?.err ?? "")")
                    } else {
                        _ = try? keyFile.make("racer\(i)", ["operator"])
                    }
                    group.leave()
                }.start()
            }
            group.wait()
            let records = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: keyFile.path))) as? [[String: Any]])
            #expect(records.count == 4)
            #expect(records.first { $0["keyId"] as? String == keyId }?["revokedAt"] != nil, "the revocation was kept")
            let mode = try #require(try FileManager.default.attributesOfItem(atPath: keyFile.path)[.posixPermissions] as? Int)
            #expect(mode & 0o077 == 0)
        }
    }
}
