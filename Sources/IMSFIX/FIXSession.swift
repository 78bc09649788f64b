import Foundation

/// One FIX session's settings: who is who, and the timers.
public struct FIXSessionSettings: Sendable, Equatable {
    public var beginString = "FIX.4.4"
    /// Our CompID: the SenderCompID of what we send, the TargetCompID of what we receive.
    public var senderCompID: String
    /// The counterparty's CompID.
    public var targetCompID: String
    /// How far SendingTime (52) may be from our clock (FIX's usual two minutes).
    public var maxClockSkew: TimeInterval = 120
    /// How long a connection may stay without a Logon.
    public var logonTimeout: TimeInterval = 10
    /// How long we wait for the counterparty's Logout after ours.
    public var logoutTimeout: TimeInterval = 2
    /// The HeartBtInt (108) range accepted in a Logon.
    public var heartbeatRange: ClosedRange<Int> = 1...300
    /// The daily window in which the session may be logged on, and whose start resets the sequence numbers.
    public var schedule: FIXSchedule?

    public init(senderCompID: String, targetCompID: String) {
        self.senderCompID = senderCompID
        self.targetCompID = targetCompID
    }
}

/// A daily session window in UTC: `start` to `end` as seconds after midnight (an `end` before `start` spans
/// midnight). Each window's start begins a new sequence period (numbers back to 1).
public struct FIXSchedule: Sendable, Equatable {
    public var start: Int
    public var end: Int

    public init(start: Int, end: Int) { self.start = start; self.end = end }

    /// `HH:MM[:SS]` to seconds after midnight.
    public static func seconds(_ text: String) -> Int? {
        let parts = text.split(separator: ":").map { Int($0) }
        guard (2...3).contains(parts.count), parts.allSatisfy({ $0 != nil }) else { return nil }
        let h = parts[0]!, m = parts[1]!, s = parts.count == 3 ? parts[2]! : 0
        guard (0..<24).contains(h), (0..<60).contains(m), (0..<60).contains(s) else { return nil }
        return h * 3600 + m * 60 + s
    }

    /// The start of the window `date` is in, or nil when `date` is outside every window.
    public func windowStart(containing date: Date) -> Date? {
        let t = date.timeIntervalSince1970
        let midnight = (t / 86_400).rounded(.down) * 86_400
        let second = Int(t - midnight)
        if start == end { return Date(timeIntervalSince1970: midnight + Double(start) - (second < start ? 86_400 : 0)) }
        if start < end {
            return (start..<end).contains(second) ? Date(timeIntervalSince1970: midnight + Double(start)) : nil
        }
        if second >= start { return Date(timeIntervalSince1970: midnight + Double(start)) }
        if second < end { return Date(timeIntervalSince1970: midnight - 86_400 + Double(start)) }
        return nil
    }
}

/// What the session asks its connection (and application) to do, in order.
public enum FIXAction: Sendable, Equatable {
    /// Bytes for the socket (the message, for logs and tests).
    case send([UInt8], FIXMessage)
    /// An application message for the application, in sequence order, each once.
    case deliver(FIXMessage)
    /// Close the connection (after the sends before it).
    case disconnect(String)
    /// Something the session noticed, for the log.
    case note(String)
}

