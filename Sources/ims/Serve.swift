import ArgumentParser
import Foundation
import Hummingbird
import IMSDomain
import IMSEngine
import IMSServer

/// Options shared by the commands that run a server.
struct ServerOptions: ParsableArguments {
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks a free one).") var port = 8080
    @Option(help: "Folder with markets.json and calendars/<MARKET>.json replacing the shipped market data.")
    var marketsDir: String?
    @Option(help: "Largest accepted request body, in bytes.") var maxBodyBytes = 64 << 20

    func catalog() throws -> MarketCatalog {
        guard let dir = marketsDir else { return .embedded }
        let url = URL(fileURLWithPath: dir)
        let markets = try Data(contentsOf: url.appendingPathComponent("markets.json"))
        var calendars: [String: [UInt8]] = [:]
        let files = try FileManager.default.contentsOfDirectory(atPath: url.appendingPathComponent("calendars").path)
        for file in files where file.hasSuffix(".json") {
            calendars[String(file.dropLast(5))] = Array(try Data(contentsOf: url.appendingPathComponent("calendars/\(file)")))
        }
        return try MarketCatalog(marketsJSON: Array(markets), calendarJSON: calendars)
    }

    var configuration: ServerConfiguration { ServerConfiguration(host: host, port: port, maxBodyBytes: maxBodyBytes) }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the IMS API.")

    @OptionGroup var server: ServerOptions
    @Option(help: "Folder for IMS's data (created if missing).") var dataDir = "./ims-data"

    func run() async throws {
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        let engine = Engine(state: EngineState(catalog: try server.catalog()))
        let app = IMSApplication.application(engine: engine, configuration: server.configuration) { port in
            print("ims serving on http://\(server.host):\(port)")
        }
        try await app.runService()
        engine.stop()
    }
}
