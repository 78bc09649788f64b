import ArgumentParser
import Foundation
import IMSDomain
import IMSJournal

/// `ims journal verify|repair`: what an operator runs when a data directory refuses to start.
struct JournalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "journal",
        abstract: "Check a data directory's journal, or move its damaged part aside.",
        subcommands: [Verify.self, Repair.self])

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read every journal record and check its checksum and decoding; change nothing.",
            discussion: "Prints a JSON report. Exits 0 when IMS would start (a torn tail is cut at start), 1 when it would refuse.")

        @Option(help: "The data directory of `ims serve`.") var dataDir = "./ims-data"

        func run() throws {
            let report = try JournalMaintenance.verify(dataDirectory: dataDir)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            if report.verdict == .corrupt { throw ExitCode(1) }
        }
    }

    struct Repair: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move the damaged part of the journal aside (kept under quarantine/, never deleted) so IMS starts from what precedes it.",
            discussion: """
            Events after the damage are then not in the state: restore the damaged files from a copy instead if you have one.
            Asks for --yes, since acknowledged events after the damage leave the state.
            """)

        @Option(help: "The data directory of `ims serve` (stop the server first).") var dataDir = "./ims-data"
        @Flag(help: "Confirm that events after the damage may leave the state.") var yes = false

        func run() throws {
            guard yes else {
                let report = try JournalMaintenance.verify(dataDirectory: dataDir)
                print("\(report.verdict.rawValue): \(report.problem ?? "nothing to repair")")
                if report.verdict == .corrupt { print("run again with --yes to move the damaged data aside (events after record \(report.lastValidRecord) leave the state)") }
                return
            }
            let repair = try JournalMaintenance.repair(dataDirectory: dataDir, at: WallClockDate.now())
            for action in repair.actions { print(action) }
            print("the journal now ends at record \(repair.lastRecord)" + (repair.quarantine.map { "; damaged data kept in \($0)" } ?? ""))
        }
    }
}
