import Foundation
import HummingbirdWebSocket
import NIOWebSocket
import IMSDomain
import IMSEngine
import IMSRuntime
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
struct StreamSession {
    let hub: StreamHub
    let subscriber: Subscriber
    private var sequence: Int64 = 0
    private let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    static func run(_ kind: StreamKind, hub: StreamHub, identity: Identity? = nil, keys: APIKeyStore? = nil,
                    inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        guard let subscriber = hub.register(kind: kind, owner: identity?.subject) else {
            // Over the cap: said once, then the connection closes (policy violation).
            let message = errorMessage("\(identity?.subject ?? "") already has \(hub.limits.maxPerIdentity) streams open, the most one identity may; close one first", field: "streams")
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
                    Self.handle(command: text, kind: kind, subscriber: subscriber, clientScope: scope)
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
                    try await end(subscriber, outbound, "the bearer token expired at \(ISO8601DateFormatter().string(from: expiry)); sign in again", field: "token", reason: "token expired")
                }
            }
            _ = try await group.next()
            group.cancelAll()
        }
    }

    /// Ends a stream whose credential no longer holds: the client is told why (through the sender, in order
    /// with the rest), then the connection is closed as a policy violation (1008).
    private static func end(_ subscriber: Subscriber, _ outbound: WebSocketOutboundWriter, _ message: String, field: String, reason: String) async throws {
        subscriber.notify(errorMessage(message, field: field))
        try await Task.sleep(for: .milliseconds(200))
        try await outbound.close(.policyViolation, reason: reason)
    }

    // MARK: Commands

    static func handle(command text: String, kind: StreamKind, subscriber: Subscriber, clientScope: String? = nil) {
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
            do {
                subscriber.subscribe(try filter(kind, object["filter"], clientScope: clientScope))
            } catch let error as BadFilter {
                subscriber.notify(errorMessage(error.message, field: error.field))
            } catch {
                subscriber.notify(errorMessage("\(error)", field: "filter"))
            }
        case "unsubscribe":
            subscriber.unsubscribe()
        default:
            subscriber.notify(errorMessage("action must be subscribe or unsubscribe", field: "action"))
        }
    }

    struct BadFilter: Error {
        var message: String
        var field: String
    }

    static let filterKeys: [StreamKind: [String]] = [
        .position: PositionFilter.fields.map(\.name),
        .marketData: MarketDataFilter.fields.map(\.name),
        .exceptions: ["kind"],
        .inventory: InventoryFilter.fieldNames,
        .locate: LocateFilter.fieldNames,
    ]

    /// The filter a subscribe command asks for. For a client (`clientScope`), streams with a `clientId` key
    /// are narrowed to its own client: `{}` means its own data, and naming another client is refused.
    static func filter(_ kind: StreamKind, _ value: Any?, clientScope: String? = nil) throws -> StreamFilter {
        var fields: [String: String] = [:]
        let allowed = filterKeys[kind] ?? []
        if let value, !(value is NSNull) {
            guard let dict = value as? [String: Any] else { throw BadFilter(message: "filter must be an object", field: "filter") }
            for (key, v) in dict {
                guard allowed.contains(key) else {
                    throw BadFilter(message: "unknown filter key \(key) for the \(kind.rawValue) stream; use \(allowed.joined(separator: ", "))", field: "filter.\(key)")
                }
                guard let s = v as? String else { throw BadFilter(message: "must be a string", field: "filter.\(key)") }
                fields[key] = s
            }
        }
        if let own = clientScope, allowed.contains("clientId") {
            if let named = fields["clientId"], !named.isEmpty, named != own {
                throw BadFilter(message: AccessPolicy.notOwnClient(own: own, named: named), field: "filter.clientId")
            }
            fields["clientId"] = own
        }
        switch kind {
        case .position:
            do {
                return .position(try PositionFilter(values: { fields[$0] }))
            } catch {
                throw BadFilter(message: error.message, field: "filter.\(error.field)")
            }
        case .marketData:
            return .marketData(MarketDataFilter(values: { fields[$0] }))
        case .inventory:
            let scope: InventoryScope?
            do throws(ScopeChoiceError) {
                scope = try InventoryScope.named(aggregationUnitId: fields["aggregationUnitId"], legalEntity: fields["legalEntity"], clientId: fields["clientId"])
            } catch {
                throw BadFilter(message: error.message, field: "filter.\(error.field)")
            }
            var by: ScopeKind?
            if let b = fields["by"] {
                guard let kind = InventoryFilter.byNames.first(where: { $0.name == b })?.kind else {
                    throw BadFilter(message: "by must be \(InventoryFilter.byNames.map(\.name).joined(separator: " or "))", field: "filter.by")
                }
                by = kind
                if scope != nil {
                    throw BadFilter(message: "by shows every \(b)'s share; it cannot be combined with a legalEntity, aggregationUnitId or clientId", field: "filter.by")
                }
            }
            return .inventory(InventoryFilter(securityId: fields["securityId"], marketId: fields["marketId"], scope: scope, by: by))
        case .locate:
            var status: LocateRecord.Status?
            if let s = fields["status"] {
                guard let v = LocateRecord.Status(rawValue: s) else {
                    throw BadFilter(message: "unknown status \(s); use \(LocateRecord.Status.allCases.map(\.rawValue).joined(separator: ", "))", field: "filter.status")
                }
                status = v
            }
            var locateFilter = LocateFilter(clientId: fields["clientId"], securityId: fields["securityId"], status: status, marketId: fields["marketId"])
            locateFilter.clientView = clientScope != nil
            return .locate(locateFilter)
        case .exceptions:
            guard let k = fields["kind"] else { return .exceptions(nil) }
            guard let kind = ExceptionKind(rawValue: k) else { throw BadFilter(message: "unknown exception kind \(k)", field: "filter.kind") }
            return .exceptions(kind)
        }
    }

    static func errorMessage(_ message: String, field: String?) -> String {
        var s = #"{"type":"error","error":"# + EventRoutes.jsonString(message)
        if let field { s += #","field":"# + EventRoutes.jsonString(field) }
        return s + "}"
    }

    // MARK: Sending

    /// What the sender takes from the subscriber's state in one turn.
    private struct Turn: Sendable {
        var notices: [String] = []
        var snapshot: StreamFilter?
        var positions: [(key: Int32, since: Timestamp)] = []
        var prices: [(key: Int32, since: Timestamp)] = []
        var currencies: [(key: String, since: Timestamp)] = []
        var inventory: [(key: Int32, since: Timestamp)] = []
        var locates: [(key: Int32, since: Timestamp)] = []
        /// The inventory filter, whose scope (or `by`) says whose share items show.
        var inventoryFilter: InventoryFilter?
        /// Locates are shown as their client sees them (a client's stream).
        var locateClientView = false
        var exceptions: (filter: ExceptionKind?, after: Int64)?
        /// Exceptions already sent that changed since (acknowledged, or given their line's text).
        var updatedExceptions: [Int64] = []
        var lagging: Int?
        /// Items are left for another turn.
        var more = false
    }

    /// Items sent per turn at most; a slow client's backlog stays in its pending sets, as keys.
    static let turnItems = 1_000

    mutating func send(to outbound: WebSocketOutboundWriter) async throws {
        let clock = ContinuousClock()
        var lastSent = clock.now
        for await _ in subscriber.signals {
            let turn = take()
            var messages = turn.notices.map { stamped($0) }
            if let lagging = turn.lagging {
                messages.append(stamped(#"{"type":"lagging","pending":\#(lagging),"error":"this connection fell more than \#(hub.limits.maxPendingItems) changed items behind; deltas stopped; send subscribe again for a fresh snapshot"}"#))
            }
            if let filter = turn.snapshot {
                for m in messages { try await outbound.write(.text(m)) }
                messages = []
                try await sendSnapshot(filter, to: outbound)
                lastSent = clock.now
            } else if turn.lagging == nil {
                messages += try await deltas(turn)
            }
            if messages.isEmpty {
                guard turn.snapshot == nil, clock.now - lastSent >= hub.limits.heartbeat else { continue }
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
            if s.snapshotRequested {
                s.snapshotRequested = false
                s.active = true
                turn.snapshot = s.filter
                return turn
            }
            if let lagging = s.lagging, s.active {
                turn.lagging = lagging
                s.active = false
                return turn
            }
            // At most `turnItems` items per turn, oldest first, so one turn's messages stay small; the rest
            // wait for the next.
            turn.positions = s.positions.take(Self.turnItems)
            turn.prices = s.prices.take(Self.turnItems - turn.positions.count)
            turn.currencies = s.currencies.take(Self.turnItems - turn.positions.count - turn.prices.count)
            turn.inventory = s.inventory.take(Self.turnItems - turn.positions.count - turn.prices.count - turn.currencies.count)
            turn.locates = s.locates.take(Self.turnItems - turn.positions.count - turn.prices.count - turn.currencies.count - turn.inventory.count)
            if case .inventory(let f)? = s.filter { turn.inventoryFilter = f }
            if case .locate(let f)? = s.filter { turn.locateClientView = f.clientView }
            turn.more = s.pendingCount > 0
            if s.exceptionsPending, case .exceptions(let kind)? = s.filter {
                turn.exceptions = (kind, s.lastExceptionId)
                turn.updatedExceptions = s.updatedExceptions.sorted()
                s.updatedExceptions.removeAll()
                s.exceptionsPending = false
            }
            return turn
        }
    }

    private mutating func stamped(_ message: String) -> String {
        sequence += 1
        // Every message is an object; the sequence goes right after its opening brace.
        return #"{"sequence":\#(sequence),"# + message.dropFirst()
    }

    private func json<T: Encodable>(_ value: T) -> String {
        (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    /// Items rendered and written per chunk of a snapshot. A snapshot is written a chunk at a time, each
    /// write awaited, so a client that reads slowly (or never) holds at most one chunk of JSON and the list of
    /// its items' keys, not the whole snapshot; changes made meanwhile reach it as deltas.
    static let snapshotChunk = 256

    private mutating func sendSnapshot(_ filter: StreamFilter, to outbound: WebSocketOutboundWriter) async throws {
        let limit = hub.limits.maxSnapshotItems
        // The keys of what matches, taken at once; each chunk is rendered from the state as it is then.
        var positions: [Int32] = [], prices: [Int32] = [], currencies: [String] = []
        var securities: [Int32] = [], locateItems: [Int32] = []
        var inventoryFilter = InventoryFilter()
        var locateClientView = false
        var exceptionItems: [String] = []
        var lastExceptionId: Int64?
        hub.engine.readModel.read { state in
            switch filter {
            case .position(let f):
                positions = Array(state.positionIndices(matching: f).prefix(limit))
            case .marketData:
                (prices, currencies) = state.marketDataKeys()
            case .inventory(let f):
                securities = Array(state.inventoryIndices(matching: f).prefix(limit))
                inventoryFilter = f
            case .locate(let f):
                locateItems = Array(state.locateIndices(matching: f).prefix(limit))
                locateClientView = f.clientView
            case .exceptions(let kind):
                let recent = state.exceptions(afterId: max(0, state.nextExceptionIdentifier - 1 - 100), kind: kind, limit: 100)
                for e in recent { exceptionItems.append(json(e)) }
                lastExceptionId = state.nextExceptionIdentifier - 1
            }
        }
        if let lastExceptionId { subscriber.state.withLock { $0.lastExceptionId = lastExceptionId } }
        try await outbound.write(.text(stamped(#"{"type":"subscribed","stream":"\#(subscriber.kind.rawValue)","filter":\#(filterJSON(filter))}"#)))
        var count = 0
        var engineSequence = hub.engine.readModel.read { $0.lastSequence }
        func write(_ items: [String], at sequence: Int64) async throws {
            for item in items { try await outbound.write(.text(stamped(#"{"type":"snapshot","engineSequence":\#(sequence),"data":\#(item)}"#))) }
            count += items.count
        }
        try await write(exceptionItems, at: engineSequence)
        for start in stride(from: 0, to: positions.count, by: Self.snapshotChunk) {
            try Task.checkCancellation()
            let chunk = positions[start..<min(start + Self.snapshotChunk, positions.count)]
            let store = hub.engine.readModel
            let (sequence, items) = try await ReadPool.shared.run(.stream) {
                store.read { state in (state.lastSequence, chunk.map { state.positionView(at: $0).json }) }
            }
            engineSequence = sequence
            try await write(items, at: engineSequence)
        }
        for start in stride(from: 0, to: securities.count, by: Self.snapshotChunk) {
            try Task.checkCancellation()
            let chunk = securities[start..<min(start + Self.snapshotChunk, securities.count)]
            let store = hub.engine.readModel, filter = inventoryFilter
            let (sequence, items) = try await ReadPool.shared.run(.stream) {
                store.read { state in (state.lastSequence, chunk.flatMap { state.inventoryItems($0, filter: filter) }) }
            }
            engineSequence = sequence
            try await write(items, at: engineSequence)
        }
        for start in stride(from: 0, to: locateItems.count, by: Self.snapshotChunk) {
            try Task.checkCancellation()
            let chunk = locateItems[start..<min(start + Self.snapshotChunk, locateItems.count)]
            let store = hub.engine.readModel, forClient = locateClientView
            let (sequence, items) = try await ReadPool.shared.run(.stream) {
                store.read { state in (state.lastSequence, chunk.compactMap { state.locateJSON($0, forClient: forClient) }) }
            }
            engineSequence = sequence
            try await write(items, at: engineSequence)
        }
        if case .marketData(let f) = filter {
            var next = 0
            while next < prices.count + currencies.count && count < limit {
                let upper = min(next + Self.snapshotChunk, prices.count + currencies.count)
                let items: [String] = hub.engine.readModel.read { state in
                    engineSequence = state.lastSequence
                    return (next..<upper).compactMap { i in
                        let view = i < prices.count ? state.priceView(security: prices[i]) : state.fxView(currency: currencies[i - prices.count])
                        guard let view, state.marketData(view, matches: f) else { return nil }
                        return json(view)
                    }
                }
                try await write(Array(items.prefix(limit - count)), at: engineSequence)
                next = upper
            }
        }
        try await outbound.write(.text(stamped(#"{"type":"snapshotComplete","engineSequence":\#(engineSequence),"count":\#(count)}"#)))
    }

    /// What a turn's deltas read from the read model, built on the read pool.
    private struct Rendered: Sendable {
        /// Each item's JSON and the receive time of the earliest change it shows that was not sent before.
        var items: [(json: String, since: Timestamp)] = []
        var engineSequence: Int64 = 0
        var lastExceptionId: Int64?
        var lostExceptions = false
    }

    private mutating func deltas(_ turn: Turn) async throws -> [String] {
        guard !turn.positions.isEmpty || !turn.prices.isEmpty || !turn.currencies.isEmpty || !turn.inventory.isEmpty || !turn.locates.isEmpty
            || turn.exceptions != nil else { return [] }
        let store = hub.engine.readModel
        let rendered = try await ReadPool.shared.run(.stream) { Self.render(turn, from: store) }
        if let lastExceptionId = rendered.lastExceptionId { subscriber.state.withLock { $0.lastExceptionId = lastExceptionId } }
        var out: [String] = []
        out.reserveCapacity(rendered.items.count + 1)
        if rendered.lostExceptions {
            out.append(stamped(#"{"type":"lagging","pending":0,"error":"exceptions were dropped from the list before they could be sent; resubscribe for the current list"}"#))
        }
        let head = #"{"type":"delta","engineSequence":\#(rendered.engineSequence),"receivedAt":"#
        for item in rendered.items { out.append(stamped(head + String(item.since.micros) + #","data":"# + item.json + "}")) }
        return out
    }

    private static func render(_ turn: Turn, from store: ReadModelStore) -> Rendered {
        var r = Rendered()
        store.read { state in
            r.engineSequence = state.lastSequence
            r.items.reserveCapacity(turn.positions.count + turn.prices.count + turn.currencies.count)
            for (p, since) in turn.positions { r.items.append((state.positionView(at: p).json, since)) }
            for (s, since) in turn.prices { if let v = state.priceView(security: s) { r.items.append((encode(v), since)) } }
            for (c, since) in turn.currencies { if let v = state.fxView(currency: c) { r.items.append((encode(v), since)) } }
            if let f = turn.inventoryFilter {
                for (s, since) in turn.inventory { for json in state.inventoryItems(s, filter: f) { r.items.append((json, since)) } }
            }
            for (l, since) in turn.locates { if let json = state.locateJSON(l, forClient: turn.locateClientView) { r.items.append((json, since)) } }
            if let (kind, after) = turn.exceptions {
                for id in turn.updatedExceptions where id <= after {
                    if let e = state.exception(id), kind == nil || e.kind == kind { r.items.append((encode(e), e.receivedAt)) }
                }
                let next = state.nextExceptionIdentifier
                let all = state.exceptions(afterId: after, kind: nil, limit: Int(min(next - after, 100_000)))
                if let first = all.first, first.exceptionId > after + 1 { r.lostExceptions = true }
                for e in all where kind == nil || e.kind == kind { r.items.append((encode(e), e.receivedAt)) }
                r.lastExceptionId = next - 1
            }
        }
        return r
    }

    private static func encode<T: Encodable>(_ value: T) -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return (try? e.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    private func filterJSON(_ filter: StreamFilter) -> String {
        var fields: [(String, String)] = []
        switch filter {
        case .position(let f):
            fields = f.values.map { ($0.name, $0.value) }
        case .marketData(let f):
            fields = f.values.map { ($0.name, $0.value) }
        case .exceptions(let kind):
            if let kind { fields = [("kind", kind.rawValue)] }
        case .inventory(let f):
            fields = f.values.map { ($0.name, $0.value) }
        case .locate(let f):
            fields = f.values.map { ($0.name, $0.value) }
        }
        return "{" + fields.map { "\"\($0.0)\":" + EventRoutes.jsonString($0.1) }.joined(separator: ",") + "}"
    }
}

