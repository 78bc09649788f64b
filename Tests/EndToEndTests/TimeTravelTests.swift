import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `asOf` over HTTP and `ims replay` against the real binary and its journal.
struct TimeTravelTests {
    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let r = try IMSProcess.run(arguments)
        return (r.status, r.out + r.err)
    }

    static func trade(_ id: String, _ quantity: Int) -> String {
        #"{"type":"trade","tradeId":"\#(id)","version":1,"status":"NEW","bookId":"TB","securityId":"TS","side":"BUY","quantity":\#(quantity),"price":"5","tradeDate":"2026-11-25"}"#
    }

    @Test func positionsAsOfASequenceOrATimeAndReplayFromTheCommandLine() throws {
        let dir = IMSProcess.freshDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let server = try IMSProcess.start(dataDir: dir)
        let setup = """
            {"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}
            {"type":"security","securityId":"TS","marketId":"US"}
            {"type":"book","bookId":"TB","legalEntity":"PB-US","positionType":"FIRM"}
            \(Self.trade("A", 100))
            """
        let first = try IMSProcess.request(server, "POST", "/api/v1/events", body: setup)
        let firstSequence = try #require((first.json as? [String: Any])?["lastSequence"] as? Int)
        // Whole seconds: the first batch is more than a second before `between`, the second after it.
        Thread.sleep(forTimeInterval: 1.1)
        let between = ISO8601DateFormatter().string(from: Date())
        Thread.sleep(forTimeInterval: 1.1)
        #expect(try IMSProcess.request(server, "POST", "/api/v1/events", body: Self.trade("B", 50) + "\n" + Self.trade("C", 7)).status == 200)

        func quantity(_ query: String) throws -> Int? {
            let r = try IMSProcess.request(server, "GET", "/api/v1/positions/TB/TS" + query)
            return (r.json as? [String: Any])?["contractualQty"] as? Int
        }
        #expect(try quantity("") == 157)
        #expect(try quantity("?asOf=\(firstSequence)") == 100)
        #expect(try quantity("?asOf=\(firstSequence + 1)") == 150, "a sequence inside a batch stops inside it")
        #expect(try quantity("?asOf=\(between)") == 100)
        let early = try IMSProcess.request(server, "GET", "/api/v1/positions/TB/TS?asOf=\(firstSequence - 1)")
        #expect(early.status == 404)
        let bad = try IMSProcess.request(server, "GET", "/api/v1/positions/TB/TS?asOf=yesterday")
        #expect(bad.status == 400)
        #expect((bad.json as? [String: Any])?["field"] as? String == "asOf")
        server.stop()

        let a = try Self.run(["replay", "--data-dir", dir.path, "--until", "\(firstSequence)"])
        let b = try Self.run(["replay", "--data-dir", dir.path, "--until", "\(firstSequence)", "--from-start"])
        #expect(a.status == 0)
        let linesA = a.output.split(separator: "\n"), linesB = b.output.split(separator: "\n")
        #expect(linesA.first?.contains(#""contractualQty":100"#) == true)
        func digest(_ line: Substring?) -> String? {
            (line.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } as? [String: Any])?["stateDigest"] as? String
        }
        #expect(digest(linesA.last) != nil)
        #expect(digest(linesA.last) == digest(linesB.last), "two replays, with and without the snapshot, give identical state")
        let end = try Self.run(["replay", "--data-dir", dir.path])
        #expect(end.output.contains(#""contractualQty":157"#))
        let wrong = try Self.run(["replay", "--data-dir", dir.path, "--until", "never"])
        #expect(wrong.status != 0)
        #expect(wrong.output.contains("--until"))
    }
}

/// `ims load` against the real server.
struct LoadCommandTests {
    @Test func loadsNDJSONAndCSVFilesInChunksAndReportsBadLines() throws {
        let server = try IMSProcess.start()
        defer { server.stop() }
        let dir = IMSProcess.freshDirectory()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let securities = dir.appendingPathComponent("securities.csv")
        try "# a comment\nsecurityId,marketId,isin\nLD1,US,US0378331005\nLD2,US,\n".write(to: securities, atomically: true, encoding: .utf8)
        var lines = [
            #"{"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}"#,
            #"{"type":"book","bookId":"LB","legalEntity":"PB-US","positionType":"FIRM"}"#,
        ]
        for i in 0..<25 {
            lines.append(
                TimeTravelTests.trade("L\(i)", 4).replacingOccurrences(of: "\"TB\"", with: "\"LB\"").replacingOccurrences(of: "\"TS\"", with: "\"LD2\""))
        }
        let events = dir.appendingPathComponent("events.ndjson")
        try lines.joined(separator: "\n").write(to: events, atomically: true, encoding: .utf8)

        let a = try TimeTravelTests.run(["load", securities.path, "--url", server.base, "--type", "security"])
        #expect(a.status == 0, "\(a.output)")
        let b = try TimeTravelTests.run(["load", events.path, "--url", server.base, "--chunk", "10"])
        #expect(b.status == 0, "\(b.output)")
        let position = try IMSProcess.request(server, "GET", "/api/v1/positions/LB/LD2")
        #expect((position.json as? [String: Any])?["contractualQty"] as? Int == 100)

        // A bad line: the chunk holding it is refused, the command says where, and exits non-zero.
        let bad = dir.appendingPathComponent("bad.ndjson")
        try
            (TimeTravelTests.trade("L99", 1).replacingOccurrences(of: "\"TB\"", with: "\"LB\"").replacingOccurrences(of: "\"TS\"", with: "\"LD2\"")
            + "\n" + #"{"type":"trade","tradeId":"L100"}"#).write(to: bad, atomically: true, encoding: .utf8)
        let c = try TimeTravelTests.run(["load", bad.path, "--url", server.base])
        #expect(c.status != 0)
        #expect(c.output.contains("line 2"), "\(c.output)")
        let after = try IMSProcess.request(server, "GET", "/api/v1/positions/LB/LD2")
        #expect((after.json as? [String: Any])?["contractualQty"] as? Int == 100, "the atomic chunk changed nothing")
    }
}
