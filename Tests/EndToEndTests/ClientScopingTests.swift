import Foundation
import Testing

/// SPEC 10, issue 15: a client key sees its own positions, locates and orders, and nothing of another
/// client's, across REST, GraphQL and the streams (`{}` means its own); a cap on streams per identity; and
/// HTTPS and WSS with a certificate the test makes.
@Suite(.serialized)
struct ClientScopingTests {
    static let setup = """
        {"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}
        {"type":"security","securityId":"IBM","marketId":"US","currency":"USD"}
        {"type":"security","securityId":"THR","marketId":"US","currency":"USD","thresholdList":true}
        {"type":"book","bookId":"FIRM","legalEntity":"PB-US","positionType":"FIRM"}
        {"type":"book","bookId":"CL1-CASH","legalEntity":"PB-US","positionType":"CLIENT_FREE","clientId":"CL1"}
        {"type":"book","bookId":"CL2-CASH","legalEntity":"PB-US","positionType":"CLIENT_FREE","clientId":"CL2"}
        {"type":"sodPosition","businessDate":"2026-11-25","bookId":"FIRM","securityId":"IBM","contractualQty":9000,"settledQty":9000}
        {"type":"sodPosition","businessDate":"2026-11-25","bookId":"CL1-CASH","securityId":"IBM","contractualQty":100,"settledQty":100}
        {"type":"sodPosition","businessDate":"2026-11-25","bookId":"CL2-CASH","securityId":"IBM","contractualQty":200,"settledQty":200}
        {"type":"sodPosition","businessDate":"2026-11-25","bookId":"CL2-CASH","securityId":"THR","contractualQty":50,"settledQty":50}
        """

    struct Keys {
        var file: String
        var feed: String, desk: String, fund1: String, fund2: String
    }

    static func keys(in dir: URL) throws -> Keys {
        let keyFile = try IMSProcess.keyFile(in: dir), file = keyFile.path
        func key(_ name: String, _ roles: [String], client: String? = nil) throws -> String { try keyFile.make(name, roles, client: client).key }
        return Keys(
            file: file, feed: try key("loader", ["feed"]), desk: try key("desk", ["operator"]),
            fund1: try key("fund1", ["client"], client: "CL1"), fund2: try key("fund2", ["client"], client: "CL2"))
    }

