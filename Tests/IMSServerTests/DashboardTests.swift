import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IMSDomain
import IMSRuntime
import Testing

@testable import IMSServer

/// The dashboard's files (issue 16): served from the binary at `/` and `/dashboard/<file>`, open (they hold no
/// data), with a content security policy; and the embedded copies are the files under www/.
struct DashboardTests {
    static let www = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources/IMSServer/Dashboard/www")

    @Test func theEmbeddedFilesAreTheSources() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.www.path).filter { !$0.hasPrefix(".") }.sorted()
        #expect(names == DashboardAssets.files.keys.sorted(), "run scripts/generate_dashboard.py")
        for name in names {
            var text = try String(contentsOf: Self.www.appendingPathComponent(name), encoding: .utf8)
            while text.hasSuffix("\n") { text.removeLast() }
            #expect(DashboardAssets.files[name]?.body == text, "\(name) differs from its embedded copy: run scripts/generate_dashboard.py")
        }
    }

    /// The streams' origin is the server's own, as the browser named it; a Host that is not a host name adds none.
    @Test func thePolicyNamesTheServersOwnOrigin() {
        #expect(SecurityHeaders.dashboardPolicy(host: "desk.example:8443").contains("connect-src 'self' ws://desk.example:8443 wss://desk.example:8443;"))
        #expect(SecurityHeaders.dashboardPolicy(host: "[::1]:8080").contains("ws://[::1]:8080"))
        #expect(!SecurityHeaders.dashboardPolicy(host: "evil.example; script-src *").contains("evil"))
        #expect(SecurityHeaders.dashboardPolicy(host: nil).contains("connect-src 'self';"))
    }

    @Test func servedOpenWithTheirTypes() async throws {
        let keys = try APIKeyStore(file: nil)
        _ = try keys.create(name: "desk", roles: [.operator], at: .init(micros: 0))
        let engine = Engine()
        defer { engine.stop() }
        var configuration = ServerConfiguration()
        configuration.apiKeys = keys
        let app = Application(router: IMSApplication.router(engine: engine, configuration: configuration))
        try await app.test(.router) { client in
            try await client.execute(uri: "/", method: .get) { r in
                #expect(r.status == .ok && r.headers[.contentType]?.hasPrefix("text/html") == true)
                #expect(String(buffer: r.body).contains(#"<script type="module" src="/dashboard/app.js">"#))
                let policy = r.headers[.contentSecurityPolicy] ?? ""
                for part in ["default-src 'self'", "form-action 'self'", "base-uri 'none'", "frame-ancestors 'none'"] {
                    #expect(policy.contains(part), "\(part) in \(policy)")
                }
                #expect(!policy.contains("ws: ") && !policy.contains("wss: "), "not every WebSocket origin")
            }
            // The API's readable page has a policy of its own: its one inline style and script, by hash.
            try await client.execute(uri: "/docs", method: .get) { r in
                let policy = r.headers[.contentSecurityPolicy] ?? ""
                #expect(policy.contains("script-src 'sha256-") && policy.contains("style-src 'sha256-") && policy.contains("default-src 'none'"), "\(policy)")
            }
            for (file, type) in [("app.js", "text/javascript"), ("grid.js", "text/javascript"), ("style.css", "text/css")] {
                try await client.execute(uri: "/dashboard/\(file)", method: .get) { r in
                    #expect(r.status == .ok && r.headers[.contentType]?.hasPrefix(type) == true, "\(file)")
                }
            }
            try await client.execute(uri: "/dashboard/secrets.json", method: .get) { r in #expect(r.status == .notFound) }
            // A key in the query string is for WebSocket upgrades only: elsewhere it is not a credential.
            let key = try keys.create(name: "q", roles: [.operator], at: .init(micros: 0)).key
            try await client.execute(uri: "/api/v1/positions?access_token=\(key)", method: .get) { r in #expect(r.status == .unauthorized) }
        }
    }
}
