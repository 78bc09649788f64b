import IMSDomain
import IMSEngine
import IMSIngest
import Testing

/// A batch that asks gets a result per line: what each did, with its sequence number.
struct EventResultTests {
    static func batch(_ lines: [String], mode: IngestBatch.Mode) -> IngestBatch {
        var text = lines.joined(separator: "\n")
        var batch = text.withUTF8 { BatchDecoder.decodeNDJSON(UnsafeRawBufferPointer($0), mode: mode, receivedAt: Timestamp(micros: 0)) }
        batch.wantsResults = true
        return batch
    }

    @Test func eachLineSaysWhatItDidInAPartialBatch() {
        var h = Harness()
        let before = h.state.lastSequence
        let outcome = h.state.process(
            Self.batch(
                [
                    Harness.trade("R1"), // applied
                    Harness.trade("R1"), // same version again: unchanged
                    #"{"type":"trade","tradeId":"BAD"}"#, // does not decode: rejected
                    Harness.trade("R2", security: "NOPE"), // unknown security: rejected
                    Harness.trade("R3", qty: 5), // applied
                ], mode: .partial))
        #expect(outcome.results.map(\.line) == [1, 2, 3, 4, 5])
        #expect(outcome.results.map(\.status) == [.applied, .unchanged, .rejected, .rejected, .applied])
        #expect(outcome.results.map(\.sequence) == [before + 1, before + 2, nil, nil, before + 3])
        #expect(outcome.rejected.map(\.line) == [3, 4])
    }

    @Test func anAtomicBatchThatIsRefusedAppliesNoLine() {
        var h = Harness()
        let outcome = h.state.process(Self.batch([Harness.trade("A1"), Harness.trade("A2", security: "NOPE")], mode: .atomic))
        #expect(!outcome.applied)
        #expect(outcome.results.map(\.status) == [.notApplied, .rejected])
        #expect(h.position() == nil)
    }

    @Test func aLargeBatchThatAsksStillGetsEveryResult() {
        var h = Harness()
        let lines = (0..<600).map { Harness.trade("L\($0)", qty: 1) }
        let outcome = h.state.process(Self.batch(lines, mode: .atomic))
        #expect(outcome.results.count == 600 && outcome.results.allSatisfy { $0.status == .applied })
        #expect(h.position()?.intradayBuys == 600)
        // Without asking, nothing is carried (bulk ingest pays nothing).
        var text = Harness.trade("L0", v: 2, qty: 1)
        let plain = text.withUTF8 { BatchDecoder.decodeNDJSON(UnsafeRawBufferPointer($0), receivedAt: Timestamp(micros: 0)) }
        #expect(h.state.process(plain).results.isEmpty)
    }
}
