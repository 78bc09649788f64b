import Foundation
import IMSDomain
import IMSEngine
import IMSIngest

// A libFuzzer target over the NDJSON and CSV decoders and the engine behind them.
//
// Built with the fuzzer runtime (`scripts/fuzz.sh`, which passes `-sanitize=fuzzer` and `-D FUZZING`),
// `main` hands over to libFuzzer's driver, which calls `fuzzOne` with inputs it mutates by coverage.
// Built normally, `IMSFuzz FILE…` replays inputs (a crash found by the fuzzer, say) through the same code.

/// One input: its first byte picks NDJSON or CSV and atomic or partial; the rest is the body. Decoding
/// and processing must never trap, and a refused atomic batch must change nothing.
func fuzzOne(_ data: UnsafeRawBufferPointer) {
    guard let selector = data.first else { return }
    let body = UnsafeRawBufferPointer(rebasing: data.dropFirst())
    let mode: IngestBatch.Mode = selector & 1 == 0 ? .atomic : .partial
    let batch = selector & 2 == 0
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
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt
#endif

@main
struct FuzzMain {
    static func main() throws {
        #if FUZZING
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
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
