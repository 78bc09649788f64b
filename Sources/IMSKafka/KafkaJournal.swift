#if Kafka
    import IMSDomain
    import IMSEngine

    /// The engine's journal as one partition of a Kafka topic: each journal entry is one record, record number
    /// n at offset n − 1, appended by an idempotent producer (`acks=all`) and answered only once the broker
    /// acknowledged it. Every replica that reads the partition in order and applies it holds the same state
    /// (the engine's apply is deterministic: time travels in the entries).
    ///
    /// The record's value is the entry's binary encoding (`JournalEntry.encode`), the same bytes a file
    /// segment frames; Kafka's own batch CRC guards it on the wire and on disk.
    public final class KafkaJournal: EngineJournal, @unchecked Sendable {
        // `@unchecked Sendable`: only the engine's journal thread calls `append`; the producer is not shared.
        private let producer: KafkaProducer

        /// A journal appending to `topic`'s `partition` on `brokers`.
        public init(brokers: String, topic: String, partition: Int32 = 0, settings: [String: String] = [:]) throws(KafkaError) {
            producer = try KafkaProducer(brokers: brokers, topic: topic, partition: partition, settings: settings)
        }

        /// Appends the entries as records, in order; returns the first's record number (its offset + 1) once
        /// the broker acknowledged them all.
        public func append(_ entries: [JournalEntry]) throws(JournalFailure) -> UInt64 {
            let records = entries.map { entry -> [UInt8] in
                var w = BinaryWriter(capacity: 256)
                entry.encode(to: &w)
                return w.bytes
            }
            do {
                let offsets = try producer.send(records)
                guard let first = offsets.first else { throw KafkaError("no offset acknowledged") }
                // The entries are consecutive in the partition only if nobody else appends to it (one leader).
                guard offsets == Array(first..<(first + Int64(offsets.count))) else {
                    throw KafkaError("the records landed at offsets \(offsets.prefix(4))…: another producer appends to the partition")
                }
                return UInt64(first + 1)
            } catch {
                throw JournalFailure("Kafka: \(error)")
            }
        }
    }

    /// Reads journal entries back from the topic, from a record number on (a restart after a snapshot, a
    /// standby following the leader).
    public final class KafkaJournalReader {
        private let reader: KafkaPartitionReader

        /// A reader of `topic`'s `partition` from record number `record` (offset `record − 1`).
        public init(brokers: String, topic: String, partition: Int32 = 0, fromRecord record: UInt64) throws(KafkaError) {
            reader = try KafkaPartitionReader(brokers: brokers, topic: topic, partition: partition, from: Int64(record) - 1)
        }

        /// The next entry and its record number, waiting up to `timeout`; nil when none came.
        public func next(timeout: Duration = .milliseconds(100)) throws(KafkaError) -> (record: UInt64, entry: JournalEntry)? {
            guard let (offset, bytes) = try reader.next(timeout: timeout) else { return nil }
            do {
                let entry = try bytes.withUnsafeBytes { raw throws(BinaryFormatError) -> JournalEntry in
                    var r = BinaryReader(raw)
                    return try JournalEntry(from: &r)
                }
                return (UInt64(offset + 1), entry)
            } catch {
                throw KafkaError("record at offset \(offset) is not a journal entry: \(error)")
            }
        }

        /// The record number the next entry appended will get.
        public func nextRecord() throws(KafkaError) -> UInt64 { UInt64(try reader.highWatermark() + 1) }
    }
#endif
