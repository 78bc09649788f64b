import Foundation
import Hummingbird
import IMSDomain
import NIOCore

/// How every route reads a JSON request body: once, strictly, into the value the handler then acts on.
///
/// A body is read up to a limit (413 beyond), parsed by `StrictJSON` (a repeated key, also through an escape
/// such as `"client\u0049d"`, deep nesting, an over-long string or invalid UTF-8 is refused with 400 naming the
/// key), decoded (a value of the wrong type is named by its field: `quantity must be a whole number`), and
/// compared with the fields its type knows (an unknown field is refused, as in events). Authorization that
/// depends on the body (a client acting for its own client) is decided on this decoded value, in the handler:
/// there is no second reading of the bytes that could disagree with it.
enum JSONBody {
    /// The bytes of `request`'s body, at most `limit` (413 naming `body` beyond).
    static func bytes(_ request: Request, limit: Int = InputBounds.maxCommandBodyBytes) async throws -> Data {
        var request = request
        do {
            let buffer = try await request.collectBody(upTo: limit)
            return Data(buffer.readableBytesView)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "the body is larger than \(limit) bytes", field: "body")
        }
    }

    /// `T` decoded strictly from `data`; `shape` says what the body should look like, for the error.
    static func decode<T: Codable>(_ type: T.Type, from data: Data, shape: String, limits: StrictJSON.Limits = .requestBody) throws(APIError) -> T {
        guard let first = data.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }), first == UInt8(ascii: "{") else {
            throw APIError(.badRequest, "the body must be a JSON object \(shape)", field: "body")
        }
        do { return try StrictJSON.decode(T.self, from: Array(data), limits: limits) } catch {
            throw APIError(.badRequest, "\(error.field == "body" ? "the body" : error.field): \(error.message) (the body must be \(shape))", field: error.field)
        }
    }

    /// Reads and decodes in one step.
    static func decode<T: Codable>(
        _ type: T.Type, from request: Request, shape: String, limit: Int = InputBounds.maxCommandBodyBytes,
        limits: StrictJSON.Limits = .requestBody
    ) async throws -> T {
        try decode(type, from: try await bytes(request, limit: limit), shape: shape, limits: limits)
    }
}
