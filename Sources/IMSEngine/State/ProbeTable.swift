/// An open-addressing hash index from a stored 64-bit hash to a 64-bit payload, the keys living elsewhere.
///
/// The engine's string-keyed indexes (interned ids, trade ids) keep their keys
/// in arrays they already own; this table keeps only each entry's hash and
/// payload, so growing it never re-hashes a string and a probe touches one
/// cache line. Linear probing, load factor at most one half, deletion by
/// backward shift (no tombstones). Callers decide equality with a closure
/// that compares the key behind a payload.
struct ProbeTable: Sendable {
    /// Hash of each slot's entry; 0 marks an empty slot (`hash(of:)` never returns 0).
    private var hashes: [UInt64]
    private var payloads: [UInt64]
    private var mask: Int
    private(set) var count = 0

    init(minimumCapacity: Int = 16) {
        var size = 16
        while size < minimumCapacity * 2 { size <<= 1 }
        hashes = Array(repeating: 0, count: size)
        payloads = Array(repeating: 0, count: size)
        mask = size - 1
    }

    /// The payload of the entry with `hash` for which `matches` holds.
    @inline(__always)
    func find(hash: UInt64, where matches: (UInt64) -> Bool) -> UInt64? {
        var i = Int(truncatingIfNeeded: hash) & mask
        while true {
            let h = hashes[i]
            if h == 0 { return nil }
            if h == hash && matches(payloads[i]) { return payloads[i] }
            i = (i + 1) & mask
        }
    }

    /// Adds an entry the caller knows is absent.
    mutating func insert(hash: UInt64, payload: UInt64) {
        if (count + 1) * 2 > hashes.count { grow() }
        var i = Int(truncatingIfNeeded: hash) & mask
        while hashes[i] != 0 { i = (i + 1) & mask }
        hashes[i] = hash
        payloads[i] = payload
        count += 1
    }

    /// Removes the entry with `hash` for which `matches` holds, if present.
    mutating func remove(hash: UInt64, where matches: (UInt64) -> Bool) {
        var i = Int(truncatingIfNeeded: hash) & mask
        while true {
            let h = hashes[i]
            if h == 0 { return }
            if h == hash && matches(payloads[i]) { break }
            i = (i + 1) & mask
        }
        // Backward-shift: pull later entries of the same run into the hole when their home allows it.
        var hole = i
        var j = (i + 1) & mask
        while hashes[j] != 0 {
            let home = Int(truncatingIfNeeded: hashes[j]) & mask
            let distanceToJ = (j - home) & mask
            let distanceToHole = (hole - home) & mask
            if distanceToHole < distanceToJ {
                hashes[hole] = hashes[j]
                payloads[hole] = payloads[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        hashes[hole] = 0
        payloads[hole] = 0
        count -= 1
    }

    /// Empties the table, keeping its capacity.
    mutating func removeAll() {
        for i in hashes.indices { hashes[i] = 0 }
        count = 0
    }

    private mutating func grow() {
        let oldHashes = hashes, oldPayloads = payloads
        hashes = Array(repeating: 0, count: oldHashes.count * 2)
        payloads = Array(repeating: 0, count: oldHashes.count * 2)
        mask = hashes.count - 1
        count = 0
        for i in oldHashes.indices where oldHashes[i] != 0 {
            insert(hash: oldHashes[i], payload: oldPayloads[i])
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
