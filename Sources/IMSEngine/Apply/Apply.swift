import IMSDomain

extension EngineState {
    /// Validates and applies a batch: atomic batches all-or-nothing, partial ones line by line.
    ///
    /// Every accepted event gets the next sequence number; rejected lines of a
    /// partial batch become `REJECTED_INPUT` exceptions.
    ///
    /// `untilSequence` stops applying after that event (time travel to a sequence inside a batch).
    /// With more than one partition, a long batch of per-security events is validated and applied by
    /// its partitions in parallel (`parallel: false` forces the sequential path; the results are equal).
    public mutating func process(_ batch: IngestBatch, untilSequence: Int64 = .max, parallel: Bool = true) -> BatchOutcome {
        if parallel && !batch.wantsResults && partitions.count > 1 && batch.events.count >= Self.parallelBatchThreshold,
            let outcome = processPartitioned(batch, untilSequence: untilSequence)
        {
            return outcome
        }
        var scope = BatchScope()
        var errors = batch.rejected
        // Validation may complete an event (a security matched by identifier); those are kept aside.
        var completed: [Int: Event] = [:]
        var refused: [Bool] = []
        var resolved = [ResolvedRefs](repeating: ResolvedRefs(), count: batch.events.count)
        var newTrades: [Int] = []
        for i in batch.events.indices {
            var replacement: Event?
            if let f = validate(batch.events[i], scope: &scope, completed: &replacement, refs: &resolved[i]) {
                if refused.isEmpty { refused = Array(repeating: false, count: batch.events.count) }
                refused[i] = true
                errors.append(lineError(batch, index: i, f))
            } else if let replacement {
                completed[i] = replacement
            } else if resolved[i].isNewTrade {
                newTrades.append(i)
            }
        }
        var late = resolved.withUnsafeMutableBufferPointer({ tradeConflicts(batch.events, newTrades: newTrades, refs: $0) })
        late += feedStampErrors(batch)
        for (i, f) in late {
            if refused.isEmpty { refused = Array(repeating: false, count: batch.events.count) }
            refused[i] = true
            errors.append(lineError(batch, index: i, f))
        }
        var growth = MassGrowth(markets: markets.count)
        for i in batch.events.indices where refused.isEmpty || !refused[i] {
            let security = resolved[i].security >= 0 ? resolved[i].security : nil
            growth.note(batch.events[i], market: security.map { reference.securities[Int($0)].market })
        }
        for (i, f) in resolved.withUnsafeBufferPointer({ positionBoundErrors(batch, growth: growth, refused: refused, refs: $0) }) {
            if refused.isEmpty { refused = Array(repeating: false, count: batch.events.count) }
            refused[i] = true
            errors.append(lineError(batch, index: i, f))
        }
        if !errors.isEmpty { errors.sort { $0.line < $1.line } }
        // Per-line results, when asked: every line starts not applied; refused lines are rejected.
        var results: [EventResult] = []
        if batch.wantsResults {
            results = batch.events.indices.map { EventResult(line: Int(batch.lines[$0]), status: .notApplied) }
            for i in batch.events.indices where !refused.isEmpty && refused[i] { results[i].status = .rejected }
            results += batch.rejected.map { EventResult(line: $0.line, status: .rejected) }
        }
        if batch.mode == .atomic && !errors.isEmpty {
            return BatchOutcome(
                accepted: 0, ignored: 0, rejected: errors, lastSequence: lastSequence, applied: false,
                results: Self.inLineOrder(results))
        }
        var ignored = 0
        var accepted = 0
        var cut = false
        for i in batch.events.indices where refused.isEmpty || !refused[i] {
            if lastSequence >= untilSequence { cut = true; break }
            accepted += 1
            guard let sequence = nextSequence(for: batch, event: i) else {
                ignored += 1
                if !results.isEmpty { results[i] = EventResult(line: results[i].line, status: .unchanged, sequence: lastSequence) }
                continue
            }
            let changed =
                if let e = completed[i] { apply(e, sequence: sequence, at: batch.receivedAt) } else {
                    apply(batch.events[i], sequence: sequence, at: batch.receivedAt, refs: resolved[i])
                }
            if !changed { ignored += 1 }
            if !results.isEmpty { results[i] = EventResult(line: results[i].line, status: changed ? .applied : .unchanged, sequence: sequence) }
        }
        var outcome = finish(batch, errors: errors, accepted: accepted, ignored: ignored, cut: cut)
        outcome.results = Self.inLineOrder(results)
        return outcome
    }

    /// Results sorted by input line (decode failures were appended after the events).
    private static func inLineOrder(_ results: [EventResult]) -> [EventResult] {
        results.sorted { $0.line < $1.line }
    }

