import Foundation
import HTTPTypes
import IMSDomain
import IMSRules

/// Decisions as the decision channel (`/ws/decisions`) and `POST /api/v1/decisions` take them, and their answers.
///
/// A message is a JSON object: a `correlationId` the caller chooses (echoed in its answer), a `type`, and the
/// fields of the matching REST body:
///
/// ```text
/// {"correlationId":"c1","type":"locate","requestId":"R1","clientId":"C1","securityId":"IBM","quantity":100,"side":"SHORT"}
/// {"correlationId":"c2","type":"order","orderId":"O1","clientId":"C1","bookId":"C1","securityId":"IBM","side":"SELL_SHORT","quantity":100,"price":"100"}
/// {"correlationId":"c3","type":"cancelLocate","locateId":"L-…","reason":"not needed"}
/// {"correlationId":"c4","type":"cancelOrder","orderId":"O1","reason":"the OMS cancelled it"}
/// ```
///
/// A frame (or a body) holds one message, or a JSON array of them. Each message is read on its own, strictly (a
/// repeated key, an unknown key, a value of the wrong type is refused naming it), so that one bad message is
/// answered with an error naming its correlation id and field while the others are decided.
///
/// An answer is `{"correlationId":…,"status":…}` with the status the REST route would answer and, on success,
/// the `locate` or `order` as the REST route shows it; otherwise `error` and `field` (and `retryAfter` with a
/// 503).
enum DecisionMessages {
    /// One message read: its correlation id (nil when it has none that is a string), and the request or the
    /// answer refusing it.
    struct Message: Sendable {
        var correlationId: String?
        var request: Result<DecisionDesk.Request, DecisionDesk.Answer>
    }

    /// The messages of a frame, and whether they came as an array (answered as one); or the answer refusing a
    /// frame that is neither a JSON object nor an array of them.
    static func read(_ bytes: [UInt8]) -> Result<(messages: [Message], isArray: Bool), DecisionDesk.Answer> {
        var i = 0
        while i < bytes.count, isSpace(bytes[i]) { i += 1 }
        guard i < bytes.count else { return .failure(notAMessage) }
        if bytes[i] == UInt8(ascii: "{") { return .success(([message(bytes)], false)) }
        guard bytes[i] == UInt8(ascii: "[") else { return .failure(notAMessage) }
        guard let elements = elements(of: bytes, from: i) else {
            return .failure(.failure(.badRequest, "the array of decisions is not valid JSON", field: "body"))
        }
        if elements.count > maxPerFrame {
            return .failure(.failure(.contentTooLarge, "at most \(maxPerFrame) decisions in one frame or body", field: "body"))
        }
        return .success((elements.map { message(Array(bytes[$0])) }, true))
    }

    /// The most decisions one frame or body may hold.
    static let maxPerFrame = 10_000

    static let notAMessage = DecisionDesk.Answer.failure(
        .badRequest, #"a decision is a JSON object such as {"correlationId":"c1","type":"locate",…}, or an array of them"#, field: "body")

    /// The byte ranges of the elements of the array starting at `start`, or nil when it is not well formed at its
    /// top level (each element is then read strictly on its own).
    static func elements(of b: [UInt8], from start: Int) -> [Range<Int>]? {
        var out: [Range<Int>] = []
        var i = start + 1, depth = 0, elementStart = -1
        var inString = false
        while i < b.count {
            let c = b[i]
            if inString {
                if c == UInt8(ascii: "\\") { i += 2; continue }
                if c == UInt8(ascii: "\"") { inString = false }
                i += 1
                continue
            }
            switch c {
            case UInt8(ascii: "\""):
                inString = true
                if elementStart < 0 { elementStart = i }
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                if depth == 0 && elementStart < 0 { elementStart = i }
                depth += 1
            case UInt8(ascii: "}"):
                depth -= 1
                if depth < 0 { return nil }
            case UInt8(ascii: "]"):
                if depth == 0 {
                    if elementStart >= 0 { out.append(elementStart..<i) } else if !out.isEmpty { return nil } // a trailing comma
                    i += 1
                    while i < b.count, isSpace(b[i]) { i += 1 }
                    return i == b.count ? out : nil
                }
                depth -= 1
            case UInt8(ascii: ","):
                if depth == 0 {
                    guard elementStart >= 0 else { return nil }
                    out.append(elementStart..<i)
                    elementStart = -1
                }
            default:
                if !isSpace(c) && elementStart < 0 { elementStart = i }
            }
            i += 1
        }
        return nil
    }

    static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 }

    /// One message, read strictly: through `FlatJSON` when it can (a flat object without escapes or repeated
    /// keys, every member known and of its type: what order systems send), else through `StrictJSON`, which
    /// gives the same answer or names what is wrong. Building no tree matters here: the channel reads one message
    /// per decision.
    static func message(_ bytes: [UInt8]) -> Message {
        if let fast = flatMessage(bytes) { return fast }
        return strictMessage(bytes)
    }

