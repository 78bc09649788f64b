import IMSDomain

/// What the engine does with a desk command of one kind: its validation (complete, against the state and
/// what earlier events of its batch did), its apply, and its audit entry. One conformance per kind, in this
/// folder; `validate`, `apply` and `recordAudit` reach it through `Event.command`, never by a switch over
/// the kinds (`DeskCommandTests` checks every registered kind conforms).
protocol EngineCommand: DeskCommand {
    /// Why the command cannot be applied to `state` now (after the batch's earlier events, noted in `scope`),
    /// or nil; notes its own effect in `scope` for the batch's later events.
    func problem(in state: EngineState, scope: inout BatchScope) -> FieldError?
    /// Applies the validated command. Returns false when it changed nothing.
    func apply(to state: inout EngineState, sequence: Int64, at time: Timestamp) -> Bool
    /// Its audit entry's action, subject and detail, once applied (`state` as the command left it;
    /// `refused`: whether validation refused it).
    func audit(in state: EngineState, refused: Bool, applied: Bool) -> (action: String, subject: String, detail: String?)
}

extension AnyDeskCommand {
    /// The engine's side of the command. Every registered kind has one (tested).
    var engine: any EngineCommand {
        guard let c = base as? any EngineCommand else { preconditionFailure("\(typeName) has no EngineCommand conformance") }
        return c
    }
}

// MARK: The kinds

extension RuleCommand: EngineCommand {
    /// Checked against the rules as the batch's earlier commands leave them (a draft, then its preview…).
    func problem(in state: EngineState, scope: inout BatchScope) -> FieldError? {
        var book = scope.rules ?? state.rules
        if let problem = book.problem(with: self) { return problem }
        book.apply(self, sequence: 0, at: Timestamp(micros: 0))
        scope.rules = book
        return nil
    }

    func apply(to state: inout EngineState, sequence: Int64, at time: Timestamp) -> Bool {
        state.rules.apply(self, sequence: sequence, at: time)
        return true
    }

    func audit(in state: EngineState, refused: Bool, applied: Bool) -> (action: String, subject: String, detail: String?) {
        var version = self.version
        if action == .draft, !refused, applied, let last = state.rules.versions.last { version = last.version }
        return ("RULE_\(action.rawValue)", action == .draft && version == 0 ? "rules draft" : "rules v\(version)", comment)
    }
}

extension LocateCommand: EngineCommand {
    func problem(in state: EngineState, scope: inout BatchScope) -> FieldError? { state.locateProblem(self) }

    func apply(to state: inout EngineState, sequence: Int64, at time: Timestamp) -> Bool { state.applyLocate(self, sequence: sequence, at: time) }

    func audit(in state: EngineState, refused: Bool, applied: Bool) -> (action: String, subject: String, detail: String?) {
        let subject: String, detail: String
        switch action {
        case .request:
            let made = clientId.flatMap { client in requestId.flatMap { state.locates.locate(clientId: client, requestId: $0) } }
            subject = made.map { "locate \($0.locateId)" } ?? "request \(requestId ?? "?")"
            detail =
                "\(clientId ?? "?") asks \(quantity.map(String.init) ?? "?") \(securityId ?? "?") \(side?.rawValue ?? "")"
                + (made.map { ": \($0.status.rawValue) \($0.approvedQuantity)" } ?? "")
        case .decide:
            subject = "locate \(locateId ?? "?")"
            detail = "\(decision?.rawValue ?? "?")" + (quantity.map { " \($0)" } ?? "") + (reason.map { ": \($0)" } ?? "")
        case .cancel:
            subject = "locate \(locateId ?? "?")"
            detail = "cancel" + (reason.map { ": \($0)" } ?? "")
        }
        return ("LOCATE_\(action.rawValue)", subject, detail)
    }
}

extension OrderCommand: EngineCommand {
    func problem(in state: EngineState, scope: inout BatchScope) -> FieldError? { state.orderProblem(self) }

    func apply(to state: inout EngineState, sequence: Int64, at time: Timestamp) -> Bool { state.applyOrder(self, sequence: sequence, at: time) }

    func audit(in state: EngineState, refused: Bool, applied: Bool) -> (action: String, subject: String, detail: String?) {
        let decided = state.orders.order(clientId: clientId, orderId: orderId).map { ": \($0.decision.rawValue)" } ?? ""
        return ("ORDER_VALIDATE", "order \(orderId)", "\(clientId) sells \(quantity) \(securityId) \(side.rawValue) at \(price)\(decided)")
    }
}

extension OrderCancelCommand: EngineCommand {
    func problem(in state: EngineState, scope: inout BatchScope) -> FieldError? { state.orderCancelProblem(self) }

    func apply(to state: inout EngineState, sequence: Int64, at time: Timestamp) -> Bool {
        state.applyOrderCancel(self, sequence: sequence, at: time)
    }

    func audit(in state: EngineState, refused: Bool, applied: Bool) -> (action: String, subject: String, detail: String?) {
        let given = refused ? "" : state.orders.order(clientId: clientId, orderId: orderId)?.cancellation.map { ": \($0.quantity) given back" } ?? ""
        return ("ORDER_CANCEL", "order \(orderId)", "\(clientId) cancels\(given)" + (reason.map { " (\($0))" } ?? ""))
    }
}

extension AuditNoteCommand: EngineCommand {
    func problem(in state: EngineState, scope: inout BatchScope) -> FieldError? {
        guard Self.actions.contains(action) else { return FieldError("action", "action must be one of \(Self.actions.sorted().joined(separator: ", "))") }
        guard !subject.isEmpty, subject.utf8.count <= Self.maxSubjectBytes else {
            return FieldError("subject", "subject must be 1 to \(Self.maxSubjectBytes) bytes")
        }
        if let detail, detail.utf8.count > Self.maxDetailBytes { return FieldError("detail", "detail is longer than \(Self.maxDetailBytes) bytes") }
        return nil
    }

    /// Nothing but its audit entry.
    func apply(to state: inout EngineState, sequence: Int64, at time: Timestamp) -> Bool { true }

    func audit(in state: EngineState, refused: Bool, applied: Bool) -> (action: String, subject: String, detail: String?) { (action, subject, detail) }
}

extension ExceptionCommand: EngineCommand {
    func problem(in state: EngineState, scope: inout BatchScope) -> FieldError? { state.exceptionCommandProblem(self) }

    func apply(to state: inout EngineState, sequence: Int64, at time: Timestamp) -> Bool { state.applyExceptionCommand(self, at: time) }

    func audit(in state: EngineState, refused: Bool, applied: Bool) -> (action: String, subject: String, detail: String?) {
        let ids = exceptionIds.prefix(20).map(String.init).joined(separator: ", ") + (exceptionIds.count > 20 ? " …" : "")
        return (
            "EXCEPTION_\(action.rawValue)", exceptionIds.count == 1 ? "exception \(ids)" : "exceptions \(ids)",
            "\(exceptionIds.count) exception\(exceptionIds.count == 1 ? "" : "s")" + (note.map { ": \($0)" } ?? "")
        )
    }
}
