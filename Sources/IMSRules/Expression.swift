import IMSDomain

/// A calculation's formula as written in a rule: sums and differences of buckets, other calculations and
/// parameters, products with a constant factor, and `max(…)` / `min(…)`.
///
/// `max(0, LONG.FIRM + 0.5 * EXTERNAL.INDICATIVE - forPledge)`: names are buckets (`Bucket.byName`, with
/// `LONG.*`, `SHORT.*`, `EXTERNAL.*` summing a family), calculations (`forLoan`) or the pack's parameters
/// (`haircut`); a bucket may name a settlement-ladder day (`LONG.FIRM@SD2`). Numbers have at most 8 decimal places; a number standing alone is a quantity and must be
/// whole, a number (or parameter) multiplying something is a factor.
indirect enum Formula: Equatable, Sendable {
    case number(Decimal8)
    case name(String)
    case add(Formula, Formula)
    case subtract(Formula, Formula)
    case multiply(Formula, Formula)
    case negate(Formula)
    case maximum([Formula])
    case minimum([Formula])
}

/// Why a formula did not parse: what was expected, at which character (counting from 1).
struct FormulaError: Error, Equatable {
    var message: String
    var position: Int
}

/// A recursive-descent parser of `Formula`.
///
/// Its recursion, and that of everything that walks a formula (compiling, evaluating, freeing), is bounded:
/// a formula is at most `InputBounds.maxFormulaBytes` long, nests at most `maxDepth` levels (parentheses,
/// signs, `max`/`min`) and has at most `maxNodes` parts. A document breaking one is refused with the
/// rule named, so no formula can exhaust a thread's stack.
struct FormulaParser {
    private let chars: [Character]
    private var i = 0
    private var depth = 0
    private var nodes = 0

    /// The deepest nesting of parentheses, signs and functions.
    static let maxDepth = 32
    /// The most numbers, names and operators in one formula.
    static let maxNodes = 512

    static func parse(_ text: String) throws(FormulaError) -> Formula {
        guard text.utf8.count <= InputBounds.maxFormulaBytes else {
            throw FormulaError(message: "the formula is longer than \(InputBounds.maxFormulaBytes) bytes", position: 1)
        }
        var p = FormulaParser(chars: Array(text))
        let f = try p.expression()
        p.skipSpaces()
        guard p.i == p.chars.count else { throw FormulaError(message: "unexpected '\(p.chars[p.i])'", position: p.i + 1) }
        return f
    }

    private init(chars: [Character]) { self.chars = chars }

    private mutating func skipSpaces() { while i < chars.count, chars[i].isWhitespace { i += 1 } }

    private mutating func take(_ c: Character) -> Bool {
        skipSpaces()
        guard i < chars.count, chars[i] == c else { return false }
        i += 1
        return true
    }

    /// Counts one more part of the formula, refusing past `maxNodes`.
    private mutating func count() throws(FormulaError) {
        nodes += 1
        guard nodes <= Self.maxNodes else { throw FormulaError(message: "the formula has more than \(Self.maxNodes) parts", position: i + 1) }
    }

    private mutating func expression() throws(FormulaError) -> Formula {
        var f = try term()
        while true {
            if take("+") { try count(); f = .add(f, try term()) } else if take("-") { try count(); f = .subtract(f, try term()) } else { return f }
        }
    }

    private mutating func term() throws(FormulaError) -> Formula {
        var f = try factor()
        while take("*") { try count(); f = .multiply(f, try factor()) }
        return f
    }

    private mutating func factor() throws(FormulaError) -> Formula {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw FormulaError(message: "the formula nests deeper than \(Self.maxDepth) levels", position: i + 1) }
        try count()
        skipSpaces()
        guard i < chars.count else { throw FormulaError(message: "the formula ends where a value was expected", position: i + 1) }
        if take("-") { return .negate(try factor()) }
        if take("(") {
            let f = try expression()
            guard take(")") else { throw FormulaError(message: "expected ')'", position: i + 1) }
            return f
        }
        let start = i
        let c = chars[i]
        if c.isNumber {
            while i < chars.count, chars[i].isNumber || chars[i] == "." { i += 1 }
            let text = String(chars[start..<i])
            guard let d = Decimal8(text) else { throw FormulaError(message: "\(text) is not a number with at most 8 decimals", position: start + 1) }
            return .number(d)
        }
        guard c.isLetter || c == "_" else { throw FormulaError(message: "unexpected '\(c)'", position: i + 1) }
        while i < chars.count, chars[i].isLetter || chars[i].isNumber || chars[i] == "_" || chars[i] == "." { i += 1 }
        // A family: `SHORT.*` (a '*' right after a '.' is part of the name, not a product).
        if i < chars.count, chars[i] == "*", chars[i - 1] == "." { i += 1 }
        // A ladder day: `LONG.FIRM@SD2`.
        if i < chars.count, chars[i] == "@" {
            i += 1
            while i < chars.count, chars[i].isLetter || chars[i].isNumber { i += 1 }
        }
        let name = String(chars[start..<i])
        if name == "max" || name == "min" {
            guard take("(") else { throw FormulaError(message: "expected '(' after \(name)", position: i + 1) }
            var args = [try expression()]
            while take(",") { args.append(try expression()) }
            guard take(")") else { throw FormulaError(message: "expected ',' or ')' in \(name)(…)", position: i + 1) }
            guard args.count >= 2 else { throw FormulaError(message: "\(name)(…) needs at least two values", position: start + 1) }
            return name == "max" ? .maximum(args) : .minimum(args)
        }
        return .name(name)
    }
}
