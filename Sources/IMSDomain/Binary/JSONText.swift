/// Writes JSON text directly as UTF-8 bytes, for the hot paths (stream deltas, position pages) where
/// `JSONEncoder` costs tens of microseconds per object and appending to a `String` piece by piece still
/// costs most of a delta's server time (measured: a third of the server's CPU under a `{}` subscriber).
/// Keys are written in the order given: callers give them sorted, so the output matches `JSONEncoder` with
/// `.sortedKeys` byte for byte (tested).
///
/// ```swift
/// var j = JSONText()
/// j.object { j.field("a") { j.number(1) } }
/// j.text == #"{"a":1}"#
/// ```
public struct JSONText: Sendable {
    public private(set) var bytes: [UInt8] = []
    private var needsComma = false

    /// A `JSONText` from its fields.
    public init(capacity: Int = 512) { bytes.reserveCapacity(capacity) }

    /// The JSON written so far.
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// Writes an object whose members `body` writes.
    public mutating func object(_ body: (inout JSONText) -> Void) {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
        body(&self)
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    /// Writes an array whose elements `body` writes.
    public mutating func array(_ body: (inout JSONText) -> Void) {
        separate()
        bytes.append(UInt8(ascii: "["))
        needsComma = false
        body(&self)
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    /// A key that needs no escaping (the callers' own field names).
    public mutating func key(_ name: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    /// A key known only at run time (escaped as a string is).
    public mutating func key(dynamic name: String) {
        string(name)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    /// Writes a member with a number.
    public mutating func field(_ name: StaticString, _ value: Int64) { key(name); number(value) }
    /// Writes a member with a string.
    public mutating func field(_ name: StaticString, _ value: String) { key(name); string(value) }
    /// An optional field is left out when nil, as `JSONEncoder` does.
    public mutating func field(_ name: StaticString, _ value: String?) { if let value { key(name); string(value) } }
    /// Writes a member with a boolean.
    public mutating func field(_ name: StaticString, _ value: Bool) {
        key(name)
        value ? append("true") : append("false")
        needsComma = true
    }
    /// Writes a member with a date.
    public mutating func field(_ name: StaticString, _ value: BusinessDate) { key(name); date(value) }
    /// Writes a member with a date, or nothing when there is none.
    public mutating func field(_ name: StaticString, _ value: BusinessDate?) { if let value { key(name); date(value) } }

    /// Writes a number.
    public mutating func number(_ value: Int64) {
        separate()
        // Digits written backwards into a small buffer, then copied: no String is made.
        var magnitude = value.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var n = 20
            repeat {
                n -= 1
                digits[n] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: magnitude % 10)
                magnitude /= 10
            } while magnitude != 0
            if value < 0 { bytes.append(UInt8(ascii: "-")) }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[n..<20]))
        }
        needsComma = true
    }

    /// A double as `JSONEncoder` writes one: its shortest round-tripping digits, without a trailing `.0`
    /// (`2411688`, `3914824564.8`, `1e+16`). Not finite values are not JSON and are written as `null`.
    public mutating func number(_ value: Double) {
        guard value.isFinite else { null(); return }
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        raw(text)
    }

    /// A date as `"YYYY-MM-DD"` (years 0…9999, as `BusinessDate.description`).
    public mutating func date(_ value: BusinessDate) {
        separate()
        let (y, m, d) = value.components
        guard (0...9999).contains(y) else { bytes.append(contentsOf: Self.quoted(value.description).utf8); needsComma = true; return }
        let zero = UInt8(ascii: "0")
        bytes.append(UInt8(ascii: "\""))
        bytes.append(zero &+ UInt8(y / 1000)); bytes.append(zero &+ UInt8(y / 100 % 10))
        bytes.append(zero &+ UInt8(y / 10 % 10)); bytes.append(zero &+ UInt8(y % 10))
        bytes.append(UInt8(ascii: "-"))
        bytes.append(zero &+ UInt8(m / 10)); bytes.append(zero &+ UInt8(m % 10))
        bytes.append(UInt8(ascii: "-"))
        bytes.append(zero &+ UInt8(d / 10)); bytes.append(zero &+ UInt8(d % 10))
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }

    /// A value already written as JSON (a number's text).
    public mutating func raw(_ json: String) {
        separate()
        var json = json
        json.withUTF8 { bytes.append(contentsOf: $0) }
        needsComma = true
    }

    /// Writes `null`.
    public mutating func null() {
        separate()
        append("null")
        needsComma = true
    }

    /// Writes a string, escaped.
    public mutating func string(_ value: String) {
        separate()
        var value = value
        value.withUTF8 { utf8 in
            // Most strings need no escaping: copied in one go.
            if !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
                bytes.append(UInt8(ascii: "\""))
                bytes.append(contentsOf: utf8)
                bytes.append(UInt8(ascii: "\""))
            } else {
                bytes.append(contentsOf: Self.quoted(String(decoding: utf8, as: UTF8.self)).utf8)
            }
        }
        needsComma = true
    }

    private mutating func append(_ literal: StaticString) {
        literal.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    @inline(__always) private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }

    /// `value` as a JSON string literal, escaped.
    public static func quoted(_ value: String) -> String {
        var out = "\""
        for u in value.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}
