import ArgumentParser
import Foundation
import IMSDomain
import IMSJournal

/// `ims journal verify|repair`: what an operator runs when a data directory refuses to start.
struct JournalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "journal",
        abstract: "Check a data directory's journal, or move its damaged part aside.",
        subcommands: [Verify.self, Repair.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read every journal record and check its checksum and decoding; change nothing.",
            discussion: """
                Prints a JSON report. Exits 0 when IMS would start (a torn tail is cut at start), 1 when it would refuse.
                Snapshots are loaded in full, as start loads them: the report names the one start would use and those it would pass over.
                It also lists journaled commands that today's limits refuse (start refuses them again as it replays).
                """)

        @Option(help: ArgumentHelp(Settings.help("dataDir", "The data directory of `ims serve`."))) var dataDir: String?
        @OptionGroup var server: ServerOptions

        func run() async throws {
            let settings = try await server.resolve(with: dataDir.map { ["dataDir": .string($0)] } ?? [:])
            let report = try JournalMaintenance.verify(dataDirectory: settings.dataDir, catalog: try settings.catalog())
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            if report.verdict == .corrupt { throw ExitCode(1) }
        }
    }

    struct Repair: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move the damaged part of the journal aside (kept under quarantine/, never deleted) so IMS starts from all that is still good.",
            discussion: """
                Keeps the journal before the damage and every snapshot that loads; when a snapshot covers the damage, the state
                is the snapshot's and the verified records after it are kept. Events that are then in no kept file leave the
                state: restore the damaged files from a copy instead if you have one. The next start raises a JOURNAL_REPAIRED
                exception saying what was moved. Asks for --yes, since acknowledged events may leave the state.
                """)

        @Option(help: ArgumentHelp(Settings.help("dataDir", "The data directory of `ims serve` (stop the server first)."))) var dataDir: String?
        @Flag(help: "Confirm that events after the damage may leave the state.") var yes = false
        @OptionGroup var server: ServerOptions

        func run() async throws {
            let settings = try await server.resolve(with: dataDir.map { ["dataDir": .string($0)] } ?? [:])
            let dataDir = settings.dataDir
            let catalog = try settings.catalog()
            guard yes else {
                let report = try JournalMaintenance.verify(dataDirectory: dataDir, catalog: catalog)
                print("\(report.verdict.rawValue): \(report.problem ?? "nothing to repair")")
                if report.verdict == .corrupt {
                    print("run again with --yes to move the damaged data aside (events after record \(report.lastValidRecord) leave the state)")
                }
                return
            }
            let repair = try JournalMaintenance.repair(dataDirectory: dataDir, catalog: catalog, at: WallClockDate.now())
            for action in repair.actions { print(action) }
            print("the journal now ends at record \(repair.lastRecord)" + (repair.quarantine.map { "; damaged data kept in \($0)" } ?? ""))
        }
    }
}
