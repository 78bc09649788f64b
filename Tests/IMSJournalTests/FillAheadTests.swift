import Foundation
import IMSDomain
import IMSEngine
import Testing

@testable import IMSJournal

/// The file journal writes zeros ahead of its records while idle, so that an append's sync changes no metadata;
/// every reader takes those zeros as the segment's end.
struct FillAheadTests {
    static func notice(_ text: String) -> JournalEntry {
        .notice(Notice(kind: .journalTruncated, message: text, at: Timestamp(micros: 1)))
    }

    /// A record larger than `bytes`.
    static func large(bytes: Int) -> JournalEntry {
        notice(String(repeating: "x", count: bytes))
    }

    @Test func appendsLandInTheZerosWrittenAheadAndTheFileKeepsItsLength() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.path + "/journal"
        let journal = try SegmentedJournal(directory: path, after: JournalScan())
        var chunks = 0
        while journal.prepareAhead() { chunks += 1 }
        #expect(chunks + 1 == SegmentedJournal.fillAheadBytes / SegmentedJournal.fillChunkBytes)
        let segment = path + "/" + JournalFormat.segmentName(firstRecord: 1)
        let length = FileIO.size(segment)!
        #expect(length == JournalFormat.segmentHeaderSize + SegmentedJournal.fillAheadBytes)
        for n in 1...50 { _ = try journal.append([Self.notice("record \(n)")]) }
        #expect(FileIO.size(segment) == length, "appends inside the zeros do not grow the file")
        _ = journal.prepareAhead()
        #expect(FileIO.size(segment) == length + SegmentedJournal.fillChunkBytes, "topped up when the zeros ahead run low")

        // Every reader stops at the zeros, quietly: a scan, a reopened journal, a tail.
        let scan = try JournalReader.scan(directory: path)
        #expect(scan.damage == nil && scan.lastRecord == 50 && scan.recordsRead == 50)
        #expect(scan.tailSize < length)
        let reopened = try SegmentedJournal(directory: path, after: scan)
        #expect(try reopened.append([Self.notice("after reopening")]) == 51)
        var seen: [UInt64] = []
        let tail = JournalTail(directory: path, from: 1)
        try tail.read(through: .max) { n, _ in
            seen.append(n)
            return true
        }
        #expect(seen == Array(1...51))
    }

    @Test func aTailReadsRecordsLargerThanItsChunkAndFollowsTheWriterIntoTheNextSegment() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.path + "/journal"
        let journal = try SegmentedJournal(directory: path, after: JournalScan(), segmentBytes: 8 << 20)
        while journal.prepareAhead() {}
        let tail = JournalTail(directory: path, from: 1)
        var seen: [UInt64] = []
        let collect: (UInt64, JournalEntry) throws -> Bool = { n, _ in
            seen.append(n)
            return true
        }
        _ = try journal.append([Self.notice("small")])
        try tail.read(through: .max, collect)
        #expect(seen == [1])
        // Larger than the tail's chunk (1 MiB): read whole all the same.
        _ = try journal.append([Self.large(bytes: 3 << 20)])
        _ = try journal.append([Self.notice("after the large one")])
        try tail.read(through: .max, collect)
        #expect(seen == [1, 2, 3])
        // Past the segment's size: the next segment, and the finished one is cut to its last record.
        let first = path + "/" + JournalFormat.segmentName(firstRecord: 1)
        _ = try journal.append([Self.large(bytes: 6 << 20)])
        #expect(FileIO.size(path + "/" + JournalFormat.segmentName(firstRecord: 4)) != nil)
        let scanFirst = try FileIO.readAll(first)
        #expect(!scanFirst.suffix(8).allSatisfy { $0 == 0 }, "a finished segment ends with its last record, not zeros")
        try tail.read(through: .max, collect)
        #expect(seen == [1, 2, 3, 4])
        let scan = try JournalReader.scan(directory: path)
        #expect(scan.damage == nil && scan.lastRecord == 4 && scan.segments == 2)
    }

    @Test func zerosFollowedByDataAreDamageNotTheEnd() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.path + "/journal"
        let journal = try SegmentedJournal(directory: path, after: JournalScan())
        while journal.prepareAhead() {}
        for n in 1...3 { _ = try journal.append([Self.notice("record \(n)")]) }
        let end = try JournalReader.scan(directory: path).tailSize
        let segment = path + "/" + JournalFormat.segmentName(firstRecord: 1)
        let fd = try FileIO.open(segment, flags: O_WRONLY)
        try FileIO.write(fd, [0x42], at: end + 5_000, path: segment)
        FileIO.close(fd)
        let scan = try JournalReader.scan(directory: path)
        #expect(scan.lastRecord == 3)
        #expect(scan.damage?.kind == .tornTail && scan.damage?.reason.contains("zeroes") == true)
    }
}
