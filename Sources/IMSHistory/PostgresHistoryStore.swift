import Foundation
import IMSDomain
import Logging
import PostgresNIO
import Synchronization

/// The history store in PostgreSQL: its schema (made and migrated at start), the projector's writes (one
/// transaction per batch of rows, with the projector's offset), retention, and the queries the API asks.
///
/// Every table but `rule_versions` and `projector` is partitioned by day on `at` (range partitions made as
/// days arrive, a BRIN index on `at`), so old days are dropped whole. Rows are inserted with `unnest` over
/// one array per column, one statement per table per batch, and `ON CONFLICT DO NOTHING` on keys that
/// include the journal's own identity (an item and the point of the journal it is as of): writing a batch
/// again, after a restart or a lost commit, changes nothing. `docs/history.md` documents the tables.
public final class PostgresHistoryStore: Sendable, CustomStringConvertible {
    /// The schema's version; migrations run at start up to it.
    public static let schemaVersion = 1

    public let client: PostgresClient
    private let logger: Logger
    /// Day partitions known to exist (by table and day number), so a batch only creates new days.
    private let partitions = Mutex<Set<String>>([])

    /// Tables partitioned by day, each with its key.
    static let dayTables: [(name: String, columns: String, key: String)] = [
        (
            "ticks",
            "at timestamptz NOT NULL, security_id text NOT NULL, market_id text NOT NULL, currency text, last numeric, bid numeric, ask numeric, tick_time timestamptz, journal_record bigint NOT NULL",
            "security_id, at"
        ),
        (
            "bars",
            "at timestamptz NOT NULL, security_id text NOT NULL, first_at timestamptz NOT NULL, last_at timestamptz NOT NULL, open numeric NOT NULL, high numeric NOT NULL, low numeric NOT NULL, close numeric NOT NULL, ticks bigint NOT NULL",
            "security_id, at"
        ),
        ("fx_rates", "at timestamptz NOT NULL, currency text NOT NULL, usd_rate numeric NOT NULL, journal_record bigint NOT NULL", "currency, at"),
        (
            "positions",
            "at timestamptz NOT NULL, kind text NOT NULL, book_id text NOT NULL, security_id text NOT NULL, market_id text NOT NULL, business_date date, contractual_qty bigint NOT NULL, settled_qty bigint NOT NULL, projected_net_position bigint NOT NULL, journal_record bigint NOT NULL, position jsonb NOT NULL",
            "book_id, security_id, at, kind"
        ),
        (
            "inventory",
            "at timestamptz NOT NULL, kind text NOT NULL, security_id text NOT NULL, market_id text NOT NULL, business_date date, for_loan bigint NOT NULL, for_pledge bigint NOT NULL, locate_available bigint NOT NULL, rule_version integer NOT NULL, journal_record bigint NOT NULL, inventory jsonb NOT NULL",
            "security_id, at, kind"
        ),
        (
            "locates",
            "at timestamptz NOT NULL, locate_id text NOT NULL, client_id text NOT NULL, security_id text NOT NULL, status text NOT NULL, quantity bigint NOT NULL, approved_quantity bigint NOT NULL, journal_record bigint NOT NULL, locate jsonb NOT NULL, locate_client jsonb NOT NULL",
            "locate_id, journal_record, at"
        ),
        (
            "orders",
            "at timestamptz NOT NULL, order_id text NOT NULL, client_id text NOT NULL, book_id text NOT NULL, security_id text NOT NULL, side text NOT NULL, decision text NOT NULL, quantity bigint NOT NULL, journal_record bigint NOT NULL, order_view jsonb NOT NULL, order_client jsonb NOT NULL",
            "client_id, order_id, journal_record, at"
        ),
        (
            "exceptions",
            "at timestamptz NOT NULL, exception_id bigint NOT NULL, kind text NOT NULL, journal_record bigint NOT NULL, exception jsonb NOT NULL",
            "exception_id, journal_record, at"
        ),
        (
            "audit",
            "at timestamptz NOT NULL, audit_id bigint NOT NULL, user_name text NOT NULL, action text NOT NULL, subject text NOT NULL, journal_record bigint NOT NULL, entry jsonb NOT NULL",
            "audit_id, at"
        ),
        (
            "rule_steps",
            "at timestamptz NOT NULL, sequence bigint NOT NULL, version bigint NOT NULL, action text NOT NULL, user_name text NOT NULL, status text NOT NULL, journal_record bigint NOT NULL, step jsonb NOT NULL",
            "sequence, at"
        ),
    ]

