import Foundation
import IMSDomain
import IMSEngine

/// What an operator runs on a data directory that refuses to start: a read-only check, and a repair that
/// moves damaged data aside (never deleting it).
///
/// ```swift
/// let report = try JournalMaintenance.verify(dataDirectory: "/var/lib/ims", catalog: .embedded)
/// if report.verdict == .corrupt { try JournalMaintenance.repair(dataDirectory: "/var/lib/ims", catalog: .embedded, at: now) }
/// ```
///
/// Both decide as start does (`DataDirectory.open`): the snapshot they name is the newest one that loads
/// in full (header, checksum and every section), and the journal is read from record 1 with the gaps that
/// snapshot covers accepted. So `verify` says "ok" exactly when start would start, from that snapshot.
public enum JournalMaintenance {
    /// The state of a data directory's journal and snapshots.
    public struct Report: Sendable, Codable {
        public enum Verdict: String, Sendable, Codable {
            /// Every record is valid; IMS starts.
            case ok
            /// Only a torn tail, which IMS cuts by itself at start.
            case tornTail
            /// IMS refuses to start until the damage is restored or repaired.
            case corrupt
        }

        public var verdict: Verdict
        public var segments: Int
        public var firstRecord: UInt64?
        public var lastValidRecord: UInt64
        /// Records decoded and checked.
        public var records: Int
        /// The record of the snapshot start would load: the newest that loads in full.
        public var snapshotRecord: UInt64?
        public var problem: String?
        /// Snapshots start would pass over, each with its reason.
        public var skippedSnapshots: [String] = []
        /// Record numbers not in the journal that the snapshot covers (a repair kept the snapshot over them).
        public var gaps: [String] = []
        /// Commands in the journal that today's limits refuse: start refuses each again as it replays (the
        /// line is rejected, audited, and nothing else changes), so they do not stop a start.
        public var refusedOnReplay: [String] = []
        /// How many there are (the list stops at `refusedListLimit`).
        public var refusedOnReplayCount = 0
    }

    static let refusedListLimit = 100

    /// The snapshot start would load (the newest that loads in full) and those it would pass over.
    static func usableSnapshot(_ path: String, catalog: MarketCatalog) -> (info: SnapshotStore.Info?, skipped: [(path: String, reason: String)]) {
        let directory = DataDirectory.snapshotDirectory(path)
        guard FileManager.default.fileExists(atPath: directory), let store = try? SnapshotStore(directory: directory) else { return (nil, []) }
        var skipped = store.damaged()
        for info in store.list() {
            do {
                _ = try store.load(info, catalog: catalog)
                return (info, skipped)
            } catch {
                skipped.append((info.path, "\(error)"))
            }
        }
        return (nil, skipped)
    }

    /// Reads every segment, checks every record's checksum and decoding, loads the snapshots as start
    /// would, and says whether IMS would start. Changes nothing.
    public static func verify(dataDirectory path: String, catalog: MarketCatalog = .embedded) throws -> Report {
        try check(path, catalog: catalog).report
    }

