import Glibc
import IMSDomain
import IMSEngine

/// Where a scan of the journal ended: the last good record and the segment to append to.
public struct JournalScan: Sendable, Hashable {
    /// The number of the last valid record (0 if none).
    public var lastRecord: UInt64 = 0
    /// The first record of the first segment (nil when there is no segment).
    public var firstRecord: UInt64?
    /// The file name of the last segment, and its valid size in bytes.
    public var tailSegment: String?
    public var tailSize = 0
    /// Records read (from the requested start).
    public var recordsRead = 0
    public var bytesRead = 0
    /// Segments in the journal directory.
    public var segments = 0
    /// Damage found, if any: a torn tail (cut when repairing) or corruption (never touched).
    public var damage: JournalDamage?
    /// What was cut from a torn tail, if anything; nil when the journal was clean or was not repaired.
    public var truncation: String?
    /// Runs of record numbers missing between segments that the snapshot loaded covers (`coveredThrough`):
    /// what `ims journal repair` leaves when it keeps a snapshot over damaged records. Not damage for a
    /// start from that snapshot; the state before their end cannot be rebuilt from this journal.
    public var gaps: [ClosedRange<UInt64>] = []
}

/// Damage found in the journal, and whether it may be cut automatically.
///
/// Only a **torn tail** may be: damage with no valid record anywhere after it, which is what a crash in
/// the middle of a write leaves (nothing after it was ever acknowledged). Anything else is **corruption**:
/// a bad record or segment header followed by valid records, a gap in record numbers, a record whose
/// checksum holds but does not decode. Corruption is never repaired at start: IMS refuses to start and
/// names the place; `ims journal repair` moves the damaged data aside on an operator's word.
public struct JournalDamage: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        case tornTail = "torn tail"
        case corrupt = "corruption"
    }

    public var kind: Kind
    /// The segment file the damage is in.
    public var segment: String
    /// Its byte offset in that segment (where the valid data ends).
    public var offset: Int
    /// The last valid record before the damage (0 if none).
    public var lastGoodRecord: UInt64
    /// What is wrong.
    public var reason: String
    /// Valid data found after the damage (for corruption), e.g. "record 1234 at offset 88 and 2 later segments".
    public var validAfter: String?

    public var description: String {
        var text = "\(kind.rawValue) in segment \(segment) at offset \(offset), after record \(lastGoodRecord): \(reason)"
        if let validAfter { text += "; valid data follows: \(validAfter)" }
        return text
    }
}