    /// Tables of the decision and audit trail, kept by their own (longer) retention.
    static let trailTables: Set<String> = ["locates", "orders", "exceptions", "audit", "rule_steps"]

    /// A store at `url` (`postgres://user[:password]@host[:port]/database`); call `run` (or run the client as
    /// a service) before `migrate`.
    public init(url: String, logger: Logger) throws {
        guard let parsed = URLComponents(string: url), ["postgres", "postgresql"].contains(parsed.scheme ?? ""), let host = parsed.host,
            !host.isEmpty
        else {
            throw HistoryError("history must be a URL postgres://user[:password]@host[:port]/database, not \(url)")
        }
        let database = String(parsed.path.drop { $0 == "/" })
        var configuration = PostgresClient.Configuration(
            host: host, port: parsed.port ?? 5432, username: parsed.user ?? "postgres", password: parsed.password,
            database: database.isEmpty ? nil : database, tls: .disable)
        configuration.options.maximumConnections = 4
        configuration.options.connectTimeout = .seconds(5)
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.logger = logger
        description = "postgres://\(parsed.user.map { $0 + "@" } ?? "")\(host):\(parsed.port ?? 5432)/\(database)"
    }

    /// The store's URL without its password (for logs).
    public let description: String

    /// Runs the client's connection pool until the task is cancelled.
    public func run() async { await client.run() }

    /// Makes or migrates the schema `history` to `schemaVersion`.
    public func migrate() async throws {
        try await client.withTransaction(logger: logger) { c in
            try await c.query("SELECT pg_advisory_xact_lock(7220291)", logger: logger)
            try await c.query("CREATE SCHEMA IF NOT EXISTS history", logger: logger)
            try await c.query(
                "CREATE TABLE IF NOT EXISTS history.schema_version (version integer NOT NULL, migrated_at timestamptz NOT NULL DEFAULT now())",
                logger: logger)
            let rows = try await c.query("SELECT coalesce(max(version), 0) FROM history.schema_version", logger: logger)
            var current = 0
            for try await (v) in rows.decode(Int.self) { current = v }
            if current > Self.schemaVersion {
                throw HistoryError("the history database has schema version \(current); this IMS knows up to \(Self.schemaVersion)")
            }
            if current < 1 {
                for table in Self.dayTables {
                    try await c.query(
                        PostgresQuery(
                            unsafeSQL:
                                "CREATE TABLE IF NOT EXISTS history.\(table.name) (\(table.columns), PRIMARY KEY (\(table.key))) PARTITION BY RANGE (at)"),
                        logger: logger)
                    try await c.query(
                        PostgresQuery(unsafeSQL: "CREATE INDEX IF NOT EXISTS \(table.name)_at_brin ON history.\(table.name) USING brin (at)"),
                        logger: logger)
                }
                try await c.query("CREATE INDEX IF NOT EXISTS locates_client ON history.locates (client_id, at)", logger: logger)
                try await c.query("CREATE INDEX IF NOT EXISTS orders_security ON history.orders (security_id, at)", logger: logger)
                try await c.query("CREATE INDEX IF NOT EXISTS positions_security ON history.positions (security_id, at)", logger: logger)
                try await c.query(
                    """
                    CREATE TABLE IF NOT EXISTS history.rule_versions (version bigint PRIMARY KEY, status text NOT NULL, \
                    journal_record bigint NOT NULL, document jsonb NOT NULL)
                    """, logger: logger)
                try await c.query(
                    """
                    CREATE TABLE IF NOT EXISTS history.projector (name text PRIMARY KEY, resume_record bigint NOT NULL, \
                    last_record bigint NOT NULL, last_entry_at timestamptz, updated_at timestamptz NOT NULL DEFAULT now())
                    """, logger: logger)
                // A time as IMS writes it (`Timestamp.description`): UTC, microseconds only when there are some.
                try await c.query(
                    """
                    CREATE OR REPLACE FUNCTION history.ts(t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
                      SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
                        || CASE WHEN to_char(t AT TIME ZONE 'UTC', 'US') = '000000' THEN '' ELSE '.' || to_char(t AT TIME ZONE 'UTC', 'US') END || 'Z'
                    $$
                    """, logger: logger)
                try await c.query("INSERT INTO history.schema_version (version) VALUES (1)", logger: logger)
            }
        }
        partitions.withLock { $0.removeAll() }
    }

