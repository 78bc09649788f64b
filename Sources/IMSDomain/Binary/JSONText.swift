/// Writes JSON text directly, for the hot paths (stream deltas, position answers) where `JSONEncoder`
/// costs tens of microseconds per object. Keys are written in the order given: callers give them sorted,
/// so the output matches `JSONEncoder` with `.sortedKeys` byte for byte.
///
/// ```swift
/// var j = JSONText()
/// j.object { j.field("a") { j.number(1) } }
/// j.text == #"{"a":1}"#
/// ```
public struct JSONText: Sendable {
    public private(set) var text = ""
    private var needsComma = false

    public init(capacity: Int = 512) { text.reserveCapacity(capacity) }

    public mutating func object(_ body: (inout JSONText) -> Void) {
        separate()
        text += "{"
        needsComma = false
        body(&self)
        text += "}"
        needsComma = true
    }

    public mutating func array(_ body: (inout JSONText) -> Void) {
        separate()
        text += "["
        needsComma = false
        body(&self)
        text += "]"
        needsComma = true
    }

    public mutating func key(_ name: String) {
        separate()
        text += "\""
        text += name
        text += "\":"
        needsComma = false
    }

    public mutating func field(_ name: String, _ value: Int64) { key(name); number(value) }
    public mutating func field(_ name: String, _ value: String) { key(name); string(value) }
    /// An optional field is left out when nil, as `JSONEncoder` does.
    public mutating func field(_ name: String, _ value: String?) { if let value { key(name); string(value) } }
    public mutating func field(_ name: String, _ value: Bool) { key(name); separate(); text += value ? "true" : "false"; needsComma = true }
    public mutating func field(_ name: String, _ value: BusinessDate) { key(name); string(value.description) }
    public mutating func field(_ name: String, _ value: BusinessDate?) { if let value { key(name); string(value.description) } }

    public mutating func number(_ value: Int64) {
        separate()
        text += String(value)
        needsComma = true
    }

    public mutating func null() {
        separate()
        text += "null"
        needsComma = true
    }

    public mutating func string(_ value: String) {
        separate()
        text += Self.quoted(value)
        needsComma = true
    }

    private mutating func separate() {
        if needsComma { text += "," }
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
