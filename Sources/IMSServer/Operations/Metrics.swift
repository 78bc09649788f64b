import Foundation
import IMSEngine
import IMSHistory
import IMSJournal
import IMSRuntime
import Logging
import Metrics
import Prometheus
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// IMS's metrics, exposed at `GET /metrics` in the Prometheus text format (docs/operations.md).
///
/// One registry per process: swift-metrics is bootstrapped to it once (Hummingbird's HTTP metrics and any
/// library using swift-metrics land there), and IMS's own metrics are made on it directly, with help text.
/// Nothing is counted per event on the hot path: the engine tells an `EngineObserver` once per group commit
/// and per drain; a change-feed consumer counts each drain's outcomes; gauges (queues, lags, snapshot,
/// memory, subscribers) are read when scraped.
public final class IMSMetrics: Sendable {
    /// The process's metrics (the first use bootstraps swift-metrics).
    public static let shared = IMSMetrics()

    public let registry: PrometheusCollectorRegistry
    let received: Prometheus.Counter
    let accepted: Prometheus.Counter
    let ignored: Prometheus.Counter
    let rejectedDecode: Prometheus.Counter
    let rejectedValidation: Prometheus.Counter
    let batchesApplied: Prometheus.Counter
    let batchesRefused: Prometheus.Counter
    let ingestSeconds: Prometheus.DurationHistogram
    let applySeconds: Prometheus.DurationHistogram
    let journalSeconds: Prometheus.DurationHistogram
    let journalGroupEvents: Prometheus.ValueHistogram
    let recoverySeconds: Prometheus.Gauge
    let startedAt: Prometheus.Gauge
    /// The last hour's figures for the operations view (`GET /metrics/history`).
    public let history = OperationsHistory()
    private let attached = Mutex<Set<ObjectIdentifier>>([])

    private init() {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        // swift-metrics labels such as Hummingbird's `http.server.request.duration` are not Prometheus names.
        factory.nameAndLabelSanitizer = { name, labels in (Self.sanitized(name), labels.map { (Self.sanitized($0.0), $0.1) }) }
        factory.defaultDurationHistogramBuckets = Self.latencyBuckets
        MetricsSystem.bootstrap(factory)
        received = registry.makeCounter(
            name: "ims_events_received_total", help: "Lines received by POST /api/v1/events (events and lines that did not decode).")
        accepted = registry.makeCounter(name: "ims_events_accepted_total", help: "Events accepted and applied (including those that changed nothing).")
        ignored = registry.makeCounter(name: "ims_events_ignored_total", help: "Accepted events that changed nothing: duplicates and stale versions.")
        rejectedDecode = registry.makeCounter(
            name: "ims_events_rejected_total", labels: [("reason", "decode")],
            help: "Lines rejected, by reason: decode (syntax, types, bounds) or validation (against the state).")
        rejectedValidation = registry.makeCounter(
            name: "ims_events_rejected_total", labels: [("reason", "validation")],
            help: "Lines rejected, by reason: decode (syntax, types, bounds) or validation (against the state).")
        batchesApplied = registry.makeCounter(
            name: "ims_batches_total", labels: [("result", "applied")], help: "Batches applied, or refused whole (an atomic batch with a bad line).")
        batchesRefused = registry.makeCounter(
            name: "ims_batches_total", labels: [("result", "refused")], help: "Batches applied, or refused whole (an atomic batch with a bad line).")
        ingestSeconds = registry.makeDurationHistogram(
            name: "ims_ingest_batch_seconds", buckets: Self.latencyBuckets,
            help: "POST /api/v1/events: body received to answer (durable, applied and visible).")
        applySeconds = registry.makeDurationHistogram(
            name: "ims_apply_seconds", buckets: Self.latencyBuckets,
            help: "Writer time per drain: validation, apply and change capture.")
        journalSeconds = registry.makeDurationHistogram(
            name: "ims_journal_append_seconds", buckets: Self.latencyBuckets,
            help: "Journal group commit: encode, write and sync (the fsync policy's).")
        journalGroupEvents = registry.makeValueHistogram(
            name: "ims_journal_group_events", buckets: [1, 10, 100, 1_000, 5_000, 10_000, 50_000],
            help: "Events per journal group commit.")
        recoverySeconds = registry.makeGauge(
            name: "ims_recovery_seconds", help: "How long the last start took to recover the state (snapshot load and journal replay).")
        startedAt = registry.makeGauge(name: "ims_start_time_seconds", help: "When this process started serving, seconds since 1970.")
    }

