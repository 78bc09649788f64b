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

    /// A `ConnectionLimits` from its fields.
    public init() {}
}

/// Counts a server's open connections.
final class ConnectionCounter: Sendable {
    let open = Atomic<Int>(0)
}

/// The first handler of every connection, on raw bytes. It follows the framing with a `ConnectionFraming`
/// (a pure state machine, tested alone) and does what that asks:
///
/// - closes a connection whose head does not arrive whole within `headTimeout` (slow headers, or nothing sent);
/// - answers 431 to a head longer than `maxHeadBytes`, 400 to a malformed head or an ambiguous body length
///   (a header line without a colon, `Content-Length` beside `Transfer-Encoding`), and closes;
/// - closes a connection over `maxConnections` at once;
/// - closes a connection that stays unwritable (its client takes nothing) for `maxWriteStall`;
/// - checks a WebSocket upgrade's credentials before the upgrade (`AccessPolicy.upgradeCheck`);
/// - closes a WebSocket whose client sends an unmasked frame (RFC 6455 5.1).
///
/// Bytes it lets through go on unchanged. After a chunked request body (whose framing it does not follow)
/// it steps aside.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let limits: ConnectionLimits
    private let counter: ConnectionCounter
    private var framing: ConnectionFraming
    private var deadline: Scheduled<Void>?
    private var stall: Scheduled<Void>?
    private var counted = false
    /// Reads held while an upgrade's bearer token is checked (nil: none held).
    private var held: [NIOAny]?

    init(limits: ConnectionLimits, counter: ConnectionCounter) {
        self.limits = limits
        self.counter = counter
        self.framing = ConnectionFraming(maxHeadBytes: limits.maxHeadBytes)
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
        let outcome = unwrapInboundIn(data).withUnsafeReadableBytes { framing.read($0) }
        if outcome.close {
            context.close(promise: nil)
            return
        }
        if let refusal = outcome.refusal {
            refuse(refusal.response, context: context)
            return
        }
        if outcome.headDone {
            deadline?.cancel()
            deadline = nil
        }
        if outcome.startedHead && framing.state == .head { armDeadline(context: context) }
        if let head = outcome.upgradeHead, let credentials = limits.credentials {
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
        context.fireChannelRead(data) // the bytes go on unchanged
    }

    /// Answers with `response` (a whole HTTP response) and closes.
    private func refuse(_ response: String, context: ChannelHandlerContext) {
        framing.stop()
        deadline?.cancel()
        deadline = nil
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(string: response))).whenComplete { _ in channel.close(promise: nil) }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if framing.state == .upgradeRequested {
            let out = unwrapOutboundIn(data)
            if let line = out.getString(at: out.readerIndex, length: min(12, out.readableBytes)) { framing.wrote(line) }
        }
        context.write(data, promise: promise)
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
