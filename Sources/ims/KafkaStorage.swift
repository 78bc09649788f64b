import Foundation
import IMSDomain
import IMSEngine
import IMSJournal
import IMSRuntime
import IMSServer
import Logging

#if Kafka
    import IMSKafka

    /// A node whose journal is a Kafka topic (`--journal kafka`): snapshots stay in the data directory, each
    /// with the topic position it stands at beside it (`<record>.position.json`), and the replica follows
    /// the topic from there, leading when the lease runs out.
    enum KafkaStorage {
        /// Loads the newest snapshot that has a position (an empty state at the topic's start if none), starts
        /// an engine on it and a replica following the topic.
        static func open(settings: ResolvedSettings, catalog: MarketCatalog, url: String, logger: Logger) throws -> (
            engine: Engine, storage: StorageStatus, replica: KafkaReplica, seconds: Double
        ) {
            let t0 = Date()
            let store = try SnapshotStore(directory: DataDirectory.snapshotDirectory(settings.dataDir))
            for stale in store.removeUnfinished() { logger.info("removed \(stale), a snapshot a crash left unfinished") }
            var state = EngineState(catalog: catalog, partitions: settings.partitions)
            var position = ReplicaPosition.start
            for info in store.list() {
                guard let stored = ReplicaSnapshots.position(of: info) else {
                    logger.warning("snapshot without a topic position skipped", metadata: ["snapshot": "\(info.path)"])
                    continue
                }
                do {
                    state = try store.load(info, catalog: catalog)
                    position = stored
                    break
                } catch {
                    logger.error("snapshot unreadable, skipped", metadata: ["snapshot": "\(info.path)", "error": "\(error)"])
                }
            }
            logger.info(
                "loaded",
                metadata: ["record": "\(position.record)", "offset": "\(position.offset)", "epoch": "\(position.epoch)", "dataDir": "\(settings.dataDir)"])
            var replicaSettings = ReplicaSettings(
                brokers: settings.string("kafkaBrokers"), topic: settings.string("kafkaTopic"), node: settings.kafkaNode, url: url)
            replicaSettings.lease = .milliseconds(settings.int("kafkaLeaseMs"))
            replicaSettings.heartbeat = .milliseconds(settings.int("kafkaHeartbeatMs"))
            let journal = KafkaJournal()
            let sink = ReplicaSnapshots(store: store)
            let engine = Engine(state: state, journal: journal, snapshots: sink, snapshotEveryEvents: settings.int("snapshotEvery"))
            let log = Logger(label: "ims.replica")
            let metadata: Logger.Metadata = ["node": "\(replicaSettings.node)", "topic": "\(replicaSettings.topic)"]
            let replica = KafkaReplica(settings: replicaSettings, engine: engine, journal: journal, from: position) { level, message in
                switch level {
                case .info: log.info("\(message)", metadata: metadata)
                case .notice: log.notice("\(message)", metadata: metadata)
                case .warning: log.warning("\(message)", metadata: metadata)
                case .error: log.error("\(message)", metadata: metadata)
                case .critical: log.critical("\(message)", metadata: metadata)
                }
            }
            sink.replica = replica
            store.report { report in
                switch report {
                case .written(let record, let bytes, let seconds):
                    logger.info("snapshot written", metadata: ["record": "\(record)", "bytes": "\(bytes)", "seconds": "\(String(format: "%.3f", seconds))"])
                case .failed(let record, let error):
                    logger.error("snapshot failed; the topic still holds everything", metadata: ["record": "\(record)", "error": "\(error)"])
                }
            }
            replica.run()
            return (engine, StorageStatus(journal: nil, snapshots: store), replica, Date().timeIntervalSince(t0))
        }
    }

    extension KafkaStorage {
        /// How `asOf` rebuilds the state at a target on a node whose journal is a topic: the newest snapshot at
        /// or before it that has a position (an empty state at the topic's start if none), then the log up to it.
        static func rebuild(settings: ResolvedSettings, catalog: MarketCatalog) -> @Sendable (ReplayTarget) throws -> EngineState {
            let brokers = settings.string("kafkaBrokers"), topic = settings.string("kafkaTopic")
            let directory = DataDirectory.snapshotDirectory(settings.dataDir), partitions = settings.partitions
            return { target in
                var state = EngineState(catalog: catalog, partitions: partitions)
                var position = ReplicaPosition.start
                if let store = try? SnapshotStore(directory: directory) {
                    for info in store.list() where Replay.usable(info, toward: target) {
                        guard let stored = ReplicaSnapshots.position(of: info), let loaded = try? store.load(info, catalog: catalog) else { continue }
                        (state, position) = (loaded, stored)
                        break
                    }
                }
                try KafkaLogReplay.read(brokers: brokers, topic: topic, from: position) { record, entry in
                    Replay.step(&state, entry: entry, record: record, toward: target)
                }
                return state
            }
        }
    }

    /// The change publisher's way to the brokers.
    final class KafkaTopicSink: TopicSink, @unchecked Sendable {
        // `@unchecked Sendable`: only the publisher's thread sends.
        private let producer: KafkaTopicProducer

        init(brokers: String) throws { producer = try KafkaTopicProducer(brokers: brokers) }

        func send(_ records: [(topic: String, key: String, value: [UInt8])]) throws { try producer.send(records) }
    }

    /// Snapshots of a replicated node: each written with its topic position beside it, first.
    final class ReplicaSnapshots: SnapshotSink, @unchecked Sendable {
        // `@unchecked Sendable`: `replica` is set once, before the engine can offer a snapshot.
        let store: SnapshotStore
        weak var replica: KafkaReplica?

        init(store: SnapshotStore) { self.store = store }

        static func positionPath(_ snapshotPath: String) -> String {
            (snapshotPath.hasSuffix(".snap") ? String(snapshotPath.dropLast(5)) : snapshotPath) + ".position.json"
        }

        /// The position stored beside a snapshot, if it is there and says the snapshot's record.
        static func position(of info: SnapshotStore.Info) -> ReplicaPosition? {
            guard let data = FileManager.default.contents(atPath: positionPath(info.path)),
                let position = try? JSONDecoder().decode(ReplicaPosition.self, from: data), position.record == info.appliedRecord
            else { return nil }
            return position
        }

        private func writePosition(of state: EngineState) throws {
            guard let replica else { return }
            let name = JournalFormat.segmentName(firstRecord: state.appliedRecord).replacingOccurrences(of: ".log", with: ".snap")
            let path = Self.positionPath(store.directory + "/" + name)
            try JSONEncoder().encode(replica.position(for: state.appliedRecord)).write(to: URL(fileURLWithPath: path), options: .atomic)
            // Positions whose snapshot is gone: older than the newest snapshot on disk and not beside one (newer
            // ones may belong to a snapshot still being written). Names sort as their 20-digit records do.
            let snapshots = store.list().map { Self.positionPath($0.path) }
            guard let newest = snapshots.first else { return }
            for file in (try? FileManager.default.contentsOfDirectory(atPath: store.directory)) ?? [] where file.hasSuffix(".position.json") {
                let other = store.directory + "/" + file
                if other < newest && !snapshots.contains(other) { try? FileManager.default.removeItem(atPath: other) }
            }
        }

        func offer(_ state: EngineState) {
            do { try writePosition(of: state) } catch { return }
            store.offer(state)
        }

        func write(_ state: EngineState) throws {
            try writePosition(of: state)
            try store.write(state)
        }
    }
