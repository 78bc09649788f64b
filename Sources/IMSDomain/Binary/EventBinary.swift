// The binary encoding of every event, as written to the journal. Field order is the format:
// append new fields at the end of a type and bump the journal format version.

extension Trade: BinaryCodable {
    /// Writes the value in IMS's binary encoding (journal records, snapshots); `init(from:)` reads it back.
    public func encode(to w: inout BinaryWriter) {
        w.write(tradeId); w.writeVarint(version); w.write(status); w.write(orderId); w.write(bookId); w.write(securityId)
        w.write(side); w.writeVarint(quantity); w.write(price); w.write(tradeDate); w.write(settleDate); w.write(counterpartyId)
    }
    /// Reads a value written by `encode(to:)`.
    public init(from r: inout BinaryReader) throws(BinaryFormatError) {
        self.init(
            tradeId: try r.readString(), version: try r.readVarInt(), status: try r.readCase(), orderId: try r.readOptionalString(),
            bookId: try r.readString(), securityId: try r.readString(), side: try r.readCase(), quantity: try r.readVarInt(),
            price: try r.readDecimal(), tradeDate: try r.readDate(), settleDate: try r.readOptionalDate(),
            counterpartyId: try r.readOptionalString())
    }
}

extension SODPosition: BinaryCodable {
    /// Writes the value in IMS's binary encoding (journal records, snapshots); `init(from:)` reads it back.
    public func encode(to w: inout BinaryWriter) {
        w.write(businessDate); w.write(bookId); w.write(securityId); w.writeVarint(contractualQty); w.writeVarint(settledQty)
        w.writeCount(receipts.count); for q in receipts { w.writeVarint(q) }
        w.writeCount(delivers.count); for q in delivers { w.writeVarint(q) }
    }
    /// Reads a value written by `encode(to:)`.
    public init(from r: inout BinaryReader) throws(BinaryFormatError) {
        let date = try r.readDate(), book = try r.readString(), security = try r.readString()
        let contractual = try r.readVarInt(), settled = try r.readVarInt()
        var receipts: [Int64] = [], delivers: [Int64] = []
        for _ in 0..<(try r.readCount()) { receipts.append(try r.readVarInt()) }
        for _ in 0..<(try r.readCount()) { delivers.append(try r.readVarInt()) }
        self.init(
            businessDate: date, bookId: book, securityId: security, contractualQty: contractual, settledQty: settled,
            receipts: receipts, delivers: delivers)
    }
}

extension Contract: BinaryCodable {
    /// Writes the value in IMS's binary encoding (journal records, snapshots); `init(from:)` reads it back.
    public func encode(to w: inout BinaryWriter) {
        w.write(contractId); w.writeVarint(version); w.write(kind); w.write(status); w.write(bookId); w.write(counterpartyId)
        w.write(securityId); w.writeVarint(quantity); w.writeVarint(returnedQty); w.writeVarint(recalledQty); w.write(rateBps)
        w.write(collateralType); w.write(startDate); w.write(endDate)
    }
    /// Reads a value written by `encode(to:)`.
    public init(from r: inout BinaryReader) throws(BinaryFormatError) {
        self.init(
            contractId: try r.readString(), version: try r.readVarInt(), kind: try r.readCase(), status: try r.readCase(),
            bookId: try r.readString(), counterpartyId: try r.readString(), securityId: try r.readString(),
            quantity: try r.readVarInt(), returnedQty: try r.readVarInt(), recalledQty: try r.readVarInt(),
            rateBps: try r.readDecimal(), collateralType: try r.readOptionalString(), startDate: try r.readDate(),
            endDate: try r.readOptionalDate())
    }
}

extension Availability: BinaryCodable {
    /// Writes the value in IMS's binary encoding (journal records, snapshots); `init(from:)` reads it back.
    public func encode(to w: inout BinaryWriter) {
        w.write(sourceId); w.write(securityId); w.writeVarint(quantity); w.write(availabilityType); w.write(rateBps); w.write(effectiveDate)
    }
    /// Reads a value written by `encode(to:)`.
    public init(from r: inout BinaryReader) throws(BinaryFormatError) {
        self.init(
            sourceId: try r.readString(), securityId: try r.readString(), quantity: try r.readVarInt(),
            availabilityType: try r.readCase(), rateBps: try r.readOptionalDecimal(), effectiveDate: try r.readDate())
    }
}

