import ArgumentParser
import Foundation
import IMSDomain
import IMSEngine
import IMSJournal
import IMSRuntime
import IMSServer
import Logging

#if Kafka
    import IMSKafka

    /// The engine benchmark over a Kafka journal: a leader journaling to a fresh topic and, in the same
    /// process, a standby following it (its lag from append to apply is what the benchmark reports).
    final class KafkaBenchPair: @unchecked Sendable {
        let leader: Engine
        let standby: Engine?
        let leaderReplica: KafkaReplica
        let standbyReplica: KafkaReplica?

        init(brokers: String, partitions: Int, keepsInventory: Bool, window: Int, withStandby: Bool) throws {
            let topic = "ims-bench-\(getpid())-\(UUID().uuidString.prefix(6))"
            func node(_ name: String, lease: Duration) -> (Engine, KafkaReplica) {
                var state = EngineState(partitions: partitions)
                state.keepsInventory = keepsInventory
                let journal = KafkaJournal()
                let engine = Engine(state: state, journal: journal, maxPendingEvents: window)
                var settings = ReplicaSettings(brokers: brokers, topic: topic, node: name, url: "http://bench.invalid/\(name)")
                settings.lease = lease
                let replica = KafkaReplica(settings: settings, engine: engine, journal: journal, from: .start) { level, message in
                    if level != .info { print("\(name): \(message)") }
                }
                replica.run()
                return (engine, replica)
            }
            (leader, leaderReplica) = node("leader", lease: .milliseconds(100))
            let deadline = Date().addingTimeInterval(30)
            while leaderReplica.replicaStatus.role != .leader {
                guard Date() < deadline else { throw ValidationError("the benchmark's leader did not claim the topic \(topic) within 30 s") }
                Thread.sleep(forTimeInterval: 0.01)
            }
            // Never claims: it only follows.
            if withStandby {
                let (engine, replica) = node("standby", lease: .seconds(600))
                (standby, standbyReplica) = (engine, replica)
            } else {
                (standby, standbyReplica) = (nil, nil)
            }
            print("kafka journal: topic \(topic) on \(brokers), a leader\(withStandby ? " and a standby" : "") in this process")
        }

        /// Waits until the standby has applied all the leader has; returns how long that took after the
        /// leader's last answer, and whether both states are the same.
        func standbyCatchesUp() -> (seconds: Double, same: Bool)? {
            guard let standby else { return nil }
            let t0 = Date()
            let target = leader.readModel.read { $0.appliedRecord }
            while standby.readModel.read({ $0.appliedRecord }) < target && Date().timeIntervalSince(t0) < 300 { Thread.sleep(forTimeInterval: 0.005) }
            let seconds = Date().timeIntervalSince(t0)
            let same = leader.readModel.read { $0.canonicalText() } == standby.readModel.read { $0.canonicalText() }
            return (seconds, same)
        }

        func stop() {
            standbyReplica?.stop()
            leaderReplica.stop()
            standby?.stop()
            leader.stop()
        }
    }
#endif

#if Kafka
    /// `ims bench feeds`: the generated mix as records of a fresh topic with four partitions (one NDJSON event
    /// each, keyed by security), produced first, then consumed by IMS's topic feeds into an engine with a file
    /// journal, as `ims serve --kafka-feed-topics` consumes them.
    enum FeedsBench {
        static func run(events: Int, partitions: Int, brokers: String, directory: String, policy: SyncPolicy) throws {
            print("generating \(events) events...")
            let (setup, chunks) = Bench.generate(events: events, batch: 5_000, prefix: "")
            var records: [(topic: String, key: String, value: [UInt8])] = []
            records.reserveCapacity(events)
            let topic = "ims-bench-feed-\(getpid())-\(UUID().uuidString.prefix(6))"
            for chunk in chunks {
                for line in chunk.split(separator: 0x0A) where !line.isEmpty {
                    records.append((topic, securityKey(line), Array(line)))
                }
            }
            try KafkaTopicAdmin.create(brokers: brokers, topic: topic, partitions: 4)
            let producer = try KafkaTopicProducer(brokers: brokers)
            let p0 = Date()
            var start = 0
            while start < records.count {
                let end = min(start + 50_000, records.count)
                try producer.send(Array(records[start..<end]), timeout: .seconds(120))
                start = end
            }
            let produceSeconds = Date().timeIntervalSince(p0)
            print("produced \(records.count) records to \(topic) (4 partitions) in \(String(format: "%.2f", produceSeconds)) s")

            try? FileManager.default.removeItem(atPath: directory)
            let opened = try DataDirectory.open(directory, catalog: .embedded, partitions: partitions, policy: policy, now: Timestamp(micros: 0))
            let engine = Engine(state: opened.state, journal: opened.journal, maxPendingEvents: Bench.engineWindow)
            _ = try engine.submitAndWait(Bench.securitiesBatch())
            guard try engine.submitAndWait(Bench.decode(setup)).applied else { throw ValidationError("setup rejected") }
            let before = engine.readModel.read { $0.lastSequence }
            let group = "ims-bench-\(getpid())"
            let feeds = TopicFeeds(
                engine: engine, settings: TopicFeeds.Settings(topics: [topic], group: group),
                open: { resume in
                    KafkaTopicSource(try KafkaGroupConsumer(brokers: brokers, group: group, topics: [topic], instance: "\(group)-leader", resume: resume))
                },
                deadLetters: nil, replication: nil, logger: Logger(label: "ims.bench"))
            let t0 = Date()
            feeds.start()
            while feeds.status.records < records.count && Date().timeIntervalSince(t0) < 600 { Thread.sleep(forTimeInterval: 0.01) }
            let seconds = Date().timeIntervalSince(t0)
            let status = feeds.status
            feeds.stop()
            let applied = engine.readModel.read { $0.lastSequence } - before
            engine.stop()
            try? FileManager.default.removeItem(atPath: directory)
            let rate = Double(status.records) / seconds
            print(
                "consumed \(status.records) records in \(String(format: "%.2f", seconds)) s: \(Int(rate)) records/s; \(applied) events accepted, \(status.rejected) refused"
            )
            print(
                #"{"bench":"feeds","records":\#(status.records),"partitions":4,"seconds":\#(String(format: "%.3f", seconds)),"recordsPerSecond":\#(Int(rate)),"accepted":\#(applied),"rejected":\#(status.rejected),"produceSeconds":\#(String(format: "%.3f", produceSeconds)),"fsync":"\#(policy)"}"#
            )
        }

        /// The record's key: its security (so one security's events keep their order in one partition), or the
        /// event type for events without one.
        static func securityKey(_ line: ArraySlice<UInt8>) -> String {
            let text = String(decoding: line, as: UTF8.self)
            guard let range = text.range(of: #""securityId":""#) else { return "other" }
            let rest = text[range.upperBound...]
            return String(rest.prefix { $0 != "\"" })
        }
    }
#endif
