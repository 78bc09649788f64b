import CIMSIntrinsics

/// An open-addressing hash index from a stored 64-bit hash to a 64-bit payload, the keys living elsewhere.
///
/// The engine's string-keyed indexes (interned ids, trade ids) keep their keys
/// in arrays they already own; this table keeps only each entry's hash and
/// payload side by side, so growing it never re-hashes a string and a probe
/// touches one cache line. Linear probing, load factor at most one half, deletion by
/// backward shift (no tombstones). Callers decide equality with a closure
/// that compares the key behind a payload.
struct ProbeTable: Sendable {
    /// One entry: its hash (0 marks an empty slot; `hash(of:)` never returns 0) and payload.
    private struct Slot {
        var hash: UInt64
        var payload: UInt64
    }

    private var slots: [Slot]
    private var mask: Int
    private(set) var count = 0
    /// With `summarized`, one bit per hash (4 bits per slot): a clear bit answers "absent" without touching
    /// the slots, so a miss in a table far larger than the cache costs a cache hit, not a memory read.
    /// Removal leaves bits set (a false "maybe", never a false "no"); growth rebuilds it.
    private var summary: [UInt64] = []
    private var summaryMask = 0

    init(minimumCapacity: Int = 16, summarized: Bool = false) {
        var size = 16
        while size < minimumCapacity * 2 { size <<= 1 }
        slots = Self.zeroed(count: size)
        mask = size - 1
        if summarized { resetSummary() }
    }

    private mutating func resetSummary() {
        summary = Self.zeroed(count: max(1, slots.count * 4 / 64))
        summaryMask = summary.count * 64 - 1
    }

    /// The summary bit of a hash: from its high bits, as the slot comes from the low ones.
    @inline(__always) private func summaryBit(_ hash: UInt64) -> Int { Self.summaryBit(hash, mask: summaryMask) }

    @inline(__always) fileprivate static func summaryBit(_ hash: UInt64, mask: Int) -> Int { Int(truncatingIfNeeded: hash >> 32) & mask }

    /// False when no entry has `hash`; true when one may.
    @inline(__always) func mayContain(hash: UInt64) -> Bool {
        guard summaryMask != 0 else { return true }
        let bit = summaryBit(hash)
        return summary[bit >> 6] & (1 << UInt64(bit & 63)) != 0
    }

    /// The payload of the entry with `hash` for which `matches` holds.
    @inline(__always)
    func find(hash: UInt64, where matches: (UInt64) -> Bool) -> UInt64? {
        if !mayContain(hash: hash) { return nil }
        var i = Int(truncatingIfNeeded: hash) & mask
        while true {
            let slot = slots[i]
            if slot.hash == 0 { return nil }
            if slot.hash == hash && matches(slot.payload) { return slot.payload }
            i = (i + 1) & mask
        }
    }

    /// Where the table's look-ups and inserts start, as raw addresses, so that a batch's can be prefetched
    /// ahead (their memory reads then overlap instead of waiting one by one). The addresses are only ever
    /// prefetched, never read through: a prefetch of a stale address (the table changed since) is merely
    /// useless, never an error, as a prefetch instruction does not fault.
    struct Prefetcher {
        fileprivate let slots: UnsafeRawPointer?
        fileprivate let mask: Int
        fileprivate let summary: UnsafePointer<UInt64>?
        fileprivate let summaryMask: Int
        /// The summary itself (shared, not copied), for the one check that reads it; nil in a prefetcher made
        /// for prefetching only (no reference to retain per use).
        fileprivate let summaryWords: [UInt64]?

        @inline(__always) private func slot(_ hash: UInt64) -> UnsafeRawPointer? {
            slots.map { $0 + (Int(truncatingIfNeeded: hash) & mask) * MemoryLayout<Slot>.stride }
        }

        @inline(__always) private func summaryWord(_ hash: UInt64) -> (word: UnsafePointer<UInt64>, bit: Int)? {
            summary.map { summary in
                let bit = ProbeTable.summaryBit(hash, mask: summaryMask)
                return (summary + (bit >> 6), bit & 63)
            }
        }

        /// Starts loading the cache line a `find` of `hash` reads first: its summary word, or its home slot.
        @inline(__always) func prefetchFind(hash: UInt64) {
            if let (word, _) = summaryWord(hash) { cims_prefetch(word) } else if let slot = slot(hash) { cims_prefetch(slot) }
        }

        /// Starts loading the home slot of `hash` if the summary says an entry may have it, or always when the
        /// table has no summary. The summary is read through the table's own array (kept alive by this
        /// prefetcher), never through a saved address; best prefetched before with `prefetchFind`.
        @inline(__always) func prefetchSlot(ifSummaryMayHold hash: UInt64) {
            guard let slot = slot(hash) else { return }
            if let words = summaryWords, summaryMask != 0 {
                let bit = ProbeTable.summaryBit(hash, mask: summaryMask)
                if words[bit >> 6] & (1 << UInt64(bit & 63)) == 0 { return }
            }
            cims_prefetch(slot)
        }

