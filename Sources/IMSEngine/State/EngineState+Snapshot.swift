import DequeModule
import IMSDomain

// The binary image of an `EngineState`: every field that is not derived, dictionaries in key order,
// so that equal states give equal bytes. Derived indexes (interned-name tables, the trade and position
// hash tables, market ladders) are rebuilt on load.

extension EngineState {
    /// The format version written at the head of every snapshot image. Format 3 is a list of tagged sections
    /// (each part of the state writes its own); format 2, one fixed sequence, still loads.
    public static let snapshotFormatVersion: UInt32 = 3

    /// The sections of a format-3 image, each written by the part of the state it holds. A section the
    /// image lacks leaves its part empty (so an image written before a part existed still loads); a section
    /// this version does not know is refused, naming its tag (an image from a newer version).
    enum SnapshotSection: UInt32, CaseIterable {
        case counters = 1, markets, reference, partitions, financing, feeds, exceptions
        /// The rule sets and their audit trail (issue 13); a snapshot without it has only the shipped set.
        case rules
        /// The locates of the day and their history (issue 14); a snapshot without it has none.
        case locates
        /// The orders validated today (issue 14); a snapshot without it has none.
        case orders
        /// Securities under a short-sale price test, and through which business date (issue 14).
        case restrictions
        /// The direction of each security's last price change (JP's price restriction reads it); a snapshot
        /// without it knows none until the next ticks.
        case tickDirections
        /// The audit trail kept in memory (issue 15); a snapshot without it starts an empty trail.
        case audit
        /// Who acknowledged which exception (issue 16); a snapshot without it has none acknowledged. Written
        /// after `exceptions`, whose entries it marks.
        case acknowledgements
        /// Each security's intraday price bars of its market's day (issue 26); a snapshot without it starts
        /// the day's charts from the next ticks. Written after `partitions`, whose prices it completes.
        case intradayBars

        /// The sections of format 2, in its fixed order.
        static let format2: [SnapshotSection] = [.counters, .markets, .reference, .partitions, .financing, .feeds, .exceptions]
    }

    /// The state as bytes: the snapshot body, and the basis of "two replays are identical" checks.
    public func snapshotImage() -> [UInt8] { snapshotImage(sections: SnapshotSection.allCases) }

    /// An image with only `sections` (tests write images as an older version would have).
    func snapshotImage(sections: [SnapshotSection]) -> [UInt8] {
        var w = BinaryWriter(capacity: 1 << 20 + positionCount * 120)
        w.write(Self.snapshotFormatVersion)
        w.writeCount(partitions.count)
        for section in sections {
            w.write(section.rawValue)
            let lengthAt = w.bytes.count
            w.write(UInt64(0))
            let start = w.bytes.count
            write(section, to: &w)
            withUnsafeBytes(of: UInt64(w.bytes.count - start).littleEndian) { length in
                for k in 0..<8 { w.bytes[lengthAt + k] = length[k] }
            }
        }
        return w.bytes
    }

