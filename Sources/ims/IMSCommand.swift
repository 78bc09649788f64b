import ArgumentParser

/// The `ims` command line.
@main
struct IMSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ims",
        abstract: "IMS: real-time inventory management for prime brokers.",
        subcommands: [Serve.self, Demo.self, Load.self, ReplayCommand.self, Bench.self])
}
