/// Five quantities, one per settlement-ladder day SD0…SD4, stored inline.
public struct Ladder5: Sendable, Hashable {
    public var q0: Int64 = 0, q1: Int64 = 0, q2: Int64 = 0, q3: Int64 = 0, q4: Int64 = 0

    public static let zero = Ladder5()
    public static let count = 5

    /// A `Ladder5` from its fields.
    @inlinable public init() {}

    /// Builds a ladder from up to five values (missing ones are zero).
    public init(_ values: [Int64]) {
        for (i, v) in values.prefix(5).enumerated() { self[i] = v }
    }

    @inlinable public subscript(index: Int) -> Int64 {
        get {
            switch index {
            case 0: q0
            case 1: q1
            case 2: q2
            case 3: q3
            default: q4
            }
        }
        set {
            switch index {
            case 0: q0 = newValue
            case 1: q1 = newValue
            case 2: q2 = newValue
            case 3: q3 = newValue
            default: q4 = newValue
            }
        }
    }

    public var values: [Int64] { [q0, q1, q2, q3, q4] }
}
