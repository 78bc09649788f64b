#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The system's clocks, for the edges (the engine itself sees time only as event fields).
///
/// Kept in a file that imports only the C library: where Foundation is imported too, `timespec` can resolve
/// to CoreFoundation's copy of the C type, whose members that file then may not see.
public enum SystemClock {
    /// Microseconds since 1970 (UTC), from the real-time clock.
    public static func wallMicros() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1_000
    }

    /// Nanoseconds from the monotonic clock (for intervals only).
    public static func monotonicNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
