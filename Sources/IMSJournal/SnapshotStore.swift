import Foundation
import IMSDomain
import IMSEngine
import Synchronization

/// Snapshots of the engine state in a directory, written atomically, newest kept.
///
/// ```text
/// snapshots/<appliedRecord, 20 digits>.snap
///   header (48 bytes): "IMSSNAP" 0x01 | appliedRecord u64 | lastSequence i64 | lastEntryAt µs i64
///                      | bodyLength u64 | crc32c(body) u32 | crc32c(header's first 44 bytes) u32
///   body: EngineState.snapshotImage()
/// ```
///
/// A snapshot is written to a temporary file, synced, renamed into place and
/// the directory synced, so a crash leaves either the old set or the new one.
/// Restart loads the newest snapshot whose checksums hold and replays the
/// journal after its `appliedRecord`.
public final class SnapshotStore: SnapshotSink {
    public static let magic: [UInt8] = Array("IMSSNAP".utf8) + [1]
    public static let headerSize = 48

    /// What a snapshot file's header says.
    public struct Info: Sendable, Hashable {
        public var path: String
        public var appliedRecord: UInt64
        public var lastSequence: Int64
        public var lastEntryAt: Timestamp
        public var bodyLength: Int
        public var bodyChecksum: UInt32
    }

    public let directory: String
    /// How many snapshots to keep; older ones are removed after a new one is written.
    public let keep: Int
    private let busy = Atomic<Bool>(false)
    private let lastWritten = Mutex<(record: UInt64, seconds: Double, bytes: Int, at: Date)?>(nil)
    private let reporter = Mutex<(@Sendable (Report) -> Void)?>(nil)

    /// What became of a snapshot taken in the background.
    public enum Report: Sendable {
        case written(record: UInt64, bytes: Int, seconds: Double)
        case failed(record: UInt64, error: String)
    }

    /// Sets who is told of each background snapshot (the server logs them); unset, failures go to stderr.
    public func report(to handler: @escaping @Sendable (Report) -> Void) { reporter.withLock { $0 = handler } }

    /// A `SnapshotStore` from its fields.
    public init(directory: String, keep: Int = 2) throws {
        self.directory = directory
        self.keep = max(1, keep)
        try FileIO.makeDirectory(directory)
    }

    /// The record, duration, size and completion time of the last snapshot written by this process.
    public var lastSnapshot: (record: UInt64, seconds: Double, bytes: Int, at: Date)? { lastWritten.withLock { $0 } }

