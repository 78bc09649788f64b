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

    /// Doubles as the encoder writes them: integral values without `.0`, fractions in their shortest digits,
    /// exponents where the encoder uses them (prices, rates and USD values rounded to the cent, and extremes).
    @Test func doublesMatchTheEncoder() throws {
        var values: [Double] = [
            0, -0.0, 1, -1, 0.5, 0.1, 131.07, 2411688, 3914824564.8, 1e15, 1e16, 1.5e17, 123456789012345.67,
            1e-4, 1e-5, 0.00012345, -987654.32, Double(Int64.max), 1.7976931348623157e308, 5e-324,
        ]
        var random = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let cents = Double(Int64.random(in: -10_000_000_000_000...10_000_000_000_000, using: &random)) / 100
            let price = Double(Int64.random(in: 0...100_000_000_000, using: &random)) / 1e8
            values += [cents, price, cents * price]
        }
        let encoder = JSONEncoder()
        for v in values {
            var j = JSONText()
            j.array { j in j.number(v) }
            #expect(j.text == String(decoding: try encoder.encode([v]), as: UTF8.self), "\(v)")
        }
    }

    @Test func datesAreWrittenAsTheirDescription() {
        for (y, m, d) in [(1970, 1, 1), (2026, 11, 29), (2000, 2, 29), (9999, 12, 31), (1, 1, 1)] {
            let date = BusinessDate(year: y, month: m, day: d)!
            var j = JSONText()
            j.array { j in
                j.date(date); j.null()
            }
            #expect(j.text == "[\"\(date.description)\",null]")
        }
    }
}
