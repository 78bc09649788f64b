import Foundation
import Testing

@testable import IMSServer

/// The decision path reads its small bodies with `FlatJSON`; whatever it reads must be exactly what
/// `JSONBody.decode` reads, and whatever it cannot read exactly it must leave to it.
struct FlatJSONTests {
    static let locateBodies: [String] = [
        #"{"requestId":"r1","clientId":"C1","securityId":"IBM","quantity":100,"side":"SHORT"}"#,
        #"  { "requestId" : "r1" , "clientId":"C1","securityId":"IBM","quantity":-7,"side":"LONG","settlement":"SWAP","requestor":"ann" }  "#,
        #"{"requestId":"r1","clientId":null,"quantity":null}"#,
        #"{}"#,
        // Left to the decoder (which refuses the unknown fields, naming them):
        #"{"requestId":"Zürich-日本","clientId":"C1","securityId":"IBM","quantity":0,"side":"SHORT","extra":true,"more":1.5}"#,
        #"{"requestId":"r\"1","clientId":"C1"}"#,
        #"{"requestId":"r1","quantity":"100"}"#,
        #"{"requestId":"r1","quantity":1.0}"#,
        #"{"requestId":"r1","quantity":1e3}"#,
        #"{"requestId":"r1","quantity":99999999999999999999}"#,
        #"{"requestId":"r1","requestId":"r2"}"#,
        #"{"requestId":"r1","nested":{"a":1}}"#,
        #"{"requestId":"r1"} trailing"#,
        #"{"requestId":"r1",}"#,
        #"["requestId"]"#,
        #"{"requestId":1}"#,
        #"{"requestId":"r1","quantity":-}"#,
        "",
    ]

    static let orderBodies: [String] = [
        #"{"orderId":"o1","clientId":"C1","bookId":"B1","securityId":"IBM","side":"SELL","quantity":10,"price":"101.25"}"#,
        #"{"orderId":"o1","clientId":"C1","bookId":"B1","securityId":"IBM","side":"SELL_SHORT","quantity":10,"price":101.25}"#,
        #"{"orderId":"o1","price":100}"#,
        #"{"orderId":"o1","price":0.1}"#,
        #"{"orderId":"o1","price":null,"user":"bob"}"#,
        #"{"orderId":"o1","price":"1.123456789"}"#,
        #"{"orderId":"o1","price":"abc"}"#,
        #"{"orderId":"o1","price":true}"#,
        #"{"orderId":"o1","price":-5.5}"#,
    ]

    @Test func whatItReadsIsWhatTheDecoderReads() throws {
        var fast = 0
        for text in Self.locateBodies {
            let data = Data(text.utf8)
            let decoded = try? JSONBody.decode(LocateRoutes.RequestBody.self, from: data, shape: "")
            if let read = LocateRoutes.fastBody(data) {
                fast += 1
                #expect(read == decoded, "\(text)")
            }
        }
        for text in Self.orderBodies {
            let data = Data(text.utf8)
            let decoded = try? JSONBody.decode(OrderRoutes.Body.self, from: data, shape: "")
            if let read = OrderRoutes.fastBody(data) {
                fast += 1
                #expect(read == decoded, "\(text)")
            }
        }
        #expect(fast == 10, "the plain bodies are read directly")
        // Those it leaves to the decoder are left, not misread.
        for text in Self.locateBodies[4...] { #expect(LocateRoutes.fastBody(Data(text.utf8)) == nil, "\(text)") }
        for text in Self.orderBodies.suffix(3).prefix(2) { #expect(OrderRoutes.fastBody(Data(text.utf8)) == nil, "\(text)") }
    }
}
