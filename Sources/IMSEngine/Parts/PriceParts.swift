import IMSDomain

// Sections that complete the partitions' prices, each added after format 3 and so kept apart (an image
// written before one existed loads without it). Their values travel in the partitions' change (a price
// state carries its restriction, direction and bars), so they have no change of their own.

/// Securities under a short-sale price test, and through which business date.
enum RestrictionsPart: StatePart {
    static let sectionTag: UInt32 = 11
    static let name = "restrictions"

    static func write(_ state: EngineState, to w: inout BinaryWriter) {
        var all: [(String, BusinessDate)] = []
        for p in state.partitions { for (s, d) in p.shortSaleRestrictions { all.append((state.reference.securityIds.name(s), d)) } }
        all.sort { $0.0 < $1.0 }
        w.writeCount(all.count)
        for (id, d) in all { w.write(id); w.write(d) }
    }

    static func read(into state: inout EngineState, from r: inout BinaryReader, format: UInt32) throws(BinaryFormatError) {
        for _ in 0..<(try r.readCount()) {
            let id = try r.readString(), date = try r.readDate()
            guard let s = state.reference.securityIds.lookup(id) else { throw BinaryFormatError("snapshot restricts unknown security \(id)") }
            let k = state.partition(ofSecurity: s)
            state.partitions[k].shortSaleRestrictions[s] = date
            state.partitions[k].prices[s]?.restrictedThrough = date
        }
    }
}

/// The direction of each security's last price change (JP's price restriction reads it); an image without
/// it knows none until the next ticks.
enum TickDirectionsPart: StatePart {
    static let sectionTag: UInt32 = 12
    static let name = "tickDirections"

    static func write(_ state: EngineState, to w: inout BinaryWriter) {
        var all: [(String, Int8)] = []
        for p in state.partitions {
            for (s, price) in p.prices where price.direction != 0 { all.append((state.reference.securityIds.name(s), price.direction)) }
        }
        all.sort { $0.0 < $1.0 }
        w.writeCount(all.count)
        for (id, d) in all { w.write(id); w.writeVarint(Int64(d)) }
    }

    static func read(into state: inout EngineState, from r: inout BinaryReader, format: UInt32) throws(BinaryFormatError) {
        for _ in 0..<(try r.readCount()) {
            let id = try r.readString(), d = try r.readVarInt()
            guard let s = state.reference.securityIds.lookup(id), d == 1 || d == -1 else {
                throw BinaryFormatError("snapshot has a bad tick direction for \(id)")
            }
            state.partitions[state.partition(ofSecurity: s)].prices[s]?.direction = Int8(d)
        }
    }
}

/// Each security's intraday price bars of its market's day; an image without it starts the
/// day's charts from the next ticks.
enum IntradayBarsPart: StatePart {
    static let sectionTag: UInt32 = 15
    static let name = "intradayBars"

    static func write(_ state: EngineState, to w: inout BinaryWriter) {
        var all: [(String, IntradayBars)] = []
        for p in state.partitions {
            for (s, price) in p.prices where price.bars.date != nil && price.bars.current != nil {
                all.append((state.reference.securityIds.name(s), price.bars))
            }
        }
        all.sort { $0.0 < $1.0 }
        w.writeCount(all.count)
        for (id, bars) in all { w.write(id); bars.encode(to: &w) }
    }

    static func read(into state: inout EngineState, from r: inout BinaryReader, format: UInt32) throws(BinaryFormatError) {
        for _ in 0..<(try r.readCount()) {
            let id = try r.readString()
            let bars = try IntradayBars(from: &r)
            guard let s = state.reference.securityIds.lookup(id), state.partitions[state.partition(ofSecurity: s)].prices[s] != nil else {
                throw BinaryFormatError("snapshot has intraday bars for \(id), which has no price")
            }
            state.partitions[state.partition(ofSecurity: s)].prices[s]!.bars = bars
        }
    }
}
