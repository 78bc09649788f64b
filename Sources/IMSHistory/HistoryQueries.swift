import Foundation
import IMSDomain
import PostgresNIO

/// A page of history over a time range: `[from, to)`, oldest first.
public struct HistoryRange: Sendable, Hashable {
    public var from: Timestamp
    public var to: Timestamp
    public var offset: Int
    public var limit: Int

    /// A `HistoryRange` from its fields.
    public init(from: Timestamp, to: Timestamp, offset: Int = 0, limit: Int = 1_000) {
        self.from = from
        self.to = to
        self.offset = offset
        self.limit = limit
    }

    /// The most items a page may ask for.
    public static let maxLimit = 10_000
}

/// Bars of prices over the ticks: the width of each.
public enum BarInterval: Sendable, Hashable {
    case seconds(Int)

    /// Parses `30s`, `1m`, `5m`, `1h`, `1d` (or a number of seconds).
    public init?(parsing text: String) {
        let units: [Character: Int] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400]
        if let n = Int(text), n > 0 {
            self = .seconds(n)
            return
        }
        guard let unit = text.last, let scale = units[unit], let n = Int(text.dropLast()), n > 0, n <= 366 * 86_400 / scale else { return nil }
        self = .seconds(n * scale)
    }

    var seconds: Int { if case .seconds(let s) = self { s } else { 0 } }
}

/// The queries the API asks of the history store. Each answers a page as JSON (built by PostgreSQL):
/// `{"items":[…],"offset":o,"limit":l,"hasMore":b}`, items oldest first, times as IMS writes them.
extension PostgresHistoryStore {
    /// Ticks of a security (conflated), or bars of `interval` over them.
    public func prices(securityId: String, range: HistoryRange, interval: BarInterval?) async throws -> String {
        let from = range.from.micros, to = range.to.micros
        if let interval, interval.seconds % 60 == 0 {
            // Whole minutes: from the one-minute bars the projector keeps beside the ticks (a week is about
            // 3,600 rows, not 200,000).
            return try await page(
                range,
                """
                SELECT CAST(json_build_object('at', history.ts(b), 'securityId', \(securityId), 'open', (array_agg(open ORDER BY at))[1],
                  'high', max(high), 'low', min(low), 'close', (array_agg(close ORDER BY at DESC))[1], 'ticks', sum(ticks)) AS text)
                FROM (SELECT date_bin(\(Double(interval.seconds))::float8 * interval '1 second', at, timestamptz 'epoch') AS b, at, open, high, low, close, ticks
                      FROM history.bars WHERE security_id = \(securityId)
                        AND at >= timestamptz 'epoch' + \(from) * interval '1 microsecond' AND at < timestamptz 'epoch' + \(to) * interval '1 microsecond') t
                GROUP BY b ORDER BY b
                """)
        }
        if let interval {
            return try await page(
                range,
                """
                SELECT CAST(json_build_object('at', history.ts(b), 'securityId', \(securityId), 'open', (array_agg(last ORDER BY at))[1],
                  'high', max(last), 'low', min(last), 'close', (array_agg(last ORDER BY at DESC))[1], 'ticks', count(*)) AS text)
                FROM (SELECT date_bin(\(Double(interval.seconds))::float8 * interval '1 second', at, timestamptz 'epoch') AS b, at, last
                      FROM history.ticks WHERE security_id = \(securityId) AND last IS NOT NULL
                        AND at >= timestamptz 'epoch' + \(from) * interval '1 microsecond' AND at < timestamptz 'epoch' + \(to) * interval '1 microsecond') t
                GROUP BY b ORDER BY b
                """)
        }
        return try await page(
            range,
            """
            SELECT CAST(json_build_object('at', history.ts(at), 'securityId', security_id, 'marketId', market_id, 'currency', currency, 'last', last,
              'bid', bid, 'ask', ask, 'tickTime', CASE WHEN tick_time IS NULL THEN NULL ELSE history.ts(tick_time) END, 'record', journal_record) AS text)
            FROM history.ticks WHERE security_id = \(securityId)
              AND at >= timestamptz 'epoch' + \(from) * interval '1 microsecond' AND at < timestamptz 'epoch' + \(to) * interval '1 microsecond'
            ORDER BY at
            """)
    }

