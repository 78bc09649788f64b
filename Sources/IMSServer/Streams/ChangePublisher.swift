import Foundation
import IMSDomain
import IMSEngine
import IMSRuntime
import Logging

/// Where the change feed's items go outside the process: topics of a message broker (Kafka, with the
/// `Kafka` trait). `send` returns once every record is acknowledged, or throws.
public protocol TopicSink: AnyObject, Sendable {
    func send(_ records: [(topic: String, key: String, value: [UInt8])]) throws
}

/// Publishes every stream's items to topics as they change (`<prefix>.<stream>`: `ims.position`,
/// `ims.inventory`, `ims.limits`, `ims.locate`, `ims.exceptions`, `ims.market-data`), and the orders and the audit trail
/// (`ims.orders`, `ims.audit`), keyed by the item's
/// id, each value `{"record":N,"stream":S,"item":{…}}` where `item` is the REST resource's JSON and `N` the
/// last journal record it reflects, so a consumer keeps the item with the highest `N`.
///
/// It is a consumer of the change feed with its own cursor, after the read model's: a slow or absent broker
/// never slows the writer. It retries a failed send every second; if it falls off the feed meanwhile, it
/// publishes every item once it can (as it does when this node becomes the leader), so nothing is left
/// stale. With a replicated journal only the leader publishes. Its lag is the `kafka-publisher` consumer's
/// in `/health` and `ims_feed_consumer_lag_records`.
public enum ChangePublisher {
    /// Starts publishing `engine`'s changes to `sink`.
    public static func start(engine: Engine, sink: any TopicSink, prefix: String, replication: (any ReplicationState)?, logger: Logger) {
        let cursor = engine.feed.cursor(named: "kafka-publisher", after: engine.readModel.cursor)
        let state = PublisherState()
        cursor.consume(on: "ims-publisher") { read in
            let leads = replication.map { $0.replicaStatus.role == .leader } ?? true
            if !leads {
                state.wasLeader = false
                return true
            }
            var out: [(topic: String, key: String, value: [UInt8])] = []
            if !state.wasLeader || state.stale {
                // Everything, as the model holds it now: on becoming the leader, and after falling off the feed.
                engine.readModel.read { model in
                    for stream in StreamRegistry.streams { everything(stream, model: model, prefix: prefix, into: &out) }
                    everyRecord(model: model, prefix: prefix, into: &out)
                }
                state.wasLeader = true
                state.stale = false
            }
            switch read {
            case .records(let records):
                engine.readModel.read { model in
                    for record in records {
                        for stream in StreamRegistry.streams { changed(stream, in: record, model: model, prefix: prefix, into: &out) }
                        orderAndAudit(orders: record.orders, audit: record.audit, record: record.lastRecord, prefix: prefix, into: &out)
                    }
                }
            case .lagged(let missed):
                logger.warning("the Kafka publisher fell off the change feed; it publishes every item again", metadata: ["missed": "\(missed)"])
                engine.readModel.read { model in
                    for stream in StreamRegistry.streams { everything(stream, model: model, prefix: prefix, into: &out) }
                    everyRecord(model: model, prefix: prefix, into: &out)
                }
            case .timedOut, .closed: break
            }
            guard !out.isEmpty else { return true }
            while true {
                do {
                    try sink.send(out)
                    return true
                } catch {
                    logger.warning("publishing to Kafka failed; retrying in 1 s", metadata: ["error": "\(error)", "records": "\(out.count)"])
                    Thread.sleep(forTimeInterval: 1)
                    if engine.feed.lastPublished > cursor.position + UInt64(engine.feed.capacity / 2) {
                        // Too far behind to catch up record by record: publish everything once the broker is back.
                        state.stale = true
                        return true
                    }
                }
            }
        }
    }

    private static func topic(_ prefix: String, _ stream: String) -> String { "\(prefix).\(stream)" }

    /// Orders and the audit trail are records, not streams: each order validated or expired goes to
    /// `<prefix>.orders` keyed `clientId/orderId`, each audit entry to `<prefix>.audit` keyed by its id, with the
    /// REST resources' JSON.
    private static func orderAndAudit(
        orders: [OrderRecord], audit: [AuditEntry], record: UInt64, prefix: String, into out: inout [(topic: String, key: String, value: [UInt8])]
    ) {
        for order in orders {
            let value = #"{"record":\#(record),"stream":"orders","item":\#(OrderView(order).json)}"#
            out.append((topic(prefix, "orders"), "\(order.clientId)/\(order.orderId)", Array(value.utf8)))
        }
        for entry in audit {
            let value = #"{"record":\#(record),"stream":"audit","item":\#(JSONResponse.text(entry))}"#
            out.append((topic(prefix, "audit"), "\(entry.auditId)", Array(value.utf8)))
        }
    }

    /// Every order of the day and every audit entry kept, as the model holds them now.
    private static func everyRecord(model: borrowing ReadModel, prefix: String, into out: inout [(topic: String, key: String, value: [UInt8])]) {
        orderAndAudit(
            orders: model.orders.latest { _ in true }, audit: model.auditEntries(AuditFilter(), limit: .max).entries, record: model.appliedRecord,
            prefix: prefix,
            into: &out)
    }

    private static func changed<S: StreamDefinition>(
        _ stream: S.Type, in record: ChangeRecord, model: borrowing ReadModel, prefix: String, into out: inout [(topic: String, key: String, value: [UInt8])]
    ) {
        for filter in S.everyFilter(model: model) {
            var keys: [(S.Key, Timestamp)] = []
            S.changedKeys(in: record, filter: filter, model: model, at: record.earliestReceivedAt, into: &keys)
            append(stream, keys: keys.map(\.0), filter: filter, record: record.lastRecord, model: model, prefix: prefix, into: &out)
        }
    }

    private static func everything<S: StreamDefinition>(
        _ stream: S.Type, model: borrowing ReadModel, prefix: String, into out: inout [(topic: String, key: String, value: [UInt8])]
    ) {
        for filter in S.everyFilter(model: model) {
            let keys = S.snapshotKeys(filter: filter, model: model, limit: .max)
            append(stream, keys: keys, filter: filter, record: model.appliedRecord, model: model, prefix: prefix, into: &out)
        }
    }

    private static func append<S: StreamDefinition>(
        _ stream: S.Type, keys: [S.Key], filter: S.Filter, record: UInt64, model: borrowing ReadModel, prefix: String,
        into out: inout [(topic: String, key: String, value: [UInt8])]
    ) {
        var items: [String] = []
        for key in keys {
            items.removeAll(keepingCapacity: true)
            _ = S.render(key, filter: filter, model: model, into: &items)
            for item in items {
                let value = #"{"record":\#(record),"stream":"\#(S.name)","item":\#(item)}"#
                out.append((topic(prefix, S.name), itemKey(item, fields: S.idFields), Array(value.utf8)))
            }
        }
    }

    /// The item's id: its id fields' values, joined by `/`.
    static func itemKey(_ item: String, fields: [String]) -> String {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(item.utf8))) as? [String: Any] else { return "" }
        return fields.compactMap { object[$0].map { "\($0)" } }.joined(separator: "/")
    }
}

/// The publisher's memory between reads (its thread's only).
private final class PublisherState: @unchecked Sendable {
    var wasLeader = false
    var stale = false
}
