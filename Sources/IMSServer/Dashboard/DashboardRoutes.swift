import Hummingbird

/// The desk's dashboard (docs/dashboard.md): `/` is its page, `/dashboard/<file>` its modules and
/// style sheet, embedded in the binary (`DashboardAssets`). Open routes: the files hold no data; every
/// call the page makes needs the key the user signs in with.
struct DashboardRoutes {
    func register(on router: Router<IMSRequestContext>) {
        router.get("/", use: page)
        router.get("/dashboard/:file", use: file)
    }

    @Sendable func page(_ request: Request, context: IMSRequestContext) async throws -> Response {
        try Self.asset("index.html", host: request.head.authority)
    }

    @Sendable func file(_ request: Request, context: IMSRequestContext) async throws -> Response {
        try Self.asset(context.parameters.get("file") ?? "", host: request.head.authority)
    }

    static func asset(_ name: String, host: String? = nil) throws(APIError) -> Response {
        guard let (type, body) = DashboardAssets.files[name] else {
            throw APIError(.notFound, "no dashboard file \(name)", field: "file")
        }
        var response = Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: body)))
        response.headers[.contentType] = type
        response.headers[.cacheControl] = "no-cache"
        response.headers[.xContentTypeOptions] = "nosniff"
        // Only this origin's scripts, styles and connections (the API and its WebSocket streams).
        response.headers[.contentSecurityPolicy] = SecurityHeaders.dashboardPolicy(host: host)
        return response
    }
}
