import Foundation

/// Tables that grow all day without a stall: the day's locates and orders and their indexes.
///
/// A Swift `Array` or `Dictionary` that outgrows its storage moves every element into a new one, at once: a
/// dictionary of 800,000 string keys takes about 190 ms to rehash on the reference machine, 3 million about
/// 860 ms, and the decision that triggers it (with every decision queued behind it) waits that long. A desk's
/// books grow by every locate and every order validated, so on a busy day the decision path would stall for the
/// length of the day's table at each doubling. These types grow by small steps instead: `ChunkedArray` adds a
/// chunk and copies nothing, `ShardedDictionary` rehashes one of its 1,024 shards at a time (and not all of them
/// in one burst), `IndexBitSet` grows a word array an eighth of a byte per element. (docs/benchmarks.md,
/// session 25.)

/// An array stored in chunks of `chunkSize` elements: appending never moves what is there (a new chunk is
/// added when the last is full), and an element is changed in place.
public struct ChunkedArray<Element>: RandomAccessCollection, MutableCollection {
    public typealias Index = Int
    public typealias Indices = Range<Int>

    static var chunkShift: Int { 10 }
    static var chunkSize: Int { 1 << chunkShift }
    private var chunks: [[Element]] = []
    public private(set) var count = 0

    public init() {}

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }
    public var indices: Range<Int> { 0..<count }
    public func index(after i: Int) -> Int { i + 1 }
    public func index(before i: Int) -> Int { i - 1 }

    public subscript(i: Int) -> Element {
        get {
            precondition(i >= 0 && i < count, "ChunkedArray index out of range")
            return chunks[i &>> Self.chunkShift][i & (Self.chunkSize - 1)]
        }
        _modify {
            precondition(i >= 0 && i < count, "ChunkedArray index out of range")
            yield &chunks[i &>> Self.chunkShift][i & (Self.chunkSize - 1)]
        }
        set {
            precondition(i >= 0 && i < count, "ChunkedArray index out of range")
            chunks[i &>> Self.chunkShift][i & (Self.chunkSize - 1)] = newValue
        }
    }

    public mutating func append(_ element: Element) {
        if count & (Self.chunkSize - 1) == 0 {
            var chunk: [Element] = []
            chunk.reserveCapacity(Self.chunkSize)
            chunks.append(chunk)
        }
        chunks[chunks.count - 1].append(element)
        count += 1
    }
}

extension ChunkedArray: Sendable where Element: Sendable {}

/// Encoded as an array is (a snapshot's locates and orders are written so), without copying into one first.
extension ChunkedArray: Encodable where Element: Encodable {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        for element in self { try container.encode(element) }
    }
}

/// A dictionary kept in 1,024 shards picked by the key's hash: when it grows, one shard (about a thousandth of
/// the entries) is rehashed, never the whole table.
///
/// The shards are not all the same size: shard `s` takes a share of the keys proportional to `2^(s/1024)`, so
/// their sizes spread over one doubling and each reaches its next growth at a different total. With equal
/// shards all 1,024 would rehash within a few thousand inserts of each other (the same total work as one big
/// rehash, in one burst); spread, one shard grows every few hundred inserts, evenly over the doubling.
public struct ShardedDictionary<Key: Hashable, Value> {
    static var shardCount: Int { 1_024 }
    private var shards: [[Key: Value]] = Array(repeating: [:], count: shardCount)
    public private(set) var count = 0

    public init() {}

    /// The shard of `key`: the top 53 bits of its hash as `u` in [0, 1), and the shard whose share of [0, 1) holds
    /// it, shares growing as `2^(s/n)` (the inverse of `u = 2^(s/n) − 1`). Each shard's own table picks its
    /// buckets from the low bits of its own, differently seeded, hash.
    @inline(__always)
    static func shard(_ key: Key) -> Int {
        let u = Double(UInt64(UInt(bitPattern: key.hashValue)) &>> 11) * 0x1p-53
        return min(shardCount - 1, Int(Double(shardCount) * log2(1 + u)))
    }