extension PriceTick: BinaryCodable {
    /// Writes the value in IMS's binary encoding (journal records, snapshots); `init(from:)` reads it back.
    public func encode(to w: inout BinaryWriter) {
        w.write(securityId); w.write(last); w.write(bid); w.write(ask); w.write(previousClose); w.write(currency); w.write(source); w.write(ts)
    }
    /// Reads a value written by `encode(to:)`.
    public init(from r: inout BinaryReader) throws(BinaryFormatError) {
        self.init(
            securityId: try r.readString(), last: try r.readDecimal(), bid: try r.readOptionalDecimal(), ask: try r.readOptionalDecimal(),
            previousClose: try r.readOptionalDecimal(), currency: try r.readOptionalString(), source: try r.readOptionalString(),
            ts: try r.readOptionalTimestamp())
    }
}

extension FXRate: BinaryCodable {
    /// Writes the value in IMS's binary encoding (journal records, snapshots); `init(from:)` reads it back.
    public func encode(to w: inout BinaryWriter) { w.write(currency); w.write(usdRate); w.write(ts) }
    /// Reads a value written by `encode(to:)`.
    public init(from r: inout BinaryReader) throws(BinaryFormatError) {
        self.init(currency: try r.readString(), usdRate: try r.readDecimal(), ts: try r.readOptionalTimestamp())
    }
}

extension MarketDayRoll: BinaryCodable {
    /// Writes the value in IMS's binary encoding (journal records, snapshots); `init(from:)` reads it back.
    public func encode(to w: inout BinaryWriter) { w.write(marketId); w.write(businessDate) }
    /// Reads a value written by `encode(to:)`.
    public init(from r: inout BinaryReader) throws(BinaryFormatError) {
        self.init(marketId: try r.readString(), businessDate: try r.readDate())
    }
}

extension Constituent: BinaryCodable {
    /// Writes the value in IMS's binary encoding (journal records, snapshots); `init(from:)` reads it back.
    public func encode(to w: inout BinaryWriter) { w.write(securityId); w.write(weight) }
    /// Reads a value written by `encode(to:)`.
    public init(from r: inout BinaryReader) throws(BinaryFormatError) {
        self.init(securityId: try r.readString(), weight: try r.readDecimal())
    }
}

extension Security: BinaryCodable {
    /// Writes the value in IMS's binary encoding (journal records, snapshots); `init(from:)` reads it back.
    public func encode(to w: inout BinaryWriter) {
        w.write(securityId); w.write(isin); w.write(cusip); w.write(sedol); w.write(ticker); w.write(ric); w.write(bloombergId)
        w.write(name); w.write(marketId); w.write(currency); w.write(assetType); w.write(version); w.write(provider)
        w.write(temperature); w.write(easyToBorrow); w.write(thresholdList); w.write(restricted); w.write(shortSellEligible)
        w.write(constituents)
    }
    /// Reads a value written by `encode(to:)`.
    public init(from r: inout BinaryReader) throws(BinaryFormatError) {
        self.init(
            securityId: try r.readOptionalString(), isin: try r.readOptionalString(), cusip: try r.readOptionalString(),
            sedol: try r.readOptionalString(), ticker: try r.readOptionalString(), ric: try r.readOptionalString(),
            bloombergId: try r.readOptionalString(), name: try r.readOptionalString(), marketId: try r.readString(),
            currency: try r.readOptionalString(), assetType: try r.readCase(), version: try r.readOptionalInt64(),
            provider: try r.readOptionalString(), temperature: try r.readCase(), easyToBorrow: try r.readBool(),
            thresholdList: try r.readBool(), restricted: try r.readBool(), shortSellEligible: try r.readBool(),
            constituents: try r.readArray())
    }
}

extension Counterparty: BinaryCodable {
    /// Writes the value in IMS's binary encoding (journal records, snapshots); `init(from:)` reads it back.
    public func encode(to w: inout BinaryWriter) {
        w.write(counterpartyId); w.write(name); w.write(lei); w.write(kind); w.write(parentId); w.write(kycStatus); w.write(status); w.write(version)
    }
    /// Reads a value written by `encode(to:)`.
    public init(from r: inout BinaryReader) throws(BinaryFormatError) {
        self.init(
            counterpartyId: try r.readString(), name: try r.readString(), lei: try r.readOptionalString(), kind: try r.readCase(),
            parentId: try r.readOptionalString(), kycStatus: try r.readOptionalString(), status: try r.readOptionalString(),
            version: try r.readOptionalInt64())
    }
}

