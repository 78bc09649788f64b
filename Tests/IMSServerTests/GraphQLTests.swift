import Foundation
import Hummingbird
import HummingbirdTesting
import IMSDomain
import IMSEngine
import IMSRules
import IMSRuntime
import Testing

@testable import IMSServer

/// GraphQL over the same read model as REST, through the real router.
struct GraphQLTests {
    static let setup = """
        {"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}
        {"type":"marketDayRoll","marketId":"JP","businessDate":"2026-11-25"}
        {"type":"security","securityId":"AAPL","isin":"US0378331005","ticker":"AAPL","marketId":"US","currency":"USD"}
        {"type":"security","securityId":"TOYOTA","isin":"JP3633400001","marketId":"JP","currency":"JPY"}
        {"type":"counterparty","counterpartyId":"CP1","name":"Lender One","kind":"LENDER"}
        {"type":"book","bookId":"FIRM1","legalEntity":"PB-US","positionType":"FIRM"}
        {"type":"book","bookId":"CL1","legalEntity":"PB-US","positionType":"CLIENT_FREE","clientId":"C1"}
        {"type":"trade","tradeId":"T1","version":1,"status":"NEW","bookId":"FIRM1","securityId":"AAPL","side":"BUY","quantity":3000000000,"price":1,"tradeDate":"2026-11-25"}
        {"type":"trade","tradeId":"T2","version":1,"status":"NEW","bookId":"CL1","securityId":"AAPL","side":"SELL_SHORT","quantity":40,"price":1,"tradeDate":"2026-11-25"}
        {"type":"trade","tradeId":"T3","version":1,"status":"NEW","bookId":"FIRM1","securityId":"TOYOTA","side":"BUY","quantity":7,"price":1,"tradeDate":"2026-11-25"}
        {"type":"price","securityId":"AAPL","last":"301.25"}
        """