    /// `verify`, with the snapshot choice it made (loading snapshots is the slow part: `repair` uses it too).
    private static func check(_ path: String, catalog: MarketCatalog) throws
        -> (report: Report, snapshot: (info: SnapshotStore.Info?, skipped: [(path: String, reason: String)]))
    {
        let journal = DataDirectory.journalDirectory(path)
        let snapshot = usableSnapshot(path, catalog: catalog)
        let covered = snapshot.info?.appliedRecord ?? 0
        var refused: [String] = []
        var refusedCount = 0
        let scan = try JournalReader.scan(directory: journal, from: 1, repair: false, mustReach: covered, coveredThrough: covered) { number, entry in
            guard case .batch(let batch) = entry else { return true }
            for (i, event) in batch.events.enumerated() {
                guard let problem = event.problemUnderTodaysLimits else { continue }
                refusedCount += 1
                if refused.count < refusedListLimit {
                    let line = i < batch.lines.count ? Int(batch.lines[i]) : i + 1
                    refused.append("record \(number), line \(line)\(batch.issuer.map { " (issued by \($0))" } ?? ""): \(problem.field): \(problem.message)")
                }
            }
            return true
        }
        var report = Report(
            verdict: .ok, segments: scan.segments, firstRecord: scan.firstRecord, lastValidRecord: scan.lastRecord,
            records: scan.recordsRead, snapshotRecord: snapshot.info?.appliedRecord, problem: nil)
        report.skippedSnapshots = snapshot.skipped.map { "\($0.path): \($0.reason)" }
        report.gaps = scan.gaps.map { "records \($0.lowerBound)…\($0.upperBound) are not in the journal; the snapshot at record \(covered) covers them" }
        report.refusedOnReplay = refused
        report.refusedOnReplayCount = refusedCount
        if let first = scan.firstRecord, first > 1, covered < first - 1 {
            report.verdict = .corrupt
            report.problem = "the journal starts at record \(first): records 1…\(first - 1) are missing and no snapshot covers them"
        } else if let damage = scan.damage {
            report.verdict = damage.kind == .corrupt ? .corrupt : .tornTail
            report.problem = damage.description
        } else if snapshot.info != nil, scan.lastRecord < covered {
            report.verdict = .corrupt
            report.problem =
                "the journal ends at record \(scan.lastRecord) but the snapshot start would load covers record \(covered): later segments are missing"
        }
        return (report, snapshot)
    }

    /// What a repair did.
    public struct Repair: Sendable {
        /// Where the damaged data now is (nil when there was nothing to repair).
        public var quarantine: String?
        /// One line per file moved, cut or written.
        public var actions: [String]
        /// The journal's last record after the repair (the state start reaches).
        public var lastRecord: UInt64
        /// The snapshot kept for start, when one covers the damage.
        public var snapshotRecord: UInt64?
    }

