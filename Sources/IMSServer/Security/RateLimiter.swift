import Foundation
import Synchronization

/// Per-identity request rate limits (SPEC 10): a token bucket per identity, refilled at `rate`
/// requests a second up to `burst`. A call beyond it gets 429 with `Retry-After`, and nothing is applied.
public final class RateLimiter: Sendable {
    public let rate: Double
    public let burst: Double
    private let buckets = Mutex<[String: (tokens: Double, at: UInt64)]>([:])
    /// Nanoseconds of a monotonic clock (tests pass a still one).
    private let clock: @Sendable () -> UInt64

    /// A `RateLimiter` from its fields.
    public init(rate: Int, burst: Int? = nil, clock: @escaping @Sendable () -> UInt64 = { DispatchTime.now().uptimeNanoseconds }) {
        self.rate = Double(max(1, rate))
        self.burst = Double(max(1, burst ?? rate * 2))
        self.clock = clock
    }

    /// Takes one request from `subject`'s bucket; nil when allowed, else the whole seconds until one is.
    public func take(_ subject: String) -> Int? { take(subject, now: clock()) }

    func take(_ subject: String, now: UInt64) -> Int? {
        buckets.withLock { all in
            var b = all[subject] ?? (burst, now)
            b.tokens = min(burst, b.tokens + Double(now &- b.at) / 1e9 * rate)
            b.at = now
            defer { all[subject] = b }
            if b.tokens >= 1 {
                b.tokens -= 1
                return nil
            }
            return max(1, Int(((1 - b.tokens) / rate).rounded(.up)))
        }
    }
}
