import ArgumentParser
import Foundation
import IMSFIX
import IMSRuntime
import IMSServer
import Logging
import NIOCore
import NIOSSL
import Yams

extension ResolvedSettings {
    /// The FIX sessions file, read and checked (nil: no `fixPort`, FIX is off). Errors name the file and field.
    func fixGatewaySettings(authenticated: Bool) throws -> FIXGatewaySettings? {
        guard case .int = value("fixPort") else {
            if optionalString("fixSessions") != nil { throw ValidationError("fixSessions needs fixPort (--fix-port N) to accept FIX sessions") }
            return nil
        }
        guard let path = optionalString("fixSessions") else {
            throw ValidationError("fixPort needs fixSessions (--fix-sessions FILE): the sessions accepted (docs/fix.md)")
        }
        struct File: Decodable { var sessions: [FIXGatewaySettings.Session] }
        let file: File
        do {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            file = try YAMLDecoder().decode(File.self, from: text)
        } catch let error as DecodingError {
            throw ValidationError("fixSessions \(path): \(Self.describe(error))")
        } catch {
            throw ValidationError("fixSessions \(path): \(error)")
        }
        let settings = FIXGatewaySettings(compId: string("fixCompId"), sessions: file.sessions)
        let problems = settings.problems(authenticated: authenticated)
        guard problems.isEmpty else { throw ValidationError("fixSessions \(path): " + problems.joined(separator: "; ")) }
        return settings
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: ["."])
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context)).\(key.stringValue) is required".trimmingCharacters(in: ["."])
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }

    /// Starts the FIX acceptor on `engine`; returns it (stop it before the engine). Sessions keep their numbers
    /// and sent messages in `storeFolder` (`<dataDir>/fix`), or in memory when nil (`ims demo`).
    func startFIX(
        settings fix: FIXGatewaySettings, engine: Engine, keys: APIKeyStore?, tls: TLSConfiguration?, storeFolder folder: URL?,
        standbyFirst: Bool = false, logger: Logger
    ) async throws -> StartedFIX {
        var handles: [FIXSessionHandle] = []
        var files: [String: FileFIXStore] = [:]
        for (s, config) in zip(fix.sessionSettings, fix.sessions) {
            let store: any FIXMessageStore
            if let folder {
                do {
                    let file = try FileFIXStore(folder: folder.appendingPathComponent("\(s.senderCompID)-\(s.targetCompID)"))
                    files["\(s.senderCompID)-\(s.targetCompID)"] = file
                    store = file
                } catch {
                    throw ValidationError(error.description)
                }
            } else {
                store = MemoryFIXStore()
            }
            handles.append(FIXSessionHandle(settings: s, store: store, logger: logger, maxUnanswered: config.maxUnanswered ?? 10_000))
        }
        let gateway = FIXGateway(
            engine: engine, keys: keys, settings: fix, pendingFile: folder?.appendingPathComponent("pending-quotes.json"), logger: logger)
        // A replica takes no Logon until it knows it leads (`KafkaFIXReplication`).
        if standbyFirst { gateway.refuseLogons { "this node is starting as a standby" } }
        let context = try tls.map { try NIOSSLContext(configuration: $0) }
        let acceptor = FIXAcceptor(
            sessions: handles, application: gateway, tls: context, logger: logger, writeStall: .milliseconds(Int64(int("writeStallMs"))))
        let port = try await acceptor.start(host: host, port: int("fixPort"))
        let sessions = handles
        let watcher = Task { await gateway.watchPending(sessions: sessions) }
        logger.info("FIX acceptor listening", metadata: ["port": "\(port)", "sessions": "\(handles.map(\.id).joined(separator: ","))", "tls": "\(tls != nil)"])
        Console.line("ims FIX acceptor on \(host):\(port) (\(tls == nil ? "TCP" : "TLS")), sessions \(handles.map(\.id).joined(separator: ", "))")
        return StartedFIX(acceptor: acceptor, gateway: gateway, watcher: watcher, handles: sessions, stores: files)
    }
}

/// A running FIX acceptor and what it is made of.
struct StartedFIX: Sendable {
    let acceptor: FIXAcceptor
    let gateway: FIXGateway
    let watcher: Task<Void, Never>
    let handles: [FIXSessionHandle]
    /// Each session's file store, by session id (none in memory, as `ims demo` keeps them).
    let stores: [String: FileFIXStore]
}