    /// Snapshots of positions: of a book, a security or both; `books`, when set, limits them to those books
    /// (a client's own).
    public func positions(bookId: String?, securityId: String?, books: [String]?, range: HistoryRange) async throws -> String {
        let from = range.from.micros, to = range.to.micros
        return try await page(
            range,
            """
            SELECT CAST(json_build_object('at', history.ts(at), 'kind', kind, 'record', journal_record, 'position', position) AS text)
            FROM history.positions
            WHERE (\(bookId ?? "")::text = '' OR book_id = \(bookId ?? "")) AND (\(securityId ?? "")::text = '' OR security_id = \(securityId ?? ""))
              AND (\(books == nil) OR book_id = ANY(\(books ?? [])::text[]))
              AND at >= timestamptz 'epoch' + \(from) * interval '1 microsecond' AND at < timestamptz 'epoch' + \(to) * interval '1 microsecond'
            ORDER BY at, book_id, security_id, kind
            """)
    }

    /// Snapshots of a security's inventory: buckets, calculations and ladder.
    public func inventory(securityId: String, range: HistoryRange) async throws -> String {
        let from = range.from.micros, to = range.to.micros
        return try await page(
            range,
            """
            SELECT CAST(json_build_object('at', history.ts(at), 'kind', kind, 'record', journal_record, 'inventory', inventory) AS text)
            FROM history.inventory WHERE security_id = \(securityId)
              AND at >= timestamptz 'epoch' + \(from) * interval '1 microsecond' AND at < timestamptz 'epoch' + \(to) * interval '1 microsecond'
            ORDER BY at, kind
            """)
    }

    /// Every state change of the locates asked in the range (of a client, a security), as the desk or (with
    /// `clientView`) as the client sees them.
    public func locates(clientId: String?, securityId: String?, locateId: String?, clientView: Bool, range: HistoryRange) async throws -> String {
        let from = range.from.micros, to = range.to.micros
        return try await page(
            range,
            """
            SELECT CAST(json_build_object('at', history.ts(at), 'record', journal_record, 'locate', CASE WHEN \(clientView) THEN locate_client ELSE locate END) AS text)
            FROM history.locates
            WHERE (\(clientId ?? "")::text = '' OR client_id = \(clientId ?? "")) AND (\(securityId ?? "")::text = '' OR security_id = \(securityId ?? ""))
              AND (\(locateId ?? "")::text = '' OR locate_id = \(locateId ?? ""))
              AND at >= timestamptz 'epoch' + \(from) * interval '1 microsecond' AND at < timestamptz 'epoch' + \(to) * interval '1 microsecond'
            ORDER BY at, journal_record, locate_id
            """)
    }

    /// Every order validation (and its later fills or expiry) in the range.
    public func orders(clientId: String?, securityId: String?, orderId: String?, decision: String?, clientView: Bool, range: HistoryRange)
        async throws -> String
    {
        let from = range.from.micros, to = range.to.micros
        return try await page(
            range,
            """
            SELECT CAST(json_build_object('at', history.ts(at), 'record', journal_record, 'order', CASE WHEN \(clientView) THEN order_client ELSE order_view END) AS text)
            FROM history.orders
            WHERE (\(clientId ?? "")::text = '' OR client_id = \(clientId ?? "")) AND (\(securityId ?? "")::text = '' OR security_id = \(securityId ?? ""))
              AND (\(orderId ?? "")::text = '' OR order_id = \(orderId ?? "")) AND (\(decision ?? "")::text = '' OR decision = \(decision ?? ""))
              AND at >= timestamptz 'epoch' + \(from) * interval '1 microsecond' AND at < timestamptz 'epoch' + \(to) * interval '1 microsecond'
            ORDER BY at, journal_record, order_id
            """)
    }

    /// Runs `query` (one JSON object per row) for a page of `range`, and wraps the rows.
    private func page(_ range: HistoryRange, _ query: PostgresQuery) async throws -> String {
        var paged = query
        paged.sql += " LIMIT \(range.limit + 1) OFFSET \(range.offset)"
        var items: [String] = []
        for try await item in try await client.query(paged, logger: Logger(label: "ims-history")).decode(String.self) { items.append(item) }
        let more = items.count > range.limit
        if more { items.removeLast() }
        return "{\"items\":[\(items.joined(separator: ","))],\"offset\":\(range.offset),\"limit\":\(range.limit),\"hasMore\":\(more)}"
    }
}
