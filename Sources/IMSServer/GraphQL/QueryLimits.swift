import GraphQL

/// Refuses GraphQL queries that are too deep or would fan out to too many items, before executing them.
///
/// Depth counts nested selections (fragments followed). Cost estimates items returned: each list
/// field multiplies what is under it by its `limit` argument (or its default page), so
/// `books { positions(limit: 1000) { items { security { positions(limit: 1000) … } } } }` is refused
/// instead of reading a million positions.
struct QueryLimits: Sendable {
    var maxDepth = 10
    var maxCost = 50_000
    var maxQueryBytes = 64 << 10

    /// List fields and the page they return when no `limit` is given; others count as one item.
    static let listFields: [String: Int] = [
        "markets": 20, "books": 1_000, "counterparties": 1_000, "aggregationUnits": 1_000,
        "positions": 100, "securities": 100, "exceptions": 100, "ladder": 5, "settlementLadder": 5,
        "items": 1,
    ]

    struct Refusal: Error { var message: String }

    func check(_ document: Document) throws(Refusal) {
        var fragments: [String: SelectionSet] = [:]
        for case let fragment as FragmentDefinition in document.definitions { fragments[fragment.name.value] = fragment.selectionSet }
        for case let operation as OperationDefinition in document.definitions {
            let (depth, cost) = try measure(operation.selectionSet, fragments: fragments, depth: 1, seen: [])
            if depth > maxDepth { throw Refusal(message: "query depth \(depth) exceeds the limit of \(maxDepth)") }
            if cost > maxCost { throw Refusal(message: "query could return about \(cost) items, more than the limit of \(maxCost); ask for smaller pages or fewer nested lists") }
        }
    }

    /// Depth and cost of a selection set at `depth`.
    private func measure(_ set: SelectionSet, fragments: [String: SelectionSet], depth: Int, seen: Set<String>) throws(Refusal) -> (Int, Int) {
        if depth > maxDepth { return (depth, 0) }
        var deepest = depth, cost = 0
        for selection in set.selections {
            switch selection {
            case let field as Field:
                var multiplier = 1
                if let page = Self.listFields[field.name.value] {
                    multiplier = page
                    if let limit = field.arguments.first(where: { $0.name.value == "limit" })?.value as? IntValue, let n = Int(limit.value) {
                        multiplier = max(1, n)
                    }
                }
                cost += multiplier
                if let inner = field.selectionSet {
                    let (d, c) = try measure(inner, fragments: fragments, depth: depth + 1, seen: seen)
                    deepest = max(deepest, d)
                    cost += multiplier * c
                }
            case let spread as FragmentSpread:
                let name = spread.name.value
                guard !seen.contains(name), let inner = fragments[name] else { continue }
                let (d, c) = try measure(inner, fragments: fragments, depth: depth, seen: seen.union([name]))
                deepest = max(deepest, d)
                cost += c
            case let inline as InlineFragment:
                let (d, c) = try measure(inline.selectionSet, fragments: fragments, depth: depth, seen: seen)
                deepest = max(deepest, d)
                cost += c
            default:
                continue
            }
            if cost > maxCost * 10 { return (deepest, cost) }
        }
        return (deepest, cost)
    }
}
