import IMSDomain
import IMSRules

/// `GET /api/v1/inventory/{securityId}` (SPEC 6): a security's buckets, its calculations under the active
/// rules, and, on request, how each number is made.
public struct InventoryView: Codable, Sendable, Equatable {
    public var securityId: String
    public var marketId: String
    public var businessDate: BusinessDate?
    /// Every bucket of SPEC 4.1 by name (zero included).
    public var buckets: [String: Int64]
    public var calculations: CalculationValues
    /// The active rule set's version, and its name.
    public var ruleVersion: Int
    public var ruleSet: String
    /// Set when the view is of one aggregation unit's or legal entity's share.
    public var aggregationUnitId: String?
    public var legalEntity: String?
    public var clientId: String?
    public var explain: InventoryExplanation?
    /// The dated buckets and the calculations on each settlement-ladder day SD0…SD4 (SPEC 4.1, 4.2); absent in
    /// a scope's share, which has no ladder days, and before the market has a business date.
    public var ladder: [InventoryLadderDay]?
}

/// A security's inventory on one settlement-ladder day: its positions as projected settled that day, the
/// contracts in force and the lenders' lines effective by then, and the calculations over them.
public struct InventoryLadderDay: Codable, Sendable, Equatable {
    public var day: String
    public var date: BusinessDate
    /// The dated buckets that are not zero on that day.
    public var buckets: [String: Int64]
    public var calculations: CalculationValues
    public var explain: InventoryExplanation?
}

/// Whose share of a security's inventory: an aggregation unit's, a legal entity's or a client's. Positions and
/// contracts count in their book's scope; lender availability is the firm's, the same in every unit's and
/// legal entity's share, and in no client's.
public enum InventoryScope: Sendable, Hashable {
    case aggregationUnit(String)
    case legalEntity(String)
    case client(String)

    var kind: ScopeKind {
        switch self {
        case .aggregationUnit: .aggregationUnit
        case .legalEntity: .legalEntity
        case .client: .client
        }
    }

    /// The request field that names it.
    var fieldName: String {
        switch self {
        case .aggregationUnit: "aggregationUnitId"
        case .legalEntity: "legalEntity"
        case .client: "clientId"
        }
    }

    var id: String {
        switch self {
        case .aggregationUnit(let id), .legalEntity(let id), .client(let id): id
        }
    }

    /// The scope a request names by `aggregationUnitId`, `legalEntity` or `clientId` (nil: none); naming more
    /// than one is refused, naming the second field.
    public static func named(aggregationUnitId: String?, legalEntity: String?, clientId: String?) throws(ScopeChoiceError) -> InventoryScope? {
        let given = [("aggregationUnitId", aggregationUnitId), ("legalEntity", legalEntity), ("clientId", clientId)].filter { $0.1 != nil }
        guard given.count <= 1 else {
            throw ScopeChoiceError(
                field: given[1].0, message: "name one of aggregationUnitId, legalEntity or clientId, not several: a view shows one scope's share")
        }
        guard let (field, id) = given.first, let id else { return nil }
        return field == "aggregationUnitId" ? .aggregationUnit(id) : field == "legalEntity" ? .legalEntity(id) : .client(id)
    }

    /// A `InventoryScope` from its fields.
    public init(_ kind: ScopeKind, _ id: String) {
        switch kind {
        case .aggregationUnit: self = .aggregationUnit(id)
        case .legalEntity: self = .legalEntity(id)
        case .client: self = .client(id)
        }
    }
}

/// A request that names more than one scope.
public struct ScopeChoiceError: Error, Sendable {
    public var field: String
    public var message: String
}

/// The breakdown of `?explain=true`: each calculation into buckets (its parts sum to it), and each bucket
/// into the books, contracts and lenders behind it (their quantities sum to it).
public struct InventoryExplanation: Codable, Sendable, Equatable {
    public var calculations: [CalculationExplanation]
    public var buckets: [String: [BucketSource]]
}

/// One book, contract or lender's share of a bucket.
public struct BucketSource: Codable, Sendable, Equatable {
    /// `position`, `contract` or `availability`.
    public var kind: String
    public var bookId: String?
    public var positionType: String?
    public var contractId: String?
    public var contractKind: String?
    public var status: String?
    public var counterpartyId: String?
    public var sourceId: String?
    public var availabilityType: String?
    public var quantity: Int64
}

/// The rule set the engine calculates with, and its version.
public struct ActiveRules: Sendable {
    public let version: Int
    public let rules: CompiledRuleSet

    /// A `ActiveRules` from its fields.
    public init(version: Int, rules: CompiledRuleSet) {
        self.version = version
        self.rules = rules
    }

    /// The rules shipped with IMS, version 1.
    public static let shipped = ActiveRules(version: 1, rules: .shipped)
}

