import Foundation
import IMSDomain
import Testing

/// The byte-level JSON writer writes what `JSONEncoder` with sorted keys writes, for every value it takes.
struct JSONTextTests {
    struct Sample: Encodable {
        var a: Int64
        var b: String
        var c: String?
        var d: Bool
        var e: [Int64]
    }

    @Test(arguments: [Int64.min, -1_000_000_000_000, -10, -1, 0, 1, 9, 10, 99, 1_234_567_890, Int64.max])
    func numbersAndTextMatchTheEncoder(n: Int64) throws {
        let texts = ["plain", "", "quote \" back\\slash", "tab\tnew\nline\r", "\u{01}\u{1F}", "Zürich 東京 🚀", "/"]
        for s in texts {
            let sample = Sample(a: n, b: s, c: n < 0 ? nil : s, d: n > 0, e: [n, 0, n == .min ? 0 : -n])
            var j = JSONText()
            j.object { j in
                j.field("a", sample.a)
                j.field("b", sample.b)
                j.field("c", sample.c)
                j.field("d", sample.d)
                j.key("e")
                j.array { j in for v in sample.e { j.number(v) } }
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            #expect(j.text == String(decoding: try encoder.encode(sample), as: UTF8.self), "\(n) \(s)")
        }
    }

    @Test func datesAreWrittenAsTheirDescription() {
        for (y, m, d) in [(1970, 1, 1), (2026, 11, 29), (2000, 2, 29), (9999, 12, 31), (1, 1, 1)] {
            let date = BusinessDate(year: y, month: m, day: d)!
            var j = JSONText()
            j.array { j in j.date(date); j.null() }
            #expect(j.text == "[\"\(date.description)\",null]")
        }
    }
}
