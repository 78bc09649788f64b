import IMSDomain
import IMSEngine

/// The on-disk layout of the journal: segment files of checksummed records.
///
/// ```text
/// journal/<first record number, 20 digits>.log
///   header  (24 bytes): "IMSJRNL" 0x01 | firstRecord u64 | crc32c(first 16 bytes) u32 | 0 u32
///   record  (16 + n bytes): length n u32 | crc32c(recordNumber ‖ payload) u32 | recordNumber u64 | payload
/// ```
///
/// All integers are little-endian. A payload is one `JournalEntry` in IMS's
/// binary format. Record numbers start at 1 and rise by one with no gaps
/// across segments, so a reader can tell a torn or stale tail from a record.
public enum JournalFormat {
    public static let magic: [UInt8] = Array("IMSJRNL".utf8) + [1]
    public static let segmentHeaderSize = 24
    public static let recordHeaderSize = 16
    /// Records larger than this are refused on write and treated as corruption on read.
    public static let maximumPayload = 256 << 20

    /// The file name of the segment whose first record is `firstRecord`.
    public static func segmentName(firstRecord: UInt64) -> String {
        let digits = String(firstRecord)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".log"
    }

    /// The first record number of a segment file's name, or nil if it is not a segment.
    public static func firstRecord(ofSegmentNamed name: String) -> UInt64? {
        guard name.hasSuffix(".log"), name.count == 24 else { return nil }
        return UInt64(name.prefix(20))
    }

    static func segmentHeader(firstRecord: UInt64) -> [UInt8] {
        var w = BinaryWriter(capacity: segmentHeaderSize)
        w.bytes.append(contentsOf: magic)
        w.write(firstRecord)
        let crc = CRC32C.checksum(w.bytes)
        w.write(crc)
        w.write(UInt32(0))
        return w.bytes
    }

    /// Appends one framed record to `out`.
    static func appendRecord(number: UInt64, entry: JournalEntry, to out: inout BinaryWriter) {
        let start = out.bytes.count
        out.write(UInt32(0)); out.write(UInt32(0)); out.write(number)
        entry.encode(to: &out)
        let length = out.bytes.count - start - recordHeaderSize
        out.bytes.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt32(length).littleEndian, toByteOffset: start, as: UInt32.self)
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[(start + 8)...]))
            raw.storeBytes(of: crc.littleEndian, toByteOffset: start + 4, as: UInt32.self)
        }
    }
}

/// One record read back from a segment: its number, where it lies, and its payload bytes.
struct RawRecord {
    var number: UInt64
    var offset: Int
    var end: Int
    var payload: Range<Int>
}

/// Walks the records of one segment's bytes, stopping at the first that is torn, corrupt or out of order, or
/// quietly where only zeros follow (the space written ahead).
struct SegmentScanner {
    let bytes: UnsafeRawBufferPointer
    private(set) var offset: Int
    var expected: UInt64
    /// Why scanning stopped before the end of the bytes, if it did.
    private(set) var stopReason: String?

    /// Checks the header; `expected` is the first record number the segment's name promises.
    init(bytes: UnsafeRawBufferPointer, expected: UInt64) {
        self.bytes = bytes
        self.expected = expected
        offset = JournalFormat.segmentHeaderSize
        if bytes.count < JournalFormat.segmentHeaderSize {
            stopReason = "segment header is torn (\(bytes.count) bytes)"
            offset = 0
            return
        }
        let headerOK =
            bytes.prefix(8).elementsEqual(JournalFormat.magic)
            && bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self).littleEndian == expected
            && bytes.loadUnaligned(fromByteOffset: 16, as: UInt32.self).littleEndian == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<16]))
        if !headerOK {
            stopReason = "segment header is corrupt"
            offset = 0
        }
    }

    /// Reads on from `offset` of a segment whose header is not checked (salvaging the records after damage),
    /// expecting record `expected` first.
    init(bytes: UnsafeRawBufferPointer, from offset: Int, expected: UInt64) {
        self.bytes = bytes
        self.expected = expected
        self.offset = offset
    }

    mutating func next() -> RawRecord? {
        guard stopReason == nil, offset < bytes.count else { return nil }
        let left = bytes.count - offset
        guard left >= JournalFormat.recordHeaderSize else {
            stopReason = "record header at offset \(offset) is torn (\(left) bytes)"
            return nil
        }
        let length = Int(bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self).littleEndian)
        let crc = bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self).littleEndian
        let number = bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self).littleEndian
        if length == 0 && crc == 0 && number == 0 {
            // Zeros from a record boundary to the end are the space the journal writes ahead of its records
            // (`SegmentedJournal.prepareAhead`): the segment's end, not damage. Zeros with data after them are.
            if !Self.allZero(UnsafeRawBufferPointer(rebasing: bytes[offset...])) { stopReason = "zeroes from offset \(offset)" }
            return nil
        }
        guard length <= JournalFormat.maximumPayload, length <= left - JournalFormat.recordHeaderSize else {
            stopReason =
                "record at offset \(offset) claims \(length) bytes but \(left - JournalFormat.recordHeaderSize) are left (torn, or its length is damaged)"
            return nil
        }
        let end = offset + JournalFormat.recordHeaderSize + length
        guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[(offset + 8)..<end])) == crc else {
            stopReason = "record at offset \(offset) fails its checksum"
            return nil
        }
        guard number == expected else {
            stopReason = "record at offset \(offset) is number \(number), expected \(expected)"
            return nil
        }
        let record = RawRecord(number: number, offset: offset, end: end, payload: (offset + JournalFormat.recordHeaderSize)..<end)
        offset = end
        expected += 1
        return record
    }

    /// Whether every byte is zero (eight at a time).
    static func allZero(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        let n = bytes.count
        while i + 8 <= n {
            if bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self) != 0 { return false }
            i += 8
        }
        while i < n {
            if bytes[i] != 0 { return false }
            i += 1
        }
        return true
    }
}
