import Foundation
import Testing

@testable import IMSFIX

/// The counterparty's side, written by hand: messages as an OMS would send them to IMS.
struct Counterparty {
    var seq = 1
    var now = Date(timeIntervalSince1970: 1_796_000_000)

    mutating func message(_ type: String, _ fields: [(Int, String)] = [], seq explicit: Int? = nil, sendingTime: Date? = nil) -> FIXMessage {
        let n = explicit ?? seq
        if explicit == nil { seq += 1 }
        var m = FIXMessage(
            type, [(Tag.senderCompID, "OMS"), (Tag.targetCompID, "IMS"), (Tag.msgSeqNum, String(n)), (Tag.sendingTime, FIXTime.format(sendingTime ?? now))])
        for (t, v) in fields { m.append(t, v) }
        m.fields.insert((Tag.beginString, "FIX.4.4"), at: 0)
        return m
    }

    mutating func logon(_ extra: [(Int, String)] = [], seq: Int? = nil) -> FIXMessage {
        message("A", [(Tag.encryptMethod, "0"), (Tag.heartBtInt, "30")] + extra, seq: seq)
    }
}

func sent(_ actions: [FIXAction]) -> [FIXMessage] {
    actions.compactMap { if case .send(let bytes, let m) = $0 { _ = bytes; return m } else { return nil } }
}

func delivered(_ actions: [FIXAction]) -> [FIXMessage] {
    actions.compactMap { if case .deliver(let m) = $0 { return m } else { return nil } }
}

func disconnects(_ actions: [FIXAction]) -> [String] {
    actions.compactMap { if case .disconnect(let why) = $0 { return why } else { return nil } }
}

func newSession(store: any FIXMessageStore = MemoryFIXStore()) -> FIXSession {
    FIXSession(settings: FIXSessionSettings(senderCompID: "IMS", targetCompID: "OMS"), store: store)
}

@Suite struct FIXSessionTests {
    @Test func logonIsAnsweredAndNumbersCount() {
        var s = newSession()
        var c = Counterparty()
        _ = s.connected(now: c.now)
        let out = s.received(c.logon(), now: c.now)
        #expect(sent(out).map(\.msgType) == ["A"])
        #expect(sent(out)[0][Tag.heartBtInt] == "30")
        #expect(sent(out)[0][Tag.msgSeqNum] == "1")
        #expect(s.status == .loggedOn)
        #expect(s.expectedSeq == 2)
        let app = s.received(c.message("R", [(Tag.quoteReqID, "q1")]), now: c.now)
        #expect(delivered(app).map(\.msgType) == ["R"])
        #expect(s.expectedSeq == 3)
    }

    @Test func aSessionsHeartbeatIntervalIsTheOneItsLogonMustCarry() {
        var settings = FIXSessionSettings(senderCompID: "IMS", targetCompID: "OMS")
        settings.heartbeatRange = 20...20
        var s = FIXSession(settings: settings, store: MemoryFIXStore())
        var c = Counterparty()
        _ = s.connected(now: c.now)
        let out = s.received(c.logon(), now: c.now)
        #expect(sent(out).first?[Tag.text] == "HeartBtInt (108) must be 20 seconds")
        #expect(s.status == .disconnected)
        var ok = FIXSession(settings: settings, store: MemoryFIXStore())
        var d = Counterparty()
        _ = ok.connected(now: d.now)
        _ = ok.received(d.message("A", [(Tag.encryptMethod, "0"), (Tag.heartBtInt, "20")]), now: d.now)
        #expect(ok.status == .loggedOn && ok.heartBtInt == 20)
    }

    @Test func firstMessageMustBeLogon() {
        var s = newSession()
        var c = Counterparty()
        _ = s.connected(now: c.now)
        let out = s.received(c.message("0"), now: c.now)
        #expect(!disconnects(out).isEmpty)
        #expect(sent(out).isEmpty)
    }

    @Test func gapIsResentThenHeldMessagesProcessedInOrder() {
        var s = newSession()
        var c = Counterparty()
        _ = s.connected(now: c.now)
        _ = s.received(c.logon(), now: c.now)
        // 2 and 3 lost; 4 arrives.
        let four = s.received(c.message("R", [(Tag.quoteReqID, "q4")], seq: 4), now: c.now)
        #expect(sent(four).map(\.msgType) == ["2"])
        #expect(sent(four)[0][Tag.beginSeqNo] == "2")
        #expect(sent(four)[0][Tag.endSeqNo] == "0")
        #expect(delivered(four).isEmpty)
        // 5 arrives too: no second ResendRequest.
        let five = s.received(c.message("R", [(Tag.quoteReqID, "q5")], seq: 5), now: c.now)
        #expect(sent(five).isEmpty)
        // The resend: 2 again (PossDup), 3 as a gap fill to 4.
        var two = c.message("R", [(Tag.quoteReqID, "q2")], seq: 2)
        two.fields.insert((Tag.possDupFlag, "Y"), at: 5)
        two.fields.insert((Tag.origSendingTime, FIXTime.format(c.now)), at: 6)
        #expect(delivered(s.received(two, now: c.now)).map { $0[Tag.quoteReqID] } == ["q2"])
        let fill = s.received(c.message("4", [(Tag.gapFillFlag, "Y"), (Tag.newSeqNo, "4")], seq: 3), now: c.now)
        #expect(delivered(fill).map { $0[Tag.quoteReqID] } == ["q4", "q5"])
        #expect(s.expectedSeq == 6)
    }

