import NIOCore
import NIOEmbedded
import Testing

@testable import IMSServer

/// The connection guard's framing as a pure state machine: heads split and pipelined, bodies skipped,
/// malformed and ambiguous heads refused, WebSocket frames split and unmasked.
struct ConnectionFramingTests {
    static func read(_ f: inout ConnectionFraming, _ text: String) -> ConnectionFraming.Outcome {
        Array(text.utf8).withUnsafeBytes { f.read($0) }
    }

    static func read(_ f: inout ConnectionFraming, bytes: [UInt8]) -> ConnectionFraming.Outcome {
        bytes.withUnsafeBytes { f.read($0) }
    }

    @Test func aHeadSplitAnywhereIsFollowedToItsEnd() {
        let head = "GET /health HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n"
        for cut in 1..<head.utf8.count {
            var f = ConnectionFraming(maxHeadBytes: 1_000)
            let bytes = Array(head.utf8)
            let first = Self.read(&f, bytes: Array(bytes[..<cut]))
            #expect(first.startedHead && !first.headDone && f.state == .head)
            let second = Self.read(&f, bytes: Array(bytes[cut...]))
            #expect(second.headDone && !second.startedHead && f.state == .idle, "cut at \(cut)")
        }
    }

    @Test func pipelinedRequestsAndTheirBodiesAreFollowed() {
        var f = ConnectionFraming(maxHeadBytes: 1_000)
        let two = "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\nHo"
        let out = Self.read(&f, two)
        // The third head is still arriving: its timer runs.
        #expect(out.startedHead && !out.headDone && f.state == .head)
        #expect(Self.read(&f, "st: x\r\n\r\n").headDone && f.state == .idle)
        // A body split across reads is skipped, byte for byte.
        #expect(Self.read(&f, "POST /d HTTP/1.1\r\ncontent-length:  12 \r\n\r\nhello").headDone)
        #expect(f.state == .body(7))
        _ = Self.read(&f, "world!!")
        #expect(f.state == .idle)
    }