    private func write(_ section: SnapshotSection, to w: inout BinaryWriter) {
        switch section {
        case .counters:
            w.writeVarint(lastSequence)
            w.write(appliedRecord)
            w.write(lastEntryAt)
            w.writeVarint(exceptionLog.nextId)
            w.writeVarint(counters.events); w.writeVarint(counters.ignored); w.writeVarint(counters.rejected)
        case .markets:
            clock.encode(to: &w)
        case .reference:
            w.writeCount(reference.securities.count)
            for s in reference.securities { s.record.encode(to: &w); w.write(s.market) }
            w.writeCount(reference.securitiesByMarket.count)
            for list in reference.securitiesByMarket { Self.writeIndexes(list, &w) }
            let identifiers = reference.identifierIndex.sorted { ($0.key.kind.rawValue, $0.key.value) < ($1.key.kind.rawValue, $1.key.value) }
            w.writeCount(identifiers.count)
            for (key, index) in identifiers { w.write(key.kind); w.write(key.value); w.write(index) }
            w.writeCount(reference.books.count)
            for b in reference.books { b.encode(to: &w) }
            writeSorted(reference.counterparties, &w) { $1.encode(to: &$0) }
            writeSorted(reference.aggregationUnits, &w) { $1.encode(to: &$0) }
            writeSorted(reference.aggregationUnitNames, &w) { $0.write($1) }
            writeSorted(reference.providerVersions, &w) { $0.writeVarint($1) }
            // Format 3: the partition of every security (format 2 placed security s in s & (count − 1)).
            w.writeCount(reference.securityPartitions.count)
            for k in reference.securityPartitions { w.write(k) }
        case .partitions:
            for part in partitions { part.encode(to: &w) }
        case .financing:
            writeSorted(contracts, &w) { $1.encode(to: &$0) }
            writeSorted(fxRates, &w) { $1.encode(to: &$0) }
        case .feeds:
            feeds.encode(to: &w)
        case .exceptions:
            exceptionLog.encode(to: &w)
        case .rules:
            rules.encode(to: &w)
        case .locates:
            locates.encode(to: &w)
        case .orders:
            orders.encode(to: &w)
        case .restrictions:
            var all: [(String, BusinessDate)] = []
            for p in partitions { for (s, d) in p.shortSaleRestrictions { all.append((reference.securityIds.name(s), d)) } }
            all.sort { $0.0 < $1.0 }
            w.writeCount(all.count)
            for (id, d) in all { w.write(id); w.write(d) }
        case .tickDirections:
            var all: [(String, Int8)] = []
            for p in partitions { for (s, price) in p.prices where price.direction != 0 { all.append((reference.securityIds.name(s), price.direction)) } }
            all.sort { $0.0 < $1.0 }
            w.writeCount(all.count)
            for (id, d) in all { w.write(id); w.writeVarint(Int64(d)) }
        case .audit:
            auditLog.encode(to: &w)
        case .acknowledgements:
            exceptionLog.encodeAcknowledgements(to: &w)
        case .intradayBars:
            var all: [(String, IntradayBars)] = []
            for p in partitions { for (s, price) in p.prices where price.bars.date != nil && price.bars.current != nil { all.append((reference.securityIds.name(s), price.bars)) } }
            all.sort { $0.0 < $1.0 }
            w.writeCount(all.count)
            for (id, bars) in all { w.write(id); bars.encode(to: &w) }
        }
    }

    /// Rebuilds a state from `snapshotImage()` bytes (format 3, or format 2 of earlier versions), over the
    /// given markets. The partition count is the image's own.
    public init(snapshotImage bytes: UnsafeRawBufferPointer, catalog: MarketCatalog = .embedded) throws(BinaryFormatError) {
        var r = BinaryReader(bytes)
        let version = try r.readUInt32()
        guard version == 2 || version == 3 else {
            throw BinaryFormatError("snapshot format \(version) is not one this version reads (2 or \(Self.snapshotFormatVersion))")
        }
        let partitionCount = try r.readCount()
        guard [1, 2, 4, 8].contains(partitionCount) else { throw BinaryFormatError("snapshot has \(partitionCount) partitions; 1, 2, 4 or 8 expected") }
        self.init(catalog: catalog, partitions: partitionCount)
        if version == 2 {
            // One fixed sequence, no tags; securities were placed by their index.
            for section in SnapshotSection.format2 { try read(section, from: &r, format: 2) }
            guard r.isAtEnd else { throw BinaryFormatError("snapshot has \(r.remaining) bytes after its end") }
        } else {
            var seen = Set<SnapshotSection>()
            while !r.isAtEnd {
                let tag = try r.readUInt32()
                let length = try r.readUInt64()
                guard length <= UInt64(r.remaining) else { throw BinaryFormatError("snapshot section \(tag) claims \(length) bytes; \(r.remaining) left") }
                guard let section = SnapshotSection(rawValue: tag) else {
                    throw BinaryFormatError("snapshot has a section (tag \(tag)) this version does not know: it was written by a newer version")
                }
                guard seen.insert(section).inserted else { throw BinaryFormatError("snapshot has section \(section) twice") }
                var body = BinaryReader(UnsafeRawBufferPointer(rebasing: r.base[r.offset..<(r.offset + Int(length))]))
                try read(section, from: &body, format: 3)
                guard body.isAtEnd else { throw BinaryFormatError("snapshot section \(section) has \(body.remaining) bytes after its end") }
                try r.skip(Int(length))
            }
        }
        if reference.securityPartitions.count != reference.securities.count {
            throw BinaryFormatError("snapshot places \(reference.securityPartitions.count) securities in partitions, not \(reference.securities.count)")
        }
        for k in partitions.indices { partitions[k].grow(securities: reference.securities.count, books: reference.books.count) }
        rebuildPartitionIndexes()
        recomputeMassCeilings()
        rebuildInventory()
        for k in partitions.indices { partitions[k].inventory.changed = ChangeMarks() }
    }

