#if canImport(Glibc)
    import Glibc
#endif

/// Process-wide settings of the C allocator, made before any thread starts.
///
/// The engine's tables grow by doubling as a day's trades arrive. With glibc's default of one malloc
/// arena per thread, the blocks the partition threads free go back to the OS or sit in another
/// thread's arena, so every growth faults in fresh pages the kernel must zero: a third of the writers'
/// time in `ims bench engine`. One arena lets freed blocks be reused by whichever thread grows next
/// (measured with one binary: 1.8–2.2M events/s with `MALLOC_ARENA_MAX=8`, 2.4–2.5M with one arena). The environment
/// still wins: `MALLOC_ARENA_MAX` set by the operator is left alone.
enum AllocatorTuning {
    static func apply() {
        #if canImport(Glibc)
            if getenv("MALLOC_ARENA_MAX") == nil { _ = glibcMallopt(glibcArenaMax, 1) }
        #endif
    }
}

#if canImport(Glibc)
    /// `M_ARENA_MAX` of glibc's <malloc.h>, which the Glibc module does not export.
    private let glibcArenaMax: Int32 = -8

    /// glibc's `int mallopt(int, int)`, declared here as the Glibc module does not export <malloc.h>.
    @_silgen_name("mallopt")
    private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif
