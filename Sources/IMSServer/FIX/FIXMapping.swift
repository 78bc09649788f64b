import Foundation
import IMSDomain
import IMSEngine
import IMSFIX
import IMSRules

/// FIX application messages read into the desk's requests (docs/fix.md has the tag tables).
enum FIXRequests {
    static let instrumentTags: Set<Int> = [Tag.securityID, Tag.securityIDSource, Tag.securityExchange, Tag.orderQty, Tag.side]

    static func read(_ m: FIXMessage, identity: Identity, model: borrowing ReadModel) -> FIXGateway.Asked {
        let client = identity.clientScope ?? identity.clientId ?? ""
        switch m.msgType {
        case "R": return quoteRequest(m, client: client, requestor: identity.subject, model: model)
        case "D": return newOrder(m, client: client, user: identity.subject, model: model)
        case "F": return cancel(m, client: client, user: identity.subject, model: model)
        case "H": return orderStatus(m, client: client, model: model)
        case "8": return .replies([]) // taken as trades (`FIXGateway.executions`)
        default:
            return .replies([
                FIXMessage(
                    "j",
                    [
                        (Tag.refSeqNum, String(m.seqNum ?? 0)), (Tag.refMsgType, m.msgType), (Tag.businessRejectReason, "3"),
                        (
                            Tag.text,
                            "IMS does not take 35=\(m.msgType): QuoteRequest (R), NewOrderSingle (D), OrderCancelRequest (F) and OrderStatusRequest (H) only"
                        ),
                    ])
            ])
        }
    }

    /// A session-level Reject (35=3) of `m`: a required field missing or malformed.
    static func reject(_ m: FIXMessage, reason: Int, tag: Int, text: String) -> FIXGateway.Asked {
        .replies([
            FIXMessage(
                "3",
                [
                    (Tag.refSeqNum, String(m.seqNum ?? 0)), (Tag.refMsgType, m.msgType), (Tag.sessionRejectReason, String(reason)),
                    (Tag.refTagID, String(tag)), (Tag.text, text),
                ])
        ])
    }

    static func quoteRequest(_ m: FIXMessage, client: String, requestor: String, model: borrowing ReadModel) -> FIXGateway.Asked {
        guard let quoteReqID = m[Tag.quoteReqID], !quoteReqID.isEmpty else {
            return reject(m, reason: 1, tag: Tag.quoteReqID, text: "QuoteReqID (131) is required")
        }
        let entries: [FIXMessage]
        if m[Tag.noRelatedSym] != nil {
            guard let group = m.group(Tag.noRelatedSym, delimiter: Tag.symbol, memberTags: instrumentTags), !group.isEmpty else {
                return reject(m, reason: 16, tag: Tag.noRelatedSym, text: "NoRelatedSym (146) does not match its entries (each starting with Symbol 55)")
            }
            entries = group
        } else {
            return reject(m, reason: 1, tag: Tag.noRelatedSym, text: "NoRelatedSym (146) is required")
        }
        var quotes: [(request: DecisionDesk.Request?, instrument: FIXReplies.Instrument, refusal: FIXMessage?)] = []
        for (i, e) in entries.enumerated() {
            let instrument = FIXReplies.Instrument(e)
            guard let qty = e[Tag.orderQty].flatMap({ Int64($0) }), qty > 0 else {
                quotes.append(
                    (nil, instrument, FIXReplies.quoteRequestReject(quoteReqID, instrument, reason: 99, text: "OrderQty (38) must be a positive whole number")))
                continue
            }
            let securityId: String
            switch resolve(instrument, model: model) {
            case .failure(let why):
                quotes.append((nil, instrument, FIXReplies.quoteRequestReject(quoteReqID, instrument, reason: why.unknown ? 1 : 99, text: why.text)))
                continue
            case .success(let id): securityId = id
            }
            let requestId = entries.count == 1 ? quoteReqID : "\(quoteReqID)#\(i + 1)"
            // Side 1 (buy) asks for a long locate; anything else (or none) a short one.
            let side = e[Tag.side] == "1" ? "LONG" : "SHORT"
            let body = LocateRoutes.RequestBody(
                requestId: requestId, clientId: client, securityId: securityId, quantity: qty, side: side, settlement: nil, requestor: requestor)
            quotes.append((.locate(body), instrument, nil))
        }
        return .quotes(quoteReqID: quoteReqID, quotes)
    }

