import ArgumentParser
import DequeModule
import Foundation
import Histogram
import IMSDomain
import IMSFIX
import Synchronization

/// `ims bench decisions`: locate requests and sell-order validations (alternately: a client's short locate, then
/// its short sale of part of it) sent to a running server from this separate process, at a target rate, each
/// way a caller can (`--channel`), one after another in one run:
///
/// - `floor`: `GET /health/live`, one per request over `connections` keep-alive connections: what HTTP alone
///   costs, driven the same way (SPEC 8's HTTP floor);
/// - `http`: one decision per request (`POST /api/v1/locates`, `POST /api/v1/orders/validate`);
/// - `batch`: `POST /api/v1/decisions`, each request carrying every decision due when it leaves (at most
///   `batch`), one request in flight per connection;
/// - `ws`: the decision channel, `wsConnections` WebSockets, each frame carrying every decision due when it
///   leaves, frames sent without waiting for answers (answers come back in order);
/// - `ws-floor`: the channel's floor, driven as `ws`: every message re-sends one locate request decided before the
///   run, which the server answers with its first answer from the read model, with no journal write and no
///   engine: what the channel's transport, reading, checking and rendering cost alone;
/// - `fix`: one FIX session (`fix`, host:port; SenderCompID `BENCH`, acting for client `BENCHFIX`): a Quote
///   Request per locate and a NewOrderSingle per short sale, every message due written at once, answers (Quote,
///   ExecutionReport) read in order.
///
/// Every decision is journaled (durable with the server's fsync policy) before it is answered. Latency is
/// measured from when a decision was due (open loop: a late start counts) to its answer. `rate` 0: as fast as
/// each way goes (saturation).
struct DecisionsBench {
    enum Channel: String, CaseIterable, ExpressibleByArgument {
        case floor, http, batch, ws, fix
        case wsFloor = "ws-floor"

        /// Over the decision channel.
        var isChannel: Bool { self == .ws || self == .wsFloor }
    }

    var url: String
    var rate: Int
    var decisions: Int
    var connections: Int
    var channels: [Channel] = [.http]
    var wsConnections = 4
    var batch = 1_000
    var securities = 1_000
    /// The FIX acceptor, `host:port` (`--channel fix`).
    var fix: String?
    static let clients = 97
    /// The client the benchmark's FIX session acts for (its sessions file names it).
    static let fixClient = "BENCHFIX"

    struct Result {
        var channel: Channel
        var decisions: Int
        var seconds: Double
        var histogram: Histogram<UInt64>
        var locatesApproved: Int
        var ordersApproved: Int
        var failures: Int
        var frames: Int

        var perSecond: Double { Double(decisions) / seconds }
    }

