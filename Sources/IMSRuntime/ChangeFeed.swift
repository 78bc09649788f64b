import DequeModule
import Foundation
import IMSDomain
import IMSEngine

/// The engine's output: a bounded in-process bus of `ChangeRecord`s with one cursor per consumer.
///
/// The Disruptor shape (as in LMAX and exchange-core): one publisher (the writer, once per drain), records
/// numbered 1, 2, 3…, and each consumer reading at its own pace through its own `Cursor`. The writer never
/// waits for a consumer: the bus keeps at most `capacity` records and `maxItems` changed items, dropping the
/// oldest, and a consumer whose next record was dropped is told it lagged (`Read.lagged`), with what it
/// missed, and moves to the oldest record kept. It then resynchronises from the state (the read model
/// rebuilds, a stream subscriber is sent a fresh snapshot). Consumers coalesce on their own side (the read
/// model keeps the latest value per item, the stream hub a set of keys per subscriber).
///
/// A cursor may follow another (`after:`): it is only given records the upstream cursor has finished with,
/// the Disruptor's dependency barrier. The stream hub follows the read model, so what it routes is already
/// readable there.
///
/// `@unchecked Sendable` (the feed and its cursors): every stored `var` is read and written with the feed's
/// `condition` held. It stays a condition variable of its own, not a `BlockingQueue`: it is a ring read by
/// many cursors, each at its own place, not a queue with one consumer.
public final class ChangeFeed: @unchecked Sendable {
    /// What a consumer's `next` gave.
    public enum Read: Sendable {
        /// The next records, in order.
        case records([ChangeRecord])
        /// The records `missed` were dropped before this consumer read them; it now reads from `missed.upperBound + 1`.
        case lagged(missed: ClosedRange<UInt64>)
        /// Nothing new within the wait.
        case timedOut
        /// The feed was closed and this consumer has read everything.
        case closed
    }

    /// The most records kept.
    public let capacity: Int
    /// The most changed items kept, over all records kept (each record is kept whole).
    public let maxItems: Int

    private let condition = NSCondition()
    private var records: Deque<ChangeRecord> = []
    /// The feed sequence of `records.first`.
    private var firstKept: UInt64 = 1
    /// The sequence the next record gets.
    private var nextSequence: UInt64 = 1
    private var items = 0
    private var isClosed = false
    private var cursors: [ObjectIdentifier: WeakCursor] = [:]

    /// A `ChangeFeed` from its fields.
    public init(capacity: Int = 4_096, maxItems: Int = 262_144, startingAfter sequence: UInt64 = 0) {
        precondition(capacity > 0 && maxItems > 0)
        self.capacity = capacity
        self.maxItems = maxItems
        firstKept = sequence + 1
        nextSequence = sequence + 1
    }

    /// The sequence of the last record published (0 before the first).
    public var lastPublished: UInt64 {
        condition.lock(); defer { condition.unlock() }
        return nextSequence - 1
    }

    /// Publishes a record, numbering it; drops the oldest records past the bounds. Never waits.
    @discardableResult
    public func publish(_ record: consuming ChangeRecord) -> UInt64 {
        condition.lock()
        let sequence = nextSequence
        record.feedSequence = sequence
        items += record.itemCount
        records.append(record)
        nextSequence += 1
        while records.count > 1 && (records.count > capacity || items > maxItems) {
            items -= records.removeFirst().itemCount
            firstKept += 1
        }
        condition.broadcast()
        condition.unlock()
        return sequence
    }

    /// Ends the feed: consumers read what is kept, then get `.closed`.
    public func close() {
        condition.lock()
        isClosed = true
        condition.broadcast()
        condition.unlock()
    }

    /// A new consumer, reading from the next record published (or after `upstream` has finished with each).
    public func cursor(named name: String, after upstream: Cursor? = nil) -> Cursor {
        condition.lock(); defer { condition.unlock() }
        let cursor = Cursor(feed: self, name: name, position: nextSequence - 1, upstream: upstream)
        cursors[ObjectIdentifier(cursor)] = WeakCursor(cursor: cursor)
        return cursor
    }

