import IMSDomain
import IMSEngine
import IMSIngest

/// Drives an `EngineState` with NDJSON text, as a feed would.
struct Harness {
    var state = EngineState()

    static let reference = """
        {"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-24"}
        {"type":"marketDayRoll","marketId":"JP","businessDate":"2026-11-24"}
        {"type":"security","securityId":"AAPL","isin":"US0378331005","ticker":"AAPL","marketId":"US","currency":"USD"}
        {"type":"security","securityId":"TOYOTA","isin":"JP3633400001","marketId":"JP","currency":"JPY"}
        {"type":"book","bookId":"FIRM1","legalEntity":"PB-US","positionType":"FIRM"}
        {"type":"book","bookId":"CL1","legalEntity":"PB-US","positionType":"CLIENT_FREE","clientId":"C1"}
        """

    init(reference: String = Harness.reference) {
        let outcome = ingest(reference)
        precondition(outcome.applied && outcome.rejected.isEmpty, "reference rejected: \(outcome.rejected)")
    }

    @discardableResult
    mutating func ingest(_ ndjson: String, mode: IngestBatch.Mode = .atomic) -> BatchOutcome {
        var text = ndjson
        let batch = text.withUTF8 { BatchDecoder.decodeNDJSON(UnsafeRawBufferPointer($0), mode: mode, receivedAt: Timestamp(micros: 0)) }
        return state.process(batch)
    }

    func position(_ book: String = "FIRM1", _ security: String = "AAPL") -> PositionView? {
        state.readModel.position(bookId: book, securityId: security)
    }

    static func trade(
        _ id: String, v: Int = 1, status: String = "NEW", book: String = "FIRM1", security: String = "AAPL",
        side: String = "BUY", qty: Int = 100, date: String = "2026-11-24", settle: String? = nil
    ) -> String {
        let s = settle.map { #","settleDate":"\#($0)""# } ?? ""
        return
            #"{"type":"trade","tradeId":"\#(id)","version":\#(v),"status":"\#(status)","bookId":"\#(book)","securityId":"\#(security)","side":"\#(side)","quantity":\#(qty),"price":10.5,"tradeDate":"\#(date)"\#(s)}"#
    }
}
