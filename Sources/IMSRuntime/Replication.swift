/// A node's place in a replicated deployment (`--journal kafka`): whether it leads, whom it follows, and how
/// far behind the log it is. The server shows it in `/health`, a response header and `/metrics`, and refuses
/// writes on a node that does not lead.
public struct ReplicaStatus: Sendable, Hashable, Codable {
    /// What a node does now.
    public enum Role: String, Sendable, Hashable, Codable {
        /// Appends to the log and answers writes.
        case leader
        /// Applies the log as it grows and answers reads; refuses writes naming the leader.
        case standby
        /// Has claimed leadership and is reading the log up to its claim before it takes writes.
        case candidate
    }

    public var role: Role
    /// This node's name (`kafkaNode`).
    public var node: String
    /// The highest leadership epoch seen in the log (this node's own while it leads).
    public var epoch: Int64
    /// The node that leads, as the log last said, and where it serves.
    public var leaderNode: String?
    public var leaderURL: String?
    /// The last journal record applied here.
    public var appliedRecord: UInt64
    /// The topic offset this node has read or written up to (the next it would read).
    public var offset: Int64
    /// The partition's high watermark when last asked (nil before the broker answered).
    public var highWatermark: Int64?
    /// Milliseconds between a record's append by the leader and its application here, for the last record
    /// this node applied from the log (0 on a leader, which applies its own records).
    public var lagMilliseconds: Double
    /// Times this node has taken leadership since it started.
    public var failovers: Int
    /// The last error talking to the broker, while it lasts.
    public var brokerError: String?
    /// The node found the log disagreeing with what it applied (`brokerError` says how) and stopped following
    /// it: it serves reads of its state, takes no writes and never leads until an operator acts.
    public var halted = false

    /// A `ReplicaStatus` from its fields.
    public init(
        role: Role, node: String, epoch: Int64 = 0, leaderNode: String? = nil, leaderURL: String? = nil, appliedRecord: UInt64 = 0,
        offset: Int64 = 0, highWatermark: Int64? = nil, lagMilliseconds: Double = 0, failovers: Int = 0, brokerError: String? = nil
    ) {
        self.role = role
        self.node = node
        self.epoch = epoch
        self.leaderNode = leaderNode
        self.leaderURL = leaderURL
        self.appliedRecord = appliedRecord
        self.offset = offset
        self.highWatermark = highWatermark
        self.lagMilliseconds = lagMilliseconds
        self.failovers = failovers
        self.brokerError = brokerError
    }

    /// Offsets written to the partition that this node has not read yet (0 on the leader, which wrote them).
    public var lagOffsets: Int64 { role == .leader ? 0 : max(0, (highWatermark ?? offset) - offset) }
}

/// Where the server reads a node's replication status from (the Kafka replica, when the journal is a topic).
public protocol ReplicationState: AnyObject, Sendable {
    var replicaStatus: ReplicaStatus { get }
    /// Gives leadership up (a standby takes over); false if this node does not lead.
    func stepDown() -> Bool
}
