import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IMSDomain
import IMSEngine
import IMSIngest
import IMSRuntime
import IMSServer
import Testing

/// The history routes and GraphQL fields on a server that keeps no history store: they say how to have one,
/// and bad parameters are named before any store is asked.
struct HistoryRouteTests {
    @Test func withoutAStoreTheRoutesAnswer501AndGraphQLNamesTheSetting() async throws {
        let engine = Engine()
        defer { engine.stop() }
        let app = Application(router: IMSApplication.router(engine: engine, configuration: ServerConfiguration()))
        try await app.test(.router) { client in
            for path in [
                "/api/v1/history/prices/AAPL", "/api/v1/history/positions?bookId=B", "/api/v1/history/inventory/AAPL",
                "/api/v1/history/locates", "/api/v1/history/orders",
            ] {
                try await client.execute(uri: path, method: .get) { r in
                    #expect(r.status == .notImplemented, "\(path)")
                    #expect(String(buffer: r.body).contains("--history"), "\(path)")
                }
            }
            let query = #"{"query":"{ priceHistory(securityId: \"AAPL\") { at close } }"}"#
            try await client.execute(uri: "/graphql", method: .post, body: ByteBuffer(string: query)) { r in
                #expect(r.status == .ok)
                #expect(String(buffer: r.body).contains("--history"))
            }
        }
    }

    /// A client key: the desk's history (prices, inventory) is refused, another client's locates and orders are
    /// refused naming clientId, another client's book is unknown; bad parameters are named before the store.
    @Test func aClientKeySeesOnlyItsOwnHistory() async throws {
        let engine = Engine()
        defer { engine.stop() }
        let setup = #"""
            {"type":"counterparty","counterpartyId":"C1","name":"Fund 1","kind":"CLIENT"}
            {"type":"counterparty","counterpartyId":"C2","name":"Fund 2","kind":"CLIENT"}
            {"type":"book","bookId":"B2","legalEntity":"PB-US","positionType":"CLIENT_FREE","clientId":"C2"}
            """#
        _ = try engine.submitAndWait(
            setup.utf8CString.withUnsafeBytes {
                IngestBatchForTests.decode(UnsafeRawBufferPointer(rebasing: $0.dropLast()))
            })
        let keys = try APIKeyStore(file: nil)
        let client = try keys.create(name: "c1", roles: [.client], clientId: "C1", at: Timestamp(micros: 0)).key
        var configuration = ServerConfiguration()
        configuration.apiKeys = keys
        let app = Application(router: IMSApplication.router(engine: engine, configuration: configuration))
        try await app.test(.router) { http in
            func get(_ path: String) async throws -> (HTTPResponse.Status, String) {
                try await http.execute(uri: path, method: .get, headers: [.authorization: "Bearer \(client)"]) { ($0.status, String(buffer: $0.body)) }
            }
            #expect(try await get("/api/v1/history/prices/AAPL").0 == .forbidden)
            #expect(try await get("/api/v1/history/inventory/AAPL").0 == .forbidden)
            for path in ["/api/v1/history/locates?clientId=C2", "/api/v1/history/orders?clientId=C2"] {
                let (status, body) = try await get(path)
                #expect(status == .forbidden && body.contains("clientId"), "\(path): \(status) \(body)")
            }
            let (status, body) = try await get("/api/v1/history/positions?bookId=B2")
            #expect(status == .notFound && body.contains("bookId"), "\(status) \(body)")
            // Its own: past the checks to the store (none here).
            #expect(try await get("/api/v1/history/locates").0 == .notImplemented)
            // Oversized or control characters, and times the store cannot hold: 400 naming the parameter.
            let long = String(repeating: "x", count: 300)
            for (path, field) in [
                ("/api/v1/history/locates?securityId=\(long)", "securityId"), ("/api/v1/history/orders?orderId=%01", "orderId"),
                ("/api/v1/history/locates?from=1800-01-01T00:00:00Z", "from"),
            ] {
                let (status, body) = try await get(path)
                #expect(status == .badRequest && body.contains("\"field\":\"\(field)\""), "\(path): \(status) \(body)")
            }
        }
    }
}

/// Decodes NDJSON as the events route does.
enum IngestBatchForTests {
    static func decode(_ bytes: UnsafeRawBufferPointer) -> IngestBatch {
        BatchDecoder.decodeNDJSON(bytes, receivedAt: Timestamp(micros: 1))
    }
}
