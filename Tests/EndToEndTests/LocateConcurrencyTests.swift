import Foundation
import Testing

/// Hundreds of simultaneous locate requests over real sockets never promise the same shares twice, and a
/// restart keeps every answer (SPEC 4.4: "two concurrent requests never get the same shares").
struct LocateConcurrencyTests {
    @Test func concurrentRequestsNeverOverAllocateThePool() throws {
        let dataDir = IMSProcess.freshDirectory()
        var server = try IMSProcess.start(dataDir: dataDir)
        let setup = """
            {"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}
            {"type":"security","securityId":"IBM","isin":"US4592001014","marketId":"US","currency":"USD"}
            {"type":"book","bookId":"FIRM","legalEntity":"PB-US","positionType":"FIRM"}
            {"type":"sodPosition","businessDate":"2026-11-25","bookId":"FIRM","securityId":"IBM","contractualQty":1205,"settledQty":1205}
            """ + "\n" + (0..<7).map { #"{"type":"counterparty","counterpartyId":"C\#($0)","name":"Fund \#($0)","kind":"CLIENT"}"# }.joined(separator: "\n")
        #expect(try IMSProcess.request(server, "POST", "/api/v1/events", body: setup).status == 200)
        // 40 threads × 10 requests of 10 shares against a pool of 1,205: 120 approved, one partial of 5, the rest rejected.
        let answers = ConcurrentResults()
        let first = server
        let threads = (0..<40).map { t in
            Thread {
                for i in 0..<10 {
                    let body = #"{"requestId":"t\#(t)-\#(i)","clientId":"C\#(t % 7)","securityId":"IBM","quantity":10,"side":"SHORT"}"#
                    let r = try? IMSProcess.request(first, "POST", "/api/v1/locates", body: body, timeout: 30)
                    answers.add(
                        r?.status ?? 0, (r?.json as? [String: Any])?["approvedQuantity"] as? Int ?? -1, (r?.json as? [String: Any])?["status"] as? String ?? "")
                }
            }
        }
        for t in threads { t.start() }
        #expect(answers.wait(for: 400, seconds: 120))
        let all = answers.all
        #expect(all.allSatisfy { $0.status == 201 }, "\(Set(all.map(\.status)))")
        #expect(all.map(\.approved).reduce(0, +) == 1_205)
        #expect(all.filter { $0.answer == "APPROVED" }.count == 120 && all.filter { $0.answer == "PARTIAL" }.count == 1)
        func pool(_ s: IMSProcess.Server) throws -> Int? {
            ((try IMSProcess.request(s, "GET", "/api/v1/inventory/IBM").json as? [String: Any])?["calculations"] as? [String: Any])?["locateAvailable"] as? Int
        }
        #expect(try pool(server) == 0)
        let listed = (try IMSProcess.request(server, "GET", "/api/v1/locates?limit=1000").json as? [String: Any])?["total"] as? Int
        #expect(listed == 400)
        // After a restart: the same locates, and a re-sent request gets its first answer.
        server.stop()
        server = try IMSProcess.start(dataDir: dataDir)
        defer { server.stop() }
        #expect(try pool(server) == 0)
        let again = try IMSProcess.request(
            server, "POST", "/api/v1/locates", body: #"{"requestId":"t0-0","clientId":"C0","securityId":"IBM","quantity":10,"side":"SHORT"}"#)
        #expect(again.status == 200 && (again.json as? [String: Any])?["locateId"] != nil)
        #expect((try IMSProcess.request(server, "GET", "/api/v1/locates?limit=1000").json as? [String: Any])?["total"] as? Int == 400)
    }
}

/// Hundreds of simultaneous sell orders never take the same limit twice (SPEC 5: "an approval consumes both
/// limits atomically").
struct OrderConcurrencyTests {
    @Test func concurrentOrdersNeverOverConsumeALimit() throws {
        let server = try IMSProcess.start()
        defer { server.stop() }
        let setup = """
            {"type":"marketDayRoll","marketId":"US","businessDate":"2026-11-25"}
            {"type":"security","securityId":"IBM","isin":"US4592001014","marketId":"US","currency":"USD"}
            {"type":"aggregationUnit","aggregationUnitId":"AU-US","name":"US","marketId":"US","legalEntity":"PB-US","unitType":"NET","isDefault":true}
            {"type":"book","bookId":"C1-FREE","legalEntity":"PB-US","positionType":"CLIENT_FREE","clientId":"C1"}
            {"type":"sodPosition","businessDate":"2026-11-25","bookId":"C1-FREE","securityId":"IBM","contractualQty":1205,"settledQty":1205}
            """
        #expect(try IMSProcess.request(server, "POST", "/api/v1/events", body: setup).status == 200)
        // 40 threads × 10 long sales of 10 against the client's 1,205: 120 approved, the rest rejected.
        let answers = ConcurrentResults()
        let threads = (0..<40).map { t in
            Thread {
                for i in 0..<10 {
                    let body = #"{"orderId":"o\#(t)-\#(i)","clientId":"C1","bookId":"C1-FREE","securityId":"IBM","side":"SELL","quantity":10,"price":"100"}"#
                    let r = try? IMSProcess.request(server, "POST", "/api/v1/orders/validate", body: body, timeout: 30)
                    let decision = (r?.json as? [String: Any])?["decision"] as? String ?? ""
                    answers.add(r?.status ?? 0, decision == "APPROVED" ? 10 : 0, decision)
                }
            }
        }
        for t in threads { t.start() }
        #expect(answers.wait(for: 400, seconds: 120))
        let all = answers.all
        #expect(all.allSatisfy { $0.status == 200 })
        #expect(all.filter { $0.answer == "APPROVED" }.count == 120 && all.filter { $0.answer == "REJECTED" }.count == 280)
        let limits = try IMSProcess.request(server, "GET", "/api/v1/limits/clients/C1?securityId=IBM").json as? [[String: Any]]
        #expect(limits?.first?["longSellLimit"] as? Int == 5)
    }
}

/// Answers gathered from many threads.
final class ConcurrentResults: @unchecked Sendable {
    struct Answer { var status: Int; var approved: Int; var answer: String }
    private let lock = NSCondition()
    private var answers: [Answer] = []

    func add(_ status: Int, _ approved: Int, _ answer: String) {
        lock.lock(); answers.append(Answer(status: status, approved: approved, answer: answer)); lock.broadcast(); lock.unlock()
    }

    func wait(for count: Int, seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        lock.lock(); defer { lock.unlock() }
        while answers.count < count { if !lock.wait(until: deadline) { return false } }
        return true
    }

    var all: [Answer] { lock.lock(); defer { lock.unlock() }; return answers }
}