        /// Starts loading the cache lines an `insert` of `hash` writes: its home slot and summary word.
        @inline(__always) func prefetchInsert(hash: UInt64) {
            if let slot = slot(hash) { cims_prefetch_for_write(slot) }
            if let (word, _) = summaryWord(hash) { cims_prefetch_for_write(word) }
        }
    }

    /// A prefetcher that can also check the summary (`prefetchSlot`): it keeps the summary alive, so take it
    /// once per batch, not per event.
    var checkingPrefetcher: Prefetcher { makePrefetcher(summaryWords: summary) }

    /// A prefetcher for prefetching only; cheap to take per event.
    var prefetcher: Prefetcher { makePrefetcher(summaryWords: nil) }

    private func makePrefetcher(summaryWords: [UInt64]?) -> Prefetcher {
        Prefetcher(
            slots: slots.withUnsafeBytes { $0.baseAddress }, mask: mask,
            summary: summaryMask == 0 ? nil : summary.withUnsafeBufferPointer { $0.baseAddress }, summaryMask: summaryMask,
            summaryWords: summaryWords)
    }

    /// Adds an entry the caller knows is absent.
    mutating func insert(hash: UInt64, payload: UInt64) {
        if (count + 1) * 2 > slots.count { grow() }
        var i = Int(truncatingIfNeeded: hash) & mask
        while slots[i].hash != 0 { i = (i + 1) & mask }
        slots[i] = Slot(hash: hash, payload: payload)
        count += 1
        if summaryMask != 0 {
            let bit = summaryBit(hash)
            summary[bit >> 6] |= 1 << UInt64(bit & 63)
        }
    }

    /// Adds entries the caller knows are absent: `hashes[i]` with payload `payload(i)`, prefetching the
    /// slots of later ones while inserting, so that filling a large table does not wait on memory for each.
    mutating func insertAll(hashes: [UInt64], payload: (Int) -> UInt64) {
        let ahead = 16
        for i in hashes.indices {
            if i + ahead < hashes.count { prefetcher.prefetchInsert(hash: hashes[i + ahead]) }
            insert(hash: hashes[i], payload: payload(i))
        }
    }

    /// Removes the entry with `hash` for which `matches` holds, if present.
    mutating func remove(hash: UInt64, where matches: (UInt64) -> Bool) {
        var i = Int(truncatingIfNeeded: hash) & mask
        while true {
            let slot = slots[i]
            if slot.hash == 0 { return }
            if slot.hash == hash && matches(slot.payload) { break }
            i = (i + 1) & mask
        }
        // Backward-shift: pull later entries of the same run into the hole when their home allows it.
        var hole = i
        var j = (i + 1) & mask
        while slots[j].hash != 0 {
            let home = Int(truncatingIfNeeded: slots[j].hash) & mask
            let distanceToJ = (j - home) & mask
            let distanceToHole = (hole - home) & mask
            if distanceToHole < distanceToJ {
                slots[hole] = slots[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        slots[hole] = Slot(hash: 0, payload: 0)
        count -= 1
    }

    /// Empties the table, keeping its capacity.
    mutating func removeAll() {
        for i in slots.indices { slots[i] = Slot(hash: 0, payload: 0) }
        count = 0
        if summaryMask != 0 { for i in summary.indices { summary[i] = 0 } }
    }

    /// An array of `count` zeroed elements; a large one is backed by huge pages where the system allows it,
    /// so that reads at random across it do not each miss the TLB.
    private static func zeroed<T: BitwiseCopyable>(count: Int) -> [T] {
        [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            HugePages.advise(raw)
            raw.initializeMemory(as: UInt8.self, repeating: 0)
            initialized = count
        }
    }

    private mutating func grow() {
        let old = slots
        slots = Self.zeroed(count: old.count * 2)
        mask = slots.count - 1
        count = 0
        if summaryMask != 0 { resetSummary() }
        for slot in old where slot.hash != 0 {
            insert(hash: slot.hash, payload: slot.payload)
        }
    }

    /// A stable, process-independent 64-bit hash of a string's UTF-8 bytes (FNV-1a, then a final mix). Never 0.
    @inline(__always)
    static func hash(of string: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        var s = string
        s.withUTF8 { bytes in
            for b in bytes {
                h ^= UInt64(b)
                h &*= 0x0000_0100_0000_01b3
            }
        }
        h ^= h >> 33
        h &*= 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        return h == 0 ? 1 : h
    }
}
