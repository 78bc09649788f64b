import ArgumentParser
import Foundation
import IMSDomain
import IMSServer

/// `ims keys create|list|revoke`: the API keys of an installation (docs/security.md). A key is shown once,
/// when it is made; the file keeps only a salted hash of it. Rotating a key is making a new one and
/// revoking the old.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Create, list and revoke API keys.", subcommands: [Create.self, List.self, Revoke.self])

    struct FileOption: ParsableArguments {
        @Option(help: "The API keys file, as `ims serve --api-keys` reads it.") var file = "./ims-data/api-keys.json"
        var url: URL { URL(fileURLWithPath: file) }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a key and print it (the only time it is shown).")
        @OptionGroup var file: FileOption
        @Option(help: "Who or what the key is for.") var name: String
        @Option(name: .customLong("role"), help: "A role of the key: client, operator, approver, admin or feed (repeat for several).")
        var roles: [String]
        @Option(help: "The client a client key acts for.") var clientId: String?

        func run() throws {
            var parsed: Set<Role> = []
            for r in roles {
                guard let role = Role(rawValue: r) else {
                    throw ValidationError("unknown role \(r): one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                parsed.insert(role)
            }
            do {
                let made = try APIKeyStore(file: file.url).create(name: name, roles: parsed, clientId: clientId, at: WallClockDate.now())
                print(made.key)
                FileHandle.standardError.write(
                    Data(
                        "key \(made.record.keyId) (\(made.record.roles.map(\.rawValue).joined(separator: ", "))) written to \(file.file); keep it: it is not shown again\n"
                            .utf8))
            } catch let error as APIKeyError {
                throw ValidationError(error.description)
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the keys (ids, names, roles; never the keys).")
        @OptionGroup var file: FileOption

        func run() throws {
            for r in try APIKeyStore(file: file.url).list() {
                let state = r.revokedAt.map { "revoked \($0)" } ?? "active"
                print("\(r.keyId)\t\(r.name)\t\(r.roles.map(\.rawValue).joined(separator: ","))\t\(r.clientId ?? "-")\tcreated \(r.createdAt)\t\(state)")
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key: from now on it is refused.")
        @OptionGroup var file: FileOption
        @Argument(help: "The key's id (as `ims keys list` shows it).") var keyId: String

        func run() throws {
            do { try APIKeyStore(file: file.url).revoke(keyId, at: WallClockDate.now()) } catch let error as APIKeyError {
                throw ValidationError(error.description)
            }
            print("key \(keyId) revoked")
        }
    }
}
