import IMSDomain
import IMSIngest
import Testing

@testable import IMSEngine

/// The read model that follows the change feed shows exactly what the state holds.
struct ReadModelTests {
    /// Random streams (trades with amends and cancels, SOD, day rolls, prices, reference data, feed gaps,
    /// refused and partial batches), records taken after random groups of batches as the writer's drains
    /// would: the model built from the records equals the model built from the final state.
    @Test(arguments: [(1, 41), (2, 42), (4, 43), (2, 44)] as [(Int, UInt64)])
    func theModelFollowingTheFeedEqualsTheState(partitions: Int, seed: UInt64) {
        var workload = Workload(seed: seed, maxBatch: 1_500, stampFeed: seed % 2 == 0)
        var batches = workload.setup()
        for _ in 0..<80 { batches.append(workload.next()) }
        // A client book moves to the other legal entity mid-stream: its positions' and contracts' shares move
        // (the buckets are rebuilt, and the feed carries them whole).
        batches.insert(
            Workload.decode(
                #"{"type":"book","bookId":"BK-CL1-FREE","legalEntity":"PB-UK-LTD","positionType":"CLIENT_FREE","clientId":"CL1","version":2}"#,
                at: 1_795_000_000_500_000), at: 40)
        var state = EngineState(partitions: partitions)
        state.exceptionCapacity = 40
        state.discardChanges()
        var model = ReadModel(state)
        var random = SimulationRandom(seed: seed)
        var published: UInt64 = 0
        var drainStart = 1
        for (i, batch) in batches.enumerated() {
            _ = state.apply(.batch(batch), record: UInt64(i + 1))
            if random.next() % 3 == 0 || i == batches.count - 1 {
                var record = state.takeChangeRecord(
                    exceptionsFrom: model.nextExceptionIdentifier, earliest: batch.receivedAt,
                    records: UInt64(drainStart)...UInt64(i + 1), results: [])
                published += 1
                record.feedSequence = published
                model.apply(record)
                drainStart = i + 2
                #expect(model.lastSequence == state.lastSequence)
            }
        }
        #expect(model.positionCount > 100, "the stream builds positions")
        #expect(state.reference.books.first { $0.bookId == "BK-CL1-FREE" }?.legalEntity == "PB-UK-LTD", "the book moved")
        #expect(model.exceptions(limit: .max).count > 0, "and raises exceptions")
        // Pages: the indexed answer without a residual filter equals the scan's.
        for filter in [PositionFilter(), PositionFilter(marketId: "JP"), PositionFilter(bookId: model.allBooks()[0].bookId)] {
            for (offset, limit) in [(0, 7), (3, 50), (model.positionCount - 2, 10)] {
                let page = model.positions(matching: filter, offset: offset, limit: limit)
                let all = model.allPositionIds().filter { model.position($0, matches: filter) }
                // Listed in id order, except by market (security by security).
                let ordered = filter.marketId != nil ? nil : all
                #expect(page.total == all.count)
                if let ordered { #expect(page.items == ordered.dropFirst(offset).prefix(limit).map { model.positionView(at: $0) }) }
                #expect(page.items.count == min(limit, max(0, all.count - offset)))
            }
        }
        let expected = state.readModel.canonicalText()
        let got = model.canonicalText()
        let equal = got == expected
        #expect(equal, "the model built from the feed differs from the state's")
        if !equal {
            let a = got.split(separator: "\n"), b = expected.split(separator: "\n")
            if let i = a.indices.first(where: { $0 >= b.count || a[$0] != b[$0] }) {
                Issue.record("first difference:\n\(a[i])\n\(i < b.count ? b[i] : "(end)")")
            }
        }
    }
}