/// Reads journal records in order, checking every checksum; optionally cuts a torn tail.
public enum JournalReader {
    /// Calls `body` with each entry numbered `from` or later, in order, until `body` returns false.
    ///
    /// Every segment is read and its checksums checked, also those before `from` (a snapshot's records),
    /// so damage anywhere is found. With `repair`, a torn tail (see `JournalDamage`) is cut back to the last
    /// valid record and empty later segments removed, so the journal can be appended to again; corruption
    /// is left as it is, reported in `damage`, and the scan stops there. `mustReach` is a record the valid
    /// journal must reach (a loaded snapshot's): a tail torn before it is corruption too, never cut.
    @discardableResult
    ///
    /// `verifiedThrough` says that `verifyCovered` already checked the segments holding records up to it
    /// (those a snapshot covers, checked while the snapshot loaded): they are not read again.
    /// `coveredThrough` is the record a loaded snapshot covers: a run of record numbers missing between two
    /// segments that ends at or before it is a gap (listed in `gaps`), not damage.
    public static func scan(
        directory: String, from: UInt64 = 1, repair: Bool = false, mustReach: UInt64 = 0, verifiedThrough: UInt64 = 0,
        coveredThrough: UInt64 = 0,
        _ body: (UInt64, JournalEntry) throws -> Bool = { _, _ in true }
    ) throws -> JournalScan {
        var result = JournalScan()
        let names = segmentNames(directory)
        result.segments = names.count
        result.firstRecord = names.first?.first
        var expected: UInt64? = nil
        let buffer = ReadBuffer()
        for (index, (name, first)) in names.enumerated() {
            let path = directory + "/" + name
            if expected == nil, first > 1, first - 1 <= coveredThrough {
                // The journal starts after records a snapshot covers (moved away by a repair, or never kept).
                result.gaps.append(1...(first - 1))
                result.lastRecord = first - 1
            }
            if let e = expected, first > e, first - 1 <= coveredThrough {
                result.gaps.append(e...(first - 1))
                result.lastRecord = first - 1
            } else if let e = expected, first != e {
                result.damage = JournalDamage(
                    kind: .corrupt, segment: name, offset: 0, lastGoodRecord: result.lastRecord,
                    reason: first > e
                        ? "segment starts at record \(first) but the one before ends at record \(e - 1): records \(e)…\(first - 1) are missing"
                        : "segment starts at record \(first) but the one before already reached record \(e - 1)",
                    validAfter: "segment \(name) and \(names.count - index - 1) later segments")
                return result
            }
            if index + 1 < names.count, names[index + 1].first - 1 <= verifiedThrough, names[index + 1].first <= from {
                expected = names[index + 1].first
                result.lastRecord = names[index + 1].first - 1
                continue
            }
            let raw = try buffer.read(path)
            var keepGoing = true
            var undecodable: (RawRecord, String)?
            var scanner = SegmentScanner(bytes: raw, expected: first)
            var sawRecord = false
            while keepGoing, let record = scanner.next() {
                sawRecord = true
                guard record.number >= from else { result.lastRecord = record.number; continue }
                var reader = BinaryReader(UnsafeRawBufferPointer(rebasing: raw[record.payload]))
                let entry: JournalEntry
                do {
                    entry = try JournalEntry(from: &reader)
                } catch {
                    undecodable = (record, "\(error)")
                    break
                }
                result.lastRecord = record.number
                result.recordsRead += 1
                result.bytesRead += record.end - record.offset
                keepGoing = try body(record.number, entry)
            }
            if !keepGoing { return result }
            if let (record, error) = undecodable {
                result.damage = JournalDamage(
                    kind: .corrupt, segment: name, offset: record.offset, lastGoodRecord: result.lastRecord,
                    reason: "record \(record.number) passes its checksum but does not decode: \(error)", validAfter: "record \(record.number)")
                return result
            }
            result.tailSegment = name
            result.tailSize = scanner.offset
            expected = sawRecord ? result.lastRecord + 1 : first
            guard let reason = scanner.stopReason else { continue }

            // Damage: a torn tail only if nothing valid follows it, here or in a later segment.
            var after: [String] = []
            if let found = findValidRecord(in: raw, after: scanner.offset, above: result.lastRecord) {
                after.append("record \(found.number) at offset \(found.offset)")
            }
            let cut = raw.count - scanner.offset
            let laterBuffer = ReadBuffer()
            let later = names[(index + 1)...].filter { segmentHoldsRecords(directory + "/" + $0.name, buffer: laterBuffer) }
            if !later.isEmpty {
                after.append("\(later.count) later segment\(later.count == 1 ? "" : "s") with records (\(later.map(\.name).joined(separator: ", ")))")
            }
            var damage = JournalDamage(
                kind: .tornTail, segment: name, offset: scanner.offset, lastGoodRecord: result.lastRecord,
                reason: reason, validAfter: after.isEmpty ? nil : after.joined(separator: " and "))
            if !after.isEmpty {
                damage.kind = .corrupt
            } else if result.lastRecord < mustReach {
                damage.kind = .corrupt
                damage.reason += " (the snapshot loaded covers record \(mustReach), so this is not the tail)"
            }
            result.damage = damage
            guard damage.kind == .tornTail else { return result }
            result.truncation = "\(name): \(reason); cut \(cut) bytes"
            if repair {
                if scanner.offset < JournalFormat.segmentHeaderSize {
                    FileIO.remove(path)
                    result.tailSegment = nil
                    result.tailSize = 0
                } else {
                    let fd = try FileIO.open(path, flags: O_WRONLY)
                    defer { FileIO.close(fd) }
                    try FileIO.truncate(fd, to: scanner.offset, path: path)
                    try FileIO.syncData(fd, path: path)
                }
                // Later segments hold no record (checked above): a header written before the tail tore.
                for (laterName, _) in names[(index + 1)...] {
                    FileIO.remove(directory + "/" + laterName)
                    result.truncation! += "; removed empty later segment \(laterName)"
                }
                try FileIO.syncDirectory(directory)
            }
            return result
        }
        return result
    }