    private mutating func read(_ section: SnapshotSection, from r: inout BinaryReader, format: UInt32) throws(BinaryFormatError) {
        switch section {
        case .counters:
            lastSequence = try r.readVarInt()
            appliedRecord = try r.readUInt64()
            lastEntryAt = try r.readTimestamp()
            exceptionLog.nextId = try r.readVarInt()
            counters.events = try r.readVarInt(); counters.ignored = try r.readVarInt(); counters.rejected = try r.readVarInt()
        case .markets:
            try clock.decode(from: &r)
        case .reference:
            for _ in 0..<(try r.readCount()) {
                let record = try Security(from: &r)
                let market = try r.readInt32()
                guard let id = record.securityId, market >= 0, Int(market) < markets.count else { throw BinaryFormatError("snapshot security without id or market") }
                _ = reference.securityIds.intern(id)
                reference.securities.append(SecurityEntry(record: record, market: market))
            }
            reference.securitiesByMarket = try (0..<r.readCount()).map { _ throws(BinaryFormatError) in try Self.readIndexes(&r) }
            for _ in 0..<(try r.readCount()) {
                let kind: IdentifierKind = try r.readCase()
                reference.identifierIndex[IdentifierKey(kind: kind, value: try r.readString())] = try r.readInt32()
            }
            for _ in 0..<(try r.readCount()) {
                let b = try Book(from: &r)
                _ = reference.bookIds.intern(b.bookId)
                reference.books.append(b)
            }
            reference.counterparties = try Self.readSorted(&r) { r throws(BinaryFormatError) in try Counterparty(from: &r) }
            reference.aggregationUnits = try Self.readSorted(&r) { r throws(BinaryFormatError) in try AggregationUnit(from: &r) }
            reference.aggregationUnitNames = try Self.readSorted(&r) { r throws(BinaryFormatError) in try r.readString() }
            reference.providerVersions = try Self.readSorted(&r) { r throws(BinaryFormatError) in try r.readVarInt() }
            if format == 2 {
                reference.securityPartitions = reference.securities.indices.map { UInt8($0 & (partitions.count - 1)) }
            } else {
                reference.securityPartitions = []
                for _ in 0..<(try r.readCount()) {
                    let k = try r.readUInt8()
                    guard Int(k) < partitions.count else { throw BinaryFormatError("snapshot places a security in partition \(k) of \(partitions.count)") }
                    reference.securityPartitions.append(k)
                }
            }
        case .partitions:
            for k in partitions.indices {
                try partitions[k].decode(from: &r, securities: reference.securities.count, books: reference.books.count)
            }
        case .financing:
            let contracts = try Self.readSorted(&r) { r throws(BinaryFormatError) in try Contract(from: &r) }
            for c in contracts.values {
                guard let security = reference.securityIds.lookup(c.securityId) else {
                    throw BinaryFormatError("snapshot has contract \(c.contractId) of security \(c.securityId), which it does not list")
                }
                partitions[partition(ofSecurity: security)].contracts[c.contractId] = c
            }
            fxRates = try Self.readSorted(&r) { r throws(BinaryFormatError) in try FXRate(from: &r) }
        case .feeds:
            try feeds.decode(from: &r)
        case .exceptions:
            try exceptionLog.decode(from: &r)
        case .rules:
            rules = try RuleBook(from: &r)
        case .locates:
            locates = try LocateBook(from: &r)
        case .orders:
            orders = try OrderBook(from: &r)
        case .restrictions:
            for _ in 0..<(try r.readCount()) {
                let id = try r.readString(), date = try r.readDate()
                guard let s = reference.securityIds.lookup(id) else { throw BinaryFormatError("snapshot restricts unknown security \(id)") }
                partitions[partition(ofSecurity: s)].shortSaleRestrictions[s] = date
                partitions[partition(ofSecurity: s)].prices[s]?.restrictedThrough = date
            }
        case .tickDirections:
            for _ in 0..<(try r.readCount()) {
                let id = try r.readString(), d = try r.readVarInt()
                guard let s = reference.securityIds.lookup(id), d == 1 || d == -1 else { throw BinaryFormatError("snapshot has a bad tick direction for \(id)") }
                partitions[partition(ofSecurity: s)].prices[s]?.direction = Int8(d)
            }
        case .audit:
            auditLog = try AuditLog(from: &r)
        case .acknowledgements:
            try exceptionLog.decodeAcknowledgements(from: &r)
        case .intradayBars:
            for _ in 0..<(try r.readCount()) {
                let id = try r.readString()
                let bars = try IntradayBars(from: &r)
                guard let s = reference.securityIds.lookup(id), partitions[partition(ofSecurity: s)].prices[s] != nil else {
                    throw BinaryFormatError("snapshot has intraday bars for \(id), which has no price")
                }
                partitions[partition(ofSecurity: s)].prices[s]!.bars = bars
            }
        }
    }

