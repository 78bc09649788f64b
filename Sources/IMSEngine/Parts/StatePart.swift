import IMSDomain

/// One part of the engine's state, registered once in `EngineState.parts`.
///
/// A part says in one type everything the machinery around the state needs from it: its snapshot section
/// (tag, writer, reader), what it puts in each change record (`capture`), how the read model takes that in
/// (`apply`), its lines of the read model's canonical text, and how many items its change carries (the
/// change feed's memory bound). The snapshot codec, `takeChangeRecord`, `ReadModel.apply`,
/// `ChangeRecord.itemCount` and `ReadModel.canonicalText` iterate the registry, so none of them can leave a
/// part out, and the copies cannot disagree.
///
/// Adding a part: a new type conforming here (its own file under `Parts/`), its line in `EngineState.parts`,
/// and the stored property it keeps on `EngineState` and, if queries read it, on `ReadModel`. A part's
/// change travels in the record's slot for it (`record[Part.self]`), so `ChangeRecord` is not edited.
///
/// Parts are caseless enums: the state keeps the values, the part says how they move.
protocol StatePart {
    /// What a change record carries for this part (`Never` when it carries nothing: a part kept only in
    /// snapshots, or one whose changes another part carries).
    associatedtype Change: Sendable = Never

    /// The part's snapshot section tag: written into images, so fixed once released; unique (tested).
    static var sectionTag: UInt32 { get }
    /// The section's name in messages ("snapshot section feeds has 3 bytes after its end").
    static var name: String { get }

    /// Writes the part's section of the snapshot image: every value that is not derived, in a fixed order.
    static func write(_ state: EngineState, to w: inout BinaryWriter)
    /// Reads the section into a state being loaded. Sections come in registry order, so a part may read
    /// what the parts before it loaded (`format` is 2 for the fixed sequence of older images).
    static func read(into state: inout EngineState, from r: inout BinaryReader, format: UInt32) throws(BinaryFormatError)

    /// Takes the part's changes since the last drain from the state into `record[Self.self]` (nothing when
    /// unchanged), clearing its marks. The writer calls it once per drain, under its lock.
    static func capture(from state: inout EngineState, into record: inout ChangeRecord)
    /// Applies `record[Self.self]`, when present, to the read model (values, not deltas: idempotent).
    static func apply(_ record: ChangeRecord, to model: inout ReadModel)
    /// How many items the part's change carries, for the feed's memory bound.
    static func itemCount(_ change: Change) -> Int
    /// The part's lines of `ReadModel.canonicalText()`: everything a query sees of it, in a fixed order.
    static func canonicalLines(_ model: ReadModel, into lines: inout [String])
}

extension StatePart {
    static func capture(from state: inout EngineState, into record: inout ChangeRecord) {}
    static func apply(_ record: ChangeRecord, to model: inout ReadModel) {}
    static func canonicalLines(_ model: ReadModel, into lines: inout [String]) {}

    /// The items `record` carries for this part.
    static func itemCount(in record: ChangeRecord) -> Int { record[Self.self].map(itemCount) ?? 0 }
}

extension StatePart where Change == Never {
    static func itemCount(_ change: Never) -> Int { switch change {} }
}

extension EngineState {
    /// Every part of the state, in snapshot order (a part may read, on load, what the parts before it
    /// loaded). Appending is how a part is added; the order of those released is fixed by their images.
    static let parts: [any StatePart.Type] = [
        CountersPart.self, MarketsPart.self, ReferencePart.self, PartitionsPart.self, FinancingPart.self,
        FeedsPart.self, ExceptionsPart.self, RulesPart.self, LocatesPart.self, OrdersPart.self,
        RestrictionsPart.self, TickDirectionsPart.self, AuditPart.self, AcknowledgementsPart.self, IntradayBarsPart.self,
    ]

    /// The parts of a format-2 image (one fixed sequence, no tags).
    static let format2Parts: [any StatePart.Type] = Array(parts.prefix(7))

    /// Each part's identity, by registry position: a record's slot for a part.
    static let partIdentifiers: [ObjectIdentifier] = parts.map { ObjectIdentifier($0) }

    /// The registry position of `part` (a scan of fifteen words: cheaper than hashing).
    @inline(__always) static func slot<P: StatePart>(of part: P.Type) -> Int {
        let id = ObjectIdentifier(part)
        for (i, p) in partIdentifiers.enumerated() where p == id { return i }
        preconditionFailure("\(part) is not registered in EngineState.parts")
    }

    /// The registered part with section tag `tag`.
    static func part(sectionTag tag: UInt32) -> (any StatePart.Type)? { parts.first { $0.sectionTag == tag } }
}

extension ChangeRecord {
    /// A part's change in this record (nil: the part did not change in the drain).
    subscript<P: StatePart>(part: P.Type) -> P.Change? {
        get { changes[EngineState.slot(of: part)] as? P.Change }
        set { changes[EngineState.slot(of: part)] = newValue }
    }
}

// MARK: Helpers the parts' sections share

extension BinaryWriter {
    /// A dictionary in key order (so equal states give equal bytes): count, then each key and value.
    mutating func writeSorted<V>(_ d: [String: V], _ body: (inout BinaryWriter, V) -> Void) {
        writeCount(d.count)
        for key in d.keys.sorted() {
            write(key)
            body(&self, d[key]!)
        }
    }

    /// A list of indexes as varints.
    mutating func writeIndexes(_ list: [Int32]) {
        writeCount(list.count)
        for i in list { writeVarint(Int64(i)) }
    }
}

extension BinaryReader {
    /// A dictionary written by `writeSorted`.
    mutating func readSorted<V>(_ body: (inout BinaryReader) throws(BinaryFormatError) -> V) throws(BinaryFormatError) -> [String: V] {
        var out: [String: V] = [:]
        for _ in 0..<(try readCount()) {
            let key = try readString()
            out[key] = try body(&self)
        }
        return out
    }

    /// A list written by `writeIndexes`.
    mutating func readIndexes() throws(BinaryFormatError) -> [Int32] {
        let n = try readCount()
        var out: [Int32] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(Int32(truncatingIfNeeded: try readVarInt())) }
        return out
    }
}
