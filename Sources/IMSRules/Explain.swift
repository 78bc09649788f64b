import IMSDomain

/// One part of a calculation's value: the parts of a value sum exactly to it.
///
/// A bucket (`name` `LONG.FIRM`, `factor` +1 or −1, `quantity` the bucket, `contribution` factor × quantity),
/// another calculation, a number, or a composite: `scaled` (⌊factor × the sum of its parts⌋), `max` / `min`
/// (the argument chosen, whose parts are given; `alternatives` the values of the others; `branches` every
/// argument in the formula's order, each with its value and parts, the chosen one marked).
public struct ExplainPart: Codable, Sendable, Equatable {
    public var kind: String
    public var name: String?
    public var factor: String?
    public var quantity: Int64?
    public var contribution: Int64
    public var parts: [ExplainPart]?
    public var alternatives: [Int64]?
    public var branches: [ExplainBranch]?
}

/// One argument of a `max` or `min`: its value, its parts, and whether it is the one chosen.
public struct ExplainBranch: Codable, Sendable, Equatable {
    public var value: Int64
    public var chosen: Bool
    public var parts: [ExplainPart]
}

/// How one calculation of one security got its value.
public struct CalculationExplanation: Codable, Sendable, Equatable {
    public var calculation: String
    public var value: Int64
    public var ruleId: String
    public var pack: String
    public var formula: String
    public var parts: [ExplainPart]
}

extension CompiledRuleSet {
    /// Every calculation of one security with its parts (which sum to its value).
    public func explain(_ choice: RuleChoice, _ buckets: BucketVector) -> [CalculationExplanation] {
        let values = evaluate(choice, buckets)
        return Calculation.inventory.map { c in
            let rule = rules[choice[c]]
            return CalculationExplanation(
                calculation: c.name, value: values[c], ruleId: rule.id, pack: rule.pack, formula: rule.formula,
                parts: Self.parts(rule.node, sign: 1, buckets, values))
        }
    }

    /// `v` with `sign` (±1), held in range (−Int64.min is Int64.max).
    private static func signed(_ v: Int64, _ sign: Int64) -> Int64 { sign < 0 ? (v == .min ? .max : -v) : v }

    private static func parts(_ node: Node, sign: Int64, _ b: BucketVector, _ values: CalculationValues) -> [ExplainPart] {
        switch node {
        case .quantity(let q):
            return [ExplainPart(kind: "number", quantity: q, contribution: Self.signed(q, sign))]
        case .bucket(let i):
            return [ExplainPart(kind: "bucket", name: Bucket.names[i], factor: sign < 0 ? "-1" : "1", quantity: b[i], contribution: Self.signed(b[i], sign))]
        case .dayBucket(let code):
            let day = code / Bucket.count, i = code % Bucket.count
            let q = b[day: day, i]
            // Named by the day it read: the rule's day, or the basis's own when that is later.
            let read = Bucket.ladderDayNames[max(day, b.basisDay)]
            return [
                ExplainPart(
                    kind: "bucket", name: Bucket.names[i] + "@" + read, factor: sign < 0 ? "-1" : "1",
                    quantity: q, contribution: Self.signed(q, sign))
            ]
        case .calculation(let c):
            let calculation = Calculation(rawValue: c)!
            return [
                ExplainPart(
                    kind: "calculation", name: calculation.name, factor: sign < 0 ? "-1" : "1", quantity: values[calculation],
                    contribution: Self.signed(values[calculation], sign))
            ]
        case .sum(let terms):
            return terms.flatMap { parts($0.node, sign: sign * $0.sign, b, values) }
        case .scaled(let n, let units):
            let inner = value(n, b, values)
            let factor = Decimal8(units: sign * units)
            return [
                ExplainPart(
                    kind: "scaled", factor: factor.description, quantity: inner, contribution: Int64(clamping: scale128(Int128(inner), sign * units)),
                    parts: parts(n, sign: 1, b, values))
            ]
        case .maximum(let args), .minimum(let args):
            let isMax: Bool
            if case .maximum = node { isMax = true } else { isMax = false }
            let all = args.map { value($0, b, values) }
            let chosen = isMax ? all.indices.max { all[$0] < all[$1] }! : all.indices.min { all[$0] < all[$1] }!
            return [
                ExplainPart(
                    kind: isMax ? "max" : "min", factor: sign < 0 ? "-1" : "1", quantity: all[chosen], contribution: Self.signed(all[chosen], sign),
                    parts: parts(args[chosen], sign: 1, b, values),
                    alternatives: all.indices.filter { $0 != chosen }.map { all[$0] },
                    branches: args.indices.map { ExplainBranch(value: all[$0], chosen: $0 == chosen, parts: parts(args[$0], sign: 1, b, values)) })
            ]
        }
    }
}
