import IMSDomain

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One `"key": value` of a flat JSON object, as byte offsets into the line.
struct ScannedField {
    var keyStart: Int32
    var keyEnd: Int32
    var valueStart: Int32
    var valueEnd: Int32
    var kind: Kind
    var escaped: Bool

    enum Kind: UInt8 { case string, number, trueValue, falseValue, null, object, array }
}

/// A small JSON value tree, used only for the rare nested fields (maps, baskets).
enum JSONValue: Equatable {
    case string(String)
    case number(String)
    case bool(Bool)
    case null
    case array([JSONValue])
    case object([(String, JSONValue)])

    static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)), (.number(let x), .number(let y)): x == y
        case (.bool(let x), .bool(let y)): x == y
        case (.null, .null): true
        case (.array(let x), .array(let y)): x == y
        case (.object(let x), .object(let y)): x.map(\.0) == y.map(\.0) && x.map(\.1) == y.map(\.1)
        default: false
        }
    }
}

/// A byte-level JSON scanner for one NDJSON line: finds the fields of a flat
/// object without building any intermediate values (SPEC 8: ingest needs far
/// more than `JSONDecoder`'s ~270,000 events/s per core).
enum JSONScanner {
    struct Failure: Error {
        var message: String
        var field: String = "json"
    }

