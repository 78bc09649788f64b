#if Kafka
    import Foundation
    import IMSKafka
    import Testing

    /// `--kafka-publish-prefix`: every stream's changes published to topics, keyed by the item's id, each
    /// value carrying the journal record it reflects; read back from the real broker.
    struct KafkaPublisherTests {
        /// Every record of `topic` (all its partitions, up to 8) until `done` says enough, or 20 s.
        static func read(_ topic: String, brokers: String, until done: ([(key: String, value: [String: Any])]) -> Bool) throws -> [(
            key: String, value: [String: Any]
        )] {
            var seen: [(key: String, value: [String: Any])] = []
            let readers = try (0..<Int32(8)).compactMap { p in try? KafkaPartitionReader(brokers: brokers, topic: topic, partition: p, from: 0) }
            let deadline = Date().addingTimeInterval(20)
            while !done(seen) && Date() < deadline {
                for reader in readers {
                    while let message = try? reader.next(timeout: .milliseconds(20)) {
                        let value = (try? JSONSerialization.jsonObject(with: Data(message.bytes))) as? [String: Any] ?? [:]
                        seen.append((String(decoding: message.key ?? [], as: UTF8.self), value))
                    }
                }
            }
            return seen
        }

        @Test func streamsArePublishedKeyedByIdWithTheirRecord() throws {
            let brokers = try KafkaFailoverTests.brokers
            let prefix = "ims-pub-\(UUID().uuidString.prefix(8))"
            let server = try IMSProcess.start(["--kafka-brokers", brokers, "--kafka-publish-prefix", prefix])
            defer { server.stop() }
            #expect(try IMSProcess.request(server, "POST", "/api/v1/events", body: KafkaFailoverTests.setup).status == 200)
            #expect(try IMSProcess.request(server, "POST", "/api/v1/events", body: KafkaFailoverTests.batch(1).body).status == 200)
            let locate = try IMSProcess.request(
                server, "POST", "/api/v1/locates", body: #"{"requestId":"P1","clientId":"C1","securityId":"IBM","quantity":100,"side":"SHORT"}"#)
            #expect(locate.status == 201)
            let locateId = try #require((locate.json as? [String: Any])?["locateId"] as? String)
            let rest = try #require(try IMSProcess.request(server, "GET", "/api/v1/positions/FIRM/KS1").json as? [String: Any])

            // The position's latest record on the topic equals the REST answer.
            let positions = try Self.read("\(prefix).position", brokers: brokers) { seen in
                seen.contains { $0.key == "FIRM/KS1" && ($0.value["item"] as? [String: Any])?["intradayBuys"] as? Int == rest["intradayBuys"] as? Int }
            }
            let latest = try #require(positions.last { $0.key == "FIRM/KS1" })
            #expect((latest.value["item"] as? [String: Any])?["intradayBuys"] as? Int == rest["intradayBuys"] as? Int)
            #expect(latest.value["stream"] as? String == "position")
            #expect((latest.value["record"] as? Int ?? 0) >= 2, "the journal record the item reflects")
            // Records only grow for one key, so a consumer keeps the highest.
            let records = positions.filter { $0.key == "FIRM/KS1" }.compactMap { $0.value["record"] as? Int }
            #expect(records == records.sorted())

            let locates = try Self.read("\(prefix).locate", brokers: brokers) { seen in seen.contains { $0.key == locateId } }
            #expect(locates.contains { $0.key == locateId && ($0.value["item"] as? [String: Any])?["approvedQuantity"] as? Int == 100 })
            let inventory = try Self.read("\(prefix).inventory", brokers: brokers) { seen in seen.contains { $0.key.hasPrefix("IBM") } }
            #expect(inventory.contains { $0.key.hasPrefix("IBM") })
            // Limits are kept per unit and per client: every one of them goes out, keyed by its scope and security.
            let restLimits = try #require(try IMSProcess.request(server, "GET", "/api/v1/limits/clients/C1?securityId=IBM").json as? [[String: Any]])
            let limits = try Self.read("\(prefix).limits", brokers: brokers) { seen in seen.contains { $0.key == "C1/IBM" } }
            let limit = try #require(limits.last { $0.key == "C1/IBM" }?.value["item"] as? [String: Any])
            #expect(limit["shortSellLimit"] as? Int == restLimits.first?["shortSellLimit"] as? Int)
            #expect(limit["clientId"] as? String == "C1")

            // Orders and the audit trail are records, not streams, and go out too.
            let order = try IMSProcess.request(
                server, "POST", "/api/v1/orders/validate",
                body: #"{"orderId":"O1","clientId":"C1","bookId":"FIRM","securityId":"IBM","side":"SELL","quantity":10,"price":"1"}"#)
            #expect(order.status == 200, "\(order.json ?? "")")
            let orders = try Self.read("\(prefix).orders", brokers: brokers) { seen in seen.contains { $0.key == "C1/O1" } }
            let published = try #require(orders.last { $0.key == "C1/O1" }?.value["item"] as? [String: Any])
            #expect(published["decision"] as? String == (order.json as? [String: Any])?["decision"] as? String)
            let audit = try Self.read("\(prefix).audit", brokers: brokers) { seen in
                seen.contains { ($0.value["item"] as? [String: Any])?["action"] as? String == "ORDER_VALIDATE" }
            }
            #expect(audit.contains { ($0.value["item"] as? [String: Any])?["action"] as? String == "LOCATE_REQUEST" })
            #expect(audit.allSatisfy { $0.key == "\(($0.value["item"] as? [String: Any])?["auditId"] ?? "")" }, "keyed by the entry's id")
            let health = try IMSProcess.request(server, "GET", "/health").json as? [String: Any]
            let consumers = ((health?["feed"] as? [String: Any])?["consumers"] as? [[String: Any]]) ?? []
            #expect(consumers.contains { $0["name"] as? String == "kafka-publisher" }, "its lag is in /health")
        }
    }
#endif
