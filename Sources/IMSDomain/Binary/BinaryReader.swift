/// Why bytes could not be read back as IMS's binary format.
public struct BinaryFormatError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    /// A `BinaryFormatError` from its fields.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Reads what `BinaryWriter` wrote, checking every length against the bytes left.
public struct BinaryReader {
    public let base: UnsafeRawBufferPointer
    public private(set) var offset: Int

    /// Reads `bytes`, which must outlive the reader.
    public init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0) {
        self.base = bytes
        self.offset = offset
    }

    public var remaining: Int { base.count - offset }
    public var isAtEnd: Bool { offset >= base.count }

    @inline(__always) private mutating func take(_ n: Int) throws(BinaryFormatError) -> Int {
        guard n >= 0, n <= base.count - offset else { throw BinaryFormatError("truncated: needed \(n) bytes at offset \(offset), \(base.count - offset) left") }
        let at = offset
        offset += n
        return at
    }

    /// Reads an u int8 written by the matching `BinaryWriter` call, or throws naming the offset.
    public mutating func readUInt8() throws(BinaryFormatError) -> UInt8 { base[try take(1)] }
    /// Moves past `n` bytes.
    public mutating func skip(_ n: Int) throws(BinaryFormatError) { _ = try take(n) }
    /// Reads a bool written by the matching `BinaryWriter` call, or throws naming the offset.
    public mutating func readBool() throws(BinaryFormatError) -> Bool {
        switch try readUInt8() {
        case 0: return false
        case 1: return true
        case let b: throw BinaryFormatError("bad boolean byte \(b) at offset \(offset - 1)")
        }
    }
    /// Reads an u int32 written by the matching `BinaryWriter` call, or throws naming the offset.
    public mutating func readUInt32() throws(BinaryFormatError) -> UInt32 {
        UInt32(littleEndian: base.loadUnaligned(fromByteOffset: try take(4), as: UInt32.self))
    }
    /// Reads an int32 written by the matching `BinaryWriter` call, or throws naming the offset.
    public mutating func readInt32() throws(BinaryFormatError) -> Int32 {
        Int32(littleEndian: base.loadUnaligned(fromByteOffset: try take(4), as: Int32.self))
    }
    /// Reads an u int64 written by the matching `BinaryWriter` call, or throws naming the offset.
    public mutating func readUInt64() throws(BinaryFormatError) -> UInt64 {
        UInt64(littleEndian: base.loadUnaligned(fromByteOffset: try take(8), as: UInt64.self))
    }
    /// Reads an int64 written by the matching `BinaryWriter` call, or throws naming the offset.
    public mutating func readInt64() throws(BinaryFormatError) -> Int64 {
        Int64(littleEndian: base.loadUnaligned(fromByteOffset: try take(8), as: Int64.self))
    }

    /// Reads a var u int written by the matching `BinaryWriter` call, or throws naming the offset.
    @inline(__always)
    public mutating func readVarUInt() throws(BinaryFormatError) -> UInt64 {
        // Most varints (lengths, small quantities, flags) are one byte.
        if offset < base.count, base[offset] < 0x80 {
            offset += 1
            return UInt64(base[offset - 1])
        }
        return try readLongVarUInt()
    }

    private mutating func readLongVarUInt() throws(BinaryFormatError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try readUInt8()
            if shift == 63 && b > 1 { throw BinaryFormatError("varint overflows 64 bits at offset \(offset - 1)") }
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return result }
            shift += 7
        }
    }

    /// Reads a var int written by the matching `BinaryWriter` call, or throws naming the offset.
    public mutating func readVarInt() throws(BinaryFormatError) -> Int64 {
        let z = try readVarUInt()
        return Int64(bitPattern: (z >> 1) ^ (0 &- (z & 1)))
    }

    /// A count of items that follow, bounded by the bytes left (each item takes at least one byte).
    public mutating func readCount() throws(BinaryFormatError) -> Int {
        let n = try readVarUInt()
        guard n <= UInt64(remaining) else { throw BinaryFormatError("count \(n) exceeds the \(remaining) bytes left at offset \(offset)") }
        return Int(n)
    }

    /// Reads a string written by the matching `BinaryWriter` call, or throws naming the offset.
    public mutating func readString() throws(BinaryFormatError) -> String {
        let n = try readCount()
        let at = try take(n)
        let slice = UnsafeRawBufferPointer(rebasing: base[at..<at + n])
        return String(decoding: slice, as: UTF8.self)
    }

    /// Reads an optional string written by the matching `BinaryWriter` call, or throws naming the offset.
    public mutating func readOptionalString() throws(BinaryFormatError) -> String? {
        try readBool() ? try readString() : nil
    }
    /// Reads an optional int64 written by the matching `BinaryWriter` call, or throws naming the offset.
    public mutating func readOptionalInt64() throws(BinaryFormatError) -> Int64? {
        try readBool() ? try readVarInt() : nil
    }
    /// Reads a date written by the matching `BinaryWriter` call, or throws naming the offset.
    public mutating func readDate() throws(BinaryFormatError) -> BusinessDate {
        let v = try readVarInt()
        guard let d = Int32(exactly: v) else { throw BinaryFormatError("date out of range at offset \(offset)") }
        return BusinessDate(dayNumber: d)
    }
    /// Reads an optional date written by the matching `BinaryWriter` call, or throws naming the offset.
    public mutating func readOptionalDate() throws(BinaryFormatError) -> BusinessDate? {
        try readBool() ? try readDate() : nil
    }
    /// Reads a decimal written by the matching `BinaryWriter` call, or throws naming the offset.
    public mutating func readDecimal() throws(BinaryFormatError) -> Decimal8 { Decimal8(units: try readVarInt()) }
    /// Reads an optional decimal written by the matching `BinaryWriter` call, or throws naming the offset.
    public mutating func readOptionalDecimal() throws(BinaryFormatError) -> Decimal8? {
        try readBool() ? try readDecimal() : nil
    }
    /// Reads a timestamp written by the matching `BinaryWriter` call, or throws naming the offset.
    public mutating func readTimestamp() throws(BinaryFormatError) -> Timestamp { Timestamp(micros: try readVarInt()) }
    /// Reads an optional timestamp written by the matching `BinaryWriter` call, or throws naming the offset.
    public mutating func readOptionalTimestamp() throws(BinaryFormatError) -> Timestamp? {
        try readBool() ? try readTimestamp() : nil
    }

    /// A case of a closed enumeration, by its position in `allCases`. Inlinable, so that it is specialized
    /// where it is called: unspecialized, each call looks the type's metadata up.
    @inlinable
    public mutating func readCase<E: CaseIterable>(_: E.Type = E.self) throws(BinaryFormatError) -> E {
        let i = Int(try readUInt8())
        guard i < E.allCases.count else { throw BinaryFormatError("no case \(i) of \(E.self) at offset \(offset - 1)") }
        return E.allCases[E.allCases.index(E.allCases.startIndex, offsetBy: i)]
    }

    /// Reads a value written by its `encode(to:)`.
    public mutating func read<T: BinaryCodable>(_: T.Type = T.self) throws(BinaryFormatError) -> T {
        try T(from: &self)
    }

    /// Reads an array written by the matching `BinaryWriter` call, or throws naming the offset.
    public mutating func readArray<T: BinaryCodable>(_: T.Type = T.self) throws(BinaryFormatError) -> [T] {
        let n = try readCount()
        var out: [T] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try T(from: &self)) }
        return out
    }
}
