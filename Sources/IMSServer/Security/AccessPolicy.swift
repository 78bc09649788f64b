import Foundation
import HTTPTypes
import Hummingbird

/// Who may call what (SPEC 10): every route of the REST API, GraphQL and the streams, with the roles it
/// needs, in one table, first match wins. A test holds the table to the OpenAPI document and the stream
/// list, so a new route without a rule fails the build's tests.
///
/// Until client scoping is in place (issue 15, next step), a `client` key reaches only what is its own by
/// construction: its limits (`/limits/clients/{clientId}` with its own id), its locate requests and order
/// validations (the body's `clientId` must be its own), its cancellations, and reference data.
public struct AccessPolicy: Sendable {
    public enum Access: Sendable, Equatable {
        /// No credentials needed.
        case open
        /// Any of these roles; `clientOwned` says where a client's own id must appear.
        case roles(Set<Role>, clientOwned: ClientOwnership? = nil)
    }

    /// Where a client key's own `clientId` must be for the call to be its own.
    public enum ClientOwnership: Sendable, Equatable {
        case pathParameter(Int)
        case bodyField
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
    public static let rules: [Rule] = [
        Rule(.get, "/health", .open), Rule(.get, "/health/live", .open), Rule(.get, "/health/ready", .open),
        Rule(.get, "/metrics", .open), Rule(.get, "/openapi.json", .open), Rule(.get, "/docs", .open),
        Rule(.post, "/api/v1/events", .roles([.feed, .admin])),
        // Reference data: not confidential.
        Rule(.get, "/api/v1/markets", .roles(everyone)), Rule(.get, "/api/v1/markets/:marketId", .roles(everyone)),
        Rule(.get, "/api/v1/markets/:marketId/calendar", .roles(everyone)),
        Rule(.get, "/api/v1/securities", .roles(everyone)), Rule(.get, "/api/v1/securities/:securityId", .roles(everyone)),
        // A client's own limits.
        Rule(.get, "/api/v1/limits/clients/:clientId", .roles(everyone, clientOwned: .pathParameter(4))),
        // Locates and orders: a client asks for its own; an operator decides.
        Rule(.post, "/api/v1/locates", .roles([.client, .operator], clientOwned: .bodyField)),
        Rule(.post, "/api/v1/locates/bulk", .roles([.operator])),
        Rule(.post, "/api/v1/locates/:locateId/decision", .roles([.operator])),
        Rule(.post, "/api/v1/locates/:locateId/cancel", .roles([.client, .operator], clientOwned: .bodyField)),
        Rule(.post, "/api/v1/orders/validate", .roles([.client, .operator], clientOwned: .bodyField)),
        // Rules: the desk reads them, an admin drafts, imports and activates, an approver approves.
        Rule(.post, "/api/v1/rules/drafts", .roles([.admin])), Rule(.post, "/api/v1/rules/import", .roles([.admin])),
        Rule(.post, "/api/v1/rules/:version/approve", .roles([.approver])),
        Rule(.post, "/api/v1/rules/:version/:action", .roles([.admin])),
        // Everything else the desk reads (inventory, positions, financing, exceptions, locates, orders, rules),
        // GraphQL and the streams: staff, until client scoping.
        Rule(.get, "/api/v1/**", .roles(staff)),
        Rule(nil, "/graphql", .roles(staff)),
        Rule(.get, "/ws/:stream", .roles(staff)),
    ]

    /// The rule for a request, or nil when no rule names it (the caller still needs a valid credential).
    public static func rule(method: HTTPRequest.Method, path: String) -> Rule? {
        let segments = path.split(separator: "?", maxSplits: 1).first.map { $0.split(separator: "/") } ?? []
        return rules.first { $0.matches(method: method, segments: segments) }
    }
}

/// Checks every request's credential and role against the `AccessPolicy` (SPEC 10): `Authorization: Bearer
/// <key>` or `X-API-Key: <key>`. Missing or bad credentials: 401; a valid identity without the role, or a
/// client acting for another client: 403 naming what is missing. Nothing is applied on either.
public struct AuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let keys: APIKeyStore

