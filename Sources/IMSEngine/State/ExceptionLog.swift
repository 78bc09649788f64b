import DequeModule
import IMSDomain

/// The exceptions list, one part of the state: it numbers what it is given (ids rise by one in journal
/// order, so a replay gives the same ids), keeps the newest `capacity`, gives a refused line its text
/// when that text is journaled after its batch, and reads and writes its own snapshot section. The state
/// and the read model each hold one.
struct ExceptionLog: Sendable {
    private(set) var entries: Deque<ExceptionRecord> = []
    /// The id the next exception gets.
    var nextId: Int64 = 1
    /// The most kept; the oldest are dropped first.
    var capacity = 100_000

    var count: Int { entries.count }
    /// The id of the oldest exception kept (`nextId` when there is none).
    var firstId: Int64 { entries.first?.exceptionId ?? nextId }

    /// Adds `e` under the next id.
    mutating func append(_ e: ExceptionRecord) {
        var e = e
        e.exceptionId = nextId
        nextId += 1
        entries.append(e)
        if entries.count > capacity { entries.removeFirst(entries.count - capacity) }
    }

    /// The exception with id `id`, when still kept.
    func entry(_ id: Int64) -> ExceptionRecord? {
        let index = Int(id - firstId)
        return index >= 0 && index < entries.count ? entries[index] : nil
    }

    /// Gives each listed exception its line's text where it has none; returns the ids it changed.
    mutating func fill(_ t: ExceptionTexts) -> [Int64] {
        var filled: [Int64] = []
        for (id, text) in zip(t.exceptionIds, t.texts) {
            let index = Int(id - firstId)
            guard index >= 0, index < entries.count, entries[index].raw == nil else { continue }
            entries[index].raw = text
            filled.append(id)
        }
        return filled
    }

    /// Marks the kept exceptions among `ids` acknowledged by `user` at `time` with `note`, leaving those
    /// already acknowledged as they are; returns the ids it changed.
    mutating func acknowledge(_ ids: [Int64], by user: String, at time: Timestamp, note: String?) -> [Int64] {
        var changed: [Int64] = []
        for id in ids {
            let index = Int(id - firstId)
            guard index >= 0, index < entries.count, entries[index].acknowledgedBy == nil else { continue }
            entries[index].acknowledgedBy = user
            entries[index].acknowledgedAt = time
            entries[index].acknowledgeNote = note
            changed.append(id)
        }
        return changed
    }

    /// Removes and returns the exceptions with ids from `mark` on, giving their ids back (they are renumbered
    /// when appended again).
    mutating func removeAll(from mark: Int64) -> [ExceptionRecord] {
        var removed: [ExceptionRecord] = []
        while let last = entries.last, last.exceptionId >= mark { removed.append(entries.removeLast()) }
        nextId = min(nextId, mark)
        return removed.reversed()
    }

    /// What a change record carries: those filled in or acknowledged (`updated`, below `from`), then those added from `from`.
    func changes(from: Int64, updated: [Int64]) -> [ExceptionRecord] {
        var out: [ExceptionRecord] = []
        for id in Set(updated).sorted() where id < from { if let e = entry(id) { out.append(e) } }
        if nextId > from { out += entries.suffix(Int(nextId - max(from, firstId))) }
        return out
    }

    /// Takes a change record's exceptions, as the state made them: new ones appended with their own ids,
    /// known ones replaced (given their text afterwards).
    mutating func take(_ changed: [ExceptionRecord]) {
        for e in changed {
            if e.exceptionId >= nextId {
                entries.append(e)
                nextId = e.exceptionId + 1
            } else {
                let index = Int(e.exceptionId - firstId)
                if index >= 0 && index < entries.count { entries[index] = e }
            }
        }
        if entries.count > capacity { entries.removeFirst(entries.count - capacity) }
    }

    /// Those after `afterId`, oldest first, optionally of one kind and acknowledged or not, at most `limit`.
    func list(afterId: Int64, kind: ExceptionKind?, acknowledged: Bool? = nil, limit: Int) -> [ExceptionRecord] {
        var out: [ExceptionRecord] = []
        let start = max(0, Int(afterId + 1 - firstId))
        guard start < entries.count else { return out }
        for e in entries[start...] where (kind == nil || e.kind == kind) && (acknowledged == nil || e.isAcknowledged == acknowledged) {
            out.append(e)
            if out.count >= limit { break }
        }
        return out
    }

    // MARK: Snapshot sections

    /// The acknowledgements section: each acknowledged entry's id, who, when and note. Kept apart from the
    /// entries' own section, so an image written before acknowledgements existed still loads.
    func encodeAcknowledgements(to w: inout BinaryWriter) {
        let acknowledged = entries.filter(\.isAcknowledged)
        w.writeCount(acknowledged.count)
        for e in acknowledged {
            w.writeVarint(e.exceptionId); w.write(e.acknowledgedBy); w.write(e.acknowledgedAt); w.write(e.acknowledgeNote)
        }
    }

    /// Reads the acknowledgements section onto the entries (read after the entries' section).
    mutating func decodeAcknowledgements(from r: inout BinaryReader) throws(BinaryFormatError) {
        for _ in 0..<(try r.readCount()) {
            let id = try r.readVarInt()
            let by = try r.readOptionalString(), at = try r.readOptionalTimestamp(), note = try r.readOptionalString()
            let index = Int(id - firstId)
            guard index >= 0, index < entries.count, by != nil else {
                throw BinaryFormatError("snapshot acknowledges exception \(id), which it does not hold")
            }
            entries[index].acknowledgedBy = by
            entries[index].acknowledgedAt = at
            entries[index].acknowledgeNote = note
        }
    }

    func encode(to w: inout BinaryWriter) {
        w.writeCount(entries.count)
        for e in entries { e.encode(to: &w) }
    }

    /// Reads the section's entries (the next id is in the counters section, read before or after).
    mutating func decode(from r: inout BinaryReader) throws(BinaryFormatError) {
        for _ in 0..<(try r.readCount()) {
            let e = try ExceptionRecord(from: &r)
            if let last = entries.last, e.exceptionId != last.exceptionId + 1 {
                throw BinaryFormatError("snapshot exception \(e.exceptionId) follows \(last.exceptionId): ids must rise by one")
            }
            entries.append(e)
        }
    }
}
