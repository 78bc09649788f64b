import Foundation
import IMSDomain
import IMSEngine
import IMSIngest
import IMSRules
import Testing

/// A seeded random-mutation fuzzer over the NDJSON and CSV decoders and the engine behind them, run for a
/// bounded time in the test command (`IMS_FUZZ_SECONDS`, default 20 s; the seed is printed and taken from
/// `IMS_FUZZ_SEED` to replay a run).
///
/// Each round mutates valid lines of every event type (bit flips, byte insertions and deletions, splices,
/// truncations, and tokens known to hurt: huge numbers, leading zeros, invalid UTF-8, deep nesting,
/// escapes), decodes the body, and checks what must hold for any input: nothing traps; every line is either
/// an event or a rejection naming its line (within the body) and a field; decoding twice gives the same
/// result; and the engine, given the batch, either refuses it atomically leaving its state byte-identical
/// or applies it, in both cases without trapping.
struct MutationFuzzTests {
    static let corpus: [String] = [
        #"{"type":"trade","tradeId":"T1","version":1,"status":"NEW","bookId":"FIRM1","securityId":"AAPL","side":"BUY","quantity":100,"price":1.5,"tradeDate":"2026-11-24"}"#,
        #"{"type":"trade","tradeId":"T1","version":2,"status":"AMEND","bookId":"FIRM1","securityId":"AAPL","side":"SELL_SHORT","quantity":40,"price":2,"tradeDate":"2026-11-24","settleDate":"2026-12-10"}"#,
        #"{"type":"sodPosition","businessDate":"2026-11-24","bookId":"FIRM1","securityId":"AAPL","contractualQty":-5,"settledQty":0,"sd4Deliver":3}"#,
        #"{"type":"contract","contractId":"C","version":1,"kind":"BORROW","status":"OPEN","bookId":"FIRM1","counterpartyId":"L","securityId":"AAPL","quantity":10,"rateBps":12.5,"startDate":"2026-11-24"}"#,
        #"{"type":"availability","sourceId":"L","securityId":"AAPL","quantity":10,"availabilityType":"FIRM","effectiveDate":"2026-11-24"}"#,
        #"{"type":"price","securityId":"AAPL","last":10.25,"bid":10.2,"ask":10.3,"ts":"2026-11-24T14:30:00Z","feedId":"P","feedSeq":7}"#,
        #"{"type":"fxRate","currency":"JPY","usdRate":0.0066}"#,
        #"{"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}"#,
        #"{"type":"security","securityId":"S2","isin":"US0378331005","marketId":"US","temperature":"HTB","constituents":[{"securityId":"AAPL","weight":0.5}]}"#,
        #"{"type":"counterparty","counterpartyId":"L","name":"Lender \"One\" \u00e9","kind":"LENDER"}"#,
        #"{"type":"aggregationUnit","aggregationUnitId":"AU","name":"n","marketId":"US","legalEntity":"PB-US","unitType":"NET"}"#,
        #"{"type":"book","bookId":"B2","legalEntity":"PB-US","positionType":"CLIENT_FREE","clientId":"C1","aggregationUnits":{"US":"AU"}}"#,
    ]

    static let csvCorpus = "type,tradeId,version,status,bookId,securityId,side,quantity,price,tradeDate\ntrade,T9,1,NEW,FIRM1,AAPL,BUY,5,1,2026-11-24\n"

    static let tokens: [[UInt8]] = [
        Array("9223372036854775807".utf8), Array("-9223372036854775808".utf8), Array("99999999999999999999999".utf8),
        Array("0100".utf8), Array("1e308".utf8), Array("-0".utf8), Array("null".utf8), Array("\"\"".utf8),
        [0xFF], [0xC3], [0xED, 0xA0, 0x80], [0xEF, 0xBB, 0xBF], Array("\\ud800".utf8), Array("\\u0000".utf8),
        Array(String(repeating: "[", count: 200).utf8), Array(String(repeating: "{", count: 200).utf8),
        Array("9999-12-31".utf8), Array("2062-01-02".utf8), Array("\",\"x\":1,\"".utf8), Array("\n".utf8), Array("\r".utf8),
        Array(String(repeating: "a", count: 300).utf8),
    ]

    /// Seedable (SplitMix64), so any failing run can be replayed exactly.
    typealias Random = SimulationRandom

