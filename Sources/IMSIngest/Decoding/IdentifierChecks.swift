/// Check-digit validation of public security identifiers.
public enum IdentifierChecks {
    /// ISIN: two letters, nine alphanumerics, a Luhn check digit over the letters-as-numbers expansion.
    public static func isValidISIN(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard u.count == 12, u[0...1].allSatisfy(isUpper), u[2...10].allSatisfy({ isUpper($0) || isDigit($0) }), isDigit(u[11]) else { return false }
        var digits: [Int] = []
        for c in u { if isDigit(c) { digits.append(Int(c - 48)) } else { let v = Int(c) - 55; digits.append(v / 10); digits.append(v % 10) } }
        var sum = 0
        for (i, d) in digits.reversed().enumerated() {
            if i % 2 == 1 { let x = d * 2; sum += x / 10 + x % 10 } else { sum += d }
        }
        return sum % 10 == 0
    }

    /// CUSIP: eight characters and a modulus-10 "double-add-double" check digit.
    public static func isValidCUSIP(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard u.count == 9, isDigit(u[8]) else { return false }
        var sum = 0
        for i in 0..<8 {
            let c = u[i]
            var v: Int
            if isDigit(c) {
                v = Int(c - 48)
            } else if isUpper(c) {
                v = Int(c) - 55
            } else if c == UInt8(ascii: "*") {
                v = 36
            } else if c == UInt8(ascii: "@") {
                v = 37
            } else if c == UInt8(ascii: "#") {
                v = 38
            } else {
                return false
            }
            if i % 2 == 1 { v *= 2 }
            sum += v / 10 + v % 10
        }
        return (10 - sum % 10) % 10 == Int(u[8] - 48)
    }

    /// SEDOL: six alphanumerics (no vowels) and a weighted check digit.
    public static func isValidSEDOL(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard u.count == 7, isDigit(u[6]) else { return false }
        let weights = [1, 3, 1, 7, 3, 9]
        var sum = 0
        for i in 0..<6 {
            let c = u[i]
            let v: Int
            if isDigit(c) { v = Int(c - 48) } else if isUpper(c), !"AEIOU".utf8.contains(c) { v = Int(c) - 55 } else { return false }
            sum += v * weights[i]
        }
        return (10 - sum % 10) % 10 == Int(u[6] - 48)
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
    private static func isUpper(_ c: UInt8) -> Bool { c >= 65 && c <= 90 }
}