    /// Notes how long this start's recovery took, and that serving starts now.
    public func recovered(seconds: Double) {
        recoverySeconds.set(seconds)
        startedAt.set(Date().timeIntervalSince1970)
    }

    static let latencyBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    static func sanitized(_ name: String) -> String {
        String(name.map { $0.isLetter || $0.isNumber || $0 == "_" ? $0 : "_" })
    }

    /// Starts counting `engine`'s drains (once per engine): a consumer of its change feed, and its observer.
    public func attach(_ engine: Engine) {
        guard attached.withLock({ $0.insert(ObjectIdentifier(engine)).inserted }) else { return }
        engine.observe(with: EngineReports(metrics: self))
        history.start(sampling: engine)
        let cursor = engine.feed.cursor(named: "metrics")
        cursor.consume(on: "ims-metrics") { [self] read in
            if case .records(let records) = read {
                for r in records { count(r) }
                // Counted in bunches: a wake-up per drain would cost the writer's cores more than the counting.
                Thread.sleep(forTimeInterval: 0.02)
            }
            // A lag loses the counts of the records missed; the gauges are read from the model.
            return true
        }
    }

    private func count(_ r: ChangeRecord) {
        for o in r.results {
            if o.applied {
                batchesApplied.increment()
                accepted.increment(by: Int64(o.accepted))
                history.accepted(o.accepted)
                ignored.increment(by: Int64(o.ignored))
            } else {
                batchesRefused.increment()
            }
            rejectedDecode.increment(by: Int64(o.decodeRejected))
            rejectedValidation.increment(by: Int64(o.rejected.count - o.decodeRejected))
        }
    }