extension AggregationUnit: BinaryCodable {
    /// Writes the value in IMS's binary encoding (journal records, snapshots); `init(from:)` reads it back.
    public func encode(to w: inout BinaryWriter) {
        w.write(aggregationUnitId); w.write(name); w.write(marketId); w.write(legalEntity); w.write(type); w.write(isDefault); w.write(version)
    }
    /// Reads a value written by `encode(to:)`.
    public init(from r: inout BinaryReader) throws(BinaryFormatError) {
        self.init(
            aggregationUnitId: try r.readString(), name: try r.readString(), marketId: try r.readString(),
            legalEntity: try r.readString(), type: try r.readCase(), isDefault: try r.readBool(), version: try r.readOptionalInt64())
    }
}

extension Book: BinaryCodable {
    /// Writes the value in IMS's binary encoding (journal records, snapshots); `init(from:)` reads it back.
    public func encode(to w: inout BinaryWriter) {
        w.write(bookId); w.write(name); w.write(legalEntity); w.write(positionType); w.write(clientId)
        let units = aggregationUnits.sorted { $0.key < $1.key }
        w.writeCount(units.count)
        for (market, unit) in units { w.write(market); w.write(unit) }
        w.write(version)
    }
    /// Reads a value written by `encode(to:)`.
    public init(from r: inout BinaryReader) throws(BinaryFormatError) {
        let id = try r.readString(), name = try r.readOptionalString(), entity = try r.readString()
        let type: PositionType = try r.readCase()
        let client = try r.readOptionalString()
        var units: [String: String] = [:]
        for _ in 0..<(try r.readCount()) { units[try r.readString()] = try r.readString() }
        self.init(
            bookId: id, name: name, legalEntity: entity, positionType: type, clientId: client, aggregationUnits: units,
            version: try r.readOptionalInt64())
    }
}

extension Event: BinaryCodable {
    /// A desk command's tag (0 for a data event, which has its kind's).
    private var commandTag: UInt8 {
        if case .command(let c) = self { return type(of: c.base).binaryTag }
        return 0
    }

    /// Writes the value in IMS's binary encoding (journal records, snapshots); `init(from:)` reads it back.
    public func encode(to w: inout BinaryWriter) {
        // The tag: the kind's raw value (`Event.Kind`), or the command kind's own (`DeskCommand.binaryTag`).
        w.write(kind?.rawValue ?? commandTag)
        switch self {
        case .security(let v): v.encode(to: &w)
        case .counterparty(let v): v.encode(to: &w)
        case .aggregationUnit(let v): v.encode(to: &w)
        case .book(let v): v.encode(to: &w)
        case .sodPosition(let v): v.encode(to: &w)
        case .trade(let v): v.encode(to: &w)
        case .contract(let v): v.encode(to: &w)
        case .availability(let v): v.encode(to: &w)
        case .price(let v): v.encode(to: &w)
        case .fxRate(let v): v.encode(to: &w)
        case .marketDayRoll(let v): v.encode(to: &w)
        case .command(let c): c.base.encode(to: &w)
        }
    }

    /// Reads a value written by `encode(to:)`.
    public init(from r: inout BinaryReader) throws(BinaryFormatError) {
        let byte = try r.readUInt8()
        guard let tag = Kind(rawValue: byte) else {
            guard let kind = DeskCommands.kind(tag: byte) else { throw BinaryFormatError("unknown event tag \(byte) at offset \(r.offset - 1)") }
            self = .command(try DeskCommands.decode(kind, from: &r))
            return
        }
        // Exhaustive: a new kind fails to compile here until it is decoded.
        switch tag {
        case .security: self = .security(try r.read())
        case .counterparty: self = .counterparty(try r.read())
        case .aggregationUnit: self = .aggregationUnit(try r.read())
        case .book: self = .book(try r.read())
        case .sodPosition: self = .sodPosition(try r.read())
        case .trade: self = .trade(try r.read())
        case .contract: self = .contract(try r.read())
        case .availability: self = .availability(try r.read())
        case .price: self = .price(try r.read())
        case .fxRate: self = .fxRate(try r.read())
        case .marketDayRoll: self = .marketDayRoll(try r.read())
        }
    }
}