    /// Moves the damaged part of a data directory aside, into `quarantine/<time>/` with a note of what was
    /// done, keeping all that is still good:
    ///
    /// - the journal's verified prefix (every record before the damage) stays where it is;
    /// - when a snapshot that loads in full covers the damage, it stays, and so do the verified records after
    ///   it: read on past the damage in the damaged segment (written to a new segment that starts right after
    ///   the snapshot) and in later segments. The records between the prefix and the snapshot leave the
    ///   journal; the snapshot covers them. An empty segment starting after the snapshot marks where the
    ///   journal goes on when nothing follows it;
    /// - otherwise the journal ends at the prefix, and snapshots past it are moved aside;
    /// - snapshots that do not load are moved aside.
    ///
    /// The first start afterwards raises a `JOURNAL_REPAIRED` exception saying what was moved (from
    /// `REPAIR-PENDING.txt` in the data directory). Refuses when the journal's start is missing and no
    /// snapshot covers it (nothing can be rebuilt without it).
    public static func repair(dataDirectory path: String, catalog: MarketCatalog = .embedded, at now: Timestamp) throws -> Repair {
        let journal = DataDirectory.journalDirectory(path)
        let (report, snapshot) = try check(path, catalog: catalog)
        guard report.verdict == .corrupt else {
            var said =
                report.verdict == .ok
                ? "the journal is sound; nothing to repair"
                : "only a torn tail, which `ims serve` cuts by itself at start; nothing to repair"
            if report.refusedOnReplayCount > 0 {
                said +=
                    " (\(report.refusedOnReplayCount) journaled command\(report.refusedOnReplayCount == 1 ? "" : "s") that today's limits refuse: start refuses them again as it replays, changing nothing)"
            }
            return Repair(quarantine: nil, actions: [said], lastRecord: report.lastValidRecord, snapshotRecord: report.snapshotRecord)
        }
        if let first = report.firstRecord, first > 1, (report.snapshotRecord ?? 0) < first - 1 {
            throw RecoveryFailure(
                "cannot repair: \(report.problem ?? ""). Restore the missing segments or a snapshot covering record \(first - 1); to start empty instead, move \(journal) and the snapshots away yourself"
            )
        }
        let covered = snapshot.info?.appliedRecord ?? 0
        let stamp = now.description.replacingOccurrences(of: ":", with: "-")
        let quarantine = path + "/quarantine/" + stamp
        try FileIO.makeDirectory(path + "/quarantine")
        try FileIO.makeDirectory(quarantine)
        var actions: [String] = []

        let scan = try JournalReader.scan(directory: journal, from: 1, repair: false, coveredThrough: covered)
        let prefixEnd = scan.damage?.lastGoodRecord ?? scan.lastRecord
        let keepSnapshot = snapshot.info != nil && covered >= prefixEnd
        if let damage = scan.damage {
            try cut(at: damage, journal: journal, quarantine: quarantine, salvagingFrom: keepSnapshot ? covered + 1 : nil, actions: &actions)
        }
        if keepSnapshot {
            // Later segments the snapshot covers entirely sit behind the damage: their records are in the
            // snapshot, and without the damaged ones before them they serve no replay.
            let names = JournalReader.segmentNames(journal)
            for (i, segment) in names.enumerated() where segment.first > prefixEnd + 1 {
                let next = i + 1 < names.count ? names[i + 1].first : nil
                if let next, next <= covered + 1 {
                    try moveAside(
                        segment.name, journal: journal, quarantine: quarantine, actions: &actions,
                        why: "records \(segment.first)…\(next - 1), all in the snapshot at record \(covered), after the damage")
                }
            }
        }
        // What is left must read cleanly up to the snapshot kept and on from it; damage after it is cut.
        let kept = keepSnapshot ? covered : 0
        var after = try JournalReader.scan(directory: journal, from: 1, coveredThrough: kept)
        if let damage = after.damage {
            try cut(at: damage, journal: journal, quarantine: quarantine, salvagingFrom: nil, actions: &actions)
            after = try JournalReader.scan(directory: journal, from: 1, coveredThrough: kept)
        }
        if keepSnapshot, after.lastRecord < covered {
            let name = JournalFormat.segmentName(firstRecord: covered + 1)
            try writeFile(journal + "/" + name, JournalFormat.segmentHeader(firstRecord: covered + 1))
            actions.append("wrote \(name), an empty segment: the journal goes on after the snapshot at record \(covered)")
            try FileIO.syncDirectory(journal)
            after = try JournalReader.scan(directory: journal, from: 1, coveredThrough: covered)
        }
        try FileIO.syncDirectory(journal)

        if let store = try? SnapshotStore(directory: DataDirectory.snapshotDirectory(path)) {
            for (file, reason) in snapshot.skipped where FileManager.default.fileExists(atPath: file) {
                let name = (file as NSString).lastPathComponent
                try FileIO.rename(file, quarantine + "/" + name)
                actions.append("moved snapshot \(name) (it does not load: \(reason)) to \(quarantine)")
            }
            for info in store.list() where info.appliedRecord > after.lastRecord {
                let name = (info.path as NSString).lastPathComponent
                try FileIO.rename(info.path, quarantine + "/" + name)
                actions.append("moved snapshot \(name) (record \(info.appliedRecord), past the repaired journal's end) to \(quarantine)")
            }
            try FileIO.syncDirectory(store.directory)
        }
        var holds = "the state now holds every record through \(after.lastRecord)"
        if keepSnapshot { holds += " (the snapshot at record \(covered), then the journal)" }
        holds += "; anything journaled after it is in \(quarantine), not in the state"
        let note = """
            ims journal repair, \(now)
            damage: \(report.problem ?? "")
            \(holds).
            \(actions.joined(separator: "\n"))

            """
        try writeFile(quarantine + "/REPAIR.txt", Array(note.utf8))
        try FileIO.syncDirectory(quarantine)
        // Said at the next start, as an exception the desk sees (`DataDirectory.open`).
        let pending = pendingRepairNote(dataDirectory: path).map { $0 + "\n" } ?? ""
        let summary =
            "ims journal repair at \(now) found \(report.problem ?? "damage"); \(holds). "
            + "Moved: \(actions.joined(separator: "; ")). Details in \(quarantine)/REPAIR.txt"
        try writeFile(pendingPath(path), Array((pending + summary).utf8))
        try FileIO.syncDirectory(path)
        return Repair(quarantine: quarantine, actions: actions, lastRecord: after.lastRecord, snapshotRecord: keepSnapshot ? covered : nil)
    }

