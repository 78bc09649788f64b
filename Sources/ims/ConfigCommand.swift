import ArgumentParser
import Foundation

/// `ims config`: the settings IMS would run with.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Show the effective configuration.",
        subcommands: [PrintConfig.self])
}

struct PrintConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "print",
        abstract: "Print every setting `ims serve` would use, and where each value came from.",
        discussion: """
            A flag wins over an environment variable (IMS_PORT, IMS_DATA_DIR, …), which wins over the \
            configuration file (--config or IMS_CONFIG), which wins over the default. Give the same flags, \
            environment and file as the server to see what it will run with; a value IMS would refuse is \
            refused here too, naming the key.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

    @OptionGroup var server: ServerOptions
    @OptionGroup var storage: StorageOptions
    @Option(help: "text (a table) or json (one object: key → value, source, environment variable, flag).") var format: Format = .text

    func run() async throws {
        let settings = try await server.resolve(with: storage.flagValues)
        switch format {
        case .text: print(Self.table(settings), terminator: "")
        case .json: print(try Self.json(settings))
        }
    }

    static func table(_ settings: ResolvedSettings) -> String {
        let rows = settings.entries.map { [$0.setting.key, $0.value?.description ?? "(unset)", $0.source] }
        let header = ["key", "value", "source"]
        let widths = (0..<3).map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        func line(_ row: [String]) -> String {
            row.enumerated().map { i, cell in i == 2 ? cell : cell.padding(toLength: widths[i] + 2, withPad: " ", startingAt: 0) }.joined() + "\n"
        }
        var text = settings.configFile.map { "configuration file: \($0)\n" } ?? "configuration file: none\n"
        text += line(header)
        for row in rows { text += line(row) }
        return text
    }

    static func json(_ settings: ResolvedSettings) throws -> String {
        var object: [String: Any] = [:]
        for entry in settings.entries {
            var item: [String: Any] = [
                "source": entry.source, "environment": entry.setting.environmentVariable, "flag": entry.setting.flag,
            ]
            switch entry.value {
            case .int(let n): item["value"] = n
            case .string(let s): item["value"] = s
            case nil: item["value"] = NSNull()
            }
            object[entry.setting.key] = item
        }
        let data = try JSONSerialization.data(
            withJSONObject: ["configFile": settings.configFile.map { $0 as Any } ?? NSNull(), "settings": object],
            options: [.sortedKeys, .prettyPrinted])
        return String(decoding: data, as: UTF8.self)
    }
}
