import Foundation
import IMSDomain
import IMSRuntime
import Synchronization

/// The operations view's figures over the last hour, kept by the server so that the view starts with them
///: every `interval` seconds, the events applied per second, the writer's time per drain (p50
/// and p99 of the drains in the interval) and the change feed's lag (its slowest consumer). In memory only,
/// not in the snapshot: a restart starts a new hour. `GET /metrics/history` serves it.
public final class OperationsHistory: Sendable {
    public struct Point: Sendable, Equatable {
        /// The end of the interval, seconds since 1970.
        public var time: Double
        public var eventsPerSecond: Double
        /// Nil when no drain ran in the interval.
        public var applyP50Milliseconds: Double?
        public var applyP99Milliseconds: Double?
        public var feedLag: Int64
    }

    public let interval: Double
    public let capacity: Int
    /// Drain times by bucket (upper bounds in nanoseconds, the metrics' latency buckets, then +∞), counted
    /// since the last sample.
    private let bounds: [UInt64]
    private let drains: Mutex<[Int64]>
    private let accepted = Atomic<Int64>(0)
    private let points = Mutex<[Point]>([])

    /// A `OperationsHistory` from its fields.
    public init(interval: Double = 10, capacity: Int = 360) {
        self.interval = interval
        self.capacity = capacity
        bounds = IMSMetrics.latencyBuckets.map { UInt64($0.components.seconds) * 1_000_000_000 + UInt64($0.components.attoseconds / 1_000_000_000) }
        drains = Mutex(Array(repeating: 0, count: bounds.count + 1))
    }

    /// A drain took `nanoseconds` (the engine's observer, once per drain).
    func drained(nanoseconds: UInt64) {
        let i = bounds.firstIndex { nanoseconds <= $0 } ?? bounds.count
        drains.withLock { $0[i] += 1 } // the writer's thread, once per drain: an uncontended lock
    }

    /// Events accepted and applied (the metrics' change-feed consumer, per drain).
    func accepted(_ events: Int) { accepted.add(Int64(events), ordering: .relaxed) }

    /// Closes the interval that ends now: its figures become a point (the oldest beyond an hour dropped).
    func sample(at time: Double, seconds: Double, feedLag: Int64) {
        let counts = drains.withLock { counts in
            defer { for i in counts.indices { counts[i] = 0 } }
            return counts
        }
        let events = accepted.exchange(0, ordering: .relaxed)
        let total = counts.reduce(0, +)
        // A quantile as the upper bound of the bucket it falls in (as the view computed it from /metrics).
        func quantile(_ q: Double) -> Double? {
            guard total > 0 else { return nil }
            var seen: Int64 = 0
            for (i, c) in counts.enumerated() {
                seen += c
                if Double(seen) >= q * Double(total) { return i < bounds.count ? Double(bounds[i]) / 1e6 : .infinity }
            }
            return nil
        }
        let p99 = quantile(0.99)
        let point = Point(
            time: time, eventsPerSecond: Double(events) / max(seconds, 0.001), applyP50Milliseconds: quantile(0.5),
            applyP99Milliseconds: p99.map { $0.isFinite ? $0 : Double(bounds.last!) / 1e6 }, feedLag: feedLag)
        points.withLock { list in
            list.append(point)
            if list.count > capacity { list.removeFirst(list.count - capacity) }
        }
    }

    public var history: [Point] { points.withLock { $0 } }

    /// Samples `engine` every `interval` seconds on a thread of its own, until the process ends.
    func start(sampling engine: Engine) {
        let thread = Thread.named("ims-operations-history") { [self] in
            var last = Date()
            while true {
                Thread.sleep(forTimeInterval: interval)
                let now = Date()
                // A dozing consumer (the stream hub with nobody connected) has no backlog, whatever its lag.
                let lag = engine.feed.consumers().filter { !$0.dozing }.map(\.lag).max() ?? 0
                sample(at: now.timeIntervalSince1970, seconds: now.timeIntervalSince(last), feedLag: Int64(lag))
                last = now
            }
        }
        thread.start()
    }

    /// `GET /metrics/history`'s body.
    var json: String {
        func number(_ v: Double?) -> String {
            guard let v, v.isFinite else { return "null" }
            return String(format: "%.3f", v)
        }
        let items = history.map { p in
            "{\"time\":\(number(p.time)),\"eventsPerSecond\":\(number(p.eventsPerSecond)),\"applyP50Milliseconds\":\(number(p.applyP50Milliseconds)),"
                + "\"applyP99Milliseconds\":\(number(p.applyP99Milliseconds)),\"feedLag\":\(p.feedLag)}"
        }
        return "{\"intervalSeconds\":\(number(interval)),\"points\":[" + items.joined(separator: ",") + "]}"
    }
}