extension ReadModel {
    /// What a rule's condition is tested against, for one security.
    func traits(_ index: Int32) -> SecurityTraits {
        reference.traits(index, markets: markets)
    }

    /// A security's buckets as the change feed last brought them, with its ladder days unless `ladder` is false
    /// (a calculation whose rules name no ladder day does not need them: listings and previews skip the copy).
    func buckets(_ index: Int32, ladder: Bool = true) -> BucketVector {
        partitions[partition(ofSecurity: index)].inventory.vector(security: index, ladder: ladder)
    }

    /// The inventory of a security (by id or identifier) under `active`; nil if it is unknown.
    public func inventory(_ idOrIdentifier: String, explain: Bool = false, scope: InventoryScope? = nil) -> InventoryView? {
        inventory(idOrIdentifier, rules: rules.active, explain: explain, scope: scope)
    }

    /// A scope's buckets of a security: its positions' and contracts' share, and the firm's lender lines.
    func buckets(_ index: Int32, scope: InventoryScope) -> BucketVector {
        let store = partitions[partition(ofSecurity: index)]
        var v = reference.scopeIds(scope.kind).lookup(scope.id).map { store.scoped[scope.kind].vector(scope: $0, security: index) } ?? BucketVector()
        // Lenders' lines are the firm's: a unit's or legal entity's share counts them, a client's does not (a
        // client sees its own positions, locates and sells, never what lenders offer the firm).
        if case .client = scope { return v }
        let firm = buckets(index, ladder: false)
        for t in AvailabilityType.allCases { v[Bucket.external(t)] = firm[Bucket.external(t)] }
        return v
    }

    /// Whether book `book`'s positions in a security of `marketId` count in `scope`.
    func book(_ book: Book, marketId: String, isIn scope: InventoryScope) -> Bool {
        switch scope {
        case .aggregationUnit(let id): aggregationUnitId(book: book, marketId: marketId) == id
        case .legalEntity(let id): book.legalEntity == id
        case .client(let id): book.clientId == id
        }
    }

    /// The inventory of a security under the rules `active` (a draft's, for a preview).
    public func inventory(_ idOrIdentifier: String, rules active: ActiveRules, explain: Bool = false, scope: InventoryScope? = nil) -> InventoryView? {
        guard
            let index = reference.securityIds.lookup(idOrIdentifier)
                ?? security(idOrIdentifier).flatMap({ $0.security.securityId }).flatMap({ reference.securityIds.lookup($0) })
        else { return nil }
        let entry = reference.securities[Int(index)]
        let b = scope.map { buckets(index, scope: $0) } ?? buckets(index)
        let choice = active.rules.choose(for: traits(index))
        var view = InventoryView(
            securityId: entry.record.securityId ?? idOrIdentifier, marketId: entry.record.marketId,
            businessDate: markets[Int(entry.market)].businessDate,
            buckets: Dictionary(uniqueKeysWithValues: Bucket.names.enumerated().map { ($1, b[$0]) }),
            calculations: active.rules.evaluate(choice, b), ruleVersion: active.version, ruleSet: active.rules.document.name)
        if case .aggregationUnit(let id) = scope { view.aggregationUnitId = id }
        if case .legalEntity(let id) = scope { view.legalEntity = id }
        if case .client(let id) = scope { view.clientId = id }
        if explain { view.explain = explanation(index, active.rules, choice, b, scope: scope, day: nil) }
        let ladder = markets[Int(entry.market)].ladder
        if scope == nil, b.hasLadder, ladder.count == Bucket.ladderDays {
            view.ladder = ladder.indices.map { k in
                let day = b.onDay(k)
                var buckets: [String: Int64] = [:]
                for i in 0..<Bucket.count where Bucket.isDated(i) && day[i] != 0 { buckets[Bucket.names[i]] = day[i] }
                return InventoryLadderDay(
                    day: Bucket.ladderDayNames[k], date: ladder[k], buckets: buckets,
                    calculations: active.rules.evaluate(choice, day),
                    explain: explain ? explanation(index, active.rules, choice, day, scope: nil, day: k) : nil)
            }
        }
        return view
    }

