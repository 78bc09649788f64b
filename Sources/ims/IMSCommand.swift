import ArgumentParser
import Foundation

/// The `ims` command line.
@main
struct IMSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ims",
        abstract: "IMS: real-time inventory management for prime brokers.",
        subcommands: [
            Serve.self, Demo.self, Load.self, ReplayCommand.self, AuditCommand.self, JournalCommand.self, ConfigCommand.self, RulesCommand.self,
            KeysCommand.self, ClusterCommand.self, Bench.self,
        ])

    static func main() async {
        AllocatorTuning.apply()
        // Everything IMS writes (journal segments, snapshots, keys, exports, the data directory) is the
        // owner's alone: files 0600, directories 0700. The journal holds every client's positions and orders.
        umask(0o077)
        do {
            var command = try parseAsRoot()
            if var async = command as? any AsyncParsableCommand { try await async.run() } else { try command.run() }
        } catch {
            exit(withError: error)
        }
    }
}
