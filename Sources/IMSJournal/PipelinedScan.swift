import IMSDomain
import Foundation
import IMSEngine

extension JournalReader {
    /// `scan`, with reading, checking and decoding on a thread of its own: `body` gets every entry numbered
    /// `from` or later, in order, on the calling thread, while the next records are decoded, until it
    /// returns false. Used by recovery and replay, whose apply and decode then run on different cores.
    @discardableResult
    public static func scanPipelined(directory: String, from: UInt64 = 1, repair: Bool = false, mustReach: UInt64 = 0, verifiedThrough: UInt64 = 0,
                                     coveredThrough: UInt64 = 0, _ body: (UInt64, JournalEntry) -> Bool) throws -> JournalScan {
        let channel = EntryChannel()
        let reader = Thread {
            let outcome = Result { () throws -> JournalScan in
                var chunk: [(UInt64, JournalEntry)] = []
                var events = 0
                let scan = try scan(directory: directory, from: from, repair: repair, mustReach: mustReach, verifiedThrough: verifiedThrough, coveredThrough: coveredThrough) { number, entry in
                    chunk.append((number, entry))
                    if case .batch(let b) = entry { events += b.lineCount } else { events += 1 }
                    if chunk.count == EntryChannel.chunkEntries || events >= EntryChannel.chunkEvents {
                        guard channel.put(chunk) else { return false }
                        chunk = []
                        events = 0
                    }
                    return true
                }
                if !chunk.isEmpty { _ = channel.put(chunk) }
                return scan
            }
            channel.finish(outcome)
        }
        reader.name = "ims-journal-reader"
        reader.start()
        reading: while let chunk = channel.take() {
            for (number, entry) in chunk where !body(number, entry) {
                channel.cancel()
                break reading
            }
            channel.recycle(chunk)
        }
        return try channel.waitForOutcome().get()
    }
}

/// Decoded journal entries on their way from the reader thread to the applying one: bounded, so the
/// reader stays at most a few chunks ahead.
private final class EntryChannel: @unchecked Sendable {
    /// A chunk is handed over once it holds this many entries or events: small enough that the applying
    /// thread never waits long for the next, large enough that the hand-over costs nothing per entry.
    static let chunkEntries = 16
    static let chunkEvents = 4_096
    /// How many chunks the reader may be ahead.
    static let maxChunks = 16

    private let condition = NSCondition()
    private var chunks: [[(UInt64, JournalEntry)]] = []
    /// Chunks the consumer is done with, freed by the reader: freeing a batch's events costs the applying thread otherwise.
    private var spent: [[(UInt64, JournalEntry)]] = []
    private var finished = false
    private var cancelled = false
    private var outcome: Result<JournalScan, any Error>?

    /// Hands a chunk over, waiting for room; false once the consumer has stopped. Frees the chunks the
    /// consumer has recycled meanwhile.
    func put(_ chunk: [(UInt64, JournalEntry)]) -> Bool {
        condition.lock()
        while chunks.count >= Self.maxChunks && !cancelled { condition.wait() }
        if cancelled { condition.unlock(); return false }
        chunks.append(chunk)
        condition.broadcast()
        let garbage = spent
        spent = []
        condition.unlock()
        withExtendedLifetime(garbage) {}
        return true
    }

    /// Takes back a chunk the consumer has applied, for the reader to free.
    func recycle(_ chunk: consuming [(UInt64, JournalEntry)]) {
        condition.lock()
        spent.append(chunk)
        condition.unlock()
    }

    /// The consumer wants nothing more.
    func cancel() {
        condition.lock()
        cancelled = true
        chunks.removeAll()
        condition.broadcast()
        condition.unlock()
    }

    /// How the reader's scan ended, once it has.
    func waitForOutcome() -> Result<JournalScan, any Error> {
        condition.lock(); defer { condition.unlock() }
        while !finished { condition.wait() }
        return outcome!
    }

    func finish(_ result: Result<JournalScan, any Error>) {
        condition.lock()
        outcome = result
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// The next chunk, waiting for one; nil once the reader has finished and everything was taken.
    func take() -> [(UInt64, JournalEntry)]? {
        condition.lock(); defer { condition.unlock() }
        while chunks.isEmpty && !finished && !cancelled { condition.wait() }
        if chunks.isEmpty || cancelled { return nil }
        let chunk = chunks.removeFirst()
        condition.broadcast()
        return chunk
    }
}
