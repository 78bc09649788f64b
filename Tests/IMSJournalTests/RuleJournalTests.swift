import Foundation
import IMSDomain
import IMSIngest
import IMSJournal
import IMSRules
import IMSRuntime
import Testing

@testable import IMSEngine

/// Rule changes are journaled commands: they survive a restart (from the snapshot or from the journal alone)
/// and replay to the same state.
struct RuleJournalTests {
    static func command(_ c: RuleCommand, at micros: Int64) -> IngestBatch {
        IngestBatch(receivedAt: Timestamp(micros: micros), events: [Event(c)], lines: [1])
    }

    @Test func ruleChangesSurviveARestartAndReplayToIdenticalState() throws {
        let dir = TemporaryDirectory("ims-rules")
        defer { dir.remove() }
        var workload = Workload(seed: 61, maxBatch: 500)
        var document = try RuleSetDocument.decode(json: Array(EmbeddedRules.defaultRuleSet.utf8))
        document.parameters = ["haircut": Decimal8Text(Decimal8("0.3")!)]
        document.packs[1].rules.removeFirst() // Taiwan's for-loan falls back to the default formula
        let text = String(decoding: document.encoded(), as: UTF8.self)

        var opened = try DataDirectory.open(dir.path, catalog: .embedded, now: Timestamp(micros: 1))
        var engine = Engine(state: opened.state, journal: opened.journal, snapshots: opened.snapshots)
        _ = try engine.run(workload.setup() + (0..<20).map { _ in workload.next() })
        let steps: [RuleCommand] = [
            RuleCommand(action: .draft, version: 0, user: "alice", document: text),
            RuleCommand(action: .preview, version: 2, user: "alice"),
            RuleCommand(action: .approve, version: 2, user: "alice"), // refused: the author
            RuleCommand(action: .approve, version: 2, user: "bob"),
            RuleCommand(action: .activate, version: 2, user: "bob"),
        ]
        let outcomes = try engine.run(steps.enumerated().map { Self.command($1, at: 1_795_000_100_000_000 + Int64($0)) })
        #expect(outcomes.map(\.applied) == [true, true, false, true, true])
        _ = try engine.run((0..<10).map { _ in workload.next() })
        let before = engine.read { $0.readModel.canonicalText() }
        let image = engine.read { $0.snapshotImage() }
        #expect(engine.read { $0.rules.active.version } == 2)
        #expect(before.contains("rules active 2"))
        try engine.shutdown()

        // From the snapshot written at shutdown.
        opened = try DataDirectory.open(dir.path, catalog: .embedded, now: Timestamp(micros: 2))
        #expect(opened.state.snapshotImage() == image)
        #expect(opened.state.readModel.canonicalText() == before)
        #expect(opened.state.rules.audit.map(\.user) == ["alice", "alice", "bob", "bob"])
        engine = Engine(state: opened.state, journal: opened.journal, snapshots: opened.snapshots)
        engine.stop()
        // From the journal alone.
        let replayed = try Replay.state(dataDirectory: dir.path, catalog: .embedded, until: .sequence(.max), ignoringSnapshots: true)
        #expect(replayed.snapshotImage() == image)
        #expect(replayed.readModel.canonicalText() == before)
    }
}
