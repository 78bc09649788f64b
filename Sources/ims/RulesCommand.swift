import ArgumentParser
import Foundation

/// `ims rules export|import`: move a rule set between IMS instances (docs/inventory.md).
struct RulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract: "Export a rule set version from a running server, or import one as a new draft.",
        subcommands: [Export.self, Import.self])

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a rule set version as JSON (keys sorted: the same version always gives the same bytes).")

        @Option(help: "The server.") var url = "http://127.0.0.1:8080"
        @Option(help: "The version (default: the one in force).") var version: Int?
        @Option(help: "Write to this file instead of standard output.") var output: String?

        func run() throws {
            let client = try BlockingHTTPClient(url: url)
            var number = version
            if number == nil {
                let listing = try client.get("/api/v1/rules")
                guard listing.status == 200, let json = try? JSONSerialization.jsonObject(with: Data(listing.body)) as? [String: Any],
                    let active = json["activeVersion"] as? Int
                else { throw ValidationError("\(url): HTTP \(listing.status) \(listing.text.prefix(300))") }
                number = active
            }
            let response = try client.get("/api/v1/rules/\(number!)/export")
            guard response.status == 200 else { throw ValidationError("version \(number!): HTTP \(response.status) \(response.text.prefix(300))") }
            if let output {
                try Data(response.body).write(to: URL(fileURLWithPath: output))
            } else {
                FileHandle.standardOutput.write(Data(response.body))
            }
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Post an exported rule set as a new draft; it is then previewed, approved by a second person and activated.")

        @Argument(help: "The file `ims rules export` wrote.") var file: String
        @Option(help: "The server.") var url = "http://127.0.0.1:8080"
        @Option(help: "Who imports it (the draft's author).") var user: String
        @Option(help: "Why.") var comment: String?

        func run() throws {
            let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: file)))
            let client = try BlockingHTTPClient(url: url)
            var path = "/api/v1/rules/import?user=\(Self.escape(user))"
            if let comment { path += "&comment=\(Self.escape(comment))" }
            let response = try client.post(path, body: bytes, contentType: "application/json")
            print(response.text)
            guard response.status == 201 else { throw ExitCode.failure }
        }

        static func escape(_ text: String) -> String {
            text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? text
        }
    }
}
