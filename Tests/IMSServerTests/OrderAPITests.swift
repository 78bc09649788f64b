import Foundation
import Hummingbird
import HummingbirdTesting
import IMSEngine
import IMSRuntime
import IMSServer
import Testing

/// `POST /api/v1/orders/validate` (SPEC 5): stage 1 the client's limit, stage 2 the aggregation unit's, the
/// market's rules; an approval consumes both limits; a rejection lists every failed check.
struct OrderAPITests {
    static let setup = """
        {"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}
        {"type":"marketDayRoll","marketId":"KR","businessDate":"2026-11-25"}
        {"type":"marketDayRoll","marketId":"HK","businessDate":"2026-11-25"}
        {"type":"marketDayRoll","marketId":"TW","businessDate":"2026-11-25"}
        {"type":"security","securityId":"IBM","isin":"US4592001014","marketId":"US","currency":"USD"}
        {"type":"security","securityId":"ETB","marketId":"US","currency":"USD","easyToBorrow":true}
        {"type":"security","securityId":"SAMSUNG","marketId":"KR","currency":"KRW"}
        {"type":"security","securityId":"0005","marketId":"HK","currency":"HKD","shortSellEligible":false}
        {"type":"security","securityId":"2330","marketId":"TW","currency":"TWD"}
        {"type":"aggregationUnit","aggregationUnitId":"AU-US","name":"US","marketId":"US","legalEntity":"PB-US","unitType":"NET","isDefault":true}
        {"type":"aggregationUnit","aggregationUnitId":"AU-KR","name":"KR","marketId":"KR","legalEntity":"PB-US","unitType":"NET","isDefault":true}
        {"type":"aggregationUnit","aggregationUnitId":"AU-HK","name":"HK","marketId":"HK","legalEntity":"PB-US","unitType":"NET","isDefault":true}
        {"type":"aggregationUnit","aggregationUnitId":"AU-TW","name":"TW","marketId":"TW","legalEntity":"PB-US","unitType":"NET","isDefault":true}
        {"type":"book","bookId":"FIRM","legalEntity":"PB-US","positionType":"FIRM"}
        {"type":"book","bookId":"C1-FREE","legalEntity":"PB-US","positionType":"CLIENT_FREE","clientId":"C1"}
        {"type":"counterparty","counterpartyId":"L1","name":"Lender","kind":"LENDER"}
        {"type":"sodPosition","businessDate":"2026-11-25","bookId":"FIRM","securityId":"IBM","contractualQty":2000,"settledQty":2000}
        {"type":"sodPosition","businessDate":"2026-11-25","bookId":"C1-FREE","securityId":"IBM","contractualQty":500,"settledQty":500}
        {"type":"availability","sourceId":"L1","securityId":"IBM","quantity":5000,"availabilityType":"FIRM","effectiveDate":"2026-11-25"}
        {"type":"contract","contractId":"KB1","version":1,"kind":"BORROW","status":"OPEN","bookId":"FIRM","counterpartyId":"L1","securityId":"SAMSUNG","quantity":300,"rateBps":"20","startDate":"2026-11-25"}
        {"type":"price","securityId":"2330","last":"590","previousClose":"600","ts":"2026-11-25T02:00:00Z"}
        """

    static func validate(_ client: any TestClientProtocol, _ order: String, status: HTTPResponse.Status = .ok) async throws -> [String: Any] {
        try await client.execute(uri: "/api/v1/orders/validate", method: .post, body: ByteBuffer(string: order)) { r in
            #expect(r.status == status, "\(order): \(String(buffer: r.body))")
            return try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as? [String: Any] ?? [:]
        }
    }

    static func order(_ id: String, book: String = "C1-FREE", security: String = "IBM", side: String, quantity: Int, price: String = "100") -> String {
        #"{"orderId":"\#(id)","clientId":"C1","bookId":"\#(book)","securityId":"\#(security)","side":"\#(side)","quantity":\#(quantity),"price":"\#(price)"}"#
    }