    fileprivate static func writeIndexes(_ list: [Int32], _ w: inout BinaryWriter) {
        w.writeCount(list.count)
        for i in list { w.writeVarint(Int64(i)) }
    }

    fileprivate static func readIndexes(_ r: inout BinaryReader) throws(BinaryFormatError) -> [Int32] {
        let n = try r.readCount()
        var out: [Int32] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(Int32(truncatingIfNeeded: try r.readVarInt())) }
        return out
    }

    private func writeSorted<V>(_ d: [String: V], _ w: inout BinaryWriter, _ body: (inout BinaryWriter, V) -> Void) {
        w.writeCount(d.count)
        for key in d.keys.sorted() {
            w.write(key)
            body(&w, d[key]!)
        }
    }

    private static func readSorted<V>(_ r: inout BinaryReader, _ body: (inout BinaryReader) throws(BinaryFormatError) -> V) throws(BinaryFormatError) -> [String: V] {
        var out: [String: V] = [:]
        for _ in 0..<(try r.readCount()) {
            let key = try r.readString()
            out[key] = try body(&r)
        }
        return out
    }
}

extension Partition {
    func encode(to w: inout BinaryWriter) {
        w.writeCount(positions.count)
        for p in positions { p.encode(to: &w) }
        w.writeCount(positionsBySecurity.count)
        for list in positionsBySecurity { EngineState.writeIndexes(list, &w) }
        w.writeCount(positionsByBook.count)
        for list in positionsByBook { EngineState.writeIndexes(list, &w) }
        let laterEntries = later.sorted { $0.key < $1.key }
        w.writeCount(laterEntries.count)
        for (p, entries) in laterEntries {
            w.write(p)
            w.writeCount(entries.count)
            for e in entries { w.write(e.date); w.writeVarint(e.receipt); w.writeVarint(e.deliver) }
        }
        let pending = pendingSOD.sorted { $0.key < $1.key }
        w.writeCount(pending.count)
        for (m, byKey) in pending {
            w.write(m)
            let sorted = byKey.sorted { $0.key < $1.key }
            w.writeCount(sorted.count)
            for (key, s) in sorted { w.write(key); s.encode(to: &w) }
        }
        w.writeCount(trades.count)
        for t in trades {
            w.writeCount(t.records.count)
            for (r, id) in zip(t.records, t.ids) { w.write(id); r.encode(to: &w) }
        }
        let lenders = availability.sorted { ($0.key.security, $0.key.sourceId) < ($1.key.security, $1.key.sourceId) }
        w.writeCount(lenders.count)
        for (key, a) in lenders { w.write(key.security); a.encode(to: &w) }
        let ticks = prices.sorted { $0.key < $1.key }
        w.writeCount(ticks.count)
        for (security, p) in ticks { w.write(security); p.tick.encode(to: &w); w.writeVarint(p.tickCount) }
    }

