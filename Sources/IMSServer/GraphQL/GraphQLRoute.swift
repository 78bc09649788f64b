import Foundation
import GraphQL
import Graphiti
import Hummingbird
import IMSDomain
import IMSEngine
import IMSRuntime

/// `POST /graphql` (JSON `{"query","variables","operationName"}`) and `GET /graphql?query=…`.
///
/// Answers `{"data":…,"errors":[…]}` as GraphQL over HTTP does: 200 when the query ran (field
/// errors included), 400 when it could not be parsed, failed validation, or broke the limits.
struct GraphQLRoute: Sendable {
    let engine: Engine
    let api: IMSGraphQL
    let limits: QueryLimits

    init(engine: Engine, limits: QueryLimits = QueryLimits()) throws {
        self.engine = engine
        self.api = try IMSGraphQL()
        self.limits = limits
    }

    struct Body: Decodable {
        var query: String
        var variables: [String: Map]?
        var operationName: String?
    }

    func register(on router: Router<IMSRequestContext>) {
        router.post("/graphql") { request, context -> Response in
            let buffer: ByteBuffer
            do {
                buffer = try await request.body.collect(upTo: limits.maxQueryBytes + 1 << 16)
            } catch {
                return Self.errors(["the request body is larger than \(limits.maxQueryBytes + 1 << 16) bytes"], status: .contentTooLarge)
            }
            // The variables are JSON decoded recursively too: their nesting is bounded before decoding.
            do throws(QueryLimits.Refusal) {
                try limits.checkNesting(String(decoding: buffer.readableBytesView, as: UTF8.self), what: "the request body", comments: false)
            } catch {
                return Self.errors([error.message], status: .badRequest)
            }
            // Read strictly first: a key repeated (`query` twice, or in the variables) is refused, not resolved one
            // way here and another elsewhere.
            do throws(StrictJSONError) {
                _ = try StrictJSON.parse(Array(buffer.readableBytesView), limits: StrictJSON.Limits(depth: limits.maxNesting + 1, stringBytes: limits.maxQueryBytes))
            } catch {
                return Self.errors(["\(error.field): \(error.message)"], status: .badRequest)
            }
            guard let body = try? JSONDecoder().decode(Body.self, from: Data(buffer.readableBytesView)) else {
                return Self.errors(["the body must be JSON: {\"query\": \"…\", \"variables\": {…}, \"operationName\": \"…\"}"], status: .badRequest)
            }
            return await run(body, clientScope: context.clientScope)
        }
        router.get("/graphql") { request, context -> Response in
            guard let query = request.uri.queryParameters.get("query") else {
                return Self.errors(["pass the query as ?query=… or POST it as JSON"], status: .badRequest)
            }
            return await run(Body(query: query, variables: nil, operationName: request.uri.queryParameters.get("operationName")), clientScope: context.clientScope)
        }
    }

    func run(_ body: Body, clientScope: String? = nil) async -> Response {
        do throws(QueryLimits.Refusal) {
            let scans = engine.readModel.read { QueryLimits.ScanSizes(positions: $0.positionCount, securities: $0.securityCount, exceptions: $0.exceptionCount) }
            try limits.check(query: body.query, scans: scans)
        } catch {
            return Self.errors([error.message], status: .badRequest)
        }
        do {
            let result = try await api.execute(request: body.query, context: GraphQLContext(engine: engine, clientScope: clientScope), variables: body.variables ?? [:],
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
