import Foundation
import IMSDomain
import Testing

@testable import IMSRules

/// The calculations of SPEC 4.2 as the shipped rules compute them, with figures worked by hand.
struct DefaultPackTests {
    /// LONG.FIRM 1,000; client free long 200 (also HYPOTHECATABLE); repo 50; borrowed 300; exclusive lines 100;
    /// loaned 400; pay-to-hold 30; pledged out 70; shorts 500 + 100; firm lines 80; indicative lines 101;
    /// today's locates 10.
    static func sample() -> BucketVector {
        var b = BucketVector()
        b[Bucket.long(.firm)] = 1_000
        b[Bucket.long(.clientFree)] = 200
        b[Bucket.hypothecatable] = 200
        b[Bucket.repoPledged] = 50
        b[Bucket.borrowed] = 300
        b[Bucket.external(.exclusive)] = 100
        b[Bucket.loaned] = 400
        b[Bucket.long(.payToHold)] = 30
        b[Bucket.payToHold] = 30
        b[Bucket.pledgedOut] = 70
        b[Bucket.short(.firm)] = 500
        b[Bucket.short(.clientSegregated)] = 100
        b[Bucket.external(.firm)] = 80
        b[Bucket.external(.indicative)] = 101
        b[Bucket.locateDecrement] = 10
        return b
    }

    static let rules = CompiledRuleSet.shipped

    static func values(_ b: BucketVector, _ traits: SecurityTraits) -> CalculationValues {
        rules.evaluate(rules.choose(for: traits), b)
    }

    @Test func theDefaultFormulas() {
        let v = Self.values(Self.sample(), SecurityTraits(marketId: "US"))
        // 1,000 + 200 + 50 + 300 + 100 − 400 − 30 − 0
        #expect(v.forLoan == 1_220)
        // 1,220 − 70
        #expect(v.forPledge == 1_150)
        // shorts 600 + loaned 400 − long 1,000 = 0 needed; 300 − 0 − 30
        #expect(v.overborrow == 270)
        // 1,220 + 80 + ⌊0.5 × 101⌋ − 10
        #expect(v.locateAvailable == 1_340)
    }

    @Test func unitSellLimits() {
        // Long 1,000 + 200 + 30 against shorts 600: 630; borrowed 300 − loaned 400 + lines 80 + 101 + 100 = 181.
        let v = Self.values(Self.sample(), SecurityTraits(marketId: "US"))
        #expect(v.unitLongSellLimit == 630)
        #expect(v.unitShortSellLimit == 181)
        // Taiwan and Korea: pre-borrow, lender offers do not count: 300 − 400 < 0.
        #expect(Self.values(Self.sample(), SecurityTraits(marketId: "TW")).unitShortSellLimit == 0)
        var b = Self.sample()
        b[Bucket.loaned] = 100
        #expect(Self.values(b, SecurityTraits(marketId: "KR")).unitShortSellLimit == 200)
    }

    @Test func clientSellLimits() {
        // A client's share: its long positions 1,000 + 200 + 30, approved long-sell locates 50, long sales
        // approved today 300; approved short locates 400, pay-to-hold 30, short sales approved today 120.
        var b = Self.sample()
        b[Bucket.locateApprovedLong] = 50
        b[Bucket.sellApprovedLong] = 300
        b[Bucket.locateApprovedShort] = 400
        b[Bucket.sellApprovedShort] = 120
        let v = Self.values(b, SecurityTraits(marketId: "US"))
        #expect(v.clientLongSellLimit == 1_230 + 50 - 300)
        #expect(v.clientShortSellLimit == 400 + 30 - 120)
        // Sales beyond what it has: nothing left, never negative.
        b[Bucket.sellApprovedShort] = 1_000
        #expect(Self.values(b, SecurityTraits(marketId: "US")).clientShortSellLimit == 0)
    }

