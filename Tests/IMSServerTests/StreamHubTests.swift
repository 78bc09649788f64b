import Dispatch
import Foundation
import IMSDomain
import IMSIngest
import IMSJournal
import IMSEngine
@testable import IMSServer
import Synchronization
import Testing

/// `asOf` replays run on a bounded pool, not a thread each.
struct HistoryPoolTests {
    @Test func manyConcurrentAsOfQueriesRunAtMostTwoReplaysAtOnce() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ims-history-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let opened = try DataDirectory.open(dir, catalog: .embedded, now: Timestamp(micros: 1))
        let engine = Engine(state: opened.state, journal: opened.journal, snapshots: opened.snapshots)
        var text = (0..<200).map { #"{"type":"fxRate","currency":"EUR","usdRate":1.\#($0 + 10)}"# }.joined(separator: "\n")
        for _ in 0..<20 {
            let batch = text.withUTF8 { BatchDecoder.decodeNDJSON(UnsafeRawBufferPointer($0), receivedAt: Timestamp(micros: 2)) }
            _ = try await engine.submit(batch)
        }
        engine.stop()
        let history = History(dataDirectory: dir, catalog: .embedded, workers: 2, maxQueued: 64)
        let sequences = try await withThrowingTaskGroup(of: Int64.self) { group in
            for n in 1...24 { group.addTask { try await history.state(at: .sequence(Int64(n * 150))).lastSequence } }
            return try await group.reduce(into: [Int64]()) { $0.append($1) }
        }
        #expect(Set(sequences) == Set((1...24).map { Int64($0 * 150) }))
        #expect(history.peakConcurrentReplays.load(ordering: .relaxed) <= 2)
        // Over the queue's limit, a request is refused at once instead of waiting without bound.
        let full = History(dataDirectory: dir, catalog: .embedded, workers: 1, maxQueued: 0)
        await #expect(throws: HistoryBusy.self) { _ = try await full.state(at: .sequence(300)) }
    }
}
