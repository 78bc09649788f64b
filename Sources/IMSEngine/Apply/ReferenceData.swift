import IMSDomain
import IMSRules

extension EngineState {
    mutating func applySecurity(_ s: Security) -> Bool {
        let id = s.securityId!
        let providerKey = (s.provider ?? "") + "|" + id
        if let v = s.version {
            if let old = reference.providerVersions[providerKey], v <= old { return false }
            reference.providerVersions[providerKey] = v
        }
        let market = marketIds.lookup(s.marketId)!
        if let index = reference.securityIds.lookup(id) {
            var merged = s
            let old = reference.securities[Int(index)].record
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
            for (kind, value) in old.identifiers { reference.identifierIndex.removeValue(forKey: IdentifierKey(kind: kind, value: value)) }
            reference.securities[Int(index)].record = merged
            indexIdentifiers(of: merged, security: index)
            return true
        }
        let (index, _) = reference.securityIds.intern(id)
        reference.securities.append(SecurityEntry(record: s, market: market))
        reference.securityPartitions.append(UInt8(Self.partition(ofSecurityId: id, partitions: partitions.count)))
        reference.securitiesByMarket[Int(market)].append(index)
        for k in partitions.indices { partitions[k].positionsBySecurity.append([]) }
        indexIdentifiers(of: s, security: index)
        return true
    }

    private mutating func indexIdentifiers(of s: Security, security index: Int32) {
        for (kind, value) in s.identifiers { reference.identifierIndex[IdentifierKey(kind: kind, value: value)] = index }
    }

    mutating func applyBook(_ b: Book) -> Bool {
        if let index = reference.bookIds.lookup(b.bookId) {
            let old = reference.books[Int(index)]
            if !isNewer(b.version, than: old.version) || old == b { return false }
            reference.books[Int(index)] = b
            if old.positionType != b.positionType {
                for k in partitions.indices { partitions[k].retype(book: index, to: b.positionType) }
            }
            return true
        }
        _ = reference.bookIds.intern(b.bookId)
        reference.books.append(b)
        for k in partitions.indices {
            partitions[k].positionsByBook.append([])
            partitions[k].bookTypes.append(b.positionType)
        }
        return true
    }

    mutating func applyAggregationUnit(_ u: AggregationUnit) -> Bool {
        if let old = reference.aggregationUnits[u.aggregationUnitId] {
            if !isNewer(u.version, than: old.version) || old == u { return false }
            reference.aggregationUnitNames.removeValue(forKey: old.marketId + "|" + old.name)
        }
        reference.aggregationUnits[u.aggregationUnitId] = u
        reference.aggregationUnitNames[u.marketId + "|" + u.name] = u.aggregationUnitId
        return true
    }

    // MARK: Financing, availability and market data

    mutating func applyContract(_ c: Contract) -> Bool {
        let old = contracts[c.contractId]
        if let old, c.version <= old.version { return false }
        if let old { addToInventory(old, sign: -1) }
        addToInventory(c, sign: 1)
        contracts[c.contractId] = c
        changeLog.contracts.insert(c.contractId)
        return true
    }

    /// Adds (or, with sign −1, takes away) what a contract puts in its security's buckets.
    private mutating func addToInventory(_ c: Contract, sign: Int64) {
        guard let security = reference.securityIds.lookup(c.securityId) else { return }
        partitions[partition(ofSecurity: security)].inventory.add(security: security, bucket: Bucket.contract(c.kind), sign * c.openQuantity)
    }

    mutating func applyAvailability(_ a: Availability, refs: ResolvedRefs = ResolvedRefs()) -> Bool {
        let security = refs.security >= 0 ? refs.security : reference.securityIds.lookup(a.securityId)!
        return partitions[partition(ofSecurity: security)].applyAvailability(a, security: security)
    }

    mutating func applyPrice(_ p: PriceTick, refs: ResolvedRefs = ResolvedRefs()) -> Bool {
        let security = refs.security >= 0 ? refs.security : reference.securityIds.lookup(p.securityId)!
        return partitions[partition(ofSecurity: security)].applyPrice(p, security: security)
    }
}
