import Foundation
import IMSDomain
import IMSEngine
import IMSRules

/// The journal turned into history rows, deterministically: a replica of the engine's state that applies
/// the journal record by record and, at points the journal alone decides, says what changed.
///
/// It is how a Kafka Streams standby or an event-sourced projection works: the rows are a function of the
/// journal, not of how the live engine happened to group its drains, so the projector that follows the
/// live journal, the one that catches up after PostgreSQL was down, and one that starts from scratch
/// write the same rows (`HistoryProjectionTests`). The points:
///
/// - every `tickSeconds` of receive time: the last price of each security and rate of each currency that
///   changed in the interval (ticks conflated);
/// - every `snapshotSeconds`: each position and security that changed in the interval, with every figure
///   the API shows, as at the interval's end (`at` is the end: everything received before it);
/// - after each command (an entry with an issuer) and notice: the locates, orders, exceptions, audit
///   entries and rule steps it changed, so every state change of a locate is its own row;
/// - when a market rolls: every position and security of it (`day_roll`).
///
/// Time is the time IMS received each entry (`JournalEntry.receivedAt`), as `asOf` reads it.
public struct HistoryProjection: Sendable {
    /// How often the projection writes what changed.
    public struct Settings: Sendable, Hashable {
        /// Interval of the position and inventory snapshots, in seconds.
        public var snapshotSeconds: Int
        /// Interval ticks are conflated to, in seconds (the last tick of each security in each interval).
        public var tickSeconds: Int

        /// A `Settings` from its fields; intervals of at least 1 s, the snapshot one a multiple of the tick one.
        public init(snapshotSeconds: Int = 60, tickSeconds: Int = 1) {
            self.tickSeconds = max(1, tickSeconds)
            self.snapshotSeconds = max(self.tickSeconds, snapshotSeconds / self.tickSeconds * self.tickSeconds)
        }
    }

    public let settings: Settings
    /// The replica: the engine's state after the last record applied.
    public private(set) var state: EngineState
    /// The read model of the replica, as the API reads it, updated at each point.
    public private(set) var model: ReadModel
    /// Where a projection must start again to rebuild the rows not taken yet: the first record of the open
    /// snapshot interval.
    public private(set) var resumeRecord: UInt64

    private var tickBucket: Int64?
    private var snapshotBucket: Int64?
    private var exceptionMark: Int64
    private var ruleStepMark: Int
    private var firstUntaken: UInt64
    private var pendingTicks = Set<Int32>()
    private var pendingRates = Set<String>()
    private var pendingPositions = Set<Int32>()
    private var pendingSecurities = Set<Int32>()
    private var rows = HistoryRows()

    /// A projection continuing from `state` (the state after record `state.appliedRecord`), which must be
    /// the first record of a snapshot interval, or record 0.
    public init(state: EngineState, settings: Settings = Settings()) {
        var state = state
        state.discardChanges()
        self.settings = settings
        self.state = state
        model = ReadModel(state)
        resumeRecord = state.appliedRecord + 1
        firstUntaken = state.appliedRecord + 1
        exceptionMark = state.nextExceptionIdentifier
        ruleStepMark = model.rules.audit.count
    }

    /// Applies journal record `record`, taking the rows of any interval it closes.
    public mutating func apply(_ entry: JournalEntry, record: UInt64) {
        let t = entry.receivedAt.micros
        let tickMicros = Int64(settings.tickSeconds) * 1_000_000
        let snapshotMicros = Int64(settings.snapshotSeconds) * 1_000_000
        let tick = Self.floor(t, tickMicros)
        let snapshot = Self.floor(t, snapshotMicros)
        if let current = tickBucket, tick > current {
            take()
            flushTicks(at: current)
            if let open = snapshotBucket, snapshot > open {
                flushSnapshots(at: open + snapshotMicros)
                resumeRecord = record
                snapshotBucket = snapshot
            }
            tickBucket = tick
        }
        if tickBucket == nil {
            tickBucket = tick
            snapshotBucket = snapshot
        }
        state.apply(entry, record: record)
        _ = state.takeTextsToJournal() // the journal has them already: they follow their batch
        switch entry {
        case .batch(let b) where b.issuer != nil: take()
        case .notice: take()
        default: break
        }
    }

    /// The rows made since the last call, with the records they cover and where to resume.
    public mutating func takeRows() -> HistoryRows {
        var out = rows
        rows = HistoryRows()
        out.lastRecord = state.appliedRecord
        out.resumeRecord = resumeRecord
        return out
    }

    /// Rows waiting to be taken.
    public var pendingRows: Int { rows.count }

    private static func floor(_ t: Int64, _ step: Int64) -> Int64 {
        let q = t / step
        return (t % step < 0 ? q - 1 : q) * step
    }

