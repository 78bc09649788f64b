import Crypto
import Foundation
import IMSDomain
import Synchronization

/// What a person or system may do (SPEC 10).
public enum Role: String, Sendable, Codable, CaseIterable, Comparable {
    /// Its own locates, orders, limits and positions only.
    case client
    /// Locate decisions; all inventory.
    case `operator`
    /// Rule approvals.
    case approver
    /// Rules, reference data, keys.
    case admin
    /// Ingest.
    case feed

    /// Orders by value.
    public static func < (a: Role, b: Role) -> Bool { a.rawValue < b.rawValue }
}

/// Who is calling: the subject a credential names, its roles and, for a client, which client it is.
public struct Identity: Sendable, Hashable {
    public var subject: String
    public var roles: Set<Role>
    public var clientId: String?
    /// When the credential stops being valid (a token's `exp`); nil for an API key (valid until revoked).
    /// An open stream is closed then.
    public var expiresAt: Date?
    /// The API key's id, when the identity is a key's: an open stream is closed once the key is revoked.
    public var keyId: String?

    /// A `Identity` from its fields.
    public init(subject: String, roles: Set<Role>, clientId: String? = nil, expiresAt: Date? = nil, keyId: String? = nil) {
        self.subject = subject; self.roles = roles; self.clientId = clientId; self.expiresAt = expiresAt; self.keyId = keyId
    }

    /// What a caller without a staff role may see: its own client's data only (a client identity without a
    /// client id sees nothing: "" names no client). Nil: staff, who see everything.
    public var clientScope: String? {
        roles.isDisjoint(with: [.operator, .approver, .admin]) ? (clientId ?? "") : nil
    }
}

/// An API key as stored: never the key itself, only a salted SHA-256 of its secret.
public struct APIKeyRecord: Sendable, Codable, Equatable {
    public var keyId: String
    public var name: String
    public var roles: [Role]
    public var clientId: String?
    public var salt: String
    public var secretHash: String
    public var createdAt: Timestamp
    public var revokedAt: Timestamp?

    public var isActive: Bool { revokedAt == nil }
}

