/// Where a connection is in HTTP/1.1 and WebSocket framing, as the connection guard follows it: a pure state
/// machine over the bytes the client sends and the status lines the server writes, so each rule is tested
/// alone (`ConnectionFramingTests`), without a socket or a timer.
///
/// It follows the framing just enough to see where each request head starts and ends (`Content-Length`
/// bodies are skipped, pipelined requests followed), to refuse heads that are too long or malformed before
/// the HTTP parser sees them, and, after a WebSocket upgrade, to see each client frame's header (masked, RFC
/// 6455 5.1). After a chunked body (whose framing it does not follow) it steps aside.
///
/// ```text
/// idle ─byte─▶ head ─CRLFCRLF─▶ idle | body(n) ─n bytes─▶ idle
///                 │                └▶ upgradeRequested ─server writes 101─▶ frameHeader ⇄ framePayload(n)
///                 │                                     └─any other status─▶ idle
///                 └─too long / malformed─▶ passThrough (refused: answered and closed)
/// ```
struct ConnectionFraming {
    enum State: Equatable {
        /// Between requests: the next byte starts a head.
        case idle
        /// Reading a head: its bytes so far (kept to find its end and its framing headers).
        case head
        /// Skipping this many body bytes.
        case body(Int)
        /// A WebSocket upgrade was asked for: waiting for the server's answer (the client sends nothing meanwhile).
        case upgradeRequested
        /// Upgraded: reading a client frame's header.
        case frameHeader
        /// Skipping the rest of a client frame's payload.
        case framePayload(Int)
        /// No longer following the framing (chunked, refused, or the connection is being closed).
        case passThrough
    }

    /// Why a head is answered and the connection closed.
    enum Refusal: Error, Equatable {
        /// Longer than the limit: 431.
        case headTooLarge(limit: Int)
        /// Not a head HTTP/1.1 allows, or one whose body's length is ambiguous: 400, naming what is wrong.
        case malformed(String)

        /// The whole HTTP response, with a JSON body naming the field (`headers`).
        var response: String {
            let (status, message) =
                switch self {
                case .headTooLarge(let limit): ("431 Request Header Fields Too Large", "the request line and headers are longer than \(limit) bytes")
                case .malformed(let message): ("400 Bad Request", message)
                }
            let body = #"{"error":"\#(message)","field":"headers"}"#
            return "HTTP/1.1 \(status)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
        }
    }

    /// What one read asks of the guard.
    struct Outcome: Equatable {
        /// A head started in these bytes: its timer starts (over).
        var startedHead = false
        /// The head timer stops: no head is in progress at the end of these bytes.
        var headDone = false
        /// A WebSocket upgrade's complete head: its credentials are checked before it goes on.
        var upgradeHead: [UInt8]?
        /// Answer this and close; nothing of the read goes on.
        var refusal: Refusal?
        /// Close at once (an unmasked client frame); nothing of the read goes on.
        var close = false
    }

    let maxHeadBytes: Int
    private(set) var state = State.idle
    private var head: [UInt8] = []

    init(maxHeadBytes: Int) { self.maxHeadBytes = maxHeadBytes }

