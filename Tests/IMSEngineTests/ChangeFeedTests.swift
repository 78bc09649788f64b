import Foundation
import IMSDomain
import IMSRuntime
import Synchronization
import Testing

@testable import IMSEngine

/// The change feed as a pure state machine: cursors, bounds, lag notices, dependencies.
struct ChangeFeedTests {
    /// A record with `items` changed exceptions (the cheapest item to make).
    static func record(items: Int = 1, sequence: Int64 = 0) -> ChangeRecord {
        var r = ChangeRecord()
        r.lastSequence = sequence
        r.itemCount = items // counted once when a record is taken; set by hand for a record made here
        r.exceptions = (0..<items).map {
            ExceptionRecord(exceptionId: Int64($0), kind: .feedGap, sequence: sequence, message: "", receivedAt: Timestamp(micros: 0))
        }
        return r
    }

    static func sequences(_ read: ChangeFeed.Read) -> [UInt64] {
        if case .records(let rs) = read { return rs.map(\.feedSequence) }
        return []
    }

    @Test func aCursorReadsEveryRecordInOrderFromWhereItJoined() {
        let feed = ChangeFeed(capacity: 16)
        feed.publish(Self.record())
        let cursor = feed.cursor(named: "a")
        for n in 1...5 { feed.publish(Self.record(sequence: Int64(n))) }
        #expect(Self.sequences(cursor.next(max: 3, timeout: 0)) == [2, 3, 4])
        #expect(Self.sequences(cursor.next(timeout: 0)) == [5, 6])
        guard case .timedOut = cursor.next(timeout: 0.01) else { Issue.record("nothing new should time out"); return }
        #expect(feed.lastPublished == 6)
    }

    @Test func theWriterNeverWaitsAndASlowConsumerIsToldWhatItMissed() {
        let feed = ChangeFeed(capacity: 4)
        let slow = feed.cursor(named: "slow")
        let fast = feed.cursor(named: "fast")
        for _ in 1...3 { feed.publish(Self.record()) }
        #expect(Self.sequences(fast.next(timeout: 0)) == [1, 2, 3])
        fast.finish()
        for _ in 4...10 { feed.publish(Self.record()) } // the slow one never reads: publishing goes on
        guard case .lagged(let missed) = slow.next(timeout: 0) else { Issue.record("expected a lag notice"); return }
        #expect(missed == 1...6)
        #expect(Self.sequences(slow.next(timeout: 0)) == [7, 8, 9, 10])
        // The fast consumer was not held back, and lost nothing it could still read.
        guard case .lagged(let fastMissed) = fast.next(timeout: 0) else { Issue.record("the fast one also fell 3 behind the 4 kept"); return }
        #expect(fastMissed == 4...6)
        let lags = Dictionary(uniqueKeysWithValues: feed.consumers().map { ($0.name, $0.lag) })
        #expect(lags["slow"] == 4 && lags["fast"] == 4)
    }

    @Test func theFeedKeepsAtMostItsItemsBoundButAlwaysTheNewestRecord() {
        let feed = ChangeFeed(capacity: 100, maxItems: 10)
        let cursor = feed.cursor(named: "c")
        feed.publish(Self.record(items: 4))
        feed.publish(Self.record(items: 4))
        feed.publish(Self.record(items: 4)) // 12 > 10: the first goes
        guard case .lagged(let missed) = cursor.next(timeout: 0) else { Issue.record("expected a lag notice"); return }
        #expect(missed == 1...1)
        feed.publish(Self.record(items: 50)) // larger than the bound on its own: kept alone
        guard case .lagged(let more) = cursor.next(timeout: 0) else { Issue.record("expected a lag notice"); return }
        #expect(more == 2...3)
        #expect(Self.sequences(cursor.next(timeout: 0)) == [4])
    }

    @Test func aDependentCursorOnlySeesWhatItsUpstreamFinished() {
        let feed = ChangeFeed()
        let upstream = feed.cursor(named: "read-model")
        let downstream = feed.cursor(named: "stream-hub", after: upstream)
        for _ in 1...3 { feed.publish(Self.record()) }
        guard case .timedOut = downstream.next(timeout: 0.01) else { Issue.record("nothing is finished upstream yet"); return }
        #expect(Self.sequences(upstream.next(max: 2, timeout: 0)) == [1, 2])
        guard case .timedOut = downstream.next(timeout: 0.01) else { Issue.record("handed out is not finished"); return }
        upstream.finish()
        #expect(Self.sequences(downstream.next(timeout: 0)) == [1, 2])
        // A downstream consumer waiting for its upstream wakes when the upstream finishes.
        let woke = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var got: [UInt64] = []
        Thread {
            got = Self.sequences(downstream.next(timeout: 10))
            woke.signal()
        }.start()
        Thread.sleep(forTimeInterval: 0.05)
        _ = upstream.next(timeout: 0)
        upstream.finish()
        #expect(woke.wait(timeout: .now() + 10) == .success)
        #expect(got == [3])
    }

