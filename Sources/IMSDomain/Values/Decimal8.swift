/// An exact decimal with up to eight fraction digits, stored as an `Int64` count of 10⁻⁸.
///
/// Prices and FX rates are `Decimal8`: exact, eight bytes, and parsed straight
/// from the JSON number's digits (no binary floating point on the way in).
/// The range is ±92,233,720,368.54775807.
public struct Decimal8: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The value times 10⁸.
    public var units: Int64

    /// 10⁸, the number of units in 1.
    public static let scale: Int64 = 100_000_000

    /// A `Decimal8` from its fields.
    @inlinable public init(units: Int64) { self.units = units }

    /// The whole number `value`.
    public init(_ value: Int) { self.units = Int64(value) * Decimal8.scale }

    /// Orders by value.
    public static func < (a: Decimal8, b: Decimal8) -> Bool { a.units < b.units }
    public static let zero = Decimal8(units: 0)

    /// Why a decimal did not parse.
    public enum ParseError: Error, Equatable, Sendable {
        case notANumber, tooManyFractionDigits, outOfRange
    }

    /// Parses `-?digits(.digits)?` (optionally with an exponent that keeps it within eight places).
    public static func parse(utf8 b: UnsafeRawBufferPointer) -> Result<Decimal8, ParseError> {
        var i = 0
        var negative = false
        if i < b.count, b[i] == UInt8(ascii: "-") { negative = true; i += 1 }
        var units: Int64 = 0
        var intDigits = 0, fracDigits = 0
        while i < b.count, b[i] &- 48 < 10 {
            let (m, o1) = units.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(b[i] - 48))
            if o1 || o2 { return .failure(.outOfRange) }
            units = a; intDigits += 1; i += 1
        }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            while i < b.count, b[i] &- 48 < 10 {
                let (m, o1) = units.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(Int64(b[i] - 48))
                if o1 || o2 { return .failure(.outOfRange) }
                units = a; fracDigits += 1; i += 1
            }
            if fracDigits == 0 { return .failure(.notANumber) }
        }
        guard intDigits > 0 else { return .failure(.notANumber) }
        var exponent = 0
        if i < b.count, b[i] | 0x20 == UInt8(ascii: "e") {
            i += 1
            var expNegative = false
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { expNegative = b[i] == UInt8(ascii: "-"); i += 1 }
            var digits = 0
            while i < b.count, b[i] &- 48 < 10 {
                exponent = exponent * 10 + Int(b[i] - 48); digits += 1; i += 1; if exponent > 100 { return .failure(.outOfRange) }
            }
            if digits == 0 { return .failure(.notANumber) }
            if expNegative { exponent = -exponent }
        }
        guard i == b.count else { return .failure(.notANumber) }
        var places = fracDigits - exponent // digits after the point in `units`
        while places > 8 {
            // Trailing zeros beyond eight places are harmless; anything else is too precise.
            guard units % 10 == 0 else { return .failure(.tooManyFractionDigits) }
            units /= 10; places -= 1
        }
        while places < 8 {
            let (m, o) = units.multipliedReportingOverflow(by: 10)
            if o { return .failure(.outOfRange) }
            units = m; places += 1
        }
        return .success(Decimal8(units: negative ? -units : units))
    }

    /// Parses a decimal string; nil if it is not one.
    public init?(_ text: String) {
        var text = text
        guard case .success(let v) = text.withUTF8({ Decimal8.parse(utf8: UnsafeRawBufferPointer($0)) }) else { return nil }
        self = v
    }

    /// The nearest `Double`, for display and ratios only.
    public var doubleValue: Double { Double(units) / Double(Decimal8.scale) }

    public var description: String {
        let magnitude = units.magnitude
        let whole = magnitude / UInt64(Decimal8.scale)
        var fraction = magnitude % UInt64(Decimal8.scale)
        var text = (units < 0 ? "-" : "") + String(whole)
        if fraction != 0 {
            var digits = 8
            while fraction % 10 == 0 { fraction /= 10; digits -= 1 }
            let f = String(fraction)
            text += "." + String(repeating: "0", count: digits - f.count) + f
        }
        return text
    }
}

extension Decimal8: Codable {
    /// Encodes as a JSON number written from the exact digits.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(Double(description)!)
    }

    /// Decodes the value from its JSON form.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self), let v = Decimal8(s) { self = v; return }
        let d = try c.decode(Double.self)
        guard let v = Decimal8("\(d)") else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a decimal with at most 8 places"))
        }
        self = v
    }
}