    static func newOrder(_ m: FIXMessage, client: String, user: String, model: borrowing ReadModel) -> FIXGateway.Asked {
        guard let clOrdID = m[Tag.clOrdID], !clOrdID.isEmpty else { return reject(m, reason: 1, tag: Tag.clOrdID, text: "ClOrdID (11) is required") }
        let echo = FIXReplies.OrderEcho(m)
        if let quoteID = m[Tag.quoteID] { return acceptQuote(quoteID, echo: echo, client: client, model: model) }
        guard let sideCode = m[Tag.side] else { return reject(m, reason: 1, tag: Tag.side, text: "Side (54) is required") }
        guard let qty = m[Tag.orderQty].flatMap({ Int64($0) }), qty > 0 else {
            return reject(m, reason: 5, tag: Tag.orderQty, text: "OrderQty (38) must be a positive whole number")
        }
        let side: String
        switch sideCode {
        case "2": side = "SELL"
        case "5", "6": side = "SELL_SHORT"
        default:
            return .replies([FIXReplies.orderRejected(echo, text: "Side (54) \(sideCode): IMS approves sales only (2 sell, 5 sell short, 6 sell short exempt)")]
            )
        }
        guard let book = m[Tag.account], !book.isEmpty else {
            return .replies([FIXReplies.orderRejected(echo, text: "Account (1) names the book the order is for: required", reason: 15)])
        }
        var price: Decimal8Text?
        if let text = m[Tag.price] {
            guard let p = Decimal8(text) else { return reject(m, reason: 6, tag: Tag.price, text: "Price (44) is not a number") }
            price = Decimal8Text(p)
        }
        let securityId: String
        switch resolve(echo.instrument, model: model) {
        case .failure(let why): return .replies([FIXReplies.orderRejected(echo, text: why.text, reason: 1)])
        case .success(let id): securityId = id
        }
        let body = OrderRoutes.Body(
            orderId: clOrdID, clientId: client, bookId: book, securityId: securityId, side: side, quantity: qty, price: price, user: user)
        return .order(.order(body), echo)
    }

    /// A NewOrderSingle carrying QuoteID (117) accepts the quote: the locate it names, if still approved, is
    /// confirmed with an ExecutionReport 39=2 for its approved quantity (it was the client's since its approval,
    /// until its market's day roll); otherwise 39=8 says what became of it.
    static func acceptQuote(_ quoteID: String, echo: FIXReplies.OrderEcho, client: String, model: borrowing ReadModel) -> FIXGateway.Asked {
        guard let locate = model.locate(quoteID), locate.clientId == client else {
            return .replies([FIXReplies.orderRejected(echo, text: "QuoteID (117) \(quoteID) names no locate of this client", reason: 5)])
        }
        guard locate.status == "APPROVED" || locate.status == "PARTIAL" else {
            return .replies([
                FIXReplies.orderRejected(echo, text: "locate \(quoteID) is \(locate.status)\(locate.reason.map { ": \($0)" } ?? ""): nothing to accept")
            ])
        }
        let note = AuditNoteCommand(
            action: "FIX_QUOTE_ACCEPTED", subject: "locate \(locate.locateId)",
            detail: "ClOrdID \(echo.clOrdID) accepts \(locate.approvedQuantity) \(locate.securityId)")
        return .accepted(FIXReplies.quoteAccepted(locate, echo: echo), note)
    }

