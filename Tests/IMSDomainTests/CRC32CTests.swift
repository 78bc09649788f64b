import Testing

@testable import IMSDomain

struct CRC32CTests {
    @Test func knownCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
    }

    /// The instruction path (where the CPU has it) and the tables agree on every length and alignment,
    /// also when a checksum is continued across pieces.
    @Test func instructionAndTablesAgree() {
        var generator = SplitMix(seed: 7)
        let bytes = (0..<4_099).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        bytes.withUnsafeBytes { raw in
            for start in 0..<9 {
                for length in [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1_000, 4_090 - start] {
                    let piece = UnsafeRawBufferPointer(rebasing: raw[start..<(start + length)])
                    #expect(CRC32C.update(0, piece) == CRC32C.tableUpdate(0, piece), "start \(start), length \(length)")
                }
            }
            let whole = CRC32C.update(0, raw)
            let split = CRC32C.update(CRC32C.update(0, UnsafeRawBufferPointer(rebasing: raw[..<1_001])), UnsafeRawBufferPointer(rebasing: raw[1_001...]))
            #expect(whole == split)
            #expect(whole == CRC32C.tableUpdate(0, raw))
        }
    }

    /// Where the CPU has a CRC32C instruction (x86-64 with SSE 4.2, 64-bit ARM), it is in use, so the test above
    /// compares two paths; elsewhere the table is used. Either way this asserts something.
    @Test func usesTheInstructionWhereTheCPUHasIt() {
        #if arch(x86_64) || arch(arm64)
            #expect(CRC32C.usesInstruction)
        #else
            #expect(!CRC32C.usesInstruction)
        #endif
    }
}

/// A small deterministic generator for test bytes.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
