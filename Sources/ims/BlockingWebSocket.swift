import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A minimal WebSocket client (RFC 6455) over one blocking TCP socket, for `ims bench decisions --channel ws`:
/// one thread sends text frames while another reads them, with no event loop in the measurement. Text frames
/// only; the client masks what it sends, as the protocol requires.
final class BlockingWebSocket: @unchecked Sendable {
    // `@unchecked Sendable`: one thread sends (`send`), one reads (`receive`); each touches its own fields.
    struct Failure: Error, CustomStringConvertible { var description: String }

    private let socket: BlockingSocket
    private var readBuffer: [UInt8] = []
    private var readAt = 0
    private var chunk = [UInt8](repeating: 0, count: 1 << 16)
    private var mask: UInt32 = 0x9E37_79B9

    /// Connects to `url` (`http://host:port`) and upgrades `path` to a WebSocket.
    init(url: String, path: String) throws {
        guard let u = URL(string: url), let host = u.host else { throw Failure(description: "expected a URL like http://127.0.0.1:8080, got \(url)") }
        socket = try BlockingSocket(host: host, port: u.port ?? 80)
        let address = socket.address, port = socket.port
        var head =
            "GET \(path) HTTP/1.1\r\nHost: \(address):\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        if let key = BlockingHTTPClient.apiKey { head += "Authorization: Bearer \(key)\r\n" }
        try writeAll(Array((head + "\r\n").utf8))
        // The answer's head, up to the blank line; what follows it is the first frames.
        var received: [UInt8] = []
        while true {
            guard let n = try? socket.receive(into: &chunk) else { throw Failure(description: "the server closed the connection during the upgrade") }
            received += chunk[0..<n]
            if let end = Self.headEnd(received) {
                let status = String(decoding: received[0..<end], as: UTF8.self).split(separator: " ").dropFirst().first.map(String.init) ?? ""
                guard status == "101" else { throw Failure(description: "the upgrade was answered \(String(decoding: received.prefix(200), as: UTF8.self))") }
                readBuffer = Array(received[(end + 4)...])
                break
            }
        }
    }

    private static func headEnd(_ b: [UInt8]) -> Int? {
        guard b.count >= 4 else { return nil }
        for i in 0...(b.count - 4) where b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 { return i }
        return nil
    }

    /// Sends one text frame (masked).
    func send(_ text: String) throws {
        let payload = Array(text.utf8)
        var frame: [UInt8] = [0x81]
        frame.reserveCapacity(payload.count + 14)
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else if payload.count <= 0xFFFF {
            frame.append(0x80 | 126)
            frame += [UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        } else {
            frame.append(0x80 | 127)
            frame += (0..<8).map { UInt8((UInt64(payload.count) >> (56 - 8 * $0)) & 0xFF) }
        }
        mask = mask &* 1_664_525 &+ 1_013_904_223
        let key = [UInt8(mask >> 24), UInt8((mask >> 16) & 0xFF), UInt8((mask >> 8) & 0xFF), UInt8(mask & 0xFF)]
        frame += key
        for (i, b) in payload.enumerated() { frame.append(b ^ key[i & 3]) }
        try writeAll(frame)
    }

    /// The next text frame's payload (control frames are skipped; a close frame ends the connection: nil).
    func receive() throws -> [UInt8]? {
        while true {
            let first = try byte(), second = try byte()
            var length = Int(second & 0x7F)
            if length == 126 {
                length = Int(try byte()) << 8 | Int(try byte())
            } else if length == 127 {
                length = 0
                for _ in 0..<8 { length = length << 8 | Int(try byte()) }
            }
            let payload = try bytes(length)
            switch first & 0x0F {
            case 0x1, 0x0, 0x2: return payload
            case 0x8: return nil
            default: continue
            }
        }
    }

    private func fill() throws {
        // What was read already is dropped once it is all of the buffer, or a large share of it.
        if readAt > 0 && (readAt == readBuffer.count || readAt >= 1 << 20) {
            readBuffer.removeFirst(readAt)
            readAt = 0
        }
        let n = try socket.receive(into: &chunk)
        readBuffer += chunk[0..<n]
    }

    private func byte() throws -> UInt8 {
        while readAt >= readBuffer.count { try fill() }
        defer { readAt += 1 }
        return readBuffer[readAt]
    }

    private func bytes(_ n: Int) throws -> [UInt8] {
        while readBuffer.count - readAt < n { try fill() }
        defer { readAt += n }
        return Array(readBuffer[readAt..<readAt + n])
    }

    private func writeAll(_ bytes: [UInt8]) throws { try socket.writeAll(bytes) }

    /// Closes the socket (a reader blocked in `receive` then fails).
    func shutdownBoth() { socket.shutdownBoth() }
}
