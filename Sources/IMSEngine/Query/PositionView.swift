import IMSDomain

/// A position as the API shows it (SPEC 6): quantities, intraday figures and the settlement ladder.
public struct PositionView: Sendable, Hashable, Codable {
    public var bookId: String
    public var securityId: String
    public var marketId: String
    /// The market's business date `T` the figures are for.
    public var businessDate: BusinessDate?
    public var contractualQty: Int64
    public var settledQty: Int64
    public var intradayBuys: Int64
    public var intradaySells: Int64
    public var intradayShortSells: Int64
    /// SD0…SD4.
    public var ladder: [LadderRow]
    /// `projectedSettled` of SD4.
    public var projectedNetPosition: Int64
    /// Settlements after SD4, in total and by date.
    public var later: LaterBucket
    public var sodContractualQty: Int64
    public var sodSettledQty: Int64
    /// True if an SOD snapshot for `businessDate` has been applied (false after a roll-forward).
    public var sodReceived: Bool
    public var positionType: PositionType
    public var legalEntity: String
    public var aggregationUnitId: String?

    /// One day of the settlement ladder.
    public struct LadderRow: Sendable, Hashable, Codable {
        public var date: BusinessDate
        public var receipt: Int64
        public var deliver: Int64
        public var projectedSettled: Int64
    }

    /// Settlements beyond SD4.
    public struct LaterBucket: Sendable, Hashable, Codable {
        public var receipt: Int64
        public var deliver: Int64
        public var entries: [Entry]

        public struct Entry: Sendable, Hashable, Codable {
            public var date: BusinessDate
            public var receipt: Int64
            public var deliver: Int64
        }
    }
}

/// Which positions a listing returns; nil fields match everything.
public struct PositionFilter: Sendable, Hashable {
    public var bookId: String?
    public var securityId: String?
    public var marketId: String?
    public var aggregationUnitId: String?
    public var positionType: PositionType?
    public var legalEntity: String?
    public var clientId: String?

    /// True when it matches everything.
    public var isEmpty: Bool { self == PositionFilter() }

    /// A `PositionFilter` from its fields.
    public init(
        bookId: String? = nil, securityId: String? = nil, marketId: String? = nil, aggregationUnitId: String? = nil,
        positionType: PositionType? = nil, legalEntity: String? = nil, clientId: String? = nil
    ) {
        self.bookId = bookId; self.securityId = securityId; self.marketId = marketId
        self.aggregationUnitId = aggregationUnitId; self.positionType = positionType
        self.legalEntity = legalEntity; self.clientId = clientId
    }
}

/// A resource that writes its own JSON (byte-equal to `JSONEncoder` with sorted keys, each tested), for the
/// listings a dashboard or client reads in bulk.
public protocol JSONWritable {
    /// The JSON text a row of a page takes, about: to size the buffer.
    static var typicalJSONBytes: Int { get }
    func write(to j: inout JSONText)
}

/// One page of a listing.
public struct Page<Item: Sendable & Codable & Hashable>: Sendable, Hashable, Codable {
    public var items: [Item]
    /// How many items match in all.
    public var total: Int
    public var offset: Int
    public var limit: Int

    /// A `Page` from its fields.
    public init(items: [Item], total: Int, offset: Int, limit: Int) {
        self.items = items
        self.total = total
        self.offset = offset
        self.limit = limit
    }
}

extension ReadModel {
    /// The position of a book in a security, or nil if either is unknown or it has never had one.
    public func position(bookId: String, securityId: String) -> PositionView? {
        guard let book = reference.bookIds.lookup(bookId), let security = reference.securityIds.lookup(securityId) else { return nil }
        let k = partition(ofSecurity: security)
        // A security's positions are one per book holding it: a short list.
        guard let local = partitions[k].positionsBySecurity[Int(security)].first(where: { partitions[k].positions[Int($0)].book == book })
        else { return nil }
        return view(position: positionId(partition: k, local: local))
    }

