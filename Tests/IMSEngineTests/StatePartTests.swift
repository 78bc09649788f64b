import IMSDomain
import IMSIngest
import Testing

@testable import IMSEngine

/// The state's parts are registered once (`EngineState.parts`); the snapshot codec, the change record, the
/// read model and its canonical text iterate the registry.
struct StatePartTests {
    @Test func sectionTagsAndNamesAreUniqueAndTheFormat2PartsComeFirst() {
        let tags = EngineState.parts.map { $0.sectionTag }
        #expect(Set(tags).count == tags.count, "two parts share a section tag: \(tags)")
        let names = EngineState.parts.map { $0.name }
        #expect(Set(names).count == names.count)
        // Format 2 was one fixed sequence: counters, markets, reference, partitions, financing, feeds, exceptions.
        #expect(EngineState.format2Parts.map { $0.name } == ["counters", "markets", "reference", "partitions", "financing", "feeds", "exceptions"])
        #expect(EngineState.format2Parts.map { $0.sectionTag } == [1, 2, 3, 4, 5, 6, 7])
        for part in EngineState.parts { #expect(EngineState.part(sectionTag: part.sectionTag).map { $0.name } == part.name) }
    }

    /// A record counts every part's items: here an acknowledgement changes two exceptions and writes one
    /// audit entry. (The count before the registry left the audit entry out, as it did locates, orders,
    /// scoped buckets and rebuilt inventory.)
    @Test func aRecordCountsTheItemsOfEveryPart() {
        var h = Harness()
        h.ingest(#"{"type":"trade","tradeId":"BAD1","quantity":-1}"# + "\n" + #"{"type":"trade","tradeId":"BAD2"}"#, mode: .partial)
        let ids = h.state.readModel.exceptions(kind: .rejectedInput, limit: 10).map(\.exceptionId)
        #expect(ids.count == 2)
        h.state.discardChanges()
        let from = h.state.nextExceptionIdentifier
        var batch = IngestBatch(receivedAt: Timestamp(micros: 9), events: [Event(ExceptionCommand(exceptionIds: ids, note: "seen", user: "olga"))], lines: [1])
        batch.issuer = "key:1:desk"
        let outcome = h.state.apply(.batch(batch), record: 1)!
        #expect(outcome.applied && outcome.rejected.isEmpty)
        let record = h.state.takeChangeRecord(exceptionsFrom: from, earliest: Timestamp(micros: 9), records: 1...1, results: [outcome])
        #expect(record.exceptions.count == 2)
        #expect(record.audit.count == 1)
        #expect(record.itemCount == 3)
    }

    /// Each part's change reaches the read model through the registry: taking a record after every batch
    /// and applying it gives the read model of the final state (the property `ReadModelTests` checks at
    /// scale), here with locates and an audit trail, which the registry now counts and carries.
    @Test func everyPartsChangeReachesTheReadModel() {
        var h = Harness()
        var model = h.state.readModel
        h.state.discardChanges()
        var text = Harness.trade("T1")
        var batch = text.withUTF8 { BatchDecoder.decodeNDJSON(UnsafeRawBufferPointer($0), mode: .atomic, receivedAt: Timestamp(micros: 5)) }
        batch.issuer = "key:1:desk"
        let from = h.state.nextExceptionIdentifier
        let outcome = h.state.apply(.batch(batch), record: 1)!
        #expect(outcome.applied)
        model.apply(h.state.takeChangeRecord(exceptionsFrom: from, earliest: Timestamp(micros: 5), records: 1...1, results: [outcome]))
        #expect(model.canonicalText() == h.state.readModel.canonicalText())
        #expect(model.canonicalText().contains("audit "), "the audit part's lines are in the canonical text")
        #expect(model.position(bookId: "FIRM1", securityId: "AAPL")?.intradayBuys == 100)
    }
}

/// Markets' short-sale regimes are data in the market catalogue: the order checks follow whatever regime a
/// catalogue gives a market, and no market id is tested in code.
struct ShortSaleRegimeTests {
    static func checks(_ catalog: MarketCatalog) -> [String] {
        var h = Harness()
        h.state = EngineState(catalog: catalog)
        h.ingest(Harness.reference)
        let order = OrderCommand(orderId: "O1", clientId: "C1", bookId: "CL1", securityId: "AAPL", side: .sellShort, quantity: 10, price: Decimal8(units: 0))
        let view = try? h.state.dryRunOrder(order, at: Timestamp(micros: 1))
        return view?.checks.filter { $0.stage == "MARKET" }.map(\.code) ?? ["no answer"]
    }

    static func catalog(us regime: ShortSaleRegime) -> MarketCatalog {
        let embedded = MarketCatalog.embedded
        var markets = Array(embedded.markets.values)
        for i in markets.indices where markets[i].marketId == "US" { markets[i].shortSale = regime }
        return MarketCatalog(markets: markets, calendars: Array(embedded.calendars.values))
    }

    @Test func theOrderChecksFollowTheCataloguesRegime() {
        #expect(MarketCatalog.embedded.markets["US"]?.shortSale == ShortSaleRegime(requirement: .locate, priceTest: .aboveBid))
        #expect(MarketCatalog.embedded.markets["HK"]?.shortSale == ShortSaleRegime(requirement: .locate, priceFloor: .notBelowAsk, designatedList: true))
        #expect(MarketCatalog.embedded.markets["KR"]?.shortSale.requirement == .preBorrow)
        #expect(Self.checks(.embedded) == ["LOCATE_REQUIRED"])
        #expect(Self.checks(Self.catalog(us: ShortSaleRegime())) == [], "no regime: no market checks")
        #expect(Self.checks(Self.catalog(us: ShortSaleRegime(requirement: .preBorrow))) == ["PRE_BORROW_REQUIRED"])
    }
}

/// Desk commands are registered once (`DeskCommands.kinds`): each kind's journal tag is its own, and the
/// engine has a conformance for each (its validation, apply and audit entry).
struct DeskCommandTests {
    @Test func everyKindHasItsOwnTagAndTheEnginesSide() throws {
        let tags = DeskCommands.kinds.map { $0.binaryTag }
        #expect(Set(tags).count == tags.count)
        #expect(tags.allSatisfy { $0 >= 12 }, "1…11 are the data events' tags")
        #expect(
            DeskCommands.kinds.map { $0.typeName } == [
                "ruleCommand", "locateCommand", "orderCommand", "exceptionCommand", "orderCancelCommand", "auditNoteCommand",
            ])
        for kind in DeskCommands.kinds { #expect(kind is any EngineCommand.Type, "\(kind.typeName) has no EngineCommand conformance") }
    }

    /// An audit note changes nothing but the audit trail; an action it may not carry, or an empty subject, is
    /// refused naming the field.
    @Test func anAuditNoteIsAnAuditEntryAndNothingElse() throws {
        var state = EngineState()
        var batch = IngestBatch(mode: .decisions, receivedAt: Timestamp(micros: 1_795_000_000_000_000))
        batch.issuer = "key:k1:oms via FIX IMS-OMS"
        for note in [
            AuditNoteCommand(action: "FIX_LOGON", subject: "session IMS-OMS", detail: "from 127.0.0.1"),
            AuditNoteCommand(action: "RULE_ACTIVATE", subject: "rules v9"), AuditNoteCommand(action: "FIX_LOGOUT", subject: ""),
        ] {
            batch.events.append(Event(note))
            batch.lines.append(Int32(batch.events.count))
        }
        let outcome = state.apply(.batch(batch), record: 1)
        #expect(outcome?.rejected.map(\.field) == ["action", "subject"])
        let entries = state.auditEntries(AuditFilter(), limit: 10)
        #expect(entries.map(\.action) == ["FIX_LOGON", "RULE_ACTIVATE", "FIX_LOGOUT"])
        #expect(entries.map(\.outcome) == ["APPLIED", "REJECTED", "REJECTED"])
        #expect(entries[0].user == "key:k1:oms via FIX IMS-OMS" && entries[0].detail == "from 127.0.0.1")
        #expect(state.rules.versions.count == EngineState().rules.versions.count)
    }

    /// A command round-trips through the journal's encoding under its tag, and decodes as the same event.
    @Test func aCommandRoundTripsThroughTheJournalEncoding() throws {
        let event = Event(LocateCommand(action: .request, requestId: "r1", clientId: "C1", securityId: "AAPL", quantity: 10, side: .short))
        var w = BinaryWriter(capacity: 64)
        event.encode(to: &w)
        #expect(w.bytes.first == LocateCommand.binaryTag)
        let decoded = try w.bytes.withUnsafeBytes { raw throws(BinaryFormatError) -> Event in
            var r = BinaryReader(raw)
            return try Event(from: &r)
        }
        #expect(decoded == event)
        #expect(decoded.command(LocateCommand.self)?.requestId == "r1")
        #expect(decoded.command(OrderCommand.self) == nil)
        #expect(decoded.typeName == "locateCommand")
        let cancel = Event(OrderCancelCommand(orderId: "o1", clientId: "C1", reason: "r", user: nil))
        var c = BinaryWriter(capacity: 64)
        cancel.encode(to: &c)
        #expect(c.bytes.first == 16)
        #expect(
            try c.bytes.withUnsafeBytes { raw throws(BinaryFormatError) -> Event in
                var r = BinaryReader(raw)
                return try Event(from: &r)
            } == cancel)
    }
}

/// The data events' kinds are one table (`Event.Kind`): names as NDJSON spells them, tags as journals hold them.
struct EventKindTests {
    @Test func namesAndTagsAreTheJournalsAndTheFeeds() {
        #expect(
            Event.typeNames == [
                "security", "counterparty", "aggregationUnit", "book", "sodPosition", "trade",
                "contract", "availability", "price", "fxRate", "marketDayRoll",
            ])
        #expect(Event.Kind.allCases.map(\.rawValue) == Array(1...11), "tags are written into journals: fixed forever")
        for kind in Event.Kind.allCases { #expect(Event.Kind(typeName: kind.typeName) == kind) }
        #expect(Event.Kind(typeName: "Trade") == nil)
        #expect(Set(DeskCommands.kinds.map { $0.binaryTag }).isDisjoint(with: Event.Kind.allCases.map(\.rawValue)))
    }
}
