import Foundation

/// A JSON document read strictly: what a request body or rule document must be before anything decodes it.
///
/// `JSONDecoder` and `JSONSerialization` accept an object that repeats a key (one keeps the first, the other
/// the last), ignore keys no field names, and recurse once per level of nesting. A caller that decides on one
/// reading and acts on another can be made to act for someone else, and a deep enough document exhausts a
/// thread's stack. So every JSON body IMS takes is first read here:
///
/// - a key repeated in one object is refused, compared after escapes are decoded (`"client\u0049d"` is
///   `clientId`), naming the key;
/// - nesting deeper than `Limits.depth` is refused (the reader's own recursion is bounded by it);
/// - a string longer than `Limits.stringBytes` is refused, naming its key;
/// - invalid UTF-8, control characters in strings and anything that is not RFC 8259 JSON are refused.
///
/// The tree it builds then tells which keys the decoded value does not know (`firstUnknownKey`).
///
/// ```swift
/// let tree = try StrictJSON.parse(bytes, limits: .requestBody)
/// ```
public indirect enum JSONTree: Sendable {
    case object([JSONMember])
    case array([JSONTree])
    case string(String)
    /// A number, as written.
    case number(String)
    case bool(Bool)
    case null
}

/// One member of a JSON object, in the order written.
public struct JSONMember: Sendable {
    public var key: String
    public var value: JSONTree
}

/// Why a JSON document was refused: the field (a key path such as `packs[0].rules[1].when`, or `body`) and why.
public struct StrictJSONError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var message: String

    /// A `StrictJSONError` from its fields.
    public init(field: String, message: String) { self.field = field; self.message = message }

    public var description: String { "\(field): \(message)" }
}

public enum StrictJSON {
    /// What a document may hold.
    public struct Limits: Sendable {
        /// Levels of nesting (the top object is level 1).
        public var depth: Int
        /// UTF-8 bytes of one string (key or value).
        public var stringBytes: Int

        /// A `Limits` from its fields.
        public init(depth: Int, stringBytes: Int) { self.depth = depth; self.stringBytes = stringBytes }

        /// A request body of the API (locates, decisions, orders, acknowledgements, rule steps): flat objects
        /// with identifiers and short free text.
        public static let requestBody = Limits(depth: 8, stringBytes: InputBounds.maxTextBytes)
        /// A rule document: packs of rules with conditions; formulas are the longest strings.
        public static let ruleDocument = Limits(depth: 16, stringBytes: InputBounds.maxFormulaBytes)
    }