    /// A page of the positions matching `filter`, in position id order (creation order within a partition).
    public func positions(matching filter: PositionFilter, offset: Int = 0, limit: Int = 100) -> Page<PositionView> {
        // Candidates from the most selective index the filter names; the rest of the filter (the residual) is
        // checked per candidate. With no residual the page costs O(offset + limit), not a scan.
        var residual = filter
        var candidates: [Int32]?
        if let bookId = filter.bookId {
            guard let book = reference.bookIds.lookup(bookId) else { return Page(items: [], total: 0, offset: offset, limit: limit) }
            candidates = mergedPositionIds(partitions.map { $0.positionsByBook[Int(book)] })
            residual.bookId = nil
        } else if let securityId = filter.securityId {
            guard let security = reference.securityIds.lookup(securityId) else { return Page(items: [], total: 0, offset: offset, limit: limit) }
            candidates = positionIds(security: security)
            residual.securityId = nil
        } else if let marketId = filter.marketId {
            guard let market = marketIds.lookup(marketId) else { return Page(items: [], total: 0, offset: offset, limit: limit) }
            candidates = positionIndices(market: market)
            residual.marketId = nil
        }
        if residual == PositionFilter() {
            let ids = candidates.map { Array($0.dropFirst(offset).prefix(limit)) } ?? positionIds(inIdOrderFrom: offset, count: limit)
            return Page(items: ids.map { view(position: $0) }, total: candidates?.count ?? positionCount, offset: offset, limit: limit)
        }
        let market = filter.marketId.flatMap { marketIds.lookup($0) }
        var matched: [Int32] = []
        for p in candidates ?? allPositionIds() where matches(position: p, filter: filter, market: market) { matched.append(p) }
        let page = matched.dropFirst(offset).prefix(limit).map { view(position: $0) }
        return Page(items: page, total: matched.count, offset: offset, limit: limit)
    }

    /// `count` position ids in id order, skipping the first `offset`: O(offset + count).
    func positionIds(inIdOrderFrom offset: Int, count: Int) -> [Int32] {
        var out: [Int32] = []
        var skipped = 0
        var id: Int32 = 0
        let total = positionCount
        var seen = 0
        while out.count < count && seen < total {
            let (k, local) = locate(position: id)
            if Int(local) < partitions[k].positions.count {
                seen += 1
                if skipped < offset { skipped += 1 } else { out.append(id) }
            }
            id += 1
        }
        return out
    }

    /// The ids of a security's positions, in creation order.
    func positionIds(security: Int32) -> [Int32] {
        let k = partition(ofSecurity: security)
        return partitions[k].positionsBySecurity[Int(security)].map { positionId(partition: k, local: $0) }
    }

    func matches(position p: Int32, filter: PositionFilter, market: Int32?) -> Bool {
        let record = record(position: p)
        return matches(book: record.book, security: record.security, filter: filter, market: market)
    }

    /// Whether the position of `book` in `security` passes `filter`, whose market (if any) is already resolved.
    func matches(book b: Int32, security: Int32, filter: PositionFilter, market: Int32?) -> Bool {
        if filter.isEmpty { return true }
        let book = reference.books[Int(b)]
        if let id = filter.bookId, book.bookId != id { return false }
        if let id = filter.securityId, reference.securityIds.name(security) != id { return false }
        if let market, reference.securities[Int(security)].market != market { return false }
        if let type = filter.positionType, book.positionType != type { return false }
        if let le = filter.legalEntity, book.legalEntity != le { return false }
        if let client = filter.clientId, book.clientId != client { return false }
        if let unit = filter.aggregationUnitId,
            aggregationUnitId(book: book, marketId: reference.securities[Int(security)].record.marketId) != unit
        {
            return false
        }
        return true
    }

    /// The engine-wide ids of the positions a change record changed that pass `filter` (resolved once).
    public func positions(changedIn record: ChangeRecord, matching filter: PositionFilter) -> [Int32] {
        var market: Int32?
        if let id = filter.marketId {
            guard let m = marketIds.lookup(id) else { return [] }
            market = m
        }
        var out: [Int32] = []
        for (k, changes) in record.positions.enumerated() {
            for c in changes where matches(book: c.record.book, security: c.record.security, filter: filter, market: market) {
                out.append(positionId(partition: k, local: c.local))
            }
        }
        return out
    }

