import IMSDomain

/// The buckets of SPEC 4.1: the quantities every calculation is made of. A bucket's `index` places it in a
/// `BucketVector`; rules name buckets by `name` (`LONG.FIRM`, `BORROWED`, `EXTERNAL.FIRM`).
public enum Bucket {
    /// Position types in `PositionType.allCases` order: `LONG.<type>` are `long(t)`, `SHORT.<type>` `short(t)`.
    public static let positionTypes = PositionType.allCases
    public static let availabilityTypes = AvailabilityType.allCases

    public static func long(_ t: PositionType) -> Int { positionTypes.firstIndex(of: t)! }
    public static func short(_ t: PositionType) -> Int { positionTypes.count + positionTypes.firstIndex(of: t)! }
    public static let hypothecatable = 2 * positionTypes.count
    public static let borrowed = hypothecatable + 1
    public static let loaned = borrowed + 1
    public static let repoPledged = loaned + 1
    public static let pledgedOut = repoPledged + 1
    public static let receivedIn = pledgedOut + 1
    public static let payToHold = receivedIn + 1
    public static func external(_ t: AvailabilityType) -> Int { payToHold + 1 + availabilityTypes.firstIndex(of: t)! }
    public static let locateDecrement = payToHold + 1 + availabilityTypes.count
    public static let sellApprovedLong = locateDecrement + 1
    public static let sellApprovedShort = sellApprovedLong + 1
    /// Quantity the desk holds back from lending (no event sets it yet: 0).
    public static let reserved = sellApprovedShort + 1
    public static let count = reserved + 1

    /// The contract kind's bucket: open quantity net of returns.
    public static func contract(_ kind: ContractKind) -> Int {
        switch kind {
        case .borrow: borrowed
        case .loan: loaned
        case .repo: repoPledged
        case .pledgeOut: pledgedOut
        case .pledgeIn: receivedIn
        }
    }

    /// Every bucket's name, by index.
    public static let names: [String] = {
        var names = positionTypes.map { "LONG.\($0.rawValue)" } + positionTypes.map { "SHORT.\($0.rawValue)" }
        names += ["HYPOTHECATABLE", "BORROWED", "LOANED", "REPO_PLEDGED", "PLEDGED_OUT", "RECEIVED_IN", "PAY_TO_HOLD"]
        names += availabilityTypes.map { "EXTERNAL.\($0.rawValue)" }
        names += ["LOCATE_DECREMENT", "SELL_APPROVED.LONG", "SELL_APPROVED.SHORT", "RESERVED"]
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

    /// What a position of `type` with contractual quantity `qty` puts in each bucket it touches.
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

/// One value per bucket.
public struct BucketVector: Sendable, Hashable {
    public var values: [Int64]

    public init() { values = Array(repeating: 0, count: Bucket.count) }

    @inlinable public subscript(_ i: Int) -> Int64 {
        get { values[i] }
        set { values[i] = newValue }
    }

    public var isZero: Bool { values.allSatisfy { $0 == 0 } }
}
