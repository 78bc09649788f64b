import IMSDomain

/// The state's counters: the last sequence, the journal record applied, when it was received, the next
/// exception id and the counts of what was applied. A record carries them in its envelope
/// (`ChangeRecord.lastSequence`…), which `ReadModel.apply` takes whole, so the part has no change of its own.
enum CountersPart: StatePart {
    static let sectionTag: UInt32 = 1
    static let name = "counters"

    static func write(_ state: EngineState, to w: inout BinaryWriter) {
        w.writeVarint(state.lastSequence)
        w.write(state.appliedRecord)
        w.write(state.lastEntryAt)
        w.writeVarint(state.exceptionLog.nextId)
        w.writeVarint(state.counters.events); w.writeVarint(state.counters.ignored); w.writeVarint(state.counters.rejected)
    }

    static func read(into state: inout EngineState, from r: inout BinaryReader, format: UInt32) throws(BinaryFormatError) {
        state.lastSequence = try r.readVarInt()
        state.appliedRecord = try r.readUInt64()
        state.lastEntryAt = try r.readTimestamp()
        state.exceptionLog.nextId = try r.readVarInt()
        state.counters.events = try r.readVarInt(); state.counters.ignored = try r.readVarInt(); state.counters.rejected = try r.readVarInt()
    }

    static func canonicalLines(_ model: ReadModel, into lines: inout [String]) {
        lines.append(
            "sequence \(model.lastSequence) record \(model.appliedRecord) at \(model.lastEntryAt.micros) counters \(model.counters) next exception \(model.exceptionLog.nextId)"
        )
    }
}
