import Foundation
import Hummingbird
import HummingbirdTesting
import IMSDomain
import IMSEngine
import IMSRuntime
import Synchronization
import Testing

@testable import IMSServer

/// `POST /api/v1/decisions` (many decisions in one body, as one frame of the decision channel holds them): each
/// answered in order with its correlation id and the status its own route would give, one bad message never
/// spoiling the others; a body that is no list of decisions refused naming `body`.
struct DecisionAPITests {
    static let setup = OrderAPITests.setup + "\n" + #"{"type":"counterparty","counterpartyId":"C1","name":"Fund 1","kind":"CLIENT"}"#

    static func decide(_ client: any TestClientProtocol, _ body: String, status: HTTPResponse.Status = .ok) async throws -> Any {
        try await client.execute(uri: "/api/v1/decisions", method: .post, body: ByteBuffer(string: body)) { r in
            #expect(r.status == status, "\(body): \(String(buffer: r.body))")
            return try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView))
        }
    }

    static func locate(_ id: String, request: String, quantity: Any = 100, security: String = "IBM", client: String = "C1") -> String {
        let q = quantity is String ? "\"\(quantity)\"" : "\(quantity)"
        return
            #"{"correlationId":"\#(id)","type":"locate","requestId":"\#(request)","clientId":"\#(client)","securityId":"\#(security)","quantity":\#(q),"side":"SHORT"}"#
    }

    func withServer(_ body: @Sendable (any TestClientProtocol, Engine) async throws -> Void) async throws {
        let engine = Engine()
        defer { engine.stop() }
        let app = Application(router: IMSApplication.router(engine: engine, configuration: ServerConfiguration()))
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/v1/events", method: .post, body: ByteBuffer(string: Self.setup)) { r in
                #expect(r.status == .ok, "\(String(buffer: r.body))")
            }
            try await body(client, engine)
        }
    }

    @Test func eachDecisionIsAnsweredInOrderWithItsOwnStatus() async throws {
        try await withServer { client, engine in
            let exceptionsBefore = engine.readModel.read { $0.nextExceptionIdentifier }
            let body =
                "["
                + [
                    Self.locate("a", request: "R1"),
                    #"{"correlationId":"b","type":"order","orderId":"O1","clientId":"C1","bookId":"C1-FREE","securityId":"IBM","side":"SELL","quantity":10,"price":"100"}"#,
                    Self.locate("c", request: "R1"),
                    Self.locate("d", request: "R2", quantity: "many"),
                    #"{"type":"locate","requestId":"R3","clientId":"C1","securityId":"IBM","quantity":5,"side":"SHORT"}"#,
                    #"{"correlationId":"f","type":"borrow"}"#,
                    #"{"correlationId":"g","type":"locate","requestId":"R4","clientId":"C1","securityId":"IBM","quantity":5,"side":"SHORT","colour":"red"}"#,
                    Self.locate("h", request: "R5", quantity: -5),
                    #"{"correlationId":"i","type":"locate","requestId":"R6","clientId":"C1","clientId":"C2","securityId":"IBM","quantity":5,"side":"SHORT"}"#,
                    Self.locate("j", request: "R7", quantity: 50),
                ].joined(separator: ",") + "]"
            let answers = try #require(try await Self.decide(client, body) as? [[String: Any]])
            #expect(answers.map { $0["correlationId"] as? String } == ["a", "b", "c", "d", nil, "f", "g", "h", "i", "j"])
            #expect(answers.map { $0["status"] as? Int } == [201, 200, 200, 400, 400, 400, 400, 422, 400, 201])
            #expect(answers.map { $0["field"] as? String } == [nil, nil, nil, "quantity", "correlationId", "type", "colour", "quantity", "clientId", nil])
            // The first answer again for the re-sent request; an order answered with its decision.
            let first = try #require(answers[0]["locate"] as? [String: Any]), again = try #require(answers[2]["locate"] as? [String: Any])
            #expect(first["locateId"] as? String != nil && first["locateId"] as? String == again["locateId"] as? String)
            #expect((answers[1]["order"] as? [String: Any])?["decision"] as? String == "APPROVED")
            #expect((answers[9]["locate"] as? [String: Any])?["status"] as? String == "APPROVED")
            // A refused decision is an answer, not an exception for the desk.
            #expect(engine.readModel.read { $0.nextExceptionIdentifier } == exceptionsBefore)
            // Cancelled over the same path, and a second cancellation refused as the REST route refuses it (409).
            let id = try #require(first["locateId"] as? String)
            let cancel = #"{"correlationId":"k","type":"cancelLocate","locateId":"\#(id)","clientId":"C1","reason":"done"}"#
            let cancelled = try #require(try await Self.decide(client, cancel) as? [String: Any])
            #expect(cancelled["status"] as? Int == 200 && (cancelled["locate"] as? [String: Any])?["status"] as? String == "CANCELLED", "\(cancelled)")
            let twice = try #require(try await Self.decide(client, cancel) as? [String: Any])
            #expect(twice["status"] as? Int == 409 && twice["field"] as? String == "status", "\(twice)")
            let unknown = try #require(try await Self.decide(client, #"{"correlationId":"l","type":"cancelLocate","locateId":"L-NONE"}"#) as? [String: Any])
            #expect(unknown["status"] as? Int == 404 && unknown["field"] as? String == "locateId")
        }
    }

    /// Oversized fields are refused naming them, as on the REST routes: an identifier over its bound (422, by the
    /// route's own check), a correlation id over it and a text over the strict reader's bound (400).
    @Test func oversizedFieldsAreRefusedNamingThem() async throws {
        try await withServer { client, _ in
            let long = String(repeating: "x", count: 300), huge = String(repeating: "y", count: 2_000)
            let body =
                "["
                + [
                    Self.locate("a", request: long),
                    Self.locate(long, request: "R1"),
                    #"{"correlationId":"c","type":"locate","requestId":"R2","clientId":"C1","securityId":"IBM","quantity":5,"side":"SHORT","requestor":"\#(huge)"}"#,
                ].joined(separator: ",") + "]"
            let answers = try #require(try await Self.decide(client, body) as? [[String: Any]])
            #expect(answers.map { $0["status"] as? Int } == [422, 400, 400], "\(answers)")
            #expect(answers.map { $0["field"] as? String } == ["requestId", "correlationId", "requestor"])
            // The too-long correlation id is still echoed (bounded by the reader's 1 KiB), so the client can match it.
            #expect(answers.map { $0["correlationId"] as? String } == ["a", long, "c"])
        }
    }

    @Test func aBodyThatIsNoDecisionIsRefusedNamingBody() async throws {
        try await withServer { client, _ in
            for bad in [#""hello""#, "[" + Self.locate("a", request: "R1") + ",", "[1,,2]", ""] {
                let answer = try #require(try await Self.decide(client, bad, status: .badRequest) as? [String: Any], "\(bad)")
                #expect(answer["field"] as? String == "body", "\(bad): \(answer)")
            }
            // One message that is not JSON: answered (with no correlation id to name) as a bad message.
            let garbled = try #require(try await Self.decide(client, "{" + Self.locate("a", request: "R1")) as? [String: Any])
            #expect(garbled["correlationId"] is NSNull && garbled["status"] as? Int == 400 && garbled["field"] as? String == "message", "\(garbled)")
            let tooMany = "[" + Array(repeating: Self.locate("a", request: "R1"), count: DecisionMessages.maxPerFrame + 1).joined(separator: ",") + "]"
            _ = try await Self.decide(client, tooMany, status: .contentTooLarge)
            // An empty list is answered with an empty list.
            #expect((try await Self.decide(client, "[]") as? [Any])?.isEmpty == true)
        }
    }

    /// The channel reads a flat message without building a tree when it can; whatever it reads so must be what
    /// the strict reading makes of it, and anything it cannot read so is left to the strict reading.
    @Test func theFastReadingAgreesWithTheStrictOne() {
        let samples = [
            Self.locate("a", request: "R1"),
            #"{"correlationId":"b","type":"locate","requestId":"R2","clientId":"C1","securityId":"IBM","quantity":5,"side":"SHORT","settlement":"SWAP","requestor":"pat"}"#,
            #"{"correlationId":"c","type":"order","orderId":"O1","clientId":"C1","bookId":"C1-FREE","securityId":"IBM","side":"SELL","quantity":10,"price":"100.25"}"#,
            #"{"correlationId":"d","type":"order","orderId":"O2","clientId":"C1","bookId":"C1-FREE","securityId":"IBM","side":"SELL","quantity":10,"price":99.5}"#,
            #"{"correlationId":"e","type":"order","orderId":"O3","clientId":"C1","bookId":"C1-FREE","securityId":"IBM","side":"SELL","quantity":10,"price":7}"#,
            #"{"correlationId":"f","type":"cancelLocate","locateId":"L9","reason":null}"#,
            #"{"correlationId":"g","type":"locate","requestId":"R3","quantity":null}"#,
            // Left to the strict reading: an escape, a repeated key, an unknown key, a wrong type, no correlation id.
            #"{"correlationId":"h","type":"locate","requestId":"R\u0034","clientId":"C1"}"#,
            #"{"correlationId":"i","type":"locate","clientId":"C1","clientId":"C2"}"#,
            #"{"correlationId":"j","type":"locate","colour":"red"}"#,
            #"{"correlationId":"k","type":"locate","quantity":"ten"}"#,
            #"{"type":"locate","requestId":"R5"}"#,
        ]
        var fast = 0
        for sample in samples {
            let bytes = Array(sample.utf8)
            let strict = DecisionMessages.strictMessage(bytes)
            guard let flat = DecisionMessages.flatMessage(bytes) else {
                #expect(DecisionMessages.message(bytes).correlationId == strict.correlationId)
                continue
            }
            fast += 1
            #expect(flat.correlationId == strict.correlationId, "\(sample)")
            #expect(String(describing: flat.request) == String(describing: strict.request), "\(sample)")
        }
        #expect(fast == 7, "the flat messages are read without a tree")
    }

    /// A channel that ends with frames still queued frees its queue: a frame refers to its queue weakly (the
    /// queue holds the frame), so the two do not keep each other alive.
    @Test func aQueueAndItsUndecidedFramesDoNotKeepEachOtherAlive() {
        weak var gone: OutgoingQueue?
        do {
            let queue = OutgoingQueue()
            let frame = DecisionDesk.Frame(
                messages: [], isArray: false, submission: DecisionDesk.Submission(prepared: [], batches: []), requestIndex: [])
            queue.add(.frame(PendingFrame(frame: frame, count: 1, queue: queue)))
            gone = queue
            #expect(gone != nil)
        }
        #expect(gone == nil, "the queue outlived its channel")
    }

    /// A frame decided while the writer waits for something to send wakes it; one not decided yet does not.
    @Test func theWriterWakesForADecidedFrameOnly() async {
        let queue = OutgoingQueue()
        let frame = DecisionDesk.Frame(messages: [], isArray: false, submission: DecisionDesk.Submission(prepared: [], batches: []), requestIndex: [])
        let pending = PendingFrame(frame: frame, count: 1, queue: queue)
        let woke = Atomic<Int>(0)
        let writer = Task {
            while await queue.takeAll() != nil { woke.add(1, ordering: .relaxed) }
        }
        // The writer waits on an empty queue; an undecided frame leaves it waiting.
        try? await Task.sleep(for: .milliseconds(50))
        queue.add(.frame(pending))
        try? await Task.sleep(for: .milliseconds(50))
        #expect(woke.load(ordering: .relaxed) == 0)
        pending.fulfil([])
        for _ in 0..<200 where woke.load(ordering: .relaxed) == 0 { try? await Task.sleep(for: .milliseconds(5)) }
        #expect(woke.load(ordering: .relaxed) == 1)
        queue.finish()
        await writer.value
    }

    /// Answers of several frames ready at once leave as one array of every answer, in order.
    @Test func readyAnswersAreJoinedInOrder() throws {
        let joined = DecisionMessages.joined([
            #"{"correlationId":"a","status":201}"#, "[]", #"[{"correlationId":"b","status":200},{"correlationId":"c","status":400}]"#,
            #"{"type":"backpressure"}"#,
        ])
        let items = try #require(try JSONSerialization.jsonObject(with: Data(joined.utf8)) as? [[String: Any]])
        #expect(items.map { $0["correlationId"] as? String } == ["a", "b", "c", nil])
        #expect(items.last?["type"] as? String == "backpressure")
    }

    @Test func theElementsOfAnArrayAreFoundWhateverTheyHold() {
        func texts(_ s: String) -> [String]? {
            let b = Array(s.utf8)
            return DecisionMessages.elements(of: b, from: 0).map { $0.map { String(decoding: b[$0], as: UTF8.self) } }
        }
        #expect(texts(#"[{"a":"x,]}"},{"b":[1,{"c":"\"]"}]}]"#) == [#"{"a":"x,]}"}"#, #"{"b":[1,{"c":"\"]"}]}"#])
        #expect(texts("[ 1 , \"two\" ,[3]]") == ["1 ", "\"two\" ", "[3]"])
        #expect(texts("[]") == [])
        #expect(texts("[1,]") == nil)
        #expect(texts("[,1]") == nil)
        #expect(texts("[1") == nil)
        #expect(texts("[1] x") == nil)
        #expect(texts("[{]") == nil)
    }
}
