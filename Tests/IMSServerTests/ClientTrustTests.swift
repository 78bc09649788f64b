import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IMSDomain
import IMSEngine
import IMSRuntime
import IMSServer
import Testing

/// A client acts only for itself, whatever the body says, and cannot tell another client's things from
/// unknown ones (issue 25). Each case is a reproduction of what got through before.
struct ClientTrustTests {
    static let setup = """
        {"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}
        {"type":"security","securityId":"IBM","marketId":"US","currency":"USD"}
        {"type":"aggregationUnit","aggregationUnitId":"AU-US","name":"US","marketId":"US","legalEntity":"PB-US","unitType":"NET","isDefault":true}
        {"type":"book","bookId":"FIRM","legalEntity":"PB-US","positionType":"FIRM"}
        {"type":"book","bookId":"CL1-CASH","legalEntity":"PB-US","positionType":"CLIENT_FREE","clientId":"CL1"}
        {"type":"book","bookId":"CL2-CASH","legalEntity":"PB-US","positionType":"CLIENT_FREE","clientId":"CL2"}
        {"type":"sodPosition","businessDate":"2026-11-25","bookId":"FIRM","securityId":"IBM","contractualQty":9000,"settledQty":9000}
        {"type":"sodPosition","businessDate":"2026-11-25","bookId":"CL1-CASH","securityId":"IBM","contractualQty":100,"settledQty":100}
        {"type":"sodPosition","businessDate":"2026-11-25","bookId":"CL2-CASH","securityId":"IBM","contractualQty":200,"settledQty":200}
        {"type":"counterparty","counterpartyId":"L1","name":"Lender","kind":"LENDER"}
        {"type":"availability","sourceId":"L1","securityId":"IBM","quantity":5000,"availabilityType":"FIRM","effectiveDate":"2026-11-25"}
        """

    struct Caller: Sendable {
        let client: any TestClientProtocol
        let key: String

        func call(_ method: HTTPRequest.Method, _ path: String, _ body: String? = nil) async throws -> (
            status: HTTPResponse.Status, json: [String: Any], text: String
        ) {
            try await client.execute(uri: path, method: method, headers: [.authorization: "Bearer \(key)"], body: body.map { ByteBuffer(string: $0) }) { r in
                let text = String(buffer: r.body)
                return (r.status, (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:], text)
            }
        }
    }

    func withServer(_ body: @Sendable (_ desk: Caller, _ fund1: Caller, _ fund2: Caller, _ engine: Engine) async throws -> Void) async throws {
        let keys = try APIKeyStore(file: nil)
        let desk = try keys.create(name: "desk", roles: [.operator, .admin, .feed], at: Timestamp(micros: 0)).key
        let fund1 = try keys.create(name: "fund1", roles: [.client], clientId: "CL1", at: Timestamp(micros: 0)).key
        let fund2 = try keys.create(name: "fund2", roles: [.client], clientId: "CL2", at: Timestamp(micros: 0)).key
        let engine = Engine()
        defer { engine.stop() }
        var configuration = ServerConfiguration()
        configuration.apiKeys = keys
        let app = Application(router: IMSApplication.router(engine: engine, configuration: configuration))
        try await app.test(.router) { client in
            let d = Caller(client: client, key: desk)
            #expect(try await d.call(.post, "/api/v1/events", Self.setup).status == .ok)
            try await body(d, Caller(client: client, key: fund1), Caller(client: client, key: fund2), engine)
        }
    }

