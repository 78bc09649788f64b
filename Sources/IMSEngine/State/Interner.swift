/// Maps identifier strings to dense `Int32` ids and back, so state is indexed by integers.
struct Interner: Sendable {
    private(set) var ids: [String: Int32] = [:]
    private(set) var names: [String] = []

    var count: Int { names.count }

    func lookup(_ name: String) -> Int32? { ids[name] }

    /// The id of `name`, assigning the next one if it is new.
    mutating func intern(_ name: String) -> (id: Int32, isNew: Bool) {
        if let id = ids[name] { return (id, false) }
        let id = Int32(names.count)
        ids[name] = id
        names.append(name)
        return (id, true)
    }

    func name(_ id: Int32) -> String { names[Int(id)] }
}
