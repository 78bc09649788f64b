import Foundation
import IMSDomain

/// The calculations of SPEC 4.2 a rule set defines, in the order they are evaluated: a formula may use the
/// calculations before its own.
public enum Calculation: Int, CaseIterable, Sendable {
    case forLoan, forPledge, overborrow, locateAvailable
    /// An aggregation unit's sell limits (SPEC 4.2), evaluated on the unit's buckets.
    case unitLongSellLimit, unitShortSellLimit
    /// A client's sell limits in a security (SPEC 4.2), evaluated on the client's share: its books' positions,
    /// its approved locates and its approved sells.
    case clientLongSellLimit, clientShortSellLimit

    public var name: String {
        switch self {
        case .forLoan: "forLoan"
        case .forPledge: "forPledge"
        case .overborrow: "overborrow"
        case .locateAvailable: "locateAvailable"
        case .unitLongSellLimit: "unitLongSellLimit"
        case .unitShortSellLimit: "unitShortSellLimit"
        case .clientLongSellLimit: "clientLongSellLimit"
        case .clientShortSellLimit: "clientShortSellLimit"
        }
    }

    /// The calculations of a security's inventory (SPEC 6's `calculations`).
    public static let inventory: [Calculation] = [.forLoan, .forPledge, .overborrow, .locateAvailable]

    public static let byName = Dictionary(uniqueKeysWithValues: allCases.map { ($0.name, $0) })

    /// Calculations added after rule documents were first written (and kept in journals and snapshots): a
    /// document without a rule for one gets the shipped default pack's, so that it still compiles.
    public static let addedLater: [Calculation] = [.clientLongSellLimit, .clientShortSellLimit]
}

/// What a rule's condition is tested against: one security's reference data.
public struct SecurityTraits: Sendable {
    public var marketId: String
    public var temperature: Temperature
    public var assetType: AssetType
    public var easyToBorrow: Bool
    public var thresholdList: Bool
    public var restricted: Bool
    public var shortSellEligible: Bool
    /// Ids of the index and ETF securities it is a constituent of.
    public var indexMemberships: Set<String>
    /// It trades in a currency other than its market's (a quanto listing).
    public var quanto: Bool

    /// A `SecurityTraits` from its fields.
    public init(
        marketId: String, temperature: Temperature = .gc, assetType: AssetType = .equity, easyToBorrow: Bool = false,
        thresholdList: Bool = false, restricted: Bool = false, shortSellEligible: Bool = true, indexMemberships: Set<String> = [],
        quanto: Bool = false
    ) {
        self.marketId = marketId; self.temperature = temperature; self.assetType = assetType; self.easyToBorrow = easyToBorrow
        self.thresholdList = thresholdList; self.restricted = restricted; self.shortSellEligible = shortSellEligible
        self.indexMemberships = indexMemberships; self.quanto = quanto
    }
}

/// A bad rule document: which rule (or pack, or parameter) and which field, and why.
public struct RuleError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `rule TW.forLoan`, `pack TW`, `parameter haircut` or `document`.
    public var subject: String
    public var field: String
    public var message: String

    /// A `RuleError` from its fields.
    public init(subject: String, field: String, message: String) {
        self.subject = subject; self.field = field; self.message = message
    }

    public var description: String { "\(subject), field \(field): \(message)" }
}

/// A formula compiled against bucket indices: evaluation does no look-up by name.
indirect enum Node: Sendable {
    case quantity(Int64)
    case bucket(Int)
    /// A dated bucket on a settlement-ladder day (`LONG.FIRM@SD2`): day × `Bucket.count` + the bucket's index, in
    /// one word so that the node stays as small as the other leaves (evaluation walks these trees per security).
    case dayBucket(Int)
    case calculation(Int)
    case sum([(node: Node, sign: Int64)])
    /// `node` × `units` / 10⁸, rounded down to a whole unit.
    case scaled(Node, units: Int64)
    case maximum([Node])
    case minimum([Node])
}

