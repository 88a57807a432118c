//! Untrusted-length guard: walks a request body against a hand-written copy
//! of its schema before `kafka-protocol` is allowed to decode it.
//!
//! Why it exists: the codec's array decoders call `Vec::with_capacity(n)`
//! with `n` read straight off the wire, so an 8-byte body claiming 2^31
//! elements allocates gigabytes or aborts the process. Our rule is that no
//! length read from the wire reaches an allocator before it has been checked
//! against the bytes actually present. This module enforces that rule for
//! every request body we decode.
//!
//! What it owns:
//! - `SCHEMAS`: per API, the inclusive version range we guard, the first
//!   flexible version, and the request's fields. Field lists were written by
//!   hand from Kafka's `*Request.json` message definitions (field order,
//!   `versions`, `nullableVersions`, `taggedVersions`), corrected where the
//!   `kafka-protocol` encoder (the ground truth for what we decode) differs;
//!   see the notes next to those entries.
//! - The walker: reads every length prefix (int16/int32 or, in flexible
//!   versions, unsigned varint + 1), rejects it when it cannot fit in the
//!   bytes that remain, and descends into every array element, nested struct
//!   and known tagged field. Unknown tagged fields and Produce `records` are
//!   only length-checked and skipped. The walk must consume the body exactly:
//!   trailing bytes or truncation are errors, so when the guard accepts a
//!   body the codec reads the very same boundaries the guard checked.
//!
//! Where the codec is lenient in ways that could make the two readers
//! disagree on where a value ends, the guard refuses instead: varints whose
//! 5th byte carries bits the codec drops, nullable-struct markers other than
//! -1/1, a known tag whose declared size differs from its value (the codec
//! decodes known tags by schema and ignores the size), and a known tag
//! outside its versions (which the codec rejects anyway). Null where the
//! schema does not allow it is refused too; the codec refuses it as well.
//!
//! The walker never allocates, never panics on any input, and its recursion
//! depth is bounded by the static schemas (checked against `MAX_DEPTH`), not
//! by the wire. CPU is linear in the body: every loop is bounded by a count
//! that was itself checked against the remaining bytes.

use kafka_protocol::messages::ApiKey;

use tables::SCHEMAS;