    /// Scans `{ "k": v, ... }` into `fields` (cleared first). Nested objects and arrays are skipped whole.
    static func scanObject(_ b: UnsafeRawBufferPointer, into fields: inout [ScannedField]) throws(Failure) {
        fields.removeAll(keepingCapacity: true)
        var i = skipSpace(b, 0)
        guard i < b.count, b[i] == UInt8(ascii: "{") else { throw Failure(message: "each line must be a JSON object") }
        i = skipSpace(b, i + 1)
        if i < b.count, b[i] == UInt8(ascii: "}") {
            guard skipSpace(b, i + 1) == b.count else { throw Failure(message: "unexpected text after the object") }
            return
        }
        while true {
            guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw Failure(message: "expected a field name at byte \(i + 1)") }
            let keyStart = i + 1
            let (keyEnd, keyEscaped) = try scanString(b, keyStart)
            if keyEscaped { throw Failure(message: "field names must not contain escapes") }
            i = skipSpace(b, keyEnd + 1)
            guard i < b.count, b[i] == UInt8(ascii: ":") else { throw Failure(message: "expected ':' after field name at byte \(i + 1)") }
            i = skipSpace(b, i + 1)
            guard i < b.count else { throw Failure(message: "missing value at end of line") }
            var field = ScannedField(keyStart: Int32(keyStart), keyEnd: Int32(keyEnd), valueStart: Int32(i), valueEnd: 0, kind: .null, escaped: false)
            switch b[i] {
            case UInt8(ascii: "\""):
                let (end, escaped) = try scanString(b, i + 1)
                field.valueStart = Int32(i + 1)
                field.valueEnd = Int32(end)
                field.kind = .string
                field.escaped = escaped
                i = end + 1
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let end = try skipNested(b, i)
                field.valueEnd = Int32(end)
                field.kind = b[i] == UInt8(ascii: "{") ? .object : .array
                i = end
            case UInt8(ascii: "t"):
                try expectLiteral(b, i, "true"); field.kind = .trueValue; i += 4; field.valueEnd = Int32(i)
            case UInt8(ascii: "f"):
                try expectLiteral(b, i, "false"); field.kind = .falseValue; i += 5; field.valueEnd = Int32(i)
            case UInt8(ascii: "n"):
                try expectLiteral(b, i, "null"); field.kind = .null; i += 4; field.valueEnd = Int32(i)
            default:
                var j = i
                while j < b.count, isNumberByte(b[j]) { j += 1 }
                guard j > i else { throw Failure(message: "unexpected character '\(Character(UnicodeScalar(b[i])))' at byte \(i + 1)") }
                let digits = b[i] == UInt8(ascii: "-") ? i + 1 : i
                if digits + 1 < j, b[digits] == UInt8(ascii: "0"), b[digits + 1] &- 48 < 10 {
                    throw Failure(
                        message: "a number must not start with 0 (JSON has no leading zeros)",
                        field: String(decoding: UnsafeRawBufferPointer(rebasing: b[keyStart..<keyEnd]), as: UTF8.self))
                }
                field.valueEnd = Int32(j)
                field.kind = .number
                i = j
            }
            let key = UnsafeRawBufferPointer(rebasing: b[keyStart..<keyEnd])
            for f in fields
            where f.keyEnd - f.keyStart == Int32(key.count)
                && memcmp(b.baseAddress! + Int(f.keyStart), key.baseAddress!, key.count) == 0
            {
                throw Failure(message: "field appears twice", field: String(decoding: key, as: UTF8.self))
            }
            fields.append(field)
            i = skipSpace(b, i)
            guard i < b.count else { throw Failure(message: "unterminated object (missing '}')") }
            if b[i] == UInt8(ascii: ",") {
                i = skipSpace(b, i + 1)
                continue
            }
            guard b[i] == UInt8(ascii: "}") else { throw Failure(message: "expected ',' or '}' at byte \(i + 1)") }
            guard skipSpace(b, i + 1) == b.count else { throw Failure(message: "unexpected text after the object") }
            return
        }
    }

    @inline(__always) static func isNumberByte(_ c: UInt8) -> Bool {
        (c &- 48) < 10 || c == UInt8(ascii: "-") || c == UInt8(ascii: "+") || c == UInt8(ascii: ".") || c | 0x20 == UInt8(ascii: "e")
    }

    @inline(__always) static func skipSpace(_ b: UnsafeRawBufferPointer, _ start: Int) -> Int {
        var i = start
        while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0D || b[i] == 0x0A { i += 1 }
        return i
    }

    /// Finds the closing quote of a string starting at `start` (just after the opening quote).
    @inline(__always) static func scanString(_ b: UnsafeRawBufferPointer, _ start: Int) throws(Failure) -> (end: Int, escaped: Bool) {
        var i = start
        var escaped = false
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") { return (i, escaped) }
            if c == UInt8(ascii: "\\") { escaped = true; i += 2; continue }
            if c < 0x20 { throw Failure(message: "control character inside a string at byte \(i + 1)") }
            i += 1
        }
        throw Failure(message: "unterminated string")
    }

    private static func expectLiteral(_ b: UnsafeRawBufferPointer, _ i: Int, _ literal: StaticString) throws(Failure) {
        let n = literal.utf8CodeUnitCount
        guard i + n <= b.count, memcmp(b.baseAddress! + i, literal.utf8Start, n) == 0 else {
            throw Failure(message: "invalid literal at byte \(i + 1)")
        }
    }

    /// The index just past the object or array starting at `start`.
    private static func skipNested(_ b: UnsafeRawBufferPointer, _ start: Int) throws(Failure) -> Int {
        var depth = 0
        var i = start
        while i < b.count {
            switch b[i] {
            case UInt8(ascii: "\""): i = try scanString(b, i + 1).end
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 0 { return i + 1 }
            default: break
            }
            i += 1
        }
        throw Failure(message: "unterminated object or array")
    }

    /// Decodes a string's contents with its escapes.
    static func unescape(_ b: UnsafeRawBufferPointer, field: StaticString) throws(FieldError) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var i = 0
        func hex4(_ at: Int) throws(FieldError) -> UInt32 {
            guard at + 4 <= b.count else { throw FieldError("\(field)", "invalid \\u escape") }
            var v: UInt32 = 0
            for k in at..<at + 4 {
                let c = b[k]
                let d: UInt32
                switch c {
                case 48...57: d = UInt32(c - 48)
                case 65...70: d = UInt32(c - 55)
                case 97...102: d = UInt32(c - 87)
                default: throw FieldError("\(field)", "invalid \\u escape")
                }
                v = v << 4 | d
            }
            return v
        }
        while i < b.count {
            let c = b[i]
            guard c == UInt8(ascii: "\\") else { out.append(c); i += 1; continue }
            guard i + 1 < b.count else { throw FieldError("\(field)", "invalid escape") }
            let e = b[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(8)
            case UInt8(ascii: "f"): out.append(12)
            case UInt8(ascii: "n"): out.append(10)
            case UInt8(ascii: "r"): out.append(13)
            case UInt8(ascii: "t"): out.append(9)
            case UInt8(ascii: "u"):
                var scalar = try hex4(i)
                i += 4
                if (0xD800..<0xDC00).contains(scalar) {
                    guard i + 6 <= b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") else {
                        throw FieldError("\(field)", "unpaired surrogate in \\u escape")
                    }
                    let low = try hex4(i + 2)
                    guard (0xDC00..<0xE000).contains(low) else { throw FieldError("\(field)", "unpaired surrogate in \\u escape") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                }
                guard let u = Unicode.Scalar(scalar) else { throw FieldError("\(field)", "invalid \\u escape") }
                out.append(contentsOf: Array(String(Character(u)).utf8))
            default: throw FieldError("\(field)", "invalid escape \\\(Character(UnicodeScalar(e)))")
            }
        }
        guard let text = String(validating: out, as: UTF8.self) else {
            throw FieldError("\(field)", "is not valid UTF-8 (bytes are never replaced, so that two different ids cannot become one)")
        }
        return text
    }

    /// Parses a whole JSON value (for nested fields).
    static func parseValue(_ b: UnsafeRawBufferPointer, field: StaticString) throws(FieldError) -> JSONValue {
        var i = 0
        let v = try parse(b, &i, field: field, depth: 0)
        guard skipSpace(b, i) == b.count else { throw FieldError("\(field)", "invalid JSON") }
        return v
    }

    private static func parse(_ b: UnsafeRawBufferPointer, _ i: inout Int, field: StaticString, depth: Int) throws(FieldError) -> JSONValue {
        guard depth < 16 else { throw FieldError("\(field)", "nested too deeply") }
        i = skipSpace(b, i)
        guard i < b.count else { throw FieldError("\(field)", "invalid JSON") }
        switch b[i] {
        case UInt8(ascii: "\""):
            let start = i + 1
            guard let (end, escaped) = try? scanString(b, start) else { throw FieldError("\(field)", "unterminated string") }
            i = end + 1
            let bytes = UnsafeRawBufferPointer(rebasing: b[start..<end])
            return .string(escaped ? try unescape(bytes, field: field) : try validUTF8(bytes, field: field))
        case UInt8(ascii: "{"):
            i += 1
            var pairs: [(String, JSONValue)] = []
            i = skipSpace(b, i)
            if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .object(pairs) }
            while true {
                guard case .string(let key) = try parse(b, &i, field: field, depth: depth + 1) else {
                    throw FieldError("\(field)", "object keys must be strings")
                }
                i = skipSpace(b, i)
                guard i < b.count, b[i] == UInt8(ascii: ":") else { throw FieldError("\(field)", "expected ':'") }
                i += 1
                pairs.append((key, try parse(b, &i, field: field, depth: depth + 1)))
                i = skipSpace(b, i)
                guard i < b.count else { throw FieldError("\(field)", "unterminated object") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                guard b[i] == UInt8(ascii: "}") else { throw FieldError("\(field)", "expected ',' or '}'") }
                i += 1
                return .object(pairs)
            }
        case UInt8(ascii: "["):
            i += 1
            var items: [JSONValue] = []
            i = skipSpace(b, i)
            if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            while true {
                items.append(try parse(b, &i, field: field, depth: depth + 1))
                i = skipSpace(b, i)
                guard i < b.count else { throw FieldError("\(field)", "unterminated array") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                guard b[i] == UInt8(ascii: "]") else { throw FieldError("\(field)", "expected ',' or ']'") }
                i += 1
                return .array(items)
            }
        case UInt8(ascii: "t") where b.count - i >= 4 && memcmp(b.baseAddress! + i, "true", 4) == 0: i += 4; return .bool(true)
        case UInt8(ascii: "f") where b.count - i >= 5 && memcmp(b.baseAddress! + i, "false", 5) == 0: i += 5; return .bool(false)
        case UInt8(ascii: "n") where b.count - i >= 4 && memcmp(b.baseAddress! + i, "null", 4) == 0: i += 4; return .null
        default:
            let start = i
            while i < b.count, isNumberByte(b[i]) { i += 1 }
            guard i > start else { throw FieldError("\(field)", "invalid JSON") }
            return .number(String(decoding: UnsafeRawBufferPointer(rebasing: b[start..<i]), as: UTF8.self))
        }
    }
}

