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
            // Only the keys that name this security: a ticker repeats across markets, and its key may name another.
            for (kind, value) in old.identifiers {
                let key = IdentifierKey(kind: kind, value: value)
                if reference.identifierIndex[key] == index { reference.identifierIndex.removeValue(forKey: key) }
            }
            if let ticker = old.ticker {
                reference.securitiesByTicker[ticker]?.removeAll { $0 == index }
                // A ticker this security gives up stays found for another that has it.
                let key = IdentifierKey(kind: .ticker, value: ticker)
                if reference.identifierIndex[key] == nil, let other = reference.securitiesByTicker[ticker]?.last {
                    reference.identifierIndex[key] = other
                }
            }
            reference.securities[Int(index)].record = merged
            indexIdentifiers(of: merged, security: index)
            reference.noteConstituents(of: merged, replacing: old)
            return true
        }
        let (index, _) = reference.securityIds.intern(id)
        reference.securities.append(SecurityEntry(record: s, market: market))
        reference.securityPartitions.append(UInt8(Self.partition(ofSecurityId: id, partitions: partitions.count)))
        reference.securitiesByMarket[Int(market)].append(index)
        for k in partitions.indices { partitions[k].positionsBySecurity.append([]) }
        indexIdentifiers(of: s, security: index)
        reference.noteConstituents(of: s, replacing: nil)
        return true
    }

    private mutating func indexIdentifiers(of s: Security, security index: Int32) {
        for (kind, value) in s.identifiers { reference.identifierIndex[IdentifierKey(kind: kind, value: value)] = index }
        if let ticker = s.ticker { reference.securitiesByTicker[ticker, default: []].append(index) }
    }

    mutating func applyBook(_ b: Book) -> Bool {
        if let index = reference.bookIds.lookup(b.bookId) {
            let old = reference.books[Int(index)]
            if !isNewer(b.version, than: old.version) || old == b { return false }
            reference.books[Int(index)] = b
            reference.note(b)
            // A book whose type, legal entity or units change moves its positions' and contracts' quantities:
            // rebuilt from scratch (reference data, rare).
            if bookScope(index) != partitions[0].bookScopes[Int(index)] { refreshBookScopes() }
            return true
        }
        let (index, _) = reference.bookIds.intern(b.bookId)
        reference.books.append(b)
        reference.note(b)
        let scope = bookScope(index)
        for k in partitions.indices {
            partitions[k].positionsByBook.append([])
            partitions[k].bookScopes.append(scope)
        }
        return true
    }

    mutating func applyAggregationUnit(_ u: AggregationUnit) -> Bool {
        if let old = reference.aggregationUnits[u.aggregationUnitId] {
            if !isNewer(u.version, than: old.version) || old == u { return false }
            reference.aggregationUnitNames.removeValue(forKey: old.marketId + "|" + old.name)
        }
        let replaced = reference.aggregationUnits[u.aggregationUnitId] != nil
        reference.aggregationUnits[u.aggregationUnitId] = u
        reference.aggregationUnitNames[u.marketId + "|" + u.name] = u.aggregationUnitId
        if replaced { reference.rebuildScopeIndexes() } else { reference.note(u) }
        // A new default unit can change where existing books' positions count.
        refreshBookScopes()
        return true
    }

    // MARK: Financing, availability and market data

    /// A contract's new version; one that moves to a security of another partition moves between partitions.
    mutating func applyContract(_ c: Contract, refs: ResolvedRefs = ResolvedRefs()) -> Bool {
        let security = refs.security >= 0 ? refs.security : reference.securityIds.lookup(c.securityId)!
        let k = partition(ofSecurity: security)
        let market = Int(reference.securities[Int(security)].market)
        let book = refs.book >= 0 ? refs.book : reference.bookIds.lookup(c.bookId) ?? -1
        if let old = contract(c.contractId), let from = contractPartition(c.contractId), from != k {
            guard c.version > old.version else { return false }
            partitions[from].removeContract(old, markets: markets)
        }
        return partitions[k].applyContract(c, security: security, book: book, market: market, markets: markets)
    }

    /// Every contract, whichever partition keeps it.
    var contracts: [String: Contract] {
        var all: [String: Contract] = [:]
        for p in partitions { all.merge(p.contracts) { a, _ in a } }
        return all
    }

    func contract(_ id: String) -> Contract? {
        for p in partitions { if let c = p.contracts[id] { return c } }
        return nil
    }

    /// The partition that keeps contract `id`, if any does.
    func contractPartition(_ id: String) -> Int? {
        partitions.firstIndex { $0.contracts[id] != nil }
    }

    mutating func applyAvailability(_ a: Availability, refs: ResolvedRefs = ResolvedRefs()) -> Bool {
        let security = refs.security >= 0 ? refs.security : reference.securityIds.lookup(a.securityId)!
        let ladder = markets[Int(reference.securities[Int(security)].market)].ladder
        return partitions[partition(ofSecurity: security)].applyAvailability(a, security: security, ladder: ladder)
    }

    mutating func applyPrice(_ p: PriceTick, refs: ResolvedRefs = ResolvedRefs(), at time: Timestamp) -> Bool {
        let security = refs.security >= 0 ? refs.security : reference.securityIds.lookup(p.securityId)!
        let market = markets[Int(reference.securities[Int(security)].market)]
        return partitions[partition(ofSecurity: security)].applyPrice(p, security: security, market: market, at: time)
    }
}
