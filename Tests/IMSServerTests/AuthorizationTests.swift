import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IMSDomain
import IMSEngine
import IMSRuntime
import JWTKit
import Testing

@testable import IMSServer

/// SPEC 10: every route of the OpenAPI document, plus GraphQL and the streams, against every role and against
/// no, bad and revoked credentials. The route list comes from the served OpenAPI document, so a new route
/// without a rule in `AccessPolicy` fails here.
struct AuthorizationTests {
    /// Every (method, path) the API serves, parameters filled in.
    /// The routes whose body names the client a call acts for (checked by the handler on the decoded body).
    static func bodyOwned(_ method: HTTPRequest.Method, _ path: String) -> Bool {
        method == .post && (path == "/api/v1/locates" || path == "/api/v1/orders/validate" || (path.hasPrefix("/api/v1/locates/") && path.hasSuffix("/cancel")))
    }

    static func operations() throws -> [(method: HTTPRequest.Method, path: String)] {
        let document = try JSONSerialization.jsonObject(with: OpenAPIDocument.json) as! [String: Any]
        var out: [(HTTPRequest.Method, String)] = []
        for (path, item) in (document["paths"] as! [String: Any]).sorted(by: { $0.key < $1.key }) {
            let filled = path.replacingOccurrences(of: #"\{[^}]+\}"#, with: "X1", options: .regularExpression)
            for method in (item as! [String: Any]).keys.sorted() {
                guard let m = HTTPRequest.Method(method.uppercased()) else { continue }
                out.append((m, filled))
            }
        }
        out +=
            [(.get, "/graphql"), (.post, "/graphql"), (.get, "/openapi.json"), (.get, "/docs"), (.get, "/"), (.get, "/dashboard/app.js")]
            + StreamRegistry.names.map { (.get, "/ws/\($0)") } + [(.get, "/ws/decisions")]
        return out
    }

    /// Every route the router serves is in the OpenAPI document (or is one of the few that are not API
    /// operations) and has an access rule; the router's paths do not clash.
    @Test func everyServedRouteIsDocumentedAndHasARule() throws {
        let engine = Engine()
        defer { engine.stop() }
        var configuration = ServerConfiguration()
        configuration.dataDirectory = "/nonexistent" // asOf routes registered as a served engine's are
        let router = IMSApplication.router(engine: engine, configuration: configuration)
        try router.validate()
        let documented = Set(try Self.operations().map { "\($0.method) \($0.path)" })
        let notOperations: Set<String> = ["GET /", "GET /dashboard/X1", "GET /graphql", "POST /graphql", "GET /openapi.json", "GET /docs"]
        #expect(router.routes.count > 50)
        for route in router.routes {
            let template = "\(route.path)"
            let filled = template.split(separator: "/").map { $0.hasPrefix(":") || $0.hasPrefix("{") ? "X1" : String($0) }.joined(separator: "/")
            let key = "\(route.method) /\(filled)"
            #expect(
                documented.contains(key) || notOperations.contains(key),
                "\(route.method) \(template) is served but not in the OpenAPI document")
            #expect(AccessPolicy.rule(method: route.method, path: "/" + filled) != nil, "\(route.method) \(template) has no access rule")
        }
    }

    @Test func everyRouteHasARule() throws {
        let operations = try Self.operations()
        #expect(operations.count > 50)
        for (method, path) in operations {
            #expect(AccessPolicy.rule(method: method, path: path) != nil, "\(method) \(path) has no access rule")
        }
        // And every rule names something served.
        for rule in AccessPolicy.rules {
            #expect(operations.contains { rule.matches(method: $0.method, segments: $0.path.split(separator: "/")) }, "rule \(rule.template) matches no route")
        }
    }

