import Foundation
import Hummingbird
import HummingbirdTesting
import IMSDomain
import IMSEngine
import IMSRules
import IMSRuntime
import IMSServer
import Testing

/// The rule lifecycle through the API: draft, preview (a what-if that changes nothing), approval by a second
/// person, activation (hot: the next read uses it), rejection, audit, export and import.
struct RuleLifecycleTests {
    typealias JSON = [String: Any]

    static func call(_ client: any TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, _ body: String? = nil) async throws -> (
        status: HTTPResponse.Status, json: Any?, bytes: Data
    ) {
        try await client.execute(uri: uri, method: method, body: body.map { ByteBuffer(string: $0) }) { r in
            let data = Data(r.body.readableBytesView)
            return (r.status, try? JSONSerialization.jsonObject(with: data), data)
        }
    }

    /// The shipped rule set with another haircut: US locates count indicative lines at 25%, not 50%.
    static func draftBody(user: String, haircut: String = "0.25", formula: String? = nil) throws -> String {
        var document = try RuleSetDocument.decode(json: Array(EmbeddedRules.defaultRuleSet.utf8))
        document.parameters = ["haircut": Decimal8Text(Decimal8(haircut)!)]
        if let formula { document.packs[0].rules[0].formula = formula }
        let json = String(decoding: document.encoded(), as: UTF8.self)
        return #"{"user":"\#(user)","comment":"lower haircut","document":\#(json)}"#
    }

