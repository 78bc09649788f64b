import Foundation
import IMSDomain
import IMSRules

/// The members of a small flat JSON object (strings without escapes, plain integers, other numbers, true,
/// false, null), read straight from the bytes: the decision path's request bodies, where `JSONDecoder`
/// took 6% of the server (measured).
///
/// It only ever answers for bodies it reads exactly as `JSONBody.decode` would. Anything else (nesting,
/// escapes, duplicate keys, exponents, a string over `InputBounds.maxTextBytes`, a value of the wrong type for
/// its field; an unknown key, through `hasOnly`) makes it give up, and the caller decodes with
/// `JSONBody.decode`, which gives the same answer or names the error.
struct FlatJSON {
    enum Value {
        case string(Substring)
        case integer(Int64)
        case number(Substring)
        case bool(Bool)
        case null
    }

    /// Each member's key as where it lies in `bytes` (no copy: a decision's body is read per request), and its value.
    private var members: [(key: Range<Int>, value: Value)] = []
    private let text: Substring
    private let bytes: [UInt8]

    init?(_ data: Data) {
        guard data.count <= 4_096, let text = String(data: data, encoding: .utf8) else { return nil }
        self.text = Substring(text)
        let b = Array(data)
        bytes = b
        members.reserveCapacity(16)
        var i = 0
        func skipSpace() { while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 } }
        func offset(_ k: Int) -> String.Index { self.text.utf8.index(self.text.utf8.startIndex, offsetBy: k) }
        skipSpace()
        guard i < b.count, b[i] == 0x7B else { return nil } // {
        i += 1
        skipSpace()
        if i < b.count, b[i] == 0x7D {
            i += 1
        } else {
            while true {
                skipSpace()
                guard i < b.count, b[i] == 0x22 else { return nil }
                let keyStart = i + 1
                i = keyStart
                while i < b.count, b[i] != 0x22 { if b[i] == 0x5C || b[i] < 0x20 { return nil }; i += 1 }
                guard i < b.count else { return nil }
                let key = keyStart..<i
                i += 1
                skipSpace()
                guard i < b.count, b[i] == 0x3A else { return nil }
                i += 1
                skipSpace()
                guard i < b.count else { return nil }
                let value: Value
                switch b[i] {
                case 0x22:
                    let start = i + 1
                    i = start
                    while i < b.count, b[i] != 0x22 { if b[i] == 0x5C || b[i] < 0x20 { return nil }; i += 1 }
                    guard i < b.count, i - start <= InputBounds.maxTextBytes else { return nil }
                    value = .string(self.text[offset(start)..<offset(i)])
                    i += 1
                case 0x2D, 0x30...0x39:
                    let start = i
                    if b[i] == 0x2D { i += 1 }
                    var digits = 0, fraction = false
                    while i < b.count, (b[i] >= 0x30 && b[i] <= 0x39) || b[i] == 0x2E {
                        if b[i] == 0x2E { if fraction { return nil }; fraction = true } else { digits += 1 }
                        i += 1
                    }
                    guard digits > 0, digits <= 18 else { return nil } // no overflow to think about
                    let raw = self.text[offset(start)..<offset(i)]
                    if fraction { value = .number(raw) } else { guard let n = Int64(raw) else { return nil }; value = .integer(n) }
                case 0x74 where b[i...].starts(with: "true".utf8): value = .bool(true); i += 4
                case 0x66 where b[i...].starts(with: "false".utf8): value = .bool(false); i += 5
                case 0x6E where b[i...].starts(with: "null".utf8): value = .null; i += 4
                default: return nil
                }
                if members.contains(where: { b[$0.key].elementsEqual(b[key]) }) { return nil }
                members.append((key, value))
                skipSpace()
                guard i < b.count else { return nil }
                if b[i] == 0x2C { i += 1; continue }
                guard b[i] == 0x7D else { return nil }
                i += 1
                break
            }
        }
        skipSpace()
        guard i == b.count else { return nil }
    }

    /// Whether every member's key is one of `keys` (else give up: `JSONBody` names the unknown field).
    func hasOnly(_ keys: Set<String>) -> Bool {
        members.allSatisfy { keys.contains(String(decoding: bytes[$0.key], as: UTF8.self)) }
    }

    private func value(_ key: StaticString) -> Value? {
        key.withUTF8Buffer { k in members.first { bytes[$0.key].elementsEqual(k) }?.value }
    }

    /// A string member: `.some(nil)` when absent or null, nil when of another type (give up).
    func string(_ key: StaticString) -> String?? {
        switch value(key) {
        case nil, .null: .some(nil)
        case .string(let s): .some(String(s))
        default: nil
        }
    }

    /// An integer member, as `string(_:)`.
    func int64(_ key: StaticString) -> Int64?? {
        switch value(key) {
        case nil, .null: .some(nil)
        case .integer(let n): .some(n)
        default: nil
        }
    }

    /// A decimal member (a string or a number), read as `Decimal8Text` reads it; nil (give up) when it is not
    /// one, so that the decoder names the error.
    func decimal(_ key: StaticString) -> Decimal8Text?? {
        let text: String
        switch value(key) {
        case nil, .null: return .some(nil)
        case .string(let s): text = String(s)
        case .integer(let n): text = "\(Double(n))"
        case .number(let raw): guard let d = Double(raw) else { return nil }; text = "\(d)"
        default: return nil
        }
        return Decimal8(text).map { .some(Decimal8Text($0)) } ?? nil
    }
}
