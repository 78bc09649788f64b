import Foundation
import IMSDomain
import IMSIngest
import Testing

#if Kafka
    /// The history store when the journal is a Kafka topic: the projector reads the topic (as a follower does),
    /// on the leader and on a standby alike, into the same database; a failover changes nothing in it; and a
    /// node started later projecting into a new database from scratch writes the same tables.
    @Suite(.serialized)
    struct KafkaHistoryTests {
        @Test func projectedFromTheTopicByLeaderAndStandbyAcrossAFailoverAsFromScratch() async throws {
            try await HistoryStoreTests.exclusively { try projected() }
        }

        func projected() throws {
            let url = try HistoryStoreTests.database()
            let cluster = KafkaFailoverTests.Cluster(brokers: try KafkaFailoverTests.brokers)
            defer { cluster.stopAll() }
            cluster.extra = ["--history", url, "--history-snapshot-seconds", "1"]
            try cluster.start("A")
            #expect(cluster.leader() == "A")
            try cluster.start("B")
            var flow = HistoryStoreTests.Flow()
            let leader = try #require(cluster.server("A"))
            #expect(try HistoryStoreTests.post(leader, "/api/v1/events?type=security", flow.securitiesCSV(), csv: true) == 200)
            #expect(try HistoryStoreTests.post(leader, "/api/v1/events", flow.setup()) == 200)
            for _ in 0..<12 {
                #expect(cluster.write("/api/v1/events?mode=partial", flow.events(40))?.status == 200)
                #expect(cluster.write("/api/v1/decisions", flow.decisions(locates: 2, orders: 1))?.status == 200)
                Thread.sleep(forTimeInterval: 0.1)
            }
            // The leader dies; B leads and the flow goes on.
            cluster.kill("A")
            #expect(cluster.leader(within: 20) == "B")
            for _ in 0..<12 {
                #expect(cluster.write("/api/v1/events?mode=partial", flow.events(40))?.status == 200)
                #expect(cluster.write("/api/v1/decisions", flow.decisions(locates: 2, orders: 1))?.status == 200)
                Thread.sleep(forTimeInterval: 0.1)
            }
            let b = try #require(cluster.server("B"))
            try HistoryStoreTests.waitUntilCaughtUp(b, flow: &flow)
            // Every locate as B shows it is in the store, as it last stood.
            let locates = try #require(
                (try IMSProcess.request(b, "GET", "/api/v1/locates?limit=10000").json as? [String: Any])?["items"] as? [NSDictionary])
            #expect(locates.count >= 40)
            let byId = try HistoryStoreTests.lastStoredLocates(url)
            #expect(byId.count == locates.count)
            for locate in locates { #expect(byId[locate["locateId"] as! String] == locate) }

            // A third node, a standby started now, projects the whole topic into a new database: the same tables.
            let scratchURL = try HistoryStoreTests.database()
            cluster.extra = ["--history", scratchURL, "--history-snapshot-seconds", "1"]
            try cluster.start("C")
            let c = try #require(cluster.server("C"))
            let applied = (try HistoryStoreTests.history(b))["journalRecord"] as? Int ?? 0
            try HistoryStoreTests.waitUntilCommitted(c, through: applied)
            let fresh = try HistoryStoreTests.expectSameTables(url, scratchURL, "by A and B")
            #expect((fresh["positions"] ?? "").split(separator: "\n").count > 50)
        }
    }
#endif