    @Test func overborrowIsZeroWhenTheBorrowsAreNeeded() {
        var b = Self.sample()
        b[Bucket.short(.firm)] = 1_400 // shorts 1,500 + loaned 400 − long 1,000 = 900 needed > 300 borrowed
        #expect(Self.values(b, SecurityTraits(marketId: "US")).overborrow == 0)
        b[Bucket.short(.firm)] = 800 // 900 + 400 − 1,000 = 300 needed: 300 − 300 − 30 < 0
        #expect(Self.values(b, SecurityTraits(marketId: "US")).overborrow == 0)
        b[Bucket.short(.firm)] = 700 // 200 needed: 300 − 200 − 30
        #expect(Self.values(b, SecurityTraits(marketId: "US")).overborrow == 70)
    }

    @Test func locateAvailableIsNeverNegative() {
        var b = Self.sample()
        b[Bucket.locateDecrement] = 5_000
        #expect(Self.values(b, SecurityTraits(marketId: "US")).locateAvailable == 0)
    }

    @Test func taiwanLeavesBorrowedSharesOutOfForLoanAndLocatesOnlyPreBorrowedShares() {
        let v = Self.values(Self.sample(), SecurityTraits(marketId: "TW"))
        #expect(v.forLoan == 920) // 1,220 − 300 borrowed
        #expect(v.forPledge == 850)
        #expect(v.overborrow == 270) // the default rule
        #expect(v.locateAvailable == 290) // 300 borrowed − 10 located
    }

    @Test func koreaLocatesOnlyPreBorrowedShares() {
        let v = Self.values(Self.sample(), SecurityTraits(marketId: "KR"))
        #expect(v.forLoan == 1_220)
        #expect(v.locateAvailable == 290)
    }

    @Test(arguments: ["HK", "IN"])
    func onlyDesignatedSecuritiesCanBeLocated(market: String) {
        #expect(Self.values(Self.sample(), SecurityTraits(marketId: market, shortSellEligible: false)).locateAvailable == 0)
        #expect(Self.values(Self.sample(), SecurityTraits(marketId: market, shortSellEligible: true)).locateAvailable == 1_340)
    }

    @Test func aFactorRoundsDownToAWholeUnit() {
        #expect(CompiledRuleSet.scale128(101, 50_000_000) == 50)
        #expect(CompiledRuleSet.scale128(-101, 50_000_000) == -51)
        #expect(CompiledRuleSet.scale128(Int128(Int64.max), 200_000_000) == Int128(Int64.max) * 2) // exact in 128 bits
        #expect(CompiledRuleSet.scale128(3, 33_333_333) == 0)
        #expect(CompiledRuleSet.scale128(1_000_000_000, 12_345_678) == 123_456_780)
    }

    @Test func bucketIndicesMatchTheirNames() {
        for t in PositionType.allCases {
            #expect(Bucket.names[Bucket.long(t)] == "LONG.\(t.rawValue)")
            #expect(Bucket.names[Bucket.short(t)] == "SHORT.\(t.rawValue)")
            #expect(PositionType.allCases[t.ordinal] == t)
        }
        for t in AvailabilityType.allCases { #expect(Bucket.names[Bucket.external(t)] == "EXTERNAL.\(t.rawValue)") }
        let named: [(Int, String)] = [
            (Bucket.hypothecatable, "HYPOTHECATABLE"), (Bucket.borrowed, "BORROWED"), (Bucket.loaned, "LOANED"),
            (Bucket.repoPledged, "REPO_PLEDGED"), (Bucket.pledgedOut, "PLEDGED_OUT"), (Bucket.receivedIn, "RECEIVED_IN"),
            (Bucket.payToHold, "PAY_TO_HOLD"), (Bucket.locateDecrement, "LOCATE_DECREMENT"), (Bucket.sellApprovedLong, "SELL_APPROVED.LONG"),
            (Bucket.sellApprovedShort, "SELL_APPROVED.SHORT"), (Bucket.reserved, "RESERVED"),
            (Bucket.locateApprovedLong, "LOCATE_APPROVED.LONG"), (Bucket.locateApprovedShort, "LOCATE_APPROVED.SHORT"),
        ]
        for (i, name) in named { #expect(Bucket.names[i] == name) }
        #expect(Bucket.names.count == Bucket.count && Set(Bucket.names).count == Bucket.count)
    }

    @Test func theShippedFileAndTheEmbeddedCopyAreTheSame() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("data/rules/default.json")
        #expect(try String(contentsOf: file, encoding: .utf8) == EmbeddedRules.defaultRuleSet + "\n", "run scripts/generate_rules.py")
    }
}

/// Rule documents that must be refused, each naming its rule and field.
struct RuleValidationTests {
    static func document(_ rules: [RuleDocument], packs extra: [RulePackDocument] = [], parameters: [String: Decimal8Text]? = nil) -> RuleSetDocument {
        let base = [
            RuleDocument(id: "forLoan", calculation: "forLoan", formula: "LONG.FIRM"),
            RuleDocument(id: "forPledge", calculation: "forPledge", formula: "forLoan"),
            RuleDocument(id: "overborrow", calculation: "overborrow", formula: "0"),
            RuleDocument(id: "locateAvailable", calculation: "locateAvailable", formula: "forLoan"),
            RuleDocument(id: "unitLongSellLimit", calculation: "unitLongSellLimit", formula: "LONG.*"),
            RuleDocument(id: "unitShortSellLimit", calculation: "unitShortSellLimit", formula: "BORROWED"),
        ]
        return RuleSetDocument(name: "test", parameters: parameters, packs: [RulePackDocument(pack: "default", rules: base + rules)] + extra)
    }

