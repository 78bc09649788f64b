import Foundation
import IMSDomain
import Testing

/// The one blocking queue and the one-shot future IMS's threads hand work over with.
struct BlockingQueueTests {
    @Test func aQueueIsBoundedByCostUntilDoneAndAdmitsOneItemWhenEmpty() {
        let q = BlockingQueue<Int>(capacity: 10) { $0 }
        #expect(q.put(6, wait: false))
        #expect(!q.put(5, wait: false), "6 + 5 > 10")
        #expect(q.put(4, wait: false))
        // Taken but not done: still held.
        #expect(q.take(maxCost: 100) == [6, 4])
        #expect(q.pendingCost == 10)
        #expect(!q.put(1, wait: false))
        q.done(cost: 10)
        #expect(q.pendingCost == 0)
        // Nothing held: an item over the capacity is admitted alone.
        #expect(q.put(50, wait: false))
        #expect(!q.put(1, wait: false))
    }

    @Test func takeStopsAtMaxCostButTakesAtLeastOne() {
        let q = BlockingQueue<Int>(capacity: .max) { $0 }
        for n in [3, 3, 3, 9] { q.put(n) }
        #expect(q.take(maxCost: 7) == [3, 3])
        #expect(q.take(maxCost: 1) == [3], "at least one item, whatever its cost")
        #expect(q.take(maxCost: 1) == [9])
    }

    @Test func aWaitingProducerGoesOnWhenRoomIsMade() async throws {
        let q = BlockingQueue<Int>(capacity: 2)
        q.put(1); q.put(2)
        let admitted = BlockingFuture<Result<Bool, any Error>>.run(on: "test-producer") { q.put(3) }
        try await Task.sleep(for: .milliseconds(50))
        #expect(q.take() == [1, 2])
        q.done(cost: 2)
        #expect(try admitted.wait().get())
        #expect(q.take() == [3])
    }

    @Test func closeDrainsThenEndsAndCancelDrops() {
        let q = BlockingQueue<Int>()
        q.put(1)
        q.close()
        #expect(!q.put(2), "a closed queue refuses producers")
        q.pass([3])
        #expect(q.take() == [1, 3], "what was queued, and passed on from an earlier stage, is still taken")
        #expect(q.take() == nil)
        let c = BlockingQueue<Int>()
        c.put(1)
        c.cancel()
        #expect(c.take() == nil && c.pendingCost == 0)
    }

    /// How the engine's writer and journal thread share the apply queue: waiting takes nothing (so the thread
    /// that holds the drain lock takes everything queued, in order), and a closed queue ends the wait once empty.
    @Test func waitingTakesNothingAndTakeAvailableTakesAllInOrder() async throws {
        let q = BlockingQueue<Int>()
        #expect(q.takeAvailable().isEmpty)
        let woke = BlockingFuture<Bool>()
        Thread { woke.fulfil(q.waitForItems()) }.start()
        try await Task.sleep(for: .milliseconds(20))
        q.pass([1, 2])
        #expect(woke.wait())
        q.pass([3])
        #expect(q.waitForItems(), "items are still there after a wait")
        #expect(q.takeAvailable() == [1, 2, 3])
        #expect(q.pendingCost == 3, "what was taken stays held until done")
        q.done(cost: 3)
        q.pass([4])
        q.close()
        #expect(q.waitForItems() && q.takeAvailable() == [4])
        #expect(!q.waitForItems(), "closed and empty")
    }

    @Test func aFutureKeepsItsFirstValue() {
        let f = BlockingFuture<Int>()
        f.fulfil(1)
        f.fulfil(2)
        #expect(f.wait() == 1)
        let thrown = BlockingFuture<Result<Int, any Error>>.run(on: "test-throw") { throw CocoaError(.fileNoSuchFile) }
        #expect(throws: CocoaError.self) { try thrown.wait().get() }
    }
}
