import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// What the acceptor asks of the application behind it (IMS's gateway).
public protocol FIXApplication: Sendable {
    /// Whether the Logon may log on to `session`: nil, yes; else the text of the Logout refusing it.
    func authenticate(logon: FIXMessage, session: FIXSessionHandle) -> String?
    /// An application message, in the counterparty's sequence order, each once.
    func received(_ message: FIXMessage, session: FIXSessionHandle)
    /// A session logged on, was refused, or ended (for the audit trail).
    func sessionEvent(_ event: FIXSessionEvent, session: FIXSessionHandle)
}

extension FIXApplication {
    public func sessionEvent(_ event: FIXSessionEvent, session: FIXSessionHandle) {}
}

/// What happened to a session, as its application hears of it.
public enum FIXSessionEvent: Sendable, Equatable {
    /// Logged on from `peer`.
    case loggedOn(peer: String)
    /// A Logon refused, and why.
    case logonRefused(String)
    /// The session ended (a Logout, a timeout, the connection closed), and why.
    case ended(String)
}

/// One configured session, for the life of the server: its state machine and store, and the connection logged
/// on to it, if any. The application sends through it at any time: a message sent while no one is logged on is
/// numbered and kept, and goes out when the counterparty asks for it with a ResendRequest.
public final class FIXSessionHandle: Sendable {
    public let settings: FIXSessionSettings
    private let state: Mutex<(session: FIXSession, channel: (any Channel)?)>
    let logger: Logger

    public init(settings: FIXSessionSettings, store: any FIXMessageStore, logger: Logger, maxUnanswered: Int = 10_000) {
        precondition(maxUnanswered > 0)
        self.maxUnanswered = maxUnanswered
        self.settings = settings
        self.state = Mutex((FIXSession(settings: settings, store: store), nil))
        self.logger = logger
    }

    /// `SENDER-TARGET`: how logs, the audit trail and the store's folder name the session.
    public var id: String { "\(settings.senderCompID)-\(settings.targetCompID)" }
    public var status: FIXSession.Status { state.withLock { $0.session.status } }
    public var nextNumbers: (sender: Int, target: Int) { state.withLock { ($0.session.store.nextSenderSeq, $0.session.store.nextTargetSeq) } }

    /// Sends an application message (or keeps it for a resend when not logged on).
    public func send(_ message: FIXMessage) {
        run { $0.send(application: message, now: Date()) }
    }

    /// Many application messages, numbered in order and written with one flush; `answering`: the numbers of the
    /// counterparty's messages they answer (or that needed no answer), which a restart then no longer asks for
    /// again.
    public func send(_ messages: [FIXMessage], answering: [Int] = []) {
        run { session in
            let actions = messages.flatMap { session.send(application: $0, now: Date()) }
            session.answered(answering)
            return actions
        }
        if !answering.isEmpty { resumeReadingIfDue() }
    }

    /// A session-level Reject of a message the application could not read (a required field missing…).
    public func reject(_ message: FIXMessage, reason: Int, tag: Int?, text: String) {
        run { $0.reject(refSeq: message.seqNum ?? 0, msgType: message.msgType, reason: reason, tag: tag, text: text, now: Date()) }
    }

    /// Logs the counterparty out (an orderly Logout).
    public func logout(_ text: String) {
        run { $0.logout(text, now: Date()) }
    }

    /// This node takes the session over from a leader that failed: its store, replicated from the leader's, may
    /// lack the last messages the leader sent, so the numbers IMS sends from now on start `skip` further on (the
    /// counterparty's ResendRequest for the skipped ones gets a gap fill), and the expected number is read from
    /// the store again (a message the leader took and had not answered is asked for again).
    public func takeOver(skip: Int) {
        state.withLock { s in
            s.session.store.setNextSenderSeq(s.session.store.nextSenderSeq + skip)
            s.session.reload()
        }
        logger.notice("FIX \(id): taken over; sending from \(nextNumbers.sender), expecting \(nextNumbers.target)")
    }

    /// Whether a connection is attached (logged on or logging on).
    var isAttached: Bool { state.withLock { $0.channel != nil } }

    /// Attaches `channel` for a Logon; false when another connection holds the session.
    func attach(_ channel: any Channel, now: Date) -> Bool {
        let attached = state.withLock { s -> [FIXAction]? in
            guard s.channel == nil else { return nil }
            s.channel = channel
            return s.session.connected(now: now)
        }
        guard let actions = attached else { return false }
        after(actions, channel: channel)
        return true
    }

    func detach(_ channel: any Channel) {
        let ended = state.withLock { s -> Bool in
            guard s.channel === channel else { return false }
            let loggedOn = s.session.status == .loggedOn || s.session.status == .loggingOut
            paused.withLock { if $0 === channel { $0 = nil } }
            s.channel = nil
            s.session.disconnected()
            return loggedOn
        }
        if ended { application?.sessionEvent(.ended("the connection closed"), session: self) }
    }

