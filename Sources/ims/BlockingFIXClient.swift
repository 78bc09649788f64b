import Foundation
import IMSFIX

/// A minimal FIX 4.4 initiator over one blocking socket, for `ims bench decisions --channel fix`: it logs on
/// (resetting both sequences), numbers what it sends, and reads IMS's messages one at a time. One thread sends
/// while another reads; the session layer's finer points (resends, test requests) are not needed for a run.
final class BlockingFIXClient: @unchecked Sendable {
    // `@unchecked Sendable`: `send` is called from one thread, `receive` from another; each has its own fields.
    private let socket: BlockingSocket
    private let sender: String, target: String
    private var seq = 1
    private var buffer: [UInt8] = []
    private var chunk = [UInt8](repeating: 0, count: 1 << 16)

    init(host: String, port: Int, sender: String, target: String, password: String?) throws {
        socket = try BlockingSocket(host: host, port: port)
        self.sender = sender
        self.target = target
        var logon = [(Tag.encryptMethod, "0"), (Tag.heartBtInt, "30"), (Tag.resetSeqNumFlag, "Y")]
        if let password { logon.append((Tag.password, password)) }
        try send([FIXMessage("A", logon)])
        guard let answer = try receive(), answer.msgType == "A" else {
            throw BlockingSocket.Failure(description: "the FIX Logon was not answered with a Logon (is \(sender)→\(target) a session of the server?)")
        }
    }

    /// Sends `messages` in one write, numbered in order.
    func send(_ messages: [FIXMessage]) throws {
        var bytes: [UInt8] = []
        let time = FIXTime.format(Date())
        for m in messages {
            var out = FIXMessage(m.msgType, [(Tag.senderCompID, sender), (Tag.targetCompID, target), (Tag.msgSeqNum, String(seq)), (Tag.sendingTime, time)])
            out.fields += m.fields.dropFirst()
            seq += 1
            bytes += out.encoded(beginString: "FIX.4.4")
        }
        try socket.writeAll(bytes)
    }

    /// The next message from IMS (nil once the connection closes).
    func receive() throws -> FIXMessage? {
        while true {
            let frame = buffer.withUnsafeBytes { FIXFraming.next($0) }
            switch frame {
            case .message(let m, _, let consumed):
                buffer.removeFirst(consumed)
                return m
            case .garbled(let why, _):
                throw BlockingSocket.Failure(description: "IMS sent a garbled FIX message: \(why)")
            case .needMore:
                guard let n = try? socket.receive(into: &chunk) else { return nil }
                buffer += chunk[0..<n]
            }
        }
    }

    func shutdownBoth() { socket.shutdownBoth() }
}
