import Foundation
import Hummingbird
import HummingbirdTesting
import IMSEngine
import IMSRuntime
import Testing

@testable import IMSServer

/// Each resource's fields are written in four places: its Swift struct, its JSON writer (the REST answer),
/// its OpenAPI schema and its GraphQL type. This test ties the copies together for every view GraphQL also
/// serves: the REST answer's fields are the OpenAPI schema's (nested objects too), the schema's required
/// fields are in the answer, and GraphQL's fields are the schema's, less those listed here as GraphQL's own
/// (relations) or left out of GraphQL on purpose. A field added to one copy and not the others fails here.
struct ViewFieldTests {
    struct View: Sendable {
        /// The OpenAPI component and the GraphQL type (nil: REST only).
        var schema: String
        var graphQL: String?
        /// A REST path whose answer (or whose first item, at `pick`) is one instance.
        var path: String
        var pick: @Sendable (Any) -> [String: Any]?
        /// Fields GraphQL has that the REST answer has not (relations, flattened parts).
        var graphQLOwn: Set<String> = []
        /// Fields the REST answer has that GraphQL leaves out (with why, in the table below).
        var notInGraphQL: Set<String> = []
    }

    static func object(_ any: Any) -> [String: Any]? { any as? [String: Any] }
    static func first(_ key: String) -> @Sendable (Any) -> [String: Any]? { { (($0 as? [String: Any])?[key] as? [[String: Any]])?.first } }
    static func firstItem(_ any: Any) -> [String: Any]? { (any as? [[String: Any]])?.first }

    static let views: [View] = [
        View(schema: "Position", graphQL: "Position", path: "/api/v1/positions/FIRM1/AAPL", pick: object, graphQLOwn: ["book", "security"]),
        View(schema: "LadderRow", graphQL: "LadderRow", path: "/api/v1/positions/FIRM1/AAPL", pick: { (object($0)?["ladder"] as? [[String: Any]])?.first }),
        View(
            schema: "Exception", graphQL: "Exception", path: "/api/v1/exceptions", pick: firstItem,
            // The refused line's text is the desk's to read in REST; GraphQL lists the exception without it.
            notInGraphQL: ["raw"]),
        View(
            schema: "Book", graphQL: "Book", path: "/api/v1/books/FIRM1", pick: object, graphQLOwn: ["positions"],
            // A book's per-market unit map is a JSON object keyed by market: GraphQL has no map type.
            notInGraphQL: ["aggregationUnits"]),
        View(schema: "Counterparty", graphQL: "Counterparty", path: "/api/v1/counterparties/CP1", pick: object),
        View(schema: "AggregationUnit", graphQL: "AggregationUnit", path: "/api/v1/aggregation-units/U1", pick: object),
        View(schema: "Calculations", graphQL: "Calculations", path: "/api/v1/inventory/AAPL", pick: { object($0)?["calculations"] as? [String: Any] }),
        View(
            schema: "Inventory", graphQL: "Inventory", path: "/api/v1/inventory/AAPL", pick: object,
            // GraphQL lists the buckets as name/quantity pairs and the ladder as days (`InventoryLadderDay`);
            // the explanation is REST's (`?explain=true`).
            notInGraphQL: ["explain"]),
        View(
            schema: "PriceTick", graphQL: "Price", path: "/api/v1/securities/AAPL", pick: { object($0)?["lastPrice"] as? [String: Any] },
            // GraphQL reaches a price through its security.
            notInGraphQL: ["securityId"]),
        // REST only: the answer's fields are the schema's.
        View(schema: "SecurityView", graphQL: nil, path: "/api/v1/securities/AAPL", pick: object),
        View(schema: "Security", graphQL: nil, path: "/api/v1/securities/AAPL", pick: { object($0)?["security"] as? [String: Any] }),
        View(schema: "MarketView", graphQL: nil, path: "/api/v1/markets/US", pick: object),
        View(schema: "Market", graphQL: nil, path: "/api/v1/markets/US", pick: { object($0)?["market"] as? [String: Any] }),
        View(schema: "Locate", graphQL: nil, path: "/api/v1/locates", pick: first("items")),
        View(schema: "OrderDecision", graphQL: nil, path: "/api/v1/orders", pick: first("items")),
        View(schema: "InventoryRow", graphQL: nil, path: "/api/v1/inventory", pick: first("items")),
        View(schema: "FXRate", graphQL: nil, path: "/api/v1/fx-rates", pick: firstItem),
    ]

