import HTTPTypes
import Hummingbird
import IMSRuntime

/// On a node of a replicated deployment (`--journal kafka`): every answer says the node's role and how far
/// it has applied the log (`IMS-Role`, `IMS-Applied-Record`, `IMS-Lag-Ms`), and a node that does not lead
/// refuses writes with 503 naming the leader (`IMS-Leader` and the message), so that a client or a balancer
/// retries there with the same idempotency keys. Reads are answered from the node's own state.
struct ReplicaMiddleware<Context: RequestContext>: RouterMiddleware {
    let replication: any ReplicationState

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let status = replication.replicaStatus
        if status.role != .leader && Self.writes(request) {
            let leader =
                status.leaderURL.map { "the leader, \(status.leaderNode ?? "?") at \($0)" } ?? "the leader (none is known yet: an election is under way)"
            var response = APIError(.serviceUnavailable, "this node is a \(status.role.rawValue) and takes no writes: send them to \(leader)", retryAfter: 1)
                .response
            if let url = status.leaderURL { response.headers[ReplicaHeaders.leader] = url }
            Self.stamp(&response, status)
            return response
        }
        do {
            var response = try await next(request, context)
            Self.stamp(&response, replication.replicaStatus)
            return response
        } catch let error as any HTTPResponseError {
            var response = try error.response(from: request, context: context)
            Self.stamp(&response, replication.replicaStatus)
            return response
        }
    }

    /// Whether the request may change the state. GraphQL's POST carries queries too: its mutations are
    /// refused by the journal of a node that does not lead.
    static func writes(_ request: Request) -> Bool {
        switch request.method {
        case .get, .head, .options: false
        default: request.uri.path != "/graphql"
        }
    }

    static func stamp(_ response: inout Response, _ status: ReplicaStatus) {
        response.headers[ReplicaHeaders.role] = status.role.rawValue
        response.headers[ReplicaHeaders.appliedRecord] = "\(status.appliedRecord)"
        response.headers[ReplicaHeaders.lag] = "\((status.lagMilliseconds * 10).rounded() / 10)"
    }
}

/// The headers a replicated node adds to its answers.
enum ReplicaHeaders {
    static let role = HTTPField.Name("IMS-Role")!
    static let appliedRecord = HTTPField.Name("IMS-Applied-Record")!
    static let lag = HTTPField.Name("IMS-Lag-Ms")!
    static let leader = HTTPField.Name("IMS-Leader")!
}
