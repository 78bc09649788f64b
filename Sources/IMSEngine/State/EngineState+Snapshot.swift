import DequeModule
import IMSDomain

// The binary image of an `EngineState`: every field that is not derived, dictionaries in key order,
// so that equal states give equal bytes. Derived indexes (interned-name tables, the trade and position
// hash tables, market ladders) are rebuilt on load.

extension EngineState {
    /// The format version written at the head of every snapshot image. Format 3 is a list of tagged sections
    /// (each part of the state writes its own); format 2, one fixed sequence, still loads.
    public static let snapshotFormatVersion: UInt32 = 3

    /// The state as bytes: the snapshot body, and the basis of "two replays are identical" checks. Each
    /// registered part (`EngineState.parts`) writes its own tagged section, in registry order.
    public func snapshotImage() -> [UInt8] { snapshotImage(parts: Self.parts) }

    /// An image with only `parts` (tests write images as an older version would have).
    func snapshotImage(parts: [any StatePart.Type]) -> [UInt8] {
        var w = BinaryWriter(capacity: 1 << 20 + positionCount * 120)
        w.write(Self.snapshotFormatVersion)
        w.writeCount(partitions.count)
        for part in parts {
            w.write(part.sectionTag)
            let lengthAt = w.bytes.count
            w.write(UInt64(0))
            let start = w.bytes.count
            part.write(self, to: &w)
            withUnsafeBytes(of: UInt64(w.bytes.count - start).littleEndian) { length in
                for k in 0..<8 { w.bytes[lengthAt + k] = length[k] }
            }
        }
        return w.bytes
    }

    /// An image without `part`'s section, as written before the part existed.
    func snapshotImage<P: StatePart>(leavingOut part: P.Type) -> [UInt8] {
        snapshotImage(parts: Self.parts.filter { ObjectIdentifier($0) != ObjectIdentifier(part) })
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
            for part in Self.format2Parts { try part.read(into: &self, from: &r, format: 2) }
            guard r.isAtEnd else { throw BinaryFormatError("snapshot has \(r.remaining) bytes after its end") }
        } else {
            var seen = Set<UInt32>()
            while !r.isAtEnd {
                let tag = try r.readUInt32()
                let length = try r.readUInt64()
                guard length <= UInt64(r.remaining) else { throw BinaryFormatError("snapshot section \(tag) claims \(length) bytes; \(r.remaining) left") }
                guard let part = Self.part(sectionTag: tag) else {
                    throw BinaryFormatError("snapshot has a section (tag \(tag)) this version does not know: it was written by a newer version")
                }
                guard seen.insert(tag).inserted else { throw BinaryFormatError("snapshot has section \(part.name) twice") }
                var body = BinaryReader(UnsafeRawBufferPointer(rebasing: r.base[r.offset..<(r.offset + Int(length))]))
                try part.read(into: &self, from: &body, format: 3)
                guard body.isAtEnd else { throw BinaryFormatError("snapshot section \(part.name) has \(body.remaining) bytes after its end") }
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

}

extension Partition {
    func encode(to w: inout BinaryWriter) {
        w.writeCount(positions.count)
        for p in positions { p.encode(to: &w) }
        w.writeCount(positionsBySecurity.count)
        for list in positionsBySecurity { w.writeIndexes(list) }
        w.writeCount(positionsByBook.count)
        for list in positionsByBook { w.writeIndexes(list) }
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
        positionsBySecurity = try (0..<r.readCount()).map { _ throws(BinaryFormatError) in try r.readIndexes() }
        positionsByBook = try (0..<r.readCount()).map { _ throws(BinaryFormatError) in try r.readIndexes() }
        guard positionsBySecurity.count == securities, positionsByBook.count == books else {
            throw BinaryFormatError(
                "snapshot position lists cover \(positionsBySecurity.count) securities and \(positionsByBook.count) books, not \(securities) and \(books)")
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
        self.init(
            version: version, quantity: quantity, security: security, position: position, nextInPosition: next, previousInPosition: previous,
            tradeDate: tradeDate, settleDate: settleDate, slot: slot, side: try r.readCase(), status: try r.readCase())
    }
}

extension ExceptionRecord {
    func encode(to w: inout BinaryWriter) {
        w.writeVarint(exceptionId); w.write(kind); w.writeVarint(sequence); w.write(line.map { Int64($0) }); w.write(field)
        w.write(message); w.write(subject); w.write(raw); w.write(receivedAt)
    }

    init(from r: inout BinaryReader) throws(BinaryFormatError) {
        self.init(
            exceptionId: try r.readVarInt(), kind: try r.readCase(), sequence: try r.readVarInt(),
            line: try r.readOptionalInt64().map { Int($0) }, field: try r.readOptionalString(), message: try r.readString(),
            subject: try r.readOptionalString(), raw: try r.readOptionalString(), receivedAt: try r.readTimestamp())
    }
}