    static func error(_ doc: RuleSetDocument) -> RuleError? {
        do { _ = try CompiledRuleSet(doc); return nil } catch { return error }
    }

    @Test func aMinimalDocumentCompiles() {
        #expect(Self.error(Self.document([])) == nil)
    }

    /// A document written before the client limits existed (in a journal or snapshot) still compiles: it
    /// gets the shipped rules for them. One that has a conditional rule for them but no general one does not.
    @Test func anOlderDocumentGetsTheShippedRulesForCalculationsAddedLater() throws {
        let older = try CompiledRuleSet(Self.document([]))
        let rule = try #require(older.rules.first { $0.calculation == .clientShortSellLimit })
        #expect(rule.id == "clientShortSellLimit" && rule.pack == "default" && rule.formula.contains("LOCATE_APPROVED.SHORT"))
        var b = BucketVector()
        b[Bucket.locateApprovedShort] = 70
        #expect(older.evaluate(older.choose(for: SecurityTraits(marketId: "US")), b).clientShortSellLimit == 70)
        let partial = Self.document([RuleDocument(id: "c", calculation: "clientLongSellLimit", formula: "0", when: RuleCondition(temperature: "HTB"))])
        #expect(Self.error(partial)?.message.contains("needs a rule for clientLongSellLimit") == true)
    }

    @Test(arguments: [
        ("LONG.FIRM + NOPE", "NOPE is not a bucket, calculation or parameter"),
        ("LONG.FIRM * BORROWED", "a product needs a number or parameter on one side"),
        ("LONG.FIRM + 0.5", "stands alone as a quantity but is not whole"),
        ("max(LONG.FIRM)", "needs at least two values"),
        ("LONG.FIRM +", "the formula ends where a value was expected at character 12"),
        ("(LONG.FIRM", "expected ')' at character 11"),
        ("LONG.FIRM $ 2", "unexpected '$' at character 11"),
        ("locateAvailable", "may use only the calculations before it"),
        ("1.123456789 * LONG.FIRM", "is not a number with at most 8 decimals"),
        ("LONG.FIRM@SD5", "LONG.FIRM@SD5: the ladder day must be one of SD0, SD1, SD2, SD3, SD4"),
        ("LONG.FIRM@T2", "the ladder day must be one of"),
        ("forLoan@SD1", "only a bucket has ladder days, and forLoan is not a bucket"),
        ("LOCATE_DECREMENT@SD1", "LOCATE_DECREMENT is the day's, with no ladder days"),
        ("max(0, SHORT.*@SD9)", "SHORT.*@SD9: the ladder day must be one of"),
    ])
    func aBadFormulaNamesTheRuleAndField(formula: String, message: String) {
        let e = Self.error(Self.document([RuleDocument(id: "bad", calculation: "forPledge", formula: formula, when: RuleCondition(temperature: "HTB"))]))
        #expect(e?.subject == "rule bad")
        #expect(e?.field == "formula")
        #expect(e?.message.contains(message) == true, "\(String(describing: e))")
    }

