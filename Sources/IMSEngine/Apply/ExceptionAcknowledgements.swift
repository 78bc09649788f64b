import IMSDomain

extension EngineState {
    /// Why an acknowledgement cannot be applied (nothing of it is), or nil: it names no exception or too many,
    /// its note is too long, or one of its exceptions is unknown or no longer kept.
    func exceptionCommandProblem(_ c: ExceptionCommand) -> FieldError? {
        guard !c.exceptionIds.isEmpty else { return FieldError("exceptionIds", "exceptionIds must name at least one exception") }
        guard c.exceptionIds.count <= ExceptionCommand.maxExceptions else {
            return FieldError("exceptionIds", "exceptionIds names \(c.exceptionIds.count) exceptions; at most \(ExceptionCommand.maxExceptions) at once")
        }
        if let note = c.note, note.utf8.count > ExceptionCommand.maxNoteBytes {
            return FieldError("note", "note is longer than \(ExceptionCommand.maxNoteBytes) bytes")
        }
        if let user = c.user, user.utf8.count > 256 { return FieldError("user", "user is longer than 256 bytes") }
        for id in c.exceptionIds where exceptionLog.entry(id) == nil {
            if id >= 1 && id < exceptionLog.firstId {
                return FieldError("exceptionIds", "exception \(id) is no longer kept (the oldest kept is \(exceptionLog.firstId))")
            }
            return FieldError("exceptionIds", "unknown exception \(id)")
        }
        return nil
    }

    /// Acknowledges the command's exceptions; those already acknowledged keep their first acknowledgement.
    /// Returns false when it changed nothing.
    mutating func applyExceptionCommand(_ c: ExceptionCommand, at time: Timestamp) -> Bool {
        let changed = exceptionLog.acknowledge(c.exceptionIds, by: c.user ?? "anonymous", at: time, note: c.note)
        changeLog.updatedExceptions += changed
        return !changed.isEmpty
    }
}
