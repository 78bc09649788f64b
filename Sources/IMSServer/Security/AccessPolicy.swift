import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdAuth

/// Who may call what (SPEC 10): every route of the REST API, GraphQL and the streams, with the roles it
/// needs, in one table, first match wins. A test holds the table to the OpenAPI document and the stream
/// list, so a new route without a rule fails the build's tests.
///
/// A `client` key reaches only what is its own: its limits (`/limits/clients/{clientId}` with its own id,
/// checked here from the path), and, checked by the handlers on the body they decoded (one reading of the
/// bytes, the one acted on), its locate requests, cancellations and order validations; listings and look-ups
/// are narrowed to its own client by the routes.
public struct AccessPolicy: Sendable {
    public enum Access: Sendable, Equatable {
        /// No credentials needed.
        case open
        /// Any of these roles; `clientOwned` says where a client's own id must appear.
        case roles(Set<Role>, clientOwned: ClientOwnership? = nil)
    }

    /// Where a client key's own `clientId` must be for the call to be its own, when the policy checks it
    /// (a body's `clientId` is checked by the handler, on the decoded body: `requireOwnClient`).
    public enum ClientOwnership: Sendable, Equatable {
        case pathParameter(Int)
    }

    public struct Rule: Sendable {
        public var method: HTTPRequest.Method?
        public var template: String
        public var access: Access
        let segments: [Substring]

        init(_ method: HTTPRequest.Method?, _ template: String, _ access: Access) {
            self.method = method; self.template = template; self.access = access
            segments = template.split(separator: "/")
        }

        func matches(method m: HTTPRequest.Method, segments path: [Substring]) -> Bool {
            if let method, method != m { return false }
            for (i, s) in segments.enumerated() {
                if s == "**" { return true }
                guard i < path.count else { return false }
                if s.hasPrefix(":") { continue }
                if s != path[i] { return false }
            }
            return segments.count == path.count
        }
    }

    static let staff: Set<Role> = [.operator, .approver, .admin]
    static let everyone: Set<Role> = [.client, .operator, .approver, .admin]