    /// The breakdown of a security's calculations (as of ladder day `day`, or as it stands): each calculation
    /// into its parts, each bucket (and each ladder-day bucket a rule names, `LONG.FIRM@SD2`) into its sources.
    func explanation(_ index: Int32, _ rules: CompiledRuleSet, _ choice: RuleChoice, _ b: BucketVector, scope: InventoryScope?, day: Int?)
        -> InventoryExplanation
    {
        let calculations = rules.explain(choice, b)
        var buckets = bucketSources(index, scope: scope, day: day)
        // Buckets of other ladder days that a rule names: their sources on that day (in a scope's share, which
        // has no ladder days, the share's own).
        var named: [Int: Set<String>] = [:]
        func collect(_ parts: [ExplainPart]) {
            for p in parts {
                if p.kind == "bucket", let name = p.name, let at = name.firstIndex(of: "@"),
                    let k = Bucket.ladderDayNames.firstIndex(of: String(name[name.index(after: at)...]))
                {
                    named[k, default: []].insert(String(name[..<at]))
                }
                collect(p.parts ?? [])
            }
        }
        for c in calculations { collect(c.parts) }
        for (k, names) in named {
            let sources = bucketSources(index, scope: scope, day: b.hasLadder ? k : nil)
            for name in names { buckets[name + "@" + Bucket.ladderDayNames[k]] = sources[name] }
        }
        return InventoryExplanation(calculations: calculations, buckets: buckets)
    }

    /// The books, contracts and lenders behind each non-zero bucket of a security, as it stands or on ladder
    /// day `day` (positions by their projected settled row, contracts in force, lenders' lines effective).
    func bucketSources(_ index: Int32, scope: InventoryScope? = nil, day: Int? = nil) -> [String: [BucketSource]] {
        var out: [String: [BucketSource]] = [:]
        let store = partitions[partition(ofSecurity: index)]
        let entry = reference.securities[Int(index)]
        let marketId = entry.record.marketId
        let date = day.map { markets[Int(entry.market)].ladder[$0] }
        func counts(_ book: Book) -> Bool { scope.map { self.book(book, marketId: marketId, isIn: $0) } ?? true }
        for p in store.positionsBySecurity[Int(index)] {
            let r = store.positions[Int(p)]
            let book = reference.books[Int(r.book)]
            guard counts(book) else { continue }
            Bucket.positionContribution(type: book.positionType, quantity: day.map { r.ladderRows[$0] } ?? r.contractualQty) { bucket, q in
                out[Bucket.names[bucket], default: []].append(
                    BucketSource(kind: "position", bookId: book.bookId, positionType: book.positionType.rawValue, quantity: q))
            }
        }
        let securityId = entry.record.securityId
        for c in contracts.values
        where c.securityId == securityId && c.openQuantity != 0 && (date.map { c.isInForce(on: $0) } ?? true)
            && (scope == nil || reference.bookIds.lookup(c.bookId).map { counts(reference.books[Int($0)]) } == true)
        {
            out[Bucket.names[Bucket.contract(c.kind)], default: []].append(
                BucketSource(
                    kind: "contract", bookId: c.bookId, contractId: c.contractId, contractKind: c.kind.rawValue, status: c.status.rawValue,
                    counterpartyId: c.counterpartyId, quantity: c.openQuantity))
        }
        for (key, a) in store.availability where key.security == index && a.quantity != 0 && (date.map { a.counts(on: $0) } ?? true) {
            out[Bucket.names[Bucket.external(a.availabilityType)], default: []].append(
                BucketSource(
                    kind: "availability", sourceId: a.sourceId, availabilityType: a.availabilityType.rawValue, quantity: a.quantity))
        }
        for k in out.keys {
            out[k]!.sort {
                ($0.kind, $0.bookId ?? "", $0.contractId ?? "", $0.sourceId ?? "") < ($1.kind, $1.bookId ?? "", $1.contractId ?? "", $1.sourceId ?? "")
            }
        }
        return out
    }
}

/// What a rule set version would change against the rules in force, security by security (a what-if over
/// the live buckets; nothing is changed).
public struct RulePreview: Codable, Sendable, Equatable {
    public struct Difference: Codable, Sendable, Equatable {
        public var securityId: String
        public var marketId: String
        public var active: CalculationValues
        public var proposed: CalculationValues
        /// The largest absolute change of any calculation: what the list is sorted by.
        public var largestChange: Int64
    }

    /// One of today's locate requests that the draft's locate policy would answer otherwise.
    public struct LocateDifference: Codable, Sendable, Equatable {
        public var locateId: String
        public var clientId: String
        public var securityId: String
        public var quantity: Int64
        /// The rule and outcome (`APPROVE`, `AVAILABILITY`, `PENDING:<reason>`, `REJECT:<reason>`) and the decrement
        /// factor, under the rules in force and under the draft.
        public var active: String
        public var proposed: String
    }

    /// Today's locate requests put again to both locate policies (with today's approvals and the request's
    /// indicative rate as facts): how many were tried, how many the draft answers otherwise, the first 100.
    public struct LocatePolicyPreview: Codable, Sendable, Equatable {
        public var requests: Int
        public var changed: Int
        public var differences: [LocateDifference]
    }

    public var version: Int
    public var activeVersion: Int
    public var securities: Int
    public var changed: Int
    /// What the draft's locate policy would answer otherwise (the calculations' what-if is `differences`).
    public var locatePolicy: LocatePolicyPreview
    /// The sum of each calculation's changes over every security.
    public var totalChange: CalculationValues
    /// The securities that change, largest change first, at most `limit`.
    public var differences: [Difference]
    public var seconds: Double
}

