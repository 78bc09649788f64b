import ArgumentParser
import Foundation
import IMSDomain
import IMSEngine
import IMSJournal

/// `ims audit`: the whole audit trail of a data directory, rebuilt from its journal, as NDJSON (one
/// `GET /api/v1/audit` entry a line). The server keeps the newest entries in memory; this reads them all.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Export the audit trail of a data directory (who changed what through the API), rebuilt from its journal.",
        discussion: """
            Read-only: a running server may keep using the data directory. Prints one JSON line per entry,
            oldest first (the fields of GET /api/v1/audit), then a summary line. The whole journal is replayed,
            so every entry since the first record is there; when the journal's first records were removed, the
            trail starts at the oldest snapshot's, and the summary says so.
            """)

    @Option(help: ArgumentHelp(Settings.help("dataDir", "The data directory of `ims serve`."))) var dataDir: String?
    @Option(help: "Only this identity (key:<id>:<name>, jwt:<subject>).") var user: String?
    @Option(help: "Only this action (RULE_APPROVE, LOCATE_DECIDE, ORDER_VALIDATE, EVENTS…).") var action: String?
    @Option(help: "At or after this ISO-8601 time.") var from: String?
    @Option(help: "At or before this ISO-8601 time.") var to: String?
    @Option(help: "Write the entries to this file instead of standard output.") var output: String?
    @OptionGroup var server: ServerOptions

    func run() async throws {
        let settings = try await server.resolve(with: dataDir.map { ["dataDir": .string($0)] } ?? [:])
        func time(_ text: String?, _ name: String) throws -> Timestamp? {
            guard let text else { return nil }
            guard let t = Timestamp(parsing: text) else { throw ValidationError("--\(name) must be an ISO-8601 time, not \(text)") }
            return t
        }
        let filter = AuditFilter(user: user, action: action, from: try time(from, "from"), to: try time(to, "to"))
        let journal = DataDirectory.journalDirectory(settings.dataDir)
        guard FileManager.default.fileExists(atPath: journal) else { throw ValidationError("no journal in \(settings.dataDir)/journal") }
        let complete = Replay.journalStartsAtFirstRecord(dataDirectory: settings.dataDir)
        let state = try Replay.state(
            dataDirectory: settings.dataDir, catalog: try settings.catalog(), until: .sequence(Int64.max),
            partitions: settings.partitions, ignoringSnapshots: complete, auditCapacity: .max)
        let entries = state.auditEntries(filter, limit: .max)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var out = Data()
        for e in entries {
            out.append(try encoder.encode(e))
            out.append(0x0A)
        }
        if let output { try out.write(to: URL(fileURLWithPath: output)) } else { FileHandle.standardOutput.write(out) }
        print("{\"entries\":\(entries.count),\"journalRecord\":\(state.appliedRecord),\"fromJournalStart\":\(complete)}")
    }
}
