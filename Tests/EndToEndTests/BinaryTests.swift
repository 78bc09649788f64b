import Foundation
import Synchronization
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Runs the real `ims` binary and talks to it over a TCP socket.
enum IMSProcess {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var binary: String {
        ProcessInfo.processInfo.environment["IMS_BINARY"] ?? root.appendingPathComponent(".build/debug/ims").path
    }

    struct Server {
        let process: Process
        let port: Int
        let dataDir: URL
        var base: String { "http://127.0.0.1:\(port)" }

        /// Kills the process with SIGKILL: no shutdown code runs.
        func crash() {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        /// SIGTERM, then waits for a clean exit: a server that does not stop within `seconds` is a failure (and is killed).
        func stop(within seconds: Double = 30) {
            process.terminate()
            let deadline = Date().addingTimeInterval(seconds)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if process.isRunning {
                Issue.record("the server did not stop within \(seconds) s of SIGTERM")
                kill(process.processIdentifier, SIGKILL)
            }
            process.waitUntilExit()
        }
    }

    /// A data directory no test used before, removed when the test process exits (a test may restart a
    /// server on the same directory, so none is removed when its server stops).
    static func freshDirectory() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ims-e2e-\(UUID().uuidString)")
        TemporaryDirectories.shared.add(url)
        return url
    }

    /// Starts `ims serve` on a port the kernel picks (`--port 0`) and waits for the line in which the server
    /// reports it (it listens before it recovers), then, unless told not to, for `/health` to answer 200
    /// (recovered). Its output is drained on a thread of its own (into `log` if given).
    /// `environment` is added to the test's own; with `dataDirFlag` false the data directory is not passed as a
    /// flag (the test sets it in a configuration file or the environment).
    static func start(
        _ arguments: [String] = [], dataDir: URL = freshDirectory(), log: URL? = nil, waitUntilReady: Bool = true,
        environment: [String: String] = [:], dataDirFlag: Bool = true
    ) throws -> Server {
        #expect(FileManager.default.isExecutableFile(atPath: binary), "build the binary first: \(binary)")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        // Without keys of its own, a test server runs open (and says so in its log).
        let auth = arguments.contains { ["--api-keys", "--jwt-secret-file", "--jwt-public-key-file"].contains($0) } ? [] : ["--insecure-no-auth"]
        p.arguments = ["serve", "--port", "0"] + (dataDirFlag ? ["--data-dir", dataDir.path] : []) + auth + arguments
        p.environment = childEnvironment(environment)
        let output = Pipe()
        p.standardOutput = output
        p.standardError = output
        // Appending (O_APPEND): several servers share one log file in the cluster tests, and a handle that only
        // seeks to the end once overwrites the lines the others wrote since.
        let logHandle: FileHandle? = try log.map { log in
            let fd = open(log.path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
            guard fd >= 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: log.path]) }
            return FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        }
        let announced = PortAnnouncement()
        let reader = output.fileHandleForReading
        let drain = Thread {
            var pending = ""
            while true {
                let data = reader.availableData
                if data.isEmpty { break }
                logHandle?.write(data)
                pending += String(decoding: data, as: UTF8.self)
                while let newline = pending.firstIndex(of: "\n") {
                    let line = pending[..<newline]
                    if let range = line.range(of: "ims serving on http") { // http:// or https://
                        let port = line[range.upperBound...].split(separator: ":").last.flatMap { Int($0) }
                        if let port { announced.set(port) }
                    }
                    pending = String(pending[pending.index(after: newline)...])
                }
            }
            try? logHandle?.close()
        }
        try p.run()
        drain.start()
        // Recovery of a large journal can take a while on a loaded machine.
        guard let port = announced.wait(seconds: 120, while: { p.isRunning }) else {
            p.terminate()
            throw CocoaError(
                .fileReadUnknown,
                userInfo: [NSLocalizedDescriptionKey: "the server did not report its port (exit \(p.isRunning ? "none" : String(p.terminationStatus)))"])
        }
        let server = Server(process: p, port: port, dataDir: dataDir)
        if !waitUntilReady { return server }
        // Recovery of a large journal can take a while on a loaded machine.
        for _ in 0..<2_400 {
            if (try? request(server, "GET", "/health"))?.status == 200 { return server }
            if !p.isRunning { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        p.terminate()
        throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "server did not become healthy"])
    }

    /// The port a starting server reports, handed from the output-draining thread to the test.
    final class PortAnnouncement: @unchecked Sendable {
        private let condition = NSCondition()
        private var port: Int?

        func set(_ value: Int) {
            condition.lock()
            port = value
            condition.broadcast()
            condition.unlock()
        }

        func wait(seconds: Double, while alive: () -> Bool) -> Int? {
            let deadline = Date().addingTimeInterval(seconds)
            condition.lock()
            defer { condition.unlock() }
            while port == nil && Date() < deadline && alive() { _ = condition.wait(until: Date().addingTimeInterval(0.1)) }
            return port
        }
    }

    /// The test's environment without IMS settings of its own (a test sets the ones it means), plus `extra`.
    static func childEnvironment(_ extra: [String: String]) -> [String: String] {
        ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("IMS_") || $0.key == "IMS_BINARY" }.merging(extra) { _, new in new }
    }

    /// Runs `ims` with `arguments` to its end: its exit status, standard output and standard error.
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = arguments
        p.environment = childEnvironment(environment)
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Read both to their ends before waiting, so a full pipe cannot block the child.
        let errDone = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var errData = Data()
        Thread {
            errData = err.fileHandleForReading.readDataToEndOfFile(); errDone.signal()
        }.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        errDone.wait()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    /// A keys file in a fresh directory: `make` adds a key to it with `ims keys create`.
    struct KeyFile {
        let dir: URL
        let path: String
        func make(_ name: String, _ roles: [String], client: String? = nil) throws -> (key: String, user: String) {
            try IMSProcess.makeKey(file: path, name: name, roles: roles, client: client)
        }
    }

    static func keyFile(in dir: URL = freshDirectory()) throws -> KeyFile {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return KeyFile(dir: dir, path: dir.appendingPathComponent("keys.json").path)
    }

    /// Makes an API key with `ims keys create` in `file`: the key, and the identity the audit trail names it by.
    static func makeKey(file: String, name: String, roles: [String], client: String? = nil) throws -> (key: String, user: String) {
        let made = try run(
            ["keys", "create", "--file", file, "--name", name] + roles.flatMap { ["--role", $0] } + (client.map { ["--client-id", $0] } ?? []))
        #expect(made.status == 0, "\(made.err)")
        let key = made.out.trimmingCharacters(in: .whitespacesAndNewlines)
        return (key, "key:\(key.split(separator: "_").dropFirst().first ?? ""):\(name)")
    }

    static func request(
        _ server: Server, _ method: String, _ path: String, body: String? = nil, timeout: Double = 10,
        headers: [String: String] = [:]
    ) throws -> (status: Int, json: Any?) {
        var req = URLRequest(url: URL(string: server.base + path)!)
        req.httpMethod = method
        for (name, value) in headers { req.setValue(value, forHTTPHeaderField: name) }
        req.httpBody = body.map { Data($0.utf8) }
        req.timeoutInterval = timeout
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: (Int, Data?)?
        let task = URLSession.shared.dataTask(with: req) { data, response, _ in
            result = ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
            done.signal()
        }
        task.resume()
        guard done.wait(timeout: .now() + timeout) == .success, let (status, data) = result, status != 0 else {
            task.cancel()
            throw URLError(.cannotConnectToHost)
        }
        return (status, data.flatMap { try? JSONSerialization.jsonObject(with: $0) })
    }
}

