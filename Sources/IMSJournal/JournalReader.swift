import Glibc
import IMSDomain
import IMSEngine

/// Where a scan of the journal ended: the last good record and the segment to append to.
public struct JournalScan: Sendable, Hashable {
    /// The number of the last valid record (0 if none).
    public var lastRecord: UInt64 = 0
    /// The file name of the last segment, and its valid size in bytes.
    public var tailSegment: String?
    public var tailSize = 0
    /// Records read (from the requested start).
    public var recordsRead = 0
    public var bytesRead = 0
    /// What was cut from a torn or corrupt tail, if anything; nil when the journal was clean.
    public var truncation: String?
}

/// Reads journal records in order, checking every checksum; optionally repairs a torn tail.
public enum JournalReader {
    /// Calls `body` with each entry numbered `from` or later, in order, until `body` returns false.
    ///
    /// With `repair`, a torn or corrupt tail is cut back to the last valid record and any
    /// later segment is removed, so the journal can be appended to again. Without it the
    /// files are left as they are and the scan stops at the bad record.
    @discardableResult
    public static func scan(directory: String, from: UInt64 = 1, repair: Bool = false,
                            _ body: (UInt64, JournalEntry) throws -> Bool = { _, _ in true }) throws -> JournalScan {
        var result = JournalScan()
        let names = ((try? FileIO.list(directory)) ?? []).compactMap { name in
            JournalFormat.firstRecord(ofSegmentNamed: name).map { (name, $0) }
        }
        var expected: UInt64? = nil
        var stopped = false
        let buffer = ReadBuffer()
        for (index, (name, first)) in names.enumerated() {
            let path = directory + "/" + name
            if stopped {
                if repair { FileIO.remove(path) }
                result.truncation = (result.truncation ?? "") + "; removed later segment \(name)"
                continue
            }
            if let e = expected, first != e {
                stopped = true
                result.truncation = "segment \(name) starts at record \(first), expected \(e)"
                if repair { FileIO.remove(path) }
                continue
            }
            // Segments that end before `from` need not be read, except to learn where the tail is.
            if index + 1 < names.count, names[index + 1].1 <= from {
                expected = names[index + 1].1
                result.lastRecord = names[index + 1].1 - 1
                continue
            }
            let raw = try buffer.read(path)
            var keepGoing = true
            let (validEnd, reason): (Int, String?) = try {
                var scanner = SegmentScanner(bytes: raw, expected: first)
                while keepGoing, let record = scanner.next() {
                    result.lastRecord = record.number
                    guard record.number >= from else { continue }
                    var reader = BinaryReader(UnsafeRawBufferPointer(rebasing: raw[record.payload]))
                    let entry: JournalEntry
                    do {
                        entry = try JournalEntry(from: &reader)
                    } catch {
                        result.lastRecord = record.number - 1
                        return (record.offset, "record \(record.number) at offset \(record.offset) does not decode: \(error)")
                    }
                    result.recordsRead += 1
                    result.bytesRead += record.end - record.offset
                    keepGoing = try body(record.number, entry)
                }
                return (scanner.offset, scanner.stopReason)
            }()
            if !keepGoing { return result }
            result.tailSegment = name
            result.tailSize = validEnd
            expected = result.lastRecord + 1
            if let reason {
                stopped = true
                result.truncation = "\(name): \(reason); cut \(raw.count - validEnd) bytes"
                if repair {
                    if validEnd < JournalFormat.segmentHeaderSize {
                        FileIO.remove(path)
                        result.tailSegment = nil
                        result.tailSize = 0
                    } else {
                        let fd = try FileIO.open(path, flags: O_WRONLY)
                        defer { FileIO.close(fd) }
                        try FileIO.truncate(fd, to: validEnd, path: path)
                        try FileIO.syncData(fd, path: path)
                    }
                }
            }
        }
        if repair && result.truncation != nil { try FileIO.syncDirectory(directory) }
        return result
    }

}
