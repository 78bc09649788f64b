import IMSDomain
import Testing

@testable import IMSEngine

/// Tickers repeat across markets (`IdentifierKind.isGloballyUnique`); the engine resolves a locate's or an order's
/// security through one key per ticker. Amending one security must never take the key from another.
struct SharedTickerTests {
    private func owner(_ h: Harness, _ identifier: String) -> String? {
        h.state.reference.securityIndex(identifier).map { h.state.reference.securityIds.name($0) }
    }

    /// SHR-US in the US, SHR-JP in Japan.
    private func line(_ id: String, ticker: String, name: String = "Shared") -> String {
        let market = id == "SHR-US" ? #""marketId":"US","currency":"USD""# : #""marketId":"JP","currency":"JPY""#
        return #"{"type":"security","securityId":"\#(id)","ticker":"\#(ticker)","name":"\#(name)",\#(market)}"#
    }

    @Test func aTickerGivenUpByOneSecurityStaysFoundForTheOther() {
        var h = Harness()
        h.ingest(line("SHR-US", ticker: "SHR"))
        h.ingest(line("SHR-JP", ticker: "SHR"))
        #expect(owner(h, "SHR") != nil)
        // The US line changes its ticker: SHR now names the Japanese line only.
        h.ingest(line("SHR-US", ticker: "SHRX"))
        #expect(owner(h, "SHR") == "SHR-JP")
        #expect(owner(h, "SHRX") == "SHR-US")
        // Then the Japanese line gives SHR up too: nothing has it any more.
        h.ingest(line("SHR-JP", ticker: "SHRJ"))
        #expect(owner(h, "SHR") == nil)
        #expect(owner(h, "SHRJ") == "SHR-JP")
    }

    @Test func theSecurityTheKeyNamesHandsTheTickerOnWhenItGivesItUp() throws {
        var h = Harness()
        h.ingest(line("SHR-US", ticker: "SHR"))
        h.ingest(line("SHR-JP", ticker: "SHR"))
        let named = try #require(owner(h, "SHR"))
        let other = named == "SHR-US" ? "SHR-JP" : "SHR-US"
        h.ingest(line(named, ticker: "NEW"))
        #expect(owner(h, "SHR") == other)
        // An amendment that keeps the ticker (a new name) leaves it found.
        h.ingest(line(other, ticker: "SHR", name: "Shared Holdings"))
        #expect(owner(h, "SHR") == other)
    }
}
