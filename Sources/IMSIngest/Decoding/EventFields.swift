import IMSDomain

/// Decodes each event type from its fields (SPEC 2), written once for JSON and CSV.
enum EventFields {
    /// The event of a line and its feed stamp (`feedId` + `feedSeq`, accepted on every event type).
    static func decode<S: FieldSource>(type: String, _ s: inout S) throws(FieldError) -> (Event, FeedStamp?) {
        let event: Event
        guard let kind = Event.Kind(typeName: type) else {
            throw FieldError("type", "unknown event type \"\(type.prefix(40))\"; expected one of \(Event.typeNames.joined(separator: ", "))")
        }
        // Exhaustive: a new kind fails to compile here until its fields are decoded.
        switch kind {
        case .trade: event = .trade(try trade(&s))
        case .price: event = .price(try price(&s))
        case .sodPosition: event = .sodPosition(try sod(&s))
        case .availability: event = .availability(try availability(&s))
        case .contract: event = .contract(try contract(&s))
        case .fxRate:
            let currency = try s.requiredString("currency")
            try checkCurrency(currency, field: "currency")
            guard let rate = try s.decimal("usdRate") else { throw FieldError("usdRate", "is required") }
            guard rate.units > 0 else { throw FieldError("usdRate", "must be positive") }
            event = .fxRate(FXRate(currency: currency, usdRate: rate, ts: try s.timestamp("ts")))
        case .marketDayRoll:
            event = .marketDayRoll(MarketDayRoll(marketId: try s.requiredIdentifier("marketId"), businessDate: try s.requiredDate("businessDate")))
        case .security: event = .security(try security(&s))
        case .counterparty:
            event = .counterparty(
                Counterparty(
                    counterpartyId: try s.requiredIdentifier("counterpartyId"), name: try s.requiredString("name"), lei: try s.string("lei"),
                    kind: try s.requiredEnumeration("kind", CounterpartyKind.self), parentId: try s.identifier("parentId"),
                    kycStatus: try s.string("kycStatus"), status: try s.string("status"), version: try s.int64("version")))
        case .aggregationUnit:
            event = .aggregationUnit(
                AggregationUnit(
                    aggregationUnitId: try s.requiredIdentifier("aggregationUnitId"), name: try s.requiredString("name"),
                    marketId: try s.requiredIdentifier("marketId"), legalEntity: try s.requiredIdentifier("legalEntity"),
                    type: try s.requiredEnumeration("unitType", AggregationUnitType.self), isDefault: try s.bool("isDefault") ?? false,
                    version: try s.int64("version")))
        case .book:
            let positionType = try s.requiredEnumeration("positionType", PositionType.self)
            let clientId = try s.identifier("clientId")
            if clientId == nil && (positionType == .clientFree || positionType == .clientSegregated) {
                throw FieldError("clientId", "is required for \(positionType.rawValue) books")
            }
            event = .book(
                Book(
                    bookId: try s.requiredIdentifier("bookId"), name: try s.string("name"), legalEntity: try s.requiredIdentifier("legalEntity"),
                    positionType: positionType, clientId: clientId, aggregationUnits: try s.stringMap("aggregationUnits") ?? [:],
                    version: try s.int64("version")))
        }
        let stamp = try feedStamp(&s)
        if let extra = s.unreadField() { throw FieldError(extra, "unknown field for a \(type) event") }
        return (event, stamp)
    }

    static func feedStamp<S: FieldSource>(_ s: inout S) throws(FieldError) -> FeedStamp? {
        let feedId = try s.identifier("feedId"), feedSeq = try s.int64("feedSeq")
        switch (feedId, feedSeq) {
        case (nil, nil): return nil
        case (nil, _): throw FieldError("feedId", "is required with feedSeq")
        case (_, nil): throw FieldError("feedSeq", "is required with feedId")
        case (let id?, let seq?):
            if id.isEmpty { throw FieldError("feedId", "must not be empty") }
            if id.hasPrefix(FeedStamp.topicPrefix) {
                throw FieldError(
                    "feedId", "\(id) begins with \(FeedStamp.topicPrefix), which names the topic partitions IMS consumes itself; choose another feed id")
            }
            if seq < 1 { throw FieldError("feedSeq", "must be at least 1") }
            return FeedStamp(feedId: id, sequence: seq)
        }
    }

    static func trade<S: FieldSource>(_ s: inout S) throws(FieldError) -> Trade {
        let version = try s.requiredInt64("version")
        if version < 0 { throw FieldError("version", "must not be negative") }
        let quantity = try s.quantity("quantity")
        if quantity == 0 { throw FieldError("quantity", "must be positive") }
        guard let price = try s.decimal("price") else { throw FieldError("price", "is required") }
        if price.units < 0 { throw FieldError("price", "must not be negative") }
        return Trade(
            tradeId: try s.requiredIdentifier("tradeId"), version: version, status: try s.requiredEnumeration("status", TradeStatus.self),
            orderId: try s.identifier("orderId"), bookId: try s.requiredIdentifier("bookId"), securityId: try s.requiredIdentifier("securityId"),
            side: try s.requiredEnumeration("side", TradeSide.self), quantity: quantity, price: price,
            tradeDate: try s.requiredDate("tradeDate"), settleDate: try s.date("settleDate"), counterpartyId: try s.identifier("counterpartyId"))
    }

