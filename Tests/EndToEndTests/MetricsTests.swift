import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `GET /metrics` of the real binary: counters that move by exactly what was sent, and scrapes, taken
/// under load, that `promtool check metrics` (Debian's prometheus package; the test command installs it)
/// accepts.
@Suite(.serialized) struct MetricsTests {
    /// The repository's root (this file is Tests/EndToEndTests/MetricsTests.swift).
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func scrape(_ server: IMSProcess.Server) throws -> String {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var text: String?
        URLSession.shared.dataTask(with: URL(string: server.base + "/metrics")!) { data, response, _ in
            if (response as? HTTPURLResponse)?.statusCode == 200, let data { text = String(decoding: data, as: UTF8.self) }
            done.signal()
        }.resume()
        _ = done.wait(timeout: .now() + 10)
        return try #require(text, "GET /metrics answered")
    }

    /// The value of one series (`name{labels}` exactly as exposed), or nil if absent.
    static func value(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    static func promtool(_ text: String) throws -> (status: Int32, output: String) {
        let candidates = ["/usr/bin/promtool", "/usr/local/bin/promtool"]
        guard let path = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            Issue.record("promtool is missing: scripts/test.sh installs it (apt-get install prometheus)")
            return (-1, "")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = ["check", "metrics"]
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        p.standardError = output
        try p.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: out, as: UTF8.self))
    }

    @Test func countersMoveByExactlyTheEventsSent() throws {
        let server = try IMSProcess.start()
        defer { server.stop() }
        #expect(try IMSProcess.request(server, "POST", "/api/v1/events", body: TradeFlow.setup(book: "MB", prefix: "M", count: 20)).status == 200)
        // 20 good trades, 3 lines that do not decode, 2 that fail validation (unknown book): partial mode.
        var lines = TradeFlow.buys(round: 1, book: "MB", prefix: "M", tradePrefix: "MT", count: 20, quantity: 10).split(separator: "\n").map(String.init)
        lines += [#"{"type":"trade""#, #"{"type":"nope"}"#, #"not json"#]
        lines += (0..<2).map {
            #"{"type":"trade","tradeId":"MX\#($0)","version":1,"status":"NEW","bookId":"NOBOOK","securityId":"M0","side":"BUY","quantity":1,"price":"1","tradeDate":"2026-11-25"}"#
        }
        let before = try Self.settled(server, accepted: nil)
        #expect(try IMSProcess.request(server, "POST", "/api/v1/events?mode=partial", body: lines.joined(separator: "\n")).status == 200)
        // The same trades again: accepted, but changing nothing (ignored).
        #expect(
            try IMSProcess.request(
                server, "POST", "/api/v1/events?mode=partial",
                body: TradeFlow.buys(round: 1, book: "MB", prefix: "M", tradePrefix: "MT", count: 20, quantity: 10)
            ).status == 200)
        // An atomic batch with one bad line is refused whole.
        let refused = TradeFlow.buys(round: 2, book: "MB", prefix: "M", tradePrefix: "MT", count: 4, quantity: 10) + "\n" + lines.last!
        #expect(try IMSProcess.request(server, "POST", "/api/v1/events", body: refused).status == 422)
        let after = try Self.settled(server, accepted: (before.accepted) + 40)
        func delta(_ series: String) -> Double { (Self.value(after.text, series) ?? 0) - (Self.value(before.text, series) ?? 0) }
        #expect(delta("ims_events_received_total") == 25 + 20 + 5)
        #expect(delta("ims_events_accepted_total") == 40)
        #expect(delta("ims_events_ignored_total") == 20)
        #expect(delta(#"ims_events_rejected_total{reason="decode"}"#) == 3)
        #expect(delta(#"ims_events_rejected_total{reason="validation"}"#) == 2 + 1)
        #expect(delta(#"ims_batches_total{result="applied"}"#) == 2)
        #expect(delta(#"ims_batches_total{result="refused"}"#) == 1)
        #expect(delta("ims_journal_append_seconds_count") >= 3)
        #expect(delta(#"ims_http_requests_total{route="/api/v1/events",method="POST",status="422"}"#) == 1)
        #expect(Self.value(after.text, "ims_positions") == 20)
        #expect(Self.value(after.text, "ims_pending_events") == 0)
        #expect(Self.value(after.text, "process_resident_memory_bytes") ?? 0 > 1_000_000)
    }

    /// Scrapes until the accepted count reaches `accepted` (the metrics consumer follows the change feed on
    /// its own thread, so a scrape right after an answer may not show it yet), then once more to see it stay.
    static func settled(_ server: IMSProcess.Server, accepted: Double?) throws -> (text: String, accepted: Double) {
        let deadline = Date().addingTimeInterval(10)
        while true {
            let text = try scrape(server)
            let now = value(text, "ims_events_accepted_total") ?? 0
            if accepted == nil || now >= accepted! || Date() > deadline {
                Thread.sleep(forTimeInterval: 0.2)
                let again = try scrape(server)
                return (again, value(again, "ims_events_accepted_total") ?? 0)
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    @Test func scrapesTakenUnderLoadPassPromtool() throws {
        // Frequent snapshots, so that the snapshot gauges are in the scrape too.
        let server = try IMSProcess.start(["--snapshot-every", "2000"])
        defer { server.stop() }
        #expect(try IMSProcess.request(server, "POST", "/api/v1/events", body: TradeFlow.setup(book: "LB", prefix: "L", count: 200)).status == 200)
        let stop = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        let loader = Thread {
            var round = 0
            while stop.wait(timeout: .now()) == .timedOut {
                round += 1
                _ = try? IMSProcess.request(
                    server, "POST", "/api/v1/events?mode=partial",
                    body: TradeFlow.buys(round: round, book: "LB", prefix: "L", tradePrefix: "LT", count: 200, quantity: 1))
            }
            finished.signal()
        }
        loader.start()
        let probe = StreamProbe("ws://127.0.0.1:\(server.port)/ws/position")
        defer { probe.close() }
        probe.send(#"{"action":"subscribe","filter":{}}"#)
        for _ in 0..<5 {
            Thread.sleep(forTimeInterval: 0.3)
            let text = try Self.scrape(server)
            let (status, output) = try Self.promtool(text)
            #expect(status == 0, "promtool check metrics: \(output)")
            #expect(text.contains("ims_journal_append_seconds_bucket"))
        }
        let loaded = try Self.scrape(server)
        #expect(Self.value(loaded, #"ims_stream_subscribers{stream="position"}"#) == 1)
        // Every metric the Grafana dashboard plots is one the server exposes.
        let dashboard = try String(contentsOf: Self.repository.appendingPathComponent("deploy/grafana/ims.json"), encoding: .utf8)
        let names = Set(
            dashboard.matches(of: /\b(?:ims|process)_[a-z_]+/).map { String($0.output) }
                .map { $0.replacing(/_(bucket|count|sum)$/, with: "") })
        #expect(names.count > 15)
        for name in names.sorted() { #expect(loaded.contains("# TYPE \(name) "), "the dashboard plots \(name), which /metrics does not expose") }
        stop.signal()
        finished.wait()
        #expect(Self.value(loaded, "ims_events_accepted_total") ?? 0 > 0)
    }
}
