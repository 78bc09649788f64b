import IMSDomain

/// The business bounds of `InputBounds`, checked as part of validation: on every path, and on replay, so
/// that a journal holding a line written before a bound existed still starts (the line is refused again).
extension EngineState {
    /// A problem with a trade's figures or dates, given its security's market.
    @inline(__always)
    func tradeBoundsError(_ t: Trade, market: Int32) -> FieldError? {
        if t.quantity <= 0 || t.quantity > InputBounds.maxQuantity {
            return FieldError("quantity", "\(t.quantity) is outside 1…\(InputBounds.maxQuantity), the quantities IMS accepts")
        }
        if t.price.units < 0 || t.price.units > InputBounds.maxPrice.units {
            return bounds(InputBounds.decimal(t.price, limit: InputBounds.maxPrice, field: "price"))
        }
        if t.version < 0 || t.version > InputBounds.maxVersion { return bounds(InputBounds.version(t.version)) }
        let range = calendarRanges[Int(market)]
        if !range.contains(t.tradeDate) { return dateOutside("tradeDate", t.tradeDate, market: market) }
        if let settle = t.settleDate, !range.contains(settle) { return dateOutside("settleDate", settle, market: market) }
        return nil
    }

    /// A problem with an SOD snapshot's figures or date.
    func sodBoundsError(_ s: SODPosition, market: Int32) -> FieldError? {
        if let e = InputBounds.signedQuantity(s.contractualQty, field: "contractualQty") { return bounds(e) }
        if let e = InputBounds.signedQuantity(s.settledQty, field: "settledQty") { return bounds(e) }
        guard s.receipts.count == Ladder5.count, s.delivers.count == Ladder5.count else {
            return FieldError("sd0Receipt", "an SOD snapshot has \(Ladder5.count) ladder rows")
        }
        for k in 0..<Ladder5.count {
            if let e = InputBounds.quantity(s.receipts[k], field: "sd\(k)Receipt") { return bounds(e) }
            if let e = InputBounds.quantity(s.delivers[k], field: "sd\(k)Deliver") { return bounds(e) }
        }
        if !markets[Int(market)].calendar.range.contains(s.businessDate) { return dateOutside("businessDate", s.businessDate, market: market) }
        return nil
    }

    /// A problem with a contract's figures or dates.
    func contractBoundsError(_ c: Contract, market: Int32) -> FieldError? {
        for (q, field) in [(c.quantity, "quantity"), (c.returnedQty, "returnedQty"), (c.recalledQty, "recalledQty")] {
            if let e = InputBounds.quantity(q, field: field) { return bounds(e) }
        }
        if let e = InputBounds.version(c.version) { return bounds(e) }
        if let e = InputBounds.decimal(c.rateBps, limit: InputBounds.maxRateBps, field: "rateBps", allowNegative: true) { return bounds(e) }
        let range = markets[Int(market)].calendar.range
        if !range.contains(c.startDate) { return dateOutside("startDate", c.startDate, market: market) }
        if let end = c.endDate, !range.contains(end) { return dateOutside("endDate", end, market: market) }
        return nil
    }

    /// A problem with a lender's availability.
    func availabilityBoundsError(_ a: Availability, market: Int32) -> FieldError? {
        if let e = InputBounds.quantity(a.quantity, field: "quantity") { return bounds(e) }
        if let rate = a.rateBps, let e = InputBounds.decimal(rate, limit: InputBounds.maxRateBps, field: "rateBps", allowNegative: true) { return bounds(e) }
        if !markets[Int(market)].calendar.range.contains(a.effectiveDate) { return dateOutside("effectiveDate", a.effectiveDate, market: market) }
        return nil
    }

    /// A problem with a price tick's figures.
    func priceBoundsError(_ p: PriceTick) -> FieldError? {
        for (value, field) in [(p.last, "last"), (p.bid, "bid"), (p.ask, "ask"), (p.previousClose, "previousClose")] {
            if let value, let e = InputBounds.decimal(value, limit: InputBounds.maxPrice, field: field) { return bounds(e) }
        }
        return nil
    }

    /// A problem with a day roll's date.
    func dayRollBoundsError(_ r: MarketDayRoll, market: Int32) -> FieldError? {
        // The ladder of the new date needs four settlement days after it inside the calendar.
        let calendar = markets[Int(market)].calendar
        guard calendar.range.contains(r.businessDate), calendar.range.contains(r.businessDate.adding(days: 14)) else {
            return FieldError(
                "businessDate",
                "businessDate \(r.businessDate) is outside market \(marketIds.name(market))'s calendar (\(calendar.range.lowerBound)…\(calendar.range.upperBound.adding(days: -14)) for a business date); extend the calendar first"
            )
        }
        // A business date is a day the market trades: a roll to a weekend or holiday would expire the day's
        // locates and approvals for a day that never opens.
        guard calendar.isTradingDay(r.businessDate) else {
            return FieldError(
                "businessDate", "businessDate \(r.businessDate) is not a trading day of market \(marketIds.name(market)) (a weekend or holiday of its calendar)"
            )
        }
        return nil
    }

    /// A problem with the version of a reference-data event.
    func referenceBoundsError(_ event: Event) -> FieldError? {
        let version: Int64?
        switch event {
        case .security(let s): version = s.version
        case .book(let b): version = b.version
        case .counterparty(let c): version = c.version
        case .aggregationUnit(let u): version = u.version
        case .fxRate(let f):
            return bounds(InputBounds.decimal(f.usdRate, limit: InputBounds.maxUSDRate, field: "usdRate"))
        default: return nil
        }
        return bounds(InputBounds.version(version))
    }

    /// The feed stamps of a batch above `InputBounds.maxFeedSequence`, as line errors by event index.
    func feedStampErrors(_ batch: IngestBatch) -> [(index: Int, error: FieldError)] {
        guard !batch.feedStamps.isEmpty else { return [] }
        var errors: [(index: Int, error: FieldError)] = []
        for (i, stamp) in batch.feedStamps.enumerated() {
            guard let stamp, stamp.sequence < 1 || stamp.sequence > InputBounds.maxFeedSequence else { continue }
            errors.append((i, FieldError("feedSeq", "\(stamp.sequence) is outside 1…\(InputBounds.maxFeedSequence), the feed sequences IMS accepts")))
        }
        return errors
    }

    private func dateOutside(_ field: String, _ date: BusinessDate, market: Int32) -> FieldError {
        let range = markets[Int(market)].calendar.range
        return FieldError(field, "\(field) \(date) is outside market \(marketIds.name(market))'s calendar (\(range.lowerBound)…\(range.upperBound))")
    }

    private func bounds(_ problem: (field: String, message: String)?) -> FieldError? {
        problem.map { FieldError($0.field, $0.message) }
    }
}
