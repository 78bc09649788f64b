import Foundation
import Synchronization

/// What a FIX session keeps across connections and restarts: the next sequence number each way, the
/// messages it sent (to answer a ResendRequest), and when the current sequence period began (a daily
/// schedule starts a new one).
public protocol FIXMessageStore: AnyObject, Sendable {
    var nextSenderSeq: Int { get }
    var nextTargetSeq: Int { get }
    /// When the sequence numbers were last reset.
    var periodStart: Date { get }
    func setNextSenderSeq(_ seq: Int)
    func setNextTargetSeq(_ seq: Int)
    /// Keeps a sent message under its sequence number and advances the next sender number past it.
    func stored(_ seq: Int, _ message: [UInt8])
    /// The sent messages numbered `from...to`, in order (those kept).
    func messages(from: Int, to: Int) -> [(seq: Int, bytes: [UInt8])]
    /// Both numbers back to 1, the sent messages dropped, a new period from `at`.
    func reset(at: Date)
}

/// One change to a session's store, as a standby replays it (`FileFIXStore.replicate`, `apply`).
public enum FIXStoreOp: Sendable, Equatable {
    /// A sent message kept under its number.
    case stored(seq: Int, bytes: [UInt8])
    case nextSender(Int)
    case nextTarget(Int)
    /// Both numbers back to 1, the messages dropped, a new period from the date.
    case reset(periodStart: Date)

    /// `kind a\n` and, for a message, its bytes.
    public var encoded: [UInt8] {
        switch self {
        case .stored(let seq, let bytes): Array("M \(seq)\n".utf8) + bytes
        case .nextSender(let n): Array("S \(n)\n".utf8)
        case .nextTarget(let n): Array("T \(n)\n".utf8)
        case .reset(let date): Array("R \(Int64((date.timeIntervalSince1970 * 1000).rounded()))\n".utf8)
        }
    }

    /// The op `encoded` wrote, or nil.
    public init?(_ bytes: ArraySlice<UInt8>) {
        guard let nl = bytes.firstIndex(of: 10) else { return nil }
        let head = String(decoding: bytes[bytes.startIndex..<nl], as: UTF8.self).split(separator: " ")
        guard head.count == 2, let n = Int64(head[1]) else { return nil }
        switch head[0] {
        case "M": self = .stored(seq: Int(n), bytes: Array(bytes[(nl + 1)...]))
        case "S": self = .nextSender(Int(n))
        case "T": self = .nextTarget(Int(n))
        case "R": self = .reset(periodStart: Date(timeIntervalSince1970: Double(n) / 1000))
        default: return nil
        }
    }
}

/// A store in memory: for tests, and sessions that need not survive a restart.
public final class MemoryFIXStore: FIXMessageStore {
    private struct State {
        var sender = 1, target = 1
        var period: Date
        var sent: [Int: [UInt8]] = [:]
    }
    private let state: Mutex<State>

    public init(periodStart: Date = Date()) { state = Mutex(State(period: periodStart)) }

    public var nextSenderSeq: Int { state.withLock { $0.sender } }
    public var nextTargetSeq: Int { state.withLock { $0.target } }
    public var periodStart: Date { state.withLock { $0.period } }
    public func setNextSenderSeq(_ seq: Int) { state.withLock { $0.sender = seq } }
    public func setNextTargetSeq(_ seq: Int) { state.withLock { $0.target = seq } }
    public func stored(_ seq: Int, _ message: [UInt8]) {
        state.withLock {
            $0.sent[seq] = message
            $0.sender = max($0.sender, seq + 1)
        }
    }
    public func messages(from: Int, to: Int) -> [(seq: Int, bytes: [UInt8])] {
        state.withLock { s in s.sent.keys.filter { $0 >= from && $0 <= to }.sorted().map { ($0, s.sent[$0]!) } }
    }
    public func reset(at: Date) { state.withLock { $0 = State(period: at) } }
}

/// A store in a folder, one per session (`fix/<SenderCompID>-<TargetCompID>/` under the data folder):
///
/// - `seqnums`: the next sender and target numbers and the period's start, overwritten in place (one small
///   `pwrite`);
/// - `messages`: every sent message appended as `seq length\n` and its bytes.
///
/// Both are written before the message goes to the socket, without a sync: they survive the process being
/// killed (the page cache keeps them), as the journal's `--fsync never` does; a machine crash can lose the
/// last messages, and the counterparty's next ResendRequest gets a gap fill for them.
public final class FileFIXStore: FIXMessageStore {
    private struct State {
        var sender: Int
        var target: Int
        var period: Date
        /// Offset and length of each kept message in `messages`.
        var index: [Int: (offset: UInt64, length: Int)]
        var end: UInt64
    }
    private let folder: URL
    private let seqFD: Int32
    private let messagesFD: Int32
    private let state: Mutex<State>
    /// Where each change goes as it is made, besides the files (a replicated journal's FIX store topic).
    private let hook = Mutex<(@Sendable (FIXStoreOp) -> Void)?>(nil)

    public struct Failure: Error, CustomStringConvertible { public let description: String }

    /// Sends every change from now on to `sink` too, in the order made (nil: no longer).
    public func replicate(to sink: (@Sendable (FIXStoreOp) -> Void)?) { hook.withLock { $0 = sink } }

    private func emit(_ op: FIXStoreOp) { hook.withLock { $0 }?(op) }

