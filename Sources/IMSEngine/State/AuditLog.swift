import DequeModule
import IMSDomain

/// One change a person (or a system signed in as one) made through the API: who, when, what, and what came
/// of it. Built when a batch that names its issuer is applied, live and on replay alike, so the trail is a
/// function of the journal: it survives restarts, snapshots and replays, and `ims audit` rebuilds it whole.
public struct AuditEntry: Sendable, Codable, Equatable {
    /// 1, 2, 3… in journal order (a replay gives the same ids).
    public var auditId: Int64
    /// When the engine received the call.
    public var at: Timestamp
    /// The identity that issued it (`key:<id>:<name>`, `jwt:<subject>`), or the body's `user` without authentication.
    public var user: String
    /// `RULE_DRAFT`, `RULE_PREVIEW`, `RULE_APPROVE`, `RULE_REJECT`, `RULE_ACTIVATE`, `LOCATE_REQUEST`,
    /// `LOCATE_DECIDE`, `LOCATE_CANCEL`, `ORDER_VALIDATE`, or `EVENTS` for a batch of data (reference data,
    /// trades, positions…) posted to `/api/v1/events`.
    public var action: String
    /// What it acted on: `rules v3`, `locate L12`, `order O5`; for `EVENTS`, the count by type.
    public var subject: String
    /// What it asked for or decided, in words (quantities, the decision and reason, the comment).
    public var detail: String?
    /// `APPLIED`, `REJECTED` or `NOT_APPLIED` (an atomic batch refused as a whole); for `EVENTS`,
    /// `APPLIED` when every line was, `PARTIAL` when some were refused, `REJECTED` when none applied.
    public var outcome: String
    /// Why it was refused (the first refused line's field and message).
    public var reason: String?
    /// The journal record it came from, and the engine's last sequence after it.
    public var journalRecord: UInt64
    public var sequence: Int64
}

/// The audit trail, one part of the state: numbered in journal order, the newest `capacity` kept in memory
/// (the journal keeps every entry: `ims audit` reads them all back). The state and the read model each hold one.
struct AuditLog: Sendable {
    private(set) var entries: Deque<AuditEntry> = []
    var nextId: Int64 = 1
    var capacity = 100_000
    /// Entries made since the change feed last took them.
    private var changedFrom: Int64 = 1

    var firstId: Int64 { entries.first?.auditId ?? nextId }

    mutating func append(_ e: AuditEntry) {
        var e = e
        e.auditId = nextId
        nextId += 1
        entries.append(e)
        if entries.count > capacity { entries.removeFirst(entries.count - capacity) }
    }

    /// The entries appended since the last call (for the change record).
    mutating func takeChanges() -> [AuditEntry] {
        defer { changedFrom = nextId }
        guard nextId > changedFrom else { return [] }
        return Array(entries.suffix(Int(nextId - max(changedFrom, firstId))))
    }

    /// Takes a change record's entries, with the ids the state gave them.
    mutating func take(_ changed: [AuditEntry]) {
        for e in changed where e.auditId >= nextId {
            entries.append(e)
            nextId = e.auditId + 1
        }
        changedFrom = nextId
        if entries.count > capacity { entries.removeFirst(entries.count - capacity) }
    }

    // MARK: Snapshot

    func encode(to w: inout BinaryWriter) {
        w.writeVarint(nextId)
        JSONSection.write(Array(entries), to: &w)
    }

    init() {}

    init(from r: inout BinaryReader) throws(BinaryFormatError) {
        nextId = try r.readVarInt()
        entries = Deque(try JSONSection.read([AuditEntry].self, from: &r, what: "audit entries"))
        changedFrom = nextId
    }
}

/// Which audit entries a query wants.
public struct AuditFilter: Sendable {
    public var user: String?
    public var action: String?
    /// Entries whose subject contains this text (`L12`, `v3`, `TRADE`).
    public var subject: String?
    public var from: Timestamp?
    public var to: Timestamp?
    /// Only entries with ids above this (to page forward).
    public var afterId: Int64 = 0

