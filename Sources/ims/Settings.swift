import Configuration
import Foundation
import IMSEngine
import IMSJournal
import SystemPackage
import Yams

/// A setting's value: every setting of IMS is a whole number or a text.
enum SettingValue: Sendable, Equatable, CustomStringConvertible {
    case int(Int)
    case string(String)

    var description: String {
        switch self {
        case .int(let n): "\(n)"
        case .string(let s): s
        }
    }

    var configValue: ConfigValue {
        switch self {
        case .int(let n): ConfigValue(.int(n), isSecret: false)
        case .string(let s): ConfigValue(.string(s), isSecret: false)
        }
    }
}

/// One thing an operator may set. Its key names it in a configuration file (`dataDir`); its environment
/// variable (`IMS_DATA_DIR`) and its flag (`--data-dir`) are spelled from the key.
struct Setting: Sendable {
    /// What a value must be.
    enum Rule: Sendable {
        /// A whole number in the range.
        case int(ClosedRange<Int>)
        /// One of the listed numbers.
        case intOneOf([Int])
        /// A text that is not empty.
        case text
        /// One of the listed words.
        case oneOf([String])
        /// A text the check accepts; `expected` says what is accepted.
        case textMatching(expected: String, check: @Sendable (String) -> Bool)

        var type: ConfigType {
            switch self {
            case .int, .intOneOf: .int
            case .text, .oneOf, .textMatching: .string
            }
        }
    }

    let key: String
    let rule: Rule
    /// nil: unset unless an operator sets it.
    let defaultValue: SettingValue?

    var environmentVariable: String { "IMS_" + Self.words(key).map { $0.uppercased() }.joined(separator: "_") }
    var flag: String { "--" + Self.words(key).map { $0.lowercased() }.joined(separator: "-") }

    /// `maxBodyBytes` → `max`, `Body`, `Bytes` (the word boundaries swift-configuration's environment
    /// provider and ArgumentParser both use: a lower-case letter followed by an upper-case one).
    private static func words(_ key: String) -> [String] {
        var words: [String] = []
        var current = ""
        var previousWasLower = false
        for c in key {
            if c.isUppercase && previousWasLower {
                words.append(current)
                current = ""
            }
            current.append(c)
            previousWasLower = c.isLowercase
        }
        words.append(current)
        return words
    }

    /// Why `value` breaks the rule, or nil when it keeps it.
    func problem(with value: SettingValue) -> String? {
        switch (rule, value) {
        case (.int(let range), .int(let n)):
            guard !range.contains(n) else { return nil }
            if range.upperBound == .max { return "must be at least \(range.lowerBound)" }
            return "must be from \(range.lowerBound) to \(range.upperBound)"
        case (.intOneOf(let allowed), .int(let n)):
            return allowed.contains(n) ? nil : "must be one of \(allowed.map(String.init).joined(separator: ", "))"
        case (.text, .string(let s)):
            return s.isEmpty ? "must not be empty" : nil
        case (.oneOf(let words), .string(let s)):
            return words.contains(s) ? nil : "must be one of \(words.joined(separator: ", "))"
        case (.textMatching(let expected, let check), .string(let s)):
            return check(s) ? nil : "must be \(expected)"
        case (.int, _), (.intOneOf, _):
            return "must be a whole number"
        case (.text, _), (.oneOf, _), (.textMatching, _):
            return "must be a text"
        }
    }

    /// The flag's help: what it does and what it is unless set.
    func help(_ text: String) -> String {
        let unset = defaultValue.map { "default: \($0)" } ?? "unset by default"
        return "\(text) (\(unset); file key \(key), environment \(environmentVariable))"
    }
}

