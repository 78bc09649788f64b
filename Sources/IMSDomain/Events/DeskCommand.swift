/// A desk command: a request a person or a system makes through the API (a rule step, a locate, an order to
/// validate, an acknowledgement), never read from files or feeds, and journaled like an event so that replay
/// decides it again the same way.
///
/// Each kind is one type conforming here, registered once in `DeskCommands.kinds`: its fields, its binary
/// encoding in the journal (`BinaryCodable`, under `binaryTag`) and its name. The engine adds, in one
/// conformance per kind (`EngineCommand`), its validation, its apply and its audit entry; the journal codec,
/// the audit trail and the engine's dispatch find a command through the registry and `Event.command`, so
/// no switch lists the kinds.
public protocol DeskCommand: Sendable, Hashable, BinaryCodable {
    /// The event type name the command reports (`locateCommand`), in audit entries and messages.
    static var typeName: String { get }
    /// Its tag in the journal's event encoding: written into journals, so fixed once released; unique
    /// among commands and events (tested).
    static var binaryTag: UInt8 { get }
}

/// A desk command as an event carries it: any registered kind, compared and hashed by value.
public struct AnyDeskCommand: Sendable, Hashable {
    public let base: any DeskCommand

    /// A `AnyDeskCommand` from its fields.
    public init(_ base: some DeskCommand) { self.base = base }

    /// The command if it is of kind `C`.
    public func `as`<C: DeskCommand>(_ kind: C.Type) -> C? { base as? C }

    /// The kind's type name.
    public var typeName: String { type(of: base).typeName }

    /// Equal by value.
    public static func == (a: AnyDeskCommand, b: AnyDeskCommand) -> Bool { AnyHashable(a.base) == AnyHashable(b.base) }
    /// Hashes the command by value.
    public func hash(into hasher: inout Hasher) { hasher.combine(AnyHashable(base)) }
}

/// Every kind of desk command, registered once.
public enum DeskCommands {
    public static let kinds: [any DeskCommand.Type] = [
        RuleCommand.self, LocateCommand.self, OrderCommand.self, ExceptionCommand.self, OrderCancelCommand.self, AuditNoteCommand.self,
    ]

    /// The kind written under `tag`, if any.
    public static func kind(tag: UInt8) -> (any DeskCommand.Type)? { kinds.first { $0.binaryTag == tag } }

    /// Reads a command of `kind` (the journal's decoder, after its tag).
    static func decode(_ kind: any DeskCommand.Type, from r: inout BinaryReader) throws(BinaryFormatError) -> AnyDeskCommand {
        try open(kind, &r)
    }

    private static func open<C: DeskCommand>(_ kind: C.Type, _ r: inout BinaryReader) throws(BinaryFormatError) -> AnyDeskCommand {
        AnyDeskCommand(try C(from: &r))
    }
}

extension Event {
    /// The event carrying desk command `command`.
    public init(_ command: some DeskCommand) { self = .command(AnyDeskCommand(command)) }

    /// The desk command this event carries, if it is one of kind `C`.
    public func command<C: DeskCommand>(_ kind: C.Type) -> C? {
        if case .command(let c) = self { return c.as(kind) }
        return nil
    }
}