    /// A change a leader made, applied to this (a standby's) copy.
    public func apply(_ op: FIXStoreOp) {
        switch op {
        case .stored(let seq, let bytes): write(seq, bytes, emitting: false)
        case .nextSender(let n):
            state.withLock {
                $0.sender = n; writeSeqNums($0)
            }
        case .nextTarget(let n):
            state.withLock {
                $0.target = n; writeSeqNums($0)
            }
        case .reset(let date): resetFiles(at: date)
        }
    }

    /// Opens (or creates) the store in `folder`.
    public init(folder: URL, now: Date = Date()) throws(Failure) {
        self.folder = folder
        do { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) } catch {
            throw Failure(description: "cannot create \(folder.path): \(error)")
        }
        let seqPath = folder.appendingPathComponent("seqnums").path
        let messagesPath = folder.appendingPathComponent("messages").path
        seqFD = open(seqPath, O_RDWR | O_CREAT, 0o600)
        messagesFD = open(messagesPath, O_RDWR | O_CREAT, 0o600)
        guard seqFD >= 0, messagesFD >= 0 else { throw Failure(description: "cannot open the FIX store in \(folder.path): errno \(errno)") }
        var sender = 1, target = 1, period = now
        if let text = try? String(contentsOfFile: seqPath, encoding: .utf8) {
            let parts = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\0" }).compactMap { Int64($0) }
            if parts.count >= 3, parts[0] >= 1, parts[1] >= 1 {
                sender = Int(parts[0]); target = Int(parts[1]); period = Date(timeIntervalSince1970: Double(parts[2]) / 1000)
            }
        }
        // The index of the sent messages; a torn last record (a crash mid-append) is cut off.
        var index: [Int: (offset: UInt64, length: Int)] = [:]
        let data = (try? Data(contentsOf: URL(fileURLWithPath: messagesPath))) ?? Data()
        let bytes = [UInt8](data)
        var i = 0
        while i < bytes.count {
            guard let nl = bytes[i...].firstIndex(of: 10) else { break }
            let head = String(decoding: bytes[i..<nl], as: UTF8.self).split(separator: " ")
            guard head.count == 2, let seq = Int(head[0]), let length = Int(head[1]), nl + 1 + length <= bytes.count else { break }
            index[seq] = (UInt64(nl + 1), length)
            i = nl + 1 + length
        }
        if i < bytes.count { _ = ftruncate(messagesFD, off_t(i)) }
        state = Mutex(State(sender: sender, target: target, period: period, index: index, end: UInt64(i)))
        if (try? String(contentsOfFile: seqPath, encoding: .utf8))?.isEmpty ?? true { state.withLock { writeSeqNums($0) } }
    }

    deinit {
        close(seqFD)
        close(messagesFD)
    }

    public var nextSenderSeq: Int { state.withLock { $0.sender } }
    public var nextTargetSeq: Int { state.withLock { $0.target } }
    public var periodStart: Date { state.withLock { $0.period } }

    public func setNextSenderSeq(_ seq: Int) {
        state.withLock {
            $0.sender = seq
            writeSeqNums($0)
            emit(.nextSender(seq))
        }
    }

    public func setNextTargetSeq(_ seq: Int) {
        state.withLock {
            guard $0.target != seq else { return }
            $0.target = seq
            writeSeqNums($0)
            emit(.nextTarget(seq))
        }
    }

    public func stored(_ seq: Int, _ message: [UInt8]) { write(seq, message, emitting: true) }

    private func write(_ seq: Int, _ message: [UInt8], emitting: Bool) {
        state.withLock { s in
            let record = Array("\(seq) \(message.count)\n".utf8) + message
            let written = record.withUnsafeBytes { pwrite(messagesFD, $0.baseAddress, record.count, off_t(s.end)) }
            if written == record.count {
                s.index[seq] = (s.end + UInt64(record.count - message.count), message.count)
                s.end += UInt64(record.count)
            }
            s.sender = max(s.sender, seq + 1)
            writeSeqNums(s)
            if emitting { emit(.stored(seq: seq, bytes: message)) }
        }
    }

    public func messages(from: Int, to: Int) -> [(seq: Int, bytes: [UInt8])] {
        state.withLock { s in
            s.index.keys.filter { $0 >= from && $0 <= to }.sorted().compactMap { seq in
                let (offset, length) = s.index[seq]!
                var bytes = [UInt8](repeating: 0, count: length)
                let read = bytes.withUnsafeMutableBytes { pread(messagesFD, $0.baseAddress, length, off_t(offset)) }
                return read == length ? (seq, bytes) : nil
            }
        }
    }

    public func reset(at: Date) {
        state.withLock { _ in emit(.reset(periodStart: at)) }
        resetFiles(at: at)
    }

    private func resetFiles(at: Date) {
        state.withLock { s in
            _ = ftruncate(messagesFD, 0)
            s = State(sender: 1, target: 1, period: at, index: [:], end: 0)
            writeSeqNums(s)
        }
    }

    private func writeSeqNums(_ s: State) {
        // Fixed width, so an overwrite in place never leaves a longer old tail behind.
        let text = String(format: "%020d %020d %020lld\n", s.sender, s.target, Int64((s.period.timeIntervalSince1970 * 1000).rounded()))
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { pwrite(seqFD, $0.baseAddress, bytes.count, 0) }
    }
}
