import Foundation
import IMSDomain
import IMSEngine
import IMSHistory
import IMSIngest
import IMSJournal
import IMSRuntime
import Logging
import PostgresNIO

/// `ims bench history`: what the PostgreSQL history projector costs and how far behind it stays.
///
/// The engine benchmark's mix (the simulator's flow in batches, with desk commands), stamped with the wall
/// clock as a server would, into an engine with a file journal: once without the projector and once with
/// it following the journal into a fresh database, alternated `rounds` times in one sitting. Reports the
/// ingest rate of each and their ratio (SPEC 8: ≥ 0.9), the projector's lag from receive to commit (p50,
/// p99, max; SPEC 8: p99 < 2 s at 300,000 events/s with `--pace 300000`), the rows it wrote and how fast
/// it caught up, and how long the price history of the busiest security over a week takes to answer
/// (ticks, and one-minute bars).
struct HistoryBench {
    var url: String
    var events: Int
    var batch: Int
    var desk: Int
    var pace: Int
    var rounds: Int
    var partitions: Int
    var policy: SyncPolicy
    var snapshotSeconds: Int

    func run() async throws {
        let logger = Logger(label: "ims-bench-history")
        print("generating \(events) events, \(desk) desk commands per batch...")
        let (setup, chunks, deskCommands) = Bench.generate(events: events, batch: batch, prefix: "", desk: desk)
        let admin = try PostgresHistoryStore(url: url, logger: logger)
        var off: [Double] = [], on: [Double] = []
        var lastOn: [String: String] = [:]
        let cpu = CPUTimes.now()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await admin.run() }
            defer { group.cancelAll() }
            for round in 1...rounds {
                let a = try await ingest(setup: setup, chunks: chunks, desk: deskCommands, history: nil, admin: admin, logger: logger)
                off.append(a.eventsPerSecond)
                print("round \(round): projector off \(Int(a.eventsPerSecond)) events/s")
                let b = try await ingest(
                    setup: setup, chunks: chunks, desk: deskCommands, history: "ims_bench_\(getpid())_\(round)", admin: admin, logger: logger)
                on.append(b.eventsPerSecond)
                lastOn = b.extra
                print("round \(round): projector on  \(Int(b.eventsPerSecond)) events/s, \(b.extra["historyLagP99Seconds"] ?? "?") s lag p99")
            }
        }
        func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
        var fields: [String: String] = [
            "kind": "\"history\"", "events": "\(events)", "pace": "\(pace)", "rounds": "\(rounds)",
            "offEventsPerSecond": "[\(off.map { String(Int($0)) }.joined(separator: ","))]",
            "onEventsPerSecond": "[\(on.map { String(Int($0)) }.joined(separator: ","))]",
            "ratioOnToOff": String(format: "%.3f", median(on) / median(off)),
            "journal": "\"\(policy)\"", "snapshotSeconds": "\(snapshotSeconds)",
            "cpuStealPercent": (cpu.flatMap { CPUTimes.now()?.stealPercent(since: $0) }).map { String(format: "%.1f", $0) } ?? "null",
        ]
        fields.merge(lastOn) { a, _ in a }
        print("{" + fields.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",") + "}")
    }

    /// One run: the mix into a fresh engine; with `history`, the projector follows it into that new database.
    private func ingest(
        setup: [UInt8], chunks: [[UInt8]], desk: [[Event]], history: String?, admin: PostgresHistoryStore, logger: Logger
    ) async throws -> (eventsPerSecond: Double, extra: [String: String]) {
        let directory = NSTemporaryDirectory() + "/ims-bench-history-\(getpid())"
        try? FileManager.default.removeItem(atPath: directory)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let opened = try DataDirectory.open(directory, catalog: .embedded, partitions: partitions, policy: policy, now: Timestamp(micros: 0))
        let engine = Engine(state: opened.state, journal: opened.journal, maxPendingEvents: Bench.engineWindow)
        defer { engine.stop() }
        func now() -> Timestamp { Timestamp(micros: Int64(Date().timeIntervalSince1970 * 1_000_000)) }
        var securities = Bench.securitiesBatch()
        securities.receivedAt = now()
        _ = try engine.submitAndWait(securities)
        var first = Bench.decode(setup)
        first.receivedAt = now()
        _ = try engine.submitAndWait(first)

        var projector: HistoryProjector?
        var service: Task<Void, Never>?
        var store: PostgresHistoryStore?
        if let history {
            try await admin.client.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(history) WITH (FORCE)"))
            try await admin.client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(history)"))
            let base = url[..<url.lastIndex(of: "/")!]
            let s = try PostgresHistoryStore(url: base + "/" + history, logger: logger)
            var options = HistoryProjector.Options()
            options.projection = HistoryProjection.Settings(snapshotSeconds: snapshotSeconds)
            let p = HistoryProjector(
                store: s, dataDirectory: directory, catalog: .embedded, partitions: partitions, options: options,
                journalThrough: { engine.readModel.read { $0.appliedRecord } }, raise: { engine.raise($0) }, logger: logger)
            service = Task { await HistoryService(store: s, projector: p).run(logger: logger) }
            projector = p
            store = s
            while p.status.startedAtRecord == 0 { try await Task.sleep(for: .milliseconds(10)) }
        }
        let batches = chunks.map { Bench.decode($0, mode: .partial) }
        let done = DispatchSemaphore(value: 0)
        let start = DispatchTime.now().uptimeNanoseconds
        for (i, decoded) in batches.enumerated() {
            for command in desk[i] {
                try engine.enqueue(IngestBatch(receivedAt: now(), events: [command], lines: [1]))
            }
            if pace > 0 {
                let due = start + UInt64(Double(i * batch) / Double(pace) * 1e9)
                while DispatchTime.now().uptimeNanoseconds < due { usleep(100) }
            }
            var stamped = decoded
            stamped.receivedAt = now()
            let last = i == batches.count - 1
            try engine.enqueue(stamped) { _ in if last { done.signal() } }
        }
        await withCheckedContinuation { c in
            Thread {
                done.wait(); c.resume()
            }.start()
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let rate = Double(events) / seconds
        guard let projector, let store else { return (rate, [:]) }

        // The projector catches up (one more entry a second later closes the open tick interval).
        let caughtUpStart = Date()
        try await Task.sleep(for: .milliseconds(1_100))
        var closing = Bench.decode(Array(#"{"type":"fxRate","currency":"EUR","usdRate":"1.1"}"#.utf8))
        closing.receivedAt = now()
        _ = try engine.submitAndWait(closing)
        let applied = engine.readModel.read { $0.appliedRecord }
        while projector.status.committedRecord < applied { try await Task.sleep(for: .milliseconds(20)) }
        let catchUpSeconds = Date().timeIntervalSince(caughtUpStart)
        let status = projector.status
        let lag = projector.lagPercentiles()

        // A week of one security's prices: seven days of a tick a second over an 8.5-hour session (214,200
        // rows, as the projector writes them), then a week's ticks (a page of 10,000) and its one-minute bars.
        let to = now(), from = Timestamp(micros: to.micros - 7 * 86_400_000_000)
        var seeded = 0
        for day in 0..<7 {
            var rows = HistoryRows()
            let open = (to.micros / 86_400_000_000 - Int64(7 - day)) * 86_400_000_000 + 13 * 3_600_000_000
            for second in 0..<30_600 {
                let price = Decimal8(units: Int64(100_000_000 + (second * 7919 + day * 104_729) % 5_000_000))
                rows.ticks.append(
                    HistoryRows.Tick(
                        at: open + Int64(second) * 1_000_000, securityId: "BENCH-WEEK", marketId: "US", currency: "USD", last: price, bid: price,
                        ask: price, tickTime: nil, record: 1))
            }
            rows.lastRecord = 0
            rows.resumeRecord = 1
            try await store.write(rows, lastEntryAt: to.micros, projector: "bench-seed")
            seeded += rows.ticks.count
        }
        var tickMs: [Double] = [], barMs: [Double] = []
        var bars = 0
        for _ in 0..<7 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = try await store.prices(securityId: "BENCH-WEEK", range: HistoryRange(from: from, to: to, limit: 10_000), interval: nil)
            tickMs.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
            let t1 = DispatchTime.now().uptimeNanoseconds
            let page = try await store.prices(securityId: "BENCH-WEEK", range: HistoryRange(from: from, to: to, limit: 10_000), interval: .seconds(60))
            barMs.append(Double(DispatchTime.now().uptimeNanoseconds - t1) / 1e6)
            bars = page.components(separatedBy: "\"open\"").count - 1
        }
        projector.stop()
        await service?.value
        let median = { (v: [Double]) in String(format: "%.2f", v.sorted()[v.count / 2]) }
        return (
            rate,
            [
                "historyRowsWritten": "\(status.rowsWritten)", "historyTransactions": "\(status.transactions)",
                "historyRowsPerSecond": "\(Int(Double(status.rowsWritten) / (seconds + catchUpSeconds)))",
                "historyLagP50Seconds": String(format: "%.3f", lag.p50), "historyLagP99Seconds": String(format: "%.3f", lag.p99),
                "historyLagMaxSeconds": String(format: "%.3f", lag.max), "historyCatchUpSeconds": String(format: "%.2f", catchUpSeconds),
                "priceWeekTicksStored": "\(seeded)", "priceWeekBars": "\(bars)", "priceWeekTicksPageMillis": median(tickMs),
                "priceWeekBarsMillis": median(barMs),
            ]
        )
    }
}