    /// Checks every record's checksum and number in the segments that hold only records up to `through`
    /// (those a snapshot covers), without decoding them. Any damage there is corruption: later records
    /// exist. Returns the damage, if any, and the last record checked.
    public static func verifyCovered(directory: String, through: UInt64) throws -> (damage: JournalDamage?, verifiedThrough: UInt64) {
        let names = segmentNames(directory)
        let buffer = ReadBuffer()
        var expected: UInt64?
        var last: UInt64 = 0
        for (index, (name, first)) in names.enumerated() {
            guard index + 1 < names.count, names[index + 1].first - 1 <= through else { break }
            let next = names[index + 1].first
            // A run missing before a segment that starts at or before `through` is a gap the snapshot covers.
            if let e = expected, first < e {
                return (
                    JournalDamage(
                        kind: .corrupt, segment: name, offset: 0, lastGoodRecord: last,
                        reason: "segment starts at record \(first), expected \(e)", validAfter: "later segments"), last
                )
            }
            let raw = try buffer.read(path(directory, name))
            var scanner = SegmentScanner(bytes: raw, expected: first)
            var segmentLast = first - 1
            while let record = scanner.next() { segmentLast = record.number }
            if let reason = scanner.stopReason {
                return (
                    JournalDamage(
                        kind: .corrupt, segment: name, offset: scanner.offset, lastGoodRecord: max(last, segmentLast),
                        reason: reason, validAfter: "segment \(names[index + 1].name) and later"), last
                )
            }
            if segmentLast > next - 1 {
                return (
                    JournalDamage(
                        kind: .corrupt, segment: names[index + 1].name, offset: 0, lastGoodRecord: segmentLast,
                        reason: "segment starts at record \(next) but the one before already reached record \(segmentLast)",
                        validAfter: "segment \(names[index + 1].name) and later"), last
                )
            }
            last = next - 1
            expected = next
        }
        return (nil, last)
    }

    private static func path(_ directory: String, _ name: String) -> String { directory + "/" + name }

    /// The journal's segment files, in record order.
    static func segmentNames(_ directory: String) -> [(name: String, first: UInt64)] {
        ((try? FileIO.list(directory)) ?? []).compactMap { name in
            JournalFormat.firstRecord(ofSegmentNamed: name).map { (name, $0) }
        }.sorted { $0.first < $1.first }
    }

    /// The first well-formed record (length in bounds, checksum holding, number above `above`) starting
    /// after `offset`, if any: evidence that the damage at `offset` is not a torn tail.
    static func findValidRecord(in raw: UnsafeRawBufferPointer, after offset: Int, above: UInt64) -> (number: UInt64, offset: Int)? {
        var o = offset + 1
        while o + JournalFormat.recordHeaderSize <= raw.count {
            defer { o += 1 }
            let number = raw.loadUnaligned(fromByteOffset: o + 8, as: UInt64.self).littleEndian
            guard number > above, number - above < 1 << 40 else { continue }
            let length = Int(raw.loadUnaligned(fromByteOffset: o, as: UInt32.self).littleEndian)
            guard length <= JournalFormat.maximumPayload, o + JournalFormat.recordHeaderSize + length <= raw.count else { continue }
            let crc = raw.loadUnaligned(fromByteOffset: o + 4, as: UInt32.self).littleEndian
            if CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[(o + 8)..<(o + JournalFormat.recordHeaderSize + length)])) == crc {
                return (number, o)
            }
        }
        return nil
    }

    /// Whether a segment file holds at least one well-formed record (whatever its header says).
    static func segmentHoldsRecords(_ path: String, buffer: ReadBuffer) -> Bool {
        guard let raw = try? buffer.read(path) else { return false }
        return findValidRecord(in: raw, after: JournalFormat.segmentHeaderSize - 1, above: 0) != nil
    }
}
