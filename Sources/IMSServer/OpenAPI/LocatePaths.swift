import IMSDomain
import IMSEngine

extension OpenAPIDocument {
    /// The locate workflow's paths (docs/locates.md).
    static var locatePaths: [String: JSON] {
        let locateId = path("locateId", "A locate's id (L followed by its journal sequence)")
        let request = object(
            [
                "requestId": string, "clientId": string, "securityId": string, "quantity": integer,
                "side": enumeration(LocateCommand.Side.allCases.map(\.rawValue)),
            ],
            optional: ["settlement": enumeration(LocateCommand.Settlement.allCases.map(\.rawValue)), "requestor": string],
            description: "A locate request; requestId is the client's idempotency key")
        let refused = response("Refused, naming the field (nothing is applied)", ref("Error"))
        let orderId = path("orderId", "The order's id")
        let decision = object(
            ["correlationId": string, "type": enumeration(["locate", "order", "cancelLocate", "cancelOrder"])],
            optional: [
                "requestId": string, "clientId": string, "securityId": string, "quantity": integer, "side": string, "settlement": string,
                "requestor": string, "orderId": string, "bookId": string, "price": string, "user": string, "locateId": string, "reason": string,
            ],
            description:
                "One decision: correlationId (echoed in its answer), type, and the fields of its REST body (locate: POST /api/v1/locates; order: POST /api/v1/orders/validate; cancelLocate: locateId and POST /api/v1/locates/{locateId}/cancel's body; cancelOrder: orderId and POST /api/v1/orders/{orderId}/cancel's body)"
        )
        let answer = object(
            ["correlationId": ["type": "string", "nullable": true], "status": integer],
            optional: ["locate": ref("Locate"), "order": ref("OrderDecision"), "error": string, "field": string, "retryAfter": integer],
            description:
                "The answer to one decision: the status its own route would answer with (201 a new locate, 200, 400, 403, 404, 409, 422, 503), the locate or order on success, else error and field"
        )
        return [
            "/api/v1/decisions": post(
                "Many decisions in one body (locate requests, order validations, locate and order cancellations), journaled together and answered in order; the body of one frame of the decision channel /ws/decisions (docs/locates.md)",
                tag: "locates", body: ["oneOf": [decision, array(decision)]],
                responses: [
                    "200": response("One answer per decision, in order: an object for an object, an array for an array", ["oneOf": [answer, array(answer)]]),
                    "400": response("The body is neither a decision nor an array of them", ref("Error")), "413": error,
                ]),
            "/api/v1/orders/validate": post(
                "Validate a sell order: stage 1 the client's limit, stage 2 its aggregation unit's, then the market's short-sale rules; an approval takes the quantity from both limits; a rejection lists every failed check",
                tag: "orders",
                parameters: [
                    query(
                        "dryRun", boolean,
                        "true: answer the decision the order would get now, with every check, and change nothing (nothing journaled, reserved or audited; the answer carries dryRun: true)"
                    )
                ],
                body: object(
                    [
                        "orderId": string, "clientId": string, "bookId": string, "securityId": string,
                        "side": enumeration(OrderCommand.Side.allCases.map(\.rawValue)), "quantity": integer,
                    ],
                    optional: ["price": string, "user": string]),
                responses: [
                    "200": response("The decision (the first one for an order id the client used before on the same business day)", ref("OrderDecision")),
                    "400": error, "403": error, "404": response("For a client key: a book that is not its own, named as unknown", ref("Error")),
                    "413": error, "422": refused, "503": error,
                ]),
            "/api/v1/orders": get(
                "Today's orders (each client's latest with each id), newest first: a client's own; staff any client's or all",
                tag: "orders",
                parameters: [
                    query("clientId", string, "The client (a client key: its own)"), query("securityId", string, "The security's internal id"),
                    query("decision", enumeration(["APPROVED", "REJECTED"]), "The answer (APPROVED includes expired approvals)"),
                    offset, limit,
                ],
                responses: [
                    "200": response("A page of orders", page("OrderDecision")),
                    "400": badParameter, "403": error, "503": error,
                ]),
            "/api/v1/orders/{orderId}": get(
                "An order's decision: a client's own; staff name the client, or get the newest order with this id", tag: "orders",
                parameters: [orderId, query("clientId", string, "The client whose order it is (a client key: its own)")],
                responses: ["200": response("The decision", ref("OrderDecision")), "400": badParameter, "403": error, "404": error]),
            "/api/v1/locates": [
                "post": post(
                    "Ask to locate shares: answered at once by the locate policy (APPROVED, PARTIAL, REJECTED with a reason, or PENDING for an operator), once journaled",
                    tag: "locates", body: request,
                    responses: [
                        "201": response("The new locate", ref("Locate")), "200": response("The first answer to a re-sent request", ref("Locate")),
                        "400": error, "403": error, "413": error, "422": refused, "503": error,
                    ])["post"]!,
                "get": get(
                    "Locates, PENDING first then newest first; filtered by client, security, status, market and business date", tag: "locates",
                    parameters: [
                        query("clientId", string, "Client"), query("securityId", string, "Security"),
                        query("status", enumeration(LocateRecord.Status.allCases.map(\.rawValue)), "Status"),
                        query("marketId", string, "Market"), query("date", date, "The business date asked on"), offset, limit,
                    ],
                    responses: [
                        "200": response("A page of locates", object(["items": array(ref("Locate")), "total": integer, "offset": integer, "limit": integer])),
                        "400": badParameter,
                    ])["get"]!,
            ],
            "/api/v1/locates/bulk": post(
                "Many locate requests at once (NDJSON, or CSV with a header row): one answer per line; bad lines are named and not applied",
                tag: "locates", body: ["type": "string", "description": "NDJSON lines of locate requests, or CSV (Content-Type text/csv)"],
                responses: [
                    "200": response(
                        "One result per line",
                        object([
                            "accepted": integer, "rejected": integer,
                            "results": array(
                                object(
                                    ["line": integer], optional: ["locate": ref("Locate"), "field": string, "error": string])),
                        ])),
                    "413": error, "503": error,
                ]),
            "/api/v1/locates/{locateId}": get(
                "One locate with its history", tag: "locates", parameters: [locateId],
                responses: ["200": response("The locate", ref("Locate")), "404": error]),
            "/api/v1/locates/{locateId}/decision": post(
                "An operator approves (all or part, re-checking availability now) or rejects a PENDING locate", tag: "locates", parameters: [locateId],
                body: object(
                    ["action": enumeration(LocateCommand.Decision.allCases.map(\.rawValue))],
                    optional: ["quantity": integer, "user": string, "reason": string]),
                responses: [
                    "200": response("The locate after the decision", ref("Locate")), "400": error, "404": error, "413": error,
                    "409": response("The locate is no longer PENDING", ref("Error")), "422": refused, "503": error,
                ]),
            "/api/v1/orders/{orderId}/cancel": post(
                "Cancels what is left of an approved order (as FIX OrderCancelRequest 35=F does): what its trades have not filled goes back to the client's and the aggregation unit's sell limits. A client cancels its own; staff name the client",
                tag: "orders", parameters: [orderId],
                body: object([:], optional: ["clientId": string, "reason": string, "user": string]),
                responses: [
                    "200": response("The order, with its cancellation", ref("OrderDecision")), "400": error, "403": error, "404": error,
                    "409": response("Nothing is left to cancel: rejected, expired or cancelled already", ref("Error")), "413": error, "422": refused,
                    "503": error,
                ]),
            "/api/v1/locates/{locateId}/cancel": post(
                "The client withdraws its locate; what it held goes back to the pool", tag: "locates", parameters: [locateId],
                body: object([:], optional: ["clientId": string, "user": string, "reason": string]),
                responses: [
                    "200": response("The cancelled locate", ref("Locate")), "400": error, "403": error, "404": error,
                    "409": response("The locate is no longer live", ref("Error")), "413": error, "422": refused, "503": error,
                ]),
        ]
    }

