import IMSDomain

/// A realistic multi-market flow of IMS events, as NDJSON lines.
///
/// Uses the embedded universe of real listed equities, a firm with two legal
/// entities, clients with free and segregated books, books of every position
/// type, SOD snapshots, lending contracts and lender availability, then a
/// steady flow of trades (with amends and cancels), price ticks and day rolls.
/// Deterministic for a given seed.
public struct MarketSimulator: Sendable {
    public struct SecurityInfo: Sendable {
        public var securityId: String
        public var marketId: String
        public var currency: String
        public var price: Int64 // in cents
    }

    struct BookInfo: Sendable {
        var bookId: String
        var positionType: PositionType
        var clientId: String?
    }

    struct RecentTrade: Sendable {
        var tradeId: String
        var version: Int64
        var line: TradeLine
    }

    struct TradeLine: Sendable {
        var bookId: String
        var security: Int
        var side: TradeSide
        var quantity: Int64
        var price: Int64
        /// The validated order it executes, if any.
        var orderId: String? = nil
    }

    struct LocatedShares: Sendable {
        var client: String
        var security: Int
        var quantity: Int64
    }

    /// A lending contract the flow later returns in part, recalls or closes.
    struct ContractState: Sendable {
        var contractId: String
        var version: Int64
        var kind: String
        var bookId: String
        var counterpartyId: String
        var security: Int
        var quantity: Int64
        var returnedQty: Int64 = 0
        var recalledQty: Int64 = 0
        var status = "OPEN"
        var rateBps: Int
        var startDate: BusinessDate
    }

    public private(set) var securities: [SecurityInfo] = []
    var contracts: [ContractState] = []
    var contractCounter = 0
    var books: [BookInfo] = []
    var tradingBooks: [Int] = []
    public private(set) var businessDates: [String: BusinessDate] = [:]
    let catalog: MarketCatalog
    var random: SimulationRandom
    var tradeCounter = 0
    var locateCounter = 0
    var orderCounter = 0
    /// Recent short locate requests, which sell orders follow.
    var locatedShares: [LocatedShares] = []
    var recent: [RecentTrade] = []
    let prefix: String
    let clients: Int

    /// - Parameters:
    ///   - startDate: the calendar date to start from; each market starts on its latest trading day on or before it.
    ///   - prefix: prepended to generated ids (books, trades), so several runs can share one server.
    public init(catalog: MarketCatalog = .embedded, startDate: BusinessDate, seed: UInt64 = 42, clients: Int = 40, prefix: String = "") {
        self.catalog = catalog
        self.random = SimulationRandom(seed: seed)
        self.prefix = prefix
        self.clients = clients
        let batch = EmbeddedSecurities.csv.utf8CString.withUnsafeBytes { raw in
            BatchDecoder.decodeCSV(UnsafeRawBufferPointer(rebasing: raw.dropLast()), type: "security", receivedAt: Timestamp(micros: 0))
        }
        var rng = SimulationRandom(seed: seed ^ 0xABCD)
        for event in batch.events {
            guard case .security(let s) = event, let id = s.securityId else { continue }
            securities.append(
                SecurityInfo(
                    securityId: id, marketId: s.marketId, currency: s.currency ?? "USD",
                    price: Int64(500 + rng.below(40_000))))
        }
        for id in Set(securities.map(\.marketId)).sorted() {
            guard let calendar = catalog.calendars[id] else { continue }
            var d = startDate
            while !calendar.isTradingDay(d) { d = d.adding(days: -1) }
            businessDates[id] = d
        }
        let types: [PositionType] = [.firm, .synthetic, .repoPledge, .repoReceived, .payToHold, .depot]
        for (i, t) in types.enumerated() {
            books.append(BookInfo(bookId: "\(prefix)BK-\(t.rawValue)-\(i % 2 == 0 ? "US" : "UK")", positionType: t, clientId: nil))
        }
        for c in 0..<clients {
            let client = "\(prefix)CL\(c + 1)"
            books.append(BookInfo(bookId: "\(prefix)BK-\(client)-FREE", positionType: .clientFree, clientId: client))
            if c % 3 == 0 { books.append(BookInfo(bookId: "\(prefix)BK-\(client)-SEG", positionType: .clientSegregated, clientId: client)) }
        }
        tradingBooks = books.indices.filter { [.firm, .clientFree, .clientSegregated, .synthetic].contains(books[$0].positionType) }
    }