/// The FIX session layer (FIX 4.4 session protocol), as a state machine: messages in, timer ticks and
/// application messages out become actions. It holds no socket and no clock, so every rule below is tested
/// by feeding it messages and times.
///
/// - Logon (35=A) first, with EncryptMethod 98=0 and HeartBtInt 108 in range; ResetSeqNumFlag 141=Y resets
///   both numbers to 1. Our Logon answers it.
/// - Every message: BeginString, CompIDs (a wrong one: Reject 373=9, Logout, disconnect), SendingTime present
///   and within `maxClockSkew` (else Reject 373=10, Logout, disconnect), MsgSeqNum present.
/// - MsgSeqNum above the expected number: the message is held and a ResendRequest (7=expected, 16=0) sent
///   once; held messages are processed in order when the gap fills. Below it without PossDupFlag 43=Y:
///   Logout "MsgSeqNum too low" and disconnect. Below with 43=Y: ignored (OrigSendingTime 122 required, and
///   not after SendingTime).
/// - ResendRequest (35=2): application messages resent with 43=Y and 122; session messages replaced by
///   SequenceReset-GapFill (35=4, 123=Y). 16=0 means "to the last sent".
/// - SequenceReset (35=4): GapFill moves the expected number forward under the usual sequence checks; Reset
///   mode sets it regardless of its own number; neither may move it back (Reject 373=5).
/// - TestRequest (35=1) is answered with a Heartbeat carrying its TestReqID; a Heartbeat is sent after
///   HeartBtInt seconds without sending; after 1.2 × HeartBtInt without receiving, a TestRequest; after
///   2.4 ×, the connection is closed.
/// - Logout (35=5) is answered with a Logout, then the connection closes; ours waits `logoutTimeout` for the
///   answer.
/// - A message with a malformed field: Reject 3 with RefSeqNum 45, RefTagID 371, SessionRejectReason 373
///   and Text 58; its number counts.
public struct FIXSession: Sendable {
    public enum Status: Sendable, Equatable {
        /// No connection.
        case disconnected
        /// Connected, no Logon yet.
        case awaitingLogon
        case loggedOn
        /// Our Logout is sent; waiting for theirs.
        case loggingOut
    }

    public let settings: FIXSessionSettings
    public let store: any FIXMessageStore
    public private(set) var status: Status = .disconnected
    public private(set) var heartBtInt = 30

    private var connectedAt = Date.distantPast
    private var lastReceived = Date.distantPast
    private var lastSent = Date.distantPast
    private var logoutSentAt = Date.distantPast
    private var testRequestSent: String?
    private var testRequests = 0
    /// Messages that came ahead of a gap, by number; `handled`: a ResendRequest already answered on arrival.
    private var held: [Int: (message: FIXMessage, handled: Bool)] = [:]
    /// The last number asked for by our outstanding ResendRequest.
    private var resendUpTo: Int?
    /// The next number expected from the counterparty. The store keeps a number no higher than the first
    /// application message not yet answered (`unanswered`), so a restart asks for that one again rather than
    /// leave it unanswered.
    private var nextTarget = 1
    /// Application messages delivered whose answers the application has not yet sent (`answered`).
    private var unanswered: Set<Int> = []
    /// Whether `nextTarget` was read from the store (once: a reconnection keeps the number in memory, so it
    /// does not ask again for messages still being answered).
    private var loaded = false

    public init(settings: FIXSessionSettings, store: any FIXMessageStore) {
        self.settings = settings
        self.store = store
    }

    static let sessionTypes: Set<String> = ["0", "1", "2", "3", "4", "5", "A"]
    /// The standard header's fields (rewritten when a message is resent).
    static let headerTags: Set<Int> = [
        Tag.beginString, Tag.bodyLength, Tag.msgType, Tag.senderCompID, Tag.targetCompID, Tag.msgSeqNum, Tag.possDupFlag, Tag.sendingTime,
        Tag.origSendingTime,
    ]

    // MARK: Connection

    /// A connection is accepted for this session.
    public mutating func connected(now: Date) -> [FIXAction] {
        status = .awaitingLogon
        connectedAt = now
        lastReceived = now
        held = [:]
        resendUpTo = nil
        testRequestSent = nil
        let notes = startPeriodIfDue(now: now)
        if !loaded {
            nextTarget = store.nextTargetSeq
            loaded = true
        }
        return notes
    }

    /// The next number expected from the counterparty.
    public var expectedSeq: Int { nextTarget }
    /// Application messages taken and not yet answered.
    public var unansweredCount: Int { unanswered.count }

    /// Reads the expected number from the store again at the next connection (a standby's store, replicated
    /// from the leader, after it takes over).
    public mutating func reload() {
        loaded = false
        unanswered = []
    }

    /// Moves the expected number to `seq` and keeps what a restart may resume from.
    private mutating func setTarget(_ seq: Int) {
        nextTarget = seq
        store.setNextTargetSeq(min(unanswered.min() ?? seq, seq))
    }

    /// Both numbers back to 1 (ResetSeqNumFlag, a new period).
    private mutating func reset(at date: Date) {
        store.reset(at: date)
        nextTarget = 1
        unanswered = []
    }

