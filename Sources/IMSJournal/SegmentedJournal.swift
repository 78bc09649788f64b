import Foundation
import Glibc
import IMSDomain
import IMSEngine
import Synchronization

/// When the journal calls `fdatasync`.
public enum SyncPolicy: Sendable, Hashable, CustomStringConvertible {
    /// After every group of batches, before any of them is acknowledged (the default): an answer means on disk.
    case everyBatch
    /// At most every so many milliseconds: acknowledged batches of the last interval can be lost with the machine
    /// (not with the process, since the kernel holds them).
    case intervalMillis(Int)
    /// Never; the kernel writes back when it likes. For benchmarks and throwaway runs.
    case never

    /// A policy from its command-line form (`batch`, `<N>ms`, `never`).
    public init?(argument: String) {
        switch argument {
        case "batch", "every-batch": self = .everyBatch
        case "never", "none": self = .never
        default:
            guard argument.hasSuffix("ms"), let ms = Int(argument.dropLast(2)), ms > 0 else { return nil }
            self = .intervalMillis(ms)
        }
    }

    public var description: String {
        switch self {
        case .everyBatch: "batch"
        case .intervalMillis(let ms): "\(ms)ms"
        case .never: "never"
        }
    }
}

/// The embedded journal: segment files in a directory, appended with group commit.
///
/// The engine's journal thread calls `append` with everything queued since its
/// last call; the records are written with one `pwrite` and made durable with
/// one `fdatasync` (under `.everyBatch`). A failed write or sync cuts the file
/// back to where it was, so nothing half-written is ever read back, and throws;
/// the next append tries again. See `JournalFormat` for the layout.
///
/// **Zero-filled ahead.** An append that grows the file makes `fdatasync` write the file's inode as well as its
/// data: two device writes, waited for one after the other. So while the engine has nothing to journal, the
/// journal thread writes zeros ahead of the last record (`prepareAhead`: `fillChunkBytes` at a time, up to
/// `fillAheadBytes` ahead, synced), and an append into that space changes no metadata: its sync is one device
/// write (the journal stage of a decision at 2,000/s from 277–314 µs to 220–237 µs p50 on the reference machine).
/// Readers take zeros from a record boundary to the end of a segment as its end (`SegmentScanner`); a segment
/// is cut to its last record when the journal moves to the next. Under a sustained load the thread is never
/// idle, and appends grow the file as before (there, one sync serves a whole group anyway).
public final class SegmentedJournal: EngineJournal {
    private struct Tail {
        var fd: Int32
        var path: String
        var size: Int
        /// The file's length: `size` plus the zeros written ahead of the records.
        var filled: Int
        var nextRecord: UInt64
        var lastSync: UInt64
        /// Set when a failed write could not be cut back; the next append cuts it first.
        var dirtyFrom: Int?
        var bytesWritten: Int64 = 0
        /// Written but not yet synced (under `.intervalMillis`).
        var unsynced = false
        /// The journal is closed: the sync timer stops.
        var closed = false
    }

    public let directory: String
    public let policy: SyncPolicy
    public let segmentBytes: Int
    private let tail: Mutex<Tail>

    /// Opens the journal in `directory` for appending after record `lastRecord`, whose segment ends at `validEnd`
    /// (from `JournalReader.scan`). Creates the directory and a first segment if there is none.
    public init(directory: String, after scan: JournalScan, policy: SyncPolicy = .everyBatch, segmentBytes: Int = 64 << 20) throws {
        self.directory = directory
        self.policy = policy
        self.segmentBytes = segmentBytes
        try FileIO.makeDirectory(directory)
        let next = scan.lastRecord + 1
        let t: Tail
        if let segment = scan.tailSegment {
            let path = directory + "/" + segment
            let fd = try FileIO.open(path, flags: O_WRONLY)
            let length = FileIO.size(path) ?? scan.tailSize
            t = Tail(fd: fd, path: path, size: scan.tailSize, filled: max(length, scan.tailSize), nextRecord: next, lastSync: Self.nowNanos())
        } else {
            t = try Self.createSegment(directory: directory, firstRecord: next)
        }
        tail = Mutex(t)
        if case .intervalMillis(let ms) = policy { startSyncTimer(every: ms) }
    }

    deinit {
        tail.withLock { t in
            t.closed = true
            _ = close(t.fd)
        }
    }

    /// Under `.intervalMillis`, syncs what was written and not yet synced at least every `ms` even when no
    /// further append comes to do it: the loss window is bounded when traffic stops, as documented.
    private func startSyncTimer(every ms: Int) {
        let thread = Thread.named("ims-journal-sync") { [weak self] in
            while true {
                usleep(useconds_t(ms * 1_000))
                guard let self else { return }
                let stop = self.tail.withLock { t -> Bool in
                    if t.closed { return true }
                    guard t.unsynced, Self.nowNanos() - t.lastSync >= UInt64(ms) * 1_000_000 else { return false }
                    if (try? FileIO.syncData(t.fd, path: t.path)) != nil {
                        t.unsynced = false
                        t.lastSync = Self.nowNanos()
                    }
                    return false
                }
                if stop { return }
            }
        }
        thread.start()
    }

    /// Whether everything appended has been synced to disk.
    public var isSynced: Bool { tail.withLock { !$0.unsynced } }

    /// The number the next record will get.
    public var nextRecord: UInt64 { tail.withLock { $0.nextRecord } }
    /// Bytes of records written since this journal was opened.
    public var bytesWritten: Int64 { tail.withLock { $0.bytesWritten } }