    func withApp(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let engine = Engine()
        let app = Application(router: IMSApplication.router(engine: engine, configuration: ServerConfiguration()))
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/v1/events", method: .post, body: ByteBuffer(string: Self.setup)) { #expect($0.status == .ok) }
            try await body(client)
        }
        engine.stop()
    }

    static func post(_ client: any TestClientProtocol, _ query: String, variables: String = "{}") async throws -> (HTTPResponse.Status, [String: Any]) {
        let body =
            #"{"query":\#(String(decoding: try JSONSerialization.data(withJSONObject: [query], options: .fragmentsAllowed), as: UTF8.self).dropFirst().dropLast()),"variables":\#(variables)}"#
        return try await client.execute(uri: "/graphql", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body)) { r in
            (r.status, try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as? [String: Any] ?? [:])
        }
    }

    @Test func locatesAndOrdersWithTheirFiltersAndSteps() async throws {
        try await withApp { client in
            let locate = #"{"requestId":"R1","clientId":"C1","securityId":"AAPL","quantity":25,"side":"SHORT"}"#
            let made = try await client.execute(uri: "/api/v1/locates", method: .post, body: ByteBuffer(string: locate)) { r in
                try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as? [String: Any] ?? [:]
            }
            let id = try #require(made["locateId"] as? String)
            let order = #"{"orderId":"O1","clientId":"C1","bookId":"CL1","securityId":"AAPL","side":"SELL","quantity":5,"price":"1"}"#
            try await client.execute(uri: "/api/v1/orders/validate", method: .post, body: ByteBuffer(string: order)) { #expect($0.status == .ok) }

            let (status, body) = try await Self.post(
                client,
                """
                { locates(clientId: "C1", securityId: "AAPL") { total items { locateId status quantity approvedQuantity history { status by } } }
                  locate(id: "\(id)") { requestId side businessDate }
                  none: locates(status: "CANCELLED") { total }
                  orders { total items { orderId decision checks { stage code passed } } }
                  approved: orders(decision: "APPROVED") { total }
                  rejected: orders(decision: "REJECTED") { total }
                  order(orderId: "O1") { orderId clientId quantity fills { tradeId } cancellation { quantity } } }
                """)
            #expect(status == .ok, "\(body)")
            let data = try #require(body["data"] as? [String: Any], "\(body)")
            let locates = try #require(data["locates"] as? [String: Any])
            #expect(locates["total"] as? Int == 1)
            let item = try #require((locates["items"] as? [[String: Any]])?.first)
            #expect(item["locateId"] as? String == id && item["quantity"] as? Int == 25 && item["status"] as? String == made["status"] as? String)
            // Decided by the locate policy, which the step names.
            let step = try #require((item["history"] as? [[String: Any]])?.first)
            #expect((step["by"] as? String)?.hasPrefix("policy:") == true && step["status"] as? String == made["status"] as? String, "\(item)")
            #expect((data["locate"] as? [String: Any])?["requestId"] as? String == "R1")
            #expect((data["none"] as? [String: Any])?["total"] as? Int == 0)
            let orders = try #require(data["orders"] as? [String: Any])
            #expect(orders["total"] as? Int == 1)
            let first = try #require((orders["items"] as? [[String: Any]])?.first)
            let checks = try #require(first["checks"] as? [[String: Any]])
            #expect(!checks.isEmpty && checks.allSatisfy { $0["stage"] is String && $0["code"] is String }, "\(orders)")
            // The decision filter splits the one order by its answer.
            let approved = first["decision"] as? String == "APPROVED"
            #expect((data["approved"] as? [String: Any])?["total"] as? Int == (approved ? 1 : 0))
            #expect((data["rejected"] as? [String: Any])?["total"] as? Int == (approved ? 0 : 1))
            #expect((data["order"] as? [String: Any])?["quantity"] as? Int == 5)

            // Bad filters are errors that name the argument.
            for (query, message) in [
                (#"{ locates(status: "MAYBE") { total } }"#, "status must be one of"),
                (#"{ locates(date: "25/11/2026") { total } }"#, "date must be yyyy-MM-dd"),
                (#"{ orders(decision: "EXPIRED") { total } }"#, "decision must be APPROVED or REJECTED"),
                (#"{ orders(limit: 5000) { total } }"#, "limit must be between 1 and 1000"),
            ] {
                let (_, bad) = try await Self.post(client, query)
                #expect("\(bad["errors"] ?? "")".contains(message), "\(query): \(bad)")
            }
        }
    }

    @Test func positionsWithFiltersPagingLaddersAndNestedReferenceData() async throws {
        try await withApp { client in
            let (status, body) = try await Self.post(
                client,
                """
                { positions(marketId: "US", limit: 1, offset: 0) { total limit
                    items { bookId contractualQty positionType ladder { date receipt deliver projectedSettled }
                            book { legalEntity clientId } security { isin lastPrice { last } } } } }
                """)
            #expect(status == .ok)
            let page = try #require((body["data"] as? [String: Any])?["positions"] as? [String: Any])
            #expect(page["total"] as? Int == 2)
            let item = try #require((page["items"] as? [[String: Any]])?.first)
            #expect((item["ladder"] as? [Any])?.count == 5)
            #expect((item["security"] as? [String: Any])?["isin"] as? String == "US0378331005")
            // Quantities are Long: 3,000,000,000 does not fit GraphQL's 32-bit Int.
            let firm = try await Self.post(client, #"{ position(bookId: "FIRM1", securityId: "AAPL") { contractualQty intradayBuys } }"#).1
            #expect(((firm["data"] as? [String: Any])?["position"] as? [String: Any])?["contractualQty"] as? Int == 3_000_000_000)
            let clients = try await Self.post(client, #"{ positions(positionType: "CLIENT_FREE") { items { bookId intradayShortSells } } }"#).1
            let items = ((clients["data"] as? [String: Any])?["positions"] as? [String: Any])?["items"] as? [[String: Any]]
            #expect(items?.map { $0["bookId"] as? String } == ["CL1"])
            #expect(items?.first?["intradayShortSells"] as? Int == 40)
        }
    }

    /// Inventory and rules over GraphQL: the same figures as REST, per security, scope and nested.
    @Test func inventoryAndRuleVersions() async throws {
        try await withApp { client in
            // AAPL: FIRM1 long 3,000,000,000, CL1 short 40; for-loan is the firm's long, nothing else.
            let (status, body) = try await Self.post(
                client,
                """
                { inventory(securityId: "AAPL") { securityId ruleVersion calculations { forLoan overborrow locateAvailable } buckets { name quantity } }
                  byEntity: inventory(securityId: "US0378331005", legalEntity: "PB-US") { legalEntity calculations { forLoan } }
                  security(id: "AAPL") { inventory { calculations { forPledge } } }
                  activeRuleVersion ruleVersions { version status author name } }
                """)
            #expect(status == .ok, "\(body)")
            let data = try #require(body["data"] as? [String: Any])
            let inventory = try #require(data["inventory"] as? [String: Any])
            #expect((inventory["calculations"] as? [String: Any])?["forLoan"] as? Int == 3_000_000_000)
            let buckets = try #require(inventory["buckets"] as? [[String: Any]])
            #expect(buckets.count == Bucket.count && buckets.count == 32)
            #expect(buckets.first { $0["name"] as? String == "SHORT.CLIENT_FREE" }?["quantity"] as? Int == 40)
            #expect(((data["byEntity"] as? [String: Any])?["calculations"] as? [String: Any])?["forLoan"] as? Int == 3_000_000_000)
            #expect(
                (((data["security"] as? [String: Any])?["inventory"] as? [String: Any])?["calculations"] as? [String: Any])?["forPledge"] as? Int
                    == 3_000_000_000)
            #expect(data["activeRuleVersion"] as? Int == 1)
            #expect((data["ruleVersions"] as? [[String: Any]])?.first?["status"] as? String == "ACTIVE")
            let both = try await Self.post(client, #"{ inventory(securityId: "AAPL", legalEntity: "A", aggregationUnitId: "B") { securityId } }"#).1
            #expect(
                (both["errors"] as? [[String: Any]])?.first?["message"] as? String
                    == "legalEntity: name one of aggregationUnitId, legalEntity or clientId, not several: a view shows one scope's share")
        }
    }

    @Test func securitiesByAnyIdentifierMarketsBooksCounterpartiesAndVariables() async throws {
        try await withApp { client in
            let (_, body) = try await Self.post(
                client,
                """
                query Find($id: String!) {
                  bySearch: securities(identifier: $id) { total items { securityId ticker } }
                  security(id: $id) { securityId positions { total } }
                  market(id: "JP") { businessDate settlementLadder }
                  books { bookId positionType positions(limit: 5) { total } }
                  counterparties { counterpartyId kind }
                }
                """, variables: #"{"id":"US0378331005"}"#)
            let data = try #require(body["data"] as? [String: Any])
            #expect(((data["bySearch"] as? [String: Any])?["items"] as? [[String: Any]])?.first?["securityId"] as? String == "AAPL")
            #expect(((data["security"] as? [String: Any])?["positions"] as? [String: Any])?["total"] as? Int == 2)
            #expect(
                (data["market"] as? [String: Any])?["settlementLadder"] as? [String] == ["2026-11-25", "2026-11-26", "2026-11-27", "2026-11-30", "2026-12-01"])
            #expect((data["books"] as? [Any])?.count == 2)
            #expect(((data["counterparties"] as? [[String: Any]])?.first)?["kind"] as? String == "LENDER")
        }
    }

    @Test(arguments: [
        ("{ books { positions(limit: 1000) { items { security { positions(limit: 1000) { total } } } } } }", "limit of 50000"),
        ("{ books { positions { items { book { positions { items { book { positions { items { book { bookId } } } } } } } } } } }", "depth"),
        ("{ positions(limit: 5000) { total } }", "limit must be between 1 and 1000"),
        ("{ nothing }", "Cannot query field"),
        ("{ positions(", "Syntax Error"),
        (#"{ exceptions(kind: "NOPE") { message } }"#, "kind must be one of"),
    ])
    func limitsAndBadQueriesAnswer400WithAMessage(query: String, message: String) async throws {
        try await withApp { client in
            let (status, body) = try await Self.post(client, query)
            #expect(status == .badRequest)
            let errors = body["errors"] as? [[String: Any]] ?? []
            #expect(errors.contains { ($0["message"] as? String ?? "").contains(message) }, "\(errors)")
        }
    }

    /// A string argument longer than its bound (an identifier's 128 bytes, a search's 1,024) is refused naming the
    /// argument, whether written in the query, as a variable's default, or passed as a variable, in any field; at
    /// its bound it runs.
    @Test func stringArgumentsAreBoundedLikeREST() async throws {
        let long = String(repeating: "C", count: 129), longest = String(repeating: "C", count: 128)
        try await withApp { client in
            for (query, variables, message) in [
                (#"{ orders(clientId: "\#(long)") { total } }"#, "{}", "argument clientId of orders is longer than 128 bytes"),
                (#"{ positions(bookId: "B", securityId: "\#(long)") { total } }"#, "{}", "argument securityId of positions"),
                (#"{ a: markets { marketId } ... on Query { order(orderId: "\#(long)") { orderId } } }"#, "{}", "argument orderId of order"),
                (#"query Q($c: String) { locates(clientId: $c) { total } }"#, #"{"c":"\#(long)"}"#, "variable $c (argument clientId)"),
                (#"query Q($c: String = "\#(long)") { locates(clientId: $c) { total } }"#, "{}", "the default of $c (argument clientId)"),
                (#"{ securities(query: "\#(String(repeating: "q", count: 1_025))") { total } }"#, "{}", "argument query of securities is longer than 1024"),
            ] {
                let (status, body) = try await Self.post(client, query, variables: variables)
                #expect(status == .badRequest, "\(query.prefix(60)): \(body)")
                let errors = body["errors"] as? [[String: Any]] ?? []
                #expect(errors.contains { ($0["message"] as? String ?? "").contains(message) }, "\(errors)")
            }
            for (query, variables) in [
                (#"{ orders(clientId: "\#(longest)") { total } }"#, "{}"),
                (#"query Q($c: String) { locates(clientId: $c) { total } }"#, #"{"c":"\#(longest)"}"#),
                (#"{ securities(query: "\#(String(repeating: "q", count: 1_024))") { total } }"#, "{}"),
            ] {
                let (status, body) = try await Self.post(client, query, variables: variables)
                #expect(status == .ok && body["errors"] == nil, "\(query.prefix(60)): \(body)")
            }
        }
    }

    @Test func getWithAQueryParameterAndBadBodies() async throws {
        try await withApp { client in
            try await client.execute(uri: "/graphql?query=%7Bmarkets%7BmarketId%7D%7D", method: .get) { r in
                #expect(r.status == .ok)
                #expect(String(buffer: r.body).contains("\"marketId\":\"US\""))
            }
            try await client.execute(uri: "/graphql", method: .post, body: ByteBuffer(string: "not json")) { #expect($0.status == .badRequest) }
            try await client.execute(uri: "/graphql", method: .get) { #expect($0.status == .badRequest) }
            // A key repeated (here through an escape) is refused, naming it.
            try await client.execute(
                uri: "/graphql", method: .post, body: ByteBuffer(string: #"{"query":"{ markets { marketId } }","qu\u0065ry":"{ books { bookId } }"}"#)
            ) { r in
                #expect(r.status == .badRequest && String(buffer: r.body).contains("query"), "\(String(buffer: r.body))")
            }
        }
    }
}

/// GraphQL cannot be used to kill the process or to make it scan the universe thousands of times.
struct GraphQLAbuseTests {
    static func expectRefused(_ query: String, variables: String = "{}", mentioning word: String) async throws {
        try await GraphQLTests().withApp { client in
            let (status, json) = try await GraphQLTests.post(client, query, variables: variables)
            #expect(status == .badRequest)
            let message = ((json["errors"] as? [[String: Any]])?.first?["message"] as? String) ?? ""
            #expect(message.contains(word), "\(message)")
            // The process is still here and answers.
            let (after, _) = try await GraphQLTests.post(client, "{ markets { marketId } }")
            #expect(after == .ok)
        }
    }

    @Test func selectionsNested3500DeepAreRefusedBeforeParsing() async throws {
        let query = String(repeating: "{a", count: 3_500) + String(repeating: "}", count: 3_500)
        try await Self.expectRefused(query, mentioning: "nested more than")
    }

    @Test func listsNested30000DeepInAnArgumentAreRefused() async throws {
        let query = "{ positions(bookId: " + String(repeating: "[", count: 30_000) + String(repeating: "]", count: 30_000) + ") { total } }"
        try await Self.expectRefused(query, mentioning: "nested more than")
    }

    @Test func deepVariablesAreRefused() async throws {
        let variables = String(repeating: "[", count: 30_000) + String(repeating: "]", count: 30_000)
        try await Self.expectRefused("query Q($x: String) { markets { marketId } }", variables: #"{"x":\#(variables)}"#, mentioning: "nested more than")
    }

    @Test func nestingHiddenAfterAStringOrComment() async throws {
        let deep = String(repeating: "{a", count: 500) + String(repeating: "}", count: 500)
        try await Self.expectRefused(#"{ positions(bookId: """ " \""" """) { total } } "# + deep, mentioning: "nested more than")
        try await Self.expectRefused("# a comment with an unbalanced \" quote\n" + deep, mentioning: "nested more than")
    }

    @Test func manyAliasesOfAScanningListCostTheirScans() throws {
        let limits = QueryLimits()
        let aliases = (0..<2_000).map { "p\($0):positions(limit:1){total}" }.joined(separator: " ")
        let query = "{ \(aliases) }"
        // On an empty engine they are cheap; over 100,000 positions each one scans them all.
        #expect(throws: Never.self) { try limits.check(query: query, scans: .init()) }
        #expect(throws: QueryLimits.Refusal.self) { try limits.check(query: query, scans: .init(positions: 100_000)) }
        // One page of a large book stays allowed.
        #expect(throws: Never.self) { try limits.check(query: "{ positions(limit: 100) { total items { bookId } } }", scans: .init(positions: 1_000_000)) }
    }
}

/// The filters every interface shares are defined once (`PositionFilter.fields`, `MarketDataFilter.fields`).
struct SharedFilterTests {
    @Test func graphQLStreamsAndOpenAPINameTheSameFilterFields() throws {
        let names = PositionFilter.fields.map(\.name)
        #expect(Set(PositionsArguments().filterValues.keys) == Set(names))
        #expect(PositionStream.filterKeys == names)
        #expect(MarketDataStream.filterKeys == MarketDataFilter.fields.map(\.name))
        let document = try JSONSerialization.jsonObject(with: OpenAPIDocument.json) as! [String: Any]
        let paths = document["paths"] as! [String: Any]
        let listing = (paths["/api/v1/positions"] as! [String: Any])["get"] as! [String: Any]
        let parameters = (listing["parameters"] as! [[String: Any]]).compactMap { $0["name"] as? String }
        #expect(parameters == names + ["offset", "limit"])
        // One parser: a bad enumeration value is named the same way everywhere.
        #expect(throws: FilterError(field: "positionType", message: "must be one of \(PositionType.allCases.map(\.rawValue).joined(separator: ", "))")) {
            _ = try PositionFilter(values: { $0 == "positionType" ? "NOPE" : nil })
        }
        let parsed = try PositionFilter(values: { ["bookId": "B1", "positionType": "FIRM", "clientId": ""][$0] })
        #expect(parsed == PositionFilter(bookId: "B1", positionType: .firm))
        #expect(parsed.values.map(\.name) == ["bookId", "positionType"])
    }
}