/// Why a body was refused. Offsets (`at`) are byte positions in the body.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("no length-guard schema for {api_key:?} v{version}")]
    NoSchema { api_key: ApiKey, version: i16 },
    #[error("body truncated reading {what} at byte {at}")]
    Truncated { what: &'static str, at: usize },
    #[error("{what}: length {len} exceeds the {remaining} bytes remaining at byte {at}")]
    LengthExceedsRemaining { what: &'static str, len: u64, remaining: usize, at: usize },
    #[error("{what}: negative length {len} at byte {at}")]
    NegativeLength { what: &'static str, len: i32, at: usize },
    #[error("{what}: null is not allowed at this version (byte {at})")]
    UnexpectedNull { what: &'static str, at: usize },
    #[error("{what}: malformed unsigned varint at byte {at}")]
    BadVarint { what: &'static str, at: usize },
    #[error("{what}: nullable-struct marker {marker} is neither -1 nor 1 (byte {at})")]
    BadStructMarker { what: &'static str, marker: i8, at: usize },
    #[error("tagged field {tag} ({what}) declares {declared} bytes but its value takes {used} (byte {at})")]
    TaggedSizeMismatch { what: &'static str, tag: u32, declared: usize, used: usize, at: usize },
    #[error("tagged field {tag} ({what}) is not valid at this version (byte {at})")]
    TagNotValidForVersion { what: &'static str, tag: u32, at: usize },
    #[error("{0} trailing bytes after the request body")]
    TrailingBytes(usize),
    #[error("schema nesting deeper than {0} levels")]
    TooDeep(usize),
}

/// Checks every length prefix of `body` (the request body after the request
/// header) against the bytes actually present, following the schema of
/// `api_key` at `version`. `Ok` means the body begins with one well-framed
/// request: the codec may decode it without trusting any wire length.
///
/// Bytes after the request are tolerated, as Kafka tolerates them: every
/// librdkafka 2.x sends an "all topics" Metadata v9+ request with a 4-byte
/// placeholder where a 1-byte null array belongs, and Kafka reads the
/// leading fields and ignores the rest.
pub fn check_request(api_key: ApiKey, version: i16, body: &[u8]) -> Result<(), GuardError> {
    check_request_exact(api_key, version, body).or_else(|e| match e {
        GuardError::TrailingBytes(_) => Ok(()),
        e => Err(e),
    })
}

/// Like [`check_request`], but the body must end where the request ends.
pub fn check_request_exact(api_key: ApiKey, version: i16, body: &[u8]) -> Result<(), GuardError> {
    let api = schema(api_key, version).ok_or(GuardError::NoSchema { api_key, version })?;
    let cx = Ctx { version, flexible: version >= api.flexible_from };
    let mut r = Reader { data: body, pos: 0 };
    walk_struct(&mut r, api.fields, cx, 0)?;
    match r.remaining() {
        0 => Ok(()),
        n => Err(GuardError::TrailingBytes(n)),
    }
}

/// True when a schema exists for this api/version, i.e. `check_request` can
/// vouch for it. Every version we decode must have one.
pub fn has_schema(api_key: ApiKey, version: i16) -> bool {
    schema(api_key, version).is_some()
}

fn schema(api_key: ApiKey, version: i16) -> Option<&'static Api> {
    SCHEMAS.iter().find(|a| a.key == api_key && a.min <= version && version <= a.max)
}

// ---------------------------------------------------------------------------
// Schema description
// ---------------------------------------------------------------------------

/// One request API: the versions we guard and its top-level fields.
struct Api {
    key: ApiKey,
    min: i16,
    max: i16,
    /// First version using compact lengths and tagged-field sections
    /// (`flexibleVersions` in the JSON; `NONE` when never flexible).
    flexible_from: i16,
    fields: &'static [Field],
}

/// One field as the JSON describes it. `min..=max` is `versions` (or
/// `taggedVersions` for tagged fields, which the JSON always makes equal).
#[derive(Clone, Copy)]
struct Field {
    /// The JSON field name, used in errors.
    name: &'static str,
    kind: Kind,
    min: i16,
    max: i16,
    /// First version where the value may be null (`nullableVersions`).
    null_from: i16,
    /// `Some(tag)`: the field lives in the tagged-field section.
    tag: Option<u32>,
}

/// The wire shape of a field: only what decides how many bytes it takes.
#[derive(Clone, Copy)]
enum Kind {
    /// int8/bool (1), int16/uint16 (2), int32 (4), int64 (8), uuid (16).
    Fixed(u8),
    /// int16 length, or compact (varint length + 1) when flexible.
    String,
    /// int32 length, or compact when flexible. Also `records`, which the
    /// codec keeps as opaque bytes (batches are validated elsewhere).
    Bytes,
    /// A struct embedded without a length. When nullable it is preceded by
    /// an int8 presence marker (-1 null, 1 present).
    Struct(&'static [Field]),
    /// int32 count, or compact (varint count + 1) when flexible.
    Array(Elem),
}

/// What an array holds. Elements are never nullable in request schemas.
#[derive(Clone, Copy)]
enum Elem {
    Fixed(u8),
    String,
    Struct(&'static [Field]),
}

/// Upper bound of an open range ("N+") and `null_from` of non-nullable fields.
const ALL: i16 = i16::MAX;
/// `flexible_from` of an API with no flexible versions.
const NONE: i16 = i16::MAX;
/// Deepest struct nesting any schema may have. The deepest real one is three
/// levels (AlterPartition topics -> partitions -> broker states); this only
/// catches a schema table mistake, never recursion driven by wire data.
const MAX_DEPTH: usize = 8;

const BOOL: Kind = Kind::Fixed(1);
const INT8: Kind = Kind::Fixed(1);
const INT16: Kind = Kind::Fixed(2);
const UINT16: Kind = Kind::Fixed(2);
const INT32: Kind = Kind::Fixed(4);
const INT64: Kind = Kind::Fixed(8);
const UUID: Kind = Kind::Fixed(16);
const STRING: Kind = Kind::String;
const BYTES: Kind = Kind::Bytes;
const RECORDS: Kind = Kind::Bytes;
const STRINGS: Kind = Kind::Array(Elem::String);
const INT32S: Kind = Kind::Array(Elem::Fixed(4));
const INT64S: Kind = Kind::Array(Elem::Fixed(8));
const UUIDS: Kind = Kind::Array(Elem::Fixed(16));

/// `[]SomeStruct`.
const fn structs(fields: &'static [Field]) -> Kind {
    Kind::Array(Elem::Struct(fields))
}

/// A field present in versions `min..=max`, never null, not tagged.
const fn f(name: &'static str, kind: Kind, min: i16, max: i16) -> Field {
    Field { name, kind, min, max, null_from: ALL, tag: None }
}

impl Field {
    /// `nullableVersions: "<from>+"`.
    const fn null(mut self, from: i16) -> Self {
        self.null_from = from;
        self
    }

    /// `tag: <tag>`; `taggedVersions` equals the field's versions.
    const fn tag(mut self, tag: u32) -> Self {
        self.tag = Some(tag);
        self
    }

    fn present(&self, version: i16) -> bool {
        self.min <= version && version <= self.max
    }

    fn nullable(&self, version: i16) -> bool {
        version >= self.null_from
    }
}

const fn api(key: ApiKey, min: i16, max: i16, flexible_from: i16, fields: &'static [Field]) -> Api {
    Api { key, min, max, flexible_from, fields }
}

// ---------------------------------------------------------------------------
// Schemas. One block per API, named after the JSON structs, in JSON field
// order. Field version ranges follow the JSON even outside the guarded
// range; widening an `api(..)` range still needs the new versions checked
// against the JSON and the codec (the tests in this file do the latter).
// ---------------------------------------------------------------------------

/// Kept away from rustfmt: one field per line, aligned, reads like the JSON.
#[rustfmt::skip]
mod tables {
    use super::*;

    pub(super) static SCHEMAS: &[Api] = &[
        api(ApiKey::Produce, 3, 12, 9, PRODUCE),
        api(ApiKey::Fetch, 4, 17, 12, FETCH),
        api(ApiKey::ListOffsets, 1, 10, 6, LIST_OFFSETS),
        api(ApiKey::Metadata, 0, 13, 9, METADATA),
        api(ApiKey::OffsetCommit, 2, 9, 8, OFFSET_COMMIT),
        api(ApiKey::OffsetFetch, 1, 9, 6, OFFSET_FETCH),
        api(ApiKey::FindCoordinator, 0, 6, 3, FIND_COORDINATOR),
        api(ApiKey::JoinGroup, 0, 9, 6, JOIN_GROUP),
        api(ApiKey::Heartbeat, 0, 4, 4, HEARTBEAT),
        api(ApiKey::LeaveGroup, 0, 5, 4, LEAVE_GROUP),
        api(ApiKey::SyncGroup, 0, 5, 4, SYNC_GROUP),
        api(ApiKey::DescribeGroups, 0, 5, 5, DESCRIBE_GROUPS),
        api(ApiKey::ListGroups, 0, 5, 3, LIST_GROUPS),
        api(ApiKey::ApiVersions, 0, 4, 3, API_VERSIONS),
        api(ApiKey::CreateTopics, 2, 7, 5, CREATE_TOPICS),
        api(ApiKey::DeleteTopics, 1, 6, 4, DELETE_TOPICS),
        api(ApiKey::CreatePartitions, 0, 3, 2, CREATE_PARTITIONS),
        api(ApiKey::DeleteRecords, 0, 2, 2, DELETE_RECORDS),
        api(ApiKey::InitProducerId, 0, 5, 2, INIT_PRODUCER_ID),
        api(ApiKey::OffsetForLeaderEpoch, 2, 4, 4, OFFSET_FOR_LEADER_EPOCH),
        api(ApiKey::AddPartitionsToTxn, 0, 3, 3, ADD_PARTITIONS_TO_TXN),
        api(ApiKey::AddOffsetsToTxn, 0, 4, 3, ADD_OFFSETS_TO_TXN),
        api(ApiKey::EndTxn, 0, 4, 3, END_TXN),
        api(ApiKey::TxnOffsetCommit, 0, 4, 3, TXN_OFFSET_COMMIT),
        api(ApiKey::WriteTxnMarkers, 1, 1, 1, WRITE_TXN_MARKERS),
        api(ApiKey::DescribeQuorum, 0, 1, 0, DESCRIBE_QUORUM),
        api(ApiKey::DescribeConfigs, 1, 4, 4, DESCRIBE_CONFIGS),
        api(ApiKey::AlterConfigs, 0, 2, 2, ALTER_CONFIGS),
        api(ApiKey::IncrementalAlterConfigs, 0, 1, 1, INCREMENTAL_ALTER_CONFIGS),
        api(ApiKey::DescribeCluster, 0, 2, 0, DESCRIBE_CLUSTER),
        api(ApiKey::DescribeTopicPartitions, 0, 0, 0, DESCRIBE_TOPIC_PARTITIONS),
        api(ApiKey::ListPartitionReassignments, 0, 0, 0, LIST_PARTITION_REASSIGNMENTS),
        api(ApiKey::ElectLeaders, 0, 2, 2, ELECT_LEADERS),
        api(ApiKey::DescribeLogDirs, 1, 4, 2, DESCRIBE_LOG_DIRS),
        api(ApiKey::DeleteGroups, 0, 2, 2, DELETE_GROUPS),
        api(ApiKey::OffsetDelete, 0, 0, NONE, OFFSET_DELETE),
        api(ApiKey::DescribeProducers, 0, 0, 0, DESCRIBE_PRODUCERS),
        api(ApiKey::DescribeTransactions, 0, 0, 0, DESCRIBE_TRANSACTIONS),
        api(ApiKey::ListTransactions, 0, 1, 0, LIST_TRANSACTIONS),
        api(ApiKey::AlterPartition, 2, 3, 0, ALTER_PARTITION),
        api(ApiKey::BrokerRegistration, 0, 4, 0, BROKER_REGISTRATION),
        api(ApiKey::BrokerHeartbeat, 0, 1, 0, BROKER_HEARTBEAT),
    ];

    // Produce. v12 is not in the local JSON (0-11); the codec encodes it exactly
    // like v11. v13 (TopicId instead of Name) is not guarded.
    static PRODUCE: &[Field] = &[
        f("TransactionalId", STRING, 3, ALL).null(3),
        f("Acks", INT16, 0, ALL),
        f("TimeoutMs", INT32, 0, ALL),
        f("TopicData", structs(PRODUCE_TOPIC), 0, ALL),
    ];
    static PRODUCE_TOPIC: &[Field] = &[
        f("Name", STRING, 0, ALL),
        f("PartitionData", structs(PRODUCE_PARTITION), 0, ALL),
    ];
    static PRODUCE_PARTITION: &[Field] = &[
        f("Index", INT32, 0, ALL),
        f("Records", RECORDS, 0, ALL).null(0),
    ];

    // Fetch. The codec also knows v18 (tagged HighWatermark in FetchPartition),
    // which is not guarded; at v12-17 it rejects that tag, as we do not know it.
    static FETCH: &[Field] = &[
        f("ClusterId", STRING, 12, ALL).null(12).tag(0),
        f("ReplicaId", INT32, 0, 14),
        f("ReplicaState", Kind::Struct(FETCH_REPLICA_STATE), 15, ALL).tag(1),
        f("MaxWaitMs", INT32, 0, ALL),
        f("MinBytes", INT32, 0, ALL),
        f("MaxBytes", INT32, 3, ALL),
        f("IsolationLevel", INT8, 4, ALL),
        f("SessionId", INT32, 7, ALL),
        f("SessionEpoch", INT32, 7, ALL),
        f("Topics", structs(FETCH_TOPIC), 0, ALL),
        f("ForgottenTopicsData", structs(FETCH_FORGOTTEN_TOPIC), 7, ALL),
        f("RackId", STRING, 11, ALL),
    ];
    static FETCH_REPLICA_STATE: &[Field] = &[
        f("ReplicaId", INT32, 15, ALL),
        f("ReplicaEpoch", INT64, 15, ALL),
    ];
    static FETCH_TOPIC: &[Field] = &[
        f("Topic", STRING, 0, 12),
        f("TopicId", UUID, 13, ALL),
        f("Partitions", structs(FETCH_PARTITION), 0, ALL),
    ];
    static FETCH_PARTITION: &[Field] = &[
        f("Partition", INT32, 0, ALL),
        f("CurrentLeaderEpoch", INT32, 9, ALL),
        f("FetchOffset", INT64, 0, ALL),
        f("LastFetchedEpoch", INT32, 12, ALL),
        f("LogStartOffset", INT64, 5, ALL),
        f("PartitionMaxBytes", INT32, 0, ALL),
        f("ReplicaDirectoryId", UUID, 17, ALL).tag(0),
    ];
    static FETCH_FORGOTTEN_TOPIC: &[Field] = &[
        f("Topic", STRING, 7, 12),
        f("TopicId", UUID, 13, ALL),
        f("Partitions", INT32S, 7, ALL),
    ];

    static LIST_OFFSETS: &[Field] = &[
        f("ReplicaId", INT32, 0, ALL),
        f("IsolationLevel", INT8, 2, ALL),
        f("Topics", structs(LIST_OFFSETS_TOPIC), 0, ALL),
        f("TimeoutMs", INT32, 10, ALL),
    ];
    static LIST_OFFSETS_TOPIC: &[Field] = &[
        f("Name", STRING, 0, ALL),
        f("Partitions", structs(LIST_OFFSETS_PARTITION), 0, ALL),
    ];
    static LIST_OFFSETS_PARTITION: &[Field] = &[
        f("PartitionIndex", INT32, 0, ALL),
        f("CurrentLeaderEpoch", INT32, 4, ALL),
        f("Timestamp", INT64, 0, ALL),
        f("MaxNumOffsets", INT32, 0, 0),
    ];

    // Metadata. v13 is not in the local JSON (0-12); the codec encodes it
    // exactly like v12.
    static METADATA: &[Field] = &[
        f("Topics", structs(METADATA_TOPIC), 0, ALL).null(1),
        f("AllowAutoTopicCreation", BOOL, 4, ALL),
        f("IncludeClusterAuthorizedOperations", BOOL, 8, 10),
        f("IncludeTopicAuthorizedOperations", BOOL, 8, ALL),
    ];
    static METADATA_TOPIC: &[Field] = &[
        f("TopicId", UUID, 10, ALL),
        f("Name", STRING, 0, ALL).null(10),
    ];

    static OFFSET_COMMIT: &[Field] = &[
        f("GroupId", STRING, 0, ALL),
        f("GenerationIdOrMemberEpoch", INT32, 1, ALL),
        f("MemberId", STRING, 1, ALL),
        f("GroupInstanceId", STRING, 7, ALL).null(7),
        f("RetentionTimeMs", INT64, 2, 4),
        f("Topics", structs(OFFSET_COMMIT_TOPIC), 0, ALL),
    ];
    static OFFSET_COMMIT_TOPIC: &[Field] = &[
        f("Name", STRING, 0, ALL),
        f("Partitions", structs(OFFSET_COMMIT_PARTITION), 0, ALL),
    ];
    static OFFSET_COMMIT_PARTITION: &[Field] = &[
        f("PartitionIndex", INT32, 0, ALL),
        f("CommittedOffset", INT64, 0, ALL),
        f("CommittedLeaderEpoch", INT32, 6, ALL),
        f("CommitTimestamp", INT64, 1, 1),
        f("CommittedMetadata", STRING, 0, ALL).null(0),
    ];

    static OFFSET_FETCH: &[Field] = &[
        f("GroupId", STRING, 0, 7),
        f("Topics", structs(OFFSET_FETCH_TOPIC), 0, 7).null(2),
        f("Groups", structs(OFFSET_FETCH_GROUP), 8, ALL),
        f("RequireStable", BOOL, 7, ALL),
    ];
    static OFFSET_FETCH_TOPIC: &[Field] = &[
        f("Name", STRING, 0, 7),
        f("PartitionIndexes", INT32S, 0, 7),
    ];
    static OFFSET_FETCH_GROUP: &[Field] = &[
        f("GroupId", STRING, 8, ALL),
        f("MemberId", STRING, 9, ALL).null(9),
        f("MemberEpoch", INT32, 9, ALL),
        f("Topics", structs(OFFSET_FETCH_GROUP_TOPIC), 8, ALL).null(8),
    ];
    static OFFSET_FETCH_GROUP_TOPIC: &[Field] = &[
        f("Name", STRING, 8, ALL),
        f("PartitionIndexes", INT32S, 8, ALL),
    ];

    static FIND_COORDINATOR: &[Field] = &[
        f("Key", STRING, 0, 3),
        f("KeyType", INT8, 1, ALL),
        f("CoordinatorKeys", STRINGS, 4, ALL),
    ];

    static JOIN_GROUP: &[Field] = &[
        f("GroupId", STRING, 0, ALL),
        f("SessionTimeoutMs", INT32, 0, ALL),
        f("RebalanceTimeoutMs", INT32, 1, ALL),
        f("MemberId", STRING, 0, ALL),
        f("GroupInstanceId", STRING, 5, ALL).null(5),
        f("ProtocolType", STRING, 0, ALL),
        f("Protocols", structs(JOIN_GROUP_PROTOCOL), 0, ALL),
        f("Reason", STRING, 8, ALL).null(8),
    ];
    static JOIN_GROUP_PROTOCOL: &[Field] = &[
        f("Name", STRING, 0, ALL),
        f("Metadata", BYTES, 0, ALL),
    ];

    static HEARTBEAT: &[Field] = &[
        f("GroupId", STRING, 0, ALL),
        f("GenerationId", INT32, 0, ALL),
        f("MemberId", STRING, 0, ALL),
        f("GroupInstanceId", STRING, 3, ALL).null(3),
    ];

    static LEAVE_GROUP: &[Field] = &[
        f("GroupId", STRING, 0, ALL),
        f("MemberId", STRING, 0, 2),
        f("Members", structs(LEAVE_GROUP_MEMBER), 3, ALL),
    ];
    static LEAVE_GROUP_MEMBER: &[Field] = &[
        f("MemberId", STRING, 3, ALL),
        f("GroupInstanceId", STRING, 3, ALL).null(3),
        f("Reason", STRING, 5, ALL).null(5),
    ];

    static SYNC_GROUP: &[Field] = &[
        f("GroupId", STRING, 0, ALL),
        f("GenerationId", INT32, 0, ALL),
        f("MemberId", STRING, 0, ALL),
        f("GroupInstanceId", STRING, 3, ALL).null(3),
        f("ProtocolType", STRING, 5, ALL).null(5),
        f("ProtocolName", STRING, 5, ALL).null(5),
        f("Assignments", structs(SYNC_GROUP_ASSIGNMENT), 0, ALL),
    ];
    static SYNC_GROUP_ASSIGNMENT: &[Field] = &[
        f("MemberId", STRING, 0, ALL),
        f("Assignment", BYTES, 0, ALL),
    ];

    static DESCRIBE_GROUPS: &[Field] = &[
        f("Groups", STRINGS, 0, ALL),
        f("IncludeAuthorizedOperations", BOOL, 3, ALL),
    ];

    static LIST_GROUPS: &[Field] = &[
        f("StatesFilter", STRINGS, 4, ALL),
        f("TypesFilter", STRINGS, 5, ALL),
    ];

    static API_VERSIONS: &[Field] = &[
        f("ClientSoftwareName", STRING, 3, ALL),
        f("ClientSoftwareVersion", STRING, 3, ALL),
    ];

    static CREATE_TOPICS: &[Field] = &[
        f("Topics", structs(CREATABLE_TOPIC), 0, ALL),
        f("TimeoutMs", INT32, 0, ALL),
        f("ValidateOnly", BOOL, 1, ALL),
    ];
    static CREATABLE_TOPIC: &[Field] = &[
        f("Name", STRING, 0, ALL),
        f("NumPartitions", INT32, 0, ALL),
        f("ReplicationFactor", INT16, 0, ALL),
        f("Assignments", structs(CREATABLE_REPLICA_ASSIGNMENT), 0, ALL),
        f("Configs", structs(CREATABLE_TOPIC_CONFIG), 0, ALL),
    ];
    static CREATABLE_REPLICA_ASSIGNMENT: &[Field] = &[
        f("PartitionIndex", INT32, 0, ALL),
        f("BrokerIds", INT32S, 0, ALL),
    ];
    static CREATABLE_TOPIC_CONFIG: &[Field] = &[
        f("Name", STRING, 0, ALL),
        f("Value", STRING, 0, ALL).null(0),
    ];

    static DELETE_TOPICS: &[Field] = &[
        f("Topics", structs(DELETE_TOPIC_STATE), 6, ALL),
        f("TopicNames", STRINGS, 0, 5),
        f("TimeoutMs", INT32, 0, ALL),
    ];
    static DELETE_TOPIC_STATE: &[Field] = &[
        f("Name", STRING, 6, ALL).null(6),
        f("TopicId", UUID, 6, ALL),
    ];

    static CREATE_PARTITIONS: &[Field] = &[
        f("Topics", structs(CREATE_PARTITIONS_TOPIC), 0, ALL),
        f("TimeoutMs", INT32, 0, ALL),
        f("ValidateOnly", BOOL, 0, ALL),
    ];
    static CREATE_PARTITIONS_TOPIC: &[Field] = &[
        f("Name", STRING, 0, ALL),
        f("Count", INT32, 0, ALL),
        f("Assignments", structs(CREATE_PARTITIONS_ASSIGNMENT), 0, ALL).null(0),
    ];
    static CREATE_PARTITIONS_ASSIGNMENT: &[Field] = &[f("BrokerIds", INT32S, 0, ALL)];

    static DELETE_RECORDS: &[Field] = &[
        f("Topics", structs(DELETE_RECORDS_TOPIC), 0, ALL),
        f("TimeoutMs", INT32, 0, ALL),
    ];
    static DELETE_RECORDS_TOPIC: &[Field] = &[
        f("Name", STRING, 0, ALL),
        f("Partitions", structs(DELETE_RECORDS_PARTITION), 0, ALL),
    ];
    static DELETE_RECORDS_PARTITION: &[Field] = &[
        f("PartitionIndex", INT32, 0, ALL),
        f("Offset", INT64, 0, ALL),
    ];

    static INIT_PRODUCER_ID: &[Field] = &[
        f("TransactionalId", STRING, 0, ALL).null(0),
        f("TransactionTimeoutMs", INT32, 0, ALL),
        f("ProducerId", INT64, 3, ALL),
        f("ProducerEpoch", INT16, 3, ALL),
    ];

    static OFFSET_FOR_LEADER_EPOCH: &[Field] = &[
        f("ReplicaId", INT32, 3, ALL),
        f("Topics", structs(OFFSET_FOR_LEADER_TOPIC), 0, ALL),
    ];
    static OFFSET_FOR_LEADER_TOPIC: &[Field] = &[
        f("Topic", STRING, 0, ALL),
        f("Partitions", structs(OFFSET_FOR_LEADER_PARTITION), 0, ALL),
    ];
    static OFFSET_FOR_LEADER_PARTITION: &[Field] = &[
        f("Partition", INT32, 0, ALL),
        f("CurrentLeaderEpoch", INT32, 2, ALL),
        f("LeaderEpoch", INT32, 0, ALL),
    ];

    static ADD_PARTITIONS_TO_TXN: &[Field] = &[
        f("Transactions", structs(ADD_PARTITIONS_TO_TXN_TRANSACTION), 4, ALL),
        f("V3AndBelowTransactionalId", STRING, 0, 3),
        f("V3AndBelowProducerId", INT64, 0, 3),
        f("V3AndBelowProducerEpoch", INT16, 0, 3),
        f("V3AndBelowTopics", structs(ADD_PARTITIONS_TO_TXN_TOPIC), 0, 3),
    ];
    static ADD_PARTITIONS_TO_TXN_TRANSACTION: &[Field] = &[
        f("TransactionalId", STRING, 4, ALL),
        f("ProducerId", INT64, 4, ALL),
        f("ProducerEpoch", INT16, 4, ALL),
        f("VerifyOnly", BOOL, 4, ALL),
        f("Topics", structs(ADD_PARTITIONS_TO_TXN_TOPIC), 4, ALL),
    ];
    static ADD_PARTITIONS_TO_TXN_TOPIC: &[Field] = &[
        f("Name", STRING, 0, ALL),
        f("Partitions", INT32S, 0, ALL),
    ];

    static ADD_OFFSETS_TO_TXN: &[Field] = &[
        f("TransactionalId", STRING, 0, ALL),
        f("ProducerId", INT64, 0, ALL),
        f("ProducerEpoch", INT16, 0, ALL),
        f("GroupId", STRING, 0, ALL),
    ];

    static END_TXN: &[Field] = &[
        f("TransactionalId", STRING, 0, ALL),
        f("ProducerId", INT64, 0, ALL),
        f("ProducerEpoch", INT16, 0, ALL),
        f("Committed", BOOL, 0, ALL),
    ];

    static TXN_OFFSET_COMMIT: &[Field] = &[
        f("TransactionalId", STRING, 0, ALL),
        f("GroupId", STRING, 0, ALL),
        f("ProducerId", INT64, 0, ALL),
        f("ProducerEpoch", INT16, 0, ALL),
        f("GenerationId", INT32, 3, ALL),
        f("MemberId", STRING, 3, ALL),
        f("GroupInstanceId", STRING, 3, ALL).null(3),
        f("Topics", structs(TXN_OFFSET_COMMIT_TOPIC), 0, ALL),
    ];
    static TXN_OFFSET_COMMIT_TOPIC: &[Field] = &[
        f("Name", STRING, 0, ALL),
        f("Partitions", structs(TXN_OFFSET_COMMIT_PARTITION), 0, ALL),
    ];
    static TXN_OFFSET_COMMIT_PARTITION: &[Field] = &[
        f("PartitionIndex", INT32, 0, ALL),
        f("CommittedOffset", INT64, 0, ALL),
        f("CommittedLeaderEpoch", INT32, 2, ALL),
        f("CommittedMetadata", STRING, 0, ALL).null(0),
    ];

    static WRITE_TXN_MARKERS: &[Field] = &[f("Markers", structs(WRITABLE_TXN_MARKER), 0, ALL)];
    static WRITABLE_TXN_MARKER: &[Field] = &[
        f("ProducerId", INT64, 0, ALL),
        f("ProducerEpoch", INT16, 0, ALL),
        f("TransactionResult", BOOL, 0, ALL),
        f("Topics", structs(WRITABLE_TXN_MARKER_TOPIC), 0, ALL),
        f("CoordinatorEpoch", INT32, 0, ALL),
    ];
    static WRITABLE_TXN_MARKER_TOPIC: &[Field] = &[
        f("Name", STRING, 0, ALL),
        f("PartitionIndexes", INT32S, 0, ALL),
    ];

    static DESCRIBE_CONFIGS: &[Field] = &[
        f("Resources", structs(DESCRIBE_CONFIGS_RESOURCE), 0, ALL),
        f("IncludeSynonyms", BOOL, 1, ALL),
        f("IncludeDocumentation", BOOL, 3, ALL),
    ];
    static DESCRIBE_CONFIGS_RESOURCE: &[Field] = &[
        f("ResourceType", INT8, 0, ALL),
        f("ResourceName", STRING, 0, ALL),
        f("ConfigurationKeys", STRINGS, 0, ALL).null(0),
    ];

    static ALTER_CONFIGS: &[Field] = &[
        f("Resources", structs(ALTER_CONFIGS_RESOURCE), 0, ALL),
        f("ValidateOnly", BOOL, 0, ALL),
    ];
    static ALTER_CONFIGS_RESOURCE: &[Field] = &[
        f("ResourceType", INT8, 0, ALL),
        f("ResourceName", STRING, 0, ALL),
        f("Configs", structs(ALTERABLE_CONFIG), 0, ALL),
    ];
    static ALTERABLE_CONFIG: &[Field] = &[
        f("Name", STRING, 0, ALL),
        f("Value", STRING, 0, ALL).null(0),
    ];

    static INCREMENTAL_ALTER_CONFIGS: &[Field] = &[
        f("Resources", structs(INCREMENTAL_ALTER_CONFIGS_RESOURCE), 0, ALL),
        f("ValidateOnly", BOOL, 0, ALL),
    ];
    static INCREMENTAL_ALTER_CONFIGS_RESOURCE: &[Field] = &[
        f("ResourceType", INT8, 0, ALL),
        f("ResourceName", STRING, 0, ALL),
        f("Configs", structs(INCREMENTAL_ALTERABLE_CONFIG), 0, ALL),
    ];
    static INCREMENTAL_ALTERABLE_CONFIG: &[Field] = &[
        f("Name", STRING, 0, ALL),
        f("ConfigOperation", INT8, 0, ALL),
        f("Value", STRING, 0, ALL).null(0),
    ];

    // DescribeCluster. v2 (IncludeFencedBrokers) is not in the local JSON
    // (0-1); taken from the codec.
    static DESCRIBE_QUORUM: &[Field] = &[
        f("Topics", structs(DESCRIBE_QUORUM_TOPIC), 0, ALL),
    ];
    static DESCRIBE_QUORUM_TOPIC: &[Field] = &[
        f("TopicName", STRING, 0, ALL),
        f("Partitions", structs(DESCRIBE_QUORUM_PARTITION), 0, ALL),
    ];
    static DESCRIBE_QUORUM_PARTITION: &[Field] = &[
        f("PartitionIndex", INT32, 0, ALL),
    ];

    static DESCRIBE_CLUSTER: &[Field] = &[
        f("IncludeClusterAuthorizedOperations", BOOL, 0, ALL),
        f("EndpointType", INT8, 1, ALL),
        f("IncludeFencedBrokers", BOOL, 2, ALL),
    ];

    static DESCRIBE_TOPIC_PARTITIONS: &[Field] = &[
        f("Topics", structs(DESCRIBE_TOPIC_PARTITIONS_TOPIC), 0, ALL),
        f("ResponsePartitionLimit", INT32, 0, ALL),
        f("Cursor", Kind::Struct(DESCRIBE_TOPIC_PARTITIONS_CURSOR), 0, ALL).null(0),
    ];
    static DESCRIBE_TOPIC_PARTITIONS_TOPIC: &[Field] = &[f("Name", STRING, 0, ALL)];
    static DESCRIBE_TOPIC_PARTITIONS_CURSOR: &[Field] = &[
        f("TopicName", STRING, 0, ALL),
        f("PartitionIndex", INT32, 0, ALL),
    ];

    static LIST_PARTITION_REASSIGNMENTS: &[Field] = &[
        f("TimeoutMs", INT32, 0, ALL),
        f("Topics", structs(LIST_PARTITION_REASSIGNMENTS_TOPIC), 0, ALL).null(0),
    ];
    static LIST_PARTITION_REASSIGNMENTS_TOPIC: &[Field] = &[
        f("Name", STRING, 0, ALL),
        f("PartitionIndexes", INT32S, 0, ALL),
    ];

    static ELECT_LEADERS: &[Field] = &[
        f("ElectionType", INT8, 1, ALL),
        f("TopicPartitions", structs(ELECT_LEADERS_TOPIC), 0, ALL).null(0),
        f("TimeoutMs", INT32, 0, ALL),
    ];
    static ELECT_LEADERS_TOPIC: &[Field] = &[
        f("Topic", STRING, 0, ALL),
        f("Partitions", INT32S, 0, ALL),
    ];

    static DESCRIBE_LOG_DIRS: &[Field] = &[f("Topics", structs(DESCRIBABLE_LOG_DIR_TOPIC), 0, ALL).null(0)];
    static DESCRIBABLE_LOG_DIR_TOPIC: &[Field] = &[
        f("Topic", STRING, 0, ALL),
        f("Partitions", INT32S, 0, ALL),
    ];

    static DELETE_GROUPS: &[Field] = &[f("GroupsNames", STRINGS, 0, ALL)];

    static OFFSET_DELETE: &[Field] = &[
        f("GroupId", STRING, 0, ALL),
        f("Topics", structs(OFFSET_DELETE_TOPIC), 0, ALL),
    ];
    static OFFSET_DELETE_TOPIC: &[Field] = &[
        f("Name", STRING, 0, ALL),
        f("Partitions", structs(OFFSET_DELETE_PARTITION), 0, ALL),
    ];
    static OFFSET_DELETE_PARTITION: &[Field] = &[f("PartitionIndex", INT32, 0, ALL)];

    static DESCRIBE_PRODUCERS: &[Field] = &[f("Topics", structs(DESCRIBE_PRODUCERS_TOPIC), 0, ALL)];
    static DESCRIBE_PRODUCERS_TOPIC: &[Field] = &[
        f("Name", STRING, 0, ALL),
        f("PartitionIndexes", INT32S, 0, ALL),
    ];

    static DESCRIBE_TRANSACTIONS: &[Field] = &[f("TransactionalIds", STRINGS, 0, ALL)];

    static LIST_TRANSACTIONS: &[Field] = &[
        f("StateFilters", STRINGS, 0, ALL),
        f("ProducerIdFilters", INT64S, 0, ALL),
        f("DurationFilter", INT64, 1, ALL),
    ];

    static ALTER_PARTITION: &[Field] = &[
        f("BrokerId", INT32, 0, ALL),
        f("BrokerEpoch", INT64, 0, ALL),
        f("Topics", structs(ALTER_PARTITION_TOPIC), 0, ALL),
    ];
    static ALTER_PARTITION_TOPIC: &[Field] = &[
        f("TopicName", STRING, 0, 1),
        f("TopicId", UUID, 2, ALL),
        f("Partitions", structs(ALTER_PARTITION_PARTITION), 0, ALL),
    ];
    static ALTER_PARTITION_PARTITION: &[Field] = &[
        f("PartitionIndex", INT32, 0, ALL),
        f("LeaderEpoch", INT32, 0, ALL),
        f("NewIsr", INT32S, 0, 2),
        f("NewIsrWithEpochs", structs(ALTER_PARTITION_BROKER_STATE), 3, ALL),
        f("LeaderRecoveryState", INT8, 1, ALL),
        f("PartitionEpoch", INT32, 0, ALL),
    ];
    static ALTER_PARTITION_BROKER_STATE: &[Field] = &[
        f("BrokerId", INT32, 3, ALL),
        f("BrokerEpoch", INT64, 3, ALL),
    ];

    static BROKER_REGISTRATION: &[Field] = &[
        f("BrokerId", INT32, 0, ALL),
        f("ClusterId", STRING, 0, ALL),
        f("IncarnationId", UUID, 0, ALL),
        f("Listeners", structs(BROKER_REGISTRATION_LISTENER), 0, ALL),
        f("Features", structs(BROKER_REGISTRATION_FEATURE), 0, ALL),
        f("Rack", STRING, 0, ALL).null(0),
        f("IsMigratingZkBroker", BOOL, 1, ALL),
        f("LogDirs", UUIDS, 2, ALL),
        f("PreviousBrokerEpoch", INT64, 3, ALL),
    ];
    static BROKER_REGISTRATION_LISTENER: &[Field] = &[
        f("Name", STRING, 0, ALL),
        f("Host", STRING, 0, ALL),
        f("Port", UINT16, 0, ALL),
        f("SecurityProtocol", INT16, 0, ALL),
    ];
    static BROKER_REGISTRATION_FEATURE: &[Field] = &[
        f("Name", STRING, 0, ALL),
        f("MinSupportedVersion", INT16, 0, ALL),
        f("MaxSupportedVersion", INT16, 0, ALL),
    ];

    static BROKER_HEARTBEAT: &[Field] = &[
        f("BrokerId", INT32, 0, ALL),
        f("BrokerEpoch", INT64, 0, ALL),
        f("CurrentMetadataOffset", INT64, 0, ALL),
        f("WantFence", BOOL, 0, ALL),
        f("WantShutDown", BOOL, 0, ALL),
        f("OfflineLogDirs", UUIDS, 1, ALL).tag(0),
    ];
}

// ---------------------------------------------------------------------------
// Walker
// ---------------------------------------------------------------------------

/// What every field of one request shares.
#[derive(Clone, Copy)]
struct Ctx {
    version: i16,
    flexible: bool,
}

/// A cursor over the body. A tagged field's value is walked with a reader
/// whose `data` ends where the field's declared size ends, so `pos` stays an
/// offset into the whole body.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], GuardError> {
        if n > self.remaining() {
            return Err(GuardError::Truncated { what, at: self.pos });
        }
        let bytes = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    fn i8(&mut self, what: &'static str) -> Result<i8, GuardError> {
        Ok(self.take(1, what)?[0] as i8)
    }

    fn i16(&mut self, what: &'static str) -> Result<i16, GuardError> {
        let b = self.take(2, what)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self, what: &'static str) -> Result<i32, GuardError> {
        let b = self.take(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// An unsigned varint of at most 5 bytes. The codec silently stops after
    /// 5 bytes and drops bits above 32; such encodings are refused here so
    /// both sides always agree on the value and on where it ends.
    fn uvarint(&mut self, what: &'static str) -> Result<u32, GuardError> {
        let at = self.pos;
        let mut value: u32 = 0;
        for i in 0..5 {
            let b = self.take(1, what)?[0];
            if i == 4 && b > 0x0f {
                return Err(GuardError::BadVarint { what, at });
            }
            value |= u32::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(value);
            }
        }
        Err(GuardError::BadVarint { what, at })
    }

    /// Splits off the next `n` bytes (already checked to fit) as a reader of
    /// their own and moves past them.
    fn split(&mut self, n: usize) -> Reader<'a> {
        let end = self.pos + n;
        let sub = Reader { data: &self.data[..end], pos: self.pos };
        self.pos = end;
        sub
    }

    /// Fails unless `len` bytes fit in what remains after the prefix that
    /// started at `at`.
    fn check_fits(&self, len: u64, what: &'static str, at: usize) -> Result<(), GuardError> {
        let remaining = self.remaining();
        if len > remaining as u64 {
            return Err(GuardError::LengthExceedsRemaining { what, len, remaining, at });
        }
        Ok(())
    }
}

/// Width of a non-flexible length prefix.
#[derive(Clone, Copy)]
enum Prefix {
    I16,
    I32,
}

/// Reads a length (strings, bytes) or count (arrays) prefix: int16/int32
/// with -1 for null, or in flexible versions an unsigned varint holding
/// length + 1 with 0 for null. `None` is null; null where the field is not
/// nullable is refused (the codec refuses it too).
fn read_len(
    r: &mut Reader<'_>,
    prefix: Prefix,
    nullable: bool,
    what: &'static str,
    cx: Ctx,
) -> Result<Option<u64>, GuardError> {
    let at = r.pos;
    let len = if cx.flexible {
        match r.uvarint(what)? {
            0 => None,
            n => Some(u64::from(n) - 1),
        }
    } else {
        let n = match prefix {
            Prefix::I16 => i32::from(r.i16(what)?),
            Prefix::I32 => r.i32(what)?,
        };
        match n {
            -1 => None,
            n if n < 0 => return Err(GuardError::NegativeLength { what, len: n, at }),
            n => Some(n as u64),
        }
    };
    match len {
        None if !nullable => Err(GuardError::UnexpectedNull { what, at }),
        _ => Ok(len),
    }
}

/// Walks a string or bytes value: checks its length and skips it.
fn walk_blob(
    r: &mut Reader<'_>,
    prefix: Prefix,
    nullable: bool,
    what: &'static str,
    cx: Ctx,
) -> Result<(), GuardError> {
    let at = r.pos;
    if let Some(len) = read_len(r, prefix, nullable, what, cx)? {
        r.check_fits(len, what, at)?;
        // Fits in `remaining`, hence in usize.
        r.take(len as usize, what)?;
    }
    Ok(())
}

fn walk_struct(r: &mut Reader<'_>, fields: &'static [Field], cx: Ctx, depth: usize) -> Result<(), GuardError> {
    if depth > MAX_DEPTH {
        return Err(GuardError::TooDeep(MAX_DEPTH));
    }
    for field in fields {
        if field.tag.is_none() && field.present(cx.version) {
            walk_field(r, field, cx, depth)?;
        }
    }
    if cx.flexible {
        walk_tagged(r, fields, cx, depth)?;
    }
    Ok(())
}

fn walk_field(r: &mut Reader<'_>, field: &Field, cx: Ctx, depth: usize) -> Result<(), GuardError> {
    let what = field.name;
    let nullable = field.nullable(cx.version);
    match field.kind {
        Kind::Fixed(n) => r.take(usize::from(n), what).map(drop),
        Kind::String => walk_blob(r, Prefix::I16, nullable, what, cx),
        Kind::Bytes => walk_blob(r, Prefix::I32, nullable, what, cx),
        Kind::Struct(fields) => {
            if nullable {
                let at = r.pos;
                match r.i8(what)? {
                    -1 => return Ok(()),
                    1 => {}
                    marker => return Err(GuardError::BadStructMarker { what, marker, at }),
                }
            }
            walk_struct(r, fields, cx, depth + 1)
        }
        Kind::Array(elem) => {
            let at = r.pos;
            let Some(count) = read_len(r, Prefix::I32, nullable, what, cx)? else {
                return Ok(());
            };
            match elem {
                Elem::Fixed(size) => {
                    let len = count * u64::from(size);
                    r.check_fits(len, what, at)?;
                    r.take(len as usize, what).map(drop)
                }
                Elem::String => {
                    r.check_fits(count, what, at)?;
                    for _ in 0..count {
                        walk_blob(r, Prefix::I16, false, what, cx)?;
                    }
                    Ok(())
                }
                Elem::Struct(fields) => {
                    // The codec reserves `count` elements before reading
                    // the first, so bound it by the bytes left (every
                    // element takes at least one); the walk then proves each
                    // element is really there.
                    r.check_fits(count, what, at)?;
                    for _ in 0..count {
                        walk_struct(r, fields, cx, depth + 1)?;
                    }
                    Ok(())
                }
            }
        }
    }
}

/// Walks a tagged-field section: a varint count, then (tag, size, value)
/// triples. Known tags are walked with their schema inside exactly `size`
/// bytes, because the codec decodes known tags by schema and ignores the
/// size; unknown tags are skipped by size, as the codec does.
fn walk_tagged(r: &mut Reader<'_>, fields: &'static [Field], cx: Ctx, depth: usize) -> Result<(), GuardError> {
    const WHAT: &str = "tagged fields";
    let at = r.pos;
    let count = r.uvarint(WHAT)?;
    // A tag and its size take at least one byte each.
    r.check_fits(u64::from(count) * 2, WHAT, at)?;
    for _ in 0..count {
        let tag_at = r.pos;
        let tag = r.uvarint(WHAT)?;
        let size_at = r.pos;
        let size = r.uvarint(WHAT)?;
        r.check_fits(u64::from(size), WHAT, size_at)?;
        let mut value = r.split(size as usize);
        let Some(field) = fields.iter().find(|f| f.tag == Some(tag)) else {
            // Lets tests prove the codec's known tags are known here too.
            #[cfg(test)]
            tests::note_unknown_tag(tag);
            continue;
        };
        if !field.present(cx.version) {
            // The codec refuses a known tag outside its versions.
            return Err(GuardError::TagNotValidForVersion { what: field.name, tag, at: tag_at });
        }
        walk_field(&mut value, field, cx, depth)?;
        if value.remaining() != 0 {
            return Err(GuardError::TaggedSizeMismatch {
                what: field.name,
                tag,
                declared: size as usize,
                used: size as usize - value.remaining(),
                at: tag_at,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The codec is the oracle: bodies it encodes must pass, bodies built
    //! from our schema must decode and re-encode byte for byte, and anything
    //! damaged or forged must be refused without a panic.

    use super::*;
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
    use std::collections::BTreeMap;
    use uuid::Uuid;

    /// The api/version ranges this guard must cover (the brief's list).
    const COVERED: &[(ApiKey, i16, i16)] = &[
        (ApiKey::Produce, 3, 12),
        (ApiKey::Fetch, 4, 17),
        (ApiKey::ListOffsets, 1, 10),
        (ApiKey::Metadata, 0, 13),
        (ApiKey::OffsetCommit, 2, 9),
        (ApiKey::OffsetFetch, 1, 9),
        (ApiKey::FindCoordinator, 0, 6),
        (ApiKey::JoinGroup, 0, 9),
        (ApiKey::Heartbeat, 0, 4),
        (ApiKey::LeaveGroup, 0, 5),
        (ApiKey::SyncGroup, 0, 5),
        (ApiKey::DescribeGroups, 0, 5),
        (ApiKey::ListGroups, 0, 5),
        (ApiKey::ApiVersions, 0, 4),
        (ApiKey::CreateTopics, 2, 7),
        (ApiKey::DeleteTopics, 1, 6),
        (ApiKey::CreatePartitions, 0, 3),
        (ApiKey::DeleteRecords, 0, 2),
        (ApiKey::InitProducerId, 0, 5),
        (ApiKey::OffsetForLeaderEpoch, 2, 4),
        (ApiKey::AddPartitionsToTxn, 0, 3),
        (ApiKey::AddOffsetsToTxn, 0, 4),
        (ApiKey::EndTxn, 0, 4),
        (ApiKey::TxnOffsetCommit, 0, 4),
        (ApiKey::WriteTxnMarkers, 1, 1),
        (ApiKey::DescribeQuorum, 0, 1),
        (ApiKey::DescribeConfigs, 1, 4),
        (ApiKey::AlterConfigs, 0, 2),
        (ApiKey::IncrementalAlterConfigs, 0, 1),
        (ApiKey::DescribeCluster, 0, 2),
        (ApiKey::DescribeTopicPartitions, 0, 0),
        (ApiKey::ListPartitionReassignments, 0, 0),
        (ApiKey::ElectLeaders, 0, 2),
        (ApiKey::DescribeLogDirs, 1, 4),
        (ApiKey::DeleteGroups, 0, 2),
        (ApiKey::OffsetDelete, 0, 0),
        (ApiKey::DescribeProducers, 0, 0),
        (ApiKey::DescribeTransactions, 0, 0),
        (ApiKey::ListTransactions, 0, 1),
        (ApiKey::AlterPartition, 2, 3),
        (ApiKey::BrokerRegistration, 0, 4),
        (ApiKey::BrokerHeartbeat, 0, 1),
    ];

    fn all_versions() -> Vec<(ApiKey, i16)> {
        COVERED.iter().flat_map(|&(key, min, max)| (min..=max).map(move |v| (key, v))).collect()
    }

    // -- codec dispatch ----------------------------------------------------

    fn encode<T: Encodable>(value: &T, version: i16) -> Vec<u8> {
        let mut out = BytesMut::new();
        value.encode(&mut out, version).unwrap_or_else(|e| panic!("codec cannot encode v{version}: {e:#}"));
        out.to_vec()
    }

    /// Decodes with the codec; the number of bytes it consumed.
    fn decode_len<T: Decodable>(version: i16, body: &[u8]) -> Result<(T, usize), String> {
        let mut buf = Bytes::copy_from_slice(body);
        let value = T::decode(&mut buf, version).map_err(|e| format!("{e:#}"))?;
        Ok((value, body.len() - buf.len()))
    }

    /// Decodes every byte with the codec; the value encoded again, and its
    /// `Debug` form (which shows any tag the codec did not recognise).
    fn roundtrip<T: Decodable + Encodable + std::fmt::Debug>(
        version: i16,
        body: &[u8],
    ) -> Result<(Vec<u8>, String), String> {
        let (value, used) = decode_len::<T>(version, body)?;
        if used != body.len() {
            return Err(format!("codec consumed {used} of {} bytes", body.len()));
        }
        Ok((encode(&value, version), format!("{value:?}")))
    }

    macro_rules! codecs {
        ($($key:ident => $ty:ty, $build:ident;)*) => {
            fn codec_roundtrip(key: ApiKey, version: i16, body: &[u8]) -> Result<(Vec<u8>, String), String> {
                match key {
                    $(ApiKey::$key => roundtrip::<$ty>(version, body),)*
                    other => panic!("no codec for {other:?}"),
                }
            }

            fn codec_consumed(key: ApiKey, version: i16, body: &[u8]) -> Result<usize, String> {
                match key {
                    $(ApiKey::$key => decode_len::<$ty>(version, body).map(|(_, n)| n),)*
                    other => panic!("no codec for {other:?}"),
                }
            }

            /// The codec's default request and our populated one, encoded.
            fn codec_bodies(key: ApiKey, version: i16) -> [(&'static str, Vec<u8>); 2] {
                match key {
                    $(ApiKey::$key => [
                        ("default", encode(&<$ty>::default(), version)),
                        ("populated", encode(&$build(version), version)),
                    ],)*
                    other => panic!("no codec for {other:?}"),
                }
            }
        };
    }

    codecs! {
        Produce => ProduceRequest, produce;
        Fetch => FetchRequest, fetch;
        ListOffsets => ListOffsetsRequest, list_offsets;
        Metadata => MetadataRequest, metadata;
        OffsetCommit => OffsetCommitRequest, offset_commit;
        OffsetFetch => OffsetFetchRequest, offset_fetch;
        FindCoordinator => FindCoordinatorRequest, find_coordinator;
        JoinGroup => JoinGroupRequest, join_group;
        Heartbeat => HeartbeatRequest, heartbeat;
        LeaveGroup => LeaveGroupRequest, leave_group;
        SyncGroup => SyncGroupRequest, sync_group;
        DescribeGroups => DescribeGroupsRequest, describe_groups;
        ListGroups => ListGroupsRequest, list_groups;
        ApiVersions => ApiVersionsRequest, api_versions;
        CreateTopics => CreateTopicsRequest, create_topics;
        DeleteTopics => DeleteTopicsRequest, delete_topics;
        CreatePartitions => CreatePartitionsRequest, create_partitions;
        DeleteRecords => DeleteRecordsRequest, delete_records;
        InitProducerId => InitProducerIdRequest, init_producer_id;
        OffsetForLeaderEpoch => OffsetForLeaderEpochRequest, offset_for_leader_epoch;
        AddPartitionsToTxn => AddPartitionsToTxnRequest, add_partitions_to_txn;
        AddOffsetsToTxn => AddOffsetsToTxnRequest, add_offsets_to_txn;
        EndTxn => EndTxnRequest, end_txn;
        TxnOffsetCommit => TxnOffsetCommitRequest, txn_offset_commit;
        WriteTxnMarkers => WriteTxnMarkersRequest, write_txn_markers;
        DescribeQuorum => DescribeQuorumRequest, describe_quorum;
        DescribeConfigs => DescribeConfigsRequest, describe_configs;
        AlterConfigs => AlterConfigsRequest, alter_configs;
        IncrementalAlterConfigs => IncrementalAlterConfigsRequest, incremental_alter_configs;
        DescribeCluster => DescribeClusterRequest, describe_cluster;
        DescribeTopicPartitions => DescribeTopicPartitionsRequest, describe_topic_partitions;
        ListPartitionReassignments => ListPartitionReassignmentsRequest, list_partition_reassignments;
        ElectLeaders => ElectLeadersRequest, elect_leaders;
        DescribeLogDirs => DescribeLogDirsRequest, describe_log_dirs;
        DeleteGroups => DeleteGroupsRequest, delete_groups;
        OffsetDelete => OffsetDeleteRequest, offset_delete;
        DescribeProducers => DescribeProducersRequest, describe_producers;
        DescribeTransactions => DescribeTransactionsRequest, describe_transactions;
        ListTransactions => ListTransactionsRequest, list_transactions;
        AlterPartition => AlterPartitionRequest, alter_partition;
        BrokerRegistration => BrokerRegistrationRequest, broker_registration;
        BrokerHeartbeat => BrokerHeartbeatRequest, broker_heartbeat;
    }

    // -- populated requests, built with the codec's own types --------------
    //
    // Every array has two elements, nested arrays are filled, strings are
    // non-empty, nullable fields are set (plus one null where a nullable
    // element exists), known tagged fields are set, and an unknown tag is
    // added wherever the codec carries one. Fields the codec refuses to
    // encode outside their versions are only set inside them.

    fn s(x: &str) -> StrBytes {
        StrBytes::from_string(x.to_owned())
    }
    fn topic(x: &str) -> TopicName {
        TopicName(s(x))
    }
    fn group(x: &str) -> GroupId {
        GroupId(s(x))
    }
    fn txn(x: &str) -> TransactionalId {
        TransactionalId(s(x))
    }
    fn uuid(n: u128) -> Uuid {
        Uuid::from_u128(0x0123_4567_89ab_cdef_0000_0000_0000_0000 | n)
    }
    /// An unknown tagged field (tag 90); dropped in non-flexible versions.
    fn unk() -> BTreeMap<i32, Bytes> {
        BTreeMap::from([(90, Bytes::from_static(b"?!"))])
    }
    fn pick<T: Default>(present: bool, value: T) -> T {
        if present {
            value
        } else {
            T::default()
        }
    }

    fn produce(_v: i16) -> ProduceRequest {
        use produce_request::*;
        let part = |i| {
            PartitionProduceData::default()
                .with_index(i)
                .with_records(Some(Bytes::from_static(b"opaque record batch")))
                .with_unknown_tagged_fields(unk())
        };
        let t = |n| TopicProduceData::default().with_name(topic(n)).with_partition_data(vec![part(0), part(1)]);
        ProduceRequest::default()
            .with_transactional_id(Some(txn("tx")))
            .with_acks(-1)
            .with_timeout_ms(1500)
            .with_topic_data(vec![t("a"), t("b")])
            .with_unknown_tagged_fields(unk())
    }

    fn fetch(v: i16) -> FetchRequest {
        use fetch_request::*;
        let part = |i| {
            FetchPartition::default()
                .with_partition(i)
                .with_current_leader_epoch(4)
                .with_fetch_offset(100)
                .with_last_fetched_epoch(if v >= 12 { 3 } else { -1 })
                .with_log_start_offset(5)
                .with_partition_max_bytes(1 << 20)
                .with_replica_directory_id(uuid(11))
                .with_unknown_tagged_fields(unk())
        };
        let t = |n, id| {
            FetchTopic::default().with_topic(topic(n)).with_topic_id(uuid(id)).with_partitions(vec![part(0), part(1)])
        };
        let forgotten =
            |n, id| ForgottenTopic::default().with_topic(topic(n)).with_topic_id(uuid(id)).with_partitions(vec![1, 2]);
        let mut r = FetchRequest::default()
            .with_max_wait_ms(500)
            .with_min_bytes(1)
            .with_max_bytes(1 << 24)
            .with_isolation_level(1)
            .with_session_id(7)
            .with_session_epoch(2)
            .with_topics(vec![t("a", 1), t("b", 2)])
            .with_rack_id(s("rack"))
            .with_unknown_tagged_fields(unk());
        if v >= 7 {
            r = r.with_forgotten_topics_data(vec![forgotten("c", 3), forgotten("d", 4)]);
        }
        if v >= 12 {
            r = r.with_cluster_id(Some(s("cluster")));
        }
        if v <= 14 {
            r = r.with_replica_id(BrokerId(3));
        } else {
            r = r.with_replica_state(ReplicaState::default().with_replica_id(BrokerId(3)).with_replica_epoch(9));
        }
        r
    }

    fn list_offsets(v: i16) -> ListOffsetsRequest {
        use list_offsets_request::*;
        let part =
            |i| ListOffsetsPartition::default().with_partition_index(i).with_current_leader_epoch(2).with_timestamp(-1);
        let t = |n| ListOffsetsTopic::default().with_name(topic(n)).with_partitions(vec![part(0), part(1)]);
        ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_isolation_level(pick(v >= 2, 1))
            .with_topics(vec![t("a"), t("b")])
            .with_timeout_ms(3000)
            .with_unknown_tagged_fields(unk())
    }

    fn metadata(v: i16) -> MetadataRequest {
        use metadata_request::*;
        let t = |n: Option<&str>, id| MetadataRequestTopic::default().with_topic_id(uuid(id)).with_name(n.map(topic));
        let mut topics = vec![t(Some("a"), 1), t(Some("b"), 2)];
        if v >= 10 {
            topics.push(t(None, 3));
        }
        MetadataRequest::default()
            .with_topics(Some(topics))
            .with_allow_auto_topic_creation(v < 4)
            .with_include_cluster_authorized_operations((8..=10).contains(&v))
            .with_include_topic_authorized_operations(v >= 8)
            .with_unknown_tagged_fields(unk())
    }

    fn offset_commit(v: i16) -> OffsetCommitRequest {
        use offset_commit_request::*;
        let part = |i| {
            OffsetCommitRequestPartition::default()
                .with_partition_index(i)
                .with_committed_offset(42)
                .with_committed_leader_epoch(3)
                .with_committed_metadata(Some(s("meta")))
        };
        let t = |n| OffsetCommitRequestTopic::default().with_name(topic(n)).with_partitions(vec![part(0), part(1)]);
        OffsetCommitRequest::default()
            .with_group_id(group("g"))
            .with_generation_id_or_member_epoch(5)
            .with_member_id(s("member"))
            .with_group_instance_id(pick(v >= 7, Some(s("instance"))))
            .with_retention_time_ms(60_000)
            .with_topics(vec![t("a"), t("b")])
            .with_unknown_tagged_fields(unk())
    }

    fn offset_fetch(v: i16) -> OffsetFetchRequest {
        use offset_fetch_request::*;
        let t = |n| OffsetFetchRequestTopic::default().with_name(topic(n)).with_partition_indexes(vec![0, 1]);
        let gt = |n| OffsetFetchRequestTopics::default().with_name(topic(n)).with_partition_indexes(vec![0, 1]);
        let g = |n, topics| {
            OffsetFetchRequestGroup::default()
                .with_group_id(group(n))
                .with_member_id(Some(s("member")))
                .with_member_epoch(4)
                .with_topics(topics)
        };
        let r = OffsetFetchRequest::default().with_require_stable(v >= 7).with_unknown_tagged_fields(unk());
        if v <= 7 {
            r.with_group_id(group("g")).with_topics(Some(vec![t("a"), t("b")]))
        } else {
            r.with_groups(vec![g("g1", Some(vec![gt("a"), gt("b")])), g("g2", None)])
        }
    }

    fn find_coordinator(v: i16) -> FindCoordinatorRequest {
        let r = FindCoordinatorRequest::default().with_key_type(pick(v >= 1, 1)).with_unknown_tagged_fields(unk());
        if v <= 3 {
            r.with_key(s("g"))
        } else {
            r.with_coordinator_keys(vec![s("g1"), s("g2")])
        }
    }

    fn join_group(v: i16) -> JoinGroupRequest {
        use join_group_request::*;
        let p =
            |n| JoinGroupRequestProtocol::default().with_name(s(n)).with_metadata(Bytes::from_static(b"\x00\x01meta"));
        JoinGroupRequest::default()
            .with_group_id(group("g"))
            .with_session_timeout_ms(30_000)
            .with_rebalance_timeout_ms(60_000)
            .with_member_id(s("m"))
            .with_group_instance_id(pick(v >= 5, Some(s("instance"))))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![p("range"), p("roundrobin")])
            .with_reason(Some(s("why")))
            .with_unknown_tagged_fields(unk())
    }

    fn heartbeat(v: i16) -> HeartbeatRequest {
        HeartbeatRequest::default()
            .with_group_id(group("g"))
            .with_generation_id(3)
            .with_member_id(s("m"))
            .with_group_instance_id(pick(v >= 3, Some(s("instance"))))
            .with_unknown_tagged_fields(unk())
    }

    fn leave_group(v: i16) -> LeaveGroupRequest {
        use leave_group_request::*;
        let m = |id, instance: Option<&str>| {
            MemberIdentity::default()
                .with_member_id(s(id))
                .with_group_instance_id(instance.map(s))
                .with_reason(Some(s("bye")))
        };
        let r = LeaveGroupRequest::default().with_group_id(group("g")).with_unknown_tagged_fields(unk());
        if v <= 2 {
            r.with_member_id(s("m"))
        } else {
            r.with_members(vec![m("m1", Some("instance")), m("m2", None)])
        }
    }

    fn sync_group(v: i16) -> SyncGroupRequest {
        use sync_group_request::*;
        let a = |m| {
            SyncGroupRequestAssignment::default()
                .with_member_id(s(m))
                .with_assignment(Bytes::from_static(b"assignment"))
        };
        SyncGroupRequest::default()
            .with_group_id(group("g"))
            .with_generation_id(3)
            .with_member_id(s("m1"))
            .with_group_instance_id(pick(v >= 3, Some(s("instance"))))
            .with_protocol_type(Some(s("consumer")))
            .with_protocol_name(Some(s("range")))
            .with_assignments(vec![a("m1"), a("m2")])
            .with_unknown_tagged_fields(unk())
    }

    fn describe_groups(v: i16) -> DescribeGroupsRequest {
        DescribeGroupsRequest::default()
            .with_groups(vec![group("g1"), group("g2")])
            .with_include_authorized_operations(v >= 3)
            .with_unknown_tagged_fields(unk())
    }

    fn list_groups(v: i16) -> ListGroupsRequest {
        ListGroupsRequest::default()
            .with_states_filter(pick(v >= 4, vec![s("Stable"), s("Empty")]))
            .with_types_filter(pick(v >= 5, vec![s("classic"), s("consumer")]))
            .with_unknown_tagged_fields(unk())
    }

    fn api_versions(_v: i16) -> ApiVersionsRequest {
        ApiVersionsRequest::default()
            .with_client_software_name(s("weir-test"))
            .with_client_software_version(s("1.0"))
            .with_unknown_tagged_fields(unk())
    }

    fn create_topics(_v: i16) -> CreateTopicsRequest {
        use create_topics_request::*;
        let a = |i| {
            CreatableReplicaAssignment::default()
                .with_partition_index(i)
                .with_broker_ids(vec![BrokerId(1), BrokerId(2)])
        };
        let c = |n, value: Option<&str>| CreatableTopicConfig::default().with_name(s(n)).with_value(value.map(s));
        let t = |n| {
            CreatableTopic::default()
                .with_name(topic(n))
                .with_num_partitions(-1)
                .with_replication_factor(-1)
                .with_assignments(vec![a(0), a(1)])
                .with_configs(vec![c("cleanup.policy", Some("compact")), c("retention.ms", None)])
                .with_unknown_tagged_fields(unk())
        };
        CreateTopicsRequest::default()
            .with_topics(vec![t("a"), t("b")])
            .with_timeout_ms(1000)
            .with_validate_only(true)
            .with_unknown_tagged_fields(unk())
    }

    fn delete_topics(v: i16) -> DeleteTopicsRequest {
        use delete_topics_request::*;
        let st = |n: Option<&str>, id| DeleteTopicState::default().with_name(n.map(topic)).with_topic_id(uuid(id));
        let r = DeleteTopicsRequest::default().with_timeout_ms(1000).with_unknown_tagged_fields(unk());
        if v >= 6 {
            r.with_topics(vec![st(Some("a"), 1), st(None, 2)])
        } else {
            r.with_topic_names(vec![topic("a"), topic("b")])
        }
    }

    fn create_partitions(_v: i16) -> CreatePartitionsRequest {
        use create_partitions_request::*;
        let a = || CreatePartitionsAssignment::default().with_broker_ids(vec![BrokerId(1), BrokerId(2)]);
        let t = |n, assignments| {
            CreatePartitionsTopic::default().with_name(topic(n)).with_count(3).with_assignments(assignments)
        };
        CreatePartitionsRequest::default()
            .with_topics(vec![t("a", Some(vec![a(), a()])), t("b", None)])
            .with_timeout_ms(1000)
            .with_validate_only(true)
            .with_unknown_tagged_fields(unk())
    }

    fn delete_records(_v: i16) -> DeleteRecordsRequest {
        use delete_records_request::*;
        let p = |i| DeleteRecordsPartition::default().with_partition_index(i).with_offset(10);
        let t = |n| DeleteRecordsTopic::default().with_name(topic(n)).with_partitions(vec![p(0), p(1)]);
        DeleteRecordsRequest::default()
            .with_topics(vec![t("a"), t("b")])
            .with_timeout_ms(1000)
            .with_unknown_tagged_fields(unk())
    }

    fn init_producer_id(v: i16) -> InitProducerIdRequest {
        let r = InitProducerIdRequest::default()
            .with_transactional_id(Some(txn("tx")))
            .with_transaction_timeout_ms(60_000)
            .with_unknown_tagged_fields(unk());
        if v >= 3 {
            r.with_producer_id(ProducerId(7)).with_producer_epoch(2)
        } else {
            r
        }
    }

    fn offset_for_leader_epoch(_v: i16) -> OffsetForLeaderEpochRequest {
        use offset_for_leader_epoch_request::*;
        let p =
            |i| OffsetForLeaderPartition::default().with_partition(i).with_current_leader_epoch(5).with_leader_epoch(4);
        let t = |n| OffsetForLeaderTopic::default().with_topic(topic(n)).with_partitions(vec![p(0), p(1)]);
        OffsetForLeaderEpochRequest::default()
            .with_replica_id(BrokerId(-2))
            .with_topics(vec![t("a"), t("b")])
            .with_unknown_tagged_fields(unk())
    }

    fn add_partitions_to_txn(_v: i16) -> AddPartitionsToTxnRequest {
        use add_partitions_to_txn_request::*;
        let t = |n| AddPartitionsToTxnTopic::default().with_name(topic(n)).with_partitions(vec![0, 1]);
        AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(txn("tx"))
            .with_v3_and_below_producer_id(ProducerId(7))
            .with_v3_and_below_producer_epoch(1)
            .with_v3_and_below_topics(vec![t("a"), t("b")])
            .with_unknown_tagged_fields(unk())
    }

    fn add_offsets_to_txn(_v: i16) -> AddOffsetsToTxnRequest {
        AddOffsetsToTxnRequest::default()
            .with_transactional_id(txn("tx"))
            .with_producer_id(ProducerId(7))
            .with_producer_epoch(1)
            .with_group_id(group("g"))
            .with_unknown_tagged_fields(unk())
    }

    fn end_txn(_v: i16) -> EndTxnRequest {
        EndTxnRequest::default()
            .with_transactional_id(txn("tx"))
            .with_producer_id(ProducerId(7))
            .with_producer_epoch(1)
            .with_committed(true)
            .with_unknown_tagged_fields(unk())
    }

    fn txn_offset_commit(v: i16) -> TxnOffsetCommitRequest {
        use txn_offset_commit_request::*;
        let p = |i| {
            TxnOffsetCommitRequestPartition::default()
                .with_partition_index(i)
                .with_committed_offset(42)
                .with_committed_leader_epoch(3)
                .with_committed_metadata(Some(s("meta")))
        };
        let t = |n| TxnOffsetCommitRequestTopic::default().with_name(topic(n)).with_partitions(vec![p(0), p(1)]);
        let r = TxnOffsetCommitRequest::default()
            .with_transactional_id(txn("tx"))
            .with_group_id(group("g"))
            .with_producer_id(ProducerId(7))
            .with_producer_epoch(1)
            .with_topics(vec![t("a"), t("b")])
            .with_unknown_tagged_fields(unk());
        if v >= 3 {
            r.with_generation_id(4).with_member_id(s("m")).with_group_instance_id(Some(s("instance")))
        } else {
            r
        }
    }

    fn write_txn_markers(_v: i16) -> WriteTxnMarkersRequest {
        use write_txn_markers_request::*;
        let t = |n| WritableTxnMarkerTopic::default().with_name(topic(n)).with_partition_indexes(vec![0, 1]);
        let m = |pid| {
            WritableTxnMarker::default()
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(1)
                .with_transaction_result(true)
                .with_topics(vec![t("a"), t("b")])
                .with_coordinator_epoch(3)
        };
        WriteTxnMarkersRequest::default().with_markers(vec![m(7), m(8)]).with_unknown_tagged_fields(unk())
    }

    fn describe_configs(v: i16) -> DescribeConfigsRequest {
        use describe_configs_request::*;
        let res = |n, keys| {
            DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s(n))
                .with_configuration_keys(keys)
        };
        DescribeConfigsRequest::default()
            .with_resources(vec![res("a", Some(vec![s("k1"), s("k2")])), res("b", None)])
            .with_include_synonyms(true)
            .with_include_documentation(v >= 3)
            .with_unknown_tagged_fields(unk())
    }

    fn alter_configs(_v: i16) -> AlterConfigsRequest {
        use alter_configs_request::*;
        let c = |n, value: Option<&str>| AlterableConfig::default().with_name(s(n)).with_value(value.map(s));
        let res = |n| {
            AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s(n))
                .with_configs(vec![c("k1", Some("v")), c("k2", None)])
        };
        AlterConfigsRequest::default()
            .with_resources(vec![res("a"), res("b")])
            .with_validate_only(true)
            .with_unknown_tagged_fields(unk())
    }

    fn incremental_alter_configs(_v: i16) -> IncrementalAlterConfigsRequest {
        use incremental_alter_configs_request::*;
        let c = |n, value: Option<&str>| {
            AlterableConfig::default().with_name(s(n)).with_config_operation(1).with_value(value.map(s))
        };
        let res = |n| {
            AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s(n))
                .with_configs(vec![c("k1", Some("v")), c("k2", None)])
        };
        IncrementalAlterConfigsRequest::default()
            .with_resources(vec![res("a"), res("b")])
            .with_validate_only(true)
            .with_unknown_tagged_fields(unk())
    }

    fn describe_cluster(v: i16) -> DescribeClusterRequest {
        let r = DescribeClusterRequest::default()
            .with_include_cluster_authorized_operations(true)
            .with_unknown_tagged_fields(unk());
        let r = if v >= 1 { r.with_endpoint_type(2) } else { r };
        if v >= 2 {
            r.with_include_fenced_brokers(true)
        } else {
            r
        }
    }

    fn describe_topic_partitions(_v: i16) -> DescribeTopicPartitionsRequest {
        use describe_topic_partitions_request::*;
        let t = |n| TopicRequest::default().with_name(topic(n));
        DescribeTopicPartitionsRequest::default()
            .with_topics(vec![t("a"), t("b")])
            .with_response_partition_limit(100)
            .with_cursor(Some(Cursor::default().with_topic_name(topic("a")).with_partition_index(3)))
            .with_unknown_tagged_fields(unk())
    }

    fn describe_quorum(_v: i16) -> DescribeQuorumRequest {
        use describe_quorum_request::*;
        let p = |i| PartitionData::default().with_partition_index(i).with_unknown_tagged_fields(unk());
        let t = |n| {
            TopicData::default()
                .with_topic_name(topic(n))
                .with_partitions(vec![p(0), p(1)])
                .with_unknown_tagged_fields(unk())
        };
        DescribeQuorumRequest::default()
            .with_topics(vec![t("__cluster_metadata"), t("b")])
            .with_unknown_tagged_fields(unk())
    }

    fn list_partition_reassignments(_v: i16) -> ListPartitionReassignmentsRequest {
        use list_partition_reassignments_request::*;
        let t = |n| ListPartitionReassignmentsTopics::default().with_name(topic(n)).with_partition_indexes(vec![0, 1]);
        ListPartitionReassignmentsRequest::default()
            .with_timeout_ms(1000)
            .with_topics(Some(vec![t("a"), t("b")]))
            .with_unknown_tagged_fields(unk())
    }

    fn elect_leaders(v: i16) -> ElectLeadersRequest {
        use elect_leaders_request::*;
        let t = |n| TopicPartitions::default().with_topic(topic(n)).with_partitions(vec![0, 1]);
        ElectLeadersRequest::default()
            .with_election_type(pick(v >= 1, 1))
            .with_topic_partitions(Some(vec![t("a"), t("b")]))
            .with_timeout_ms(1000)
            .with_unknown_tagged_fields(unk())
    }

    fn describe_log_dirs(_v: i16) -> DescribeLogDirsRequest {
        use describe_log_dirs_request::*;
        let t = |n| DescribableLogDirTopic::default().with_topic(topic(n)).with_partitions(vec![0, 1]);
        DescribeLogDirsRequest::default().with_topics(Some(vec![t("a"), t("b")])).with_unknown_tagged_fields(unk())
    }

    fn delete_groups(_v: i16) -> DeleteGroupsRequest {
        DeleteGroupsRequest::default()
            .with_groups_names(vec![group("g1"), group("g2")])
            .with_unknown_tagged_fields(unk())
    }

    fn offset_delete(_v: i16) -> OffsetDeleteRequest {
        use offset_delete_request::*;
        let p = |i| OffsetDeleteRequestPartition::default().with_partition_index(i);
        let t = |n| OffsetDeleteRequestTopic::default().with_name(topic(n)).with_partitions(vec![p(0), p(1)]);
        OffsetDeleteRequest::default().with_group_id(group("g")).with_topics(vec![t("a"), t("b")])
    }

    fn describe_producers(_v: i16) -> DescribeProducersRequest {
        use describe_producers_request::*;
        let t = |n| TopicRequest::default().with_name(topic(n)).with_partition_indexes(vec![0, 1]);
        DescribeProducersRequest::default().with_topics(vec![t("a"), t("b")]).with_unknown_tagged_fields(unk())
    }

    fn describe_transactions(_v: i16) -> DescribeTransactionsRequest {
        DescribeTransactionsRequest::default()
            .with_transactional_ids(vec![txn("t1"), txn("t2")])
            .with_unknown_tagged_fields(unk())
    }

    fn list_transactions(v: i16) -> ListTransactionsRequest {
        let r = ListTransactionsRequest::default()
            .with_state_filters(vec![s("Ongoing"), s("Empty")])
            .with_producer_id_filters(vec![ProducerId(7), ProducerId(8)])
            .with_unknown_tagged_fields(unk());
        if v >= 1 {
            r.with_duration_filter(1000)
        } else {
            r
        }
    }

    fn alter_partition(v: i16) -> AlterPartitionRequest {
        use alter_partition_request::*;
        let bs = |id| BrokerState::default().with_broker_id(BrokerId(id)).with_broker_epoch(10);
        let p = |i| {
            let p = PartitionData::default()
                .with_partition_index(i)
                .with_leader_epoch(3)
                .with_leader_recovery_state(1)
                .with_partition_epoch(5);
            if v >= 3 {
                p.with_new_isr_with_epochs(vec![bs(1), bs(2)])
            } else {
                p.with_new_isr(vec![BrokerId(1), BrokerId(2)])
            }
        };
        let t = |id| TopicData::default().with_topic_id(uuid(id)).with_partitions(vec![p(0), p(1)]);
        AlterPartitionRequest::default()
            .with_broker_id(BrokerId(1))
            .with_broker_epoch(10)
            .with_topics(vec![t(1), t(2)])
            .with_unknown_tagged_fields(unk())
    }

    fn broker_registration(v: i16) -> BrokerRegistrationRequest {
        use broker_registration_request::*;
        let l = |n, port| {
            Listener::default().with_name(s(n)).with_host(s("localhost")).with_port(port).with_security_protocol(0)
        };
        let feature =
            |n| Feature::default().with_name(s(n)).with_min_supported_version(1).with_max_supported_version(20);
        BrokerRegistrationRequest::default()
            .with_broker_id(BrokerId(1))
            .with_cluster_id(s("cluster"))
            .with_incarnation_id(uuid(5))
            .with_listeners(vec![l("PLAINTEXT", 9092), l("SSL", 9093)])
            .with_features(vec![feature("metadata.version"), feature("kraft.version")])
            .with_rack(Some(s("rack")))
            .with_is_migrating_zk_broker(v >= 1)
            .with_log_dirs(vec![uuid(8), uuid(9)])
            .with_previous_broker_epoch(4)
            .with_unknown_tagged_fields(unk())
    }

    fn broker_heartbeat(_v: i16) -> BrokerHeartbeatRequest {
        BrokerHeartbeatRequest::default()
            .with_broker_id(BrokerId(1))
            .with_broker_epoch(10)
            .with_current_metadata_offset(100)
            .with_want_fence(true)
            .with_want_shut_down(true)
            .with_offline_log_dirs(vec![uuid(1), uuid(2)])
            .with_unknown_tagged_fields(unk())
    }

    // -- bodies generated from our own schema ------------------------------
    //
    // Every field present at the version gets a non-default value (and
    // nullable ones are sometimes null); the codec must then decode all of
    // it and re-encode the same bytes, which proves the table matches the
    // codec field by field, including fields the builders above leave unset.

    /// xorshift64: deterministic, no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn one_in(&mut self, n: u64) -> bool {
            self.below(n) == 0
        }
        fn byte(&mut self) -> u8 {
            self.next() as u8
        }
    }

    fn put_uvarint(out: &mut Vec<u8>, mut v: u32) {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn put_len(out: &mut Vec<u8>, cx: Ctx, prefix: Prefix, len: Option<usize>) {
        if cx.flexible {
            put_uvarint(out, len.map_or(0, |n| n as u32 + 1));
        } else {
            let n = len.map_or(-1, |n| n as i32);
            match prefix {
                Prefix::I16 => out.extend_from_slice(&(n as i16).to_be_bytes()),
                Prefix::I32 => out.extend_from_slice(&n.to_be_bytes()),
            }
        }
    }

    /// Builds bodies from our schema. `unknown_tags` adds a tag above every
    /// known one to some tagged sections; without it, every tag written is
    /// one the schema knows, so the codec must recognise all of them.
    struct Gen {
        rng: Rng,
        unknown_tags: bool,
    }

    impl Gen {
        fn body(&mut self, key: ApiKey, version: i16) -> Vec<u8> {
            let api = schema(key, version).expect("schema");
            let cx = Ctx { version, flexible: version >= api.flexible_from };
            let mut out = Vec::new();
            self.strukt(api.fields, cx, &mut out);
            out
        }

        fn strukt(&mut self, fields: &[Field], cx: Ctx, out: &mut Vec<u8>) {
            for field in fields.iter().filter(|f| f.tag.is_none() && f.present(cx.version)) {
                self.field(field, cx, out, false);
            }
            if !cx.flexible {
                return;
            }
            // Ascending tags, as the codec writes them.
            let mut known: Vec<&Field> = fields.iter().filter(|f| f.tag.is_some() && f.present(cx.version)).collect();
            known.sort_by_key(|f| f.tag);
            let mut tagged: Vec<(u32, Vec<u8>)> = Vec::new();
            for field in known {
                if !self.rng.one_in(4) {
                    let mut value = Vec::new();
                    self.field(field, cx, &mut value, true);
                    tagged.push((field.tag.unwrap_or_default(), value));
                }
            }
            if self.unknown_tags && self.rng.one_in(3) {
                let len = self.rng.below(4) as usize;
                let value = (0..len).map(|_| self.rng.byte()).collect();
                tagged.push((100 + self.rng.below(20) as u32, value));
            }
            put_uvarint(out, tagged.len() as u32);
            for (tag, value) in tagged {
                put_uvarint(out, tag);
                put_uvarint(out, value.len() as u32);
                out.extend_from_slice(&value);
            }
        }

        /// `tagged`: the codec only re-encodes tagged fields that differ
        /// from their defaults, so those are never null or empty.
        fn field(&mut self, field: &Field, cx: Ctx, out: &mut Vec<u8>, tagged: bool) {
            let nullable = field.nullable(cx.version) && !tagged;
            let null = nullable && self.rng.one_in(4);
            match field.kind {
                Kind::Fixed(n) => self.fixed(n, out),
                Kind::String => self.blob(Prefix::I16, null, cx, out),
                Kind::Bytes => self.blob(Prefix::I32, null, cx, out),
                Kind::Struct(fields) => {
                    if nullable {
                        if null {
                            out.push(0xff);
                            return;
                        }
                        out.push(1);
                    }
                    self.strukt(fields, cx, out);
                }
                Kind::Array(elem) => {
                    if null {
                        put_len(out, cx, Prefix::I32, None);
                        return;
                    }
                    let count = if tagged { 1 + self.rng.below(2) } else { self.rng.below(3) } as usize;
                    put_len(out, cx, Prefix::I32, Some(count));
                    for _ in 0..count {
                        match elem {
                            Elem::Fixed(n) => self.fixed(n, out),
                            Elem::String => self.blob(Prefix::I16, false, cx, out),
                            Elem::Struct(fields) => self.strukt(fields, cx, out),
                        }
                    }
                }
            }
        }

        /// One-byte fields are booleans or small enums: 0 or 1 round-trips.
        fn fixed(&mut self, n: u8, out: &mut Vec<u8>) {
            if n == 1 {
                out.push(self.rng.below(2) as u8);
            } else {
                out.extend((0..n).map(|_| self.rng.byte()));
            }
        }

        /// Non-empty lowercase text (valid UTF-8 for strings, fine for bytes).
        fn blob(&mut self, prefix: Prefix, null: bool, cx: Ctx, out: &mut Vec<u8>) {
            if null {
                put_len(out, cx, prefix, None);
                return;
            }
            let len = 1 + self.rng.below(6) as usize;
            put_len(out, cx, prefix, Some(len));
            out.extend((0..len).map(|_| b'a' + self.rng.below(26) as u8));
        }
    }

    // -- shared assertions -------------------------------------------------

    /// The guard accepts `body`, and the codec reads every byte of it and
    /// writes the same bytes back. Returns the codec's `Debug` of the value.
    fn assert_accepted_and_in_step(key: ApiKey, v: i16, body: &[u8], label: &str) -> String {
        if let Err(e) = check_request(key, v, body) {
            panic!("{key:?} v{v} {label}: guard refused a valid body: {e}\n{body:02x?}");
        }
        match codec_roundtrip(key, v, body) {
            Ok((back, debug)) => {
                assert_eq!(back, body, "{key:?} v{v} {label}: codec re-encodes differently");
                debug
            }
            Err(e) => panic!("{key:?} v{v} {label}: codec cannot read the body: {e}\n{body:02x?}"),
        }
    }

    thread_local! {
        static UNKNOWN_TAGS: std::cell::RefCell<Vec<u32>> = const { std::cell::RefCell::new(Vec::new()) };
    }

    /// Called by the walker for every tag it skips as unknown.
    pub(super) fn note_unknown_tag(tag: u32) {
        UNKNOWN_TAGS.with(|tags| tags.borrow_mut().push(tag));
    }

    fn take_unknown_tags() -> Vec<u32> {
        UNKNOWN_TAGS.with(|tags| std::mem::take(&mut *tags.borrow_mut()))
    }

    fn assert_damage_refused(key: ApiKey, v: i16, body: &[u8], label: &str) {
        for n in 0..body.len() {
            assert!(
                check_request_exact(key, v, &body[..n]).is_err(),
                "{key:?} v{v} {label}: truncation to {n} of {} bytes accepted",
                body.len()
            );
        }
        let mut longer = body.to_vec();
        longer.push(0);
        assert!(
            matches!(check_request_exact(key, v, &longer), Err(GuardError::TrailingBytes(1))),
            "{key:?} v{v} {label}: trailing byte accepted"
        );
    }

    // -- tests -------------------------------------------------------------

    #[test]
    fn tolerates_librdkafkas_all_topics_metadata_quirk() {
        // librdkafka 2.x, Metadata v13 for all topics: a 4-byte zero where
        // the 1-byte null compact array belongs. Kafka reads it as null
        // topics, allow_auto_topic_creation=false, no tags; so do we.
        let body = [0, 0, 0, 0, 1, 0, 0];
        check_request(ApiKey::Metadata, 13, &body).unwrap();
        assert!(matches!(check_request_exact(ApiKey::Metadata, 13, &body), Err(GuardError::TrailingBytes(3))));
    }

    #[test]
    fn codec_encoded_requests_pass_at_every_version() {
        for (key, v) in all_versions() {
            for (label, body) in codec_bodies(key, v) {
                take_unknown_tags();
                assert_accepted_and_in_step(key, v, &body, label);
                // The builders set every tagged field the codec knows, plus
                // tag 90 which nobody knows: anything else skipped as
                // unknown is a tag the codec decodes by schema but we would
                // only skip by size, leaving its inner lengths unchecked.
                let skipped = take_unknown_tags();
                assert!(
                    skipped.iter().all(|&tag| tag == 90),
                    "{key:?} v{v} {label}: codec-known tags skipped as unknown: {skipped:?}"
                );
                let flexible = v >= schema(key, v).unwrap().flexible_from;
                if label == "populated" && flexible {
                    assert!(!skipped.is_empty(), "{key:?} v{v}: unknown tag 90 was not seen");
                }
            }
        }
    }

    #[test]
    fn codec_encoded_nulls_pass() {
        // Top-level nullable fields the populated builders fill and the
        // codec defaults leave non-null; nullable elements are covered by
        // the builders themselves.
        let mut cases: Vec<(ApiKey, i16, Vec<u8>)> = Vec::new();
        for v in 1..=13 {
            cases.push((ApiKey::Metadata, v, encode(&MetadataRequest::default().with_topics(None), v)));
        }
        for v in 3..=12 {
            use produce_request::*;
            let part = PartitionProduceData::default().with_records(None);
            let t = TopicProduceData::default().with_name(topic("a")).with_partition_data(vec![part]);
            let r = ProduceRequest::default().with_transactional_id(None).with_topic_data(vec![t]);
            cases.push((ApiKey::Produce, v, encode(&r, v)));
        }
        for v in 2..=7 {
            let r = OffsetFetchRequest::default().with_group_id(group("g")).with_topics(None);
            cases.push((ApiKey::OffsetFetch, v, encode(&r, v)));
        }
        for v in 0..=2 {
            let r = ElectLeadersRequest::default().with_topic_partitions(None);
            cases.push((ApiKey::ElectLeaders, v, encode(&r, v)));
        }
        for v in 1..=4 {
            let r = DescribeLogDirsRequest::default().with_topics(None);
            cases.push((ApiKey::DescribeLogDirs, v, encode(&r, v)));
        }
        let r = ListPartitionReassignmentsRequest::default().with_topics(None);
        cases.push((ApiKey::ListPartitionReassignments, 0, encode(&r, 0)));
        let r = DescribeTopicPartitionsRequest::default().with_cursor(None);
        cases.push((ApiKey::DescribeTopicPartitions, 0, encode(&r, 0)));
        for (key, v, body) in cases {
            assert_accepted_and_in_step(key, v, &body, "nulls");
            assert_damage_refused(key, v, &body, "nulls");
        }
    }

    #[test]
    fn populated_requests_differ_from_defaults() {
        // Guards against a builder silently falling back to the default
        // request: unless the version has no fields at all (ApiVersions
        // v0-2, ListGroups v0-3), the populated body must differ, and it
        // must be longer wherever the version has an array or a string.
        for (key, v) in all_versions() {
            let [(_, default), (_, populated)] = codec_bodies(key, v);
            let fields: Vec<&Field> =
                schema(key, v).unwrap().fields.iter().filter(|f| f.present(v) && f.tag.is_none()).collect();
            if fields.is_empty() {
                continue;
            }
            assert_ne!(populated, default, "{key:?} v{v}: populated body equals the default");
            if fields.iter().any(|f| !matches!(f.kind, Kind::Fixed(_))) {
                assert!(populated.len() > default.len(), "{key:?} v{v}: populated body is not longer");
            }
        }
    }

    #[test]
    fn truncated_or_extended_codec_bodies_are_refused() {
        for (key, v) in all_versions() {
            for (label, body) in codec_bodies(key, v) {
                assert_damage_refused(key, v, &body, label);
            }
        }
    }

    #[test]
    fn schema_generated_bodies_match_the_codec_exactly() {
        let mut gen = Gen { rng: Rng(0x2545_f491_4f6c_dd1d), unknown_tags: false };
        for (key, v) in all_versions() {
            for seed in 0..24 {
                gen.unknown_tags = seed % 2 == 1;
                let label = format!("generated #{seed}");
                let body = gen.body(key, v);
                let debug = assert_accepted_and_in_step(key, v, &body, &label);
                if !gen.unknown_tags {
                    // Every tag we wrote is one our schema knows; the codec
                    // must know it under the same number at this version.
                    let maps = debug.matches("unknown_tagged_fields: {").count();
                    let empty = debug.matches("unknown_tagged_fields: {}").count();
                    assert_eq!(maps, empty, "{key:?} v{v} {label}: codec did not know a tag\n{debug}");
                }
                if seed < 2 {
                    assert_damage_refused(key, v, &body, &label);
                }
            }
        }
    }

    #[test]
    fn forged_lengths_are_refused() {
        let refused = |key, v, body: &[u8]| {
            let err = check_request(key, v, body).expect_err("forged body accepted");
            assert!(
                matches!(err, GuardError::LengthExceedsRemaining { .. } | GuardError::NegativeLength { .. }),
                "{key:?} v{v}: unexpected error {err}"
            );
            err
        };

        // Metadata v0: topics array claiming i32::MAX elements.
        let err = refused(ApiKey::Metadata, 0, &[0x7f, 0xff, 0xff, 0xff]);
        assert!(matches!(err, GuardError::LengthExceedsRemaining { len: 0x7fff_ffff, .. }));
        // Metadata v12: compact topics array, varint count 2^32 - 2.
        refused(ApiKey::Metadata, 12, &[0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0]);
        // Negative counts other than -1 are not null, they are invalid.
        refused(ApiKey::Metadata, 1, &[0xff, 0xff, 0xff, 0xfe, 1, 0]);

        // CreateTopics v4: one topic "t" whose assignments claim 2^31 - 1.
        let mut body = vec![0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 1];
        body.extend_from_slice(&[0x7f, 0xff, 0xff, 0xff]);
        body.extend_from_slice(&[0; 12]);
        let err = refused(ApiKey::CreateTopics, 4, &body);
        assert!(matches!(err, GuardError::LengthExceedsRemaining { what: "Assignments", .. }));
        // CreateTopics v5 (flexible): nested broker-id array claiming 2^28.
        let mut body = vec![2, 2, b't', 0, 0, 0, 1, 0, 1, 2, 0, 0, 0, 0];
        body.extend_from_slice(&[0x81, 0x80, 0x80, 0x80, 0x01]);
        body.extend_from_slice(&[0; 16]);
        let err = refused(ApiKey::CreateTopics, 5, &body);
        assert!(matches!(err, GuardError::LengthExceedsRemaining { what: "BrokerIds", .. }));

        // Produce v3: records claiming i32::MAX bytes.
        let mut body = vec![0xff, 0xff, 0, 1, 0, 0, 0x03, 0xe8];
        body.extend_from_slice(&[0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0, 0]);
        body.extend_from_slice(&[0x7f, 0xff, 0xff, 0xff, 1, 2, 3]);
        let err = refused(ApiKey::Produce, 3, &body);
        assert!(matches!(err, GuardError::LengthExceedsRemaining { what: "Records", .. }));
        // Produce v9 (flexible): compact records claiming ~2^32 bytes.
        let mut body = vec![0, 0, 1, 0, 0, 0x03, 0xe8, 2, 2, b't', 2, 0, 0, 0, 0];
        body.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3]);
        let err = refused(ApiKey::Produce, 9, &body);
        assert!(matches!(err, GuardError::LengthExceedsRemaining { what: "Records", .. }));

        // String length beyond the body.
        refused(ApiKey::Heartbeat, 0, &[0x7f, 0xff, b'g']);
        // Tagged section claiming far more tags than bytes.
        refused(ApiKey::ApiVersions, 3, &[1, b'a', 1, b'b', 0xff, 0xff, 0xff, 0x7f]);
        // Unknown tag whose size runs past the end.
        refused(ApiKey::ApiVersions, 3, &[1, 1, 1, 9, 0x80, 0x80, 0x04, 0]);
    }

    #[test]
    fn malformed_framing_is_refused() {
        // A varint longer than 5 bytes, or a 5th byte with bits the codec
        // would silently drop.
        let err = check_request(ApiKey::ApiVersions, 3, &[0x80, 0x80, 0x80, 0x80, 0x80, 0x01]).unwrap_err();
        assert!(matches!(err, GuardError::BadVarint { .. }), "{err}");
        let err = check_request(ApiKey::ApiVersions, 3, &[0x81, 0x80, 0x80, 0x80, 0x10]).unwrap_err();
        assert!(matches!(err, GuardError::BadVarint { .. }), "{err}");

        // Null where the field is not nullable (GroupId).
        let err = check_request(ApiKey::Heartbeat, 0, &[0xff, 0xff, 0, 0, 0, 0, 0, 0]).unwrap_err();
        assert!(matches!(err, GuardError::UnexpectedNull { what: "GroupId", .. }), "{err}");

        // DescribeTopicPartitions: cursor marker must be -1 or 1.
        let err = check_request(ApiKey::DescribeTopicPartitions, 0, &[1, 0, 0, 0, 1, 2, 0]).unwrap_err();
        assert!(matches!(err, GuardError::BadStructMarker { marker: 2, .. }), "{err}");

        // Fetch v15 with a known tag (ReplicaState) whose declared size is
        // larger than its value: the codec would read it by schema and
        // ignore the size, so the two would disagree on where it ends.
        let mut body = fetch_v15_prefix();
        body.extend_from_slice(&[1, 1, 14]);
        body.extend_from_slice(&[0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0]);
        let err = check_request(ApiKey::Fetch, 15, &body).unwrap_err();
        assert!(matches!(err, GuardError::TaggedSizeMismatch { tag: 1, declared: 14, used: 13, .. }), "{err}");
        // The same tag with the exact size is accepted, and the codec agrees.
        let mut body = fetch_v15_prefix();
        body.extend_from_slice(&[1, 1, 13]);
        body.extend_from_slice(&[0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 9, 0]);
        check_request(ApiKey::Fetch, 15, &body).unwrap();
        assert_eq!(codec_consumed(ApiKey::Fetch, 15, &body), Ok(body.len()));
        // A known tag outside its versions (ReplicaState at v14).
        let mut body = fetch_v15_prefix();
        body.splice(0..0, [0, 0, 0, 0]);
        body.extend_from_slice(&[1, 1, 1, 0]);
        let err = check_request(ApiKey::Fetch, 14, &body).unwrap_err();
        assert!(matches!(err, GuardError::TagNotValidForVersion { tag: 1, .. }), "{err}");

        // A version without a schema.
        let err = check_request(ApiKey::Produce, 2, &[]).unwrap_err();
        assert!(matches!(err, GuardError::NoSchema { version: 2, .. }), "{err}");
    }

    /// Fetch v15 body up to (not including) the top-level tagged section:
    /// max_wait, min_bytes, max_bytes, isolation, session id/epoch, empty
    /// topics and forgotten topics, empty rack id.
    fn fetch_v15_prefix() -> Vec<u8> {
        let mut body = vec![0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0];
        body.extend_from_slice(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        body.extend_from_slice(&[1, 1, 1]);
        body
    }

    #[test]
    fn fuzzed_bodies_never_panic_and_accepted_ones_decode_in_step() {
        let targets = all_versions();
        let mut gen = Gen { rng: Rng(0x9e37_79b9_7f4a_7c15), unknown_tags: true };
        let mut accepted = 0;
        for round in 0..6000 {
            let (key, v) = targets[gen.rng.below(targets.len() as u64) as usize];
            let mut body = if round % 5 == 0 {
                let rng = &mut gen.rng;
                let len = rng.below(48) as usize;
                (0..len)
                    .map(|_| match rng.below(4) {
                        0 => [0x00, 0xff, 0x7f, 0x80, 0x01][rng.below(5) as usize],
                        _ => rng.byte(),
                    })
                    .collect()
            } else {
                gen.body(key, v)
            };
            if round % 7 != 0 {
                for _ in 0..1 + gen.rng.below(3) {
                    mutate(&mut gen.rng, &mut body);
                }
            }
            if check_request_exact(key, v, &body).is_ok() {
                accepted += 1;
                // Accepted bodies are safe to hand to the codec, which must
                // then stop exactly where the guard did.
                match codec_consumed(key, v, &body) {
                    Ok(used) => assert_eq!(used, body.len(), "{key:?} v{v}: codec out of step\n{body:02x?}"),
                    Err(e) => assert!(
                        !e.contains("Not enough bytes"),
                        "{key:?} v{v}: codec ran out of bytes the guard had accounted for: {e}\n{body:02x?}"
                    ),
                }
            }
        }
        assert!(accepted > 500, "fuzz reached the codec only {accepted} times");
    }

    fn mutate(rng: &mut Rng, body: &mut Vec<u8>) {
        if body.is_empty() {
            body.push(rng.byte());
            return;
        }
        let at = rng.below(body.len() as u64) as usize;
        match rng.below(6) {
            0 => body[at] ^= 1 << rng.below(8),
            1 => body[at] = [0x00, 0xff, 0x7f, 0x80, 0x01, 0x0f][rng.below(6) as usize],
            2 => {
                let end = body.len().min(at + 4);
                body[at..end].copy_from_slice(&[0x7f, 0xff, 0xff, 0xff][..end - at]);
            }
            3 => body.truncate(at),
            4 => body.insert(at, rng.byte()),
            _ => {
                let end = body.len().min(at + 1 + rng.below(8) as usize);
                let chunk = body[at..end].to_vec();
                body.splice(at..at, chunk);
            }
        }
    }

    #[test]
    fn every_covered_version_has_a_schema() {
        for &(key, min, max) in COVERED {
            for v in min..=max {
                assert!(has_schema(key, v), "{key:?} v{v}");
            }
            assert!(!has_schema(key, max + 1), "{key:?} v{} has no checked schema", max + 1);
            assert!(!has_schema(key, min - 1), "{key:?} v{} has no checked schema", min - 1);
        }
        assert_eq!(SCHEMAS.len(), COVERED.len());
        assert!(!has_schema(ApiKey::SaslHandshake, 0));
    }

    #[test]
    fn every_advertised_decoded_version_has_a_schema() {
        use crate::wire::versions::{PRODUCE_MIN_DECODED, SUPPORTED_APIS};
        for a in SUPPORTED_APIS {
            let min = if a.key == ApiKey::Produce { PRODUCE_MIN_DECODED } else { a.min };
            for v in min..=a.max {
                assert!(has_schema(a.key, v), "{:?} v{v} is advertised but unguarded", a.key);
            }
        }
    }

    #[test]
    fn schema_tables_are_well_formed() {
        fn check(fields: &[Field], api: &Api, depth: usize) {
            assert!(depth <= MAX_DEPTH, "{:?} nests too deep", api.key);
            for (i, field) in fields.iter().enumerate() {
                assert!(field.min <= field.max, "{:?}.{}", api.key, field.name);
                if let Some(tag) = field.tag {
                    assert!(field.min >= api.flexible_from, "{:?}.{} tagged before flexible", api.key, field.name);
                    assert!(
                        fields[..i].iter().all(|f| f.tag != Some(tag)),
                        "{:?}.{}: duplicate tag {tag}",
                        api.key,
                        field.name
                    );
                }
                match field.kind {
                    Kind::Struct(inner) | Kind::Array(Elem::Struct(inner)) => check(inner, api, depth + 1),
                    _ => {}
                }
            }
        }
        for api in SCHEMAS {
            let codec = api.key.valid_versions();
            assert!(api.min <= api.max && api.min >= codec.min && api.max <= codec.max, "{:?}", api.key);
            check(api.fields, api, 0);
        }
    }
}