    static let setup =
        GraphQLTests.setup + "\n" + """
            {"type":"aggregationUnit","aggregationUnitId":"U1","name":"US desk","marketId":"US","legalEntity":"PB-US","unitType":"NET","isDefault":true}
            {"type":"fxRate","currency":"JPY","usdRate":"0.0067"}
            {"type":"counterparty","counterpartyId":"C1","name":"Fund one","kind":"CLIENT"}
            {"type":"trade","tradeId":"BAD","quantity":-1}
            """

    /// Every object schema's properties and required names, from the served OpenAPI document.
    static func schemas() throws -> [String: (properties: Set<String>, required: Set<String>)] {
        let document = try JSONSerialization.jsonObject(with: OpenAPIDocument.json) as! [String: Any]
        let components = (document["components"] as! [String: Any])["schemas"] as! [String: [String: Any]]
        return components.mapValues { (Set(($0["properties"] as? [String: Any] ?? [:]).keys), Set($0["required"] as? [String] ?? [])) }
    }

    @Test func restOpenAPIAndGraphQLAgreeOnEveryViewsFields() async throws {
        let schemas = try Self.schemas()
        let engine = Engine()
        defer { engine.stop() }
        let app = Application(router: IMSApplication.router(engine: engine, configuration: ServerConfiguration()))
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/v1/events?mode=partial", method: .post, body: ByteBuffer(string: Self.setup)) { _ in }
            try await client.execute(
                uri: "/api/v1/locates", method: .post,
                body: ByteBuffer(string: #"{"requestId":"r1","clientId":"C1","securityId":"AAPL","quantity":10,"side":"SHORT"}"#)
            ) { #expect($0.status == .created) }
            try await client.execute(
                uri: "/api/v1/orders/validate", method: .post,
                body: ByteBuffer(string: #"{"orderId":"O1","clientId":"C1","bookId":"CL1","securityId":"AAPL","side":"SELL_SHORT","quantity":5,"price":"300"}"#)
            ) { #expect($0.status == .ok) }
            for view in Self.views {
                let data = try await client.execute(uri: view.path, method: .get) { Data($0.body.readableBytesView) }
                let answer = try JSONSerialization.jsonObject(with: data)
                let instance = try #require(view.pick(answer), "\(view.path) gave no \(view.schema)")
                guard let schema = schemas[view.schema] else { Issue.record("no OpenAPI schema \(view.schema)"); continue }
                let written = Set(instance.keys), documented = schema.properties
                #expect(written.isSubset(of: documented), "\(view.schema): written but not in OpenAPI: \(written.subtracting(documented).sorted())")
                #expect(
                    schema.required.isSubset(of: written),
                    "\(view.schema): required in OpenAPI but not written: \(schema.required.subtracting(written).sorted())")
                guard let graphQL = view.graphQL else { continue }
                let (_, body) = try await GraphQLTests.post(client, #"{ __type(name: "\#(graphQL)") { fields { name } } }"#)
                let fields = Set(
                    (((body["data"] as? [String: Any])?["__type"] as? [String: Any])?["fields"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String })
                #expect(!fields.isEmpty, "no GraphQL type \(graphQL)")
                let graphQLFields = fields.subtracting(view.graphQLOwn)
                #expect(graphQLFields.isSubset(of: documented), "\(graphQL): in GraphQL but not in OpenAPI: \(graphQLFields.subtracting(documented).sorted())")
                let expectedInGraphQL = documented.subtracting(view.notInGraphQL)
                #expect(
                    expectedInGraphQL.isSubset(of: fields), "\(view.schema): in OpenAPI but not in GraphQL: \(expectedInGraphQL.subtracting(fields).sorted())")
            }
        }
    }
}
