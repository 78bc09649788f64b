import Foundation
import HummingbirdCore
import Logging
import NIOCore
import Synchronization

/// The limits every accepted connection is held to, before any HTTP parsing.
public struct ConnectionLimits: Sendable {
    /// A request head (request line and headers) must arrive whole within this time of its first byte (or of the
    /// connection's opening, for the first request): slow or never-sent headers cannot hold a connection open.
    public var headTimeout: TimeAmount = .seconds(10)
    /// An HTTP connection with no request in progress is closed after this long (a WebSocket is kept alive by its heartbeats).
    public var idleTimeout: TimeAmount = .seconds(60)
    /// When set, a WebSocket upgrade without the credential or role its stream needs is answered 401 or 403
    /// here (see `AccessPolicy.upgradeCheck`); taken from `ServerConfiguration.credentials`.
    var credentials: Credentials?
    /// The longest request head, in bytes; a longer one is answered 431.
    public var maxHeadBytes = 32 << 10
    /// Open connections at most; one more is closed as soon as it is accepted (so `/health` keeps its descriptor).
    public var maxConnections = 10_000
    /// A connection whose client takes none of what is written to it for this long is closed: a WebSocket
    /// subscriber that never reads then holds nothing, and cannot hold up a shutdown.
    public var maxWriteStall: TimeAmount = .seconds(30)

    public init() {}
}

/// Counts a server's open connections.
final class ConnectionCounter: Sendable {
    let open = Atomic<Int>(0)
}

