import ArgumentParser
import Foundation

/// `ims cluster status`: each node of a replicated deployment (`--journal kafka`), as its `/health` says.
struct ClusterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster", abstract: "A replicated deployment's nodes.", subcommands: [Status.self])

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Each node's role, epoch, applied record, topic offset and lag, from its /health (exit 1 if none leads or one has stopped).")

        @Option(help: "The nodes' URLs, comma-separated (http://host:port).") var nodes: String
        @Option(help: "text (a table) or json (one object per node).") var format = "text"

        func run() throws {
            let urls = nodes.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            guard !urls.isEmpty else { throw ValidationError("--nodes names no node") }
            var rows: [[String: Any]] = []
            for url in urls {
                var row: [String: Any] = ["url": url]
                do {
                    let response = try BlockingHTTPClient(url: url).get("/health")
                    let health = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
                    row["status"] = health?["status"] ?? "HTTP \(response.status)"
                    if let replication = health?["replication"] as? [String: Any] {
                        row.merge(replication) { _, new in new }
                    } else {
                        row["role"] = "not replicated"
                    }
                } catch {
                    row["status"] = "unreachable: \(error)"
                }
                rows.append(row)
            }
            if format == "json" {
                for row in rows { print(String(decoding: try JSONSerialization.data(withJSONObject: row, options: [.sortedKeys]), as: UTF8.self)) }
            } else {
                let columns = ["url", "node", "role", "epoch", "appliedRecord", "offset", "lagOffsets", "lagMilliseconds", "leaderNode", "status"]
                let table = [columns] + rows.map { row in columns.map { row[$0].map { "\($0)" } ?? "-" } }
                let widths = columns.indices.map { i in table.map { $0[i].count }.max() ?? 0 }
                for line in table { print(zip(line, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")) }
                for row in rows { if let error = row["brokerError"] as? String { print("\(row["url"] ?? ""): \(error)") } }
            }
            let leaders = rows.filter { $0["role"] as? String == "leader" }.count
            let halted = rows.contains { ($0["halted"] as? Bool) == true || ($0["halted"] as? Int) == 1 }
            if leaders != 1 || halted { throw ExitCode(1) }
        }
    }
}
