import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One blocking TCP connection (IPv4, `TCP_NODELAY`), for the benchmarks' clients: one thread may write while
/// another reads.
final class BlockingSocket: @unchecked Sendable {
    // `@unchecked Sendable`: the descriptor is written and read by one thread each; the kernel orders them.
    struct Failure: Error, CustomStringConvertible { var description: String }

    let fd: Int32
    let address: String
    let port: Int

    /// Connects to `host:port` (`localhost` is 127.0.0.1).
    init(host: String, port: Int) throws {
        address = host == "localhost" ? "127.0.0.1" : host
        self.port = port
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket() failed") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, address, &addr.sin_addr) == 1 else {
            close(fd)
            throw Failure(description: "not an IPv4 address: \(address)")
        }
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw Failure(description: "cannot connect to \(address):\(port)")
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { close(fd) }

    /// Writes all of `bytes`.
    func writeAll(_ bytes: [UInt8]) throws {
        var sent = 0
        try bytes.withUnsafeBytes { raw in
            while sent < raw.count {
                let n = Glibc.send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                if n <= 0 { throw Failure(description: "the connection closed while sending") }
                sent += n
            }
        }
    }

    /// Reads what has arrived (at least a byte) into `chunk`; the count, or an error once the peer closed.
    func receive(into chunk: inout [UInt8]) throws -> Int {
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
        guard n > 0 else { throw Failure(description: "the server closed the connection") }
        return n
    }

    /// Closes both directions (a reader blocked in `receive` then fails).
    func shutdownBoth() { shutdown(fd, Int32(SHUT_RDWR)) }
}
