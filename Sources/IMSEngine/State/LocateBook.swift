import Foundation
import IMSDomain
import IMSRules

/// One locate: what a client asked for, what it got, and every step since (SPEC 4.4).
public struct LocateRecord: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable, CaseIterable {
        case pending = "PENDING"
        case approved = "APPROVED"
        case partial = "PARTIAL"
        case rejected = "REJECTED"
        case expired = "EXPIRED"
        case cancelled = "CANCELLED"

        /// Whether the locate still holds (or may still get) shares: it counts until the day roll.
        public var isLive: Bool { self == .pending || self == .approved || self == .partial }
    }

    /// One state change: when, what it became, who or what decided, and why.
    public struct Step: Sendable, Codable, Equatable {
        public var sequence: Int64
        public var at: Timestamp
        public var status: Status
        public var approvedQuantity: Int64
        /// The person (`user`), or `policy:<rule id>` for the locate policy, or `dayRoll`.
        public var by: String
        public var reason: String?
    }

    public var locateId: String
    public var requestId: String
    public var clientId: String
    public var securityId: String
    public var marketId: String?
    public var side: LocateCommand.Side
    public var settlement: LocateCommand.Settlement
    public var quantity: Int64
    public var approvedQuantity: Int64
    /// What the approval takes from the security's locate pool (`LOCATE_DECREMENT`).
    public var decrementQuantity: Int64
    public var status: Status
    /// The reason code of a rejection or of a pending locate.
    public var reason: String?
    /// The indicative borrow rate from the lenders' lines, in basis points.
    public var rateBps: Decimal8?
    /// The market's business date when it was asked: it holds until the market rolls past it.
    public var businessDate: BusinessDate?
    public var requestedAt: Timestamp
    public var requestedBy: String?
    public var history: [Step]
}

/// A client's id and one of its ids (a request id, a security id) as one key. Both parts are kept apart: a key
/// made by joining them ("client|request") let client `A` with request `B|C` meet client `A|B` with request `C`,
/// and so re-send into another client's locate.
struct ClientKey: Hashable, Sendable {
    var clientId: String
    var id: String

    init(_ clientId: String, _ id: String) {
        self.clientId = clientId
        self.id = id
    }
}

/// The locates of the day and their history: a part of the state, changed only by `LocateCommand`s and day
/// rolls (which expire them), so a replay reaches the same answers.
///
/// The shares a locate holds count in the buckets: its decrement in the security's `LOCATE_DECREMENT`, its
/// approved quantity in the client's `LOCATE_APPROVED.SHORT|LONG`. Those are derived (rebuilt from the live
/// locates when a state loads).
public struct LocateBook: Sendable {
    // The day's records and their indexes grow without a stall (`GrowingTables.swift`): a decision never waits
    // for the day's table to be copied or rehashed.
    public private(set) var records = ChunkedArray<LocateRecord>()
    private var byId = ShardedDictionary<String, Int>()
    /// (client, request id) → index: a re-sent request gets the first answer.
    private var byRequest = ShardedDictionary<ClientKey, Int>()
    /// Indices of live locates (PENDING, APPROVED, PARTIAL): what a day roll expires.
    private(set) var live = IndexBitSet()
    /// Approved quantity of live locates per security id, and per (client, security id).
    private(set) var approvedBySecurity: [String: Int64] = [:]
    private var approvedByClient = ShardedDictionary<ClientKey, Int64>()
    /// Indices changed since the last change record.
    var changed: Set<Int> = []

    /// A `LocateBook` from its fields.
    public init() {}

    public var count: Int { records.count }

    /// The locate with id `id`.
    public func locate(_ id: String) -> LocateRecord? { byId[id].map { records[$0] } }

    /// The locate a client's request id made.
    public func locate(clientId: String, requestId: String) -> LocateRecord? { byRequest[ClientKey(clientId, requestId)].map { records[$0] } }

    /// What the live locates of client `clientId` hold approved in security `securityId`.
    func approved(clientId: String, securityId: String) -> Int64 { approvedByClient[ClientKey(clientId, securityId)] ?? 0 }

    func index(_ id: String) -> Int? { byId[id] }

    /// Adds a new locate (its id is unique: the command's sequence).
    mutating func add(_ record: LocateRecord) -> Int {
        let i = records.count
        records.append(record)
        byId[record.locateId] = i
        byRequest[ClientKey(record.clientId, record.requestId)] = i
        if record.status.isLive { live.insert(i) }
        count(record, sign: 1)
        changed.insert(i)
        return i
    }

    /// Changes locate `i` (its counted quantities follow).
    mutating func update(_ i: Int, _ body: (inout LocateRecord) -> Void) {
        count(records[i], sign: -1)
        body(&records[i])
        count(records[i], sign: 1)
        if records[i].status.isLive { live.insert(i) } else { live.remove(i) }
        changed.insert(i)
    }

    private mutating func count(_ r: LocateRecord, sign: Int64) {
        guard r.status == .approved || r.status == .partial, r.approvedQuantity != 0 else { return }
        approvedBySecurity[r.securityId, default: 0] += sign * r.approvedQuantity
        let clientKey = ClientKey(r.clientId, r.securityId)
        approvedByClient[clientKey, default: 0] += sign * r.approvedQuantity
        if approvedBySecurity[r.securityId] == 0 { approvedBySecurity.removeValue(forKey: r.securityId) }
        if approvedByClient[clientKey] == 0 { approvedByClient.removeValue(forKey: clientKey) }
    }

    /// Takes a locate as the change feed brings it (the read model). It leaves no change mark: nothing takes
    /// changes from the read model's book, so a mark would stay all day (one per locate, rehashed as it grew).
    mutating func take(_ record: LocateRecord) {
        let i: Int
        if let j = byId[record.locateId] {
            update(j) { $0 = record }
            i = j
        } else {
            i = add(record)
        }
        changed.remove(i)
    }

    /// The locates changed since the last call.
    mutating func takeChanges() -> [LocateRecord] {
        defer { changed.removeAll(keepingCapacity: true) }
        return changed.sorted().map { records[$0] }
    }

    // MARK: Snapshot

    func encode(to w: inout BinaryWriter) { JSONSection.write(records, to: &w) }

    init(from r: inout BinaryReader) throws(BinaryFormatError) {
        self.init()
        for record in try JSONSection.read([LocateRecord].self, from: &r, what: "locates") { _ = add(record) }
        changed.removeAll()
    }
}

/// A snapshot section of records as JSON (keys sorted): the day's locates and orders, whose fields grow
/// with the product, so a new optional field never breaks an older snapshot.
enum JSONSection {
    static func write(_ records: some Encodable, to w: inout BinaryWriter) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        w.write(String(decoding: (try? encoder.encode(records)) ?? Data("[]".utf8), as: UTF8.self))
    }

    static func read<T: Decodable>(_ type: [T].Type, from r: inout BinaryReader, what: String) throws(BinaryFormatError) -> [T] {
        let text = try r.readString()
        do { return try JSONDecoder().decode(type, from: Data(text.utf8)) } catch {
            throw BinaryFormatError("snapshot's \(what) do not decode: \(error)")
        }
    }
}