    @Test func theMatrix() async throws {
        let keys = try APIKeyStore(file: nil)
        var made: [Role: String] = [:]
        for role in Role.allCases {
            made[role] = try keys.create(name: role.rawValue, roles: [role], clientId: role == .client ? "C1" : nil, at: Timestamp(micros: 0)).key
        }
        let byRole = made
        let revoked = try keys.create(name: "old", roles: Set(Role.allCases.filter { $0 != .client }), at: Timestamp(micros: 0))
        try keys.revoke(revoked.record.keyId, at: Timestamp(micros: 1))
        // Tokens too: each role's, valid, and an expired one (API keys do not expire; tokens do).
        let secret = String(repeating: "m", count: 40)
        let signer = JWTKeyCollection()
        await signer.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        func token(_ roles: [Role], expires: TimeInterval = 600) async throws -> String {
            try await signer.sign(
                IMSClaims(
                    sub: "matrix", exp: ExpirationClaim(value: Date().addingTimeInterval(expires)), iss: IssuerClaim(value: "ims"),
                    aud: AudienceClaim(value: ["ims"]), roles: roles.map(\.rawValue), clientId: roles == [.client] ? "C1" : nil))
        }
        var tokens: [Role: String] = [:]
        for role in Role.allCases { tokens[role] = try await token([role]) }
        let byToken = tokens
        let expired = try await token(Role.allCases, expires: -60)
        let engine = Engine()
        defer { engine.stop() }
        var configuration = ServerConfiguration()
        configuration.apiKeys = keys
        configuration.jwt = try await JWTVerifier(hs256Secret: secret, publicKeyPEM: nil, issuer: "ims", audience: "ims")
        let app = Application(router: IMSApplication.router(engine: engine, configuration: configuration))
        let operations = try Self.operations().filter { !$0.path.hasPrefix("/ws/") } // streams: over a socket below
        try await app.test(.router) { client in
            func call(_ method: HTTPRequest.Method, _ path: String, key: String?, body: String = "{}") async throws -> HTTPResponse.Status {
                var headers = HTTPFields()
                if let key { headers[.authorization] = "Bearer \(key)" }
                return try await client.execute(uri: path, method: method, headers: headers, body: ByteBuffer(string: body)) { $0.status }
            }
            let sequence = engine.readModel.read { $0.lastSequence }
            var refused = 0
            for (method, path) in operations {
                let rule = try #require(AccessPolicy.rule(method: method, path: path))
                if rule.access == .open {
                    #expect(try await call(method, path, key: nil) != .unauthorized, "\(method) \(path) is open")
                    continue
                }
                for key in [nil, "ims_nope_nope", "garbage", revoked.key, expired] {
                    #expect(try await call(method, path, key: key) == .unauthorized, "\(method) \(path) with \(key ?? "no key")")
                    refused += 1
                }
                guard case .roles(let allowed, let ownership) = rule.access else { continue }
                for role in Role.allCases where !allowed.contains(role) {
                    #expect(try await call(method, path, key: byRole[role]) == .forbidden, "\(method) \(path) as \(role)")
                    #expect(try await call(method, path, key: byToken[role]) == .forbidden, "\(method) \(path) as \(role) with a token")
                    refused += 2
                }
                // A client acting for another client is refused too (by the policy from the path, by the handler
                // from the decoded body).
                if allowed.contains(.client), ownership != nil || Self.bodyOwned(method, path) {
                    #expect(
                        try await call(method, path, key: byRole[.client], body: #"{"clientId":"C2"}"#) == .forbidden, "\(method) \(path) for another client")
                }
            }
            #expect(refused > 250)
            #expect(engine.readModel.read { $0.lastSequence } == sequence, "nothing was applied on a 401 or 403")
            // The allowed ones get through (whatever the route then says of the empty body).
            for (method, path) in operations {
                guard case .roles(let allowed, let ownership)? = AccessPolicy.rule(method: method, path: path)?.access else { continue }
                for role in allowed {
                    let body = role == .client && (ownership != nil || Self.bodyOwned(method, path)) ? #"{"clientId":"C1"}"# : "{}"
                    let target = path == "/api/v1/limits/clients/X1" && role == .client ? "/api/v1/limits/clients/C1" : path
                    for credential in [byRole[role], byToken[role]] {
                        let status = try await call(method, target, key: credential, body: body)
                        #expect(status != .unauthorized && status != .forbidden, "\(method) \(path) as \(role): \(status)")
                    }
                }
            }
            // The refusals say why.
            try await client.execute(uri: "/api/v1/locates/L1/decision", method: .post, headers: [.authorization: "Bearer \(byRole[.client]!)"]) { r in
                let body = String(buffer: r.body)
                #expect(r.status == .forbidden && body.contains("needs the role operator") && body.contains(#""field":"role""#), "\(body)")
            }
            try await client.execute(uri: "/api/v1/positions", method: .get) { r in
                #expect(r.status == .unauthorized && r.headers[.wwwAuthenticate] != nil && String(buffer: r.body).contains("missing credentials"))
            }
            // X-API-Key works as well as the bearer header.
            try await client.execute(uri: "/api/v1/positions", method: .get, headers: [HTTPField.Name("X-API-Key")!: byRole[.operator]!]) { r in
                #expect(r.status == .ok)
            }
            // Who am I: the dashboard offers only what these roles may do.
            try await client.execute(uri: "/api/v1/me", method: .get, headers: [.authorization: "Bearer \(byRole[.client]!)"]) { r in
                let me = try JSONSerialization.jsonObject(with: Data(String(buffer: r.body).utf8)) as? [String: Any]
                #expect(
                    me?["roles"] as? [String] == ["client"] && me?["clientId"] as? String == "C1" && me?["authenticated"] as? Bool == true,
                    "\(String(describing: me))")
            }
            try await client.execute(uri: "/api/v1/me", method: .get, headers: [.authorization: "Bearer \(byToken[.approver]!)"]) { r in
                let me = try JSONSerialization.jsonObject(with: Data(String(buffer: r.body).utf8)) as? [String: Any]
                #expect(
                    me?["roles"] as? [String] == ["approver"] && me?["clientId"] == nil && (me?["subject"] as? String)?.contains("matrix") == true,
                    "\(String(describing: me))")
            }
        }
    }

    /// The presented credential and the stored hash, read the fast way, agree with the plain definitions.
    @Test func credentialsAndHashesReadExactly() {
        #expect(AccessPolicy.credential(authorization: "Bearer ims_a_b", apiKey: nil) == "ims_a_b")
        #expect(AccessPolicy.credential(authorization: "bearer \tims_a_b  ", apiKey: "other") == "ims_a_b", "the scheme in any case, spaces trimmed")
        #expect(AccessPolicy.credential(authorization: "BEARER x", apiKey: nil) == "x")
        #expect(AccessPolicy.credential(authorization: "Basic dXNlcjpwdw==", apiKey: "k") == nil, "another scheme is not a key")
        #expect(AccessPolicy.credential(authorization: "Bearer", apiKey: nil) == nil)
        #expect(AccessPolicy.credential(authorization: "Bearer   ", apiKey: nil) == nil)
        #expect(AccessPolicy.credential(authorization: "Bearerx abc", apiKey: nil) == nil)
        #expect(AccessPolicy.credential(authorization: nil, apiKey: "ims_k") == "ims_k")
        // SHA-256 of "salt:secret" in lowercase hex (as the keys file has always kept it).
        #expect(APIKeyStore.hash("abc", salt: "00ff") == "ac344de95e93d9e95bf95791f9a0859ee5d4a027b43660024e22781d91da056a")
    }

    @Test func keysAreStoredHashedAndSurviveARestart() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ims-keys-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("api-keys.json")
        let store = try APIKeyStore(file: file)
        let made = try store.create(name: "desk", roles: [.operator, .approver], at: Timestamp(micros: 5))
        let text = try String(contentsOf: file, encoding: .utf8)
        let secret = String(made.key.split(separator: "_")[2])
        #expect(!text.contains(secret) && text.contains(made.record.keyId), "the file holds the id and a hash, never the secret")
        let attributes = try FileManager.default.attributesOfItem(atPath: file.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let reopened = try APIKeyStore(file: file)
        #expect(reopened.identity(forKey: made.key)?.roles == [.operator, .approver])
        #expect(reopened.identity(forKey: made.key.dropLast() + (made.key.last == "0" ? "1" : "0")) == nil, "a mistyped secret is refused")
        try reopened.revoke(made.record.keyId, at: Timestamp(micros: 6))
        #expect(try APIKeyStore(file: file).identity(forKey: made.key) == nil, "revoked, also after a restart")
        #expect(throws: APIKeyError.self) { try reopened.revoke(made.record.keyId, at: Timestamp(micros: 7)) }
        #expect(throws: APIKeyError.self) { try reopened.create(name: "c", roles: [.client], at: Timestamp(micros: 8)) }
        #expect(throws: APIKeyError.self) { try reopened.create(name: "none", roles: [], at: Timestamp(micros: 8)) }
    }

    func with(_ c: IMSClaims, _ change: (inout IMSClaims) -> Void) -> IMSClaims {
        var c = c
        change(&c)
        return c
    }

    /// A token cannot choose how it is checked: with only an ES256 public key configured, an HS256 token (signed
    /// with the public key's text as its secret, the classic confusion) and an RS256 header are refused.
    @Test func aTokensAlgorithmMustBeTheConfiguredKeys() async throws {
        let ecKey = ES256PrivateKey()
        let pem = ecKey.publicKey.pemRepresentation
        let verifier = try await JWTVerifier(hs256Secret: nil, publicKeyPEM: pem, issuer: "ims", audience: "ims")
        let claims = IMSClaims(
            sub: "alice", exp: ExpirationClaim(value: Date().addingTimeInterval(600)), iss: IssuerClaim(value: "ims"),
            aud: AudienceClaim(value: ["ims"]), roles: ["operator"])
        let es = JWTKeyCollection(), hs = JWTKeyCollection()
        await es.add(ecdsa: ecKey)
        await hs.add(hmac: HMACKey(from: pem), digestAlgorithm: .sha256)
        guard case .success = await verifier.identity(forToken: try await es.sign(claims)) else { Issue.record("ES256 refused"); return }
        guard case .failure(let why) = await verifier.identity(forToken: try await hs.sign(claims)) else { Issue.record("HS256 accepted"); return }
        #expect(why.description.contains("HS256 tokens are not accepted"))
        let signed = try await es.sign(claims).split(separator: ".")
        let rsHeader = Data(#"{"alg":"RS256","typ":"JWT"}"#.utf8).base64EncodedString().replacingOccurrences(of: "=", with: "")
        guard case .failure(let rs) = await verifier.identity(forToken: rsHeader + "." + signed[1] + "." + signed[2]) else {
            Issue.record("RS256 accepted"); return
        }
        #expect(rs.description.contains("RS256 tokens are not accepted"))
        await #expect(throws: APIKeyError.self) { _ = try await JWTVerifier(hs256Secret: nil, publicKeyPEM: pem, issuer: "i", audience: "a", maxLifetime: 0) }
    }

    /// JWT bearer tokens (jwt-kit): HS256 with a shared secret, ES256 with a public key; signature, expiry,
    /// issuer and audience checked; the token's roles and client decide as a key's would.
    @Test func jwtBearerTokens() async throws {
        let secret = String(repeating: "k", count: 40)
        let ecKey = ES256PrivateKey()
        let verifier = try await JWTVerifier(hs256Secret: secret, publicKeyPEM: ecKey.publicKey.pemRepresentation, issuer: "desk-idp", audience: "ims")
        let hs = JWTKeyCollection(), es = JWTKeyCollection(), other = JWTKeyCollection()
        await hs.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        await es.add(ecdsa: ecKey)
        await other.add(hmac: HMACKey(from: String(repeating: "x", count: 40)), digestAlgorithm: .sha256)
        func claims(_ roles: [String], client: String? = nil, expires: TimeInterval = 600, issuer: String = "desk-idp", audience: String = "ims") -> IMSClaims {
            IMSClaims(
                sub: "alice", exp: ExpirationClaim(value: Date().addingTimeInterval(expires)), iss: IssuerClaim(value: issuer),
                aud: AudienceClaim(value: [audience]), roles: roles, clientId: client)
        }
        let cases: [(String, String, String, HTTPResponse.Status?)] = [
            ("operator HS256", try await hs.sign(claims(["operator"])), "/api/v1/positions", .ok),
            ("approver ES256", try await es.sign(claims(["approver"])), "/api/v1/positions", .ok),
            ("expired", try await hs.sign(claims(["operator"], expires: -60)), "/api/v1/positions", .unauthorized),
            ("another issuer", try await hs.sign(claims(["operator"], issuer: "elsewhere")), "/api/v1/positions", .unauthorized),
            ("another audience", try await hs.sign(claims(["operator"], audience: "billing")), "/api/v1/positions", .unauthorized),
            ("another secret", try await other.sign(claims(["operator"])), "/api/v1/positions", .unauthorized),
            ("an unknown role", try await hs.sign(claims(["wizard"])), "/api/v1/positions", .unauthorized),
            ("not a token", "abc.def.ghi", "/api/v1/positions", .unauthorized),
            ("feed reading", try await hs.sign(claims(["feed"])), "/api/v1/positions", .forbidden),
            ("client's own limits", try await es.sign(claims(["client"], client: "CL1")), "/api/v1/limits/clients/CL1", nil),
            ("another client's limits", try await es.sign(claims(["client"], client: "CL1")), "/api/v1/limits/clients/CL2", .forbidden),
            // A client token must name its client (a client without one would act for no client anyway).
            ("a client without a client id", try await es.sign(claims(["client"])), "/api/v1/limits/clients/CL1", .unauthorized),
            // Lifetimes and dates (issue 25): exp 1e16 killed the server when it opened a stream.
            ("exp 1e16", try await hs.sign(claims(["operator"], expires: 1e16)), "/api/v1/positions", .unauthorized),
            ("two days", try await hs.sign(claims(["operator"], expires: 2 * 86_400)), "/api/v1/positions", .unauthorized),
            (
                "nbf in an hour", try await hs.sign(with(claims(["operator"])) { $0.nbf = NotBeforeClaim(value: Date().addingTimeInterval(3_600)) }),
                "/api/v1/positions", .unauthorized
            ),
            (
                "iat in an hour", try await hs.sign(with(claims(["operator"])) { $0.iat = IssuedAtClaim(value: Date().addingTimeInterval(3_600)) }),
                "/api/v1/positions", .unauthorized
            ),
            (
                "iat two days before exp",
                try await hs.sign(with(claims(["operator"])) { $0.iat = IssuedAtClaim(value: Date().addingTimeInterval(-2 * 86_400)) }), "/api/v1/positions",
                .unauthorized
            ),
            (
                "nbf and iat now",
                try await hs.sign(
                    with(claims(["operator"])) {
                        $0.nbf = NotBeforeClaim(value: Date()); $0.iat = IssuedAtClaim(value: Date())
                    }), "/api/v1/positions", .ok
            ),
            ("an empty sub", try await hs.sign(with(claims(["operator"])) { $0.sub = SubjectClaim(value: " ") }), "/api/v1/positions", .unauthorized),
        ]
        let keys = try APIKeyStore(file: nil)
        let key = try keys.create(name: "ops", roles: [.operator], at: Timestamp(micros: 0)).key
        let engine = Engine()
        defer { engine.stop() }
        var configuration = ServerConfiguration()
        configuration.apiKeys = keys
        configuration.jwt = verifier
        let app = Application(router: IMSApplication.router(engine: engine, configuration: configuration))
        try await app.test(.router) { client in
            for (name, token, path, expected) in cases {
                try await client.execute(uri: path, method: .get, headers: [.authorization: "Bearer \(token)"]) { r in
                    if let expected {
                        #expect(r.status == expected, "\(name): \(String(buffer: r.body))")
                    } else {
                        #expect(r.status != .unauthorized && r.status != .forbidden, "\(name): \(String(buffer: r.body))")
                    }
                    if name == "expired" { #expect(String(buffer: r.body).contains("expired")) }
                }
            }
            // Keys still work beside tokens.
            try await client.execute(uri: "/api/v1/positions", method: .get, headers: [.authorization: "Bearer \(key)"]) { r in #expect(r.status == .ok) }
        }
        await #expect(throws: APIKeyError.self) { _ = try await JWTVerifier(hs256Secret: "short", publicKeyPEM: nil, issuer: "i", audience: "a") }
    }

    /// Each identity has its own rate: beyond it, 429 with `Retry-After`, and the others are unaffected.
    @Test func perIdentityRateLimits() async throws {
        let limiter = RateLimiter(rate: 2, burst: 3)
        #expect(limiter.take("a", now: 0) == nil && limiter.take("a", now: 0) == nil && limiter.take("a", now: 0) == nil)
        #expect(limiter.take("a", now: 0) == 1, "the burst is spent: one more in half a second, said as 1 s")
        #expect(limiter.take("b", now: 0) == nil, "another identity has its own bucket")
        #expect(limiter.take("a", now: 500_000_000) == nil, "refilled at 2 a second")

        let keys = try APIKeyStore(file: nil)
        let busy = try keys.create(name: "busy", roles: [.operator], at: Timestamp(micros: 0)).key
        let calm = try keys.create(name: "calm", roles: [.operator], at: Timestamp(micros: 0)).key
        let engine = Engine()
        defer { engine.stop() }
        var configuration = ServerConfiguration()
        configuration.apiKeys = keys
        configuration.rateLimiter = RateLimiter(rate: 1, burst: 5, clock: { 0 }) // time stands still: no refill
        let app = Application(router: IMSApplication.router(engine: engine, configuration: configuration))
        try await app.test(.router) { client in
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<7 {
                try await client.execute(uri: "/api/v1/positions", method: .get, headers: [.authorization: "Bearer \(busy)"]) { r in
                    statuses.append(r.status)
                    if r.status == .tooManyRequests {
                        #expect(r.headers[.retryAfter] == "1" && String(buffer: r.body).contains(#""field":"rate""#))
                    }
                }
            }
            #expect(statuses.prefix(5).allSatisfy { $0 == .ok } && statuses.suffix(2).allSatisfy { $0 == .tooManyRequests }, "\(statuses)")
            try await client.execute(uri: "/api/v1/positions", method: .get, headers: [.authorization: "Bearer \(calm)"]) { r in #expect(r.status == .ok) }
            // Health stays open, unlimited.
            for _ in 0..<10 { try await client.execute(uri: "/health/live", method: .get) { r in #expect(r.status == .ok) } }
        }
    }
}
