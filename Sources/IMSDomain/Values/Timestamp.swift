/// An instant in UTC with microsecond resolution, stored as microseconds since 1970-01-01T00:00:00Z.
///
/// Parses ISO-8601 with `Z` or a numeric offset and up to nine fraction digits
/// (`2026-11-25T14:30:00.123456Z`, `2026-11-25T09:30:00-05:00`); prints UTC with `Z`.
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Microseconds since the Unix epoch.
    public var micros: Int64

    /// A `Timestamp` from its fields.
    @inlinable public init(micros: Int64) { self.micros = micros }

    /// Orders by value.
    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.micros < b.micros }

    /// Parses an ISO-8601 timestamp; nil if it is not one.
    public init?(parsing text: String) {
        var text = text
        guard let t = text.withUTF8({ Timestamp(utf8: UnsafeRawBufferPointer($0)) }) else { return nil }
        self = t
    }

    /// Parses an ISO-8601 timestamp from UTF-8 bytes.
    public init?(utf8 b: UnsafeRawBufferPointer) {
        guard b.count >= 19, b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: " "),
            let date = BusinessDate(utf8: UnsafeRawBufferPointer(rebasing: b[0..<10]))
        else { return nil }
        func two(_ i: Int) -> Int? {
            let a = b[i] &- 48, c = b[i + 1] &- 48
            return a < 10 && c < 10 ? Int(a) * 10 + Int(c) : nil
        }
        guard b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"),
            let hh = two(11), let mm = two(14), let ss = two(17), hh < 24, mm < 60, ss < 61
        else { return nil }
        var i = 19
        var fraction: Int64 = 0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var digits = 0
            while i < b.count, b[i] &- 48 < 10 {
                if digits < 6 { fraction = fraction * 10 + Int64(b[i] - 48) }
                digits += 1
                i += 1
            }
            guard digits > 0, digits <= 9 else { return nil }
            for _ in min(digits, 6)..<6 { fraction *= 10 }
        }
        var offsetSeconds = 0
        guard i < b.count else { return nil }
        if b[i] == UInt8(ascii: "Z") {
            i += 1
        } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            guard i + 6 == b.count, b[i + 3] == UInt8(ascii: ":"), let oh = two(i + 1), let om = two(i + 4) else { return nil }
            offsetSeconds = (oh * 3600 + om * 60) * (b[i] == UInt8(ascii: "+") ? 1 : -1)
            i += 6
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        let seconds = Int64(date.dayNumber) * 86_400 + Int64(hh * 3600 + mm * 60 + ss - offsetSeconds)
        self.micros = seconds * 1_000_000 + fraction
    }

    /// The UTC calendar date of this instant.
    public var utcDate: BusinessDate {
        BusinessDate(dayNumber: Int32((micros >= 0 ? micros : micros - 86_399_999_999) / 86_400_000_000))
    }

    public var description: String {
        let date = utcDate
        var rest = micros - Int64(date.dayNumber) * 86_400_000_000
        let fraction = rest % 1_000_000
        rest /= 1_000_000
        let c = date.components
        if (0...9999).contains(c.year) {
            // `yyyy-mm-ddThh:mm:ss[.ffffff]Z` written as bytes into one string.
            let count = fraction == 0 ? 20 : 27
            return String(unsafeUninitializedCapacity: count) { out in
                BusinessDate.writeDate(c, into: out, at: 0)
                out[10] = UInt8(ascii: "T")
                BusinessDate.writeDigits(Int(rest / 3600), count: 2, into: out, at: 11)
                out[13] = UInt8(ascii: ":")
                BusinessDate.writeDigits(Int(rest / 60 % 60), count: 2, into: out, at: 14)
                out[16] = UInt8(ascii: ":")
                BusinessDate.writeDigits(Int(rest % 60), count: 2, into: out, at: 17)
                if fraction != 0 {
                    out[19] = UInt8(ascii: ".")
                    BusinessDate.writeDigits(Int(fraction), count: 6, into: out, at: 20)
                }
                out[count - 1] = UInt8(ascii: "Z")
                return count
            }
        }
        func pad(_ v: Int64, _ w: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        let time = "\(pad(rest / 3600, 2)):\(pad(rest / 60 % 60, 2)):\(pad(rest % 60, 2))"
        return "\(date)T\(time)" + (fraction == 0 ? "" : ".\(pad(fraction, 6))") + "Z"
    }
}

extension Timestamp: Codable {
    /// Decodes the value from its JSON form.
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let t = Timestamp(parsing: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an ISO-8601 timestamp: \(text)"))
        }
        self = t
    }

    /// Encodes the value as its JSON form.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
