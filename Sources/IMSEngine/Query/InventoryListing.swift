import Foundation
import IMSDomain
import IMSRules

/// Which region a market is in, for aggregation (a choice: docs/inventory.md).
public enum Region: String, Sendable, Codable, CaseIterable {
    case americas = "AMERICAS"
    case emea = "EMEA"
    case apac = "APAC"

    /// The region a market's figures are summed in.
    public static func of(marketId: String) -> Region {
        switch marketId {
        case "US", "CA", "BR", "MX": .americas
        case "HK", "JP", "KR", "TW", "AU", "SG", "IN", "CN", "NZ": .apac
        default: .emea
        }
    }
}

/// One security's line in the inventory listing: its calculations and, when it has a price (and its
/// currency an FX rate), their value in USD.
public struct InventoryRow: Codable, Sendable, Hashable {
    public var securityId: String
    /// The security's ticker and name, as its reference data gives them (for the desk's grid and search).
    public var ticker: String?
    public var name: String?
    public var marketId: String
    public var region: Region
    public var temperature: Temperature
    public var currency: String
    public var lastPrice: Decimal8?
    /// USD per unit of `currency` (1 for USD); nil without an FX rate.
    public var usdRate: Decimal8?
    public var calculations: CalculationValues
    /// Each calculation times price times rate; nil without a price or rate.
    public var usdValues: USDValues?
    /// SHORT.* (every position type), for the constrained-names list.
    public var shortQuantity: Int64
}

extension InventoryRow: JSONWritable {
    public static var typicalJSONBytes: Int { 260 }

    /// This row as JSON, written directly; identical to `JSONEncoder` with sorted keys (tested). A listing
    /// page of 10,000 rows took about 140 ms through `JSONEncoder` (release; several times that in debug).
    public func write(to j: inout JSONText) {
        func calculations(_ c: CalculationValues, _ j: inout JSONText) {
            j.object { j in
                j.field("forLoan", c.forLoan); j.field("forPledge", c.forPledge)
                j.field("locateAvailable", c.locateAvailable); j.field("overborrow", c.overborrow)
            }
        }
        j.object { j in
            j.key("calculations"); calculations(self.calculations, &j)
            j.field("currency", currency)
            if let lastPrice { j.key("lastPrice"); j.number(Double(lastPrice.description)!) }
            j.field("marketId", marketId)
            if let name { j.field("name", name) }
            j.field("region", region.rawValue)
            j.field("securityId", securityId)
            j.field("shortQuantity", shortQuantity)
            j.field("temperature", temperature.rawValue)
            if let ticker { j.field("ticker", ticker) }
            if let usdRate { j.key("usdRate"); j.number(Double(usdRate.description)!) }
            if let usd = usdValues {
                j.key("usdValues")
                j.object { j in
                    j.key("forLoan"); j.number(usd.forLoan)
                    j.key("forPledge"); j.number(usd.forPledge)
                    j.key("locateAvailable"); j.number(usd.locateAvailable)
                    j.key("overborrow"); j.number(usd.overborrow)
                }
            }
        }
    }
}

/// Values in US dollars, rounded to the cent.
public struct USDValues: Codable, Sendable, Hashable {
    public var forLoan: Double = 0
    public var forPledge: Double = 0
    public var overborrow: Double = 0
    public var locateAvailable: Double = 0

    /// A `USDValues` from its fields.
    public init() {}

    /// Each inventory calculation times `unit` dollars.
    init(_ values: CalculationValues, unit: Double) {
        forLoan = Double(values.forLoan) * unit; forPledge = Double(values.forPledge) * unit
        overborrow = Double(values.overborrow) * unit; locateAvailable = Double(values.locateAvailable) * unit
    }

    mutating func add(_ other: USDValues) {
        forLoan += other.forLoan; forPledge += other.forPledge; overborrow += other.overborrow; locateAvailable += other.locateAvailable
    }

    func rounded() -> USDValues {
        var r = self
        r.forLoan = (forLoan * 100).rounded() / 100; r.forPledge = (forPledge * 100).rounded() / 100
        r.overborrow = (overborrow * 100).rounded() / 100; r.locateAvailable = (locateAvailable * 100).rounded() / 100
        return r
    }
}

