/// Cuts a byte stream into FIX messages and checks each frame: `8=BeginString`, `9=BodyLength` counting the
/// bytes up to `10=`, and `10=CheckSum`, the byte sum modulo 256 of everything before it.
///
/// A frame that fails those checks is *garbled*: FIX says to ignore it without counting its sequence number
/// (the next message's gap asks for it again), so the scanner reports it and skips to the next `8=FIX`.
/// A frame whose checks pass but whose fields are malformed (a tag that is not a number, a tag without a
/// value) is a message with a problem: the session answers it with a Reject naming the tag.
public enum FIXFraming {
    public static let soh: UInt8 = 0x01

    /// What a field of a well-framed message got wrong (SessionRejectReason 373 and the tag, 371).
    public struct FieldProblem: Sendable, Equatable {
        public var reason: Int
        public var tag: Int?
        public var text: String
    }

    public enum Frame: Equatable {
        /// A message, and how many bytes it took; `problem` when one of its fields is malformed.
        case message(FIXMessage, problem: FieldProblem?, consumed: Int)
        /// Bytes skipped, and why.
        case garbled(String, consumed: Int)
        /// Not a whole frame yet.
        case needMore
    }

    /// The first frame in `bytes`. `maxBodyLength` bounds what a frame may claim (a larger one is garbled).
    public static func next(_ bytes: UnsafeRawBufferPointer, maxBodyLength: Int = 65_536) -> Frame {
        let n = bytes.count
        guard n >= 2 else { return .needMore }
        // A frame starts with "8=FIX"; anything before the next one is junk.
        if !(bytes[0] == UInt8(ascii: "8") && bytes[1] == UInt8(ascii: "=")) {
            return .garbled("bytes before 8=", consumed: nextStart(bytes, after: 0) ?? n)
        }
        guard let beginEnd = index(of: soh, in: bytes, from: 2, limit: min(n, 32)) else {
            return n >= 32 ? .garbled("BeginString (8) without its end", consumed: nextStart(bytes, after: 0) ?? n) : .needMore
        }
        let lengthStart = beginEnd + 1
        guard n >= lengthStart + 2 else { return .needMore }
        guard bytes[lengthStart] == UInt8(ascii: "9"), bytes[lengthStart + 1] == UInt8(ascii: "=") else {
            return .garbled("BodyLength (9) does not follow BeginString (8)", consumed: nextStart(bytes, after: 0) ?? n)
        }
        var length = 0
        var i = lengthStart + 2
        while true {
            guard i < n else { return i - lengthStart > 12 ? .garbled("BodyLength (9) too long", consumed: nextStart(bytes, after: 0) ?? n) : .needMore }
            let b = bytes[i]
            if b == soh { break }
            guard b >= 48, b <= 57, i - lengthStart < 10 else {
                return .garbled("BodyLength (9) is not a number", consumed: nextStart(bytes, after: 0) ?? n)
            }
            length = length * 10 + Int(b - 48)
            i += 1
        }
        guard i > lengthStart + 2, length > 0, length <= maxBodyLength else {
            return .garbled("BodyLength (9) \(length) out of range", consumed: nextStart(bytes, after: 0) ?? n)
        }
        let bodyStart = i + 1
        let trailer = bodyStart + length
        guard n >= trailer + 7 else { return .needMore }
        guard bytes[trailer - 1] == soh, bytes[trailer] == UInt8(ascii: "1"), bytes[trailer + 1] == UInt8(ascii: "0"),
            bytes[trailer + 2] == UInt8(ascii: "="), bytes[trailer + 6] == soh
        else {
            return .garbled("BodyLength (9) \(length) does not end at CheckSum (10)", consumed: nextStart(bytes, after: 0) ?? n)
        }
        var declared = 0
        for k in trailer + 3..<trailer + 6 {
            let b = bytes[k]
            guard b >= 48, b <= 57 else { return .garbled("CheckSum (10) is not three digits", consumed: trailer + 7) }
            declared = declared * 10 + Int(b - 48)
        }
        var sum = 0
        for k in 0..<trailer { sum &+= Int(bytes[k]) }
        guard sum & 0xFF == declared else {
            return .garbled("CheckSum (10) \(declared) but the bytes sum to \(sum & 0xFF)", consumed: trailer + 7)
        }
        let (message, problem) = parseFields(UnsafeRawBufferPointer(rebasing: bytes[bodyStart..<trailer]), beginString: bytes, beginEnd: beginEnd)
        return .message(message, problem: problem, consumed: trailer + 7)
    }

    /// The body's fields; MsgType must come first. The BeginString is kept as the message's first field so the
    /// session can check it.
    private static func parseFields(_ body: UnsafeRawBufferPointer, beginString bytes: UnsafeRawBufferPointer, beginEnd: Int)
        -> (FIXMessage, FieldProblem?)
    {
        var fields: [(tag: Int, value: String)] = [(Tag.beginString, String(decoding: UnsafeRawBufferPointer(rebasing: bytes[2..<beginEnd]), as: UTF8.self))]
        var problem: FieldProblem?
        var start = 0
        while start < body.count {
            var end = start
            while end < body.count, body[end] != soh { end += 1 }
            var eq = start
            while eq < end, body[eq] != UInt8(ascii: "=") { eq += 1 }
            var tag = 0
            var valid = eq > start && eq - start <= 9
            for k in start..<eq where valid {
                let b = body[k]
                if b < 48 || b > 57 { valid = false } else { tag = tag * 10 + Int(b - 48) }
            }
            if !valid || tag == 0 {
                if problem == nil {
                    problem = FieldProblem(
                        reason: 0, tag: nil, text: "Invalid tag number: \(String(decoding: UnsafeRawBufferPointer(rebasing: body[start..<eq]), as: UTF8.self))")
                }
            } else if eq >= end - 1 {
                if problem == nil { problem = FieldProblem(reason: 4, tag: tag, text: "Tag specified without a value: \(tag)") }
            } else {
                fields.append((tag, String(decoding: UnsafeRawBufferPointer(rebasing: body[(eq + 1)..<end]), as: UTF8.self)))
            }
            start = end + 1
        }
        if fields.count < 2 || fields[1].tag != Tag.msgType {
            problem = FieldProblem(reason: 14, tag: Tag.msgType, text: "MsgType (35) must be the third field")
        }
        return (FIXMessage(parsed: fields), problem)
    }

    private static func index(of byte: UInt8, in bytes: UnsafeRawBufferPointer, from: Int, limit: Int) -> Int? {
        var i = from
        while i < limit {
            if bytes[i] == byte { return i }
            i += 1
        }
        return nil
    }

    /// Where the next "8=FIX" after `after` starts.
    private static func nextStart(_ bytes: UnsafeRawBufferPointer, after: Int) -> Int? {
        var i = after + 1
        while i + 4 < bytes.count {
            if bytes[i] == UInt8(ascii: "8"), bytes[i + 1] == UInt8(ascii: "="), bytes[i + 2] == UInt8(ascii: "F"), bytes[i + 3] == UInt8(ascii: "I"),
                bytes[i + 4] == UInt8(ascii: "X")
            {
                return i
            }
            i += 1
        }
        return nil
    }
}
