import Dispatch
import Foundation
import HTTPTypes
import HummingbirdCore
import IMSDomain
import IMSEngine
import IMSIngest
import IMSJournal
import IMSRuntime
import Synchronization
import Testing

@testable import IMSServer

/// `asOf` replays run on a bounded pool, not a thread each.
struct HistoryPoolTests {
    @Test func manyConcurrentAsOfQueriesRunAtMostTwoReplaysAtOnce() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ims-history-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let opened = try DataDirectory.open(dir, catalog: .embedded, now: Timestamp(micros: 1))
        let engine = Engine(state: opened.state, journal: opened.journal, snapshots: opened.snapshots)
        var text = (0..<200).map { #"{"type":"fxRate","currency":"EUR","usdRate":1.\#($0 + 10)}"# }.joined(separator: "\n")
        for _ in 0..<20 {
            let batch = text.withUTF8 { BatchDecoder.decodeNDJSON(UnsafeRawBufferPointer($0), receivedAt: Timestamp(micros: 2)) }
            _ = try await engine.submit(batch)
        }
        engine.stop()
        let history = History(dataDirectory: dir, catalog: .embedded, workers: 2, maxQueued: 64)
        let sequences = try await withThrowingTaskGroup(of: Int64.self) { group in
            for n in 1...24 { group.addTask { try await history.state(at: .sequence(Int64(n * 150))).lastSequence } }
            return try await group.reduce(into: [Int64]()) { $0.append($1) }
        }
        #expect(Set(sequences) == Set((1...24).map { Int64($0 * 150) }))
        #expect(history.peakConcurrentReplays.load(ordering: .relaxed) <= 2)
        // Over the queue's limit, a request is refused at once instead of waiting without bound.
        let full = History(dataDirectory: dir, catalog: .embedded, workers: 1, maxQueued: 0)
        await #expect(throws: HistoryBusy.self) { _ = try await full.state(at: .sequence(300)) }
    }
}

