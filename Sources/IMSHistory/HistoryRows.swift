import IMSDomain
import IMSEngine

/// What the projection writes to the history store for a stretch of the journal: rows by table, and the
/// journal records they cover. Every row is a pure function of the journal (its time is the time IMS
/// received the entry, never the projector's clock), so projecting the same records again gives the same
/// rows, and the store's keys make writing them again a no-op.
public struct HistoryRows: Sendable {
    /// A price, conflated to one per security per `tickSeconds` (the last in the interval).
    public struct Tick: Sendable, Hashable {
        /// The start of the interval the tick is the last of (microseconds since 1970, UTC).
        public var at: Int64
        public var securityId: String
        public var marketId: String
        public var currency: String?
        public var last: Decimal8?
        public var bid: Decimal8?
        public var ask: Decimal8?
        /// The feed's own time of the tick.
        public var tickTime: Int64?
        public var record: UInt64

        /// A `Tick` from its fields.
        public init(
            at: Int64, securityId: String, marketId: String, currency: String? = nil, last: Decimal8? = nil, bid: Decimal8? = nil,
            ask: Decimal8? = nil, tickTime: Int64? = nil, record: UInt64
        ) {
            self.at = at
            self.securityId = securityId
            self.marketId = marketId
            self.currency = currency
            self.last = last
            self.bid = bid
            self.ask = ask
            self.tickTime = tickTime
            self.record = record
        }
    }

    /// An FX rate, conflated the same way.
    public struct Rate: Sendable, Hashable {
        public var at: Int64
        public var currency: String
        public var usdRate: Decimal8
        public var record: UInt64
    }

    /// Why a snapshot row was written.
    public enum SnapshotKind: String, Sendable, Hashable {
        /// The end of a snapshot interval in which the item changed.
        case interval
        /// The item's market rolled to a new business date: every position and security of it, as the new
        /// day starts (the last day's figures rolled forward).
        case dayRoll = "day_roll"
    }

    /// A position's figures as `GET /api/v1/positions/{bookId}/{securityId}` shows them.
    public struct Position: Sendable, Hashable {
        public var at: Int64
        public var kind: SnapshotKind
        public var bookId: String
        public var securityId: String
        public var marketId: String
        public var businessDate: BusinessDate?
        public var contractualQty: Int64
        public var settledQty: Int64
        public var projectedNetPosition: Int64
        public var record: UInt64
        /// The REST resource's JSON.
        public var json: String
    }

    /// A security's inventory as `GET /api/v1/inventory/{securityId}` shows it: buckets, calculations, ladder.
    public struct Inventory: Sendable, Hashable {
        public var at: Int64
        public var kind: SnapshotKind
        public var securityId: String
        public var marketId: String
        public var businessDate: BusinessDate?
        public var forLoan: Int64
        public var forPledge: Int64
        public var locateAvailable: Int64
        public var ruleVersion: Int
        public var record: UInt64
        public var json: String
    }

    /// A locate as it was after one of its changes.
    public struct Locate: Sendable, Hashable {
        public var at: Int64
        public var locateId: String
        public var clientId: String
        public var securityId: String
        public var status: String
        public var quantity: Int64
        public var approvedQuantity: Int64
        public var record: UInt64
        public var json: String
        /// As its client sees it (`LocateView.forClient`).
        public var clientJSON: String
    }

    /// An order validation (and later its fills or expiry), with every check.
    public struct Order: Sendable, Hashable {
        public var at: Int64
        public var orderId: String
        public var clientId: String
        public var bookId: String
        public var securityId: String
        public var side: String
        public var decision: String
        public var quantity: Int64
        public var record: UInt64
        public var json: String
        /// As its client sees it (`OrderView.forClient`).
        public var clientJSON: String
    }

    /// An exception as raised, and again when it changes (its text filled, acknowledged).
    public struct Exception: Sendable, Hashable {
        public var at: Int64
        public var exceptionId: Int64
        public var kind: String
        public var record: UInt64
        public var json: String
    }

    /// An entry of the audit trail (every command, with who issued it).
    public struct Audit: Sendable, Hashable {
        public var at: Int64
        public var auditId: Int64
        public var user: String
        public var action: String
        public var subject: String
        public var record: UInt64
        public var json: String
    }

    /// A step of a rule set's life (draft, approval, activation…), and the version it is about.
    public struct RuleStep: Sendable, Hashable {
        public var at: Int64
        public var sequence: Int64
        public var version: Int64
        public var action: String
        public var user: String
        public var record: UInt64
        public var json: String
        /// The version's status after the step, and its document.
        public var status: String
        public var document: String
    }

    public var ticks: [Tick] = []
    public var rates: [Rate] = []
    public var positions: [Position] = []
    public var inventory: [Inventory] = []
    public var locates: [Locate] = []
    public var orders: [Order] = []
    public var exceptions: [Exception] = []
    public var audit: [Audit] = []
    public var ruleSteps: [RuleStep] = []

    /// The last journal record these rows reflect.
    public var lastRecord: UInt64 = 0
    /// Where a projection must start again to rebuild what is not written yet (the first record of the open
    /// snapshot interval): the store keeps it with the rows, in the same transaction.
    public var resumeRecord: UInt64 = 1

    public init() {}

    /// Rows in all tables.
    public var count: Int {
        ticks.count + rates.count + positions.count + inventory.count + locates.count + orders.count + exceptions.count + audit.count
            + ruleSteps.count
    }

    /// Adds `other`'s rows after these; its records follow these.
    public mutating func append(_ other: HistoryRows) {
        ticks += other.ticks
        rates += other.rates
        positions += other.positions
        inventory += other.inventory
        locates += other.locates
        orders += other.orders
        exceptions += other.exceptions
        audit += other.audit
        ruleSteps += other.ruleSteps
        lastRecord = max(lastRecord, other.lastRecord)
        resumeRecord = other.resumeRecord
    }
}
