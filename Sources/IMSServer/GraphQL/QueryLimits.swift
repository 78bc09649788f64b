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
        "positions": 100, "securities": 100, "exceptions": 100, "locates": 100, "orders": 100, "priceHistory": 100, "positionHistory": 100,
        "inventoryHistory": 100, "ladder": 5,
        "settlementLadder": 5,
        "items": 1,
    ]

    /// The deepest nesting of `{`, `[` and `(` the text of a query (or of its JSON variables) may have. Checked on
    /// the text before any parser sees it: the parser recurses once per level, and a few thousand levels
    /// (a few kilobytes of `{a{a{…`) overflow its thread's stack.
    var maxNesting = 64

    /// What list fields read besides the items they return: a `positions`, `securities`, `locates` or `orders` field filters the
    /// whole universe (its `total` counts every match), so each costs a share of that scan however small its page.
    struct ScanSizes: Sendable {
        var positions = 0
        var securities = 0
        var exceptions = 0
        var locates = 0
        var orders = 0

        /// Items returned that cost as much as scanning this many: a scan is far cheaper per element than an item written out.
        static let scanPerItem = 100

        func cost(of field: String) -> Int {
            switch field {
            case "positions": positions / Self.scanPerItem
            case "securities": securities / Self.scanPerItem
            case "exceptions": exceptions / Self.scanPerItem
            case "locates": locates / Self.scanPerItem
            case "orders": orders / Self.scanPerItem
            default: 0
            }
        }
    }

    struct Refusal: Error { var message: String }

    /// Refuses text nested deeper than `maxNesting`, ignoring brackets inside strings and comments (`#` to the
    /// end of the line, for a query). Runs in one pass over the bytes, with no recursion.
    func checkNesting(_ text: String, what: String, comments: Bool) throws(Refusal) {
        let b = Array(text.utf8)
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        func tripleQuote(at i: Int) -> Bool { i + 2 < b.count && b[i] == quote && b[i + 1] == quote && b[i + 2] == quote }
        var depth = 0, i = 0
        while i < b.count {
            let c = b[i]
            if comments && c == UInt8(ascii: "#") {
                while i < b.count && b[i] != 0x0A && b[i] != 0x0D { i += 1 }
                continue
            }
            if c == quote {
                if comments && tripleQuote(at: i) {
                    // A GraphQL block string: up to the next unescaped triple quote.
                    i += 3
                    while i < b.count && !tripleQuote(at: i) { i += b[i] == backslash && tripleQuote(at: i + 1) ? 4 : 1 }
                    i += 3
                    continue
                }
                i += 1
                while i < b.count && b[i] != quote { i += b[i] == backslash ? 2 : 1 }
                i += 1
                continue
            }
            switch c {
            case UInt8(ascii: "{"), UInt8(ascii: "["), UInt8(ascii: "("):
                depth += 1
                if depth > maxNesting { throw Refusal(message: "\(what) is nested more than \(maxNesting) levels deep") }
            case UInt8(ascii: "}"), UInt8(ascii: "]"), UInt8(ascii: ")"): depth = max(0, depth - 1)
            default: break
            }
            i += 1
        }
    }

    /// Checks a query's text: its size and nesting, then (parsed) its depth and cost, and the length of every string
    /// its arguments are given (in the text or as `variables`).
    func check(query: String, variables: [String: Map] = [:], scans: ScanSizes) throws(Refusal) {
        guard query.utf8.count <= maxQueryBytes else { throw Refusal(message: "the query is longer than \(maxQueryBytes) bytes") }
        try checkNesting(query, what: "the query", comments: true)
        let document: Document
        do { document = try parse(source: query) } catch { throw Refusal(message: "\(error)") }
        try check(document, scans: scans)
        try checkArgumentLengths(document, variables: variables)
    }

    /// Refuses a string longer than its argument may be, whether written in the query (or as a variable's default)
    /// or passed as a variable, naming the argument: a filter that long could match nothing, and an id that long
    /// names nothing IMS keeps.
    func checkArgumentLengths(_ document: Document, variables: [String: Map]) throws(Refusal) {
        // Each variable's tightest bound, from the arguments it is passed to.
        var variableBounds: [String: (bound: Int, argument: String)] = [:]
        func visit(_ value: any Value, argument: String, field: String) throws(Refusal) {
            // As over REST: `query` (a search) is free text, every other string an identifier, a date or a kind.
            let bound = QueryParameters.bound(of: argument)
            switch value {
            case let text as StringValue where text.value.utf8.count > bound:
                throw Refusal(message: "argument \(argument) of \(field) is longer than \(bound) bytes")
            case let variable as Variable:
                let name = variable.name.value
                if bound < variableBounds[name]?.bound ?? .max { variableBounds[name] = (bound, argument) }
            case let list as ListValue:
                for element in list.values { try visit(element, argument: argument, field: field) }
            case let object as ObjectValue:
                for member in object.fields { try visit(member.value, argument: member.name.value, field: field) }
            default:
                break
            }
        }
        func visit(_ set: SelectionSet) throws(Refusal) {
            for selection in set.selections {
                switch selection {
                case let field as Field:
                    for argument in field.arguments { try visit(argument.value, argument: argument.name.value, field: field.name.value) }
                    if let inner = field.selectionSet { try visit(inner) }
                case let inline as InlineFragment:
                    try visit(inline.selectionSet)
                default:
                    continue
                }
            }
        }
        for definition in document.definitions {
            switch definition {
            case let operation as OperationDefinition: try visit(operation.selectionSet)
            case let fragment as FragmentDefinition: try visit(fragment.selectionSet)
            default: continue
            }
        }
        func longest(_ value: Map) -> Int {
            switch value {
            case .string(let text): text.utf8.count
            case .array(let items): items.map(longest).max() ?? 0
            case .dictionary(let members): members.map { longest($0.value) }.max() ?? 0
            default: 0
            }
        }
        for case let operation as OperationDefinition in document.definitions {
            for definition in operation.variableDefinitions {
                let name = definition.variable.name.value
                guard let (bound, argument) = variableBounds[name] else { continue }
                if let text = definition.defaultValue as? StringValue, text.value.utf8.count > bound {
                    throw Refusal(message: "the default of $\(name) (argument \(argument)) is longer than \(bound) bytes")
                }
            }
        }
        for (name, value) in variables.sorted(by: { $0.key < $1.key }) {
            guard let (bound, argument) = variableBounds[name], longest(value) > bound else { continue }
            throw Refusal(message: "variable $\(name) (argument \(argument)) is longer than \(bound) bytes")
        }
    }

    func check(_ document: Document, scans: ScanSizes = ScanSizes()) throws(Refusal) {
        var fragments: [String: SelectionSet] = [:]
        for case let fragment as FragmentDefinition in document.definitions { fragments[fragment.name.value] = fragment.selectionSet }
        for case let operation as OperationDefinition in document.definitions {
            let (depth, cost) = try measure(operation.selectionSet, fragments: fragments, depth: 1, seen: [], scans: scans)
            if depth > maxDepth { throw Refusal(message: "query depth \(depth) exceeds the limit of \(maxDepth)") }
            if cost > maxCost {
                throw Refusal(message: "query could return about \(cost) items, more than the limit of \(maxCost); ask for smaller pages or fewer nested lists")
            }
        }
    }

    /// Depth and cost of a selection set at `depth`.
    private func measure(_ set: SelectionSet, fragments: [String: SelectionSet], depth: Int, seen: Set<String>, scans: ScanSizes) throws(Refusal) -> (Int, Int)
    {
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
                cost += multiplier + scans.cost(of: field.name.value)
                if let inner = field.selectionSet {
                    let (d, c) = try measure(inner, fragments: fragments, depth: depth + 1, seen: seen, scans: scans)
                    deepest = max(deepest, d)
                    cost += multiplier * c
                }
            case let spread as FragmentSpread:
                let name = spread.name.value
                guard !seen.contains(name), let inner = fragments[name] else { continue }
                let (d, c) = try measure(inner, fragments: fragments, depth: depth, seen: seen.union([name]), scans: scans)
                deepest = max(deepest, d)
                cost += c
            case let inline as InlineFragment:
                let (d, c) = try measure(inline.selectionSet, fragments: fragments, depth: depth, seen: seen, scans: scans)
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
