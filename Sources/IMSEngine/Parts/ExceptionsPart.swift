import DequeModule
import IMSDomain

/// The numbered, bounded exceptions list (`ExceptionLog`). A record carries the exceptions changed in the
/// drain (given their line's text, or acknowledged), then those raised in it, oldest first.
enum ExceptionsPart: StatePart {
    static let sectionTag: UInt32 = 7
    static let name = "exceptions"
    typealias Change = [ExceptionRecord]

    static func write(_ state: EngineState, to w: inout BinaryWriter) { state.exceptionLog.encode(to: &w) }

    static func read(into state: inout EngineState, from r: inout BinaryReader, format: UInt32) throws(BinaryFormatError) {
        try state.exceptionLog.decode(from: &r)
    }

    /// Reads `record.firstNewException`, the next id before the drain, set by `takeChangeRecord`.
    static func capture(from state: inout EngineState, into record: inout ChangeRecord) {
        let changes = state.exceptionLog.changes(from: record.firstNewException, updated: state.changeLog.updatedExceptions)
        state.changeLog.updatedExceptions.removeAll()
        if !changes.isEmpty { record[Self.self] = changes }
    }

    static func apply(_ record: ChangeRecord, to model: inout ReadModel) {
        if let changes = record[Self.self] { model.exceptionLog.take(changes) }
    }

    static func itemCount(_ change: [ExceptionRecord]) -> Int { change.count }

    static func canonicalLines(_ model: ReadModel, into lines: inout [String]) {
        for e in model.exceptionLog.entries { lines.append("exception \(e)") }
    }
}

extension ChangeRecord {
    /// Exceptions changed in this drain (given their line's text, or acknowledged), then those raised in it,
    /// oldest first: those below `firstNewException` were raised before and changed since.
    public internal(set) var exceptions: [ExceptionRecord] {
        get { self[ExceptionsPart.self] ?? [] }
        set { self[ExceptionsPart.self] = newValue }
    }
}

/// Who acknowledged which exception: a section of its own, after `exceptions`, whose entries it
/// marks. Acknowledgements travel in the exceptions' change.
enum AcknowledgementsPart: StatePart {
    static let sectionTag: UInt32 = 14
    static let name = "acknowledgements"

    static func write(_ state: EngineState, to w: inout BinaryWriter) { state.exceptionLog.encodeAcknowledgements(to: &w) }

    static func read(into state: inout EngineState, from r: inout BinaryReader, format: UInt32) throws(BinaryFormatError) {
        try state.exceptionLog.decodeAcknowledgements(from: &r)
    }
}
