import ArgumentParser
import Foundation
import IMSDomain
import IMSEngine
import IMSRules
import IMSRuntime

extension Bench {
    /// `ims bench rules`: preview and activation of a rule change over `securities` securities (SPEC 8: < 1 s each).
    func rulesBench() async throws {
        let markets = ["US", "TW", "HK", "JP", "KR"]
        let engine = Engine(state: EngineState(partitions: partitions))
        defer { engine.stop() }
        print("building \(securities) securities with positions, contracts and availability...")
        var setup = markets.map { #"{"type":"marketDayRoll","marketId":"\#($0)","businessDate":"2026-11-25"}"# }
        setup += [
            #"{"type":"book","bookId":"RB-FIRM","legalEntity":"LE","positionType":"FIRM"}"#,
            #"{"type":"book","bookId":"RB-FREE","legalEntity":"LE","positionType":"CLIENT_FREE","clientId":"C1"}"#,
        ]
        _ = try engine.submitAndWait(Self.decode(Array(setup.joined(separator: "\n").utf8)))
        var s = 0
        while s < securities {
            var lines: [String] = []
            for i in s..<min(securities, s + 5_000) {
                let m = markets[i % markets.count]
                lines.append(#"{"type":"security","securityId":"RS\#(i)","marketId":"\#(m)","shortSellEligible":\#(i % 7 != 0)}"#)
            }
            _ = try engine.submitAndWait(Self.decode(Array(lines.joined(separator: "\n").utf8)))
            lines = []
            for i in s..<min(securities, s + 5_000) {
                lines.append(
                    #"{"type":"sodPosition","businessDate":"2026-11-25","bookId":"RB-FIRM","securityId":"RS\#(i)","contractualQty":\#(1_000 + i % 5_000),"settledQty":1000}"#
                )
                lines.append(
                    #"{"type":"sodPosition","businessDate":"2026-11-25","bookId":"RB-FREE","securityId":"RS\#(i)","contractualQty":\#(i % 3 == 0 ? -500 : 700),"settledQty":0}"#
                )
                lines.append(
                    #"{"type":"contract","contractId":"RC\#(i)","version":1,"kind":"\#(i % 2 == 0 ? "BORROW" : "LOAN")","status":"OPEN","bookId":"RB-FIRM","counterpartyId":"L1","securityId":"RS\#(i)","quantity":\#(300 + i % 900),"rateBps":"30","startDate":"2026-11-25"}"#
                )
                lines.append(
                    #"{"type":"availability","sourceId":"L\#(i % 4)","securityId":"RS\#(i)","quantity":\#(1_000 + i % 777),"availabilityType":"\#(["INDICATIVE", "FIRM", "EXCLUSIVE"][i % 3])","effectiveDate":"2026-11-25"}"#
                )
            }
            _ = try engine.submitAndWait(Self.decode(Array(lines.joined(separator: "\n").utf8)))
            s += 5_000
        }
        var document = try RuleSetDocument.decode(json: Array(EmbeddedRules.defaultRuleSet.utf8))
        document.parameters = ["haircut": Decimal8Text(Decimal8("0.25")!)]
        document.packs[1].rules.removeFirst() // Taiwan's for-loan falls back to the default
        func command(_ action: RuleCommand.Action, _ version: Int64, _ user: String, document: String? = nil) throws -> BatchOutcome {
            try engine.submitAndWait(
                IngestBatch(
                    receivedAt: Timestamp(micros: 1), events: [Event(RuleCommand(action: action, version: version, user: user, document: document))], lines: [1]
                ))
        }
        let clock = ContinuousClock()
        var t = clock.now
        _ = try command(.draft, 0, "alice", document: String(decoding: document.encoded(), as: UTF8.self))
        let draftSeconds = (clock.now - t).seconds
        let draft = try engine.readModel.read { m in try m.rules.version(2).map { ActiveRules(version: 2, rules: $0.compiled) }.orThrow("no draft") }
        t = clock.now
        let preview = engine.readModel.read { $0.preview(draft) }
        let previewSeconds = (clock.now - t).seconds
        _ = try command(.preview, 2, "alice")
        _ = try command(.approve, 2, "bob")
        t = clock.now
        let activated = try command(.activate, 2, "bob")
        let activateSeconds = (clock.now - t).seconds
        guard activated.applied, engine.readModel.read({ $0.rules.active.version }) == 2 else { throw ValidationError("activation failed: \(activated)") }
        t = clock.now
        let recalculated = engine.readModel.read { $0.recalculateAll() }
        let recalculateSeconds = (clock.now - t).seconds
        let memory = engine.read { $0.inventoryMemory() }
        print(
            "{\"kind\":\"rules\",\"securities\":\(securities),\"changed\":\(preview.changed),\"draftSeconds\":\(String(format: "%.3f", draftSeconds)),"
                + "\"previewSeconds\":\(String(format: "%.3f", previewSeconds)),\"activateSeconds\":\(String(format: "%.3f", activateSeconds)),"
                + "\"recalculateAllSeconds\":\(String(format: "%.3f", recalculateSeconds)),\"recalculated\":\(recalculated),"
                + "\"inventoryBytesPerSecurity\":\(memory.bytesPerSecurity),\"inventorySecurities\":\(memory.securities)}")
    }
}

extension Optional {
    func orThrow(_ message: String) throws -> Wrapped {
        guard let self else { throw ValidationError(message) }
        return self
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