/// One compiled rule.
public struct CompiledRule: Sendable {
    public let id: String
    public let pack: String
    public let calculation: Calculation
    public let formula: String
    let condition: RuleCondition?
    let node: Node
    /// Whether the formula names a ladder day (`LONG.FIRM@SD0`), so needs the security's ladder.
    let usesLadderDays: Bool
}

/// Which rule each calculation of one security uses (indices into `CompiledRuleSet.rules`); chosen once per
/// security when a rule set is activated or the security's reference data changes.
public struct RuleChoice: Sendable, Hashable {
    public var rules: SIMD8<UInt16>

    public subscript(_ c: Calculation) -> Int { Int(rules[c.rawValue]) }
}

/// The value of every calculation for one security (or one scope's share of it). Encoded as SPEC 6's
/// `calculations`: the four inventory figures (the unit limits have views of their own).
public struct CalculationValues: Sendable, Hashable, Codable {
    public var forLoan: Int64 = 0
    public var forPledge: Int64 = 0
    public var overborrow: Int64 = 0
    public var locateAvailable: Int64 = 0
    public var unitLongSellLimit: Int64 = 0
    public var unitShortSellLimit: Int64 = 0
    public var clientLongSellLimit: Int64 = 0
    public var clientShortSellLimit: Int64 = 0

    /// A `CalculationValues` from its fields.
    public init() {}

    enum CodingKeys: String, CodingKey { case forLoan, forPledge, overborrow, locateAvailable }

    public subscript(_ c: Calculation) -> Int64 {
        get {
            switch c {
            case .forLoan: forLoan
            case .forPledge: forPledge
            case .overborrow: overborrow
            case .locateAvailable: locateAvailable
            case .unitLongSellLimit: unitLongSellLimit
            case .unitShortSellLimit: unitShortSellLimit
            case .clientLongSellLimit: clientLongSellLimit
            case .clientShortSellLimit: clientShortSellLimit
            }
        }
        set {
            switch c {
            case .forLoan: forLoan = newValue
            case .forPledge: forPledge = newValue
            case .overborrow: overborrow = newValue
            case .locateAvailable: locateAvailable = newValue
            case .unitLongSellLimit: unitLongSellLimit = newValue
            case .unitShortSellLimit: unitShortSellLimit = newValue
            case .clientLongSellLimit: clientLongSellLimit = newValue
            case .clientShortSellLimit: clientShortSellLimit = newValue
            }
        }
    }

    /// Whether the four inventory figures are the same.
    public func sameInventory(as other: CalculationValues) -> Bool {
        Calculation.inventory.allSatisfy { self[$0] == other[$0] }
    }
}

/// A validated rule set, compiled: what the engine evaluates.
public struct CompiledRuleSet: Sendable {
    public let document: RuleSetDocument
    public let rules: [CompiledRule]
    /// The locate policy (the document's, or the shipped one for a document without one).
    public let locatePolicy: CompiledLocatePolicy
    /// For each market with a pack, then for the others: each calculation's candidate rules in the order
    /// they are tried (the market's packs', then the default pack's).
    private let marketCandidates: [String: [[Int]]]
    private let defaultCandidates: [[Int]]

    /// The locate policy of the shipped rule set: what a document without one uses.
    public static let shippedLocatePolicy: LocatePolicyDocument = {
        guard let policy = try? RuleSetDocument.decode(json: Array(EmbeddedRules.defaultRuleSet.utf8)).locatePolicy else {
            preconditionFailure("the shipped rule set has no locate policy")
        }
        return policy
    }()