    /// An OrderStatusRequest (35=H): the order its ClOrdID names, of this session's client, as it stands now
    /// (ExecutionReport 150=I), answered from the read model without a journal entry; an order the client never
    /// sent is answered 39=8 with OrdRejReason 5 (unknown order). OrdStatusReqID (790) is echoed.
    static func orderStatus(_ m: FIXMessage, client: String, model: borrowing ReadModel) -> FIXGateway.Asked {
        guard let clOrdID = m[Tag.clOrdID], !clOrdID.isEmpty else { return reject(m, reason: 1, tag: Tag.clOrdID, text: "ClOrdID (11) is required") }
        let echo = FIXReplies.OrderEcho(m)
        guard let view = model.order(clientId: client, orderId: clOrdID) else {
            return .replies([FIXReplies.orderStatusUnknown(echo, statusRequestID: m[FIXReplies.ordStatusReqID])])
        }
        return .replies([FIXReplies.orderStatus(view, echo: echo, statusRequestID: m[FIXReplies.ordStatusReqID])])
    }

    /// An OrderCancelRequest: of an order (OrigClOrdID 41 its ClOrdID), or of a locate (its QuoteID 117, or
    /// OrigClOrdID as the QuoteReqID that asked for it).
    static func cancel(_ m: FIXMessage, client: String, user: String, model: borrowing ReadModel) -> FIXGateway.Asked {
        guard let clOrdID = m[Tag.clOrdID], !clOrdID.isEmpty else { return reject(m, reason: 1, tag: Tag.clOrdID, text: "ClOrdID (11) is required") }
        guard let orig = m[Tag.origClOrdID], !orig.isEmpty else { return reject(m, reason: 1, tag: Tag.origClOrdID, text: "OrigClOrdID (41) is required") }
        let echo = FIXReplies.OrderEcho(m)
        // An order validated before (its ClOrdID is the order id), unless the message names a quote.
        if m[Tag.quoteID] == nil, model.order(clientId: client, orderId: orig) != nil {
            let request = DecisionDesk.Request.cancelOrder(orderId: orig, OrderRoutes.Cancel(clientId: client, reason: m[Tag.text], user: user))
            return .cancelOrder(request, echo)
        }
        let locate: LocateView? =
            if let quoteID = m[Tag.quoteID] { model.locate(quoteID).flatMap { $0.clientId == client ? $0 : nil } } else {
                model.locate(clientId: client, requestId: orig)
            }
        guard let locate else {
            return .replies([
                FIXReplies.cancelReject(
                    echo, text: "no locate of this client is named by \(m[Tag.quoteID].map { "QuoteID (117) \($0)" } ?? "OrigClOrdID (41) \(orig)")",
                    unknown: true)
            ])
        }
        let request = DecisionDesk.Request.cancelLocate(locateId: locate.locateId, LocateRoutes.Cancel(clientId: client, user: user, reason: m[Tag.text]))
        return .cancelLocate(request, echo, locateId: locate.locateId)
    }

    /// The IMS security an instrument names: SecurityID (48) of the kind SecurityIDSource (22) says, else
    /// Symbol (55) with SecurityExchange (207) when a ticker repeats across markets. An identifier that names
    /// nothing is passed on as it is, so the engine refuses it as `UNKNOWN_SECURITY` on the record.
    /// A fill (ExecType 150=F) or a withdrawn fill (150=H, ExecRefID 19 naming it) as a trade; nil for other
    /// ExecutionReports.
    static func execution(_ m: FIXMessage, client: String, counterparty: String, model: borrowing ReadModel) -> Result<Trade, Unresolved>? {
        let execType = m[Tag.execType]
        guard execType == "F" || execType == "H" else { return nil }
        func missing(_ tag: Int, _ name: String) -> Result<Trade, Unresolved> { .failure(Unresolved(text: "\(name) (\(tag)) is required")) }
        guard let execID = execType == "H" ? m[19] : m[Tag.execID], !execID.isEmpty else {
            return execType == "H" ? missing(19, "ExecRefID") : missing(Tag.execID, "ExecID")
        }
        guard let orderId = m[Tag.clOrdID], !orderId.isEmpty else { return missing(Tag.clOrdID, "ClOrdID") }
        guard let book = m[Tag.account], !book.isEmpty else { return missing(Tag.account, "Account") }
        guard model.book(book)?.clientId == client else { return .failure(Unresolved(text: "Account (1) \(book) is not a book of client \(client)")) }
        guard let qty = m[Tag.lastQty].flatMap({ Int64($0) }), qty > 0 else {
            return .failure(Unresolved(text: "LastQty (32) must be a positive whole number"))
        }
        guard let px = m[Tag.lastPx].flatMap({ Decimal8($0) }) else { return .failure(Unresolved(text: "LastPx (31) must be a number")) }
        let side: TradeSide
        switch m[Tag.side] {
        case "1": side = .buy
        case "2": side = .sell
        case "5", "6": side = .sellShort
        default: return .failure(Unresolved(text: "Side (54) must be 1, 2, 5 or 6"))
        }
        let securityId: String
        switch resolve(FIXReplies.Instrument(m), model: model) {
        case .failure(let why): return .failure(why)
        case .success(let id): securityId = id
        }
        guard let security = model.security(securityId), let date = model.market(security.security.marketId)?.businessDate else {
            return .failure(Unresolved(text: "unknown security \(securityId)"))
        }
        return .success(
            Trade(
                tradeId: "FIX-\(counterparty)-\(execID)", version: execType == "H" ? 2 : 1, status: execType == "H" ? .cancel : .new, orderId: orderId,
                bookId: book, securityId: securityId, side: side, quantity: qty, price: px, tradeDate: date))
    }

