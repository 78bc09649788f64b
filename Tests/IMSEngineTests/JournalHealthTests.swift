import IMSDomain
import IMSEngine
import Testing

@testable import IMSRuntime

/// The journal's health as a state machine: failures accumulate under the first one's time, the outage's
/// notice is pending while failing, a success recovers once.
struct JournalHealthTests {
    @Test func failuresAccumulateAndASuccessRecoversOnce() {
        var h = JournalHealth.healthy
        #expect(!h.failing && h.pendingNotice == nil && h.refusedBatches == 0)
        h.failed("disk full", batches: 2, at: Timestamp(micros: 10))
        h.failed("disk still full", batches: 3, at: Timestamp(micros: 20))
        #expect(h == .failing(since: Timestamp(micros: 10), lastError: "disk still full", refusedBatches: 5))
        let notice = h.pendingNotice
        #expect(notice?.kind == .journalWriteFailed && notice?.at == Timestamp(micros: 10))
        #expect(notice?.message.contains("5 batches refused") == true && notice?.message.contains("disk still full") == true)
        let recovered = h.succeeded()
        #expect(recovered)
        #expect(h == .healthy && h.pendingNotice == nil && h.lastError == nil)
        let again = h.succeeded()
        #expect(!again, "a success while healthy is not a recovery")
        // A new outage starts its own count and time.
        h.failed("io error", batches: 1, at: Timestamp(micros: 30))
        #expect(h.failingSince == Timestamp(micros: 30) && h.refusedBatches == 1)
    }
}
