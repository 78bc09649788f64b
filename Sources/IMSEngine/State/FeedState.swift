import IMSDomain

/// What IMS remembers of one source feed's sequence numbers: the highest seen and the holes below it.
///
/// An event whose stamp is at or below `high` and not in a hole was seen before: a duplicate, ignored.
/// One above `high + 1` opens a hole (a `FEED_GAP` exception); a late event that falls in a hole fills it.
struct FeedState: Sendable, Hashable {
    var high: Int64 = 0
    /// Missing sequence numbers below `high`, as ascending, disjoint ranges; at most `maximumGaps` kept.
    var gaps: [ClosedRange<Int64>] = []

    static let maximumGaps = 1_000

    enum Arrival: Equatable {
        case next
        /// Ahead of the next expected number; the range skipped.
        case gap(ClosedRange<Int64>)
        /// Fills (part of) a hole left earlier.
        case late
        case duplicate
    }

    /// Records the arrival of `sequence` and says what it was.
    /// Safe for any `Int64` (validation bounds stamps to `InputBounds.maxFeedSequence`, but a snapshot written
    /// before that bound may hold a higher `high`).
    mutating func receive(_ sequence: Int64) -> Arrival {
        if sequence > high && sequence - 1 == high {
            high = sequence
            return .next
        }
        if sequence > high {
            let skipped = (high + 1)...(sequence - 1)
            gaps.append(skipped)
            if gaps.count > Self.maximumGaps { gaps.removeFirst(gaps.count - Self.maximumGaps) }
            high = sequence
            return .gap(skipped)
        }
        guard let i = gaps.firstIndex(where: { $0.contains(sequence) }) else { return .duplicate }
        let hole = gaps[i]
        var pieces: [ClosedRange<Int64>] = []
        if hole.lowerBound < sequence { pieces.append(hole.lowerBound...(sequence - 1)) }
        if sequence < hole.upperBound { pieces.append((sequence + 1)...hole.upperBound) }
        gaps.replaceSubrange(i...i, with: pieces)
        return .late
    }

    /// Records the arrival of `sequence` on a feed whose numbers only rise and may skip (a topic partition's
    /// offsets): above `high` it is next, anything else was seen before.
    mutating func rise(to sequence: Int64) -> Arrival {
        guard sequence > high else { return .duplicate }
        high = sequence
        return .next
    }
}

/// The source feeds IMS has seen, one part of the state: what each feed's sequence numbers say about an
/// arriving event (next, a gap, a late one filling a hole, a duplicate), and its own snapshot section. The
/// state and the read model each hold one.
struct SourceFeeds: Sendable, Hashable {
    private(set) var byId: [String: FeedState] = [:]

    var isEmpty: Bool { byId.isEmpty }
    subscript(id: String) -> FeedState? { byId[id] }

    /// Records `stamp`'s arrival on its feed and says what it was.
    mutating func receive(_ stamp: FeedStamp) -> FeedState.Arrival {
        if stamp.isTopicOffset { return byId[stamp.feedId, default: FeedState()].rise(to: stamp.sequence) }
        return byId[stamp.feedId, default: FeedState()].receive(stamp.sequence)
    }

    /// The feeds in id order.
    var sorted: [(id: String, state: FeedState)] { byId.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }

    // MARK: Snapshot section

    func encode(to w: inout BinaryWriter) {
        let feeds = sorted
        w.writeCount(feeds.count)
        for (id, feed) in feeds {
            w.write(id)
            w.writeVarint(feed.high)
            w.writeCount(feed.gaps.count)
            for g in feed.gaps { w.writeVarint(g.lowerBound); w.writeVarint(g.upperBound) }
        }
    }

    mutating func decode(from r: inout BinaryReader) throws(BinaryFormatError) {
        for _ in 0..<(try r.readCount()) {
            let id = try r.readString()
            var feed = FeedState(high: try r.readVarInt())
            for _ in 0..<(try r.readCount()) {
                let low = try r.readVarInt(), high = try r.readVarInt()
                guard low <= high else { throw BinaryFormatError("snapshot feed gap \(low)…\(high) is inverted") }
                feed.gaps.append(low...high)
            }
            byId[id] = feed
        }
    }
}

extension EngineState {
    /// Checks a stamped event against its feed; false for a duplicate, which must not be applied.
    mutating func admit(_ stamp: FeedStamp, sequence: Int64, at time: Timestamp) -> Bool {
        switch feeds.receive(stamp) {
        case .next, .late:
            return true
        case .duplicate:
            return false
        case .gap(let skipped):
            let count = skipped.upperBound - skipped.lowerBound + 1
            raise(
                .feedGap, sequence: sequence,
                message:
                    "feed \(stamp.feedId) jumped to \(stamp.sequence): \(count) event\(count == 1 ? "" : "s") (\(skipped.lowerBound)…\(skipped.upperBound)) missing so far; they are applied if they arrive",
                subject: stamp.feedId, at: time)
            return true
        }
    }
}

extension EngineState {
    /// The highest sequence seen on source feed `id` (for a topic partition, the offset to resume from), or
    /// nil if it never sent one.
    public func feedHigh(_ id: String) -> Int64? { feeds[id]?.high }
}
