import IMSDomain

/// The reference data: securities and identifiers, books, counterparties, aggregation units and each
/// security's partition (`ReferenceData`). Shared copy-on-write; a record carries it whole when its
/// `version` moved since the last one published.
enum ReferencePart: StatePart {
    static let sectionTag: UInt32 = 3
    static let name = "reference"
    typealias Change = ReferenceData

    static func write(_ state: EngineState, to w: inout BinaryWriter) {
        let reference = state.reference
        w.writeCount(reference.securities.count)
        for s in reference.securities { s.record.encode(to: &w); w.write(s.market) }
        w.writeCount(reference.securitiesByMarket.count)
        for list in reference.securitiesByMarket { w.writeIndexes(list) }
        let identifiers = reference.identifierIndex.sorted { ($0.key.kind.rawValue, $0.key.value) < ($1.key.kind.rawValue, $1.key.value) }
        w.writeCount(identifiers.count)
        for (key, index) in identifiers { w.write(key.kind); w.write(key.value); w.write(index) }
        w.writeCount(reference.books.count)
        for b in reference.books { b.encode(to: &w) }
        w.writeSorted(reference.counterparties) { $1.encode(to: &$0) }
        w.writeSorted(reference.aggregationUnits) { $1.encode(to: &$0) }
        w.writeSorted(reference.aggregationUnitNames) { $0.write($1) }
        w.writeSorted(reference.providerVersions) { $0.writeVarint($1) }
        // Format 3: the partition of every security (format 2 placed security s in s & (count − 1)).
        w.writeCount(reference.securityPartitions.count)
        for k in reference.securityPartitions { w.write(k) }
    }

    static func read(into state: inout EngineState, from r: inout BinaryReader, format: UInt32) throws(BinaryFormatError) {
        let markets = state.markets.count, partitions = state.partitions.count
        var reference = state.reference
        for _ in 0..<(try r.readCount()) {
            let record = try Security(from: &r)
            let market = try r.readInt32()
            guard let id = record.securityId, market >= 0, Int(market) < markets else { throw BinaryFormatError("snapshot security without id or market") }
            _ = reference.securityIds.intern(id)
            reference.securities.append(SecurityEntry(record: record, market: market))
        }
        reference.securitiesByMarket = try (0..<r.readCount()).map { _ throws(BinaryFormatError) in try r.readIndexes() }
        reference.securitiesByTicker = [:]
        for (i, entry) in reference.securities.enumerated() {
            if let ticker = entry.record.ticker { reference.securitiesByTicker[ticker, default: []].append(Int32(i)) }
        }
        for _ in 0..<(try r.readCount()) {
            let kind: IdentifierKind = try r.readCase()
            reference.identifierIndex[IdentifierKey(kind: kind, value: try r.readString())] = try r.readInt32()
        }
        for _ in 0..<(try r.readCount()) {
            let b = try Book(from: &r)
            _ = reference.bookIds.intern(b.bookId)
            reference.books.append(b)
        }
        reference.counterparties = try r.readSorted { r throws(BinaryFormatError) in try Counterparty(from: &r) }
        reference.aggregationUnits = try r.readSorted { r throws(BinaryFormatError) in try AggregationUnit(from: &r) }
        reference.aggregationUnitNames = try r.readSorted { r throws(BinaryFormatError) in try r.readString() }
        reference.providerVersions = try r.readSorted { r throws(BinaryFormatError) in try r.readVarInt() }
        if format == 2 {
            reference.securityPartitions = reference.securities.indices.map { UInt8($0 & (partitions - 1)) }
        } else {
            reference.securityPartitions = []
            for _ in 0..<(try r.readCount()) {
                let k = try r.readUInt8()
                guard Int(k) < partitions else { throw BinaryFormatError("snapshot places a security in partition \(k) of \(partitions)") }
                reference.securityPartitions.append(k)
            }
        }
        state.reference = reference
    }

    static func capture(from state: inout EngineState, into record: inout ChangeRecord) {
        guard state.changeLog.publishedReference != state.reference.version else { return }
        record[Self.self] = state.reference
        state.changeLog.publishedReference = state.reference.version
    }

    static func apply(_ record: ChangeRecord, to model: inout ReadModel) {
        guard let changed = record[Self.self] else { return }
        model.reference = changed
        for k in model.partitions.indices {
            model.partitions[k].grow(securities: changed.securities.count, books: changed.books.count)
        }
    }

    static func itemCount(_ change: ReferenceData) -> Int { 1 }

    static func canonicalLines(_ model: ReadModel, into lines: inout [String]) {
        for s in model.searchSecurities(query: nil, marketId: nil, offset: 0, limit: .max).items { lines.append("security \(s)") }
        for b in model.allBooks() { lines.append("book \(b)") }
        for c in model.allCounterparties() { lines.append("counterparty \(c)") }
        for u in model.allAggregationUnits() { lines.append("unit \(u)") }
    }
}