    /// Reads `bytes` as one JSON value under `limits`, or says what is wrong and where.
    public static func parse(_ bytes: [UInt8], limits: Limits) throws(StrictJSONError) -> JSONTree {
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw StrictJSONError(field: "body", message: "is not valid UTF-8")
        }
        var reader = Reader(bytes: bytes, limits: limits)
        reader.skipSpace()
        let value = try reader.value(path: "", depth: 1)
        reader.skipSpace()
        guard reader.i == bytes.count else { throw reader.fail("", "unexpected text after the JSON value at byte \(reader.i + 1)") }
        return value
    }

    /// The path of the first key of `input` that `known` (the decoded value encoded again) does not have, if
    /// any: a key nothing decoded, such as a misspelt condition. A member whose value is null is taken as
    /// absent. Where the two differ in shape (a value written in a short form), nothing below is compared.
    public static func firstUnknownKey(in input: JSONTree, known: JSONTree, path: String = "") -> String? {
        switch (input, known) {
        case (.object(let members), .object(let knownMembers)):
            for m in members {
                if case .null = m.value { continue }
                let at = join(path, m.key)
                guard let k = knownMembers.first(where: { $0.key == m.key }) else { return at }
                if let deeper = firstUnknownKey(in: m.value, known: k.value, path: at) { return deeper }
            }
            return nil
        case (.array(let items), .array(let knownItems)):
            for (i, item) in items.enumerated() where i < knownItems.count {
                if let deeper = firstUnknownKey(in: item, known: knownItems[i], path: "\(path)[\(i)]") { return deeper }
            }
            return nil
        default:
            return nil
        }
    }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    private struct Reader {
        let bytes: [UInt8]
        let limits: Limits
        var i = 0

        init(bytes: [UInt8], limits: Limits) { self.bytes = bytes; self.limits = limits }

        func fail(_ path: String, _ message: String) -> StrictJSONError {
            StrictJSONError(field: path.isEmpty ? "body" : path, message: message)
        }

        mutating func skipSpace() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
        }

        mutating func value(path: String, depth: Int) throws(StrictJSONError) -> JSONTree {
            guard i < bytes.count else { throw fail(path, "the JSON ends where a value was expected") }
            switch bytes[i] {
            case UInt8(ascii: "{"):
                guard depth <= limits.depth else { throw fail(path, "nests deeper than \(limits.depth) levels") }
                return try object(path: path, depth: depth)
            case UInt8(ascii: "["):
                guard depth <= limits.depth else { throw fail(path, "nests deeper than \(limits.depth) levels") }
                return try array(path: path, depth: depth)
            case UInt8(ascii: "\""): return .string(try string(path: path))
            case UInt8(ascii: "t"): try literal("true", path: path); return .bool(true)
            case UInt8(ascii: "f"): try literal("false", path: path); return .bool(false)
            case UInt8(ascii: "n"): try literal("null", path: path); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number(path: path))
            default: throw fail(path, "unexpected '\(Character(Unicode.Scalar(bytes[i])))' at byte \(i + 1) where a value was expected")
            }
        }

        mutating func literal(_ word: StaticString, path: String) throws(StrictJSONError) {
            let n = word.utf8CodeUnitCount
            let matches = word.withUTF8Buffer { w in i + n <= bytes.count && bytes[i..<(i + n)].elementsEqual(w) }
            guard matches else { throw fail(path, "is not a JSON value at byte \(i + 1)") }
            i += n
        }

        mutating func object(path: String, depth: Int) throws(StrictJSONError) -> JSONTree {
            i += 1
            var members: [JSONMember] = []
            var seen = Set<String>()
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
            while true {
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail(path, "expected a key in quotes at byte \(i + 1)") }
                let key = try string(path: path)
                let at = StrictJSON.join(path, key)
                guard seen.insert(key).inserted else { throw fail(at, "the key \(key) appears more than once in one object") }
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail(at, "expected ':' after the key at byte \(i + 1)") }
                i += 1
                skipSpace()
                let v = try value(path: at, depth: depth + 1)
                members.append(JSONMember(key: key, value: v))
                skipSpace()
                guard i < bytes.count else { throw fail(path, "the object is not closed") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                guard bytes[i] == UInt8(ascii: "}") else { throw fail(path, "expected ',' or '}' at byte \(i + 1)") }
                i += 1
                return .object(members)
            }
        }

        mutating func array(path: String, depth: Int) throws(StrictJSONError) -> JSONTree {
            i += 1
            var items: [JSONTree] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            while true {
                skipSpace()
                items.append(try value(path: "\(path)[\(items.count)]", depth: depth + 1))
                skipSpace()
                guard i < bytes.count else { throw fail(path, "the array is not closed") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                guard bytes[i] == UInt8(ascii: "]") else { throw fail(path, "expected ',' or ']' at byte \(i + 1)") }
                i += 1
                return .array(items)
            }
        }

        mutating func number(path: String) throws(StrictJSONError) -> String {
            let start = i
            func digits() -> Int { let s = i; while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 { i += 1 }; return i - s }
            if bytes[i] == UInt8(ascii: "-") { i += 1 }
            let intStart = i
            let n = digits()
            guard n > 0 else { throw fail(path, "is not a number") }
            guard n == 1 || bytes[intStart] != UInt8(ascii: "0") else { throw fail(path, "a number may not start with 0") }
            if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
                i += 1
                guard digits() > 0 else { throw fail(path, "is not a number (digits must follow '.')") }
            }
            if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
                i += 1
                if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
                guard digits() > 0 else { throw fail(path, "is not a number (digits must follow the exponent)") }
            }
            guard i - start <= 64 else { throw fail(path, "is a number of more than 64 characters") }
            return String(decoding: bytes[start..<i], as: UTF8.self)
        }

        mutating func string(path: String) throws(StrictJSONError) -> String {
            i += 1
            var out: [UInt8] = []
            while true {
                guard i < bytes.count else { throw fail(path, "a string is not closed") }
                let b = bytes[i]
                if b == UInt8(ascii: "\"") { i += 1; break }
                guard b >= 0x20 else { throw fail(path, "a string holds a control character (escape it)") }
                if b != UInt8(ascii: "\\") {
                    out.append(b); i += 1
                } else {
                    i += 1
                    guard i < bytes.count else { throw fail(path, "a string is not closed") }
                    let e = bytes[i]
                    i += 1
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4(path: path)
                        if (0xD800...0xDBFF).contains(scalar) {
                            guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                                throw fail(path, "a string holds half a surrogate pair")
                            }
                            i += 2
                            let low = try hex4(path: path)
                            guard (0xDC00...0xDFFF).contains(low) else { throw fail(path, "a string holds half a surrogate pair") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00...0xDFFF).contains(scalar) {
                            throw fail(path, "a string holds half a surrogate pair")
                        }
                        guard let u = Unicode.Scalar(scalar) else { throw fail(path, "a string holds an invalid \\u escape") }
                        out.append(contentsOf: Array(String(Character(u)).utf8))
                    default: throw fail(path, "a string holds an unknown escape \\\(Character(Unicode.Scalar(e)))")
                    }
                }
                guard out.count <= limits.stringBytes else { throw fail(path, "a string is longer than \(limits.stringBytes) bytes") }
            }
            return String(decoding: out, as: UTF8.self)
        }

        mutating func hex4(path: String) throws(StrictJSONError) -> UInt32 {
            guard i + 4 <= bytes.count else { throw fail(path, "a \\u escape needs four hex digits") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[i]
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                default: throw fail(path, "a \\u escape needs four hex digits")
                }
                v = v << 4 | d
                i += 1
            }
            return v
        }
    }
}

