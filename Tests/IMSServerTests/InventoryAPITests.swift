import Foundation
import Hummingbird
import HummingbirdTesting
import IMSEngine
import IMSRuntime
import IMSServer
import Testing

/// `GET /api/v1/inventory/{securityId}`: SPEC 6's fields, the default and Taiwan's formulas, and an explain
/// whose parts sum to every number.
struct InventoryAPITests {
    /// The same book of a US and a Taiwanese security: firm long 1,000, client free long 200, a borrow of 300
    /// (of 500, 200 returned), a loan of 400, lender lines firm 80, indicative 101, exclusive 100.
    static func setup(_ securityId: String) -> String {
        """
        {"type":"contract","contractId":"B-\(securityId)","version":1,"kind":"BORROW","status":"OPEN","bookId":"FIRM1","counterpartyId":"L1","securityId":"\(securityId)","quantity":500,"returnedQty":200,"rateBps":"25","startDate":"2026-11-25"}
        {"type":"contract","contractId":"L-\(securityId)","version":1,"kind":"LOAN","status":"OPEN","bookId":"FIRM1","counterpartyId":"L2","securityId":"\(securityId)","quantity":400,"rateBps":"40","startDate":"2026-11-25"}
        {"type":"sodPosition","businessDate":"2026-11-25","bookId":"FIRM1","securityId":"\(securityId)","contractualQty":1000,"settledQty":1000}
        {"type":"sodPosition","businessDate":"2026-11-25","bookId":"FREE1","securityId":"\(securityId)","contractualQty":200,"settledQty":200}
        {"type":"availability","sourceId":"L1","securityId":"\(securityId)","quantity":80,"availabilityType":"FIRM","effectiveDate":"2026-11-25"}
        {"type":"availability","sourceId":"L2","securityId":"\(securityId)","quantity":101,"availabilityType":"INDICATIVE","effectiveDate":"2026-11-25"}
        {"type":"availability","sourceId":"L3","securityId":"\(securityId)","quantity":100,"availabilityType":"EXCLUSIVE","effectiveDate":"2026-11-25"}
        """
    }

    static let reference = """
        {"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}
        {"type":"marketDayRoll","marketId":"TW","businessDate":"2026-11-25"}
        {"type":"security","securityId":"AAPL","isin":"US0378331005","ticker":"AAPL","marketId":"US"}
        {"type":"security","securityId":"2330","isin":"TW0002330008","marketId":"TW"}
        {"type":"book","bookId":"FIRM1","legalEntity":"PB-US","positionType":"FIRM"}
        {"type":"book","bookId":"FREE1","legalEntity":"PB-US","positionType":"CLIENT_FREE","clientId":"C1"}
        """

    func inventory(_ client: any TestClientProtocol, _ uri: String) async throws -> [String: Any] {
        try await client.execute(uri: uri, method: .get) { r in
            #expect(r.status == .ok, "\(uri)")
            return try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as! [String: Any]
        }
    }

