import Foundation
import IMSDomain
import IMSEngine
import Testing

@testable import IMSHistory

/// The projection is a function of the journal: however the records are fed and rows taken, and wherever a
/// projector restarts from its stored resume point, the rows are the same; and each snapshot row shows what
/// the API shows as of the snapshot's time.
struct HistoryProjectionTests {
    static let entries: [JournalEntry] = {
        var workload = HistoryWorkload(seed: 29)
        return workload.entries(400)
    }()

    static func catalogState() -> EngineState { EngineState(catalog: .embedded, partitions: 2) }

    /// Rows of projecting `entries` from the start, taking rows after every `takeEvery` records.
    static func project(_ entries: ArraySlice<JournalEntry>, from state: EngineState, takeEvery: Int, settings: HistoryProjection.Settings)
        -> (rows: HistoryRows, projection: HistoryProjection)
    {
        var projection = HistoryProjection(state: state, settings: settings)
        var rows = HistoryRows()
        var record = state.appliedRecord
        for entry in entries {
            record += 1
            projection.apply(entry, record: record)
            if Int(record) % takeEvery == 0 { rows.append(projection.takeRows()) }
        }
        rows.append(projection.takeRows())
        return (rows, projection)
    }

    @Test func theRowsDependOnTheJournalOnlyNotOnWhenTheyAreTaken() throws {
        let settings = HistoryProjection.Settings(snapshotSeconds: 20, tickSeconds: 1)
        let once = Self.project(Self.entries[...], from: Self.catalogState(), takeEvery: .max, settings: settings).rows
        let often = Self.project(Self.entries[...], from: Self.catalogState(), takeEvery: 7, settings: settings).rows
        #expect(once.lines.count == often.lines.count)
        #expect(
            once.lines == often.lines,
            "the first difference: \(zip(once.lines, often.lines).first { $0 != $1 }.map { "\($0.0.prefix(100)) ≠ \($0.1.prefix(100))" } ?? "")")
        // The workload makes every kind of row.
        #expect(once.ticks.count > 100)
        #expect(once.rates.count > 0)
        #expect(once.positions.filter { $0.kind == .interval }.count > 50)
        #expect(once.positions.contains { $0.kind == .dayRoll })
        #expect(once.inventory.count > 50)
        #expect(once.locates.count > 50)
        #expect(once.orders.count > 50)
        #expect(once.audit.count > 50)
        // Ticks are conflated: one per security per second, at whole seconds.
        #expect(Set(once.ticks.map { "\($0.securityId) \($0.at)" }).count == once.ticks.count)
        #expect(once.ticks.allSatisfy { $0.at % 1_000_000 == 0 })
        #expect(once.positions.filter { $0.kind == .interval }.allSatisfy { $0.at % 20_000_000 == 0 })
    }

    @Test func aProjectorRestartedAtItsResumePointWritesWhatOneFromScratchWrites() throws {
        let settings = HistoryProjection.Settings(snapshotSeconds: 15, tickSeconds: 1)
        let whole = Self.project(Self.entries[...], from: Self.catalogState(), takeEvery: 13, settings: settings).rows
        for stop in [37, 150, 333] {
            // The first run stops after record `stop` with its rows written and its resume point stored.
            let first = Self.project(Self.entries[..<stop], from: Self.catalogState(), takeEvery: 13, settings: settings)
            let resume = first.rows.resumeRecord
            #expect(resume <= UInt64(stop) && resume > 1)
            // The second starts from the state before the resume point, rebuilt from the journal.
            var state = Self.catalogState()
            for (i, entry) in Self.entries[..<Int(resume - 1)].enumerated() {
                state.apply(entry, record: UInt64(i + 1))
                _ = state.takeTextsToJournal()
            }
            let second = Self.project(Self.entries[Int(resume - 1)...], from: state, takeEvery: 13, settings: settings).rows
            // Together, with what both wrote kept once (the store's keys), they are the projection from scratch.
            let union = Set(first.rows.lines).union(second.lines), expected = Set(whole.lines)
            let missing = expected.subtracting(union), extra = union.subtracting(expected)
            #expect(
                missing.isEmpty && extra.isEmpty,
                "restart after record \(stop) (resume \(resume)): \(missing.count) rows missing, \(extra.count) extra, e.g. \(String((missing.first ?? extra.first ?? "").prefix(120)))"
            )
            #expect(union.count == whole.lines.count)
        }
    }

    @Test func aSnapshotRowShowsWhatTheAPIShowsAsOfItsTime() throws {
        let settings = HistoryProjection.Settings(snapshotSeconds: 30, tickSeconds: 1)
        let rows = Self.project(Self.entries[...], from: Self.catalogState(), takeEvery: .max, settings: settings).rows
        let intervals = rows.positions.filter { $0.kind == .interval }
        var random = SystemRandomNumberGenerator()
        for row in (0..<10).map({ _ in intervals.randomElement(using: &random)! }) {
            // `asOf` = everything received before the snapshot's time.
            var state = Self.catalogState()
            for (i, entry) in Self.entries.enumerated() where entry.receivedAt.micros < row.at {
                state.apply(entry, record: UInt64(i + 1))
            }
            let view = try #require(state.readModel.position(bookId: row.bookId, securityId: row.securityId))
            #expect(view.json == row.json)
        }
        for row in (0..<5).map({ _ in rows.inventory.filter { $0.kind == .interval }.randomElement(using: &random)! }) {
            var state = Self.catalogState()
            for (i, entry) in Self.entries.enumerated() where entry.receivedAt.micros < row.at {
                state.apply(entry, record: UInt64(i + 1))
            }
            let view = try #require(state.readModel.inventory(row.securityId))
            #expect(HistoryProjection.json(view) == row.json)
        }
    }
}