    struct Unresolved: Error {
        let text: String
        /// The instrument names no security (QuoteRequestReject 658=1, OrdRejReason 103=1).
        var unknown = false
    }

    static func resolve(_ i: FIXReplies.Instrument, model: borrowing ReadModel) -> Result<String, Unresolved> {
        let value = i.securityID ?? i.symbol ?? ""
        guard !value.isEmpty else { return .failure(Unresolved(text: "the instrument needs Symbol (55) or SecurityID (48)")) }
        var found = model.securities(identifier: value)
        if let exchange = i.exchange, !exchange.isEmpty {
            found = found.filter { view in
                view.security.marketId == exchange || (model.market(view.security.marketId)?.market.mics.contains(exchange) ?? false)
            }
        }
        if let kind = i.securityID != nil ? i.securityIDSource.flatMap(identifierKind) : nil {
            found = found.filter { $0.security.identifiers.contains { $0.0 == kind && $0.1 == value } }
            // Named as a kind it is not: unknown here (the engine would find it by any identifier).
            if found.isEmpty {
                return .failure(
                    Unresolved(text: "SecurityID (48) \(value) is no known \(kind.rawValue) (SecurityIDSource 22=\(i.securityIDSource!))", unknown: true))
            }
        }
        let ids = found.compactMap(\.security.securityId)
        if ids.count > 1 {
            return .failure(Unresolved(text: "\(value) names \(ids.count) securities (\(ids.prefix(5).joined(separator: ", "))): add SecurityExchange (207)"))
        }
        return .success(ids.first ?? value)
    }

    /// SecurityIDSource (22) to IMS's identifier kinds (nil: any identifier, or the internal id).
    static func identifierKind(_ source: String) -> IdentifierKind? {
        switch source {
        case "1": .cusip
        case "2": .sedol
        case "4": .isin
        case "5": .ric
        case "8": .ticker
        case "A": .bloombergId
        default: nil
        }
    }
}

/// IMS's answers as FIX messages.
enum FIXReplies {
    /// An instrument as the counterparty named it, echoed in the answers.
    struct Instrument: Codable, Sendable, Equatable {
        var symbol: String?
        var securityID: String?
        var securityIDSource: String?
        var exchange: String?
        var quantity: String?

        init(_ m: FIXMessage) {
            symbol = m[Tag.symbol]; securityID = m[Tag.securityID]; securityIDSource = m[Tag.securityIDSource]; exchange = m[Tag.securityExchange]
            quantity = m[Tag.orderQty]
        }

        var fields: [(Int, String)] {
            var out: [(Int, String)] = [(Tag.symbol, symbol ?? securityID ?? "[N/A]")]
            if let securityID { out.append((Tag.securityID, securityID)) }
            if let securityIDSource { out.append((Tag.securityIDSource, securityIDSource)) }
            if let exchange { out.append((Tag.securityExchange, exchange)) }
            return out
        }
    }

    /// What an order message said, echoed in its ExecutionReport.
    struct OrderEcho: Sendable {
        var clOrdID: String
        var origClOrdID: String?
        var side: String
        var quantity: String
        var account: String?
        var instrument: Instrument

