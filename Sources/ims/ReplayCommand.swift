import ArgumentParser
import Foundation
import IMSDomain
import IMSEngine
import IMSJournal

struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Rebuild the state of a data directory as it was at a journal sequence or a time, and print or export it.",
        discussion: """
            Read-only: the data directory is not changed, and a running server may keep using it.
            Prints one JSON line per position (the fields of GET /api/v1/positions/{bookId}/{securityId}),
            then a summary line with the sequence reached and a digest of the whole state: two replays
            to the same point print the same digest.
            """)

    @Option(help: ArgumentHelp(Settings.help("dataDir", "The data directory of `ims serve`."))) var dataDir: String?
    @Option(help: "A journal sequence number, or an ISO-8601 timestamp (2026-11-25T14:30:00Z). Default: the end.")
    var until: String?
    @Option(help: "Write the positions to this file instead of standard output.") var output: String?
    @Flag(help: "Ignore snapshots and replay the whole journal.") var fromStart = false
    @OptionGroup var server: ServerOptions

    func run() async throws {
        let settings = try await server.resolve(with: dataDir.map { ["dataDir": .string($0)] } ?? [:])
        let dataDir = settings.dataDir
        let target: ReplayTarget
        if let until {
            guard let t = ReplayTarget(parsing: until) else {
                throw ValidationError("--until must be a sequence number or an ISO-8601 timestamp, not \(until)")
            }
            target = t
        } else {
            target = .sequence(.max)
        }
        guard FileManager.default.fileExists(atPath: DataDirectory.journalDirectory(dataDir)) else {
            throw ValidationError("no journal in \(dataDir)/journal")
        }
        let start = Date()
        let state = try Replay.state(
            dataDirectory: dataDir, catalog: try settings.catalog(), until: target, partitions: settings.partitions, ignoringSnapshots: fromStart)
        let seconds = Date().timeIntervalSince(start)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var out = Data()
        let page = state.readModel.positions(matching: PositionFilter(), offset: 0, limit: Int.max)
        for view in page.items {
            out.append(try encoder.encode(view))
            out.append(0x0A)
        }
        if let output {
            try out.write(to: URL(fileURLWithPath: output))
        } else {
            FileHandle.standardOutput.write(out)
        }
        let digest = String(CRC32C.checksum(state.snapshotImage()), radix: 16)
        print(
            "{\"until\":\"\(target)\",\"lastSequence\":\(state.lastSequence),\"journalRecord\":\(state.appliedRecord),"
                + "\"lastEntryAt\":\"\(state.lastEntryAt)\",\"positions\":\(page.items.count),\"stateDigest\":\"\(digest)\","
                + "\"seconds\":\(String(format: "%.3f", seconds))}")
    }
}