    /// A client's locate request: mostly short and modest, now and then above the automatic cap (an operator
    /// decides it), sometimes long or on a swap.
    public mutating func locateRequest() -> LocateCommand {
        locateCounter += 1
        let i = random.skewed(securities.count)
        let big = random.below(40) == 0
        let quantity = big ? Int64(1_000_000 + 100_000 * (1 + random.below(20))) : Int64(100 * (1 + random.below(300)))
        let client = "\(prefix)CL\(1 + random.below(clients))", side: LocateCommand.Side = random.below(10) == 0 ? .long : .short
        if side == .short && !big {
            let located = LocatedShares(client: client, security: i, quantity: quantity)
            if locatedShares.count < 512 { locatedShares.append(located) } else { locatedShares[random.below(512)] = located }
        }
        return LocateCommand(
            action: .request, requestId: "\(prefix)LR\(locateCounter)", clientId: client,
            securityId: securities[i].securityId, quantity: quantity, side: side,
            settlement: random.below(3) == 0 ? .swap : .cash, user: "simulator")
    }

    /// A client's sell order, validated before it goes to the market, and the trade that executes it (carrying
    /// the order's id; now and then for less than the order): mostly short sales, priced at the ask so that
    /// a price test after a fall lets it through.
    public mutating func sellOrder() -> (order: OrderCommand, trade: String) {
        orderCounter += 1
        let clientBooks = books.filter { $0.clientId != nil }
        var book = clientBooks[random.below(clientBooks.count)]
        var security = random.skewed(securities.count)
        let side: TradeSide = random.below(5) < 3 ? .sellShort : .sell
        var quantity = Int64(100 * (1 + random.below(20)))
        // Most short sales follow a locate the client asked for (the policy may have refused it).
        if side == .sellShort, !locatedShares.isEmpty, random.below(5) != 0 {
            let l = locatedShares[random.below(locatedShares.count)]
            book = books.first { $0.bookId == "\(prefix)BK-\(l.client)-FREE" } ?? book
            security = l.security
            quantity = max(1, min(quantity, l.quantity / 2))
        }
        let price = securities[security].price + 1
        let orderId = "\(prefix)OR\(orderCounter)"
        let order = OrderCommand(
            orderId: orderId, clientId: book.clientId!, bookId: book.bookId, securityId: securities[security].securityId,
            side: side == .sellShort ? .sellShort : .sell, quantity: quantity,
            price: Decimal8(units: price * 1_000_000), user: "simulator")
        let executed = random.below(4) == 0 ? quantity / 2 : quantity
        let line = TradeLine(bookId: book.bookId, security: security, side: side, quantity: executed, price: price, orderId: orderId)
        tradeCounter += 1
        // Not among the trades the flow amends: whoever sends it may drop it (a rejected order never trades).
        return (order, tradeText(id: "\(prefix)T\(tradeCounter)", version: 1, status: "NEW", line))
    }

    /// A fall of 12% from the previous close in `count` securities of each of `markets` (the most traded
    /// first): in the US and Japan it restricts short sales for the rest of the day and the next business day.
    public mutating func tenPercentFalls(markets: [String] = ["US", "JP"], count: Int = 3) -> [String] {
        var out: [String] = []
        for m in markets {
            for i in securities.indices.filter({ securities[$0].marketId == m }).prefix(count) {
                let close = securities[i].price
                let p = close * 88 / 100
                securities[i].price = p
                let s = securities[i]
                out.append(
                    #"{"type":"price","securityId":"\#(s.securityId)","last":\#(priceText(p)),"bid":\#(priceText(p - 1)),"ask":\#(priceText(p + 1)),"previousClose":\#(priceText(close)),"currency":"\#(s.currency)"}"#
                )
            }
        }
        return out
    }

    /// The clients' pre-open bulk file: `count` requests at once, before the day's trading.
    public mutating func openingLocates(_ count: Int = 200) -> [LocateCommand] {
        (0..<count).map { _ in locateRequest() }
    }

    /// The embedded securities as a CSV body (`type=security`), every one general collateral with no flags.
    public static var securitiesCSV: String { EmbeddedSecurities.csv }