    func run() throws {
        let prefix = "D\(getpid())-"
        try setup(prefix: prefix)
        print(
            "\(securities) securities; \(decisions) decisions per way (locate requests and sell orders, alternately) at "
                + (rate > 0 ? "\(rate)/s" : "saturation") + "; ways: \(channels.map(\.rawValue).joined(separator: ", "))")
        var results: [Result] = []
        for (n, channel) in channels.enumerated() {
            // Each way its own ids (a re-sent id would be answered without a decision).
            let ids = "\(prefix)\(channel.rawValue)\(n)-"
            let cpu = CPUTimes.now()
            let threadsBefore = try? serverThreads()
            let result: Result
            switch channel {
            case .floor, .http: result = try perRequest(channel, ids: ids, prefix: prefix)
            case .batch: result = try batched(ids: ids, prefix: prefix)
            case .ws: result = try overChannel(ids: ids, prefix: prefix)
            case .wsFloor: result = try overChannel(ids: ids, prefix: prefix, replaying: true)
            case .fix: result = try overFIX(ids: ids, prefix: prefix)
            }
            results.append(result)
            print(json(result, steal: cpu.map { CPUTimes.now()?.stealPercent(since: $0) } ?? nil))
            if let before = threadsBefore, let after = try? serverThreads() { print(serverCPU(result, before: before, after: after)) }
            if channel != .floor && channel != .wsFloor, let stages = try? serverStages() { print(stages) }
        }
        if let floor = results.first(where: { $0.channel == .floor }) {
            let ratios = results.filter { $0.channel != .floor }.map { "\"\($0.channel.rawValue)\":\(String(format: "%.2f", $0.perSecond / floor.perSecond))" }
            print(#"{"kind":"decisionsToFloor","targetRate":\#(rate),"floorPerSecond":\#(Int(floor.perSecond)),"ratios":{\#(ratios.joined(separator: ","))}}"#)
        }
        if results.contains(where: { $0.failures > 0 }) { throw ExitCode.failure }
    }

    private func setup(prefix: String) throws {
        let setup = try BlockingHTTPClient(url: url)
        var lines = [
            #"{"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}"#,
            #"{"type":"aggregationUnit","aggregationUnitId":"\#(prefix)AU-US","name":"\#(prefix)US","marketId":"US","legalEntity":"\#(prefix)PB","unitType":"NET","isDefault":true}"#,
            #"{"type":"book","bookId":"\#(prefix)FIRM","legalEntity":"\#(prefix)PB","positionType":"FIRM"}"#,
        ]
        lines.append(
            #"{"type":"book","bookId":"\#(prefix)FIXBOOK","legalEntity":"\#(prefix)PB","positionType":"CLIENT_FREE","clientId":"\#(Self.fixClient)"}"#)
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
    }

    /// Decision `i`: pair i / 2, client c locates in security s, then sells short part of it. Its REST path and
    /// body, and the status a success is answered with.
    private func decision(_ i: Int, ids: String, prefix: String) -> (isOrder: Bool, path: String, fields: String, type: String, expected: Int) {
        let pair = i / 2, c = pair % Self.clients, security = "\(prefix)S\(pair % securities)"
        if i % 2 == 1 {
            return (
                true, "/api/v1/orders/validate",
                #""orderId":"\#(ids)O\#(pair)","clientId":"\#(prefix)C\#(c)","bookId":"\#(prefix)C\#(c)","securityId":"\#(security)","side":"SELL_SHORT","quantity":\#(50 + pair % 50),"price":"100""#,
                "order", 200
            )
        }
        return (
            false, "/api/v1/locates",
            #""requestId":"\#(ids)\#(pair)","clientId":"\#(prefix)C\#(c)","securityId":"\#(security)","quantity":\#(100 + pair % 900),"side":"SHORT""#,
            "locate", 201
        )
    }

    /// The message of decision `i` on the channel or in a batch body; `replaying`: decision 0 (a locate request) again,
    /// under correlation id `i`.
    private func message(_ i: Int, ids: String, prefix: String, replaying: Bool = false) -> String {
        let d = decision(replaying ? 0 : i, ids: ids, prefix: prefix)
        return #"{"correlationId":"\#(i)","type":"\#(d.type)",\#(d.fields)}"#
    }

    private func due(_ i: Int, start: UInt64) -> UInt64 { rate > 0 ? start + UInt64(Double(i) * 1e9 / Double(rate)) : start }

    private static func waitUntil(_ due: UInt64) {
        let now = DispatchTime.now().uptimeNanoseconds
        if due > now { usleep(UInt32((due - now) / 1_000)) }
    }

    /// One request per decision (or per `GET /health/live`), `connections` connections each waiting for its answer.
    private func perRequest(_ channel: Channel, ids: String, prefix: String) throws -> Result {
        let histogram = Mutex(Histogram<UInt64>(highestTrackableValue: 60_000_000))
        let next = Atomic<Int>(0), failures = Atomic<Int>(0), approved = Atomic<Int>(0), ordersApproved = Atomic<Int>(0)
        let start = DispatchTime.now().uptimeNanoseconds + 50_000_000
        let threads = (0..<connections).map { _ in
            let done = DispatchSemaphore(value: 0)
            Thread { [self] in
                defer { done.signal() }
                guard let client = try? BlockingHTTPClient(url: url) else { failures.add(1, ordering: .relaxed); return }
                var local = Histogram<UInt64>(highestTrackableValue: 60_000_000)
                while true {
                    let i = next.add(1, ordering: .relaxed).oldValue
                    if i >= decisions { break }
                    let due = self.due(i, start: start)
                    Self.waitUntil(due)
                    if channel == .floor {
                        guard let answer = try? client.get("/health/live"), answer.status == 200 else { failures.add(1, ordering: .relaxed); continue }
                        _ = local.record((DispatchTime.now().uptimeNanoseconds - due) / 1_000)
                        continue
                    }
                    let d = decision(i, ids: ids, prefix: prefix)
                    guard let answer = try? client.post(d.path, body: Array("{\(d.fields)}".utf8), contentType: "application/json"), answer.status == d.expected
                    else {
                        failures.add(1, ordering: .relaxed)
                        continue
                    }
                    _ = local.record((DispatchTime.now().uptimeNanoseconds - due) / 1_000)
                    if d.isOrder {
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
        return Result(
            channel: channel, decisions: decisions, seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9, histogram: histogram.withLock { $0 },
            locatesApproved: approved.load(ordering: .relaxed), ordersApproved: ordersApproved.load(ordering: .relaxed),
            failures: failures.load(ordering: .relaxed), frames: decisions)
    }

    /// `POST /api/v1/decisions`: each connection sends every decision due (up to `batch`), waits for the answers.
    private func batched(ids: String, prefix: String) throws -> Result {
        let histogram = Mutex(Histogram<UInt64>(highestTrackableValue: 60_000_000))
        let next = Mutex(0), failures = Atomic<Int>(0), approved = Atomic<Int>(0), ordersApproved = Atomic<Int>(0), requests = Atomic<Int>(0)
        let start = DispatchTime.now().uptimeNanoseconds + 50_000_000
        let threads = (0..<connections).map { _ in
            let done = DispatchSemaphore(value: 0)
            Thread { [self] in
                defer { done.signal() }
                guard let client = try? BlockingHTTPClient(url: url) else { failures.add(1, ordering: .relaxed); return }
                var local = Histogram<UInt64>(highestTrackableValue: 60_000_000)
                while true {
                    // Wait for the next decision to fall due, then take it and every other one due by now.
                    let first = next.withLock { $0 }
                    if first >= decisions { break }
                    Self.waitUntil(due(first, start: start))
                    let now = DispatchTime.now().uptimeNanoseconds
                    let taken = next.withLock { n -> Range<Int> in
                        var end = n
                        while end < decisions && end - n < batch && due(end, start: start) <= now { end += 1 }
                        defer { n = end }
                        return n..<end
                    }
                    if taken.isEmpty { continue }
                    let body = "[" + taken.map { message($0, ids: ids, prefix: prefix) }.joined(separator: ",") + "]"
                    requests.add(1, ordering: .relaxed)
                    guard let answer = try? client.post("/api/v1/decisions", body: Array(body.utf8), contentType: "application/json"), answer.status == 200
                    else {
                        failures.add(taken.count, ordering: .relaxed)
                        continue
                    }
                    let arrived = DispatchTime.now().uptimeNanoseconds
                    let tally = Self.tally(answer.body)
                    failures.add(taken.count - tally.succeeded, ordering: .relaxed)
                    approved.add(tally.locatesApproved, ordering: .relaxed)
                    ordersApproved.add(tally.ordersApproved, ordering: .relaxed)
                    for i in taken { _ = local.record((arrived - due(i, start: start)) / 1_000) }
                }
                histogram.withLock { $0.add(local) }
            }.start()
            return done
        }
        for done in threads { done.wait() }
        return Result(
            channel: .batch, decisions: decisions, seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9,
            histogram: histogram.withLock { $0 }, locatesApproved: approved.load(ordering: .relaxed),
            ordersApproved: ordersApproved.load(ordering: .relaxed), failures: failures.load(ordering: .relaxed), frames: requests.load(ordering: .relaxed))
    }

    /// The decision channel: `wsConnections` sockets, each with a sender (frames of every decision due) and a
    /// reader (answers in order, one frame's answers at a time). `replaying` (the channel's floor): decision 0 is
    /// decided first, and every message re-sends it.
    private func overChannel(ids: String, prefix: String, replaying: Bool = false) throws -> Result {
        if replaying {
            let d = decision(0, ids: ids, prefix: prefix)
            let r = try BlockingHTTPClient(url: url).post(d.path, body: Array("{\(d.fields)}".utf8))
            guard r.status == d.expected else { throw ValidationError("ws-floor: the locate to re-send was answered HTTP \(r.status) \(r.text.prefix(300))") }
        }
        let histogram = Mutex(Histogram<UInt64>(highestTrackableValue: 60_000_000))
        let failures = Atomic<Int>(0), approved = Atomic<Int>(0), ordersApproved = Atomic<Int>(0), frames = Atomic<Int>(0)
        let start = DispatchTime.now().uptimeNanoseconds + 50_000_000
        var finished: [DispatchSemaphore] = []
        for k in 0..<wsConnections {
            let socket = try BlockingWebSocket(url: url, path: "/ws/decisions")
            // Connection k takes decisions k, k + n, k + 2n… (a pair's locate and order go to different
            // connections only when n is odd; with an even n the order follows its locate on one connection).
            let mine = Array(stride(from: k, to: decisions, by: wsConnections))
            // The decisions sent and not yet answered, in order (answers come in order; a message may carry the
            // answers of several frames, so they are paired by count, not by message).
            let sent = Mutex<Deque<Int>>([])
            let senderDone = DispatchSemaphore(value: 0), readerDone = DispatchSemaphore(value: 0)
            finished += [senderDone, readerDone]
            Thread { [self] in
                defer { senderDone.signal() }
                var at = 0
                while at < mine.count {
                    Self.waitUntil(due(mine[at], start: start))
                    let now = DispatchTime.now().uptimeNanoseconds
                    var end = at
                    while end < mine.count && end - at < batch && due(mine[end], start: start) <= now { end += 1 }
                    if end == at { end = at + 1 }
                    let taken = Array(mine[at..<end])
                    at = end
                    let text =
                        taken.count == 1
                        ? message(taken[0], ids: ids, prefix: prefix, replaying: replaying)
                        : "[" + taken.map { message($0, ids: ids, prefix: prefix, replaying: replaying) }.joined(separator: ",") + "]"
                    sent.withLock { $0.append(contentsOf: taken) }
                    do { try socket.send(text) } catch {
                        failures.add(mine.count - at + taken.count, ordering: .relaxed)
                        socket.shutdownBoth()
                        return
                    }
                }
            }.start()
            Thread { [self] in
                defer { readerDone.signal() }
                var local = Histogram<UInt64>(highestTrackableValue: 60_000_000)
                var answered = 0
                while answered < mine.count {
                    guard let payload = try? socket.receive() else {
                        failures.add(mine.count - answered, ordering: .relaxed)
                        break
                    }
                    let arrived = DispatchTime.now().uptimeNanoseconds
                    let tally = Self.tally(payload)
                    // A notice (the channel at its bound) answers nothing.
                    if tally.answers == 0 { continue }
                    let taken = sent.withLock { q in (0..<min(tally.answers, q.count)).map { _ in q.removeFirst() } }
                    failures.add(taken.count - tally.succeeded, ordering: .relaxed)
                    approved.add(tally.locatesApproved, ordering: .relaxed)
                    ordersApproved.add(tally.ordersApproved, ordering: .relaxed)
                    frames.add(1, ordering: .relaxed)
                    for i in taken { _ = local.record((arrived - due(i, start: start)) / 1_000) }
                    answered += taken.count
                }
                histogram.withLock { $0.add(local) }
                socket.shutdownBoth()
            }.start()
        }
        for done in finished { done.wait() }
        return Result(
            channel: replaying ? .wsFloor : .ws, decisions: decisions, seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9,
            histogram: histogram.withLock { $0 },
            locatesApproved: approved.load(ordering: .relaxed), ordersApproved: ordersApproved.load(ordering: .relaxed),
            failures: failures.load(ordering: .relaxed), frames: frames.load(ordering: .relaxed))
    }

    /// One FIX session: a sender writing every message due at once (a Quote Request per locate, a NewOrderSingle
    /// per short sale, for the session's one client) and a reader pairing answers with messages in order.
    private func overFIX(ids: String, prefix: String) throws -> Result {
        guard let fix, let colon = fix.lastIndex(of: ":"), let port = Int(fix[fix.index(after: colon)...]) else {
            throw ValidationError("--channel fix needs --fix host:port (the server's fixPort, with a session BENCH acting for client \(Self.fixClient))")
        }
        let password = ProcessInfo.processInfo.environment["IMS_FIX_KEY"] ?? BlockingHTTPClient.apiKey
        let client = try BlockingFIXClient(host: String(fix[..<colon]), port: port, sender: "BENCH", target: "IMS", password: password)
        let histogram = Mutex(Histogram<UInt64>(highestTrackableValue: 60_000_000))
        let failures = Atomic<Int>(0), approved = Atomic<Int>(0), ordersApproved = Atomic<Int>(0), writes = Atomic<Int>(0)
        let start = DispatchTime.now().uptimeNanoseconds + 50_000_000
        let senderDone = DispatchSemaphore(value: 0), readerDone = DispatchSemaphore(value: 0)
        @Sendable func message(_ i: Int) -> FIXMessage {
            let pair = i / 2, security = "\(prefix)S\(pair % securities)"
            if i % 2 == 1 {
                return FIXMessage(
                    "D",
                    [
                        (Tag.clOrdID, "\(ids)O\(pair)"), (Tag.account, "\(prefix)FIXBOOK"), (Tag.symbol, security), (Tag.side, "5"),
                        (Tag.transactTime, "20261125-14:00:00"), (Tag.orderQty, String(50 + pair % 50)), (Tag.ordType, "2"), (Tag.price, "100"),
                    ])
            }
            return FIXMessage(
                "R", [(Tag.quoteReqID, "\(ids)\(pair)"), (Tag.noRelatedSym, "1"), (Tag.symbol, security), (Tag.orderQty, String(100 + pair % 900))])
        }
        Thread { [self] in
            defer { senderDone.signal() }
            var at = 0
            while at < decisions {
                Self.waitUntil(due(at, start: start))
                let now = DispatchTime.now().uptimeNanoseconds
                var end = at
                while end < decisions && end - at < batch && due(end, start: start) <= now { end += 1 }
                if end == at { end = at + 1 }
                do { try client.send((at..<end).map(message)) } catch {
                    failures.add(decisions - at, ordering: .relaxed)
                    client.shutdownBoth()
                    return
                }
                writes.add(1, ordering: .relaxed)
                at = end
            }
        }.start()
        Thread { [self] in
            defer { readerDone.signal() }
            var local = Histogram<UInt64>(highestTrackableValue: 60_000_000)
            var answered = 0
            while answered < decisions {
                guard let m = try? client.receive() else {
                    failures.add(decisions - answered, ordering: .relaxed)
                    break
                }
                let arrived = DispatchTime.now().uptimeNanoseconds
                switch m.msgType {
                case "S": approved.add(1, ordering: .relaxed)
                case "8": if m[Tag.ordStatus] == "0" { ordersApproved.add(1, ordering: .relaxed) } else { failures.add(1, ordering: .relaxed) }
                case "AG", "AI", "3", "j": failures.add(1, ordering: .relaxed)
                default: continue // heartbeats
                }
                _ = local.record((arrived - due(answered, start: start)) / 1_000)
                answered += 1
            }
            histogram.withLock { $0.add(local) }
            client.shutdownBoth()
        }.start()
        senderDone.wait()
        readerDone.wait()
        return Result(
            channel: .fix, decisions: decisions, seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9, histogram: histogram.withLock { $0 },
            locatesApproved: approved.load(ordering: .relaxed), ordersApproved: ordersApproved.load(ordering: .relaxed),
            failures: failures.load(ordering: .relaxed), frames: writes.load(ordering: .relaxed))
    }

    /// The server's `ims_request_stage_seconds` (where its requests spent their time, since it started), as one
    /// JSON line of microseconds: `{"kind":"serverStages","stages":{"inbox":{"p50":…,"p99":…,"p999":…},…}}`.
    private func serverStages() throws -> String {
        let text = try BlockingHTTPClient(url: url).get("/metrics").text
        var stages: [String: [String: Int]] = [:]
        for (labels, value) in Self.samples(text, of: "ims_request_stage_seconds") {
            guard let stage = labels["stage"], let percentile = labels["percentile"] else { continue }
            let name = ["50": "p50", "99": "p99", "99.9": "p999"][percentile] ?? percentile
            stages[stage, default: [:]][name] = Int(value * 1e6)
        }
        let order = ["inbox", "journal", "handoff", "apply", "answer", "resume", "render"]
        let body = order.compactMap { s in stages[s].map { "\"\(s)\":{\"p50\":\($0["p50"] ?? 0),\"p99\":\($0["p99"] ?? 0),\"p999\":\($0["p999"] ?? 0)}" } }
        return #"{"kind":"serverStages","since":"the server started","unit":"microseconds","stages":{"# + body.joined(separator: ",") + "}}"
    }

    /// The server's CPU seconds and voluntary switches by thread name (`ims_thread_cpu_seconds`,
    /// `ims_thread_voluntary_switches`; none where the server cannot read its threads).
    private func serverThreads() throws -> [String: (cpu: Double, switches: Double)] {
        let text = try BlockingHTTPClient(url: url).get("/metrics").text
        var threads: [String: (cpu: Double, switches: Double)] = [:]
        for (labels, value) in Self.samples(text, of: "ims_thread_cpu_seconds") { if let t = labels["thread"] { threads[t, default: (0, 0)].cpu = value } }
        for (labels, value) in Self.samples(text, of: "ims_thread_voluntary_switches") {
            if let t = labels["thread"] { threads[t, default: (0, 0)].switches = value }
        }
        return threads
    }

    /// The samples of metric `name` in a scrape (Prometheus text format): each one's labels and value.
    static func samples(_ text: String, of name: String) -> [(labels: [String: String], value: Double)] {
        var out: [(labels: [String: String], value: Double)] = []
        for line in text.split(separator: "\n") where line.hasPrefix(name + "{") {
            guard let close = line.lastIndex(of: "}"), let value = Double(line[line.index(after: close)...].trimmingCharacters(in: .whitespaces)) else {
                continue
            }
            var labels: [String: String] = [:]
            for pair in line[line.index(line.startIndex, offsetBy: name.count + 1)..<close].split(separator: ",") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                guard kv.count == 2 else { continue }
                labels[String(kv[0])] = kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
            out.append((labels, value))
        }
        return out
    }

    /// One JSON line: what the way cost the server per decision, by thread (the CPU of every thread, the load
    /// generator's excluded, over the run; a thread that started or ended meanwhile counts from when it was seen).
    private func serverCPU(_ r: Result, before: [String: (cpu: Double, switches: Double)], after: [String: (cpu: Double, switches: Double)]) -> String {
        let n = Double(max(1, r.decisions))
        var total = 0.0, switches = 0.0
        var parts: [String] = []
        for (name, a) in after.sorted(by: { $0.key < $1.key }) {
            let b = before[name] ?? (0, 0)
            let cpu = max(0, a.cpu - b.cpu), sw = max(0, a.switches - b.switches)
            total += cpu
            switches += sw
            guard cpu > 0 || sw > 0 else { continue }
            parts.append(#""\#(name)":{"micros":\#(String(format: "%.1f", cpu * 1e6 / n)),"switches":\#(String(format: "%.2f", sw / n))}"#)
        }
        return
            #"{"kind":"serverCPU","channel":"\#(r.channel.rawValue)","decisions":\#(r.decisions),"microsPerDecision":\#(String(format: "%.1f", total * 1e6 / n)),"#
            + #""voluntarySwitchesPerDecision":\#(String(format: "%.2f", switches / n)),"threads":{\#(parts.joined(separator: ","))}}"#
    }

    /// What the answers in one body say: how many succeeded (status 200 or 201), how many locates were approved
    /// (a non-zero `approvedQuantity`, the locate's first key) and how many orders. A byte scan: the load generator
    /// shares the machine with the server, so reading answers must cost it little.
    static func tally(_ body: [UInt8]) -> (answers: Int, succeeded: Int, locatesApproved: Int, ordersApproved: Int) {
        body.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            func count(_ pattern: StaticString, where accept: (Int) -> Bool = { _ in true }) -> Int {
                let needle = UnsafeBufferPointer(start: pattern.utf8Start, count: pattern.utf8CodeUnitCount)
                let first = needle[0], last = bytes.count - needle.count
                var n = 0, at = 0
                while at <= last {
                    if bytes[at] == first, memcmp(bytes.baseAddress! + at, needle.baseAddress!, needle.count) == 0 {
                        at += needle.count
                        if accept(at) { n += 1 }
                    } else {
                        at += 1
                    }
                }
                return n
            }
            let succeeded = count(#","status":200,"#) + count(#","status":201,"#)
            let locates = count(#""locate":{"approvedQuantity":"#) { $0 < bytes.count && bytes[$0] != UInt8(ascii: "0") }
            return (count(#"{"correlationId":"#), succeeded, locates, count(#""decision":"APPROVED""#))
        }
    }

    private func json(_ r: Result, steal: Double? = nil) -> String {
        let h = r.histogram
        let latencyOf =
            switch r.channel {
            case .floor: "request due to answer (GET /health/live: the HTTP floor)"
            case .http: "request due to answer (one decision per request, journaled and synced)"
            case .batch: "decision due to its request's answer (POST /api/v1/decisions, every decision due per request)"
            case .ws: "decision due to its answer on the decision channel (every decision due per frame)"
            case .wsFloor: "message due to its answer on the decision channel, each a re-sent locate answered from the read model (no journal, no engine)"
            case .fix: "message due to its answer over one FIX session (Quote Request → Quote, NewOrderSingle → ExecutionReport; every message due per write)"
            }
        return
            #"{"kind":"decisions","channel":"\#(r.channel.rawValue)","decisions":\#(r.decisions),"seconds":\#(String(format: "%.3f", r.seconds)),"decisionsPerSecond":\#(Int(r.perSecond)),"#
            + #""targetRate":\#(rate),"connections":\#(r.channel.isChannel ? wsConnections : r.channel == .fix ? 1 : connections),"requestsOrFrames":\#(r.frames),"p50Micros":\#(h.valueAtPercentile(50)),"p99Micros":\#(h.valueAtPercentile(99)),"#
            + #""p999Micros":\#(h.valueAtPercentile(99.9)),"maxMicros":\#(h.max),"locatesApproved":\#(r.locatesApproved),"ordersApproved":\#(r.ordersApproved),"#
            + #""failed":\#(r.failures),"cpuStealPercent":\#(steal.map { String(format: "%.1f", $0) } ?? "null"),"latencyOf":"\#(latencyOf)"}"#
    }
}

/// The machine's CPU time by kind (`/proc/stat`'s first line, in ticks): how much of it the hypervisor took
/// (steal) while a benchmark ran, printed beside its figures, since a virtual machine's neighbours move them.
struct CPUTimes {
    var total: UInt64
    var steal: UInt64

    static func now() -> CPUTimes? {
        guard let line = try? String(contentsOfFile: "/proc/stat", encoding: .utf8).split(separator: "\n").first else { return nil }
        let fields = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
        guard fields.count >= 8 else { return nil }
        return CPUTimes(total: fields.reduce(0, +), steal: fields[7])
    }

    /// Steal as a percentage of all CPU time since `earlier`.
    func stealPercent(since earlier: CPUTimes) -> Double {
        let total = self.total &- earlier.total
        return total == 0 ? 0 : Double(steal &- earlier.steal) * 100 / Double(total)
    }
}