    /// Every live consumer: its name, the last record it finished, and how many published records it has not.
    public func consumers() -> [(name: String, position: UInt64, lag: UInt64)] {
        condition.lock(); defer { condition.unlock() }
        cursors = cursors.filter { $0.value.cursor != nil }
        return cursors.values.compactMap(\.cursor).map { ($0.name, $0.finished, nextSequence - 1 - $0.finished) }
            .sorted { $0.name < $1.name }
    }

    /// One consumer's place on the feed.
    public final class Cursor: @unchecked Sendable {
        public let name: String
        private let feed: ChangeFeed
        private let upstream: Cursor?
        /// The last record handed out (guarded by the feed's lock).
        fileprivate var read: UInt64
        /// The last record this consumer has finished with (guarded by the feed's lock).
        fileprivate var finished: UInt64

        fileprivate init(feed: ChangeFeed, name: String, position: UInt64, upstream: Cursor?) {
            self.feed = feed
            self.name = name
            self.read = position
            self.finished = position
            self.upstream = upstream
        }

        /// The last record this consumer has finished with.
        public var position: UInt64 {
            feed.condition.lock(); defer { feed.condition.unlock() }
            return finished
        }

        /// Moves the cursor to just after `sequence` (after a resynchronisation from a state that already
        /// reflects it).
        public func reset(after sequence: UInt64) {
            feed.condition.lock()
            read = sequence
            finished = sequence
            feed.condition.broadcast()
            feed.condition.unlock()
        }

        /// The next records (at most `max`), waiting up to `timeout` seconds for one. Marks what was handed
        /// out before as finished.
        public func next(max: Int = .max, timeout: Double) -> Read {
            let feed = self.feed
            feed.condition.lock(); defer { feed.condition.unlock() }
            if finished < read {
                finished = read
                feed.condition.broadcast()
            }
            let deadline = Date().addingTimeInterval(timeout)
            while true {
                if read + 1 < feed.firstKept {
                    let missed = (read + 1)...(feed.firstKept - 1)
                    read = feed.firstKept - 1
                    finished = read
                    feed.condition.broadcast()
                    return .lagged(missed: missed)
                }
                let limit = upstream.map { Swift.min($0.finished, feed.nextSequence - 1) } ?? feed.nextSequence - 1
                if read < limit {
                    let from = Int(read + 1 - feed.firstKept)
                    let count = Swift.min(Int(limit - read), max)
                    let out = Array(feed.records[from..<(from + count)])
                    read += UInt64(count)
                    return .records(out)
                }
                if feed.isClosed && (upstream == nil || limit == feed.nextSequence - 1) { return .closed }
                if !feed.condition.wait(until: deadline) { return .timedOut }
            }
        }

        /// Runs this consumer on a thread of its own, the one loop every consumer of the feed shares: `body`
        /// gets each read (records, a lag notice, or `.timedOut` after a second of quiet, for a consumer that
        /// must look around) and returns whether to go on; records are marked finished once `body` returns,
        /// so dependent cursors see them only then. `closed` runs once the feed has closed and this consumer
        /// has read everything.
        public func consume(on threadName: String, _ body: @escaping @Sendable (Read) -> Bool, closed: @escaping @Sendable () -> Void = {}) {
            let thread = Thread { [self] in
                while true {
                    let read = next(timeout: 1)
                    if case .closed = read {
                        closed()
                        return
                    }
                    guard body(read) else { return }
                    if case .records = read { finish() }
                }
            }
            thread.name = threadName
            thread.start()
        }

        /// Marks everything handed out as finished, so that cursors after this one may read it.
        public func finish() {
            feed.condition.lock()
            finished = read
            feed.condition.broadcast()
            feed.condition.unlock()
        }
    }

    private struct WeakCursor {
        weak var cursor: Cursor?
    }
}
