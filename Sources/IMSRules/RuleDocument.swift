import IMSDomain

/// A rule set as written: the document the desk edits, exports and imports (JSON). See docs/inventory.md.
///
/// ```json
/// {"name": "IMS default", "parameters": {"haircut": 0.5},
///  "packs": [
///    {"pack": "default", "rules": [{"id": "forLoan", "calculation": "forLoan", "formula": "LONG.FIRM + …"}]},
///    {"pack": "TW", "markets": ["TW"], "rules": [{"id": "TW.forLoan", "calculation": "forLoan", "formula": "…"}]}]}
/// ```
public struct RuleSetDocument: Codable, Sendable, Equatable {
    public var name: String
    public var parameters: [String: Decimal8Text]?
    public var packs: [RulePackDocument]
    /// How locate requests are answered and what approvals take from the pool (SPEC 4.4); a document without
    /// one (written before it existed) uses the shipped policy.
    public var locatePolicy: LocatePolicyDocument?

    /// A `RuleSetDocument` from its fields.
    public init(name: String, parameters: [String: Decimal8Text]? = nil, packs: [RulePackDocument], locatePolicy: LocatePolicyDocument? = nil) {
        self.name = name; self.parameters = parameters; self.packs = packs; self.locatePolicy = locatePolicy
    }
}

/// A pack: the rules of some markets (`markets`), or of every market when it has none (the default pack).
public struct RulePackDocument: Codable, Sendable, Equatable {
    public var pack: String
    public var markets: [String]?
    public var description: String?
    public var rules: [RuleDocument]

    /// A `RulePackDocument` from its fields.
    public init(pack: String, markets: [String]? = nil, description: String? = nil, rules: [RuleDocument]) {
        self.pack = pack; self.markets = markets; self.description = description; self.rules = rules
    }
}

/// One rule: the formula of one calculation for the securities its condition matches.
public struct RuleDocument: Codable, Sendable, Equatable {
    public var id: String
    public var calculation: String
    public var formula: String
    public var when: RuleCondition?
    public var description: String?

    /// A `RuleDocument` from its fields.
    public init(id: String, calculation: String, formula: String, when: RuleCondition? = nil, description: String? = nil) {
        self.id = id; self.calculation = calculation; self.formula = formula; self.when = when; self.description = description
    }
}

/// What a security must be for a rule to apply to it; every given field must hold (an absent one always does).
public struct RuleCondition: Codable, Sendable, Equatable {
    public var temperature: String?
    public var assetType: [String]?
    /// The security is a constituent of one of these index or ETF securities.
    public var indexMember: [String]?
    public var easyToBorrow: Bool?
    public var thresholdList: Bool?
    public var restricted: Bool?
    public var shortSellEligible: Bool?
    /// The security trades in a currency other than its market's.
    public var quanto: Bool?

    /// A `RuleCondition` from its fields.
    public init(
        temperature: String? = nil, assetType: [String]? = nil, indexMember: [String]? = nil, easyToBorrow: Bool? = nil,
        thresholdList: Bool? = nil, restricted: Bool? = nil, shortSellEligible: Bool? = nil, quanto: Bool? = nil
    ) {
        self.temperature = temperature; self.assetType = assetType; self.indexMember = indexMember; self.easyToBorrow = easyToBorrow
        self.thresholdList = thresholdList; self.restricted = restricted; self.shortSellEligible = shortSellEligible
        self.quanto = quanto
    }
}

/// A decimal written as a JSON number or string (`0.5` or `"0.5"`), kept exactly.
public struct Decimal8Text: Codable, Sendable, Equatable {
    public var value: Decimal8

    /// A `Decimal8Text` from its fields.
    public init(_ value: Decimal8) { self.value = value }

    /// Decodes the value from its JSON form.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let text: String
        if let s = try? c.decode(String.self) { text = s } else { text = "\(try c.decode(Double.self))" }
        guard let d = Decimal8(text) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "\(text) is not a decimal with at most 8 places")
        }
        value = d
    }

    /// Encodes the value as its JSON form.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(value.description)
    }
}
