import IMSDomain
import IMSEngine
import IMSIngest
import Testing

struct BatchTests {
    @Test func anAtomicBatchWithOneBadLineAppliesNothingAndListsEveryBadLine() {
        var h = Harness()
        let before = h.state.lastSequence
        let o = h.ingest([Harness.trade("T1"), Harness.trade("T2", book: "NOPE"), Harness.trade("T3", security: "NOPE"), "{oops"].joined(separator: "\n"))
        #expect(!o.applied)
        #expect(o.rejected.map(\.line) == [2, 3, 4])
        #expect(o.rejected.map(\.field) == ["bookId", "securityId", "json"])
        #expect(h.position() == nil)
        #expect(h.state.lastSequence == before)
    }

    @Test func aPartialBatchAppliesGoodLinesAndKeepsBadOnesAsExceptions() {
        var h = Harness()
        let o = h.ingest([Harness.trade("T1"), Harness.trade("T2", book: "NOPE")].joined(separator: "\n"), mode: .partial)
        #expect(o.applied && o.accepted == 1)
        #expect(h.position()!.intradayBuys == 100)
        let e = h.state.readModel.exceptions()
        #expect(e.count == 1 && e[0].kind == .rejectedInput && e[0].line == 2 && e[0].field == "bookId")
        #expect(e[0].raw?.contains("NOPE") == true)
    }

    @Test func laterLinesMayUseWhatEarlierLinesDefine() {
        var h = Harness()
        let o = h.ingest(
            """
            {"type":"security","securityId":"NEW1","marketId":"US"}
            {"type":"book","bookId":"B9","legalEntity":"PB-US","positionType":"FIRM"}
            \(Harness.trade("T1", book: "B9", security: "NEW1"))
            """)
        #expect(o.applied && o.rejected.isEmpty)
        #expect(h.position("B9", "NEW1")?.intradayBuys == 100)
    }

    @Test func sequencesGrowByAcceptedEvents() {
        var h = Harness()
        let start = h.state.lastSequence
        let o = h.ingest([Harness.trade("T1"), Harness.trade("T2")].joined(separator: "\n"))
        #expect(o.lastSequence == start + 2)
    }
}

struct ReferenceDataTests {
    @Test func securitiesAreFoundByAnyIdentifier() {
        var h = Harness()
        h.ingest(#"{"type":"security","securityId":"VOD","isin":"GB00BH4HKS39","sedol":"BH4HKS3","ticker":"VOD","ric":"VOD.L","marketId":"UK"}"#)
        for id in ["VOD", "GB00BH4HKS39", "BH4HKS3", "VOD.L"] {
            #expect(h.state.readModel.security(id)?.security.securityId == "VOD", "\(id)")
        }
        #expect(h.state.readModel.searchSecurities(query: "vod", marketId: "UK", offset: 0, limit: 10).total == 1)
    }

    @Test func aProviderRecordWithoutAnIdIsMatchedByIdentifier() {
        var h = Harness()
        h.ingest(#"{"type":"security","isin":"US0378331005","name":"Apple Inc","marketId":"US","provider":"P2","version":1}"#)
        #expect(h.state.securityCount == 2)
        #expect(h.state.readModel.security("AAPL")?.security.name == "Apple Inc")
    }

    @Test func aConflictingIdentifierIsRejectedNeverMerged() {
        var h = Harness()
        let o = h.ingest(#"{"type":"security","securityId":"OTHER","isin":"US0378331005","marketId":"US"}"#)
        #expect(o.rejected.map(\.field) == ["isin"])
        #expect(h.state.readModel.security("OTHER") == nil)
    }

    @Test func olderProviderVersionsDoNotOverwrite() {
        var h = Harness()
        h.ingest(#"{"type":"security","securityId":"AAPL","marketId":"US","name":"v5","version":5,"provider":"P"}"#)
        let o = h.ingest(#"{"type":"security","securityId":"AAPL","marketId":"US","name":"v4","version":4,"provider":"P"}"#)
        #expect(o.ignored == 1)
        #expect(h.state.readModel.security("AAPL")?.security.name == "v5")
    }

    @Test func aggregationUnitNamesAreUniqueInAMarket() {
        var h = Harness()
        h.ingest(#"{"type":"aggregationUnit","aggregationUnitId":"AU1","name":"Main","marketId":"US","legalEntity":"PB-US","unitType":"NET","isDefault":true}"#)
        let o = h.ingest(#"{"type":"aggregationUnit","aggregationUnitId":"AU2","name":"Main","marketId":"US","legalEntity":"PB-US","unitType":"LONG"}"#)
        #expect(o.rejected.map(\.field) == ["name"])
        h.ingest(Harness.trade("T1"))
        #expect(h.position()?.aggregationUnitId == "AU1")
        #expect(h.state.readModel.positions(matching: PositionFilter(aggregationUnitId: "AU1")).total == 1)
    }
}