    @Test func draftPreviewApproveActivateAndAudit() async throws {
        let engine = Engine()
        defer { engine.stop() }
        let app = Application(router: IMSApplication.router(engine: engine, configuration: ServerConfiguration()))
        try await app.test(.router) { client in
            let events = InventoryAPITests.reference + "\n" + InventoryAPITests.setup("AAPL") + "\n" + InventoryAPITests.setup("2330")
            #expect(try await Self.call(client, .post, "/api/v1/events", events).status == .ok)
            let listing = try #require(try await Self.call(client, .get, "/api/v1/rules").json as? JSON)
            #expect(listing["activeVersion"] as? Int == 1)

            // A document that does not compile is refused, naming the rule and field, and makes no version.
            let bad = try await Self.call(client, .post, "/api/v1/rules/drafts", try Self.draftBody(user: "alice", formula: "LONG.FIRM + NOPE"))
            #expect(bad.status == .unprocessableContent)
            #expect((bad.json as? JSON)?["field"] as? String == "document")
            #expect(
                ((bad.json as? JSON)?["error"] as? String)?.contains("rule forLoan, field formula: NOPE is not a bucket") == true,
                "\(String(describing: bad.json))")
            let anonymous = try await Self.call(client, .post, "/api/v1/rules/drafts", try Self.draftBody(user: " "))
            #expect(anonymous.status == .unprocessableContent && (anonymous.json as? JSON)?["field"] as? String == "user")

            let draft = try await Self.call(client, .post, "/api/v1/rules/drafts", try Self.draftBody(user: "alice"))
            #expect(draft.status == .created)
            let v = try #require((draft.json as? JSON)?["version"] as? Int)
            #expect(v == 2 && (draft.json as? JSON)?["status"] as? String == "DRAFT")

            // Approval needs a preview first, and a second person.
            let early = try await Self.call(client, .post, "/api/v1/rules/\(v)/approve", #"{"user":"bob"}"#)
            #expect(early.status == .unprocessableContent && (early.json as? JSON)?["field"] as? String == "version")
            let preview = try #require(try await Self.call(client, .post, "/api/v1/rules/\(v)/preview", #"{"user":"alice"}"#).json as? JSON)
            #expect(preview["changed"] as? Int == 1) // only AAPL: Taiwan's locate rule does not use the haircut
            let difference = try #require((preview["differences"] as? [JSON])?.first)
            #expect(difference["securityId"] as? String == "AAPL")
            #expect((difference["active"] as? JSON)?["locateAvailable"] as? Int == 1_330)
            #expect((difference["proposed"] as? JSON)?["locateAvailable"] as? Int == 1_305) // 1,200 + 80 + ⌊0.25 × 101⌋
            #expect(difference["largestChange"] as? Int == 25)
            // A preview changes nothing live.
            let live = try #require(try await Self.call(client, .get, "/api/v1/inventory/AAPL").json as? JSON)
            #expect((live["calculations"] as? JSON)?["locateAvailable"] as? Int == 1_330)
            #expect(live["ruleVersion"] as? Int == 1)

            let selfApproval = try await Self.call(client, .post, "/api/v1/rules/\(v)/approve", #"{"user":"alice"}"#)
            #expect(selfApproval.status == .unprocessableContent)
            #expect((selfApproval.json as? JSON)?["field"] as? String == "user")
            #expect(((selfApproval.json as? JSON)?["error"] as? String)?.contains("a second person must approve") == true)
            let notYet = try await Self.call(client, .post, "/api/v1/rules/\(v)/activate", #"{"user":"bob"}"#)
            #expect(notYet.status == .unprocessableContent)
            #expect(try await Self.call(client, .post, "/api/v1/rules/\(v)/approve", #"{"user":"bob","comment":"checked"}"#).status == .ok)
            let activated = try await Self.call(client, .post, "/api/v1/rules/\(v)/activate", #"{"user":"bob"}"#)
            #expect((activated.json as? JSON)?["status"] as? String == "ACTIVE")

            // Hot: the next read calculates with version 2.
            let now = try #require(try await Self.call(client, .get, "/api/v1/inventory/AAPL").json as? JSON)
            #expect(now["ruleVersion"] as? Int == 2)
            #expect((now["calculations"] as? JSON)?["locateAvailable"] as? Int == 1_305)
            let versions = try #require((try await Self.call(client, .get, "/api/v1/rules").json as? JSON)?["versions"] as? [JSON])
            #expect(versions.map { $0["status"] as? String } == ["SUPERSEDED", "ACTIVE"])
            #expect(versions[1]["approvedBy"] as? String == "bob" && versions[1]["author"] as? String == "alice")

            // The audit trail: who did what, when, and what the draft changed.
            let audit = try #require(try await Self.call(client, .get, "/api/v1/rules/audit").json as? [JSON])
            #expect(audit.map { $0["action"] as? String } == ["DRAFT", "PREVIEW", "APPROVE", "ACTIVATE"])
            #expect(audit.map { $0["user"] as? String } == ["alice", "alice", "bob", "bob"])
            #expect((audit[0]["changes"] as? [String]) == ["parameter haircut: 0.5 → 0.25"])
            #expect((audit[3]["changes"] as? [String]) == ["replaces version 1"])

            // Export → import → export: the same bytes.
            let exported = try await Self.call(client, .get, "/api/v1/rules/\(v)/export").bytes
            let imported = try await client.execute(uri: "/api/v1/rules/import?user=carol", method: .post, body: ByteBuffer(bytes: exported)) { r in
                (r.status, try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as? JSON)
            }
            #expect(imported.0 == .created)
            let w = try #require(imported.1?["version"] as? Int)
            #expect(try await Self.call(client, .get, "/api/v1/rules/\(w)/export").bytes == exported)
            // A rejected version can no longer be approved.
            #expect(try await Self.call(client, .post, "/api/v1/rules/\(w)/reject", #"{"user":"bob","comment":"duplicate"}"#).status == .ok)
            #expect(try await Self.call(client, .post, "/api/v1/rules/\(w)/preview", #"{"user":"bob"}"#).status == .unprocessableContent)
            #expect(try await Self.call(client, .get, "/api/v1/rules/99").status == .notFound)
        }
    }
}

/// Maker/checker compares people, not credentials: a second key made under the author's name cannot approve
/// the author's draft; another person's key can.
struct MakerCheckerTests {
    @Test func twoKeysOfOneNameAreOnePerson() async throws {
        let keys = try APIKeyStore(file: nil)
        let maker = try keys.create(name: "alice", roles: [.admin], at: Timestamp(micros: 0)).key
        let alias = try keys.create(name: "alice", roles: [.approver], at: Timestamp(micros: 0)).key
        let checker = try keys.create(name: "bob", roles: [.approver], at: Timestamp(micros: 0)).key
        let engine = Engine()
        defer { engine.stop() }
        var configuration = ServerConfiguration()
        configuration.apiKeys = keys
        let app = Application(router: IMSApplication.router(engine: engine, configuration: configuration))
        try await app.test(.router) { client in
            func call(_ key: String, _ uri: String, _ body: String) async throws -> (HTTPResponse.Status, String) {
                try await client.execute(uri: uri, method: .post, headers: [.authorization: "Bearer \(key)"], body: ByteBuffer(string: body)) {
                    ($0.status, String(buffer: $0.body))
                }
            }
            #expect(try await call(maker, "/api/v1/rules/drafts", try RuleLifecycleTests.draftBody(user: "alice")).0 == .created)
            #expect(try await call(maker, "/api/v1/rules/2/preview", "{}").0 == .ok)
            let refused = try await call(alias, "/api/v1/rules/2/approve", "{}")
            #expect(refused.0 == .unprocessableContent && refused.1.contains("a second person must approve it"), "\(refused.1)")
            #expect(try await call(checker, "/api/v1/rules/2/approve", "{}").0 == .ok)
        }
    }
}

/// The what-if shows what the draft's locate policy would answer otherwise, not only the calculations.
struct LocatePolicyPreviewTests {
    @Test func todaysRequestsAreDecidedAgainUnderTheDraft() async throws {
        let engine = Engine()
        defer { engine.stop() }
        let app = Application(router: IMSApplication.router(engine: engine, configuration: ServerConfiguration()))
        try await app.test(.router) { client in
            #expect(try await RuleLifecycleTests.call(client, .post, "/api/v1/events", LocateAPITests.setup).status == .ok)
            let pending = try await LocateAPITests.request(client, LocateAPITests.locate("p1", client: "C1", security: "THR", quantity: 10))
            #expect(pending["status"] as? String == "PENDING")
            _ = try await LocateAPITests.request(client, LocateAPITests.locate("a1", client: "C1", security: "IBM", quantity: 10))
            // The draft rejects threshold-list requests instead of sending them to the desk.
            var document = try RuleSetDocument.decode(json: Array(EmbeddedRules.defaultRuleSet.utf8))
            let i = try #require(document.locatePolicy?.rules.firstIndex { $0.id == "thresholdList" })
            document.locatePolicy!.rules[i].outcome = "REJECT"
            let body = #"{"user":"alice","document":\#(String(decoding: document.encoded(), as: UTF8.self))}"#
            #expect(try await RuleLifecycleTests.call(client, .post, "/api/v1/rules/drafts", body).status == .created)
            let preview = try await RuleLifecycleTests.call(client, .post, "/api/v1/rules/2/preview", #"{"user":"alice"}"#)
            let policy = try #require((preview.json as? [String: Any])?["locatePolicy"] as? [String: Any])
            let differences = policy["differences"] as? [[String: Any]] ?? []
            #expect(policy["requests"] as? Int == 2 && policy["changed"] as? Int == 1, "\(policy)")
            #expect(differences.first?["locateId"] as? String == pending["locateId"] as? String)
            #expect((differences.first?["active"] as? String)?.hasPrefix("PENDING:THRESHOLD_LIST by thresholdList") == true)
            #expect((differences.first?["proposed"] as? String)?.hasPrefix("REJECT:THRESHOLD_LIST by thresholdList") == true)
        }
    }
}
