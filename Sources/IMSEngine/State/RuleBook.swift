import Foundation
import IMSDomain
import IMSRules

/// One version of the rule set and where it is in its lifecycle.
public struct RuleVersion: Sendable {
    public enum Status: String, Sendable, Codable, CaseIterable {
        case draft = "DRAFT"
        case previewed = "PREVIEWED"
        case approved = "APPROVED"
        case active = "ACTIVE"
        case superseded = "SUPERSEDED"
        case rejected = "REJECTED"
    }

    public let version: Int64
    public let compiled: CompiledRuleSet
    public internal(set) var status: Status
    public let author: String
    public let createdAt: Timestamp
    /// The journal sequence of the command that made it (0 for the shipped set).
    public let sequence: Int64
    public internal(set) var approvedBy: String?
    public internal(set) var activatedBy: String?

    public var document: RuleSetDocument { compiled.document }
}

/// One step of the lifecycle: who did what, when, to which version, and what it changed.
public struct RuleAuditEntry: Sendable, Codable, Equatable {
    public var sequence: Int64
    public var at: Timestamp
    public var user: String
    public var action: RuleCommand.Action
    public var version: Int64
    public var comment: String?
    /// For a draft, how it differs from the rules in force then; for an activation, which version it replaced.
    public var changes: [String]
}

/// The rule sets the desk has written and the one in force: a part of the state (SPEC 4.3).
///
/// Changed only by `RuleCommand`s, which are journaled, so a restart or a replay reaches the same rules.
/// Version 1 is the shipped set, active until another is activated. Documents are compiled when drafted
/// (a document that does not compile is refused) and kept compiled.
public struct RuleBook: Sendable {
    public private(set) var versions: [RuleVersion]
    public private(set) var activeIndex = 0
    public private(set) var audit: [RuleAuditEntry] = []
    /// Bumped by every change, so that a publisher can tell whether it changed.
    var changeCount: UInt64 = 0

    init() {
        versions = [RuleVersion(version: 1, compiled: .shipped, status: .active, author: "IMS", createdAt: Timestamp(micros: 0), sequence: 0)]
    }

    /// The rules in force.
    public var active: ActiveRules { ActiveRules(version: Int(versions[activeIndex].version), rules: versions[activeIndex].compiled) }

    /// Rule set version `n`, if it exists.
    public func version(_ n: Int64) -> RuleVersion? {
        guard n >= 1, n <= Int64(versions.count) else { return nil }
        return versions[Int(n - 1)]
    }

    /// Why `c` cannot be carried out now, naming the field; nil if it can.
    func problem(with c: RuleCommand) -> FieldError? {
        if c.user.trimmingCharacters(in: .whitespaces).isEmpty { return FieldError("user", "who issues the command must be named") }
        if c.action == .draft {
            guard c.document != nil else { return FieldError("document", "a draft needs a rule set document") }
            return c.documentProblem
        }
        guard let v = version(c.version) else { return FieldError("version", "no rule set version \(c.version)") }
        switch c.action {
        case .draft: return nil
        case .preview:
            guard v.status == .draft || v.status == .previewed else {
                return FieldError("version", "version \(c.version) is \(v.status.rawValue); only a draft is previewed")
            }
        case .approve:
            guard v.status == .previewed else {
                return FieldError("version", "version \(c.version) is \(v.status.rawValue); a version is approved once it has been previewed")
            }
            // The person, not the credential: two keys of one name are one person (`person(of:)`).
            guard Self.person(of: c.user) != Self.person(of: v.author) else {
                return FieldError("user", "\(c.user) wrote version \(c.version) (as \(v.author)); a second person must approve it")
            }
        case .reject:
            guard [.draft, .previewed, .approved].contains(v.status) else {
                return FieldError("version", "version \(c.version) is \(v.status.rawValue) and cannot be rejected")
            }
        case .activate:
            guard v.status == .approved else {
                return FieldError("version", "version \(c.version) is \(v.status.rawValue); only an approved version is activated")
            }
        }
        return nil
    }

