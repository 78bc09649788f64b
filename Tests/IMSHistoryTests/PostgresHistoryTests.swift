import Foundation
import IMSDomain
import IMSEngine
import IMSJournal
import IMSRuntime
import Logging
import PostgresNIO
import Testing

@testable import IMSHistory

/// The projector against a real PostgreSQL (started by the test command's `scripts/postgres.sh` as
/// `IMS_POSTGRES_URL`), each test in a database of its own: it follows a real file journal written by a real
/// engine; stopped and started again, and with PostgreSQL restarted under it, it ends with the rows a
/// projection from scratch makes, each once.
@Suite(.serialized) struct PostgresHistoryTests {
    static let logger = Logger(label: "history-test")

    /// A new, empty database on the test server: its URL, and how to drop it.
    static func database() async throws -> (url: String, drop: @Sendable () async -> Void) {
        guard let admin = ProcessInfo.processInfo.environment["IMS_POSTGRES_URL"], !admin.isEmpty else {
            throw HistoryError("IMS_POSTGRES_URL is not set: run the tests with ./scripts/test.sh, which starts PostgreSQL")
        }
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        try await psql(admin, "CREATE DATABASE \(name)")
        let base = admin[..<admin.lastIndex(of: "/")!]
        return (base + "/" + name, { try? await psql(admin, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)") })
    }

    /// Runs one statement on the server at `url` with a client of its own.
    static func psql(_ url: String, _ sql: String) async throws {
        let store = try PostgresHistoryStore(url: url, logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await store.run() }
            defer { group.cancelAll() }
            try await store.client.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        }
    }

    /// Counts and contents of every table, as sorted lines comparable with `HistoryRows.lines`' keys.
    static func tableKeys(_ store: PostgresHistoryStore) async throws -> [String: [String]] {
        let queries: [(String, String)] = [
            ("ticks", "SELECT security_id || ' ' || (extract(epoch from at) * 1000000)::bigint || ' ' || coalesce(last::text, '-') FROM history.ticks"),
            ("rates", "SELECT currency || ' ' || (extract(epoch from at) * 1000000)::bigint FROM history.fx_rates"),
            (
                "positions",
                "SELECT kind || ' ' || book_id || ' ' || security_id || ' ' || (extract(epoch from at) * 1000000)::bigint || ' ' || settled_qty || ' ' || contractual_qty || ' ' || journal_record FROM history.positions"
            ),
            (
                "inventory",
                "SELECT kind || ' ' || security_id || ' ' || (extract(epoch from at) * 1000000)::bigint || ' ' || for_loan || ' ' || locate_available FROM history.inventory"
            ),
            ("locates", "SELECT locate_id || ' ' || journal_record || ' ' || status FROM history.locates"),
            ("orders", "SELECT order_id || ' ' || journal_record || ' ' || decision FROM history.orders"),
            ("audit", "SELECT audit_id::text FROM history.audit"),
            ("exceptions", "SELECT exception_id || ' ' || journal_record FROM history.exceptions"),
        ]
        var out: [String: [String]] = [:]
        for (table, sql) in queries {
            var lines: [String] = []
            for try await line in try await store.client.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(String.self) { lines.append(line) }
            out[table] = lines.sorted()
        }
        return out
    }

    /// The same keys from rows projected in memory.
    static func expectedKeys(_ rows: HistoryRows, through record: UInt64) -> [String: [String]] {
        func dec(_ d: Decimal8?) -> String { d.map { Decimal(string: $0.description)!.description } ?? "-" }
        return [
            "ticks": rows.ticks.filter { $0.record <= record }.map { "\($0.securityId) \($0.at) \(dec($0.last))" }.sorted(),
            "rates": rows.rates.filter { $0.record <= record }.map { "\($0.currency) \($0.at)" }.sorted(),
            "positions": rows.positions.filter { $0.record <= record }.map {
                "\($0.kind.rawValue) \($0.bookId) \($0.securityId) \($0.at) \($0.settledQty) \($0.contractualQty) \($0.record)"
            }.sorted(),
            "inventory": rows.inventory.filter { $0.record <= record }.map {
                "\($0.kind.rawValue) \($0.securityId) \($0.at) \($0.forLoan) \($0.locateAvailable)"
            }
            .sorted(),
            "locates": rows.locates.filter { $0.record <= record }.map { "\($0.locateId) \($0.record) \($0.status)" }.sorted(),
            "orders": rows.orders.filter { $0.record <= record }.map { "\($0.orderId) \($0.record) \($0.decision)" }.sorted(),
            "audit": rows.audit.filter { $0.record <= record }.map { "\($0.auditId)" }.sorted(),
            "exceptions": rows.exceptions.filter { $0.record <= record }.map { "\($0.exceptionId) \($0.record)" }.sorted(),
        ]
    }

    /// An engine over a fresh data directory.
    static func engine(_ directory: String) throws -> Engine {
        let opened = try DataDirectory.open(directory, catalog: .embedded, partitions: 2, now: Timestamp(micros: 1))
        return Engine(state: opened.state, journal: opened.journal, snapshots: opened.snapshots)
    }

    /// A projector of the data directory into `url`, running until the returned task is cancelled.
    static func startProjector(
        url: String, directory: String, engine: Engine, settings: HistoryProjection.Settings, startupTimeout: Double = 60
    ) throws -> (
        HistoryProjector, Task<Void, Never>
    ) {
        let store = try PostgresHistoryStore(url: url, logger: logger)
        var options = HistoryProjector.Options()
        options.projection = settings
        options.maxRowsPerTransaction = 500
        options.behindNoticeSeconds = 1
        options.databaseTimeoutSeconds = 1
        options.startupTimeoutSeconds = startupTimeout
        let projector = HistoryProjector(
            store: store, dataDirectory: directory, catalog: .embedded, partitions: 2, options: options,
            journalThrough: { engine.readModel.read { $0.appliedRecord } }, raise: { engine.raise($0) }, logger: logger)
        let task = Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await store.run() }
                group.addTask { try? await projector.run() }
                await group.next()
                group.cancelAll()
                projector.stop()
            }
        }
        return (projector, task)
    }

    static func waitUntil(_ what: String, seconds: Double = 180, _ condition: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            if Date() > deadline { throw HistoryError("timed out waiting until \(what)") }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// Tests that use the shared PostgreSQL server take turns (some restart it): an exclusive lock on a file,
    /// the same one the end-to-end history tests take, polled so that no thread blocks.
    static func exclusively<T>(_ body: () async throws -> T) async throws -> T {
        let fd = open("/tmp/ims-postgres-tests.lock", O_RDWR | O_CREAT, 0o666)
        defer { close(fd) }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 { try await Task.sleep(for: .milliseconds(100)) }
        defer { flock(fd, LOCK_UN) }
        return try await body()
    }

    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func theProjectorFollowsTheJournalAcrossRestartsOfItselfAndOfPostgres() async throws {
        try await Self.exclusively { try await followsAcrossRestarts() }
    }

    func followsAcrossRestarts() async throws {
        let (url, drop) = try await Self.database()
        let directory = NSTemporaryDirectory() + "/ims-history-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let engine = try Self.engine(directory)
        defer { engine.stop() }
        var workload = HistoryWorkload(seed: 7)
        let entries = workload.entries(300)
        let settings = HistoryProjection.Settings(snapshotSeconds: 10, tickSeconds: 1)
        var submitted = 0
        func submit(_ n: Int) throws {
            for entry in entries[submitted..<min(entries.count, submitted + n)] {
                guard case .batch(let b) = entry else { continue }
                _ = try engine.submitAndWait(b)
            }
            submitted = min(entries.count, submitted + n)
        }

        // The first projector follows a third of the journal, then stops (as if killed: nothing flushed).
        try submit(100)
        var (projector, task) = try Self.startProjector(url: url, directory: directory, engine: engine, settings: settings)
        try Self.waitUntil("the first third is committed") { projector.status.committedRecord >= 95 }
        task.cancel()
        await task.value

        // More journal while no projector runs; the second catches up from its stored offset.
        try submit(100)
        (projector, task) = try Self.startProjector(url: url, directory: directory, engine: engine, settings: settings)
        try Self.waitUntil("the second projector has started") { projector.status.startedAtRecord > 0 }
        #expect(projector.status.startedAtRecord > 1)
        try Self.waitUntil("the second third is committed") { projector.status.committedRecord >= 195 }

        // PostgreSQL restarted (an immediate stop, as a crash) while the journal grows: the projector says it
        // is behind, retries, and catches up.
        let script = Self.repositoryRoot.appendingPathComponent("scripts/postgres.sh").path
        let restarted = Task.detached { system("'\(script)' restart 3 >/dev/null 2>&1") }
        for _ in 0..<10 {
            try submit(5)
            try await Task.sleep(for: .milliseconds(300))
        }
        #expect(await restarted.value == 0)
        try submit(entries.count)
        let last = engine.readModel.read { $0.appliedRecord }
        try Self.waitUntil("everything is committed") { projector.status.committedRecord >= last - 2 && projector.status.bufferedRows == 0 }
        let committed = projector.status.committedRecord

        // What PostgreSQL holds is what a projection from scratch of the same journal makes, once each.
        var scratch = HistoryProjection(state: EngineState(catalog: .embedded, partitions: 2), settings: settings)
        var record: UInt64 = 0
        try JournalTail(directory: DataDirectory.journalDirectory(directory), from: 1).read(through: committed) { n, entry in
            record = n
            scratch.apply(entry, record: n)
            return true
        }
        #expect(record == committed)
        let expected = Self.expectedKeys(scratch.takeRows(), through: committed)
        let store = try PostgresHistoryStore(url: url, logger: Self.logger)
        let actual = try await withThrowingTaskGroup(of: [String: [String]].self) { group in
            group.addTask {
                await store.run()
                return [:]
            }
            let keys = try await Self.tableKeys(store)
            group.cancelAll()
            return keys
        }
        for table in expected.keys.sorted() {
            let e = expected[table] ?? [], a = actual[table] ?? []
            #expect(e.count == a.count, "\(table): \(a.count) rows, expected \(e.count)")
            let same = e == a
            #expect(same, "\(table): first difference \(zip(e, a).first { $0 != $1 }.map { "\($0) ≠ \($1)" } ?? "in length")")
            #expect(!e.isEmpty || ["exceptions", "rates"].contains(table), "\(table) has rows")
        }
        #expect(projector.status.writeFailures > 0, "the restart of PostgreSQL was seen")
        task.cancel()
        await task.value
        await drop()
    }

    @Test func withPostgresUnreachableTheProjectorSaysItIsBehindAndRaisesAnException() async throws {
        try await Self.exclusively { try await unreachable() }
    }

    func unreachable() async throws {
        let directory = NSTemporaryDirectory() + "/ims-history-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let engine = try Self.engine(directory)
        defer { engine.stop() }
        var workload = HistoryWorkload(seed: 8)
        for case .batch(let b) in workload.entries(20) { _ = try engine.submitAndWait(b) }
        // A port nothing listens on.
        let (projector, task) = try Self.startProjector(
            url: "postgres://ims@127.0.0.1:9/none", directory: directory, engine: engine, settings: HistoryProjection.Settings(), startupTimeout: 1)
        try Self.waitUntil("the exception is raised", seconds: 30) {
            !engine.readModel.read { $0.exceptions(kind: .historyBehind, acknowledged: false, limit: 1) }.isEmpty
        }
        let status = projector.status
        #expect(status.state == "behind")
        #expect(status.databaseError != nil)
        #expect(status.lagRecords > 0)
        #expect(status.committedRecord == 0)
        // Raised once, not once a second.
        try await Task.sleep(for: .milliseconds(1_500))
        #expect(engine.readModel.read { $0.exceptions(kind: .historyBehind, acknowledged: false, limit: 10) }.count == 1)
        task.cancel()
        await task.value
    }

    @Test func retentionDropsWholeDaysTheTrailByItsOwnLongerSetting() async throws {
        try await Self.exclusively { try await retention() }
    }

    func retention() async throws {
        let (url, drop) = try await Self.database()
        let store = try PostgresHistoryStore(url: url, logger: Self.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await store.run() }
            defer { group.cancelAll() }
            try await store.migrate()
            let day: Int64 = 86_400_000_000, now = Date(timeIntervalSince1970: 1_795_000_000)
            let today = Int64(now.timeIntervalSince1970) * 1_000_000
            var rows = HistoryRows()
            for age: Int64 in [0, 5, 40, 400] {
                rows.ticks.append(.init(at: today - age * day, securityId: "S1", marketId: "US", last: Decimal8(10), record: 1))
                rows.audit.append(
                    .init(at: today - age * day, auditId: age, user: "u", action: "EVENTS", subject: "s", record: 1, json: "{}"))
            }
            rows.lastRecord = 1
            try await store.write(rows, lastEntryAt: today)
            let dropped = try await store.dropPartitions(olderThan: 30, trailDays: 365, now: now)
            // Ticks (and the bars made of them) older than 30 days go; the audit trail keeps a year.
            #expect(dropped.count == 5, "\(dropped)")
            #expect(dropped.filter { $0.hasPrefix("ticks_") }.count == 2)
            #expect(dropped.filter { $0.hasPrefix("bars_") }.count == 2)
            #expect(dropped.filter { $0.hasPrefix("audit_") }.count == 1)
            var ticks = 0, audit = 0
            for try await n in try await store.client.query("SELECT count(*)::bigint FROM history.ticks").decode(Int64.self) { ticks = Int(n) }
            for try await n in try await store.client.query("SELECT count(*)::bigint FROM history.audit").decode(Int64.self) { audit = Int(n) }
            #expect(ticks == 2 && audit == 3)
            // Writing into a dropped day again makes its partition again.
            try await store.write(rows, lastEntryAt: today)
            for try await n in try await store.client.query("SELECT count(*)::bigint FROM history.ticks").decode(Int64.self) { ticks = Int(n) }
            #expect(ticks == 4)
        }
        await drop()
    }
}