    @Test func aClientSeesItsOwnDataEverywhere() throws {
        let dir = IMSProcess.freshDirectory()
        let keys = try Self.keys(in: dir)
        let server = try IMSProcess.start(["--api-keys", keys.file], dataDir: dir.appendingPathComponent("data"))
        defer { server.stop() }
        func call(_ method: String, _ path: String, _ key: String, _ body: String? = nil) throws -> (status: Int, json: Any?) {
            try IMSProcess.request(server, method, path, body: body, headers: ["Authorization": "Bearer \(key)"])
        }
        func items(_ r: (status: Int, json: Any?)) -> [[String: Any]] { (r.json as? [String: Any])?["items"] as? [[String: Any]] ?? [] }
        #expect(try call("POST", "/api/v1/events", keys.feed, Self.setup).status == 200)
        let r1 = try call("POST", "/api/v1/locates", keys.fund1, #"{"requestId":"R1","clientId":"CL1","securityId":"IBM","quantity":10,"side":"SHORT"}"#)
        let r2 = try call("POST", "/api/v1/locates", keys.fund2, #"{"requestId":"R2","clientId":"CL2","securityId":"THR","quantity":10,"side":"SHORT"}"#)
        #expect(r1.status == 201 && r2.status == 201)
        let l2 = try #require((r2.json as? [String: Any])?["locateId"] as? String)
        #expect(
            try call(
                "POST", "/api/v1/orders/validate", keys.fund1,
                #"{"orderId":"O1","clientId":"CL1","bookId":"CL1-CASH","securityId":"IBM","side":"SELL","quantity":10,"price":"1"}"#
            ).status == 200)

        // REST: listings narrowed, another client's items unknown, another client named refused.
        #expect(items(try call("GET", "/api/v1/positions", keys.fund1)).map { $0["bookId"] as? String } == ["CL1-CASH"])
        #expect(items(try call("GET", "/api/v1/positions", keys.desk)).count == 4)
        #expect(items(try call("GET", "/api/v1/positions?bookId=CL2-CASH", keys.fund1)).isEmpty)
        let other = try call("GET", "/api/v1/positions?clientId=CL2", keys.fund1)
        #expect(other.status == 403 && (other.json as? [String: Any])?["field"] as? String == "clientId")
        #expect(try call("GET", "/api/v1/positions/CL1-CASH/IBM", keys.fund1).status == 200)
        #expect(try call("GET", "/api/v1/positions/CL2-CASH/IBM", keys.fund1).status == 404)
        #expect(try call("GET", "/api/v1/positions/CL2-CASH/IBM", keys.desk).status == 200)
        #expect(items(try call("GET", "/api/v1/locates", keys.fund1)).map { $0["clientId"] as? String } == ["CL1"])
        #expect(Set(items(try call("GET", "/api/v1/locates", keys.desk)).map { $0["clientId"] as? String }) == ["CL1", "CL2"])
        #expect(try call("GET", "/api/v1/locates/\(l2)", keys.fund1).status == 404)
        #expect(try call("GET", "/api/v1/locates/\(l2)", keys.fund2).status == 200)
        #expect(try call("GET", "/api/v1/orders/O1", keys.fund1).status == 200)
        #expect(try call("GET", "/api/v1/orders/O1", keys.fund2).status == 404)
        #expect(items(try call("GET", "/api/v1/orders", keys.fund1)).map { $0["orderId"] as? String } == ["O1"])
        #expect(items(try call("GET", "/api/v1/orders", keys.fund2)).isEmpty)
        #expect(try call("GET", "/api/v1/orders?clientId=CL1", keys.fund2).status == 403)
        #expect(items(try call("GET", "/api/v1/orders?clientId=CL1", keys.desk)).count == 1)
        #expect(try call("GET", "/api/v1/inventory", keys.fund1).status == 403)
        #expect(try call("GET", "/api/v1/audit", keys.fund1).status == 403)

        // GraphQL: the same narrowing; staff fields refused.
        func graphql(_ query: String, _ key: String) throws -> [String: Any] {
            let body = String(decoding: try JSONSerialization.data(withJSONObject: ["query": query]), as: UTF8.self)
            return try call("POST", "/graphql", key, body).json as? [String: Any] ?? [:]
        }
        func books(_ answer: [String: Any], _ path: [String]) -> [String?] {
            var node: Any? = answer["data"]
            for p in path { node = (node as? [String: Any])?[p] }
            return ((node as? [String: Any])?["items"] as? [[String: Any]] ?? []).map { $0["bookId"] as? String }
        }
        #expect(books(try graphql("{ positions { items { bookId } } }", keys.fund1), ["positions"]) == ["CL1-CASH"])
        #expect(books(try graphql("{ positions { items { bookId } } }", keys.desk), ["positions"]).count == 4)
        #expect(books(try graphql(#"{ security(id: "IBM") { positions { items { bookId } } } }"#, keys.fund1), ["security", "positions"]) == ["CL1-CASH"])
        let named = try graphql(#"{ positions(clientId: "CL2") { items { bookId } } }"#, keys.fund1)
        #expect("\(named["errors"] ?? "")".contains("own client (CL1) only"), "\(named)")
        let inventory = try graphql(#"{ inventory(securityId: "IBM") { securityId } }"#, keys.fund1)
        #expect("\(inventory["errors"] ?? "")".contains("for staff"), "\(inventory)")
        let position = try graphql(#"{ position(bookId: "CL2-CASH", securityId: "IBM") { bookId } }"#, keys.fund1)
        #expect((position["data"] as? [String: Any])?["position"] is NSNull, "\(position)")

        // Streams: {} is the client's own; another client named is refused; the exceptions stream is staff's.
        let positions = StreamProbe("ws://127.0.0.1:\(server.port)/ws/position", key: keys.fund1)
        defer { positions.close() }
        positions.send(#"{"action":"subscribe","filter":{}}"#)
        let snapshot = positions.wait { !$0.ofType("snapshotComplete").isEmpty }.ofType("snapshot").data
        #expect(snapshot.map { $0["bookId"] as? String } == ["CL1-CASH"])
        #expect((positions.messages.ofType("subscribed").first?["filter"] as? [String: Any])?["clientId"] as? String == "CL1")
        positions.send(#"{"action":"subscribe","filter":{"clientId":"CL2"}}"#)
        #expect(positions.wait { !$0.ofType("error").isEmpty }.ofType("error").first?["field"] as? String == "filter.clientId")
        let locates = StreamProbe("ws://127.0.0.1:\(server.port)/ws/locate", key: keys.fund1)
        defer { locates.close() }
        locates.send(#"{"action":"subscribe","filter":{}}"#)
        let queue = locates.wait { !$0.ofType("snapshotComplete").isEmpty }.ofType("snapshot").data
        #expect(!queue.isEmpty && queue.allSatisfy { $0["clientId"] as? String == "CL1" }, "\(queue)")
        // The limits stream: {} is the client's own limits; a unit's are not a client's to watch.
        let limits = StreamProbe("ws://127.0.0.1:\(server.port)/ws/limits", key: keys.fund1)
        defer { limits.close() }
        limits.send(#"{"action":"subscribe","filter":{}}"#)
        let own = limits.wait { !$0.ofType("snapshotComplete").isEmpty }.ofType("snapshot").data
        #expect(!own.isEmpty && own.allSatisfy { $0["clientId"] as? String == "CL1" }, "\(own)")
        limits.send(#"{"action":"subscribe","filter":{"aggregationUnitId":"US-PB"}}"#)
        #expect(limits.wait { !$0.ofType("error").isEmpty }.ofType("error").first?["field"] as? String == "filter.aggregationUnitId")
        let exceptions = RawConnection(port: server.port)
        exceptions.send(
            "GET /ws/exceptions HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer \(keys.fund1)\r\n\r\n"
        )
        #expect(exceptions.readUntilClosed(seconds: 2).text.hasPrefix("HTTP/1.1 403"))
    }

    @Test func streamsPerIdentityAreCapped() throws {
        let dir = IMSProcess.freshDirectory()
        let keys = try Self.keys(in: dir)
        let server = try IMSProcess.start(["--api-keys", keys.file, "--streams-per-identity", "2"], dataDir: dir.appendingPathComponent("data"))
        defer { server.stop() }
        let first = StreamProbe("ws://127.0.0.1:\(server.port)/ws/market-data", key: keys.fund1)
        let second = StreamProbe("ws://127.0.0.1:\(server.port)/ws/position", key: keys.fund1)
        for probe in [first, second] { probe.send(#"{"action":"subscribe","filter":{}}"#) }
        #expect(!second.wait { !$0.ofType("subscribed").isEmpty }.ofType("subscribed").isEmpty)
        let third = StreamProbe("ws://127.0.0.1:\(server.port)/ws/position", key: keys.fund1)
        let refusal = third.wait { !$0.ofType("error").isEmpty }.ofType("error").first
        #expect(
            refusal?["field"] as? String == "streams" && (refusal?["error"] as? String)?.contains("2 streams open") == true, "\(String(describing: refusal))")
        // Another identity is not affected; closing one stream frees its place.
        let desk = StreamProbe("ws://127.0.0.1:\(server.port)/ws/position", key: keys.desk)
        desk.send(#"{"action":"subscribe","filter":{}}"#)
        #expect(!desk.wait { !$0.ofType("subscribed").isEmpty }.ofType("subscribed").isEmpty)
        first.close()
        var admitted = false
        for _ in 0..<50 where !admitted {
            let again = StreamProbe("ws://127.0.0.1:\(server.port)/ws/position", key: keys.fund1)
            again.send(#"{"action":"subscribe","filter":{}}"#)
            let answer = again.wait(seconds: 2) { !$0.ofType("subscribed").isEmpty || !$0.ofType("error").isEmpty }
            admitted = !answer.ofType("subscribed").isEmpty
            again.close()
            if !admitted { Thread.sleep(forTimeInterval: 0.1) }
        }
        #expect(admitted, "a closed stream gives its place back")
        for probe in [second, third, desk] { probe.close() }
    }

    /// HTTPS and WSS with a self-signed certificate made here by openssl: curl checks the chain against it,
    /// openssl s_client upgrades a stream over TLS, and plain HTTP on the same port gets nothing.
    @Test func tlsEndToEnd() throws {
        let dir = IMSProcess.freshDirectory()
        let keys = try Self.keys(in: dir)
        let cert = dir.appendingPathComponent("cert.pem").path, key = dir.appendingPathComponent("key.pem").path
        let made = try Self.shell(
            "openssl",
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            ])
        #expect(made.status == 0, "\(made.out)")
        // A key that is not the certificate's stops the start, naming the files.
        let otherKey = dir.appendingPathComponent("other.pem").path
        _ = try Self.shell("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", otherKey])
        let mismatched = try IMSProcess.run([
            "serve", "--port", "0", "--data-dir", dir.appendingPathComponent("bad").path, "--api-keys", keys.file,
            "--tls-certificate-file", cert, "--tls-key-file", otherKey,
        ])
        #expect(mismatched.status != 0 && mismatched.err.contains("tlsCertificateFile and tlsKeyFile"), "\(mismatched.err)")
        let half = try IMSProcess.run([
            "serve", "--port", "0", "--data-dir", dir.appendingPathComponent("bad").path, "--api-keys", keys.file, "--tls-certificate-file", cert,
        ])
        #expect(half.status != 0 && half.err.contains("TLS needs both"), "\(half.err)")

        let server = try IMSProcess.start(
            ["--api-keys", keys.file, "--tls-certificate-file", cert, "--tls-key-file", key],
            dataDir: dir.appendingPathComponent("data"), waitUntilReady: false)
        defer { server.stop() }
        let base = "https://127.0.0.1:\(server.port)"
        func curl(_ path: String, _ extra: [String] = []) throws -> String {
            try Self.shell("curl", ["-s", "--max-time", "5", "--cacert", cert, "-o", "-", "-w", "\n%{http_code}"] + extra + [base + path]).out
        }
        var ready = ""
        for _ in 0..<100 {
            ready = try curl("/health/ready")
            if ready.hasSuffix("200") { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(ready.hasSuffix("200"), "\(ready)")
        #expect(try curl("/api/v1/positions").hasSuffix("401"))
        #expect(try curl("/api/v1/positions", ["-H", "Authorization: Bearer \(keys.desk)"]).hasSuffix("200"))
        let posted = try curl("/api/v1/events", ["-H", "Authorization: Bearer \(keys.feed)", "--data-binary", Self.setup])
        #expect(posted.hasSuffix("200"), "\(posted)")
        // The certificate is checked: without it curl refuses the server (a self-signed chain).
        let unverified = try Self.shell("curl", ["-s", "--max-time", "5", base + "/health/live"])
        #expect(unverified.status != 0)
        // Plain HTTP to the TLS port gets no HTTP answer.
        let plain = RawConnection(port: server.port)
        plain.send("GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(!plain.readUntilClosed(seconds: 2).text.contains("HTTP/1.1 200"))
        // WSS: a WebSocket upgrade over TLS, signed in, then a subscription answered.
        let upgrade =
            "GET /ws/position HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer \(keys.desk)\r\n\r\n"
        let wss = try Self.shell(
            "openssl", ["s_client", "-connect", "127.0.0.1:\(server.port)", "-CAfile", cert, "-verify_return_error", "-quiet"],
            input: Array(upgrade.utf8) + Self.maskedText(#"{"action":"subscribe","filter":{}}"#), seconds: 3)
        #expect(wss.out.contains("HTTP/1.1 101"), "\(wss.out)")
        #expect(wss.out.contains(#""type":"subscribed""#) && wss.out.contains(#""bookId":"CL1-CASH""#), "\(wss.out)")
    }

    /// One masked WebSocket text frame (clients must mask), payload under 126 bytes.
    static func maskedText(_ text: String) -> [UInt8] {
        let payload = Array(text.utf8), mask: [UInt8] = [1, 2, 3, 4]
        precondition(payload.count < 126)
        return [0x81, 0x80 | UInt8(payload.count)] + mask + payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
    }

    /// Runs a command with `input` on its standard input (kept open `seconds`, then closed), to its end.
    static func shell(_ command: String, _ arguments: [String], input: [UInt8] = [], seconds: Double = 0) throws -> (status: Int32, out: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [command] + arguments
        let stdin = Pipe(), out = Pipe()
        p.standardInput = stdin
        p.standardOutput = out
        p.standardError = out
        try p.run()
        nonisolated(unsafe) var data = Data()
        let done = DispatchSemaphore(value: 0)
        Thread {
            data = out.fileHandleForReading.readDataToEndOfFile(); done.signal()
        }.start()
        if !input.isEmpty { stdin.fileHandleForWriting.write(Data(input)) }
        if seconds > 0 { Thread.sleep(forTimeInterval: seconds) }
        try stdin.fileHandleForWriting.close()
        if seconds > 0, p.isRunning { p.terminate() }
        done.wait()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
