import Foundation
import IMSDomain
import IMSEngine
import Testing

@testable import IMSJournal

/// `--fsync <N>ms` bounds the loss window also when traffic stops: a timer syncs the unsynced tail.
struct SyncTimerTests {
    @Test func theTailIsSyncedWithinTheIntervalWhenNoFurtherAppendComes() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let journal = try SegmentedJournal(directory: dir.path + "/journal", after: JournalScan(), policy: .intervalMillis(50))
        let entry = JournalEntry.notice(Notice(kind: .journalTruncated, message: "test", at: Timestamp(micros: 1)))
        _ = try journal.append([entry])
        _ = try journal.append([entry])
        #expect(!journal.isSynced, "an append inside the interval is not synced at once")
        Thread.sleep(forTimeInterval: 0.4)
        #expect(journal.isSynced, "the timer synced it although nothing else was appended")
    }

    @Test func everyBatchIsAlwaysSynced() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let journal = try SegmentedJournal(directory: dir.path + "/journal", after: JournalScan(), policy: .everyBatch)
        _ = try journal.append([JournalEntry.notice(Notice(kind: .journalTruncated, message: "test", at: Timestamp(micros: 1)))])
        #expect(journal.isSynced)
    }
}
