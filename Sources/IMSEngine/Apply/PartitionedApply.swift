import CIMSIntrinsics
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
        batch.events.withUnsafeBufferPointer { events in
            processPartitioned(batch, events: events, untilSequence: untilSequence)
        }
    }

    /// `processPartitioned`, with the batch's events in place (an array subscript would copy each one out).
    private mutating func processPartitioned(_ batch: IngestBatch, events: UnsafeBufferPointer<Event>, untilSequence: Int64) -> BatchOutcome? {
        for i in events.indices where !events[i].concernsOneSecurity { return nil }
        let work = BatchWork(events: events, partitions: partitions.count)

        // 1. Validation, read-only: each partition's thread takes a slice of the batch.
        validateInSlices(work)
        if work.slices.contains(where: \.needsSequential) || contractsCrossPartitions(events, work: work) { return nil }
        let conflicts = tradeConflicts(batch.events, newTrades: work.slices.flatMap(\.newTrades), refs: work.refs)

        // 2. The batch's fate, in input order.
        var refused = [Bool](repeating: false, count: batch.events.count)
        var errors = batch.rejected
        for list in work.slices.map(\.errors) + [conflicts, feedStampErrors(batch)] {
            for (i, f) in list {
                refused[i] = true
                errors.append(lineError(batch, index: i, f))
            }
        }
        var growth = MassGrowth(markets: markets.count)
        for k in 0..<work.slices.count { growth.merge(work.slices[k].growth) }
        for (i, f) in positionBoundErrors(batch, growth: growth, refused: refused, refs: UnsafeBufferPointer(work.refs)) {
            refused[i] = true
            errors.append(lineError(batch, index: i, f))
        }
        if !errors.isEmpty { errors.sort { $0.line < $1.line } }
        if batch.mode == .atomic && !errors.isEmpty {
            return BatchOutcome(accepted: 0, ignored: 0, rejected: errors, lastSequence: lastSequence, applied: false)
        }
        let exceptionMark = exceptionLog.nextId
        var accepted = 0, ignored = 0, cut = false
        for i in batch.events.indices where !refused[i] {
            if lastSequence >= untilSequence { cut = true; break }
            accepted += 1
            if let sequence = nextSequence(for: batch, event: i) { work.sequences[i] = sequence } else { ignored += 1 }
        }

        // 3. Apply, every partition its own events.
        let markets = self.markets, securities = reference.securities, time = batch.receivedAt, count = partitions.count
        forEachPartitionInParallel { k, partition in
            var share: [Int] = []
            share.reserveCapacity(work.events.count / count * 2)
            for i in work.events.indices where work.sequences[i] != 0 && work.owners[i] == k { share.append(i) }
            work.slices[k].unchanged = partition.apply(share, of: work, at: time, markets: markets, securities: securities)
        }
        ignored += work.slices.reduce(0) { $0 + $1.unchanged }
        for k in partitions.indices { takeOrderFills(partition: k) }
        mergeRaisedExceptions(since: exceptionMark)
        return finish(batch, errors: errors, accepted: accepted, ignored: ignored, cut: cut)
    }

    /// Whether a contract of the batch belongs to a partition other than the one that keeps it (or keeps
    /// another of its versions in this batch): a move between partitions takes the sequential path.
    private func contractsCrossPartitions(_ events: UnsafeBufferPointer<Event>, work: BatchWork) -> Bool {
        var owners: [String: UInt8] = [:]
        for i in events.indices {
            guard case .contract(let c) = events[i], work.refs[i].security >= 0 else { continue }
            let owner = work.owners[i]
            if let seen = owners[c.contractId] {
                if seen != owner { return true }
            } else {
                owners[c.contractId] = owner
                if let k = contractPartition(c.contractId), k != Int(owner) { return true }
            }
        }
        return false
    }

    /// Numbers the exceptions the partitions raised, merging them in sequence order with those raised
    /// on this thread since `mark` (feed gaps), as the sequential path would have.
    private mutating func mergeRaisedExceptions(since mark: Int64) {
        guard partitions.contains(where: { !$0.raised.isEmpty }) else { return }
        var merged = exceptionLog.removeAll(from: mark)
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

/// The working memory of one partitioned batch, shared by the threads that work on it: per event its
/// owner, resolved ids and sequence number, per slice what its validation found. Each slot is written by
/// one thread, and read by others only after the phase that wrote it. `@unchecked Sendable` for that reason:
/// the phases are separated by `concurrentPerform`'s barrier, which the compiler cannot see.
private final class BatchWork: @unchecked Sendable {
    /// The batch's events, valid while the batch is processed.
    let events: UnsafeBufferPointer<Event>
    let owners: UnsafeMutableBufferPointer<UInt8>
    let refs: UnsafeMutableBufferPointer<ResolvedRefs>
    /// Each trade's id, kept apart so that `ResolvedRefs` stays a plain value (cheap to copy).
    let tradeIds: UnsafeMutableBufferPointer<String>
    /// 0 for an event not applied (refused, a duplicate feed stamp, or past the target sequence).
    let sequences: UnsafeMutableBufferPointer<Int64>
    let slices: UnsafeMutableBufferPointer<SliceResult>

    struct SliceResult {
        var errors: [(index: Int, error: FieldError)] = []
        var newTrades: [Int] = []
        /// Its validation gave a market its first business date: the batch takes the sequential path.
        var needsSequential = false
        /// How much its events could raise position masses, by market.
        var growth = MassGrowth(markets: 0)
        /// Events of this partition that changed nothing.
        var unchanged = 0
    }

    init(events: UnsafeBufferPointer<Event>, partitions: Int) {
        self.events = events
        owners = .allocate(capacity: events.count)
        owners.initialize(repeating: 0)
        refs = .allocate(capacity: events.count)
        refs.initialize(repeating: ResolvedRefs())
        tradeIds = .allocate(capacity: events.count)
        tradeIds.initialize(repeating: "")
        sequences = .allocate(capacity: events.count)
        sequences.initialize(repeating: 0)
        slices = .allocate(capacity: partitions)
        slices.initialize(repeating: SliceResult())
    }

    deinit {
        owners.deallocate()
        refs.deallocate()
        tradeIds.deinitialize().deallocate()
        sequences.deallocate()
        slices.deinitialize().deallocate()
    }
}

extension EngineState {
    /// Validates the batch, a slice per partition's thread (a non-mutating method: the threads share `self`).
    private func validateInSlices(_ work: BatchWork) {
        DispatchQueue.concurrentPerform(iterations: partitions.count) { k in validateSlice(k, of: work) }
    }

    /// Validates slice `k` of the batch against this state, which nobody changes meanwhile, noting which
    /// partition owns each event.
    ///
    /// The trade index is far larger than the caches, so its reads are prefetched ahead of the validation:
    /// `far` events ahead a trade's id is hashed and the summary words of its look-ups are prefetched, `near`
    /// events ahead the slots of those a summary may hold. Many trades' memory reads then overlap.
    private func validateSlice(_ k: Int, of work: BatchWork) {
        let count = partitions.count, n = work.events.count
        var scope = BatchScope()
        var result = BatchWork.SliceResult()
        result.growth = MassGrowth(markets: markets.count)
        let slice = (n * k / count)..<(n * (k + 1) / count)
        let tradeIndexes = partitions.map(\.tradeIndex.checkingPrefetcher) // valid throughout: validation changes nothing
        func hashAhead(_ i: Int) {
            guard i < slice.upperBound, case .trade(let t) = work.events[i] else { return }
            let hash = ProbeTable.hash(of: t.tradeId)
            work.refs[i].tradeHash = hash
            work.tradeIds[i] = t.tradeId
            for index in tradeIndexes { index.prefetchFind(hash: hash) }
        }
        func probeAhead(_ i: Int) {
            guard i < slice.upperBound, work.refs[i].tradeHash != 0 else { return }
            for index in tradeIndexes { index.prefetchSlot(ifSummaryMayHold: work.refs[i].tradeHash) }
        }
        for i in slice.prefix(Self.prefetchFar) { hashAhead(i) }
        for i in slice.prefix(Self.prefetchNear) { probeAhead(i) }
        for i in slice {
            hashAhead(i + Self.prefetchFar)
            probeAhead(i + Self.prefetchNear)
            var completed: Event?
            if let f = validate(work.events[i], scope: &scope, completed: &completed, refs: &work.refs[i]) {
                result.errors.append((i, f))
                continue
            }
            work.owners[i] = UInt8(partition(ofSecurity: work.refs[i].security))
            if work.refs[i].tradeHash != 0 {
                result.growth.note(tradeQuantity: work.refs[i].trade.quantity, market: work.refs[i].market)
            } else if work.refs[i].market >= 0 {
                result.growth.note(work.events[i], market: work.refs[i].market)
            }
            if work.refs[i].isNewTrade { result.newTrades.append(i) }
        }
        result.needsSequential = !scope.marketDates.isEmpty
        work.slices[k] = result
    }

    /// How many events ahead the first and second prefetch of a pipelined loop run: far enough that memory
    /// answers in time, near enough that the lines are still in cache when used.
    static let prefetchFar = 24
    static let prefetchNear = 12
}

extension Partition {
    /// Applies the events `share` of a batch (this partition's, in order); returns how many changed nothing.
    ///
    /// What a trade touches is far larger than the caches and read at random, so it is prefetched ahead:
    /// `far` trades ahead its position-table slot and (for a new trade) its trade-index slot, `near` trades
    /// ahead (those slots now in cache) its position record, whose index it notes in the trade's refs.
    fileprivate mutating func apply(
        _ share: [Int], of work: BatchWork, at time: Timestamp, markets: [MarketState],
        securities: ContiguousArray<SecurityEntry>
    ) -> Int {
        let far = EngineState.prefetchFar, near = EngineState.prefetchNear
        for j in share.indices.prefix(far) { prefetchIndexes(work.refs[share[j]]) }
        for j in share.indices.prefix(near) { prefetchPosition(&work.refs[share[j]]) }
        var same = 0
        for (j, i) in share.enumerated() {
            if j + far < share.count { prefetchIndexes(work.refs[share[j + far]]) }
            if j + near < share.count { prefetchPosition(&work.refs[share[j + near]]) }
            let sequence = work.sequences[i]
            if work.refs[i].tradeHash != 0 {
                // A trade, applied from what its validation resolved: no copy of the event.
                let r = work.refs[i]
                let m = Int(securities[Int(r.security)].market)
                var orderId: String?
                if r.trade.hasOrder, case .trade(let t) = work.events[i] { orderId = t.orderId }
                switch applyTrade(
                    r.trade, id: work.tradeIds[i], book: r.book, security: r.security, market: m,
                    tradeHash: r.tradeHash, record: r.tradeRecord, position: r.position, markets: markets,
                    orderId: orderId, sequence: sequence, at: time)
                {
                case .stale: same += 1
                case .applied: break
                case .arrivedAfterSnapshot:
                    if case .trade(let t) = work.events[i] { raiseLateTrade(t, today: markets[m].businessDate!, sequence: sequence, at: time) }
                }
                continue
            }
            let r = work.refs[i]
            let changed: Bool
            switch work.events[i] {
            case .sodPosition(let s):
                changed = applySOD(
                    s, book: r.book, security: r.security, market: Int(securities[Int(r.security)].market),
                    sequence: sequence, at: time, markets: markets)
            case .price(let p):
                changed = applyPrice(p, security: r.security, market: markets[Int(securities[Int(r.security)].market)], at: time)
            case .availability(let a):
                changed = applyAvailability(a, security: r.security, ladder: markets[Int(securities[Int(r.security)].market)].ladder)
            case .contract(let c):
                changed = applyContract(c, security: r.security, book: r.book, market: Int(securities[Int(r.security)].market), markets: markets)
            default:
                changed = false
            }
            if !changed { same += 1 }
        }
        return same
    }

    /// Prefetches a trade's position-table slot and, if it is new, the trade-index slot it will take.
    @inline(__always) private func prefetchIndexes(_ r: ResolvedRefs) {
        guard r.tradeHash != 0 else { return }
        positionTable.prefetcher.prefetchFind(hash: EngineState.hash(positionKey: EngineState.positionKey(book: r.book, security: r.security)))
        if case .new = r.tradeRecord { tradeIndex.prefetcher.prefetchInsert(hash: r.tradeHash) }
    }

    /// Finds a trade's position if it exists (noting it in `r`) and prefetches its record.
    @inline(__always) private func prefetchPosition(_ r: inout ResolvedRefs) {
        guard r.tradeHash != 0, let p = existingPosition(book: r.book, security: r.security) else { return }
        r.position = p
        positions.withUnsafeBytes { records in
            let record = records.baseAddress! + Int(p) * MemoryLayout<PositionRecord>.stride
            for line in stride(from: 0, to: MemoryLayout<PositionRecord>.size, by: 64) { cims_prefetch_for_write(record + line) }
        }
    }
}
