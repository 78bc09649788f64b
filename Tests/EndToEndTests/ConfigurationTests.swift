import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Settings from a file, the environment and flags, through the real binary.
struct ConfigurationTests {
    /// `ims config print --format json`: key → (value, source).
    static func effective(_ arguments: [String], environment: [String: String] = [:]) throws -> [String: (value: Any, source: String)] {
        let r = try IMSProcess.run(["config", "print", "--format", "json"] + arguments, environment: environment)
        #expect(r.status == 0, "\(r.err)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        let settings = try #require(object["settings"] as? [String: [String: Any]])
        return settings.mapValues { ($0["value"] as Any, $0["source"] as? String ?? "") }
    }

    static func write(_ text: String, named name: String) throws -> URL {
        let dir = IMSProcess.freshDirectory()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url
    }

    @Test(arguments: ["json", "yaml"])
    func aFlagBeatsTheEnvironmentWhichBeatsTheFileWhichBeatsTheDefault(format: String) throws {
        let file =
            format == "json"
            ? try Self.write(#"{"port": 9001, "dataDir": "/from/file", "fsync": "never", "logLevel": "debug"}"#, named: "ims.json")
            : try Self.write("port: 9001\ndataDir: /from/file\nfsync: never\nlogLevel: debug\n", named: "ims.yaml")
        let environment = ["IMS_PORT": "9002", "IMS_DATA_DIR": "/from/environment"]
        let s = try Self.effective(["--config", file.path, "--port", "9003"], environment: environment)
        #expect(s["port"]?.value as? Int == 9003)
        #expect(s["port"]?.source == "flag --port")
        #expect(s["dataDir"]?.value as? String == "/from/environment")
        #expect(s["dataDir"]?.source == "environment IMS_DATA_DIR")
        #expect(s["fsync"]?.value as? String == "never")
        #expect(s["fsync"]?.source == "file \(file.path)")
        #expect(s["logLevel"]?.value as? String == "debug")
        #expect(s["host"]?.value as? String == "127.0.0.1")
        #expect(s["host"]?.source == "default")
        #expect(s["marketsDir"]?.value is NSNull)

        // Without the flag the environment wins; without the environment, the file; IMS_CONFIG names the file.
        let fromEnvironment = try Self.effective([], environment: ["IMS_CONFIG": file.path, "IMS_PORT": "9002"])
        #expect(fromEnvironment["port"]?.value as? Int == 9002)
        #expect(fromEnvironment["port"]?.source == "environment IMS_PORT")
        let fromFile = try Self.effective(["--config", file.path])
        #expect(fromFile["port"]?.value as? Int == 9001)
        #expect(fromFile["port"]?.source == "file \(file.path)")
    }

    @Test func theTablePrintsEachValueWithItsSource() throws {
        let r = try IMSProcess.run(["config", "print", "--max-connections", "40"], environment: ["IMS_SNAPSHOT_EVERY": "1000"])
        #expect(r.status == 0)
        let lines = r.out.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        #expect(lines.contains("maxConnections 40 flag --max-connections"), "\(r.out)")
        #expect(lines.contains("snapshotEvery 1000 environment IMS_SNAPSHOT_EVERY"), "\(r.out)")
        #expect(lines.contains("port 8080 default"), "\(r.out)")
    }

    /// The example shipped in deploy/ sets every key (but the optional markets folder, key and TLS files, and
    /// the Kafka journal's brokers, node name and advertised address, the optional topics in and out, and the FIX
    /// acceptor's port and sessions) to a
    /// value IMS accepts (files that name credentials and certificates are shown commented out).
    @Test func theShippedExampleSetsEveryKeyItsDefault() throws {
        let example = IMSProcess.root.appendingPathComponent("deploy/ims.example.yaml").path
        let fromExample = try Self.effective(["--config", example])
        let defaults = try Self.effective([])
        for (key, setting) in fromExample
        where ![
            "marketsDir", "apiKeys", "jwtSecretFile", "jwtPublicKeyFile", "tlsCertificateFile", "tlsKeyFile", "kafkaBrokers", "kafkaNode",
            "kafkaAdvertisedUrl", "kafkaPublishPrefix", "kafkaFeedTopics", "kafkaDeadLetterTopic", "history", "fixPort", "fixSessions",
        ].contains(key) {
            #expect(setting.source == "file \(example)", "\(key) is not in the example")
            #expect("\(setting.value)" == "\(defaults[key]?.value ?? "none")", "\(key): the example's value is not the default")
        }
        #expect(fromExample.count == defaults.count)
    }

    /// A value IMS cannot run with stops `ims serve` before it listens, naming the key, the value and its source.
    @Test func aBadValueIsRefusedAtStartupNamingTheKey() throws {
        let cases: [(arguments: [String], environment: [String: String], message: String)] = [
            ([], ["IMS_PORT": "abc"], #"configuration key port = "abc" (from environment IMS_PORT) must be a whole number"#),
            ([], ["IMS_PARTITIONS": "3"], #"configuration key partitions = "3" (from environment IMS_PARTITIONS) must be one of 1, 2, 4, 8"#),
            (["--port", "70000"], [:], #"configuration key port = "70000" (from flag --port) must be from 0 to 65535"#),
            (["--fsync", "sometimes"], [:], #"configuration key fsync = "sometimes" (from flag --fsync) must be batch, <N>ms or never"#),
            (["--config", try Self.write(#"{"maxConnections": "many"}"#, named: "ims.json").path], [:], #"configuration key maxConnections = "many""#),
            (["--config", try Self.write("logFormat: xml\n", named: "ims.yaml").path], [:], #"configuration key logFormat = "xml""#),
            (["--config", try Self.write(#"{"prot": 9000}"#, named: "ims.json").path], [:], "unknown key prot"),
            (["--config", try Self.write(#"{"port": 9000"#, named: "ims.json").path], [:], "is not valid JSON"),
            (["--config", "/no/such/ims.json"], [:], "/no/such/ims.json cannot be read"),
            (["--kafka-dead-letter-topic", "refused"], [:], "kafkaDeadLetterTopic needs kafkaFeedTopics"),
            (["--kafka-feed-topics", "trades"], [:], "kafkaFeedTopics needs kafkaBrokers"),
        ]
        for c in cases {
            let dataDir = IMSProcess.freshDirectory()
            let r = try IMSProcess.run(["serve", "--data-dir", dataDir.path] + c.arguments, environment: c.environment)
            #expect(r.status != 0, "\(c.arguments) \(c.environment) was accepted")
            #expect(r.err.contains(c.message), "\(c.arguments) \(c.environment): \(r.err)")
            #expect(!r.out.contains("ims serving on"), "\(c.arguments) \(c.environment) listened")
            #expect(!FileManager.default.fileExists(atPath: dataDir.path), "\(c.arguments) \(c.environment) made its data directory")
        }
    }

    /// The server runs with what it resolved: the data directory from the file, the body limit from the
    /// environment, and logs each value that is not a default with its source.
    @Test func theServerRunsWithTheResolvedSettings() throws {
        let dataDir = IMSProcess.freshDirectory()
        let file = try Self.write(#"{"dataDir": "\#(dataDir.path)", "fsync": "never"}"#, named: "ims.json")
        let log = IMSProcess.freshDirectory().appendingPathExtension("log")
        TemporaryDirectories.shared.add(log)
        let server = try IMSProcess.start(
            ["--config", file.path], dataDir: dataDir, log: log,
            environment: ["IMS_MAX_BODY_BYTES": "1000"], dataDirFlag: false)
        let small = try IMSProcess.request(
            server, "POST", "/api/v1/events",
            body: #"{"type":"security","securityId":"CFG1","isin":"US4592001014","marketId":"US"}"#)
        #expect(small.status == 200)
        let large = try IMSProcess.request(server, "POST", "/api/v1/events", body: String(repeating: " ", count: 2_000))
        #expect(large.status == 413)
        server.stop()
        #expect(FileManager.default.fileExists(atPath: dataDir.appendingPathComponent("journal").path))
        let text = try String(contentsOf: log, encoding: .utf8)
        let configuration = try #require(text.split(separator: "\n").first { $0.contains(#""message":"configuration""#) })
        #expect(configuration.contains(#""maxBodyBytes":"1000 (environment IMS_MAX_BODY_BYTES)""#), "\(configuration)")
        #expect(configuration.contains(#""dataDir":"\#(dataDir.path) (file \#(file.path))""#), "\(configuration)")
        #expect(configuration.contains(#""port":"0 (flag --port)""#), "\(configuration)")
    }
}