/// Why a key operation failed, in words for the command line.
public struct APIKeyError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The API keys of an installation: created, listed, revoked (a rotation is a new key, then revoking the
/// old), and checked on every request. A key reads `ims_<keyId>_<secret>`; the store keeps the id, the
/// roles and a salted hash of the secret, in a JSON file (written whole, then renamed into place) or, for
/// `ims demo`, in memory only. Keys are never logged; a check compares hashes in constant time.
public final class APIKeyStore: Sendable {
    private let file: URL?
    private let records: Mutex<[APIKeyRecord]>
    /// When the file was last looked at, and its modification date then: a running server sees keys that
    /// `ims keys` made or revoked within a second.
    private let watched = Mutex<(checked: Date, modified: Date?)>((Date(), nil))

    /// Keys kept in `file` (read now if it exists), or in memory when nil.
    public init(file: URL?) throws {
        self.file = file
        var loaded: [APIKeyRecord] = []
        if let file, let list = try Self.read(file) { loaded = list }
        records = Mutex(loaded)
        watched.withLock { $0.modified = file.flatMap { Self.modification($0) } }
    }

    private static func modification(_ file: URL) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: file.path))?[.modificationDate] as? Date
    }

    /// Re-reads the file if another process changed it (at most once a second).
    private func refresh() {
        guard let file else { return }
        let now = Date()
        let changed: Bool = watched.withLock { w in
            guard now.timeIntervalSince(w.checked) >= 1 else { return false }
            w.checked = now
            let m = Self.modification(file)
            if m == w.modified { return false }
            w.modified = m
            return true
        }
        guard changed else { return }
        do {
            guard let list = try Self.read(file) else { return }
            records.withLock { $0 = list }
        } catch {
            // Loudly, and the keys in force stay as they were: a half-written or hand-broken file must not open
            // or close the server's door.
            let message = "ims: \(error); the keys read before stay in force until the file parses again\n"
            FileHandle.standardError.write(Data(message.utf8))
        }
    }

    /// The keys, revoked ones included, oldest first.
    public func list() -> [APIKeyRecord] { records.withLock { $0 } }

    /// Whether any key is active (`ims serve` needs one, or `--insecure-no-auth`).
    public var hasActiveKeys: Bool { records.withLock { $0.contains(where: \.isActive) } }

    /// Creates a key; the returned text is the only time the key is ever shown.
    public func create(name: String, roles: Set<Role>, clientId: String? = nil, at time: Timestamp) throws -> (record: APIKeyRecord, key: String) {
        guard !roles.isEmpty else { throw APIKeyError("a key needs at least one role: \(Role.allCases.map(\.rawValue).joined(separator: ", "))") }
        if roles.contains(.client) && (clientId ?? "").isEmpty { throw APIKeyError("a client key needs its clientId") }
        if !roles.contains(.client) && clientId != nil { throw APIKeyError("clientId is only for client keys") }
        let keyId = Self.randomHex(6), secret = Self.randomHex(24), salt = Self.randomHex(8)
        let record = APIKeyRecord(
            keyId: keyId, name: name, roles: roles.sorted(), clientId: clientId, salt: salt,
            secretHash: Self.hash(secret, salt: salt), createdAt: time, revokedAt: nil)
        try update { $0.append(record) }
        return (record, "ims_\(keyId)_\(secret)")
    }

    /// Revokes key `keyId` (from now on it is refused); an unknown or already revoked key is an error.
    public func revoke(_ keyId: String, at time: Timestamp) throws {
        try update { list in
            guard let i = list.firstIndex(where: { $0.keyId == keyId }) else { throw APIKeyError("no key \(keyId)") }
            guard list[i].isActive else { throw APIKeyError("key \(keyId) was already revoked at \(list[i].revokedAt!)") }
            list[i].revokedAt = time
        }
    }

    /// Changes the keys as one step against every other process: under an exclusive lock on `<file>.lock`,
    /// the file is read again (another `ims keys` may have changed it since), changed, written and renamed
    /// into place. Without the lock a revocation racing a creation could be lost (both read, both wrote).
    private func update(_ change: (inout [APIKeyRecord]) throws -> Void) throws {
        try records.withLock { list in
            guard let file else {
                try change(&list)
                return
            }
            try FileManager.default.createDirectory(
                at: file.deletingLastPathComponent(), withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
            let lock = open(file.path + ".lock", O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
            guard lock >= 0 else { throw APIKeyError("cannot open the lock file \(file.path).lock: \(String(cString: strerror(errno)))") }
            defer { close(lock) }
            guard flock(lock, LOCK_EX) == 0 else { throw APIKeyError("cannot lock \(file.path).lock: \(String(cString: strerror(errno)))") }
            defer { flock(lock, LOCK_UN) }
            var next = try Self.read(file) ?? []
            try change(&next)
            try save(next)
            list = next
        }
    }

    /// The keys in `file`, nil when there is no file; a file that does not parse is an error naming it.
    static func read(_ file: URL) throws -> [APIKeyRecord]? {
        guard FileManager.default.fileExists(atPath: file.path) else { return nil }
        do {
            return try JSONDecoder().decode([APIKeyRecord].self, from: Data(contentsOf: file))
        } catch {
            throw APIKeyError("cannot read the API keys in \(file.path): \(error)")
        }
    }

    /// The identity of a presented key, or nil when it is malformed, unknown, revoked or wrong.
    public func identity(forKey presented: String) -> Identity? {
        refresh()
        let parts = presented.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "ims" else { return nil }
        let keyId = String(parts[1]), secret = String(parts[2])
        guard let record = records.withLock({ $0.first { $0.keyId == keyId } }), record.isActive else { return nil }
        guard Self.constantTimeEqual(Self.hash(secret, salt: record.salt), record.secretHash) else { return nil }
        return Identity(subject: "key:\(record.keyId):\(record.name)", roles: Set(record.roles), clientId: record.clientId, keyId: record.keyId)
    }

    /// Whether key `keyId` is still active (the file re-read if it changed): false once revoked or gone.
    public func isActive(keyId: String) -> Bool {
        refresh()
        return records.withLock { $0.first { $0.keyId == keyId }?.isActive ?? false }
    }

    private func save(_ list: [APIKeyRecord]) throws {
        guard let file else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            // Written to a temporary file and renamed into place; only the owner reads the hashes.
            try encoder.encode(list).write(to: file, options: [.atomic])
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file.path)
            watched.withLock { $0.modified = Self.modification(file) }
        } catch {
            throw APIKeyError("cannot write the API keys to \(file.path): \(error)")
        }
    }

    static func hash(_ secret: String, salt: String) -> String {
        // Hex by table: String(format:) per byte cost a sixth of the server's time per request.
        let digits = Array("0123456789abcdef".utf8)
        let digest = SHA256.hash(data: Array((salt + ":" + secret).utf8))
        return String(unsafeUninitializedCapacity: 64) { out in
            var i = 0
            for byte in digest {
                out[i] = digits[Int(byte >> 4)]; out[i + 1] = digits[Int(byte & 0x0F)]
                i += 2
            }
            return i
        }
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for i in x.indices { difference |= x[i] ^ y[i] }
        return difference == 0
    }

    static func randomHex(_ bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
}