    /// Writes a snapshot of `state` on a background thread, unless one is being written.
    public func offer(_ state: EngineState) {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return }
        let thread = Thread.named("ims-snapshot") { [self] in
            defer { busy.store(false, ordering: .releasing) }
            let handler = reporter.withLock { $0 }
            do {
                try write(state)
                if let handler, let last = lastSnapshot { handler(.written(record: last.record, bytes: last.bytes, seconds: last.seconds)) }
            } catch {
                if let handler {
                    handler(.failed(record: state.appliedRecord, error: "\(error)"))
                } else {
                    FileHandle.standardError.write(Data("ims: snapshot at record \(state.appliedRecord) failed: \(error)\n".utf8))
                }
            }
        }
        thread.start()
    }

    /// Writes a snapshot of `state` now (at shutdown, or on the background thread of `offer`): to a temporary file, synced, renamed into place; the newest `keep` are kept.
    public func write(_ state: EngineState) throws {
        let start = Date()
        let body = state.snapshotImage()
        var w = BinaryWriter(capacity: Self.headerSize)
        w.bytes.append(contentsOf: Self.magic)
        w.write(state.appliedRecord)
        w.write(state.lastSequence)
        w.write(state.lastEntryAt.micros)
        w.write(UInt64(body.count))
        w.write(CRC32C.checksum(body))
        w.write(CRC32C.checksum(w.bytes))
        let name = JournalFormat.segmentName(firstRecord: state.appliedRecord).replacingOccurrences(of: ".log", with: ".snap")
        let path = directory + "/" + name
        let temporary = directory + "/.writing-" + name
        let fd = try FileIO.open(temporary, flags: O_WRONLY | O_CREAT | O_TRUNC)
        do {
            try FileIO.write(fd, w.bytes, at: 0, path: temporary)
            try FileIO.write(fd, body, at: Self.headerSize, path: temporary)
            try FileIO.syncData(fd, path: temporary)
            FileIO.close(fd)
        } catch {
            FileIO.close(fd)
            FileIO.remove(temporary)
            throw error
        }
        try FileIO.rename(temporary, path)
        try FileIO.syncDirectory(directory)
        for old in list().dropFirst(keep) { FileIO.remove(old.path) }
        let end = Date()
        lastWritten.withLock { $0 = (state.appliedRecord, end.timeIntervalSince(start), body.count + Self.headerSize, end) }
    }

    /// Removes the temporary files of snapshots a crash interrupted (never complete, never read); returns their paths.
    @discardableResult
    public func removeUnfinished() -> [String] {
        var removed: [String] = []
        for name in (try? FileIO.list(directory)) ?? [] where name.hasPrefix(".writing-") {
            FileIO.remove(directory + "/" + name)
            removed.append(directory + "/" + name)
        }
        return removed
    }

    /// The snapshots on disk with readable headers, newest first. Files whose header is damaged are listed in `damaged`.
    public func list() -> [Info] { scan().good }

    /// Snapshot files whose header cannot be read, with the reason.
    public func damaged() -> [(path: String, reason: String)] { scan().damaged }

    private func scan() -> (good: [Info], damaged: [(path: String, reason: String)]) {
        var good: [Info] = [], bad: [(String, String)] = []
        for name in (try? FileIO.list(directory)) ?? [] where name.hasSuffix(".snap") && !name.hasPrefix(".") {
            let path = directory + "/" + name
            do { good.append(try Self.readHeader(path)) } catch { bad.append((path, "\(error)")) }
        }
        return (good.sorted { $0.appliedRecord > $1.appliedRecord }, bad)
    }

    static func readHeader(_ path: String) throws -> Info {
        let fd = try FileIO.open(path, flags: O_RDONLY)
        defer { FileIO.close(fd) }
        var header = [UInt8](repeating: 0, count: headerSize)
        let n = header.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, headerSize, 0) }
        guard n == headerSize else { throw BinaryFormatError("snapshot header of \(path) is torn (\(max(n, 0)) bytes)") }
        return try header.withUnsafeBytes { raw in
            guard raw.prefix(8).elementsEqual(magic) else { throw BinaryFormatError("\(path) is not an IMS snapshot") }
            var r = BinaryReader(raw, offset: 8)
            let record = try r.readUInt64(), sequence = try r.readInt64(), at = try r.readInt64()
            let length = try r.readUInt64(), bodyCRC = try r.readUInt32(), headerCRC = try r.readUInt32()
            guard headerCRC == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<44])) else {
                throw BinaryFormatError("snapshot header of \(path) fails its checksum")
            }
            return Info(
                path: path, appliedRecord: record, lastSequence: sequence, lastEntryAt: Timestamp(micros: at),
                bodyLength: Int(length), bodyChecksum: bodyCRC)
        }
    }

    /// Reads and checks a snapshot, and rebuilds the state it holds.
    public func load(_ info: Info, catalog: MarketCatalog) throws -> EngineState {
        let bytes = try FileIO.readAll(info.path)
        guard bytes.count == Self.headerSize + info.bodyLength else {
            throw BinaryFormatError("snapshot \(info.path) is \(bytes.count) bytes, its header says \(Self.headerSize + info.bodyLength)")
        }
        return try bytes.withUnsafeBytes { raw in
            let body = UnsafeRawBufferPointer(rebasing: raw[Self.headerSize...])
            guard CRC32C.checksum(body) == info.bodyChecksum else { throw BinaryFormatError("snapshot \(info.path) fails its checksum") }
            let state = try EngineState(snapshotImage: body, catalog: catalog)
            guard state.appliedRecord == info.appliedRecord else {
                throw BinaryFormatError("snapshot \(info.path) holds record \(state.appliedRecord), its header says \(info.appliedRecord)")
            }
            return state
        }
    }
}
