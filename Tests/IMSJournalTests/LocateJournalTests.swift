import Foundation
import IMSDomain
import IMSIngest
import IMSJournal
import IMSRules
import IMSRuntime
import Testing

@testable import IMSEngine

/// Locates and orders are journaled commands: answered from the state when applied, so a restart (from the snapshot or
/// from the journal alone) reaches the same locates, the same answers and the same buckets.
struct LocateJournalTests {
    static func command(_ c: LocateCommand, at micros: Int64) -> IngestBatch {
        IngestBatch(receivedAt: Timestamp(micros: micros), events: [Event(c)], lines: [1])
    }

    @Test func locatesSurviveARestartAndReplayToIdenticalState() throws {
        let dir = TemporaryDirectory("ims-locates")
        defer { dir.remove() }
        var workload = Workload(seed: 71, maxBatch: 500)
        var opened = try DataDirectory.open(dir.path, catalog: .embedded, now: Timestamp(micros: 1))
        var engine = Engine(state: opened.state, journal: opened.journal, snapshots: opened.snapshots)
        _ = try engine.run(workload.setup() + (0..<20).map { _ in workload.next() })
        let securities: [String] = engine.read { s in s.reference.securities.prefix(6).compactMap(\.record.securityId) }
        #expect(securities.count == 6)
        // The clients the locates name (a locate for an unknown client is refused).
        _ = try engine.run([
            Workload.decode(
                (1...3).map { #"{"type":"counterparty","counterpartyId":"C\#($0)","name":"Fund \#($0)","kind":"CLIENT"}"# }.joined(separator: "\n"),
                at: 1_795_000_000_000_000)
        ])
        var steps: [LocateCommand] = []
        for (i, security) in securities.enumerated() {
            for client in ["C1", "C2"] {
                steps.append(
                    LocateCommand(
                        action: .request, requestId: "r\(i)", clientId: client, securityId: security,
                        quantity: Int64(500 * (i + 1)), side: i % 3 == 0 ? .long : .short, settlement: .swap, user: "trader"))
            }
        }
        steps.append(steps[0]) // a re-send: unchanged
        steps.append(LocateCommand(action: .request, requestId: "big", clientId: "C3", securityId: securities[1], quantity: 2_000_000, side: .short))
        var outcomes = try engine.run(steps.enumerated().map { Self.command($1, at: 1_795_000_100_000_000 + Int64($0)) })
        #expect(outcomes.allSatisfy { $0.applied })
        #expect(outcomes[12].results.isEmpty || outcomes[12].results.first?.status != .applied)
        let bookId: String = engine.read { s in s.reference.books.first { $0.positionType == .firm }!.bookId }
        let pending = try #require(engine.read { s in s.locates.records.first { $0.status == .pending }?.locateId })
        let live = try #require(engine.read { s in s.locates.records.first { $0.status == .approved && $0.decrementQuantity > 0 } })
        outcomes = try engine.run([
            Self.command(LocateCommand(action: .decide, user: "op", locateId: pending, decision: .reject, reason: "TOO_BIG"), at: 1_795_000_200_000_000),
            Self.command(LocateCommand(action: .cancel, clientId: live.clientId, user: "trader", locateId: live.locateId), at: 1_795_000_200_000_001),
            IngestBatch(
                receivedAt: Timestamp(micros: 1_795_000_200_000_002),
                events: [
                    Event(
                        OrderCommand(
                            orderId: "O1", clientId: "C2", bookId: bookId, securityId: securities[1], side: .sellShort, quantity: 100, price: Decimal8(10)))
                ], lines: [1]),
        ])
        #expect(outcomes.allSatisfy { $0.applied })
        #expect(engine.read { $0.orders.order(clientId: "C2", orderId: "O1")?.decision } == .approved, "C2 located the shares")
        // The sale executes in part: a trade carrying the order's id (the fill is state, and survives).
        let date: String = engine.read { s in
            let index = s.reference.securityIds.lookup(securities[1])!
            return s.markets[Int(s.reference.securities[Int(index)].market)].businessDate!.description
        }
        _ = try engine.run([
            Workload.decode(
                #"{"type":"trade","tradeId":"X-O1","version":1,"status":"NEW","orderId":"O1","bookId":"\#(bookId)","securityId":"\#(securities[1])","side":"SELL_SHORT","quantity":60,"price":"10","tradeDate":"\#(date)"}"#,
                at: 1_795_000_200_000_003)
        ])
        #expect(engine.read { $0.orders.order(clientId: "C2", orderId: "O1")?.filledQuantity } == 60)
        _ = try engine.run((0..<10).map { _ in workload.next() })
        let (before, image, scratch, kept) = engine.read { s in (s.readModel.canonicalText(), s.snapshotImage(), s.inventoryFromScratch(), s.inventoryFigures())
        }
        #expect(kept == scratch, "the buckets the locates hold are kept like every other")
        #expect(engine.read { $0.scopedFigures().clients == $0.scopedFromScratch().clients })
        #expect(before.contains("locate ") && engine.read { $0.locates.count } == 13)
        #expect(before.contains("order ") && engine.read { $0.orders.count } == 1)
        #expect(engine.read { s in kept.values.contains { $0[Bucket.locateDecrement] > 0 } })
        try engine.shutdown()

        // From the snapshot written at shutdown.
        opened = try DataDirectory.open(dir.path, catalog: .embedded, now: Timestamp(micros: 2))
        #expect(opened.state.snapshotImage() == image)
        #expect(opened.state.readModel.canonicalText() == before)
        #expect(opened.state.inventoryFigures() == kept)
        engine = Engine(state: opened.state, journal: opened.journal, snapshots: opened.snapshots)
        engine.stop()
        // From the journal alone.
        let replayed = try Replay.state(dataDirectory: dir.path, catalog: .embedded, until: .sequence(.max), ignoringSnapshots: true)
        #expect(replayed.snapshotImage() == image)
        #expect(replayed.readModel.canonicalText() == before)
    }

    /// A short-sale price test in force survives a snapshot: it is state, not derived (the tick that set it
    /// is gone once a newer one arrives).
    @Test func priceTestRestrictionsAreInTheSnapshot() throws {
        var state = EngineState(partitions: 2)
        InventoryTests.apply(
            &state,
            [
                #"{"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}"#,
                #"{"type":"security","securityId":"IBM","isin":"US4592001014","marketId":"US","currency":"USD"}"#,
                #"{"type":"price","securityId":"IBM","last":"89","bid":"88","previousClose":"100","ts":"2026-11-25T15:00:00Z"}"#,
                #"{"type":"price","securityId":"IBM","last":"91","bid":"90","previousClose":"100","ts":"2026-11-25T16:00:00Z"}"#,
            ], record: 1)
        let ibm = try #require(state.reference.securityIds.lookup("IBM"))
        #expect(state.partitions[state.partition(ofSecurity: ibm)].shortSaleRestrictions[ibm]?.description == "2026-11-27")
        let image = state.snapshotImage()
        let loaded = try image.withUnsafeBytes { try EngineState(snapshotImage: $0) }
        #expect(loaded.partitions[loaded.partition(ofSecurity: ibm)].shortSaleRestrictions[ibm]?.description == "2026-11-27")
        #expect(loaded.snapshotImage() == image)
    }

    /// A ticker two markets share names both securities, by their tickers kept apart from the one-per-key
    /// identifier index: after an amendment that changes one's ticker, and after a snapshot is loaded.
    @Test func aTickerSharedByTwoMarketsNamesBothSecurities() throws {
        var state = EngineState(partitions: 2)
        InventoryTests.apply(
            &state,
            [
                #"{"type":"security","securityId":"DUP-US","ticker":"DUP","marketId":"US","currency":"USD"}"#,
                #"{"type":"security","securityId":"DUP-UK","ticker":"DUP","marketId":"UK","currency":"GBP"}"#,
                #"{"type":"security","securityId":"ONE","ticker":"ONE","marketId":"US","currency":"USD"}"#,
            ], record: 1)
        func named(_ state: EngineState, _ ticker: String) -> [String] {
            state.readModel.securities(identifier: ticker).compactMap(\.security.securityId).sorted()
        }
        #expect(named(state, "DUP") == ["DUP-UK", "DUP-US"])
        #expect(named(state, "ONE") == ["ONE"])
        let loaded = try state.snapshotImage().withUnsafeBytes { try EngineState(snapshotImage: $0) }
        #expect(named(loaded, "DUP") == ["DUP-UK", "DUP-US"])
        InventoryTests.apply(&state, [#"{"type":"security","securityId":"DUP-UK","ticker":"DUQ","marketId":"UK","currency":"GBP","version":2}"#], record: 2)
        #expect(named(state, "DUP") == ["DUP-US"])
        #expect(named(state, "DUQ") == ["DUP-UK"])
    }
}
