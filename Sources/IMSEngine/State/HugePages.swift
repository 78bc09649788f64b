#if canImport(Glibc)
    import Glibc
#endif

/// Asks the kernel to back large tables with transparent huge pages (2 MiB), so that looking up entries at
/// random across hundreds of megabytes does not miss the TLB on nearly every access.
enum HugePages {
    static let size = 2 << 20

    /// Advises huge pages for the whole 2 MiB-aligned part of `buffer`, before it is first written. Does
    /// nothing for buffers under 4 MiB, or where the system has no such advice.
    static func advise(_ buffer: UnsafeMutableRawBufferPointer) {
        #if os(Linux)
            guard buffer.count >= 2 * size, let base = buffer.baseAddress else { return }
            let start = (Int(bitPattern: base) + size - 1) & ~(size - 1)
            let end = (Int(bitPattern: base) + buffer.count) & ~(size - 1)
            guard end > start else { return }
            _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_HUGEPAGE)
        #endif
    }
}
