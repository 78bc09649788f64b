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

/// A book of records the desk's commands make (locates, orders): kept whole in the image, and carried by a
/// change record as the records that changed, as they are now.
protocol RecordBook: Sendable {
    associatedtype Record: Sendable
    var records: ChunkedArray<Record> { get }
    /// The records changed since the last call, as they are now; clears the marks.
    mutating func takeChanges() -> [Record]
    /// Takes a changed record (the read model following the feed).
    mutating func take(_ record: Record)
    func encode(to w: inout BinaryWriter)
    init(from r: inout BinaryReader) throws(BinaryFormatError)
}

extension LocateBook: RecordBook {}
extension OrderBook: RecordBook {}

/// A state part that is a `RecordBook`: everything but where the book lives comes from here.
protocol RecordBookPart: StatePart where Change == [Book.Record] {
    associatedtype Book: RecordBook
    /// Where the book is kept in the state and in the read model.
    static var inState: WritableKeyPath<EngineState, Book> { get }
    static var inModel: WritableKeyPath<ReadModel, Book> { get }
    /// The prefix of each record's canonical line.
    static var label: String { get }
}

extension RecordBookPart {
    static func write(_ state: EngineState, to w: inout BinaryWriter) { state[keyPath: inState].encode(to: &w) }

    static func read(into state: inout EngineState, from r: inout BinaryReader, format: UInt32) throws(BinaryFormatError) {
        state[keyPath: inState] = try Book(from: &r)
    }

    static func capture(from state: inout EngineState, into record: inout ChangeRecord) {
        let changes = state[keyPath: inState].takeChanges()
        if !changes.isEmpty { record[Self.self] = changes }
    }

    static func apply(_ record: ChangeRecord, to model: inout ReadModel) {
        for r in record[Self.self] ?? [] { model[keyPath: inModel].take(r) }
    }

    static func itemCount(_ change: [Book.Record]) -> Int { change.count }

    static func canonicalLines(_ model: ReadModel, into lines: inout [String]) {
        for r in model[keyPath: inModel].records { lines.append("\(label) \(r)") }
    }
}

/// The locates of the day and their history (`LocateBook`). A record carries each changed locate as it is now.
enum LocatesPart: RecordBookPart {
    static let sectionTag: UInt32 = 9
    static let name = "locates"
    static let label = "locate"
    static var inState: WritableKeyPath<EngineState, LocateBook> { \.locates }
    static var inModel: WritableKeyPath<ReadModel, LocateBook> { \.locates }
}

/// The orders validated today (`OrderBook`). A record carries each order validated or expired in the drain.
enum OrdersPart: RecordBookPart {
    static let sectionTag: UInt32 = 10
    static let name = "orders"
    static let label = "order"
    static var inState: WritableKeyPath<EngineState, OrderBook> { \.orders }
    static var inModel: WritableKeyPath<ReadModel, OrderBook> { \.orders }
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
    public var orders: [OrderRecord] { self[OrdersPart.self] ?? [] }
    /// Audit entries made in the drain.
    public var audit: [AuditEntry] { self[AuditPart.self] ?? [] }
}