    /// A security's borrow traits in the demo: a desk's realistic mix, fixed by its id (the same every run).
    /// About 78% general collateral, 15% warm and 7% hard to borrow; in the US the GC names of the larger
    /// half are on the easy-to-borrow list and a few HTB names on the threshold list; about one in a hundred
    /// names is restricted; a few HTB names are over-lent (the firm lent more than it holds).
    public struct DemoTraits: Sendable, Equatable {
        public var temperature: Temperature
        public var easyToBorrow: Bool
        public var thresholdList: Bool
        public var restricted: Bool
        public var overLent: Bool

        /// A `DemoTraits` from its fields.
        public init(securityId: String, marketId: String) {
            // FNV-1a of the id: a stable spread over the universe.
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in securityId.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
            let bucket = Int(h % 100), detail = Int((h / 100) % 100)
            temperature = bucket < 7 ? .htb : bucket < 22 ? .warm : .gc
            easyToBorrow = marketId == "US" && temperature == .gc && detail >= 50
            thresholdList = marketId == "US" && temperature == .htb && detail < 40
            restricted = bucket == 50 && detail < 50
            overLent = temperature == .htb && detail >= 60
        }
    }

    /// The embedded securities with the demo's borrow traits (`DemoTraits`) as columns, for `ims demo`.
    public static var demoSecuritiesCSV: String {
        var out: [Substring] = []
        var header = true
        for line in EmbeddedSecurities.csv.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("#") || line.isEmpty { out.append(line); continue }
            if header { out.append(line + ",temperature,easyToBorrow,thresholdList,restricted"); header = false; continue }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count >= 12 else { out.append(line); continue }
            // securityId is the first column; marketId the fourth from the end (a quoted name may hold commas).
            let t = DemoTraits(securityId: String(fields[0]), marketId: String(fields[fields.count - 4]))
            out.append(line + ",\(t.temperature.rawValue),\(t.easyToBorrow),\(t.thresholdList),\(t.restricted)")
        }
        return out.joined(separator: "\n")
    }

    static func legalEntity(_ bookId: String) -> String { bookId.hasSuffix("-UK") ? "PB-UK-LTD" : "PB-US-LLC" }

    /// Reference data, day rolls, SOD snapshots, contracts, availability and first prices.
    public mutating func setupLines() -> [String] {
        var out: [String] = []
        for (id, date) in businessDates.sorted(by: { $0.key < $1.key }) {
            out.append(#"{"type":"marketDayRoll","marketId":"\#(id)","businessDate":"\#(date)"}"#)
        }
        for le in ["PB-US-LLC", "PB-UK-LTD"] {
            out.append(#"{"type":"counterparty","counterpartyId":"\#(le)","name":"Prime Brokerage \#(le)","kind":"INTERNAL"}"#)
            for m in businessDates.keys.sorted() {
                out.append(
                    #"{"type":"aggregationUnit","aggregationUnitId":"AU-\#(le)-\#(m)","name":"\#(le) \#(m) default","marketId":"\#(m)","legalEntity":"\#(le)","unitType":"NET","isDefault":true}"#
                )
            }
        }
        for c in 0..<clients {
            out.append(
                #"{"type":"counterparty","counterpartyId":"\#(prefix)CL\#(c + 1)","name":"Client Fund \#(c + 1)","kind":"CLIENT","kycStatus":"APPROVED","status":"ACTIVE"}"#
            )
        }
        for l in 1...6 {
            out.append(#"{"type":"counterparty","counterpartyId":"LENDER\#(l)","name":"Agent Lender \#(l)","kind":"LENDER","status":"ACTIVE"}"#)
        }
        for b in books {
            let client = b.clientId.map { #","clientId":"\#($0)""# } ?? ""
            out.append(
                #"{"type":"book","bookId":"\#(b.bookId)","legalEntity":"\#(Self.legalEntity(b.bookId))","positionType":"\#(b.positionType.rawValue)"\#(client)}"#
            )
        }
        for (i, s) in securities.enumerated() {
            let date = businessDates[s.marketId]!
            out.append(priceLine(i))
            for _ in 0..<2 {
                let b = books[random.below(books.count)]
                let settled = Int64(random.below(200) * 100)
                out.append(
                    #"{"type":"sodPosition","businessDate":"\#(date)","bookId":"\#(b.bookId)","securityId":"\#(s.securityId)","contractualQty":\#(settled + 500),"settledQty":\#(settled),"sd1Receipt":500}"#
                )
            }
            if i % 3 == 0 {
                let kinds = ["BORROW", "LOAN", "PLEDGE_OUT", "REPO"]
                let c = ContractState(
                    contractId: "\(prefix)C-\(i)", version: 1, kind: kinds[i % 4], bookId: books[0].bookId,
                    counterpartyId: "LENDER\(1 + i % 6)", security: i, quantity: Int64(1000 * (1 + random.below(50))),
                    rateBps: 25 + random.below(300), startDate: date)
                contracts.append(c)
                out.append(contractText(c))
            }
            let kinds = ["INDICATIVE", "FIRM", "EXCLUSIVE"]
            // Lenders offer by temperature: GC plenty and cheap, warm less and dearer, HTB little and dear.
            let traits = DemoTraits(securityId: s.securityId, marketId: s.marketId)
            let (offered, rate): (Int, Int) =
                switch traits.temperature {
                case .gc: (10_000 * (1 + random.below(100)), 20 + random.below(200))
                case .warm: (5_000 * (1 + random.below(40)), 250 + random.below(500))
                case .htb: (1_000 * random.below(20), 800 + random.below(2_500))
                }
            out.append(
                #"{"type":"availability","sourceId":"LENDER\#(1 + i % 6)","securityId":"\#(s.securityId)","quantity":\#(offered),"availabilityType":"\#(kinds[i % 3])","rateBps":\#(rate),"effectiveDate":"\#(date)"}"#
            )
            if traits.temperature == .htb {
                // Clients short the name (more than the street lends), and some of it the firm over-lent.
                let client = books.filter { $0.positionType == .clientFree }
                let b = client[random.below(client.count)]
                let short = Int64(10_000 * (2 + random.below(20)))
                out.append(
                    #"{"type":"sodPosition","businessDate":"\#(date)","bookId":"\#(b.bookId)","securityId":"\#(s.securityId)","contractualQty":-\#(short),"settledQty":-\#(short)}"#
                )
                if traits.overLent {
                    let c = ContractState(
                        contractId: "\(prefix)C-OL-\(i)", version: 1, kind: "LOAN", bookId: books[0].bookId,
                        counterpartyId: "LENDER\(1 + random.below(6))", security: i, quantity: Int64(100_000 * (3 + random.below(10))),
                        rateBps: 800 + random.below(2_500), startDate: date)
                    contracts.append(c)
                    out.append(contractText(c))
                }
            }
        }
        // USD per unit of each market currency (round figures of late 2026, for the simulation only), so
        // every security's inventory has a USD value.
        for (currency, rate) in Self.usdRates where Set(securities.map(\.currency)).contains(currency) {
            out.append(#"{"type":"fxRate","currency":"\#(currency)","usdRate":"\#(rate)"}"#)
        }
        return out
    }

    static let usdRates: [(String, String)] = [
        ("AUD", "0.66"), ("CAD", "0.73"), ("CHF", "1.13"), ("EUR", "1.08"), ("GBP", "1.27"), ("HKD", "0.128"), ("INR", "0.012"),
        ("JPY", "0.0067"), ("KRW", "0.00072"), ("SEK", "0.095"), ("SGD", "0.74"), ("TWD", "0.031"),
    ]

    func priceText(_ cents: Int64) -> String {
        let c = cents % 100
        return "\(cents / 100).\(c < 10 ? "0" : "")\(c)"
    }

    mutating func priceLine(_ i: Int) -> String {
        let step = Int64(random.below(21)) - 10
        securities[i].price = max(100, securities[i].price + step)
        let p = securities[i].price
        let s = securities[i]
        return
            #"{"type":"price","securityId":"\#(s.securityId)","last":\#(priceText(p)),"bid":\#(priceText(p - 1)),"ask":\#(priceText(p + 1)),"currency":"\#(s.currency)"}"#
    }

    /// The next event of the flow: mostly new trades, some amends and cancels, price ticks and availability updates.
    public mutating func nextLine() -> String {
        let roll = random.below(100)
        if roll < 10 { return priceLine(random.skewed(securities.count)) }
        if roll < 12 {
            let i = random.skewed(securities.count)
            let s = securities[i]
            return
                #"{"type":"availability","sourceId":"LENDER\#(1 + random.below(6))","securityId":"\#(s.securityId)","quantity":\#(1000 * random.below(1000)),"availabilityType":"FIRM","effectiveDate":"\#(businessDates[s.marketId]!)"}"#
        }
        if roll < 18, !recent.isEmpty {
            let k = random.below(recent.count)
            recent[k].version += 1
            let cancel = roll < 13
            if !cancel { recent[k].line.quantity = Int64(100 * (1 + random.below(50))) }
            let t = recent[k]
            if cancel { recent.swapAt(k, recent.count - 1); recent.removeLast() }
            return tradeText(id: t.tradeId, version: t.version, status: cancel ? "CANCEL" : "AMEND", t.line)
        }
        if roll == 99 { return contractLine() }
        let security = random.skewed(securities.count)
        let sides: [TradeSide] = [.buy, .buy, .sell, .sell, .sellShort, .buyCover]
        let line = TradeLine(
            bookId: books[tradingBooks[random.below(tradingBooks.count)]].bookId, security: security,
            side: sides[random.below(sides.count)], quantity: Int64(100 * (1 + random.below(50))),
            price: securities[security].price)
        tradeCounter += 1
        let id = "\(prefix)T\(tradeCounter)"
        if recent.count < 4096 {
            recent.append(RecentTrade(tradeId: id, version: 1, line: line))
        } else {
            recent[random.below(4096)] = RecentTrade(tradeId: id, version: 1, line: line)
        }
        return tradeText(id: id, version: 1, status: "NEW", line)
    }

    func contractText(_ c: ContractState) -> String {
        #"{"type":"contract","contractId":"\#(c.contractId)","version":\#(c.version),"kind":"\#(c.kind)","status":"\#(c.status)","bookId":"\#(c.bookId)","counterpartyId":"\#(c.counterpartyId)","securityId":"\#(securities[c.security].securityId)","quantity":\#(c.quantity),"returnedQty":\#(c.returnedQty),"recalledQty":\#(c.recalledQty),"rateBps":\#(c.rateBps),"startDate":"\#(c.startDate)"}"#
    }

    /// A contract's next version (a partial return, a recall, a full return) or a new borrow or loan.
    mutating func contractLine() -> String {
        let action = random.below(4)
        if action == 0 || contracts.isEmpty {
            let i = random.skewed(securities.count)
            contractCounter += 1
            let c = ContractState(
                contractId: "\(prefix)CN-\(contractCounter)", version: 1, kind: random.below(2) == 0 ? "BORROW" : "LOAN",
                bookId: books[0].bookId, counterpartyId: "LENDER\(1 + random.below(6))", security: i,
                quantity: Int64(1000 * (1 + random.below(50))), rateBps: 25 + random.below(300),
                startDate: businessDates[securities[i].marketId]!)
            contracts.append(c)
            return contractText(c)
        }
        let k = random.below(contracts.count)
        var c = contracts[k]
        c.version += 1
        let open = c.quantity - c.returnedQty
        switch action {
        case 1 where c.kind == "LOAN" && c.status == "OPEN":
            c.status = "RECALLED"
            c.recalledQty = open
        case 1, 2:
            c.returnedQty += max(1, open / Int64(2 + random.below(4)))
        default:
            c.returnedQty = c.quantity
        }
        if c.returnedQty >= c.quantity { c.returnedQty = c.quantity; c.status = "RETURNED" }
        if c.status == "RETURNED" { contracts.swapAt(k, contracts.count - 1); contracts.removeLast() } else { contracts[k] = c }
        return contractText(c)
    }

    func tradeText(id: String, version: Int64, status: String, _ t: TradeLine) -> String {
        let s = securities[t.security]
        let order = t.orderId.map { #","orderId":"\#($0)""# } ?? ""
        return
            #"{"type":"trade","tradeId":"\#(id)","version":\#(version),"status":"\#(status)"\#(order),"bookId":"\#(t.bookId)","securityId":"\#(s.securityId)","side":"\#(t.side.rawValue)","quantity":\#(t.quantity),"price":\#(priceText(t.price)),"tradeDate":"\#(businessDates[s.marketId]!)","counterpartyId":"\#(t.bookId.contains("CL") ? "EXCH" : "LENDER1")"}"#
    }

    /// Rolls every market to its next trading day, as day-roll events.
    public mutating func dayRollLines() -> [String] {
        recent.removeAll() // the day's trades are not amended once their market has rolled
        var out: [String] = []
        for (id, date) in businessDates.sorted(by: { $0.key < $1.key }) {
            guard let calendar = catalog.calendars[id] else { continue }
            let next = calendar.nextTradingDay(after: date)
            businessDates[id] = next
            out.append(#"{"type":"marketDayRoll","marketId":"\#(id)","businessDate":"\#(next)"}"#)
        }
        recent.removeAll()
        return out
    }
}
