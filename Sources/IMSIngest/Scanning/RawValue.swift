import IMSDomain

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A field's value as found in the input, before it is typed: bytes borrowed from the batch body.
enum RawValue {
    /// A JSON string's contents (between the quotes); `escaped` if it contains backslashes.
    case string(UnsafeRawBufferPointer, escaped: Bool)
    /// A JSON number's text.
    case number(UnsafeRawBufferPointer)
    case bool(Bool)
    case null
    /// A whole JSON object or array, brackets included.
    case object(UnsafeRawBufferPointer)
    case array(UnsafeRawBufferPointer)
    /// An untyped CSV cell.
    case text(UnsafeRawBufferPointer)
}

/// Where an event's fields come from (a JSON object or a CSV row). Decoders are written once against this.
protocol FieldSource {
    /// The raw value of a field, marking it as read; nil if absent.
    mutating func raw(_ name: StaticString) -> RawValue?
    /// The name of a field that was present but never read, if any.
    func unreadField() -> String?
}

@inline(__always) func bytesEqual(_ a: UnsafeRawBufferPointer, _ b: StaticString) -> Bool {
    guard a.count == b.utf8CodeUnitCount else { return false }
    return memcmp(a.baseAddress!, b.utf8Start, a.count) == 0
}

extension FieldSource {
    /// A string field: valid UTF-8 (refused otherwise, never repaired: two different byte strings must not
    /// become one id) of at most `limit` bytes.
    mutating func string(_ name: StaticString, limit: Int = InputBounds.maxTextBytes) throws(FieldError) -> String? {
        let value: String
        switch raw(name) {
        case nil, .null: return nil
        case .string(let b, let escaped):
            if b.isEmpty { return nil }
            value = escaped ? try JSONScanner.unescape(b, field: name) : try validUTF8(b, field: name)
        case .text(let b):
            if b.isEmpty { return nil }
            value = try validUTF8(b, field: name)
        default: throw FieldError("\(name)", "must be a string")
        }
        if value.utf8.count > limit { throw FieldError("\(name)", "is \(value.utf8.count) bytes long; at most \(limit) are accepted") }
        return value
    }

    mutating func requiredString(_ name: StaticString, limit: Int = InputBounds.maxTextBytes) throws(FieldError) -> String {
        guard let s = try string(name, limit: limit) else { throw FieldError("\(name)", "is required") }
        return s
    }

    /// An identifier: a string of at most `InputBounds.maxIdentifierBytes`.
    mutating func identifier(_ name: StaticString) throws(FieldError) -> String? {
        try string(name, limit: InputBounds.maxIdentifierBytes)
    }

    mutating func requiredIdentifier(_ name: StaticString) throws(FieldError) -> String {
        try requiredString(name, limit: InputBounds.maxIdentifierBytes)
    }

    mutating func int64(_ name: StaticString) throws(FieldError) -> Int64? {
        switch raw(name) {
        case nil, .null: return nil
        case .text(let b) where b.isEmpty: return nil
        case .number(let b), .text(let b): return try parseInt64(b, field: name)
        default: throw FieldError("\(name)", "must be a whole number")
        }
    }

    mutating func requiredInt64(_ name: StaticString) throws(FieldError) -> Int64 {
        guard let v = try int64(name) else { throw FieldError("\(name)", "is required") }
        return v
    }

    /// A whole number that must not be negative.
    mutating func quantity(_ name: StaticString, required: Bool = true, default value: Int64 = 0) throws(FieldError) -> Int64 {
        guard let v = try int64(name) else {
            if required { throw FieldError("\(name)", "is required") }
            return value
        }
        if v < 0 { throw FieldError("\(name)", "must not be negative (got \(v))") }
        return v
    }

    mutating func decimal(_ name: StaticString) throws(FieldError) -> Decimal8? {
        let bytes: UnsafeRawBufferPointer
        switch raw(name) {
        case nil, .null: return nil
        case .text(let b) where b.isEmpty: return nil
        case .number(let b), .text(let b), .string(let b, false): bytes = b
        default: throw FieldError("\(name)", "must be a decimal number")
        }
        switch Decimal8.parse(utf8: bytes) {
        case .success(let v): return v
        case .failure(.tooManyFractionDigits): throw FieldError("\(name)", "has more than 8 decimal places")
        case .failure(.outOfRange): throw FieldError("\(name)", "is out of range")
        case .failure(.notANumber): throw FieldError("\(name)", "must be a decimal number")
        }
    }

    mutating func bool(_ name: StaticString) throws(FieldError) -> Bool? {
        switch raw(name) {
        case nil, .null: return nil
        case .bool(let v): return v
        case .text(let b):
            if b.isEmpty { return nil }
            switch String(decoding: b, as: UTF8.self).lowercased() {
            case "true", "1", "y", "yes": return true
            case "false", "0", "n", "no": return false
            default: throw FieldError("\(name)", "must be true or false")
            }
        default: throw FieldError("\(name)", "must be true or false")
        }
    }

    mutating func date(_ name: StaticString) throws(FieldError) -> BusinessDate? {
        switch raw(name) {
        case nil, .null: return nil
        case .text(let b) where b.isEmpty: return nil
        case .string(let b, false), .text(let b):
            guard let d = BusinessDate(utf8: b) else {
                throw FieldError("\(name)", "must be a date yyyy-MM-dd (got \"\(String(decoding: b.prefix(40), as: UTF8.self))\")")
            }
            return d
        default: throw FieldError("\(name)", "must be a date yyyy-MM-dd")
        }
    }