    /// The application has sent its answers to messages `seqs` (or found none due): a restart no longer asks
    /// for them again.
    public mutating func answered(_ seqs: [Int]) {
        guard !seqs.isEmpty, !unanswered.isEmpty else { return }
        for seq in seqs { unanswered.remove(seq) }
        store.setNextTargetSeq(min(unanswered.min() ?? nextTarget, nextTarget))
    }

    /// The connection closed.
    public mutating func disconnected() {
        status = .disconnected
        held = [:]
        resendUpTo = nil
        testRequestSent = nil
    }

    /// A new sequence period when the schedule's window moved on since the store's.
    private mutating func startPeriodIfDue(now: Date) -> [FIXAction] {
        guard let schedule = settings.schedule, let start = schedule.windowStart(containing: now), start > store.periodStart else { return [] }
        reset(at: start)
        return [.note("new session period from \(FIXTime.format(start)): sequence numbers reset to 1")]
    }

    // MARK: Receiving

    /// A framed message arrived (`problem`: a field the framing found malformed).
    public mutating func received(_ message: FIXMessage, problem: FIXFraming.FieldProblem? = nil, now: Date) -> [FIXAction] {
        lastReceived = now
        var out: [FIXAction] = []
        switch status {
        case .disconnected:
            return []
        case .awaitingLogon:
            receiveLogon(message, problem: problem, now: now, into: &out)
        case .loggedOn, .loggingOut:
            receive(message, problem: problem, now: now, into: &out)
        }
        return out
    }

    private mutating func receiveLogon(_ m: FIXMessage, problem: FIXFraming.FieldProblem?, now: Date, into out: inout [FIXAction]) {
        guard m.msgType == "A" else { return out.append(.disconnect("the first message was 35=\(m.msgType), not a Logon")) }
        if let failure = headerProblem(m, now: now) { return logoutNow(failure.text, now: now, into: &out) }
        if let problem { return logoutNow(problem.text, now: now, into: &out) }
        guard m[Tag.encryptMethod] == "0" else { return logoutNow("EncryptMethod (98) must be 0", now: now, into: &out) }
        guard let hb = m[Tag.heartBtInt].flatMap({ Int($0) }), settings.heartbeatRange.contains(hb) else {
            let range = settings.heartbeatRange
            let expected = range.lowerBound == range.upperBound ? "\(range.lowerBound)" : "\(range.lowerBound)–\(range.upperBound)"
            return logoutNow("HeartBtInt (108) must be \(expected) seconds", now: now, into: &out)
        }
        if let schedule = settings.schedule, schedule.windowStart(containing: now) == nil {
            return logoutNow("outside the session's schedule", now: now, into: &out)
        }
        let seq = m.seqNum!
        let resets = m[Tag.resetSeqNumFlag] == "Y"
        if resets {
            reset(at: store.periodStart)
            out.append(.note("ResetSeqNumFlag: sequence numbers reset to 1"))
        }
        let expected = nextTarget
        if seq < expected && !m.possDup {
            return logoutNow("MsgSeqNum too low, expecting \(expected) but received \(seq)", now: now, into: &out)
        }
        heartBtInt = hb
        status = .loggedOn
        testRequests = 0
        var answer = FIXMessage("A", [(Tag.encryptMethod, "0"), (Tag.heartBtInt, String(hb))])
        if resets { answer.append(Tag.resetSeqNumFlag, "Y") }
        send(answer, now: now, into: &out)
        out.append(.note("logged on (HeartBtInt \(hb), next numbers in \(seq) out \(store.nextSenderSeq))"))
        if seq > expected {
            requestResend(from: expected, upTo: seq, now: now, into: &out)
        } else {
            setTarget(seq + 1)
        }
    }

