import Foundation
import HummingbirdWebSocket
import IMSDomain
import IMSEngine
import IMSRuntime
import NIOWebSocket
import Synchronization

/// One WebSocket connection to a stream: reads subscribe commands, writes snapshot, deltas and heartbeats.
///
/// Protocol (SPEC 6): the client sends `{"action":"subscribe","filter":{…}}` (empty filter: everything)
/// or `{"action":"unsubscribe"}`. The server answers with messages that all carry a per-connection
/// `sequence` rising by one, so a client that sees a jump knows it lost one:
///
/// ```text
/// {"type":"subscribed","sequence":1,"stream":"position","filter":{…}}
/// {"type":"snapshot","sequence":2,"engineSequence":s,"data":{…}}        one per item
/// {"type":"snapshotComplete","sequence":k,"engineSequence":s,"count":n}
/// {"type":"delta","sequence":k+1,"engineSequence":s,"receivedAt":µs,"data":{…}}
/// {"type":"heartbeat","sequence":…,"engineSequence":s}                  after `heartbeat` of silence
/// {"type":"lagging","sequence":…,"pending":n,"error":"…"}               too far behind: resubscribe
/// {"type":"error","sequence":…,"error":"…","field":"filter.x"}
/// ```
///
/// `data` has the fields of the matching REST resource. A delta carries the item's latest figures:
/// changes made while the client was slow are coalesced into one delta per item.
struct StreamSession<S: StreamDefinition> {
    let hub: StreamHub
    let subscriber: Subscription<S>
    private var sequence: Int64 = 0

    init(hub: StreamHub, subscriber: Subscription<S>) {
        self.hub = hub
        self.subscriber = subscriber
    }

    static func run(
        hub: StreamHub, identity: Identity? = nil, keys: APIKeyStore? = nil,
        inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter
    ) async throws {
        guard let subscriber = hub.register(S.self, owner: identity?.subject) else {
            // Over the cap: said once, then the connection closes (policy violation).
            let message = errorMessage(
                "\(identity?.subject ?? "") already has \(hub.limits.maxPerIdentity) streams open, the most one identity may; close one first", field: "streams"
            )
            try await outbound.write(.text(#"{"sequence":1,"# + message.dropFirst()))
            try await outbound.close(.policyViolation, reason: "too many streams")
            return
        }
        defer { hub.unregister(subscriber) }
        let scope = identity?.clientScope
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await message in inbound.messages(maxSize: 1 << 16) {
                    guard case .text(let text) = message else {
                        subscriber.notify(Self.errorMessage("send commands as text frames of JSON", field: nil))
                        continue
                    }
                    Self.handle(command: text, subscriber: subscriber, clientScope: scope)
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try await Task.sleep(for: hub.limits.heartbeat)
                    // A key revoked while its stream is open: said, then closed (policy violation), at the next
                    // heartbeat after the server sees the keys file change.
                    if let keyId = identity?.keyId, let keys, !keys.isActive(keyId: keyId) {
                        try await end(subscriber, outbound, "the API key \(keyId) was revoked; sign in again", field: "Authorization", reason: "key revoked")
                        return
                    }
                    subscriber.signal()
                }
            }
            group.addTask {
                var session = StreamSession(hub: hub, subscriber: subscriber)
                try await session.send(to: outbound)
            }
            if let expiry = identity?.expiresAt {
                // A token's stream ends when the token does: said, then closed (policy violation), so the
                // client signs in again instead of watching data it may no longer see.
                group.addTask {
                    // Bounded, whatever the date: verifiers refuse tokens beyond their maximum lifetime, and a
                    // date too far for the timer must never trap.
                    let left = min(expiry.timeIntervalSinceNow, 366 * 86_400)
                    if left > 0 { try await Task.sleep(for: .milliseconds(Int64(left * 1000) + 1)) }
                    try await end(
                        subscriber, outbound, "the bearer token expired at \(ISO8601DateFormatter().string(from: expiry)); sign in again", field: "token",
                        reason: "token expired")
                }
            }
            _ = try await group.next()
            group.cancelAll()
        }
    }

    /// Ends a stream whose credential no longer holds: the client is told why (through the sender, in order
    /// with the rest), then the connection is closed as a policy violation (1008).
    private static func end(_ subscriber: Subscription<S>, _ outbound: WebSocketOutboundWriter, _ message: String, field: String, reason: String) async throws {
        subscriber.notify(errorMessage(message, field: field))
        try await Task.sleep(for: .milliseconds(200))
        try await outbound.close(.policyViolation, reason: reason)
    }

