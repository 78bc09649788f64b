import IMSDomain

/// Splits one CSV line into cell ranges (RFC 4180 quoting: `"a, b"` and `""` for a quote).
enum CSVRow {
    static func split(_ line: UnsafeRawBufferPointer) throws(FieldError) -> [Range<Int>] {
        var cells: [Range<Int>] = []
        var i = 0
        while true {
            if i < line.count, line[i] == UInt8(ascii: "\"") {
                let start = i + 1
                var j = start
                while true {
                    guard j < line.count else { throw FieldError("line", "unterminated quoted cell") }
                    if line[j] == UInt8(ascii: "\"") {
                        if j + 1 < line.count, line[j + 1] == UInt8(ascii: "\"") { j += 2; continue }
                        break
                    }
                    j += 1
                }
                cells.append(start..<j)
                i = j + 1
                guard i == line.count || line[i] == UInt8(ascii: ",") else { throw FieldError("line", "text after a quoted cell") }
            } else {
                let start = i
                while i < line.count, line[i] != UInt8(ascii: ",") { i += 1 }
                cells.append(start..<i)
            }
            if i >= line.count { return cells }
            i += 1
            if i == line.count { cells.append(i..<i); return cells }
        }
    }
}

/// The cells of one CSV row, read by header name. Empty cells are absent fields.
struct CSVFieldSource: FieldSource {
    let line: UnsafeRawBufferPointer
    let names: [String]
    let cells: [Range<Int>]
    var read = Set<Int>()

    mutating func raw(_ name: StaticString) -> RawValue? {
        let key = "\(name)"
        guard let i = names.firstIndex(of: key) else { return nil }
        read.insert(i)
        return .text(UnsafeRawBufferPointer(rebasing: line[cells[i]]))
    }

    func unreadField() -> String? {
        for (i, name) in names.enumerated() where !read.contains(i) {
            if !UnsafeRawBufferPointer(rebasing: line[cells[i]]).isEmpty { return name }
        }
        return nil
    }
}