/// The read pool starts threads when work comes, never more than it may, and holds none when idle.
struct ReadPoolTests {
    @Test func threadsStartOnDemandStayBoundedAndEndWhenIdle() async throws {
        let pool = ReadPool(threads: 2, niceness: 0, maxQueued: 64, idleSeconds: 0.2)
        #expect(pool.liveThreads == 0)
        final class Gauge: Sendable { let running = Atomic<Int>(0), peak = Atomic<Int>(0) }
        let gauge = Gauge()
        let results = try await withThrowingTaskGroup(of: Int.self) { group in
            for n in 0..<40 {
                group.addTask {
                    try await pool.run(n.isMultiple(of: 2) ? .stream : .query) {
                        let now = gauge.running.add(1, ordering: .relaxed).newValue
                        gauge.peak.max(now, ordering: .relaxed)
                        Thread.sleep(forTimeInterval: 0.002)
                        gauge.running.subtract(1, ordering: .relaxed)
                        return n
                    }
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(results.sorted() == Array(0..<40))
        #expect(gauge.peak.load(ordering: .relaxed) <= 2)
        #expect(pool.liveThreads <= 2)
        // Idle for longer than idleSeconds: every thread has ended.
        var waited = 0.0
        while pool.liveThreads > 0 && waited < 10 { try await Task.sleep(for: .milliseconds(50)); waited += 0.05 }
        #expect(pool.liveThreads == 0)
        // And work still runs after.
        #expect(try await pool.run { 7 } == 7)
    }
}

/// Long reads (rule previews, aggregates) have a lane of their own and compute on a copy of the read model.
@Suite(.serialized)
struct LongReadTests {
    final class Gauge: Sendable { let running = Atomic<Int>(0), peak = Atomic<Int>(0) }

    static func waitFor(_ condition: () -> Bool) async throws {
        var waited = 0
        while !condition() && waited < 1_000 { try await Task.sleep(for: .milliseconds(10)); waited += 1 }
    }

    @Test func atMostOneLongReadRunsFewWaitAndQueriesGoOnMeanwhile() async throws {
        let pool = ReadPool(threads: 2, niceness: 0, maxQueued: 64, maxLongRunning: 1, maxLongQueued: 2, idleSeconds: 0.5)
        let gate = DispatchSemaphore(value: 0)
        let gauge = Gauge()
        var released = false
        defer { if !released { for _ in 0..<3 { gate.signal() } } }
        var long: [Task<Int, any Error>] = []
        for n in 0..<3 {
            long.append(
                Task {
                    try await pool.run(.long) { () -> Int in
                        gauge.peak.max(gauge.running.add(1, ordering: .relaxed).newValue, ordering: .relaxed)
                        gate.wait()
                        gauge.running.subtract(1, ordering: .relaxed)
                        return n
                    }
                })
            // One at a time: the first runs, the next ones wait in the lane.
            try await Self.waitFor { gauge.running.load(ordering: .relaxed) == 1 && pool.waitingLongReads == n }
        }
        #expect(gauge.running.load(ordering: .relaxed) == 1)
        #expect(pool.waitingLongReads == 2)
        // The second thread serves pages while the long read runs and the others wait.
        #expect(try await pool.run(.query) { 5 } == 5)
        // The lane is full: refused at once, 503 with Retry-After.
        await #expect(throws: ReadPoolBusy.self) { _ = try await pool.run(.long) { 0 } }
        for _ in 0..<3 { gate.signal() }
        released = true
        var done: [Int] = []
        for task in long { done.append(try await task.value) }
        #expect(done.sorted() == [0, 1, 2])
        #expect(gauge.peak.load(ordering: .relaxed) == 1)
        let retry = ReadPoolBusy(long: true).response.headers[values: .retryAfter]
        #expect(retry == ["5"])
    }

    /// Long reads take at most their share of a thread: after one that took d, the lane rests d × (1/share − 1).
    @Test func theLongLaneRestsInProportionToWhatItRan() async throws {
        let pool = ReadPool(threads: 2, niceness: 0, maxQueued: 64, longShare: 0.5, idleSeconds: 0.5)
        let firstEnded = try await pool.run(.long) { () -> UInt64 in
            Thread.sleep(forTimeInterval: 0.1)
            return DispatchTime.now().uptimeNanoseconds
        }
        let secondStarted = try await pool.run(.long) { DispatchTime.now().uptimeNanoseconds }
        #expect(secondStarted >= firstEnded + 90_000_000, "rested \((secondStarted - firstEnded) / 1_000_000) ms after a 100 ms read at a half share")
    }

    /// A long read holds no lock: while one is stuck, ingest is still answered (answers wait until the read
    /// model shows them, so a long read holding the read model's lock would hold every answer).
    @Test func aLongReadNeverHoldsTheReadModel() async throws {
        let engine = Engine(state: EngineState(catalog: .embedded))
        defer { engine.stop() }
        let pool = ReadPool(threads: 2, niceness: 0, maxQueued: 64, idleSeconds: 0.5)
        let gate = DispatchSemaphore(value: 0)
        let started = Atomic<Bool>(false)
        let long = Task {
            await pool.long(engine.readModel) { m in
                started.store(true, ordering: .relaxed)
                gate.wait()
                return JSONResponse.raw("{\"sequence\":\(m.lastSequence)}")
            }
        }
        defer { gate.signal() }
        try await Self.waitFor { started.load(ordering: .relaxed) }
        var text = #"{"type":"fxRate","currency":"EUR","usdRate":1.1}"#
        let batch = text.withUTF8 { BatchDecoder.decodeNDJSON(UnsafeRawBufferPointer($0), receivedAt: Timestamp(micros: 2)) }
        let answered = Atomic<Bool>(false)
        let ingest = Task {
            _ = try await engine.submit(batch); answered.store(true, ordering: .relaxed)
        }
        try await Self.waitFor { answered.load(ordering: .relaxed) }
        let wasAnswered = answered.load(ordering: .relaxed)
        #expect(wasAnswered, "ingest was answered while the long read ran")
        #expect(engine.readModel.read { $0.lastSequence } == 1)
        gate.signal()
        _ = await long.value
        try await ingest.value
    }
}

/// A subscriber's pending keys: coalesced, oldest first, each with the time of its earliest unsent change.
struct PendingKeysTests {
    @Test func keysLeaveInTheOrderTheyFirstChangedWithTheirFirstTime() {
        var pending = PendingKeys<Int32>()
        pending.mark(7, at: Timestamp(micros: 10))
        pending.mark(3, at: Timestamp(micros: 20))
        pending.mark(7, at: Timestamp(micros: 30)) // changed again while waiting: keeps its place and time
        pending.mark(5, at: Timestamp(micros: 40))
        #expect(pending.count == 3)
        let first = pending.take(2)
        #expect(first.map(\.key) == [7, 3] && first.map(\.since.micros) == [10, 20])
        pending.mark(7, at: Timestamp(micros: 50)) // sent, so it waits again, behind 5, with the new time
        #expect(pending.take(10).map { [$0.key, Int32($0.since.micros)] } == [[5, 40], [7, 50]])
        #expect(pending.isEmpty)
    }

    @Test func underASteadyBacklogNoKeyStarves() {
        // 5,000 keys keep changing; each turn sends 1,000. Every key is sent within five turns of changing.
        var pending = PendingKeys<Int32>()
        var lastSent = [Int32: Int](), turn = 0
        var rng = SystemRandomNumberGenerator()
        for k in 0..<5_000 { pending.mark(Int32(k), at: Timestamp(micros: 0)) }
        while turn < 60 {
            for _ in 0..<2_000 { pending.mark(Int32.random(in: 0..<5_000, using: &rng), at: Timestamp(micros: Int64(turn))) }
            for (key, since) in pending.take(1_000) {
                #expect(turn - Int(since.micros) <= 5, "key \(key) waited \(turn - Int(since.micros)) turns")
                lastSent[key] = turn
            }
            turn += 1
        }
        #expect(lastSent.count == 5_000)
    }
}

/// A stream's commands are read strictly too: a filter naming `clientId` twice is refused, naming it, and
/// subscribes to nothing.
struct StreamCommandTests {
    @Test func aRepeatedKeyInACommandIsRefused() {
        let subscriber = Subscription<PositionStream>(id: 1)
        StreamSession<PositionStream>.handle(command: #"{"action":"subscribe","filter":{"clientId":"C1","clientId":"C2"}}"#, subscriber: subscriber)
        let state = subscriber.state.withLock { ($0.phase, $0.notices) }
        #expect(state.0 == .idle)
        #expect(state.1.count == 1 && state.1[0].contains(#""field":"filter.clientId""#), "\(state.1)")
        StreamSession<PositionStream>.handle(command: #"{"action":"subscribe","filter":{"clientId":"C1"}}"#, subscriber: subscriber)
        #expect(subscriber.state.withLock { $0.phase } != .idle)
    }
}

/// `/ws/limits`' commands as every stream's: a repeated key, an oversized value and a client naming a unit
/// are refused naming the field, and subscribe to nothing; a client's `{}` is its own limits.
struct LimitsStreamCommandTests {
    static func refusal(_ command: String, clientScope: String? = nil) -> String? {
        let subscriber = Subscription<LimitsStream>(id: 1)
        StreamSession<LimitsStream>.handle(command: command, subscriber: subscriber, clientScope: clientScope)
        let (phase, notices) = subscriber.state.withLock { ($0.phase, $0.notices) }
        #expect(phase == .idle, "\(command) subscribed")
        return notices.first
    }

    @Test func badFiltersAreRefusedNamingTheField() {
        #expect(Self.refusal(#"{"action":"subscribe","filter":{"clientId":"C1","clientId":"C2"}}"#)?.contains(#""field":"filter.clientId""#) == true)
        let long = String(repeating: "x", count: InputBounds.maxIdentifierBytes + 1)
        #expect(Self.refusal(#"{"action":"subscribe","filter":{"clientId":"\#(long)"}}"#)?.contains(#""field":"filter.clientId""#) == true)
        #expect(
            Self.refusal(#"{"action":"subscribe","filter":{"aggregationUnitId":"U1"}}"#, clientScope: "C1")?.contains(#""field":"filter.aggregationUnitId""#)
                == true)
        #expect(Self.refusal(#"{"action":"subscribe","filter":{}}"#)?.contains(#""field":"filter.aggregationUnitId""#) == true)
        let own = Subscription<LimitsStream>(id: 2)
        StreamSession<LimitsStream>.handle(command: #"{"action":"subscribe","filter":{}}"#, subscriber: own, clientScope: "C1")
        #expect(own.state.withLock { $0.phase } == .snapshotDue(LimitsStream.Filter(scope: .client("C1"), securityId: nil)))
    }
}

/// A subscription's life as a state machine (`SubscriptionPhase`): each transition and what it tells the sender.
struct SubscriptionPhaseTests {
    typealias Phase = SubscriptionPhase<String>

    @Test func aSubscribeIsASnapshotThenDeltas() {
        var p = Phase.idle
        do { let t = p.takeTurn(); #expect(t == .nothing) }
        #expect(p.activeFilter == nil, "nothing is marked before a subscribe")
        p.subscribe("a")
        #expect(p.activeFilter == nil, "nothing is marked until the snapshot starts")
        do { let t = p.takeTurn(); #expect(t == .snapshot("a")) }
        #expect(p.activeFilter == "a")
        do { let t = p.takeTurn(); #expect(t == .deltas("a")) }
        do { let t = p.takeTurn(); #expect(t == .deltas("a")) }
    }

    @Test func aLagIsToldOnceAndStopsDeltasUntilTheNextSubscribe() {
        var p = Phase.idle
        do { let lagged = p.fallBehind(pending: 5); #expect(!lagged, "only an active subscription can lag") }
        p.subscribe("a")
        do { let lagged = p.fallBehind(pending: 5); #expect(!lagged, "a snapshot not yet sent cannot lag") }
        _ = p.takeTurn()
        do { let lagged = p.fallBehind(pending: 7); #expect(lagged) }
        do { let lagged = p.fallBehind(pending: 9); #expect(!lagged, "already lagging: the first count stays") }
        #expect(p.activeFilter == nil)
        do { let t = p.takeTurn(); #expect(t == .laggingNotice(pending: 7)) }
        #expect(p == .stopped)
        do { let t = p.takeTurn(); #expect(t == .nothing, "told once") }
        p.subscribe("b")
        do { let t = p.takeTurn(); #expect(t == .snapshot("b")) }
    }

    @Test func unsubscribeAndResubscribeFromAnyState() {
        for start: Phase in [.idle, .snapshotDue("a"), .active("a"), .lagging("a", pending: 1), .stopped] {
            var p = start
            p.unsubscribe()
            #expect(p == .idle)
            p = start
            p.subscribe("z")
            #expect(p == .snapshotDue("z"))
        }
    }

    /// The subscription drops its pending keys when it lags past the limit, and marks nothing until the
    /// client subscribes again.
    @Test func aSubscriptionPastItsLimitDropsItsKeys() {
        let s = Subscription<PositionStream>(id: 1)
        s.subscribe(PositionFilter())
        s.state.withLock { state in
            _ = state.phase.takeTurn()
            for k in 0..<3 { state.pending.mark(Int32(k), at: Timestamp(micros: 1)) }
        }
        s.markLagging(pending: 3)
        #expect(s.pendingCount == 0)
        #expect(!s.isActive)
        let turn = s.state.withLock { $0.phase.takeTurn() }
        #expect(turn == .laggingNotice(pending: 3))
    }
}

/// With nobody connected the hub takes the feed a doze at a time, not one wake-up per record; with a
/// subscriber it reads as records come.
struct HubDozeTests {
    /// Publishes `count` records about 2 ms apart; returns the hub's reads that gave records, the time taken, and
    /// whether the hub was seen dozing meanwhile.
    static func publish(_ count: Int, to engine: Engine, hub: StreamHub) async throws -> (reads: Int, milliseconds: Double, sawDozing: Bool) {
        let before = hub.recordReads.load(ordering: .relaxed)
        let start = DispatchTime.now().uptimeNanoseconds
        var sawDozing = false
        for n in 0..<count {
            var text = #"{"type":"fxRate","currency":"EUR","usdRate":1.\#(n + 10)}"#
            let batch = text.withUTF8 { BatchDecoder.decodeNDJSON(UnsafeRawBufferPointer($0), receivedAt: Timestamp(micros: 2)) }
            _ = try await engine.submit(batch)
            try await Task.sleep(for: .milliseconds(2))
            sawDozing = sawDozing || hubConsumer(engine).dozing
        }
        // Everything published is taken (a doze at most later).
        var waited = 0
        while hubConsumer(engine).lag > 0 && waited < 500 {
            try await Task.sleep(for: .milliseconds(10))
            waited += 1
        }
        let milliseconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        return (hub.recordReads.load(ordering: .relaxed) - before, milliseconds, sawDozing)
    }

    static func hubConsumer(_ engine: Engine) -> (name: String, position: UInt64, lag: UInt64, dozing: Bool) {
        engine.feed.consumers().first { $0.name == "stream-hub" }!
    }

    @Test func withNobodyConnectedTheHubDozesAndWithASubscriberItDoesNot() async throws {
        let engine = Engine()
        defer { engine.stop() }
        let hub = StreamHub(engine: engine)
        let doze = 20.0
        // Alone: at most one read per doze (and one for the doze in progress at each end), and it says it dozes,
        // so that the operations view does not read its lag as a backlog.
        let alone = try await Self.publish(40, to: engine, hub: hub)
        #expect(alone.reads <= Int(alone.milliseconds / doze) + 2, "\(alone.reads) reads in \(alone.milliseconds) ms")
        #expect(alone.sawDozing)
        // Connected: the registration ends the doze, and records are read as they come.
        let subscriber = try #require(hub.register(PositionStream.self))
        defer { hub.unregister(subscriber) }
        var waited = 0
        while Self.hubConsumer(engine).dozing && waited < 100 {
            try await Task.sleep(for: .milliseconds(10))
            waited += 1
        }
        #expect(waited < 100, "the hub still dozes a second after a subscriber connected")
        let connected = try await Self.publish(40, to: engine, hub: hub)
        #expect(connected.reads > Int(connected.milliseconds / doze) + 2, "\(connected.reads) reads in \(connected.milliseconds) ms")
        #expect(!connected.sawDozing)
    }
}

/// A subscriber's deltas start after the change records its snapshot shows: a hub that reads the feed late (it
/// dozed, or fell behind) does not send what the snapshot already had as a delta again.
struct SnapshotThroughTests {
    @Test func recordsTheSnapshotShowsAreNotMarkedAndLaterOnesAre() async throws {
        let engine = Engine()
        defer { engine.stop() }
        let cursor = engine.feed.cursor(named: "test")
        let setup = """
            {"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}
            {"type":"security","securityId":"AAPL","marketId":"US","currency":"USD"}
            {"type":"book","bookId":"B1","legalEntity":"PB","positionType":"FIRM"}
            """
        func submit(_ text: String) async throws {
            var text = text
            _ = try await engine.submit(text.withUTF8 { BatchDecoder.decodeNDJSON(UnsafeRawBufferPointer($0), receivedAt: Timestamp(micros: 2)) })
        }
        func trade(_ id: String) -> String {
            #"{"type":"trade","tradeId":"\#(id)","version":1,"status":"NEW","bookId":"B1","securityId":"AAPL","side":"BUY","quantity":5,"price":1,"tradeDate":"2026-11-25"}"#
        }
        try await submit(setup)
        try await submit(trade("T1"))
        // The subscriber takes its snapshot now, after T1; T2 comes after it.
        let subscription = Subscription<PositionStream>(id: 1)
        subscription.subscribe(PositionFilter())
        #expect(subscription.state.withLock { $0.phase.takeTurn() } == .snapshot(PositionFilter()))
        engine.readModel.read { model in subscription.snapshotRead(through: model.feedSequence) }
        try await submit(trade("T2"))
        var records: [ChangeRecord] = []
        while case .records(let more) = cursor.next(timeout: 0.5) { records += more }
        let t2 = try #require(records.last)
        // A late hub routes every record: only T2's reaches the subscriber.
        engine.readModel.read { model in subscription.mark(Array(records.dropLast()), in: model, limit: 100) }
        #expect(subscription.pendingCount == 0, "the setup and T1 are in the snapshot")
        engine.readModel.read { model in subscription.mark([t2], in: model, limit: 100) }
        #expect(subscription.pendingCount == 1, "T2 changed the position after the snapshot")
    }
}

/// A read model rebuilt after it fell off the feed says which records it shows, so a snapshot read from it
/// bounds its subscriber's deltas as one read from an applied model does.
struct ResynchronisedModelTests {
    @Test func aRebuiltModelShowsTheRecordsPublishedWhenItWasBuilt() async throws {
        let engine = Engine(feedRecords: 4)
        defer { engine.stop() }
        var setup = """
            {"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}
            {"type":"security","securityId":"AAPL","marketId":"US","currency":"USD"}
            {"type":"book","bookId":"B1","legalEntity":"PB","positionType":"FIRM"}
            """
        _ = try await engine.submit(setup.withUTF8 { BatchDecoder.decodeNDJSON(UnsafeRawBufferPointer($0), receivedAt: Timestamp(micros: 2)) })
        let before = engine.readModel.resynchronisations
        // The model's thread is held off while batches too large to be applied by the writer itself (over 256
        // events) publish more records than the feed keeps: it falls off the feed.
        let hold = DispatchSemaphore(value: 0), holding = DispatchSemaphore(value: 0)
        Thread {
            engine.readModel.read { _ in
                holding.signal()
                hold.wait()
            }
        }.start()
        holding.wait()
        for n in 0..<12 {
            var text = (0..<300).map {
                #"{"type":"trade","tradeId":"T\#(n)-\#($0)","version":1,"status":"NEW","bookId":"B1","securityId":"AAPL","side":"BUY","quantity":1,"price":1,"tradeDate":"2026-11-25"}"#
            }.joined(separator: "\n")
            try engine.enqueue(text.withUTF8 { BatchDecoder.decodeNDJSON(UnsafeRawBufferPointer($0), receivedAt: Timestamp(micros: 2)) })
            try await Task.sleep(for: .milliseconds(5))
        }
        while engine.pendingEvents > 0 { try await Task.sleep(for: .milliseconds(5)) }
        hold.signal()
        var waited = 0
        while engine.readModel.resynchronisations == before && waited < 500 {
            try await Task.sleep(for: .milliseconds(10))
            waited += 1
        }
        #expect(engine.readModel.resynchronisations > before, "the model fell off the feed")
        #expect(engine.readModel.read { $0.counters.events } >= 3_600)
        #expect(engine.readModel.read { $0.feedSequence } == engine.feed.lastPublished)
    }
}