/// The first handler of every connection, on raw bytes: it follows HTTP/1.1 framing just enough to see
/// where each request head starts and ends (`Content-Length` bodies are skipped), and
///
/// - closes a connection whose head does not arrive whole within `headTimeout` (slow headers, or nothing sent);
/// - answers 431 to a head longer than `maxHeadBytes`, and closes;
/// - closes a connection over `maxConnections` at once;
/// - closes a connection that stays unwritable (its client takes nothing) for `maxWriteStall`;
/// - closes a WebSocket whose client sends an unmasked frame (RFC 6455 5.1).
///
/// After a WebSocket upgrade, or a chunked request body (whose framing it does not follow), it steps aside.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        /// Between requests: the next byte starts a head.
        case idle
        /// Reading a head: its bytes so far (kept to find its end and its framing headers).
        case head
        /// Skipping this many body bytes.
        case body(Int)
        /// A WebSocket upgrade was asked for: waiting for the server's answer (the client sends nothing meanwhile).
        case upgradeRequested
        /// Upgraded: reading client frames, a header of `need` bytes so far in `head`.
        case frameHeader
        /// Skipping the rest of a client frame's payload.
        case framePayload(Int)
        /// No longer following the framing (chunked, or the connection is being closed).
        case passThrough
    }

    private let limits: ConnectionLimits
    private let counter: ConnectionCounter
    private var state = State.idle
    private var head: [UInt8] = []
    private var deadline: Scheduled<Void>?
    private var stall: Scheduled<Void>?
    private var counted = false
    /// Reads held while an upgrade's bearer token is checked (nil: none held).
    private var held: [NIOAny]?

    init(limits: ConnectionLimits, counter: ConnectionCounter) {
        self.limits = limits
        self.counter = counter
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { opened(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        opened(context: context)
        context.fireChannelActive()
    }

    private func opened(context: ChannelHandlerContext) {
        guard !counted else { return }
        counted = true
        if counter.open.wrappingAdd(1, ordering: .relaxed).newValue > limits.maxConnections {
            context.close(promise: nil)
            return
        }
        armDeadline(context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        stall?.cancel()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            stall?.cancel()
            stall = nil
        } else if stall == nil {
            let channel = context.channel
            stall = context.eventLoop.scheduleTask(in: limits.maxWriteStall) { channel.close(promise: nil) }
        }
        context.fireChannelWritabilityChanged()
    }

    private func release() {
        deadline?.cancel()
        deadline = nil
        stall?.cancel()
        stall = nil
        if counted {
            counted = false
            counter.open.wrappingSubtract(1, ordering: .relaxed)
        }
    }

    private func armDeadline(context: ChannelHandlerContext) {
        deadline?.cancel()
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: limits.headTimeout) { channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if held != nil {
            held!.append(data)
            return
        }
        let buffer = unwrapInboundIn(data)
        var offset = 0
        let bytes = buffer.readableBytesView
        scanning: while offset < bytes.count {
            switch state {
            case .passThrough, .upgradeRequested:
                break scanning
            case .framePayload(let left):
                let take = min(left, bytes.count - offset)
                offset += take
                state = left - take == 0 ? .frameHeader : .framePayload(left - take)
            case .frameHeader:
                head.append(bytes[bytes.index(bytes.startIndex, offsetBy: offset)])
                offset += 1
                guard let (masked, payload) = Self.frameHeader(head) else { continue }
                guard masked else {
                    // RFC 6455 5.1: a server closes the connection on an unmasked client frame.
                    state = .passThrough
                    context.close(promise: nil)
                    return
                }
                head.removeAll(keepingCapacity: true)
                state = payload > 0 ? .framePayload(payload) : .frameHeader
            case .body(let left):
                let take = min(left, bytes.count - offset)
                offset += take
                state = left - take == 0 ? .idle : .body(left - take)
            case .idle:
                state = .head
                head.removeAll(keepingCapacity: true)
                armDeadline(context: context)
            case .head:
                let start = bytes.index(bytes.startIndex, offsetBy: offset)
                var end: Int?
                for (i, byte) in bytes[start...].enumerated() {
                    head.append(byte)
                    if byte == 0x0A && head.count >= 4 && head[head.count - 2] == 0x0D && head[head.count - 3] == 0x0A && head[head.count - 4] == 0x0D {
                        end = offset + i + 1
                        break
                    }
                    if head.count > limits.maxHeadBytes { break }
                }
                if head.count > limits.maxHeadBytes && end == nil {
                    refuseOversizedHead(context: context)
                    return
                }
                guard let end else { offset = bytes.count; break scanning }
                offset = end
                deadline?.cancel()
                deadline = nil
                state = Self.framing(of: head)
                if case .upgradeRequested = state, let credentials = limits.credentials {
                    switch AccessPolicy.upgradeCheck(head: head, credentials: credentials) {
                    case .pass: break
                    case .refuse(let refusal):
                        refuse(refusal, context: context)
                        return
                    case .checkToken(let token, let path):
                        // Hold this read and every later one until the token is checked, then refuse or let
                        // them all through in order.
                        held = [data]
                        let loop = context.eventLoop
                        let bound = NIOLoopBound((handler: self, context: context), eventLoop: loop)
                        Task {
                            let refusal = await AccessPolicy.tokenUpgradeRefusal(token, path: path, credentials: credentials)
                            loop.execute {
                                let (handler, context) = bound.value
                                let reads = handler.held ?? []
                                handler.held = nil
                                if let refusal {
                                    handler.refuse(refusal, context: context)
                                } else {
                                    for read in reads { context.fireChannelRead(read) }
                                    context.fireChannelReadComplete()
                                }
                            }
                        }
                        return
                    }
                }
            }
        }
        context.fireChannelRead(data)  // the bytes go on unchanged
    }

    /// Answers a refused upgrade with `response` (a whole HTTP response) and closes.
    private func refuse(_ response: String, context: ChannelHandlerContext) {
        state = .passThrough
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(string: response))).whenComplete { _ in channel.close(promise: nil) }
    }

    /// What follows a complete head: its body, the next head, or bytes this guard no longer follows.
    /// `framing(of:)` over the head's bytes: header names compared without case, values trimmed of spaces
    /// and tabs (no strings made: it runs for every request).
    private static func framing(of head: [UInt8]) -> State {
        var length = 0
        var i = 0, n = head.count
        // Skip the request line.
        while i + 1 < n, !(head[i] == 0x0D && head[i + 1] == 0x0A) { i += 1 }
        i += 2
        while i < n {
            var end = i
            while end + 1 < n, !(head[end] == 0x0D && head[end + 1] == 0x0A) { end += 1 }
            if end + 1 >= n { end = n }
            if let colon = head[i..<end].firstIndex(of: 0x3A) {
                let name = trimmed(head, i, colon), value = trimmed(head, colon + 1, end)
                if equalsIgnoringCase(head, name, "upgrade") {
                    return containsIgnoringCase(head, value, "websocket") ? .upgradeRequested : .passThrough
                } else if equalsIgnoringCase(head, name, "transfer-encoding") {
                    if containsIgnoringCase(head, value, "chunked") { return .passThrough }
                } else if equalsIgnoringCase(head, name, "content-length") {
                    var v = 0, digits = 0
                    for k in value where digits < 19 {
                        guard head[k] >= 0x30 && head[k] <= 0x39 else { v = 0; break }
                        v = v * 10 + Int(head[k] - 0x30)
                        digits += 1
                    }
                    length = v
                }
            }
            i = end + 2
        }
        return length > 0 ? .body(length) : .idle
    }

    private static func trimmed(_ b: [UInt8], _ from: Int, _ to: Int) -> Range<Int> {
        var lo = from, hi = to
        while lo < hi, b[lo] == 0x20 || b[lo] == 0x09 { lo += 1 }
        while hi > lo, b[hi - 1] == 0x20 || b[hi - 1] == 0x09 { hi -= 1 }
        return lo..<hi
    }

    private static func lower(_ c: UInt8) -> UInt8 { c >= 0x41 && c <= 0x5A ? c | 0x20 : c }

    private static func equalsIgnoringCase(_ b: [UInt8], _ r: Range<Int>, _ word: StaticString) -> Bool {
        guard r.count == word.utf8CodeUnitCount else { return false }
        return word.withUTF8Buffer { w in r.allSatisfy { lower(b[$0]) == w[$0 - r.lowerBound] } }
    }

    private static func containsIgnoringCase(_ b: [UInt8], _ r: Range<Int>, _ word: StaticString) -> Bool {
        word.withUTF8Buffer { w in
            guard r.count >= w.count else { return false }
            for start in r.lowerBound...(r.upperBound - w.count) where (0..<w.count).allSatisfy({ lower(b[start + $0]) == w[$0] }) { return true }
            return false
        }
    }

    /// Whether a complete client frame header is masked, and its payload length; nil while incomplete.
    static func frameHeader(_ h: [UInt8]) -> (masked: Bool, payload: Int)? {
        guard h.count >= 2 else { return nil }
        let masked = h[1] & 0x80 != 0
        let short = Int(h[1] & 0x7F)
        let lengthBytes = short == 126 ? 2 : short == 127 ? 8 : 0
        let total = 2 + lengthBytes + (masked ? 4 : 0)
        if !masked { return (false, 0) }
        guard h.count >= total else { return nil }
        var payload = short
        if lengthBytes > 0 {
            payload = 0
            for k in 0..<lengthBytes { payload = payload << 8 | Int(h[2 + k]) }
            if payload < 0 { payload = .max }
        }
        return (true, payload)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .upgradeRequested = state {
            let out = unwrapOutboundIn(data)
            if let line = out.getString(at: out.readerIndex, length: min(12, out.readableBytes)), line.hasPrefix("HTTP/1.") {
                if line.hasSuffix(" 101") {
                    state = .frameHeader
                    head.removeAll(keepingCapacity: true)
                } else {
                    state = .idle
                }
            }
        }
        context.write(data, promise: promise)
    }

    private func refuseOversizedHead(context: ChannelHandlerContext) {
        state = .passThrough
        let body = #"{"error":"the request line and headers are longer than \#(limits.maxHeadBytes) bytes","field":"headers"}"#
        let response = "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: response))).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// A server child channel whose connections pass through a `ConnectionGuard` before `Inner` sees them.
struct GuardedChildChannel<Inner: ServerChildChannel>: ServerChildChannel {
    typealias Value = Inner.Value
    let inner: Inner
    let limits: ConnectionLimits
    let counter: ConnectionCounter

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        do {
            try channel.pipeline.syncOperations.addHandler(ConnectionGuard(limits: limits, counter: counter), position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return inner.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}