/// The fields of one scanned JSON line, read by name.
struct JSONFieldSource: FieldSource {
    let line: UnsafeRawBufferPointer
    let fields: [ScannedField]
    var read: UInt64 = 0

    mutating func raw(_ name: StaticString) -> RawValue? {
        let n = name.utf8CodeUnitCount
        for (i, f) in fields.enumerated()
        where Int(f.keyEnd - f.keyStart) == n
            && memcmp(line.baseAddress! + Int(f.keyStart), name.utf8Start, n) == 0
        {
            if i < 64 { read |= 1 << UInt64(i) }
            let v = UnsafeRawBufferPointer(rebasing: line[Int(f.valueStart)..<Int(f.valueEnd)])
            switch f.kind {
            case .string: return .string(v, escaped: f.escaped)
            case .number: return .number(v)
            case .trueValue: return .bool(true)
            case .falseValue: return .bool(false)
            case .null: return .null
            case .object: return .object(v)
            case .array: return .array(v)
            }
        }
        return nil
    }

    func unreadField() -> String? {
        for (i, f) in fields.enumerated() where i >= 64 || read & (1 << UInt64(i)) == 0 {
            return String(decoding: UnsafeRawBufferPointer(rebasing: line[Int(f.keyStart)..<Int(f.keyEnd)]), as: UTF8.self)
        }
        return nil
    }
}