    /// The most zeros kept written ahead of the last record.
    public static let fillAheadBytes = 4 << 20
    /// Zeros written (and synced) per `prepareAhead` call: about half a millisecond on the reference machine, the
    /// longest a request arriving meanwhile waits for it.
    public static let fillChunkBytes = 256 << 10
    private static let zeros = [UInt8](repeating: 0, count: fillChunkBytes)
    /// Free space on the journal's disk below which nothing is written ahead.
    public static let fillReserveBytes = 256 << 20

    /// Writes one chunk of zeros ahead of the last record and syncs it, if fewer than `fillAheadBytes` are
    /// (never past the segment's size, never under `.never`, never into the disk's last `fillReserveBytes`);
    /// returns whether more would be written.
    public func prepareAhead() -> Bool {
        if case .never = policy { return false }
        return tail.withLock { t in
            guard !t.closed, t.dirtyFrom == nil, t.filled < segmentBytes, t.filled - t.size < Self.fillAheadBytes else { return false }
            let chunk = min(Self.fillChunkBytes, segmentBytes - t.filled)
            // Never into the disk's last `fillReserveBytes`: writing ahead must not be what fills a disk.
            guard FileIO.freeBytes(directory).map({ $0 >= Int64(chunk + Self.fillReserveBytes) }) ?? false else { return false }
            do {
                try Self.zeros.withUnsafeBytes { try FileIO.write(t.fd, UnsafeRawBufferPointer(rebasing: $0[0..<chunk]), at: t.filled, path: t.path) }
                try FileIO.syncData(t.fd, path: t.path)
                t.filled += chunk
                return t.filled < segmentBytes && t.filled - t.size < Self.fillAheadBytes
            } catch {
                // Zeros only: cut them back so the length stays what the journal knows; the next append retries.
                if (try? FileIO.truncate(t.fd, to: t.filled, path: t.path)) == nil { t.dirtyFrom = t.size }
                return false
            }
        }
    }

    /// Appends entries as one group commit (written, then synced per the policy); returns the first record number.
    public func append(_ entries: [JournalEntry]) throws(JournalFailure) -> UInt64 {
        let result: Result<UInt64, JournalFailure> = tail.withLock { t in
            do {
                return .success(try appendLocked(entries, &t))
            } catch let failure as FileIO.Failure {
                return .failure(JournalFailure(failure.description))
            } catch {
                return .failure(JournalFailure("\(error)"))
            }
        }
        return try result.get()
    }

    private func appendLocked(_ entries: [JournalEntry], _ t: inout Tail) throws -> UInt64 {
        if let from = t.dirtyFrom {
            try FileIO.truncate(t.fd, to: from, path: t.path)
            t.dirtyFrom = nil
            t.filled = from
        }
        let first = t.nextRecord
        var out = BinaryWriter(capacity: 64 * 1024)
        for (i, entry) in entries.enumerated() {
            JournalFormat.appendRecord(number: first + UInt64(i), entry: entry, to: &out)
        }
        if t.size > JournalFormat.segmentHeaderSize && t.size + out.bytes.count > segmentBytes {
            let next = try Self.createSegment(directory: directory, firstRecord: first)
            // The zeros ahead of the last record go: a finished segment ends with its last record.
            if t.filled > t.size { try FileIO.truncate(t.fd, to: t.size, path: t.path) }
            try FileIO.syncData(t.fd, path: t.path)
            close(t.fd)
            t = Tail(
                fd: next.fd, path: next.path, size: next.size, filled: next.filled, nextRecord: first, lastSync: t.lastSync,
                bytesWritten: t.bytesWritten)
        }
        let before = t.size
        do {
            try FileIO.write(t.fd, out.bytes, at: before, path: t.path)
            switch policy {
            case .everyBatch:
                try FileIO.syncData(t.fd, path: t.path)
            case .intervalMillis(let ms):
                let now = Self.nowNanos()
                if now - t.lastSync >= UInt64(ms) * 1_000_000 {
                    try FileIO.syncData(t.fd, path: t.path)
                    t.lastSync = now
                    t.unsynced = false
                } else {
                    t.unsynced = true
                }
            case .never:
                t.unsynced = true
            }
        } catch {
            // Nothing of this append may be read back: cut the file to where it was (the zeros ahead go too).
            do {
                try FileIO.truncate(t.fd, to: before, path: t.path)
                t.filled = before
            } catch { t.dirtyFrom = before }
            throw error
        }
        t.size = before + out.bytes.count
        t.filled = max(t.filled, t.size)
        t.nextRecord = first + UInt64(entries.count)
        t.bytesWritten += Int64(out.bytes.count)
        return first
    }

    private static func createSegment(directory: String, firstRecord: UInt64) throws -> Tail {
        let path = directory + "/" + JournalFormat.segmentName(firstRecord: firstRecord)
        let fd = try FileIO.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC)
        do {
            let header = JournalFormat.segmentHeader(firstRecord: firstRecord)
            try FileIO.write(fd, header, at: 0, path: path)
            try FileIO.syncData(fd, path: path)
            try FileIO.syncDirectory(directory)
        } catch {
            close(fd)
            FileIO.remove(path)
            throw error
        }
        return Tail(
            fd: fd, path: path, size: JournalFormat.segmentHeaderSize, filled: JournalFormat.segmentHeaderSize, nextRecord: firstRecord,
            lastSync: nowNanos())
    }

    private static func nowNanos() -> UInt64 { SystemClock.monotonicNanos() }
}