    static func mutate(_ input: [UInt8], _ r: inout Random) -> [UInt8] {
        var b = input
        for _ in 0..<(1 + r.below(4)) {
            let at = r.below(b.count + 1)
            switch r.below(7) {
            case 0 where !b.isEmpty: b[min(at, b.count - 1)] ^= UInt8(1 << r.below(8))
            case 1: b.insert(UInt8(truncatingIfNeeded: r.next() as UInt64), at: at)
            case 2 where !b.isEmpty: b.remove(at: min(at, b.count - 1))
            case 3: b.insert(contentsOf: tokens[r.below(tokens.count)], at: at)
            case 4:
                let other = Array(corpus[r.below(corpus.count)].utf8)
                let from = r.below(other.count)
                b.insert(contentsOf: other[from..<min(other.count, from + r.below(40))], at: at)
            case 5: b = Array(b.prefix(at))
            default:
                // Replace a number or string value by a token.
                if let colon = b[at...].firstIndex(of: UInt8(ascii: ":")) {
                    let end = b[(colon + 1)...].firstIndex { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "}") } ?? b.count
                    b.replaceSubrange((colon + 1)..<end, with: tokens[r.below(tokens.count)])
                }
            }
        }
        return b
    }

    static func reference() -> EngineState {
        var state = EngineState()
        let setup = """
            {"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-24"}
            {"type":"security","securityId":"AAPL","isin":"US0378331005","marketId":"US","currency":"USD"}
            {"type":"book","bookId":"FIRM1","legalEntity":"PB-US","positionType":"FIRM"}
            {"type":"counterparty","counterpartyId":"L","name":"L","kind":"LENDER"}
            """
        _ = Array(setup.utf8).withUnsafeBytes { state.process(BatchDecoder.decodeNDJSON($0, receivedAt: Timestamp(micros: 0))) }
        return state
    }

    static func check(_ body: [UInt8], csv: Bool, state: inout EngineState) {
        let decode = { (mode: IngestBatch.Mode) in
            body.withUnsafeBytes { raw in
                csv
                    ? BatchDecoder.decodeCSV(raw, type: nil, mode: mode, receivedAt: Timestamp(micros: 1))
                    : BatchDecoder.decodeNDJSON(raw, mode: mode, receivedAt: Timestamp(micros: 1))
            }
        }
        let batch = decode(.atomic)
        let lines = body.split(separator: 0x0A, omittingEmptySubsequences: false).count
        for e in batch.rejected {
            #expect(e.line >= 1 && e.line <= lines, "rejected line \(e.line) of \(lines)")
            #expect(!e.field.isEmpty && !e.error.isEmpty, "\(e) in \(String(decoding: body.prefix(300), as: UTF8.self))")
        }
        #expect(batch.lines.allSatisfy { $0 >= 1 && Int($0) <= lines })
        let again = decode(.atomic)
        #expect(again.events == batch.events && again.rejected == batch.rejected, "decoding is deterministic")

        let before = state.snapshotImage()
        let outcome = state.process(batch)
        if !outcome.applied {
            #expect(state.snapshotImage() == before, "a refused atomic batch changes nothing")
        }
        _ = state.process(decode(.partial))
        // Every position can be read (its figures summed) without trapping.
        for view in state.readModel.positions(matching: PositionFilter(), offset: 0, limit: 1_000).items {
            _ = view.json
        }
    }

    @Test func mutatedInputNeverTrapsAndIsRefusedCleanly() {
        let environment = ProcessInfo.processInfo.environment
        let seconds = Double(environment["IMS_FUZZ_SECONDS"] ?? "") ?? 20
        let seed = UInt64(environment["IMS_FUZZ_SEED"] ?? "") ?? UInt64(Date().timeIntervalSince1970 * 1000)
        print("mutation fuzz: seed \(seed) (replay with IMS_FUZZ_SEED=\(seed)), \(seconds) s")
        var r = Random(seed: seed)
        let deadline = Date().addingTimeInterval(seconds)
        var rounds = 0, rejectedLines = 0, acceptedLines = 0
        var state = Self.reference()
        while Date() < deadline {
            if rounds % 500 == 0 { state = Self.reference() }
            let csv = r.below(5) == 0
            var body: [UInt8]
            if csv {
                body = Self.mutate(Array(Self.csvCorpus.utf8), &r)
            } else {
                body = []
                for i in 0..<(1 + r.below(6)) {
                    if i > 0 { body.append(0x0A) }
                    let line = Array(Self.corpus[r.below(Self.corpus.count)].utf8)
                    body += r.below(4) == 0 ? line : Self.mutate(line, &r)
                }
            }
            Self.check(body, csv: csv, state: &state)
            let batch = body.withUnsafeBytes { BatchDecoder.decodeNDJSON($0, receivedAt: Timestamp(micros: 1)) }
            rejectedLines += batch.rejected.count
            acceptedLines += batch.events.count
            rounds += 1
        }
        print("mutation fuzz: \(rounds) bodies, \(acceptedLines) lines decoded, \(rejectedLines) refused")
        #expect(rounds > 100)
        #expect(rejectedLines > 0 && acceptedLines > 0, "the mutations reach both outcomes")
    }

    static let bodies: [String] = [
        #"{"requestId":"r1","clientId":"C1","securityId":"AAPL","quantity":100,"side":"SHORT","requestor":"t"}"#,
        #"{"orderId":"o1","clientId":"C1","bookId":"B2","securityId":"AAPL","side":"SELL_SHORT","quantity":10,"price":"1.5"}"#,
    ]

    struct LocateBody: Codable { var requestId, clientId, securityId, side, settlement, requestor: String?; var quantity: Int64? }
    struct OrderBody: Codable { var orderId, clientId, bookId, securityId, side, user: String?; var quantity: Int64?; var price: Decimal8Text? }

    /// Rule documents and command bodies, mutated the same way (issue 25): reading (strictly), compiling and
    /// evaluating a document never traps, and a document that compiles evaluates buckets at the 64-bit limits
    /// without wrapping; a body that reads becomes a command the engine applies or refuses, and a refused one
    /// changes nothing.
    @Test func mutatedRuleDocumentsAndBodiesNeverTrap() {
        let environment = ProcessInfo.processInfo.environment
        let seconds = (Double(environment["IMS_FUZZ_SECONDS"] ?? "") ?? 20) / 2
        let seed = UInt64(environment["IMS_FUZZ_SEED"] ?? "") ?? UInt64(Date().timeIntervalSince1970 * 1000)
        print("rule and body fuzz: seed \(seed), \(seconds) s")
        var r = Random(seed: seed)
        let document = Array(EmbeddedRules.defaultRuleSet.utf8)
        let deadline = Date().addingTimeInterval(seconds)
        var compiled = 0, refusedDocuments = 0, commands = 0
        var state = Self.reference()
        _ = Array(#"{"type":"book","bookId":"B2","legalEntity":"PB-US","positionType":"CLIENT_FREE","clientId":"C1"}"#.utf8).withUnsafeBytes {
            state.process(BatchDecoder.decodeNDJSON($0, receivedAt: Timestamp(micros: 0)))
        }
        while Date() < deadline {
            if r.below(2) == 0 {
                var bytes = document
                for _ in 0..<(1 + r.below(3)) { bytes = Self.mutate(bytes, &r) }
                guard let rules = try? CompiledRuleSet(json: bytes) else { refusedDocuments += 1; continue }
                compiled += 1
                var b = BucketVector(ladder: true)
                let fill: Int64 = [Int64.max, Int64.min, -1, 1 << 40][r.below(4)]
                for i in b.values.indices { b.values[i] = i % 2 == 0 ? fill : -(fill / 3) }
                let choice = rules.choose(for: SecurityTraits(marketId: ["US", "TW", "HK", "JP"][r.below(4)]))
                _ = rules.evaluate(choice, b)
                _ = rules.explain(choice, b)
            } else {
                let order = r.below(2) == 0
                let bytes = Self.mutate(Array(Self.bodies[order ? 1 : 0].utf8), &r)
                let event: Event
                if order {
                    guard let o = try? StrictJSON.decode(OrderBody.self, from: bytes, limits: .requestBody),
                        let side = o.side.flatMap(OrderCommand.Side.init(rawValue:))
                    else { continue }
                    event = Event(
                        OrderCommand(
                            orderId: o.orderId ?? "", clientId: o.clientId ?? "", bookId: o.bookId ?? "",
                            securityId: o.securityId ?? "", side: side, quantity: o.quantity ?? 0, price: o.price?.value ?? .zero))
                } else {
                    guard let l = try? StrictJSON.decode(LocateBody.self, from: bytes, limits: .requestBody) else { continue }
                    event = Event(
                        LocateCommand(
                            action: .request, requestId: l.requestId, clientId: l.clientId, securityId: l.securityId,
                            quantity: l.quantity, side: l.side.flatMap(LocateCommand.Side.init(rawValue:)), user: l.requestor))
                }
                var batch = IngestBatch(receivedAt: Timestamp(micros: 2), events: [event], lines: [1])
                batch.wantsResults = true
                let before = state.snapshotImage()
                if !state.process(batch).applied { #expect(state.snapshotImage() == before, "a refused command changes nothing") }
                commands += 1
            }
        }
        print("rule and body fuzz: \(compiled) documents compiled, \(refusedDocuments) refused, \(commands) commands")
        #expect(compiled > 0 && refusedDocuments > 0 && commands > 0, "the mutations reach every outcome")
    }
}
