import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A minimal HTTP/1.1 client over one keep-alive TCP connection, for `ims load` and the benchmarks:
/// blocking, no allocation per request beyond the response, no event loop in the measurement.
final class BlockingHTTPClient {
    struct Failure: Error, CustomStringConvertible { var description: String }
    struct Response {
        var status: Int
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    let host: String
    let port: Int
    private var fd: Int32 = -1
    private var buffer = [UInt8](repeating: 0, count: 1 << 16)

    /// Parses `http://host:port` (the path, if any, is ignored).
    init(url: String) throws {
        guard let u = URL(string: url), u.scheme == "http", let host = u.host else {
            throw Failure(description: "expected a URL like http://127.0.0.1:8080, got \(url)")
        }
        self.host = host == "localhost" ? "127.0.0.1" : host
        self.port = u.port ?? 80
    }

    deinit { if fd >= 0 { close(fd) } }

    private func connect() throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket() failed") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else { throw Failure(description: "not an IPv4 address: \(host)") }
        let result = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            close(fd); fd = -1
            throw Failure(description: "cannot connect to \(host):\(port)")
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// The API key the client commands (`ims load`, `ims rules`, `ims bench`) sign in with: `IMS_API_KEY`
    /// (docs/security.md). Never logged.
    static let apiKey: String? = ProcessInfo.processInfo.environment["IMS_API_KEY"].flatMap { $0.isEmpty ? nil : $0 }

    func get(_ path: String) throws -> Response { try request("GET", path, body: [], contentType: nil) }

    func post(_ path: String, body: [UInt8], contentType: String = "application/x-ndjson") throws -> Response {
        try request("POST", path, body: body, contentType: contentType)
    }

    func request(_ method: String, _ path: String, body: [UInt8], contentType: String?) throws -> Response {
        if fd < 0 { try connect() }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nContent-Length: \(body.count)\r\n"
        if let contentType { head += "Content-Type: \(contentType)\r\n" }
        if let key = Self.apiKey { head += "Authorization: Bearer \(key)\r\n" }
        head += "\r\n"
        try writeAll(Array(head.utf8))
        if !body.isEmpty { try writeAll(body) }
        return try readResponse()
    }

    private func writeAll(_ bytes: [UInt8]) throws {
        var sent = 0
        try bytes.withUnsafeBytes { raw in
            while sent < raw.count {
                let n = send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                if n <= 0 { close(fd); fd = -1; throw Failure(description: "connection closed while sending") }
                sent += n
            }
        }
    }

    private func readResponse() throws -> Response {
        var data: [UInt8] = []
        var headerEnd = -1
        while headerEnd < 0 {
            try readMore(into: &data)
            headerEnd = find(data, [13, 10, 13, 10])
        }
        let head = String(decoding: data[0..<headerEnd], as: UTF8.self)
        let lines = head.split(separator: "\r\n")
        guard let statusLine = lines.first, statusLine.split(separator: " ").count >= 2,
            let status = Int(statusLine.split(separator: " ")[1])
        else { throw Failure(description: "bad response: \(head.prefix(80))") }
        var length = 0
        for line in lines.dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "content-length" { length = Int(parts[1].trimmingCharacters(in: .whitespaces)) ?? 0 }
        }
        let bodyStart = headerEnd + 4
        while data.count < bodyStart + length { try readMore(into: &data) }
        return Response(status: status, body: Array(data[bodyStart..<bodyStart + length]))
    }

    private func readMore(into data: inout [UInt8]) throws {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
        if n <= 0 { close(fd); fd = -1; throw Failure(description: "connection closed by the server") }
        data.append(contentsOf: buffer[0..<n])
    }

    private func find(_ data: [UInt8], _ pattern: [UInt8]) -> Int {
        guard data.count >= pattern.count else { return -1 }
        for i in 0...(data.count - pattern.count) where data[i] == pattern[0] && Array(data[i..<i + pattern.count]) == pattern { return i }
        return -1
    }
}