    /// A `AuditFilter` from its fields.
    public init(user: String? = nil, action: String? = nil, subject: String? = nil, from: Timestamp? = nil, to: Timestamp? = nil, afterId: Int64 = 0) {
        self.user = user; self.action = action; self.subject = subject; self.from = from; self.to = to; self.afterId = afterId
    }

    func matches(_ e: AuditEntry) -> Bool {
        if e.auditId <= afterId { return false }
        if let user, e.user != user { return false }
        if let action, e.action != action { return false }
        if let subject, !e.subject.contains(subject) { return false }
        if let from, e.at.micros < from.micros { return false }
        if let to, e.at.micros > to.micros { return false }
        return true
    }
}

extension AuditLog {
    /// Those matching, oldest first, at most `limit`.
    func list(_ filter: AuditFilter, limit: Int) -> [AuditEntry] {
        var out: [AuditEntry] = []
        let start = max(0, Int(filter.afterId - firstId + 1))
        guard start < entries.count else { return [] }
        for e in entries[start...] where filter.matches(e) {
            out.append(e)
            if out.count == limit { break }
        }
        return out
    }
}

extension EngineState {
    /// Adds the audit entries of a batch an identity issued: one per command, one for its data events.
    mutating func recordAudit(of b: IngestBatch, issuer: String, outcome: BatchOutcome, record: UInt64) {
        var refused: [Int: LineError] = [:]
        for e in outcome.rejected where refused[e.line] == nil { refused[e.line] = e }
        func result(_ line: Int) -> (String, String?) {
            if let e = refused[line] { return ("REJECTED", "\(e.field): \(e.error)") }
            return outcome.applied ? ("APPLIED", nil) : ("NOT_APPLIED", outcome.rejected.first.map { "line \($0.line): \($0.field): \($0.error)" })
        }
        func entry(_ action: String, _ subject: String, _ detail: String?, line: Int) -> AuditEntry {
            let (status, reason) = result(line)
            return AuditEntry(
                auditId: 0, at: b.receivedAt, user: issuer, action: action, subject: subject, detail: detail,
                outcome: status, reason: reason, journalRecord: record, sequence: lastSequence)
        }
        var counts: [String: Int] = [:]
        var dataLines = 0, dataRefused = 0
        for (event, line) in zip(b.events, b.lines) {
            let line = Int(line)
            switch event {
            case .command(let c):
                let (action, subject, detail) = c.engine.audit(in: self, refused: refused[line] != nil, applied: outcome.applied)
                auditLog.append(entry(action, subject, detail, line: line))
            default:
                counts[event.typeName, default: 0] += 1
                dataLines += 1
                if refused[line] != nil { dataRefused += 1 }
            }
        }
        let decodeRefused = b.rejected.count
        guard dataLines + decodeRefused > 0 else { return }
        let subject = counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        let refusedLines = dataRefused + decodeRefused
        let status = !outcome.applied || refusedLines == dataLines + decodeRefused ? "REJECTED" : refusedLines > 0 ? "PARTIAL" : "APPLIED"
        let firstRefusal = outcome.rejected.first.map { "line \($0.line): \($0.field): \($0.error)" }
        auditLog.append(
            AuditEntry(
                auditId: 0, at: b.receivedAt, user: issuer, action: "EVENTS", subject: subject.isEmpty ? "no valid line" : subject,
                detail: "\(dataLines + decodeRefused) lines, \(refusedLines) refused, \(b.mode.rawValue)",
                outcome: status, reason: status == "APPLIED" ? nil : firstRefusal, journalRecord: record, sequence: lastSequence))
    }

    /// The audit entries matching `filter`, oldest first, at most `limit`.
    public func auditEntries(_ filter: AuditFilter, limit: Int) -> [AuditEntry] { auditLog.list(filter, limit: limit) }
}
