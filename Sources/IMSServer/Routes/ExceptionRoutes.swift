import Foundation
import Hummingbird
import IMSDomain
import IMSEngine
import IMSRuntime

/// The exceptions list (SPEC 6): `GET /api/v1/exceptions` lists them, filtered by kind and by whether they
/// are acknowledged; `POST /api/v1/exceptions/acknowledge` journals an `ExceptionCommand` and answers with the
/// exceptions as they are once it is durable. Who acknowledged is the identity when signed in.
struct ExceptionRoutes {
    let engine: Engine

    struct AcknowledgeBody: Codable {
        var exceptionIds: [Int64]?
        var note: String?
        var user: String?
    }

    struct AcknowledgeAnswer: Codable {
        /// How many this request acknowledged (those acknowledged before keep their first acknowledgement).
        var acknowledged: Int
        var exceptions: [ExceptionRecord]
    }

    func register(on router: Router<IMSRequestContext>) {
        router.get("/api/v1/exceptions", use: list)
        router.post("/api/v1/exceptions/acknowledge", use: acknowledge)
    }

    @Sendable func list(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let q = QueryParameters(request)
        let after = try q.int("afterId", default: 0, range: 0...Int.max)
        let limit = try q.int("limit", default: 100, range: 1...10_000)
        let kind = try q.enumeration("kind", ExceptionKind.self)
        let acknowledged: Bool? = try q.string("acknowledged") == nil ? nil : try q.bool("acknowledged", default: false)
        return JSONResponse.ok(engine.readModel.read { $0.exceptions(afterId: Int64(after), kind: kind, acknowledged: acknowledged, limit: limit) })
    }

    @Sendable func acknowledge(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let body = try await JSONBody.decode(AcknowledgeBody.self, from: request, shape: #"{"exceptionIds":[…],"note","user"}"#)
        // The same id twice counts once. Every other check is the engine's, after journaling, so that a
        // refused acknowledgement is on the audit trail too (docs/events.md).
        var seen = Set<Int64>()
        let ids = (body.exceptionIds ?? []).filter { seen.insert($0).inserted }
        var command = ExceptionCommand(exceptionIds: ids, note: body.note?.isEmpty == true ? nil : body.note, user: body.user)
        command.user = context.issuer(named: body.user)
        let now = WallClock.now()
        let outcome = try await engine.journal(command, issuer: command.user ?? "", at: now) { refused in
            let unknown = refused.field == "exceptionIds" && (refused.error.hasPrefix("unknown") || refused.error.contains("no longer kept"))
            return unknown ? .notFound : .unprocessableContent
        }
        let answer = engine.readModel.read { state in
            AcknowledgeAnswer(acknowledged: 0, exceptions: ids.compactMap { state.exception($0) })
        }
        var counted = answer
        counted.acknowledged =
            outcome.accepted == 0 ? 0 : answer.exceptions.filter { $0.acknowledgedBy == command.user && $0.acknowledgedAt == now }.count
        return JSONResponse.ok(counted)
    }
}
