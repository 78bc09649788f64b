import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `ims rules export|import` between two real servers, and rules in force after a restart.
struct RulesCommandTests {
    @Test func exportImportBetweenInstancesAndTheActiveRulesSurviveARestart() throws {
        let a = try IMSProcess.start()
        let b = try IMSProcess.start()
        defer { b.stop() }
        let exported = IMSProcess.freshDirectory().appendingPathExtension("json")
        TemporaryDirectories.shared.add(exported)
        let export = try IMSProcess.run(["rules", "export", "--url", a.base, "--output", exported.path])
        #expect(export.status == 0, "\(export.err)")
        let imported = try IMSProcess.run(["rules", "import", exported.path, "--url", b.base, "--user", "carol", "--comment", "from A"])
        #expect(imported.status == 0, "\(imported.out) \(imported.err)")
        #expect(imported.out.contains(#""version":2"#) && imported.out.contains(#""status":"DRAFT""#), "\(imported.out)")
        let again = try IMSProcess.run(["rules", "export", "--url", b.base, "--version", "2"])
        #expect(again.out == (try String(contentsOf: exported, encoding: .utf8)), "export → import → export changed the bytes")
        let bad = try IMSProcess.run(["rules", "import", "/dev/null", "--url", b.base, "--user", "carol"])
        #expect(bad.status != 0)

        // Through the lifecycle on A, then a restart: version 2 is still in force.
        let draft = #"{"user":"alice","document":\#(try String(contentsOf: exported, encoding: .utf8).replacingOccurrences(of: "\"0.5\"", with: "\"0.4\""))}"#
        #expect(try IMSProcess.request(a, "POST", "/api/v1/rules/drafts", body: draft).status == 201)
        #expect(try IMSProcess.request(a, "POST", "/api/v1/rules/2/preview", body: #"{"user":"alice"}"#).status == 200)
        #expect(try IMSProcess.request(a, "POST", "/api/v1/rules/2/approve", body: #"{"user":"bob"}"#).status == 200)
        #expect(try IMSProcess.request(a, "POST", "/api/v1/rules/2/activate", body: #"{"user":"bob"}"#).status == 200)
        a.stop()
        let restarted = try IMSProcess.start(dataDir: a.dataDir)
        defer { restarted.stop() }
        let rules = try #require(try IMSProcess.request(restarted, "GET", "/api/v1/rules").json as? [String: Any])
        #expect(rules["activeVersion"] as? Int == 2)
        let audit = try #require(try IMSProcess.request(restarted, "GET", "/api/v1/rules/audit").json as? [[String: Any]])
        #expect(audit.map { $0["action"] as? String } == ["DRAFT", "PREVIEW", "APPROVE", "ACTIVATE"])
        #expect((audit[0]["changes"] as? [String]) == ["parameter haircut: 0.5 → 0.4"])
    }
}
