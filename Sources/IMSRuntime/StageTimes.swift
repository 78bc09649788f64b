import Foundation
import Histogram
import Synchronization

/// Where a request's time goes between arriving at the engine and being answered, stage by stage, for every
/// batch submitted through the API (decisions, commands, ingest): what `GET /metrics` shows as
/// `ims_request_stage_seconds` and `ims bench decisions` prints after each way it measures.
///
/// ```text
/// submit ─inbox─▶ journal thread takes the group ─journal─▶ durable ─handoff─▶ writer takes the drain
///        ─apply─▶ drain published ─answer─▶ read model shows it, answer runs ─resume─▶ the caller's task runs
///        ─render─▶ answer rendered
/// ```
///
/// `resume` and `render` are recorded by the caller (the decision desk); the others by the engine, once per
/// batch that has a caller waiting (never for a follower's replicated entries). Times are kept in HDR
/// histograms of microseconds since start (or the last `reset`).
public final class StageTimes: Sendable {
    public enum Stage: String, CaseIterable, Sendable {
        /// In the engine's inbox until the journal thread takes its group.
        case inbox
        /// The group commit: encode, write, sync (or the broker's acknowledgement).
        case journal
        /// Durable, waiting for the writer to take its drain.
        case handoff
        /// The writer's drain: validation, apply and change capture of every entry in it.
        case apply
        /// From the drain's publication until the read model shows it and its answer runs.
        case answer
        /// From the answer until the waiting task runs again (the concurrency pool's hop).
        case resume
        /// Rendering the answer from the read model.
        case render
    }

    private let histograms = Mutex<[Histogram<UInt64>]>(Stage.allCases.map { _ in Histogram<UInt64>(highestTrackableValue: 60_000_000) })

    public init() {}

    /// Records one request's times, in nanoseconds, for the stages given.
    public func record(_ values: [(Stage, UInt64)]) {
        histograms.withLock { h in
            for (stage, nanos) in values { _ = h[Self.index(stage)].record(nanos / 1_000) }
        }
    }

    public func record(_ stage: Stage, nanoseconds: UInt64) { record([(stage, nanoseconds)]) }

    /// The stage's quantile `q` (0…1) in seconds, and how many requests it counted.
    public func quantile(_ stage: Stage, _ q: Double) -> (seconds: Double, count: UInt64) {
        histograms.withLock { h in
            let histogram = h[Self.index(stage)]
            return (Double(histogram.valueAtPercentile(q * 100)) / 1e6, histogram.totalCount)
        }
    }

    /// Forgets everything recorded so far.
    public func reset() { histograms.withLock { h in for i in h.indices { h[i].reset() } } }

    private static func index(_ stage: Stage) -> Int { Stage.allCases.firstIndex(of: stage)! }

    /// The monotonic clock the stages are measured with, in nanoseconds.
    @inline(__always) public static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
}