/// Every setting of `ims serve`, `ims demo` and `ims replay`, in the order `ims config print` lists them.
enum Settings {
    static let all: [Setting] = [
        Setting(key: "host", rule: .text, defaultValue: .string("127.0.0.1")),
        Setting(key: "port", rule: .int(0...65_535), defaultValue: .int(8080)),
        Setting(key: "marketsDir", rule: .text, defaultValue: nil),
        Setting(key: "partitions", rule: .intOneOf([1, 2, 4, 8]), defaultValue: .int(EngineState.defaultPartitionCount)),
        Setting(key: "maxBodyBytes", rule: .int(1...(1 << 40)), defaultValue: .int(64 << 20)),
        Setting(key: "maxFutureSeconds", rule: .int(0...31_622_400), defaultValue: .int(300)),
        Setting(key: "streamHeartbeatMs", rule: .int(10...3_600_000), defaultValue: .int(5_000)),
        Setting(key: "streamMaxPending", rule: .int(1...Int.max), defaultValue: .int(100_000)),
        Setting(key: "writeStallMs", rule: .int(1...Int.max), defaultValue: .int(30_000)),
        Setting(key: "maxConnections", rule: .int(1...Int.max), defaultValue: .int(10_000)),
        Setting(key: "headTimeoutSeconds", rule: .int(1...86_400), defaultValue: .int(10)),
        Setting(key: "idleTimeoutSeconds", rule: .int(1...86_400), defaultValue: .int(60)),
        Setting(key: "logFormat", rule: .oneOf(["json", "text"]), defaultValue: .string("json")),
        Setting(key: "logLevel", rule: .oneOf(["trace", "debug", "info", "notice", "warning", "error", "critical"]), defaultValue: .string("info")),
        Setting(key: "apiKeys", rule: .text, defaultValue: nil),
        Setting(key: "jwtSecretFile", rule: .text, defaultValue: nil),
        Setting(key: "jwtPublicKeyFile", rule: .text, defaultValue: nil),
        Setting(key: "jwtIssuer", rule: .text, defaultValue: .string("ims")),
        Setting(key: "jwtAudience", rule: .text, defaultValue: .string("ims")),
        Setting(key: "jwtMaxLifetimeSeconds", rule: .int(1...31_622_400), defaultValue: .int(86_400)),
        Setting(key: "rateLimit", rule: .int(0...Int.max), defaultValue: .int(20_000)),
        Setting(key: "streamsPerIdentity", rule: .int(1...100_000), defaultValue: .int(32)),
        Setting(key: "decisionChannelMaxUnread", rule: .int(1...10_000_000), defaultValue: .int(10_000)),
        Setting(key: "fixPort", rule: .int(0...65_535), defaultValue: nil),
        Setting(key: "fixSessions", rule: .text, defaultValue: nil),
        Setting(key: "fixCompId", rule: .text, defaultValue: .string("IMS")),
        Setting(key: "tlsCertificateFile", rule: .text, defaultValue: nil),
        Setting(key: "tlsKeyFile", rule: .text, defaultValue: nil),
        Setting(key: "dataDir", rule: .text, defaultValue: .string("./ims-data")),
        Setting(
            key: "fsync", rule: .textMatching(expected: "batch, <N>ms or never", check: { SyncPolicy(argument: $0) != nil }),
            defaultValue: .string("batch")),
        Setting(key: "snapshotEvery", rule: .int(1...Int.max), defaultValue: .int(5_000_000)),
        Setting(key: "journal", rule: .oneOf(["file", "kafka"]), defaultValue: .string("file")),
        Setting(key: "kafkaBrokers", rule: .text, defaultValue: nil),
        Setting(key: "kafkaTopic", rule: .text, defaultValue: .string("ims-journal")),
        Setting(key: "kafkaNode", rule: .text, defaultValue: nil),
        Setting(key: "kafkaAdvertisedUrl", rule: .text, defaultValue: nil),
        Setting(key: "kafkaLeaseMs", rule: .int(50...600_000), defaultValue: .int(1_000)),
        Setting(key: "kafkaHeartbeatMs", rule: .int(10...60_000), defaultValue: .int(200)),
        Setting(key: "kafkaPublishPrefix", rule: .text, defaultValue: nil),
        Setting(key: "kafkaFeedTopics", rule: .text, defaultValue: nil),
        Setting(key: "kafkaFeedGroup", rule: .text, defaultValue: .string("ims")),
        Setting(key: "kafkaDeadLetterTopic", rule: .text, defaultValue: nil),
        Setting(
            key: "history",
            rule: .textMatching(
                expected: "postgres://user[:password]@host[:port]/database", check: { $0.hasPrefix("postgres://") || $0.hasPrefix("postgresql://") }),
            defaultValue: nil),
        Setting(key: "historySnapshotSeconds", rule: .int(1...86_400), defaultValue: .int(60)),
        Setting(key: "historyTickSeconds", rule: .int(1...3_600), defaultValue: .int(1)),
        Setting(key: "historyRetentionDays", rule: .int(0...36_500), defaultValue: .int(400)),
        Setting(key: "historyTrailRetentionDays", rule: .int(0...36_500), defaultValue: .int(2_557)),
        Setting(key: "historyMaxBufferedRows", rule: .int(1_000...100_000_000), defaultValue: .int(200_000)),
    ]