    /// The scrape: gauges read now, then every metric in the text format.
    func scrape(
        engine: Engine, hub: StreamHub, storage: StorageStatus?, replication: (any ReplicationState)? = nil, topicFeeds: TopicFeeds? = nil,
        history: HistoryProjector? = nil
    ) -> [UInt8] {
        let (lastSequence, appliedRecord, positions) = engine.readModel.read { ($0.lastSequence, $0.appliedRecord, $0.positionCount) }
        gauge("ims_pending_events", "Events queued in the engine and not yet applied.").set(Int64(engine.pendingEvents))
        gauge("ims_last_sequence", "Sequence number of the last event applied and visible.").set(lastSequence)
        gauge("ims_positions", "Positions held.").set(Int64(positions))
        if storage != nil {
            let journaled = engine.journaledRecord
            gauge("ims_journal_lag_records", "Journal records written but not yet applied and visible.")
                .set(Int64(journaled > appliedRecord ? journaled - appliedRecord : 0))
        }
        gauge("ims_journal_failing", "1 while journal writes fail (ingest answers 503).").set(Int64(engine.journalStatus.failing ? 1 : 0))
        for c in engine.feed.consumers() {
            registry.makeGauge(
                name: "ims_feed_consumer_lag_records", labels: [("consumer", c.name)],
                help: "Change records published and not yet taken by a consumer of the change feed."
            ).set(Int64(c.lag))
        }
        for stage in StageTimes.Stage.allCases {
            // A gauge per percentile (a `quantile` label belongs to summaries, which this registry does not make).
            for (q, name) in [(0.5, "50"), (0.99, "99"), (0.999, "99.9")] {
                registry.makeGauge(
                    name: "ims_request_stage_seconds", labels: [("stage", stage.rawValue), ("percentile", name)],
                    help:
                        "Where submitted batches (decisions, commands, ingest) spend their time, by stage: inbox, journal, handoff, apply, answer, resume, render (docs/operations.md); percentiles since start."
                ).set(engine.stageTimes.quantile(stage, q).seconds)
            }
        }
        gauge("ims_read_model_resynchronisations", "Times the read model fell off the change feed and was rebuilt.").set(
            Int64(engine.readModel.resynchronisations))
        let stats = hub.subscriberStats()
        for name in StreamRegistry.names {
            let s = stats[name] ?? (0, 0)
            registry.makeGauge(name: "ims_stream_subscribers", labels: [("stream", name)], help: "WebSocket subscribers connected, per stream.").set(
                Int64(s.count))
            registry.makeGauge(
                name: "ims_stream_max_pending_items", labels: [("stream", name)],
                help: "The most changed items one subscriber of the stream has waiting (its lag)."
            ).set(Int64(s.maxPending))
        }
        if let snapshot = storage?.snapshots.lastSnapshot {
            gauge("ims_snapshot_age_seconds", "Seconds since the last snapshot this process wrote.").set(Date().timeIntervalSince(snapshot.at))
            gauge("ims_snapshot_bytes", "Size of the last snapshot this process wrote.").set(Int64(snapshot.bytes))
            gauge("ims_snapshot_duration_seconds", "How long the last snapshot took to encode, write and sync.").set(snapshot.seconds)
            gauge("ims_snapshot_record", "Journal record the last snapshot covers.").set(Int64(snapshot.record))
        }
        if let status = replication?.replicaStatus {
            for role in [ReplicaStatus.Role.leader, .standby, .candidate] {
                registry.makeGauge(name: "ims_replica_role", labels: [("role", role.rawValue)], help: "1 for this node's role in the replicated deployment.")
                    .set(Int64(status.role == role ? 1 : 0))
            }
            gauge("ims_replica_epoch", "The highest leadership epoch this node has seen in the log.").set(status.epoch)
            gauge("ims_replica_applied_record", "The last journal record this node applied.").set(Int64(status.appliedRecord))
            gauge("ims_replica_lag_offsets", "Offsets of the journal topic this node has not read yet (0 on the leader).").set(status.lagOffsets)
            gauge("ims_replica_lag_milliseconds", "Append-to-apply time of the last record this node applied from the log.").set(status.lagMilliseconds)
            gauge("ims_replica_failovers", "Times this node has taken leadership since it started.").set(Int64(status.failovers))
            gauge("ims_replica_broker_failing", "1 while this node's last exchange with the broker failed.").set(Int64(status.brokerError == nil ? 0 : 1))
        }
        if let feeds = topicFeeds {
            let status = feeds.status
            for p in status.partitions {
                if let lag = p.lag {
                    registry.makeGauge(
                        name: "ims_topic_feed_lag_records", labels: [("topic", p.topic), ("partition", "\(p.partition)")],
                        help: "Records of an upstream topic partition that IMS has not taken yet."
                    ).set(lag)
                }
            }
            for (outcome, count) in [
                ("taken", status.records), ("redelivered", status.redelivered), ("rejected", status.rejected), ("dead_lettered", status.deadLettered),
            ] {
                registry.makeGauge(
                    name: "ims_topic_feed_records", labels: [("outcome", outcome)],
                    help:
                        "Records of the upstream topics since start: taken and journaled, handed again and skipped, refused, written to the dead-letter topic."
                ).set(Int64(count))
            }
            gauge("ims_topic_feed_consuming", "1 while this node consumes the upstream topics (the leader, when replicated).").set(
                Int64(status.state == .consuming ? 1 : 0))
        }
        if let history {
            let status = history.status
            gauge("ims_history_lag_records", "Journal records whose history rows are not committed to PostgreSQL yet.").set(Int64(status.lagRecords))
            let lag = history.lagPercentiles()
            for (name, value) in [("50", lag.p50), ("99", lag.p99), ("100", lag.max)] {
                registry.makeGauge(
                    name: "ims_history_lag_seconds", labels: [("percentile", name)],
                    help: "Seconds from receiving a record to committing its history rows, over the last 4,096 commits."
                ).set(value)
            }
            gauge("ims_history_buffered_rows", "History rows projected and waiting to be written.").set(Int64(status.bufferedRows))
            gauge("ims_history_rows_written", "History rows written since start.").set(Int64(status.rowsWritten))
            gauge("ims_history_write_failures", "Writes to PostgreSQL that failed since start (each retried).").set(Int64(status.writeFailures))
            gauge("ims_history_behind", "1 while the history projector cannot write or its buffer is full.").set(Int64(status.state == "behind" ? 1 : 0))
        }
        if let bytes = storage?.journal?.bytesWritten {
            gauge("ims_journal_written_bytes", "Bytes this process has written to the journal.").set(bytes)
        }
        gauge("process_resident_memory_bytes", "Resident memory of the process.").set(Int64(Self.residentBytes()))
        for t in ThreadTimes.byName() {
            registry.makeGauge(
                name: "ims_thread_cpu_seconds", labels: [("thread", t.name)],
                help:
                    "CPU time (user and system) of the process's live threads since they started, by the name the kernel shows (docs/operations.md \"Threads\"; threads of one name summed)."
            ).set(t.cpuSeconds)
            registry.makeGauge(
                name: "ims_thread_voluntary_switches", labels: [("thread", t.name)],
                help: "Times the process's live threads of each name gave up the CPU to wait (woken once each), since they started."
            ).set(Int64(t.voluntarySwitches))
        }
        return registry.emitToBuffer()
    }