    @Test func malformedAndAmbiguousHeadsAreRefusedNamingWhy() {
        let cases: [(String, String)] = [
            ("GET / HTTP/1.1\r\nHost x\r\n\r\n", "has no colon"),
            ("GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", "folded"),
            ("GET / HTTP/1.1\r\nHost : x\r\n\r\n", "space before its colon"),
            ("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", "Content-Length and Transfer-Encoding"),
            ("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", "twice"),
            ("POST / HTTP/1.1\r\nContent-Length: 5x\r\n\r\n", "must be digits"),
            ("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "must be digits"),
        ]
        for (head, reason) in cases {
            var f = ConnectionFraming(maxHeadBytes: 1_000)
            let out = Self.read(&f, head)
            guard case .malformed(let message)? = out.refusal else { Issue.record("\(head.debugDescription) was not refused"); continue }
            #expect(message.contains(reason), "\(message)")
            #expect(f.state == .passThrough)
            #expect(out.refusal!.response.hasPrefix("HTTP/1.1 400 Bad Request\r\n") && out.refusal!.response.contains(#""field":"headers""#))
        }
        // The same value twice is one length; chunked alone is followed no further.
        var f = ConnectionFraming(maxHeadBytes: 1_000)
        #expect(Self.read(&f, "POST / HTTP/1.1\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\n").refusal == nil && f.state == .body(3))
        f = ConnectionFraming(maxHeadBytes: 1_000)
        #expect(Self.read(&f, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").refusal == nil && f.state == .passThrough)
    }

    @Test func aHeadPastTheLimitIsRefusedWith431() {
        var f = ConnectionFraming(maxHeadBytes: 64)
        #expect(Self.read(&f, "GET / HTTP/1.1\r\n").refusal == nil)
        let out = Self.read(&f, "X-Long: " + String(repeating: "a", count: 100))
        #expect(out.refusal == .headTooLarge(limit: 64))
        #expect(out.refusal!.response.hasPrefix("HTTP/1.1 431 "))
    }

    @Test func anUpgradeWaitsForTheServersAnswerThenFollowsFrames() {
        var f = ConnectionFraming(maxHeadBytes: 1_000)
        let out = Self.read(&f, "GET /ws/position HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        #expect(out.upgradeHead != nil && f.state == .upgradeRequested)
        // Refused by the server: back to heads.
        f.wrote("HTTP/1.1 403")
        #expect(f.state == .idle)
        _ = Self.read(&f, "GET /ws/position HTTP/1.1\r\nUpgrade: websocket\r\n\r\n")
        f.wrote("HTTP/1.1 101")
        #expect(f.state == .frameHeader)
        // A masked text frame of 5 bytes, split inside its header and its payload.
        let frame: [UInt8] = [0x81, 0x85, 1, 2, 3, 4] + Array("hello".utf8)
        #expect(Self.read(&f, bytes: Array(frame[..<3])) == ConnectionFraming.Outcome())
        _ = Self.read(&f, bytes: Array(frame[3..<8]))
        #expect(f.state == .framePayload(3))
        _ = Self.read(&f, bytes: Array(frame[8...]))
        #expect(f.state == .frameHeader)
        // A 16-bit length: 300 bytes of payload skipped.
        _ = Self.read(&f, bytes: [0x82, 0xFE, 0x01, 0x2C, 9, 9, 9, 9])
        #expect(f.state == .framePayload(300))
        _ = Self.read(&f, bytes: Array(repeating: 0, count: 300))
        // An unmasked frame: close at once.
        let unmasked = Self.read(&f, bytes: [0x81, 0x05] + Array("hello".utf8))
        #expect(unmasked.close && f.state == .passThrough)
    }
}

/// The guard itself on an `EmbeddedChannel`: what it answers, what it lets through unchanged, and its head
/// timer, with the embedded loop's clock (no sleeping).
struct ConnectionGuardChannelTests {
    static func channel(headTimeout: TimeAmount = .seconds(10)) throws -> EmbeddedChannel {
        var limits = ConnectionLimits()
        limits.headTimeout = headTimeout
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ConnectionGuard(limits: limits, counter: ConnectionCounter()))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    static func write(_ channel: EmbeddedChannel, _ text: String) throws {
        try channel.writeInbound(channel.allocator.buffer(string: text))
    }

    static func passed(_ channel: EmbeddedChannel) throws -> String {
        var out = ""
        while let b = try channel.readInbound(as: ByteBuffer.self) { out += String(buffer: b) }
        return out
    }

    @Test func goodBytesGoOnUnchangedAndPipelinedRequestsPass() throws {
        let channel = try Self.channel()
        let text = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"
        try Self.write(channel, String(text.prefix(10)))
        try Self.write(channel, String(text.dropFirst(10)))
        #expect(try Self.passed(channel) == text)
        #expect(channel.isActive)
        _ = try channel.finish()
    }

    @Test func aHeaderLineWithoutAColonIsAnswered400AndClosed() throws {
        let channel = try Self.channel()
        try Self.write(channel, "GET /health HTTP/1.1\r\nHost x\r\n\r\n")
        #expect(try Self.passed(channel).isEmpty, "nothing of a refused head reaches the HTTP parser")
        let answer = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(String(buffer: answer).hasPrefix("HTTP/1.1 400 Bad Request"))
        #expect(String(buffer: answer).contains("header line 2 has no colon"))
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
    }

    @Test func contentLengthWithTransferEncodingIsRefused() throws {
        let channel = try Self.channel()
        try Self.write(channel, "POST /api/v1/events HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n")
        #expect(try Self.passed(channel).isEmpty)
        let answer = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(String(buffer: answer).hasPrefix("HTTP/1.1 400"))
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
    }

    @Test func aHeadThatDoesNotArriveInTimeClosesTheConnection() throws {
        let channel = try Self.channel(headTimeout: .seconds(10))
        try Self.write(channel, "GET / HTTP/1.1\r\nHo")
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
    }

    @Test func aCompleteHeadStopsTheTimerAndTheNextHeadStartsItOver() throws {
        let channel = try Self.channel(headTimeout: .seconds(10))
        try Self.write(channel, "GET / HTTP/1.1\r\n\r\n")
        channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        #expect(channel.isActive, "between requests only the idle timeout applies (the HTTP channel's)")
        try Self.write(channel, "GET / HTTP/1.1\r\n")
        channel.embeddedEventLoop.advanceTime(by: .seconds(11))
        #expect(!channel.isActive)
    }

    @Test func anUnmaskedClientFrameClosesAfterTheUpgrade() throws {
        let channel = try Self.channel()
        try Self.write(channel, "GET /ws/position HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        _ = try Self.passed(channel)
        try channel.writeOutbound(channel.allocator.buffer(string: "HTTP/1.1 101 Switching Protocols\r\n\r\n"))
        var frame = channel.allocator.buffer(bytes: [0x81, 0x82, 1, 2, 3, 4])
        frame.writeBytes([0x61 ^ 1, 0x62 ^ 2])
        try channel.writeInbound(frame)
        #expect(try Self.passed(channel).count == 8)
        try channel.writeInbound(channel.allocator.buffer(bytes: [0x81, 0x01, 0x61]))
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
    }
}