    private mutating func receive(_ m: FIXMessage, problem: FIXFraming.FieldProblem?, now: Date, into out: inout [FIXAction]) {
        if let failure = headerProblem(m, now: now) {
            if failure.logout {
                if let reason = failure.reason, let seq = m.seqNum {
                    sendReject(refSeq: seq, msgType: m.msgType, reason: reason, tag: failure.tag, text: failure.text, now: now, into: &out)
                }
                return logoutNow(failure.text, now: now, into: &out)
            }
            // A required header field missing: rejected, its number counted.
            if let seq = m.seqNum {
                sendReject(refSeq: seq, msgType: m.msgType, reason: failure.reason ?? 1, tag: failure.tag, text: failure.text, now: now, into: &out)
                if seq == nextTarget { setTarget(seq + 1) }
            }
            return
        }
        let seq = m.seqNum!
        let expected = nextTarget
        // SequenceReset in Reset mode ignores its own number.
        if m.msgType == "4", m[Tag.gapFillFlag] != "Y" {
            return sequenceReset(m, now: now, into: &out)
        }
        if seq > expected {
            if m.msgType == "5" {
                // A Logout ahead of a gap: answered; the gap is theirs to fill at the next Logon.
                return answerLogout(now: now, into: &out)
            }
            var handled = false
            if m.msgType == "2" {
                answerResend(m, now: now, into: &out)
                handled = true
            }
            held[seq] = (m, handled)
            // One ResendRequest (to infinity) covers every later gap until it is answered.
            if let upTo = resendUpTo { resendUpTo = max(upTo, seq) } else { requestResend(from: expected, upTo: seq, now: now, into: &out) }
            return
        }
        if seq < expected {
            if m.possDup {
                if let p = possDupProblem(m) {
                    sendReject(refSeq: seq, msgType: m.msgType, reason: p.reason ?? 1, tag: p.tag, text: p.text, now: now, into: &out)
                    if p.logout { logoutNow(p.text, now: now, into: &out) }
                }
                return
            }
            return logoutNow("MsgSeqNum too low, expecting \(expected) but received \(seq)", now: now, into: &out)
        }
        process(m, problem: problem, handled: false, now: now, into: &out)
        // Messages held behind the gap, in order, now that it is filled.
        while status != .disconnected, let next = held.removeValue(forKey: nextTarget) {
            process(next.message, problem: nil, handled: next.handled, now: now, into: &out)
        }
        if let upTo = resendUpTo, nextTarget > upTo {
            resendUpTo = nil
            held = held.filter { $0.key >= nextTarget }
            out.append(.note("resend complete: next expected \(nextTarget)"))
        }
    }

    /// A message in sequence: handled by type; its number counts (a gap fill sets the next one itself).
    private mutating func process(_ m: FIXMessage, problem: FIXFraming.FieldProblem?, handled: Bool, now: Date, into out: inout [FIXAction]) {
        let seq = m.seqNum!
        if m.possDup, let p = possDupProblem(m) {
            sendReject(refSeq: seq, msgType: m.msgType, reason: p.reason ?? 1, tag: p.tag, text: p.text, now: now, into: &out)
            if p.logout { return logoutNow(p.text, now: now, into: &out) }
            setTarget(seq + 1)
            return
        }
        if let problem {
            sendReject(refSeq: seq, msgType: m.msgType, reason: problem.reason, tag: problem.tag, text: problem.text, now: now, into: &out)
            setTarget(seq + 1)
            return
        }
        switch m.msgType {
        case "0":
            if let id = m[Tag.testReqID], id == testRequestSent { testRequestSent = nil }
            setTarget(seq + 1)
        case "1":
            setTarget(seq + 1)
            guard let id = m[Tag.testReqID] else {
                return sendReject(refSeq: seq, msgType: "1", reason: 1, tag: Tag.testReqID, text: "TestReqID (112) is required", now: now, into: &out)
            }
            send(FIXMessage("0", [(Tag.testReqID, id)]), now: now, into: &out)
        case "2":
            setTarget(seq + 1)
            if !handled { answerResend(m, now: now, into: &out) }
        case "3":
            setTarget(seq + 1)
            out.append(.note("Reject from the counterparty: \(m.description)"))
        case "4":
            sequenceReset(m, now: now, into: &out)
        case "5":
            setTarget(seq + 1)
            if status == .loggingOut {
                out.append(.disconnect("Logout answered"))
                status = .disconnected
            } else {
                answerLogout(now: now, into: &out)
            }
        case "A":
            setTarget(seq + 1)
            logoutNow("Logon received while logged on", now: now, into: &out)
        default:
            unanswered.insert(seq)
            setTarget(seq + 1)
            out.append(.deliver(m))
        }
    }