    // MARK: Commands

    static func handle(command text: String, subscriber: Subscription<S>, clientScope: String? = nil) {
        // Read strictly first (a repeated key, such as two clientIds in a filter, is refused naming it).
        let notACommand = "a command is a JSON object such as {\"action\":\"subscribe\",\"filter\":{}}"
        do throws(StrictJSONError) { _ = try StrictJSON.parse(Array(text.utf8), limits: .requestBody) } catch {
            // A key at fault is named; a text that is not JSON at all is told what a command is.
            subscriber.notify(error.field == "body" ? errorMessage(notACommand, field: nil) : errorMessage(error.message, field: error.field))
            return
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
            subscriber.notify(errorMessage(notACommand, field: nil))
            return
        }
        switch object["action"] as? String {
        case "subscribe":
            do throws(BadFilter) {
                subscriber.subscribe(try filter(object["filter"], clientScope: clientScope))
            } catch {
                subscriber.notify(errorMessage(error.message, field: error.field))
            }
        case "unsubscribe":
            subscriber.unsubscribe()
        default:
            subscriber.notify(errorMessage("action must be subscribe or unsubscribe", field: "action"))
        }
    }

    /// The filter a subscribe command asks for: string values under the stream's keys. For a client
    /// (`clientScope`), streams with a `clientId` key are narrowed to its own client: `{}` means its own
    /// data, and naming another client is refused.
    static func filter(_ value: Any?, clientScope: String? = nil) throws(BadFilter) -> S.Filter {
        var fields: [String: String] = [:]
        let allowed = S.filterKeys
        if let value, !(value is NSNull) {
            guard let dict = value as? [String: Any] else { throw BadFilter(message: "filter must be an object", field: "filter") }
            for (key, v) in dict {
                guard allowed.contains(key) else {
                    throw BadFilter(
                        message: "unknown filter key \(key) for the \(S.name) stream; use \(allowed.joined(separator: ", "))", field: "filter.\(key)")
                }
                guard let s = v as? String else { throw BadFilter(message: "must be a string", field: "filter.\(key)") }
                // Every filter value is an id, a market or a name: none is longer than an identifier may be.
                guard s.utf8.count <= InputBounds.maxIdentifierBytes else {
                    throw BadFilter(message: "\(key) is longer than \(InputBounds.maxIdentifierBytes) bytes", field: "filter.\(key)")
                }
                fields[key] = s
            }
        }
        if let own = clientScope, allowed.contains("clientId") {
            if let named = fields["clientId"], !named.isEmpty, named != own {
                throw BadFilter(message: AccessPolicy.notOwnClient(own: own, named: named), field: "filter.clientId")
            }
            fields["clientId"] = own
        }
        return try S.filter(fields, clientView: clientScope != nil)
    }