    /// The aggregation unit of a book's positions in a market: the book's own mapping, else the legal entity's default.
    public func aggregationUnitId(book: Book, marketId: String) -> String? {
        if let unit = book.aggregationUnits[marketId] { return unit }
        return reference.aggregationUnits.values
            .filter { $0.isDefault && $0.legalEntity == book.legalEntity && $0.marketId == marketId }
            .map(\.aggregationUnitId).min()
    }

    func view(position p: Int32) -> PositionView {
        let (k, local) = locate(position: p)
        let r = partitions[k].positions[Int(local)]
        let book = reference.books[Int(r.book)]
        let security = reference.securities[Int(r.security)]
        let market = markets[Int(security.market)]
        var rows: [PositionView.LadderRow] = []
        var projected = r.sodSettled
        for k in 0..<Ladder5.count {
            projected += r.receipt[k] - r.deliver[k]
            let date = k < market.ladder.count ? market.ladder[k] : BusinessDate(dayNumber: 0)
            rows.append(.init(date: date, receipt: r.receipt[k], deliver: r.deliver[k], projectedSettled: projected))
        }
        let entries = (partitions[k].later[local] ?? []).map { PositionView.LaterBucket.Entry(date: $0.date, receipt: $0.receipt, deliver: $0.deliver) }
        return PositionView(
            bookId: book.bookId, securityId: reference.securityIds.name(r.security), marketId: security.record.marketId,
            businessDate: market.businessDate, contractualQty: r.contractualQty, settledQty: r.sodSettled,
            intradayBuys: r.intradayBuys, intradaySells: r.intradaySells, intradayShortSells: r.intradayShortSells,
            ladder: market.ladder.isEmpty ? [] : rows, projectedNetPosition: projected,
            later: .init(receipt: r.laterReceipt, deliver: r.laterDeliver, entries: entries),
            sodContractualQty: r.sodContractual, sodSettledQty: r.sodSettled, sodReceived: r.hasSOD,
            positionType: book.positionType, legalEntity: book.legalEntity,
            aggregationUnitId: aggregationUnitId(book: book, marketId: security.record.marketId))
    }
}

extension PositionView: JSONWritable {
    public static var typicalJSONBytes: Int { 900 }

    /// The JSON of this view, written directly; identical to `JSONEncoder` with sorted keys.
    public var json: String {
        var j = JSONText(capacity: 900)
        write(to: &j)
        return j.text
    }

    /// Writes this view's JSON into `j`.
    public func write(to j: inout JSONText) {
        j.object { j in
            j.field("aggregationUnitId", aggregationUnitId)
            j.field("bookId", bookId)
            j.field("businessDate", businessDate)
            j.field("contractualQty", contractualQty)
            j.field("intradayBuys", intradayBuys)
            j.field("intradaySells", intradaySells)
            j.field("intradayShortSells", intradayShortSells)
            j.key("ladder")
            j.array { j in
                for row in ladder {
                    j.object { j in
                        j.field("date", row.date)
                        j.field("deliver", row.deliver)
                        j.field("projectedSettled", row.projectedSettled)
                        j.field("receipt", row.receipt)
                    }
                }
            }
            j.key("later")
            j.object { j in
                j.field("deliver", later.deliver)
                j.key("entries")
                j.array { j in
                    for e in later.entries {
                        j.object { j in
                            j.field("date", e.date)
                            j.field("deliver", e.deliver)
                            j.field("receipt", e.receipt)
                        }
                    }
                }
                j.field("receipt", later.receipt)
            }
            j.field("legalEntity", legalEntity)
            j.field("marketId", marketId)
            j.field("positionType", positionType.rawValue)
            j.field("projectedNetPosition", projectedNetPosition)
            j.field("securityId", securityId)
            j.field("settledQty", settledQty)
            j.field("sodContractualQty", sodContractualQty)
            j.field("sodReceived", sodReceived)
            j.field("sodSettledQty", sodSettledQty)
        }
    }
}

extension Page where Item: JSONWritable {
    /// The JSON of this page, written directly; identical to `JSONEncoder` with sorted keys.
    public var json: String {
        var j = JSONText(capacity: 200 + items.count * Item.typicalJSONBytes)
        j.object { j in
            j.key("items")
            j.array { j in for item in items { item.write(to: &j) } }
            j.field("limit", Int64(limit))
            j.field("offset", Int64(offset))
            j.field("total", Int64(total))
        }
        return j.text
    }
}
