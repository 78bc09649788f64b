/// NDJSON for end-to-end tests: one US book trading a run of securities.
enum TradeFlow {
    /// The US business date, a book and `count` securities `prefix0`, `prefix1`…
    static func setup(book: String, prefix: String, count: Int) -> String {
        var lines = [
            #"{"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}"#,
            #"{"type":"book","bookId":"\#(book)","legalEntity":"PB-US","positionType":"FIRM"}"#,
        ]
        for s in 0..<count { lines.append(#"{"type":"security","securityId":"\#(prefix)\#(s)","marketId":"US"}"#) }
        return lines.joined(separator: "\n")
    }

    /// One buy of `quantity` in every security: trade ids `tradePrefix<round>-<security>`.
    static func buys(round r: Int, book: String, prefix: String, tradePrefix: String, count: Int, quantity: Int) -> String {
        (0..<count).map {
            #"{"type":"trade","tradeId":"\#(tradePrefix)\#(r)-\#($0)","version":1,"status":"NEW","bookId":"\#(book)","securityId":"\#(prefix)\#($0)","side":"BUY","quantity":\#(quantity),"price":"1","tradeDate":"2026-11-25"}"#
        }.joined(separator: "\n")
    }
}
