import Glibc

/// Thin, throwing wrappers over the POSIX file calls the journal and snapshots need.
enum FileIO {
    struct Failure: Error, CustomStringConvertible {
        var operation: String
        var path: String
        var code: Int32
        var description: String { "\(operation) \(path): \(String(cString: strerror(code))) (errno \(code))" }
    }

    static func open(_ path: String, flags: Int32, mode: mode_t = 0o644) throws(Failure) -> Int32 {
        let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
        if fd < 0 { throw Failure(operation: "open", path: path, code: errno) }
        return fd
    }

    /// Writes all of `bytes` at `offset`, retrying short writes.
    static func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int, path: String) throws(Failure) {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(operation: "write", path: path, code: errno)
            }
            if n == 0 { throw Failure(operation: "write", path: path, code: EIO) }
            done += n
        }
    }

    static func syncData(_ fd: Int32, path: String) throws(Failure) {
        if fdatasync(fd) != 0 { throw Failure(operation: "fdatasync", path: path, code: errno) }
    }

    static func truncate(_ fd: Int32, to size: Int, path: String) throws(Failure) {
        if ftruncate(fd, off_t(size)) != 0 { throw Failure(operation: "ftruncate", path: path, code: errno) }
    }

    /// Makes a directory's entries (new, renamed or removed files) durable.
    static func syncDirectory(_ path: String) throws(Failure) {
        let fd = try open(path, flags: O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        if fsync(fd) != 0 { throw Failure(operation: "fsync", path: path, code: errno) }
    }

    /// The whole content of the file at `path`.
    static func readAll(_ path: String) throws(Failure) -> [UInt8] {
        let fd = try open(path, flags: O_RDONLY)
        defer { close(fd) }
        let size = try size(of: fd, path: path)
        var failure: Failure?
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            guard let base = buffer.baseAddress else { count = 0; return }
            do throws(Failure) { count = try read(fd, size: size, into: base, path: path) } catch { failure = error; count = 0 }
        }
        if let failure { throw failure }
        return bytes
    }

    /// The size in bytes of the file open as `fd`.
    fileprivate static func size(of fd: Int32, path: String) throws(Failure) -> Int {
        var st = stat()
        if fstat(fd, &st) != 0 { throw Failure(operation: "stat", path: path, code: errno) }
        return Int(st.st_size)
    }

    /// Reads the whole file open as `fd` into `destination` (at least `size` bytes); returns the bytes read.
    fileprivate static func read(_ fd: Int32, size: Int, into destination: UnsafeMutableRawPointer, path: String) throws(Failure) -> Int {
        var done = 0
        while done < size {
            let n = pread(fd, destination + done, size - done, off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(operation: "read", path: path, code: errno)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    static func makeDirectory(_ path: String) throws(Failure) {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o755) != 0 && errno != EEXIST { throw Failure(operation: "mkdir", path: current, code: errno) }
        }
    }

    /// Names of the entries of a directory, sorted.
    static func list(_ path: String) throws(Failure) -> [String] {
        guard let dir = opendir(path) else { throw Failure(operation: "opendir", path: path, code: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    static func rename(_ from: String, _ to: String) throws(Failure) {
        if Glibc.rename(from, to) != 0 { throw Failure(operation: "rename", path: from, code: errno) }
    }

    static func remove(_ path: String) {
        unlink(path)
    }

    static func size(_ path: String) -> Int? {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : nil
    }

    static func close(_ fd: Int32) { _ = Glibc.close(fd) }

    /// Bytes an unprivileged process may still write on the file system holding `path`; nil if unknown.
    static func freeBytes(_ path: String) -> Int64? {
        var st = statvfs()
        guard statvfs(path, &st) == 0 else { return nil }
        return Int64(st.f_bavail) * Int64(st.f_frsize)
    }

    /// Writes all of `bytes` at `offset`.
    static func write(_ fd: Int32, _ bytes: [UInt8], at offset: Int, path: String) throws(Failure) {
        var failure: Failure?
        bytes.withUnsafeBytes { raw in
            do throws(Failure) { try write(fd, raw, at: offset, path: path) } catch { failure = error }
        }
        if let failure { throw failure }
    }
}

/// Memory for reading whole files one after another, reused so that each read neither faults in nor
/// zeroes fresh pages (the journal's segments are 64 MiB each).
final class ReadBuffer {
    private var storage = UnsafeMutableRawBufferPointer(start: nil, count: 0)

    deinit { storage.deallocate() }

    /// The content of the file at `path`; valid until the next `read`.
    func read(_ path: String) throws(FileIO.Failure) -> UnsafeRawBufferPointer {
        let fd = try FileIO.open(path, flags: O_RDONLY)
        defer { FileIO.close(fd) }
        let size = try FileIO.size(of: fd, path: path)
        if size > storage.count {
            storage.deallocate()
            storage = .allocate(byteCount: size, alignment: 64)
        }
        guard let base = storage.baseAddress else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        let read = try FileIO.read(fd, size: size, into: base, path: path)
        return UnsafeRawBufferPointer(start: base, count: read)
    }
}
