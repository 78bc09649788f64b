/// A calendar date (`yyyy-MM-dd`) with no time zone, stored as days since 1970-01-01.
///
/// Business dates, trade dates and settle dates are all `BusinessDate`s. Four
/// bytes, totally ordered, and cheap to step through:
///
/// ```swift
/// let d = BusinessDate(parsing: "2026-11-25")!
/// d.adding(days: 2).description   // "2026-11-27"
/// d.weekday                       // 3 (Wednesday; Monday is 1)
/// ```
public struct BusinessDate: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Days since 1970-01-01 (negative before).
    public var dayNumber: Int32

    /// The date `dayNumber` days after 1970-01-01.
    @inlinable public init(dayNumber: Int32) { self.dayNumber = dayNumber }

    /// The date of a proleptic Gregorian year, month (1–12) and day (1–31); nil if no such date.
    @inlinable public init?(year: Int, month: Int, day: Int) {
        guard (1...12).contains(month), day >= 1, day <= BusinessDate.daysIn(month: month, year: year),
            (1...9999).contains(year)
        else { return nil }
        self.dayNumber = Int32(BusinessDate.daysFromCivil(year: year, month: month, day: day))
    }

    /// Parses exactly `yyyy-MM-dd`; nil for anything else, including impossible dates.
    public init?(parsing text: String) {
        var text = text
        let parsed = text.withUTF8 { BusinessDate(utf8: UnsafeRawBufferPointer($0)) }
        guard let parsed else { return nil }
        self = parsed
    }

    /// Parses exactly ten bytes `yyyy-MM-dd`.
    @inlinable public init?(utf8 b: UnsafeRawBufferPointer) {
        guard b.count == 10, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-") else { return nil }
        var value = [0, 0, 0]
        let spans = [(0, 4), (5, 7), (8, 10)]
        for (i, span) in spans.enumerated() {
            var n = 0
            for j in span.0..<span.1 {
                let c = b[j] &- UInt8(ascii: "0")
                guard c < 10 else { return nil }
                n = n * 10 + Int(c)
            }
            value[i] = n
        }
        self.init(year: value[0], month: value[1], day: value[2])
    }

    /// Orders by value.
    public static func < (a: BusinessDate, b: BusinessDate) -> Bool { a.dayNumber < b.dayNumber }

    /// The date `days` later (earlier if negative).
    @inlinable public func adding(days: Int) -> BusinessDate { BusinessDate(dayNumber: dayNumber + Int32(days)) }

    /// ISO weekday: Monday 1 … Sunday 7.
    @inlinable public var weekday: Int {
        let w = (Int(dayNumber) + 3) % 7 // 1970-01-01 was a Thursday (ISO 4)
        return (w < 0 ? w + 7 : w) + 1
    }

    /// True on Saturday and Sunday.
    @inlinable public var isWeekend: Bool { weekday >= 6 }

    /// Year, month and day.
    public var components: (year: Int, month: Int, day: Int) { BusinessDate.civil(fromDays: Int(dayNumber)) }

    public var description: String {
        let c = components
        // Every answer carries dates and times: written as bytes into one string, not from padded pieces.
        guard (0...9999).contains(c.year) else {
            func pad(_ v: Int, _ width: Int) -> String {
                let s = String(v)
                return String(repeating: "0", count: max(0, width - s.count)) + s
            }
            return "\(pad(c.year, 4))-\(pad(c.month, 2))-\(pad(c.day, 2))"
        }
        return String(unsafeUninitializedCapacity: 10) { out in
            Self.writeDate(c, into: out, at: 0)
            return 10
        }
    }

    /// Writes `yyyy-mm-dd` (a year of four digits) at `offset`.
    @usableFromInline static func writeDate(_ c: (year: Int, month: Int, day: Int), into out: UnsafeMutableBufferPointer<UInt8>, at offset: Int) {
        writeDigits(c.year, count: 4, into: out, at: offset)
        out[offset + 4] = UInt8(ascii: "-")
        writeDigits(c.month, count: 2, into: out, at: offset + 5)
        out[offset + 7] = UInt8(ascii: "-")
        writeDigits(c.day, count: 2, into: out, at: offset + 8)
    }

    /// Writes the last `count` decimal digits of `value` (≥ 0), zero-padded, at `offset`.
    @usableFromInline static func writeDigits(_ value: Int, count: Int, into out: UnsafeMutableBufferPointer<UInt8>, at offset: Int) {
        var v = value
        for i in stride(from: offset + count - 1, through: offset, by: -1) {
            out[i] = UInt8(ascii: "0") &+ UInt8(v % 10)
            v /= 10
        }
    }

    @inlinable static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    @inlinable static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a civil date (era-based Gregorian arithmetic).
    @inlinable static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let shiftedMonth = month > 2 ? month - 3 : month + 9
        let dayOfYear = (153 * shiftedMonth + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func civil(fromDays days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

extension BusinessDate: Codable {
    /// Decodes the value from its JSON form.
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let date = BusinessDate(parsing: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a yyyy-MM-dd date: \(text)"))
        }
        self = date
    }

    /// Encodes the value as its JSON form.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