    @Test func aRepeatedKeyIsRefusedOnEveryRouteThatActsForAClient() async throws {
        try await withServer { desk, fund1, fund2, engine in
            let located = try await fund2.call(
                .post, "/api/v1/locates", #"{"requestId":"R0","clientId":"CL2","securityId":"IBM","quantity":10,"side":"SHORT"}"#)
            #expect(located.status == .created)
            let l2 = try #require(located.json["locateId"] as? String)
            let before = engine.readModel.read { $0.lastSequence }
            let bodies: [(String, String)] = [
                ("/api/v1/locates", #"{"requestId":"R1","clientId":"CL2","securityId":"IBM","quantity":10,"side":"SHORT","clientId":"CL1"}"#),
                ("/api/v1/locates", #"{"requestId":"R1","clientId":"CL1","securityId":"IBM","quantity":10,"side":"SHORT","client\u0049d":"CL2"}"#),
                ("/api/v1/locates/\(l2)/cancel", #"{"clientId":"CL2","clientId":"CL1"}"#),
                (
                    "/api/v1/orders/validate",
                    #"{"orderId":"O1","clientId":"CL2","bookId":"CL2-CASH","securityId":"IBM","side":"SELL","quantity":1,"price":"1","clientId":"CL1"}"#
                ),
            ]
            for (path, body) in bodies {
                let r = try await fund1.call(.post, path, body)
                #expect(r.status == .badRequest && r.json["field"] as? String == "clientId", "\(path) \(body): \(r.text)")
            }
            #expect(engine.readModel.read { $0.lastSequence } == before, "nothing was journaled")
            #expect(try await desk.call(.get, "/api/v1/locates/\(l2)").json["status"] as? String == "APPROVED")
        }
    }

    @Test func orderIdsBelongToTheirClient() async throws {
        try await withServer { desk, fund1, fund2, _ in
            // CL1 claims O1 first, on its own book; CL2's later O1 is its own order, decided on its own figures.
            let first = try await fund1.call(
                .post, "/api/v1/orders/validate",
                #"{"orderId":"O1","clientId":"CL1","bookId":"CL1-CASH","securityId":"IBM","side":"SELL","quantity":50,"price":"1"}"#)
            #expect(first.json["decision"] as? String == "APPROVED" && first.json["clientId"] as? String == "CL1")
            let second = try await fund2.call(
                .post, "/api/v1/orders/validate",
                #"{"orderId":"O1","clientId":"CL2","bookId":"CL2-CASH","securityId":"IBM","side":"SELL","quantity":500,"price":"1"}"#)
            #expect(second.json["clientId"] as? String == "CL2" && second.json["bookId"] as? String == "CL2-CASH", "\(second.text)")
            #expect(second.json["decision"] as? String == "REJECTED", "CL2 holds 200, not 500: \(second.text)")
            // Each sees its own under the same id; another client's order is not there to see.
            #expect(try await fund1.call(.get, "/api/v1/orders/O1").json["quantity"] as? Int == 50)
            #expect(try await fund2.call(.get, "/api/v1/orders/O1").json["quantity"] as? Int == 500)
            #expect(try await fund1.call(.get, "/api/v1/orders/O1?clientId=CL2").status == .forbidden)
            #expect(try await desk.call(.get, "/api/v1/orders/O1?clientId=CL1").json["quantity"] as? Int == 50)
        }
    }

    @Test func aClientValidatesOnlyOnItsOwnBooksAndSeesOnlyItsOwnFigures() async throws {
        try await withServer { desk, fund1, _, _ in
            func order(_ id: String, _ book: String, quantity: Int = 10) -> String {
                #"{"orderId":"\#(id)","clientId":"CL1","bookId":"\#(book)","securityId":"IBM","side":"SELL","quantity":\#(quantity),"price":"1"}"#
            }
            let firm = try await fund1.call(.post, "/api/v1/orders/validate", order("F1", "FIRM"))
            let other = try await fund1.call(.post, "/api/v1/orders/validate", order("F2", "CL2-CASH"))
            let none = try await fund1.call(.post, "/api/v1/orders/validate", order("F3", "NOPE"))
            for r in [firm, other, none] { #expect(r.status == .notFound && r.json["field"] as? String == "bookId", "\(r.text)") }
            #expect(firm.json["error"] as? String == "unknown book FIRM" && other.json["error"] as? String == "unknown book CL2-CASH")
            // Its own: the unit's check says whether it passed, not the firm's limit.
            let own = try await fund1.call(.post, "/api/v1/orders/validate", order("F4", "CL1-CASH"))
            let unit = try #require((own.json["checks"] as? [[String: Any]])?.first { $0["stage"] as? String == "UNIT" })
            #expect(unit["available"] == nil && !(unit["message"] as? String ?? "").contains("9") && own.json["aggregationUnitId"] == nil, "\(own.text)")
            let staff = try await desk.call(.get, "/api/v1/orders/F4?clientId=CL1")
            #expect(((staff.json["checks"] as? [[String: Any]])?.first { $0["stage"] as? String == "UNIT" })?["available"] as? Int == 9_300)
        }
    }

    /// GraphQL's locates and orders narrow and redact as REST does: a client's own only, another client's null,
    /// another client named an error, and the firm's figures kept from a client.
    @Test func graphQLLocatesAndOrdersAreAClientsOwnAsOverREST() async throws {
        try await withServer { desk, fund1, fund2, _ in
            func graphql(_ caller: Caller, _ query: String) async throws -> [String: Any] {
                let body = String(decoding: try JSONSerialization.data(withJSONObject: ["query": query]), as: UTF8.self)
                return try await caller.call(.post, "/graphql", body).json
            }
            func data(_ answer: [String: Any], _ field: String) -> Any? { (answer["data"] as? [String: Any])?[field] }
            let l1 = try #require(
                try await fund1.call(.post, "/api/v1/locates", #"{"requestId":"R1","clientId":"CL1","securityId":"IBM","quantity":10,"side":"SHORT"}"#)
                    .json["locateId"] as? String)
            let l2 = try #require(
                try await fund2.call(.post, "/api/v1/locates", #"{"requestId":"R2","clientId":"CL2","securityId":"IBM","quantity":20,"side":"SHORT"}"#)
                    .json["locateId"] as? String)
            let order = #"{"orderId":"O1","clientId":"CL1","bookId":"CL1-CASH","securityId":"IBM","side":"SELL","quantity":10,"price":"1"}"#
            #expect(try await fund1.call(.post, "/api/v1/orders/validate", order).status == .ok)

            let mine = try await graphql(fund1, "{ locates { total items { locateId clientId } } }")
            #expect(((data(mine, "locates") as? [String: Any])?["items"] as? [[String: Any]])?.map { $0["locateId"] as? String } == [l1], "\(mine)")
            let all = try await graphql(desk, "{ locates { total } }")
            #expect((data(all, "locates") as? [String: Any])?["total"] as? Int == 2, "\(all)")
            #expect(data(try await graphql(fund1, #"{ locate(id: "\#(l2)") { locateId } }"#), "locate") is NSNull)
            #expect((data(try await graphql(fund2, #"{ locate(id: "\#(l2)") { quantity } }"#), "locate") as? [String: Any])?["quantity"] as? Int == 20)
            let named = try await graphql(fund2, #"{ orders(clientId: "CL1") { total } }"#)
            #expect("\(named["errors"] ?? "")".contains("own client (CL2) only"), "\(named)")
            #expect(data(try await graphql(fund2, #"{ order(orderId: "O1") { orderId } }"#), "order") is NSNull)
            #expect((data(try await graphql(fund2, "{ orders { total } }"), "orders") as? [String: Any])?["total"] as? Int == 0)

            // The unit's check: whether it passed for the client, the firm's figure for the desk.
            func unit(_ answer: [String: Any]) -> [String: Any]? {
                ((data(answer, "order") as? [String: Any])?["checks"] as? [[String: Any]])?.first { $0["stage"] as? String == "UNIT" }
            }
            let own = try await graphql(fund1, #"{ order(orderId: "O1") { aggregationUnitId checks { stage available message } } }"#)
            #expect(unit(own)?["available"] is NSNull && (data(own, "order") as? [String: Any])?["aggregationUnitId"] is NSNull, "\(own)")
            let staff = try await graphql(desk, #"{ order(orderId: "O1", clientId: "CL1") { checks { stage available } } }"#)
            #expect(unit(staff)?["available"] as? Int == 9_300, "\(staff)")
        }
    }

    @Test func anotherClientsThingsLookUnknown() async throws {
        try await withServer { desk, fund1, fund2, _ in
            let located = try await fund2.call(
                .post, "/api/v1/locates", #"{"requestId":"R0","clientId":"CL2","securityId":"IBM","quantity":10,"side":"SHORT"}"#)
            let l2 = try #require(located.json["locateId"] as? String)
            let theirs = try await fund1.call(.post, "/api/v1/locates/\(l2)/cancel", #"{"clientId":"CL1"}"#)
            let nobody = try await fund1.call(.post, "/api/v1/locates/L999999/cancel", #"{"clientId":"CL1"}"#)
            #expect(theirs.status == .notFound && nobody.status == .notFound)
            #expect(
                (theirs.json["error"] as? String)?.hasPrefix("unknown locate") == true && theirs.json["field"] as? String == nobody.json["field"] as? String)
            // A security's position count is the client's own.
            #expect(try await fund1.call(.get, "/api/v1/securities/IBM").json["positions"] as? Int == 1)
            #expect(try await desk.call(.get, "/api/v1/securities/IBM").json["positions"] as? Int == 3)
            // Its locate's history names the desk, not the staff key that decided.
            let pending = try await fund1.call(
                .post, "/api/v1/locates", #"{"requestId":"R1","clientId":"CL1","securityId":"IBM","quantity":2000000,"side":"SHORT"}"#)
            let l1 = try #require(pending.json["locateId"] as? String)
            #expect(pending.json["status"] as? String == "PENDING")
            #expect(try await desk.call(.post, "/api/v1/locates/\(l1)/decision", #"{"action":"APPROVE","quantity":100}"#).status == .ok)
            let seen = try await fund1.call(.get, "/api/v1/locates/\(l1)")
            #expect(!seen.text.contains("key:") || seen.text.components(separatedBy: "key:").count == 2, "only its own requestor: \(seen.text)")
            #expect(((seen.json["history"] as? [[String: Any]])?.last?["by"] as? String) == "desk")
            #expect(try await desk.call(.get, "/api/v1/locates/\(l1)").text.contains("key:"))
        }
    }

    @Test func bodiesAreBoundedAndFieldsNamed() async throws {
        try await withServer { _, fund1, _, engine in
            let before = engine.readModel.read { $0.lastSequence }
            let cases: [(String, String, HTTPResponse.Status, String)] = [
                ("/api/v1/locates", #"{"requestId":"R1","clientId":"CL1","securityId":"IBM","quantity":10,"side":"SHORT","sied":"LONG"}"#, .badRequest, "sied"),
                ("/api/v1/locates", #"{"requestId":"R1","clientId":"CL1","securityId":"IBM","quantity":1.5,"side":"SHORT"}"#, .badRequest, "quantity"),
                (
                    "/api/v1/locates", #"{"requestId":"R1","clientId":"CL1","securityId":"IBM","quantity":99999999999999999999,"side":"SHORT"}"#, .badRequest,
                    "quantity"
                ),
                (
                    "/api/v1/locates",
                    #"{"requestId":"R1","clientId":"CL1","securityId":"IBM","quantity":10,"side":"SHORT","requestor":""# + String(repeating: "x", count: 2_000)
                        + #""}"#, .badRequest, "requestor"
                ),
                (
                    "/api/v1/locates",
                    #"{"requestId":"R1","clientId":"CL1","securityId":"IBM","quantity":10,"side":"SHORT","requestor":""#
                        + String(repeating: "x", count: 100_000) + #""}"#, .contentTooLarge, "body"
                ),
                (
                    "/api/v1/orders/validate",
                    #"{"orderId":"O1","clientId":"CL1","bookId":"CL1-CASH","securityId":"IBM","side":"SELL","quantity":1,"price":"1","limit":5}"#, .badRequest,
                    "limit"
                ),
                (
                    "/api/v1/orders/validate",
                    #"{"orderId":"O1","clientId":"CL1","bookId":"CL1-CASH","securityId":"IBM","side":"SELL","quantity":1,"price":"2000000000"}"#,
                    .unprocessableContent, "price"
                ),
            ]
            for (path, body, status, field) in cases {
                let r = try await fund1.call(.post, path, body)
                #expect(r.status == status && r.json["field"] as? String == field, "\(path) \(body.prefix(120)): \(r.text.prefix(300))")
            }
            #expect(engine.readModel.read { $0.lastSequence } == before, "nothing was journaled")
        }
    }

    /// `POST /api/v1/orders/{orderId}/cancel` and the `cancelOrder` decision: a client cancels only its own
    /// orders (another client's is unknown, naming another client is refused), a repeated key, an unknown one,
    /// an oversized reason or id are refused naming the field, and nothing is journaled until it is right.
    @Test func anOrderCancellationIsTheClientsOwn() async throws {
        try await withServer { desk, fund1, fund2, engine in
            let validated = try await fund1.call(
                .post, "/api/v1/orders/validate",
                #"{"orderId":"O1","clientId":"CL1","bookId":"CL1-CASH","securityId":"IBM","side":"SELL","quantity":50,"price":"1"}"#)
            #expect(validated.json["decision"] as? String == "APPROVED", "\(validated.text)")
            let before = engine.readModel.read { $0.lastSequence }
            let cases: [(Caller, String, String, HTTPResponse.Status, String)] = [
                (fund2, "/api/v1/orders/O1/cancel", "{}", .notFound, "orderId"),
                (fund2, "/api/v1/orders/O1/cancel", #"{"clientId":"CL1"}"#, .forbidden, "clientId"),
                (fund1, "/api/v1/orders/O1/cancel", #"{"clientId":"CL1","clientId":"CL2"}"#, .badRequest, "clientId"),
                (fund1, "/api/v1/orders/O1/cancel", #"{"reason":"a","colour":"red"}"#, .badRequest, "colour"),
                (fund1, "/api/v1/orders/O1/cancel", #"{"reason":""# + String(repeating: "x", count: 2_000) + #""}"#, .badRequest, "reason"),
                (fund1, "/api/v1/orders/" + String(repeating: "o", count: 300) + "/cancel", "{}", .badRequest, "orderId"),
                (desk, "/api/v1/orders/O1/cancel", "{}", .unprocessableContent, "clientId"),
            ]
            for (caller, path, body, status, field) in cases {
                let r = try await caller.call(.post, path, body)
                #expect(r.status == status && r.json["field"] as? String == field, "\(path.prefix(60)) \(body.prefix(60)): \(r.text.prefix(300))")
            }
            let channel = try await fund1.call(
                .post, "/api/v1/decisions", #"{"correlationId":"c1","type":"cancelOrder","orderId":"O1","clientId":"CL1","clientId":"CL2"}"#)
            #expect(channel.json["status"] as? Int == 400 && channel.json["field"] as? String == "clientId", "\(channel.text)")
            #expect(engine.readModel.read { $0.lastSequence } == before, "nothing was journaled")
            let own = try await fund1.call(.post, "/api/v1/orders/O1/cancel", #"{"reason":"done"}"#)
            #expect(own.status == .ok && (own.json["cancellation"] as? [String: Any])?["quantity"] as? Int == 50, "\(own.text)")
        }
    }

    @Test func anIdUsedAgainTheNextDayIsANewRequest() async throws {
        try await withServer { desk, fund1, _, _ in
            let locate = #"{"requestId":"R1","clientId":"CL1","securityId":"IBM","quantity":10,"side":"SHORT"}"#
            let order = #"{"orderId":"O1","clientId":"CL1","bookId":"CL1-CASH","securityId":"IBM","side":"SELL","quantity":10,"price":"1"}"#
            let l1 = try await fund1.call(.post, "/api/v1/locates", locate)
            let o1 = try await fund1.call(.post, "/api/v1/orders/validate", order)
            #expect(
                try await fund1.call(.post, "/api/v1/locates", locate).json["locateId"] as? String == l1.json["locateId"] as? String,
                "same day: the first answer")
            #expect(try await desk.call(.post, "/api/v1/events", #"{"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-27"}"#).status == .ok)
            let l2 = try await fund1.call(.post, "/api/v1/locates", locate)
            #expect(
                l2.status == .created && l2.json["locateId"] as? String != l1.json["locateId"] as? String && l2.json["businessDate"] as? String == "2026-11-27")
            // Yesterday's approval is expired, but its answer stays APPROVED; today's is a new decision.
            let yesterday = try await fund1.call(.get, "/api/v1/orders/O1")
            #expect(yesterday.json["decision"] as? String == "APPROVED" && yesterday.json["expired"] as? Bool == true)
            let o2 = try await fund1.call(.post, "/api/v1/orders/validate", order)
            #expect(
                o2.json["sequence"] as? Int != o1.json["sequence"] as? Int && o2.json["businessDate"] as? String == "2026-11-27"
                    && o2.json["expired"] as? Bool == false)
        }
    }
}