/// One group of an aggregation: how many securities, what they sum to (quantities and USD), and how many
/// had no price or rate (left out of the USD sums).
public struct InventoryAggregate: Codable, Sendable, Hashable {
    public var key: String
    public var securities: Int
    public var calculations: CalculationValues
    public var usdValues: USDValues
    public var unpriced: Int
}

/// How the listing can be sorted: by security id, or by a calculation (largest first).
public enum InventorySort: String, Sendable, CaseIterable {
    case securityId, forLoan, forPledge, overborrow, locateAvailable
}

extension ReadModel {
    /// The row of one security under the rules in force.
    func inventoryRow(_ index: Int32, rules active: ActiveRules) -> InventoryRow {
        let record = reference.securities[Int(index)].record
        let choice = active.rules.choose(for: traits(index))
        let b = buckets(index, ladder: active.rules.usesLadderDays(choice))
        let values = active.rules.evaluate(choice, b)
        let market = record.marketId
        let pricing = self.pricing(index)
        let short = Bucket.positionTypes.reduce(Int64(0)) { $0 &+ b[Bucket.short($1)] }
        return InventoryRow(
            securityId: record.securityId ?? "", ticker: record.ticker, name: record.name, marketId: market, region: Region.of(marketId: market),
            temperature: record.temperature,
            currency: pricing.currency, lastPrice: pricing.price, usdRate: pricing.rate, calculations: values,
            usdValues: pricing.usdPerUnit.map { USDValues(values, unit: $0).rounded() }, shortQuantity: short)
    }

    /// The securities of a market (or all), optionally of a region.
    func inventorySecurities(marketId: String?, region: Region?) -> [Int32] {
        let all: [Int32]
        if let marketId {
            guard let m = marketIds.lookup(marketId) else { return [] }
            all = reference.securitiesByMarket[Int(m)]
        } else {
            all = reference.securities.indices.map { Int32($0) }
        }
        guard let region else { return all }
        return all.filter { Region.of(marketId: reference.securities[Int($0)].record.marketId) == region }
    }

    /// `GET /api/v1/inventory`: every security's calculations, filtered, sorted and paged.
    public func inventoryRows(marketId: String?, region: Region?, sort: InventorySort, offset: Int, limit: Int) -> Page<InventoryRow> {
        let active = rules.active
        let indices = inventorySecurities(marketId: marketId, region: region)
        if sort == .securityId {
            let ordered = indices.sorted { (reference.securities[Int($0)].record.securityId ?? "") < (reference.securities[Int($1)].record.securityId ?? "") }
            let page = ordered.dropFirst(offset).prefix(limit).map { inventoryRow($0, rules: active) }
            return Page(items: Array(page), total: indices.count, offset: offset, limit: limit)
        }
        let calculation = Calculation.byName[sort.rawValue]!
        let rows = indices.map { inventoryRow($0, rules: active) }
            .sorted { ($0.calculations[calculation], $1.securityId) > ($1.calculations[calculation], $0.securityId) }
        return Page(items: Array(rows.dropFirst(offset).prefix(limit)), total: rows.count, offset: offset, limit: limit)
    }

    /// `GET /api/v1/inventory/aggregates`: sums by market or region (quantities, and USD where priced).
    public func inventoryAggregates(byRegion: Bool) -> [InventoryAggregate] {
        let active = rules.active
        var groups: [String: InventoryAggregate] = [:]
        for index in reference.securities.indices {
            let row = inventoryRow(Int32(index), rules: active)
            let key = byRegion ? row.region.rawValue : row.marketId
            var g = groups[key] ?? InventoryAggregate(key: key, securities: 0, calculations: CalculationValues(), usdValues: USDValues(), unpriced: 0)
            g.securities += 1
            for c in Calculation.allCases { g.calculations[c] = g.calculations[c].addingSaturating(row.calculations[c]) }
            if let usd = row.usdValues { g.usdValues.add(usd) } else { g.unpriced += 1 }
            groups[key] = g
        }
        return groups.values.map {
            var g = $0; g.usdValues = g.usdValues.rounded(); return g
        }.sorted { $0.key < $1.key }
    }