extension ReadModel {
    /// Every security's calculations under `proposed` against the rules in force; the `limit` largest changes.
    public func preview(_ proposed: ActiveRules, limit: Int = 100) -> RulePreview {
        let started = ContinuousClock.now
        let active = rules.active
        var differences: [RulePreview.Difference] = []
        var total = CalculationValues()
        for index in reference.securities.indices {
            let i = Int32(index)
            let traits = traits(i)
            let activeChoice = active.rules.choose(for: traits), proposedChoice = proposed.rules.choose(for: traits)
            let b = buckets(i, ladder: active.rules.usesLadderDays(activeChoice) || proposed.rules.usesLadderDays(proposedChoice))
            let now = active.rules.evaluate(activeChoice, b)
            let then = proposed.rules.evaluate(proposedChoice, b)
            guard !now.sameInventory(as: then) else { continue }
            var largest: Int64 = 0
            for c in Calculation.inventory {
                let change = then[c].addingSaturating(now[c] == .min ? .max : -now[c])
                total[c] = total[c].addingSaturating(change)
                largest = max(largest, change.magnitude > UInt64(Int64.max) ? .max : Int64(change.magnitude))
            }
            let record = reference.securities[index].record
            differences.append(.init(securityId: record.securityId ?? "", marketId: record.marketId, active: now, proposed: then, largestChange: largest))
        }
        let changed = differences.count
        differences.sort { ($0.largestChange, $1.securityId) > ($1.largestChange, $0.securityId) }
        let elapsed = ContinuousClock.now - started
        return RulePreview(
            version: proposed.version, activeVersion: active.version, securities: reference.securities.count, changed: changed,
            locatePolicy: locatePolicyPreview(active: active.rules.locatePolicy, proposed: proposed.rules.locatePolicy),
            totalChange: total, differences: Array(differences.prefix(limit)),
            seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }
}

extension ReadModel {
    /// Today's locate requests (asked on their market's current business day) decided again by both policies.
    func locatePolicyPreview(active: CompiledLocatePolicy, proposed: CompiledLocatePolicy) -> RulePreview.LocatePolicyPreview {
        func describe(_ policy: CompiledLocatePolicy, _ facts: LocateFacts) -> String {
            let rule = policy.decide(facts)
            let outcome =
                switch rule.outcome {
                case .approve: "APPROVE"
                case .availability: "AVAILABILITY"
                case .pending(let reason): "PENDING:\(reason)"
                case .reject(let reason): "REJECT:\(reason)"
                }
            return "\(outcome) by \(rule.id), decrement \(policy.decrement(facts).factor)"
        }
        var requests = 0
        var differences: [RulePreview.LocateDifference] = []
        for r in locates.records where !clock.hasRolled(past: r.businessDate, marketId: r.marketId) {
            guard let security = reference.securityIds.lookup(r.securityId), r.businessDate != nil else { continue }
            requests += 1
            let entry = reference.securities[Int(security)]
            let facts = LocateFacts(
                traits: traits(security), country: markets[Int(entry.market)].market.country, side: r.side, settlement: r.settlement,
                clientId: r.clientId, quantity: r.quantity, rateBps: r.rateBps,
                clientApproved: locates.approved(clientId: r.clientId, securityId: r.securityId),
                securityApproved: locates.approvedBySecurity[r.securityId] ?? 0)
            let now = describe(active, facts), then = describe(proposed, facts)
            if now != then {
                differences.append(
                    .init(locateId: r.locateId, clientId: r.clientId, securityId: r.securityId, quantity: r.quantity, active: now, proposed: then))
            }
        }
        return .init(requests: requests, changed: differences.count, differences: Array(differences.prefix(100)))
    }

    /// Every security's calculations under the rules in force (what a full listing costs); returns how many.
    public func recalculateAll() -> Int {
        let active = rules.active
        var count = 0
        var check: Int64 = 0
        for index in reference.securities.indices {
            let i = Int32(index)
            let choice = active.rules.choose(for: traits(i))
            let v = active.rules.evaluate(choice, buckets(i, ladder: active.rules.usesLadderDays(choice)))
            check = check.addingSaturating(v.locateAvailable)
            count += 1
        }
        return check == .min ? 0 : count
    }
}

extension EngineState {
    /// The inventory buckets' memory in the writer's state: bytes per security that has buckets.
    public func inventoryMemory() -> (securities: Int, bytesPerSecurity: Int) {
        var bytes = 0, securities = 0
        for p in partitions {
            bytes += p.inventory.memoryBytes
            securities += p.inventory.securityCount
        }
        return (securities, securities == 0 ? 0 : bytes / securities)
    }
}