    /// Validates and compiles `document`; throws the first problem, naming the rule and field.
    public init(_ document: RuleSetDocument) throws(RuleError) {
        self.document = document
        guard !document.name.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw RuleError(subject: "document", field: "name", message: "must not be empty")
        }
        var parameters: [String: Decimal8] = [:]
        for (name, value) in document.parameters ?? [:] {
            guard name.first?.isLetter == true, Bucket.byName[name] == nil, Calculation.byName[name] == nil, name != "max", name != "min" else {
                throw RuleError(
                    subject: "parameter \(name)", field: "parameters",
                    message: "a parameter's name must start with a letter and not be a bucket, calculation or function")
            }
            parameters[name] = value.value
        }
        var rules: [CompiledRule] = []
        var ids = Set<String>()
        var marketRules: [String: [Int]] = [:]
        var defaultRules: [Int] = []
        var packNames = Set<String>()
        var defaultPacks = 0
        for pack in document.packs {
            guard !pack.pack.isEmpty else { throw RuleError(subject: "document", field: "packs[].pack", message: "a pack needs a name") }
            guard packNames.insert(pack.pack).inserted else {
                throw RuleError(subject: "pack \(pack.pack)", field: "pack", message: "the name is used by another pack")
            }
            if let markets = pack.markets {
                guard !markets.isEmpty else {
                    throw RuleError(
                        subject: "pack \(pack.pack)", field: "markets", message: "list at least one market, or leave markets out for the default pack")
                }
            } else {
                defaultPacks += 1
            }
            for rule in pack.rules {
                let subject = "rule \(rule.id)"
                guard !rule.id.isEmpty else { throw RuleError(subject: "pack \(pack.pack)", field: "rules[].id", message: "a rule needs an id") }
                guard ids.insert(rule.id).inserted else { throw RuleError(subject: subject, field: "id", message: "another rule has this id") }
                guard let calculation = Calculation.byName[rule.calculation] else {
                    throw RuleError(
                        subject: subject, field: "calculation",
                        message: "\(rule.calculation) is not a calculation (\(Calculation.allCases.map(\.name).joined(separator: ", ")))")
                }
                try Self.check(rule.when, subject: subject)
                let formula: Formula
                do { formula = try FormulaParser.parse(rule.formula) } catch {
                    throw RuleError(subject: subject, field: "formula", message: "\(error.message) at character \(error.position)")
                }
                let node = try Self.compile(formula, for: calculation, parameters: parameters, subject: subject)
                let index = rules.count
                rules.append(
                    CompiledRule(
                        id: rule.id, pack: pack.pack, calculation: calculation, formula: rule.formula, condition: rule.when,
                        node: node, usesLadderDays: Self.namesADay(node)))
                if let markets = pack.markets {
                    for m in markets { marketRules[m, default: []].append(index) }
                } else {
                    defaultRules.append(index)
                }
            }
        }
        guard defaultPacks == 1 else {
            throw RuleError(subject: "document", field: "packs", message: "exactly one pack must have no markets (the default pack); \(defaultPacks) do")
        }
        // Every calculation must have a rule that applies to any security: one without a condition in the default
        // pack. A calculation added later takes the shipped rule when the document (an older one) has none.
        for c in Calculation.allCases where !defaultRules.contains(where: { rules[$0].calculation == c && rules[$0].condition == nil }) {
            guard Calculation.addedLater.contains(c), defaultRules.allSatisfy({ rules[$0].calculation != c }),
                let shipped = Self.shippedDefaultRule(c), ids.insert(shipped.id).inserted
            else {
                throw RuleError(subject: "document", field: "packs", message: "the default pack needs a rule for \(c.name) without a condition")
            }
            guard let formula = try? FormulaParser.parse(shipped.formula) else { preconditionFailure("the shipped rule \(shipped.id) does not parse") }
            let node = try Self.compile(formula, for: c, parameters: parameters, subject: "rule \(shipped.id)")
            defaultRules.append(rules.count)
            rules.append(
                CompiledRule(
                    id: shipped.id, pack: "default", calculation: c, formula: shipped.formula, condition: nil,
                    node: node, usesLadderDays: Self.namesADay(node)))
        }
        guard rules.count < Int(UInt16.max) else { throw RuleError(subject: "document", field: "packs", message: "too many rules") }
        self.rules = rules
        if let policy = document.locatePolicy {
            locatePolicy = try CompiledLocatePolicy(policy)
        } else {
            guard let compiled = try? CompiledLocatePolicy(Self.shippedLocatePolicy) else { preconditionFailure("the shipped locate policy does not compile") }
            locatePolicy = compiled
        }
        func candidates(_ indices: [Int]) -> [[Int]] { Calculation.allCases.map { c in indices.filter { rules[$0].calculation == c } } }
        marketCandidates = marketRules.mapValues { candidates($0 + defaultRules) }
        defaultCandidates = candidates(defaultRules)
    }

    /// The rule each calculation uses for a security: the first matching rule of its market's packs, else of
    /// the default pack.
    public func choose(for traits: SecurityTraits) -> RuleChoice {
        let lists = marketCandidates[traits.marketId] ?? defaultCandidates
        var chosen = SIMD8<UInt16>()
        for c in Calculation.allCases {
            // The default pack has an unconditional rule for every calculation (checked when compiled).
            chosen[c.rawValue] = UInt16(lists[c.rawValue].first { Self.matches(rules[$0].condition, traits) }!)
        }
        return RuleChoice(rules: chosen)
    }

    /// The shipped default pack's unconditional rule for `c` (for documents older than `c`).
    private static func shippedDefaultRule(_ c: Calculation) -> RuleDocument? {
        let document = try? RuleSetDocument.decode(json: Array(EmbeddedRules.defaultRuleSet.utf8))
        return document?.packs.first { $0.markets == nil }?.rules.first { $0.calculation == c.name && $0.when == nil }
    }

    /// Whether any rule of `choice` names a ladder day: only then does evaluating it need the security's ladder.
    public func usesLadderDays(_ choice: RuleChoice) -> Bool {
        Calculation.allCases.contains { rules[choice[$0]].usesLadderDays }
    }

    private static func namesADay(_ node: Node) -> Bool {
        switch node {
        case .dayBucket: true
        case .quantity, .bucket, .calculation: false
        case .sum(let terms): terms.contains { namesADay($0.node) }
        case .scaled(let n, _): namesADay(n)
        case .maximum(let args), .minimum(let args): args.contains(where: namesADay)
        }
    }

    /// Every calculation of one security on each settlement-ladder day (its vector must have a ladder).
    public func evaluateLadder(_ choice: RuleChoice, _ buckets: BucketVector) -> [CalculationValues] {
        (0..<Bucket.ladderDays).map { evaluate(choice, buckets.onDay($0)) }
    }

    /// Every calculation of one security, from its buckets.
    public func evaluate(_ choice: RuleChoice, _ buckets: BucketVector) -> CalculationValues {
        var values = CalculationValues()
        for c in Calculation.allCases {
            values[c] = Self.value(rules[choice[c]].node, buckets, values)
        }
        return values
    }

    // MARK: Compiling

    private static let temperatures = Set(Temperature.allCases.map(\.rawValue))
    private static let assetTypes = Set(AssetType.allCases.map(\.rawValue))

    private static func check(_ condition: RuleCondition?, subject: String) throws(RuleError) {
        guard let condition else { return }
        if let t = condition.temperature, !temperatures.contains(t) {
            throw RuleError(subject: subject, field: "when.temperature", message: "\(t) is not \(Temperature.names)")
        }
        for a in condition.assetType ?? [] where !assetTypes.contains(a) {
            throw RuleError(
                subject: subject, field: "when.assetType", message: "\(a) is not an asset type (\(AssetType.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        if condition.assetType?.isEmpty == true { throw RuleError(subject: subject, field: "when.assetType", message: "list at least one asset type") }
        if condition.indexMember?.isEmpty == true { throw RuleError(subject: subject, field: "when.indexMember", message: "list at least one index") }
    }

    static func matches(_ condition: RuleCondition?, _ s: SecurityTraits) -> Bool {
        guard let c = condition else { return true }
        if let t = c.temperature, t != s.temperature.rawValue { return false }
        if let a = c.assetType, !a.contains(s.assetType.rawValue) { return false }
        if let i = c.indexMember, s.indexMemberships.isDisjoint(with: i) { return false }
        if let v = c.easyToBorrow, v != s.easyToBorrow { return false }
        if let v = c.thresholdList, v != s.thresholdList { return false }
        if let v = c.restricted, v != s.restricted { return false }
        if let v = c.shortSellEligible, v != s.shortSellEligible { return false }
        if let v = c.quanto, v != s.quanto { return false }
        return true
    }

    /// A compiled sub-formula, or a constant factor (a number or parameter, foldable into a product).
    private enum Compiled {
        case node(Node)
        case constant(Decimal8)
    }

    private static func compile(_ f: Formula, for calculation: Calculation, parameters: [String: Decimal8], subject: String) throws(RuleError) -> Node {
        func fail(_ message: String) -> RuleError { RuleError(subject: subject, field: "formula", message: message) }
        func walk(_ f: Formula) throws(RuleError) -> Compiled {
            switch f {
            case .number(let d): return .constant(d)
            case .name(let name) where name.contains("@"):
                let parts = name.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
                let base = String(parts[0]), day = String(parts[1])
                guard let indices = Bucket.byName[base] else { throw fail("\(name): only a bucket has ladder days, and \(base) is not a bucket") }
                guard let k = Bucket.ladderDayNames.firstIndex(of: day) else {
                    throw fail("\(name): the ladder day must be one of \(Bucket.ladderDayNames.joined(separator: ", "))")
                }
                guard indices.allSatisfy(Bucket.isDated) else { throw fail("\(name): \(base) is the day's, with no ladder days") }
                let nodes = indices.map { Node.dayBucket(k * Bucket.count + $0) }
                return .node(nodes.count == 1 ? nodes[0] : .sum(nodes.map { (node: $0, sign: Int64(1)) }))
            case .name(let name):
                if let p = parameters[name] { return .constant(p) }
                if let indices = Bucket.byName[name] {
                    return .node(indices.count == 1 ? .bucket(indices[0]) : .sum(indices.map { (node: Node.bucket($0), sign: Int64(1)) }))
                }
                if let c = Calculation.byName[name] {
                    guard c.rawValue < calculation.rawValue else {
                        throw fail(
                            "\(calculation.name) may use only the calculations before it (\(Calculation.allCases.prefix(calculation.rawValue).map(\.name).joined(separator: ", ")))"
                        )
                    }
                    return .node(.calculation(c.rawValue))
                }
                throw fail("\(name) is not a bucket, calculation or parameter")
            case .add(let a, let b): return .node(sum(terms(try quantity(a), 1) + terms(try quantity(b), 1)))
            case .subtract(let a, let b): return .node(sum(terms(try quantity(a), 1) + terms(try quantity(b), -1)))
            case .negate(let a):
                if case .constant(let d) = try walk(a) { return .constant(Decimal8(units: -d.units)) }
                return .node(sum(terms(try quantity(a), -1)))
            case .multiply(let a, let b):
                switch (try walk(a), try walk(b)) {
                case (.constant(let x), .constant(let y)):
                    let (product, overflow) = x.units.multipliedReportingOverflow(by: y.units)
                    guard !overflow else { throw fail("a product of numbers is too large") }
                    return .constant(Decimal8(units: product / Decimal8.scale))
                case (.constant(let x), .node(let n)), (.node(let n), .constant(let x)):
                    guard x.units.magnitude <= maxFactor.units.magnitude else { throw fail("the factor \(x) is outside ±\(maxFactor)") }
                    return .node(.scaled(n, units: x.units))
                case (.node, .node):
                    throw fail("a product needs a number or parameter on one side (formulas are linear in the buckets)")
                }
            case .maximum(let args): return .node(.maximum(try args.map { (a) throws(RuleError) in try quantity(a) }))
            case .minimum(let args): return .node(.minimum(try args.map { (a) throws(RuleError) in try quantity(a) }))
            }
        }
        // A sum of sums is one flat sum.
        func terms(_ n: Node, _ sign: Int64) -> [(node: Node, sign: Int64)] {
            if case .sum(let inner) = n { return inner.map { ($0.node, $0.sign * sign) } }
            return [(n, sign)]
        }
        func sum(_ terms: [(node: Node, sign: Int64)]) -> Node { .sum(terms) }
        func quantity(_ f: Formula) throws(RuleError) -> Node {
            switch try walk(f) {
            case .node(let n): return n
            case .constant(let d):
                guard d.units % Decimal8.scale == 0 else { throw fail("\(d) stands alone as a quantity but is not whole (multiply a bucket by it)") }
                return .quantity(d.units / Decimal8.scale)
            }
        }
        let node = try quantity(f)
        // Every step of evaluating it must fit in 128 bits (`value128` is then exact).
        guard provedBound(node) < 0x1p120 else { throw fail("its factors are too large to evaluate exactly (keep each factor within ±\(maxFactor))") }
        return node
    }

    /// The largest constant factor a formula may multiply by (a haircut, a share, a scale): ±10⁶.
    static let maxFactor = Decimal8(units: 1_000_000 * Decimal8.scale)

    // MARK: Evaluating

    /// A formula's value: exact, then held to the 64-bit range (`Int64(clamping:)`, the one place a figure can
    /// saturate; a compiled formula is proved to evaluate exactly in 128 bits, `provedBound`). The common case
    /// runs in 64 bits and stops at the first overflow, which then evaluates the whole formula in 128.
    static func value(_ node: Node, _ b: BucketVector, _ calculations: CalculationValues) -> Int64 {
        if let v = value64(node, b, calculations) { return v }
        return Int64(clamping: value128(node, b, calculations))
    }

    /// The value in 64 bits, or nil if any step overflows.
    static func value64(_ node: Node, _ b: BucketVector, _ calculations: CalculationValues) -> Int64? {
        switch node {
        case .quantity(let q): return q
        case .bucket(let i): return b[i]
        case .dayBucket(let code): return b[day: code / Bucket.count, code % Bucket.count]
        case .calculation(let c): return calculations[Calculation(rawValue: c)!]
        case .sum(let terms):
            var total: Int64 = 0
            for t in terms {
                guard let v = value64(t.node, b, calculations) else { return nil }
                let (term, o1) = v.multipliedReportingOverflow(by: t.sign)
                let (next, o2) = total.addingReportingOverflow(term)
                if o1 || o2 { return nil }
                total = next
            }
            return total
        case .scaled(let n, let units):
            guard let v = value64(n, b, calculations) else { return nil }
            let exact = scale128(Int128(v), units)
            guard let fits = Int64(exactly: exact) else { return nil }
            return fits
        case .maximum(let args), .minimum(let args):
            var best: Int64?
            let isMax = if case .maximum = node { true } else { false }
            for a in args {
                guard let v = value64(a, b, calculations) else { return nil }
                if let x = best { best = isMax ? max(x, v) : min(x, v) } else { best = v }
            }
            return best
        }
    }

    /// The value in 128 bits: exact for a compiled formula (`provedBound`).
    static func value128(_ node: Node, _ b: BucketVector, _ calculations: CalculationValues) -> Int128 {
        switch node {
        case .quantity(let q): return Int128(q)
        case .bucket(let i): return Int128(b[i])
        case .dayBucket(let code): return Int128(b[day: code / Bucket.count, code % Bucket.count])
        case .calculation(let c): return Int128(calculations[Calculation(rawValue: c)!])
        case .sum(let terms):
            var total: Int128 = 0
            for t in terms { total += Int128(t.sign) * value128(t.node, b, calculations) }
            return total
        case .scaled(let n, let units): return scale128(value128(n, b, calculations), units)
        case .maximum(let args): return args.map { value128($0, b, calculations) }.max()!
        case .minimum(let args): return args.map { value128($0, b, calculations) }.min()!
        }
    }

    /// `q` × `units` / 10⁸, rounded down (toward −∞), in 128 bits.
    @inline(__always)
    static func scale128(_ q: Int128, _ units: Int64) -> Int128 {
        let product = q * Int128(units)
        let scale = Int128(Decimal8.scale)
        var quotient = product / scale
        if product % scale != 0 && product < 0 { quotient -= 1 }
        return quotient
    }

    /// The largest magnitude a compiled formula can reach in any step of `value128`, taking every bucket and
    /// calculation at the 64-bit limit (in `Double`, rounded up generously). Compiling refuses a formula whose
    /// bound is not below 2¹²⁰, so that evaluating it in 128 bits is exact.
    static func provedBound(_ node: Node) -> Double {
        let limit = Double(Int64.max) * 1.000001
        switch node {
        case .quantity(let q): return Double(q.magnitude) + 1
        case .bucket, .dayBucket, .calculation: return limit
        case .sum(let terms): return terms.reduce(0) { $0 + Double($1.sign.magnitude) * provedBound($1.node) } + 1
        case .scaled(let n, let units): return provedBound(n) * max(1, Double(units.magnitude)) + 1
        case .maximum(let args), .minimum(let args): return args.map(provedBound).max() ?? 0
        }
    }
}

extension CompiledRuleSet {
    /// The rule set shipped with IMS (`data/rules/default.json`).
    public static let shipped: CompiledRuleSet = {
        do { return try CompiledRuleSet(json: Array(EmbeddedRules.defaultRuleSet.utf8)) } catch {
            preconditionFailure("the shipped rule set does not compile: \(error)")
        }
    }()

    /// Decodes and compiles a rule set document; a field that is missing or of the wrong type is named.
    public init(json: [UInt8]) throws(RuleError) {
        try self.init(RuleSetDocument.decode(json: json))
    }
}

extension RuleSetDocument {
    /// Reads a rule document strictly (`StrictJSON`): a repeated key, a key no field knows (a misspelt
    /// condition would otherwise be dropped and the rule apply to everything), nesting, a document over
    /// `InputBounds.maxRuleDocumentBytes` or a string over `maxFormulaBytes` is refused, naming the field.
    public static func decode(json: [UInt8]) throws(RuleError) -> RuleSetDocument {
        guard json.count <= InputBounds.maxRuleDocumentBytes else {
            throw RuleError(
                subject: "document", field: "(document)",
                message: "is \(json.count) bytes; a rule document may have at most \(InputBounds.maxRuleDocumentBytes)")
        }
        let document: RuleSetDocument
        do { document = try StrictJSON.decode(RuleSetDocument.self, from: json, limits: .ruleDocument) } catch {
            throw RuleError(subject: "document", field: error.field == "body" ? "(document)" : error.field, message: error.message)
        }
        let rules = document.packs.reduce(0) { $0 + $1.rules.count } + (document.locatePolicy.map { $0.rules.count + $0.decrements.count } ?? 0)
        guard rules <= InputBounds.maxRulesPerDocument else {
            throw RuleError(
                subject: "document", field: "packs", message: "holds \(rules) rules; a rule document may have at most \(InputBounds.maxRulesPerDocument)")
        }
        return document
    }

    /// The document as JSON, keys sorted and pretty-printed: what `ims rules export` writes, byte for byte the
    /// same for the same document.
    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return Array((try? encoder.encode(self)) ?? Data())
    }
}
