import IMSDomain
import IMSRules
import Testing

@testable import IMSEngine

/// A draft's audit entry lists what it changes against the rules in force, so the second person who approves it
/// sees every change, the locate policy's included.
struct RuleDifferencesTests {
    private let shipped = CompiledRuleSet.shippedLocatePolicy

    private func document(_ policy: LocatePolicyDocument?) throws -> RuleSetDocument {
        var d = try RuleSetDocument.decode(json: Array(EmbeddedRules.defaultRuleSet.utf8))
        d.locatePolicy = policy
        return d
    }

    @Test func aDraftThatChangesOnlyTheLocatePolicySaysHow() throws {
        var policy = shipped
        // The auto-approve cap now rejects; a new step before it; the full decrement takes half.
        let cap = try #require(policy.rules.firstIndex { $0.id == "autoApproveCap" })
        policy.rules[cap].outcome = "REJECT"
        policy.rules[cap].reason = "TOO_LARGE"
        policy.rules.insert(LocateRuleDocument(id: "hardToBorrow", when: LocateCondition(temperature: "HOT"), outcome: "PENDING", reason: "HOT"), at: 0)
        let full = try #require(policy.decrements.firstIndex { $0.id == "fullDecrement" })
        policy.decrements[full].factor = Decimal8Text(try #require(Decimal8("0.5")))
        let changes = RuleBook.differences(from: try document(nil), to: try document(policy))
        #expect(
            changes == [
                "locate rule autoApproveCap: PENDING ABOVE_AUTO_APPROVE_CAP → REJECT TOO_LARGE",
                "locate rule hardToBorrow added: PENDING HOT",
                "locate decrement fullDecrement: factor 1 → 0.5",
            ])
    }

    @Test func removedStepsAndANewOrderAreListed() throws {
        var policy = shipped
        policy.rules.removeAll { $0.id == "thresholdList" }
        policy.rules.swapAt(0, 1)
        let changes = RuleBook.differences(from: try document(shipped), to: try document(policy))
        #expect(changes.contains("locate rule thresholdList removed"))
        #expect(changes.contains { $0.hasPrefix("locate rules reordered: restricted, notShortable,") })
    }

    @Test func theShippedPolicyWrittenOutIsNoChange() throws {
        // A document without a policy uses the shipped one: writing it out changes nothing.
        #expect(RuleBook.differences(from: try document(nil), to: try document(shipped)).isEmpty)
    }
}