    static func named(_ key: String) -> Setting {
        guard let setting = all.first(where: { $0.key == key }) else { preconditionFailure("no setting \(key)") }
        return setting
    }

    /// Help for the flag of `key`.
    static func help(_ key: String, _ text: String) -> String { named(key).help(text) }

    /// Resolves every setting: a flag wins over an environment variable, which wins over the configuration
    /// file, which wins over the default. Each value is checked against its rule; the first that breaks it
    /// is refused, naming the key, the value and where it came from.
    static func resolve(
        flags: [String: SettingValue], configFile: String?,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws -> ResolvedSettings {
        var file: ConfigFile?
        if let configFile { file = try await ConfigFile.load(configFile) }
        // Each source: how it is named in `ims config print` and errors, the text it holds for a key (to quote
        // in an error), and its provider.
        typealias Source = (label: (Setting) -> String, text: (Setting) -> String?, provider: any ConfigProvider)
        var sources: [Source] = [
            (
                { "flag \($0.flag)" }, { flags[$0.key].map(String.init(describing:)) },
                InMemoryProvider(
                    name: "flags", values: Dictionary(uniqueKeysWithValues: flags.map { (AbsoluteConfigKey(ConfigKey($0.key)), $0.value.configValue) }))
            ),
            (
                { "environment \($0.environmentVariable)" }, { environment[$0.environmentVariable] },
                EnvironmentVariablesProvider(environmentVariables: environment).prefixKeys(with: "ims")
            ),
        ]
        if let file { sources.append(({ _ in "file \(file.path)" }, { file.texts[$0.key] }, file.provider)) }
        let defaults = Dictionary(uniqueKeysWithValues: all.compactMap { s in s.defaultValue.map { (AbsoluteConfigKey(ConfigKey(s.key)), $0.configValue) } })
        sources.append(({ _ in "default" }, { $0.defaultValue?.description }, InMemoryProvider(name: "defaults", values: defaults)))

        let recorder = AccessRecorder()
        let reader = ConfigReader(providers: sources.map(\.provider), accessReporter: recorder)
        var entries: [ResolvedSettings.Entry] = []
        for setting in all {
            let key = ConfigKey(setting.key)
            switch setting.rule.type {
            case .int: _ = reader.int(forKey: key)
            default: _ = reader.string(forKey: key)
            }
            guard let event = recorder.take() else { preconditionFailure("no access event for \(setting.key)") }
            // The providers answer in order: the last one asked gave the value, or failed to read it (a
            // lookup that fails is reported as nil by the reader, so the failure is looked for here).
            let index = event.providerResults.count - 1
            let source = index >= 0 ? sources[index].label(setting) : "default"
            let raw = index >= 0 ? sources[index].text(setting) : nil
            let expected = setting.rule.type == .int ? "must be a whole number" : "must be a text"
            if let last = event.providerResults.last, case .failure = last.result {
                throw ConfigurationError(setting: setting, value: raw, source: source, problem: expected)
            }
            if case .failure = event.result {
                throw ConfigurationError(setting: setting, value: raw, source: source, problem: expected)
            }
            if event.conversionError != nil {
                throw ConfigurationError(setting: setting, value: raw, source: source, problem: expected)
            }
            guard case .success(let found) = event.result, let found else {
                entries.append(.init(setting: setting, value: nil, source: "default"))
                continue
            }
            let value: SettingValue
            switch found.content {
            case .int(let n): value = .int(n)
            case .string(let s): value = .string(s)
            default: throw ConfigurationError(setting: setting, value: raw, source: source, problem: "must be a single value")
            }
            if let problem = setting.problem(with: value) {
                throw ConfigurationError(setting: setting, value: value.description, source: source, problem: problem)
            }
            entries.append(.init(setting: setting, value: value, source: source))
        }
        return ResolvedSettings(entries: entries, configFile: file?.path)
    }
}

/// The effective settings and where each came from.
struct ResolvedSettings: Sendable {
    struct Entry: Sendable {
        let setting: Setting
        let value: SettingValue?
        /// `flag --port`, `environment IMS_PORT`, `file ims.json` or `default`.
        let source: String
    }

