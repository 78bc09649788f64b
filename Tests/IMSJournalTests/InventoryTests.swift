import Foundation
import IMSDomain
import IMSIngest
import IMSRules
import Testing

@testable import IMSEngine

/// Inventory buckets kept event by event equal the buckets recomputed from scratch.
struct InventoryTests {
    /// Random streams: trades with amends and cancels, SOD snapshots, day rolls, contracts with versions,
    /// partial returns, recalls and full returns, availability replaced, refused and partial batches.
    @Test(arguments: [(1, 51), (2, 52), (4, 53), (2, 54)] as [(Int, UInt64)])
    func incrementalBucketsEqualAFromScratchRecomputation(partitions: Int, seed: UInt64) throws {
        var workload = Workload(seed: seed, maxBatch: 1_500)
        var batches = workload.setup()
        for i in 0..<120 {
            batches.append(workload.next())
            // Locates, sell orders and the trades that execute them, now and then.
            if i % 3 == 0 { batches += workload.desk() }
        }
        var state = EngineState(partitions: partitions)
        var contractVersions = 0
        // Rule changes now and then: a draft with another haircut, previewed, approved and activated.
        var haircut = 50
        var document = try RuleSetDocument.decode(json: Array(EmbeddedRules.defaultRuleSet.utf8))
        for (i, original) in batches.enumerated() {
            var batch = original
            if i > 2 && i % 50 == 0 {
                haircut -= 10
                document.parameters = ["haircut": Decimal8Text(Decimal8("0.\(haircut)")!)]
                let next = Int64(state.rules.versions.count + 1)
                batch = IngestBatch(
                    receivedAt: original.receivedAt,
                    events: [
                        Event(RuleCommand(action: .draft, version: 0, user: "alice", document: String(decoding: document.encoded(), as: UTF8.self))),
                        Event(RuleCommand(action: .preview, version: next, user: "alice")),
                        Event(RuleCommand(action: .approve, version: next, user: "bob")),
                        Event(RuleCommand(action: .activate, version: next, user: "bob")),
                    ], lines: [1, 2, 3, 4])
                _ = state.apply(.batch(batch), record: UInt64(i + 1))
                #expect(state.rules.active.version == Int(next), "the rule change of batch \(i) was not applied")
                _ = state.apply(.batch(original), record: UInt64(i + 1))
            } else {
                _ = state.apply(.batch(batch), record: UInt64(i + 1))
            }
            contractVersions += batch.events.filter { if case .contract(let c) = $0 { c.version > 1 } else { false } }.count
            if i % 17 == 0 || i == batches.count - 1 {
                let scoped = state.scopedFigures(), scopedScratch = state.scopedFromScratch()
                #expect(
                    scoped.units == scopedScratch.units && scoped.entities == scopedScratch.entities && scoped.clients == scopedScratch.clients,
                    "scoped buckets after batch \(i)")
                let running = state.inventoryFigures(), scratch = state.inventoryFromScratch()
                if running != scratch {
                    let security = Set(running.keys).union(scratch.keys).sorted().first { running[$0] != scratch[$0] }!
                    Issue.record(
                        "after batch \(i), security \(security): kept \(running[security]?.values ?? []), from scratch \(scratch[security]?.values ?? [])")
                    return
                }
            }
        }
        #expect(contractVersions > 10, "the stream returns and recalls contracts")
        #expect(
            state.orders.records.contains { $0.filledQuantity > 0 } && state.orders.records.contains { $0.decision == .approved },
            "trades executed approved orders")
        #expect(state.locates.records.contains { $0.status == .approved }, "locates were approved")
        let figures = state.inventoryFigures()
        #expect(figures.count > 100)
        let scoped = state.scopedFigures()
        #expect(scoped.units.count > 100 && scoped.entities.count > 100 && scoped.clients.count > 10, "positions count in units, legal entities and clients")
        // Each security's buckets are the sum of its legal entities' (every book has one), but for lender lines
        // and the desk's buckets.
        var byEntity: [String: BucketVector] = [:]
        for (key, v) in scoped.entities {
            let security = String(key.split(separator: "|").last!)
            var sum = byEntity[security] ?? BucketVector()
            for b in 0..<Bucket.count { sum[b] += v[b] }
            byEntity[security] = sum
        }
        for (s, v) in figures {
            var expected = BucketVector() // the basis (legal entities have no ladder days)
            for b in 0..<Bucket.count { expected[b] = v[b] }
            for t in AvailabilityType.allCases { expected[Bucket.external(t)] = 0 }
            // The desk's buckets of the day (locates, approved sells) count per security, client and unit only.
            for b in Bucket.locateDecrement..<Bucket.count { expected[b] = 0 }
            #expect(byEntity[state.reference.securityIds.name(s)] ?? BucketVector() == expected)
        }
        #expect(state.rules.active.version == 5, "four rule changes")
        // The calculations the read model shows are the active rules over the from-scratch buckets.
        let model = state.readModel, scratch = state.inventoryFromScratch()
        for (security, buckets) in scratch.prefix(200) {
            let id = state.reference.securityIds.name(security)
            let expected = state.rules.active.rules.evaluate(state.rules.active.rules.choose(for: model.traits(security)), buckets)
            #expect(model.inventory(id)?.calculations == expected, "\(id)")
        }
        #expect(figures.values.contains { $0[Bucket.borrowed] > 0 } && figures.values.contains { $0[Bucket.loaned] > 0 })
        #expect(figures.values.contains { $0[Bucket.short(.firm)] > 0 } && figures.values.contains { $0[Bucket.hypothecatable] > 0 })
        // A snapshot does not carry the buckets: they are rebuilt when it is loaded, to the same figures.
        let image = state.snapshotImage()
        let loaded = try image.withUnsafeBytes { try EngineState(snapshotImage: $0) }
        #expect(loaded.inventoryFigures() == figures)
    }

    static func apply(_ state: inout EngineState, _ lines: [String], record: UInt64) {
        let batch = Workload.decode(lines.joined(separator: "\n"), at: 1_795_000_000_000_000 + Int64(record))
        let outcome = state.apply(.batch(batch), record: record)
        #expect(
            batch.rejected.isEmpty && outcome?.rejected.isEmpty == true && outcome?.applied == true,
            "\(batch.rejected) \(outcome.map { "\($0.rejected)" } ?? "no outcome")")
    }

    /// A rule conditioned on index membership applies to the index's constituents, following its changes.
    @Test func indexMemberConditionsFollowTheConstituents() throws {
        var state = EngineState(partitions: 2)
        Self.apply(
            &state,
            [
                #"{"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}"#,
                #"{"type":"security","securityId":"AAPL","isin":"US0378331005","marketId":"US"}"#,
                #"{"type":"security","securityId":"MSFT","isin":"US5949181045","marketId":"US"}"#,
                #"{"type":"security","securityId":"SPX","marketId":"US","assetType":"INDEX","constituents":[{"securityId":"AAPL","weight":1}]}"#,
                #"{"type":"book","bookId":"FIRM","legalEntity":"PB-US","positionType":"FIRM"}"#,
                #"{"type":"sodPosition","businessDate":"2026-11-25","bookId":"FIRM","securityId":"AAPL","contractualQty":100,"settledQty":100}"#,
                #"{"type":"sodPosition","businessDate":"2026-11-25","bookId":"FIRM","securityId":"MSFT","contractualQty":100,"settledQty":100}"#,
            ], record: 1)
        var document = try RuleSetDocument.decode(json: Array(EmbeddedRules.defaultRuleSet.utf8))
        document.packs[0].rules.insert(RuleDocument(id: "spx", calculation: "locateAvailable", formula: "0", when: RuleCondition(indexMember: ["SPX"])), at: 0)
        let rules = ActiveRules(version: 2, rules: try CompiledRuleSet(document))
        func locate(_ id: String, _ s: EngineState) -> Int64? { s.readModel.inventory(id, rules: rules)?.calculations.locateAvailable }
        #expect(locate("AAPL", state) == 0 && locate("MSFT", state) == 100)
        Self.apply(
            &state, [#"{"type":"security","securityId":"SPX","marketId":"US","assetType":"INDEX","constituents":[{"securityId":"MSFT","weight":1}]}"#],
            record: 2)
        #expect(locate("AAPL", state) == 100 && locate("MSFT", state) == 0)
        let loaded = try state.snapshotImage().withUnsafeBytes { try EngineState(snapshotImage: $0) }
        #expect(locate("AAPL", loaded) == 100 && locate("MSFT", loaded) == 0)
    }

    /// Every bucket a hand-made day moves, figure by figure.
    @Test func eachEventMovesItsBuckets() throws {
        var state = EngineState(partitions: 2)
        Self.apply(
            &state,
            [
                #"{"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}"#,
                #"{"type":"security","securityId":"IBM","isin":"US4592001014","marketId":"US"}"#,
                #"{"type":"book","bookId":"FIRM","legalEntity":"PB-US","positionType":"FIRM"}"#,
                #"{"type":"book","bookId":"FREE","legalEntity":"PB-US","positionType":"CLIENT_FREE","clientId":"C1"}"#,
                #"{"type":"book","bookId":"P2H","legalEntity":"PB-US","positionType":"PAY_TO_HOLD"}"#,
                #"{"type":"counterparty","counterpartyId":"L1","name":"Lender","kind":"LENDER"}"#,
            ], record: 1)
        let ibm = try #require(state.reference.securityIds.lookup("IBM"))
        func b(_ i: Int) -> Int64 { state.inventoryFigures()[ibm]?[i] ?? 0 }
        Self.apply(
            &state,
            [
                #"{"type":"sodPosition","businessDate":"2026-11-25","bookId":"FIRM","securityId":"IBM","contractualQty":1000,"settledQty":1000}"#,
                #"{"type":"sodPosition","businessDate":"2026-11-25","bookId":"FREE","securityId":"IBM","contractualQty":300,"settledQty":300}"#,
                #"{"type":"sodPosition","businessDate":"2026-11-25","bookId":"P2H","securityId":"IBM","contractualQty":40,"settledQty":40}"#,
            ], record: 2)
        #expect(b(Bucket.long(.firm)) == 1_000 && b(Bucket.long(.clientFree)) == 300 && b(Bucket.hypothecatable) == 300)
        #expect(b(Bucket.payToHold) == 40 && b(Bucket.long(.payToHold)) == 40)
        // A short sale takes the firm book through zero: 1,000 long becomes 200 short.
        Self.apply(
            &state,
            [
                #"{"type":"trade","tradeId":"T1","version":1,"status":"NEW","bookId":"FIRM","securityId":"IBM","side":"SELL_SHORT","quantity":1200,"price":"10","tradeDate":"2026-11-25"}"#
            ], record: 3)
        #expect(b(Bucket.long(.firm)) == 0 && b(Bucket.short(.firm)) == 200)
        // Amended to 900: long 100 again; then cancelled: back to 1,000.
        Self.apply(
            &state,
            [
                #"{"type":"trade","tradeId":"T1","version":2,"status":"AMEND","bookId":"FIRM","securityId":"IBM","side":"SELL_SHORT","quantity":900,"price":"10","tradeDate":"2026-11-25"}"#
            ], record: 4)
        #expect(b(Bucket.long(.firm)) == 100 && b(Bucket.short(.firm)) == 0)
        Self.apply(
            &state,
            [
                #"{"type":"trade","tradeId":"T1","version":3,"status":"CANCEL","bookId":"FIRM","securityId":"IBM","side":"SELL_SHORT","quantity":900,"price":"10","tradeDate":"2026-11-25"}"#
            ], record: 5)
        #expect(b(Bucket.long(.firm)) == 1_000)
        // A borrow of 500, partly returned (200), then recalled: open 300; then returned: 0.
        let borrow =
            #"{"type":"contract","contractId":"B1","version":%d,"kind":"BORROW","status":"%@","bookId":"FIRM","counterpartyId":"L1","securityId":"IBM","quantity":500,"returnedQty":%d,"rateBps":"30","startDate":"2026-11-25"}"#
        Self.apply(&state, [String(format: borrow, 1, "OPEN", 0)], record: 6)
        #expect(b(Bucket.borrowed) == 500)
        Self.apply(&state, [String(format: borrow, 2, "OPEN", 200)], record: 7)
        #expect(b(Bucket.borrowed) == 300)
        Self.apply(&state, [String(format: borrow, 3, "RECALLED", 200)], record: 8)
        #expect(b(Bucket.borrowed) == 300)
        Self.apply(&state, [String(format: borrow, 2, "OPEN", 0)], record: 9) // an older version changes nothing
        #expect(b(Bucket.borrowed) == 300)
        Self.apply(&state, [String(format: borrow, 4, "RETURNED", 500)], record: 10)
        #expect(b(Bucket.borrowed) == 0)
        // A lender's line replaces its previous one, also across types.
        Self.apply(
            &state, [#"{"type":"availability","sourceId":"L1","securityId":"IBM","quantity":700,"availabilityType":"FIRM","effectiveDate":"2026-11-25"}"#],
            record: 11)
        #expect(b(Bucket.external(.firm)) == 700)
        Self.apply(
            &state,
            [#"{"type":"availability","sourceId":"L1","securityId":"IBM","quantity":250,"availabilityType":"INDICATIVE","effectiveDate":"2026-11-25"}"#],
            record: 12)
        #expect(b(Bucket.external(.firm)) == 0 && b(Bucket.external(.indicative)) == 250)
        // A book that changes type moves its positions' quantities with it.
        Self.apply(
            &state, [#"{"type":"book","bookId":"FREE","legalEntity":"PB-US","positionType":"CLIENT_SEGREGATED","clientId":"C1","version":2}"#], record: 13)
        #expect(b(Bucket.long(.clientFree)) == 0 && b(Bucket.hypothecatable) == 0 && b(Bucket.long(.clientSegregated)) == 300)
        #expect(state.inventoryFigures() == state.inventoryFromScratch())
    }
}
