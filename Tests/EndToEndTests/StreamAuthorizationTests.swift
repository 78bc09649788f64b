import Foundation
import JWTKit
import Testing

/// The streams' part of the authorization matrix (issue 15), over real sockets to the real binary: every
/// stream × every role × no, bad, revoked and expired credentials, with API keys and with JWT bearer
/// tokens. Each upgrade must be answered 101, 401 or 403 with IMS's JSON body, tokens as keys.
@Suite(.serialized)
struct StreamAuthorizationTests {
    struct Claims: JWTPayload {
        var sub: SubjectClaim
        var exp: ExpirationClaim
        var iss: IssuerClaim
        var aud: AudienceClaim
        var roles: [String]
        var clientId: String?
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    /// Who may open each stream: a client to its own data on all but the exceptions; staff everywhere; feed nowhere.
    static let allowed: [String: Set<String>] = [
        "position": ["client", "operator", "approver", "admin"], "market-data": ["client", "operator", "approver", "admin"],
        "inventory": ["client", "operator", "approver", "admin"], "locate": ["client", "operator", "approver", "admin"],
        "exceptions": ["operator", "approver", "admin"],
    ]
    static let roles = ["client", "operator", "approver", "admin", "feed"]

    @Test func everyStreamEveryRoleEveryCredential() async throws {
        let keyFile = try IMSProcess.keyFile()
        let dir = keyFile.dir, file = keyFile.path
        func key(_ name: String, _ role: String) throws -> String { try keyFile.make(name, [role], client: role == "client" ? "CL1" : nil).key }
        var keys: [String: String] = [:]
        for role in Self.roles { keys[role] = try key(role, role) }
        let revoked = try key("old", "admin")
        #expect(try IMSProcess.run(["keys", "revoke", "--file", file, String(revoked.split(separator: "_")[1])]).status == 0)
        let secret = String(repeating: "s", count: 48)
        let secretFile = dir.appendingPathComponent("jwt.secret")
        try secret.write(to: secretFile, atomically: true, encoding: .utf8)
        let signer = JWTKeyCollection()
        await signer.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        func token(_ roles: [String], expires: TimeInterval = 600) async throws -> String {
            try await signer.sign(
                Claims(
                    sub: SubjectClaim(value: "matrix"), exp: ExpirationClaim(value: Date().addingTimeInterval(expires)),
                    iss: IssuerClaim(value: "ims"), aud: AudienceClaim(value: ["ims"]), roles: roles,
                    clientId: roles == ["client"] ? "CL1" : nil))
        }
        var tokens: [String: String] = [:]
        for role in Self.roles { tokens[role] = try await token([role]) }
        let expired = try await token(["admin"], expires: -60)

        let temporary = try keyFile.make("temp", ["operator"])
        let server = try IMSProcess.start(
            ["--api-keys", file, "--jwt-secret-file", secretFile.path, "--stream-heartbeat-ms", "500"],
            dataDir: dir.appendingPathComponent("data"))
        defer { server.stop() }
        func upgrade(_ stream: String, _ credential: String?) -> String {
            let connection = RawConnection(port: server.port)
            connection.send(
                "GET /ws/\(stream) HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                    + (credential.map { "Authorization: Bearer \($0)\r\n" } ?? "") + "\r\n")
            let head = connection.readHead(seconds: 5)
            if !head.hasPrefix("HTTP/1.1 101") { return head + connection.readUntilClosed(seconds: 2).text }
            return head
        }
        var answered = 0
        for stream in Self.allowed.keys.sorted() {
            for (name, credential) in [
                ("none", nil), ("garbage", "garbage"), ("unknown key", "ims_nope_nope"), ("revoked key", revoked),
                ("expired token", expired), ("bad token", "eyJhbGciOiJIUzI1NiJ9.e30.AAAA"),
            ] as [(String, String?)] {
                let answer = upgrade(stream, credential)
                #expect(answer.hasPrefix("HTTP/1.1 401") && answer.contains(#""field":"Authorization""#), "\(stream) with \(name): \(answer)")
                answered += 1
            }
            for role in Self.roles {
                for (kind, credential) in [("key", keys[role]!), ("token", tokens[role]!)] {
                    let answer = upgrade(stream, credential)
                    if Self.allowed[stream]!.contains(role) {
                        #expect(answer.hasPrefix("HTTP/1.1 101"), "\(stream) as \(role) with a \(kind): \(answer)")
                    } else {
                        #expect(answer.hasPrefix("HTTP/1.1 403") && answer.contains("needs the role"), "\(stream) as \(role) with a \(kind): \(answer)")
                    }
                    answered += 1
                }
            }
        }
        #expect(answered == 5 * (6 + 10))
        // A browser cannot set headers on a WebSocket: the key may come as ?access_token= on a stream.
        func upgrade(query: String) -> String {
            let connection = RawConnection(port: server.port)
            connection.send(
                "GET /ws/position?\(query) HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
            return connection.readHead(seconds: 5)
        }
        #expect(upgrade(query: "access_token=\(keys["operator"]!)").hasPrefix("HTTP/1.1 101"))
        #expect(upgrade(query: "access_token=\(tokens["operator"]!)").hasPrefix("HTTP/1.1 101"))
        #expect(upgrade(query: "access_token=\(keys["feed"]!)").hasPrefix("HTTP/1.1 403"))
        #expect(upgrade(query: "access_token=\(expired)").hasPrefix("HTTP/1.1 401"))
        #expect(upgrade("position", expired).contains("expired"), "the refusal says why")

        // A stream opened with a token ends when the token does: an error naming the token, then close code
        // 1008; a stream opened with a key (valid until revoked) stays open.
        let shortLived = try await token(["operator"], expires: 2)
        let onToken = StreamProbe("ws://127.0.0.1:\(server.port)/ws/position", key: shortLived)
        let onKey = StreamProbe("ws://127.0.0.1:\(server.port)/ws/position", key: keys["operator"]!)
        defer { onToken.close(); onKey.close() }
        for probe in [onToken, onKey] {
            probe.send(#"{"action":"subscribe","filter":{}}"#)
            #expect(!probe.wait { !$0.ofType("snapshotComplete").isEmpty }.ofType("snapshotComplete").isEmpty)
        }
        let ended = onToken.wait(seconds: 8) { !$0.ofType("error").isEmpty }.ofType("error").first
        #expect(ended?["field"] as? String == "token" && (ended?["error"] as? String)?.contains("expired") == true, "\(String(describing: ended))")
        let deadline = Date().addingTimeInterval(3)
        while onToken.closeCode == nil && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(onToken.closeCode == 1008)
        #expect(
            onKey.closeCode == nil && onKey.messages.ofType("error").isEmpty,
            "the key's stream: closed \(String(describing: onKey.closeCode)), \(onKey.messages.filter { $0["type"] as? String != "heartbeat" }.suffix(3))")

        // A key revoked while its stream is open: the stream is told and closed (1008) within a few heartbeats;
        // another key's stream stays open.
        let onTemporary = StreamProbe("ws://127.0.0.1:\(server.port)/ws/position", key: temporary.key)
        defer { onTemporary.close() }
        onTemporary.send(#"{"action":"subscribe","filter":{}}"#)
        #expect(!onTemporary.wait { !$0.ofType("snapshotComplete").isEmpty }.ofType("snapshotComplete").isEmpty)
        #expect(try IMSProcess.run(["keys", "revoke", "--file", file, String(temporary.key.split(separator: "_")[1])]).status == 0)
        let revokedNotice = onTemporary.wait(seconds: 8) { !$0.ofType("error").isEmpty }.ofType("error").first
        #expect(
            revokedNotice?["field"] as? String == "Authorization" && (revokedNotice?["error"] as? String)?.contains("revoked") == true,
            "\(String(describing: revokedNotice))")
        let closing = Date().addingTimeInterval(3)
        while onTemporary.closeCode == nil && Date() < closing { try await Task.sleep(for: .milliseconds(50)) }
        #expect(onTemporary.closeCode == 1008)
        #expect(
            onKey.closeCode == nil && onKey.messages.ofType("error").isEmpty,
            "the key's stream: closed \(String(describing: onKey.closeCode)), \(onKey.messages.filter { $0["type"] as? String != "heartbeat" }.suffix(3))")
    }
}
