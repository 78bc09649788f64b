import Glibc
import IMSDomain
import IMSEngine

/// Reads a file journal as it grows, record by record from a given record on, keeping its place (the
/// segment and byte offset) between calls, so following a live journal reads each byte once.
///
/// The history projector follows the engine's journal this way, at its own pace: it never touches the
/// writer, which only appends. A record still being written (a torn tail) is left for the next call; a
/// record that fails its checksum while later records exist is damage, and `read` throws.
public final class JournalTail {
    /// Why the tail cannot go on.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    private let directory: String
    /// The next record `read` hands out.
    public private(set) var nextRecord: UInt64
    private var segment: (name: String, first: UInt64)?
    private var fd: Int32 = -1
    /// Bytes of the segment consumed (whole records), and the number of the record that starts there.
    private var offset = 0
    private var recordAtOffset: UInt64 = 0
    private var buffer: [UInt8] = []

    /// A tail of the journal in `directory` (a data directory's `journal` folder) starting at record `from`.
    public init(directory: String, from record: UInt64) {
        self.directory = directory
        nextRecord = max(1, record)
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    /// Calls `body` with each record from `nextRecord` through `limit` that is in the journal now, in order;
    /// returns how many it handed out. Stops early, keeping its place, when `body` returns false.
    @discardableResult
    public func read(through limit: UInt64, _ body: (UInt64, JournalEntry) throws -> Bool) throws -> Int {
        var handed = 0
        // Read a chunk at a time: a segment is longer than its records (the zeros written ahead of them).
        var chunk = Self.readChunkBytes
        while nextRecord <= limit {
            if segment == nil, try !open() { return handed }
            let available = try fileSize() - offset
            let count = max(0, min(available, chunk))
            if count > 0 {
                buffer = try readBytes(count: count)
            } else {
                buffer.removeAll(keepingCapacity: true)
            }
            let offsetBefore = offset
            var stopped = false
            var damaged: String?
            var rest = false
            try buffer.withUnsafeBytes { raw in
                var scanner = SegmentScanner(bytes: raw, from: 0, expected: recordAtOffset)
                while let record = scanner.next() {
                    if record.number > limit { stopped = true; break }
                    offset += record.end - record.offset
                    recordAtOffset = record.number + 1
                    guard record.number >= nextRecord else { continue }
                    var reader = BinaryReader(UnsafeRawBufferPointer(rebasing: raw[record.payload]))
                    let entry: JournalEntry
                    do {
                        entry = try JournalEntry(from: &reader)
                    } catch {
                        throw Failure(description: "journal record \(record.number) in \(segment!.name) does not decode: \(error)")
                    }
                    nextRecord = record.number + 1
                    handed += 1
                    if try !body(record.number, entry) { stopped = true; break }
                }
                if !stopped { damaged = scanner.stopReason }
                rest = scanner.stopReason == nil && scanner.offset < raw.count
            }
            if stopped || nextRecord > limit { return handed }
            // The chunk ended before the segment did, and not at the zeros ahead: read on (a record longer than
            // the chunk, with a larger one).
            if count < available && !rest {
                if offset == offsetBefore { chunk *= 2 }
                continue
            }
            // The end of what this segment holds now: the next segment, if the writer has moved on to it.
            let names = JournalReader.segmentNames(directory)
            if let next = names.first(where: { $0.first > segment!.first }) {
                guard next.first == recordAtOffset else {
                    throw Failure(
                        description:
                            "journal segment \(segment!.name) ends before record \(recordAtOffset)\(damaged.map { " (\($0))" } ?? "") but the next, \(next.name), starts at record \(next.first)"
                    )
                }
                Glibc.close(fd)
                fd = -1
                segment = nil
                continue
            }
            return handed
        }
        return handed
    }

    /// Opens the segment holding `nextRecord`; false if the journal has not reached it yet.
    private func open() throws -> Bool {
        let names = JournalReader.segmentNames(directory)
        guard let first = names.first else { return false }
        if first.first > nextRecord {
            throw Failure(description: "the journal starts at record \(first.first); records \(nextRecord)…\(first.first - 1) are gone")
        }
        let holding = names.last { $0.first <= nextRecord }!
        let path = directory + "/" + holding.name
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw Failure(description: "cannot open \(path): errno \(errno)") }
        fd = descriptor
        segment = (holding.name, holding.first)
        offset = JournalFormat.segmentHeaderSize
        recordAtOffset = holding.first
        return true
    }

    /// Bytes read from a segment at a time (doubled for a record longer than that).
    static let readChunkBytes = 1 << 20

    private func fileSize() throws -> Int {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw Failure(description: "cannot stat \(segment!.name): errno \(errno)") }
        return Int(st.st_size)
    }

    private func readBytes(count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        try bytes.withUnsafeMutableBytes { raw in
            while done < count {
                let n = pread(fd, raw.baseAddress! + done, count - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw Failure(description: "cannot read \(segment!.name): errno \(errno)")
                }
                if n == 0 { break }
                done += n
            }
        }
        if done < count { bytes.removeLast(count - done) }
        return bytes
    }
}
