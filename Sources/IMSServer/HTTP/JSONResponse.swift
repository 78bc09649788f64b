import Foundation
import Hummingbird
import IMSDomain
import IMSEngine
import IMSRuntime

// What every route shares to read requests and write answers: JSON responses, the one error type, query
// parameters (request bodies: `JSONBody`, `FlatJSON`), and the helpers a request context gives.

/// JSON bodies for responses and the error shape every 4xx/5xx uses: `{"error": "...", "field": "..."}`.
enum JSONResponse {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    static func ok<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
        do {
            let data = try encoder.encode(value)
            return raw(data, status: status)
        } catch {
            return failure(.internalServerError, "could not encode the response: \(error)")
        }
    }

    /// A value's JSON as the REST resources write it (sorted keys), as text: a stream item's `data`.
    static func text<T: Encodable>(_ value: T) -> String {
        (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    static func raw(_ data: Data, status: HTTPResponse.Status = .ok) -> Response {
        var buffer = ByteBuffer()
        buffer.writeBytes(data)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
    }

    static func raw(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// An error body naming the field (or parameter) at fault.
    static func failure(_ status: HTTPResponse.Status, _ message: String, field: String? = nil) -> Response {
        ok(ErrorBody(error: message, field: field), status: status)
    }

    struct ErrorBody: Codable {
        var error: String
        var field: String?
    }
}

/// Reads and checks query parameters, answering 400 with the parameter's name when one is bad.
struct QueryParameters {
    private let values: [String: String]

    init(_ request: Request) {
        var values: [String: String] = [:]
        for (k, v) in request.uri.queryParameters where values[String(k)] == nil { values[String(k)] = String(v) }
        self.values = values
    }

    /// The parameter's value as sent, unbounded: for a reader that bounds it itself (`PositionFilter`).
    func unchecked(_ name: String) -> String? { values[name] }

    /// Parameters (and GraphQL arguments) that carry free text (a search, a name, a comment) rather than an
    /// identifier, a date or the name of a kind.
    static let textParameters: Set<String> = ["q", "query", "user", "comment", "subject"]

    /// The longest value `name` may have, as a query parameter or a GraphQL argument: free text's bound for the
    /// text parameters, an identifier's for the rest (`InputBounds`, as the same values have in a body).
    static func bound(of name: String) -> Int { textParameters.contains(name) ? InputBounds.maxTextBytes : InputBounds.maxIdentifierBytes }

    /// The parameter's value (nil when absent or empty); 400 naming it when it is longer than its bound, which no
    /// id or text IMS keeps can be (so it would match nothing).
    func string(_ name: String) throws(APIError) -> String? {
        guard let v = values[name], !v.isEmpty else { return nil }
        let bound = Self.bound(of: name)
        guard v.utf8.count <= bound else { throw .parameter(name, "is longer than \(bound) bytes") }
        return v
    }

    func int(_ name: String, default value: Int, range: ClosedRange<Int>) throws(APIError) -> Int {
        guard let text = try string(name) else { return value }
        guard let v = Int(text), range.contains(v) else {
            throw .parameter(name, "must be a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return v
    }

    func enumeration<E: RawRepresentable & CaseIterable>(_ name: String, _ type: E.Type) throws(APIError) -> E? where E.RawValue == String {
        guard let text = try string(name) else { return nil }
        guard let v = E(rawValue: text) else {
            throw .parameter(name, "must be one of \(E.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return v
    }

    func bool(_ name: String, default value: Bool) throws(APIError) -> Bool {
        guard let text = try string(name) else { return value }
        switch text {
        case "true": return true
        case "false": return false
        default: throw .parameter(name, "must be true or false")
        }
    }

    func timestamp(_ name: String) throws(APIError) -> Timestamp? {
        guard let text = try string(name) else { return nil }
        guard let t = Timestamp(parsing: text) else { throw .parameter(name, "must be an ISO-8601 time such as 2026-11-30T14:30:00Z") }
        return t
    }

    func date(_ name: String) throws(APIError) -> BusinessDate? {
        guard let text = try string(name) else { return nil }
        guard let d = BusinessDate(parsing: text) else { throw .parameter(name, "must be a date yyyy-MM-dd") }
        return d
    }
}

/// Every error IMS answers over HTTP, thrown by handlers and middleware as Hummingbird expects
/// (`HTTPResponseError`): a status and the one error shape `{"error": "...", "field": "..."}`, naming the
/// field or parameter at fault. A 401 says how to sign in (`WWW-Authenticate`); a 429 or 503 says when to
/// retry (`Retry-After`), so a client resends with its idempotency key.
struct APIError: HTTPResponseError {
    var status: HTTPResponse.Status
    var message: String
    var field: String?
    var retryAfter: Int?
    /// The connection closes after the answer (a body the client may still be sending is not read).
    var closesConnection = false

    init(_ status: HTTPResponse.Status, _ message: String, field: String? = nil, retryAfter: Int? = nil, closesConnection: Bool = false) {
        self.status = status; self.message = message; self.field = field; self.retryAfter = retryAfter
        self.closesConnection = closesConnection
    }

    /// A query or path parameter that failed its check: 400 naming it.
    static func parameter(_ name: String, _ message: String) -> APIError { APIError(.badRequest, "\(name) \(message)", field: name) }

    /// The engine could not take a batch (its inbox is full, it is stopping, or the journal cannot write):
    /// 503, retry in a second.
    init(_ error: EngineError) { self.init(.serviceUnavailable, error.description, retryAfter: 1) }

    func response(from request: Request, context: some RequestContext) throws -> Response { response }

    /// The answer, outside a request (the connection guard's upgrade refusals, tests).
    var response: Response {
        var response = JSONResponse.failure(status, message, field: field)
        if status == .unauthorized { response.headers[.wwwAuthenticate] = #"Bearer realm="ims""# }
        if let retryAfter { response.headers[.retryAfter] = "\(retryAfter)" }
        if closesConnection { response.headers[.connection] = "close" }
        return response
    }
}

extension Engine {
    /// `submit`, its refusal thrown as the 503 the routes answer.
    func submitting(_ batch: IngestBatch) async throws(APIError) -> BatchOutcome {
        do { return try await submit(batch) } catch { throw APIError(error) }
    }

    /// Journals one desk command issued by `issuer` (received `at`) and returns its outcome once it is
    /// durable, applied and visible; a refusal is thrown naming its field, with the status `refusal` gives
    /// (422 unless the route says otherwise).
    func journal(
        _ command: some DeskCommand, issuer: String, at time: Timestamp = WallClock.now(),
        refusal: (LineError) -> HTTPResponse.Status = { _ in .unprocessableContent }
    ) async throws(APIError) -> BatchOutcome {
        var batch = IngestBatch(receivedAt: time, events: [Event(command)], lines: [1])
        batch.wantsResults = true
        batch.issuer = issuer
        let outcome = try await submitting(batch)
        if let refused = outcome.rejected.first { throw APIError(refusal(refused), refused.error, field: refused.field) }
        return outcome
    }
}

/// The wall clock, read only at the edge (the engine sees time as event fields).
enum WallClock {
    static func now() -> Timestamp {
        Timestamp(micros: SystemClock.wallMicros())
    }
}

extension RequestContext {
    /// A path parameter, percent-decoded, so that ids with spaces, `/` or non-ASCII characters (sent as
    /// `%20`, `%2F`, UTF-8 escapes) are read back through the paths that name them. Empty if absent or if
    /// its escapes are not valid UTF-8 (no id is empty, so the look-up then finds nothing).
    func pathParameter(_ name: String) -> String {
        guard let raw = parameters.get(name) else { return "" }
        return raw.removingPercentEncoding ?? ""
    }
}
