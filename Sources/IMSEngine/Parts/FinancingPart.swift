import IMSDomain

/// FX rates, and the image's section of every partition's contracts (sorted by id, in the bytes of format 2;
/// their changes travel with the partitions', which mark them).
enum FinancingPart: StatePart {
    static let sectionTag: UInt32 = 5
    static let name = "financing"
    /// FX rates that changed, by currency.
    typealias Change = [FXRate]

    static func write(_ state: EngineState, to w: inout BinaryWriter) {
        w.writeSorted(state.contracts) { $1.encode(to: &$0) }
        w.writeSorted(state.fxRates) { $1.encode(to: &$0) }
    }

    static func read(into state: inout EngineState, from r: inout BinaryReader, format: UInt32) throws(BinaryFormatError) {
        let contracts = try r.readSorted { r throws(BinaryFormatError) in try Contract(from: &r) }
        for c in contracts.values {
            guard let security = state.reference.securityIds.lookup(c.securityId) else {
                throw BinaryFormatError("snapshot has contract \(c.contractId) of security \(c.securityId), which it does not list")
            }
            state.partitions[state.partition(ofSecurity: security)].contracts[c.contractId] = c
        }
        state.fxRates = try r.readSorted { r throws(BinaryFormatError) in try FXRate(from: &r) }
    }

    static func capture(from state: inout EngineState, into record: inout ChangeRecord) {
        guard !state.changeLog.currencies.isEmpty else { return }
        record[Self.self] = state.changeLog.currencies.sorted().compactMap { state.fxRates[$0] }
        state.changeLog.currencies.removeAll()
    }

    static func apply(_ record: ChangeRecord, to model: inout ReadModel) {
        for f in record[Self.self] ?? [] { model.fxRates[f.currency] = f }
    }

    static func itemCount(_ change: [FXRate]) -> Int { change.count }
}

extension ChangeRecord {
    /// FX rates that changed in the drain.
    public var fxRates: [FXRate] { self[FinancingPart.self] ?? [] }
}