    static func price<S: FieldSource>(_ s: inout S) throws(FieldError) -> PriceTick {
        let id = try s.requiredIdentifier("securityId")
        guard let last = try s.decimal("last") else { throw FieldError("last", "is required") }
        if last.units < 0 { throw FieldError("last", "must not be negative") }
        let bid = try s.decimal("bid"), ask = try s.decimal("ask")
        if let bid, let ask, bid > ask { throw FieldError("bid", "bid \(bid) is above ask \(ask)") }
        let currency = try s.string("currency")
        if let currency { try checkCurrency(currency, field: "currency") }
        return PriceTick(
            securityId: id, last: last, bid: bid, ask: ask, previousClose: try s.decimal("previousClose"),
            currency: currency, source: try s.string("source"), ts: try s.timestamp("ts"))
    }

    static func sod<S: FieldSource>(_ s: inout S) throws(FieldError) -> SODPosition {
        let names: [(StaticString, StaticString)] = [
            ("sd0Receipt", "sd0Deliver"), ("sd1Receipt", "sd1Deliver"), ("sd2Receipt", "sd2Deliver"),
            ("sd3Receipt", "sd3Deliver"), ("sd4Receipt", "sd4Deliver"),
        ]
        var receipts = [Int64](repeating: 0, count: 5), delivers = [Int64](repeating: 0, count: 5)
        for (k, (r, d)) in names.enumerated() {
            receipts[k] = try s.quantity(r, required: false)
            delivers[k] = try s.quantity(d, required: false)
        }
        return SODPosition(
            businessDate: try s.requiredDate("businessDate"), bookId: try s.requiredIdentifier("bookId"), securityId: try s.requiredIdentifier("securityId"),
            contractualQty: try s.requiredInt64("contractualQty"), settledQty: try s.requiredInt64("settledQty"),
            receipts: receipts, delivers: delivers)
    }

    static func availability<S: FieldSource>(_ s: inout S) throws(FieldError) -> Availability {
        Availability(
            sourceId: try s.requiredIdentifier("sourceId"), securityId: try s.requiredIdentifier("securityId"), quantity: try s.quantity("quantity"),
            availabilityType: try s.requiredEnumeration("availabilityType", AvailabilityType.self), rateBps: try s.decimal("rateBps"),
            effectiveDate: try s.requiredDate("effectiveDate"))
    }

    static func contract<S: FieldSource>(_ s: inout S) throws(FieldError) -> Contract {
        let version = try s.requiredInt64("version")
        if version < 0 { throw FieldError("version", "must not be negative") }
        return Contract(
            contractId: try s.requiredIdentifier("contractId"), version: version, kind: try s.requiredEnumeration("kind", ContractKind.self),
            status: try s.requiredEnumeration("status", ContractStatus.self), bookId: try s.requiredIdentifier("bookId"),
            counterpartyId: try s.requiredIdentifier("counterpartyId"), securityId: try s.requiredIdentifier("securityId"),
            quantity: try s.quantity("quantity"), returnedQty: try s.quantity("returnedQty", required: false),
            recalledQty: try s.quantity("recalledQty", required: false), rateBps: try s.decimal("rateBps") ?? .zero,
            collateralType: try s.string("collateralType"), startDate: try s.requiredDate("startDate"), endDate: try s.date("endDate"))
    }

    static func security<S: FieldSource>(_ s: inout S) throws(FieldError) -> Security {
        let record = Security(
            securityId: try s.identifier("securityId"), isin: try s.identifier("isin"), cusip: try s.identifier("cusip"), sedol: try s.identifier("sedol"),
            ticker: try s.identifier("ticker"), ric: try s.identifier("ric"), bloombergId: try s.identifier("bloombergId"), name: try s.string("name"),
            marketId: try s.requiredIdentifier("marketId"), currency: try s.string("currency"),
            assetType: try s.enumeration("assetType", AssetType.self) ?? .equity, version: try s.int64("version"),
            provider: try s.identifier("provider"), temperature: try s.enumeration("temperature", Temperature.self) ?? .gc,
            easyToBorrow: try s.bool("easyToBorrow") ?? false, thresholdList: try s.bool("thresholdList") ?? false,
            restricted: try s.bool("restricted") ?? false, shortSellEligible: try s.bool("shortSellEligible") ?? true,
            constituents: try s.constituents("constituents"))
        if let isin = record.isin, !IdentifierChecks.isValidISIN(isin) {
            throw FieldError("isin", "\(isin.prefix(20)) is not a valid ISIN (12 characters with a correct check digit)")
        }
        if let cusip = record.cusip, !IdentifierChecks.isValidCUSIP(cusip) { throw FieldError("cusip", "\(cusip.prefix(20)) is not a valid CUSIP") }
        if let sedol = record.sedol, !IdentifierChecks.isValidSEDOL(sedol) { throw FieldError("sedol", "\(sedol.prefix(20)) is not a valid SEDOL") }
        if let currency = record.currency { try checkCurrency(currency, field: "currency") }
        // Index tracking columns in the shipped CSV are informational.
        _ = s.raw("index")
        return record
    }

    static func checkCurrency(_ c: String, field: StaticString) throws(FieldError) {
        guard c.utf8.count == 3, c.utf8.allSatisfy({ $0 >= 65 && $0 <= 90 }) else {
            throw FieldError("\(field)", "must be a three-letter ISO 4217 code")
        }
    }
}
