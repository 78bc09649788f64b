import ArgumentParser
import Foundation
import IMSDomain
import IMSEngine
import IMSRuntime

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