#endif

extension ResolvedSettings {
    /// This node's name in a replicated deployment: `kafkaNode`, else the host's name.
    var kafkaNode: String { optionalString("kafkaNode") ?? ProcessInfo.processInfo.hostName }
}

#if Kafka
    /// Upstream topics consumed as feeds (`kafkaFeedTopics`) through a Kafka consumer group.
    enum KafkaFeeds {
        static func start(
            engine: Engine, settings: ResolvedSettings, topics: [String], replication: (any ReplicationState)?, logger: Logger
        ) throws -> TopicFeeds {
            let brokers = settings.string("kafkaBrokers")
            var feedSettings = TopicFeeds.Settings(
                topics: topics, group: settings.string("kafkaFeedGroup"), deadLetterTopic: settings.optionalString("kafkaDeadLetterTopic"))
            feedSettings.maxFutureSkew = .seconds(settings.int("maxFutureSeconds"))
            let deadLetters = try feedSettings.deadLetterTopic.map { _ in try KafkaTopicSink(brokers: brokers) }
            let group = feedSettings.group
            let feeds = TopicFeeds(
                engine: engine, settings: feedSettings,
                open: { resume in
                    KafkaTopicSource(try KafkaGroupConsumer(brokers: brokers, group: group, topics: topics, instance: "\(group)-leader", resume: resume))
                }, deadLetters: deadLetters, replication: replication, logger: Logger(label: "ims.topic-feeds"))
            feeds.start()
            return feeds
        }
    }

    /// A Kafka consumer group member as the feeds' source of records.
    final class KafkaTopicSource: TopicSource {
        private let consumer: KafkaGroupConsumer

        init(_ consumer: KafkaGroupConsumer) { self.consumer = consumer }

        func poll(max: Int, timeout: Duration) -> [UpstreamRecord] {
            consumer.poll(max: max, timeout: timeout).map { UpstreamRecord(topic: $0.topic, partition: $0.partition, offset: $0.offset, value: $0.value) }
        }

        func commit(_ next: [(topic: String, partition: Int32, offset: Int64)]) { consumer.commit(next) }
        func highWatermark(topic: String, partition: Int32) -> Int64? { consumer.highWatermark(topic: topic, partition: partition) }
        var assigned: [(topic: String, partition: Int32)] { consumer.assigned }
        var lastError: String? { consumer.lastError }
        func close() { consumer.close() }
    }
#endif
