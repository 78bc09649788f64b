import IMSEngine
import IMSRuntime
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Where a serving process keeps its engine once recovery has made it; closed when shutdown begins.
public final class EngineSlot: Sendable {
    private let state = Mutex<(engine: Engine?, closed: Bool, beforeStop: (@Sendable () -> Void)?)>((nil, false, nil))

    /// A `EngineSlot` from its fields.
    public init(_ engine: Engine? = nil) { state.withLock { $0.engine = engine } }

    /// Puts the recovered engine in; false when shutdown has already begun (the caller then stops it).
    /// `beforeStop` runs at shutdown before the engine stops (a replica stops following and leading).
    public func fill(_ engine: Engine, beforeStop: (@Sendable () -> Void)? = nil) -> Bool {
        state.withLock { s in
            guard !s.closed else { return false }
            s.engine = engine
            s.beforeStop = beforeStop
            return true
        }
    }

    /// Adds `action` to run at shutdown before the engine stops, ahead of what was there (a consumer of
    /// upstream topics stops before its replica gives leadership up); at once if shutdown has begun.
    public func beforeStop(_ action: @escaping @Sendable () -> Void) {
        let now = state.withLock { s in
            guard !s.closed else { return true }
            let earlier = s.beforeStop
            s.beforeStop = {
                action()
                earlier?()
            }
            return false
        }
        if now { action() }
    }

    /// Closes the slot and returns its engine, if recovery had finished, having run its `beforeStop`.
    func close() -> Engine? {
        let (engine, beforeStop) = state.withLock { s in
            s.closed = true
            return (s.engine, s.beforeStop)
        }
        beforeStop?()
        return engine
    }
}

/// The engine as a service of the process's service group (`IMSServices`).
///
/// It runs until graceful shutdown reaches it. Services stop in the reverse of their order, and the engine
/// is listed first, so by then the HTTP server has stopped taking requests and finished those in flight, and
/// the simulator has stopped. The engine then applies what is queued, answers it, writes a snapshot (when
/// it has a data directory) and returns. A shutdown during recovery finds no engine yet: the recovery's
/// caller stops it when it is done (`EngineSlot.fill` says so).
public struct EngineService: Service {
    let slot: EngineSlot
    let durable: Bool
    let logger: Logger

    /// A `EngineService` from its fields.
    public init(slot: EngineSlot, durable: Bool, logger: Logger) {
        self.slot = slot
        self.durable = durable
        self.logger = logger
    }

    /// Runs until the service group is cancelled, then stops the engine (which drains and snapshots).
    public func run() async throws {
        // Returns at graceful shutdown; throws if the group is cancelled instead (a service failed): either
        // way the engine stops cleanly.
        try? await gracefulShutdown()
        guard let engine = slot.close() else {
            logger.info("stopping during recovery")
            return
        }
        logger.info("stopping: applying what is queued\(durable ? ", then writing a snapshot" : "")")
        if durable { try engine.shutdown() } else { engine.stop() }
        logger.info("stopped", metadata: ["appliedRecord": "\(engine.read { $0.appliedRecord })", "lastSequence": "\(engine.read { $0.lastSequence })"])
    }
}

/// The process's services, started together and stopped in reverse order on SIGTERM or SIGINT.
public enum IMSServices {
    /// Runs `services` (first stopped last) until SIGTERM or SIGINT, then shuts them down in order.
    public static func run(_ services: [any Service], logger: Logger) async throws {
        let group = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
    }
}
