import Foundation
import IMSDomain
import IMSEngine
import IMSIngest
import IMSRules

// A libFuzzer target over the NDJSON and CSV decoders and the engine behind them.
//
// Built with the fuzzer runtime (`scripts/fuzz.sh`, which passes `-sanitize=fuzzer` and `-D FUZZING`),
// `main` hands over to libFuzzer's driver, which calls `fuzzOne` with inputs it mutates by coverage.
// Built normally, `IMSFuzz FILE…` replays inputs (a crash found by the fuzzer, say) through the same code.

/// One input: its first byte picks what the rest is. `0x80`: a rule document; `0x90`: a locate request body;
/// `0xA0`: an order body. Otherwise NDJSON or CSV, atomic or partial (bits 0–2). Reading, compiling,
/// evaluating and processing must never trap, and a refused atomic batch or command must change nothing.
func fuzzOne(_ data: UnsafeRawBufferPointer) {
    guard let selector = data.first else { return }
    let body = UnsafeRawBufferPointer(rebasing: data.dropFirst())
    switch selector & 0xF0 {
    case 0x80: return fuzzRuleDocument(Array(body))
    case 0x90, 0xA0: return fuzzCommandBody(Array(body), order: selector & 0xF0 == 0xA0)
    default: break
    }
    let mode: IngestBatch.Mode = selector & 1 == 0 ? .atomic : .partial
    let batch =
        selector & 2 == 0
        ? BatchDecoder.decodeNDJSON(body, mode: mode, receivedAt: Timestamp(micros: 1))
        : BatchDecoder.decodeCSV(body, type: selector & 4 == 0 ? nil : "trade", mode: mode, receivedAt: Timestamp(micros: 1))
    var state = FuzzState.reference
    let before = mode == .atomic ? state.snapshotImage() : []
    let outcome = state.process(batch)
    if mode == .atomic && !outcome.applied && state.snapshotImage() != before {
        fatalError("a refused atomic batch changed the state")
    }
    for view in state.readModel.positions(matching: PositionFilter(), offset: 0, limit: 100).items { _ = view.json }
}

/// A rule document: read strictly and compiled (or refused, naming the field); one that compiles is
/// evaluated on buckets at the 64-bit limits, which must saturate, never trap or wrap.
func fuzzRuleDocument(_ bytes: [UInt8]) {
    guard let rules = try? CompiledRuleSet(json: bytes) else { return }
    for fill in [Int64.max, Int64.min, 0, -1, 1_000_000_000_000] {
        var b = BucketVector(ladder: true)
        for i in b.values.indices { b.values[i] = i % 3 == 0 ? fill : -(fill / 2) }
        for market in ["US", "TW", "HK"] {
            let choice = rules.choose(for: SecurityTraits(marketId: market))
            _ = rules.evaluate(choice, b)
            _ = rules.evaluateLadder(choice, b)
            _ = rules.explain(choice, b)
        }
    }
}

/// A locate request or order body, read strictly as the API reads it, then (if it reads) processed as the
/// command it names: a refused command must leave the state as it was.
func fuzzCommandBody(_ bytes: [UInt8], order: Bool) {
    struct LocateBody: Codable { var requestId, clientId, securityId, side, settlement, requestor: String?; var quantity: Int64? }
    struct OrderBody: Codable { var orderId, clientId, bookId, securityId, side, user: String?; var quantity: Int64?; var price: Decimal8Text? }
    let event: Event
    if order {
        guard let o = try? StrictJSON.decode(OrderBody.self, from: bytes, limits: .requestBody),
            let side = o.side.flatMap(OrderCommand.Side.init(rawValue:))
        else { return }
        event = Event(
            OrderCommand(
                orderId: o.orderId ?? "", clientId: o.clientId ?? "", bookId: o.bookId ?? "", securityId: o.securityId ?? "",
                side: side, quantity: o.quantity ?? 0, price: o.price?.value ?? .zero, user: o.user))
    } else {
        guard let l = try? StrictJSON.decode(LocateBody.self, from: bytes, limits: .requestBody) else { return }
        event = Event(
            LocateCommand(
                action: .request, requestId: l.requestId, clientId: l.clientId, securityId: l.securityId, quantity: l.quantity,
                side: l.side.flatMap(LocateCommand.Side.init(rawValue:)), settlement: .cash, user: l.requestor))
    }
    var state = FuzzState.reference
    let before = state.snapshotImage()
    var batch = IngestBatch(receivedAt: Timestamp(micros: 2), events: [event], lines: [1])
    batch.wantsResults = true
    let outcome = state.process(batch)
    if !outcome.applied && state.snapshotImage() != before { fatalError("a refused command changed the state") }
}

/// A small state with a market, a security and books, so that trades and snapshots reach the engine.
enum FuzzState {
    nonisolated(unsafe) static let reference: EngineState = {
        var state = EngineState()
        let setup = """
            {"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-24"}
            {"type":"security","securityId":"AAPL","isin":"US0378331005","marketId":"US","currency":"USD"}
            {"type":"book","bookId":"FIRM1","legalEntity":"PB-US","positionType":"FIRM"}
            {"type":"book","bookId":"CL1","legalEntity":"PB-US","positionType":"CLIENT_FREE","clientId":"C1"}
            """
        _ = Array(setup.utf8).withUnsafeBytes { state.process(BatchDecoder.decodeNDJSON($0, receivedAt: Timestamp(micros: 0))) }
        return state
    }()
}

#if FUZZING
    /// The entry libFuzzer's runtime names (its own `main`, unused here, refers to it).
    @_cdecl("LLVMFuzzerTestOneInput")
    public func LLVMFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        fuzzOne(UnsafeRawBufferPointer(start: data, count: size))
        return 0
    }

    /// libFuzzer's driver (from the fuzzer runtime that `-sanitize=fuzzer` links): runs the fuzzing loop, calling `callback` per input.
    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt
#endif

@main
struct FuzzMain {
    static func main() throws {
        #if FUZZING
            var argc = CommandLine.argc
            var argv = CommandLine.unsafeArgv
            exit(
                LLVMFuzzerRunDriver(&argc, &argv) { data, size in
                    fuzzOne(UnsafeRawBufferPointer(start: data, count: size))
                    return 0
                })
        #else
            let files = CommandLine.arguments.dropFirst()
            if files.isEmpty { print("usage: IMSFuzz FILE… (replays fuzzer inputs; build with scripts/fuzz.sh to fuzz)") }
            for file in files {
                let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
                bytes.withUnsafeBytes { fuzzOne($0) }
                print("\(file): ok")
            }
        #endif
    }
}
