import IMSDomain
import IMSEngine

extension OpenAPIDocument {
    /// The history store's paths (`--history`; docs/history.md).
    static var historyPaths: [String: JSON] {
        let range: [JSON] = [
            query("from", timestamp, "At or after this time (default: a day before `to`; a week for prices)"),
            query("to", timestamp, "Before this time (default: now)"),
            offset,
            query("limit", ["type": "integer", "minimum": 1, "maximum": 10_000, "default": 1_000], "Items to return at most"),
        ]
        let unconfigured = response("This server keeps no history store (start it with --history postgres://…)", ref("Error"))
        let unavailable = response("PostgreSQL did not answer; retry after Retry-After", ref("Error"))
        func page(_ item: JSON, _ description: String) -> JSON {
            object(["items": array(item), "offset": integer, "limit": integer, "hasMore": boolean], description: description)
        }
        func responses(_ ok: JSON) -> [String: JSON] {
            ["200": ok, "400": badParameter, "501": unconfigured, "503": unavailable]
        }
        let snapshotKind = enumeration(["interval", "day_roll"])
        return [
            "/api/v1/history/prices/{securityId}": get(
                "A security's prices over a range: its ticks (the last of each second) or, with interval, bars (open, high, low, close) over them",
                tag: "history",
                parameters: [
                    path("securityId", "The security's id or any of its identifiers"),
                    query("interval", ["type": "string", "pattern": "^[0-9]{1,7}[smhd]?$"], "Bars of this width: 30s, 1m, 5m, 1h, 1d"),
                ] + range,
                responses: responses(
                    response(
                        "Ticks or bars, oldest first",
                        page(
                            object(
                                ["at": timestamp, "securityId": string],
                                optional: [
                                    "marketId": string, "currency": ["type": "string", "nullable": true], "last": ["type": "number", "nullable": true],
                                    "bid": ["type": "number", "nullable": true], "ask": ["type": "number", "nullable": true],
                                    "tickTime": ["type": "string", "format": "date-time", "nullable": true], "record": integer, "open": number,
                                    "high": number, "low": number, "close": number, "ticks": integer,
                                ]), "A page of ticks or bars")))),
            "/api/v1/history/positions": get(
                "Snapshots of positions over a range (every figure of GET /api/v1/positions/{bookId}/{securityId}), at the end of each snapshot interval in which they changed and at each day roll; a client sees its own books",
                tag: "history",
                parameters: [query("bookId", string, "The book (this, a security, or both)"), query("securityId", string, "The security")] + range,
                responses: responses(
                    response(
                        "Snapshots, oldest first",
                        page(
                            object(["at": timestamp, "kind": snapshotKind, "record": integer, "position": ref("Position")]),
                            "A page of position snapshots")))),
            "/api/v1/history/inventory/{securityId}": get(
                "Snapshots of a security's inventory over a range (buckets, calculations, ladder: GET /api/v1/inventory/{securityId})",
                tag: "history",
                parameters: [path("securityId", "The security's id or any of its identifiers")] + range,
                responses: responses(
                    response(
                        "Snapshots, oldest first",
                        page(
                            object(["at": timestamp, "kind": snapshotKind, "record": integer, "inventory": ref("Inventory")]), "A page of inventory snapshots")
                    ))),
            "/api/v1/history/locates": get(
                "Every state change of the locates in a range (requested, approved, decided, cancelled, expired), each as the locate then stood; a client sees its own",
                tag: "history",
                parameters: [
                    query("clientId", string, "The client (a client key: its own)"), query("securityId", string, "The security"),
                    query("locateId", string, "One locate's changes"),
                ] + range,
                responses: responses(
                    response(
                        "Changes, oldest first",
                        page(object(["at": timestamp, "record": integer, "locate": ref("Locate")]), "A page of locate changes")))),
            "/api/v1/history/orders": get(
                "Every order validation in a range with all its checks, and later its fills or expiry; a client sees its own",
                tag: "history",
                parameters: [
                    query("clientId", string, "The client (a client key: its own)"), query("securityId", string, "The security"),
                    query("orderId", string, "One order"), query("decision", enumeration(OrderRecord.Decision.allCases.map(\.rawValue)), "Only this decision"),
                ] + range,
                responses: responses(
                    response(
                        "Decisions, oldest first",
                        page(object(["at": timestamp, "record": integer, "order": ref("OrderDecision")]), "A page of order decisions")))),
        ]
    }
}