    static var locateSchemas: [String: JSON] {
        let check = object(
            ["stage": enumeration(["ORDER", "CLIENT", "UNIT", "MARKET"]), "code": string, "passed": boolean, "message": string],
            optional: ["available": integer, "required": integer])
        return [
            "OrderDecision": object(
                [
                    "orderId": string, "decision": enumeration(OrderRecord.Decision.allCases.map(\.rawValue)), "reasons": array(check), "checks": array(check),
                    "clientId": string, "bookId": string, "securityId": string, "side": enumeration(OrderCommand.Side.allCases.map(\.rawValue)),
                    "quantity": integer, "price": number, "sequence": integer, "decidedAt": timestamp,
                    "filledQuantity": integer, "fills": array(object(["tradeId": string, "quantity": integer])),
                    "expired": boolean,
                ],
                optional: [
                    "marketId": string, "aggregationUnitId": string, "businessDate": date, "dryRun": boolean,
                    "cancellation": object(
                        ["at": timestamp, "by": string, "quantity": integer, "sequence": integer], optional: ["reason": string],
                        description: "What was left of the order, cancelled: quantity is what went back to the limits"),
                ]),
            "Locate": object(
                [
                    "locateId": string, "status": enumeration(LocateRecord.Status.allCases.map(\.rawValue)), "approvedQuantity": integer,
                    "decrementQuantity": integer, "requestId": string, "clientId": string, "securityId": string,
                    "side": enumeration(LocateCommand.Side.allCases.map(\.rawValue)),
                    "settlement": enumeration(LocateCommand.Settlement.allCases.map(\.rawValue)),
                    "quantity": integer, "requestedAt": timestamp,
                    "history": array(
                        object(
                            ["sequence": integer, "at": timestamp, "status": string, "approvedQuantity": integer, "by": string],
                            optional: ["reason": string])),
                ], optional: ["reason": string, "marketId": string, "rateBps": number, "businessDate": date, "expiresAt": timestamp, "requestedBy": string]),
        ]
    }
}
