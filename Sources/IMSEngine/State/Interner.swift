/// Maps identifier strings to dense `Int32` ids and back, so state is indexed by integers.
struct Interner: Sendable {
    private var index = ProbeTable()
    private(set) var names: [String] = []

    var count: Int { names.count }

    @inline(__always)
    func lookup(_ name: String) -> Int32? {
        lookup(name, hash: ProbeTable.hash(of: name))
    }

    @inline(__always)
    func lookup(_ name: String, hash: UInt64) -> Int32? {
        index.find(hash: hash) { names[Int($0)] == name }.map { Int32(truncatingIfNeeded: $0) }
    }

    /// The id of `name`, assigning the next one if it is new.
    mutating func intern(_ name: String) -> (id: Int32, isNew: Bool) {
        let hash = ProbeTable.hash(of: name)
        if let id = lookup(name, hash: hash) { return (id, false) }
        let id = Int32(names.count)
        names.append(name)
        index.insert(hash: hash, payload: UInt64(id))
        return (id, true)
    }

    func name(_ id: Int32) -> String { names[Int(id)] }
}
