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
            try await client.execute(uri: "/api/v1/events", method: .post, body: ByteBuffer(string: Self.setup)) { r in #expect(r.status == .ok, "\(String(buffer: r.body))") }
            try await body(client)
        }
    }

    func limits(_ client: any TestClientProtocol, _ path: String) async throws -> (long: Int?, short: Int?) {
        try await client.execute(uri: path, method: .get) { r in
            let rows = try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as? [[String: Any]] ?? []
            return (rows.first?["longSellLimit"] as? Int, rows.first?["shortSellLimit"] as? Int)
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
            let other = try await Self.validate(client, #"{"orderId":"o3","clientId":"C2","bookId":"C1-FREE","securityId":"IBM","side":"SELL","quantity":10,"price":"1"}"#)
            #expect(Self.codes(other) == ["BOOK_NOT_CLIENTS", "CLIENT_LONG_SELL_LIMIT"])
        }
    }

    @Test func shortSalesNeedALocateAndEveryFailedCheckIsListed() async throws {
        try await withServer { client in
            let naked = try await Self.validate(client, Self.order("s1", side: "SELL_SHORT", quantity: 600))
            #expect(naked["decision"] as? String == "REJECTED" && Self.codes(naked) == ["CLIENT_SHORT_SELL_LIMIT", "LOCATE_REQUIRED"])
            try await client.execute(uri: "/api/v1/locates", method: .post, body: ByteBuffer(string: #"{"requestId":"l1","clientId":"C1","securityId":"IBM","quantity":1000,"side":"SHORT"}"#)) { r in #expect(r.status == .created) }
            let covered = try await Self.validate(client, Self.order("s2", side: "SELL_SHORT", quantity: 600))
            #expect(covered["decision"] as? String == "APPROVED", "\(covered)")
            #expect(try await limits(client, "/api/v1/limits/clients/C1?securityId=IBM").short == 400)
            // The unit's short limit: lender lines 5,000 less the 600 approved.
            #expect(try await limits(client, "/api/v1/limits/units/AU-US?securityId=IBM").short == 4_400)
            // The market roll expires the day's approvals: the limits come back (the locate expires too).
            try await client.execute(uri: "/api/v1/events", method: .post, body: ByteBuffer(string: #"{"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-27"}"#)) { _ in }
            #expect(try await client.execute(uri: "/api/v1/orders/s2", method: .get) { try JSONSerialization.jsonObject(with: Data($0.body.readableBytesView)) as? [String: Any] }?["decision"] as? String == "EXPIRED")
            #expect(try await limits(client, "/api/v1/limits/units/AU-US?securityId=IBM").short == 5_000)
        }
    }

    @Test func marketRules() async throws {
        try await withServer { client in
            // Korea: pre-borrow. The unit has 300 borrowed; a locate (its pool is the pre-borrowed shares) of 250.
            try await client.execute(uri: "/api/v1/locates", method: .post, body: ByteBuffer(string: #"{"requestId":"k1","clientId":"C1","securityId":"SAMSUNG","quantity":250,"side":"SHORT"}"#)) { r in #expect(r.status == .created) }
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
            for (body, field) in [(#"{"clientId":"C1","bookId":"FIRM","securityId":"IBM","side":"SELL","quantity":1}"#, "orderId"),
                                  (Self.order("bad", side: "BUY", quantity: 1), "side"),
                                  (Self.order("bad", side: "SELL", quantity: 0), "quantity")] {
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
            try await client.execute(uri: "/api/v1/events", method: .post, body: ByteBuffer(string: setup)) { r in #expect(r.status == .ok, "\(String(buffer: r.body))") }
            for (id, security) in [("l1", "IBM"), ("l2", "TOYOTA")] {
                try await client.execute(uri: "/api/v1/locates", method: .post, body: ByteBuffer(string: #"{"requestId":"\#(id)","clientId":"C1","securityId":"\#(security)","quantity":5000,"side":"SHORT"}"#)) { r in #expect(r.status == .created) }
            }
            // A 5% fall: no restriction; a short at the bid passes.
            #expect(try await Self.validate(client, Self.order("u0", side: "SELL_SHORT", quantity: 10, price: "94.9"))["decision"] as? String == "APPROVED")
            // IBM falls to 89 (11%): at or below the bid is refused, above it passes.
            try await client.execute(uri: "/api/v1/events", method: .post, body: ByteBuffer(string:
                #"{"type":"price","securityId":"IBM","last":"89","bid":"88.9","ask":"89.1","previousClose":"100","ts":"2026-11-25T16:00:00Z"}"#)) { _ in }
            #expect(Self.codes(try await Self.validate(client, Self.order("u1", side: "SELL_SHORT", quantity: 10, price: "88.9"))) == ["PRICE_TEST_AT_OR_BELOW_BID"])
            #expect(try await Self.validate(client, Self.order("u2", side: "SELL_SHORT", quantity: 10, price: "89"))["decision"] as? String == "APPROVED")
            // A long sale is not restricted.
            #expect(try await Self.validate(client, Self.order("u3", side: "SELL", quantity: 10, price: "80"))["decision"] as? String == "APPROVED")
            // Tokyo: 2,100 → 1,880 is a 10.5% fall: a short must be above the last trade.
            try await client.execute(uri: "/api/v1/events", method: .post, body: ByteBuffer(string:
                #"{"type":"price","securityId":"TOYOTA","last":"1880","previousClose":"2100","ts":"2026-11-25T03:00:00Z"}"#)) { _ in }
            #expect(Self.codes(try await Self.validate(client, Self.order("j1", security: "TOYOTA", side: "SELL_SHORT", quantity: 10, price: "1880"))) == ["PRICE_TEST_NOT_ABOVE_LAST"])
            #expect(try await Self.validate(client, Self.order("j2", security: "TOYOTA", side: "SELL_SHORT", quantity: 10, price: "1881"))["decision"] as? String == "APPROVED")
            // The next business day (US: Friday 27th, after Thanksgiving): still restricted, with a new close.
            try await client.execute(uri: "/api/v1/events", method: .post, body: ByteBuffer(string: """
                {"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-27"}
                {"type":"price","securityId":"IBM","last":"90","bid":"89.9","ask":"90.1","previousClose":"89","ts":"2026-11-27T15:00:00Z"}
                """)) { r in #expect(r.status == .ok) }
            try await client.execute(uri: "/api/v1/locates", method: .post, body: ByteBuffer(string: #"{"requestId":"l3","clientId":"C1","securityId":"IBM","quantity":5000,"side":"SHORT"}"#)) { _ in }
            #expect(Self.codes(try await Self.validate(client, Self.order("u4", side: "SELL_SHORT", quantity: 10, price: "89.9"))) == ["PRICE_TEST_AT_OR_BELOW_BID"])
            // The day after that (Monday 30th): no longer.
            try await client.execute(uri: "/api/v1/events", method: .post, body: ByteBuffer(string: """
                {"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-30"}
                {"type":"price","securityId":"IBM","last":"90","bid":"89.9","ask":"90.1","previousClose":"90","ts":"2026-11-30T15:00:00Z"}
                """)) { r in #expect(r.status == .ok) }
            try await client.execute(uri: "/api/v1/locates", method: .post, body: ByteBuffer(string: #"{"requestId":"l4","clientId":"C1","securityId":"IBM","quantity":5000,"side":"SHORT"}"#)) { _ in }
            let monday = try await Self.validate(client, Self.order("u5", side: "SELL_SHORT", quantity: 10, price: "89.9"))
            #expect(monday["decision"] as? String == "APPROVED", "\(monday)")
        }
    }
}
