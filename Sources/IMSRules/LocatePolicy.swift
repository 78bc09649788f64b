import IMSDomain

/// The locate policy of a rule set (SPEC 4.4): which requests are answered at once and how, and how much
/// each approval takes from the locate pool. Part of the rule document (`locatePolicy`), so it is versioned,
/// previewed, approved and activated with the calculations.
///
/// ```json
/// "locatePolicy": {
///   "rules": [{"id": "restricted", "when": {"restricted": true}, "outcome": "REJECT", "reason": "RESTRICTED"}, …,
///             {"id": "availability", "outcome": "AVAILABILITY"}],
///   "decrements": [{"id": "usEasyToBorrow", "when": {"markets": ["US"], "easyToBorrow": true}, "factor": "0"},
///                  {"id": "default", "factor": "1"}]}
/// ```
public struct LocatePolicyDocument: Codable, Sendable, Equatable {
    public var rules: [LocateRuleDocument]
    public var decrements: [LocateDecrementDocument]

    /// A `LocatePolicyDocument` from its fields.
    public init(rules: [LocateRuleDocument], decrements: [LocateDecrementDocument]) {
        self.rules = rules; self.decrements = decrements
    }
}

/// One step of the policy: when its condition holds, the request gets its outcome.
public struct LocateRuleDocument: Codable, Sendable, Equatable {
    public var id: String
    public var when: LocateCondition?
    /// `APPROVE` (in full), `PENDING` (for an operator), `REJECT`, or `AVAILABILITY`: approved if the pool
    /// covers the decrement, partly if it covers some, rejected `INSUFFICIENT_AVAILABILITY` if none.
    public var outcome: String
    /// The reason code given with `PENDING` or `REJECT`.
    public var reason: String?
    public var description: String?

    /// A `LocateRuleDocument` from its fields.
    public init(id: String, when: LocateCondition? = nil, outcome: String, reason: String? = nil, description: String? = nil) {
        self.id = id; self.when = when; self.outcome = outcome; self.reason = reason; self.description = description
    }
}

/// How much of an approved quantity the pool gives up, for the requests its condition matches.
public struct LocateDecrementDocument: Codable, Sendable, Equatable {
    public var id: String
    public var when: LocateCondition?
    /// The share of the approved quantity taken from the pool (`1`: all of it, `0`: none).
    public var factor: Decimal8Text
    public var description: String?

    /// A `LocateDecrementDocument` from its fields.
    public init(id: String, when: LocateCondition? = nil, factor: Decimal8Text, description: String? = nil) {
        self.id = id; self.when = when; self.factor = factor; self.description = description
    }
}

/// What a request must be for a locate rule to apply; every given field must hold.
public struct LocateCondition: Codable, Sendable, Equatable {
    public var markets: [String]?
    public var countries: [String]?
    public var temperature: String?
    public var assetType: [String]?
    public var easyToBorrow: Bool?
    public var thresholdList: Bool?
    public var restricted: Bool?
    public var shortSellEligible: Bool?
    public var side: String?
    public var settlement: String?
    public var clients: [String]?
    /// The requested quantity is above this.
    public var quantityAbove: Int64?
    /// The indicative borrow rate (from the lenders' lines) is above this many basis points.
    public var rateAboveBps: Decimal8Text?
    /// The client's locates already approved today in this security add up to more than this.
    public var clientApprovedAbove: Int64?
    /// All locates already approved today in this security add up to more than this.
    public var securityApprovedAbove: Int64?

    /// A `LocateCondition` from its fields.
    public init(
        markets: [String]? = nil, countries: [String]? = nil, temperature: String? = nil, assetType: [String]? = nil,
        easyToBorrow: Bool? = nil, thresholdList: Bool? = nil, restricted: Bool? = nil, shortSellEligible: Bool? = nil,
        side: String? = nil, settlement: String? = nil, clients: [String]? = nil, quantityAbove: Int64? = nil,
        rateAboveBps: Decimal8Text? = nil, clientApprovedAbove: Int64? = nil, securityApprovedAbove: Int64? = nil
    ) {
        self.markets = markets; self.countries = countries; self.temperature = temperature; self.assetType = assetType
        self.easyToBorrow = easyToBorrow; self.thresholdList = thresholdList; self.restricted = restricted
        self.shortSellEligible = shortSellEligible; self.side = side; self.settlement = settlement; self.clients = clients
        self.quantityAbove = quantityAbove; self.rateAboveBps = rateAboveBps; self.clientApprovedAbove = clientApprovedAbove
        self.securityApprovedAbove = securityApprovedAbove
    }
}

