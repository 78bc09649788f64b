import IMSDomain

/// The buckets of SPEC 4.1: the quantities every calculation is made of. A bucket's `index` places it in a
/// `BucketVector`; rules name buckets by `name` (`LONG.FIRM`, `BORROWED`, `EXTERNAL.FIRM`).
public enum Bucket {
    /// Position types in `PositionType.allCases` order: `LONG.<type>` are `long(t)`, `SHORT.<type>` `short(t)`.
    public static let positionTypes = PositionType.allCases
    public static let availabilityTypes = AvailabilityType.allCases

    // Indices are literals (checked against the names in the tests), so the hot path reads no global.
    /// The long bucket of position type `t`.
    @inlinable public static func long(_ t: PositionType) -> Int { t.ordinal }
    @inlinable public static func short(_ t: PositionType) -> Int { 8 + t.ordinal }
    @inlinable public static var hypothecatable: Int { 16 }
    @inlinable public static var borrowed: Int { 17 }
    @inlinable public static var loaned: Int { 18 }
    @inlinable public static var repoPledged: Int { 19 }
    @inlinable public static var pledgedOut: Int { 20 }
    @inlinable public static var receivedIn: Int { 21 }
    @inlinable public static var payToHold: Int { 22 }
    @inlinable public static func external(_ t: AvailabilityType) -> Int {
        switch t {
        case .indicative: 23
        case .firm: 24
        case .exclusive: 25
        }
    }
    @inlinable public static var locateDecrement: Int { 26 }
    @inlinable public static var sellApprovedLong: Int { 27 }
    @inlinable public static var sellApprovedShort: Int { 28 }
    /// Quantity the desk holds back from lending (no event sets it yet: 0).
    @inlinable public static var reserved: Int { 29 }
    /// A client's approved locates of the day, for long sales and for short sales (the locate workflow sets
    /// them). Client limits read them from the client's share.
    @inlinable public static var locateApprovedLong: Int { 30 }
    @inlinable public static var locateApprovedShort: Int { 31 }
    @inlinable public static var count: Int { 32 }

    /// The contract kind's bucket: open quantity net of returns.
    @inlinable public static func contract(_ kind: ContractKind) -> Int {
        switch kind {
        case .borrow: borrowed
        case .loan: loaned
        case .repo: repoPledged
        case .pledgeOut: pledgedOut
        case .pledgeIn: receivedIn
        }
    }

    /// Whether bucket `i` has a date, and so a value per settlement-ladder day (SPEC 4.1): positions (by their
    /// projected settled quantity), contracts (by start and end date) and lenders' lines (by effective date).
    /// The locate, approved-sell and reserved buckets (26 and up) are the day's and have none.
    @inlinable public static func isDated(_ i: Int) -> Bool { i < locateDecrement }

    /// The settlement-ladder days a dated bucket has: SD0…SD4.
    public static let ladderDays = 5
    public static let ladderDayNames = (0..<ladderDays).map { "SD\($0)" }

    /// Every bucket's name, by index.
    public static let names: [String] = {
        var names = positionTypes.map { "LONG.\($0.rawValue)" } + positionTypes.map { "SHORT.\($0.rawValue)" }
        names += ["HYPOTHECATABLE", "BORROWED", "LOANED", "REPO_PLEDGED", "PLEDGED_OUT", "RECEIVED_IN", "PAY_TO_HOLD"]
        names += availabilityTypes.map { "EXTERNAL.\($0.rawValue)" }
        names += ["LOCATE_DECREMENT", "SELL_APPROVED.LONG", "SELL_APPROVED.SHORT", "RESERVED", "LOCATE_APPROVED.LONG", "LOCATE_APPROVED.SHORT"]
        precondition(names.count == count)
        return names
    }()

    /// Name → the indices it sums: one bucket, or every bucket of a family for `LONG.*`, `SHORT.*`, `EXTERNAL.*`.
    public static let byName: [String: [Int]] = {
        var table = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, [$0]) })
        table["LONG.*"] = positionTypes.map(long)
        table["SHORT.*"] = positionTypes.map(short)
        table["EXTERNAL.*"] = availabilityTypes.map(external)
        return table
    }()

    /// What a position of `type` with contractual quantity `qty` puts in each bucket it touches (the same rule
    /// `InventoryBuckets.movePosition` applies inline).
    @inlinable
    public static func positionContribution(type: PositionType, quantity qty: Int64, into add: (Int, Int64) -> Void) {
        if qty > 0 {
            add(long(type), qty)
            if type == .clientFree { add(hypothecatable, qty) }
            if type == .payToHold { add(payToHold, qty) }
        } else if qty < 0 {
            add(short(type), -qty)
        }
    }
}

/// One value per bucket, and optionally one per dated bucket and settlement-ladder day.
///
/// `values` holds `Bucket.count` values (the basis: what calculations read by default), then, when the vector
/// has a ladder, `Bucket.ladderDays` more blocks of `Bucket.count`, one per day SD0…SD4 (an undated bucket's
/// place in them is unused: a day reads the basis for it). A security's vector has a ladder; a scope's share
/// has none.
public struct BucketVector: Sendable, Hashable {
    public var values: [Int64]
    /// The ladder day the basis is (`onDay`), or -1: the buckets as they stand (contractual positions, every
    /// contract and lender line).
    public private(set) var basisDay = -1

    /// A `BucketVector` from its fields.
    public init(ladder: Bool = false) { values = Array(repeating: 0, count: Bucket.count * (ladder ? 1 + Bucket.ladderDays : 1)) }

    @inlinable public subscript(_ i: Int) -> Int64 {
        get { values[i] }
        set { values[i] = newValue }
    }

    public var hasLadder: Bool { values.count > Bucket.count }

    /// Bucket `i` as it stands on ladder day `day`, or on the basis's own day when that is later (a rule's
    /// `LONG.FIRM@SD0` reads today's settled row for the buckets as they stand, and day k's row on day k). An
    /// undated bucket, and a vector without a ladder (a scope's share), give the basis.
    @inlinable public subscript(day day: Int, _ i: Int) -> Int64 {
        get {
            guard values.count > Bucket.count && Bucket.isDated(i) else { return values[i] }
            return values[Bucket.count * (max(day, basisDay) + 1) + i]
        }
        set { values[Bucket.count * (day + 1) + i] = newValue }
    }

    /// The vector as of ladder day `day`: the day's dated buckets as the basis, the undated ones as they are,
    /// and the same ladder (so `X@SDk` still reads day k).
    public func onDay(_ day: Int) -> BucketVector {
        var v = self
        guard hasLadder else { return v }
        for i in 0..<Bucket.count where Bucket.isDated(i) { v.values[i] = values[Bucket.count * (day + 1) + i] }
        v.basisDay = day
        return v
    }

    public var isZero: Bool { values.allSatisfy { $0 == 0 } }
}

extension PositionType {
    /// The type's place in `PositionType.allCases`, by a switch (no search).
    @inlinable public var ordinal: Int {
        switch self {
        case .firm: 0
        case .clientFree: 1
        case .clientSegregated: 2
        case .synthetic: 3
        case .repoPledge: 4
        case .repoReceived: 5
        case .payToHold: 6
        case .depot: 7
        }
    }
}