    /// `GET /api/v1/inventory/aggregates?by=legalEntity|aggregationUnit`: each scope's share summed over its
    /// securities (quantities, and USD where priced), with the firm's lender lines in every scope.
    public func inventoryAggregates(by kind: ScopeKind) -> [InventoryAggregate] {
        let active = rules.active
        var groups: [String: InventoryAggregate] = [:]
        for p in partitions {
            for key in p.scoped[kind].keys {
                let scopeName = reference.scopeIds(kind).name(Int32(bitPattern: UInt32(key >> 32)))
                let security = Int32(bitPattern: UInt32(truncatingIfNeeded: key))
                let b = buckets(security, scope: InventoryScope(kind, scopeName))
                let values = active.rules.evaluate(active.rules.choose(for: traits(security)), b)
                var g =
                    groups[scopeName]
                    ?? InventoryAggregate(key: scopeName, securities: 0, calculations: CalculationValues(), usdValues: USDValues(), unpriced: 0)
                g.securities += 1
                for c in Calculation.allCases { g.calculations[c] = g.calculations[c].addingSaturating(values[c]) }
                if let unit = pricing(security).usdPerUnit {
                    g.usdValues.add(USDValues(values, unit: unit))
                } else {
                    g.unpriced += 1
                }
                groups[scopeName] = g
            }
        }
        return groups.values.map {
            var g = $0; g.usdValues = g.usdValues.rounded(); return g
        }.sorted { $0.key < $1.key }
    }

    /// A security's pricing: its currency (the last tick's, else its own, else its market's), last price,
    /// USD rate of that currency (1 for USD), and USD per unit (nil without a price or a rate).
    func pricing(_ index: Int32) -> (currency: String, price: Decimal8?, rate: Decimal8?, usdPerUnit: Double?) {
        let record = reference.securities[Int(index)].record
        let tick = partitions[partition(ofSecurity: index)].prices[index]?.tick
        let currency = tick?.currency ?? record.currency ?? catalog.markets[record.marketId]?.currency ?? "USD"
        let rate: Decimal8? = currency == "USD" ? Decimal8(1) : fxRates[currency]?.usdRate
        guard let price = tick?.last, let rate else { return (currency, tick?.last, rate, nil) }
        return (currency, price, rate, Double(price.units) / 1e8 * Double(rate.units) / 1e8)
    }

    /// `GET /api/v1/inventory/top`: hard-to-borrow names whose shorts most exceed what can still be located
    /// (`constrained`), or the largest overborrows (`overborrow`, by USD value where priced, else quantity).
    public func inventoryTop(_ list: String, limit: Int) -> [InventoryRow] {
        let active = rules.active
        var rows: [InventoryRow] = []
        for index in reference.securities.indices {
            let row = inventoryRow(Int32(index), rules: active)
            switch list {
            case "constrained": if row.temperature == .htb && row.shortQuantity > 0 { rows.append(row) }
            default: if row.calculations.overborrow > 0 { rows.append(row) }
            }
        }
        if list == "constrained" {
            rows.sort {
                ($0.shortQuantity &- $0.calculations.locateAvailable, $1.securityId) > ($1.shortQuantity &- $1.calculations.locateAvailable, $0.securityId)
            }
        } else {
            func size(_ r: InventoryRow) -> Double { r.usdValues?.overborrow ?? Double(r.calculations.overborrow) }
            rows.sort { (size($0), $1.securityId) > (size($1), $0.securityId) }
        }
        return Array(rows.prefix(limit))
    }
}

/// A `/ws/inventory` subscription's filter: a security (id or identifier), a market, and a legal entity or an
/// aggregation unit, in any combination; empty is all. With a legal entity or unit, the stream carries that
/// scope's share of each security it holds anything of (the REST view with `?legalEntity=` or
/// `?aggregationUnitId=`). With `by` (every legal entity, or every unit), it carries every such scope's
/// share of each security: one item per scope and security, for the desk's breakdowns.
public struct InventoryFilter: Sendable, Hashable {
    public var securityId: String?
    public var marketId: String?
    /// The scope whose share the stream shows, if any (`InventoryScope.named`: at most one).
    public var scope: InventoryScope?
    /// Every scope of this kind (legal entity or aggregation unit): each one's share, as its own item.
    public var by: ScopeKind?

