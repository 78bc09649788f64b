import Foundation
import Testing

@testable import IMSServer

/// The operations view's last hour (issue 26, 9): each interval's events per second and drain-time quantiles
/// (the upper bound of the bucket they fall in, as the view computes them from /metrics), bounded to an hour.
struct OperationsHistoryTests {
    @Test func eachIntervalBecomesAPointAndTheHourIsBounded() throws {
        let history = OperationsHistory(interval: 10, capacity: 3)
        for _ in 0..<98 { history.drained(nanoseconds: 900_000) } // ≤ 1 ms
        for _ in 0..<2 { history.drained(nanoseconds: 40_000_000) } // ≤ 50 ms
        history.accepted(300)
        history.accepted(200)
        history.sample(at: 1_000, seconds: 10, feedLag: 7)
        let first = try #require(history.history.first)
        #expect(first == OperationsHistory.Point(time: 1_000, eventsPerSecond: 50, applyP50Milliseconds: 1, applyP99Milliseconds: 50, feedLag: 7))
        // The next interval starts from nothing: no drain, no events, no quantile.
        history.sample(at: 1_010, seconds: 10, feedLag: 0)
        #expect(
            history.history.last == OperationsHistory.Point(time: 1_010, eventsPerSecond: 0, applyP50Milliseconds: nil, applyP99Milliseconds: nil, feedLag: 0))
        #expect(history.json.contains(#""applyP50Milliseconds":null"#))
        // A drain slower than the last bucket counts at the last bound.
        history.drained(nanoseconds: 60_000_000_000)
        history.sample(at: 1_020, seconds: 10, feedLag: 0)
        #expect(history.history.last?.applyP99Milliseconds == 10_000)
        history.sample(at: 1_030, seconds: 10, feedLag: 0)
        #expect(history.history.map(\.time) == [1_010, 1_020, 1_030], "the oldest beyond the capacity is dropped")
        let json = try JSONSerialization.jsonObject(with: Data(history.json.utf8)) as? [String: Any]
        #expect(json?["intervalSeconds"] as? Double == 10 && (json?["points"] as? [Any])?.count == 3)
    }
}
