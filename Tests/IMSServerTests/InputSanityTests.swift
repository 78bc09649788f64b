import Foundation
import Hummingbird
import HummingbirdTesting
import IMSDomain
import IMSEngine
import IMSRuntime
import IMSServer
import Testing

/// Inputs dated sanely (issue 25): a tick far ahead of the server's clock, and a day roll to a day the market
/// does not trade, are refused naming the field; nothing of them is applied.
struct InputSanityTests {
    func post(_ client: any TestClientProtocol, _ body: String, mode: String = "atomic") async throws -> (status: HTTPResponse.Status, json: [String: Any]) {
        try await client.execute(uri: "/api/v1/events?mode=\(mode)", method: .post, body: ByteBuffer(string: body)) { r in
            (r.status, (try? JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as? [String: Any]) ?? [:])
        }
    }

    @Test func aTickDatedFarAheadIsRefusedNamingTs() async throws {
        let engine = Engine()
        defer { engine.stop() }
        let app = Application(router: IMSApplication.router(engine: engine, configuration: ServerConfiguration()))
        try await app.test(.router) { client in
            #expect(try await post(client, #"{"type":"security","securityId":"IBM","marketId":"US","currency":"USD"}"#).status == .ok)
            let soon = Timestamp(micros: Int64(Date().timeIntervalSince1970 * 1_000_000) + 60_000_000)
            let future = #"{"type":"price","securityId":"IBM","last":"100","ts":"2100-01-01T00:00:00Z"}"#
            let refused = try await post(client, future + "\n" + #"{"type":"price","securityId":"IBM","last":"99","ts":"\#(soon)"}"#)
            #expect(refused.status == .unprocessableContent)
            let lines = refused.json["rejected"] as? [[String: Any]] ?? []
            #expect(lines.count == 1 && lines[0]["line"] as? Int == 1 && lines[0]["field"] as? String == "ts", "\(refused.json)")
            #expect(engine.readModel.read { $0.security("IBM")?.lastPrice } == nil, "atomic: nothing applied")
            // Partial: the good tick (a minute ahead, within the tolerance) is applied, the far one is not.
            let partial = try await post(client, future + "\n" + #"{"type":"price","securityId":"IBM","last":"99","ts":"\#(soon)"}"#, mode: "partial")
            #expect(partial.status == .ok && partial.json["accepted"] as? Int == 1)
            #expect(engine.readModel.read { $0.security("IBM")?.lastPrice?.last } == Decimal8("99"))
        }
    }

    @Test func aDayRollToADayTheMarketDoesNotTradeIsRefused() async throws {
        let engine = Engine()
        defer { engine.stop() }
        let app = Application(router: IMSApplication.router(engine: engine, configuration: ServerConfiguration()))
        try await app.test(.router) { client in
            // 2026-11-28 is a Saturday; 2026-11-26 is Thanksgiving.
            for date in ["2026-11-28", "2026-11-26"] {
                let r = try await post(client, #"{"type":"marketDayRoll","marketId":"US","businessDate":"\#(date)"}"#)
                let line = (r.json["rejected"] as? [[String: Any]])?.first
                #expect(r.status == .unprocessableContent && line?["field"] as? String == "businessDate", "\(date): \(r.json)")
                #expect((line?["error"] as? String)?.contains("not a trading day") == true)
            }
            #expect(try await post(client, #"{"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-27"}"#).status == .ok)
        }
    }
}