    public static let fieldNames = ["securityId", "marketId", "legalEntity", "aggregationUnitId", "clientId", "by"]
    /// The scope kinds `by` takes, by the name a filter gives.
    public static let byNames: [(name: String, kind: ScopeKind)] = [("legalEntity", .legalEntity), ("aggregationUnit", .aggregationUnit)]

    /// A `InventoryFilter` from its fields.
    public init(securityId: String? = nil, marketId: String? = nil, scope: InventoryScope? = nil, by: ScopeKind? = nil) {
        self.securityId = securityId
        self.marketId = marketId
        self.scope = scope
        self.by = by
    }

    public var values: [(name: String, value: String)] {
        var out = [("securityId", securityId), ("marketId", marketId)].compactMap { n, v in v.map { (n, $0) } }
        if let scope { out.append((scope.fieldName, scope.id)) }
        if let by, let name = Self.byNames.first(where: { $0.kind == by })?.name { out.append(("by", name)) }
        return out
    }
}

extension ReadModel {
    /// Whether security `index` passes `filter`.
    public func inventory(_ index: Int32, matches filter: InventoryFilter) -> Bool {
        let record = reference.securities[Int(index)].record
        if let m = filter.marketId, record.marketId != m { return false }
        if let s = filter.securityId, record.securityId != s, record.isin != s, record.ticker != s, record.cusip != s, record.sedol != s { return false }
        if let scope = filter.scope, !holds(scope, index) { return false }
        if let kind = filter.by, scopes(kind, holding: index).isEmpty { return false }
        return true
    }

    /// The scopes of `kind` that hold anything of security `index`, by name.
    public func scopes(_ kind: ScopeKind, holding index: Int32) -> [InventoryScope] {
        let store = partitions[partition(ofSecurity: index)].scoped[kind]
        let ids = reference.scopeIds(kind)
        return (0..<Int32(ids.count)).filter { store.has(scope: $0, security: index) }.map { InventoryScope(kind, ids.name($0)) }
    }

    /// Whether a legal entity or unit holds anything of security `index` (has buckets for it).
    func holds(_ scope: InventoryScope, _ index: Int32) -> Bool {
        let store = partitions[partition(ofSecurity: index)]
        return reference.scopeIds(scope.kind).lookup(scope.id).map { store.scoped[scope.kind].has(scope: $0, security: index) } ?? false
    }

    /// The securities `filter` passes, in index order.
    public func inventoryIndices(matching filter: InventoryFilter) -> [Int32] {
        if let s = filter.securityId, let i = reference.securityIds.lookup(s) { return inventory(i, matches: filter) ? [i] : [] }
        return inventorySecurities(marketId: filter.marketId, region: nil).filter { inventory($0, matches: filter) }
    }

    /// The stream items of security `index` under `filter`: its firm-wide resource, one scope's share, or
    /// (with `by`) each holding scope's share.
    public func inventoryItems(_ index: Int32, filter: InventoryFilter) -> [String] {
        if let kind = filter.by { return scopes(kind, holding: index).compactMap { inventoryJSON(index, scope: $0) } }
        return inventoryJSON(index, scope: filter.scope).map { [$0] } ?? []
    }

    /// The REST resource of security `index` (or of `scope`'s share of it), as JSON (the stream's `data`).
    public func inventoryJSON(_ index: Int32, scope: InventoryScope? = nil) -> String? {
        guard let view = inventory(reference.securityIds.name(index), scope: scope) else { return nil }
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return (try? e.encode(view)).map { String(decoding: $0, as: UTF8.self) }
    }
}

