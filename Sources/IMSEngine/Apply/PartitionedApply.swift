import Dispatch
import IMSDomain

extension EngineState {
    /// Batches with at least this many events are applied by their partitions in parallel; below it the
    /// hand-over costs more than it saves.
    static let parallelBatchThreshold = 256

    /// Validates and applies a batch of per-security events (trades, SOD positions, prices, lender
    /// availability) with every partition on its own core.
    ///
    /// The partitions first validate their own events at once, against a state nobody changes meanwhile;
    /// then the batch's fate, sequence numbers and feed stamps are settled in input order on the calling
    /// thread; then the partitions apply their events at once. The outcome, exceptions included, is the
    /// one the sequential path gives. Returns nil, having changed nothing, when the batch needs that path:
    /// it holds other kinds of event, or gives a market its first business date.
    mutating func processPartitioned(_ batch: IngestBatch, untilSequence: Int64) -> BatchOutcome? {
        for event in batch.events {
            switch event {
            case .trade, .sodPosition, .price, .availability: continue
            default: return nil
            }
        }
        let n = batch.events.count
        let count = partitions.count
        var owners = [UInt8](repeating: 0, count: n)
        var refs = [ResolvedRefs](repeating: ResolvedRefs(), count: n)
        var found = [[(index: Int, error: FieldError)]](repeating: [], count: count)
        var newTrades = [[Int]](repeating: [], count: count)
        var needsSequential = [Bool](repeating: false, count: count)

        // 1. Validation, read-only: each partition's thread takes a slice of the batch.
        owners.withUnsafeMutableBufferPointer { owners in
            refs.withUnsafeMutableBufferPointer { refs in
                found.withUnsafeMutableBufferPointer { found in
                    newTrades.withUnsafeMutableBufferPointer { newTrades in
                        needsSequential.withUnsafeMutableBufferPointer { needs in
                            validateInSlices(batch.events, into: ValidationSlots(owners: owners, refs: refs, found: found, newTrades: newTrades, needs: needs))
                        }
                    }
                }
            }
        }
        if needsSequential.contains(true) { return nil }
        let conflicts = refs.withUnsafeBufferPointer { tradeConflicts(batch.events, newTrades: newTrades.flatMap { $0 }, refs: $0) }

        // 2. The batch's fate, in input order.
        var refused = [Bool](repeating: false, count: n)
        var errors = batch.rejected
        for list in found + [conflicts] {
            for (i, f) in list {
                refused[i] = true
                errors.append(lineError(batch, index: i, f))
            }
        }
        if !errors.isEmpty { errors.sort { $0.line < $1.line } }
        if batch.mode == .atomic && !errors.isEmpty {
            return BatchOutcome(accepted: 0, ignored: 0, rejected: errors, lastSequence: lastSequence, applied: false)
        }
        let exceptionMark = nextExceptionId
        var sequences = [Int64](repeating: 0, count: n)
        var accepted = 0, ignored = 0, cut = false
        for i in 0..<n where !refused[i] {
            if lastSequence >= untilSequence { cut = true; break }
            lastSequence += 1
            accepted += 1
            if !batch.feedStamps.isEmpty, let stamp = batch.feedStamps[i], !admit(stamp, sequence: lastSequence, at: batch.receivedAt) {
                ignored += 1
                continue
            }
            sequences[i] = lastSequence
        }

        // 3. Apply, every partition its own events.
        let markets = self.markets, securities = self.securities
        let applyAt = sequences, ownerOf = owners, resolved = refs
        var unchanged = [Int](repeating: 0, count: count)
        partitions.withUnsafeMutableBufferPointer { parts in
            unchanged.withUnsafeMutableBufferPointer { unchanged in
                batch.events.withUnsafeBufferPointer { events in
                    let target = SharedPartitions(parts: parts, unchanged: unchanged, events: events)
                    DispatchQueue.concurrentPerform(iterations: count) { k in
                        target.unchanged[k] = target.apply(partition: k, sequences: applyAt, owners: ownerOf, refs: resolved,
                                                           at: batch.receivedAt, markets: markets, securities: securities)
                    }
                }
            }
        }
        ignored += unchanged.reduce(0, +)
        mergeRaisedExceptions(since: exceptionMark)
        return finish(batch, errors: errors, accepted: accepted, ignored: ignored, cut: cut)
    }

