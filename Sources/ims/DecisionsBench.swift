import ArgumentParser
import Foundation
import Histogram
import IMSDomain
import Synchronization

/// `ims bench decisions`: locate requests and sell-order validations (alternately: a client's short locate, then
/// its short sale of part of it) POSTed one per HTTP request to a running server, from this separate process,
/// at a target rate over several keep-alive connections; each answer comes after its journal sync.
/// Latency is measured from when a request was due (open loop: a late start counts), to its answer.
struct DecisionsBench {
    var url: String
    var rate: Int
    var decisions: Int
    var connections: Int
    /// Send `GET /health/live` instead of decisions: what HTTP alone costs, measured the same way.
    var floor = false
    var securities = 1_000
    static let clients = 97

    func run() throws {
        let prefix = "D\(getpid())-"
        let setup = try BlockingHTTPClient(url: url)
        var lines = [
            #"{"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}"#,
            #"{"type":"aggregationUnit","aggregationUnitId":"\#(prefix)AU-US","name":"\#(prefix)US","marketId":"US","legalEntity":"\#(prefix)PB","unitType":"NET","isDefault":true}"#,
            #"{"type":"book","bookId":"\#(prefix)FIRM","legalEntity":"\#(prefix)PB","positionType":"FIRM"}"#,
        ]
        for c in 0..<Self.clients {
            lines.append(
                #"{"type":"book","bookId":"\#(prefix)C\#(c)","legalEntity":"\#(prefix)PB","positionType":"CLIENT_FREE","clientId":"\#(prefix)C\#(c)"}"#)
        }
        for s in 0..<securities {
            lines.append(#"{"type":"security","securityId":"\#(prefix)S\#(s)","marketId":"US","currency":"USD"}"#)
            lines.append(
                #"{"type":"sodPosition","businessDate":"2026-11-25","bookId":"\#(prefix)FIRM","securityId":"\#(prefix)S\#(s)","contractualQty":1000000000,"settledQty":1000000000}"#
            )
            lines.append(
                #"{"type":"availability","sourceId":"\#(prefix)L","securityId":"\#(prefix)S\#(s)","quantity":1000000000,"availabilityType":"FIRM","effectiveDate":"2026-11-25"}"#
            )
        }
        let r = try setup.post("/api/v1/events", body: Array(lines.joined(separator: "\n").utf8))
        guard r.status == 200 else { throw ValidationError("setup: HTTP \(r.status) \(r.text.prefix(300))") }
        print("\(securities) securities; \(decisions) decisions (locate requests and sell orders, alternately) at \(rate)/s over \(connections) connections")

        let histogram = Mutex(Histogram<UInt64>(highestTrackableValue: 60_000_000))
        let next = Atomic<Int>(0), failures = Atomic<Int>(0), approved = Atomic<Int>(0), ordersApproved = Atomic<Int>(0)
        let start = DispatchTime.now().uptimeNanoseconds + 50_000_000
        let nanosPerDecision = 1e9 / Double(rate)
        let threads = (0..<connections).map { _ in
            let done = DispatchSemaphore(value: 0)
            Thread { [url, decisions, securities] in
                defer { done.signal() }
                guard let client = try? BlockingHTTPClient(url: url) else { failures.add(1, ordering: .relaxed); return }
                var local = Histogram<UInt64>(highestTrackableValue: 60_000_000)
                while true {
                    let i = next.add(1, ordering: .relaxed).oldValue
                    if i >= decisions { break }
                    let due = start + UInt64(Double(i) * nanosPerDecision)
                    let now = DispatchTime.now().uptimeNanoseconds
                    if due > now { usleep(UInt32((due - now) / 1_000)) }
                    // Pair i / 2: client c locates in security s, then sells short part of it.
                    let pair = i / 2, c = pair % Self.clients, security = "\(prefix)S\(pair % securities)"
                    let isOrder = i % 2 == 1
                    let (path, body, expected) =
                        isOrder
                        ? (
                            "/api/v1/orders/validate",
                            #"{"orderId":"\#(prefix)O\#(pair)","clientId":"\#(prefix)C\#(c)","bookId":"\#(prefix)C\#(c)","securityId":"\#(security)","side":"SELL_SHORT","quantity":\#(50 + pair % 50),"price":"100"}"#,
                            200
                        )
                        : (
                            "/api/v1/locates",
                            #"{"requestId":"\#(prefix)\#(pair)","clientId":"\#(prefix)C\#(c)","securityId":"\#(security)","quantity":\#(100 + pair % 900),"side":"SHORT"}"#,
                            201
                        )
                    if floor {
                        guard let answer = try? client.get("/health/live"), answer.status == 200 else { failures.add(1, ordering: .relaxed); continue }
                        _ = answer
                        _ = local.record((DispatchTime.now().uptimeNanoseconds - due) / 1_000)
                        continue
                    }
                    guard let answer = try? client.post(path, body: Array(body.utf8), contentType: "application/json"), answer.status == expected else {
                        failures.add(1, ordering: .relaxed)
                        continue
                    }
                    _ = local.record((DispatchTime.now().uptimeNanoseconds - due) / 1_000)
                    if isOrder {
                        if answer.text.contains(#""decision":"APPROVED""#) { ordersApproved.add(1, ordering: .relaxed) }
                    } else if answer.text.contains(#""status":"APPROVED""#) {
                        approved.add(1, ordering: .relaxed)
                    }
                }
                histogram.withLock { $0.add(local) }
            }.start()
            return done
        }
        for done in threads { done.wait() }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let h = histogram.withLock { $0 }
        print(
            #"{"kind":"decisions","decisions":\#(decisions),"seconds":\#(String(format: "%.3f", seconds)),"decisionsPerSecond":\#(Int(Double(decisions) / seconds)),"#
                + #""targetRate":\#(rate),"connections":\#(connections),"p50Micros":\#(h.valueAtPercentile(50)),"p99Micros":\#(h.valueAtPercentile(99)),"#
                + #""p999Micros":\#(h.valueAtPercentile(99.9)),"maxMicros":\#(h.max),"locatesApproved":\#(approved.load(ordering: .relaxed)),"#
                + #""ordersApproved":\#(ordersApproved.load(ordering: .relaxed)),"#
                + #""failedRequests":\#(failures.load(ordering: .relaxed)),"latencyOf":"\#(floor ? "request due to answer (GET /health/live: the HTTP floor)" : "request due to answer (locate requests and order validations, each journaled and synced)")"}"#
        )
        if failures.load(ordering: .relaxed) > 0 { throw ExitCode.failure }
    }
}