    private mutating func sequenceReset(_ m: FIXMessage, now: Date, into out: inout [FIXAction]) {
        let seq = m.seqNum!
        let expected = nextTarget
        guard let newSeq = m[Tag.newSeqNo].flatMap({ Int($0) }) else {
            sendReject(refSeq: seq, msgType: "4", reason: 1, tag: Tag.newSeqNo, text: "NewSeqNo (36) is required", now: now, into: &out)
            if m[Tag.gapFillFlag] == "Y" { setTarget(seq + 1) }
            return
        }
        guard newSeq > (m[Tag.gapFillFlag] == "Y" ? seq : expected - 1) else {
            sendReject(
                refSeq: seq, msgType: "4", reason: 5, tag: Tag.newSeqNo,
                text: "NewSeqNo (36) \(newSeq) would move the expected number back from \(expected)", now: now, into: &out)
            if m[Tag.gapFillFlag] == "Y" { setTarget(seq + 1) }
            return
        }
        setTarget(newSeq)
        held = held.filter { $0.key >= newSeq }
        out.append(.note("SequenceReset\(m[Tag.gapFillFlag] == "Y" ? "-GapFill" : ""): next expected \(newSeq)"))
    }

    private mutating func answerLogout(now: Date, into out: inout [FIXAction]) {
        send(FIXMessage("5"), now: now, into: &out)
        out.append(.disconnect("Logout from the counterparty"))
        status = .disconnected
    }

    /// Answers a ResendRequest from what we sent: application messages again with PossDupFlag, runs of session
    /// messages (or messages not kept) as one SequenceReset-GapFill each.
    private mutating func answerResend(_ m: FIXMessage, now: Date, into out: inout [FIXAction]) {
        guard let begin = m[Tag.beginSeqNo].flatMap({ Int($0) }), let endAsked = m[Tag.endSeqNo].flatMap({ Int($0) }), begin >= 1 else {
            return sendReject(
                refSeq: m.seqNum ?? 0, msgType: "2", reason: 1, tag: m[Tag.beginSeqNo] == nil ? Tag.beginSeqNo : Tag.endSeqNo,
                text: "BeginSeqNo (7) and EndSeqNo (16) are required", now: now, into: &out)
        }
        let lastNumber = store.nextSenderSeq - 1
        let end = endAsked == 0 || endAsked > lastNumber ? lastNumber : endAsked
        guard begin <= end else { return }
        out.append(.note("resending \(begin)–\(end)"))
        let kept = Dictionary(uniqueKeysWithValues: store.messages(from: begin, to: end).map { ($0.seq, $0.bytes) })
        var gapStart: Int?
        func fillGap(upTo next: Int) {
            guard let start = gapStart else { return }
            var fill = FIXMessage("4", [(Tag.gapFillFlag, "Y"), (Tag.newSeqNo, String(next))])
            fill = header(fill, seq: start, now: now, possDup: true, origSendingTime: nil)
            out.append(.send(fill.encoded(beginString: settings.beginString), fill))
            gapStart = nil
        }
        for seq in begin...end {
            if let bytes = kept[seq], case .message(let original, _, _) = bytes.withUnsafeBytes({ FIXFraming.next($0) }),
                !Self.sessionTypes.contains(original.msgType)
            {
                fillGap(upTo: seq)
                let body = FIXMessage(parsed: original.fields.filter { !Self.headerTags.contains($0.tag) || $0.tag == Tag.msgType })
                let again = header(body, seq: seq, now: now, possDup: true, origSendingTime: original[Tag.sendingTime])
                out.append(.send(again.encoded(beginString: settings.beginString), again))
            } else if gapStart == nil {
                gapStart = seq
            }
        }
        fillGap(upTo: end + 1)
        lastSent = now
    }

    private mutating func requestResend(from: Int, upTo: Int, now: Date, into out: inout [FIXAction]) {
        resendUpTo = upTo
        send(FIXMessage("2", [(Tag.beginSeqNo, String(from)), (Tag.endSeqNo, "0")]), now: now, into: &out)
        out.append(.note("gap: expected \(from), received \(upTo); ResendRequest sent"))
    }

