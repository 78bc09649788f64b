import Dispatch
import Hummingbird
import Logging
import Prometheus
import Synchronization

/// Counts requests by route, method and status, and times them, on IMS's registry with help text
/// (`ims_http_requests_total`, `ims_http_request_duration_seconds`). Hummingbird's own `MetricsMiddleware`
/// goes through swift-metrics, whose names (`hb.requests`) and missing help `promtool check metrics` refuses.
struct HTTPMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    private struct Key: Hashable {
        var route: String
        var method: HTTPRequest.Method
        var status: Int
    }

    private final class Series: Sendable {
        let requests: Prometheus.Counter
        let duration: Prometheus.DurationHistogram

        init(_ key: Key, registry: PrometheusCollectorRegistry) {
            let labels = [("route", key.route), ("method", key.method.rawValue), ("status", String(key.status))]
            requests = registry.makeCounter(name: "ims_http_requests_total", labels: labels, help: "HTTP requests answered, by route, method and status.")
            duration = registry.makeDurationHistogram(
                name: "ims_http_request_duration_seconds", labels: labels, buckets: IMSMetrics.latencyBuckets,
                help: "HTTP request duration, from its head to its answer being ready, by route, method and status.")
        }
    }

    private final class Cache: Sendable {
        let series = Mutex<[Key: Series]>([:])
    }

    private let cache = Cache()
    private let registry = IMSMetrics.shared.registry

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        do {
            let response = try await next(request, context)
            // Timed to the answer being ready (its body is written after; IMS builds bodies whole).
            record(Key(route: context.endpointPath ?? "unmatched", method: request.method, status: response.status.code), since: start, context: context)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            record(Key(route: context.endpointPath ?? "unmatched", method: request.method, status: status), since: start, context: context)
            throw error
        }
    }

    private func record(_ key: Key, since start: UInt64, context: Context) {
        let nanoseconds = DispatchTime.now().uptimeNanoseconds - start
        // A line per request at debug (`--log-level debug`); server errors always, but for 503s, which IMS gives
        // on purpose (recovering, inbox full, journal failing) and which readiness probes would repeat.
        let level: Logger.Level = key.status >= 500 && key.status != 503 ? .warning : .debug // 503: by design (recovering, busy, disk full)
        if context.logger.logLevel <= level {
            context.logger.log(
                level: level, "request",
                metadata: [
                    "route": "\(key.route)", "method": "\(key.method.rawValue)", "status": "\(key.status)",
                    "durationMicros": "\(nanoseconds / 1_000)",
                ])
        }
        let s = cache.series.withLock { map in
            if let s = map[key] { return s }
            let s = Series(key, registry: registry)
            map[key] = s
            return s
        }
        s.requests.increment()
        s.duration.recordNanoseconds(Int64(nanoseconds))
    }
}
