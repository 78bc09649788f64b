import Foundation
import Hummingbird
import IMSDomain
import IMSEngine
import IMSIngest
import IMSRuntime
import NIOCore
import Prometheus

/// `POST /api/v1/events`: NDJSON (or CSV) batches into the engine.
struct EventRoutes {
    let engine: Engine
    let maxBodyBytes: Int
    var maxFutureSkew: Duration = .seconds(300)

    func register(on router: Router<IMSRequestContext>) {
        router.post("/api/v1/events", use: events)
    }

    @Sendable func events(_ request: Request, context: IMSRequestContext) async throws -> Response {
        try await ingest(request, issuer: context.issuer(named: nil))
    }

    func ingest(_ request: Request, issuer: String) async throws -> Response {
        var request = request
        let query = QueryParameters(request)
        let mode: IngestBatch.Mode
        switch try query.string("mode") ?? "atomic" {
        case "atomic": mode = .atomic
        case "partial": mode = .partial
        default: throw APIError(.badRequest, "mode must be atomic or partial", field: "mode")
        }
        // A declared length over the limit is refused before a byte of the body is read.
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > maxBodyBytes {
            throw APIError(
                .contentTooLarge, "the body is \(declared) bytes, more than the \(maxBodyBytes) accepted; split it into smaller batches",
                field: "body", closesConnection: true)
        }
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: maxBodyBytes)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "the body is larger than \(maxBodyBytes) bytes; split it into smaller batches", field: "body")
        }
        let receivedAt = WallClock.now()
        // Media types are case-insensitive (RFC 9110 8.3.1).
        let isCSV = request.headers[.contentType].map { $0.trimmingCharacters(in: .whitespaces).lowercased().hasPrefix("text/csv") } ?? false
        let type = try query.string("type")
        var batch = body.withUnsafeReadableBytes { bytes in
            isCSV
                ? BatchDecoder.decodeCSV(bytes, type: type, mode: mode, receivedAt: receivedAt)
                : BatchDecoder.decodeNDJSON(bytes, mode: mode, receivedAt: receivedAt)
        }
        if batch.lineCount == 0 {
            throw APIError(.badRequest, "the body holds no events", field: "body")
        }
        Self.refuseFutureTimes(&batch, skew: maxFutureSkew)
        batch.issuer = issuer
        let metrics = IMSMetrics.shared
        metrics.received.increment(by: Int64(batch.lineCount))
        let clock = ContinuousClock()
        let start = clock.now
        let outcome = try await engine.submitting(batch)
        metrics.ingestSeconds.record(clock.now - start)
        return JSONResponse.raw(Self.encode(outcome), status: outcome.applied ? .ok : .unprocessableContent)
    }

    /// Refuses ticks dated more than `skew` after the batch arrived (the server's clock), naming `ts`; before
    /// the journal, so the engine (which sees no clock) and its replays never meet them.
    static func refuseFutureTimes(_ batch: inout IngestBatch, skew: Duration) {
        let received = batch.receivedAt, latest = received.micros + skew.components.seconds * 1_000_000
        batch.refuse { event in
            let ts: Timestamp?
            switch event {
            case .price(let p): ts = p.ts
            case .fxRate(let f): ts = f.ts
            default: return nil
            }
            guard let ts, ts.micros > latest else { return nil }
            return FieldError("ts", "\(ts) is more than \(skew.components.seconds) s after the server's clock (\(received)); fix the feed's clock")
        }
    }

    /// `{"accepted":n,"ignored":n,"rejected":[{"line":k,"field":"…","error":"…"}],"lastSequence":s}`, written directly.
    static func encode(_ o: BatchOutcome) -> String {
        var s = "{\"accepted\":\(o.accepted),\"ignored\":\(o.ignored),\"rejected\":["
        for (i, r) in o.rejected.enumerated() {
            if i > 0 { s += "," }
            s += "{\"line\":\(r.line),\"field\":\(JSONText.quoted(r.field)),\"error\":\(JSONText.quoted(r.error))}"
        }
        s += "],\"lastSequence\":\(o.lastSequence)}"
        return s
    }

}