    public var isEmpty: Bool { count == 0 }

    public subscript(key: Key) -> Value? {
        get { shards[Self.shard(key)][key] }
        set {
            let s = Self.shard(key)
            if let newValue {
                if shards[s].updateValue(newValue, forKey: key) == nil { count += 1 }
            } else if shards[s].removeValue(forKey: key) != nil {
                count -= 1
            }
        }
    }

    public subscript(key: Key, default defaultValue: @autoclosure () -> Value) -> Value {
        get { shards[Self.shard(key)][key] ?? defaultValue() }
        _modify {
            let s = Self.shard(key)
            let before = shards[s].count
            yield &shards[s][key, default: defaultValue()]
            count += shards[s].count - before
        }
    }

    @discardableResult
    public mutating func removeValue(forKey key: Key) -> Value? {
        let removed = shards[Self.shard(key)].removeValue(forKey: key)
        if removed != nil { count -= 1 }
        return removed
    }

    /// Removes the entries for which `shouldRemove` holds, shard by shard.
    public mutating func removeAll(where shouldRemove: (Key, Value) -> Bool) {
        for s in shards.indices where !shards[s].isEmpty {
            let before = shards[s].count
            shards[s] = shards[s].filter { !shouldRemove($0.key, $0.value) }
            count -= before - shards[s].count
        }
    }

    /// The most entries one shard holds: what one growth step rehashes at most.
    var largestShard: Int { shards.map(\.count).max() ?? 0 }

    /// Each shard's capacity (how many entries it holds before it next grows).
    var shardCapacities: [Int] { shards.map(\.capacity) }

    /// Every entry, shard by shard (in no particular order).
    public var entries: some Sequence<(key: Key, value: Value)> { shards.lazy.flatMap { $0.lazy.map { (key: $0.key, value: $0.value) } } }
}

extension ShardedDictionary: Sendable where Key: Sendable, Value: Sendable {}

/// A set of small non-negative integers (indices into a `ChunkedArray`) as one bit each: insert and remove
/// touch one word, iteration is in increasing order (over a copy: changing the set meanwhile does not disturb
/// it), and growing copies an eighth of a byte per element.
public struct IndexBitSet: Sendable, Sequence {
    private var words: [UInt64] = []
    public private(set) var count = 0

    public init() {}

    public var isEmpty: Bool { count == 0 }

    public func contains(_ i: Int) -> Bool {
        let w = i &>> 6
        return w < words.count && words[w] & (1 << UInt64(i & 63)) != 0
    }

    public mutating func insert(_ i: Int) {
        precondition(i >= 0, "IndexBitSet holds non-negative integers")
        let w = i &>> 6
        if w >= words.count { words.append(contentsOf: repeatElement(0, count: w - words.count + 1)) }
        let bit: UInt64 = 1 << UInt64(i & 63)
        if words[w] & bit == 0 {
            words[w] |= bit
            count += 1
        }
    }

    public mutating func remove(_ i: Int) {
        let w = i &>> 6
        guard w < words.count else { return }
        let bit: UInt64 = 1 << UInt64(i & 63)
        if words[w] & bit != 0 {
            words[w] &= ~bit
            count -= 1
        }
    }

    public struct Iterator: IteratorProtocol {
        let words: [UInt64]
        var w = 0
        var current: UInt64

        init(_ words: [UInt64]) {
            self.words = words
            current = words.first ?? 0
        }

        public mutating func next() -> Int? {
            while current == 0 {
                w += 1
                guard w < words.count else { return nil }
                current = words[w]
            }
            let bit = current.trailingZeroBitCount
            current &= current - 1
            return w << 6 | bit
        }
    }

    public func makeIterator() -> Iterator { Iterator(words) }
}
