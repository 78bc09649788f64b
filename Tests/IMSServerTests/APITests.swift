import Foundation
import Hummingbird
import HummingbirdTesting
import IMSEngine
import IMSRuntime
import IMSServer
import Testing

struct APITests {
    static let setup = """
        {"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}
        {"type":"security","securityId":"AAPL","isin":"US0378331005","ticker":"AAPL","marketId":"US"}
        {"type":"book","bookId":"FIRM1","legalEntity":"PB-US","positionType":"FIRM"}
        {"type":"trade","tradeId":"T1","version":1,"status":"NEW","bookId":"FIRM1","securityId":"AAPL","side":"BUY","quantity":100,"price":1,"tradeDate":"2026-11-25"}
        """

    func withApp(maxBody: Int = 1 << 20, _ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let engine = Engine()
        let app = Application(router: IMSApplication.router(engine: engine, configuration: ServerConfiguration(maxBodyBytes: maxBody)))
        try await app.test(.router, body)
        engine.stop()
    }

    func json(_ buffer: ByteBuffer) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as! [String: Any]
    }

    @Test func ingestThenReadAPositionWithExactlyTheSpecFields() async throws {
        try await withApp { client in
            try await client.execute(uri: "/api/v1/events", method: .post, body: ByteBuffer(string: Self.setup)) { r in
                #expect(r.status == .ok)
                let body = try json(r.body)
                #expect(body["accepted"] as? Int == 4)
                #expect((body["rejected"] as? [Any])?.isEmpty == true)
                #expect(body["lastSequence"] as? Int == 4)
            }
            try await client.execute(uri: "/api/v1/positions/FIRM1/AAPL", method: .get) { r in
                #expect(r.status == .ok)
                let body = try json(r.body)
                for key in [
                    "bookId", "securityId", "businessDate", "contractualQty", "settledQty", "intradayBuys", "intradaySells",
                    "intradayShortSells", "ladder", "projectedNetPosition",
                ] {
                    #expect(body[key] != nil, "missing \(key)")
                }
                #expect(body["contractualQty"] as? Int == 100)
                let ladder = body["ladder"] as! [[String: Any]]
                #expect(ladder.count == 5)
                #expect(Set(ladder[0].keys).isSuperset(of: ["date", "receipt", "deliver", "projectedSettled"]))
                #expect(ladder[1]["date"] as? String == "2026-11-27") // Thanksgiving skipped
                #expect(ladder[1]["receipt"] as? Int == 100)
            }
            try await client.execute(uri: "/api/v1/positions?marketId=US&positionType=FIRM", method: .get) { r in
                try #expect(json(r.body)["total"] as? Int == 1)
            }
            try await client.execute(uri: "/api/v1/securities?identifier=US0378331005", method: .get) { r in
                try #expect(json(r.body)["total"] as? Int == 1)
            }
        }
    }

    @Test func anAtomicBatchWithBadLinesIs422AndChangesNothing() async throws {
        try await withApp { client in
            let body = Self.setup + "\n{\"type\":\"trade\"}\nnot json"
            try await client.execute(uri: "/api/v1/events", method: .post, body: ByteBuffer(string: body)) { r in
                #expect(r.status == .unprocessableContent)
                let rejected = try json(r.body)["rejected"] as! [[String: Any]]
                #expect(rejected.map { $0["line"] as? Int } == [5, 6])
                #expect(rejected.allSatisfy { $0["field"] is String && $0["error"] is String })
            }
            try await client.execute(uri: "/api/v1/books/FIRM1", method: .get) { r in #expect(r.status == .notFound) }
        }
    }

    @Test func partialModeKeepsBadLinesAsExceptions() async throws {
        try await withApp { client in
            try await client.execute(uri: "/api/v1/events?mode=partial", method: .post, body: ByteBuffer(string: Self.setup + "\n{\"type\":\"fxRate\"}")) { r in
                #expect(r.status == .ok)
                try #expect(json(r.body)["accepted"] as? Int == 4)
            }
            try await client.execute(uri: "/api/v1/exceptions", method: .get) { r in
                let list = try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as! [[String: Any]]
                #expect(list.count == 1)
                #expect(list[0]["line"] as? Int == 5 && list[0]["field"] as? String == "currency")
            }
        }
    }

    @Test func oversizedBodiesAre413() async throws {
        try await withApp(maxBody: 1000) { client in
            let big = String(repeating: Self.setup + "\n", count: 10)
            try await client.execute(uri: "/api/v1/events", method: .post, body: ByteBuffer(string: big)) { r in
                #expect(r.status == .contentTooLarge)
                try #expect(json(r.body)["field"] as? String == "body")
            }
        }
    }

    @Test(arguments: [
        ("/api/v1/positions?limit=0", "limit"), ("/api/v1/positions?positionType=BOGUS", "positionType"),
        ("/api/v1/markets/US/calendar?from=2026-13-01", "from"), ("/api/v1/events?mode=sometimes", "mode"),
        // Longer than an identifier (128 bytes) or free text (1,024) may be: it could match nothing.
        ("/api/v1/positions?bookId=" + String(repeating: "B", count: 129), "bookId"),
        ("/api/v1/locates?clientId=" + String(repeating: "C", count: 129), "clientId"),
        ("/api/v1/orders?securityId=" + String(repeating: "S", count: 129), "securityId"),
        ("/api/v1/securities?q=" + String(repeating: "q", count: 1_025), "q"),
        ("/api/v1/inventory/AAPL?legalEntity=" + String(repeating: "E", count: 129), "legalEntity"),
    ])
    func badParametersAre400NamingThem(uri: String, field: String) async throws {
        try await withApp { client in
            let method: HTTPRequest.Method = uri.contains("events") ? .post : .get
            try await client.execute(uri: uri, method: method, body: ByteBuffer(string: Self.setup)) { r in
                #expect(r.status == .badRequest)
                try #expect(json(r.body)["field"] as? String == field)
            }
        }
    }

    /// At their bounds, the same parameters are read (and match what they name, here nothing).
    @Test func parametersAtTheirBoundsAreRead() async throws {
        try await withApp { client in
            for uri in [
                "/api/v1/positions?bookId=" + String(repeating: "B", count: 128), "/api/v1/locates?clientId=" + String(repeating: "C", count: 128),
                "/api/v1/securities?q=" + String(repeating: "q", count: 1_024),
            ] {
                try await client.execute(uri: uri, method: .get) { r in
                    #expect(r.status == .ok, "\(uri.prefix(40))")
                    try #expect(json(r.body)["total"] as? Int == 0)
                }
            }
        }
    }

    @Test func unknownThingsAre404() async throws {
        try await withApp { client in
            for uri in ["/api/v1/positions/NOPE/AAPL", "/api/v1/securities/NOPE", "/api/v1/markets/XX"] {
                try await client.execute(uri: uri, method: .get) { r in #expect(r.status == .notFound, "\(uri)") }
            }
        }
    }

    @Test func marketsExposeCalendarsAndBusinessDates() async throws {
        try await withApp { client in
            try await client.execute(uri: "/api/v1/markets/US/calendar?from=2026-10-09&to=2026-10-13", method: .get) { r in
                let days = try json(r.body)["days"] as! [[String: Any]]
                let columbus = days.first { $0["date"] as? String == "2026-10-12" }!
                #expect(columbus["trading"] as? Bool == true && columbus["settlement"] as? Bool == false)
            }
            try await client.execute(uri: "/health", method: .get) { r in
                #expect(r.status == .ok)
                // The change feed's consumers and where they are: the read model has applied every record.
                let feed = try json(r.body)["feed"] as! [String: Any]
                let published = feed["published"] as! Int
                let consumers = feed["consumers"] as! [[String: Any]]
                let readModel = consumers.first { $0["name"] as? String == "read-model" }
                #expect(readModel?["position"] as? Int == published && readModel?["lag"] as? Int == 0)
            }
        }
    }

    /// `/health/state?parts=true`: each part's hash beside the whole, and only the parts an event touches move.
    @Test func theStateHashSaysWhichPartsChanged() async throws {
        try await withApp { client in
            func parts() async throws -> [String: String] {
                try await client.execute(uri: "/health/state?parts=true", method: .get) { r in
                    #expect(r.status == .ok)
                    return try json(r.body)["parts"] as? [String: String] ?? [:]
                }
            }
            try await client.execute(uri: "/api/v1/events", method: .post, body: ByteBuffer(string: Self.setup)) { #expect($0.status == .ok) }
            let before = try await parts()
            #expect(Set(before.keys).isSuperset(of: ["partitions", "reference", "exceptions", "feeds", "counters"]))
            let trade =
                #"{"type":"trade","tradeId":"T2","version":1,"status":"NEW","bookId":"FIRM1","securityId":"AAPL","side":"BUY","quantity":5,"price":1,"tradeDate":"2026-11-25"}"#
            try await client.execute(uri: "/api/v1/events", method: .post, body: ByteBuffer(string: trade)) { #expect($0.status == .ok) }
            let after = try await parts()
            #expect(before["partitions"] != after["partitions"], "a trade moves a position")
            #expect(before["reference"] == after["reference"], "and no reference data")
            try await client.execute(uri: "/health/state", method: .get) { r in
                let body = try json(r.body)
                #expect(body["parts"] == nil, "only when asked")
            }
        }
    }
}

/// Ids with spaces, `/` and non-ASCII characters can be read back through the paths that name them.
struct PathDecodingTests {
    @Test func percentEncodedIdsAreDecodedInEveryPath() async throws {
        let setup = """
            {"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}
            {"type":"security","securityId":"BRK/B ü","marketId":"US"}
            {"type":"book","bookId":"Desk 1/Zürich","legalEntity":"PB-US","positionType":"FIRM"}
            {"type":"counterparty","counterpartyId":"Lender #1/α","name":"L","kind":"LENDER"}
            {"type":"counterparty","counterpartyId":"5%+","name":"L","kind":"LENDER"}
            {"type":"aggregationUnit","aggregationUnitId":"AU 1/é","name":"n","marketId":"US","legalEntity":"PB-US","unitType":"NET"}
            {"type":"trade","tradeId":"T1","version":1,"status":"NEW","bookId":"Desk 1/Zürich","securityId":"BRK/B ü","side":"BUY","quantity":5,"price":1,"tradeDate":"2026-11-25"}
            """
        let book = "Desk%201%2FZ%C3%BCrich", security = "BRK%2FB%20%C3%BC"
        try await APITests().withApp { client in
            try await client.execute(uri: "/api/v1/events", method: .post, body: ByteBuffer(string: setup)) { #expect($0.status == .ok) }
            for (uri, key, value) in [
                ("/api/v1/positions/\(book)/\(security)", "bookId", "Desk 1/Zürich"),
                ("/api/v1/securities/\(security)", "security.securityId", "BRK/B ü"),
                ("/api/v1/books/\(book)", "bookId", "Desk 1/Zürich"),
                ("/api/v1/counterparties/Lender%20%231%2F%CE%B1", "counterpartyId", "Lender #1/α"),
                ("/api/v1/counterparties/5%25+", "counterpartyId", "5%+"),
                ("/api/v1/aggregation-units/AU%201%2F%C3%A9", "aggregationUnitId", "AU 1/é"),
            ] {
                try await client.execute(uri: uri, method: .get) { r in
                    #expect(r.status == .ok, "\(uri)")
                    var body = try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as? [String: Any]
                    let path = key.split(separator: ".").map(String.init)
                    for step in path.dropLast() { body = body?[step] as? [String: Any] }
                    #expect(body?[path.last!] as? String == value, "\(uri)")
                }
            }
            try await client.execute(uri: "/api/v1/securities/\(security)/availability", method: .get) { #expect($0.status == .ok) }
            // A bad escape finds nothing, clearly.
            try await client.execute(uri: "/api/v1/books/%FF", method: .get) { #expect($0.status == .notFound) }
        }
    }
}

struct ContentTypeTests {
    @Test(arguments: ["text/csv", "TEXT/CSV; charset=utf-8", " Text/Csv"])
    func csvIsRecognisedInAnyLetterCase(contentType: String) async throws {
        try await APITests().withApp { client in
            let body = "type,marketId,businessDate\nmarketDayRoll,US,2026-11-25\n"
            try await client.execute(uri: "/api/v1/events", method: .post, headers: [.contentType: contentType], body: ByteBuffer(string: body)) { r in
                #expect(r.status == .ok)
                let json = try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as? [String: Any]
                #expect(json?["accepted"] as? Int == 1)
            }
        }
    }
}
