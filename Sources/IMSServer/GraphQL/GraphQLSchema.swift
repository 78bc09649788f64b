import Graphiti
import IMSDomain
import IMSEngine
import IMSHistory
import IMSRules
import IMSRuntime

// GraphQL over the same read model as REST: every resolver reads the engine state under its lock,
// briefly, through the same query functions the REST routes use. Quantities are `Long` (64-bit;
// GraphQL's `Int` is 32-bit), dates `Date` (yyyy-MM-dd), prices and rates `Decimal`, times `DateTime`.

/// A page of a list field: its items, how many match in all, and where it starts.
struct GraphQLPage<Item: Sendable>: Sendable {
    var items: [Item]
    var total: Int
    var offset: Int
    var limit: Int
}

typealias PositionPage = GraphQLPage<PositionView>
typealias SecurityPage = GraphQLPage<SecurityView>
typealias OrderPage = GraphQLPage<OrderView>

/// Paging arguments shared by list fields; `limit` is at most 1,000 in GraphQL.
struct PageArguments: Codable, Sendable {
    var offset: Int?
    var limit: Int?

    func checked() throws -> (offset: Int, limit: Int) {
        let offset = self.offset ?? 0, limit = self.limit ?? 100
        guard offset >= 0 else { throw GraphQLArgumentError("offset must not be negative") }
        guard (1...1_000).contains(limit) else { throw GraphQLArgumentError("limit must be between 1 and 1000") }
        return (offset, limit)
    }
}

struct GraphQLArgumentError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

struct IdArguments: Codable, Sendable { var id: String }
struct PositionArguments: Codable, Sendable { var bookId: String; var securityId: String }
/// The position filter's arguments: the names of `PositionFilter.fields` (a test keeps the two equal).
struct PositionsArguments: Codable, Sendable {
    var bookId: String?, securityId: String?, marketId: String?, aggregationUnitId: String?
    var positionType: String?, legalEntity: String?, clientId: String?
    var offset: Int?, limit: Int?

    /// The filter arguments by their field names.
    var filterValues: [String: String?] {
        [
            "bookId": bookId, "securityId": securityId, "marketId": marketId, "aggregationUnitId": aggregationUnitId,
            "positionType": positionType, "legalEntity": legalEntity, "clientId": clientId,
        ]
    }
}
struct SecuritiesArguments: Codable, Sendable { var query: String?; var marketId: String?; var identifier: String?; var offset: Int?; var limit: Int? }
struct ExceptionsArguments: Codable, Sendable { var afterId: Int?; var kind: String?; var acknowledged: Bool?; var limit: Int? }
struct InventoryArguments: Codable, Sendable { var securityId: String; var aggregationUnitId: String?; var legalEntity: String?; var clientId: String? }

/// One bucket and its quantity (GraphQL has no maps).
struct BucketQuantity: Codable, Sendable {
    var name: String
    var quantity: Int64
}

/// What a query runs against: the engine, and the client a client key is limited to (nil: staff).
///
/// A client (SPEC 10) sees reference data (markets, securities) and its own positions: `positions` is
/// narrowed to its client (naming another is an error), `position` and `book` answer null for another
/// client's book, and a security's nested `positions` are its own. Every other field (inventory, rules,
/// exceptions, counterparties, aggregation units, the book list) is for staff and answers an error.
final class GraphQLContext: Sendable {
    let engine: Engine
    let clientScope: String?
    /// The history store, when the server keeps one (`--history`).
    let history: PostgresHistoryStore?

    init(engine: Engine, clientScope: String? = nil, history: PostgresHistoryStore? = nil) {
        self.engine = engine
        self.clientScope = clientScope
        self.history = history
    }

    var readModel: ReadModelStore { engine.readModel }

    /// Throws for a client asking for a field that is for staff.
    func requireStaff(_ field: String) throws {
        if clientScope != nil {
            throw GraphQLArgumentError("\(field) is for staff (operator, approver, admin); a client key sees reference data and its own positions")
        }
    }

    /// Whether the caller may see `book` (staff: every book; a client: its own).
    func maySee(_ book: Book?) -> Bool {
        guard let own = clientScope else { return true }
        return book?.clientId == own
    }
}

