import IMSDomain
import Testing

/// Every JSON body IMS takes is read by `StrictJSON` first: one reading, and the one acted on.
struct StrictJSONTests {
    static func refusal(_ text: String, _ limits: StrictJSON.Limits = .requestBody) -> StrictJSONError? {
        do { _ = try StrictJSON.parse(Array(text.utf8), limits: limits); return nil } catch { return error }
    }

    @Test(arguments: [
        (#"{"clientId":"CL2","quantity":1,"clientId":"CL1"}"#, "clientId"),
        // The same key through an escape: `\u0049` is `I`.
        (#"{"clientId":"CL2","client\u0049d":"CL1"}"#, "clientId"),
        (#"{"a":{"b":1,"b":2}}"#, "a.b"),
        (#"{"list":[{"x":1},{"x":1,"x":2}]}"#, "list[1].x"),
    ])
    func aRepeatedKeyIsRefusedNamingIt(text: String, field: String) {
        let error = Self.refusal(text)
        #expect(error?.field == field, "\(text): \(String(describing: error))")
        #expect(error?.message.contains("more than once") == true)
    }

    @Test func nestingIsBoundedWithoutRecursingIntoIt() {
        // 100,000 levels: refused at the limit, with no stack to exhaust.
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(Self.refusal(deep)?.message.contains("nests deeper than 8") == true)
        let nested = #"{"a":"# + String(repeating: #"{"a":"#, count: 20) + "1" + String(repeating: "}", count: 21)
        #expect(Self.refusal(nested, .ruleDocument)?.message.contains("deeper than 16") == true)
        #expect(Self.refusal(#"{"a":{"b":{"c":[1,2,{"d":null}]}}}"#) == nil)
    }

    @Test func stringsAreCappedAndNamed() {
        let long = #"{"requestor":""# + String(repeating: "x", count: 1_025) + #""}"#
        let error = Self.refusal(long)
        #expect(error?.field == "requestor" && error?.message.contains("longer than 1024") == true, "\(String(describing: error))")
        #expect(Self.refusal(#"{"requestor":""# + String(repeating: "é", count: 512) + #""}"#) == nil, "1,024 bytes is the limit")
    }

    @Test(arguments: [
        #"{"a":01}"#, #"{"a":1.}"#, #"{"a":-}"#, #"{"a":1e}"#, #"{"a":tru}"#, #"{"a":"\x"}"#, #"{"a":"\ud800"}"#,
        "{\"a\":\"tab\there\"}", #"{"a":1,}"#, #"{"a":1} x"#, #"{a:1}"#, "", "[1,2",
    ])
    func malformedJSONIsRefused(text: String) {
        #expect(Self.refusal(text) != nil, "\(text)")
    }

    @Test func invalidUTF8IsRefused() {
        #expect(throws: StrictJSONError.self) { _ = try StrictJSON.parse([0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D], limits: .requestBody) }
    }

    struct Request: Codable {
        var clientId: String?
        var quantity: Int64?
        var when: Condition?
        struct Condition: Codable { var thresholdList: Bool? }
    }

    @Test func unknownKeysAndWrongTypesAreNamed() {
        func error(_ text: String) -> StrictJSONError? {
            do { _ = try StrictJSON.decode(Request.self, from: Array(text.utf8), limits: .requestBody); return nil } catch { return error }
        }
        #expect(error(#"{"clientId":"C1","quantity":5,"when":{"thresholdList":true}}"#) == nil)
        #expect(error(#"{"clientId":"C1","quantity":null}"#) == nil, "null is absent")
        #expect(error(#"{"clientId":"C1","extra":1}"#)?.field == "extra")
        // A misspelt condition is not dropped: it is named.
        #expect(error(#"{"when":{"thresholdlist":true}}"#)?.field == "when.thresholdlist")
        #expect(error(#"{"quantity":1.5}"#)?.field == "quantity")
        #expect(error(#"{"quantity":99999999999999999999}"#)?.field == "quantity")
        #expect(error(#"{"quantity":"5"}"#)?.field == "quantity")
    }
}
