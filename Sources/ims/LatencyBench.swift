import ArgumentParser
import Foundation
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

    func run() async throws {
        let prefix = "L\(getpid())-"
        print("generating \(events) events...")
        let (setup, chunks) = Bench.generate(events: events, batch: batch, prefix: prefix)
        try Bench.postSetup(setup, to: try BlockingHTTPClient(url: url))

        let histogram = Mutex(Histogram<UInt64>(highestTrackableValue: 60_000_000))
        let deltas = Atomic<Int>(0)
        let ready = Atomic<Bool>(false)
        let wsURL = url.replacingOccurrences(of: "http://", with: "ws://") + "/ws/position"
        let subscriber = Task {
            try await WebSocketClient.connect(url: wsURL, configuration: .init(maxFrameSize: 1 << 24), logger: Logger(label: "bench")) { inbound, outbound, _ in
                try await outbound.write(.text(#"{"action":"subscribe","filter":\#(filter)}"#))
                for try await message in inbound.messages(maxSize: 1 << 24) {
                    guard case .text(let text) = message else { continue }
                    let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
                    if text.contains("\"snapshotComplete\"") { ready.store(true, ordering: .releasing); continue }
                    guard text.contains("\"delta\""), let received = Self.receivedAt(text) else { continue }
                    deltas.add(1, ordering: .relaxed)
                    histogram.withLock { _ = $0.record(UInt64(max(0, now - received))) }
                }
            }
        }
        while !ready.load(ordering: .acquiring) { try await Task.sleep(for: .milliseconds(10)) }
        print("subscribed; publishing \(chunks.count) batches of \(batch) at \(rate) events/s over \(connections) connections")

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
        try await Task.sleep(for: .milliseconds(500))
        subscriber.cancel()
        let h = histogram.withLock { $0 }
        Bench.report(kind: "latency", events: events, seconds: seconds, histogram: h,
                     extra: ["targetRate": "\(rate)", "deltas": "\(deltas.load(ordering: .relaxed))",
                             "failedRequests": "\(failures.load(ordering: .relaxed))", "batch": "\(batch)",
                             "latencyOf": "\"server receive to WebSocket delivery\"", "filter": JSONText.quoted(filter)])
        if failures.load(ordering: .relaxed) > 0 { throw ExitCode.failure }
    }

    /// The `receivedAt` field of a delta message, read without parsing the whole message.
    static func receivedAt(_ text: String) -> Int64? {
        guard let range = text.range(of: "\"receivedAt\":") else { return nil }
        return Int64(text[range.upperBound...].prefix { $0.isNumber })
    }
}