    @Test func tooLowWithoutPossDupLogsOut() {
        var s = newSession()
        var c = Counterparty()
        _ = s.connected(now: c.now)
        _ = s.received(c.logon(), now: c.now)
        _ = s.received(c.message("0"), now: c.now)
        let out = s.received(c.message("0", seq: 2), now: c.now)
        #expect(sent(out).map(\.msgType) == ["5"])
        #expect(sent(out)[0][Tag.text] == "MsgSeqNum too low, expecting 3 but received 2")
        #expect(!disconnects(out).isEmpty)
    }

    @Test func tooLowWithPossDupIsIgnoredButNeedsOrigSendingTime() {
        var s = newSession()
        var c = Counterparty()
        _ = s.connected(now: c.now)
        _ = s.received(c.logon(), now: c.now)
        _ = s.received(c.message("R", [(Tag.quoteReqID, "q2")]), now: c.now)
        var dup = c.message("R", [(Tag.quoteReqID, "q2")], seq: 2)
        dup[Tag.possDupFlag] = "Y"
        dup[Tag.origSendingTime] = FIXTime.format(c.now)
        #expect(s.received(dup, now: c.now).isEmpty)
        var noOrig = c.message("R", [(Tag.quoteReqID, "q2")], seq: 2)
        noOrig[Tag.possDupFlag] = "Y"
        let out = s.received(noOrig, now: c.now)
        #expect(sent(out).map(\.msgType) == ["3"])
        #expect(sent(out)[0][Tag.sessionRejectReason] == "1")
        #expect(sent(out)[0][Tag.refTagID] == "122")
        #expect(s.status == .loggedOn)
    }

    @Test func resendRequestResendsApplicationMessagesAndGapFillsSessionOnes() {
        var s = newSession()
        var c = Counterparty()
        _ = s.connected(now: c.now)
        _ = s.received(c.logon(), now: c.now) // our 1: Logon
        _ = s.send(application: FIXMessage("S", [(Tag.quoteID, "L1")]), now: c.now) // 2
        _ = s.received(c.message("1", [(Tag.testReqID, "t")]), now: c.now) // our 3: Heartbeat
        _ = s.send(application: FIXMessage("S", [(Tag.quoteID, "L2")]), now: c.now) // 4
        let later = c.now.addingTimeInterval(5)
        let out = sent(s.received(c.message("2", [(Tag.beginSeqNo, "1"), (Tag.endSeqNo, "0")], sendingTime: later), now: later))
        #expect(out.map(\.msgType) == ["4", "S", "4", "S"])
        #expect(out[0][Tag.msgSeqNum] == "1" && out[0][Tag.newSeqNo] == "2" && out[0][Tag.gapFillFlag] == "Y")
        #expect(out[1][Tag.msgSeqNum] == "2" && out[1][Tag.possDupFlag] == "Y" && out[1][Tag.quoteID] == "L1")
        #expect(out[1][Tag.origSendingTime] == FIXTime.format(c.now))
        #expect(out[1][Tag.sendingTime] == FIXTime.format(later))
        #expect(out[2][Tag.msgSeqNum] == "3" && out[2][Tag.newSeqNo] == "4")
        #expect(out[3][Tag.msgSeqNum] == "4" && out[3][Tag.quoteID] == "L2")
        // Header fields stay in the header (QuickFIX checks the order).
        let tags = out[1].fields.map(\.tag)
        #expect(tags.firstIndex(of: Tag.quoteID)! > tags.firstIndex(of: Tag.origSendingTime)!)
    }

    @Test func sequenceResetCannotMoveBack() {
        var s = newSession()
        var c = Counterparty()
        _ = s.connected(now: c.now)
        _ = s.received(c.logon(), now: c.now)
        _ = s.received(c.message("0"), now: c.now)
        _ = s.received(c.message("0"), now: c.now)
        let out = s.received(c.message("4", [(Tag.newSeqNo, "2")], seq: 9), now: c.now)
        #expect(sent(out).map(\.msgType) == ["3"])
        #expect(sent(out)[0][Tag.sessionRejectReason] == "5")
        #expect(s.expectedSeq == 4)
        _ = s.received(c.message("4", [(Tag.newSeqNo, "20")], seq: 9), now: c.now)
        #expect(s.expectedSeq == 20)
    }

