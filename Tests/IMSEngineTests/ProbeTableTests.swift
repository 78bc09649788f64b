@testable import IMSEngine
import Testing

struct ProbeTableTests {
    /// Random inserts and removals, with deliberately colliding hashes, agree with a Dictionary.
    @Test(arguments: [1, 2, 3, 4])
    func agreesWithADictionaryUnderInsertAndRemove(seed: UInt64) {
        var table = ProbeTable()
        var reference: [UInt64: UInt64] = [:]
        var state = seed
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            return z ^ (z >> 31)
        }
        // Few distinct hashes over many keys, so runs are long and wrap around the table.
        func hash(_ key: UInt64) -> UInt64 { (key % 37) &* 0x1_0000_0001 | 1 }
        for _ in 0..<20_000 {
            let key = next() % 3_000
            if next() % 3 == 0 {
                table.remove(hash: hash(key)) { $0 == key }
                reference[key] = nil
            } else if reference[key] == nil {
                table.insert(hash: hash(key), payload: key)
                reference[key] = key
            }
        }
        #expect(table.count == reference.count)
        for key in 0..<UInt64(3_000) {
            #expect(table.find(hash: hash(key)) { $0 == key } == reference[key])
        }
    }

    @Test func stringHashIsStableAcrossProcessesAndNeverZero() {
        // FNV-1a + mix of "T1": fixed, unlike Swift's seeded Hasher, so journals and snapshots can rely on it.
        #expect(ProbeTable.hash(of: "T1") == ProbeTable.hash(of: String("xT1".dropFirst())))
        #expect(ProbeTable.hash(of: "") != 0)
        #expect(ProbeTable.hash(of: "T1") != ProbeTable.hash(of: "T2"))
    }
}

struct PositionHashTests {
    /// Position look-ups trust the hash alone, so it must never map two keys to one value.
    @Test func positionHashIsInjectiveAndNeverZero() {
        var seen = Set<UInt64>()
        for book in Int32(0)..<300 {
            for security in Int32(0)..<300 {
                let h = EngineState.hash(positionKey: EngineState.positionKey(book: book, security: security))
                #expect(h != 0)
                seen.insert(h)
            }
        }
        #expect(seen.count == 300 * 300)
        #expect(EngineState.hash(positionKey: 0) != 0)
    }
}