    public init(keys: APIKeyStore) { self.keys = keys }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let identity: Identity?, ownership: AccessPolicy.ClientOwnership?
        switch AccessPolicy.decide(method: request.method, path: request.uri.path, credential: Self.credential(request), keys: keys) {
        case .refuse(let status, let message, let field): return Self.refusal(status, message, field: field)
        case .allow(let who, let owned): (identity, ownership) = (who, owned)
        }
        guard let identity else { return try await next(request, context) }
        // A client key with no staff role acts for its own client only.
        var request = request
        if identity.roles.isDisjoint(with: AccessPolicy.staff), let ownership, let own = identity.clientId {
            let named: String?
            switch ownership {
            case .pathParameter(let index):
                let segments = request.uri.path.split(separator: "/")
                named = index < segments.count ? String(segments[index]).removingPercentEncoding : nil
            case .bodyField:
                let body = try await request.collectBody(upTo: 1 << 20)
                let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]
                named = object?["clientId"] as? String
            }
            guard named == own else {
                return Self.refusal(.forbidden, "a client key acts for its own client (\(own)) only, not \(named ?? "none")", field: "clientId")
            }
        }
        return try await next(request, context)
    }

    static func credential(_ request: Request) -> String? {
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" { return String(parts[1]).trimmingCharacters(in: .whitespaces) }
            return nil
        }
        if let name = HTTPField.Name("X-API-Key"), let key = request.headers[name] { return key }
        return nil
    }

    static func refusal(_ status: HTTPResponse.Status, _ message: String, field: String) -> Response {
        var response = JSONResponse.failure(status, message, field: field)
        if status == .unauthorized { response.headers[.wwwAuthenticate] = #"Bearer realm="ims""# }
        return response
    }
}

extension AccessPolicy {
    /// What the policy says of a call, before any body is read.
    enum Decision {
        case allow(Identity?, AccessPolicy.ClientOwnership?)
        case refuse(HTTPResponse.Status, String, field: String)
    }

    static func decide(method: HTTPRequest.Method, path: String, credential: String?, keys: APIKeyStore) -> Decision {
        let rule = AccessPolicy.rule(method: method, path: path)
        if rule?.access == .open { return .allow(nil, nil) }
        guard let credential else {
            return .refuse(.unauthorized, "missing credentials: send Authorization: Bearer <API key> (or X-API-Key)", field: "Authorization")
        }
        guard let identity = keys.identity(forKey: credential) else {
            return .refuse(.unauthorized, "the API key is not valid (unknown, revoked or mistyped)", field: "Authorization")
        }
        guard case .roles(let allowed, let ownership)? = rule?.access else { return .allow(identity, nil) }
        guard !identity.roles.isDisjoint(with: allowed) else {
            return .refuse(.forbidden, "\(method.rawValue) \(path) needs the role \(allowed.sorted().map(\.rawValue).joined(separator: " or ")); \(identity.subject) has \(identity.roles.sorted().map(\.rawValue).joined(separator: ", "))", field: "role")
        }
        return .allow(identity, ownership)
    }

    /// The refusal of a WebSocket upgrade whose head (request line and headers, raw) lacks the credential or
    /// role its stream needs, as a whole HTTP response; nil to let it through. The WebSocket library answers
    /// any upgrade a router declines with an empty 400, so the connection guard answers these itself.
    static func upgradeRefusal(head: [UInt8], keys: APIKeyStore) -> String? {
        let text = String(decoding: head, as: UTF8.self)
        let lines = text.split(separator: "\r\n")
        guard let requestLine = lines.first?.split(separator: " "), requestLine.count >= 2 else { return nil }
        var credential: String?
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name == "authorization" {
                let parts = value.split(separator: " ", maxSplits: 1)
                credential = parts.count == 2 && parts[0].lowercased() == "bearer" ? String(parts[1]) : nil
            } else if name == "x-api-key", credential == nil {
                credential = value
            }
        }
        let path = String(requestLine[1].split(separator: "?", maxSplits: 1).first ?? "")
        guard case .refuse(let status, let message, let field) = decide(method: .get, path: path, credential: credential, keys: keys) else { return nil }
        let body = #"{"error":"\#(message)","field":"\#(field)"}"#
        return "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
            + (status == .unauthorized ? "WWW-Authenticate: Bearer realm=\"ims\"\r\n" : "") + "Connection: close\r\n\r\n" + body
    }
}
