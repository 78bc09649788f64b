import Foundation
import IMSDomain

/// The FIX tags IMS reads or writes, by name (FIX 4.4).
public enum Tag {
    public static let account = 1
    public static let beginSeqNo = 7
    public static let beginString = 8
    public static let bodyLength = 9
    public static let checkSum = 10
    public static let clOrdID = 11
    public static let cumQty = 14
    public static let endSeqNo = 16
    public static let execID = 17
    public static let securityIDSource = 22
    public static let lastPx = 31
    public static let lastQty = 32
    public static let msgSeqNum = 34
    public static let msgType = 35
    public static let newSeqNo = 36
    public static let orderID = 37
    public static let orderQty = 38
    public static let ordStatus = 39
    public static let ordType = 40
    public static let origClOrdID = 41
    public static let possDupFlag = 43
    public static let price = 44
    public static let refSeqNum = 45
    public static let securityID = 48
    public static let senderCompID = 49
    public static let sendingTime = 52
    public static let side = 54
    public static let symbol = 55
    public static let targetCompID = 56
    public static let text = 58
    public static let transactTime = 60
    public static let encryptMethod = 98
    public static let heartBtInt = 108
    public static let testReqID = 112
    public static let locateReqd = 114
    public static let quoteID = 117
    public static let origSendingTime = 122
    public static let gapFillFlag = 123
    public static let quoteReqID = 131
    public static let offerPx = 133
    public static let offerSize = 135
    public static let resetSeqNumFlag = 141
    public static let noRelatedSym = 146
    public static let execType = 150
    public static let leavesQty = 151
    public static let securityExchange = 207
    public static let quoteStatus = 297
    public static let refTagID = 371
    public static let refMsgType = 372
    public static let sessionRejectReason = 373
    public static let businessRejectRefID = 379
    public static let businessRejectReason = 380
    public static let username = 553
    public static let password = 554
    public static let quoteType = 537
    public static let quoteRequestRejectReason = 658
    public static let nextExpectedMsgSeqNum = 789
    public static let locateBroker = 5700
}

/// A FIX message as tag=value fields in the order they came (or will go), the standard header's BeginString,
/// BodyLength and CheckSum excluded: those are the framing's, computed on the way out and checked on the way in.
public struct FIXMessage: Sendable, Equatable, CustomStringConvertible {
    public var fields: [(tag: Int, value: String)]

    /// A message of type `msgType` with `fields` after it (the header's other fields among them or added later).
    public init(_ msgType: String, _ fields: [(Int, String)] = []) {
        self.fields = [(Tag.msgType, msgType)] + fields.map { (tag: $0.0, value: $0.1) }
    }

    init(parsed fields: [(tag: Int, value: String)]) { self.fields = fields }

    public static func == (a: FIXMessage, b: FIXMessage) -> Bool {
        a.fields.count == b.fields.count && zip(a.fields, b.fields).allSatisfy { $0.tag == $1.tag && $0.value == $1.value }
    }

    /// MsgType (35).
    public var msgType: String { self[Tag.msgType] ?? "" }
    /// MsgSeqNum (34), when present and a number.
    public var seqNum: Int? { self[Tag.msgSeqNum].flatMap { Int($0) } }
    /// Whether PossDupFlag (43) is Y.
    public var possDup: Bool { self[Tag.possDupFlag] == "Y" }

    /// The first value of `tag`.
    public subscript(tag: Int) -> String? {
        get { fields.first { $0.tag == tag }?.value }
        set {
            if let i = fields.firstIndex(where: { $0.tag == tag }) {
                if let newValue { fields[i].value = newValue } else { fields.remove(at: i) }
            } else if let newValue {
                fields.append((tag, newValue))
            }
        }
    }

    /// Appends a field.
    public mutating func append(_ tag: Int, _ value: String) { fields.append((tag, value)) }

    /// How many times `tag` occurs.
    public func count(of tag: Int) -> Int { fields.reduce(0) { $0 + ($1.tag == tag ? 1 : 0) } }

