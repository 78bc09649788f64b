import IMSDomain
import IMSIngest
import Testing

@testable import IMSEngine

/// Partitions apply a batch in parallel; nothing a client can see may depend on it.
struct PartitionTests {
    /// Every position, keyed, with the other things a client reads.
    struct Visible: Equatable {
        var positions: [PositionView]
        var exceptions: [ExceptionRecord]
        var marketData: [MarketDataView]
        var lastSequence: Int64
        var counters: EngineState.Counters

        init(_ s: EngineState) {
            positions = s.readModel.positions(matching: PositionFilter(), offset: 0, limit: .max).items
                .sorted { ($0.bookId, $0.securityId) < ($1.bookId, $1.securityId) }
            exceptions = s.readModel.exceptions(afterId: 0, limit: .max)
            marketData = s.readModel.marketDataSnapshot(MarketDataFilter(), limit: .max)
            lastSequence = s.lastSequence
            counters = s.counters
        }
    }

    static func flow(seed: UInt64, batches: Int, stampFeed: Bool) -> [IngestBatch] {
        var w = Workload(seed: seed, maxBatch: 1_500, stampFeed: stampFeed)
        var out = w.setup()
        for _ in 0..<batches { out.append(w.next()) }
        return out
    }

    /// The same stream through one partition, two partitions in parallel, two sequentially and four in
    /// parallel: the same outcomes, positions, exceptions (ids and order), market data and counters, and
    /// for two partitions byte-identical state images either way.
    @Test(arguments: [(21, false), (22, true), (23, true)] as [(UInt64, Bool)])
    func partitionedApplyEqualsSequentialApply(seed: UInt64, stampFeed: Bool) {
        let batches = Self.flow(seed: seed, batches: 60, stampFeed: stampFeed)
        var single = EngineState(partitions: 1)
        var parallel = EngineState(partitions: 2)
        var sequential = EngineState(partitions: 2)
        var four = EngineState(partitions: 4)
        var partitionedBatches = 0
        for batch in batches {
            let expected = single.process(batch)
            var probe = parallel
            if probe.processPartitioned(batch, untilSequence: .max) != nil { partitionedBatches += 1 }
            #expect(parallel.process(batch) == expected)
            #expect(sequential.process(batch, parallel: false) == expected)
            #expect(four.process(batch) == expected)
        }
        #expect(partitionedBatches > batches.count / 2, "most flow batches take the parallel path (\(partitionedBatches) of \(batches.count))")
        #expect(batches.contains { $0.events.count >= EngineState.parallelBatchThreshold && $0.mode == .partial })
        let visible = Visible(single)
        #expect(visible.positions.count > 1_000)
        #expect(Visible(parallel) == visible)
        #expect(Visible(sequential) == visible)
        #expect(Visible(four) == visible)
        if stampFeed { #expect(visible.exceptions.contains { $0.kind == .feedGap }) }
        #expect(parallel.snapshotImage() == sequential.snapshotImage())
        #expect(parallel.snapshotImage() != single.snapshotImage(), "the image records the partition layout")
    }

    /// Exceptions raised by different partitions and by the feed check, in one parallel batch, come out
    /// numbered in sequence order, as one partition raises them.
    @Test func exceptionsFromEveryPartitionKeepSequenceOrder() {
        var reference = """
            {"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}
            {"type":"book","bookId":"FIRM1","legalEntity":"PB-US","positionType":"FIRM"}
            """
        for s in 0..<8 {
            reference += "\n" + #"{"type":"security","securityId":"S\#(s)","marketId":"US","currency":"USD"}"#
            reference +=
                "\n" + #"{"type":"sodPosition","businessDate":"2026-11-25","bookId":"FIRM1","securityId":"S\#(s)","contractualQty":100,"settledQty":100}"#
        }
        var lines: [String] = []
        for i in 0..<400 {
            let security = "S\(i % 8)"
            let date = i % 7 == 0 ? "2026-11-24" : "2026-11-25" // earlier dates are late trades: an exception each
            let seq = i % 50 == 49 ? i + 10 : i + 1 // a few jumps: feed gaps
            lines.append(
                #"{"type":"trade","tradeId":"T\#(i)","version":1,"status":"NEW","bookId":"FIRM1","securityId":"\#(security)","side":"BUY","quantity":10,"price":1,"tradeDate":"\#(date)","feedId":"OMS","feedSeq":\#(seq)}"#
            )
            if i % 100 == 0 {
                lines.append(
                    #"{"type":"sodPosition","businessDate":"2026-11-20","bookId":"FIRM1","securityId":"\#(security)","contractualQty":1,"settledQty":1}"#)
            }
        }
        var states = [EngineState(partitions: 1), EngineState(partitions: 2), EngineState(partitions: 8)]
        for k in states.indices {
            #expect(states[k].process(Workload.decode(reference, at: 1)).rejected.isEmpty)
            _ = states[k].process(Workload.decode(lines.joined(separator: "\n"), mode: .partial, at: 2))
        }
        var probe = states[1]
        #expect(probe.processPartitioned(Workload.decode(lines.joined(separator: "\n"), mode: .partial, at: 3), untilSequence: .max) != nil)
        let expected = states[0].readModel.exceptions(limit: .max)
        #expect(Set(expected.map(\.kind)) == [.lateTrade, .feedGap, .staleSOD])
        #expect(expected.map(\.sequence) == expected.map(\.sequence).sorted())
        #expect(states[1].readModel.exceptions(limit: .max) == expected)
        #expect(states[2].readModel.exceptions(limit: .max) == expected)
    }

    /// A batch that gives a market its first business date, or defines what it uses, takes the sequential path.
    @Test func batchesThatNeedOrderAcrossPartitionsTakeTheSequentialPath() {
        var state = EngineState(partitions: 2)
        var text = #"{"type":"book","bookId":"FIRM1","legalEntity":"PB-US","positionType":"FIRM"}"#
        for s in 0..<4 { text += "\n" + #"{"type":"security","securityId":"S\#(s)","marketId":"US","currency":"USD"}"# }
        var trades: [String] = []
        for i in 0..<300 {
            trades.append(
                #"{"type":"trade","tradeId":"T\#(i)","version":1,"status":"NEW","bookId":"FIRM1","securityId":"S\#(i % 4)","side":"BUY","quantity":10,"price":1,"tradeDate":"2026-11-25"}"#
            )
        }
        let mixed = Workload.decode(text + "\n" + trades.joined(separator: "\n"), at: 1)
        var probe = state
        #expect(probe.processPartitioned(mixed, untilSequence: .max) == nil, "reference data in the batch")
        #expect(state.process(Workload.decode(text, at: 1)).applied)
        let firstDate = Workload.decode(trades.joined(separator: "\n"), at: 2)
        probe = state
        #expect(probe.processPartitioned(firstDate, untilSequence: .max) == nil, "US has no business date yet")
        let outcome = state.process(firstDate)
        #expect(outcome.accepted == 300)
        #expect(state.readModel.position(bookId: "FIRM1", securityId: "S1")?.contractualQty == 750)
    }

    /// A trade keeps the security it was booked in, wherever the new one's partition is.
    @Test func aNewVersionCannotMoveATradeToAnotherSecurity() {
        var state = EngineState(partitions: 2)
        let reference = """
            {"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}
            {"type":"book","bookId":"FIRM1","legalEntity":"PB-US","positionType":"FIRM"}
            {"type":"security","securityId":"S0","marketId":"US","currency":"USD"}
            {"type":"security","securityId":"S1","marketId":"US","currency":"USD"}
            {"type":"security","securityId":"S2","marketId":"US","currency":"USD"}
            """
        #expect(state.process(Workload.decode(reference, at: 1)).applied)
        func trade(_ v: Int, _ security: String) -> String {
            #"{"type":"trade","tradeId":"T1","version":\#(v),"status":"\#(v == 1 ? "NEW" : "AMEND")","bookId":"FIRM1","securityId":"\#(security)","side":"BUY","quantity":10,"price":1,"tradeDate":"2026-11-25"}"#
        }
        #expect(state.process(Workload.decode(trade(1, "S0"), at: 2)).applied)
        for other in ["S1", "S2"] { // S1 is in the other partition, S2 in the same one
            let outcome = state.process(Workload.decode(trade(2, other), at: 3))
            #expect(!outcome.applied)
            #expect(outcome.rejected.first?.field == "securityId")
            #expect(outcome.rejected.first?.error.contains("booked in security S0") == true)
        }
        #expect(state.readModel.position(bookId: "FIRM1", securityId: "S0")?.contractualQty == 10)
        #expect(state.readModel.position(bookId: "FIRM1", securityId: "S1") == nil)

        // Both versions new in one batch, short (sequential) or long (parallel): the later one is refused.
        func newTrade(_ id: String, _ v: Int, _ security: String) -> String {
            #"{"type":"trade","tradeId":"\#(id)","version":\#(v),"status":"NEW","bookId":"FIRM1","securityId":"\#(security)","side":"BUY","quantity":10,"price":1,"tradeDate":"2026-11-25"}"#
        }
        for filler in [0, 400] {
            var lines = (0..<filler).map { newTrade("F\(filler)-\($0)", 1, "S\($0 % 3)") }
            lines.insert(newTrade("X\(filler)", 1, "S0"), at: filler / 3)
            lines.insert(newTrade("X\(filler)", 2, "S1"), at: filler / 2)
            lines.insert(newTrade("X\(filler)", 3, "S2"), at: filler * 2 / 3)
            lines.insert(newTrade("X\(filler)", 4, "S0"), at: filler * 3 / 4)
            let batch = Workload.decode(lines.joined(separator: "\n"), mode: .partial, at: 4)
            var probe = state
            #expect(probe.processPartitioned(batch, untilSequence: .max)?.rejected.count == 2)
            #expect((batch.events.count >= EngineState.parallelBatchThreshold) == (filler > 0))
            let outcome = state.process(batch)
            #expect(outcome.rejected.map(\.field) == ["securityId", "securityId"])
            #expect(outcome.rejected.allSatisfy { $0.error.contains("booked in security S0") })
            #expect(outcome.accepted == filler + 2)
        }
        #expect(state.process(Workload.decode(trade(3, "S0"), at: 5)).applied)
    }

    /// Within one parallel batch, each version of a trade finds the record the earlier ones made: a trade new,
    /// amended and cancelled in the batch; one booked before it, amended twice and then sent a stale version;
    /// one whose first line is refused; one repeated at the same version.
    @Test func versionsOfATradeWithinOneParallelBatch() {
        var reference = """
            {"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}
            {"type":"book","bookId":"FIRM1","legalEntity":"PB-US","positionType":"FIRM"}
            {"type":"book","bookId":"FIRM2","legalEntity":"PB-US","positionType":"FIRM"}
            """
        for s in 0..<4 { reference += "\n" + #"{"type":"security","securityId":"S\#(s)","marketId":"US","currency":"USD"}"# }
        func trade(_ id: String, _ v: Int, _ status: String, book: String = "FIRM2", _ security: String, _ quantity: Int) -> String {
            #"{"type":"trade","tradeId":"\#(id)","version":\#(v),"status":"\#(status)","bookId":"\#(book)","securityId":"\#(security)","side":"BUY","quantity":\#(quantity),"price":1,"tradeDate":"2026-11-25"}"#
        }
        var lines = (0..<400).map { trade("F\($0)", 1, "NEW", book: "FIRM1", "S\($0 % 4)", 1) }
        let versions = [
            trade("N1", 1, "NEW", "S0", 5), trade("N1", 2, "AMEND", "S0", 7), trade("N1", 3, "CANCEL", "S0", 7),
            trade("B1", 2, "AMEND", "S1", 20), trade("B1", 3, "AMEND", "S1", 30), trade("B1", 2, "AMEND", "S1", 25),
            trade("R1", 1, "NEW", book: "NOBOOK", "S2", 3), trade("R1", 2, "AMEND", "S2", 9),
            trade("N2", 1, "NEW", "S3", 4), trade("N2", 1, "NEW", "S3", 4),
        ]
        for (n, line) in versions.enumerated() { lines.insert(line, at: 20 + n * 37) }
        let batch = Workload.decode(lines.joined(separator: "\n"), mode: .partial, at: 3)

        var states = [EngineState(partitions: 1), EngineState(partitions: 2), EngineState(partitions: 4)]
        var outcomes: [BatchOutcome] = []
        for k in states.indices {
            #expect(states[k].process(Workload.decode(reference, at: 1)).rejected.isEmpty)
            #expect(states[k].process(Workload.decode(trade("B1", 1, "NEW", "S1", 10), at: 2)).applied)
            var probe = states[k]
            #expect(probe.processPartitioned(batch, untilSequence: .max) != nil, "the batch can take the parallel path")
            outcomes.append(k == 0 ? states[k].process(batch, parallel: false) : states[k].process(batch))
        }
        #expect(outcomes[0].rejected.map(\.field) == ["bookId"])
        #expect(outcomes[0].ignored == 2, "B1's stale version and N2's repeat")
        #expect(outcomes[1] == outcomes[0])
        #expect(outcomes[2] == outcomes[0])
        for state in states {
            #expect(state.readModel.position(bookId: "FIRM2", securityId: "S0")?.contractualQty == 0)
            #expect(state.readModel.position(bookId: "FIRM2", securityId: "S1")?.contractualQty == 30)
            #expect(state.readModel.position(bookId: "FIRM2", securityId: "S2")?.contractualQty == 9)
            #expect(state.readModel.position(bookId: "FIRM2", securityId: "S3")?.contractualQty == 4)
            #expect(state.readModel.position(bookId: "FIRM1", securityId: "S2")?.contractualQty == 100)
            #expect(Visible(state) == Visible(states[0]))
        }
    }
}