    private func gauge(_ name: String, _ help: String) -> Prometheus.Gauge { registry.makeGauge(name: name, help: help) }

    /// Resident set size, from /proc/self/statm (0 where there is none).
    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        #if canImport(Glibc)
            return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
        #else
            return pages * 4096
        #endif
    }
}

/// The journal and snapshots a serving engine writes, for the scrape.
public struct StorageStatus: Sendable {
    /// The file journal (nil when the journal is a Kafka topic).
    public var journal: SegmentedJournal?
    public var snapshots: SnapshotStore
    /// Whether this start followed an `ims journal repair` (it raised `JOURNAL_REPAIRED`): `/health` says
    /// "degraded" until someone acknowledges that exception.
    public var repairedAtStart: Bool

    /// A `StorageStatus` from its fields.
    public init(journal: SegmentedJournal?, snapshots: SnapshotStore, repairedAtStart: Bool = false) {
        self.journal = journal
        self.snapshots = snapshots
        self.repairedAtStart = repairedAtStart
    }
}

/// Records the engine's group commits and drains (never per event) and logs its journal failures.
private final class EngineReports: EngineObserver {
    let metrics: IMSMetrics
    let logger = Logger(label: "ims")
    init(metrics: IMSMetrics) { self.metrics = metrics }

    func journaled(entries: Int, events: Int, nanoseconds: UInt64) {
        metrics.journalSeconds.recordNanoseconds(Int64(nanoseconds))
        metrics.journalGroupEvents.record(Int64(events))
    }

    func applied(events: Int, nanoseconds: UInt64) {
        metrics.applySeconds.recordNanoseconds(Int64(nanoseconds))
        metrics.history.drained(nanoseconds: nanoseconds)
    }

    func journalFailed(_ message: String, batches: Int) {
        logger.error("journal write failed; batches refused with 503, none applied", metadata: ["error": "\(message)", "batches": "\(batches)"])
    }

    func journalRecovered() {
        logger.notice("journal writes again")
    }
}

/// The CPU time and voluntary context switches of the process's threads, read from `/proc/self/task` (Linux; none
/// elsewhere), summed by the thread's name: where a request's CPU goes, per thread, without a profiler
/// (`ims bench decisions` prints it per decision).
struct ThreadTimes: Sendable, Equatable {
    var name: String
    var cpuSeconds: Double
    var voluntarySwitches: Int

    static func byName() -> [ThreadTimes] {
        #if os(Linux)
            guard let tids = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") else { return [] }
            let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
            var byName: [String: ThreadTimes] = [:]
            for tid in tids {
                guard let stat = try? String(contentsOfFile: "/proc/self/task/\(tid)/stat", encoding: .utf8), let t = parse(stat: stat, ticksPerSecond: ticks)
                else { continue }
                let status = (try? String(contentsOfFile: "/proc/self/task/\(tid)/status", encoding: .utf8)) ?? ""
                let switches = voluntarySwitches(status: status)
                byName[t.name, default: ThreadTimes(name: t.name, cpuSeconds: 0, voluntarySwitches: 0)].cpuSeconds += t.cpuSeconds
                byName[t.name]!.voluntarySwitches += switches
            }
            return byName.values.sorted { $0.name < $1.name }
        #else
            return []
        #endif
    }

    /// A thread's name and CPU seconds from its `stat` line: `tid (name) state …`, the name in parentheses (it may
    /// hold spaces and parentheses, so the fields are counted after the last `)`), utime and stime the 12th and
    /// 13th fields after it, in clock ticks.
    static func parse(stat: String, ticksPerSecond: Double) -> (name: String, cpuSeconds: Double)? {
        guard let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { return nil }
        let name = String(stat[stat.index(after: open)..<close])
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (name.isEmpty ? "?" : name, (user + system) / ticksPerSecond)
    }

    static func voluntarySwitches(status: String) -> Int {
        for line in status.split(separator: "\n") where line.hasPrefix("voluntary_ctxt_switches:") {
            return Int(line.dropFirst("voluntary_ctxt_switches:".count).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        return 0
    }
}
