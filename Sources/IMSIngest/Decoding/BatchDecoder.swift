import IMSDomain

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Turns a request body (NDJSON or CSV) into an `IngestBatch` of typed events and per-line errors.
///
/// Lines are numbered from 1 as they appear in the body, blank lines included,
/// so an error's line number is the one a person sees in their file.
public enum BatchDecoder {
    /// The longest line kept verbatim in an exception.
    static let rawLimit = LineTexts.limit

    /// Decodes newline-delimited JSON, one event object per line.
    public static func decodeNDJSON(
        _ body: UnsafeRawBufferPointer, mode: IngestBatch.Mode = .atomic,
        receivedAt: Timestamp
    ) -> IngestBatch {
        var batch = IngestBatch(mode: mode, receivedAt: receivedAt)
        if refuseByteOrderMark(body, into: &batch) { return batch }
        batch.events.reserveCapacity(body.count / 160)
        batch.lines.reserveCapacity(body.count / 160)
        var fields: [ScannedField] = []
        fields.reserveCapacity(24)
        var lineNumber = 0
        forEachLine(body) { line in
            lineNumber += 1
            if JSONScanner.skipSpace(line, 0) == line.count { return }
            do throws(FieldError) {
                do throws(JSONScanner.Failure) {
                    try JSONScanner.scanObject(line, into: &fields)
                } catch {
                    throw FieldError(error.field, error.message)
                }
                var source = JSONFieldSource(line: line, fields: fields)
                let type: String
                switch source.raw("type") {
                case .string(let b, false)?: type = String(decoding: b, as: UTF8.self)
                case nil: throw FieldError("type", "is required")
                default: throw FieldError("type", "must be a string")
                }
                let (event, stamp) = try EventFields.decode(type: type, &source)
                batch.append(event, line: lineNumber, stamp: stamp, text: line)
            } catch {
                batch.reject(error, line: lineNumber, text: line)
            }
        }
        return batch
    }

    /// Decodes CSV with a header row of field names. The event type comes from a `type` column or from `type`.
    /// Lines starting with `#` are comments.
    public static func decodeCSV(
        _ body: UnsafeRawBufferPointer, type defaultType: String?, mode: IngestBatch.Mode = .atomic,
        receivedAt: Timestamp
    ) -> IngestBatch {
        var batch = IngestBatch(mode: mode, receivedAt: receivedAt)
        if refuseByteOrderMark(body, into: &batch) { return batch }
        var header: [String]?
        var typeColumn: Int?
        var lineNumber = 0
        forEachLine(body) { line in
            lineNumber += 1
            if line.isEmpty || line[0] == UInt8(ascii: "#") || JSONScanner.skipSpace(line, 0) == line.count { return }
            do throws(FieldError) {
                let cells = try CSVRow.split(line)
                guard let names = header else {
                    let names = cells.map { String(decoding: UnsafeRawBufferPointer(rebasing: line[$0]), as: UTF8.self).trimmingSpaces }
                    if Set(names).count != names.count { throw FieldError("header", "column names repeat") }
                    header = names
                    typeColumn = names.firstIndex(of: "type")
                    if typeColumn == nil && defaultType == nil { throw FieldError("type", "CSV needs a type column or a type parameter") }
                    return
                }
                guard cells.count == names.count else {
                    throw FieldError("line", "has \(cells.count) cells but the header has \(names.count)")
                }
                var source = CSVFieldSource(line: line, names: names, cells: cells)
                var type = defaultType ?? ""
                if let typeColumn {
                    type = String(decoding: UnsafeRawBufferPointer(rebasing: line[cells[typeColumn]]), as: UTF8.self)
                    _ = source.raw("type")
                }
                let (event, stamp) = try EventFields.decode(type: type, &source)
                batch.append(event, line: lineNumber, stamp: stamp, text: line)
            } catch {
                batch.reject(error, line: lineNumber, text: line)
            }
        }
        return batch
    }

    /// A body starting with a UTF-8 byte-order mark is refused whole, with one clear error on line 1: the
    /// mark is not JSON, and in CSV it would silently rename the first column.
    static func refuseByteOrderMark(_ body: UnsafeRawBufferPointer, into batch: inout IngestBatch) -> Bool {
        guard body.count >= 3, body[0] == 0xEF, body[1] == 0xBB, body[2] == 0xBF else { return false }
        batch.rejected.append(
            LineError(
                line: 1, field: "body", error: "the body starts with a UTF-8 byte-order mark (EF BB BF); save the file as UTF-8 without BOM and send it again",
                raw: rawText(UnsafeRawBufferPointer(rebasing: body.prefix(64)))))
        return true
    }

    static func rawText(_ line: UnsafeRawBufferPointer) -> String {
        String(decoding: line.prefix(rawLimit), as: UTF8.self)
    }

    /// Calls `body` with each line (without its `\n` or `\r\n`).
    @inline(__always) static func forEachLine(_ buffer: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
        guard let base = buffer.baseAddress else { return }
        var start = 0
        while start < buffer.count {
            let remaining = buffer.count - start
            let found = memchr(base + start, 0x0A, remaining)
            var end = found.map { UnsafeRawPointer($0) - base } ?? buffer.count
            let next = end + 1
            if end > start && buffer[end - 1] == 0x0D { end -= 1 }
            body(UnsafeRawBufferPointer(rebasing: buffer[start..<end]))
            start = next
        }
    }
}

extension IngestBatch {
    mutating func append(_ event: Event, line: Int, stamp: FeedStamp?, text: UnsafeRawBufferPointer) {
        if mode == .partial {
            if lineTexts == nil { lineTexts = LineTexts() }
            lineTexts!.append(text)
        }
        if let stamp {
            if feedStamps.isEmpty { feedStamps = Array(repeating: nil, count: events.count) }
            feedStamps.append(stamp)
        } else if !feedStamps.isEmpty {
            feedStamps.append(nil)
        }
        events.append(event)
        lines.append(Int32(truncatingIfNeeded: line))
    }

    mutating func reject(_ error: FieldError, line: Int, text: UnsafeRawBufferPointer) {
        // A field whose name is empty (`"":1`) is named as written, so the error still names something.
        let field = error.field.isEmpty ? "\"\"" : error.field
        rejected.append(LineError(line: line, field: field, error: error.message, raw: BatchDecoder.rawText(text)))
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return String(s)
    }
}
