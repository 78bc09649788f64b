#if Kafka
    import Foundation
    import IMSKafka
    import Testing

    /// Upstream topics consumed as feeds (`--kafka-feed-topics`), against the real broker: a million events over
    /// four partitions, with duplicates, bad records, another member taking partitions midway and a crash, end
    /// with the reference figures, every good record accepted once and every bad one an exception once.
    @Suite(.serialized)
    struct KafkaFeedTests {
        static let books = ["FB1", "FB2", "FB3", "FB4"]
        static let securities = (1...25).map { "FS\($0)" }
        static let setup =
            ([#"{"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}"#]
            + securities.map { #"{"type":"security","securityId":"\#($0)","marketId":"US"}"# }
            + books.map { #"{"type":"book","bookId":"\#($0)","legalEntity":"PB-US","positionType":"FIRM"}"# }).joined(separator: "\n")
        static let setupEvents = 1 + securities.count + books.count

        /// The records of the topic, in the order produced: trade `i` (keyed by its security, so a security's
        /// trades share a partition), every 997th trade sent twice (a duplicate of the same trade), and bad
        /// records spread among them.
        struct Plan {
            var records: [(key: String, value: String)] = []
            var buys: [String: Int] = [:]
            var sells: [String: Int] = [:]
            var bad = 0

            init(total: Int) {
                var i = 0
                while records.count < total {
                    let position = records.count
                    if position % 83_333 == 41_666 {
                        // Bad ones: not JSON, an unknown security, two events in one record.
                        let kind = (position / 83_333) % 3
                        let value =
                            kind == 0
                            ? #"{"type":"trade","tradeId":"BAD\#(position)""#
                            : kind == 1
                                ? #"{"type":"trade","tradeId":"BAD\#(position)","version":1,"status":"NEW","bookId":"FB1","securityId":"NOPE","side":"BUY","quantity":1,"price":"10","tradeDate":"2026-11-25"}"#
                                : #"{"type":"fxRate","currency":"EUR","usdRate":"1.1"}"# + "\n" + #"{"type":"fxRate","currency":"GBP","usdRate":"1.3"}"#
                        records.append(("bad", value))
                        bad += 1
                        continue
                    }
                    let book = KafkaFeedTests.books[i % 4], security = KafkaFeedTests.securities[(i / 4) % 25]
                    let quantity = 1 + i % 13
                    let side = i % 5 == 0 ? "SELL" : "BUY"
                    let line =
                        #"{"type":"trade","tradeId":"F\#(i)","version":1,"status":"NEW","bookId":"\#(book)","securityId":"\#(security)","side":"\#(side)","quantity":\#(quantity),"price":"10","tradeDate":"2026-11-25"}"#
                    if side == "BUY" { buys["\(book)/\(security)", default: 0] += quantity } else { sells["\(book)/\(security)", default: 0] += quantity }
                    records.append((security, line))
                    if i % 997 == 0 && records.count < total { records.append((security, line)) }
                    i += 1
                }
            }
        }

        static func produce(_ records: ArraySlice<(key: String, value: String)>, topic: String, producer: KafkaTopicProducer) throws {
            var start = records.startIndex
            while start < records.endIndex {
                let end = min(start + 50_000, records.endIndex)
                try producer.send(records[start..<end].map { (topic, $0.key, Array($0.value.utf8)) }, timeout: .seconds(60))
                start = end
            }
        }

        static func topicFeeds(_ server: IMSProcess.Server) -> [String: Any]? {
            ((try? IMSProcess.request(server, "GET", "/health"))?.json as? [String: Any])?["topicFeeds"] as? [String: Any]
        }

        /// Every partition's end offset, as the broker says.
        static func ends(_ topic: String, brokers: String) throws -> [Int: Int64] {
            var out: [Int: Int64] = [:]
            for p in 0..<4 { out[p] = try KafkaPartitionReader(brokers: brokers, topic: topic, partition: Int32(p), from: 0).highWatermark() }
            return out
        }

        @Test func aMillionEventsOverFourPartitionsWithARebalanceAndACrashAreEachAppliedOnce() throws {
            let brokers = try KafkaFailoverTests.brokers
            let tag = UUID().uuidString.prefix(8)
            let topic = "ims-feed-\(tag)", deadLetters = "ims-feed-\(tag).dlq", group = "ims-feed-\(tag)"
            try KafkaTopicAdmin.create(brokers: brokers, topic: topic, partitions: 4)
            let dir = IMSProcess.freshDirectory()
            let log = FileManager.default.temporaryDirectory.appendingPathComponent("ims-kafka-feed-\(tag).log")
            let arguments = [
                "--kafka-brokers", brokers, "--kafka-feed-topics", topic, "--kafka-feed-group", group, "--kafka-dead-letter-topic", deadLetters,
                "--log-format", "text",
            ]
            var server = try IMSProcess.start(arguments, dataDir: dir, log: log)
            defer { server.stop() }
            #expect(try IMSProcess.request(server, "POST", "/api/v1/events", body: Self.setup).status == 200)

            let plan = Plan(total: 1_000_000)
            let producer = try KafkaTopicProducer(brokers: brokers)
            let half = plan.records.count / 2, threeQuarters = plan.records.count * 3 / 4
            try Self.produce(plan.records[..<half], topic: topic, producer: producer)

            // Another member joins the group midway: it is handed partitions, reads some records and commits
            // offsets past everything (as a stray consumer might), then leaves. IMS must take its partitions
            // back from where its own journal says, not from the broker's committed offsets.
            let intruder = try KafkaGroupConsumer(brokers: brokers, group: group, topics: [topic]) { list in list.map { _ in nil } }
            var taken = 0
            let until = Date().addingTimeInterval(20)
            while Date() < until && (intruder.assigned.isEmpty || taken == 0) { taken += intruder.poll(max: 1_000, timeout: .milliseconds(200)).count }
            let held = intruder.assigned
            #expect(!held.isEmpty, "the intruder was given partitions (a rebalance): \(intruder.lastError ?? "")")
            let ends = try Self.ends(topic, brokers: brokers)
            intruder.commit(held.map { ($0.topic, $0.partition, ends[Int($0.partition)] ?? 0) })
            Thread.sleep(forTimeInterval: 0.5)
            intruder.close()

            try Self.produce(plan.records[half..<threeQuarters], topic: topic, producer: producer)
            // A crash while it consumes; the restarted node resumes from its journal.
            Thread.sleep(forTimeInterval: 1)
            server.crash()
            server = try IMSProcess.start(arguments, dataDir: dir, log: log)
            try Self.produce(plan.records[threeQuarters...], topic: topic, producer: producer)

            // Caught up: every partition's offset in IMS at the broker's end.
            let final = try Self.ends(topic, brokers: brokers)
            #expect(final.values.reduce(0, +) >= Int64(plan.records.count))
            let deadline = Date().addingTimeInterval(300)
            var feeds: [String: Any]?
            while Date() < deadline {
                feeds = Self.topicFeeds(server)
                let offsets = Dictionary(
                    ((feeds?["partitions"] as? [[String: Any]]) ?? []).map { ($0["partition"] as? Int ?? -1, Int64($0["offset"] as? Int ?? -1)) },
                    uniquingKeysWith: { a, _ in a })
                if offsets == final { break }
                Thread.sleep(forTimeInterval: 0.5)
            }
            let offsets = ((feeds?["partitions"] as? [[String: Any]]) ?? []).map { "\($0["partition"] ?? "?")@\($0["offset"] ?? "?")" }
            #expect(
                Dictionary(
                    ((feeds?["partitions"] as? [[String: Any]]) ?? []).map { ($0["partition"] as? Int ?? -1, Int64($0["offset"] as? Int ?? -1)) },
                    uniquingKeysWith: { a, _ in a }) == final, "IMS resumes at the end of every partition: \(offsets) against \(final)")

            // Every good record accepted once: each takes one sequence number, none twice, none missing.
            let health = try #require(try IMSProcess.request(server, "GET", "/health").json as? [String: Any])
            #expect(health["lastSequence"] as? Int == Self.setupEvents + plan.records.count - plan.bad)

            // The reference figures.
            var wrong: [String] = []
            for book in Self.books {
                for security in Self.securities {
                    let json = try IMSProcess.request(server, "GET", "/api/v1/positions/\(book)/\(security)").json as? [String: Any]
                    let key = "\(book)/\(security)"
                    if json?["intradayBuys"] as? Int != plan.buys[key, default: 0] || json?["intradaySells"] as? Int != plan.sells[key, default: 0] {
                        wrong.append("\(key): \(json?["intradayBuys"] ?? "nil")/\(json?["intradaySells"] ?? "nil")")
                    }
                }
            }
            #expect(wrong.isEmpty, "positions against the reference: \(wrong.prefix(5))")

            // Every bad record an exception once, naming where it sits; and on the dead-letter topic.
            let exceptions = try #require(
                try IMSProcess.request(server, "GET", "/api/v1/exceptions?kind=REJECTED_INPUT&limit=1000").json as? [[String: Any]])
            let named = exceptions.compactMap { $0["message"] as? String }.filter { $0.hasPrefix("topic \(topic) partition ") }
            #expect(named.count == plan.bad, "one exception per bad record: \(named)")
            #expect(Set(named).count == named.count)
            let letters = try KafkaPublisherTests.read(deadLetters, brokers: brokers) { $0.count >= plan.bad }
            #expect(Set(letters.map(\.key)).count == plan.bad, "every bad record on the dead-letter topic")
            #expect(letters.allSatisfy { $0.value["topic"] as? String == topic && $0.value["offset"] is Int && $0.value["error"] is String })
        }

        /// With a replicated journal only the leader consumes; killed midway, the standby that takes over resumes
        /// each partition from the offsets the log gave it: the same figures, every record accepted once.
        @Test func theLeaderKilledWhileConsumingHandsTheFeedsToTheNewLeader() throws {
            let brokers = try KafkaFailoverTests.brokers
            let tag = UUID().uuidString.prefix(8)
            let topic = "ims-feed-\(tag)"
            try KafkaTopicAdmin.create(brokers: brokers, topic: topic, partitions: 4)
            let cluster = KafkaFailoverTests.Cluster(brokers: brokers)
            cluster.extra = ["--kafka-feed-topics", topic, "--kafka-feed-group", "ims-feed-\(tag)"]
            defer { cluster.stopAll() }
            try cluster.start("A")
            #expect(cluster.leader() == "A")
            try cluster.start("B")
            #expect(cluster.write("/api/v1/events", Self.setup)?.status == 200)
            let standby = try #require(cluster.server("B"))
            #expect(Self.topicFeeds(standby)?["state"] as? String == "standby", "a standby does not consume")

            let plan = Plan(total: 200_000)
            let producer = try KafkaTopicProducer(brokers: brokers)
            try Self.produce(plan.records[..<100_000], topic: topic, producer: producer)
            Thread.sleep(forTimeInterval: 1)
            cluster.kill("A")
            #expect(cluster.leader() == "B", "the standby takes over")
            try Self.produce(plan.records[100_000...], topic: topic, producer: producer)

            let final = try Self.ends(topic, brokers: brokers)
            let deadline = Date().addingTimeInterval(180)
            var offsets: [Int: Int64] = [:]
            while Date() < deadline {
                offsets = Dictionary(
                    ((Self.topicFeeds(standby)?["partitions"] as? [[String: Any]]) ?? []).map {
                        ($0["partition"] as? Int ?? -1, Int64($0["offset"] as? Int ?? -1))
                    }, uniquingKeysWith: { a, _ in a })
                if offsets == final { break }
                Thread.sleep(forTimeInterval: 0.5)
            }
            #expect(offsets == final, "the new leader consumed every partition to its end: \(cluster.diagnosis)")
            #expect(Self.topicFeeds(standby)?["state"] as? String == "consuming")
            let health = try #require(try IMSProcess.request(standby, "GET", "/health").json as? [String: Any])
            #expect(health["lastSequence"] as? Int == Self.setupEvents + plan.records.count - plan.bad, "every good record accepted once")
            for book in Self.books {
                for security in Self.securities.prefix(5) {
                    let json = try IMSProcess.request(standby, "GET", "/api/v1/positions/\(book)/\(security)").json as? [String: Any]
                    #expect(json?["intradayBuys"] as? Int == plan.buys["\(book)/\(security)", default: 0], "\(book)/\(security)")
                }
            }
            // The old leader, restarted, follows and agrees.
            try cluster.start("A")
            let hashes = try #require(cluster.converged())
            #expect(Set(hashes.values).count == 1, "\(hashes) \(cluster.differingParts)")
        }
    }
#endif