    /// Gives accepted event `i` the next sequence number; nil when its feed stamp was seen before, so there
    /// is nothing to apply.
    mutating func nextSequence(for batch: IngestBatch, event i: Int) -> Int64? {
        lastSequence += 1
        if !batch.feedStamps.isEmpty, let stamp = batch.feedStamps[i], !admit(stamp, sequence: lastSequence, at: batch.receivedAt) {
            return nil
        }
        return lastSequence
    }

    /// A validation failure as the answer reports it (with the input kept for the exceptions list in partial mode).
    func lineError(_ batch: IngestBatch, index i: Int, _ f: FieldError) -> LineError {
        // The line as received: in memory when live, from the journal for batches of versions that journaled
        // every line's text, and otherwise (a replay) filled in by the `lineTexts` entry that follows.
        var raw: String?
        if batch.mode == .partial {
            if i < batch.rawLines.count { raw = batch.rawLines[i] } else if let texts = batch.lineTexts, i < texts.count { raw = texts[i] }
        }
        // A record of an upstream topic says where it sits, so the desk can find it there.
        var message = f.message
        if !batch.feedStamps.isEmpty, let position = batch.feedStamps[i]?.topicPosition { message = "\(position): \(message)" }
        return LineError(line: Int(batch.lines[i]), field: f.field, error: message, raw: raw)
    }

    /// Records a processed batch's rejected lines and counts, and makes its outcome.
    mutating func finish(_ batch: IngestBatch, errors: [LineError], accepted: Int, ignored: Int, cut: Bool) -> BatchOutcome {
        // Texts held only in memory (lines refused by validation, not by decoding) are journaled afterwards.
        let unjournaled = batch.lineTexts != nil && batch.rawLines.isEmpty && !cut && errors.count > batch.rejected.count
        let decodeRefused = unjournaled && !batch.rejected.isEmpty ? Set(batch.rejected.map(\.line)) : []
        // A refused decision is answered to its sender (and on the audit trail), not queued for the desk.
        for e in errors where !cut && batch.mode != .decisions {
            if unjournaled, let raw = e.raw, !decodeRefused.contains(e.line) {
                if textsToJournal == nil { textsToJournal = ExceptionTexts(at: batch.receivedAt) }
                textsToJournal!.exceptionIds.append(exceptionLog.nextId)
                textsToJournal!.texts.append(raw)
            }
            raise(.rejectedInput, sequence: lastSequence, line: e.line, field: e.field, message: e.error, raw: e.raw, at: batch.receivedAt)
        }
        if !cut { for mark in batch.feedMarks { _ = feeds.receive(mark) } }
        counters.events += Int64(accepted)
        counters.ignored += Int64(ignored)
        counters.rejected += Int64(errors.count)
        return BatchOutcome(accepted: accepted, ignored: ignored, rejected: errors, lastSequence: lastSequence, applied: true)
    }

    /// Applies one validated event. Returns false when it changed nothing (a duplicate or stale version).
    @discardableResult
    mutating func apply(_ event: Event, sequence: Int64, at time: Timestamp, refs: ResolvedRefs = ResolvedRefs()) -> Bool {
        switch event {
        case .trade(let t): return applyTrade(t, sequence: sequence, at: time, refs: refs)
        case .price(let p): return applyPrice(p, refs: refs, at: time)
        case .sodPosition(let s): return applySOD(s, sequence: sequence, at: time, refs: refs)
        case .marketDayRoll(let r): return applyDayRoll(r, sequence: sequence, at: time)
        case .contract(let c): return applyContract(c, refs: refs)
        case .availability(let a): return applyAvailability(a, refs: refs)
        case .fxRate(let f):
            if fxRates[f.currency] == f { return false }
            fxRates[f.currency] = f
            changeLog.currencies.insert(f.currency)
            return true
        case .security(let s): return referenceChanged(applySecurity(s))
        case .book(let b): return referenceChanged(applyBook(b))
        case .counterparty(let c):
            if let old = reference.counterparties[c.counterpartyId], !isNewer(c.version, than: old.version) || old == c { return false }
            reference.counterparties[c.counterpartyId] = c
            return referenceChanged(true)
        case .aggregationUnit(let u): return referenceChanged(applyAggregationUnit(u))
        case .command(let c):
            return c.engine.apply(to: &self, sequence: sequence, at: time)
        }
    }

    /// Bumps the reference data's version when it changed, so the change feed publishes it.
    private mutating func referenceChanged(_ changed: Bool) -> Bool {
        if changed { reference.version &+= 1 }
        return changed
    }

    /// Versioned upsert: an absent version is last-write-wins; otherwise only a newer version applies.
    func isNewer(_ new: Int64?, than old: Int64?) -> Bool {
        guard let new, let old else { return true }
        return new > old
    }
}