    // MARK: Checks

    private struct HeaderProblem {
        var reason: Int?
        var tag: Int?
        var text: String
        /// Whether the session ends over it.
        var logout: Bool
    }

    private func headerProblem(_ m: FIXMessage, now: Date) -> HeaderProblem? {
        if m[Tag.beginString] != settings.beginString {
            return HeaderProblem(reason: nil, tag: Tag.beginString, text: "BeginString (8) must be \(settings.beginString)", logout: true)
        }
        guard m.seqNum != nil else { return HeaderProblem(reason: nil, tag: Tag.msgSeqNum, text: "MsgSeqNum (34) missing", logout: true) }
        if m[Tag.senderCompID] != settings.targetCompID || m[Tag.targetCompID] != settings.senderCompID {
            return HeaderProblem(
                reason: 9, tag: m[Tag.senderCompID] != settings.targetCompID ? Tag.senderCompID : Tag.targetCompID, text: "CompID problem", logout: true)
        }
        guard let sent = m[Tag.sendingTime] else {
            return HeaderProblem(reason: 1, tag: Tag.sendingTime, text: "SendingTime (52) is required", logout: false)
        }
        guard let time = FIXTime.parse(sent) else {
            return HeaderProblem(reason: 6, tag: Tag.sendingTime, text: "SendingTime (52) is not a UTCTimestamp", logout: false)
        }
        if abs(time.timeIntervalSince(now)) > settings.maxClockSkew {
            return HeaderProblem(reason: 10, tag: Tag.sendingTime, text: "SendingTime accuracy problem", logout: true)
        }
        for tag in [Tag.msgSeqNum, Tag.senderCompID, Tag.targetCompID, Tag.sendingTime] where m.count(of: tag) > 1 {
            return HeaderProblem(reason: 13, tag: tag, text: "Tag appears more than once: \(tag)", logout: false)
        }
        return nil
    }

    private func possDupProblem(_ m: FIXMessage) -> HeaderProblem? {
        guard let orig = m[Tag.origSendingTime] else {
            return HeaderProblem(reason: 1, tag: Tag.origSendingTime, text: "OrigSendingTime (122) is required with PossDupFlag", logout: false)
        }
        guard let origTime = FIXTime.parse(orig), let sent = m[Tag.sendingTime].flatMap(FIXTime.parse) else {
            return HeaderProblem(reason: 6, tag: Tag.origSendingTime, text: "OrigSendingTime (122) is not a UTCTimestamp", logout: false)
        }
        if origTime > sent { return HeaderProblem(reason: 10, tag: Tag.origSendingTime, text: "SendingTime accuracy problem", logout: true) }
        return nil
    }

    // MARK: Sending

    /// An application message, sent now when logged on; kept (and numbered) either way, so a counterparty
    /// that was away asks for it with a ResendRequest when it logs on again.
    public mutating func send(application message: FIXMessage, now: Date) -> [FIXAction] {
        var out: [FIXAction] = []
        let seq = store.nextSenderSeq
        let m = header(message, seq: seq, now: now, possDup: false, origSendingTime: nil)
        let bytes = m.encoded(beginString: settings.beginString)
        store.stored(seq, bytes)
        if status == .loggedOn {
            out.append(.send(bytes, m))
            lastSent = now
        }
        return out
    }

    /// A session-level Reject of message `refSeq`.
    public mutating func reject(refSeq: Int, msgType: String, reason: Int, tag: Int?, text: String, now: Date) -> [FIXAction] {
        var out: [FIXAction] = []
        sendReject(refSeq: refSeq, msgType: msgType, reason: reason, tag: tag, text: text, now: now, into: &out)
        return out
    }

    private mutating func sendReject(refSeq: Int, msgType: String, reason: Int, tag: Int?, text: String, now: Date, into out: inout [FIXAction]) {
        var reject = FIXMessage("3", [(Tag.refSeqNum, String(refSeq)), (Tag.refMsgType, msgType), (Tag.sessionRejectReason, String(reason))])
        if let tag { reject.append(Tag.refTagID, String(tag)) }
        reject.append(Tag.text, text)
        send(reject, now: now, into: &out)
    }

