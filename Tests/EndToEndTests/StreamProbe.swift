import Foundation
import HummingbirdWSClient
import Logging
import Synchronization

/// A WebSocket client for tests: connects, keeps every message it receives, sends commands on request.
final class StreamProbe: Sendable {
    private final class Received: Sendable {
        let texts = Mutex<[String]>([])
    }

    private let received = Received()
    private let commands: AsyncStream<String>.Continuation
    private let task: Task<Void, Never>

    init(_ url: String) {
        let (stream, continuation) = AsyncStream.makeStream(of: String.self)
        commands = continuation
        let received = self.received
        task = Task {
            _ = try? await WebSocketClient.connect(url: url, logger: Logger(label: "probe")) { inbound, outbound, _ in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await message in inbound.messages(maxSize: 1 << 24) {
                            if case .text(let text) = message { received.texts.withLock { $0.append(text) } }
                        }
                    }
                    group.addTask {
                        for await command in stream { try await outbound.write(.text(command)) }
                    }
                    _ = try await group.next()
                    group.cancelAll()
                }
            }
        }
    }

    func send(_ command: String) { commands.yield(command) }

    func close() {
        commands.finish()
        task.cancel()
    }

    /// All messages so far, parsed.
    var messages: [[String: Any]] {
        received.texts.withLock { $0 }.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }

    /// Waits until `predicate` holds for the messages received, or `seconds` pass; returns the messages.
    /// Polls without blocking a thread: the client itself runs on the same small cooperative pool.
    @discardableResult
    func wait(seconds: Double = 10, until predicate: ([[String: Any]]) -> Bool) async -> [[String: Any]] {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let m = messages
            if predicate(m) { return m }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return messages
    }
}

extension Array where Element == [String: Any] {
    func ofType(_ type: String) -> [[String: Any]] { filter { $0["type"] as? String == type } }
    var data: [[String: Any]] { compactMap { $0["data"] as? [String: Any] } }
}