    func received(_ message: FIXMessage, problem: FIXFraming.FieldProblem?, from channel: any Channel) {
        run(on: channel) { $0.received(message, problem: problem, now: Date()) }
        // Back-pressure: at `maxUnanswered` messages taken and not answered, the socket is read no further (TCP
        // holds the counterparty's sends) until half of them are answered.
        if state.withLock({ $0.session.unansweredCount }) >= maxUnanswered { pauseReading(channel) }
    }

    /// Application messages a session may have taken and not answered before its socket is read no further.
    public let maxUnanswered: Int
    private let paused = Mutex<(any Channel)?>(nil)

    private func pauseReading(_ channel: any Channel) {
        let first = paused.withLock { p -> Bool in
            defer { p = channel }
            return p == nil
        }
        if first {
            channel.setOption(.autoRead, value: false).whenFailure { _ in }
            logger.notice("FIX \(id): \(maxUnanswered) messages unanswered: reading paused")
            // The answers may all have left meanwhile: then no later answer would resume it.
            resumeReadingIfDue()
        }
    }

    private func resumeReadingIfDue() {
        guard state.withLock({ $0.session.unansweredCount }) <= maxUnanswered / 2,
            let channel = paused.withLock({ p in
                defer { p = nil }
                return p
            })
        else { return }
        channel.setOption(.autoRead, value: true).whenFailure { _ in }
        channel.read()
    }

    func refuse(_ text: String, on channel: any Channel) {
        run(on: channel) { $0.refuseLogon(text, now: Date()) }
    }

    func garbled(_ why: String) {
        logger.warning("FIX \(id): garbled message ignored: \(why)")
    }

    func tick(on channel: any Channel) { run(on: channel) { $0.tick(now: Date()) } }

    /// Runs a step of the state machine and does what it says: sends in order (under the lock, so numbers
    /// leave in order whichever thread sends), then deliveries to the application, outside it.
    private func run(on expected: (any Channel)? = nil, _ step: (inout FIXSession) -> [FIXAction]) {
        var wasLoggedOn = false
        let (actions, channel): ([FIXAction], (any Channel)?) = state.withLock { s in
            if let expected, s.channel !== expected { return ([], nil) }
            wasLoggedOn = s.session.status == .loggedOn || s.session.status == .loggingOut
            let actions = step(&s.session)
            if let channel = s.channel {
                var wrote = false
                for case .send(let bytes, _) in actions {
                    channel.write(ByteBuffer(bytes: bytes), promise: nil)
                    wrote = true
                }
                if wrote { channel.flush() }
            }
            if actions.contains(where: { if case .disconnect = $0 { true } else { false } }) {
                s.channel = nil
                s.session.disconnected()
            }
            return (actions, s.channel ?? expected)
        }
        after(actions, channel: channel)
        if wasLoggedOn, let why = actions.lazy.compactMap({ if case .disconnect(let why) = $0 { why } else { nil } }).first {
            application?.sessionEvent(.ended(why), session: self)
        }
    }

    private func after(_ actions: [FIXAction], channel: (any Channel)?) {
        for action in actions {
            switch action {
            case .send: break
            case .deliver(let message): application?.received(message, session: self)
            case .note(let text): logger.info("FIX \(id): \(text)")
            case .disconnect(let why):
                logger.notice("FIX \(id): disconnected: \(why)")
                channel?.close(promise: nil)
            }
        }
    }

    /// Set by the acceptor.
    var application: (any FIXApplication)? { applicationBox.withLock { $0 } }
    let applicationBox = Mutex<(any FIXApplication)?>(nil)
}

/// The FIX acceptor: a TCP (or TLS) listener for the configured sessions. A connection's first message must be
/// a Logon naming a configured session (SenderCompID its TargetCompID, TargetCompID ours) not already logged
/// on, which the application authenticates; then the session's state machine runs the connection, with a
/// timer each second for heartbeats and timeouts.
public final class FIXAcceptor: Sendable {
    public let sessions: [FIXSessionHandle]
    private let group: any EventLoopGroup
    private let tls: NIOSSLContext?
    private let logger: Logger
    private let channel = Mutex<(any Channel)?>(nil)
    private let maxMessageBytes: Int
    private let writeStall: TimeAmount

    /// `writeStall`: how long a counterparty may read nothing while a megabyte waits for it before it is closed
    /// (the server's `writeStallMs`, as for every connection).
    public init(
        sessions: [FIXSessionHandle], application: any FIXApplication, tls: NIOSSLContext?, logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, maxMessageBytes: Int = 65_536, writeStall: TimeAmount = .seconds(30)
    ) {
        self.sessions = sessions
        self.group = group
        self.tls = tls
        self.logger = logger
        self.maxMessageBytes = maxMessageBytes
        self.writeStall = writeStall
        for s in sessions { s.applicationBox.withLock { $0 = application } }
    }