    mutating func decode(from r: inout BinaryReader, securities: Int, books: Int) throws(BinaryFormatError) {
        let positionCount = try r.readCount()
        positions.reserveCapacity(positionCount)
        for i in 0..<positionCount {
            let p = try PositionRecord(from: &r)
            guard p.book >= 0, Int(p.book) < books, p.security >= 0, Int(p.security) < securities else {
                throw BinaryFormatError("snapshot position \(i) names book \(p.book) or security \(p.security), which do not exist")
            }
            positions.append(p)
        }
        positionsBySecurity = try (0..<r.readCount()).map { _ throws(BinaryFormatError) in try EngineState.readIndexes(&r) }
        positionsByBook = try (0..<r.readCount()).map { _ throws(BinaryFormatError) in try EngineState.readIndexes(&r) }
        guard positionsBySecurity.count == securities, positionsByBook.count == books else {
            throw BinaryFormatError("snapshot position lists cover \(positionsBySecurity.count) securities and \(positionsByBook.count) books, not \(securities) and \(books)")
        }
        for _ in 0..<(try r.readCount()) {
            let p = try r.readInt32()
            var entries: [LaterEntry] = []
            for _ in 0..<(try r.readCount()) {
                entries.append(LaterEntry(date: try r.readDate(), receipt: try r.readVarInt(), deliver: try r.readVarInt()))
            }
            later[p] = entries
        }
        for _ in 0..<(try r.readCount()) {
            let m = try r.readInt32()
            var byKey: [UInt64: SODPosition] = [:]
            for _ in 0..<(try r.readCount()) { byKey[try r.readUInt64()] = try SODPosition(from: &r) }
            pendingSOD[m] = byKey
        }
        let tradeMarkets = try r.readCount()
        guard tradeMarkets == trades.count else { throw BinaryFormatError("snapshot has trades for \(tradeMarkets) markets, the catalog \(trades.count)") }
        for m in 0..<tradeMarkets {
            let n = try r.readCount()
            trades[m].records.reserveCapacity(n)
            trades[m].ids.reserveCapacity(n)
            for _ in 0..<n {
                trades[m].ids.append(try r.readString())
                trades[m].records.append(try TradeRecord(from: &r))
            }
        }
        for _ in 0..<(try r.readCount()) {
            let security = try r.readInt32()
            let a = try Availability(from: &r)
            availability[AvailabilityKey(sourceId: a.sourceId, security: security)] = a
        }
        for _ in 0..<(try r.readCount()) {
            let security = try r.readInt32()
            let tick = try PriceTick(from: &r)
            prices[security] = PriceState(tick: tick, tickCount: try r.readVarInt())
        }
    }
}

extension EngineState {
    /// Rebuilds every partition's position table and trade index from its records, the partitions in parallel.
    private mutating func rebuildPartitionIndexes() {
        forEachPartitionInParallel { _, partition in partition.rebuildIndexes() }
    }
}

