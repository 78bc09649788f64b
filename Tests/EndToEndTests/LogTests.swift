import Foundation
import Testing

/// The log of the real binary: JSON objects, one per line, on standard error by default; text on request.
struct LogTests {
    static func lines(of log: URL) throws -> [String] {
        Thread.sleep(forTimeInterval: 0.5) // the thread that copies the server's output into the file finishes
        return String(decoding: try Data(contentsOf: log), as: UTF8.self).split(separator: "\n").map(String.init)
    }

    @Test func jsonLinesSayWhatWasRecoveredAndEveryRequestAtDebug() throws {
        let dataDir = IMSProcess.freshDirectory()
        let log = dataDir.deletingLastPathComponent().appendingPathComponent("ims-log-\(UUID().uuidString).txt")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        var server = try IMSProcess.start(dataDir: dataDir, log: log)
        #expect(try IMSProcess.request(server, "POST", "/api/v1/events", body: TradeFlow.setup(book: "GB", prefix: "G", count: 3)).status == 200)
        server.stop()
        // Restarted with debug: recovery says what it replayed, and each request has a line.
        server = try IMSProcess.start(["--log-level", "debug"], dataDir: dataDir, log: log)
        #expect(try IMSProcess.request(server, "GET", "/health/ready").status == 200)
        server.stop()
        let objects = try Self.lines(of: log).filter { $0.hasPrefix("{") }.map { line -> [String: Any] in
            let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
            #expect(object != nil, "not a JSON object: \(line)")
            return object ?? [:]
        }
        for o in objects {
            #expect(o["time"] is String && o["level"] is String && o["message"] is String, "\(o)")
        }
        let recovered = objects.filter { $0["message"] as? String == "recovered" }
        #expect(recovered.count == 2)
        // The second start replays nothing: the first wrote a snapshot when it stopped.
        #expect(recovered.last?["snapshotRecord"] as? String == "1")
        #expect(recovered.last?["replayedRecords"] as? String == "0")
        #expect(recovered.last?["seconds"] != nil)
        let requests = objects.filter { $0["message"] as? String == "request" }
        #expect(requests.contains { $0["route"] as? String == "/health/ready" && $0["status"] as? String == "200" && $0["level"] as? String == "debug" })
        #expect(
            !objects.contains { $0["message"] as? String == "request" && $0["route"] as? String == "/api/v1/events" },
            "the first run logged at info: no line per request")
        #expect(objects.contains { $0["message"] as? String == "stopped" })
    }

    @Test func textForATerminal() throws {
        let dataDir = IMSProcess.freshDirectory()
        let log = dataDir.deletingLastPathComponent().appendingPathComponent("ims-log-\(UUID().uuidString).txt")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let server = try IMSProcess.start(["--log-format", "text"], dataDir: dataDir, log: log)
        server.stop()
        let lines = try Self.lines(of: log)
        #expect(lines.contains { $0.contains(" INFO ims: recovered ") && $0.contains("replayedEvents=0") }, "\(lines)")
        #expect(!lines.contains { $0.hasPrefix("{") })
    }
}