    static func errorMessage(_ message: String, field: String?) -> String {
        var s = #"{"type":"error","error":"# + JSONText.quoted(message)
        if let field { s += #","field":"# + JSONText.quoted(field) }
        return s + "}"
    }

    // MARK: Sending

    /// What the sender takes from the subscription in one turn.
    private struct Turn: Sendable {
        var notices: [String] = []
        var action = SubscriptionPhase<S.Filter>.Turn.nothing
        var keys: [(key: S.Key, since: Timestamp)] = []
        /// Items are left for another turn.
        var more = false
    }

    /// Items sent per turn at most; a slow client's backlog stays in its pending set, as keys.
    static var turnItems: Int { 1_000 }

    mutating func send(to outbound: WebSocketOutboundWriter) async throws {
        let clock = ContinuousClock()
        var lastSent = clock.now
        for await _ in subscriber.signals {
            let turn = take()
            var messages = turn.notices.map { stamped($0) }
            switch turn.action {
            case .snapshot(let filter):
                for m in messages { try await outbound.write(.text(m)) }
                messages = []
                try await sendSnapshot(filter, to: outbound)
                lastSent = clock.now
            case .laggingNotice(let pending):
                messages.append(
                    stamped(
                        #"{"type":"lagging","pending":\#(pending),"error":"this connection fell more than \#(hub.limits.maxPendingItems) changed items behind; deltas stopped; send subscribe again for a fresh snapshot"}"#
                    ))
            case .deltas(let filter):
                messages += try await deltas(turn.keys, filter: filter)
            case .nothing:
                break
            }
            if messages.isEmpty {
                if case .snapshot = turn.action { continue }
                guard clock.now - lastSent >= hub.limits.heartbeat else { continue }
                let engineSequence = hub.engine.readModel.read { $0.lastSequence }
                messages.append(stamped(#"{"type":"heartbeat","engineSequence":\#(engineSequence)}"#))
            }
            for m in messages { try await outbound.write(.text(m)) }
            lastSent = clock.now
            if turn.more { subscriber.signal() }
        }
    }

    private func take() -> Turn {
        subscriber.state.withLock { s -> Turn in
            var turn = Turn()
            turn.notices = s.notices
            s.notices = []
            turn.action = s.phase.takeTurn()
            guard case .deltas = turn.action else { return turn }
            // At most `turnItems` items per turn, oldest first, so one turn's messages stay small; the rest
            // wait for the next.
            turn.keys = s.pending.take(Self.turnItems)
            turn.more = !s.pending.isEmpty
            return turn
        }
    }

    private mutating func stamped(_ message: String) -> String {
        sequence += 1
        // Every message is an object; the sequence goes right after its opening brace.
        return #"{"sequence":\#(sequence),"# + message.dropFirst()
    }

    /// Items rendered and written per chunk of a snapshot. A snapshot is written a chunk at a time, each
    /// write awaited, so a client that reads slowly (or never) holds at most one chunk of JSON and the list of
    /// its items' keys, not the whole snapshot; changes made meanwhile reach it as deltas.
    static var snapshotChunk: Int { 256 }

    /// The snapshot: the keys of what matches, taken at once, then each chunk rendered on the read pool from
    /// the read model as it is then.
    private mutating func sendSnapshot(_ filter: S.Filter, to outbound: WebSocketOutboundWriter) async throws {
        let limit = hub.limits.maxSnapshotItems
        let store = hub.engine.readModel
        let subscriber = subscriber
        let (firstSequence, keys) = store.read { model in
            subscriber.snapshotRead(through: model.feedSequence)
            return (model.lastSequence, S.snapshotKeys(filter: filter, model: model, limit: limit))
        }
        let fields = S.fields(of: filter).map { "\"\($0.name)\":" + JSONText.quoted($0.value) }.joined(separator: ",")
        try await outbound.write(.text(stamped(#"{"type":"subscribed","stream":"\#(S.name)","filter":{\#(fields)}}"#)))
        var count = 0
        var engineSequence = firstSequence
        for start in stride(from: 0, to: keys.count, by: Self.snapshotChunk) {
            try Task.checkCancellation()
            let chunk = keys[start..<min(start + Self.snapshotChunk, keys.count)]
            let (sequence, items) = try await ReadPool.shared.run(.stream) {
                store.read { model in
                    var items: [String] = []
                    for key in chunk { _ = S.render(key, filter: filter, model: model, into: &items) }
                    return (model.lastSequence, items)
                }
            }
            engineSequence = sequence
            for item in items { try await outbound.write(.text(stamped(#"{"type":"snapshot","engineSequence":\#(engineSequence),"data":\#(item)}"#))) }
            count += items.count
        }
        try await outbound.write(.text(stamped(#"{"type":"snapshotComplete","engineSequence":\#(engineSequence),"count":\#(count)}"#)))
    }

    /// What a turn's deltas read from the read model, built on the read pool.
    private struct Rendered: Sendable {
        /// Each item's JSON and the receive time of the earliest change it shows that was not sent before.
        var items: [(json: String, since: Timestamp)] = []
        var engineSequence: Int64 = 0
        /// Some items were gone before they could be sent.
        var gone = false
    }

    private mutating func deltas(_ keys: [(key: S.Key, since: Timestamp)], filter: S.Filter) async throws -> [String] {
        guard !keys.isEmpty else { return [] }
        let store = hub.engine.readModel
        let rendered = try await ReadPool.shared.run(.stream) {
            var r = Rendered()
            store.read { model in
                r.engineSequence = model.lastSequence
                r.items.reserveCapacity(keys.count)
                var items: [String] = []
                for (key, since) in keys {
                    items.removeAll(keepingCapacity: true)
                    if !S.render(key, filter: filter, model: model, into: &items) { r.gone = true }
                    for json in items { r.items.append((json, since)) }
                }
            }
            return r
        }
        var out: [String] = []
        out.reserveCapacity(rendered.items.count + 1)
        if rendered.gone, let notice = S.goneNotice {
            out.append(stamped(#"{"type":"lagging","pending":0,"error":"# + JSONText.quoted(notice) + "}"))
        }
        let head = #"{"type":"delta","engineSequence":\#(rendered.engineSequence),"receivedAt":"#
        for item in rendered.items { out.append(stamped(head + String(item.since.micros) + #","data":"# + item.json + "}")) }
        return out
    }
}