    @Test func wrongCompIDRejectsAndLogsOut() {
        var s = newSession()
        var c = Counterparty()
        _ = s.connected(now: c.now)
        _ = s.received(c.logon(), now: c.now)
        var m = c.message("0")
        m[Tag.senderCompID] = "OTHER"
        let out = s.received(m, now: c.now)
        #expect(sent(out).map(\.msgType) == ["3", "5"])
        #expect(sent(out)[0][Tag.sessionRejectReason] == "9")
        #expect(!disconnects(out).isEmpty)
    }

    @Test func sendingTimeFarOffRejectsAndLogsOut() {
        var s = newSession()
        var c = Counterparty()
        _ = s.connected(now: c.now)
        _ = s.received(c.logon(), now: c.now)
        let out = s.received(c.message("0", sendingTime: c.now.addingTimeInterval(-600)), now: c.now)
        #expect(sent(out).map(\.msgType) == ["3", "5"])
        #expect(sent(out)[0][Tag.sessionRejectReason] == "10")
    }

    @Test func malformedFieldIsRejectedAndCounted() throws {
        var s = newSession()
        var c = Counterparty()
        _ = s.connected(now: c.now)
        _ = s.received(c.logon(), now: c.now)
        let raw = Array("8=FIX.4.4\u{1}9=59\u{1}35=R\u{1}49=OMS\u{1}56=IMS\u{1}34=2\u{1}52=\(FIXTime.format(c.now))\u{1}x1=2\u{1}".utf8)
        let framed = withChecksum(raw)
        guard case .message(let m, let problem, _) = framed.withUnsafeBytes({ FIXFraming.next($0) }) else {
            Issue.record("not framed")
            return
        }
        #expect(problem?.reason == 0)
        let out = s.received(m, problem: problem, now: c.now)
        #expect(sent(out).map(\.msgType) == ["3"])
        #expect(sent(out)[0][Tag.sessionRejectReason] == "0")
        #expect(s.expectedSeq == 3)
        #expect(delivered(out).isEmpty)
    }

    @Test func heartbeatsTestRequestsAndTimeout() {
        var s = newSession()
        var c = Counterparty()
        _ = s.connected(now: c.now)
        _ = s.received(c.logon(), now: c.now)
        #expect(sent(s.tick(now: c.now.addingTimeInterval(10))).isEmpty)
        #expect(sent(s.tick(now: c.now.addingTimeInterval(30))).map(\.msgType) == ["0"])
        let test = sent(s.tick(now: c.now.addingTimeInterval(36)))
        #expect(test.map(\.msgType) == ["1"])
        // Answered: no timeout.
        c.now = c.now.addingTimeInterval(40)
        _ = s.received(c.message("0", [(Tag.testReqID, test[0][Tag.testReqID]!)]), now: c.now)
        #expect(s.tick(now: c.now.addingTimeInterval(20)).isEmpty)
        // Silent: a TestRequest, then the connection closed.
        #expect(sent(s.tick(now: c.now.addingTimeInterval(37))).map(\.msgType) == ["1"])
        #expect(disconnects(s.tick(now: c.now.addingTimeInterval(60))).isEmpty)
        #expect(!disconnects(s.tick(now: c.now.addingTimeInterval(73))).isEmpty)
        #expect(s.status == .disconnected)
    }

    @Test func testRequestIsAnsweredWithItsID() {
        var s = newSession()
        var c = Counterparty()
        _ = s.connected(now: c.now)
        _ = s.received(c.logon(), now: c.now)
        let out = sent(s.received(c.message("1", [(Tag.testReqID, "abc")]), now: c.now))
        #expect(out.map(\.msgType) == ["0"])
        #expect(out[0][Tag.testReqID] == "abc")
    }

    @Test func logoutIsAnswered() {
        var s = newSession()
        var c = Counterparty()
        _ = s.connected(now: c.now)
        _ = s.received(c.logon(), now: c.now)
        let out = s.received(c.message("5"), now: c.now)
        #expect(sent(out).map(\.msgType) == ["5"])
        #expect(!disconnects(out).isEmpty)
    }

    @Test func logonWithResetStartsAtOne() {
        let store = MemoryFIXStore()
        store.setNextSenderSeq(40)
        store.setNextTargetSeq(50)
        var s = newSession(store: store)
        var c = Counterparty()
        _ = s.connected(now: c.now)
        let out = sent(s.received(c.logon([(Tag.resetSeqNumFlag, "Y")]), now: c.now))
        #expect(out[0][Tag.msgSeqNum] == "1")
        #expect(out[0][Tag.resetSeqNumFlag] == "Y")
        #expect(s.expectedSeq == 2 && store.nextTargetSeq == 2)
    }