    /// The table, most specific first.
    public static let rules: [Rule] =
        [
            Rule(.get, "/health", .open), Rule(.get, "/health/live", .open), Rule(.get, "/health/ready", .open),
            Rule(.get, "/health/leader", .open), Rule(.get, "/health/state", .open),
            Rule(.get, "/metrics", .open), Rule(.get, "/metrics/history", .open), Rule(.get, "/openapi.json", .open), Rule(.get, "/docs", .open),
            // The dashboard's page and files: no data in them; the calls they make sign in.
            Rule(.get, "/", .open), Rule(.get, "/dashboard/:file", .open),
            Rule(.post, "/api/v1/events", .roles([.feed, .admin])),
            Rule(.post, "/api/v1/cluster/step-down", .roles([.admin])),
            // Reference data: not confidential.
            Rule(.get, "/api/v1/me", .roles(Set(Role.allCases))),
            Rule(.get, "/api/v1/markets", .roles(everyone)), Rule(.get, "/api/v1/markets/:marketId", .roles(everyone)),
            Rule(.get, "/api/v1/markets/:marketId/calendar", .roles(everyone)),
            Rule(.get, "/api/v1/securities", .roles(everyone)), Rule(.get, "/api/v1/securities/:securityId", .roles(everyone)),
            Rule(.get, "/api/v1/securities/:securityId/bars", .roles(everyone)),
            // A client's own limits.
            Rule(.get, "/api/v1/limits/clients/:clientId", .roles(everyone, clientOwned: .pathParameter(4))),
            // Locates and orders: a client asks for its own; an operator decides.
            Rule(.post, "/api/v1/locates", .roles([.client, .operator])),
            Rule(.post, "/api/v1/locates/bulk", .roles([.operator])),
            Rule(.post, "/api/v1/locates/:locateId/decision", .roles([.operator])),
            Rule(.post, "/api/v1/locates/:locateId/cancel", .roles([.client, .operator])),
            Rule(.post, "/api/v1/orders/:orderId/cancel", .roles([.client, .operator])),
            Rule(.post, "/api/v1/orders/validate", .roles([.client, .operator])),
            // Many decisions at once, in a body or over the decision channel: each checked as its own route checks it.
            Rule(.post, "/api/v1/decisions", .roles([.client, .operator])),
            Rule(.get, "/ws/decisions", .roles([.client, .operator])),
            // Exceptions: the desk acknowledges what it has dealt with.
            Rule(.post, "/api/v1/exceptions/acknowledge", .roles([.operator, .admin])),
            // Rules: the desk reads them, an admin drafts, imports and activates, an approver approves.
            Rule(.post, "/api/v1/rules/drafts", .roles([.admin])), Rule(.post, "/api/v1/rules/import", .roles([.admin])),
            Rule(.post, "/api/v1/rules/:version/approve", .roles([.approver])),
            Rule(.post, "/api/v1/rules/:version/:action", .roles([.admin])),
            // A client's own positions, locates and orders: the routes narrow a client to its own client
            // (listings filtered, another client's item unknown), as the position, locate and inventory streams do.
            Rule(.get, "/api/v1/positions", .roles(everyone)), Rule(.get, "/api/v1/positions/:bookId/:securityId", .roles(everyone)),
            Rule(.get, "/api/v1/locates", .roles(everyone)), Rule(.get, "/api/v1/locates/:locateId", .roles(everyone)),
            Rule(.get, "/api/v1/orders", .roles(everyone)),
            Rule(.get, "/api/v1/orders/:orderId", .roles(everyone)),
            // Their history too (docs/history.md): the routes narrow a client to its own books, locates and orders.
            Rule(.get, "/api/v1/history/positions", .roles(everyone)), Rule(.get, "/api/v1/history/locates", .roles(everyone)),
            Rule(.get, "/api/v1/history/orders", .roles(everyone)),
            Rule(nil, "/graphql", .roles(everyone)),
        ] + StreamRegistry.streams.filter { $0.openToClients }.map { Rule(.get, "/ws/\($0.name)", .roles(everyone)) } + [
            // Everything else the desk reads (inventory, financing, exceptions, rules, the audit trail) and the
            // exceptions stream: staff.
            Rule(.get, "/api/v1/**", .roles(staff)),
            Rule(.get, "/ws/:stream", .roles(staff)),
        ]

    static let apiKeyHeader = HTTPField.Name("X-API-Key")!

    /// The rule for a request, or nil when no rule names it (the caller still needs a valid credential).
    public static func rule(method: HTTPRequest.Method, path: String) -> Rule? {
        let segments = path.split(separator: "?", maxSplits: 1).first.map { $0.split(separator: "/") } ?? []
        return rules.first { $0.matches(method: method, segments: segments) }
    }
}

/// Who is calling, for hummingbird-auth's authenticator protocol: the credential a call presents
/// (`Authorization: Bearer <key or token>`, or `X-API-Key: <key>`) resolved to an `Identity`, set on the
/// request context. Open routes are not authenticated (a stale key does not stop a health probe); on every
/// other route a missing or bad credential is refused with 401 naming `Authorization` and why.
public struct CredentialAuthenticator<Context: AuthRequestContext<Identity>>: AuthenticatorMiddleware {
    let credentials: Credentials

    /// A `CredentialAuthenticator` from its fields.
    public init(credentials: Credentials) { self.credentials = credentials }

    /// The caller's identity from its key or token; 401 when one is presented and invalid.
    public func authenticate(request: Request, context: Context) async throws -> Identity? {
        if AccessPolicy.rule(method: request.method, path: request.uri.path)?.access == .open { return nil }
        switch await credentials.identity(presented: Self.credential(request)) {
        case .failure(let why): throw APIError(.unauthorized, why.description, field: "Authorization")
        case .success(let who): return who
        }
    }

    static func credential(_ request: Request) -> String? {
        AccessPolicy.credential(authorization: request.headers[.authorization], apiKey: request.headers[AccessPolicy.apiKeyHeader])
            ?? AccessPolicy.streamToken(path: request.uri.path, query: request.uri.query)
    }
}

/// What the authenticated identity may do, by the `AccessPolicy` (SPEC 10): its rate (429 with `Retry-After`
/// beyond), the route's roles (403 naming the missing role), and for a client acting for a client, that the
/// client is its own (403 naming `clientId`). Runs after `CredentialAuthenticator`; nothing is applied on
/// any refusal.
public struct AccessPolicyMiddleware<Context: AuthRequestContext<Identity>>: RouterMiddleware {
    let limiter: RateLimiter?

