import Foundation
import IMSDomain
import IMSEngine

/// What an operator runs on a data directory that refuses to start: a read-only check, and a repair that
/// moves damaged data aside (never deleting it).
///
/// ```swift
/// let report = try JournalMaintenance.verify(dataDirectory: "/var/lib/ims")
/// if report.verdict == .corrupt { try JournalMaintenance.repair(dataDirectory: "/var/lib/ims", at: now) }
/// ```
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
        /// The newest readable snapshot's record, if any.
        public var snapshotRecord: UInt64?
        public var problem: String?
    }

    /// Reads every segment, checks every record's checksum and decoding, and says whether IMS would start.
    /// Changes nothing.
    public static func verify(dataDirectory path: String) throws -> Report {
        let journal = DataDirectory.journalDirectory(path)
        let snapshots = try? SnapshotStore(directory: DataDirectory.snapshotDirectory(path))
        let snapshotRecord = snapshots?.list().first?.appliedRecord
        let scan = try JournalReader.scan(directory: journal, from: 1, repair: false, mustReach: snapshotRecord ?? 0)
        var report = Report(verdict: .ok, segments: scan.segments, firstRecord: scan.firstRecord, lastValidRecord: scan.lastRecord,
                            records: scan.recordsRead, snapshotRecord: snapshotRecord, problem: nil)
        if let first = scan.firstRecord, first > 1, (snapshotRecord ?? 0) < first - 1 {
            report.verdict = .corrupt
            report.problem = "the journal starts at record \(first): records 1…\(first - 1) are missing and no snapshot covers them"
        } else if let damage = scan.damage {
            report.verdict = damage.kind == .corrupt ? .corrupt : .tornTail
            report.problem = damage.description
        } else if let snapshotRecord, scan.lastRecord < snapshotRecord {
            report.verdict = .corrupt
            report.problem = "the journal ends at record \(scan.lastRecord) but the newest snapshot covers record \(snapshotRecord): later segments are missing"
        }
        return report
    }

    /// What a repair did.
    public struct Repair: Sendable {
        /// Where the damaged data now is (nil when there was nothing to repair).
        public var quarantine: String?
        /// One line per file moved or cut.
        public var actions: [String]
        /// The journal's last record after the repair.
        public var lastRecord: UInt64
    }

    /// Moves the damaged part of the journal aside so that IMS can start from what precedes it: the bytes of
    /// the damaged segment from the damage on (copied, then cut), every later segment, and snapshots newer
    /// than what is left, all into `quarantine/<time>/` of the data directory with a note of what was done.
    /// Refuses when the journal's start is missing (nothing can be rebuilt without it).
    public static func repair(dataDirectory path: String, at now: Timestamp) throws -> Repair {
        let journal = DataDirectory.journalDirectory(path)
        let report = try verify(dataDirectory: path)
        guard report.verdict == .corrupt else {
            return Repair(quarantine: nil, actions: [report.verdict == .ok ? "the journal is sound; nothing to repair"
                                                     : "only a torn tail, which `ims serve` cuts by itself at start; nothing to repair"],
                          lastRecord: report.lastValidRecord)
        }
        if let first = report.firstRecord, first > 1, (report.snapshotRecord ?? 0) < first - 1 {
            throw RecoveryFailure("cannot repair: \(report.problem ?? ""). Restore the missing segments or a snapshot covering record \(first - 1); to start empty instead, move \(journal) and the snapshots away yourself")
        }
        let scan = try JournalReader.scan(directory: journal, from: 1, repair: false)
        let stamp = now.description.replacingOccurrences(of: ":", with: "-")
        let quarantine = path + "/quarantine/" + stamp
        try FileIO.makeDirectory(path + "/quarantine")
        try FileIO.makeDirectory(quarantine)
        var actions: [String] = []
        let names = JournalReader.segmentNames(journal)
        var cutFrom = names.count
        if let damage = scan.damage, let index = names.firstIndex(where: { $0.name == damage.segment }) {
            let segmentPath = journal + "/" + damage.segment
            if damage.offset >= JournalFormat.segmentHeaderSize {
                let bytes = try FileIO.readAll(segmentPath)
                let tail = Array(bytes[damage.offset...])
                let copy = quarantine + "/" + damage.segment + ".from-\(damage.offset)"
                let fd = try FileIO.open(copy, flags: O_WRONLY | O_CREAT | O_TRUNC)
                try FileIO.write(fd, tail, at: 0, path: copy)
                try FileIO.syncData(fd, path: copy)
                FileIO.close(fd)
                let segment = try FileIO.open(segmentPath, flags: O_WRONLY)
                try FileIO.truncate(segment, to: damage.offset, path: segmentPath)
                try FileIO.syncData(segment, path: segmentPath)
                FileIO.close(segment)
                actions.append("copied bytes \(damage.offset)…\(bytes.count - 1) of \(damage.segment) to \(copy), then cut the segment there")
                cutFrom = index + 1
            } else {
                cutFrom = index
            }
        }
        for (name, _) in names[min(cutFrom, names.count)...] {
            try FileIO.rename(journal + "/" + name, quarantine + "/" + name)
            actions.append("moved segment \(name) to \(quarantine)")
        }
        try FileIO.syncDirectory(journal)
        let after = try JournalReader.scan(directory: journal, from: .max, repair: false)
        if let store = try? SnapshotStore(directory: DataDirectory.snapshotDirectory(path)) {
            for info in store.list() where info.appliedRecord > after.lastRecord {
                let name = (info.path as NSString).lastPathComponent
                try FileIO.rename(info.path, quarantine + "/" + name)
                actions.append("moved snapshot \(name) (record \(info.appliedRecord), past the repaired journal's end) to \(quarantine)")
            }
            try FileIO.syncDirectory(store.directory)
        }
        let note = """
            ims journal repair, \(now)
            damage: \(report.problem ?? "")
            the journal now ends at record \(after.lastRecord); events after it are in the files here, not in the state.
            \(actions.joined(separator: "\n"))

            """
        let notePath = quarantine + "/REPAIR.txt"
        let fd = try FileIO.open(notePath, flags: O_WRONLY | O_CREAT | O_TRUNC)
        try FileIO.write(fd, Array(note.utf8), at: 0, path: notePath)
        try FileIO.syncData(fd, path: notePath)
        FileIO.close(fd)
        try FileIO.syncDirectory(quarantine)
        return Repair(quarantine: quarantine, actions: actions, lastRecord: after.lastRecord)
    }
}