struct BinaryTests {
    @Test func postNDJSONOverASocketAndReadPositionsBack() throws {
        let server = try IMSProcess.start()
        defer { server.stop() }
        let ndjson = """
            {"type":"marketDayRoll","marketId":"US","businessDate":"2026-10-09"}
            {"type":"security","securityId":"IBM","isin":"US4592001014","marketId":"US"}
            {"type":"book","bookId":"FIRM1","legalEntity":"PB-US","positionType":"FIRM"}
            {"type":"sodPosition","businessDate":"2026-10-09","bookId":"FIRM1","securityId":"IBM","contractualQty":500,"settledQty":500}
            {"type":"trade","tradeId":"T1","version":1,"status":"NEW","bookId":"FIRM1","securityId":"IBM","side":"SELL_SHORT","quantity":800,"price":250.5,"tradeDate":"2026-10-09"}
            """
        let posted = try IMSProcess.request(server, "POST", "/api/v1/events", body: ndjson)
        #expect(posted.status == 200)
        #expect((posted.json as? [String: Any])?["accepted"] as? Int == 5)
        let read = try IMSProcess.request(server, "GET", "/api/v1/positions/FIRM1/IBM")
        let p = try #require(read.json as? [String: Any])
        #expect(p["contractualQty"] as? Int == -300)
        #expect(p["intradayShortSells"] as? Int == 800)
        let ladder = try #require(p["ladder"] as? [[String: Any]])
        // T+1 from Friday 2026-10-09 skips Columbus Day: settles Tuesday 2026-10-13, SD1.
        #expect(ladder[1]["date"] as? String == "2026-10-13")
        #expect(ladder[1]["deliver"] as? Int == 800)
        #expect(p["projectedNetPosition"] as? Int == -300)

        let bad = try IMSProcess.request(server, "POST", "/api/v1/events", body: #"{"type":"trade","tradeId":"T2"}"#)
        #expect(bad.status == 422)
        let again = try IMSProcess.request(server, "GET", "/api/v1/positions/FIRM1/IBM")
        #expect((again.json as? [String: Any])?["contractualQty"] as? Int == -300)
    }
}

/// The data directories the end-to-end tests made, removed at exit.
final class TemporaryDirectories: Sendable {
    static let shared: TemporaryDirectories = {
        let d = TemporaryDirectories()
        atexit { TemporaryDirectories.shared.removeAll() }
        return d
    }()

    private let paths = Mutex<[URL]>([])

    func add(_ url: URL) { paths.withLock { $0.append(url) } }

    func removeAll() {
        for url in paths.withLock({ $0 }) { try? FileManager.default.removeItem(at: url) }
    }
}
