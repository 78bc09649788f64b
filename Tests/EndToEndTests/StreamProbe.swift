import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A WebSocket client for tests over a plain socket and its own thread (RFC 6455: handshake, masked
/// text frames out, frames in), so it never waits on the Swift concurrency pool that blocking tests share.
final class StreamProbe: Sendable {
    private final class Received: Sendable {
        let texts = Mutex<[String]>([])
        /// The code of the server's close frame, once one came.
        let closeCode = Mutex<Int?>(nil)
    }

    private let received = Received()
    /// Frames are written by the test (text) and by the reader (pongs): one at a time.
    private let writing = Mutex(())
    let fd: Int32

    /// Connects to `ws://127.0.0.1:PORT/PATH`. With `reading: false` the probe does not read until
    /// `startReading()`: a stalled client, with a small receive buffer so the server soon cannot write to it.
    init(_ url: String, reading: Bool = true, key: String? = nil) {
        let rest = url.dropFirst("ws://".count)
        let hostPort = rest.prefix { $0 != "/" }
        let path = String(rest.dropFirst(hostPort.count))
        let port = UInt16(hostPort.split(separator: ":").last.flatMap { UInt16($0) } ?? 80)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        if !reading {
            var size: Int32 = 4096
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        precondition(connected == 0, "cannot connect to \(url)")
        let request =
            "GET \(path) HTTP/1.1\r\nHost: \(hostPort)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            + (key.map { "Authorization: Bearer \($0)\r\n" } ?? "") + "\r\n"
        Self.writeAll(fd, Array(request.utf8))
        var header: [UInt8] = []
        var byte: UInt8 = 0
        while !header.suffix(4).elementsEqual([13, 10, 13, 10]), read(fd, &byte, 1) == 1 { header.append(byte) }
        precondition(String(decoding: header, as: UTF8.self).hasPrefix("HTTP/1.1 101"), "no upgrade: \(String(decoding: header, as: UTF8.self))")
        if reading { startReading() }
    }

    func startReading() {
        let received = self.received, fd = self.fd
        let thread = Thread { [self] in
            // A ping is answered with a pong, as RFC 6455 asks of a client: the server closes a connection that
            // leaves its pings unanswered (every 30 s), which a slow run of a test can outlast.
            while let text = Self.readFrame(
                fd, onPing: { self.sendFrame(opcode: 0xA, Array($0)) },
                onClose: { code in received.closeCode.withLock { $0 = code } })
            {
                received.texts.withLock { $0.append(text) }
            }
        }
        thread.start()
    }

    deinit { close() }

    func close() { shutdown(fd, Int32(SHUT_RDWR)) }

    func send(_ text: String) { sendFrame(opcode: 0x1, Array(text.utf8)) }

    /// A final, masked frame.
    private func sendFrame(opcode: UInt8, _ payload: [UInt8]) {
        var frame: [UInt8] = [0x80 | opcode]
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else if payload.count < 65_536 {
            frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        } else {
            frame.append(0x80 | 127)
            for shift in stride(from: 56, through: 0, by: -8) { frame.append(UInt8((payload.count >> shift) & 0xFF)) }
        }
        let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        frame += mask
        for (i, b) in payload.enumerated() { frame.append(b ^ mask[i % 4]) }
        writing.withLock { _ in Self.writeAll(fd, frame) }
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n <= 0 { return }
            done += n
        }
    }

    private static func readExactly(_ fd: Int32, _ count: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = out.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, count - done) }
            if n <= 0 { return nil }
            done += n
        }
        return out
    }

    /// The next text message (control frames skipped, fragments joined), or nil when the connection ends.
    /// The close code the server sent, if it closed the connection.
    var closeCode: Int? { received.closeCode.withLock { $0 } }

    private static func readFrame(_ fd: Int32, onPing: ([UInt8]) -> Void, onClose: (Int) -> Void) -> String? {
        var message: [UInt8] = []
        while true {
            guard let head = readExactly(fd, 2) else { return nil }
            var length = Int(head[1] & 0x7F)
            if length == 126 {
                guard let ext = readExactly(fd, 2) else { return nil }
                length = Int(ext[0]) << 8 | Int(ext[1])
            } else if length == 127 {
                guard let ext = readExactly(fd, 8) else { return nil }
                length = ext.reduce(0) { $0 << 8 | Int($1) }
            }
            guard let payload = readExactly(fd, length) else { return nil }
            let opcode = head[0] & 0x0F
            if opcode == 0x8 {
                onClose(payload.count >= 2 ? Int(payload[0]) << 8 | Int(payload[1]) : 1005)
                return nil
            }
            if opcode == 0x9 { onPing(payload) }
            if opcode >= 0x8 { continue }
            message += payload
            if head[0] & 0x80 != 0 { return String(decoding: message, as: UTF8.self) }
        }
    }

    /// Every text message so far, as received.
    var texts: [String] { received.texts.withLock { $0 } }

    /// All messages so far, parsed.
    var messages: [[String: Any]] {
        received.texts.withLock { $0 }.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }

    /// Waits until `predicate` holds for the messages received, or `seconds` pass; returns the messages.
    @discardableResult
    func wait(seconds: Double = 10, until predicate: ([[String: Any]]) -> Bool) -> [[String: Any]] {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let m = messages
            if predicate(m) { return m }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return messages
    }
}

extension Array where Element == [String: Any] {
    func ofType(_ type: String) -> [[String: Any]] { filter { $0["type"] as? String == type } }
    var data: [[String: Any]] { compactMap { $0["data"] as? [String: Any] } }
}