    /// Carries out a command `problem(with:)` accepted.
    mutating func apply(_ c: RuleCommand, sequence: Int64, at time: Timestamp) {
        var changes: [String] = []
        var number = c.version
        switch c.action {
        case .draft:
            // Validated: it compiles (the same bytes compile the same way on replay).
            let compiled = try! CompiledRuleSet(json: Array(c.document!.utf8))
            number = Int64(versions.count + 1)
            changes = Self.differences(from: versions[activeIndex].document, to: compiled.document)
            versions.append(RuleVersion(version: number, compiled: compiled, status: .draft, author: c.user, createdAt: time, sequence: sequence))
        case .preview:
            versions[Int(c.version - 1)].status = .previewed
        case .approve:
            versions[Int(c.version - 1)].status = .approved
            versions[Int(c.version - 1)].approvedBy = c.user
        case .reject:
            versions[Int(c.version - 1)].status = .rejected
        case .activate:
            changes = ["replaces version \(versions[activeIndex].version)"]
            versions[activeIndex].status = .superseded
            activeIndex = Int(c.version - 1)
            versions[activeIndex].status = .active
            versions[activeIndex].activatedBy = c.user
        }
        audit.append(RuleAuditEntry(sequence: sequence, at: time, user: c.user, action: c.action, version: number, comment: c.comment, changes: changes))
        changeCount &+= 1
    }

    /// Who a command's issuer is as a person: an API key's name (`key:<id>:<name>` → `<name>`), a token's
    /// subject (`jwt:<sub>` → `<sub>`), else the name given. Maker/checker compares persons, so a second key
    /// made under the same name cannot approve its own draft.
    static func person(of issuer: String) -> String {
        if issuer.hasPrefix("key:") {
            let rest = issuer.dropFirst(4)
            return rest.firstIndex(of: ":").map { String(rest[rest.index(after: $0)...]) } ?? String(rest)
        }
        if issuer.hasPrefix("jwt:") { return String(issuer.dropFirst(4)) }
        return issuer
    }

    /// What a document changes against another: parameters and rules (by id) added, removed or changed.
    static func differences(from old: RuleSetDocument, to new: RuleSetDocument) -> [String] {
        var out: [String] = []
        let oldParameters = old.parameters ?? [:], newParameters = new.parameters ?? [:]
        for name in Set(oldParameters.keys).union(newParameters.keys).sorted() where oldParameters[name] != newParameters[name] {
            out.append(
                "parameter \(name): \(oldParameters[name].map { $0.value.description } ?? "none") → \(newParameters[name].map { $0.value.description } ?? "none")"
            )
        }
        func rules(_ d: RuleSetDocument) -> [String: (pack: String, rule: RuleDocument)] {
            var table: [String: (String, RuleDocument)] = [:]
            for pack in d.packs { for rule in pack.rules { table[rule.id] = (pack.pack, rule) } }
            return table
        }
        let a = rules(old), b = rules(new)
        for id in Set(a.keys).union(b.keys).sorted() {
            switch (a[id], b[id]) {
            case (nil, let added?): out.append("rule \(id) added to pack \(added.pack): \(added.rule.formula)")
            case (let removed?, nil): out.append("rule \(id) removed from pack \(removed.pack)")
            case (let x?, let y?) where x.rule != y.rule || x.pack != y.pack:
                out.append(x.rule.formula == y.rule.formula ? "rule \(id) changed" : "rule \(id): \(x.rule.formula) → \(y.rule.formula)")
            default: break
            }
        }
        out += locatePolicyDifferences(
            from: old.locatePolicy ?? CompiledRuleSet.shippedLocatePolicy, to: new.locatePolicy ?? CompiledRuleSet.shippedLocatePolicy)
        return out
    }

    /// The locate policy's differences: steps and decrements added, removed or changed (by id), and their order
    /// when only that changed (the first step, or decrement, whose condition holds decides).
    static func locatePolicyDifferences(from old: LocatePolicyDocument, to new: LocatePolicyDocument) -> [String] {
        func outcome(_ r: LocateRuleDocument) -> String { r.outcome + (r.reason.map { " " + $0 } ?? "") }
        let steps = byIdDifferences(old.rules, new.rules, id: \.id, noun: "locate rule", plural: "locate rules") { r in
            "added: \(outcome(r))"
        } changed: { x, y in
            x.outcome != y.outcome || x.reason != y.reason ? ": \(outcome(x)) → \(outcome(y))" : " changed"
        }
        let decrements = byIdDifferences(old.decrements, new.decrements, id: \.id, noun: "locate decrement", plural: "locate decrements") { d in
            "added: factor \(d.factor.value.description)"
        } changed: { x, y in
            x.factor != y.factor && x.when == y.when ? ": factor \(x.factor.value.description) → \(y.factor.value.description)" : " changed"
        }
        return steps + decrements
    }

