/// A small, fast, seedable generator (SplitMix64), so simulations and benchmarks are reproducible.
public struct SimulationRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A `SimulationRandom` from its fields.
    public init(seed: UInt64) { state = seed }

    /// The next pseudo-random number of the sequence (deterministic for a seed).
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform integer in `0..<bound`.
    public mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    /// An index skewed towards small values (a few securities trade far more than the rest).
    public mutating func skewed(_ bound: Int) -> Int {
        let u = Double(next() >> 11) / Double(1 << 53)
        return min(bound - 1, Int(Double(bound) * u * u))
    }
}