    @Test func badRulesAndPacksAreNamed() {
        let cases: [(RuleSetDocument, String, String, String)] = [
            (Self.document([RuleDocument(id: "forLoan", calculation: "forLoan", formula: "0")]), "rule forLoan", "id", "another rule"),
            (Self.document([RuleDocument(id: "x", calculation: "forLending", formula: "0")]), "rule x", "calculation", "not a calculation"),
            (
                Self.document([RuleDocument(id: "x", calculation: "forLoan", formula: "0", when: RuleCondition(temperature: "TEPID"))]), "rule x",
                "when.temperature", "not GC, HTB or WARM"
            ),
            (
                Self.document([RuleDocument(id: "x", calculation: "forLoan", formula: "0", when: RuleCondition(assetType: ["STOCK"]))]), "rule x",
                "when.assetType", "not an asset type"
            ),
            (Self.document([], packs: [RulePackDocument(pack: "TW", markets: [], rules: [])]), "pack TW", "markets", "at least one market"),
            (Self.document([], packs: [RulePackDocument(pack: "default", markets: ["TW"], rules: [])]), "pack default", "pack", "used by another pack"),
            (Self.document([], packs: [RulePackDocument(pack: "other", rules: [])]), "document", "packs", "exactly one pack"),
            (
                Self.document([], parameters: ["BORROWED": Decimal8Text(Decimal8(1))]), "parameter BORROWED", "parameters",
                "must start with a letter and not be a bucket"
            ),
            (
                RuleSetDocument(name: "t", packs: [RulePackDocument(pack: "default", rules: [RuleDocument(id: "f", calculation: "forLoan", formula: "0")])]),
                "document", "packs", "needs a rule for forPledge"
            ),
        ]
        for (doc, subject, field, message) in cases {
            let e = Self.error(doc)
            #expect(e?.subject == subject, "\(String(describing: e))")
            #expect(e?.field == field, "\(String(describing: e))")
            #expect(e?.message.contains(message) == true, "\(String(describing: e))")
        }
    }

    @Test func aDocumentWithAMissingOrMistypedFieldNamesIt() {
        let missing = #"{"name":"x","packs":[{"pack":"default","rules":[{"id":"a","calculation":"forLoan"}]}]}"#
        #expect(throws: RuleError(subject: "document", field: "packs[0].rules[0].formula", message: "is missing")) {
            try CompiledRuleSet(json: Array(missing.utf8))
        }
        let mistyped = #"{"name":"x","packs":[{"pack":"default","markets":"TW","rules":[]}]}"#
        do { _ = try CompiledRuleSet(json: Array(mistyped.utf8)); Issue.record("accepted") } catch {
            #expect(error.field == "packs[0].markets")
        }
    }

    @Test func parametersAndConditionsChooseTheRule() throws {
        let doc = Self.document(
            [
                RuleDocument(id: "htb", calculation: "locateAvailable", formula: "h * LONG.FIRM", when: RuleCondition(temperature: "HTB"))
            ], parameters: ["h": Decimal8Text(Decimal8("0.25")!)])
        let rules = try CompiledRuleSet(doc)
        var b = BucketVector()
        b[Bucket.long(.firm)] = 1_000
        // The default pack's rules are tried in order: the first that matches wins, so put specific ones first.
        #expect(rules.evaluate(rules.choose(for: SecurityTraits(marketId: "US", temperature: .htb)), b).locateAvailable == 1_000)
        let ordered = RuleSetDocument(
            name: "t", parameters: ["h": Decimal8Text(Decimal8("0.25")!)],
            packs: [
                RulePackDocument(
                    pack: "default",
                    rules: [
                        RuleDocument(id: "htb", calculation: "locateAvailable", formula: "h * LONG.FIRM", when: RuleCondition(temperature: "HTB"))
                    ] + doc.packs[0].rules.filter { $0.id != "htb" })
            ])
        let rules2 = try CompiledRuleSet(ordered)
        #expect(rules2.evaluate(rules2.choose(for: SecurityTraits(marketId: "US", temperature: .htb)), b).locateAvailable == 250)
        #expect(rules2.evaluate(rules2.choose(for: SecurityTraits(marketId: "US", temperature: .gc)), b).locateAvailable == 1_000)
    }