    /// Follows the bytes a client sent.
    mutating func read(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        var out = Outcome()
        var offset = 0
        scanning: while offset < bytes.count {
            switch state {
            case .passThrough, .upgradeRequested:
                break scanning
            case .framePayload(let left):
                let take = min(left, bytes.count - offset)
                offset += take
                state = left - take == 0 ? .frameHeader : .framePayload(left - take)
            case .frameHeader:
                head.append(bytes[offset])
                offset += 1
                guard let (masked, payload) = Self.frameHeader(head) else { continue }
                guard masked else {
                    // RFC 6455 5.1: a server closes the connection on an unmasked client frame.
                    state = .passThrough
                    out.close = true
                    return out
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
                out.startedHead = true
                out.headDone = false
            case .head:
                var end: Int?
                while offset < bytes.count {
                    let byte = bytes[offset]
                    head.append(byte)
                    offset += 1
                    let n = head.count
                    if byte == 0x0A && n >= 4 && head[n - 2] == 0x0D && head[n - 3] == 0x0A && head[n - 4] == 0x0D {
                        end = offset
                        break
                    }
                    if n > maxHeadBytes { break }
                }
                guard end != nil else {
                    if head.count > maxHeadBytes {
                        state = .passThrough
                        out.refusal = .headTooLarge(limit: maxHeadBytes)
                    }
                    break scanning
                }
                out.headDone = true
                switch Self.framing(of: head) {
                case .success(let next):
                    state = next
                    if next == .upgradeRequested { out.upgradeHead = head }
                case .failure(let refusal):
                    state = .passThrough
                    out.refusal = refusal
                    return out
                }
            }
        }
        return out
    }

    /// Follows what the server wrote: an upgrade answered 101 switches to WebSocket frames; any other
    /// answer to it goes back to heads.
    mutating func wrote(_ prefix: String) {
        guard state == .upgradeRequested, prefix.hasPrefix("HTTP/1.") else { return }
        if prefix.hasSuffix(" 101") {
            state = .frameHeader
            head.removeAll(keepingCapacity: true)
        } else {
            state = .idle
        }
    }

    /// Stops following the framing (the connection is being refused or closed).
    mutating func stop() { state = .passThrough }

    /// What follows a complete head: its body, the next head, or bytes this guard no longer follows; or why
    /// the head is refused. Header names are compared without case, values trimmed of spaces and tabs (no
    /// strings made: it runs for every request). Refused, as RFC 9112 allows and request smuggling asks:
    /// a header line without a colon, a folded line, whitespace before a colon, a `Content-Length` that is
    /// not digits or appears twice with different values, and `Content-Length` beside `Transfer-Encoding`.
    static func framing(of head: [UInt8]) -> Result<State, Refusal> {
        var length: Int?
        var chunked = false, transferEncoding = false, upgrade = false
        var i = 0
        let n = head.count
        // Skip the request line.
        while i + 1 < n, !(head[i] == 0x0D && head[i + 1] == 0x0A) { i += 1 }
        i += 2
        var line = 1
        while i < n {
            line += 1
            var end = i
            while end + 1 < n, !(head[end] == 0x0D && head[end + 1] == 0x0A) { end += 1 }
            if end + 1 >= n { end = n }
            defer { i = end + 2 }
            if end == i { continue }
            if head[i] == 0x20 || head[i] == 0x09 {
                return .failure(.malformed("header line \(line) is folded (starts with a space or tab); send each header on one line"))
            }
            guard let colon = head[i..<end].firstIndex(of: 0x3A) else {
                return .failure(.malformed("header line \(line) has no colon: a header is a name, a colon and a value"))
            }
            if colon > i, head[colon - 1] == 0x20 || head[colon - 1] == 0x09 {
                return .failure(.malformed("header line \(line) has a space before its colon"))
            }
            let name = trimmed(head, i, colon), value = trimmed(head, colon + 1, end)
            if equalsIgnoringCase(head, name, "upgrade") {
                upgrade = containsIgnoringCase(head, value, "websocket")
            } else if equalsIgnoringCase(head, name, "transfer-encoding") {
                transferEncoding = true
                if containsIgnoringCase(head, value, "chunked") { chunked = true }
            } else if equalsIgnoringCase(head, name, "content-length") {
                guard !value.isEmpty, value.count <= 18, value.allSatisfy({ head[$0] >= 0x30 && head[$0] <= 0x39 }) else {
                    return .failure(.malformed("Content-Length must be digits (header line \(line))"))
                }
                let v = value.reduce(0) { $0 * 10 + Int(head[$1] - 0x30) }
                if let length, length != v { return .failure(.malformed("Content-Length is given twice with different values")) }
                length = v
            }
        }
        if transferEncoding && length != nil {
            return .failure(.malformed("Content-Length and Transfer-Encoding together make the body's length ambiguous; send one"))
        }
        if upgrade { return .success(.upgradeRequested) }
        if chunked || transferEncoding { return .success(.passThrough) }
        return .success((length ?? 0) > 0 ? .body(length!) : .idle)
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
}