/// What a locate condition is tested against: the request, its security, and the day's approvals so far.
public struct LocateFacts: Sendable {
    public var traits: SecurityTraits
    public var country: String
    public var side: LocateCommand.Side
    public var settlement: LocateCommand.Settlement
    public var clientId: String
    public var quantity: Int64
    public var rateBps: Decimal8?
    public var clientApproved: Int64
    public var securityApproved: Int64

    /// A `LocateFacts` from its fields.
    public init(
        traits: SecurityTraits, country: String, side: LocateCommand.Side, settlement: LocateCommand.Settlement, clientId: String,
        quantity: Int64, rateBps: Decimal8?, clientApproved: Int64, securityApproved: Int64
    ) {
        self.traits = traits; self.country = country; self.side = side; self.settlement = settlement; self.clientId = clientId
        self.quantity = quantity; self.rateBps = rateBps; self.clientApproved = clientApproved; self.securityApproved = securityApproved
    }
}

/// The policy's outcome for a request.
public enum LocateOutcome: Sendable, Equatable {
    case approve
    case pending(reason: String)
    case reject(reason: String)
    case availability
}

/// A validated, compiled locate policy.
public struct CompiledLocatePolicy: Sendable {
    public struct Rule: Sendable {
        public let id: String
        let condition: LocateCondition?
        public let outcome: LocateOutcome
    }

    public struct Decrement: Sendable {
        public let id: String
        let condition: LocateCondition?
        /// Units of 10⁻⁸.
        public let factor: Decimal8
    }

    public let rules: [Rule]
    public let decrements: [Decrement]

    static let outcomes = ["APPROVE", "PENDING", "REJECT", "AVAILABILITY"]

    init(_ document: LocatePolicyDocument) throws(RuleError) {
        var ids = Set<String>()
        var rules: [Rule] = []
        for r in document.rules {
            let subject = "locate rule \(r.id)"
            guard !r.id.isEmpty else { throw RuleError(subject: "locatePolicy", field: "rules[].id", message: "a locate rule needs an id") }
            guard ids.insert(r.id).inserted else { throw RuleError(subject: subject, field: "id", message: "another locate rule has this id") }
            try Self.check(r.when, subject: subject)
            let outcome: LocateOutcome
            switch r.outcome {
            case "APPROVE": outcome = .approve
            case "AVAILABILITY": outcome = .availability
            case "PENDING", "REJECT":
                guard let reason = r.reason, !reason.isEmpty else {
                    throw RuleError(subject: subject, field: "reason", message: "\(r.outcome) needs a reason code")
                }
                outcome = r.outcome == "PENDING" ? .pending(reason: reason) : .reject(reason: reason)
            default:
                throw RuleError(subject: subject, field: "outcome", message: "\(r.outcome) is not an outcome (\(Self.outcomes.joined(separator: ", ")))")
            }
            rules.append(Rule(id: r.id, condition: r.when, outcome: outcome))
        }
        guard rules.contains(where: { $0.condition == nil }) else {
            throw RuleError(
                subject: "locatePolicy", field: "rules", message: "the last word needs a rule without a condition (every request must get an outcome)")
        }
        var decrements: [Decrement] = []
        for d in document.decrements {
            let subject = "locate decrement \(d.id)"
            guard !d.id.isEmpty else { throw RuleError(subject: "locatePolicy", field: "decrements[].id", message: "a decrement rule needs an id") }
            guard ids.insert(d.id).inserted else { throw RuleError(subject: subject, field: "id", message: "another locate rule has this id") }
            try Self.check(d.when, subject: subject)
            guard d.factor.value.units >= 0, d.factor.value.units <= Decimal8.scale else {
                throw RuleError(subject: subject, field: "factor", message: "must be between 0 and 1")
            }
            decrements.append(Decrement(id: d.id, condition: d.when, factor: d.factor.value))
        }
        guard decrements.contains(where: { $0.condition == nil }) else {
            throw RuleError(subject: "locatePolicy", field: "decrements", message: "needs a decrement rule without a condition")
        }
        self.rules = rules
        self.decrements = decrements
    }

