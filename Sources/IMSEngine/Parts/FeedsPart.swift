import IMSDomain

/// Each source feed's high sequence and holes (`SourceFeeds`). Shared, so every record carries it.
enum FeedsPart: StatePart {
    static let sectionTag: UInt32 = 6
    static let name = "feeds"
    typealias Change = SourceFeeds

    static func write(_ state: EngineState, to w: inout BinaryWriter) { state.feeds.encode(to: &w) }

    static func read(into state: inout EngineState, from r: inout BinaryReader, format: UInt32) throws(BinaryFormatError) {
        try state.feeds.decode(from: &r)
    }

    static func capture(from state: inout EngineState, into record: inout ChangeRecord) { record[Self.self] = state.feeds }

    static func apply(_ record: ChangeRecord, to model: inout ReadModel) {
        if let feeds = record[Self.self] { model.feeds = feeds }
    }

    static func itemCount(_ change: SourceFeeds) -> Int { 0 }

    static func canonicalLines(_ model: ReadModel, into lines: inout [String]) {
        for (id, f) in model.feeds.sorted { lines.append("feed \(id) \(f.high) \(f.gaps)") }
    }
}
