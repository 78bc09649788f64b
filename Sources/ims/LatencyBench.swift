import ArgumentParser
import Foundation
import HTTPTypes
import Histogram
import HummingbirdWSClient
import IMSDomain
import IMSIngest
import Logging
import Synchronization

/// `ims bench latency`: event received by the server → change delivered on a WebSocket, at a target rate.
struct LatencyBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "latency",
        abstract: "Publish trades at a target rate over HTTP while a WebSocket subscriber measures received → delivered.",
        discussion: """
            The subscriber takes /ws/position with --filter (default: the firm's own positions in one market,
            JP, as a desk's screen would; {"marketId":"JP"} or {} for heavier subscribers: every delta costs
            server time, see docs/benchmarks.md). Each delta carries the
            server's receive time of the earliest event it reflects; latency = arrival at the subscriber − that
            time (one machine, one clock). Prints progress, then one JSON object as the last line.
            """)

    @Option(help: "The running server.") var url = "http://127.0.0.1:8080"
    @Option(help: "Target events per second.") var rate = 300_000
    @Option(help: "Events to publish.") var events = 3_000_000
    @Option(help: "Events per HTTP request.") var batch = 1_000
    @Option(help: "Parallel publishing connections.") var connections = 2
    @Option(help: "The subscriber's filter (JSON); {} watches every position.") var filter = #"{"marketId":"JP","positionType":"FIRM"}"#
    @Option(help: "Clients looping on GET /api/v1/positions?limit=100 meanwhile (the read load).") var readers = 0
    @Flag(help: "Add a second subscriber to every position ({}), reading as fast as it can; its latency is reported apart.") var watchAll = false
    @Option(help: "Clients looping on the long reads meanwhile: the active rule set's preview and aggregates by aggregation unit, in turn.")
    var heavyReaders = 0
    @Option(help: "Probe GET /health/ready every so many milliseconds meanwhile and report its latency (0: no probe).") var readyProbeMs = 20

    func run() async throws {
        let prefix = "L\(getpid())-"
        print("generating \(events) events...")
        let (setup, chunks) = Bench.generate(events: events, batch: batch, prefix: prefix)
        try Bench.postSetup(setup, to: try BlockingHTTPClient(url: url))

        let wsURL = url.replacingOccurrences(of: "http://", with: "ws://") + "/ws/position"
        let measured = Subscription(url: wsURL, filter: filter)
        let global = watchAll ? Subscription(url: wsURL, filter: "{}") : nil
        while !measured.isReady || !(global?.isReady ?? true) { try await Task.sleep(for: .milliseconds(10)) }
        let readerLoops = RequestLoops()
        readerLoops.start(readers, url: url) { _, _ in "/api/v1/positions?limit=100" }
        if readers > 0 { print("\(readers) readers looping on GET /api/v1/positions?limit=100") }
        let heavyLoops = RequestLoops()
        heavyLoops.start(heavyReaders, url: url) { client, request in
            (client + request) % 2 == 0 ? "/api/v1/rules/1/preview?limit=100" : "/api/v1/inventory/aggregates?by=aggregationUnit"
        }
        if heavyReaders > 0 { print("\(heavyReaders) clients looping on rule previews and aggregates by aggregation unit") }
        let readyProbe = RequestLoops()
        readyProbe.start(readyProbeMs > 0 ? 1 : 0, url: url, pauseMicros: UInt32(max(0, readyProbeMs) * 1_000)) { _, _ in "/health/ready" }
        if watchAll { print("a {} subscriber reads every position change as fast as it can") }
        let next = Atomic<Int>(0)
        let failures = Atomic<Int>(0)
        let start = DispatchTime.now().uptimeNanoseconds
        let nanosPerBatch = Double(batch) / Double(rate) * 1e9
        let threads = (0..<connections).map { _ in
            let done = DispatchSemaphore(value: 0)
            let thread = Thread { [url] in
                defer { done.signal() }
                guard let client = try? BlockingHTTPClient(url: url) else { failures.add(1, ordering: .relaxed); return }
                while true {
                    let i = next.add(1, ordering: .relaxed).oldValue
                    if i >= chunks.count { return }
                    let due = start + UInt64(Double(i) * nanosPerBatch)
                    let now = DispatchTime.now().uptimeNanoseconds
                    if due > now { usleep(UInt32((due - now) / 1_000)) }
                    guard let r = try? client.post("/api/v1/events?mode=partial", body: chunks[i]), r.status == 200 else {
                        failures.add(1, ordering: .relaxed)
                        continue
                    }
                }
            }
            thread.start()
            return done
        }
        for done in threads { done.wait() }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let readerCount = readerLoops.answers.load(ordering: .relaxed)
        try await Task.sleep(for: .milliseconds(500))
        for loops in [readerLoops, heavyLoops, readyProbe] { loops.stop() }
        measured.stop()
        global?.stop()
        var extra = [
            "targetRate": "\(rate)", "deltas": "\(measured.deltas.load(ordering: .relaxed))",
            "failedRequests": "\(failures.load(ordering: .relaxed))", "batch": "\(batch)",
            "latencyOf": "\"server receive to WebSocket delivery\"", "filter": JSONText.quoted(filter),
        ]
        if readers > 0 {
            let h = readerLoops.latency.withLock { $0 }
            extra["readers"] = "\(readers)"
            extra["readerRequestsPerSecond"] = "\(Int(Double(readerCount) / seconds))"
            extra["readerP50Micros"] = "\(h.valueAtPercentile(50))"
            extra["readerP99Micros"] = "\(h.valueAtPercentile(99))"
        }
        if heavyReaders > 0 {
            let h = heavyLoops.latency.withLock { $0 }
            extra["heavyReaders"] = "\(heavyReaders)"
            extra["heavyAnswers"] = "\(heavyLoops.answers.load(ordering: .relaxed))"
            extra["heavyBusy"] = "\(heavyLoops.busy.load(ordering: .relaxed))"
            extra["heavyP50Micros"] = "\(h.valueAtPercentile(50))"
            extra["heavyP99Micros"] = "\(h.valueAtPercentile(99))"
        }
        if readyProbeMs > 0 {
            let h = readyProbe.latency.withLock { $0 }
            extra["readyProbes"] = "\(h.totalCount)"
            extra["readyP50Micros"] = "\(h.valueAtPercentile(50))"
            extra["readyP99Micros"] = "\(h.valueAtPercentile(99))"
            extra["readyMaxMicros"] = "\(h.max)"
        }
        if let global {
            let h = global.histogram.withLock { $0 }
            extra["allDeltas"] = "\(global.deltas.load(ordering: .relaxed))"
            extra["allP50Micros"] = "\(h.valueAtPercentile(50))"
            extra["allP99Micros"] = "\(h.valueAtPercentile(99))"
        }
        Bench.report(
            kind: readers > 0 || watchAll || heavyReaders > 0 ? "read" : "latency", events: events, seconds: seconds,
            histogram: measured.histogram.withLock { $0 }, extra: extra)
        if failures.load(ordering: .relaxed) > 0 { throw ExitCode.failure }
    }

    /// A WebSocket subscriber that records, for each delta, arrival time − the server's receive time.
    final class Subscription: Sendable {
        let histogram = Mutex(Histogram<UInt64>(highestTrackableValue: 60_000_000))
        let deltas = Atomic<Int>(0)
        private let ready = Atomic<Bool>(false)
        private let task: Mutex<Task<Void, any Error>?> = Mutex(nil)

        init(url: String, filter: String) {
            let task = Task { [self] () async throws -> Void in
                _ = try await WebSocketClient.connect(
                    url: url,
                    configuration: .init(maxFrameSize: 1 << 24, additionalHeaders: BlockingHTTPClient.apiKey.map { [.authorization: "Bearer \($0)"] } ?? [:]),
                    logger: Logger(label: "bench")
                ) { inbound, outbound, _ in
                    try await outbound.write(.text(#"{"action":"subscribe","filter":\#(filter)}"#))
                    for try await message in inbound.messages(maxSize: 1 << 24) {
                        guard case .text(let text) = message else { continue }
                        let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
                        if text.contains("\"snapshotComplete\"") { self.ready.store(true, ordering: .releasing); continue }
                        guard text.contains("\"delta\""), let received = LatencyBench.receivedAt(text) else { continue }
                        self.deltas.add(1, ordering: .relaxed)
                        self.histogram.withLock { _ = $0.record(UInt64(max(0, now - received))) }
                    }
                }
            }
            self.task.withLock { $0 = task }
        }

        var isReady: Bool { ready.load(ordering: .acquiring) }
        func stop() { task.withLock { $0?.cancel() } }
    }

    /// The `receivedAt` field of a delta message, read without parsing the whole message.
    static func receivedAt(_ text: String) -> Int64? {
        guard let range = text.range(of: "\"receivedAt\":") else { return nil }
        return Int64(text[range.upperBound...].prefix { $0.isNumber })
    }
}

/// Clients looping on GET requests, each on a thread of its own, until `stop`: the latency of every 200
/// answer, how many there were, and how many were 503 (a client then waits 50 ms before asking again).
final class RequestLoops: Sendable {
    let latency = Mutex(Histogram<UInt64>(highestTrackableValue: 600_000_000))
    let answers = Atomic<Int>(0)
    let busy = Atomic<Int>(0)
    private let finished = Atomic<Bool>(false)
    private let threads = Mutex<[DispatchSemaphore]>([])

    /// Starts `clients` loops; `path(client, request)` is the path of a client's n-th request; each waits
    /// `pauseMicros` after an answer.
    func start(_ clients: Int, url: String, pauseMicros: UInt32 = 0, path: @escaping @Sendable (_ client: Int, _ request: Int) -> String) {
        for client in 0..<clients {
            let done = DispatchSemaphore(value: 0)
            threads.withLock { $0.append(done) }
            Thread { [self] in
                defer { done.signal() }
                guard let http = try? BlockingHTTPClient(url: url) else { return }
                var request = 0
                while !finished.load(ordering: .relaxed) {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    let r = try? http.get(path(client, request))
                    request += 1
                    if r?.status == 503 { busy.add(1, ordering: .relaxed); usleep(50_000); continue }
                    if r?.status == 200 {
                        latency.withLock { _ = $0.record((DispatchTime.now().uptimeNanoseconds - t0) / 1_000) }
                        answers.add(1, ordering: .relaxed)
                    }
                    if pauseMicros > 0 { usleep(pauseMicros) }
                }
            }.start()
        }
    }

    /// Ends the loops and waits for their threads.
    func stop() {
        finished.store(true, ordering: .relaxed)
        for done in threads.withLock({ $0 }) { done.wait() }
    }
}