    /// The store keeps the first application message not yet answered: a restart (a new session on the same
    /// store) asks for it again; once answered, the store moves on.
    @Test func aRestartAsksAgainForMessagesNotYetAnswered() {
        let store = MemoryFIXStore()
        var s = newSession(store: store)
        var c = Counterparty()
        _ = s.connected(now: c.now)
        _ = s.received(c.logon(), now: c.now)
        _ = s.received(c.message("R", [(Tag.quoteReqID, "q2")]), now: c.now)
        _ = s.received(c.message("R", [(Tag.quoteReqID, "q3")]), now: c.now)
        _ = s.received(c.message("0"), now: c.now)
        #expect(s.expectedSeq == 5)
        #expect(store.nextTargetSeq == 2)
        s.answered([2])
        #expect(store.nextTargetSeq == 3)
        // The process dies before 3 is answered: the next one asks for 3 again.
        var after = newSession(store: store)
        _ = after.connected(now: c.now)
        let out = sent(after.received(c.logon(seq: 5), now: c.now))
        #expect(out.map(\.msgType) == ["A", "2"])
        #expect(out[1][Tag.beginSeqNo] == "3")
        var again = c.message("R", [(Tag.quoteReqID, "q3")], seq: 3)
        again[Tag.possDupFlag] = "Y"
        again[Tag.origSendingTime] = FIXTime.format(c.now)
        #expect(delivered(after.received(again, now: c.now)).map { $0[Tag.quoteReqID] } == ["q3"])
        s.answered([3])
    }

    @Test func messagesSentWhileAwayAreKeptForTheResend() {
        var s = newSession()
        var c = Counterparty()
        _ = s.connected(now: c.now)
        _ = s.received(c.logon(), now: c.now)
        s.disconnected()
        #expect(s.send(application: FIXMessage("S", [(Tag.quoteID, "late")]), now: c.now).isEmpty)
        _ = s.connected(now: c.now)
        _ = s.received(c.logon(), now: c.now)
        let out = sent(s.received(c.message("2", [(Tag.beginSeqNo, "2"), (Tag.endSeqNo, "0")]), now: c.now))
        #expect(out.map(\.msgType) == ["S", "4"])
        #expect(out[0][Tag.quoteID] == "late")
    }

    @Test func scheduleResetsNumbersAtEachWindowAndRefusesOutsideIt() {
        var settings = FIXSessionSettings(senderCompID: "IMS", targetCompID: "OMS")
        // 08:00–18:00 UTC.
        settings.schedule = FIXSchedule(start: 8 * 3600, end: 18 * 3600)
        let store = MemoryFIXStore(periodStart: Date(timeIntervalSince1970: 0))
        store.setNextTargetSeq(9)
        store.setNextSenderSeq(9)
        var s = FIXSession(settings: settings, store: store)
        let day = 1_796_083_200.0 // a midnight UTC
        var c = Counterparty(seq: 1, now: Date(timeIntervalSince1970: day + 9 * 3600))
        _ = s.connected(now: c.now)
        #expect(store.nextSenderSeq == 1)
        _ = s.received(c.logon(), now: c.now)
        #expect(s.status == .loggedOn)
        // At 18:00 the session logs out.
        #expect(sent(s.tick(now: Date(timeIntervalSince1970: day + 18 * 3600 + 1))).map(\.msgType) == ["5"])
        // A Logon at 19:00 is refused.
        var night = newSession()
        night = FIXSession(settings: settings, store: MemoryFIXStore())
        var late = Counterparty(seq: 1, now: Date(timeIntervalSince1970: day + 19 * 3600))
        _ = night.connected(now: late.now)
        let out = night.received(late.logon(), now: late.now)
        #expect(sent(out).first?[Tag.text] == "outside the session's schedule")
    }
}

/// `raw` with its BodyLength and CheckSum made right.
func withChecksum(_ raw: [UInt8]) -> [UInt8] {
    // raw = "8=FIX.4.4|9=NN|" + body; recompute 9 from the body.
    let text = String(decoding: raw, as: UTF8.self)
    let parts = text.split(separator: "\u{1}", omittingEmptySubsequences: false)
    let body = parts.dropFirst(2).joined(separator: "\u{1}")
    var out = Array("\(parts[0])\u{1}9=\(body.utf8.count)\u{1}\(body)".utf8)
    let sum = out.reduce(0) { ($0 + Int($1)) & 0xFF }
    out += Array("10=\(String(format: "%03d", sum))\u{1}".utf8)
    return out
}
