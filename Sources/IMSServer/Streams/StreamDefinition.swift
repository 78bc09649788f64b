import Foundation
import HummingbirdWebSocket
import IMSDomain
import IMSEngine

/// One kind of WebSocket stream (SPEC 6), registered once in `StreamRegistry.streams`.
///
/// A stream says in one type what is particular to it: its path, the keys its filter takes and how they
/// parse, which items a change record touched, which items a snapshot starts with, and how an item renders.
/// Everything else is shared and generic over it: the hub's routing (`Subscription.mark`), the pending set
/// that coalesces keys (`PendingKeys`), the snapshot's chunk loop and the deltas (`StreamSession`), the
/// route, the access policy and the metrics. Adding a stream is one conforming type and its line in the
/// registry. The same protocol is the shape for the outputs to come (the Kafka topics): keys changed per
/// record, rendered from the read model.
protocol StreamDefinition: Sendable {
    /// What a subscriber asked for, parsed.
    associatedtype Filter: Sendable & Hashable
    /// One item of the stream: what coalesces (a key changed ten times while the client was slow is sent once).
    associatedtype Key: Hashable & Sendable

    /// The stream's name: its path is `/ws/<name>`, its metrics' `stream` label.
    static var name: String { get }
    /// The keys a filter may have. A stream with `clientId` among them is narrowed to the caller's own client
    /// when the caller is a client.
    static var filterKeys: [String] { get }
    /// The filter a subscribe command's fields ask for (already narrowed to a client's own `clientId`);
    /// `clientView` is true for a client's stream.
    static func filter(_ fields: [String: String], clientView: Bool) throws(BadFilter) -> Filter
    /// The filter's fields as the `subscribed` message repeats them.
    static func fields(of filter: Filter) -> [(name: String, value: String)]

    /// The items `record` changed that `filter` passes, each with the receive time its delta reports
    /// (`at`: the earliest event of the record, unless the item has a time of its own). Called on the hub's
    /// thread under the read model's read lock, after the read model applied the record.
    static func changedKeys(
        in record: ChangeRecord, filter: Filter, model: borrowing ReadModel, at: Timestamp,
        into keys: inout [(Key, Timestamp)])
    /// The items a snapshot starts with, at most `limit`.
    static func snapshotKeys(filter: Filter, model: borrowing ReadModel, limit: Int) -> [Key]
    /// An item's JSON, as its REST resource reads (several for an item shown per scope; none when the item
    /// is gone or no longer passes the filter), appended to `items`. Returns false when the item is gone for
    /// good (dropped from a bounded list), so the client can be told.
    static func render(_ key: Key, filter: Filter, model: borrowing ReadModel, into items: inout [String]) -> Bool
    /// What a client is told when items were gone before they could be sent (nil: items are never gone).
    static var goneNotice: String? { get }
    /// The fields of a rendered item that identify it (their values, joined by `/`, key its Kafka record).
    static var idFields: [String] { get }
    /// Whether a client (role `client`) may open the stream: its data is narrowed to its own client by the
    /// `clientId` filter key, or is not confidential. The access policy's rules for `/ws/` follow it; staff
    /// may open every stream.
    static var openToClients: Bool { get }
    /// The filters whose items together are everything the stream holds, for the Kafka publisher (the
    /// empty filter's, unless the stream needs a scope: the limits stream lists every unit and client).
    static func everyFilter(model: borrowing ReadModel) -> [Filter]
}

extension StreamDefinition {
    static var goneNotice: String? { nil }
    static var openToClients: Bool { true }

    static func everyFilter(model: borrowing ReadModel) -> [Filter] {
        (try? filter([:], clientView: false)).map { [$0] } ?? []
    }

    /// Opens a session of this stream on a WebSocket (the route calls it through the registry's existential).
    static func serve(
        hub: StreamHub, identity: Identity?, keys: APIKeyStore?, inbound: WebSocketInboundStream,
        outbound: WebSocketOutboundWriter
    ) async throws {
        try await StreamSession<Self>.run(hub: hub, identity: identity, keys: keys, inbound: inbound, outbound: outbound)
    }
}

/// Every stream, in the order their routes are added and their metrics listed.
enum StreamRegistry {
    static let streams: [any StreamDefinition.Type] = [
        PositionStream.self, MarketDataStream.self, ExceptionsStream.self, InventoryStream.self, LocateStream.self,
        LimitsStream.self,
    ]

    /// The streams' names (paths `/ws/<name>`).
    static var names: [String] { streams.map { $0.name } }

    /// The filter keys of the stream named `name`.
    static func filterKeys(_ name: String) -> [String]? { streams.first { $0.name == name }?.filterKeys }
}

/// A subscribe command's filter the stream cannot take: the message and the field at fault (`filter.<key>`).
struct BadFilter: Error {
    var message: String
    var field: String
}
