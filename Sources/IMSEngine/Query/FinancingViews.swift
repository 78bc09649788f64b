import IMSDomain

/// A borrow, loan, repo or pledge as the desk reads it: the contract with its open quantity.
public struct ContractView: Codable, Sendable, Hashable {
    public var contract: Contract
    /// Quantity net of returns while open or recalled (what the contract puts in its bucket).
    public var openQuantity: Int64
}

/// Stock borrow/loan view: the matching contracts and their totals by kind.
public struct FinancingContracts: Codable, Sendable, Hashable {
    public var contracts: [ContractView]
    /// Open quantity by kind (BORROW, LOAN, …) over the matching contracts.
    public var openByKind: [String: Int64]
    public var recalledQuantity: Int64
    public var returnedQuantity: Int64
}

/// Lender availability by lender, security and type, with totals by type and by lender.
public struct FinancingAvailability: Codable, Sendable, Hashable {
    public var lines: [Availability]
    public var totalByType: [String: Int64]
    public var totalByLender: [String: Int64]
}

extension ReadModel {
    /// Contracts matching every given filter, by contract id.
    public func financingContracts(
        securityId: String?, counterpartyId: String?, bookId: String?, kind: ContractKind?,
        status: ContractStatus?
    ) -> FinancingContracts {
        let matching = contracts.values.filter {
            (securityId == nil || $0.securityId == securityId) && (counterpartyId == nil || $0.counterpartyId == counterpartyId)
                && (bookId == nil || $0.bookId == bookId) && (kind == nil || $0.kind == kind) && (status == nil || $0.status == status)
        }.sorted { $0.contractId < $1.contractId }
        var open: [String: Int64] = [:]
        var recalled: Int64 = 0, returned: Int64 = 0
        for c in matching {
            open[c.kind.rawValue, default: 0] += c.openQuantity
            if c.status == .recalled || c.status == .open { recalled += c.recalledQty }
            returned += c.returnedQty
        }
        return FinancingContracts(
            contracts: matching.map { ContractView(contract: $0, openQuantity: $0.openQuantity) },
            openByKind: open, recalledQuantity: recalled, returnedQuantity: returned)
    }

    /// Lenders' lines matching every given filter, by security then lender.
    public func financingAvailability(securityId: String?, sourceId: String?, type: AvailabilityType?) -> FinancingAvailability {
        var lines: [Availability] = []
        let only = securityId.flatMap { reference.securityIds.lookup($0) }
        if securityId != nil && only == nil { return FinancingAvailability(lines: [], totalByType: [:], totalByLender: [:]) }
        for p in partitions {
            for (key, a) in p.availability
            where (only == nil || key.security == only) && (sourceId == nil || a.sourceId == sourceId)
                && (type == nil || a.availabilityType == type)
            {
                lines.append(a)
            }
        }
        lines.sort { ($0.securityId, $0.sourceId) < ($1.securityId, $1.sourceId) }
        var byType: [String: Int64] = [:], byLender: [String: Int64] = [:]
        for a in lines {
            byType[a.availabilityType.rawValue, default: 0] += a.quantity
            byLender[a.sourceId, default: 0] += a.quantity
        }
        return FinancingAvailability(lines: lines, totalByType: byType, totalByLender: byLender)
    }
}