    mutating func requiredDate(_ name: StaticString) throws(FieldError) -> BusinessDate {
        guard let d = try date(name) else { throw FieldError("\(name)", "is required") }
        return d
    }

    mutating func timestamp(_ name: StaticString) throws(FieldError) -> Timestamp? {
        switch raw(name) {
        case nil, .null: return nil
        case .text(let b) where b.isEmpty: return nil
        case .string(let b, false), .text(let b):
            guard let t = Timestamp(utf8: b) else { throw FieldError("\(name)", "must be an ISO-8601 timestamp") }
            return t
        default: throw FieldError("\(name)", "must be an ISO-8601 timestamp")
        }
    }

    mutating func enumeration<E: RawRepresentable & CaseIterable>(_ name: StaticString, _ type: E.Type) throws(FieldError) -> E? where E.RawValue == String {
        guard let s = try string(name) else { return nil }
        guard let v = E(rawValue: s) else {
            throw FieldError("\(name)", "must be one of \(E.allCases.map(\.rawValue).joined(separator: ", ")) (got \"\(s.prefix(40))\")")
        }
        return v
    }

    mutating func requiredEnumeration<E: RawRepresentable & CaseIterable>(_ name: StaticString, _ type: E.Type) throws(FieldError) -> E
    where E.RawValue == String {
        guard let v = try enumeration(name, type) else { throw FieldError("\(name)", "is required") }
        return v
    }

    /// A map of strings: a JSON object, or `key=value;key=value` in CSV.
    mutating func stringMap(_ name: StaticString) throws(FieldError) -> [String: String]? {
        switch raw(name) {
        case nil, .null: return nil
        case .object(let b):
            guard case .object(let pairs) = try JSONScanner.parseValue(b, field: name) else { throw FieldError("\(name)", "must be an object") }
            var out: [String: String] = [:]
            for (k, v) in pairs {
                guard case .string(let s) = v else { throw FieldError("\(name).\(k)", "must be a string") }
                out[k] = s
            }
            return out
        case .text(let b):
            if b.isEmpty { return nil }
            var out: [String: String] = [:]
            for pair in String(decoding: b, as: UTF8.self).split(separator: ";") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                guard kv.count == 2 else { throw FieldError("\(name)", "must be key=value pairs separated by ;") }
                out[String(kv[0])] = String(kv[1])
            }
            return out
        default: throw FieldError("\(name)", "must be an object")
        }
    }

    /// Basket constituents: a JSON array of `{securityId, weight}`, or `id=weight;id=weight` in CSV.
    mutating func constituents(_ name: StaticString) throws(FieldError) -> [Constituent] {
        switch raw(name) {
        case nil, .null: return []
        case .array(let b):
            guard case .array(let items) = try JSONScanner.parseValue(b, field: name) else { throw FieldError("\(name)", "must be an array") }
            var out: [Constituent] = []
            for (i, item) in items.enumerated() {
                guard case .object(let fields) = item,
                    case .string(let id)? = fields.first(where: { $0.0 == "securityId" })?.1,
                    case .number(let w)? = fields.first(where: { $0.0 == "weight" })?.1, let weight = Decimal8(w)
                else {
                    throw FieldError("\(name)[\(i)]", "must be {\"securityId\": string, \"weight\": number}")
                }
                out.append(Constituent(securityId: id, weight: weight))
            }
            return out
        case .text(let b):
            if b.isEmpty { return [] }
            var out: [Constituent] = []
            for pair in String(decoding: b, as: UTF8.self).split(separator: ";") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                guard kv.count == 2, let weight = Decimal8(String(kv[1])) else { throw FieldError("\(name)", "must be securityId=weight pairs separated by ;") }
                out.append(Constituent(securityId: String(kv[0]), weight: weight))
            }
            return out
        default: throw FieldError("\(name)", "must be an array")
        }
    }
}

/// The bytes as a `String` if they are valid UTF-8; an error naming the field if not.
@inline(__always) func validUTF8(_ b: UnsafeRawBufferPointer, field: StaticString) throws(FieldError) -> String {
    var ascii = true
    for c in b where c >= 0x80 { ascii = false; break }
    if ascii { return String(decoding: b, as: UTF8.self) }
    guard let s = String(validating: b, as: UTF8.self) else {
        throw FieldError("\(field)", "is not valid UTF-8 (bytes are never replaced, so that two different ids cannot become one)")
    }
    return s
}

@inline(__always) func parseInt64(_ b: UnsafeRawBufferPointer, field: StaticString) throws(FieldError) -> Int64 {
    var i = 0
    var negative = false
    if b.count > 0 && b[0] == UInt8(ascii: "-") { negative = true; i = 1 }
    guard i < b.count else { throw FieldError("\(field)", "must be a whole number") }
    var v: Int64 = 0
    while i < b.count {
        let d = b[i] &- 48
        guard d < 10 else {
            if b[i] == UInt8(ascii: ".") || b[i] | 0x20 == UInt8(ascii: "e") {
                throw FieldError("\(field)", "must be a whole number (got \(String(decoding: b.prefix(30), as: UTF8.self)))")
            }
            throw FieldError("\(field)", "must be a whole number")
        }
        let (m, o1) = v.multipliedReportingOverflow(by: 10)
        let (a, o2) = m.addingReportingOverflow(Int64(d))
        if o1 || o2 { throw FieldError("\(field)", "is out of the 64-bit range") }
        v = a
        i += 1
    }
    return negative ? -v : v
}