    @Test func exportIsStable() throws {
        let doc = try RuleSetDocument.decode(json: Array(EmbeddedRules.defaultRuleSet.utf8))
        let once = doc.encoded()
        let twice = try RuleSetDocument.decode(json: once).encoded()
        #expect(once == twice)
    }
}

/// Buckets of a settlement-ladder day in formulas (`LONG.FIRM@SD2`).
struct LadderDayFormulaTests {
    /// A security's vector with a ladder: LONG.FIRM 10 as it stands, 1, 2, 3, 4, 5 on SD0…SD4; BORROWED 7 as
    /// it stands, 70 on every day; LOCATE_DECREMENT 9 (the day's: the same on every day).
    static func vector() -> BucketVector {
        var v = BucketVector(ladder: true)
        v[Bucket.long(.firm)] = 10
        v[Bucket.borrowed] = 7
        v[Bucket.locateDecrement] = 9
        for k in 0..<Bucket.ladderDays {
            v[day: k, Bucket.long(.firm)] = Int64(k + 1)
            v[day: k, Bucket.borrowed] = 70
        }
        return v
    }

    static func rules(_ formula: String) throws -> CompiledRuleSet {
        var document = try RuleSetDocument.decode(json: Array(EmbeddedRules.defaultRuleSet.utf8))
        document.packs[0].rules.insert(RuleDocument(id: "test", calculation: "forLoan", formula: formula), at: 0)
        return try CompiledRuleSet(document)
    }

    @Test func aDayReadsItsOwnRowOrTheNamedDayIfLater() throws {
        let v = Self.vector()
        let rules = try Self.rules("LONG.FIRM@SD2 + BORROWED - LOCATE_DECREMENT")
        let choice = rules.choose(for: SecurityTraits(marketId: "US"))
        // As it stands: SD2's 3, BORROWED as it stands 7, LOCATE_DECREMENT 9.
        #expect(rules.evaluate(choice, v).forLoan == 3 + 7 - 9)
        // On each day: LONG.FIRM of SD2 or of the day if later; BORROWED of the day; LOCATE_DECREMENT the day's.
        #expect(rules.evaluateLadder(choice, v).map(\.forLoan) == [3, 3, 3, 4, 5].map { $0 + 70 - 9 })
        // A scope's share has no ladder: the day-qualified bucket reads the share's own.
        var share = BucketVector()
        share[Bucket.long(.firm)] = 10
        #expect(rules.evaluate(choice, share).forLoan == 10)
        // Explained under the day it read.
        let parts = rules.explain(choice, v.onDay(4)).first!.parts
        #expect(parts.map(\.name) == ["LONG.FIRM@SD4", "BORROWED", "LOCATE_DECREMENT"] && parts.map(\.contribution) == [5, 70, -9])
    }

    @Test func aFamilyOnADaySumsItsMembersThatDay() throws {
        var v = Self.vector()
        v[day: 1, Bucket.long(.clientFree)] = 100
        let rules = try Self.rules("LONG.*@SD1")
        #expect(rules.evaluate(rules.choose(for: SecurityTraits(marketId: "US")), v).forLoan == 2 + 100)
    }

    @Test func theQuantoConditionChoosesJapansRule() throws {
        let rules = CompiledRuleSet.shipped
        var v = BucketVector(ladder: true)
        v[Bucket.short(.firm)] = 200 // contractual: sold 1,500 against 1,300
        v[day: 0, Bucket.long(.firm)] = 800
        let quanto = rules.choose(for: SecurityTraits(marketId: "JP", quanto: true))
        let plain = rules.choose(for: SecurityTraits(marketId: "JP"))
        #expect(rules.rules[quanto[.forLoan]].id == "JP.forLoan.quanto" && rules.rules[plain[.forLoan]].id == "forLoan")
        #expect(rules.rules[rules.choose(for: SecurityTraits(marketId: "US", quanto: true))[.forLoan]].id == "forLoan", "JP's pack only")
        #expect(rules.evaluate(quanto, v).forLoan == 800 && rules.evaluate(plain, v).forLoan == 0)
        #expect(rules.evaluate(quanto, v).overborrow == 0 && rules.evaluate(plain, v).overborrow == 0)
    }
}

