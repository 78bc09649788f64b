import ArgumentParser
import Foundation

struct Load: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load an NDJSON or CSV file of events into a running server.",
        discussion: "CSV files need a type column or --type. Files are sent in chunks of --chunk lines; each chunk is atomic unless --partial.")

    @Argument(help: "The file (.ndjson, .jsonl or .csv).") var file: String
    @Option(help: "The server.") var url = "http://127.0.0.1:8080"
    @Option(help: "Event type for CSV files without a type column.") var type: String?
    @Option(help: "Lines per request.") var chunk = 50_000
    @Flag(help: "Apply good lines and keep bad ones as exceptions.") var partial = false

    func run() throws {
        let text = try String(contentsOfFile: file, encoding: .utf8)
        let isCSV = file.lowercased().hasSuffix(".csv")
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        var header: String?
        var skipped = 0
        if isCSV {
            while let first = lines.first, first.hasPrefix("#") { lines.removeFirst(); skipped += 1 }
            header = lines.isEmpty ? nil : lines.removeFirst()
            if header != nil { skipped += 1 }
        }
        let client = try BlockingHTTPClient(url: url)
        var path = "/api/v1/events?mode=\(partial ? "partial" : "atomic")"
        if let type { path += "&type=\(type)" }
        var accepted = 0, failed = false
        var start = 0
        while start < lines.count {
            let part = lines[start..<min(lines.count, start + chunk)]
            let body = ((header.map { [$0] } ?? []) + part).joined(separator: "\n")
            let response = try client.post(path, body: Array(body.utf8), contentType: isCSV ? "text/csv" : "application/x-ndjson")
            // A line of the request body → the line of the file (CSV bodies repeat the header as line 1).
            let fileLine = { (bodyLine: Int) in skipped + start + bodyLine - (header == nil ? 0 : 1) }
            let json = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
            for case let r as [String: Any] in json?["rejected"] as? [Any] ?? [] {
                let line = (r["line"] as? Int).map { "line \(fileLine($0))" } ?? "line ?"
                print("\(file) \(line): \(r["field"] as? String ?? "?"): \(r["error"] as? String ?? "?")")
            }
            if response.status != 200 {
                let why = response.status == 422 ? "refused (atomic: nothing of it applied)" : "HTTP \(response.status) \(response.text.prefix(300))"
                print("\(file) lines \(fileLine(1 + (header == nil ? 0 : 1)))-\(fileLine(part.count + (header == nil ? 0 : 1))): \(why)")
                failed = true
            } else {
                accepted += json?["accepted"] as? Int ?? 0
            }
            start += part.count
        }
        print("{\"accepted\":\(accepted),\"file\":\"\(file)\"}")
        if failed { throw ExitCode.failure }
    }
}