    /// The entries of the repeating group counted by `countTag`: the fields after it, split where `delimiter`
    /// (the group's first field) occurs, each entry ending where a field of `memberTags` stops following.
    /// Nil when the count does not match the entries found.
    public func group(_ countTag: Int, delimiter: Int, memberTags: Set<Int>) -> [FIXMessage]? {
        guard let start = fields.firstIndex(where: { $0.tag == countTag }), let declared = Int(fields[start].value), declared >= 0 else {
            return nil
        }
        var entries: [[(tag: Int, value: String)]] = []
        var i = start + 1
        while i < fields.count {
            let field = fields[i]
            if field.tag == delimiter {
                entries.append([field])
            } else if memberTags.contains(field.tag), !entries.isEmpty, !entries[entries.count - 1].contains(where: { $0.tag == field.tag }) {
                entries[entries.count - 1].append(field)
            } else {
                break
            }
            i += 1
        }
        guard entries.count == declared else { return nil }
        return entries.map { FIXMessage(parsed: $0) }
    }

    /// The message as it goes on the wire: `8=BeginString|9=BodyLength|35=…|…|10=CheckSum|`, the fields in
    /// their order (MsgType first), those without a value left out.
    public func encoded(beginString: String) -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(256)
        // FIX has no empty values: a field without one is left out rather than sent malformed.
        for field in fields where !field.value.isEmpty {
            body.append(contentsOf: String(field.tag).utf8)
            body.append(UInt8(ascii: "="))
            body.append(contentsOf: field.value.utf8)
            body.append(FIXFraming.soh)
        }
        var out: [UInt8] = Array("8=\(beginString)\u{1}9=\(body.count)\u{1}".utf8)
        out.reserveCapacity(out.count + body.count + 7)
        out.append(contentsOf: body)
        let sum = out.reduce(0) { ($0 + Int($1)) & 0xFF }
        out.append(contentsOf: "10=\(String(format: "%03d", sum))\u{1}".utf8)
        return out
    }

    /// `8=FIX.4.4|9=…|35=A|…` with `|` for SOH: for logs and messages.
    public var description: String { fields.map { "\($0.tag)=\($0.value)" }.joined(separator: "|") }
}

/// FIX's UTCTimestamp (`YYYYMMDD-HH:MM:SS.sss`), written and read.
public enum FIXTime {
    /// `date` as a UTCTimestamp with milliseconds.
    public static func format(_ date: Date) -> String {
        let millis = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        let seconds = millis / 1000
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = Int(seconds - days * 86_400)
        let (y, m, d) = BusinessDate(dayNumber: Int32(days)).components
        return String(
            format: "%04d%02d%02d-%02d:%02d:%02d.%03d", y, m, d, secondOfDay / 3600, (secondOfDay / 60) % 60, secondOfDay % 60,
            Int(millis - seconds * 1000))
    }

    /// A UTCTimestamp (`YYYYMMDD-HH:MM:SS`, with `.sss` or up to nanoseconds optional), or nil when it is not one.
    public static func parse(_ text: String) -> Date? {
        let b = Array(text.utf8)
        guard b.count >= 17, b[8] == UInt8(ascii: "-"), b[11] == UInt8(ascii: ":"), b[14] == UInt8(ascii: ":") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var n = 0
            for i in range {
                guard b[i] >= 48, b[i] <= 57 else { return nil }
                n = n * 10 + Int(b[i] - 48)
            }
            return n
        }
        guard let y = number(0..<4), let mo = number(4..<6), let d = number(6..<8), let h = number(9..<11), let mi = number(12..<14),
            let s = number(15..<17), (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 61
        else { return nil }
        var fraction = 0.0
        if b.count > 17 {
            guard b[17] == UInt8(ascii: "."), b.count > 18, b.count <= 27, let digits = number(18..<b.count) else { return nil }
            fraction = Double(digits) / pow(10, Double(b.count - 18))
        }
        guard let day = BusinessDate(year: y, month: mo, day: d) else { return nil }
        return Date(timeIntervalSince1970: Double(Int64(day.dayNumber) * 86_400 + Int64(h * 3600 + mi * 60 + s)) + fraction)
    }
}