    private static func check(_ c: LocateCondition?, subject: String) throws(RuleError) {
        guard let c else { return }
        if let t = c.temperature, !Temperature.allCases.map(\.rawValue).contains(t) {
            throw RuleError(subject: subject, field: "when.temperature", message: "\(t) is not \(Temperature.names)")
        }
        for a in c.assetType ?? [] where !AssetType.allCases.map(\.rawValue).contains(a) {
            throw RuleError(subject: subject, field: "when.assetType", message: "\(a) is not an asset type")
        }
        if let s = c.side, LocateCommand.Side(rawValue: s) == nil {
            throw RuleError(subject: subject, field: "when.side", message: "\(s) is not SHORT or LONG")
        }
        if let s = c.settlement, LocateCommand.Settlement(rawValue: s) == nil {
            throw RuleError(subject: subject, field: "when.settlement", message: "\(s) is not CASH or SWAP")
        }
        for (field, list) in [("markets", c.markets), ("countries", c.countries), ("clients", c.clients)] where list?.isEmpty == true {
            throw RuleError(subject: subject, field: "when.\(field)", message: "list at least one, or leave it out")
        }
    }

    static func matches(_ condition: LocateCondition?, _ f: LocateFacts) -> Bool {
        guard let c = condition else { return true }
        if let m = c.markets, !m.contains(f.traits.marketId) { return false }
        if let m = c.countries, !m.contains(f.country) { return false }
        if let t = c.temperature, t != f.traits.temperature.rawValue { return false }
        if let a = c.assetType, !a.contains(f.traits.assetType.rawValue) { return false }
        if let v = c.easyToBorrow, v != f.traits.easyToBorrow { return false }
        if let v = c.thresholdList, v != f.traits.thresholdList { return false }
        if let v = c.restricted, v != f.traits.restricted { return false }
        if let v = c.shortSellEligible, v != f.traits.shortSellEligible { return false }
        if let s = c.side, s != f.side.rawValue { return false }
        if let s = c.settlement, s != f.settlement.rawValue { return false }
        if let l = c.clients, !l.contains(f.clientId) { return false }
        if let q = c.quantityAbove, f.quantity <= q { return false }
        if let r = c.rateAboveBps { guard let rate = f.rateBps, rate.units > r.value.units else { return false } }
        if let q = c.clientApprovedAbove, f.clientApproved <= q { return false }
        if let q = c.securityApprovedAbove, f.securityApproved <= q { return false }
        return true
    }

    /// The first rule whose condition holds (the policy ends with one that always does).
    public func decide(_ facts: LocateFacts) -> Rule {
        rules.first { Self.matches($0.condition, facts) }!
    }

    /// The first decrement rule whose condition holds.
    public func decrement(_ facts: LocateFacts) -> Decrement {
        decrements.first { Self.matches($0.condition, facts) }!
    }

    /// What approving `quantity` takes from the pool: factor × quantity, rounded up (the pool's side).
    public static func decrement(of quantity: Int64, factor: Decimal8) -> Int64 {
        let product = Int128(quantity) * Int128(factor.units)
        let scale = Int128(Decimal8.scale)
        return Int64(clamping: (product + scale - 1) / scale)
    }

    /// The largest quantity whose decrement fits in `available` (at most `requested`).
    public static func coverable(by available: Int64, factor: Decimal8, requested: Int64) -> Int64 {
        guard factor.units > 0 else { return requested }
        let most = Int64(clamping: Int128(available) * Int128(Decimal8.scale) / Int128(factor.units))
        return min(requested, max(0, most))
    }
}
