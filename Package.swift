// swift-tools-version:6.1
import PackageDescription

/// One settings list for every target, as swift-nio and Hummingbird do.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "ims",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ims", targets: ["ims"]),
        .library(name: "IMSDomain", targets: ["IMSDomain"]),
        .library(name: "IMSRules", targets: ["IMSRules"]),
        .library(name: "IMSEngine", targets: ["IMSEngine"]),
        .library(name: "IMSRuntime", targets: ["IMSRuntime"]),
        .library(name: "IMSJournal", targets: ["IMSJournal"]),
        .library(name: "IMSIngest", targets: ["IMSIngest"]),
        .library(name: "IMSServer", targets: ["IMSServer"]),
        .library(name: "IMSHistory", targets: ["IMSHistory"]),
        .library(name: "IMSFIX", targets: ["IMSFIX"]),
    ],
    // Kafka (the replicated journal, topics in and out) needs librdkafka installed (Debian librdkafka-dev):
    // off by default, so `swift run ims demo` needs nothing; the test command builds with `--traits Kafka`.
    traits: [
        .trait(name: "Kafka", description: "The Kafka journal and topics, through librdkafka (Debian librdkafka-dev)")
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/GraphQLSwift/Graphiti.git", from: "3.1.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // Settings from a file (JSON or YAML) and the environment under the command line's flags.
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0", traits: [.defaults, "YAML"]),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        // SHA-256 for API keys (stored hashed); JWT bearer tokens (HS256, RS256, ES256).
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.1"),
        // The authenticator middleware protocol and the context's identity (hummingbird-auth).
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        // TLS for HTTP and the streams (Hummingbird's TLS channel over swift-nio-ssl); WebSocket close codes.
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.2"),
        // The history store (`--history postgres://…`): the maintained async PostgreSQL driver.
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // CPU instructions Swift cannot spell (cache prefetch, CRC32C), in C.
        .target(name: "CIMSIntrinsics"),
        .target(
            name: "IMSDomain", dependencies: ["CIMSIntrinsics", .product(name: "DequeModule", package: "swift-collections")], swiftSettings: swiftSettings),
        // Inventory rules: the rule document, its formulas, validation and compilation (SPEC 4.2–4.3).
        .target(name: "IMSRules", dependencies: ["IMSDomain"], swiftSettings: swiftSettings),
        .target(
            name: "IMSEngine",
            dependencies: ["IMSDomain", "IMSRules", "CIMSIntrinsics", .product(name: "DequeModule", package: "swift-collections")],
            swiftSettings: swiftSettings
        ),
        // Threads and queues: the engine's journal and writer threads, the change feed, the read model's store.
        .target(
            name: "IMSRuntime",
            dependencies: [
                "IMSDomain", "IMSEngine", .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(name: "IMSJournal", dependencies: ["IMSDomain", "IMSEngine"], swiftSettings: swiftSettings),
        .target(name: "IMSIngest", dependencies: ["IMSDomain"], swiftSettings: swiftSettings),
        // librdkafka through its C API, with the Kafka trait.
        .systemLibrary(name: "CRdKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),
        // Kafka producers and consumers for the journal and topics (empty without the Kafka trait).
        .target(
            name: "IMSKafka",
            dependencies: ["IMSDomain", "IMSEngine", "IMSRuntime", .target(name: "CRdKafka", condition: .when(traits: ["Kafka"]))],
            swiftSettings: swiftSettings
        ),
        // The history projector: the journal projected into PostgreSQL tables, and the queries over them.
        .target(
            name: "IMSHistory",
            dependencies: [
                "IMSDomain", "IMSRules", "IMSEngine", "IMSRuntime", "IMSJournal",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The FIX session layer (framing, sequence numbers, resends, timers, the store) and its acceptor on SwiftNIO.
        .target(
            name: "IMSFIX",
            dependencies: [
                "IMSDomain", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"), .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "IMSServer",
            dependencies: [
                "IMSDomain", "IMSRules", "IMSEngine", "IMSRuntime", "IMSJournal", "IMSIngest", "IMSHistory", "IMSFIX",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Graphiti", package: "Graphiti"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ],
            // The dashboard's files; scripts/generate_dashboard.py embeds them (DashboardAssets.swift).
            exclude: ["Dashboard/www"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "ims",
            dependencies: [
                "IMSDomain", "IMSRules", "IMSEngine", "IMSRuntime", "IMSJournal", "IMSIngest", "IMSServer", "IMSKafka", "IMSHistory", "IMSFIX",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        // libFuzzer target over the decoders, rule documents, command bodies and the engine (scripts/fuzz.sh); built normally it replays inputs.
        .executableTarget(name: "IMSFuzz", dependencies: ["IMSDomain", "IMSRules", "IMSEngine", "IMSIngest"], swiftSettings: swiftSettings),
        .testTarget(name: "IMSDomainTests", dependencies: ["IMSDomain"], swiftSettings: swiftSettings),
        .testTarget(name: "IMSFIXTests", dependencies: ["IMSFIX"], swiftSettings: swiftSettings),
        .testTarget(
            name: "IMSKafkaTests", dependencies: ["IMSKafka", "IMSDomain", "IMSEngine", "IMSRuntime", "IMSIngest"], swiftSettings: swiftSettings),
        .testTarget(name: "IMSRulesTests", dependencies: ["IMSDomain", "IMSRules"], swiftSettings: swiftSettings),
        .testTarget(name: "IMSIngestTests", dependencies: ["IMSDomain", "IMSRules", "IMSEngine", "IMSIngest"], swiftSettings: swiftSettings),
        .testTarget(name: "IMSEngineTests", dependencies: ["IMSDomain", "IMSRules", "IMSEngine", "IMSRuntime", "IMSIngest"], swiftSettings: swiftSettings),
        .testTarget(
            name: "IMSJournalTests", dependencies: ["IMSDomain", "IMSEngine", "IMSRuntime", "IMSJournal", "IMSIngest"], exclude: ["Fixtures"],
            swiftSettings: swiftSettings),
        // The projection without a database, and the projector against a real PostgreSQL (scripts/postgres.sh).
        .testTarget(
            name: "IMSHistoryTests",
            dependencies: [
                "IMSHistory", "IMSDomain", "IMSEngine", "IMSRuntime", "IMSJournal", "IMSIngest",
                .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "IMSServerTests",
            dependencies: [
                "IMSDomain", "IMSRules", "IMSEngine", "IMSRuntime", "IMSIngest", "IMSJournal", "IMSServer", "IMSFIX",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Logging", package: "swift-log"),
                // EmbeddedChannel: the connection guard's handler without a socket or a real clock.
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The binary over sockets; jwt-kit signs the tokens the stream matrix presents.
        .testTarget(
            name: "EndToEndTests", dependencies: ["IMSKafka", "IMSIngest", .product(name: "JWTKit", package: "jwt-kit")], swiftSettings: swiftSettings),
    ],
    swiftLanguageModes: [.v6]
)