    /// Items added, removed (by id) or changed (`changed` says how, after the id), sorted by id; then their order
    /// when the ones both keep moved.
    private static func byIdDifferences<T: Equatable>(
        _ old: [T], _ new: [T], id: (T) -> String, noun: String, plural: String, added: (T) -> String, changed: (T, T) -> String
    ) -> [String] {
        let a = Dictionary(old.map { (id($0), $0) }, uniquingKeysWith: { x, _ in x })
        let b = Dictionary(new.map { (id($0), $0) }, uniquingKeysWith: { x, _ in x })
        var out: [String] = []
        for key in Set(a.keys).union(b.keys).sorted() {
            switch (a[key], b[key]) {
            case (nil, let y?): out.append("\(noun) \(key) \(added(y))")
            case (_?, nil): out.append("\(noun) \(key) removed")
            case (let x?, let y?) where x != y: out.append("\(noun) \(key)\(changed(x, y))")
            default: break
            }
        }
        let kept = old.map(id).filter { b[$0] != nil }, now = new.map(id).filter { a[$0] != nil }
        if kept != now { out.append("\(plural) reordered: \(kept.joined(separator: ", ")) → \(now.joined(separator: ", "))") }
        return out
    }
}

extension RuleBook {
    /// The snapshot section: every version's document (as exported), status and people, and the audit trail.
    func encode(to w: inout BinaryWriter) {
        w.writeCount(versions.count - 1)
        for v in versions.dropFirst() {
            w.write(String(decoding: v.document.encoded(), as: UTF8.self))
            w.write(v.status); w.write(v.author); w.write(v.createdAt); w.write(v.sequence)
            w.write(v.approvedBy); w.write(v.activatedBy)
        }
        w.write(versions[0].status)
        w.writeCount(activeIndex)
        w.writeCount(audit.count)
        for e in audit {
            w.write(e.sequence); w.write(e.at); w.write(e.user); w.write(e.action); w.write(e.version); w.write(e.comment)
            w.writeCount(e.changes.count)
            for c in e.changes { w.write(c) }
        }
    }

    init(from r: inout BinaryReader) throws(BinaryFormatError) {
        self.init()
        for _ in 0..<(try r.readCount()) {
            let text = try r.readString()
            let compiled: CompiledRuleSet
            do { compiled = try CompiledRuleSet(json: Array(text.utf8)) } catch {
                throw BinaryFormatError("snapshot has rule set version \(versions.count + 1), which does not compile: \(error)")
            }
            var v = RuleVersion(
                version: Int64(versions.count + 1), compiled: compiled, status: try r.readCase(), author: try r.readString(),
                createdAt: try r.readTimestamp(), sequence: try r.readInt64())
            v.approvedBy = try r.readOptionalString()
            v.activatedBy = try r.readOptionalString()
            versions.append(v)
        }
        versions[0].status = try r.readCase()
        activeIndex = try r.readCount()
        guard activeIndex < versions.count else { throw BinaryFormatError("snapshot's active rule set \(activeIndex + 1) is not among its \(versions.count)") }
        for _ in 0..<(try r.readCount()) {
            var e = RuleAuditEntry(
                sequence: try r.readInt64(), at: try r.readTimestamp(), user: try r.readString(), action: try r.readCase(),
                version: try r.readInt64(), comment: try r.readOptionalString(), changes: [])
            for _ in 0..<(try r.readCount()) { e.changes.append(try r.readString()) }
            audit.append(e)
        }
    }
}

extension RuleCommand {
    /// Why a draft's document does not compile under today's limits (size, depth, keys, bounds), or nil.
    public var documentProblem: FieldError? {
        guard action == .draft, let text = document else { return nil }
        do { _ = try CompiledRuleSet(json: Array(text.utf8)) } catch { return FieldError("document", error.description) }
        return nil
    }
}

extension Event {
    /// Why today's limits refuse this event whatever the state holds, or nil: a rule draft journaled by an
    /// earlier version whose document no longer compiles. `ims journal verify` lists such records; replay
    /// refuses them as the route would.
    public var problemUnderTodaysLimits: FieldError? {
        guard let c = command(RuleCommand.self) else { return nil }
        return c.documentProblem
    }
}