        init(_ m: FIXMessage) {
            clOrdID = m[Tag.clOrdID] ?? ""
            origClOrdID = m[Tag.origClOrdID]
            side = m[Tag.side] ?? "5"
            quantity = m[Tag.orderQty] ?? "0"
            account = m[Tag.account]
            instrument = Instrument(m)
        }
    }

    /// A locate's state as the FIX answer to its QuoteRequest: a Quote when approved (in full or part), a
    /// QuoteStatusReport while PENDING or once expired or cancelled, a QuoteRequestReject when rejected.
    static func locate(_ view: LocateView, entry: Instrument, quoteReqID: String) -> FIXMessage {
        let text = view.status + (view.reason.map { ": \($0)" } ?? "")
        switch view.status {
        case "APPROVED", "PARTIAL":
            var m = FIXMessage("S", [(Tag.quoteReqID, quoteReqID), (Tag.quoteID, view.locateId)] + entry.fields)
            m.append(Tag.orderQty, String(view.quantity))
            if let rate = view.rateBps { m.append(Tag.offerPx, rate.description) }
            m.append(Tag.offerSize, String(view.approvedQuantity))
            if let expires = view.expiresAt { m.append(62, FIXTime.format(Date(timeIntervalSince1970: Double(expires.micros) / 1_000_000))) }
            m.append(Tag.quoteType, "1")
            m.append(Tag.text, text)
            return m
        case "REJECTED":
            let reason =
                switch view.reason {
                case "UNKNOWN_SECURITY": 1
                case "INSUFFICIENT_AVAILABILITY": 9
                default: 99
                }
            return quoteRequestReject(quoteReqID, entry, reason: reason, text: "locate \(view.locateId) \(text)")
        default:
            let status =
                switch view.status {
                case "PENDING": "10"
                case "EXPIRED": "7"
                default: "4" // CANCELLED
                }
            return FIXMessage(
                "AI", [(Tag.quoteReqID, quoteReqID), (Tag.quoteID, view.locateId)] + entry.fields + [(Tag.quoteStatus, status), (Tag.text, text)])
        }
    }

    static func quoteRequestReject(_ quoteReqID: String, _ instrument: Instrument, reason: Int, text: String) -> FIXMessage {
        FIXMessage(
            "AG",
            [(Tag.quoteReqID, quoteReqID), (Tag.quoteRequestRejectReason, String(reason)), (Tag.noRelatedSym, "1")] + instrument.fields + [(Tag.text, text)])
    }

    /// An order's validation as an ExecutionReport: 39=0 approved, 39=8 rejected, the checks in Text (58).
    static func order(_ view: OrderView, echo: OrderEcho) -> FIXMessage {
        let approved = view.decision == "APPROVED"
        let checks = (approved ? view.checks : view.reasons).map { "\($0.code)\($0.passed ? "" : " failed"): \($0.message)" }
        var fields: [(Int, String)] = [
            (Tag.orderID, view.orderId), (Tag.clOrdID, echo.clOrdID), (Tag.execID, "\(view.orderId)-\(view.sequence)"),
            (Tag.execType, approved ? "0" : "8"), (Tag.ordStatus, approved ? "0" : "8"),
        ]
        if !approved { fields.append((103, "3")) }
        fields += echo.instrument.fields
        fields += [
            (Tag.side, echo.side), (Tag.orderQty, String(view.quantity)), (Tag.leavesQty, approved ? String(view.quantity - view.filledQuantity) : "0"),
            (Tag.cumQty, String(view.filledQuantity)), (6, "0"), (Tag.account, view.bookId),
            (Tag.text, "\(view.decision): " + (checks.isEmpty ? "no checks" : checks.joined(separator: "; "))),
        ]
        return FIXMessage("8", fields)
    }

