import Foundation
import Hummingbird
import IMSDomain

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

    func string(_ name: String) -> String? {
        guard let v = values[name], !v.isEmpty else { return nil }
        return v
    }

    func int(_ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = string(name) else { return value }
        guard let v = Int(text), range.contains(v) else {
            throw BadParameter(name: name, message: "must be a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return v
    }

    func enumeration<E: RawRepresentable & CaseIterable>(_ name: String, _ type: E.Type) throws -> E? where E.RawValue == String {
        guard let text = string(name) else { return nil }
        guard let v = E(rawValue: text) else {
            throw BadParameter(name: name, message: "must be one of \(E.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return v
    }

    func bool(_ name: String, default value: Bool) throws -> Bool {
        guard let text = string(name) else { return value }
        switch text {
        case "true": return true
        case "false": return false
        default: throw BadParameter(name: name, message: "must be true or false")
        }
    }

    func timestamp(_ name: String) throws -> Timestamp? {
        guard let text = string(name) else { return nil }
        guard let t = Timestamp(parsing: text) else { throw BadParameter(name: name, message: "must be an ISO-8601 time such as 2026-11-30T14:30:00Z") }
        return t
    }

    func date(_ name: String) throws -> BusinessDate? {
        guard let text = string(name) else { return nil }
        guard let d = BusinessDate(parsing: text) else { throw BadParameter(name: name, message: "must be a date yyyy-MM-dd") }
        return d
    }
}

/// A query parameter that failed its check.
struct BadParameter: Error {
    var name: String
    var message: String

    var response: Response { JSONResponse.failure(.badRequest, "\(name) \(message)", field: name) }
}

/// The wall clock, read only at the edge (the engine sees time as event fields).
enum WallClock {
    static func now() -> Timestamp {
        Timestamp(micros: SystemClock.wallMicros())
    }
}
