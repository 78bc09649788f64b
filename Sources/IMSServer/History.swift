import Foundation
import IMSDomain
import IMSEngine
import IMSJournal
import Synchronization

/// Answers "as of" questions by rebuilding the state at an earlier journal point, off the event loop.
///
/// The rebuilt state of the last target asked is kept, so a client paging
/// through positions as of one point pays for the replay once.
final class History: Sendable {
    let dataDirectory: String
    let catalog: MarketCatalog
    private let cached = Mutex<(target: ReplayTarget, state: EngineState)?>(nil)

    init(dataDirectory: String, catalog: MarketCatalog) {
        self.dataDirectory = dataDirectory
        self.catalog = catalog
    }

    /// The state at `target`, replayed on a background thread.
    func state(at target: ReplayTarget) async throws -> EngineState {
        if let hit = cached.withLock({ $0?.target == target ? $0?.state : nil }) { return hit }
        let result: Result<EngineState, any Error> = await withCheckedContinuation { continuation in
            let thread = Thread { [dataDirectory, catalog] in
                continuation.resume(returning: Result { try Replay.state(dataDirectory: dataDirectory, catalog: catalog, until: target) })
            }
            thread.name = "ims-history"
            thread.stackSize = 8 << 20
            thread.start()
        }
        let state = try result.get()
        cached.withLock { $0 = (target, state) }
        return state
    }
}
