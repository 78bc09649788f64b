import Foundation
import IMSEngine

extension JournalReader {
    /// `scan`, with reading, checking and decoding on a thread of its own: `body` gets every entry numbered
    /// `from` or later, in order, on the calling thread, while the next records are decoded. Used by
    /// recovery, whose apply and decode then run on different cores.
    public static func scanPipelined(directory: String, from: UInt64 = 1, repair: Bool = false,
                                     _ body: (UInt64, JournalEntry) -> Void) throws -> JournalScan {
        let channel = EntryChannel()
        let reader = Thread {
            let outcome = Result { () throws -> JournalScan in
                var chunk: [(UInt64, JournalEntry)] = []
                chunk.reserveCapacity(EntryChannel.chunkSize)
                let scan = try scan(directory: directory, from: from, repair: repair) { number, entry in
                    chunk.append((number, entry))
                    if chunk.count == EntryChannel.chunkSize {
                        channel.put(chunk)
                        chunk.removeAll(keepingCapacity: true)
                    }
                    return true
                }
                if !chunk.isEmpty { channel.put(chunk) }
                return scan
            }
            channel.finish(outcome)
        }
        reader.name = "ims-journal-reader"
        reader.start()
        while let chunk = channel.take() {
            for (number, entry) in chunk { body(number, entry) }
        }
        return try channel.outcome!.get()
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
    private(set) var outcome: Result<JournalScan, any Error>?

    func put(_ chunk: [(UInt64, JournalEntry)]) {
        condition.lock()
        while chunks.count >= Self.maxChunks { condition.wait() }
        chunks.append(chunk)
        condition.broadcast()
        condition.unlock()
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
        while chunks.isEmpty && !finished { condition.wait() }
        if chunks.isEmpty { return nil }
        let chunk = chunks.removeFirst()
        condition.broadcast()
        return chunk
    }
}
