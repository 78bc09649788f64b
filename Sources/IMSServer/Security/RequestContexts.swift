import Hummingbird
import HummingbirdAuth
import HummingbirdWebSocket

/// The request context of every HTTP route: Hummingbird's core storage and who is calling, as the
/// `CredentialAuthenticator` proved it (nil when the server runs with `--insecure-no-auth`, or on an open route).
/// Routes read `identity` to record who issued a command and to scope what a client sees.
public struct IMSRequestContext: AuthRequestContext {
    public var coreContext: CoreRequestContextStorage
    public var identity: Identity?

    /// A `IMSRequestContext` from its fields.
    public init(source: Source) {
        coreContext = .init(source: source)
    }
}

/// The same for the WebSocket streams: the identity proved on the upgrade stays with the stream, so a
/// client's subscriptions are scoped to it and its subscriptions are counted.
public struct IMSWebSocketContext: AuthRequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let webSocket: WebSocketHandlerReference<Self>
    public var identity: Identity?

    /// A `IMSWebSocketContext` from its fields.
    public init(source: Source) {
        coreContext = .init(source: source)
        webSocket = .init()
    }
}

extension IMSRequestContext {
    /// Who a command or batch is recorded as issued by: the proved identity; without authentication, the
    /// person the body names, else `anonymous`.
    func issuer(named: String?) -> String {
        identity?.subject ?? (named.flatMap { $0.isEmpty ? nil : $0 } ?? "anonymous")
    }
}

extension AuthRequestContext where Identity == IMSServer.Identity {
    /// The client a caller without a staff role is limited to (nil: staff, or a server without authentication).
    var clientScope: String? { identity?.clientScope }

    /// The client a listing is filtered by: the one the query names, narrowed to the caller's own. A client
    /// naming another client is refused (403 naming `clientId`, answered by Hummingbird from the thrown
    /// `APIError`), as on the routes that act for a client.
    func scopedClient(_ named: String?) throws(APIError) -> String? {
        guard let own = clientScope else { return named }
        if let named, named != own { throw APIError(.forbidden, AccessPolicy.notOwnClient(own: own, named: named), field: "clientId") }
        return own
    }

    /// Whether the caller may see something that belongs to `client` (staff see everything).
    func maySee(client: String?) -> Bool {
        guard let own = clientScope else { return true }
        return client == own
    }
}

extension AccessPolicy {
    /// Why a client may not see what it named: one wording for REST, GraphQL and the streams.
    static func notOwnClient(own: String, named: String) -> String { "a client key sees its own client (\(own)) only, not \(named)" }

    /// Why a client may not act for the client it named: one wording for the path and the body.
    static func actsForOwnOnly(own: String, named: String?) -> String {
        "a client key acts for its own client (\(own.isEmpty ? "none" : own)) only, not \(named ?? "none")"
    }
}

extension IMSRequestContext {
    /// Refuses a client acting for another client: the body's (decoded) `clientId` must be the caller's own.
    /// Staff, and a server without authentication, act for any client.
    func requireOwnClient(_ named: String?) throws(APIError) {
        guard let own = clientScope else { return }
        guard let named, named == own, !own.isEmpty else {
            throw APIError(.forbidden, AccessPolicy.actsForOwnOnly(own: own, named: named), field: "clientId")
        }
    }
}
