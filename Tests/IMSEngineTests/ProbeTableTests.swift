import Testing

@testable import IMSEngine

struct ProbeTableTests {
    /// Random inserts and removals, with deliberately colliding hashes, agree with a Dictionary.
    @Test(arguments: [1, 2, 3, 4], [false, true])
    func agreesWithADictionaryUnderInsertAndRemove(seed: UInt64, summarized: Bool) {
        var table = ProbeTable(summarized: summarized)
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
            if reference[key] != nil { #expect(table.mayContain(hash: hash(key))) }
        }
    }

    /// The summary of a table says "absent" for most hashes never inserted, and never for one that was.
    @Test func theSummaryAnswersMostMissesWithoutProbing() {
        var table = ProbeTable(summarized: true)
        for i in 0..<50_000 { table.insert(hash: ProbeTable.hash(of: "T\(i)"), payload: UInt64(i)) }
        #expect((0..<50_000).allSatisfy { table.mayContain(hash: ProbeTable.hash(of: "T\($0)")) })
        let falseMaybes = (0..<50_000).filter { table.mayContain(hash: ProbeTable.hash(of: "U\($0)")) }.count
        #expect(falseMaybes < 50_000 / 5, "\(falseMaybes) of 50000 absent hashes answered maybe")
        #expect(ProbeTable().mayContain(hash: 1), "an unsummarized table always says maybe")
    }

    @Test func stringHashIsStableAcrossProcessesAndNeverZero() {
        // FNV-1a + mix: fixed values, unlike Swift's per-process seeded Hasher, so journals and snapshots can
        // rely on them (the literals were computed independently, in Python, from the algorithm's definition).
        #expect(ProbeTable.hash(of: "T1") == 0xE70D_42E3_6414_C8C0)
        #expect(ProbeTable.hash(of: "AAPL") == 0x21B5_ABDA_6EFA_2DDB)
        #expect(ProbeTable.hash(of: "") == 0xECBA_3DF2_C338_3C52)
        #expect(ProbeTable.hash(of: "T1") == ProbeTable.hash(of: String("xT1".dropFirst())))
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