/// The root resolver: one function per query field.
struct GraphQLResolver: Sendable {
    func markets(context: GraphQLContext, arguments: NoArguments) -> [MarketView] { context.readModel.read { $0.marketViews() } }
    func market(context: GraphQLContext, arguments: IdArguments) -> MarketView? { context.readModel.read { $0.market(arguments.id) } }
    func security(context: GraphQLContext, arguments: IdArguments) -> SecurityView? {
        context.readModel.read { $0.security(arguments.id, visibleTo: context.clientScope) }
    }
    func counterparties(context: GraphQLContext, arguments: NoArguments) throws -> [Counterparty] {
        try context.requireStaff("counterparties")
        return context.readModel.read { $0.allCounterparties() }
    }
    func counterparty(context: GraphQLContext, arguments: IdArguments) throws -> Counterparty? {
        try context.requireStaff("counterparty")
        return context.readModel.read { $0.counterparty(arguments.id) }
    }
    func books(context: GraphQLContext, arguments: NoArguments) throws -> [Book] {
        try context.requireStaff("books")
        return context.readModel.read { $0.allBooks() }
    }
    func book(context: GraphQLContext, arguments: IdArguments) -> Book? {
        context.readModel.read { $0.book(arguments.id) }.flatMap { context.maySee($0) ? $0 : nil }
    }
    func aggregationUnits(context: GraphQLContext, arguments: NoArguments) throws -> [AggregationUnit] {
        try context.requireStaff("aggregationUnits")
        return context.readModel.read { $0.allAggregationUnits() }
    }
    func aggregationUnit(context: GraphQLContext, arguments: IdArguments) throws -> AggregationUnit? {
        try context.requireStaff("aggregationUnit")
        return context.readModel.read { $0.aggregationUnit(arguments.id) }
    }
    func position(context: GraphQLContext, arguments: PositionArguments) -> PositionView? {
        guard context.maySee(context.readModel.read({ $0.book(arguments.bookId) })) else { return nil }
        return context.readModel.read { $0.position(bookId: arguments.bookId, securityId: arguments.securityId) }
    }

    func securities(context: GraphQLContext, arguments: SecuritiesArguments) throws -> SecurityPage {
        let (offset, limit) = try PageArguments(offset: arguments.offset, limit: arguments.limit).checked()
        if let identifier = arguments.identifier {
            let found = context.readModel.read { $0.securities(identifier: identifier) }
            return SecurityPage(items: found, total: found.count, offset: 0, limit: found.count)
        }
        let page = context.readModel.read { $0.searchSecurities(query: arguments.query, marketId: arguments.marketId, offset: offset, limit: limit) }
        return SecurityPage(items: page.items, total: page.total, offset: offset, limit: limit)
    }

    func positions(context: GraphQLContext, arguments a: PositionsArguments) throws -> PositionPage {
        let (offset, limit) = try PageArguments(offset: a.offset, limit: a.limit).checked()
        var filter: PositionFilter
        do {
            filter = try PositionFilter(values: { a.filterValues[$0] ?? nil })
        } catch {
            throw GraphQLArgumentError(error.description)
        }
        if let own = context.clientScope {
            if let named = filter.clientId, named != own { throw GraphQLArgumentError("clientId: " + AccessPolicy.notOwnClient(own: own, named: named)) }
            filter.clientId = own
        }
        let page = context.readModel.read { $0.positions(matching: filter, offset: offset, limit: limit) }
        return PositionPage(items: page.items, total: page.total, offset: offset, limit: limit)
    }

    func inventory(context: GraphQLContext, arguments a: InventoryArguments) throws -> InventoryView? {
        try context.requireStaff("inventory")
        let scope: InventoryScope?
        do {
            scope = try InventoryScope.named(aggregationUnitId: a.aggregationUnitId, legalEntity: a.legalEntity, clientId: a.clientId)
        } catch {
            throw GraphQLArgumentError("\(error.field): \(error.message)")
        }
        return context.readModel.read { $0.inventory(a.securityId, scope: scope) }
    }

