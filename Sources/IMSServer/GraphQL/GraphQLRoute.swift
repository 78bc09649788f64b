import Foundation
import GraphQL
import Graphiti
import Hummingbird
import IMSDomain
import IMSEngine
import IMSHistory
import IMSRuntime

/// `POST /graphql` (JSON `{"query","variables","operationName"}`) and `GET /graphql?query=…`.
///
/// Answers `{"data":…,"errors":[…]}` as GraphQL over HTTP does: 200 when the query ran (field
/// errors included), 400 when it could not be parsed, failed validation, or broke the limits.
struct GraphQLRoute: Sendable {
    let engine: Engine
    let api: IMSGraphQL
    let limits: QueryLimits
    let history: PostgresHistoryStore?

    init(engine: Engine, limits: QueryLimits = QueryLimits(), history: PostgresHistoryStore? = nil) throws {
        self.engine = engine
        self.history = history
        self.api = try IMSGraphQL()
        self.limits = limits
    }

    struct Body: Decodable {
        var query: String
        var variables: [String: Map]?
        var operationName: String?
    }

    func register(on router: Router<IMSRequestContext>) {
        router.post("/graphql", use: post)
        router.get("/graphql", use: get)
    }

    @Sendable func post(_ request: Request, context: IMSRequestContext) async throws -> Response {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limits.maxQueryBytes + 1 << 16)
        } catch {
            throw Refusal(["the request body is larger than \(limits.maxQueryBytes + 1 << 16) bytes"], status: .contentTooLarge)
        }
        // The variables are JSON decoded recursively too: their nesting is bounded before decoding.
        do throws(QueryLimits.Refusal) {
            try limits.checkNesting(String(decoding: buffer.readableBytesView, as: UTF8.self), what: "the request body", comments: false)
        } catch {
            throw Refusal([error.message])
        }
        // Read strictly first: a key repeated (`query` twice, or in the variables) is refused, not resolved one
        // way here and another elsewhere.
        do throws(StrictJSONError) {
            _ = try StrictJSON.parse(
                Array(buffer.readableBytesView), limits: StrictJSON.Limits(depth: limits.maxNesting + 1, stringBytes: limits.maxQueryBytes))
        } catch {
            throw Refusal(["\(error.field): \(error.message)"])
        }
        guard let body = try? JSONDecoder().decode(Body.self, from: Data(buffer.readableBytesView)) else {
            throw Refusal(["the body must be JSON: {\"query\": \"…\", \"variables\": {…}, \"operationName\": \"…\"}"])
        }
        return await run(body, clientScope: context.clientScope)
    }

    @Sendable func get(_ request: Request, context: IMSRequestContext) async throws -> Response {
        guard let query = request.uri.queryParameters.get("query") else { throw Refusal(["pass the query as ?query=… or POST it as JSON"]) }
        return await run(Body(query: query, variables: nil, operationName: request.uri.queryParameters.get("operationName")), clientScope: context.clientScope)
    }

    /// A request GraphQL over HTTP refuses before running it, in its own error shape (`{"errors":[{"message"}]}`).
    struct Refusal: HTTPResponseError {
        var messages: [String]
        var status: HTTPResponse.Status

        init(_ messages: [String], status: HTTPResponse.Status = .badRequest) {
            self.messages = messages
            self.status = status
        }

        func response(from request: Request, context: some RequestContext) throws -> Response { GraphQLRoute.errors(messages, status: status) }
    }

    func run(_ body: Body, clientScope: String? = nil) async -> Response {
        do throws(QueryLimits.Refusal) {
            let scans = engine.readModel.read {
                QueryLimits.ScanSizes(
                    positions: $0.positionCount, securities: $0.securityCount, exceptions: $0.exceptionCount, locates: $0.locates.records.count,
                    orders: $0.orders.records.count)
            }
            try limits.check(query: body.query, variables: body.variables ?? [:], scans: scans)
        } catch {
            return Self.errors([error.message], status: .badRequest)
        }
        do {
            let result = try await api.execute(
                request: body.query, context: GraphQLContext(engine: engine, clientScope: clientScope, history: history), variables: body.variables ?? [:],
                operationName: body.operationName)
            let data = try JSONEncoder().encode(result)
            let failedValidation = result.data == nil && !result.errors.isEmpty
            return JSONResponse.raw(data, status: failedValidation ? .badRequest : .ok)
        } catch {
            return Self.errors(["\(error)"], status: .badRequest)
        }
    }

    static func errors(_ messages: [String], status: HTTPResponse.Status) -> Response {
        let list = messages.map { "{\"message\":" + JSONText.quoted($0) + "}" }.joined(separator: ",")
        return JSONResponse.raw("{\"errors\":[\(list)]}", status: status)
    }
}