extension Partition {
    /// Builds the position table and the trade index from the positions and trades, each table sized once
    /// for its entries and filled with a prefetch pipeline (the entries land at random in tables far larger
    /// than the caches).
    mutating func rebuildIndexes() {
        positionTable = ProbeTable(minimumCapacity: positions.count)
        let positionHashes = positions.map { EngineState.hash(positionKey: EngineState.positionKey(book: $0.book, security: $0.security)) }
        positionTable.insertAll(hashes: positionHashes) { UInt64($0) }
        tradeIndex = ProbeTable(minimumCapacity: trades.reduce(0) { $0 + $1.ids.count }, summarized: true)
        for m in trades.indices where !trades[m].ids.isEmpty {
            tradeIndex.insertAll(hashes: trades[m].ids.map(ProbeTable.hash(of:))) { UInt64(m) << 32 | UInt64($0) }
        }
    }
}

extension PositionRecord {
    func encode(to w: inout BinaryWriter) {
        w.write(book); w.write(security); w.write(firstTrade); w.write(hasSOD)
        w.writeVarint(sodContractual); w.writeVarint(sodSettled)
        for k in 0..<Ladder5.count { w.writeVarint(receipt[k]) }
        for k in 0..<Ladder5.count { w.writeVarint(deliver[k]) }
        w.writeVarint(laterReceipt); w.writeVarint(laterDeliver)
        w.writeVarint(intradayBuys); w.writeVarint(intradaySells); w.writeVarint(intradayShortSells)
    }

    init(from r: inout BinaryReader) throws(BinaryFormatError) {
        self.init(book: try r.readInt32(), security: try r.readInt32())
        firstTrade = try r.readInt32()
        hasSOD = try r.readBool()
        sodContractual = try r.readVarInt(); sodSettled = try r.readVarInt()
        for k in 0..<Ladder5.count { receipt[k] = try r.readVarInt() }
        for k in 0..<Ladder5.count { deliver[k] = try r.readVarInt() }
        laterReceipt = try r.readVarInt(); laterDeliver = try r.readVarInt()
        intradayBuys = try r.readVarInt(); intradaySells = try r.readVarInt(); intradayShortSells = try r.readVarInt()
    }
}

extension TradeRecord {
    func encode(to w: inout BinaryWriter) {
        w.writeVarint(version); w.writeVarint(quantity); w.write(security); w.write(position); w.write(nextInPosition); w.write(previousInPosition)
        w.write(tradeDate); w.write(settleDate); w.write(UInt8(bitPattern: slot)); w.write(side); w.write(status)
    }

    init(from r: inout BinaryReader) throws(BinaryFormatError) {
        let version = try r.readVarInt(), quantity = try r.readVarInt(), security = try r.readInt32()
        let position = try r.readInt32(), next = try r.readInt32(), previous = try r.readInt32()
        let tradeDate = try r.readDate(), settleDate = try r.readDate()
        let slot = Int8(bitPattern: try r.readUInt8())
        self.init(version: version, quantity: quantity, security: security, position: position, nextInPosition: next, previousInPosition: previous,
                  tradeDate: tradeDate, settleDate: settleDate, slot: slot, side: try r.readCase(), status: try r.readCase())
    }
}

extension ExceptionRecord {
    func encode(to w: inout BinaryWriter) {
        w.writeVarint(exceptionId); w.write(kind); w.writeVarint(sequence); w.write(line.map { Int64($0) }); w.write(field)
        w.write(message); w.write(subject); w.write(raw); w.write(receivedAt)
    }

    init(from r: inout BinaryReader) throws(BinaryFormatError) {
        self.init(exceptionId: try r.readVarInt(), kind: try r.readCase(), sequence: try r.readVarInt(),
                  line: try r.readOptionalInt64().map { Int($0) }, field: try r.readOptionalString(), message: try r.readString(),
                  subject: try r.readOptionalString(), raw: try r.readOptionalString(), receivedAt: try r.readTimestamp())
    }
}