    /// A quote accepted (NewOrderSingle with QuoteID): ExecutionReport 150=F, 39=2 for the locate's approved
    /// quantity, OrderID 37 = the locate id (FIX 4.4's ExecutionReport has no QuoteID).
    static func quoteAccepted(_ view: LocateView, echo: OrderEcho) -> FIXMessage {
        var fields: [(Int, String)] = [
            (Tag.orderID, view.locateId), (Tag.clOrdID, echo.clOrdID), (Tag.execID, "\(view.locateId)-accept-\(echo.clOrdID)"),
            (Tag.execType, "F"), (Tag.ordStatus, "2"),
        ]
        fields += echo.instrument.fields
        let rate = view.rateBps?.description ?? "0"
        fields += [
            (Tag.side, echo.side), (Tag.orderQty, String(view.approvedQuantity)), (Tag.lastQty, String(view.approvedQuantity)), (Tag.lastPx, rate),
            (Tag.leavesQty, "0"), (Tag.cumQty, String(view.approvedQuantity)), (6, rate),
            (Tag.text, "locate \(view.locateId) \(view.status) \(view.approvedQuantity)" + (view.expiresAt.map { " until \($0)" } ?? "")),
        ]
        return FIXMessage("8", fields)
    }

    /// An order refused before validation (a field wrong): ExecutionReport 39=8 naming it.
    static func orderRejected(_ echo: OrderEcho, text: String, reason: Int = 99) -> FIXMessage {
        var fields: [(Int, String)] = [
            (Tag.orderID, "NONE"), (Tag.clOrdID, echo.clOrdID), (Tag.execID, "\(echo.clOrdID)-rejected"), (Tag.execType, "8"), (Tag.ordStatus, "8"),
            (103, String(reason)),
        ]
        fields += echo.instrument.fields
        fields += [(Tag.side, echo.side), (Tag.orderQty, echo.quantity), (Tag.leavesQty, "0"), (Tag.cumQty, "0"), (6, "0"), (Tag.text, text)]
        return FIXMessage("8", fields)
    }

    /// A locate cancelled by OrderCancelRequest: ExecutionReport 39=4.
    static func locateCancelled(_ view: LocateView, echo: OrderEcho) -> FIXMessage {
        var fields: [(Int, String)] = [
            (Tag.orderID, view.locateId), (Tag.clOrdID, echo.clOrdID), (Tag.origClOrdID, echo.origClOrdID ?? ""),
            (Tag.execID, "\(view.locateId)-cancel"), (Tag.execType, "4"), (Tag.ordStatus, "4"),
        ]
        fields += echo.instrument.fields
        fields += [
            (Tag.side, echo.side), (Tag.orderQty, String(view.quantity)), (Tag.leavesQty, "0"), (Tag.cumQty, "0"), (6, "0"),
            (Tag.text, "locate \(view.locateId) \(view.status)"),
        ]
        return FIXMessage("8", fields)
    }

    /// An order's remainder cancelled: ExecutionReport 39=4 (CumQty what its trades filled).
    static func orderCancelled(_ view: OrderView, echo: OrderEcho) -> FIXMessage {
        var fields: [(Int, String)] = [
            (Tag.orderID, view.orderId), (Tag.clOrdID, echo.clOrdID), (Tag.origClOrdID, echo.origClOrdID ?? view.orderId),
            (Tag.execID, "\(view.orderId)-cancel-\(view.cancellation?.sequence ?? view.sequence)"), (Tag.execType, "4"), (Tag.ordStatus, "4"),
        ]
        fields += echo.instrument.fields
        fields += [
            (Tag.side, echo.side), (Tag.orderQty, String(view.quantity)), (Tag.leavesQty, "0"), (Tag.cumQty, String(view.filledQuantity)), (6, "0"),
            (Tag.text, "order \(view.orderId) cancelled: \(view.cancellation?.quantity ?? 0) given back to the limits"),
        ]
        return FIXMessage("8", fields)
    }

    /// OrdStatusReqID: the counterparty's id for an OrderStatusRequest, echoed in its answer.
    static let ordStatusReqID = 790