    static let locateKeys = Set(["correlationId", "type"]).union(LocateRoutes.requestFields)
    static let orderKeys = Set(["correlationId", "type"]).union(OrderRoutes.fields)
    static let cancelKeys: Set<String> = ["correlationId", "type", "locateId", "clientId", "user", "reason"]

    /// The message when `FlatJSON` reads it and every member is known and of its type; nil otherwise (the strict
    /// reading then decides, and names any fault).
    static func flatMessage(_ bytes: [UInt8]) -> Message? {
        guard let o = FlatJSON(Data(bytes)), let id = o.string("correlationId"), let correlationId = id,
            InputBounds.identifier(correlationId, field: "correlationId") == nil, let t = o.string("type"), let type = t
        else { return nil }
        switch type {
        case "locate":
            guard o.hasOnly(locateKeys), let requestId = o.string("requestId"), let clientId = o.string("clientId"),
                let securityId = o.string("securityId"), let quantity = o.int64("quantity"), let side = o.string("side"),
                let settlement = o.string("settlement"), let requestor = o.string("requestor")
            else { return nil }
            return Message(
                correlationId: correlationId,
                request: .success(
                    .locate(
                        LocateRoutes.RequestBody(
                            requestId: requestId, clientId: clientId, securityId: securityId, quantity: quantity, side: side,
                            settlement: settlement, requestor: requestor))))
        case "order":
            guard o.hasOnly(orderKeys), let orderId = o.string("orderId"), let clientId = o.string("clientId"), let bookId = o.string("bookId"),
                let securityId = o.string("securityId"), let side = o.string("side"), let quantity = o.int64("quantity"),
                let price = o.decimal("price"), let user = o.string("user")
            else { return nil }
            return Message(
                correlationId: correlationId,
                request: .success(
                    .order(
                        OrderRoutes.Body(
                            orderId: orderId, clientId: clientId, bookId: bookId, securityId: securityId, side: side, quantity: quantity,
                            price: price, user: user))))
        case "cancelLocate":
            guard o.hasOnly(cancelKeys), let l = o.string("locateId"), let locateId = l, let clientId = o.string("clientId"),
                let user = o.string("user"), let reason = o.string("reason")
            else { return nil }
            return Message(
                correlationId: correlationId,
                request: .success(.cancelLocate(locateId: locateId, LocateRoutes.Cancel(clientId: clientId, user: user, reason: reason))))
        default:
            return nil
        }
    }

