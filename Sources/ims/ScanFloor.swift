import Dispatch

/// SPEC 8's "scan floor": a minimal NDJSON byte scan plus a dictionary update per trade on one core, nothing
/// else. Machine-dependent bars are ratios to it, measured in the same sitting (the machines drift up to 2x
/// between days): the engine must sustain ≥ 0.5 of it through validation, the durable journal and every
/// calculation, and recovery must replay ≥ 0.5 of it.
///
/// Each line is scanned once for its `"tradeId":"` and `"quantity":` keys; a trade's quantity is stored
/// under the hash of its id. No event is built, nothing is validated or kept beyond that dictionary.
enum ScanFloor {
    /// Lines per second over `chunks` (NDJSON bodies), the best of `rounds` passes.
    static func eventsPerSecond(_ chunks: [[UInt8]], rounds: Int = 3) -> Int {
        var best = 0.0
        var lines = 0
        var sink = 0
        for _ in 0..<rounds {
            var table: [UInt64: Int64] = [:]
            table.reserveCapacity(1 << 16)
            lines = 0
            let start = DispatchTime.now().uptimeNanoseconds
            for chunk in chunks { lines += scan(chunk, into: &table) }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            best = max(best, Double(lines) / seconds)
            sink &+= table.count
        }
        return sink == -1 ? 0 : Int(best)
    }

    private static let tradeKey = Array(#""tradeId":""#.utf8)
    private static let quantityKey = Array(#""quantity":"#.utf8)

    /// Scans one body's lines; returns how many.
    static func scan(_ body: [UInt8], into table: inout [UInt64: Int64]) -> Int {
        body.withUnsafeBufferPointer { b in
            var lines = 0
            var i = 0
            let n = b.count
            while i < n {
                var hash: UInt64 = 0
                var quantity: Int64 = 0
                var isTrade = false
                // One pass over the line: recognise the two keys where a quote starts one.
                while i < n && b[i] != 0x0A {
                    if b[i] == 0x22 {
                        if matches(b, i, tradeKey) {
                            i += tradeKey.count
                            hash = 0xcbf2_9ce4_8422_2325
                            while i < n && b[i] != 0x22 { hash = (hash ^ UInt64(b[i])) &* 0x0000_0100_0000_01b3; i += 1 }
                            isTrade = true
                        } else if matches(b, i, quantityKey) {
                            i += quantityKey.count
                            while i < n && b[i] >= 0x30 && b[i] <= 0x39 { quantity = quantity &* 10 &+ Int64(b[i] - 0x30); i += 1 }
                            continue
                        }
                    }
                    i += 1
                }
                if isTrade { table[hash] = quantity }
                lines += 1
                i += 1
            }
            return lines
        }
    }

    @inline(__always)
    private static func matches(_ b: UnsafeBufferPointer<UInt8>, _ at: Int, _ key: [UInt8]) -> Bool {
        guard at + key.count <= b.count else { return false }
        for k in 1..<key.count where b[at + k] != key[k] { return false }
        return true
    }
}
