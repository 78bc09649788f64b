import Foundation
import Hummingbird
import IMSRuntime

/// `POST /api/v1/decisions`: many decisions in one body, for callers that cannot hold a WebSocket. The body is
/// what one frame of the decision channel holds (`DecisionMessages`): one decision, or an array of them.
/// They are journaled together as one batch and answered together, in order, with 200: each answer carries
/// its own status (201 a new locate, 200, 403, 404, 409, 422, 503…), as its own route would answer it.
struct DecisionRoutes {
    let engine: Engine

    func register(on router: Router<IMSRequestContext>) {
        router.post("/api/v1/decisions", use: decide)
    }

    @Sendable func decide(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let data = try await JSONBody.bytes(request, limit: 16 << 20)
        switch DecisionMessages.read(Array(data)) {
        case .failure(let refused): return try refused.response()
        case .success(let (messages, isArray)):
            let desk = DecisionDesk(engine: engine)
            let frame = desk.prepare(messages, isArray: isArray, caller: .init(identity: context.identity))
            return JSONResponse.raw(desk.answerText(frame, outcomes: await desk.outcomes(of: frame.submission)))
        }
    }
}