    /// Cuts the journal at `damage`: the damaged segment's bytes from the damage on are copied aside and
    /// cut (the whole segment is moved when the damage is in its header or at its start). Without
    /// `salvagingFrom`, every later segment is moved aside too. With it (a snapshot covers the records
    /// before it), the records from that one on that follow the damage in this segment are written to a
    /// segment of their own, and later segments are left to the caller.
    private static func cut(
        at damage: JournalDamage, journal: String, quarantine: String, salvagingFrom salvageStart: UInt64?,
        actions: inout [String]
    ) throws {
        let names = JournalReader.segmentNames(journal)
        guard let index = names.firstIndex(where: { $0.name == damage.segment }) else { return }
        let segmentPath = journal + "/" + damage.segment
        let bytes = try FileIO.readAll(segmentPath)
        // Records from `salvageStart` on that follow the damage in this segment, read on past it.
        var salvaged: (first: UInt64, last: UInt64, bytes: ArraySlice<UInt8>)?
        if let salvageStart {
            salvaged = bytes.withUnsafeBytes { raw in
                var o = max(damage.offset, JournalFormat.segmentHeaderSize - 1)
                while let found = JournalReader.findValidRecord(in: raw, after: o, above: salvageStart - 1) {
                    if found.number == salvageStart {
                        var scanner = SegmentScanner(bytes: raw, from: found.offset, expected: salvageStart)
                        var last = salvageStart - 1
                        while let record = scanner.next() { last = record.number }
                        return (salvageStart, last, bytes[found.offset..<scanner.offset])
                    }
                    o = found.offset
                }
                return nil
            }
        }
        if damage.offset >= JournalFormat.segmentHeaderSize {
            let copy = quarantine + "/" + damage.segment + ".from-\(damage.offset)"
            try writeFile(copy, Array(bytes[damage.offset...]))
            let segment = try FileIO.open(segmentPath, flags: O_WRONLY)
            try FileIO.truncate(segment, to: damage.offset, path: segmentPath)
            try FileIO.syncData(segment, path: segmentPath)
            FileIO.close(segment)
            actions.append("copied bytes \(damage.offset)…\(bytes.count - 1) of \(damage.segment) to \(copy), then cut the segment there (\(damage.reason))")
        } else {
            try moveAside(damage.segment, journal: journal, quarantine: quarantine, actions: &actions, why: damage.reason)
        }
        if let salvaged {
            let name = JournalFormat.segmentName(firstRecord: salvaged.first)
            try writeFile(journal + "/" + name, JournalFormat.segmentHeader(firstRecord: salvaged.first) + Array(salvaged.bytes))
            actions.append("wrote \(name) with records \(salvaged.first)…\(salvaged.last), read on past the damage in \(damage.segment)")
        }
        if salvageStart == nil {
            for (name, _) in names[(index + 1)...] {
                try moveAside(name, journal: journal, quarantine: quarantine, actions: &actions, why: "after the damage")
            }
        }
        try FileIO.syncDirectory(journal)
    }

    private static func moveAside(_ name: String, journal: String, quarantine: String, actions: inout [String], why: String) throws {
        try FileIO.rename(journal + "/" + name, quarantine + "/" + name)
        actions.append("moved segment \(name) (\(why)) to \(quarantine)")
    }

    private static func writeFile(_ path: String, _ bytes: [UInt8]) throws {
        let fd = try FileIO.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC)
        defer { FileIO.close(fd) }
        try FileIO.write(fd, bytes, at: 0, path: path)
        try FileIO.syncData(fd, path: path)
    }

    static func pendingPath(_ dataDirectory: String) -> String { dataDirectory + "/REPAIR-PENDING.txt" }

    /// What the repairs since the last start did, for the exception the next start raises.
    public static func pendingRepairNote(dataDirectory path: String) -> String? {
        guard let bytes = try? FileIO.readAll(pendingPath(path)) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Removes the pending note once start has journaled it.
    static func clearPendingRepairNote(dataDirectory path: String) throws {
        FileIO.remove(pendingPath(path))
        try FileIO.syncDirectory(path)
    }
}
