import Foundation
import JWTKit

/// The claims IMS reads from a bearer JWT: who (`sub`), until when (`exp`, required), from whom (`iss`),
/// for whom (`aud`), its `roles` and, for a client, its `clientId`.
struct IMSClaims: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim
    var iss: IssuerClaim?
    var aud: AudienceClaim?
    var nbf: NotBeforeClaim?
    var iat: IssuedAtClaim?
    var roles: [String]
    var clientId: String?

    func verify(using algorithm: some JWTAlgorithm) throws {
        try exp.verifyNotExpired()
    }
}

/// Checks JWT bearer tokens (SPEC 10) with the configured keys: an HS256 secret, and/or an RS256 or ES256
/// public key (PEM). The signature, the expiry, the issuer and the audience are checked; the token's
/// `roles` become the identity's roles (unknown roles are refused, not ignored).
public final class JWTVerifier: Sendable {
    /// The HS256 secret's collection and the public key's, apart: a token's `alg` header picks one (a
    /// collection holding both would try its default key on a token without `kid`).
    let hmac: JWTKeyCollection?
    let publicKey: JWTKeyCollection?
    /// The algorithm of the public key: `RS256` for an RSA key, `ES256` for a P-256 key. A token's `alg` must
    /// be this (or HS256 with the secret): a token cannot choose how it is checked.
    let publicKeyAlgorithm: String?
    let issuer: String
    let audience: String
    /// The longest a token may live (`exp` from now, and from its `iat`): a token signed to last for ever is
    /// refused, so a leaked one cannot be used for years, and no timer has to hold an absurd date.
    let maxLifetime: TimeInterval
    /// Clock skew allowed between the issuer and IMS, for `nbf` and `iat`.
    static let leeway: TimeInterval = 60

    /// - Parameters:
    ///   - hs256Secret: a shared secret for HS256, if any.
    ///   - publicKeyPEM: an RSA (RS256) or P-256 (ES256) public key, if any.
    ///   - maxLifetime: the longest lifetime a token may have, in seconds (default a day).
    public init(hs256Secret: String?, publicKeyPEM: String?, issuer: String, audience: String, maxLifetime: TimeInterval = 86_400) async throws {
        guard hs256Secret != nil || publicKeyPEM != nil else { throw APIKeyError("JWT needs an HS256 secret or a public key") }
        if let hs256Secret {
            guard hs256Secret.utf8.count >= 32 else { throw APIKeyError("the JWT HS256 secret must be at least 32 bytes") }
            let keys = JWTKeyCollection()
            await keys.add(hmac: HMACKey(from: hs256Secret), digestAlgorithm: .sha256)
            hmac = keys
        } else {
            hmac = nil
        }
        if let pem = publicKeyPEM {
            let keys = JWTKeyCollection()
            if let rsa = try? Insecure.RSA.PublicKey(pem: pem) {
                await keys.add(rsa: rsa, digestAlgorithm: .sha256)
                publicKeyAlgorithm = "RS256"
            } else if let ec = try? ES256PublicKey(pem: pem) {
                await keys.add(ecdsa: ec)
                publicKeyAlgorithm = "ES256"
            } else {
                throw APIKeyError("the JWT public key is neither an RSA nor a P-256 public key in PEM")
            }
            publicKey = keys
        } else {
            publicKey = nil
            publicKeyAlgorithm = nil
        }
        guard maxLifetime > 0, maxLifetime <= 366 * 86_400 else { throw APIKeyError("the JWT maximum lifetime must be between 1 s and a year") }
        self.maxLifetime = maxLifetime
        self.issuer = issuer
        self.audience = audience
    }

    /// The `alg` of a token's header, if it reads as one.
    static func algorithm(_ token: String) -> String? {
        guard let header = token.split(separator: ".", omittingEmptySubsequences: false).first else { return nil }
        var base64 = header.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return json["alg"] as? String
    }

    /// The identity a token proves, or why it proves none.
    func identity(forToken token: String) async -> Result<Identity, APIKeyError> {
        guard let alg = Self.algorithm(token) else { return .failure(APIKeyError("the bearer token is not valid: malformed")) }
        guard let keys = alg == "HS256" ? hmac : alg == publicKeyAlgorithm ? publicKey : nil else {
            return .failure(APIKeyError("the bearer token is not valid: \(alg) tokens are not accepted here"))
        }
        let claims: IMSClaims
        do { claims = try await keys.verify(token, as: IMSClaims.self) } catch {
            return .failure(APIKeyError("the bearer token is not valid: \(Self.reason(error))"))
        }
        let now = Date()
        guard !claims.sub.value.trimmingCharacters(in: .whitespaces).isEmpty else {
            return .failure(APIKeyError("the bearer token has an empty subject (sub)"))
        }
        guard claims.exp.value.timeIntervalSince(now) <= maxLifetime else {
            return .failure(APIKeyError("the bearer token lives longer than the \(Int(maxLifetime)) s allowed (exp is too far ahead)"))
        }
        if let nbf = claims.nbf?.value, nbf.timeIntervalSince(now) > Self.leeway {
            return .failure(APIKeyError("the bearer token is not valid yet (nbf is in the future)"))
        }
        if let iat = claims.iat?.value {
            guard iat.timeIntervalSince(now) <= Self.leeway else { return .failure(APIKeyError("the bearer token was issued in the future (iat)")) }
            guard claims.exp.value.timeIntervalSince(iat) <= maxLifetime else {
                return .failure(APIKeyError("the bearer token lives longer than the \(Int(maxLifetime)) s allowed (from iat to exp)"))
            }
        }
        guard claims.iss?.value == issuer else { return .failure(APIKeyError("the bearer token's issuer is not \(issuer)")) }
        guard claims.aud?.value.contains(audience) == true else { return .failure(APIKeyError("the bearer token is not for audience \(audience)")) }
        var roles: Set<Role> = []
        for r in claims.roles {
            guard let role = Role(rawValue: r) else { return .failure(APIKeyError("the bearer token names an unknown role \(r)")) }
            roles.insert(role)
        }
        if roles.contains(.client) && (claims.clientId ?? "").isEmpty { return .failure(APIKeyError("a client's bearer token needs its clientId")) }
        return .success(Identity(subject: "jwt:\(claims.sub.value)", roles: roles, clientId: claims.clientId, expiresAt: claims.exp.value))
    }

    static func reason(_ error: any Error) -> String {
        if let e = error as? JWTError {
            switch e.errorType {
            case .claimVerificationFailure: return "expired"
            case .signatureVerificationFailed: return "bad signature"
            default: return "malformed (\(e.errorType))"
            }
        }
        return "malformed"
    }
}