    /// Takes the replica's change record of everything applied since the last take: the model catches up,
    /// the changed items join the open intervals, and command results become rows at once.
    private mutating func take() {
        guard state.appliedRecord >= firstUntaken else { return }
        let change = state.takeChangeRecord(
            exceptionsFrom: exceptionMark, earliest: state.lastEntryAt, records: firstUntaken...state.appliedRecord, results: [])
        exceptionMark = state.nextExceptionIdentifier
        firstUntaken = state.appliedRecord + 1
        model.apply(change)
        let at = state.lastEntryAt.micros
        let record = state.appliedRecord

        pendingTicks.formUnion(change.priceSecurities)
        pendingRates.formUnion(change.fxRates.map(\.currency))
        pendingPositions.formUnion(model.positions(changedIn: change, matching: PositionFilter()))
        pendingSecurities.formUnion(change.inventorySecurities)
        if change.rulesChanged {
            // A new version in force changes every calculation.
            for index in 0..<Int32(model.securityCount) { pendingSecurities.insert(index) }
        }
        for index in model.locates(changedIn: change, matching: LocateFilter()) {
            let view = model.locateView(model.locates.records[Int(index)])
            rows.locates.append(
                .init(
                    at: at, locateId: view.locateId, clientId: view.clientId, securityId: view.securityId, status: view.status,
                    quantity: view.quantity, approvedQuantity: view.approvedQuantity, record: record, json: view.json,
                    clientJSON: view.forClient().json))
        }
        for order in change.orders {
            let view = OrderView(order)
            rows.orders.append(
                .init(
                    at: at, orderId: order.orderId, clientId: order.clientId, bookId: order.bookId, securityId: order.securityId,
                    side: order.side.rawValue, decision: order.decision.rawValue, quantity: order.quantity, record: record, json: view.json,
                    clientJSON: view.forClient().json))
        }
        for exception in change.exceptions {
            rows.exceptions.append(
                .init(at: at, exceptionId: exception.exceptionId, kind: exception.kind.rawValue, record: record, json: Self.json(exception)))
        }
        for entry in change.audit {
            rows.audit.append(
                .init(
                    at: entry.at.micros, auditId: entry.auditId, user: entry.user, action: entry.action, subject: entry.subject, record: record,
                    json: Self.json(entry)))
        }
        let steps = model.rules.audit
        if steps.count > ruleStepMark {
            for step in steps[ruleStepMark...] {
                let version = model.rules.version(step.version)
                rows.ruleSteps.append(
                    .init(
                        at: step.at.micros, sequence: step.sequence, version: step.version, action: step.action.rawValue, user: step.user,
                        record: record, json: Self.json(step), status: version?.status.rawValue ?? "",
                        document: version.map { Self.json($0.document) } ?? "null"))
            }
            ruleStepMark = steps.count
        }
        for market in change.rolledMarkets {
            let positions = model.positionIndices(market: market)
            for index in positions { appendPosition(index, at: at, kind: .dayRoll) }
            for security in model.securityIndices(market: market) { appendInventory(security, at: at, kind: .dayRoll) }
        }
    }

    private mutating func flushTicks(at bucket: Int64) {
        let record = state.appliedRecord
        for security in pendingTicks.sorted() {
            guard let view = model.priceView(security: security), let securityId = view.securityId else { continue }
            rows.ticks.append(
                .init(
                    at: bucket, securityId: securityId, marketId: view.marketId ?? "", currency: view.currency, last: view.last, bid: view.bid,
                    ask: view.ask, tickTime: view.ts?.micros, record: record))
        }
        for currency in pendingRates.sorted() {
            guard let view = model.fxView(currency: currency), let rate = view.usdRate else { continue }
            rows.rates.append(.init(at: bucket, currency: currency, usdRate: rate, record: record))
        }
        pendingTicks.removeAll(keepingCapacity: true)
        pendingRates.removeAll(keepingCapacity: true)
    }

    private mutating func flushSnapshots(at end: Int64) {
        for index in pendingPositions.sorted() { appendPosition(index, at: end, kind: .interval) }
        for security in pendingSecurities.sorted() { appendInventory(security, at: end, kind: .interval) }
        pendingPositions.removeAll(keepingCapacity: true)
        pendingSecurities.removeAll(keepingCapacity: true)
    }

    private mutating func appendPosition(_ index: Int32, at: Int64, kind: HistoryRows.SnapshotKind) {
        let view = model.positionView(at: index)
        rows.positions.append(
            .init(
                at: at, kind: kind, bookId: view.bookId, securityId: view.securityId, marketId: view.marketId, businessDate: view.businessDate,
                contractualQty: view.contractualQty, settledQty: view.settledQty, projectedNetPosition: view.projectedNetPosition,
                record: state.appliedRecord, json: view.json))
    }

    private mutating func appendInventory(_ security: Int32, at: Int64, kind: HistoryRows.SnapshotKind) {
        guard let id = model.securityId(at: security), let view = model.inventory(id) else { return }
        rows.inventory.append(
            .init(
                at: at, kind: kind, securityId: view.securityId, marketId: view.marketId, businessDate: view.businessDate,
                forLoan: view.calculations.forLoan, forPledge: view.calculations.forPledge, locateAvailable: view.calculations.locateAvailable,
                ruleVersion: view.ruleVersion, record: state.appliedRecord, json: Self.json(view)))
    }

    private static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    /// A value's JSON as the REST resources write it (sorted keys).
    static func json<T: Encodable>(_ value: T) -> String {
        (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }
}