    /// Numbers the exceptions the partitions raised, merging them in sequence order with those raised
    /// on this thread since `mark` (feed gaps), as the sequential path would have.
    private mutating func mergeRaisedExceptions(since mark: Int64) {
        guard partitions.contains(where: { !$0.raised.isEmpty }) else { return }
        var merged: [ExceptionRecord] = []
        while let last = exceptions.last, last.exceptionId >= mark { merged.append(exceptions.removeLast()) }
        merged.reverse()
        nextExceptionId = mark
        for k in partitions.indices {
            merged.append(contentsOf: partitions[k].raised)
            partitions[k].raised.removeAll(keepingCapacity: true)
        }
        let ordered = merged.enumerated().sorted { ($0.element.sequence, $0.offset) < ($1.element.sequence, $1.offset) }
        for (_, e) in ordered {
            raise(e.kind, sequence: e.sequence, line: e.line, field: e.field, message: e.message, subject: e.subject, raw: e.raw, at: e.receivedAt)
        }
    }
}

/// Where the validating partitions write: one slot per event (each written by its owner) or per partition.
private struct ValidationSlots: @unchecked Sendable {
    let owners: UnsafeMutableBufferPointer<UInt8>
    let refs: UnsafeMutableBufferPointer<ResolvedRefs>
    let found: UnsafeMutableBufferPointer<[(index: Int, error: FieldError)]>
    let newTrades: UnsafeMutableBufferPointer<[Int]>
    let needs: UnsafeMutableBufferPointer<Bool>

}

extension EngineState {
    /// Validates `events` against this state, which nobody changes meanwhile, one slice per partition's
    /// thread, noting which partition owns each event.
    private func validateInSlices(_ events: [Event], into slots: ValidationSlots) {
        events.withUnsafeBufferPointer { buffer in
            let events = ReadOnlyEvents(buffer: buffer)
            DispatchQueue.concurrentPerform(iterations: partitions.count) { k in validateSlice(k, of: events, into: slots) }
        }
    }

    private func validateSlice(_ k: Int, of events: ReadOnlyEvents, into slots: ValidationSlots) {
        let count = partitions.count
        var scope = BatchScope()
        var errors: [(index: Int, error: FieldError)] = []
        var newTrades: [Int] = []
        for i in (events.buffer.count * k / count)..<(events.buffer.count * (k + 1) / count) {
            var completed: Event?
            if let f = validate(events.buffer[i], scope: &scope, completed: &completed, refs: &slots.refs[i]) {
                errors.append((i, f))
                continue
            }
            slots.owners[i] = UInt8(partition(ofSecurity: slots.refs[i].security))
            if slots.refs[i].isNewTrade { newTrades.append(i) }
        }
        slots.found[k] = errors
        slots.newTrades[k] = newTrades
        slots.needs[k] = !scope.marketDates.isEmpty
    }
}

/// A batch's events, read in place by every validating thread.
private struct ReadOnlyEvents: @unchecked Sendable {
    let buffer: UnsafeBufferPointer<Event>
}

/// The partitions, each written by its own thread, and one result slot per partition.
private struct SharedPartitions: @unchecked Sendable {
    let parts: UnsafeMutableBufferPointer<Partition>
    let unchanged: UnsafeMutableBufferPointer<Int>
    /// The batch's events, read in place (an array subscript would copy each one).
    let events: UnsafeBufferPointer<Event>

    /// Applies partition `k`'s accepted events in order; returns how many changed nothing.
    func apply(partition k: Int, sequences: [Int64], owners: [UInt8], refs: [ResolvedRefs], at time: Timestamp,
               markets: [MarketState], securities: ContiguousArray<SecurityEntry>) -> Int {
        var same = 0
        for i in events.indices where sequences[i] != 0 && owners[i] == k {
            let r = refs[i]
            let changed: Bool
            switch events[i] {
            case .trade(let t):
                changed = parts[k].applyTrade(t, book: r.book, security: r.security, market: Int(securities[Int(r.security)].market),
                                              tradeHash: r.tradeHash, sequence: sequences[i], at: time, markets: markets)
            case .sodPosition(let s):
                changed = parts[k].applySOD(s, book: r.book, security: r.security, market: Int(securities[Int(r.security)].market),
                                            sequence: sequences[i], at: time, markets: markets)
            case .price(let p):
                changed = parts[k].applyPrice(p, security: r.security)
            case .availability(let a):
                changed = parts[k].applyAvailability(a, security: r.security)
            default:
                changed = false
            }
            if !changed { same += 1 }
        }
        return same
    }
}