    /// One message, read through `StrictJSON` (a tree), naming any fault.
    static func strictMessage(_ bytes: [UInt8]) -> Message {
        let tree: JSONTree
        do throws(StrictJSONError) { tree = try StrictJSON.parse(bytes, limits: .requestBody) } catch {
            // Its correlation id as a lenient reading finds it, so the error can name the message.
            let lenient = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any]
            let field = error.field == "body" ? "message" : error.field
            return Message(
                correlationId: lenient?["correlationId"] as? String, request: .failure(.failure(.badRequest, "\(field): \(error.message)", field: field)))
        }
        guard case .object(let members) = tree else { return Message(correlationId: nil, request: .failure(notAMessage)) }
        var fields = Fields(members: members)
        let correlationId: String?
        do throws(DecisionDesk.Answer) {
            correlationId = try fields.string("correlationId")
        } catch {
            return Message(correlationId: nil, request: .failure(error))
        }
        do throws(DecisionDesk.Answer) {
            guard let id = correlationId else { throw .failure(.badRequest, "correlationId is required: each answer carries it", field: "correlationId") }
            if let bad = InputBounds.identifier(id, field: "correlationId") { throw .failure(.badRequest, bad.message, field: bad.field) }
            guard let type = try fields.string("type") else {
                throw .failure(.badRequest, "type is required: locate, order, cancelLocate or cancelOrder", field: "type")
            }
            let request: DecisionDesk.Request
            switch type {
            case "locate":
                request = .locate(
                    LocateRoutes.RequestBody(
                        requestId: try fields.string("requestId"), clientId: try fields.string("clientId"), securityId: try fields.string("securityId"),
                        quantity: try fields.int64("quantity"), side: try fields.string("side"), settlement: try fields.string("settlement"),
                        requestor: try fields.string("requestor")))
            case "order":
                request = .order(
                    OrderRoutes.Body(
                        orderId: try fields.string("orderId"), clientId: try fields.string("clientId"), bookId: try fields.string("bookId"),
                        securityId: try fields.string("securityId"), side: try fields.string("side"), quantity: try fields.int64("quantity"),
                        price: try fields.decimal("price"), user: try fields.string("user")))
            case "cancelLocate":
                guard let locateId = try fields.string("locateId") else { throw .failure(.unprocessableContent, "locateId is required", field: "locateId") }
                request = .cancelLocate(
                    locateId: locateId,
                    LocateRoutes.Cancel(clientId: try fields.string("clientId"), user: try fields.string("user"), reason: try fields.string("reason")))
            case "cancelOrder":
                guard let orderId = try fields.string("orderId") else { throw .failure(.unprocessableContent, "orderId is required", field: "orderId") }
                request = .cancelOrder(
                    orderId: orderId,
                    OrderRoutes.Cancel(clientId: try fields.string("clientId"), reason: try fields.string("reason"), user: try fields.string("user")))
            default:
                throw .failure(.badRequest, "type must be locate, order, cancelLocate or cancelOrder", field: "type")
            }
            if let unknown = fields.unread {
                throw .failure(.badRequest, "\(unknown) is not a field IMS knows in a \(type) decision (misspelt?)", field: unknown)
            }
            return Message(correlationId: id, request: .success(request))
        } catch {
            return Message(correlationId: correlationId, request: .failure(error))
        }
    }

    /// A message's members, read by name with their types checked; what was never read is an unknown key.
    struct Fields {
        let members: [JSONMember]
        private var read: Set<String> = []

        init(members: [JSONMember]) { self.members = members }

        private mutating func value(_ key: String) -> JSONTree? {
            read.insert(key)
            guard let m = members.first(where: { $0.key == key }) else { return nil }
            if case .null = m.value { return nil }
            return m.value
        }

        mutating func string(_ key: String) throws(DecisionDesk.Answer) -> String? {
            guard let v = value(key) else { return nil }
            guard case .string(let s) = v else { throw .failure(.badRequest, "\(key) must be a string", field: key) }
            return s
        }

        mutating func int64(_ key: String) throws(DecisionDesk.Answer) -> Int64? {
            guard let v = value(key) else { return nil }
            guard case .number(let text) = v, let n = Int64(text) else {
                throw .failure(.badRequest, "\(key) must be a whole number within ±9223372036854775807", field: key)
            }
            return n
        }

        mutating func decimal(_ key: String) throws(DecisionDesk.Answer) -> Decimal8Text? {
            guard let v = value(key) else { return nil }
            let text: String
            switch v {
            case .string(let s): text = s
            case .number(let n): text = Double(n).map { "\($0)" } ?? n
            default: throw .failure(.badRequest, "\(key) must be a decimal, as a string or a number", field: key)
            }
            guard let d = Decimal8(text) else { throw .failure(.badRequest, "\(key): \(text) is not a decimal with at most 8 places", field: key) }
            return Decimal8Text(d)
        }

        /// The first key no read asked for.
        var unread: String? { members.first { !read.contains($0.key) }?.key }
    }

    // MARK: Answers

    /// One answer's JSON.
    static func json(_ answer: DecisionDesk.Answer, correlationId: String?, resource: String?) -> String {
        var j = JSONText(capacity: 96 + (answer.body?.utf8.count ?? 64))
        write(answer, correlationId: correlationId, resource: resource, into: &j)
        return j.text
    }

    static func write(_ answer: DecisionDesk.Answer, correlationId: String?, resource: String?, into j: inout JSONText) {
        j.object { j in
            j.key("correlationId")
            if let correlationId { j.string(correlationId) } else { j.null() }
            j.field("status", Int64(answer.status.code))
            if let body = answer.body {
                j.key(dynamic: resource ?? "result")
                j.raw(body)
            } else {
                j.field("error", answer.error ?? "failed")
                j.field("field", answer.field)
                if let after = answer.retryAfter { j.field("retryAfter", Int64(after)) }
            }
        }
    }

    /// Several messages' texts (each an answer object, a notice object, or an array of answers) as one JSON array
    /// of every element, in order: what the channel writes when several frames' answers are ready at once.
    static func joined(_ texts: [String]) -> String {
        var out = "["
        out.reserveCapacity(texts.reduce(2) { $0 + $1.utf8.count + 1 })
        var first = true
        for text in texts {
            guard let open = text.utf8.first else { continue }
            let inner = open == UInt8(ascii: "[") ? text.dropFirst().dropLast() : Substring(text)
            if inner.isEmpty { continue }
            if !first { out += "," }
            out += inner
            first = false
        }
        return out + "]"
    }

    /// The answers to a frame's messages: one object, or an array in the messages' order.
    static func json(_ answers: [(answer: DecisionDesk.Answer, correlationId: String?, resource: String?)], isArray: Bool) -> String {
        guard isArray else { return answers.first.map { json($0.answer, correlationId: $0.correlationId, resource: $0.resource) } ?? "[]" }
        var j = JSONText(capacity: answers.reduce(16) { $0 + 96 + ($1.answer.body?.utf8.count ?? 64) })
        j.array { j in for a in answers { write(a.answer, correlationId: a.correlationId, resource: a.resource, into: &j) } }
        return j.text
    }
}
