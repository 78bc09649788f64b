import Foundation
import Hummingbird
import HummingbirdTesting
import IMSEngine
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
}