    @Test func closingLetsConsumersDrainThenEnds() {
        let feed = ChangeFeed()
        let cursor = feed.cursor(named: "c")
        feed.publish(Self.record())
        feed.close()
        #expect(Self.sequences(cursor.next(timeout: 0)) == [1])
        guard case .closed = cursor.next(timeout: 0) else { Issue.record("expected closed"); return }
    }

    @Test func aResetCursorCarriesOnAfterTheStateItResynchronisedFrom() {
        let feed = ChangeFeed(capacity: 2)
        let cursor = feed.cursor(named: "c")
        for _ in 1...5 { feed.publish(Self.record()) }
        cursor.reset(after: feed.lastPublished)
        feed.publish(Self.record())
        #expect(Self.sequences(cursor.next(timeout: 0)) == [6])
    }

    @Test func aPublisherClaimsARecordOnlyForAnIdleCaughtUpCursor() {
        let feed = ChangeFeed()
        let model = feed.cursor(named: "read-model")
        let hub = feed.cursor(named: "stream-hub", after: model)
        // Idle and caught up: the record is handed over at once and never read again.
        let first = feed.publish(Self.record(sequence: 1), claimingFor: model)
        #expect(first.sequence == 1 && first.claimed?.feedSequence == 1 && first.claimed?.lastSequence == 1)
        guard case .timedOut = hub.next(timeout: 0.01) else { Issue.record("a claimed record is not finished until its claimant says so"); return }
        model.finish()
        #expect(Self.sequences(hub.next(timeout: 0)) == [1])
        guard case .timedOut = model.next(timeout: 0.01) else { Issue.record("a claimed record is not read again"); return }
        // Holding records it was handed (not finished): the next one waits for it, in order.
        feed.publish(Self.record(sequence: 2))
        #expect(Self.sequences(model.next(timeout: 0)) == [2])
        let held = feed.publish(Self.record(sequence: 3), claimingFor: model)
        #expect(held.claimed == nil)
        #expect(Self.sequences(model.next(timeout: 0)) == [3])
        // Behind (a record it has not read): not claimed either.
        feed.publish(Self.record(sequence: 4))
        model.finish()
        #expect(feed.publish(Self.record(sequence: 5), claimingFor: model).claimed == nil)
        #expect(Self.sequences(model.next(timeout: 0)) == [4, 5])
        // A cursor that follows another is never claimed for.
        #expect(feed.publish(Self.record(sequence: 6), claimingFor: hub).claimed == nil)
    }

    @Test func aPublishWakesTheConsumersThatCanReadItAndAFinishWakesItsFollowers() {
        let feed = ChangeFeed()
        let model = feed.cursor(named: "read-model")
        let hub = feed.cursor(named: "stream-hub", after: model)
        let woke = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var modelGot: [UInt64] = [], hubGot: [UInt64] = []
        Thread {
            modelGot = Self.sequences(model.next(timeout: 10))
            woke.signal()
        }.start()
        Thread {
            hubGot = Self.sequences(hub.next(timeout: 10))
            woke.signal()
        }.start()
        Thread.sleep(forTimeInterval: 0.05)
        feed.publish(Self.record())
        #expect(woke.wait(timeout: .now() + 10) == .success)
        #expect(modelGot == [1] && hubGot.isEmpty, "only the read model can read it yet")
        model.finish()
        #expect(woke.wait(timeout: .now() + 10) == .success)
        #expect(hubGot == [1])
        // A claimed record wakes nobody until it is finished, then its followers.
        Thread {
            hubGot = Self.sequences(hub.next(timeout: 10))
            woke.signal()
        }.start()
        Thread.sleep(forTimeInterval: 0.05)
        let claimed = feed.publish(Self.record(), claimingFor: model)
        #expect(claimed.claimed != nil)
        #expect(woke.wait(timeout: .now() + 0.1) == .timedOut)
        model.finish()
        #expect(woke.wait(timeout: .now() + 10) == .success)
        #expect(hubGot == [2])
    }
}

/// A large record dropped from the feed is freed on the reclaiming thread, not by the publisher (the journal
/// thread, with decisions waiting); a small one where it is dropped.
struct ChangeRecordReclaimerTests {
    @Test func aLargeDroppedRecordIsFreedOffThePublishersThread() async throws {
        let feed = ChangeFeed(capacity: 1)
        let before = ChangeRecordReclaimer.handedOver.load(ordering: .relaxed)
        feed.publish(ChangeFeedTests.record(items: ChangeRecordReclaimer.largeItems))
        feed.publish(ChangeFeedTests.record()) // drops the large one
        let handed = ChangeRecordReclaimer.handedOver.load(ordering: .relaxed)
        #expect(handed >= before + 1)
        // The reclaiming thread frees it (and whatever other tests handed over) soon.
        var waited = 0
        while ChangeRecordReclaimer.reclaimed.load(ordering: .relaxed) < handed && waited < 500 {
            try await Task.sleep(for: .milliseconds(10))
            waited += 1
        }
        #expect(ChangeRecordReclaimer.reclaimed.load(ordering: .relaxed) >= handed)
        #expect(feed.lastPublished == 2)
    }
}
