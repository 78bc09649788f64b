import Foundation
import IMSEngine

extension JournalReader {
    /// `scan`, with reading, checking and decoding on a thread of its own: `body` gets every entry numbered
    /// `from` or later, in order, on the calling thread, while the next records are decoded, until it
    /// returns false. Used by recovery and replay, whose apply and decode then run on different cores.
    @discardableResult
    public static func scanPipelined(directory: String, from: UInt64 = 1, repair: Bool = false,
                                     _ body: (UInt64, JournalEntry) -> Bool) throws -> JournalScan {
        let channel = EntryChannel()
        let reader = Thread {
            let outcome = Result { () throws -> JournalScan in
                var chunk: [(UInt64, JournalEntry)] = []
                chunk.reserveCapacity(EntryChannel.chunkSize)
                let scan = try scan(directory: directory, from: from, repair: repair) { number, entry in
                    chunk.append((number, entry))
                    if chunk.count == EntryChannel.chunkSize {
                        guard channel.put(chunk) else { return false }
                        chunk.removeAll(keepingCapacity: true)
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
        }
        return try channel.waitForOutcome().get()
    }
}

/// Decoded journal entries on their way from the reader thread to the applying one: bounded, so the
/// reader stays at most a few chunks ahead.
private final class EntryChannel: @unchecked Sendable {
    static let chunkSize = 16
    static let maxChunks = 8

    private let condition = NSCondition()
    private var chunks: [[(UInt64, JournalEntry)]] = []
    private var finished = false
    private var cancelled = false
    private var outcome: Result<JournalScan, any Error>?

    /// Hands a chunk over, waiting for room; false once the consumer has stopped.
    func put(_ chunk: [(UInt64, JournalEntry)]) -> Bool {
        condition.lock(); defer { condition.unlock() }
        while chunks.count >= Self.maxChunks && !cancelled { condition.wait() }
        if cancelled { return false }
        chunks.append(chunk)
        condition.broadcast()
        return true
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