/// An aggregation unit's or a client's sell limits in one security (SPEC 4.2). A unit may still sell long its
/// net long position and short what it borrowed and did not lend, with lenders' lines where the market lets
/// them count; a client its long positions and approved long-sell locates, and its approved locates and
/// pay-to-holds, less the sales already approved.
public struct SellLimitView: Codable, Sendable, Hashable {
    public var aggregationUnitId: String?
    public var clientId: String?
    public var securityId: String
    public var marketId: String
    public var longSellLimit: Int64
    public var shortSellLimit: Int64
    public var ruleVersion: Int
}

extension ReadModel {
    /// A unit's or client's limits in every security it holds anything of (or in one), by security id; nil for
    /// an unknown unit or client.
    public func sellLimits(_ scope: InventoryScope, securityId: String? = nil) -> [SellLimitView]? {
        guard knowsLimitScope(scope) else { return nil }
        var indices: [Int32] = []
        if let securityId {
            guard
                let i = reference.securityIds.lookup(securityId)
                    ?? security(securityId).flatMap({ $0.security.securityId }).flatMap({ reference.securityIds.lookup($0) })
            else { return [] }
            indices = [i]
        } else {
            indices = securities(heldBy: scope)
        }
        return indices.compactMap { sellLimit(scope, security: $0) }.sorted { $0.securityId < $1.securityId }
    }

    /// Every scope limits are kept for: each aggregation unit, then each client, by id.
    public func limitScopes() -> [InventoryScope] {
        reference.aggregationUnits.keys.sorted().map { .aggregationUnit($0) } + reference.clientIds.names.sorted().map { .client($0) }
    }

    /// Whether `scope` is a unit or a client IMS knows (limits are kept for those two kinds).
    public func knowsLimitScope(_ scope: InventoryScope) -> Bool {
        switch scope {
        case .aggregationUnit(let id): reference.aggregationUnits[id] != nil
        case .client(let id): reference.clientIds.lookup(id) != nil
        case .legalEntity: false
        }
    }

    /// The securities `scope` holds anything of (has buckets for), in index order per partition.
    public func securities(heldBy scope: InventoryScope) -> [Int32] {
        guard let scopeIndex = reference.scopeIds(scope.kind).lookup(scope.id) else { return [] }
        var indices: [Int32] = []
        for p in partitions {
            for key in p.scoped[scope.kind].keys where Int32(bitPattern: UInt32(key >> 32)) == scopeIndex {
                indices.append(Int32(bitPattern: UInt32(truncatingIfNeeded: key)))
            }
        }
        return indices
    }

    /// A unit's or client's limits in security `index` under the rules in force; nil for an unknown scope.
    public func sellLimit(_ scope: InventoryScope, security i: Int32) -> SellLimitView? {
        guard knowsLimitScope(scope), Int(i) < reference.securities.count else { return nil }
        let active = rules.active
        let values = active.rules.evaluate(active.rules.choose(for: traits(i)), buckets(i, scope: scope))
        let record = reference.securities[Int(i)].record
        let isClient = scope.kind == .client
        return SellLimitView(
            aggregationUnitId: isClient ? nil : scope.id, clientId: isClient ? scope.id : nil,
            securityId: record.securityId ?? "", marketId: record.marketId,
            longSellLimit: isClient ? values.clientLongSellLimit : values.unitLongSellLimit,
            shortSellLimit: isClient ? values.clientShortSellLimit : values.unitShortSellLimit, ruleVersion: active.version)
    }

    /// The securities whose limits for `scope` a change record may have moved: those whose inventory changed
    /// and the scope holds, those of the scope's locates and orders that changed, and, when the rules in force
    /// changed, every security it holds.
    public func limitSecurities(changedIn record: ChangeRecord, scope: InventoryScope) -> [Int32] {
        if record.rulesChanged { return securities(heldBy: scope) }
        var out = Set<Int32>()
        for s in record.inventorySecurities where holds(scope, s) { out.insert(s) }
        if case .client(let id) = scope {
            for l in record.locates where l.clientId == id { if let s = reference.securityIds.lookup(l.securityId) { out.insert(s) } }
            for o in record.orders where o.clientId == id { if let s = reference.securityIds.lookup(o.securityId) { out.insert(s) } }
        }
        return out.sorted()
    }
}