    func ruleVersions(context: GraphQLContext, arguments: NoArguments) throws -> [RuleVersion] {
        try context.requireStaff("ruleVersions")
        return context.readModel.read { $0.rules.versions }
    }
    func activeRuleVersion(context: GraphQLContext, arguments: NoArguments) throws -> Int {
        try context.requireStaff("activeRuleVersion")
        return context.readModel.read { $0.rules.active.version }
    }

    func exceptions(context: GraphQLContext, arguments a: ExceptionsArguments) throws -> [ExceptionRecord] {
        try context.requireStaff("exceptions")
        let limit = a.limit ?? 100
        guard (1...1_000).contains(limit) else { throw GraphQLArgumentError("limit must be between 1 and 1000") }
        var kind: ExceptionKind?
        if let k = a.kind {
            guard let parsed = ExceptionKind(rawValue: k) else {
                throw GraphQLArgumentError("kind must be one of \(ExceptionKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            kind = parsed
        }
        return context.readModel.read { $0.exceptions(afterId: Int64(max(0, a.afterId ?? 0)), kind: kind, acknowledged: a.acknowledged, limit: limit) }
    }
}

// Nested fields that need the engine.
extension PositionView {
    func book(context: GraphQLContext, arguments: NoArguments) -> Book? { context.readModel.read { $0.book(bookId) } }
    func security(context: GraphQLContext, arguments: NoArguments) -> SecurityView? {
        context.readModel.read { $0.security(securityId, visibleTo: context.clientScope) }
    }
    var positionTypeName: String { positionType.rawValue }
}

extension Book {
    func positions(context: GraphQLContext, arguments: PageArguments) throws -> PositionPage {
        try GraphQLResolver().positions(context: context, arguments: PositionsArguments(bookId: bookId, offset: arguments.offset, limit: arguments.limit))
    }
    var positionTypeName: String { positionType.rawValue }
}

extension SecurityView {
    func positions(context: GraphQLContext, arguments: PageArguments) throws -> PositionPage {
        try GraphQLResolver().positions(
            context: context, arguments: PositionsArguments(securityId: security.securityId ?? "", offset: arguments.offset, limit: arguments.limit))
    }
    var securityId: String { security.securityId ?? "" }
    var isin: String? { security.isin }
    var cusip: String? { security.cusip }
    var sedol: String? { security.sedol }
    var ticker: String? { security.ticker }
    var ric: String? { security.ric }
    var bloombergId: String? { security.bloombergId }
    var name: String? { security.name }
    var marketId: String { security.marketId }
    var currency: String? { security.currency }
    var assetType: String { security.assetType.rawValue }
    var temperature: String { security.temperature.rawValue }
    var easyToBorrow: Bool { security.easyToBorrow }
    var thresholdList: Bool { security.thresholdList }
    var restricted: Bool { security.restricted }
    var shortSellEligible: Bool { security.shortSellEligible }
}

extension SecurityView {
    func inventory(context: GraphQLContext, arguments: NoArguments) throws -> InventoryView? {
        try context.requireStaff("inventory")
        return context.readModel.read { $0.inventory(securityId) }
    }
}

extension InventoryView {
    /// Every bucket with its quantity, in the catalogue's order.
    var bucketList: [BucketQuantity] { Bucket.names.map { BucketQuantity(name: $0, quantity: buckets[$0] ?? 0) } }
    /// The settlement-ladder days (empty for a scope's share).
    var ladderDays: [InventoryLadderDay] { ladder ?? [] }
}

extension InventoryLadderDay {
    /// Every dated bucket with its quantity that day, in the catalogue's order.
    var bucketList: [BucketQuantity] {
        Bucket.names.indices.filter(Bucket.isDated).map { BucketQuantity(name: Bucket.names[$0], quantity: buckets[Bucket.names[$0]] ?? 0) }
    }
}

extension RuleVersion {
    var statusName: String { status.rawValue }
    var name: String { document.name }
}

extension MarketView {
    var marketId: String { market.marketId }
    var name: String { market.name }
    var currency: String { market.currency }
    var timeZone: String { market.timeZone }
    var country: String { market.country }
}

extension Counterparty { var kindName: String { kind.rawValue } }
extension AggregationUnit { var typeName: String { type.rawValue } }
extension ExceptionRecord { var kindName: String { kind.rawValue } }

/// The GraphQL API: schema and resolver.
struct IMSGraphQL: API {
    let resolver = GraphQLResolver()
    let schema: Schema<GraphQLResolver, GraphQLContext>

    init() throws {
        schema = try Schema<GraphQLResolver, GraphQLContext> {
            Scalar(Int64.self, as: "Long").description("A 64-bit signed integer (quantities, sequences).")
            Scalar(BusinessDate.self, as: "Date").description("A calendar date, yyyy-MM-dd.")
            Scalar(Decimal8.self, as: "Decimal").description("A decimal number with up to 8 fraction digits.")
            Scalar(Timestamp.self, as: "DateTime").description("An ISO-8601 instant.")

            Type(MarketView.self, as: "Market") {
                Field("marketId", at: \.marketId)
                Field("name", at: \.name)
                Field("currency", at: \.currency)
                Field("timeZone", at: \.timeZone)
                Field("country", at: \.country)
                Field("businessDate", at: \.businessDate)
                Field("settlementLadder", at: \.settlementLadder)
                Field("holidaysPublishedThrough", at: \.holidaysPublishedThrough)
                Field("calendarSource", at: \.calendarSource)
                Field("securities", at: \.securities)
            }
            Type(PriceTick.self, as: "Price") {
                Field("last", at: \.last)
                Field("bid", at: \.bid)
                Field("ask", at: \.ask)
                Field("previousClose", at: \.previousClose)
                Field("currency", at: \.currency)
                Field("source", at: \.source)
                Field("ts", at: \.ts)
            }
            Type(SecurityView.self, as: "Security") {
                Field("securityId", at: \.securityId)
                Field("isin", at: \.isin)
                Field("cusip", at: \.cusip)
                Field("sedol", at: \.sedol)
                Field("ticker", at: \.ticker)
                Field("ric", at: \.ric)
                Field("bloombergId", at: \.bloombergId)
                Field("name", at: \.name)
                Field("marketId", at: \.marketId)
                Field("currency", at: \.currency)
                Field("assetType", at: \.assetType)
                Field("temperature", at: \.temperature)
                Field("easyToBorrow", at: \.easyToBorrow)
                Field("thresholdList", at: \.thresholdList)
                Field("restricted", at: \.restricted)
                Field("shortSellEligible", at: \.shortSellEligible)
                Field("lastPrice", at: \.lastPrice)
                Field("priceTicks", at: \.priceTicks)
                Field("tickDirection", at: \.tickDirection)
                Field("shortSaleRestrictedThrough", at: \.shortSaleRestrictedThrough)
                Field("positions", at: SecurityView.positions) {
                    Argument("offset", at: \.offset)
                    Argument("limit", at: \.limit)
                }
                Field("inventory", at: SecurityView.inventory)
            }
            Type(CalculationValues.self, as: "Calculations") {
                Field("forLoan", at: \.forLoan)
                Field("forPledge", at: \.forPledge)
                Field("overborrow", at: \.overborrow)
                Field("locateAvailable", at: \.locateAvailable)
            }
            Type(BucketQuantity.self) {
                Field("name", at: \.name)
                Field("quantity", at: \.quantity)
            }
            Type(InventoryView.self, as: "Inventory") {
                Field("securityId", at: \.securityId)
                Field("marketId", at: \.marketId)
                Field("businessDate", at: \.businessDate)
                Field("buckets", at: \.bucketList)
                Field("calculations", at: \.calculations)
                Field("ruleVersion", at: \.ruleVersion)
                Field("ruleSet", at: \.ruleSet)
                Field("aggregationUnitId", at: \.aggregationUnitId)
                Field("legalEntity", at: \.legalEntity)
                Field("clientId", at: \.clientId)
                Field("ladder", at: \.ladderDays)
            }
            Type(InventoryLadderDay.self, as: "InventoryLadderDay") {
                Field("day", at: \.day)
                Field("date", at: \.date)
                Field("buckets", at: \.bucketList)
                Field("calculations", at: \.calculations)
            }
            Type(RuleVersion.self) {
                Field("version", at: \.version)
                Field("status", at: \.statusName)
                Field("name", at: \.name)
                Field("author", at: \.author)
                Field("createdAt", at: \.createdAt)
                Field("approvedBy", at: \.approvedBy)
                Field("activatedBy", at: \.activatedBy)
            }
            Type(Counterparty.self) {
                Field("counterpartyId", at: \.counterpartyId)
                Field("name", at: \.name)
                Field("lei", at: \.lei)
                Field("kind", at: \.kindName)
                Field("parentId", at: \.parentId)
                Field("kycStatus", at: \.kycStatus)
                Field("status", at: \.status)
                Field("version", at: \.version)
            }
            Type(AggregationUnit.self) {
                Field("aggregationUnitId", at: \.aggregationUnitId)
                Field("name", at: \.name)
                Field("marketId", at: \.marketId)
                Field("legalEntity", at: \.legalEntity)
                Field("type", at: \.typeName)
                Field("isDefault", at: \.isDefault)
                Field("version", at: \.version)
            }
            Type(Book.self) {
                Field("bookId", at: \.bookId)
                Field("name", at: \.name)
                Field("legalEntity", at: \.legalEntity)
                Field("positionType", at: \.positionTypeName)
                Field("clientId", at: \.clientId)
                Field("version", at: \.version)
                Field("positions", at: Book.positions) {
                    Argument("offset", at: \.offset)
                    Argument("limit", at: \.limit)
                }
            }
            Type(PositionView.LadderRow.self, as: "LadderRow") {
                Field("date", at: \.date)
                Field("receipt", at: \.receipt)
                Field("deliver", at: \.deliver)
                Field("projectedSettled", at: \.projectedSettled)
            }
            Type(PositionView.LaterBucket.Entry.self, as: "LaterEntry") {
                Field("date", at: \.date)
                Field("receipt", at: \.receipt)
                Field("deliver", at: \.deliver)
            }
            Type(PositionView.LaterBucket.self, as: "LaterBucket") {
                Field("receipt", at: \.receipt)
                Field("deliver", at: \.deliver)
                Field("entries", at: \.entries)
            }
            Type(PositionView.self, as: "Position") {
                Field("bookId", at: \.bookId)
                Field("securityId", at: \.securityId)
                Field("marketId", at: \.marketId)
                Field("businessDate", at: \.businessDate)
                Field("contractualQty", at: \.contractualQty)
                Field("settledQty", at: \.settledQty)
                Field("intradayBuys", at: \.intradayBuys)
                Field("intradaySells", at: \.intradaySells)
                Field("intradayShortSells", at: \.intradayShortSells)
                Field("ladder", at: \.ladder)
                Field("projectedNetPosition", at: \.projectedNetPosition)
                Field("later", at: \.later)
                Field("sodContractualQty", at: \.sodContractualQty)
                Field("sodSettledQty", at: \.sodSettledQty)
                Field("sodReceived", at: \.sodReceived)
                Field("positionType", at: \.positionTypeName)
                Field("legalEntity", at: \.legalEntity)
                Field("aggregationUnitId", at: \.aggregationUnitId)
                Field("book", at: PositionView.book)
                Field("security", at: PositionView.security)
            }
            Type(PositionPage.self, as: "PositionPage") {
                Field("items", at: \.items)
                Field("total", at: \.total)
                Field("offset", at: \.offset)
                Field("limit", at: \.limit)
            }
            Type(SecurityPage.self, as: "SecurityPage") {
                Field("items", at: \.items)
                Field("total", at: \.total)
                Field("offset", at: \.offset)
                Field("limit", at: \.limit)
            }
            Type(ExceptionRecord.self, as: "Exception") {
                Field("exceptionId", at: \.exceptionId)
                Field("kind", at: \.kindName)
                Field("sequence", at: \.sequence)
                Field("line", at: \.line)
                Field("field", at: \.field)
                Field("message", at: \.message)
                Field("subject", at: \.subject)
                Field("receivedAt", at: \.receivedAt)
                Field("acknowledgedBy", at: \.acknowledgedBy)
                Field("acknowledgedAt", at: \.acknowledgedAt)
                Field("acknowledgeNote", at: \.acknowledgeNote)
            }
            Type(LocateRecord.Step.self, as: "LocateStep") {
                Field("sequence", at: \.sequence)
                Field("at", at: \.at)
                Field("status", at: \.statusName)
                Field("approvedQuantity", at: \.approvedQuantity)
                Field("by", at: \.by)
                Field("reason", at: \.reason)
            }
            Type(LocateView.self, as: "Locate") {
                Field("locateId", at: \.locateId)
                Field("status", at: \.status)
                Field("approvedQuantity", at: \.approvedQuantity)
                Field("decrementQuantity", at: \.decrementQuantity)
                Field("reason", at: \.reason)
                Field("requestId", at: \.requestId)
                Field("clientId", at: \.clientId)
                Field("securityId", at: \.securityId)
                Field("marketId", at: \.marketId)
                Field("side", at: \.side)
                Field("settlement", at: \.settlement)
                Field("quantity", at: \.quantity)
                Field("rateBps", at: \.rateBps)
                Field("businessDate", at: \.businessDate)
                Field("expiresAt", at: \.expiresAt)
                Field("requestedAt", at: \.requestedAt)
                Field("requestedBy", at: \.requestedBy)
                Field("history", at: \.history)
            }
            Type(LocatePage.self) {
                Field("items", at: \.items)
                Field("total", at: \.total)
                Field("offset", at: \.offset)
                Field("limit", at: \.limit)
            }
            Type(OrderCheck.self) {
                Field("stage", at: \.stage)
                Field("code", at: \.code)
                Field("passed", at: \.passed)
                Field("message", at: \.message)
                Field("available", at: \.available)
                Field("required", at: \.required)
            }
            Type(OrderFill.self) {
                Field("tradeId", at: \.tradeId)
                Field("quantity", at: \.quantity)
            }
            Type(OrderCancellation.self) {
                Field("sequence", at: \.sequence)
                Field("at", at: \.at)
                Field("quantity", at: \.quantity)
                Field("by", at: \.by)
                Field("reason", at: \.reason)
            }
            Type(OrderView.self, as: "Order") {
                Field("orderId", at: \.orderId)
                Field("decision", at: \.decision)
                Field("reasons", at: \.reasons)
                Field("checks", at: \.checks)
                Field("clientId", at: \.clientId)
                Field("bookId", at: \.bookId)
                Field("securityId", at: \.securityId)
                Field("marketId", at: \.marketId)
                Field("aggregationUnitId", at: \.aggregationUnitId)
                Field("side", at: \.side)
                Field("quantity", at: \.quantity)
                Field("price", at: \.price)
                Field("sequence", at: \.sequence)
                Field("decidedAt", at: \.decidedAt)
                Field("businessDate", at: \.businessDate)
                Field("filledQuantity", at: \.filledQuantity)
                Field("fills", at: \.fills)
                Field("expired", at: \.expired)
                Field("cancellation", at: \.cancellation)
            }
            Type(OrderPage.self, as: "OrderPage") {
                Field("items", at: \.items)
                Field("total", at: \.total)
                Field("offset", at: \.offset)
                Field("limit", at: \.limit)
            }
            Type(PricePoint.self) {
                Field("at", at: \.at)
                Field("last", at: \.last)
                Field("bid", at: \.bid)
                Field("ask", at: \.ask)
                Field("open", at: \.open)
                Field("high", at: \.high)
                Field("low", at: \.low)
                Field("close", at: \.close)
                Field("ticks", at: \.ticks)
            }
            Type(PositionSnapshot.self) {
                Field("at", at: \.at)
                Field("kind", at: \.kind)
                Field("record", at: \.record)
                Field("position", at: \.position)
            }
            Type(InventorySnapshot.self) {
                Field("at", at: \.at)
                Field("kind", at: \.kind)
                Field("record", at: \.record)
                Field("inventory", at: \.inventory)
            }
            Query {
                Field("markets", at: GraphQLResolver.markets)
                Field("market", at: GraphQLResolver.market) { Argument("id", at: \.id) }
                Field("securities", at: GraphQLResolver.securities) {
                    Argument("query", at: \.query)
                    Argument("marketId", at: \.marketId)
                    Argument("identifier", at: \.identifier)
                    Argument("offset", at: \.offset)
                    Argument("limit", at: \.limit)
                }
                Field("security", at: GraphQLResolver.security) { Argument("id", at: \.id) }
                Field("counterparties", at: GraphQLResolver.counterparties)
                Field("counterparty", at: GraphQLResolver.counterparty) { Argument("id", at: \.id) }
                Field("books", at: GraphQLResolver.books)
                Field("book", at: GraphQLResolver.book) { Argument("id", at: \.id) }
                Field("aggregationUnits", at: GraphQLResolver.aggregationUnits)
                Field("aggregationUnit", at: GraphQLResolver.aggregationUnit) { Argument("id", at: \.id) }
                Field("positions", at: GraphQLResolver.positions) {
                    Argument("bookId", at: \.bookId)
                    Argument("securityId", at: \.securityId)
                    Argument("marketId", at: \.marketId)
                    Argument("aggregationUnitId", at: \.aggregationUnitId)
                    Argument("positionType", at: \.positionType)
                    Argument("legalEntity", at: \.legalEntity)
                    Argument("clientId", at: \.clientId)
                    Argument("offset", at: \.offset)
                    Argument("limit", at: \.limit)
                }
                Field("position", at: GraphQLResolver.position) {
                    Argument("bookId", at: \.bookId)
                    Argument("securityId", at: \.securityId)
                }
                Field("inventory", at: GraphQLResolver.inventory) {
                    Argument("securityId", at: \.securityId)
                    Argument("aggregationUnitId", at: \.aggregationUnitId)
                    Argument("legalEntity", at: \.legalEntity)
                    Argument("clientId", at: \.clientId)
                }
                Field("ruleVersions", at: GraphQLResolver.ruleVersions)
                Field("activeRuleVersion", at: GraphQLResolver.activeRuleVersion)
                Field("exceptions", at: GraphQLResolver.exceptions) {
                    Argument("afterId", at: \.afterId)
                    Argument("kind", at: \.kind)
                    Argument("acknowledged", at: \.acknowledged)
                    Argument("limit", at: \.limit)
                }
                Field("locates", at: GraphQLResolver.locates) {
                    Argument("clientId", at: \.clientId)
                    Argument("securityId", at: \.securityId)
                    Argument("status", at: \.status)
                    Argument("marketId", at: \.marketId)
                    Argument("date", at: \.date)
                    Argument("offset", at: \.offset)
                    Argument("limit", at: \.limit)
                }
                Field("locate", at: GraphQLResolver.locate) { Argument("id", at: \.id) }
                Field("orders", at: GraphQLResolver.orders) {
                    Argument("clientId", at: \.clientId)
                    Argument("securityId", at: \.securityId)
                    Argument("decision", at: \.decision)
                    Argument("offset", at: \.offset)
                    Argument("limit", at: \.limit)
                }
                Field("order", at: GraphQLResolver.order) {
                    Argument("orderId", at: \.orderId)
                    Argument("clientId", at: \.clientId)
                }
                Field("priceHistory", at: GraphQLResolver.priceHistory) {
                    Argument("securityId", at: \.securityId)
                    Argument("from", at: \.from)
                    Argument("to", at: \.to)
                    Argument("interval", at: \.interval)
                    Argument("offset", at: \.offset)
                    Argument("limit", at: \.limit)
                }
                Field("positionHistory", at: GraphQLResolver.positionHistory) {
                    Argument("bookId", at: \.bookId)
                    Argument("securityId", at: \.securityId)
                    Argument("from", at: \.from)
                    Argument("to", at: \.to)
                    Argument("offset", at: \.offset)
                    Argument("limit", at: \.limit)
                }
                Field("inventoryHistory", at: GraphQLResolver.inventoryHistory) {
                    Argument("securityId", at: \.securityId)
                    Argument("from", at: \.from)
                    Argument("to", at: \.to)
                    Argument("offset", at: \.offset)
                    Argument("limit", at: \.limit)
                }
            }
        }
    }
}
