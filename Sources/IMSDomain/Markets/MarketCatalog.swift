#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The markets IMS knows and their calendars, keyed by market id.
///
/// `MarketCatalog.embedded` is the data shipped in `data/` (compiled into the
/// binary); `MarketCatalog(directory:)` loads a user's replacement from a
/// folder of the same layout (`markets.json`, `calendars/<MARKET>.json`).
public struct MarketCatalog: Sendable {
    public private(set) var markets: [String: Market]
    public private(set) var calendars: [String: MarketCalendar]

    /// The market ids in a stable order.
    public var marketIds: [String] { markets.keys.sorted() }

    /// A `MarketCatalog` from its fields.
    public init(markets: [Market], calendars: [MarketCalendar]) {
        self.markets = Dictionary(markets.map { ($0.marketId, $0) }, uniquingKeysWith: { _, b in b })
        self.calendars = Dictionary(calendars.map { ($0.marketId, $0) }, uniquingKeysWith: { _, b in b })
    }

    /// The catalog compiled into the binary from `data/`.
    public static let embedded: MarketCatalog = {
        do {
            return try MarketCatalog(
                marketsJSON: Array(EmbeddedMarketData.markets.utf8),
                calendarJSON: EmbeddedMarketData.calendars.mapValues { Array($0.utf8) })
        } catch {
            fatalError("embedded market data is invalid: \(error)")
        }
    }()

    /// Why market data did not load.
    public struct LoadError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Parses `markets.json` and each market's calendar file.
    public init(marketsJSON: [UInt8], calendarJSON: [String: [UInt8]]) throws {
        let decoder = JSONDecoder()
        let markets: [Market]
        do {
            markets = try decoder.decode([Market].self, from: Data(marketsJSON))
        } catch {
            throw LoadError(description: "markets.json: \(error)")
        }
        var calendars: [MarketCalendar] = []
        for market in markets {
            guard let bytes = calendarJSON[market.marketId] else {
                throw LoadError(description: "no calendar for market \(market.marketId)")
            }
            do {
                let file = try decoder.decode(CalendarFile.self, from: Data(bytes))
                guard file.marketId == market.marketId, file.from <= file.to else {
                    throw LoadError(description: "calendar file names market \(file.marketId) or has from > to")
                }
                calendars.append(
                    MarketCalendar(
                        marketId: market.marketId, range: file.from...file.to, tradingHolidays: file.tradingHolidays,
                        settlementHolidays: file.settlementHolidays, holidaysPublishedThrough: file.holidaysPublishedThrough,
                        source: file.source))
            } catch let error as LoadError {
                throw error
            } catch {
                throw LoadError(description: "calendars/\(market.marketId).json: \(error)")
            }
        }
        self.init(markets: markets, calendars: calendars)
    }

    /// The on-disk form of one market's calendars.
    struct CalendarFile: Codable {
        var marketId: String
        var source: String
        var from: BusinessDate
        var to: BusinessDate
        var holidaysPublishedThrough: BusinessDate?
        var tradingHolidays: [BusinessDate]
        var settlementHolidays: [BusinessDate]
    }
}
