import Crypto
import Foundation
import Hummingbird

/// The browser-facing security headers of the pages IMS serves (the dashboard and `/docs`) and, over HTTPS,
/// of every answer.
enum SecurityHeaders {
    /// The dashboard's policy: its own scripts and styles only, connections only to this server's origin (its
    /// API and its WebSocket streams, named by the `Host` the browser used), no forms posting elsewhere, no
    /// `<base>` to re-root relative URLs, never framed.
    static func dashboardPolicy(host: String?) -> String {
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'\(streamOrigins(host)); "
            + "form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
    }

    /// `/docs`: one inline style and one inline module script, allowed by their hashes and nothing else.
    static let docsPolicy: String = {
        func hash(_ open: String, _ close: String) -> String {
            let html = DocsPage.html
            guard let start = html.range(of: open)?.upperBound, let end = html.range(of: close, range: start..<html.endIndex)?.lowerBound else { return "" }
            return "'sha256-" + Data(SHA256.hash(data: Data(html[start..<end].utf8))).base64EncodedString() + "'"
        }
        return "default-src 'none'; script-src \(hash(#"<script type="module">"#, "</script>")); style-src \(hash("<style>", "</style>")); "
            + "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
    }()

    /// ` ws://host wss://host` for a plausible `Host` value (letters, digits, dots, dashes, a port, an IPv6
    /// literal), else nothing: the streams are then reached through `'self'` where the browser allows it.
    static func streamOrigins(_ host: String?) -> String {
        guard let host, !host.isEmpty, host.count <= 255,
            host.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || ".-:[]".unicodeScalars.contains($0) })
        else { return "" }
        return " ws://\(host) wss://\(host)"
    }

    /// HSTS for a year, on every answer of a server that speaks HTTPS.
    static let strictTransport = "max-age=31536000"
}

/// Adds `Strict-Transport-Security` to every answer (installed only when IMS serves HTTPS).
struct StrictTransportMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            var response = try await next(request, context)
            response.headers[.strictTransportSecurity] = SecurityHeaders.strictTransport
            return response
        } catch let error as any HTTPResponseError {
            var response = try error.response(from: request, context: context)
            response.headers[.strictTransportSecurity] = SecurityHeaders.strictTransport
            return response
        }
    }
}