    /// Where the projector named `name` stands: the record to resume from and the last one written.
    public func offset(projector name: String = "ims") async throws -> (resume: UInt64, last: UInt64)? {
        let rows = try await client.query("SELECT resume_record, last_record FROM history.projector WHERE name = \(name)", logger: logger)
        for try await (resume, last) in rows.decode((Int64, Int64).self) { return (UInt64(resume), UInt64(last)) }
        return nil
    }

    /// Writes `rows` and the projector's new offset in one transaction (rows already there are kept).
    public func write(_ rows: HistoryRows, lastEntryAt: Int64, projector name: String = "ims") async throws {
        try await ensurePartitions(for: rows)
        try await client.withTransaction(logger: logger) { c in
            try await Self.insert(rows, on: c, logger: logger)
            try await c.query(
                """
                INSERT INTO history.projector (name, resume_record, last_record, last_entry_at, updated_at)
                VALUES (\(name), \(Int64(rows.resumeRecord)), \(Int64(rows.lastRecord)), \(Self.time(lastEntryAt)), now())
                ON CONFLICT (name) DO UPDATE SET resume_record = excluded.resume_record, last_record = excluded.last_record,
                  last_entry_at = excluded.last_entry_at, updated_at = now()
                WHERE history.projector.last_record <= excluded.last_record
                """, logger: logger)
        }
    }

    /// A timestamp for a bind, from microseconds since 1970.
    static func time(_ micros: Int64) -> Date { Date(timeIntervalSince1970: Double(micros) / 1_000_000) }

    private static func at(_ column: String) -> String { "timestamptz 'epoch' + \(column) * interval '1 microsecond'" }
    private static func decimal(_ v: Decimal8?) -> String { v.map(\.description) ?? "" }

