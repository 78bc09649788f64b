import IMSDomain

extension ReadModel {
    /// The id of the security at engine index `index` (as change records name securities), if there is one.
    public func securityId(at index: Int32) -> String? {
        guard index >= 0, Int(index) < reference.securities.count else { return nil }
        return reference.securities[Int(index)].record.securityId
    }

    /// Every security of a market by engine index (its day roll changes each one's ladder).
    public func securityIndices(market: Int32) -> [Int32] {
        Int(market) < reference.securitiesByMarket.count ? reference.securitiesByMarket[Int(market)] : []
    }
}

extension ReadModel {
    /// The ids of the books that belong to `client` (what a client's history of positions is limited to).
    public func bookIds(ofClient client: String) -> [String] {
        reference.books.filter { $0.clientId == client }.map(\.bookId)
    }
}