    /// An order as it stands, for an OrderStatusRequest: ExecutionReport 150=I with OrdStatus 0 (approved, nothing
    /// filled), 1 (partly filled), 2 (filled), 4 (its remainder cancelled), 8 (rejected) or C (expired with its
    /// market's day), LeavesQty what it may still fill. The instrument and side are the order's where the request
    /// leaves them out.
    static func orderStatus(_ view: OrderView, echo: OrderEcho, statusRequestID: String?) -> FIXMessage {
        let status: String
        if view.decision != "APPROVED" {
            status = "8"
        } else if view.cancellation != nil {
            status = "4"
        } else if view.filledQuantity >= view.quantity {
            status = "2"
        } else if view.expired {
            status = "C"
        } else {
            status = view.filledQuantity > 0 ? "1" : "0"
        }
        let open = status == "0" || status == "1"
        var fields: [(Int, String)] = [
            (Tag.orderID, view.orderId), (Tag.clOrdID, echo.clOrdID),
            (Tag.execID, "\(view.orderId)-status-\(statusRequestID ?? echo.clOrdID)-\(view.filledQuantity)"),
            (Tag.execType, "I"), (Tag.ordStatus, status),
        ]
        if let statusRequestID { fields.append((ordStatusReqID, statusRequestID)) }
        var instrument = echo.instrument
        if instrument.symbol == nil && instrument.securityID == nil { instrument.symbol = view.securityId }
        fields += instrument.fields
        fields += [
            (Tag.side, view.side == "SELL" ? "2" : "5"), (Tag.orderQty, String(view.quantity)),
            (Tag.leavesQty, open ? String(view.quantity - view.filledQuantity) : "0"), (Tag.cumQty, String(view.filledQuantity)), (6, "0"),
            (Tag.account, view.bookId),
            (
                Tag.text,
                "order \(view.orderId) \(view.decision)"
                    + (view.cancellation.map { ", its remainder (\($0.quantity)) cancelled" } ?? "") + (view.expired ? ", expired with its market's day" : "")
                    + ", \(view.filledQuantity) of \(view.quantity) filled"
            ),
        ]
        return FIXMessage("8", fields)
    }

    /// The answer to an OrderStatusRequest for an order this client never sent: ExecutionReport 150=I, 39=8,
    /// OrdRejReason 5 (unknown order).
    static func orderStatusUnknown(_ echo: OrderEcho, statusRequestID: String?) -> FIXMessage {
        var fields: [(Int, String)] = [
            (Tag.orderID, "NONE"), (Tag.clOrdID, echo.clOrdID), (Tag.execID, "\(echo.clOrdID)-status-\(statusRequestID ?? "unknown")"),
            (Tag.execType, "I"), (Tag.ordStatus, "8"), (103, "5"),
        ]
        if let statusRequestID { fields.append((ordStatusReqID, statusRequestID)) }
        fields += echo.instrument.fields
        fields += [
            (Tag.side, echo.side), (Tag.orderQty, echo.quantity), (Tag.leavesQty, "0"), (Tag.cumQty, "0"), (6, "0"),
            (Tag.text, "unknown order \(echo.clOrdID)"),
        ]
        return FIXMessage("8", fields)
    }

    /// BusinessMessageReject (35=j) of an application message IMS could not take.
    static func businessReject(_ m: FIXMessage, text: String) -> FIXMessage {
        var reject = FIXMessage("j", [(Tag.refSeqNum, String(m.seqNum ?? 0)), (Tag.refMsgType, m.msgType)])
        // The message's own id, when it has one (a field is never sent empty).
        if let ref = m[Tag.execID] ?? m[Tag.clOrdID] ?? m[Tag.quoteReqID], !ref.isEmpty { reject.append(Tag.businessRejectRefID, ref) }
        reject.append(Tag.businessRejectReason, "0")
        reject.append(Tag.text, text)
        return reject
    }

    /// OrderCancelReject (35=9): 102=1 unknown, 0 too late (no longer cancellable).
    static func cancelReject(_ echo: OrderEcho, text: String, unknown: Bool) -> FIXMessage {
        FIXMessage(
            "9",
            [
                (Tag.orderID, "NONE"), (Tag.clOrdID, echo.clOrdID), (Tag.origClOrdID, echo.origClOrdID ?? ""), (Tag.ordStatus, unknown ? "8" : "4"),
                (434, "1"), (102, unknown ? "1" : "0"), (Tag.text, text),
            ])
    }
}