    let entries: [Entry]
    let configFile: String?

    func value(_ key: String) -> SettingValue? {
        guard let entry = entries.first(where: { $0.setting.key == key }) else { preconditionFailure("no setting \(key)") }
        return entry.value
    }

    func int(_ key: String) -> Int {
        guard case .int(let n) = value(key) else { preconditionFailure("\(key) is not a number") }
        return n
    }

    func string(_ key: String) -> String {
        guard case .string(let s) = value(key) else { preconditionFailure("\(key) is not a text") }
        return s
    }

    func optionalString(_ key: String) -> String? {
        if case .string(let s) = value(key) { return s }
        return nil
    }
}

/// A value an operator gave that IMS cannot run with.
struct ConfigurationError: Error, CustomStringConvertible {
    let message: String

    init(_ message: String) { self.message = message }

    init(setting: Setting, value: String?, source: String, problem: String) {
        let shown = value.map { " = \"\($0)\"" } ?? ""
        message = "configuration key \(setting.key)\(shown) (from \(source)) \(problem)"
    }

    var description: String { message }
}

/// A configuration file: JSON (`.json`) or YAML (`.yaml`, `.yml`), an object of setting keys.
struct ConfigFile {
    let path: String
    let provider: any ConfigProvider
    /// Each key's value as text, to quote in an error.
    let texts: [String: String]

    static func load(_ path: String) async throws -> ConfigFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("configuration file \(path) cannot be read")
        }
        let lower = path.lowercased()
        let isYAML = lower.hasSuffix(".yaml") || lower.hasSuffix(".yml")
        guard isYAML || lower.hasSuffix(".json") else {
            throw ConfigurationError("configuration file \(path): name it .json, .yaml or .yml")
        }
        let object: Any?
        do {
            object =
                isYAML
                ? try Yams.load(yaml: String(decoding: data, as: UTF8.self))
                : try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            let reason = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
            throw ConfigurationError("configuration file \(path) is not valid \(isYAML ? "YAML" : "JSON"): \(reason)")
        }
        guard let dictionary = object as? [String: Any] else {
            throw ConfigurationError("configuration file \(path) must hold an object of settings (\"port\": 8080, …)")
        }
        let known = Set(Settings.all.map(\.key))
        if let unknown = dictionary.keys.sorted().first(where: { !known.contains($0) }) {
            throw ConfigurationError("configuration file \(path): unknown key \(unknown) (known keys: \(Settings.all.map(\.key).joined(separator: ", ")))")
        }
        let texts = dictionary.mapValues { "\($0)" }
        do {
            let provider: any ConfigProvider =
                isYAML
                ? try await FileProvider<YAMLSnapshot>(filePath: FilePath(path))
                : try await FileProvider<JSONSnapshot>(filePath: FilePath(path))
            return ConfigFile(path: path, provider: provider, texts: texts)
        } catch {
            throw ConfigurationError("configuration file \(path): \(error)")
        }
    }
}

/// Keeps the access event of the one lookup in progress. `@unchecked Sendable`: swift-configuration
/// calls it synchronously, on the thread of the lookup that the settings make one at a time at start.
private final class AccessRecorder: AccessReporter, @unchecked Sendable {
    private let lock = NSLock()
    private var last: AccessEvent?

    func report(_ event: AccessEvent) {
        lock.lock(); last = event; lock.unlock()
    }

    func take() -> AccessEvent? {
        lock.lock(); defer { last = nil; lock.unlock() }
        return last
    }
}
