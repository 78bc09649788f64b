import Foundation
import HTTPTypes
import IMSDomain
import IMSEngine
import IMSRules

/// The OpenAPI 3 description of every REST endpoint, served at `/openapi.json`.
///
/// Written as data with a few helpers; the test command validates it and runs
/// schemathesis against a live server, so a response that drifts from it fails CI.
enum OpenAPIDocument {
    typealias JSON = [String: Any]

    static let json: Data = {
        (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .prettyPrinted])) ?? Data()
    }()

    // MARK: Helpers

    static func ref(_ name: String) -> JSON { ["$ref": "#/components/schemas/\(name)"] }
    static func array(_ items: JSON) -> JSON { ["type": "array", "items": items] }
    static var string: JSON { ["type": "string"] }
    static var integer: JSON { ["type": "integer", "format": "int64"] }
    static var number: JSON { ["type": "number"] }
    static var boolean: JSON { ["type": "boolean"] }
    static var date: JSON { ["type": "string", "format": "date"] }
    static var timestamp: JSON { ["type": "string", "format": "date-time"] }
    static func enumeration(_ values: [String]) -> JSON { ["type": "string", "enum": values] }

    static func object(_ required: [String: JSON], optional: [String: JSON] = [:], description: String? = nil) -> JSON {
        var o: JSON = ["type": "object", "properties": required.merging(optional) { a, _ in a }]
        // OpenAPI 3.0 wants at least one name in `required` when it is given.
        if !required.isEmpty { o["required"] = required.keys.sorted() }
        if let description { o["description"] = description }
        return o
    }

    /// A query parameter; a plain string one is bounded as the server reads it (`QueryParameters.bound(of:)`: an
    /// identifier's 128 bytes, free text's 1,024), a longer value being answered 400 naming it.
    static func query(_ name: String, _ schema: JSON, _ description: String) -> JSON {
        var schema = schema
        if schema.count == 1, schema["type"] as? String == "string" { schema["maxLength"] = QueryParameters.bound(of: name) }
        return ["name": name, "in": "query", "required": false, "schema": schema, "description": description]
    }

    static func path(_ name: String, _ description: String) -> JSON {
        ["name": name, "in": "path", "required": true, "schema": string, "description": description]
    }

    static func response(_ description: String, _ schema: JSON) -> JSON {
        ["description": description, "content": ["application/json": ["schema": schema]]]
    }

    static var error: JSON { response("Error naming the field or parameter at fault", ref("Error")) }
    static var badParameter: JSON { response("A query parameter is malformed or out of range", ref("Error")) }

    static func get(_ summary: String, tag: String, parameters: [JSON] = [], responses: [String: JSON]) -> JSON {
        ["get": ["summary": summary, "tags": [tag], "parameters": parameters, "responses": responses]]
    }

    static func post(_ summary: String, tag: String, parameters: [JSON] = [], body: JSON, responses: [String: JSON]) -> JSON {
        [
            "post": [
                "summary": summary, "tags": [tag], "parameters": parameters,
                "requestBody": ["required": true, "content": ["application/json": ["schema": body]]], "responses": responses,
            ]
        ]
    }

    /// The rule lifecycle's paths: one per step.
    static var rulePaths: [String: JSON] {
        let version: JSON = [
            "name": "version", "in": "path", "required": true, "schema": ["type": "integer", "minimum": 1, "maximum": 1_000_000],
            "description": "A rule set version number",
        ]
        let step = object(
            [:], optional: ["user": string, "comment": string],
            description: "Who takes the step (signed in, the caller's identity is recorded instead; without authentication, named here), and why")
        let refused = response("Refused: the field at fault is named (a document that does not compile, the wrong status, the author approving)", ref("Error"))
        var paths: [String: JSON] = [
            "/api/v1/rules": get(
                "The rule set versions and the one in force", tag: "rules",
                responses: ["200": response("Every version", object(["activeVersion": integer, "versions": array(ref("RuleVersion"))]))]),
            "/api/v1/rules/audit": get(
                "Every lifecycle step: who, when, what, and what a draft changed", tag: "rules",
                responses: ["200": response("The audit trail, oldest first", array(ref("RuleAudit")))]),
            "/api/v1/rules/{version}": get(
                "One version with its document", tag: "rules", parameters: [version],
                responses: ["200": response("The version", ref("RuleVersion")), "400": badParameter, "404": error]),
            "/api/v1/rules/{version}/export": get(
                "A version's document, keys sorted: the same version always gives the same bytes", tag: "rules",
                parameters: [version],
                responses: ["200": response("The rule set document", ref("RuleSet")), "400": badParameter, "404": error]),
            "/api/v1/rules/{version}/preview": get(
                "What-if: every security's calculations under this version against the rules in force, largest changes first; changes nothing",
                tag: "rules",
                parameters: [version, query("limit", ["type": "integer", "minimum": 1, "maximum": 10_000, "default": 100], "Differences to list at most")],
                responses: [
                    "200": response("The differences", ref("RulePreview")), "400": badParameter, "404": error,
                    "503": response("Too many long reads (previews, aggregates) are waiting; retry after `Retry-After` seconds", ref("Error")),
                ]),
            "/api/v1/me": get(
                "Who the caller is: subject, roles and client (every role may ask)", tag: "operations",
                responses: [
                    "200": response(
                        "The caller",
                        object(
                            [
                                "subject": string, "roles": array(enumeration(Role.allCases.map(\.rawValue))),
                                "authenticated": boolean,
                            ], optional: ["clientId": string]))
                ]),
            "/api/v1/rules/drafts": post(
                "Draft a new version from a rule set document (it must compile)", tag: "rules",
                body: object([:], optional: ["user": string, "comment": string, "document": ref("RuleSet")]),
                responses: ["201": response("The new draft", ref("RuleVersion")), "400": error, "413": error, "422": refused, "503": error]),
            "/api/v1/rules/import": post(
                "Import an exported document as a new draft", tag: "rules",
                parameters: [query("user", string, "Who imports it"), query("comment", string, "Why")],
                body: ref("RuleSet"),
                responses: ["201": response("The new draft", ref("RuleVersion")), "400": badParameter, "413": error, "422": refused, "503": error]),
        ]
        let steps: [(String, String)] = [
            ("preview", "Record that the version was previewed (required before approval) and answer the what-if"),
            ("approve", "Approve a previewed version: the approver must not be its author"),
            ("reject", "Reject a version that is not in force"),
            ("activate", "Put an approved version in force, at once (the one before is superseded)"),
        ]
        // GET and POST share the preview path: each step's POST is merged into what the path has.
        for (name, summary) in steps {
            let ok = name == "preview" ? response("The what-if", ref("RulePreview")) : response("The version after the step", ref("RuleVersion"))
            let path = "/api/v1/rules/{version}/\(name)"
            paths[path] = (paths[path] as? JSON ?? [:]).merging(
                post(
                    summary, tag: "rules", parameters: [version], body: step,
                    responses: ["200": ok, "400": error, "422": refused, "503": error])
            ) { a, _ in a }
        }
        return paths
    }

    static var offset: JSON { query("offset", ["type": "integer", "minimum": 0, "maximum": 2_147_483_647, "default": 0], "Items to skip") }
    static var limit: JSON { query("limit", ["type": "integer", "minimum": 1, "maximum": 10_000, "default": 100], "Items to return at most") }

    static func page(_ item: String) -> JSON {
        object(["items": array(ref(item)), "total": integer, "offset": integer, "limit": integer])
    }

    // MARK: The document

    static var document: JSON {
        [
            "openapi": "3.0.3",
            "info": [
                "title": "IMS — inventory management for prime brokers",
                "version": "1.0.0",
                "description":
                    "Real-time positions and settlement ladders from reference data, trades, SOD positions, contracts and market data. WebSocket streams (/ws/position, /ws/market-data, /ws/exceptions, /ws/inventory, /ws/locate, /ws/limits) are described in docs/streams.md, GraphQL (/graphql) in docs/graphql.md. The decision channel, /ws/decisions (roles client and operator), is a WebSocket that takes what POST /api/v1/decisions takes, one decision or an array of them per text frame, each with its correlationId, and answers each frame as soon as it is decided and durable, in order, answers ready at once leaving together as one JSON array (pair them by correlationId; docs/locates.md, with a Python example); a connection with 10,000 answers unread (decisionChannelMaxUnread) is read no further until its client reads, and is told so: {\"type\":\"backpressure\",\"unread\":n,\"limit\":l,\"error\":…}.",
            ],
            "paths": secured(paths.merging(rulePaths) { a, _ in a }.merging(locatePaths) { a, _ in a }.merging(historyPaths) { a, _ in a }),
            "components": [
                "schemas": schemas.merging(locateSchemas) { a, _ in a },
                "securitySchemes": [
                    "bearer": ["type": "http", "scheme": "bearer", "description": "An API key (`ims keys create`) as a bearer token"],
                    "apiKey": ["type": "apiKey", "in": "header", "name": "X-API-Key", "description": "An API key in its own header"],
                ],
            ],
        ]
    }

    /// Every operation the access policy guards names the security schemes and its 401 and 403 answers
    /// (docs/security.md); the roles it needs are in its description. The open ones are left as they are.
    static func secured(_ paths: JSON) -> JSON {
        var out = paths
        for (path, item) in paths {
            guard var operations = item as? JSON else { continue }
            let concrete = path.replacingOccurrences(of: #"\{[^}]+\}"#, with: "X", options: .regularExpression)
            for (method, value) in operations {
                guard var operation = value as? JSON, let m = HTTPRequest.Method(method.uppercased()),
                    case .roles(let roles, _)? = AccessPolicy.rule(method: m, path: concrete)?.access
                else { continue }
                operation["security"] = [["bearer": [String]()], ["apiKey": [String]()]]
                var responses = operation["responses"] as? JSON ?? [:]
                responses["401"] = responses["401"] ?? response("No credential, or not a valid one (when the server runs with API keys)", ref("Error"))
                responses["403"] =
                    responses["403"] ?? response("The key lacks the role: \(roles.sorted().map(\.rawValue).joined(separator: " or "))", ref("Error"))
                responses["429"] = responses["429"] ?? response("Over the identity's requests a second (see Retry-After)", ref("Error"))
                operation["responses"] = responses
                operations[method] = operation
            }
            out[path] = operations
        }
        return out
    }

    static var paths: JSON {
        [
            "/api/v1/events": [
                "post": [
                    "summary": "Ingest a batch of events (NDJSON, or CSV with a header row)",
                    "tags": ["events"],
                    "parameters": [
                        query(
                            "mode", enumeration(["atomic", "partial"]),
                            "atomic (default): all lines or none; partial: good lines applied, bad ones kept as exceptions"),
                        query("type", string, "Event type of CSV lines without a type column"),
                    ],
                    "requestBody": [
                        "required": true,
                        "content": [
                            "application/x-ndjson": ["schema": ["type": "string", "description": "One JSON event object per line (SPEC 2)"]],
                            "text/csv": ["schema": ["type": "string", "description": "A header row of field names, then one event per line"]],
                        ],
                    ],
                    "responses": [
                        "200": response("Durable and applied (lines of a partial batch may be rejected)", ref("BatchOutcome")),
                        "400": response("The body holds no events, or a parameter is malformed", ref("Error")),
                        "413": response("The body is larger than the server accepts", ref("Error")),
                        "422": response("An atomic batch with bad lines: nothing applied, every bad line listed", ref("BatchOutcome")),
                        "503": response("The engine is overloaded or the journal cannot write; nothing applied, retry", ref("Error")),
                    ],
                ]
            ],
            "/api/v1/positions/{bookId}/{securityId}": get(
                "One position with its settlement ladder, now or as of a journal point", tag: "positions",
                parameters: [
                    path("bookId", "Book"), path("securityId", "Security (internal id)"),
                    query("asOf", string, "A journal sequence number or an ISO-8601 timestamp"),
                ],
                responses: [
                    "200": response("The position", ref("Position")), "400": badParameter,
                    "404": response("Unknown book or security, or no position", ref("Error")),
                    "500": response("The journal could not be replayed to that point (damaged before it)", ref("Error")),
                    "503": response("Too many as-of replays are waiting; retry shortly", ref("Error")),
                ]),
            "/api/v1/positions": get(
                "Positions matching filters, paged", tag: "positions",
                parameters: PositionFilter.fields.map { query($0.name, $0.values.map(enumeration) ?? string, $0.description) } + [offset, limit],
                responses: [
                    "200": response("A page of positions", page("Position")), "400": badParameter,
                    "503": response("Too many reads are waiting; retry shortly", ref("Error")),
                ]),
            "/api/v1/markets": get(
                "Markets with business date and ladder dates", tag: "markets",
                responses: ["200": response("Every market", array(ref("MarketView")))]),
            "/api/v1/markets/{marketId}": get(
                "One market", tag: "markets", parameters: [path("marketId", "Market code such as US")],
                responses: ["200": response("The market", ref("MarketView")), "404": error]),
            "/api/v1/markets/{marketId}/calendar": get(
                "Trading and settlement days of a market", tag: "markets",
                parameters: [path("marketId", "Market"), query("from", date, "First date"), query("to", date, "Last date (at most 4000 days after from)")],
                responses: ["200": response("The calendar", ref("Calendar")), "400": badParameter, "404": error]),
            "/api/v1/securities": get(
                "Search securities, or look one up by any identifier", tag: "reference data",
                parameters: [
                    query("q", string, "Text in name, ticker or identifiers"), query("marketId", string, "Market"),
                    query("identifier", string, "Exact securityId, ISIN, CUSIP, SEDOL, ticker, RIC or Bloomberg id"), offset, limit,
                ],
                responses: ["200": response("A page of securities", page("SecurityView")), "400": badParameter]),
            "/api/v1/securities/{securityId}": get(
                "One security with its last price", tag: "reference data", parameters: [path("securityId", "Internal id or any identifier")],
                responses: ["200": response("The security", ref("SecurityView")), "404": error]),
            "/api/v1/securities/{securityId}/bars": get(
                "A security's intraday price bars of its market's business day (5 minutes each, at most a day's; kept in the snapshot): the open, high, low and last price of the ticks in each interval, oldest first, the last still open",
                tag: "reference data", parameters: [path("securityId", "Internal id or any identifier")],
                responses: [
                    "200": response(
                        "The day's bars",
                        object(
                            [
                                "securityId": string, "marketId": string, "intervalMinutes": integer,
                                "bars": array(object(["start": timestamp, "open": number, "high": number, "low": number, "close": number, "ticks": integer])),
                            ], optional: ["businessDate": date])), "404": error,
                ]),
            "/api/v1/securities/{securityId}/availability": get(
                "Lenders' availability of a security", tag: "reference data", parameters: [path("securityId", "Security")],
                responses: ["200": response("Availability by lender", array(ref("Availability")))]),
            "/api/v1/financing/contracts": get(
                "Stock borrow/loan view: contracts with their open quantity, and totals by kind", tag: "financing",
                parameters: [
                    query("securityId", string, "Security"), query("counterpartyId", string, "Counterparty"), query("bookId", string, "Book"),
                    query("kind", enumeration(ContractKind.allCases.map(\.rawValue)), "Contract kind"),
                    query("status", enumeration(ContractStatus.allCases.map(\.rawValue)), "Contract status"),
                ],
                responses: [
                    "200": response(
                        "The matching contracts",
                        object([
                            "contracts": array(object(["contract": ref("Contract"), "openQuantity": integer])),
                            "openByKind": ["type": "object", "additionalProperties": integer], "recalledQuantity": integer, "returnedQuantity": integer,
                        ])), "400": badParameter,
                ]),
            "/api/v1/financing/availability": get(
                "Lender availability by lender, security and type, with totals", tag: "financing",
                parameters: [
                    query("securityId", string, "Security"), query("sourceId", string, "Lender"),
                    query("availabilityType", enumeration(AvailabilityType.allCases.map(\.rawValue)), "Type"),
                ],
                responses: [
                    "200": response(
                        "The matching lines",
                        object([
                            "lines": array(ref("Availability")), "totalByType": ["type": "object", "additionalProperties": integer],
                            "totalByLender": ["type": "object", "additionalProperties": integer],
                        ])), "400": badParameter,
                ]),
            "/api/v1/limits/units/{aggregationUnitId}": get(
                "An aggregation unit's long and short sell limits, in every security it holds or in one", tag: "limits",
                parameters: [path("aggregationUnitId", "Aggregation unit"), query("securityId", string, "Only this security (id or identifier)")],
                responses: [
                    "200": response(
                        "The limits, by security",
                        array(
                            object([
                                "aggregationUnitId": string, "securityId": string, "marketId": string, "longSellLimit": integer,
                                "shortSellLimit": integer, "ruleVersion": integer,
                            ]))), "400": badParameter, "404": error,
                ]),
            "/api/v1/limits/clients/{clientId}": get(
                "A client's long and short sell limits, in every security its books hold or in one", tag: "limits",
                parameters: [path("clientId", "Client (a book's clientId)"), query("securityId", string, "Only this security (id or identifier)")],
                responses: [
                    "200": response(
                        "The limits, by security",
                        array(
                            object([
                                "clientId": string, "securityId": string, "marketId": string, "longSellLimit": integer,
                                "shortSellLimit": integer, "ruleVersion": integer,
                            ]))), "400": badParameter, "404": error,
                ]),
            "/api/v1/inventory": get(
                "Every security's calculations under the active rules, with USD values where priced; filtered, sorted, paged", tag: "inventory",
                parameters: [
                    query("marketId", string, "Market"), query("region", enumeration(Region.allCases.map(\.rawValue)), "Region"),
                    query("sort", enumeration(InventorySort.allCases.map(\.rawValue)), "securityId (default), or a calculation, largest first"),
                    offset, limit,
                ],
                responses: ["200": response("A page of rows", page("InventoryRow")), "400": badParameter]),
            "/api/v1/inventory/aggregates": get(
                "Calculations summed by market or region: quantities, and USD values of the priced securities", tag: "inventory",
                parameters: [
                    query(
                        "by", enumeration(["market", "region", "legalEntity", "aggregationUnit"]), "market (default), region, legalEntity or aggregationUnit")
                ],
                responses: [
                    "200": response("One row per group", array(ref("InventoryAggregate"))), "400": badParameter,
                    "503": response("Too many long reads (previews, aggregates) are waiting; retry after `Retry-After` seconds", ref("Error")),
                ]),
            "/api/v1/inventory/top": get(
                "Top lists: hard-to-borrow names whose shorts most exceed what can be located, or the largest overborrows", tag: "inventory",
                parameters: [
                    query("list", enumeration(["constrained", "overborrow"]), "constrained (default) or overborrow"),
                    query("limit", ["type": "integer", "minimum": 1, "maximum": 1_000, "default": 20], "Rows at most"),
                ],
                responses: ["200": response("The list", array(ref("InventoryRow"))), "400": badParameter]),
            "/api/v1/inventory/{securityId}": get(
                "A security's inventory: its buckets and each calculation under the active rules, with explain=true how each number is made, now or as of a journal point",
                tag: "inventory",
                parameters: [
                    path("securityId", "Internal id or any identifier"),
                    query(
                        "explain", ["type": "boolean", "default": false],
                        "Add the breakdown: calculations into buckets, buckets into books, contracts and lenders"),
                    query("aggregationUnitId", string, "Only this aggregation unit's share (positions and contracts of its books; the firm's lender lines)"),
                    query("legalEntity", string, "Only this legal entity's share (not with aggregationUnitId or clientId)"),
                    query(
                        "clientId", string,
                        "Only this client's share: the positions and contracts of its books, its approved locates and sells (not with the other two)"),
                    query("asOf", string, "As of a journal sequence number or an ISO-8601 timestamp (replayed from the journal)"),
                ],
                responses: [
                    "200": response("The inventory", ref("Inventory")), "400": badParameter, "404": error,
                    "500": response("The journal could not be replayed to that point (damaged before it)", ref("Error")),
                    "503": response("Too many as-of replays are waiting; retry shortly", ref("Error")),
                ]),
            "/api/v1/books": get("Books", tag: "reference data", responses: ["200": response("Every book", array(ref("Book")))]),
            "/api/v1/books/{bookId}": get(
                "One book", tag: "reference data", parameters: [path("bookId", "Book")],
                responses: ["200": response("The book", ref("Book")), "404": error]),
            "/api/v1/counterparties": get(
                "Counterparties", tag: "reference data",
                responses: ["200": response("Every counterparty", array(ref("Counterparty")))]),
            "/api/v1/counterparties/{counterpartyId}": get(
                "One counterparty", tag: "reference data", parameters: [path("counterpartyId", "Counterparty")],
                responses: ["200": response("The counterparty", ref("Counterparty")), "404": error]),
            "/api/v1/aggregation-units": get(
                "Aggregation units", tag: "reference data",
                responses: ["200": response("Every aggregation unit", array(ref("AggregationUnit")))]),
            "/api/v1/aggregation-units/{aggregationUnitId}": get(
                "One aggregation unit", tag: "reference data", parameters: [path("aggregationUnitId", "Aggregation unit")],
                responses: ["200": response("The aggregation unit", ref("AggregationUnit")), "404": error]),
            "/api/v1/contracts": get(
                "Financing contracts", tag: "financing", parameters: [query("securityId", string, "Only this security")],
                responses: ["200": response("Contracts", array(ref("Contract"))), "400": badParameter]),
            "/api/v1/fx-rates": get("FX rates", tag: "market data", responses: ["200": response("The last rate of each currency", array(ref("FXRate")))]),
            "/api/v1/exceptions": get(
                "Exceptions: rejected input, late trades, stale snapshots, feed gaps, journal repairs and outages", tag: "operations",
                parameters: [
                    query("afterId", ["type": "integer", "minimum": 0], "Only exceptions after this id"),
                    query("kind", enumeration(ExceptionKind.allCases.map(\.rawValue)), "Only this kind"),
                    query("acknowledged", boolean, "Only those acknowledged (true) or not yet (false)"),
                    query("limit", ["type": "integer", "minimum": 1, "maximum": 10_000, "default": 100], "At most"),
                ],
                responses: ["200": response("Exceptions, oldest first", array(ref("Exception"))), "400": badParameter]),
            "/api/v1/exceptions/acknowledge": post(
                "Acknowledge exceptions the desk has dealt with: journaled and audited; who acknowledged is the identity signed in (else the body's user); those acknowledged before keep their first acknowledgement",
                tag: "operations",
                body: object(
                    [
                        "exceptionIds": [
                            "type": "array", "minItems": 1, "maxItems": ExceptionCommand.maxExceptions, "items": ["type": "integer", "minimum": 1],
                        ]
                    ],
                    optional: ["note": ["type": "string", "maxLength": ExceptionCommand.maxNoteBytes], "user": string]),
                responses: [
                    "200": response("The exceptions as they now are", object(["acknowledged": integer, "exceptions": array(ref("Exception"))])),
                    "400": error, "404": response("An exception named is unknown or no longer kept", ref("Error")), "413": error,
                    "422": response("Refused, naming the field (nothing is applied; journaled and on the audit trail)", ref("Error")), "503": error,
                ]),
            "/api/v1/audit": get(
                "The audit trail: every change made through the API, who made it and what came of it (from the journal: it survives restarts)",
                tag: "operations",
                parameters: [
                    query("user", string, "Only this identity (key:<id>:<name>, jwt:<subject>)"),
                    query(
                        "action", string,
                        "Only this action: RULE_DRAFT, RULE_APPROVE, LOCATE_DECIDE, ORDER_VALIDATE, ORDER_CANCEL, EVENTS, FIX_LOGON, FIX_REFUSED…"),
                    query("subject", string, "Only entries whose subject contains this (L12, v3, TRADE)"),
                    query("from", timestamp, "At or after this time"), query("to", timestamp, "At or before this time"),
                    query("afterId", ["type": "integer", "minimum": 0], "Only entries after this id (the last page's nextAfterId)"),
                    query("limit", ["type": "integer", "minimum": 1, "maximum": 10_000, "default": 100], "At most"),
                ],
                responses: ["200": response("Entries, oldest first", ref("AuditPage")), "400": badParameter]),
            "/health": get(
                "Engine, journal and change-feed status", tag: "operations",
                responses: [
                    "200": response(
                        "Serving (status degraded while the journal cannot write, or after `ims journal repair` until its JOURNAL_REPAIRED exception is acknowledged)",
                        ref("Health"))
                ]),
            "/health/live": get(
                "Liveness: the process answers", tag: "operations",
                responses: ["200": response("Live", object(["status": enumeration(["live"])]))]),
            "/health/ready": get(
                "Readiness: recovered and the journal writable", tag: "operations",
                responses: [
                    "200": response("Ready for traffic", object(["status": enumeration(["ready"])])),
                    "503": response("Not ready, and why", object(["status": enumeration(["unavailable"]), "reason": string])),
                ]),
            "/health/leader": get(
                "Whether this node takes writes: 200 on the leader (and on every node whose journal is not replicated), 503 on a standby or a candidate, for a balancer that sends writes to the leader",
                tag: "operations",
                responses: [
                    "200": response("This node leads", object(["role": enumeration(["leader"])], optional: ["leader": string])),
                    "503": response(
                        "This node does not lead; `leader` is where the leader serves, when known",
                        object(["role": enumeration(["standby", "candidate"])], optional: ["leader": string])),
                ]),
            "/api/v1/cluster/step-down": [
                "post": [
                    "summary":
                        "Moves leadership by hand: the leader writes its resignation to the journal topic and follows it; a standby takes over at once (admin; `--journal kafka` only)",
                    "tags": ["operations"], "parameters": [JSON](),
                    "responses": [
                        "200": response("Stepped down", object(["steppedDown": boolean, "node": string])),
                        "409": response("This node does not lead, or its journal is not replicated", ref("Error")),
                        "503": response("This node is a standby: the leader is named in IMS-Leader", ref("Error")),
                    ],
                ]
            ],
            "/health/state": get(
                "The SHA-256 of the state's canonical text and the journal record it stands at: two nodes at the same record hold the same state when their hashes agree",
                tag: "operations",
                parameters: [query("parts", boolean, "Each part's hash too (positions, inventory, exceptions…), so that two nodes that differ say in what")],
                responses: [
                    "200": response(
                        "The state's hash",
                        object(
                            ["appliedRecord": integer, "lastSequence": integer, "sha256": string],
                            optional: ["parts": ["type": "object", "additionalProperties": string, "description": "Each part's SHA-256, by the part's name"]])),
                    "400": badParameter,
                ]),
            "/metrics/history": get(
                "The operations view's figures over the last hour, every 10 s: events applied per second, the writer's time per drain (p50, p99) and the change feed's lag; in memory (a restart starts a new hour)",
                tag: "operations",
                responses: [
                    "200": response(
                        "The points, oldest first",
                        object([
                            "intervalSeconds": number,
                            "points": array(
                                object(
                                    ["time": number, "eventsPerSecond": number, "feedLag": integer],
                                    optional: ["applyP50Milliseconds": number, "applyP99Milliseconds": number])),
                        ]))
                ]),
            "/metrics": [
                "get": [
                    "summary": "Metrics in the Prometheus text format (docs/operations.md)", "tags": ["operations"], "parameters": [JSON](),
                    "responses": ["200": ["description": "Every metric", "content": ["text/plain": ["schema": string]]]],
                ]
            ],
        ]
    }

    static var schemas: JSON {
        let positionTypes = PositionType.allCases.map(\.rawValue)
        return [
            "Error": object(["error": string], optional: ["field": string]),
            "BatchOutcome": object([
                "accepted": integer, "ignored": integer, "lastSequence": integer,
                "rejected": array(object(["line": integer, "field": string, "error": string])),
            ]),
            "LadderRow": object(["date": date, "receipt": integer, "deliver": integer, "projectedSettled": integer]),
            "Position": object(
                [
                    "bookId": string, "securityId": string, "marketId": string, "contractualQty": integer, "settledQty": integer,
                    "intradayBuys": integer, "intradaySells": integer, "intradayShortSells": integer, "ladder": array(ref("LadderRow")),
                    "projectedNetPosition": integer,
                    "later": object([
                        "receipt": integer, "deliver": integer,
                        "entries": array(object(["date": date, "receipt": integer, "deliver": integer])),
                    ]),
                    "sodContractualQty": integer, "sodSettledQty": integer, "sodReceived": boolean,
                    "positionType": enumeration(positionTypes), "legalEntity": string,
                ], optional: ["businessDate": date, "aggregationUnitId": string]),
            "Market": object(
                [
                    "marketId": string, "name": string, "mics": array(string), "country": string, "timeZone": string, "currency": string,
                    "settlementCycles": array(object(["days": integer, "effectiveFrom": date])),
                    "shortSale": object(
                        [
                            "requirement": enumeration(ShortSaleRegime.Requirement.allCases.map(\.rawValue)),
                            "priceFloor": enumeration(ShortSaleRegime.PriceFloor.allCases.map(\.rawValue)),
                            "priceTest": enumeration(ShortSaleRegime.PriceTest.allCases.map(\.rawValue)),
                            "priceTestTriggerPercent": integer, "designatedList": boolean,
                        ],
                        description:
                            "What a short sale in the market needs first, the floor on its price, and the price test a fall from the previous close starts (SPEC 4.3); the order checks read it"
                    ),
                ], optional: ["calendarSource": string]),
            "MarketView": object(
                [
                    "market": ref("Market"), "settlementLadder": array(date), "calendarRange": array(date),
                    "holidaysPublishedThrough": date, "calendarSource": string, "securities": integer,
                ], optional: ["businessDate": date]),
            "Calendar": object([
                "marketId": string, "from": date, "to": date, "source": string, "holidaysPublishedThrough": date,
                "days": array(object(["date": date, "trading": boolean, "settlement": boolean])),
            ]),
            "Security": object(
                [
                    "marketId": string, "assetType": enumeration(AssetType.allCases.map(\.rawValue)),
                    "temperature": enumeration(Temperature.allCases.map(\.rawValue)), "easyToBorrow": boolean, "thresholdList": boolean,
                    "restricted": boolean, "shortSellEligible": boolean, "constituents": array(object(["securityId": string, "weight": number])),
                ],
                optional: [
                    "securityId": string, "isin": string, "cusip": string, "sedol": string, "ticker": string, "ric": string,
                    "bloombergId": string, "name": string, "currency": string, "version": integer, "provider": string,
                ]),
            "PriceTick": object(
                ["securityId": string, "last": number],
                optional: [
                    "bid": number, "ask": number, "previousClose": number, "currency": string, "source": string, "ts": timestamp,
                ]),
            "SecurityView": object(
                ["security": ref("Security"), "priceTicks": integer, "positions": integer],
                optional: [
                    "lastPrice": ref("PriceTick"), "tickDirection": enumeration(["UP", "DOWN"]),
                    "shortSaleRestrictedThrough": date,
                ]),
            "Availability": object(
                [
                    "sourceId": string, "securityId": string, "quantity": integer,
                    "availabilityType": enumeration(AvailabilityType.allCases.map(\.rawValue)), "effectiveDate": date,
                ], optional: ["rateBps": number]),
            "Book": object(
                [
                    "bookId": string, "legalEntity": string, "positionType": enumeration(positionTypes),
                    "aggregationUnits": ["type": "object", "additionalProperties": string],
                ], optional: ["name": string, "clientId": string, "version": integer]),
            "Counterparty": object(
                ["counterpartyId": string, "name": string, "kind": enumeration(CounterpartyKind.allCases.map(\.rawValue))],
                optional: ["lei": string, "parentId": string, "kycStatus": string, "status": string, "version": integer]),
            "AggregationUnit": object(
                [
                    "aggregationUnitId": string, "name": string, "marketId": string, "legalEntity": string,
                    "type": enumeration(AggregationUnitType.allCases.map(\.rawValue)), "isDefault": boolean,
                ], optional: ["version": integer]),
            "Contract": object(
                [
                    "contractId": string, "version": integer, "kind": enumeration(ContractKind.allCases.map(\.rawValue)),
                    "status": enumeration(ContractStatus.allCases.map(\.rawValue)), "bookId": string, "counterpartyId": string,
                    "securityId": string, "quantity": integer, "returnedQty": integer, "recalledQty": integer, "rateBps": number,
                    "startDate": date,
                ], optional: ["collateralType": string, "endDate": date]),
            "Inventory": object(
                [
                    "securityId": string, "marketId": string,
                    "buckets": ["type": "object", "additionalProperties": integer, "description": "Every bucket of SPEC 4.1 by name"],
                    "calculations": ref("Calculations"),
                    "ruleVersion": integer, "ruleSet": string,
                ],
                optional: [
                    "businessDate": date, "aggregationUnitId": string, "legalEntity": string, "clientId": string, "explain": ref("InventoryExplanation"),
                    "ladder": array(
                        object(
                            [
                                "day": enumeration(Bucket.ladderDayNames), "date": date,
                                "buckets": ["type": "object", "additionalProperties": integer, "description": "The dated buckets that are not zero that day"],
                                "calculations": ref("Calculations"),
                            ], optional: ["explain": ref("InventoryExplanation")],
                            description:
                                "The security on one settlement-ladder day: positions as projected settled, contracts in force, lenders' lines effective")),
                ]),
            "InventoryExplanation": object([
                "calculations": array(
                    object([
                        "calculation": string, "value": integer, "ruleId": string, "pack": string, "formula": string, "parts": array(ref("ExplainPart")),
                    ])),
                "buckets": [
                    "type": "object",
                    "additionalProperties": array(
                        object(
                            ["kind": enumeration(["position", "contract", "availability"]), "quantity": integer],
                            optional: [
                                "bookId": string, "positionType": string, "contractId": string, "contractKind": string, "status": string,
                                "counterpartyId": string, "sourceId": string, "availabilityType": string,
                            ])),
                ],
            ]),
            "ExplainPart": object(
                ["kind": enumeration(["bucket", "calculation", "number", "scaled", "max", "min"]), "contribution": integer],
                optional: [
                    "name": string, "factor": string, "quantity": integer, "parts": array(ref("ExplainPart")), "alternatives": array(integer),
                    "branches": array(object(["value": integer, "chosen": boolean, "parts": array(ref("ExplainPart"))])),
                ], description: "A part of a value; the parts of a value sum exactly to it"),
            "RuleSet": object(
                [
                    "name": string,
                    "packs": array(
                        object(
                            [
                                "pack": string,
                                "rules": array(
                                    object(
                                        ["id": string, "calculation": enumeration(Calculation.allCases.map(\.name)), "formula": string],
                                        optional: [
                                            "description": string,
                                            "when": object(
                                                [:],
                                                optional: [
                                                    "temperature": enumeration(Temperature.allCases.map(\.rawValue)), "assetType": array(string),
                                                    "indexMember": array(string),
                                                    "easyToBorrow": boolean, "thresholdList": boolean, "restricted": boolean, "shortSellEligible": boolean,
                                                    "quanto": boolean,
                                                ]),
                                        ])),
                            ], optional: ["markets": array(string), "description": string])),
                ],
                optional: [
                    "parameters": ["type": "object", "additionalProperties": string],
                    "locatePolicy": object(
                        [
                            "rules": array(
                                object(
                                    ["id": string, "outcome": enumeration(["APPROVE", "PENDING", "REJECT", "AVAILABILITY"])],
                                    optional: ["when": ["type": "object"], "reason": string, "description": string])),
                            "decrements": array(object(["id": string, "factor": string], optional: ["when": ["type": "object"], "description": string])),
                        ],
                        description: "How locate requests are answered (docs/locates.md)"),
                ],
                description: "A rule set document (docs/inventory.md)"),
            "RuleVersion": object(
                [
                    "version": integer, "status": enumeration(["DRAFT", "PREVIEWED", "APPROVED", "ACTIVE", "SUPERSEDED", "REJECTED"]),
                    "name": string, "author": string, "createdAt": timestamp, "sequence": integer, "rules": integer,
                ], optional: ["approvedBy": string, "activatedBy": string, "document": ref("RuleSet")]),
            "RuleAudit": object(
                [
                    "sequence": integer, "at": timestamp, "user": string,
                    "action": enumeration(["DRAFT", "PREVIEW", "APPROVE", "REJECT", "ACTIVATE"]), "version": integer, "changes": array(string),
                ], optional: ["comment": string]),
            "RulePreview": object([
                "version": integer, "activeVersion": integer, "securities": integer, "changed": integer, "seconds": number,
                "totalChange": ref("Calculations"),
                "differences": array(
                    object([
                        "securityId": string, "marketId": string, "active": ref("Calculations"),
                        "proposed": ref("Calculations"), "largestChange": integer,
                    ])),
                "locatePolicy": object([
                    "requests": integer, "changed": integer,
                    "differences": array(
                        object([
                            "locateId": string, "clientId": string, "securityId": string, "quantity": integer,
                            "active": string, "proposed": string,
                        ])),
                ]),
            ]),
            "USDValues": object(["forLoan": number, "forPledge": number, "overborrow": number, "locateAvailable": number]),
            "InventoryRow": object(
                [
                    "securityId": string, "marketId": string, "region": enumeration(Region.allCases.map(\.rawValue)),
                    "temperature": enumeration(Temperature.allCases.map(\.rawValue)), "currency": string,
                    "calculations": ref("Calculations"), "shortQuantity": integer,
                ], optional: ["ticker": string, "name": string, "lastPrice": number, "usdRate": number, "usdValues": ref("USDValues")]),
            "InventoryAggregate": object([
                "key": string, "securities": integer, "calculations": ref("Calculations"), "usdValues": ref("USDValues"), "unpriced": integer,
            ]),
            "Calculations": object(["forLoan": integer, "forPledge": integer, "overborrow": integer, "locateAvailable": integer]),
            "FXRate": object(["currency": string, "usdRate": number], optional: ["ts": timestamp]),
            "Exception": object(
                [
                    "exceptionId": integer, "kind": enumeration(ExceptionKind.allCases.map(\.rawValue)), "sequence": integer,
                    "message": string, "receivedAt": timestamp,
                ],
                optional: [
                    "line": integer, "field": string, "subject": string, "raw": string,
                    "acknowledgedBy": string, "acknowledgedAt": timestamp, "acknowledgeNote": string,
                ]),
            "AuditEntry": object(
                [
                    "auditId": integer, "at": timestamp, "user": string, "action": string, "subject": string,
                    "outcome": enumeration(["APPLIED", "PARTIAL", "REJECTED", "NOT_APPLIED"]), "journalRecord": integer, "sequence": integer,
                ], optional: ["detail": string, "reason": string]),
            "AuditPage": object(["items": array(ref("AuditEntry")), "oldestKept": integer], optional: ["nextAfterId": integer]),
            "Health": object(
                [
                    "status": enumeration(["ok", "degraded"]), "lastSequence": integer, "positions": integer, "pendingEvents": integer,
                    "journal": object(
                        ["durable": boolean, "appliedRecord": integer, "failing": boolean, "repairUnacknowledged": boolean], optional: ["lastError": string]),
                    "feed": object(
                        [
                            "published": integer, "readModelResynchronisations": integer,
                            "consumers": array(
                                object(
                                    ["name": string, "position": integer, "lag": integer, "dozing": boolean],
                                    description:
                                        "A consumer of the change feed: the last record it finished, how many it has not, and whether it dozes (the stream hub with no subscriber connected takes the feed every 20 ms: its lag is then no backlog)"
                                )),
                        ], description: "The change feed: records published and each consumer's place"),
                ],
                optional: [
                    "replication": object(
                        [
                            "role": enumeration(["leader", "standby", "candidate"]), "node": string, "epoch": integer, "appliedRecord": integer,
                            "offset": integer, "lagOffsets": integer, "lagMilliseconds": number, "failovers": integer, "halted": boolean,
                        ],
                        optional: ["leaderNode": string, "leaderUrl": string, "highWatermark": integer, "brokerError": string],
                        description: "With a replicated journal (`--journal kafka`): this node's role, the epoch, the leader, and how far behind the log it is"),
                    "topicFeeds": object(
                        [
                            "state": enumeration(["starting", "consuming", "standby", "stopped"]), "group": string, "topics": array(string),
                            "records": integer, "redelivered": integer, "rejected": integer, "deadLettered": integer,
                            "partitions": array(
                                object(
                                    ["topic": string, "partition": integer, "offset": integer], optional: ["highWatermark": integer, "lag": integer],
                                    description: "A partition this node reads: the offset it resumes from (kept in its journal) and the records behind")),
                        ],
                        optional: ["deadLetterTopic": string, "lastError": string],
                        description:
                            "With upstream topics (`kafkaFeedTopics`): records taken, redelivered and skipped, refused, and each partition's place"),
                    "history": object(
                        [
                            "state": enumeration(["starting", "catchingUp", "following", "behind", "failed"]), "committedRecord": integer,
                            "projectedRecord": integer, "journalRecord": integer, "lagRecords": integer, "lagSeconds": number, "bufferedRows": integer,
                            "rowsWritten": integer, "transactions": integer, "writeFailures": integer, "startedAtRecord": integer,
                        ],
                        optional: ["databaseError": string],
                        description: "With a history store (`--history`): the projector's place, its lag behind the journal, and PostgreSQL's last error"),
                ]),
        ]
    }
}
