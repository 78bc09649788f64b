import Foundation
import Graphiti
import IMSDomain
import IMSEngine
import IMSHistory
import IMSRuntime

// The history store's fields (`--history`; docs/history.md): the same queries as `/api/v1/history/…`,
// typed. Without a store they answer an error naming the setting.

/// A price at a time: a tick (`last`, `bid`, `ask`) or a bar (`open`, `high`, `low`, `close`, `ticks`).
struct PricePoint: Codable, Sendable {
    var at: Timestamp
    var last: Decimal8?
    var bid: Decimal8?
    var ask: Decimal8?
    var open: Decimal8?
    var high: Decimal8?
    var low: Decimal8?
    var close: Decimal8?
    var ticks: Int64?
}

/// A position as it stood at a snapshot.
struct PositionSnapshot: Codable, Sendable {
    var at: Timestamp
    var kind: String
    var record: Int64
    var position: PositionView
}

/// A security's inventory as it stood at a snapshot.
struct InventorySnapshot: Codable, Sendable {
    var at: Timestamp
    var kind: String
    var record: Int64
    var inventory: InventoryView
}

/// The history fields' arguments: what they filter by, the range and the page.
struct HistoryArguments: Codable, Sendable {
    var securityId: String?
    var bookId: String?
    var from: String?
    var to: String?
    var interval: String?
    var offset: Int?
    var limit: Int?

    /// The range asked for (`to` defaults to now, `from` to `span` before it).
    func range(span: Int64) throws -> HistoryRange {
        func time(_ name: String, _ text: String?) throws -> Timestamp? {
            guard let text else { return nil }
            guard let t = Timestamp(parsing: text) else { throw GraphQLArgumentError("\(name) must be an ISO-8601 time such as 2026-11-30T14:30:00Z") }
            return t
        }
        let to = try time("to", self.to) ?? Timestamp(micros: Int64(Date().timeIntervalSince1970 * 1_000_000))
        let from = try time("from", self.from) ?? Timestamp(micros: to.micros - span)
        guard from < to else { throw GraphQLArgumentError("from must be before to") }
        let (offset, limit) = try PageArguments(offset: offset, limit: limit).checked()
        return HistoryRange(from: from, to: to, offset: offset, limit: limit)
    }
}

/// A page of the store's JSON, decoded.
private struct HistoryPage<Item: Decodable>: Decodable {
    var items: [Item]
}

extension GraphQLContext {
    /// The history store, or an error naming the setting that makes one.
    func historyStore() throws -> PostgresHistoryStore {
        guard let history else {
            throw GraphQLArgumentError("this server keeps no history store: start it with --history postgres://user@host/database")
        }
        return history
    }
}

extension GraphQLResolver {
    static let day: Int64 = 86_400_000_000

    func priceHistory(context: GraphQLContext, arguments a: HistoryArguments) async throws -> [PricePoint]? {
        try context.requireStaff("priceHistory")
        let store = try context.historyStore()
        guard let id = a.securityId else { throw GraphQLArgumentError("priceHistory needs securityId") }
        var interval: BarInterval?
        if let text = a.interval {
            guard let parsed = BarInterval(parsing: text) else { throw GraphQLArgumentError("interval must be a width such as 30s, 1m, 5m, 1h or 1d") }
            interval = parsed
        }
        let securityId = context.readModel.read { $0.security(id)?.securityId } ?? id
        let json = try await store.prices(securityId: securityId, range: try a.range(span: 7 * Self.day), interval: interval)
        return try JSONDecoder().decode(HistoryPage<PricePoint>.self, from: Data(json.utf8)).items
    }

    func positionHistory(context: GraphQLContext, arguments a: HistoryArguments) async throws -> [PositionSnapshot]? {
        let store = try context.historyStore()
        guard a.bookId != nil || a.securityId != nil else { throw GraphQLArgumentError("positionHistory needs bookId, securityId or both") }
        var books: [String]?
        if let own = context.clientScope {
            let mine = context.readModel.read { $0.bookIds(ofClient: own) }
            if let bookId = a.bookId, !mine.contains(bookId) { return [] }
            books = mine
        }
        let securityId = a.securityId.map { id in context.readModel.read { $0.security(id)?.securityId } ?? id }
        let json = try await store.positions(bookId: a.bookId, securityId: securityId, books: books, range: try a.range(span: Self.day))
        return try JSONDecoder().decode(HistoryPage<PositionSnapshot>.self, from: Data(json.utf8)).items
    }

    func inventoryHistory(context: GraphQLContext, arguments a: HistoryArguments) async throws -> [InventorySnapshot]? {
        try context.requireStaff("inventoryHistory")
        let store = try context.historyStore()
        guard let id = a.securityId else { throw GraphQLArgumentError("inventoryHistory needs securityId") }
        let securityId = context.readModel.read { $0.security(id)?.securityId } ?? id
        let json = try await store.inventory(securityId: securityId, range: try a.range(span: Self.day))
        return try JSONDecoder().decode(HistoryPage<InventorySnapshot>.self, from: Data(json.utf8)).items
    }
}