/// No rule document can crash IMS or make a figure wrap (issue 25): every limit is checked when the document
/// is read and compiled, before it is journaled.
struct RuleDocumentLimitTests {
    /// The shipped document with `formula` added to the default forLoan rule.
    static func document(formula: String) -> String {
        EmbeddedRules.defaultRuleSet.replacingOccurrences(
            of: #""formula": "LONG.FIRM + HYPOTHECATABLE"#, with: #""formula": "\#(formula) + LONG.FIRM + HYPOTHECATABLE"#)
    }

    static func error(_ json: String) -> RuleError? {
        do { _ = try CompiledRuleSet(json: Array(json.utf8)); return nil } catch { return error }
    }

    @Test func theShippedDocumentStillCompiles() throws {
        #expect(Self.error(EmbeddedRules.defaultRuleSet) == nil)
    }

    @Test func aFormulaNested10000LevelsIsRefusedNotFollowed() {
        // 10,000 levels (the 287 KB draft that crashed the server) is refused by its length before any parse.
        let deep = String(repeating: "(", count: 10_000) + "LONG.FIRM" + String(repeating: ")", count: 10_000)
        #expect(FormulaParserProbe.parse(deep)?.contains("longer than 4096") == true)
        #expect(Self.error(Self.document(formula: deep))?.message.contains("longer than 4096") == true)
        // Within the length, nesting and size are bounded too.
        let nested = String(repeating: "(", count: 1_000) + "LONG.FIRM" + String(repeating: ")", count: 1_000)
        #expect(FormulaParserProbe.parse(nested)?.contains("nests deeper than 32") == true)
        #expect(FormulaParserProbe.parse(String(repeating: "-", count: 1_000) + "LONG.FIRM")?.contains("deeper") == true)
        #expect(FormulaParserProbe.parse(Array(repeating: "a", count: 600).joined(separator: "+"))?.contains("more than 512 parts") == true)
        #expect(FormulaParserProbe.parse(String(repeating: "(", count: 30) + "LONG.FIRM" + String(repeating: ")", count: 30)) == nil)
    }

    @Test func aMisspeltConditionIsRefusedNotDropped() throws {
        // Dropped, it would make the locate rule apply to every request.
        let json = try #require(String(data: Data(EmbeddedRules.defaultRuleSet.utf8), encoding: .utf8))
        let misspelt = json.replacingOccurrences(of: #""thresholdList": true"#, with: #""thresholdlist": true"#)
        #expect(misspelt != json)
        let e = Self.error(misspelt)
        #expect(e?.field.hasSuffix(".when.thresholdlist") == true, "\(String(describing: e))")
    }

    @Test func factorsAreBoundedAndFiguresNeverWrap() {
        #expect(Self.document(formula: "x") != EmbeddedRules.defaultRuleSet)
        #expect(Self.error(Self.document(formula: "LONG.FIRM * 1000001"))?.message.contains("outside ±1000000") == true)
        #expect(Self.error(Self.document(formula: "LONG.FIRM * 1000000")) == nil)
        // Within bounds, a sum beyond 64 bits saturates at the limit with its sign; it never wraps negative.
        let rules = CompiledRuleSet.shipped
        var b = BucketVector()
        b[Bucket.long(.firm)] = Int64.max / 2 + 1
        b[Bucket.hypothecatable] = Int64.max / 2 + 1
        b[Bucket.external(.firm)] = Int64.max / 2
        let v = rules.evaluate(rules.choose(for: SecurityTraits(marketId: "US")), b)
        #expect(v.forLoan == Int64.max)
        #expect(v.locateAvailable == Int64.max)
        var short = BucketVector()
        short[Bucket.loaned] = Int64.max
        short[Bucket.payToHold] = Int64.max
        #expect(rules.evaluate(rules.choose(for: SecurityTraits(marketId: "US")), short).forLoan == Int64.min)
    }
}

/// Parses a formula the way compiling a rule does, giving the message of a refusal.
enum FormulaParserProbe {
    static func parse(_ text: String) -> String? {
        do { _ = try FormulaParser.parse(text); return nil } catch { return error.message }
    }
}
