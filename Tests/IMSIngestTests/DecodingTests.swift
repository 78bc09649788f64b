import IMSDomain
import IMSEngine
import IMSIngest
import Testing

struct DecodingTests {
    func decode(_ text: String) -> IngestBatch {
        var text = text
        return text.withUTF8 { BatchDecoder.decodeNDJSON(UnsafeRawBufferPointer($0), receivedAt: Timestamp(micros: 0)) }
    }

    static let good =
        #"{"type":"trade","tradeId":"T1","version":1,"status":"NEW","bookId":"B","securityId":"S","side":"BUY","quantity":100,"price":1.5,"tradeDate":"2026-11-25"}"#

    @Test func everyEventTypeDecodes() {
        let lines = [
            Self.good,
            #"{"type":"sodPosition","businessDate":"2026-11-25","bookId":"B","securityId":"S","contractualQty":-5,"settledQty":0,"sd4Deliver":3}"#,
            #"{"type":"contract","contractId":"C","version":1,"kind":"BORROW","status":"OPEN","bookId":"B","counterpartyId":"L","securityId":"S","quantity":10,"rateBps":12.5,"startDate":"2026-11-25"}"#,
            #"{"type":"availability","sourceId":"L","securityId":"S","quantity":10,"availabilityType":"FIRM","effectiveDate":"2026-11-25"}"#,
            #"{"type":"price","securityId":"S","last":10.25,"bid":10.2,"ask":10.3,"ts":"2026-11-25T14:30:00Z"}"#,
            #"{"type":"fxRate","currency":"JPY","usdRate":0.0066}"#,
            #"{"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-26"}"#,
            #"{"type":"security","securityId":"S","isin":"US0378331005","cusip":"037833100","marketId":"US","temperature":"HTB","constituents":[{"securityId":"X","weight":0.5}]}"#,
            #"{"type":"counterparty","counterpartyId":"L","name":"Lender \"One\" \u00e9","kind":"LENDER"}"#,
            #"{"type":"aggregationUnit","aggregationUnitId":"AU","name":"n","marketId":"US","legalEntity":"LE","unitType":"NET"}"#,
            #"{"type":"book","bookId":"B","legalEntity":"LE","positionType":"CLIENT_FREE","clientId":"C1","aggregationUnits":{"US":"AU"}}"#,
        ]
        let batch = decode(lines.joined(separator: "\r\n"))
        #expect(batch.rejected.isEmpty, "\(batch.rejected)")
        #expect(
            batch.events.map(\.typeName) == [
                "trade", "sodPosition", "contract", "availability", "price", "fxRate", "marketDayRoll",
                "security", "counterparty", "aggregationUnit", "book",
            ])
        if case .counterparty(let c) = batch.events[8] { #expect(c.name == "Lender \"One\" é") }
        if case .book(let b) = batch.events[10] { #expect(b.aggregationUnits == ["US": "AU"]) }
        if case .sodPosition(let s) = batch.events[1] { #expect(s.delivers[4] == 3 && s.contractualQty == -5) }
    }

    @Test(
        "bad input names its line and field",
        arguments: [
            ("{not json", "json"),
            ("[1,2]", "json"),
            (#"{"tradeId":"T1"}"#, "type"),
            (#"{"type":"teleport"}"#, "type"),
            (
                #"{"type":"trade","tradeId":"T1","version":1,"status":"NEW","bookId":"B","securityId":"S","side":"BUY","price":1,"tradeDate":"2026-11-25"}"#,
                "quantity"
            ),
            (
                #"{"type":"trade","tradeId":"T1","version":1,"status":"NEW","bookId":"B","securityId":"S","side":"BUY","quantity":"100","price":1,"tradeDate":"2026-11-25"}"#,
                "quantity"
            ),
            (
                #"{"type":"trade","tradeId":"T1","version":1,"status":"NEW","bookId":"B","securityId":"S","side":"BUY","quantity":-100,"price":1,"tradeDate":"2026-11-25"}"#,
                "quantity"
            ),
            (
                #"{"type":"trade","tradeId":"T1","version":1,"status":"NEW","bookId":"B","securityId":"S","side":"BUY","quantity":1.5,"price":1,"tradeDate":"2026-11-25"}"#,
                "quantity"
            ),
            (
                #"{"type":"trade","tradeId":"T1","version":1,"status":"NEW","bookId":"B","securityId":"S","side":"BUY","quantity":100,"price":1,"tradeDate":"2026-02-30"}"#,
                "tradeDate"
            ),
            (
                #"{"type":"trade","tradeId":"T1","version":1,"status":"NEW","bookId":"B","securityId":"S","side":"LEND","quantity":100,"price":1,"tradeDate":"2026-11-25"}"#,
                "side"
            ),
            (
                #"{"type":"trade","tradeId":"T1","version":1,"status":"NEW","bookId":"B","securityId":"S","side":"BUY","quantity":100,"price":1,"tradeDate":"2026-11-25","qty":3}"#,
                "qty"
            ),
            (#"{"type":"trade","type":"trade"}"#, "type"),
            (#"{"type":"price","securityId":"S","last":1.123456789}"#, "last"),
            (#"{"type":"price","securityId":"S","last":1,"bid":2,"ask":1}"#, "bid"),
            (#"{"type":"fxRate","currency":"yen","usdRate":1}"#, "currency"),
            (#"{"type":"security","securityId":"S","isin":"US0378331006","marketId":"US"}"#, "isin"),
            (#"{"type":"book","bookId":"B","legalEntity":"LE","positionType":"CLIENT_FREE"}"#, "clientId"),
            (
                #"{"type":"trade","tradeId":"T1","version":99999999999999999999,"status":"NEW","bookId":"B","securityId":"S","side":"BUY","quantity":1,"price":1,"tradeDate":"2026-11-25"}"#,
                "version"
            ),
        ])
    func badLines(line: String, field: String) {
        let batch = decode(Self.good + "\n\n" + line)
        #expect(batch.events.count == 1)
        #expect(batch.rejected.count == 1)
        #expect(batch.rejected.first?.line == 3)
        #expect(batch.rejected.first?.field == field, "\(batch.rejected)")
        #expect(!(batch.rejected.first?.error.isEmpty ?? true))
    }

    @Test func csvReferenceDataAndSnapshots() {
        var csv = """
            # comment
            type,bookId,securityId,businessDate,contractualQty,settledQty,sd1Receipt
            sodPosition,B1,S1,2026-11-25,100,90,10
            sodPosition,B1,"S,2",2026-11-25,5,5,
            sodPosition,B1,S3,2026-11-25,x,5,
            """
        let batch = csv.withUTF8 { BatchDecoder.decodeCSV(UnsafeRawBufferPointer($0), type: nil, receivedAt: Timestamp(micros: 0)) }
        #expect(batch.events.count == 2)
        if case .sodPosition(let s) = batch.events[1] { #expect(s.securityId == "S,2") }
        #expect(batch.rejected.map(\.line) == [5])
        #expect(batch.rejected.map(\.field) == ["contractualQty"])
    }

    @Test func theShippedUniverseDecodesCleanly() {
        let batch = MarketSimulator.securitiesCSV.utf8CString.withUnsafeBytes {
            BatchDecoder.decodeCSV(UnsafeRawBufferPointer(rebasing: $0.dropLast()), type: "security", receivedAt: Timestamp(micros: 0))
        }
        #expect(batch.rejected.isEmpty, "\(batch.rejected.prefix(3))")
        #expect(batch.events.count > 1000)
    }

    /// The demo's universe carries a desk's mix of borrow traits, so every view has work in it (issue 26, 5).
    @Test func theDemoUniverseHasEveryTemperatureAndFlag() {
        let batch = MarketSimulator.demoSecuritiesCSV.utf8CString.withUnsafeBytes {
            BatchDecoder.decodeCSV(UnsafeRawBufferPointer(rebasing: $0.dropLast()), type: "security", receivedAt: Timestamp(micros: 0))
        }
        #expect(batch.rejected.isEmpty, "\(batch.rejected.prefix(3))")
        let securities = batch.events.compactMap { event -> Security? in if case .security(let s) = event { s } else { nil } }
        #expect(securities.count > 1000)
        let count = { (test: (Security) -> Bool) in securities.filter(test).count }
        let htb = count { $0.temperature == .htb }, warm = count { $0.temperature == .warm }, gc = count { $0.temperature == .gc }
        #expect(htb > 30 && htb < gc / 5, "HTB \(htb), GC \(gc)")
        #expect(warm > htb && warm < gc / 2, "warm \(warm)")
        #expect(count { $0.easyToBorrow && $0.marketId == "US" && $0.temperature == .gc } > 100)
        #expect(count { $0.easyToBorrow && ($0.marketId != "US" || $0.temperature != .gc) } == 0)
        #expect(count { $0.thresholdList } > 0 && count { $0.thresholdList && $0.temperature != .htb } == 0)
        #expect(count { $0.restricted } > 0)
        // Each security's traits are the ones `DemoTraits` names for it (a quoted name with commas included).
        for s in securities {
            let t = MarketSimulator.DemoTraits(securityId: s.securityId!, marketId: s.marketId)
            #expect(t.temperature == s.temperature && t.easyToBorrow == s.easyToBorrow && t.restricted == s.restricted, "\(s.securityId!)")
        }
    }

    @Test func identifierCheckDigits() {
        #expect(IdentifierChecks.isValidISIN("US0378331005"))
        #expect(!IdentifierChecks.isValidISIN("US0378331004"))
        #expect(IdentifierChecks.isValidCUSIP("037833100"))
        #expect(IdentifierChecks.isValidSEDOL("BH4HKS3"))
        #expect(!IdentifierChecks.isValidSEDOL("BH4HKS4"))
    }
}
