import Foundation
import IMSDomain
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// swift-log's handler for IMS: one JSON object per line on standard error —
/// `{"time":"2026-11-29T19:01:49.123Z","level":"info","logger":"ims","message":"…", …metadata}` — or, with
/// `--log-format text`, a line for a terminal. Metadata values are strings, or arrays and objects of them.
public struct IMSLogHandler: LogHandler {
    public enum Format: String, Sendable, CaseIterable {
        case json
        case text
    }

    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let format: Format

    /// A `IMSLogHandler` from its fields.
    public init(label: String, format: Format, level: Logger.Level) {
        self.label = label
        self.format = format
        logLevel = level
    }

    /// Makes every `Logger` of the process use this handler (once per process).
    public static func bootstrap(format: Format, level: Logger.Level) {
        LoggingSystem.bootstrap { label in IMSLogHandler(label: label, format: format, level: level) }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes one log line.
    public func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { _, new in new } }
        if let extra = event.metadata { all.merge(extra) { _, new in new } }
        let line = format == .json ? json(event, all) : text(event, all)
        Self.write(line + "\n")
    }

    private func json(_ event: LogEvent, _ metadata: Logger.Metadata) -> String {
        var j = JSONText(capacity: 256)
        j.object { j in
            j.field("time", Self.time())
            j.field("level", event.level.rawValue)
            j.field("logger", label)
            j.field("message", event.message.description)
            for key in metadata.keys.sorted() {
                j.key(dynamic: key)
                Self.write(metadata[key]!, into: &j)
            }
        }
        return j.text
    }

    private static func write(_ value: Logger.Metadata.Value, into j: inout JSONText) {
        switch value {
        case .string(let s): j.string(s)
        case .stringConvertible(let c): j.string(c.description)
        case .array(let values): j.array { j in for v in values { write(v, into: &j) } }
        case .dictionary(let d):
            j.object { j in
                for key in d.keys.sorted() {
                    j.key(dynamic: key)
                    write(d[key]!, into: &j)
                }
            }
        }
    }

    private func text(_ event: LogEvent, _ metadata: Logger.Metadata) -> String {
        var line = "\(Self.time()) \(event.level.rawValue.uppercased()) \(label): \(event.message)"
        for key in metadata.keys.sorted() { line += " \(key)=\(metadata[key]!)" }
        return line
    }

    /// UTC, millisecond precision, ISO 8601.
    static func time() -> String {
        let now = Date()
        let micros = Int64(now.timeIntervalSince1970 * 1_000_000)
        let date = BusinessDate(dayNumber: Int32(micros / 86_400_000_000))
        let ms = micros / 1_000 % 86_400_000
        func pad(_ v: Int64, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(date)T\(pad(ms / 3_600_000, 2)):\(pad(ms / 60_000 % 60, 2)):\(pad(ms / 1_000 % 60, 2)).\(pad(ms % 1_000, 3))Z"
    }

    private static let lock = Mutex(())
    static func write(_ line: String) {
        lock.withLock { _ in
            var line = line
            line.withUTF8 { bytes in
                var offset = 0
                while offset < bytes.count {
                    let n = Glibc.write(2, bytes.baseAddress! + offset, bytes.count - offset)
                    if n <= 0 { return }
                    offset += n
                }
            }
        }
    }
}