    /// A `AccessPolicyMiddleware` from its fields.
    public init(limiter: RateLimiter?) { self.limiter = limiter }

    /// Lets the request through when the caller's roles may call the route, else 401, 403 or 429.
    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let method = request.method, path = request.uri.path
        let rule = AccessPolicy.rule(method: method, path: path)
        if rule?.access == .open { return try await next(request, context) }
        guard let identity = context.identity else { throw APIError(.unauthorized, Credentials.missing.description, field: "Authorization") }
        if let limiter, let wait = limiter.take(identity.subject) {
            throw APIError(
                .tooManyRequests, "\(identity.subject) is over its \(Int(limiter.rate)) requests a second; retry in \(wait) s", field: "rate", retryAfter: wait)
        }
        let ownership: AccessPolicy.ClientOwnership?
        switch AccessPolicy.authorize(identity, rule: rule, method: method, path: path) {
        case .refuse(let status, let message, let field): throw APIError(status, message, field: field)
        case .allow(_, let owned): ownership = owned
        }
        // A client without a staff role acts for its own client only (one without a client id, for none).
        if let own = identity.clientScope, case .pathParameter(let index)? = ownership {
            let segments = request.uri.path.split(separator: "/")
            let named = index < segments.count ? String(segments[index]).removingPercentEncoding : nil
            guard named == own, !own.isEmpty else {
                throw APIError(.forbidden, AccessPolicy.actsForOwnOnly(own: own, named: named), field: "clientId")
            }
        }
        return try await next(request, context)
    }
}

/// A refusal by the access policy, answered as IMS answers every error: a JSON body naming the field at
/// fault (with `WWW-Authenticate` on a 401 and `Retry-After` on a 429).
extension AccessPolicy {
    /// The credential a call presents: `Authorization: Bearer <it>`, else `X-API-Key: <it>` (one place for
    /// requests and for WebSocket upgrade heads).
    static func credential(authorization: String?, apiKey: String?) -> String? {
        if let authorization {
            // "Bearer <credential>", the scheme in any case (RFC 9110 11.1), without making strings for it.
            let utf8 = authorization.utf8
            guard utf8.count > 7, utf8.prefix(6).map({ $0 | 0x20 }).elementsEqual("bearer".utf8), utf8[utf8.index(utf8.startIndex, offsetBy: 6)] == 0x20 else {
                return nil
            }
            let rest = authorization.dropFirst(7)
            let trimmed = rest.drop { $0 == " " || $0 == "\t" }
            let end = trimmed.lastIndex { $0 != " " && $0 != "\t" }
            return end.map { String(trimmed[...$0]) } ?? nil
        }
        return apiKey
    }

    /// A stream's credential given as `?access_token=` (browsers cannot set headers on a WebSocket), read on
    /// `/ws/` paths only: elsewhere a key in a URL would end up in logs and histories.
    static func streamToken(path: String, query: String?) -> String? {
        guard path.hasPrefix("/ws/"), let query else { return nil }
        for pair in query.split(separator: "&") where pair.hasPrefix("access_token=") {
            return String(pair.dropFirst("access_token=".count)).removingPercentEncoding
        }
        return nil
    }

    /// What the policy says of a call, before any body is read.
    enum Decision {
        case allow(Identity?, AccessPolicy.ClientOwnership?)
        case refuse(HTTPResponse.Status, String, field: String)
    }

    /// Whether `identity` may make the call (before any body is read).
    static func authorize(_ identity: Identity, method: HTTPRequest.Method, path: String) -> Decision {
        authorize(identity, rule: rule(method: method, path: path), method: method, path: path)
    }

    /// The same with the call's rule already found (it is found once per request).
    static func authorize(_ identity: Identity, rule: Rule?, method: HTTPRequest.Method, path: String) -> Decision {
        guard case .roles(let allowed, let ownership)? = rule?.access else { return .allow(identity, nil) }
        guard !identity.roles.isDisjoint(with: allowed) else {
            return .refuse(
                .forbidden,
                "\(method.rawValue) \(path) needs the role \(allowed.sorted().map(\.rawValue).joined(separator: " or ")); \(identity.subject) has \(identity.roles.sorted().map(\.rawValue).joined(separator: ", "))",
                field: "role")
        }
        return .allow(identity, ownership)
    }

