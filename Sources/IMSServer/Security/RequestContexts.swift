import Hummingbird
import HummingbirdWebSocket

/// The request context of every HTTP route: Hummingbird's core storage and who is calling, as the
/// `AuthMiddleware` proved it (nil when the server runs with `--insecure-no-auth`, or on an open route).
/// Routes read `identity` to record who issued a command and to scope what a client sees.
public struct IMSRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var identity: Identity?

    public init(source: Source) {
        coreContext = .init(source: source)
    }
}

/// The same for the WebSocket streams: the identity proved on the upgrade stays with the stream, so a
/// client's subscriptions are scoped to it and its subscriptions are counted.
public struct IMSWebSocketContext: RequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let webSocket: WebSocketHandlerReference<Self>
    public var identity: Identity?

    public init(source: Source) {
        coreContext = .init(source: source)
        webSocket = .init()
    }
}

/// A context that carries the caller's identity, for the one middleware that sets it.
public protocol IdentifiedContext: RequestContext {
    var identity: Identity? { get set }
}

extension IMSRequestContext: IdentifiedContext {
    /// Who a command or batch is recorded as issued by: the proved identity; without authentication, the
    /// person the body names, else `anonymous`.
    func issuer(named: String?) -> String {
        identity?.subject ?? (named.flatMap { $0.isEmpty ? nil : $0 } ?? "anonymous")
    }
}
extension IMSWebSocketContext: IdentifiedContext {}