extension StrictJSON {
    /// Decodes a `T` from `bytes` read strictly: the document must pass `parse(_:limits:)`, decode as a `T`
    /// (a value of the wrong type is named by its key path, such as `quantity`), and hold no key that `T` does
    /// not know (found by encoding the decoded value again and comparing keys).
    public static func decode<T: Codable>(_ type: T.Type, from bytes: [UInt8], limits: Limits) throws(StrictJSONError) -> T {
        let tree = try parse(bytes, limits: limits)
        let value: T
        do {
            value = try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch let error as DecodingError {
            // Foundation reports a number its field cannot hold (1.5 or 10²⁰ for a whole number) as invalid JSON,
            // without a path; the document is valid JSON, so find the number that fails.
            if case .dataCorrupted(let c) = error, c.codingPath.isEmpty, let culprit = failingNumber(in: tree, decoding: T.self) {
                throw StrictJSONError(field: culprit, message: "must be a whole number within ±9223372036854775807")
            }
            throw described(error)
        } catch {
            throw StrictJSONError(field: "body", message: "\(error)")
        }
        let encoder = JSONEncoder()
        if let again = try? encoder.encode(value),
            let known = try? parse(Array(again), limits: Limits(depth: limits.depth + 8, stringBytes: .max)),
            let unknown = firstUnknownKey(in: tree, known: known)
        {
            throw StrictJSONError(field: unknown, message: "is not a field IMS knows here (misspelt?)")
        }
        return value
    }

    /// The path of the number (not a whole number, or too large for 64 bits) without which `tree` decodes
    /// further: each such number is taken out in turn and the rest decoded again.
    static func failingNumber<T: Decodable>(in tree: JSONTree, decoding type: T.Type) -> String? {
        var candidates: [String] = []
        func collect(_ t: JSONTree, _ path: String) {
            switch t {
            case .object(let members): for m in members { collect(m.value, join(path, m.key)) }
            case .array(let items): for (i, item) in items.enumerated() { collect(item, "\(path)[\(i)]") }
            case .number(let text) where Int64(text) == nil: candidates.append(path)
            default: break
            }
        }
        collect(tree, "")
        for path in candidates {
            let without = removing(path, from: tree, at: "")
            do { _ = try JSONDecoder().decode(T.self, from: Data(text(without).utf8)); return path } catch let error as DecodingError {
                if case .dataCorrupted(let c) = error, c.codingPath.isEmpty { continue }
                return path
            } catch { continue }
        }
        return candidates.first
    }

    private static func removing(_ target: String, from t: JSONTree, at path: String) -> JSONTree {
        switch t {
        case .object(let members):
            return .object(
                members.compactMap { m in
                    let p = join(path, m.key)
                    return p == target ? nil : JSONMember(key: m.key, value: removing(target, from: m.value, at: p))
                })
        case .array(let items):
            return .array(
                items.enumerated().map { i, item in
                    let p = "\(path)[\(i)]"
                    return p == target ? .null : removing(target, from: item, at: p)
                })
        default: return t
        }
    }

    /// The tree as JSON text.
    static func text(_ t: JSONTree) -> String {
        switch t {
        case .object(let members): return "{" + members.map { JSONText.quoted($0.key) + ":" + text($0.value) }.joined(separator: ",") + "}"
        case .array(let items): return "[" + items.map(text).joined(separator: ",") + "]"
        case .string(let s): return JSONText.quoted(s)
        case .number(let n): return n
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        }
    }

    /// A decoding error as the key path at fault and why.
    public static func described(_ error: DecodingError) -> StrictJSONError {
        func path(_ keys: [any CodingKey]) -> String {
            var text = ""
            for key in keys {
                if let i = key.intValue { text += "[\(i)]" } else { text += (text.isEmpty ? "" : ".") + key.stringValue }
            }
            return text.isEmpty ? "body" : text
        }
        switch error {
        case .keyNotFound(let key, let c): return StrictJSONError(field: path(c.codingPath + [key]), message: "is missing")
        case .typeMismatch(let type, let c): return StrictJSONError(field: path(c.codingPath), message: "must be \(expected(type))")
        case .valueNotFound(let type, let c): return StrictJSONError(field: path(c.codingPath), message: "must be \(expected(type)), not null")
        case .dataCorrupted(let c):
            // JSONDecoder says "Number 1e30 is not representable in Swift" of a number too large for its field.
            let message =
                c.debugDescription.contains("not representable") || c.debugDescription.contains("does not fit")
                ? "is not a whole number IMS can hold (\(c.debugDescription))" : c.debugDescription
            return StrictJSONError(field: path(c.codingPath), message: message)
        @unknown default: return StrictJSONError(field: "body", message: "\(error)")
        }
    }

    static func expected(_ type: Any.Type) -> String {
        switch type {
        case is Int64.Type, is Int.Type, is Int32.Type: "a whole number"
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        case is Double.Type: "a number"
        default:
            String(describing: type).hasPrefix("Array") ? "a list" : String(describing: type).hasPrefix("Dictionary") ? "an object" : "\(type)"
        }
    }
}
