import Foundation
import IMSDomain
import IMSIngest
import IMSJournal
import IMSRules
import IMSRuntime
import Testing

@testable import IMSEngine

/// Limits hold through the whole order life (issue 25): over random streams of locates, sell orders, the
/// trades that fill them (in full or in part), the market's own flow and day rolls, what every approved order
/// holds in the limits is, after every batch, exactly:
/// - in its aggregation unit's `SELL_APPROVED`: a short sale all of its quantity (its fill changes nothing the
///   unit's short limit is made of), a long sale what its trades have not filled;
/// - in its client's `SELL_APPROVED`: what its trades have not filled (the fill is in the position, or in the
///   locate it used).
/// So a unit's approved short sells of the day never exceed what its limit allowed when each was approved:
/// filling one gives nothing back to approve again (before, a unit with 3,000 available approved 3,700).
struct OrderLimitPropertyTests {
    struct Key: Hashable { var scope: Int32; var security: Int32; var bucket: Int }

    static func check(_ s: EngineState) -> [String] {
        var unit: [Key: Int64] = [:], client: [Key: Int64] = [:]
        for r in s.orders.records where r.decision == .approved {
            guard let security = s.reference.securityIndex(r.securityId) else { continue }
            let bucket = r.side == .sellShort ? Bucket.sellApprovedShort : Bucket.sellApprovedLong
            if let u = r.aggregationUnitId.flatMap({ s.reference.unitIds.lookup($0) }) {
                unit[Key(scope: u, security: security, bucket: bucket), default: 0] += r.side == .sellShort ? r.quantity : max(0, r.quantity - r.filledQuantity)
            }
            if let c = s.reference.clientIds.lookup(r.clientId) {
                client[Key(scope: c, security: security, bucket: bucket), default: 0] += max(0, r.quantity - r.filledQuantity)
            }
        }
        var problems: [String] = []
        for (kind, expected, table) in [("unit", unit, ScopeKind.aggregationUnit), ("client", client, ScopeKind.client)] {
            for (k, want) in expected {
                let held = s.partitions[s.partition(ofSecurity: k.security)].scoped[table].vector(scope: k.scope, security: k.security)[k.bucket]
                if held != want {
                    problems.append("\(kind) \(k.scope) security \(k.security) \(Bucket.names[k.bucket]): holds \(held), approved orders need \(want)")
                }
            }
        }
        return problems
    }

    @Test(arguments: [3, 5, 8] as [UInt64])
    func approvedSellsHoldTheirLimitsThroughFills(seed: UInt64) throws {
        let dir = TemporaryDirectory("ims-order-limits")
        defer { dir.remove() }
        var workload = Workload(seed: seed, maxBatch: 300)
        let opened = try DataDirectory.open(dir.path, catalog: .embedded, now: Timestamp(micros: 1))
        let engine = Engine(state: opened.state, journal: opened.journal, snapshots: opened.snapshots)
        defer { engine.stop() }
        _ = try engine.run(workload.setup())
        var approvedShort = 0, filled = 0
        for step in 0..<60 {
            let batches = step % 3 == 0 ? [workload.next()] : workload.desk(locates: 8, orders: 8) + [workload.next()]
            _ = try engine.run(batches)
            let problems = engine.read { Self.check($0) }
            #expect(problems.isEmpty, "seed \(seed), step \(step): \(problems.prefix(5))")
            if !problems.isEmpty { return }
        }
        engine.read { s in
            approvedShort = s.orders.records.filter { $0.side == .sellShort && $0.decision != .rejected }.count
            filled = s.orders.records.filter { $0.filledQuantity > 0 }.count
        }
        #expect(approvedShort > 0 && filled > 0, "the stream approved short sales (\(approvedShort)) and filled orders (\(filled))")
    }
}
