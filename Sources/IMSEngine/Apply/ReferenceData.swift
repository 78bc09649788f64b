import IMSDomain

extension EngineState {
    mutating func applySecurity(_ s: Security) -> Bool {
        let id = s.securityId!
        let providerKey = (s.provider ?? "") + "|" + id
        if let v = s.version {
            if let old = providerVersions[providerKey], v <= old { return false }
            providerVersions[providerKey] = v
        }
        let market = marketIds.lookup(s.marketId)!
        if let index = securityIds.lookup(id) {
            var merged = s
            let old = securities[Int(index)].record
            // Identifiers and descriptive fields a provider does not send are kept from others.
            merged.isin = s.isin ?? old.isin
            merged.cusip = s.cusip ?? old.cusip
            merged.sedol = s.sedol ?? old.sedol
            merged.ticker = s.ticker ?? old.ticker
            merged.ric = s.ric ?? old.ric
            merged.bloombergId = s.bloombergId ?? old.bloombergId
            merged.name = s.name ?? old.name
            merged.currency = s.currency ?? old.currency
            if merged == old { return false }
            for (kind, value) in old.identifiers { identifierIndex.removeValue(forKey: IdentifierKey(kind: kind, value: value)) }
            securities[Int(index)].record = merged
            indexIdentifiers(of: merged, security: index)
            return true
        }
        let (index, _) = securityIds.intern(id)
        securities.append(SecurityEntry(record: s, market: market))
        securitiesByMarket[Int(market)].append(index)
        positionsBySecurity.append([])
        indexIdentifiers(of: s, security: index)
        return true
    }

    private mutating func indexIdentifiers(of s: Security, security index: Int32) {
        for (kind, value) in s.identifiers { identifierIndex[IdentifierKey(kind: kind, value: value)] = index }
    }

    mutating func applyBook(_ b: Book) -> Bool {
        if let index = bookIds.lookup(b.bookId) {
            let old = books[Int(index)]
            if !isNewer(b.version, than: old.version) || old == b { return false }
            books[Int(index)] = b
            return true
        }
        _ = bookIds.intern(b.bookId)
        books.append(b)
        positionsByBook.append([])
        return true
    }

    mutating func applyAggregationUnit(_ u: AggregationUnit) -> Bool {
        if let old = aggregationUnits[u.aggregationUnitId] {
            if !isNewer(u.version, than: old.version) || old == u { return false }
            aggregationUnitNames.removeValue(forKey: old.marketId + "|" + old.name)
        }
        aggregationUnits[u.aggregationUnitId] = u
        aggregationUnitNames[u.marketId + "|" + u.name] = u.aggregationUnitId
        return true
    }

    // MARK: Financing, availability and market data

    mutating func applyContract(_ c: Contract) -> Bool {
        if let old = contracts[c.contractId], c.version <= old.version { return false }
        contracts[c.contractId] = c
        return true
    }

    mutating func applyAvailability(_ a: Availability) -> Bool {
        let key = AvailabilityKey(sourceId: a.sourceId, security: securityIds.lookup(a.securityId)!)
        if availability[key] == a { return false }
        availability[key] = a
        return true
    }

    mutating func applyPrice(_ p: PriceTick) -> Bool {
        let security = securityIds.lookup(p.securityId)!
        if changeLog.isOn { changeLog.prices.append(security) }
        if let old = prices[security] {
            if let ts = p.ts, let oldTs = old.tick.ts, ts < oldTs { return false }
            prices[security] = PriceState(tick: p, tickCount: old.tickCount + 1)
        } else {
            prices[security] = PriceState(tick: p, tickCount: 1)
        }
        return true
    }
}
