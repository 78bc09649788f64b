import Foundation
import Testing

@testable import IMSFIX

@Suite struct FIXFramingTests {
    func frame(_ bytes: [UInt8]) -> FIXFraming.Frame { bytes.withUnsafeBytes { FIXFraming.next($0) } }

    @Test func encodesWithBodyLengthAndChecksumAndReadsBack() {
        var m = FIXMessage("0", [(Tag.senderCompID, "IMS"), (Tag.targetCompID, "OMS"), (Tag.msgSeqNum, "1"), (Tag.sendingTime, "20261207-12:00:00.000")])
        m.append(Tag.testReqID, "x")
        let bytes = m.encoded(beginString: "FIX.4.4")
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix("8=FIX.4.4\u{1}9=55\u{1}35=0\u{1}"))
        // The checksum, counted by hand: every byte before "10=".
        let body = Array(bytes[0..<(bytes.count - 7)])
        #expect(text.hasSuffix("10=\(String(format: "%03d", body.reduce(0) { ($0 + Int($1)) % 256 }))\u{1}"))
        guard case .message(let read, nil, let consumed) = frame(bytes + Array("8=FI".utf8)) else {
            Issue.record("not read back")
            return
        }
        #expect(consumed == bytes.count)
        #expect(read[Tag.testReqID] == "x")
        #expect(read.msgType == "0")
        #expect(read[Tag.beginString] == "FIX.4.4")
    }

    @Test func fieldsWithoutAValueAreLeftOut() {
        let bytes = FIXMessage("j", [(Tag.refSeqNum, "2"), (Tag.businessRejectRefID, ""), (Tag.text, "x")]).encoded(beginString: "FIX.4.4")
        #expect(!String(decoding: bytes, as: UTF8.self).contains("379="))
        guard case .message(_, nil, _) = frame(bytes) else {
            Issue.record("not a well-formed message")
            return
        }
    }

    @Test func partialFramesWaitForMore() {
        let bytes = FIXMessage("0", [(Tag.msgSeqNum, "1")]).encoded(beginString: "FIX.4.4")
        for cut in [1, 5, 12, bytes.count - 1] {
            #expect(frame(Array(bytes[0..<cut])) == .needMore)
        }
    }

    @Test func badChecksumIsGarbledAndSkipped() {
        var bytes = FIXMessage("0", [(Tag.msgSeqNum, "1")]).encoded(beginString: "FIX.4.4")
        bytes[bytes.count - 2] = bytes[bytes.count - 2] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
        guard case .garbled(let why, let consumed) = frame(bytes) else {
            Issue.record("not garbled")
            return
        }
        #expect(why.contains("CheckSum"))
        #expect(consumed == bytes.count)
    }

    @Test func wrongBodyLengthIsGarbledAndTheNextMessageStillReads() {
        let good = FIXMessage("0", [(Tag.msgSeqNum, "2")]).encoded(beginString: "FIX.4.4")
        var bad = FIXMessage("0", [(Tag.msgSeqNum, "1")]).encoded(beginString: "FIX.4.4")
        // 9=10 → 9=8: the frame does not end where it says.
        let text = String(decoding: bad, as: UTF8.self).replacingOccurrences(of: "\u{1}9=10\u{1}", with: "\u{1}9=8\u{1}")
        bad = Array(text.utf8)
        let stream = bad + good
        guard case .garbled(let why, let consumed) = frame(stream) else {
            Issue.record("not garbled")
            return
        }
        #expect(why.contains("BodyLength"))
        #expect(consumed == bad.count)
        guard case .message(let m, nil, _) = frame(Array(stream[consumed...])) else {
            Issue.record("next not read")
            return
        }
        #expect(m.seqNum == 2)
    }

    @Test func junkBeforeAMessageIsSkipped() {
        let good = FIXMessage("0", [(Tag.msgSeqNum, "2")]).encoded(beginString: "FIX.4.4")
        guard case .garbled(_, let consumed) = frame(Array("hello".utf8) + good) else {
            Issue.record("not garbled")
            return
        }
        #expect(consumed == 5)
    }

    @Test func fieldProblemsAreNamed() {
        func problem(_ body: String) -> FIXFraming.FieldProblem? {
            let bytes = withChecksum(Array("8=FIX.4.4\u{1}9=0\u{1}\(body)".utf8))
            guard case .message(_, let p, _) = frame(bytes) else { return FIXFraming.FieldProblem(reason: -1, text: "not framed") }
            return p
        }
        #expect(problem("35=0\u{1}34=1\u{1}") == nil)
        #expect(problem("35=0\u{1}34=1\u{1}abc=1\u{1}")?.reason == 0)
        #expect(problem("35=0\u{1}34=1\u{1}58=\u{1}")?.reason == 4)
        #expect(problem("35=0\u{1}34=1\u{1}58=\u{1}")?.tag == 58)
        #expect(problem("34=1\u{1}35=0\u{1}")?.reason == 14)
    }

    @Test func utcTimestampsRoundTrip() {
        let date = Date(timeIntervalSince1970: 1_796_000_000.123)
        #expect(FIXTime.format(date) == "20261130-00:53:20.123")
        #expect(FIXTime.parse("20261130-00:53:20.123").map { abs($0.timeIntervalSince(date)) < 0.001 } == true)
        #expect(FIXTime.parse("20261130-19:33:20") != nil)
        #expect(FIXTime.parse("20261130-19:33:20.123456") != nil)
        #expect(FIXTime.parse("20261330-19:33:20") == nil)
        #expect(FIXTime.parse("2026-11-30 19:33:20") == nil)
    }

    @Test func repeatingGroupsSplitAtTheirDelimiter() {
        let m = FIXMessage(
            "R",
            [
                (Tag.quoteReqID, "q"), (Tag.noRelatedSym, "2"), (Tag.symbol, "AAPL"), (Tag.orderQty, "100"), (Tag.symbol, "MSFT"),
                (Tag.securityExchange, "XNAS"), (Tag.orderQty, "5"),
            ]
        )
        let entries = m.group(Tag.noRelatedSym, delimiter: Tag.symbol, memberTags: [Tag.orderQty, Tag.securityExchange])
        #expect(entries?.count == 2)
        #expect(entries?[1][Tag.securityExchange] == "XNAS")
        #expect(entries?[1][Tag.orderQty] == "5")
        let wrongCount = FIXMessage("R", [(Tag.noRelatedSym, "3"), (Tag.symbol, "AAPL")])
        #expect(wrongCount.group(Tag.noRelatedSym, delimiter: Tag.symbol, memberTags: []) == nil)
    }
}
