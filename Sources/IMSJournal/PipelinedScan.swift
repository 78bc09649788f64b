import Foundation
import IMSDomain
import IMSEngine
import Synchronization

extension JournalReader {
    /// `scan`, with reading, checking and decoding on a thread of its own: `body` gets every entry numbered
    /// `from` or later, in order, on the calling thread, while the next records are decoded, until it
    /// returns false. Used by recovery and replay, whose apply and decode then run on different cores.
    @discardableResult
    public static func scanPipelined(
        directory: String, from: UInt64 = 1, repair: Bool = false, mustReach: UInt64 = 0, verifiedThrough: UInt64 = 0,
        coveredThrough: UInt64 = 0, _ body: (UInt64, JournalEntry) -> Bool
    ) throws -> JournalScan {
        // Decoded entries on their way from the reader thread to this one, a chunk at a time: bounded, so the
        // reader stays at most `maxChunks` chunks ahead.
        let chunks = BlockingQueue<[(UInt64, JournalEntry)]>(capacity: maxChunks)
        // Chunks applied, freed by the reader: freeing a batch's events would cost the applying thread otherwise.
        let spent = Mutex<[[(UInt64, JournalEntry)]]>([])
        let outcome = BlockingFuture<Result<JournalScan, any Error>>.run(on: "ims-journal-reader") { () throws -> JournalScan in
            // However the scan ends (done, stopped by the consumer, or thrown), the consumer is told.
            defer { chunks.close() }
            var chunk: [(UInt64, JournalEntry)] = []
            var events = 0
            func hand(_ c: [(UInt64, JournalEntry)]) -> Bool {
                let garbage = spent.withLock { s in
                    defer { s = [] }; return s
                }
                withExtendedLifetime(garbage) {}
                return chunks.put(c)
            }
            let scan = try scan(
                directory: directory, from: from, repair: repair, mustReach: mustReach, verifiedThrough: verifiedThrough, coveredThrough: coveredThrough
            ) { number, entry in
                chunk.append((number, entry))
                if case .batch(let b) = entry { events += b.lineCount } else { events += 1 }
                if chunk.count == chunkEntries || events >= chunkEvents {
                    guard hand(chunk) else { return false }
                    chunk = []
                    events = 0
                }
                return true
            }
            if !chunk.isEmpty { _ = hand(chunk) }
            return scan
        }
        reading: while let taken = chunks.take(maxCost: 1), let chunk = taken.first {
            chunks.done(cost: 1)
            for (number, entry) in chunk where !body(number, entry) {
                chunks.cancel()
                break reading
            }
            spent.withLock { $0.append(chunk) }
        }
        let result = outcome.wait()
        chunks.cancel()
        return try result.get()
    }

    /// A chunk is handed over once it holds this many entries or events: small enough that the applying
    /// thread never waits long for the next, large enough that the hand-over costs nothing per entry.
    static let chunkEntries = 16
    static let chunkEvents = 4_096
    /// How many chunks the reader may be ahead.
    static let maxChunks = 16
}