    /// Sends our Logout naming why, and closes at once (the reason is a protocol failure, not a goodbye).
    private mutating func logoutNow(_ text: String, now: Date, into out: inout [FIXAction]) {
        send(FIXMessage("5", [(Tag.text, text)]), now: now, into: &out)
        out.append(.disconnect(text))
        status = .disconnected
    }

    /// Refuses a Logon (bad credentials, a session already in use): a Logout naming why, then the connection
    /// closes.
    public mutating func refuseLogon(_ text: String, now: Date) -> [FIXAction] {
        var out: [FIXAction] = []
        logoutNow(text, now: now, into: &out)
        return out
    }

    /// Begins an orderly Logout: ours now, theirs awaited for `logoutTimeout`.
    public mutating func logout(_ text: String, now: Date) -> [FIXAction] {
        guard status == .loggedOn else { return status == .awaitingLogon ? [.disconnect(text)] : [] }
        var out: [FIXAction] = []
        send(FIXMessage("5", [(Tag.text, text)]), now: now, into: &out)
        status = .loggingOut
        logoutSentAt = now
        return out
    }

    private mutating func send(_ message: FIXMessage, now: Date, into out: inout [FIXAction]) {
        let seq = store.nextSenderSeq
        let m = header(message, seq: seq, now: now, possDup: false, origSendingTime: nil)
        let bytes = m.encoded(beginString: settings.beginString)
        store.stored(seq, bytes)
        out.append(.send(bytes, m))
        lastSent = now
    }

    /// The standard header after MsgType: SenderCompID, TargetCompID, MsgSeqNum, SendingTime.
    private func header(_ message: FIXMessage, seq: Int, now: Date, possDup: Bool, origSendingTime: String?) -> FIXMessage {
        var fields = message.fields.filter { $0.tag != Tag.msgType }
        var head: [(tag: Int, value: String)] = [
            (Tag.msgType, message.msgType), (Tag.senderCompID, settings.senderCompID), (Tag.targetCompID, settings.targetCompID),
            (Tag.msgSeqNum, String(seq)),
        ]
        if possDup { head.append((Tag.possDupFlag, "Y")) }
        head.append((Tag.sendingTime, FIXTime.format(now)))
        if let origSendingTime { head.append((Tag.origSendingTime, origSendingTime)) }
        fields.insert(contentsOf: head, at: 0)
        return FIXMessage(parsed: fields)
    }

    // MARK: Timers

    /// The clock moved on: heartbeats, test requests, and the timeouts.
    public mutating func tick(now: Date) -> [FIXAction] {
        var out: [FIXAction] = []
        switch status {
        case .disconnected:
            return startPeriodIfDue(now: now)
        case .awaitingLogon:
            if now.timeIntervalSince(connectedAt) >= settings.logonTimeout {
                out.append(.disconnect("no Logon within \(Int(settings.logonTimeout)) s"))
                status = .disconnected
            }
        case .loggingOut:
            if now.timeIntervalSince(logoutSentAt) >= settings.logoutTimeout {
                out.append(.disconnect("no Logout answered within \(Int(settings.logoutTimeout)) s"))
                status = .disconnected
            }
        case .loggedOn:
            let hb = Double(heartBtInt)
            let silent = now.timeIntervalSince(lastReceived)
            if let schedule = settings.schedule, schedule.windowStart(containing: now) == nil {
                return logout("the session's schedule has ended", now: now)
            }
            if testRequestSent != nil, silent >= 2.4 * hb {
                out.append(.disconnect("heartbeat timeout: nothing received for \(Int(silent)) s"))
                status = .disconnected
                return out
            }
            if testRequestSent == nil, silent >= 1.2 * hb {
                testRequests += 1
                let id = "TEST\(testRequests)"
                testRequestSent = id
                send(FIXMessage("1", [(Tag.testReqID, id)]), now: now, into: &out)
            } else if now.timeIntervalSince(lastSent) >= hb {
                send(FIXMessage("0"), now: now, into: &out)
            }
        }
        return out
    }
}