    static func codes(_ answer: [String: Any]) -> [String] { (answer["reasons"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String } }

    func withServer(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let engine = Engine()
        defer { engine.stop() }
        let app = Application(router: IMSApplication.router(engine: engine, configuration: ServerConfiguration()))
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/v1/events", method: .post, body: ByteBuffer(string: Self.setup)) { r in
                #expect(r.status == .ok, "\(String(buffer: r.body))")
            }
            try await body(client)
        }
    }

    func limits(_ client: any TestClientProtocol, _ path: String) async throws -> (long: Int?, short: Int?) {
        try await client.execute(uri: path, method: .get) { r in
            let rows = try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as? [[String: Any]] ?? []
            return (rows.first?["longSellLimit"] as? Int, rows.first?["shortSellLimit"] as? Int)
        }
    }

    static func cancel(_ client: any TestClientProtocol, _ id: String, _ body: String = #"{"clientId":"C1"}"#, status: HTTPResponse.Status = .ok)
        async throws -> [String: Any]
    {
        try await client.execute(uri: "/api/v1/orders/\(id)/cancel", method: .post, body: ByteBuffer(string: body)) { r in
            #expect(r.status == status, "cancel \(id): \(String(buffer: r.body))")
            return try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as? [String: Any] ?? [:]
        }
    }

    /// A cancellation gives back what the order's trades have not filled, to both limits; what they filled stays
    /// used. A second cancellation, a rejected order, an unknown one and one without its client are refused.
    @Test func cancellingGivesTheUnfilledRemainderBackToBothLimits() async throws {
        try await withServer { client in
            _ = try await Self.validate(client, Self.order("o1", side: "SELL", quantity: 400))
            #expect(try await limits(client, "/api/v1/limits/clients/C1?securityId=IBM").long == 100)
            #expect(try await limits(client, "/api/v1/limits/units/AU-US?securityId=IBM").long == 2_100)
            // 150 of it trade.
            let trade =
                #"{"type":"trade","tradeId":"T1","version":1,"status":"NEW","orderId":"o1","bookId":"C1-FREE","securityId":"IBM","side":"SELL","quantity":150,"price":100,"tradeDate":"2026-11-25"}"#
            try await client.execute(uri: "/api/v1/events", method: .post, body: ByteBuffer(string: trade)) { r in #expect(r.status == .ok) }
            let cancelled = try await Self.cancel(client, "o1", #"{"clientId":"C1","reason":"the OMS cancelled it"}"#)
            let cancellation = cancelled["cancellation"] as? [String: Any]
            #expect(cancellation?["quantity"] as? Int == 250)
            #expect(cancellation?["reason"] as? String == "the OMS cancelled it")
            #expect(cancelled["filledQuantity"] as? Int == 150 && cancelled["decision"] as? String == "APPROVED")
            // The client held 500: 150 sold, 350 left to sell; the unit likewise.
            #expect(try await limits(client, "/api/v1/limits/clients/C1?securityId=IBM").long == 350)
            #expect(try await limits(client, "/api/v1/limits/units/AU-US?securityId=IBM").long == 2_350)
            // The trade withdrawn after the cancellation gives its 150 back to the position, not to the order.
            let withdrawn =
                #"{"type":"trade","tradeId":"T1","version":2,"status":"CANCEL","orderId":"o1","bookId":"C1-FREE","securityId":"IBM","side":"SELL","quantity":150,"price":100,"tradeDate":"2026-11-25"}"#
            try await client.execute(uri: "/api/v1/events", method: .post, body: ByteBuffer(string: withdrawn)) { r in #expect(r.status == .ok) }
            #expect(try await limits(client, "/api/v1/limits/clients/C1?securityId=IBM").long == 500)
            let again = try await Self.cancel(client, "o1", status: .conflict)
            #expect(again["field"] as? String == "status")
            _ = try await Self.validate(client, Self.order("o2", side: "SELL", quantity: 9_000))
            #expect(try await Self.cancel(client, "o2", status: .conflict)["field"] as? String == "status")
            #expect(try await Self.cancel(client, "nope", status: .notFound)["field"] as? String == "orderId")
            #expect(try await Self.cancel(client, "o1", "{}", status: .unprocessableContent)["field"] as? String == "clientId")
            #expect(try await Self.cancel(client, "o1", #"{"clientId":"C1","colour":"red"}"#, status: .badRequest)["field"] as? String == "colour")
        }
    }

    @Test func longSalesConsumeTheClientAndUnitLimitsTogether() async throws {
        try await withServer { client in
            // C1 holds 500; its unit holds 2,500 long.
            #expect(try await limits(client, "/api/v1/limits/clients/C1?securityId=IBM").long == 500)
            #expect(try await limits(client, "/api/v1/limits/units/AU-US?securityId=IBM").long == 2_500)
            let first = try await Self.validate(client, Self.order("o1", side: "SELL", quantity: 200))
            #expect(first["decision"] as? String == "APPROVED" && first["aggregationUnitId"] as? String == "AU-US")
            #expect((first["checks"] as? [[String: Any]])?.map { $0["stage"] as? String } == ["CLIENT", "UNIT"])
            #expect(try await limits(client, "/api/v1/limits/clients/C1?securityId=IBM").long == 300)
            #expect(try await limits(client, "/api/v1/limits/units/AU-US?securityId=IBM").long == 2_300)
            // 400 more: beyond the client's 300 (stage 1), within the unit's.
            let second = try await Self.validate(client, Self.order("o2", side: "SELL", quantity: 400))
            #expect(second["decision"] as? String == "REJECTED" && Self.codes(second) == ["CLIENT_LONG_SELL_LIMIT"])
            let reason = (second["reasons"] as? [[String: Any]])?.first
            #expect(reason?["available"] as? Int == 300 && reason?["required"] as? Int == 400)
            // A rejection consumes nothing; a re-sent order id keeps its first answer.
            #expect(try await limits(client, "/api/v1/limits/clients/C1?securityId=IBM").long == 300)
            let again = try await Self.validate(client, Self.order("o1", side: "SELL", quantity: 9_999))
            #expect(again["decision"] as? String == "APPROVED" && again["quantity"] as? Int == 200)
            // A client book must be the order's client's.
            let other = try await Self.validate(
                client, #"{"orderId":"o3","clientId":"C2","bookId":"C1-FREE","securityId":"IBM","side":"SELL","quantity":10,"price":"1"}"#)
            #expect(Self.codes(other) == ["BOOK_NOT_CLIENTS", "CLIENT_LONG_SELL_LIMIT"])
        }
    }

    /// `?dryRun=true` answers what the order would get, with every check, and changes nothing: no limit is
    /// reserved, no order is kept, the same id can then be validated for real (issue 26, 7).
    @Test func aDryRunAnswersAndChangesNothing() async throws {
        try await withServer { client in
            let path = "/api/v1/orders/validate?dryRun=true"
            let dry = try await client.execute(uri: path, method: .post, body: ByteBuffer(string: Self.order("d1", side: "SELL", quantity: 200))) { r in
                #expect(r.status == .ok, "\(String(buffer: r.body))")
                return try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as? [String: Any] ?? [:]
            }
            #expect(dry["decision"] as? String == "APPROVED" && dry["dryRun"] as? Bool == true, "\(dry)")
            #expect((dry["checks"] as? [[String: Any]])?.first?["available"] as? Int == 500)
            #expect(try await limits(client, "/api/v1/limits/clients/C1?securityId=IBM").long == 500)
            #expect(try await limits(client, "/api/v1/limits/units/AU-US?securityId=IBM").long == 2_500)
            try await client.execute(uri: "/api/v1/orders/d1?clientId=C1", method: .get) { r in #expect(r.status == .notFound) }
            // Beyond the limit: rejected with the failed check, still nothing kept.
            let over = try await client.execute(uri: path, method: .post, body: ByteBuffer(string: Self.order("d2", side: "SELL", quantity: 600))) { r in
                try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as? [String: Any] ?? [:]
            }
            #expect(over["decision"] as? String == "REJECTED" && Self.codes(over) == ["CLIENT_LONG_SELL_LIMIT"])
            // The same id for real: decided now, and it reserves.
            let real = try await Self.validate(client, Self.order("d1", side: "SELL", quantity: 200))
            #expect(real["decision"] as? String == "APPROVED" && real["dryRun"] == nil)
            #expect(try await limits(client, "/api/v1/limits/clients/C1?securityId=IBM").long == 300)
            // A dry run of an id already decided today answers that decision (as the real call would).
            let again = try await client.execute(uri: path, method: .post, body: ByteBuffer(string: Self.order("d1", side: "SELL", quantity: 9_999))) { r in
                try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as? [String: Any] ?? [:]
            }
            #expect(again["quantity"] as? Int == 200 && again["dryRun"] == nil)
            // Bad input: the flag's value and the order's fields are named.
            try await client.execute(
                uri: "/api/v1/orders/validate?dryRun=maybe", method: .post, body: ByteBuffer(string: Self.order("d3", side: "SELL", quantity: 1))
            ) { r in
                #expect(r.status == .badRequest && String(buffer: r.body).contains("dryRun"))
            }
            try await client.execute(uri: path, method: .post, body: ByteBuffer(string: Self.order("d4", side: "SELL", quantity: 0))) { r in
                #expect(r.status == .unprocessableContent && String(buffer: r.body).contains("quantity"), "\(String(buffer: r.body))")
            }
        }
    }

    /// `GET /api/v1/orders`: today's orders newest first, filtered by client, security and decision, paged;
    /// a dry run is not among them (issue 26, 2: a client's own orders).
    @Test func ordersAreListedNewestFirstAndFiltered() async throws {
        try await withServer { client in
            _ = try await Self.validate(client, Self.order("a1", side: "SELL", quantity: 100))
            _ = try await Self.validate(client, Self.order("a2", side: "SELL", quantity: 9_000))
            _ = try await Self.validate(client, Self.order("a3", security: "ETB", side: "SELL", quantity: 1))
            try await client.execute(
                uri: "/api/v1/orders/validate?dryRun=true", method: .post, body: ByteBuffer(string: Self.order("a4", side: "SELL", quantity: 1))
            ) { _ in }
            func list(_ query: String) async throws -> (ids: [String], total: Int?) {
                try await client.execute(uri: "/api/v1/orders\(query)", method: .get) { r in
                    #expect(r.status == .ok, "\(query): \(String(buffer: r.body))")
                    let page = try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as? [String: Any] ?? [:]
                    return ((page["items"] as? [[String: Any]] ?? []).compactMap { $0["orderId"] as? String }, page["total"] as? Int)
                }
            }
            #expect(try await list("").ids == ["a3", "a2", "a1"])
            #expect(try await list("?decision=REJECTED").ids == ["a3", "a2"])
            #expect(try await list("?decision=APPROVED&clientId=C1").ids == ["a1"])
            #expect(try await list("?securityId=IBM&limit=1&offset=1") == (["a1"], 2))
            #expect(try await list("?clientId=C2").ids.isEmpty)
            try await client.execute(uri: "/api/v1/orders?decision=EXPIRED", method: .get) { r in #expect(r.status == .badRequest) }
            try await client.execute(uri: "/api/v1/orders?limit=0", method: .get) { r in #expect(r.status == .badRequest) }
        }
    }

    @Test func shortSalesNeedALocateAndEveryFailedCheckIsListed() async throws {
        try await withServer { client in
            let naked = try await Self.validate(client, Self.order("s1", side: "SELL_SHORT", quantity: 600))
            #expect(naked["decision"] as? String == "REJECTED" && Self.codes(naked) == ["CLIENT_SHORT_SELL_LIMIT", "LOCATE_REQUIRED"])
            try await client.execute(
                uri: "/api/v1/locates", method: .post,
                body: ByteBuffer(string: #"{"requestId":"l1","clientId":"C1","securityId":"IBM","quantity":1000,"side":"SHORT"}"#)
            ) { r in #expect(r.status == .created) }
            let covered = try await Self.validate(client, Self.order("s2", side: "SELL_SHORT", quantity: 600))
            #expect(covered["decision"] as? String == "APPROVED", "\(covered)")
            #expect(try await limits(client, "/api/v1/limits/clients/C1?securityId=IBM").short == 400)
            // The unit's short limit: lender lines 5,000 less the 600 approved.
            #expect(try await limits(client, "/api/v1/limits/units/AU-US?securityId=IBM").short == 4_400)
            // The market roll expires the day's approvals: the limits come back (the locate expires too).
            try await client.execute(
                uri: "/api/v1/events", method: .post, body: ByteBuffer(string: #"{"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-27"}"#)
            ) { _ in }
            // Its answer stays APPROVED (SPEC 6), marked expired.
            let expired = try await client.execute(uri: "/api/v1/orders/s2", method: .get) {
                try JSONSerialization.jsonObject(with: Data($0.body.readableBytesView)) as? [String: Any]
            }
            #expect(expired?["decision"] as? String == "APPROVED" && expired?["expired"] as? Bool == true)
            #expect(try await limits(client, "/api/v1/limits/units/AU-US?securityId=IBM").short == 5_000)
        }
    }

    @Test func marketRules() async throws {
        try await withServer { client in
            // Korea: pre-borrow. The unit has 300 borrowed; a locate (its pool is the pre-borrowed shares) of 250.
            try await client.execute(
                uri: "/api/v1/locates", method: .post,
                body: ByteBuffer(string: #"{"requestId":"k1","clientId":"C1","securityId":"SAMSUNG","quantity":250,"side":"SHORT"}"#)
            ) { r in #expect(r.status == .created) }
            let kr = try await Self.validate(client, Self.order("k-ok", book: "FIRM", security: "SAMSUNG", side: "SELL_SHORT", quantity: 200))
            #expect(kr["decision"] as? String == "APPROVED", "\(kr)")
            let krBig = try await Self.validate(client, Self.order("k-big", book: "FIRM", security: "SAMSUNG", side: "SELL_SHORT", quantity: 150))
            #expect(Self.codes(krBig) == ["CLIENT_SHORT_SELL_LIMIT", "UNIT_SHORT_SELL_LIMIT", "PRE_BORROW_REQUIRED"])
            // Hong Kong: only designated securities.
            let hk = try await Self.validate(client, Self.order("h1", book: "FIRM", security: "0005", side: "SELL_SHORT", quantity: 10))
            #expect(Self.codes(hk).contains("NOT_SHORTABLE"))
            // Taiwan: not below the previous close (600).
            let tw = try await Self.validate(client, Self.order("t1", book: "FIRM", security: "2330", side: "SELL_SHORT", quantity: 10, price: "599"))
            #expect(Self.codes(tw).contains("PRICE_BELOW_PREVIOUS_CLOSE"))
            // Malformed orders are refused naming the field, and recorded nowhere.
            for (body, field) in [
                (#"{"clientId":"C1","bookId":"FIRM","securityId":"IBM","side":"SELL","quantity":1}"#, "orderId"),
                (Self.order("bad", side: "BUY", quantity: 1), "side"),
                (Self.order("bad", side: "SELL", quantity: 0), "quantity"),
            ] {
                let refused = try await Self.validate(client, body, status: .unprocessableContent)
                #expect(refused["field"] as? String == field)
            }
            try await client.execute(uri: "/api/v1/orders/bad", method: .get) { r in #expect(r.status == .notFound) }
        }
    }

    /// US Rule 201 and JP: after a fall of 10% or more from the previous close, short sales are restricted for
    /// the rest of the day and the next business day, not the day after (2026-11-25 is a Wednesday; the US
    /// closes on Thanksgiving, 26 November, so its next business day is Friday 27th; Tokyo's is the 26th).
    @Test func aTenPercentFallRestrictsShortSalesThroughTheNextBusinessDay() async throws {
        try await withServer { client in
            let setup = """
                {"type":"marketDayRoll","marketId":"JP","businessDate":"2026-11-25"}
                {"type":"security","securityId":"TOYOTA","marketId":"JP","currency":"JPY"}
                {"type":"aggregationUnit","aggregationUnitId":"AU-JP","name":"JP","marketId":"JP","legalEntity":"PB-US","unitType":"NET","isDefault":true}
                {"type":"sodPosition","businessDate":"2026-11-25","bookId":"FIRM","securityId":"TOYOTA","contractualQty":100000,"settledQty":100000}
                {"type":"sodPosition","businessDate":"2026-11-25","bookId":"C1-FREE","securityId":"TOYOTA","contractualQty":10,"settledQty":10}
                {"type":"availability","sourceId":"L1","securityId":"TOYOTA","quantity":50000,"availabilityType":"FIRM","effectiveDate":"2026-11-25"}
                {"type":"price","securityId":"IBM","last":"95","bid":"94.9","ask":"95.1","previousClose":"100","ts":"2026-11-25T15:00:00Z"}
                {"type":"price","securityId":"TOYOTA","last":"2000","previousClose":"2100","ts":"2026-11-25T02:00:00Z"}
                """
            try await client.execute(uri: "/api/v1/events", method: .post, body: ByteBuffer(string: setup)) { r in
                #expect(r.status == .ok, "\(String(buffer: r.body))")
            }
            for (id, security) in [("l1", "IBM"), ("l2", "TOYOTA")] {
                try await client.execute(
                    uri: "/api/v1/locates", method: .post,
                    body: ByteBuffer(string: #"{"requestId":"\#(id)","clientId":"C1","securityId":"\#(security)","quantity":5000,"side":"SHORT"}"#)
                ) { r in #expect(r.status == .created) }
            }
            // A 5% fall: no restriction; a short at the bid passes.
            #expect(try await Self.validate(client, Self.order("u0", side: "SELL_SHORT", quantity: 10, price: "94.9"))["decision"] as? String == "APPROVED")
            // IBM falls to 89 (11%): at or below the bid is refused, above it passes.
            try await client.execute(
                uri: "/api/v1/events", method: .post,
                body: ByteBuffer(
                    string:
                        #"{"type":"price","securityId":"IBM","last":"89","bid":"88.9","ask":"89.1","previousClose":"100","ts":"2026-11-25T16:00:00Z"}"#)
            ) { _ in }
            #expect(
                Self.codes(try await Self.validate(client, Self.order("u1", side: "SELL_SHORT", quantity: 10, price: "88.9"))) == ["PRICE_TEST_AT_OR_BELOW_BID"]
            )
            #expect(try await Self.validate(client, Self.order("u2", side: "SELL_SHORT", quantity: 10, price: "89"))["decision"] as? String == "APPROVED")
            // A long sale is not restricted.
            #expect(try await Self.validate(client, Self.order("u3", side: "SELL", quantity: 10, price: "80"))["decision"] as? String == "APPROVED")
            // Tokyo: 2,100 → 1,880 is a 10.5% fall: a short must be above the last trade.
            try await client.execute(
                uri: "/api/v1/events", method: .post,
                body: ByteBuffer(
                    string:
                        #"{"type":"price","securityId":"TOYOTA","last":"1880","previousClose":"2100","ts":"2026-11-25T03:00:00Z"}"#)
            ) { _ in }
            #expect(
                Self.codes(try await Self.validate(client, Self.order("j1", security: "TOYOTA", side: "SELL_SHORT", quantity: 10, price: "1880"))) == [
                    "PRICE_TEST_NOT_ABOVE_LAST"
                ])
            #expect(
                try await Self.validate(client, Self.order("j2", security: "TOYOTA", side: "SELL_SHORT", quantity: 10, price: "1881"))["decision"] as? String
                    == "APPROVED")
            // At the last trade only after an uptick: 1,880 → 1,890 (up), then 1,890 again (zero-plus: still up).
            try await client.execute(
                uri: "/api/v1/events", method: .post,
                body: ByteBuffer(
                    string: """
                        {"type":"price","securityId":"TOYOTA","last":"1890","previousClose":"2100","ts":"2026-11-25T03:01:00Z"}
                        {"type":"price","securityId":"TOYOTA","last":"1890","previousClose":"2100","ts":"2026-11-25T03:02:00Z"}
                        """)
            ) { _ in }
            #expect(
                try await Self.validate(client, Self.order("j3", security: "TOYOTA", side: "SELL_SHORT", quantity: 10, price: "1890"))["decision"] as? String
                    == "APPROVED")
            // Down to 1,885: at the last is refused (a minus tick), and the security shows the restriction.
            try await client.execute(
                uri: "/api/v1/events", method: .post,
                body: ByteBuffer(
                    string:
                        #"{"type":"price","securityId":"TOYOTA","last":"1885","previousClose":"2100","ts":"2026-11-25T03:03:00Z"}"#)
            ) { _ in }
            #expect(
                Self.codes(try await Self.validate(client, Self.order("j4", security: "TOYOTA", side: "SELL_SHORT", quantity: 10, price: "1885"))) == [
                    "PRICE_TEST_NOT_ABOVE_LAST"
                ])
            let toyota = try await client.execute(uri: "/api/v1/securities/TOYOTA", method: .get) {
                try JSONSerialization.jsonObject(with: Data($0.body.readableBytesView)) as? [String: Any] ?? [:]
            }
            #expect(toyota["tickDirection"] as? String == "DOWN" && toyota["shortSaleRestrictedThrough"] as? String == "2026-11-26", "\(toyota)")
            // The next business day (US: Friday 27th, after Thanksgiving): still restricted, with a new close.
            try await client.execute(
                uri: "/api/v1/events", method: .post,
                body: ByteBuffer(
                    string: """
                        {"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-27"}
                        {"type":"price","securityId":"IBM","last":"90","bid":"89.9","ask":"90.1","previousClose":"89","ts":"2026-11-27T15:00:00Z"}
                        """)
            ) { r in #expect(r.status == .ok) }
            try await client.execute(
                uri: "/api/v1/locates", method: .post,
                body: ByteBuffer(string: #"{"requestId":"l3","clientId":"C1","securityId":"IBM","quantity":5000,"side":"SHORT"}"#)
            ) { _ in }
            #expect(
                Self.codes(try await Self.validate(client, Self.order("u4", side: "SELL_SHORT", quantity: 10, price: "89.9"))) == ["PRICE_TEST_AT_OR_BELOW_BID"]
            )
            // The day after that (Monday 30th): no longer.
            try await client.execute(
                uri: "/api/v1/events", method: .post,
                body: ByteBuffer(
                    string: """
                        {"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-30"}
                        {"type":"price","securityId":"IBM","last":"90","bid":"89.9","ask":"90.1","previousClose":"90","ts":"2026-11-30T15:00:00Z"}
                        """)
            ) { r in #expect(r.status == .ok) }
            try await client.execute(
                uri: "/api/v1/locates", method: .post,
                body: ByteBuffer(string: #"{"requestId":"l4","clientId":"C1","securityId":"IBM","quantity":5000,"side":"SHORT"}"#)
            ) { _ in }
            let monday = try await Self.validate(client, Self.order("u5", side: "SELL_SHORT", quantity: 10, price: "89.9"))
            #expect(monday["decision"] as? String == "APPROVED", "\(monday)")
            let ibm = try await client.execute(uri: "/api/v1/securities/IBM", method: .get) {
                try JSONSerialization.jsonObject(with: Data($0.body.readableBytesView)) as? [String: Any] ?? [:]
            }
            #expect(ibm["shortSaleRestrictedThrough"] == nil, "no longer in force: \(ibm)")
        }
    }

    func get(_ client: any TestClientProtocol, _ path: String) async throws -> Any? {
        try await client.execute(uri: path, method: .get) { r -> Any? in try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) }
    }

    func post(_ client: any TestClientProtocol, _ events: String) async throws {
        try await client.execute(uri: "/api/v1/events", method: .post, body: ByteBuffer(string: events)) { r in
            #expect(r.status == .ok, "\(String(buffer: r.body))")
        }
    }

    static func sale(_ id: String, version: Int = 1, status: String = "NEW", order: String?, side: String = "SELL", quantity: Int, security: String = "IBM")
        -> String
    {
        let orderField = order.map { #","orderId":"\#($0)""# } ?? ""
        return
            #"{"type":"trade","tradeId":"\#(id)","version":\#(version),"status":"\#(status)"\#(orderField),"bookId":"C1-FREE","securityId":"\#(security)","side":"\#(side)","quantity":\#(quantity),"price":"100","tradeDate":"2026-11-25"}"#
    }

    /// A trade carrying an approved order's id turns what the order held into position: the limits count the
    /// sale once, through every version of the trade; a trade naming an order that holds nothing for it, or
    /// selling beyond it, is an `UNMATCHED_ORDER` exception.
    @Test func aTradeCarryingTheOrderIdTurnsTheReservationIntoPosition() async throws {
        try await withServer { client in
            let clientLimits = "/api/v1/limits/clients/C1?securityId=IBM", unitLimits = "/api/v1/limits/units/AU-US?securityId=IBM"
            #expect(try await Self.validate(client, Self.order("o1", side: "SELL", quantity: 200))["decision"] as? String == "APPROVED")
            #expect(try await limits(client, clientLimits).long == 300)
            #expect(try await limits(client, unitLimits).long == 2_300)
            func filled() async throws -> (Int?, [String]) {
                let o = try await get(client, "/api/v1/orders/o1") as? [String: Any] ?? [:]
                return (o["filledQuantity"] as? Int, (o["fills"] as? [[String: Any]] ?? []).map { "\($0["tradeId"] ?? "")=\($0["quantity"] ?? "")" })
            }
            // The sale executes: the position falls 200, the reservation leaves, the limits stay.
            try await post(client, Self.sale("T1", order: "o1", quantity: 200))
            #expect(try await limits(client, clientLimits).long == 300)
            #expect(try await limits(client, unitLimits).long == 2_300)
            #expect(try await filled() == (200, ["T1=200"]))
            // Amended to 150: 50 still held.
            try await post(client, Self.sale("T1", version: 2, status: "AMEND", order: "o1", quantity: 150))
            #expect(try await limits(client, clientLimits).long == 300)
            #expect(try await filled() == (150, ["T1=150"]))
            // Cancelled: the order holds its 200 again.
            try await post(client, Self.sale("T1", version: 3, status: "CANCEL", order: "o1", quantity: 150))
            #expect(try await limits(client, clientLimits).long == 300)
            #expect(try await filled() == (0, []))
            // A sale of 250 against it: 200 fill it, 50 were never approved (an exception), and the limit shows
            // what the position really is.
            try await post(client, Self.sale("T2", order: "o1", quantity: 250))
            #expect(try await filled() == (200, ["T2=200"]))
            #expect(try await limits(client, clientLimits).long == 250)
            // A trade naming an order that does not exist fills nothing.
            try await post(client, Self.sale("T3", order: "nope", quantity: 5))
            #expect(try await limits(client, clientLimits).long == 245)
            // A long sale needs no approval: neither raises an exception. A short sale does: one naming an
            // order that holds no approved short sale is UNMATCHED_ORDER.
            try await post(client, Self.sale("T4", order: "nope", side: "SELL_SHORT", quantity: 5))
            let exceptions = try await get(client, "/api/v1/exceptions?kind=UNMATCHED_ORDER") as? [[String: Any]] ?? []
            #expect(exceptions.map { $0["subject"] as? String } == ["T4"])
            #expect((exceptions.first?["message"] as? String ?? "").contains("holds no approved short sale"))
        }
    }

    /// A short sale uses the client's locate: once its order has executed the short-sell limit does not count
    /// it again; and a locate decremented at less than 100% (US easy-to-borrow, 0%) decrements what the
    /// client actually sells short against it (SPEC 4.4, "adjusted intraday as the client trades").
    @Test func shortSalesUseTheLocateAndAdjustTheDecrement() async throws {
        try await withServer { client in
            func locate(_ id: String, _ security: String, _ quantity: Int) async throws {
                try await client.execute(
                    uri: "/api/v1/locates", method: .post,
                    body: ByteBuffer(string: #"{"requestId":"\#(id)","clientId":"C1","securityId":"\#(security)","quantity":\#(quantity),"side":"SHORT"}"#)
                ) { r in #expect(r.status == .created) }
            }
            func decrement(_ security: String) async throws -> Int? {
                ((try await get(client, "/api/v1/inventory/\(security)") as? [String: Any])?["buckets"] as? [String: Any])?["LOCATE_DECREMENT"] as? Int ?? 0
            }
            try await locate("l1", "IBM", 1_000)
            #expect(try await decrement("IBM") == 1_000)
            #expect(try await Self.validate(client, Self.order("s1", side: "SELL_SHORT", quantity: 600))["decision"] as? String == "APPROVED")
            #expect(try await limits(client, "/api/v1/limits/clients/C1?securityId=IBM").short == 400)
            #expect(try await limits(client, "/api/v1/limits/units/AU-US?securityId=IBM").short == 4_400)
            try await post(client, Self.sale("S1", order: "s1", side: "SELL_SHORT", quantity: 600))
            #expect(try await limits(client, "/api/v1/limits/clients/C1?securityId=IBM").short == 400)
            // The unit's short limit keeps the filled sale (borrows and lender lines did not change): it does not
            // come back to be approved again.
            #expect(try await limits(client, "/api/v1/limits/units/AU-US?securityId=IBM").short == 4_400)
            #expect(try await decrement("IBM") == 1_000, "a 100% decrement already covers the sale")
            #expect(Self.codes(try await Self.validate(client, Self.order("s2", side: "SELL_SHORT", quantity: 500))) == ["CLIENT_SHORT_SELL_LIMIT"])

            // ETB: the locate decrements nothing until the client sells short against it.
            try await locate("l2", "ETB", 1_000)
            #expect(try await decrement("ETB") == 0)
            try await post(client, Self.sale("S2", order: nil, side: "SELL_SHORT", quantity: 300, security: "ETB"))
            #expect(try await decrement("ETB") == 300)
            #expect(try await limits(client, "/api/v1/limits/clients/C1?securityId=ETB").short == 700)
            // Short sales beyond the locate decrement only what was located.
            try await post(client, Self.sale("S3", order: nil, side: "SELL_SHORT", quantity: 900, security: "ETB"))
            #expect(try await decrement("ETB") == 1_000)
            #expect(try await limits(client, "/api/v1/limits/clients/C1?securityId=ETB").short == 0)
            // Cancelling a sale gives its use back.
            try await post(client, Self.sale("S3", version: 2, status: "CANCEL", order: nil, side: "SELL_SHORT", quantity: 900, security: "ETB"))
            #expect(try await decrement("ETB") == 300)
            // The day roll ends it all: locates expire, the day's short sales are yesterday's.
            try await post(client, #"{"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-27"}"#)
            #expect(try await decrement("ETB") == 0)
            #expect(try await decrement("IBM") == 0)
            #expect(try await limits(client, "/api/v1/limits/clients/C1?securityId=IBM").short == 0)
        }
    }
}
