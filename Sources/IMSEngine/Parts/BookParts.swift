import DequeModule
import IMSDomain

/// The rule sets, the one in force and their audit trail (`RuleBook`). A record carries the book whole
/// when its change count moved.
enum RulesPart: StatePart {
    static let sectionTag: UInt32 = 8
    static let name = "rules"
    typealias Change = RuleBook

    static func write(_ state: EngineState, to w: inout BinaryWriter) { state.rules.encode(to: &w) }

    static func read(into state: inout EngineState, from r: inout BinaryReader, format: UInt32) throws(BinaryFormatError) {
        state.rules = try RuleBook(from: &r)
    }

    static func capture(from state: inout EngineState, into record: inout ChangeRecord) {
        guard state.changeLog.publishedRules != state.rules.changeCount else { return }
        record[Self.self] = state.rules
        state.changeLog.publishedRules = state.rules.changeCount
    }

    static func apply(_ record: ChangeRecord, to model: inout ReadModel) {
        if let rules = record[Self.self] { model.rules = rules }
    }

    static func itemCount(_ change: RuleBook) -> Int { 1 }

    static func canonicalLines(_ model: ReadModel, into lines: inout [String]) {
        let rules = model.rules
        lines.append("rules active \(rules.active.version) of \(rules.versions.map { "\($0.version) \($0.status.rawValue) \($0.author)" })")
        for e in rules.audit { lines.append("rule audit \(e)") }
    }
}

/// The locates of the day and their history (`LocateBook`). A record carries each changed locate as it is now.
enum LocatesPart: StatePart {
    static let sectionTag: UInt32 = 9
    static let name = "locates"
    typealias Change = [LocateRecord]

    static func write(_ state: EngineState, to w: inout BinaryWriter) { state.locates.encode(to: &w) }

    static func read(into state: inout EngineState, from r: inout BinaryReader, format: UInt32) throws(BinaryFormatError) {
        state.locates = try LocateBook(from: &r)
    }

    static func capture(from state: inout EngineState, into record: inout ChangeRecord) {
        let changes = state.locates.takeChanges()
        if !changes.isEmpty { record[Self.self] = changes }
    }

    static func apply(_ record: ChangeRecord, to model: inout ReadModel) {
        for l in record[Self.self] ?? [] { model.locates.take(l) }
    }

    static func itemCount(_ change: [LocateRecord]) -> Int { change.count }

    static func canonicalLines(_ model: ReadModel, into lines: inout [String]) {
        for l in model.locates.records { lines.append("locate \(l)") }
    }
}

/// The orders validated today (`OrderBook`). A record carries each order validated or expired in the drain.
enum OrdersPart: StatePart {
    static let sectionTag: UInt32 = 10
    static let name = "orders"
    typealias Change = [OrderRecord]

    static func write(_ state: EngineState, to w: inout BinaryWriter) { state.orders.encode(to: &w) }

    static func read(into state: inout EngineState, from r: inout BinaryReader, format: UInt32) throws(BinaryFormatError) {
        state.orders = try OrderBook(from: &r)
    }

    static func capture(from state: inout EngineState, into record: inout ChangeRecord) {
        let changes = state.orders.takeChanges()
        if !changes.isEmpty { record[Self.self] = changes }
    }

    static func apply(_ record: ChangeRecord, to model: inout ReadModel) {
        for o in record[Self.self] ?? [] { model.orders.take(o) }
    }

    static func itemCount(_ change: [OrderRecord]) -> Int { change.count }

    static func canonicalLines(_ model: ReadModel, into lines: inout [String]) {
        for o in model.orders.records { lines.append("order \(o)") }
    }
}

/// Who changed what through the API (`AuditLog`), the newest entries kept in memory.
enum AuditPart: StatePart {
    static let sectionTag: UInt32 = 13
    static let name = "audit"
    typealias Change = [AuditEntry]

    static func write(_ state: EngineState, to w: inout BinaryWriter) { state.auditLog.encode(to: &w) }

    static func read(into state: inout EngineState, from r: inout BinaryReader, format: UInt32) throws(BinaryFormatError) {
        state.auditLog = try AuditLog(from: &r)
    }

    static func capture(from state: inout EngineState, into record: inout ChangeRecord) {
        let changes = state.auditLog.takeChanges()
        if !changes.isEmpty { record[Self.self] = changes }
    }

    static func apply(_ record: ChangeRecord, to model: inout ReadModel) {
        if let entries = record[Self.self] { model.auditLog.take(entries) }
    }

    static func itemCount(_ change: [AuditEntry]) -> Int { change.count }

    static func canonicalLines(_ model: ReadModel, into lines: inout [String]) {
        for e in model.auditLog.entries { lines.append("audit \(e)") }
    }
}

extension ChangeRecord {
    /// Whether the rules changed in the drain (a new version in force changes every calculation).
    public var rulesChanged: Bool { self[RulesPart.self] != nil }
    /// Locates that changed in the drain, as they are now.
    var locates: [LocateRecord] { self[LocatesPart.self] ?? [] }
    /// Orders validated or expired in the drain.
    var orders: [OrderRecord] { self[OrdersPart.self] ?? [] }
    /// Audit entries made in the drain.
    public var audit: [AuditEntry] { self[AuditPart.self] ?? [] }
}
