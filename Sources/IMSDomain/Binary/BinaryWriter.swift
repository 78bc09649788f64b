/// Appends values in IMS's binary format: little-endian fixed-width integers, LEB128 lengths, UTF-8 strings.
///
/// The format of the journal and of snapshots. Every value has one encoding,
/// so equal states encode to equal bytes.
///
/// ```swift
/// var w = BinaryWriter()
/// w.write(Int64(42)); w.write("AAPL")
/// var r = BinaryReader(w.bytes)
/// ```
public struct BinaryWriter: Sendable {
    public var bytes: [UInt8]

    /// A `BinaryWriter` from its fields.
    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Appends the value in IMS's binary encoding.
    @inlinable public mutating func write(_ v: UInt8) { bytes.append(v) }
    @inlinable public mutating func write(_ v: Bool) { bytes.append(v ? 1 : 0) }
    @inlinable public mutating func write(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    @inlinable public mutating func write(_ v: Int32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    @inlinable public mutating func write(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    @inlinable public mutating func write(_ v: Int64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }

    /// An unsigned LEB128 integer: one byte below 128.
    @inlinable public mutating func writeVarint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// A signed integer, zigzag then LEB128, so small magnitudes take one byte.
    @inlinable public mutating func writeVarint(_ v: Int64) {
        writeVarint(UInt64(bitPattern: (v << 1) ^ (v >> 63)))
    }

    /// Appends the value in IMS's binary encoding.
    @inlinable public mutating func writeCount(_ n: Int) { writeVarint(UInt64(n)) }

    /// Appends the value in IMS's binary encoding.
    public mutating func write(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            writeVarint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    /// Appends the value in IMS's binary encoding.
    public mutating func write(_ s: String?) {
        if let s { write(true); write(s) } else { write(false) }
    }

    /// Appends the value in IMS's binary encoding.
    public mutating func write(_ v: Int64?) {
        if let v { write(true); writeVarint(v) } else { write(false) }
    }

    /// Appends the value in IMS's binary encoding.
    public mutating func write(_ d: BusinessDate) { writeVarint(Int64(d.dayNumber)) }
    /// Appends the value in IMS's binary encoding.
    public mutating func write(_ d: BusinessDate?) {
        if let d { write(true); write(d) } else { write(false) }
    }
    /// Appends the value in IMS's binary encoding.
    public mutating func write(_ d: Decimal8) { writeVarint(d.units) }
    /// Appends the value in IMS's binary encoding.
    public mutating func write(_ d: Decimal8?) {
        if let d { write(true); write(d) } else { write(false) }
    }
    /// Appends the value in IMS's binary encoding.
    public mutating func write(_ t: Timestamp) { writeVarint(t.micros) }
    /// Appends the value in IMS's binary encoding.
    public mutating func write(_ t: Timestamp?) {
        if let t { write(true); write(t) } else { write(false) }
    }

    /// A case of a closed enumeration, as its position in `allCases` (inlinable, to be specialized where called).
    @inlinable
    public mutating func write<E: CaseIterable & Equatable>(_ e: E) {
        let index = E.allCases.firstIndex(of: e)!
        write(UInt8(E.allCases.distance(from: E.allCases.startIndex, to: index)))
    }

    /// Appends the value in IMS's binary encoding.
    public mutating func write<T: BinaryCodable>(_ value: T) { value.encode(to: &self) }

    /// Appends the value in IMS's binary encoding.
    public mutating func write<T: BinaryCodable>(_ values: [T]) {
        writeCount(values.count)
        for v in values { v.encode(to: &self) }
    }
}

/// A value with one binary encoding in IMS's format.
public protocol BinaryCodable {
    func encode(to writer: inout BinaryWriter)
    init(from reader: inout BinaryReader) throws(BinaryFormatError)
}
