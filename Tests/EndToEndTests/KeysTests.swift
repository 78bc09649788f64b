import Foundation
import Testing

/// API keys end to end: `ims keys` makes them, `ims serve --api-keys` demands them, and a key revoked by
/// `ims keys revoke` is refused by the running server within a couple of seconds.
@Suite(.serialized)
struct KeysTests {
    @Test func keysMadeByTheCommandGuardTheServer() throws {
        let dir = IMSProcess.freshDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let file = dir.appendingPathComponent("keys.json").path
        // No key yet: serve refuses the file.
        let empty = try IMSProcess.run(["keys", "list", "--file", file])
        #expect(empty.status == 0 && empty.out.isEmpty)
        let bad = try IMSProcess.run(["keys", "create", "--file", file, "--name", "x", "--role", "wizard"])
        #expect(bad.status != 0 && bad.err.contains("unknown role wizard"))
        let made = try IMSProcess.run(["keys", "create", "--file", file, "--name", "desk", "--role", "operator", "--role", "feed"])
        #expect(made.status == 0, "\(made.err)")
        let key = made.out.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(key.hasPrefix("ims_"))
        let listed = try IMSProcess.run(["keys", "list", "--file", file])
        #expect(listed.out.contains("desk") && listed.out.contains("feed,operator") && !listed.out.contains(key))

        let server = try IMSProcess.start(["--api-keys", file], dataDir: dir.appendingPathComponent("data"))
        defer { server.stop() }
        #expect(try IMSProcess.request(server, "GET", "/health/ready").status == 200, "health stays open")
        #expect(try IMSProcess.request(server, "GET", "/api/v1/positions").status == 401)
        #expect(try IMSProcess.request(server, "GET", "/api/v1/positions", headers: ["Authorization": "Bearer \(key)"]).status == 200)
        #expect(try IMSProcess.request(server, "POST", "/api/v1/rules/1/approve", headers: ["Authorization": "Bearer \(key)"]).status == 403)
        // The client commands sign in with IMS_API_KEY.
        let export = ["rules", "export", "--url", server.base]
        let anonymous = try IMSProcess.run(export)
        #expect(anonymous.status != 0 && anonymous.err.contains("HTTP 401"), "\(anonymous.err)")
        let signedIn = try IMSProcess.run(export, environment: ["IMS_API_KEY": key])
        #expect(signedIn.status == 0 && signedIn.out.contains("\"rules\""), "\(signedIn.err)")
        // The streams too: the WebSocket upgrade needs the key.
        func upgrade(_ authorization: String?) -> String {
            let connection = RawConnection(port: server.port)
            let auth = authorization.map { "Authorization: \($0)\r\n" } ?? ""
            connection.send(
                "GET /ws/position HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\(auth)\r\n"
            )
            return String(connection.readUntilClosed(seconds: 1).text.prefix(40))
        }
        #expect(upgrade(nil).hasPrefix("HTTP/1.1 401"), "\(upgrade(nil))")
        #expect(upgrade("Bearer \(key)").hasPrefix("HTTP/1.1 101"), "\(upgrade("Bearer \(key)"))")
        let keyId = String(key.split(separator: "_")[1])
        #expect(try IMSProcess.run(["keys", "revoke", "--file", file, keyId]).status == 0)
        var status = 0
        for _ in 0..<30 {
            status = try IMSProcess.request(server, "GET", "/api/v1/positions", headers: ["Authorization": "Bearer \(key)"]).status
            if status == 401 { break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect(status == 401, "the revoked key is refused by the running server")
    }

    /// Without keys `ims serve` does not start, unless told to run open, which its log says.
    @Test func serveRefusesToRunWithoutCredentialsUnlessToldTo() throws {
        let dir = IMSProcess.freshDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let refused = try IMSProcess.run(["serve", "--port", "0", "--data-dir", dir.path])
        #expect(refused.status != 0 && refused.err.contains("ims serve needs credentials: --api-keys FILE"), "\(refused.err)")
        #expect(!FileManager.default.fileExists(atPath: dir.path))
        let empty = dir.deletingLastPathComponent().appendingPathComponent(dir.lastPathComponent + "-keys.json")
        defer { try? FileManager.default.removeItem(at: empty) }
        try Data("[]".utf8).write(to: empty)
        let noKey = try IMSProcess.run(["serve", "--port", "0", "--data-dir", dir.path, "--api-keys", empty.path])
        #expect(noKey.status != 0 && noKey.err.contains("holds no active API key"), "\(noKey.err)")
        let log = dir.deletingLastPathComponent().appendingPathComponent(dir.lastPathComponent + ".log")
        defer { try? FileManager.default.removeItem(at: log) }
        let open = try IMSProcess.start(dataDir: dir, log: log) // the harness passes --insecure-no-auth
        #expect(try IMSProcess.request(open, "GET", "/api/v1/positions").status == 200)
        open.stop()
        #expect(String(decoding: try Data(contentsOf: log), as: UTF8.self).contains("authentication is off (--insecure-no-auth)"))
    }

    /// JWT alone is enough credentials to start; a token that does not verify is refused (the tokens
    /// themselves are checked in `AuthorizationTests.jwtBearerTokens`).
    @Test func serveStartsWithJWTAlone() throws {
        let dir = IMSProcess.freshDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let secret = dir.deletingLastPathComponent().appendingPathComponent(dir.lastPathComponent + ".secret")
        defer { try? FileManager.default.removeItem(at: secret) }
        try Data("short".utf8).write(to: secret)
        let weak = try IMSProcess.run(["serve", "--port", "0", "--data-dir", dir.path, "--jwt-secret-file", secret.path])
        #expect(weak.status != 0 && weak.err.contains("at least 32 bytes"), "\(weak.err)")
        try Data(String(repeating: "s", count: 48).utf8).write(to: secret)
        let log = dir.deletingLastPathComponent().appendingPathComponent(dir.lastPathComponent + ".log")
        defer { try? FileManager.default.removeItem(at: log) }
        let server = try IMSProcess.start(["--jwt-secret-file", secret.path, "--jwt-issuer", "desk-idp"], dataDir: dir, log: log)
        #expect(try IMSProcess.request(server, "GET", "/api/v1/positions").status == 401)
        #expect(try IMSProcess.request(server, "GET", "/api/v1/positions", headers: ["Authorization": "Bearer a.b.c"]).status == 401)
        server.stop()
        #expect(String(decoding: try Data(contentsOf: log), as: UTF8.self).contains("authentication: JWT bearer tokens"))
    }
}
