import Foundation
import IMSDomain
import IMSIngest
import Synchronization
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The history store end to end: the real binary with `--history` against the real PostgreSQL the test
/// command starts (`IMS_POSTGRES_URL`), driven over HTTP with the demo's flow, read back with SQL (psql)
/// and through `/api/v1/history/…`.
@Suite(.serialized) struct HistoryStoreTests {
    /// A new, empty database on the test server.
    static func database() throws -> String {
        guard let admin = ProcessInfo.processInfo.environment["IMS_POSTGRES_URL"], !admin.isEmpty else {
            throw CocoaError(
                .featureUnsupported, userInfo: [NSLocalizedDescriptionKey: "IMS_POSTGRES_URL is not set: run the tests with ./scripts/test.sh"])
        }
        let name = "e2e_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        _ = try psql(admin, "CREATE DATABASE \(name)")
        return admin[..<admin.lastIndex(of: "/")!] + "/" + name
    }

    /// Tests that use the shared PostgreSQL server take turns (some restart it): an exclusive lock on a file,
    /// the same one the history store's own tests take.
    ///
    /// Waited for with `Task.sleep`, never by blocking a thread: the tests' threads are the cooperative pool's
    /// (two on two cores), and a waiter blocking one could starve the test that holds the lock.
    static func exclusively<T>(_ body: () throws -> T) async throws -> T {
        let fd = open("/tmp/ims-postgres-tests.lock", O_RDWR | O_CREAT, 0o666)
        defer { close(fd) }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 { try await Task.sleep(for: .milliseconds(100)) }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    /// The rows of one query, unaligned (`psql -At`).
    static func psql(_ url: String, _ sql: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        p.arguments = [url, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "psql: " + String(decoding: errors, as: UTF8.self)])
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// The demo's flow as HTTP bodies: the securities, the setup, then rounds of market flow and decisions.
    struct Flow {
        var simulator = MarketSimulator(startDate: BusinessDate(parsing: "2026-11-25")!, seed: 11, clients: 6)
        var correlation = 0

        func securitiesCSV() -> String { MarketSimulator.demoSecuritiesCSV }
        mutating func setup() -> String { simulator.setupLines().joined(separator: "\n") }

        /// `lines` events of market flow, a day roll now and then.
        mutating func events(_ lines: Int, roll: Bool = false) -> String {
            ((roll ? simulator.dayRollLines() : []) + (0..<lines).map { _ in simulator.nextLine() }).joined(separator: "\n")
        }

        /// Locate requests and sell orders for `POST /api/v1/decisions`.
        mutating func decisions(locates: Int, orders: Int) -> String {
            var items: [String] = []
            for _ in 0..<locates {
                let l = simulator.locateRequest()
                correlation += 1
                items.append(
                    #"{"correlationId":"c\#(correlation)","type":"locate","requestId":"\#(l.requestId!)","clientId":"\#(l.clientId!)","securityId":"\#(l.securityId!)","quantity":\#(l.quantity!),"side":"\#(l.side!.rawValue)","settlement":"\#(l.settlement!.rawValue)"}"#
                )
            }
            for _ in 0..<orders {
                let (o, _) = simulator.sellOrder()
                correlation += 1
                items.append(
                    #"{"correlationId":"c\#(correlation)","type":"order","orderId":"\#(o.orderId)","clientId":"\#(o.clientId)","bookId":"\#(o.bookId)","securityId":"\#(o.securityId)","side":"\#(o.side.rawValue)","quantity":\#(o.quantity),"price":"\#(o.price)"}"#
                )
            }
            return "[" + items.joined(separator: ",") + "]"
        }
    }

    static func post(_ server: IMSProcess.Server, _ path: String, _ body: String, csv: Bool = false) throws -> Int {
        try IMSProcess.request(server, "POST", path, body: body, headers: csv ? ["Content-Type": "text/csv"] : [:]).status
    }

    /// The projector's block of `/health`.
    static func history(_ server: IMSProcess.Server) throws -> [String: Any] {
        ((try IMSProcess.request(server, "GET", "/health").json as? [String: Any])?["history"] as? [String: Any]) ?? [:]
    }

    /// Waits until the projector has committed every record the engine applied (after one more entry, a
    /// second later, has closed the open tick interval).
    static func waitUntilCaughtUp(_ server: IMSProcess.Server, flow: inout Flow, seconds: Double = 120) throws {
        Thread.sleep(forTimeInterval: 1.1)
        #expect(try post(server, "/api/v1/events", flow.events(1)) == 200)
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let h = try history(server)
            if let committed = h["committedRecord"] as? Int, let journal = h["journalRecord"] as? Int, committed >= journal, journal > 0 { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        Issue.record("the projector did not catch up: \(try history(server))")
    }

    static func json(_ text: Substring) -> NSDictionary? {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? NSDictionary
    }

    @Test func aDayOfFlowInPostgresEqualsWhatIMSAnswersAsOfEachInstant() async throws {
        try await Self.exclusively { try dayOfFlow() }
    }

    func dayOfFlow() throws {
        let url = try Self.database()
        let server = try IMSProcess.start(["--history", url, "--history-snapshot-seconds", "1"])
        defer { server.stop() }
        var flow = Flow()
        #expect(try Self.post(server, "/api/v1/events?type=security", flow.securitiesCSV(), csv: true) == 200)
        #expect(try Self.post(server, "/api/v1/events", flow.setup()) == 200)
        for round in 0..<40 {
            #expect(try Self.post(server, "/api/v1/events?mode=partial", flow.events(60, roll: round == 20)) == 200)
            #expect(try Self.post(server, "/api/v1/decisions", flow.decisions(locates: 3, orders: 2)) == 200)
            Thread.sleep(forTimeInterval: 0.12)
        }
        try Self.waitUntilCaughtUp(server, flow: &flow)

        // Positions at 20 random snapshot instants: the row is what `asOf` answers (everything received before it).
        let rows = try Self.psql(
            url,
            "SELECT to_char(at - interval '1 microsecond', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), book_id, security_id, position::text FROM history.positions WHERE kind = 'interval' ORDER BY random() LIMIT 20"
        ).split(separator: "\n")
        #expect(rows.count == 20)
        for row in rows {
            let f = row.split(separator: "|", maxSplits: 3)
            let live = try IMSProcess.request(server, "GET", "/api/v1/positions/\(f[1])/\(f[2])?asOf=\(f[0])")
            #expect(live.status == 200)
            #expect((live.json as? NSDictionary) == Self.json(f[3]), "position \(f[1]) \(f[2]) as of \(f[0])")
        }
        // Inventory figures (buckets, calculations, ladder) at 20 random instants.
        let inventory = try Self.psql(
            url,
            "SELECT to_char(at - interval '1 microsecond', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), security_id, inventory::text FROM history.inventory WHERE kind = 'interval' ORDER BY random() LIMIT 20"
        ).split(separator: "\n")
        #expect(inventory.count == 20)
        for row in inventory {
            let f = row.split(separator: "|", maxSplits: 2)
            let live = try IMSProcess.request(server, "GET", "/api/v1/inventory/\(f[1])?asOf=\(f[0])")
            #expect(live.status == 200)
            #expect((live.json as? NSDictionary) == Self.json(f[2]), "inventory \(f[1]) as of \(f[0])")
        }

        // Every locate and order decision is there, its last row as the API shows it now, each change once.
        let locates = try #require((try IMSProcess.request(server, "GET", "/api/v1/locates?limit=10000").json as? [String: Any])?["items"] as? [NSDictionary])
        #expect(locates.count >= 100)
        let stored = try Self.lastStoredLocates(url)
        #expect(stored.count == locates.count)
        for locate in locates { #expect(stored[locate["locateId"] as! String] == locate) }
        // One row per step of each locate's history (a request answered at once is one step).
        let steps = locates.reduce(0) { $0 + (($1["history"] as? [Any])?.count ?? 0) }
        let locateRows = Int(try Self.psql(url, "SELECT count(*) FROM history.locates").trimmingCharacters(in: .whitespacesAndNewlines))!
        #expect(locateRows <= steps && locateRows >= locates.count)
        let orders = try #require((try IMSProcess.request(server, "GET", "/api/v1/orders?limit=10000").json as? [String: Any])?["items"] as? [NSDictionary])
        #expect(orders.count >= 70)
        let decided = try Self.psql(
            url, "SELECT DISTINCT ON (client_id, order_id) order_id, order_view->>'decision' FROM history.orders ORDER BY client_id, order_id, journal_record"
        ).split(separator: "\n")
        #expect(Set(decided) == Set(orders.map { "\($0["orderId"]!)|\($0["decision"]!)" }))

        // The one-minute bars kept beside the ticks are the ticks' own aggregation, bar for bar.
        let mismatched = try Self.psql(
            url,
            """
            SELECT count(*) FROM (SELECT security_id, date_bin('1 minute', at, timestamptz 'epoch') AS m, (array_agg(last ORDER BY at))[1] AS o,
              max(last) AS h, min(last) AS l, (array_agg(last ORDER BY at DESC))[1] AS c, count(*) AS n
              FROM history.ticks WHERE last IS NOT NULL GROUP BY 1, 2) t
            FULL JOIN history.bars b ON b.security_id = t.security_id AND b.at = t.m
            WHERE b.open IS DISTINCT FROM t.o OR b.high IS DISTINCT FROM t.h OR b.low IS DISTINCT FROM t.l OR b.close IS DISTINCT FROM t.c
              OR b.ticks IS DISTINCT FROM t.n
            """)
        #expect(mismatched.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        #expect(Int(try Self.psql(url, "SELECT count(*) FROM history.bars").trimmingCharacters(in: .whitespacesAndNewlines))! > 100)

        // The API over the same tables.
        let security = try #require(locates.first?["securityId"] as? String)
        let client = try #require(locates.first?["clientId"] as? String)
        let bars = try IMSProcess.request(server, "GET", "/api/v1/history/prices/\(security)?interval=1s&from=2020-01-01T00:00:00Z")
        #expect(bars.status == 200)
        let byClient = try IMSProcess.request(server, "GET", "/api/v1/history/locates?clientId=\(client)&from=2020-01-01T00:00:00Z")
        let items = try #require((byClient.json as? [String: Any])?["items"] as? [[String: Any]])
        #expect(!items.isEmpty && items.allSatisfy { ($0["locate"] as? [String: Any])?["clientId"] as? String == client })
        let positionsPage = try IMSProcess.request(server, "GET", "/api/v1/history/positions?securityId=\(security)&from=2020-01-01T00:00:00Z&limit=5")
        #expect(((positionsPage.json as? [String: Any])?["items"] as? [Any])?.count ?? 0 > 0)
        // GraphQL: the same snapshots, typed.
        let query =
            #"{"query":"{ positionHistory(securityId: \"\#(security)\", from: \"2020-01-01T00:00:00Z\", limit: 5) { at kind position { bookId contractualQty } } inventoryHistory(securityId: \"\#(security)\", from: \"2020-01-01T00:00:00Z\", limit: 3) { at inventory { calculations { forLoan } } } priceHistory(securityId: \"\#(security)\", from: \"2020-01-01T00:00:00Z\", interval: \"1m\") { at close ticks } }"}"#
        let graph = try IMSProcess.request(server, "POST", "/graphql", body: query)
        let data = (graph.json as? [String: Any])?["data"] as? [String: Any]
        let restPositions = ((positionsPage.json as? [String: Any])?["items"] as? [[String: Any]]) ?? []
        let graphPositions = (data?["positionHistory"] as? [[String: Any]]) ?? []
        #expect(graph.status == 200 && graphPositions.count == restPositions.count, "\(String(describing: graph.json))")
        #expect(
            zip(graphPositions, restPositions).allSatisfy { g, r in
                (g["position"] as? [String: Any])?["contractualQty"] as? Int == (r["position"] as? [String: Any])?["contractualQty"] as? Int
            })
        #expect(((data?["priceHistory"] as? [[String: Any]])?.count ?? 0) > 0)
        #expect(((data?["inventoryHistory"] as? [[String: Any]])?.count ?? 0) > 0)
        let bad = try IMSProcess.request(server, "GET", "/api/v1/history/prices/\(security)?interval=fortnight")
        #expect(bad.status == 400)
        #expect((bad.json as? [String: Any])?["field"] as? String == "interval")
    }

    /// Each locate's last row in the store, by id.
    static func lastStoredLocates(_ url: String) throws -> [String: NSDictionary?] {
        let lines = try psql(
            url, "SELECT DISTINCT ON (locate_id) locate_id, locate::text FROM history.locates ORDER BY locate_id, journal_record DESC"
        ).split(separator: "\n")
        return Dictionary(
            uniqueKeysWithValues: lines.map { line in
                let f = line.split(separator: "|", maxSplits: 1)
                return (String(f[0]), json(f[1]))
            })
    }

    /// Waits until `server`'s projector has committed `record` (default: the last record its engine applied).
    static func waitUntilCommitted(_ server: IMSProcess.Server, through record: Int? = nil, seconds: Double = 120) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let h = try history(server)
            if let c = h["committedRecord"] as? Int, let j = h["journalRecord"] as? Int, j > 0, c >= (record ?? j) { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        Issue.record("the projector did not commit through \(record.map(String.init) ?? "its journal"): \(try history(server))")
    }

    /// Expects every table of `url` (labelled `kept`) to equal the same table of the from-scratch `scratchURL`;
    /// returns the from-scratch dump.
    @discardableResult
    static func expectSameTables(_ url: String, _ scratchURL: String, _ kept: String) throws -> [String: String] {
        let a = try dump(url), b = try dump(scratchURL)
        for table in b.keys.sorted() {
            let same = a[table] == b[table]
            #expect(
                same,
                "\(table): \(a[table]?.split(separator: "\n").count ?? 0) rows \(kept), \(b[table]?.split(separator: "\n").count ?? 0) from scratch")
        }
        return b
    }

    /// Every table's rows as text, in key order: two databases hold the same history when these are equal.
    static func dump(_ url: String) throws -> [String: String] {
        let tables: [(String, String)] = [
            ("ticks", "security_id, at"), ("bars", "security_id, at"), ("fx_rates", "currency, at"), ("positions", "book_id, security_id, at, kind"),
            ("inventory", "security_id, at, kind"), ("locates", "locate_id, journal_record, at"), ("orders", "client_id, order_id, journal_record, at"),
            ("exceptions", "exception_id, journal_record, at"), ("audit", "audit_id, at"), ("rule_steps", "sequence, at"),
        ]
        var out: [String: String] = [:]
        for (table, key) in tables { out[table] = try psql(url, "SELECT t::text FROM history.\(table) t ORDER BY \(key)") }
        return out
    }

    /// A value shared with the load's thread.
    final class Shared<T: Sendable>: Sendable {
        private let value: Mutex<T>
        init(_ v: T) { value = Mutex(v) }
        var get: T { value.withLock { $0 } }
        func set(_ v: T) { value.withLock { $0 = v } }
    }

    /// Posts the flow on a thread of its own until stopped, ignoring refusals (the server may be down).
    final class Load: Sendable {
        private let running = Shared(true)
        private let done = DispatchSemaphore(value: 0)

        /// Loads the server at `port` with `flow`, which it advances.
        init(port: Shared<Int>, flow: Shared<Flow>) {
            let running = self.running, done = self.done
            Thread {
                while running.get {
                    let server = IMSProcess.Server(process: Process(), port: port.get, dataDir: URL(fileURLWithPath: "/"))
                    var f = flow.get
                    let events = f.events(40), decisions = f.decisions(locates: 2, orders: 1)
                    flow.set(f)
                    _ = try? HistoryStoreTests.post(server, "/api/v1/events?mode=partial", events)
                    _ = try? HistoryStoreTests.post(server, "/api/v1/decisions", decisions)
                    Thread.sleep(forTimeInterval: 0.05)
                }
                done.signal()
            }.start()
        }

        func stop() {
            running.set(false)
            done.wait()
        }
    }

    @Test func killedFiveTimesAndPostgresRestartedFiveTimesTheHistoryIsAProjectionFromScratch() async throws {
        try await Self.exclusively { try killedAndRestarted() }
    }

    func killedAndRestarted() throws {
        let url = try Self.database()
        let dir = IMSProcess.freshDirectory()
        let arguments = ["--history", url, "--history-snapshot-seconds", "1"]
        var flow = Flow()
        var server = try IMSProcess.start(arguments, dataDir: dir)
        #expect(try Self.post(server, "/api/v1/events?type=security", flow.securitiesCSV(), csv: true) == 200)
        #expect(try Self.post(server, "/api/v1/events", flow.setup()) == 200)
        let port = Shared(server.port), shared = Shared(flow)
        // SIGKILL under load, five times: the projector dies with the server, mid-transaction or not.
        for _ in 0..<5 {
            let load = Load(port: port, flow: shared)
            Thread.sleep(forTimeInterval: 1.5)
            server.crash()
            load.stop()
            server = try IMSProcess.start(arguments, dataDir: dir)
            port.set(server.port)
        }
        // PostgreSQL restarted (an immediate stop, as a crash) five times under load.
        let load = Load(port: port, flow: shared)
        for _ in 0..<5 {
            Thread.sleep(forTimeInterval: 0.8)
            #expect(system("'\(IMSProcess.root.path)/scripts/postgres.sh' restart 1 >/dev/null 2>&1") == 0)
        }
        Thread.sleep(forTimeInterval: 0.5)
        load.stop()
        flow = shared.get
        try Self.waitUntilCaughtUp(server, flow: &flow)
        server.stop()

        // A projection from scratch: the same journal into a new database.
        let scratchURL = try Self.database()
        let scratch = try IMSProcess.start(["--history", scratchURL, "--history-snapshot-seconds", "1"], dataDir: dir)
        try Self.waitUntilCommitted(scratch)
        scratch.stop()
        let fresh = try Self.expectSameTables(url, scratchURL, "after the crashes")
        #expect(fresh["positions"]!.split(separator: "\n").count > 100)
        #expect(fresh["locates"]!.split(separator: "\n").count > 20)
        // (Whether a restart shows as a failed write depends on whether a write was in flight: the pool waits for
        // PostgreSQL within the write's deadline. PostgresHistoryTests asserts failures with a short deadline.)
    }
}