    private static func insert(_ rows: HistoryRows, on c: PostgresConnection, logger: Logger) async throws {
        if !rows.ticks.isEmpty {
            let r = rows.ticks
            try await c.query(
                """
                WITH inserted AS (
                INSERT INTO history.ticks (at, security_id, market_id, currency, last, bid, ask, tick_time, journal_record)
                SELECT \(unescaped: at("a")), s, m, NULLIF(cu, ''), NULLIF(l, '')::numeric, NULLIF(b, '')::numeric, NULLIF(k, '')::numeric,
                  CASE WHEN tt = -9223372036854775808 THEN NULL ELSE \(unescaped: at("tt")) END, jr
                FROM unnest(\(r.map(\.at))::bigint[], \(r.map(\.securityId))::text[], \(r.map(\.marketId))::text[], \(r.map { $0.currency ?? "" })::text[],
                  \(r.map { decimal($0.last) })::text[], \(r.map { decimal($0.bid) })::text[], \(r.map { decimal($0.ask) })::text[],
                  \(r.map { $0.tickTime ?? .min })::bigint[], \(r.map { Int64($0.record) })::bigint[]) AS t(a, s, m, cu, l, b, k, tt, jr)
                ON CONFLICT DO NOTHING
                RETURNING security_id, at, last
                )
                INSERT INTO history.bars AS b (security_id, at, first_at, last_at, open, high, low, close, ticks)
                SELECT security_id, date_bin('1 minute', at, timestamptz 'epoch'), min(at), max(at), (array_agg(last ORDER BY at))[1], max(last),
                  min(last), (array_agg(last ORDER BY at DESC))[1], count(*)
                FROM inserted WHERE last IS NOT NULL GROUP BY 1, 2
                ON CONFLICT (security_id, at) DO UPDATE SET
                  open = CASE WHEN excluded.first_at < b.first_at THEN excluded.open ELSE b.open END, first_at = least(b.first_at, excluded.first_at),
                  close = CASE WHEN excluded.last_at > b.last_at THEN excluded.close ELSE b.close END, last_at = greatest(b.last_at, excluded.last_at),
                  high = greatest(b.high, excluded.high), low = least(b.low, excluded.low), ticks = b.ticks + excluded.ticks
                """, logger: logger)
        }
        if !rows.rates.isEmpty {
            let r = rows.rates
            try await c.query(
                """
                INSERT INTO history.fx_rates (at, currency, usd_rate, journal_record)
                SELECT \(unescaped: at("a")), cu, u::numeric, jr
                FROM unnest(\(r.map(\.at))::bigint[], \(r.map(\.currency))::text[], \(r.map { $0.usdRate.description })::text[],
                  \(r.map { Int64($0.record) })::bigint[]) AS t(a, cu, u, jr)
                ON CONFLICT DO NOTHING
                """, logger: logger)
        }
        if !rows.positions.isEmpty {
            let r = rows.positions
            try await c.query(
                """
                INSERT INTO history.positions (at, kind, book_id, security_id, market_id, business_date, contractual_qty, settled_qty,
                  projected_net_position, journal_record, position)
                SELECT \(unescaped: at("a")), k, b, s, m, NULLIF(d, '')::date, cq, sq, pn, jr, j::jsonb
                FROM unnest(\(r.map(\.at))::bigint[], \(r.map(\.kind.rawValue))::text[], \(r.map(\.bookId))::text[], \(r.map(\.securityId))::text[],
                  \(r.map(\.marketId))::text[], \(r.map { $0.businessDate?.description ?? "" })::text[], \(r.map(\.contractualQty))::bigint[],
                  \(r.map(\.settledQty))::bigint[], \(r.map(\.projectedNetPosition))::bigint[], \(r.map { Int64($0.record) })::bigint[],
                  \(r.map(\.json))::text[]) AS t(a, k, b, s, m, d, cq, sq, pn, jr, j)
                ON CONFLICT DO NOTHING
                """, logger: logger)
        }
        if !rows.inventory.isEmpty {
            let r = rows.inventory
            try await c.query(
                """
                INSERT INTO history.inventory (at, kind, security_id, market_id, business_date, for_loan, for_pledge, locate_available,
                  rule_version, journal_record, inventory)
                SELECT \(unescaped: at("a")), k, s, m, NULLIF(d, '')::date, fl, fp, la, rv, jr, j::jsonb
                FROM unnest(\(r.map(\.at))::bigint[], \(r.map(\.kind.rawValue))::text[], \(r.map(\.securityId))::text[], \(r.map(\.marketId))::text[],
                  \(r.map { $0.businessDate?.description ?? "" })::text[], \(r.map(\.forLoan))::bigint[], \(r.map(\.forPledge))::bigint[],
                  \(r.map(\.locateAvailable))::bigint[], \(r.map(\.ruleVersion))::integer[], \(r.map { Int64($0.record) })::bigint[],
                  \(r.map(\.json))::text[]) AS t(a, k, s, m, d, fl, fp, la, rv, jr, j)
                ON CONFLICT DO NOTHING
                """, logger: logger)
        }
        if !rows.locates.isEmpty {
            let r = rows.locates
            try await c.query(
                """
                INSERT INTO history.locates (at, locate_id, client_id, security_id, status, quantity, approved_quantity, journal_record, locate,
                  locate_client)
                SELECT \(unescaped: at("a")), l, cl, s, st, q, aq, jr, j::jsonb, cj::jsonb
                FROM unnest(\(r.map(\.at))::bigint[], \(r.map(\.locateId))::text[], \(r.map(\.clientId))::text[], \(r.map(\.securityId))::text[],
                  \(r.map(\.status))::text[], \(r.map(\.quantity))::bigint[], \(r.map(\.approvedQuantity))::bigint[],
                  \(r.map { Int64($0.record) })::bigint[], \(r.map(\.json))::text[], \(r.map(\.clientJSON))::text[])
                  AS t(a, l, cl, s, st, q, aq, jr, j, cj)
                ON CONFLICT DO NOTHING
                """, logger: logger)
        }
        if !rows.orders.isEmpty {
            let r = rows.orders
            try await c.query(
                """
                INSERT INTO history.orders (at, order_id, client_id, book_id, security_id, side, decision, quantity, journal_record, order_view,
                  order_client)
                SELECT \(unescaped: at("a")), o, cl, b, s, sd, dc, q, jr, j::jsonb, cj::jsonb
                FROM unnest(\(r.map(\.at))::bigint[], \(r.map(\.orderId))::text[], \(r.map(\.clientId))::text[], \(r.map(\.bookId))::text[],
                  \(r.map(\.securityId))::text[], \(r.map(\.side))::text[], \(r.map(\.decision))::text[], \(r.map(\.quantity))::bigint[],
                  \(r.map { Int64($0.record) })::bigint[], \(r.map(\.json))::text[], \(r.map(\.clientJSON))::text[])
                  AS t(a, o, cl, b, s, sd, dc, q, jr, j, cj)
                ON CONFLICT DO NOTHING
                """, logger: logger)
        }
        if !rows.exceptions.isEmpty {
            let r = rows.exceptions
            try await c.query(
                """
                INSERT INTO history.exceptions (at, exception_id, kind, journal_record, exception)
                SELECT \(unescaped: at("a")), e, k, jr, j::jsonb
                FROM unnest(\(r.map(\.at))::bigint[], \(r.map(\.exceptionId))::bigint[], \(r.map(\.kind))::text[],
                  \(r.map { Int64($0.record) })::bigint[], \(r.map(\.json))::text[]) AS t(a, e, k, jr, j)
                ON CONFLICT DO NOTHING
                """, logger: logger)
        }
        if !rows.audit.isEmpty {
            let r = rows.audit
            try await c.query(
                """
                INSERT INTO history.audit (at, audit_id, user_name, action, subject, journal_record, entry)
                SELECT \(unescaped: at("a")), i, u, ac, s, jr, j::jsonb
                FROM unnest(\(r.map(\.at))::bigint[], \(r.map(\.auditId))::bigint[], \(r.map(\.user))::text[], \(r.map(\.action))::text[],
                  \(r.map(\.subject))::text[], \(r.map { Int64($0.record) })::bigint[], \(r.map(\.json))::text[]) AS t(a, i, u, ac, s, jr, j)
                ON CONFLICT DO NOTHING
                """, logger: logger)
        }
        if !rows.ruleSteps.isEmpty {
            let r = rows.ruleSteps
            try await c.query(
                """
                INSERT INTO history.rule_steps (at, sequence, version, action, user_name, status, journal_record, step)
                SELECT \(unescaped: at("a")), sq, v, ac, u, st, jr, j::jsonb
                FROM unnest(\(r.map(\.at))::bigint[], \(r.map(\.sequence))::bigint[], \(r.map(\.version))::bigint[], \(r.map(\.action))::text[],
                  \(r.map(\.user))::text[], \(r.map(\.status))::text[], \(r.map { Int64($0.record) })::bigint[], \(r.map(\.json))::text[])
                  AS t(a, sq, v, ac, u, st, jr, j)
                ON CONFLICT DO NOTHING
                """, logger: logger)
            try await c.query(
                """
                INSERT INTO history.rule_versions (version, status, journal_record, document)
                SELECT DISTINCT ON (v) v, st, jr, d::jsonb
                FROM unnest(\(r.map(\.version))::bigint[], \(r.map(\.status))::text[], \(r.map { Int64($0.record) })::bigint[],
                  \(r.map(\.document))::text[]) AS t(v, st, jr, d)
                ORDER BY v, jr DESC
                ON CONFLICT (version) DO UPDATE SET status = excluded.status, journal_record = excluded.journal_record, document = excluded.document
                WHERE history.rule_versions.journal_record <= excluded.journal_record
                """, logger: logger)
        }
    }