    @Test func theBucketsAndCalculationsOfSpec42WorkedByHand() async throws {
        let engine = Engine()
        defer { engine.stop() }
        let app = Application(router: IMSApplication.router(engine: engine, configuration: ServerConfiguration()))
        try await app.test(.router) { client in
            let body = Self.reference + "\n" + Self.setup("AAPL") + "\n" + Self.setup("2330")
            try await client.execute(uri: "/api/v1/events", method: .post, body: ByteBuffer(string: body)) { r in #expect(r.status == .ok) }

            let us = try await inventory(client, "/api/v1/inventory/AAPL")
            for key in ["securityId", "marketId", "businessDate", "buckets", "calculations", "ruleVersion"] { #expect(us[key] != nil, "missing \(key)") }
            #expect(us["marketId"] as? String == "US")
            #expect(us["ruleVersion"] as? Int == 1)
            let buckets = try #require(us["buckets"] as? [String: Int])
            #expect(buckets["LONG.FIRM"] == 1_000 && buckets["HYPOTHECATABLE"] == 200 && buckets["LONG.CLIENT_FREE"] == 200)
            #expect(buckets["BORROWED"] == 300 && buckets["LOANED"] == 400)
            #expect(buckets["EXTERNAL.FIRM"] == 80 && buckets["EXTERNAL.INDICATIVE"] == 101 && buckets["EXTERNAL.EXCLUSIVE"] == 100)
            let c = try #require(us["calculations"] as? [String: Int])
            #expect(c["forLoan"] == 1_200) // 1,000 + 200 + 300 + 100 − 400
            #expect(c["forPledge"] == 1_200)
            #expect(c["overborrow"] == 300) // no short to cover: 400 lent − 1,000 long < 0
            #expect(c["locateAvailable"] == 1_330) // 1,200 + 80 + ⌊0.5 × 101⌋

            // By ISIN too; Taiwan's pack leaves the borrow out of for-loan and locates only borrowed shares.
            let tw = try await inventory(client, "/api/v1/inventory/TW0002330008")
            let t = try #require(tw["calculations"] as? [String: Int])
            #expect(t["forLoan"] == 900 && t["forPledge"] == 900 && t["locateAvailable"] == 300)

            // Explain: each calculation's parts sum to it, each bucket's sources to the bucket.
            let explained = try await inventory(client, "/api/v1/inventory/AAPL?explain=true")
            let explain = try #require(explained["explain"] as? [String: Any])
            let calculations = try #require(explain["calculations"] as? [[String: Any]])
            #expect(calculations.map { $0["calculation"] as? String } == ["forLoan", "forPledge", "overborrow", "locateAvailable"])
            for calculation in calculations {
                let value = try #require(calculation["value"] as? Int)
                #expect(value == c[calculation["calculation"] as! String])
                #expect(Self.checkParts(calculation["parts"] as! [[String: Any]], sumTo: value), "\(calculation)")
                #expect(calculation["ruleId"] as? String == calculation["calculation"] as? String)
            }
            let sources = try #require(explain["buckets"] as? [String: [[String: Any]]])
            for (bucket, list) in sources { #expect(list.reduce(0) { $0 + ($1["quantity"] as! Int) } == buckets[bucket], "\(bucket)") }
            #expect(sources["BORROWED"]?.first?["contractId"] as? String == "B-AAPL")
            #expect(sources["LONG.FIRM"]?.first?["bookId"] as? String == "FIRM1")
            #expect(sources["EXTERNAL.INDICATIVE"]?.first?["sourceId"] as? String == "L2")
            let twExplained = try await inventory(client, "/api/v1/inventory/2330?explain=true")
            let twRules = ((twExplained["explain"] as! [String: Any])["calculations"] as! [[String: Any]]).map { $0["ruleId"] as! String }
            #expect(twRules == ["TW.forLoan", "forPledge", "overborrow", "TW.locateAvailable"])

            try await client.execute(uri: "/api/v1/inventory/NOPE", method: .get) { r in #expect(r.status == .notFound) }
            try await client.execute(uri: "/api/v1/inventory/AAPL?explain=maybe", method: .get) { r in #expect(r.status == .badRequest) }
        }
    }

    @Test func listingAggregatesAndTopListsWithUSDValues() async throws {
        let engine = Engine()
        defer { engine.stop() }
        let app = Application(router: IMSApplication.router(engine: engine, configuration: ServerConfiguration()))
        try await app.test(.router) { client in
            let extra = """
                {"type":"security","securityId":"HTB1","isin":"US5949181045","marketId":"US","temperature":"HTB"}
                {"type":"sodPosition","businessDate":"2026-11-25","bookId":"FIRM1","securityId":"HTB1","contractualQty":-800,"settledQty":-800}
                {"type":"availability","sourceId":"L1","securityId":"HTB1","quantity":100,"availabilityType":"FIRM","effectiveDate":"2026-11-25"}
                {"type":"price","securityId":"AAPL","last":"200","currency":"USD"}
                {"type":"price","securityId":"2330","last":"1000","currency":"TWD"}
                {"type":"fxRate","currency":"TWD","usdRate":"0.031"}
                """
            let body = Self.reference + "\n" + Self.setup("AAPL") + "\n" + Self.setup("2330") + "\n" + extra
            try await client.execute(uri: "/api/v1/events", method: .post, body: ByteBuffer(string: body)) { r in #expect(r.status == .ok) }
            func get(_ uri: String) async throws -> Any {
                try await client.execute(uri: uri, method: .get) { r in
                    #expect(r.status == .ok, "\(uri)")
                    return try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView))
                }
            }
            let page = try #require(try await get("/api/v1/inventory?sort=forLoan") as? [String: Any])
            let rows = try #require(page["items"] as? [[String: Any]])
            #expect(page["total"] as? Int == 3)
            #expect(rows.map { $0["securityId"] as? String } == ["AAPL", "2330", "HTB1"])
            #expect((rows[0]["usdValues"] as? [String: Any])?["forLoan"] as? Double == 240_000) // 1,200 × 200
            #expect((rows[1]["usdValues"] as? [String: Any])?["forLoan"] as? Double == 27_900) // 900 × 1,000 TWD × 0.031
            #expect(rows[2]["usdValues"] == nil, "HTB1 has no price")
            let apac = try #require(try await get("/api/v1/inventory?region=APAC") as? [String: Any])
            #expect((apac["items"] as? [[String: Any]])?.map { $0["securityId"] as? String } == ["2330"])
            #expect((try await get("/api/v1/inventory?marketId=US") as? [String: Any])?["total"] as? Int == 2)

            let regions = try #require(try await get("/api/v1/inventory/aggregates?by=region") as? [[String: Any]])
            #expect(regions.map { $0["key"] as? String } == ["AMERICAS", "APAC"])
            #expect((regions[0]["calculations"] as? [String: Any])?["forLoan"] as? Int == 1_200)
            #expect((regions[0]["usdValues"] as? [String: Any])?["forLoan"] as? Double == 240_000)
            #expect(regions[0]["unpriced"] as? Int == 1 && regions[0]["securities"] as? Int == 2)
            #expect((regions[1]["usdValues"] as? [String: Any])?["overborrow"] as? Double == 9_300) // 300 × 1,000 × 0.031

            let overborrows = try #require(try await get("/api/v1/inventory/top?list=overborrow") as? [[String: Any]])
            #expect(overborrows.map { $0["securityId"] as? String } == ["AAPL", "2330"]) // $60,000, then $9,300
            let constrained = try #require(try await get("/api/v1/inventory/top?list=constrained") as? [[String: Any]])
            #expect(constrained.map { $0["securityId"] as? String } == ["HTB1"])
            #expect((constrained[0]["calculations"] as? [String: Any])?["locateAvailable"] as? Int == 100)
            try await client.execute(uri: "/api/v1/inventory/aggregates?by=desk", method: .get) { r in #expect(r.status == .badRequest) }
            try await client.execute(uri: "/api/v1/inventory?sort=price", method: .get) { r in #expect(r.status == .badRequest) }
        }
    }

    @Test func financingViewsByContractAndLender() async throws {
        let engine = Engine()
        defer { engine.stop() }
        let app = Application(router: IMSApplication.router(engine: engine, configuration: ServerConfiguration()))
        try await app.test(.router) { client in
            let recall =
                #"{"type":"contract","contractId":"L-AAPL","version":2,"kind":"LOAN","status":"RECALLED","bookId":"FIRM1","counterpartyId":"L2","securityId":"AAPL","quantity":400,"recalledQty":400,"rateBps":"40","startDate":"2026-11-25"}"#
            let body = Self.reference + "\n" + Self.setup("AAPL") + "\n" + Self.setup("2330") + "\n" + recall
            try await client.execute(uri: "/api/v1/events", method: .post, body: ByteBuffer(string: body)) { r in #expect(r.status == .ok) }
            func get(_ uri: String) async throws -> [String: Any] {
                try await client.execute(uri: uri, method: .get) { r in
                    #expect(r.status == .ok, "\(uri)")
                    return try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as! [String: Any]
                }
            }
            let aapl = try await get("/api/v1/financing/contracts?securityId=AAPL")
            #expect((aapl["contracts"] as? [[String: Any]])?.map { $0["openQuantity"] as? Int } == [300, 400])
            #expect(aapl["openByKind"] as? [String: Int] == ["BORROW": 300, "LOAN": 400])
            #expect(aapl["returnedQuantity"] as? Int == 200 && aapl["recalledQuantity"] as? Int == 400)
            let recalled = try await get("/api/v1/financing/contracts?status=RECALLED")
            #expect((recalled["contracts"] as? [[String: Any]])?.count == 1)
            let borrows = try await get("/api/v1/financing/contracts?kind=BORROW&counterpartyId=L1")
            #expect(borrows["openByKind"] as? [String: Int] == ["BORROW": 600]) // 300 in each security
            let lender = try await get("/api/v1/financing/availability?sourceId=L1")
            #expect((lender["lines"] as? [[String: Any]])?.count == 2)
            #expect(lender["totalByLender"] as? [String: Int] == ["L1": 160])
            let lines = try await get("/api/v1/financing/availability?securityId=AAPL")
            #expect(lines["totalByType"] as? [String: Int] == ["FIRM": 80, "INDICATIVE": 101, "EXCLUSIVE": 100])
            try await client.execute(uri: "/api/v1/financing/contracts?kind=SWAP", method: .get) { r in #expect(r.status == .badRequest) }
        }
    }

    /// Each aggregation unit's and legal entity's share, and a book that changes legal entity moving its share.
    @Test func aggregationUnitAndLegalEntityShares() async throws {
        let engine = Engine()
        defer { engine.stop() }
        let app = Application(router: IMSApplication.router(engine: engine, configuration: ServerConfiguration()))
        try await app.test(.router) { client in
            let body = """
                {"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}
                {"type":"security","securityId":"AAPL","isin":"US0378331005","marketId":"US"}
                {"type":"aggregationUnit","aggregationUnitId":"AU-US-1","name":"US one","marketId":"US","legalEntity":"PB-US","unitType":"NET","isDefault":true}
                {"type":"aggregationUnit","aggregationUnitId":"AU-US-2","name":"US two","marketId":"US","legalEntity":"PB-US","unitType":"NET"}
                {"type":"aggregationUnit","aggregationUnitId":"AU-UK","name":"UK in US","marketId":"US","legalEntity":"PB-UK","unitType":"NET","isDefault":true}
                {"type":"book","bookId":"FIRM1","legalEntity":"PB-US","positionType":"FIRM"}
                {"type":"book","bookId":"FIRM2","legalEntity":"PB-US","positionType":"FIRM","aggregationUnits":{"US":"AU-US-2"}}
                {"type":"book","bookId":"FIRM3","legalEntity":"PB-UK","positionType":"FIRM"}
                {"type":"sodPosition","businessDate":"2026-11-25","bookId":"FIRM1","securityId":"AAPL","contractualQty":1000,"settledQty":1000}
                {"type":"sodPosition","businessDate":"2026-11-25","bookId":"FIRM2","securityId":"AAPL","contractualQty":300,"settledQty":300}
                {"type":"sodPosition","businessDate":"2026-11-25","bookId":"FIRM3","securityId":"AAPL","contractualQty":200,"settledQty":200}
                {"type":"contract","contractId":"B1","version":1,"kind":"BORROW","status":"OPEN","bookId":"FIRM3","counterpartyId":"L1","securityId":"AAPL","quantity":500,"rateBps":"25","startDate":"2026-11-25"}
                {"type":"availability","sourceId":"L1","securityId":"AAPL","quantity":80,"availabilityType":"FIRM","effectiveDate":"2026-11-25"}
                """
            try await client.execute(uri: "/api/v1/events", method: .post, body: ByteBuffer(string: body)) { r in #expect(r.status == .ok) }
            func calculations(_ query: String) async throws -> [String: Int] {
                try await client.execute(uri: "/api/v1/inventory/AAPL?\(query)", method: .get) { r in
                    #expect(r.status == .ok, "\(query)")
                    let json = try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as! [String: Any]
                    return json["calculations"] as! [String: Int]
                }
            }
            #expect(try await calculations("")["forLoan"] == 2_000) // 1,500 long + 500 borrowed
            #expect(try await calculations("aggregationUnitId=AU-US-1") == ["forLoan": 1_000, "forPledge": 1_000, "overborrow": 0, "locateAvailable": 1_080])
            #expect(try await calculations("aggregationUnitId=AU-US-2")["forLoan"] == 300)
            #expect(try await calculations("legalEntity=PB-US")["forLoan"] == 1_300)
            // PB-UK: 200 long and the 500 borrow; nothing short, so all of the borrow is overborrowed.
            #expect(try await calculations("legalEntity=PB-UK") == ["forLoan": 700, "forPledge": 700, "overborrow": 500, "locateAvailable": 780])
            let explained = try await client.execute(uri: "/api/v1/inventory/AAPL?legalEntity=PB-UK&explain=true", method: .get) { r in
                try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as! [String: Any]
            }
            let sources = (explained["explain"] as! [String: Any])["buckets"] as! [String: [[String: Any]]]
            #expect(sources["LONG.FIRM"]?.map { $0["bookId"] as? String } == ["FIRM3"])
            #expect(sources["BORROWED"]?.map { $0["contractId"] as? String } == ["B1"])

            func aggregates(_ by: String) async throws -> [String: Int] {
                try await client.execute(uri: "/api/v1/inventory/aggregates?by=\(by)", method: .get) { r in
                    let rows = try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as! [[String: Any]]
                    return Dictionary(uniqueKeysWithValues: rows.map { ($0["key"] as! String, ($0["calculations"] as! [String: Int])["forLoan"]!) })
                }
            }
            #expect(try await aggregates("legalEntity") == ["PB-US": 1_300, "PB-UK": 700])
            #expect(try await aggregates("aggregationUnit") == ["AU-US-1": 1_000, "AU-US-2": 300, "AU-UK": 700])

            // FIRM2 moves to PB-UK (and so to PB-UK's default unit in the US): its 300 go with it.
            let move = #"{"type":"book","bookId":"FIRM2","legalEntity":"PB-UK","positionType":"FIRM","version":2}"#
            try await client.execute(uri: "/api/v1/events", method: .post, body: ByteBuffer(string: move)) { r in #expect(r.status == .ok) }
            #expect(try await aggregates("legalEntity") == ["PB-US": 1_000, "PB-UK": 1_000])
            #expect(try await aggregates("aggregationUnit") == ["AU-US-1": 1_000, "AU-UK": 1_000])
            #expect(try await calculations("aggregationUnitId=AU-US-2")["forLoan"] == 0)
            try await client.execute(uri: "/api/v1/inventory/AAPL?legalEntity=A&aggregationUnitId=B", method: .get) { r in #expect(r.status == .badRequest) }

            // Unit limits: net long, and borrowed − loaned + the firm's lender lines (80).
            func limits(_ unit: String) async throws -> [[String: Any]] {
                try await client.execute(uri: "/api/v1/limits/units/\(unit)", method: .get) { r in
                    #expect(r.status == .ok)
                    return try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as! [[String: Any]]
                }
            }
            let us = try await limits("AU-US-1")
            #expect(us.count == 1 && us[0]["longSellLimit"] as? Int == 1_000 && us[0]["shortSellLimit"] as? Int == 80)
            let uk = try await limits("AU-UK") // 200 + 300 long (FIRM2 moved in); borrowed 500
            #expect(uk.first?["longSellLimit"] as? Int == 500 && uk.first?["shortSellLimit"] as? Int == 580)
            try await client.execute(uri: "/api/v1/limits/units/NOPE", method: .get) { r in #expect(r.status == .notFound) }

            // A client's share and limits: its books' positions (C1: 250 free, 40 held to pay; C2: 90 short).
            let clients = """
                {"type":"book","bookId":"C1-FREE","legalEntity":"PB-US","positionType":"CLIENT_FREE","clientId":"C1"}
                {"type":"book","bookId":"C1-P2H","legalEntity":"PB-US","positionType":"PAY_TO_HOLD","clientId":"C1"}
                {"type":"book","bookId":"C2-SEG","legalEntity":"PB-US","positionType":"CLIENT_SEGREGATED","clientId":"C2"}
                {"type":"sodPosition","businessDate":"2026-11-25","bookId":"C1-FREE","securityId":"AAPL","contractualQty":250,"settledQty":250}
                {"type":"sodPosition","businessDate":"2026-11-25","bookId":"C1-P2H","securityId":"AAPL","contractualQty":40,"settledQty":40}
                {"type":"sodPosition","businessDate":"2026-11-25","bookId":"C2-SEG","securityId":"AAPL","contractualQty":-90,"settledQty":-90}
                """
            try await client.execute(uri: "/api/v1/events", method: .post, body: ByteBuffer(string: clients)) { r in #expect(r.status == .ok) }
            func clientLimits(_ id: String) async throws -> [[String: Any]] {
                try await client.execute(uri: "/api/v1/limits/clients/\(id)", method: .get) { r in
                    #expect(r.status == .ok)
                    return try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as! [[String: Any]]
                }
            }
            // C1 may sell long its 290 long; short its pay-to-hold 40 (no approved locates yet).
            let c1 = try await clientLimits("C1")
            #expect(c1.count == 1 && c1[0]["clientId"] as? String == "C1" && c1[0]["securityId"] as? String == "AAPL")
            #expect(c1[0]["longSellLimit"] as? Int == 290 && c1[0]["shortSellLimit"] as? Int == 40)
            let c2 = try await clientLimits("C2")
            #expect(c2.first?["longSellLimit"] as? Int == 0 && c2.first?["shortSellLimit"] as? Int == 0)
            try await client.execute(uri: "/api/v1/limits/clients/NOPE", method: .get) { r in #expect(r.status == .notFound) }
            let share = try await client.execute(uri: "/api/v1/inventory/AAPL?clientId=C1", method: .get) { r in
                try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as! [String: Any]
            }
            #expect(share["clientId"] as? String == "C1")
            #expect((share["buckets"] as? [String: Int])?["HYPOTHECATABLE"] == 250 && (share["buckets"] as? [String: Int])?["PAY_TO_HOLD"] == 40)
            try await client.execute(uri: "/api/v1/inventory/AAPL?clientId=C1&legalEntity=PB-US", method: .get) { r in
                #expect(r.status == .badRequest)
                #expect(String(buffer: r.body).contains("clientId"))
            }
        }
    }

    /// Whether `parts` sum to `value`, and each composite part's own parts to what it says they do.
    static func checkParts(_ parts: [[String: Any]], sumTo value: Int) -> Bool {
        guard parts.reduce(0, { $0 + ($1["contribution"] as! Int) }) == value else { return false }
        for part in parts {
            guard let inner = part["parts"] as? [[String: Any]] else { continue }
            let quantity = part["quantity"] as! Int
            guard checkParts(inner, sumTo: quantity) else { return false }
            // A max or min lists every branch: each one's parts sum to its value, exactly one is chosen and
            // it is the one whose value the part takes, the others' values are the alternatives.
            if let kind = part["kind"] as? String, kind == "max" || kind == "min" {
                guard let branches = part["branches"] as? [[String: Any]], branches.count >= 2 else { return false }
                let chosen = branches.filter { $0["chosen"] as? Bool == true }
                guard chosen.count == 1, chosen[0]["value"] as? Int == quantity else { return false }
                let values = branches.map { $0["value"] as! Int }
                guard kind == "max" ? values.max() == quantity : values.min() == quantity else { return false }
                guard (part["alternatives"] as? [Int])?.sorted() == branches.filter({ $0["chosen"] as? Bool != true }).map({ $0["value"] as! Int }).sorted()
                else { return false }
                for branch in branches where !checkParts(branch["parts"] as! [[String: Any]], sumTo: branch["value"] as! Int) { return false }
            }
        }
        return true
    }
}