    /// Listens on `host:port` (0: a free port); returns the port.
    public func start(host: String, port: Int) async throws -> Int {
        let sessions = self.sessions
        let tls = self.tls
        let logger = self.logger
        let maxBytes = maxMessageBytes
        let writeStall = self.writeStall
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 256 * 1024, high: 1024 * 1024))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FIXFrameDecoder(maxBodyLength: maxBytes)))
                    try channel.pipeline.syncOperations.addHandler(FIXConnectionHandler(sessions: sessions, logger: logger, writeStall: writeStall))
                }
            }
        let server = try await bootstrap.bind(host: host, port: port).get()
        channel.withLock { $0 = server }
        return server.localAddress?.port ?? port
    }

    /// Stops listening and logs every session out (their Logouts are written before the connections close).
    public func stop() {
        let server = channel.withLock { c -> (any Channel)? in
            defer { c = nil }
            return c
        }
        for s in sessions where s.isAttached { s.logout("the server is stopping") }
        server?.close(promise: nil)
    }
}

/// One frame read: a message, or the reason bytes were skipped.
enum FIXInbound {
    case message(FIXMessage, FIXFraming.FieldProblem?)
    case garbled(String)
}

/// Cuts the stream into frames (`FIXFraming`).
struct FIXFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = FIXInbound
    let maxBodyLength: Int

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let frame = buffer.withUnsafeReadableBytes { FIXFraming.next($0, maxBodyLength: maxBodyLength) }
        switch frame {
        case .needMore:
            return .needMoreData
        case .garbled(let why, let consumed):
            buffer.moveReaderIndex(forwardBy: consumed)
            context.fireChannelRead(Self.wrapInboundOut(.garbled(why)))
            return .continue
        case .message(let message, let problem, let consumed):
            buffer.moveReaderIndex(forwardBy: consumed)
            context.fireChannelRead(Self.wrapInboundOut(.message(message, problem)))
            return .continue
        }
    }
}

/// A connection: finds its session at the Logon, then hands each frame to it.
final class FIXConnectionHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = FIXInbound
    private let sessions: [FIXSessionHandle]
    private let logger: Logger
    private var session: FIXSessionHandle?
    private var timer: RepeatedTask?
    private var logonDeadline: Scheduled<Void>?
    private let writeStall: TimeAmount

    init(sessions: [FIXSessionHandle], logger: Logger, writeStall: TimeAmount) {
        self.sessions = sessions
        self.logger = logger
        self.writeStall = writeStall
    }

    func channelActive(context: ChannelHandlerContext) {
        // A connection that sends no Logon is closed.
        let channel = context.channel
        logonDeadline = context.eventLoop.scheduleTask(in: .seconds(10)) { channel.close(promise: nil) }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let channel = context.channel
        switch unwrapInboundIn(data) {
        case .garbled(let why):
            if let session { session.garbled(why) } else { logger.warning("FIX: garbled bytes before a Logon: \(why)") }
        case .message(let message, let problem):
            if let session {
                session.received(message, problem: problem, from: channel)
                return
            }
            guard message.msgType == "A",
                let handle = sessions.first(where: {
                    $0.settings.targetCompID == message[Tag.senderCompID] && $0.settings.senderCompID == message[Tag.targetCompID]
                })
            else {
                logger.warning(
                    "FIX: connection from \(channel.remoteAddress?.description ?? "?") closed: first message \(message.msgType) from \(message[Tag.senderCompID] ?? "?") to \(message[Tag.targetCompID] ?? "?") names no configured session"
                )
                context.close(promise: nil)
                return
            }
            guard handle.attach(channel, now: Date()) else {
                logger.warning("FIX \(handle.id): a second connection's Logon refused (the session is logged on)")
                context.close(promise: nil)
                return
            }
            session = handle
            logonDeadline?.cancel()
            if let refusal = handle.application?.authenticate(logon: message, session: handle) {
                logger.warning("FIX \(handle.id): Logon refused: \(refusal)")
                handle.application?.sessionEvent(.logonRefused(refusal), session: handle)
                handle.refuse(refusal, on: channel)
                return
            }
            handle.received(message, problem: problem, from: channel)
            if handle.status == .loggedOn {
                handle.application?.sessionEvent(.loggedOn(peer: channel.remoteAddress?.description ?? "?"), session: handle)
            }
            timer = context.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [weak handle] _ in
                handle?.tick(on: channel)
            }
        }
    }

    /// A counterparty that reads nothing for `writeStall` while IMS has a megabyte queued for it is closed: what
    /// was sent is in the store, for its ResendRequest when it logs on again.
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        stall?.cancel()
        stall = nil
        if !context.channel.isWritable {
            let channel = context.channel, id = session?.id ?? "?", logger = logger, after = writeStall
            stall = context.eventLoop.scheduleTask(in: after) {
                logger.warning("FIX \(id): the counterparty read nothing for \(after.nanoseconds / 1_000_000) ms: closed")
                channel.close(promise: nil)
            }
        }
        context.fireChannelWritabilityChanged()
    }

    private var stall: Scheduled<Void>?

    func channelInactive(context: ChannelHandlerContext) {
        stall?.cancel()
        timer?.cancel()
        logonDeadline?.cancel()
        session?.detach(context.channel)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.notice("FIX \(session?.id ?? "?"): connection error: \(error)")
        context.close(promise: nil)
    }
}
