extension EngineState {
    /// Where today's trade `id` lives: its market and its index in that market's trade table.
    @inline(__always)
    func tradeLocation(_ id: String, hash: UInt64) -> (market: Int, index: Int32)? {
        tradeIndex.find(hash: hash) { packed in
            trades[Int(packed >> 32)].ids[Int(UInt32(truncatingIfNeeded: packed))] == id
        }.map { (Int($0 >> 32), Int32(truncatingIfNeeded: UInt32(truncatingIfNeeded: $0))) }
    }

    mutating func indexTrade(hash: UInt64, market: Int, index: Int32) {
        tradeIndex.insert(hash: hash, payload: UInt64(market) << 32 | UInt64(UInt32(index)))
    }

    /// Forgets every trade of market `m` (its business date has rolled).
    mutating func dropTrades(market m: Int) {
        let ids = trades[m].ids
        if ids.count == tradeIndex.count {
            tradeIndex.removeAll()
        } else {
            for (i, id) in ids.enumerated() {
                let packed = UInt64(m) << 32 | UInt64(UInt32(i))
                tradeIndex.remove(hash: ProbeTable.hash(of: id)) { $0 == packed }
            }
        }
        trades[m] = MarketTrades()
    }
}
