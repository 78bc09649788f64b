import IMSDomain
import IMSEngine
import IMSIngest
import Testing

/// Bad bytes are refused, never reinterpreted: two different byte strings must not become one id.
struct BadBytesTests {
    func decode(_ bytes: [UInt8], csv: Bool = false) -> IngestBatch {
        bytes.withUnsafeBytes { raw in
            csv
                ? BatchDecoder.decodeCSV(raw, type: "price", receivedAt: Timestamp(micros: 0))
                : BatchDecoder.decodeNDJSON(raw, receivedAt: Timestamp(micros: 0))
        }
    }

    static func trade(id: [UInt8]) -> [UInt8] {
        Array(#"{"type":"trade","tradeId":""#.utf8) + id
            + Array(#"","version":1,"status":"NEW","bookId":"B","securityId":"S","side":"BUY","quantity":1,"price":1,"tradeDate":"2026-11-25"}"#.utf8)
    }

    @Test(arguments: [[0x55, 0x54, 0x46, 0xFF], [0x55, 0x54, 0x46, 0xFE], [0xC3], [0xED, 0xA0, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80]] as [[UInt8]])
    func invalidUTF8InAnIdIsRefusedNamingTheField(id: [UInt8]) {
        let batch = decode(Self.trade(id: id))
        #expect(batch.events.isEmpty)
        #expect(batch.rejected.map(\.field) == ["tradeId"])
        #expect(batch.rejected.first?.error.contains("UTF-8") == true)
    }

    @Test func validUTF8IdsStayDistinct() {
        let batch = decode(Self.trade(id: Array("Zürich-東京".utf8)) + [0x0A] + Self.trade(id: Array("Zurich".utf8)))
        let ids = batch.events.compactMap { if case .trade(let t) = $0 { t.tradeId } else { nil } }
        #expect(ids == ["Zürich-東京", "Zurich"])
    }

    @Test func invalidUTF8ThroughAnEscapeOrInCSVIsRefused() {
        // A lone low surrogate escape, and raw invalid bytes in a CSV cell.
        let escaped = decode(Array(#"{"type":"price","securityId":"\udc00","last":1}"#.utf8))
        #expect(escaped.rejected.map(\.field) == ["securityId"])
        let csv = decode(Array("securityId,last\n".utf8) + [0x41, 0xFF] + Array(",1\n".utf8), csv: true)
        #expect(csv.rejected.map { "\($0.line):\($0.field)" } == ["2:securityId"])
    }

    @Test func identifiersHaveALengthCap() {
        let long = String(repeating: "x", count: InputBounds.maxIdentifierBytes + 1)
        let batch = decode(Self.trade(id: Array(long.utf8)) + [0x0A] + Self.trade(id: Array(long.dropLast().utf8)))
        #expect(batch.rejected.map { "\($0.line):\($0.field)" } == ["1:tradeId"])
        #expect(batch.events.count == 1)
    }

    @Test(arguments: [false, true])
    func aByteOrderMarkGetsAClearMessage(csv: Bool) {
        let body = csv ? "securityId,last\nS,1\n" : #"{"type":"price","securityId":"S","last":1}"#
        let batch = decode([0xEF, 0xBB, 0xBF] + Array(body.utf8), csv: csv)
        #expect(batch.events.isEmpty)
        #expect(batch.rejected.count == 1)
        #expect(batch.rejected.first?.error.contains("byte-order mark") == true)
    }

    @Test(arguments: ["0100", "-01", "00"])
    func leadingZerosAreRefusedAsJSONDoes(number: String) {
        let batch = decode(Array(#"{"type":"price","securityId":"S","last":\#(number)}"#.utf8))
        #expect(batch.rejected.map(\.field) == ["last"])
    }

    @Test(arguments: ["0", "0.5", "0.25", "10"])
    func numbersWithoutLeadingZerosStillDecode(number: String) {
        #expect(decode(Array(#"{"type":"price","securityId":"S","last":\#(number)}"#.utf8)).rejected.isEmpty)
    }
}

/// Found by the mutation fuzzer (seed 1795965673483): a field with an empty name was rejected with an empty `field`.
struct EmptyFieldNameTests {
    @Test(arguments: [#"{"type":"price","securityId":"S","last":1,"":2}"#, #"{"type":"price","securityId":"S","last":1,"":0100}"#])
    func aFieldWithAnEmptyNameIsNamedAsWritten(line: String) {
        let batch = Array(line.utf8).withUnsafeBytes { BatchDecoder.decodeNDJSON($0, receivedAt: Timestamp(micros: 0)) }
        #expect(batch.rejected.map(\.field) == [#""""#])
    }
}