    /// What the connection guard does with a WebSocket upgrade head (request line and headers, raw): let it
    /// through, refuse it with a whole HTTP response, or hold it while a bearer token is checked (the JWT
    /// check is asynchronous). The WebSocket library answers any upgrade a router declines with an empty
    /// 400, so the guard answers these itself, with the same bodies as every other route.
    enum UpgradeCheck {
        case pass
        case refuse(String)
        case checkToken(String, path: String)
    }

    static func upgradeCheck(head: [UInt8], credentials: Credentials) -> UpgradeCheck {
        let text = String(decoding: head, as: UTF8.self)
        let lines = text.split(separator: "\r\n")
        guard let requestLine = lines.first?.split(separator: " "), requestLine.count >= 2 else { return .pass }
        var authorization: String?, apiKey: String?
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name == "authorization" { authorization = value } else if name == "x-api-key" { apiKey = value }
        }
        let target = requestLine[1].split(separator: "?", maxSplits: 1)
        let path = String(target.first ?? "")
        let presented = credential(authorization: authorization, apiKey: apiKey) ?? streamToken(path: path, query: target.count > 1 ? String(target[1]) : nil)
        if rule(method: .get, path: path)?.access == .open { return .pass }
        guard let result = credentials.keyIdentity(presented: presented) else { return .checkToken(presented ?? "", path: path) }
        return refusal(of: result, path: path).map(UpgradeCheck.refuse) ?? .pass
    }

    /// The refusal of an upgrade presenting a bearer token, once the token is checked; nil to let it through.
    static func tokenUpgradeRefusal(_ token: String, path: String, credentials: Credentials) async -> String? {
        refusal(of: await credentials.identity(presented: token), path: path)
    }

    /// The whole HTTP refusal of an upgrade to `path` by what a credential proved; nil when it may go on.
    private static func refusal(of result: Result<Identity, APIKeyError>, path: String) -> String? {
        let status: HTTPResponse.Status, message: String, field: String
        switch result {
        case .failure(let why): (status, message, field) = (.unauthorized, why.description, "Authorization")
        case .success(let identity):
            guard case .refuse(let s, let m, let f) = authorize(identity, method: .get, path: path) else { return nil }
            (status, message, field) = (s, m, f)
        }
        let body = #"{"error":"\#(message)","field":"\#(field)"}"#
        return "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
            + (status == .unauthorized ? "WWW-Authenticate: Bearer realm=\"ims\"\r\n" : "") + "Connection: close\r\n\r\n" + body
    }
}

/// What a call may prove who it is with: API keys and, when configured, JWT bearer tokens.
public struct Credentials: Sendable {
    public var keys: APIKeyStore?
    public var jwt: JWTVerifier?
    /// Requests a second per identity, when limited.
    public var limiter: RateLimiter?

    /// A `Credentials` from its fields.
    public init(keys: APIKeyStore?, jwt: JWTVerifier?, limiter: RateLimiter? = nil) { self.keys = keys; self.jwt = jwt; self.limiter = limiter }

    static let missing = APIKeyError("missing credentials: send Authorization: Bearer <API key or token> (or X-API-Key)")
    static let badKey = APIKeyError("the API key is not valid (unknown, revoked or mistyped)")

    /// The identity a presented credential proves, or why it proves none.
    func identity(presented: String?) async -> Result<Identity, APIKeyError> {
        if let result = keyIdentity(presented: presented) { return result }
        return await jwt!.identity(forToken: presented!)
    }

    /// The same, without waiting, for what needs no JWT check; nil: a token for the JWT verifier.
    func keyIdentity(presented: String?) -> Result<Identity, APIKeyError>? {
        guard let presented else { return .failure(Self.missing) }
        if presented.hasPrefix("ims_") || jwt == nil {
            guard let identity = keys?.identity(forKey: presented) else { return .failure(Self.badKey) }
            return .success(identity)
        }
        return nil
    }
}
