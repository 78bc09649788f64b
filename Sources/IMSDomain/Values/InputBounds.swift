/// The business bounds every input is held to, so that no figure IMS keeps or shows can leave the 64-bit
/// range: a line outside them is refused, naming its field, before anything is applied.
///
/// They are far beyond anything a desk books (the largest issuers have about 10¹⁰ shares outstanding), and
/// they are checked when a batch is validated, which recovery and replay do again: a journal written before
/// a bound existed still starts, its offending lines refused on replay as they would be today.
///
/// ```swift
/// if let problem = InputBounds.quantity(t.quantity, field: "quantity") { return problem }
/// ```
public enum InputBounds {
    /// The largest quantity of one event: a trade, a contract, a lender's availability, or one figure of
    /// an SOD snapshot (whose contractual and settled figures may be as negative): 10¹² units.
    public static let maxQuantity: Int64 = 1_000_000_000_000
    /// The largest price, bid, ask or previous close: 10⁹ in the security's currency.
    public static let maxPrice = Decimal8(units: 1_000_000_000 * Decimal8.scale)
    /// The largest USD rate of a currency (USD per unit): 10⁶.
    public static let maxUSDRate = Decimal8(units: 1_000_000 * Decimal8.scale)
    /// The largest borrow or lending rate, in basis points, either way: 10⁶ (10,000 %).
    public static let maxRateBps = Decimal8(units: 1_000_000 * Decimal8.scale)
    /// The largest feed sequence number: 2⁵³ − 1, which every JSON reader holds exactly.
    public static let maxFeedSequence: Int64 = (1 << 53) - 1
    /// The largest trade, contract or reference-data version: 2⁵³ − 1.
    public static let maxVersion: Int64 = (1 << 53) - 1
    /// The most the figures of one position may add up to in magnitude (SOD figures, ladder rows, the
    /// `later` totals and intraday figures): 10¹⁸. Every figure IMS shows for a position is a signed sum of
    /// some of these, each taken once, so none can overflow. See `docs/events.md`.
    public static let maxPositionMass: Int64 = 1_000_000_000_000_000_000
    /// The longest identifier (ids of trades, books, securities, feeds, …) in UTF-8 bytes.
    public static let maxIdentifierBytes = 128
    /// The longest free text (names, messages) in UTF-8 bytes.
    public static let maxTextBytes = 1_024
    /// The longest formula of a rule, in UTF-8 bytes.
    public static let maxFormulaBytes = 4_096
    /// The largest request body of the API that is one command (a locate, a decision, an order, an
    /// acknowledgement, a rule step): 64 KiB. Bulk files and rule documents have limits of their own.
    public static let maxCommandBodyBytes = 64 << 10
    /// The largest rule document (a draft or an import): 4 MiB.
    public static let maxRuleDocumentBytes = 4 << 20
    /// The most rules one rule document may hold (calculation rules and locate rules together).
    public static let maxRulesPerDocument = 10_000

    /// A problem with a required identifier: missing, empty, or longer than `maxIdentifierBytes`.
    public static func identifier(_ value: String?, field: String) -> (field: String, message: String)? {
        guard let value, !value.isEmpty else { return (field, "\(field) is required") }
        if value.utf8.count > maxIdentifierBytes { return (field, "\(field) is longer than \(maxIdentifierBytes) bytes") }
        return nil
    }

    /// A problem with a quantity that must be 0…`maxQuantity`.
    public static func quantity(_ q: Int64, field: String) -> (field: String, message: String)? {
        if q < 0 { return (field, "must not be negative (got \(q))") }
        if q > maxQuantity { return (field, "\(q) is above the largest quantity IMS accepts, \(maxQuantity)") }
        return nil
    }

    /// A problem with a signed figure (SOD contractual or settled) that must be within ±`maxQuantity`.
    public static func signedQuantity(_ q: Int64, field: String) -> (field: String, message: String)? {
        if q < -maxQuantity || q > maxQuantity { return (field, "\(q) is outside ±\(maxQuantity), the range IMS accepts") }
        return nil
    }

    /// A problem with a decimal that must be 0…`limit`.
    public static func decimal(_ d: Decimal8, limit: Decimal8, field: String, allowNegative: Bool = false) -> (field: String, message: String)? {
        if !allowNegative && d.units < 0 { return (field, "must not be negative (got \(d))") }
        if d.units > limit.units || d.units < -limit.units { return (field, "\(d) is outside the range IMS accepts (±\(limit))") }
        return nil
    }

    /// A problem with a version that must be 0…`maxVersion`.
    public static func version(_ v: Int64?, field: String = "version") -> (field: String, message: String)? {
        guard let v else { return nil }
        if v < 0 || v > maxVersion { return (field, "\(v) is outside 0…\(maxVersion)") }
        return nil
    }
}

extension Int64 {
    /// `self + other`, held at `Int64.min` or `Int64.max` instead of wrapping: how totals over many
    /// securities (aggregates, what-if sums) add, so a total can saturate but never change sign.
    @inlinable public func addingSaturating(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other < 0 ? .min : .max) : sum
    }
}