    /// Creates the day partitions `rows` need that are not known to exist.
    private func ensurePartitions(for rows: HistoryRows) async throws {
        var wanted: [(table: String, day: Int64)] = []
        func days(_ table: String, _ times: [Int64]) {
            for day in Set(times.map { Self.day($0) }) { wanted.append((table, day)) }
        }
        days("ticks", rows.ticks.map(\.at))
        days("bars", rows.ticks.map { $0.at / 60_000_000 * 60_000_000 })
        days("fx_rates", rows.rates.map(\.at))
        days("positions", rows.positions.map(\.at))
        days("inventory", rows.inventory.map(\.at))
        days("locates", rows.locates.map(\.at))
        days("orders", rows.orders.map(\.at))
        days("exceptions", rows.exceptions.map(\.at))
        days("audit", rows.audit.map(\.at))
        days("rule_steps", rows.ruleSteps.map(\.at))
        let missing = partitions.withLock { known in wanted.filter { !known.contains("\($0.table)_\($0.day)") } }
        guard !missing.isEmpty else { return }
        for (table, day) in missing {
            let name = Self.partitionName(table, day: day)
            let from = Self.dayText(day), to = Self.dayText(day + 1)
            do {
                try await client.query(
                    PostgresQuery(
                        unsafeSQL:
                            "CREATE TABLE IF NOT EXISTS history.\(name) PARTITION OF history.\(table) FOR VALUES FROM ('\(from) 00:00:00+00') TO ('\(to) 00:00:00+00')"
                    ), logger: logger)
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "42P07" {
                // Made by another writer meanwhile.
            }
            partitions.withLock { _ = $0.insert("\(table)_\(day)") }
        }
    }

    /// The day number (since 1970, UTC) of a time in microseconds.
    static func day(_ micros: Int64) -> Int64 {
        let d = micros / 86_400_000_000
        return micros % 86_400_000_000 < 0 ? d - 1 : d
    }

    static func dayText(_ day: Int64) -> String { BusinessDate(dayNumber: Int32(day)).description }

    static func partitionName(_ table: String, day: Int64) -> String {
        "\(table)_" + dayText(day).replacingOccurrences(of: "-", with: "")
    }

    /// Drops the day partitions older than `days` days before `now` (the trail tables by `trailDays`);
    /// returns the partitions dropped.
    @discardableResult
    public func dropPartitions(olderThan days: Int, trailDays: Int, now: Date = Date()) async throws -> [String] {
        let today = Self.day(Int64(now.timeIntervalSince1970 * 1_000_000))
        let rows = try await client.query(
            """
            SELECT c.relname, p.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
            JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'history'
            """, logger: logger)
        var dropped: [String] = []
        var candidates: [(String, String)] = []
        for try await (child, parent) in rows.decode((String, String).self) { candidates.append((child, parent)) }
        for (child, parent) in candidates {
            guard let suffix = child.split(separator: "_").last, suffix.count == 8, let date = BusinessDate(parsing: Self.dashed(String(suffix)))
            else { continue }
            let keep = Self.trailTables.contains(parent) ? trailDays : days
            guard keep > 0, Int64(date.dayNumber) < today - Int64(keep) + 1 else { continue }
            try await client.query(PostgresQuery(unsafeSQL: "DROP TABLE IF EXISTS history.\(child)"), logger: logger)
            partitions.withLock { _ = $0.remove("\(parent)_\(date.dayNumber)") }
            dropped.append(child)
        }
        return dropped.sorted()
    }

    private static func dashed(_ s: String) -> String {
        let c = Array(s)
        return String(c[0..<4]) + "-" + String(c[4..<6]) + "-" + String(c[6..<8])
    }
}

/// Why the history store cannot do what was asked.
public struct HistoryError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
