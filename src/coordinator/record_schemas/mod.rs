//! Record codecs for Kafka's internal topics, byte-compatible with Kafka.
//!
//! * `__consumer_offsets` (group coordinator): keys are an int16 *record
//!   type* followed by the key struct: `0`/`1` = `OffsetCommitKey`,
//!   `2` = `GroupMetadataKey` ([`GroupRecordKey`]). Values are an int16
//!   *version* followed by `OffsetCommitValue` (v0-4) or
//!   `GroupMetadataValue` (v0-4); a null value is a tombstone.
//! * `__transaction_state` (transaction coordinator): keys are an int16
//!   version (0) followed by `TransactionLogKey`; values an int16 version
//!   (0-1) followed by `TransactionLogValue`.
//!
//! Layouts follow Kafka's message JSON schemas (`OffsetCommitKey.json`,
//! `OffsetCommitValue.json`, `GroupMetadataKey.json`,
//! `GroupMetadataValue.json`, `TransactionLogKey.json`,
//! `TransactionLogValue.json`), written down as tables in `schemas.rs` and
//! read and written by the one generic codec of `codec.rs`; this module
//! converts between the decoded field maps and the typed structs the
//! coordinators use. The embedded consumer protocol is decoded by
//! [`consumer_protocol`] (kafka-protocol's types) and rendered here.
//! Non-flexible versions use int16-length strings, int32-length bytes and
//! int32-count arrays; flexible versions (OffsetCommitValue v4+,
//! GroupMetadataValue v4+, TransactionLogValue v1+) use compact
//! (unsigned-varint length + 1) strings, bytes and arrays and end every
//! struct with a tagged-field section.
//!
//! Decoders take untrusted bytes: every length is checked against the bytes
//! that remain before anything is allocated, and nothing panics. Like
//! Kafka's generated readers they ignore bytes after the last field and skip
//! unknown tagged fields, and they decode strings as UTF-8 replacing invalid
//! sequences (Java's `new String(bytes, UTF_8)`).
//!
//! Encoders return an error rather than write a record Kafka could not
//! read: a string longer than 32767 bytes in a non-flexible version, or an
//! unsupported version.
//!
//! [`Json`] and the `*_json` helpers render records the way Kafka's
//! generated `JsonConverter`s do (field order of the schema, only the
//! fields of the record's version, bytes as base64), which is what
//! `kafka-dump-log --offsets-decoder` prints (`json.rs`).
//!
//! Adding a record: see `schemas.rs` (one table, plus a `GROUP_RECORDS`
//! entry for a `__consumer_offsets` record type; a typed struct only where
//! the coordinator needs one).

use std::fmt;

use super::group::consumer_protocol::{self, ConsumerProtocolAssignment, ConsumerProtocolSubscription};

use thiserror::Error;

mod codec;
mod json;
mod schemas;

use codec::{Fields, Value};
pub use json::Json;
use schemas::{
    GROUP_METADATA_KEY, GROUP_METADATA_VALUE, OFFSET_COMMIT_KEY, OFFSET_COMMIT_VALUE, TRANSACTION_LOG_KEY,
    TRANSACTION_LOG_VALUE,
};

/// Why bytes are not a valid record of these schemas (or a value cannot be
/// encoded).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SchemaError {
    #[error("could not read the int16 version: {0} byte(s) available")]
    MissingVersion(usize),
    #[error("unknown record type {0}")]
    UnknownRecordType(i16),
    #[error("{schema} version {version} is not supported")]
    UnsupportedVersion { schema: &'static str, version: i16 },
    #[error("error reading {field}: {needed} byte(s) needed, only {available} byte(s) available")]
    Truncated { field: &'static str, needed: u64, available: usize },
    #[error("non-nullable field {0} was serialized as null")]
    NullField(&'static str),
    #[error("invalid length {length} for {field}")]
    InvalidLength { field: &'static str, length: i64 },
    #[error("malformed unsigned varint in {0}")]
    BadVarint(&'static str),
    #[error("string field {field} is {length} bytes, more than 32767, the limit of version {version}")]
    StringTooLong { field: &'static str, length: usize, version: i16 },
}

pub type Result<T> = std::result::Result<T, SchemaError>;

// ---------------------------------------------------------------------------
// Group coordinator records (__consumer_offsets)
// ---------------------------------------------------------------------------

/// Key version (record type) of offset commits written by Kafka 4 and Weir.
pub const OFFSET_COMMIT_KEY_VERSION: i16 = 1;
/// Key version (record type) of group metadata records.
pub const GROUP_METADATA_KEY_VERSION: i16 = 2;
/// Value version Kafka 4 writes for offset commits without an expire timestamp.
pub const OFFSET_COMMIT_VALUE_VERSION: i16 = 3;
/// Value version Kafka 4 writes for offset commits with an expire timestamp
/// (the only version with that field).
pub const OFFSET_COMMIT_VALUE_EXPIRE_VERSION: i16 = 1;
/// Value version Kafka 4 writes for group metadata.
pub const GROUP_METADATA_VALUE_VERSION: i16 = 3;
/// Highest OffsetCommitValue / GroupMetadataValue version.
pub const GROUP_VALUE_MAX_VERSION: i16 = 4;

/// Record types (key versions) 3-15 of `__consumer_offsets`: the records of
/// the new consumer-group and share-group protocols, which Weir does not
/// decode yet. Index = record type - 3.
const UNSUPPORTED_GROUP_RECORD_TYPES: [&str; 13] = [
    "ConsumerGroupMetadataKey",
    "ConsumerGroupPartitionMetadataKey",
    "ConsumerGroupMemberMetadataKey",
    "ConsumerGroupTargetAssignmentMetadataKey",
    "ConsumerGroupTargetAssignmentMemberKey",
    "ConsumerGroupCurrentMemberAssignmentKey",
    "ShareGroupPartitionMetadataKey",
    "ShareGroupMemberMetadataKey",
    "ShareGroupMetadataKey",
    "ShareGroupTargetAssignmentMetadataKey",
    "ShareGroupTargetAssignmentMemberKey",
    "ShareGroupCurrentMemberAssignmentKey",
    "ShareGroupStatePartitionMetadataKey",
];

/// The name of a `__consumer_offsets` record type Kafka knows but Weir does
/// not decode (3-15, unless tabled in `schemas::GROUP_RECORDS`), e.g.
/// `ConsumerGroupMetadataKey`.
pub fn unsupported_group_record_type_name(record_type: i16) -> Option<&'static str> {
    if schemas::group_record(record_type).is_some() {
        return None;
    }
    usize::try_from(record_type.checked_sub(3)?).ok().and_then(|i| UNSUPPORTED_GROUP_RECORD_TYPES.get(i).copied())
}

/// A `__consumer_offsets` key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GroupRecordKey {
    /// Record types 0 and 1: the committed offset of one partition.
    OffsetCommit { group: String, topic: String, partition: i32 },
    /// Record type 2: a classic group's membership and generation.
    GroupMetadata { group: String },
}

impl GroupRecordKey {
    /// The group the record belongs to (the partitioning key of
    /// `__consumer_offsets`).
    pub fn group(&self) -> &str {
        match self {
            GroupRecordKey::OffsetCommit { group, .. } | GroupRecordKey::GroupMetadata { group } => group,
        }
    }

    /// The record type [`encode_key`] writes for this key.
    pub fn record_type(&self) -> i16 {
        match self {
            GroupRecordKey::OffsetCommit { .. } => OFFSET_COMMIT_KEY_VERSION,
            GroupRecordKey::GroupMetadata { .. } => GROUP_METADATA_KEY_VERSION,
        }
    }

    /// Kafka's `OffsetCommitKeyJsonConverter` / `GroupMetadataKeyJsonConverter`
    /// output: `{"group":"g","topic":"t","partition":0}` / `{"group":"g"}`.
    pub fn to_json(&self) -> Json {
        let (schema, fields) = self.to_fields();
        json::plain(schema, &fields, self.record_type())
    }

    fn to_fields(&self) -> (&'static codec::RecordSchema, Fields) {
        match self {
            GroupRecordKey::OffsetCommit { group, topic, partition } => (
                &OFFSET_COMMIT_KEY,
                Fields::from([
                    ("group", Value::Str(group.clone())),
                    ("topic", Value::Str(topic.clone())),
                    ("partition", Value::Int(*partition as i64)),
                ]),
            ),
            GroupRecordKey::GroupMetadata { group } => {
                (&GROUP_METADATA_KEY, Fields::from([("group", Value::Str(group.clone()))]))
            }
        }
    }
}

/// `OffsetCommitValue`: a committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitValue {
    pub offset: i64,
    /// v3+; -1 when unknown (and when read from v0-2).
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
    /// Only in v1; -1 otherwise.
    pub expire_timestamp: i64,
}

impl OffsetCommitValue {
    /// The version [`encode_offset_commit_value`] writes: 1 when an expire
    /// timestamp is set (only v1 has one), 3 otherwise (Kafka 4's choice).
    pub fn preferred_version(&self) -> i16 {
        if self.expire_timestamp >= 0 {
            OFFSET_COMMIT_VALUE_EXPIRE_VERSION
        } else {
            OFFSET_COMMIT_VALUE_VERSION
        }
    }

    /// Kafka's `OffsetCommitValueJsonConverter.write(value, version)`.
    pub fn to_json(&self, version: i16) -> Json {
        json::plain(&OFFSET_COMMIT_VALUE, &self.to_fields(), version)
    }

    fn to_fields(&self) -> Fields {
        Fields::from([
            ("offset", Value::Int(self.offset)),
            ("leaderEpoch", Value::Int(self.leader_epoch as i64)),
            ("metadata", Value::Str(self.metadata.clone())),
            ("commitTimestamp", Value::Int(self.commit_timestamp)),
            ("expireTimestamp", Value::Int(self.expire_timestamp)),
        ])
    }

    fn from_fields(mut f: Fields) -> Self {
        OffsetCommitValue {
            offset: f.integer("offset"),
            leader_epoch: f.integer("leaderEpoch") as i32,
            metadata: f.take("metadata").into_string(),
            commit_timestamp: f.integer("commitTimestamp"),
            expire_timestamp: f.integer("expireTimestamp"),
        }
    }
}

/// `GroupMetadataValue`: a classic group's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadataValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    /// v2+; -1 otherwise.
    pub current_state_timestamp: i64,
    pub members: Vec<MemberMetadata>,
}

/// One member of a [`GroupMetadataValue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberMetadata {
    pub member_id: String,
    /// v3+; `None` otherwise.
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// v1+; -1 otherwise.
    pub rebalance_timeout: i32,
    pub session_timeout: i32,
    /// The member's subscription in its protocol's format (for
    /// `protocol_type` "consumer": a `ConsumerProtocolSubscription`).
    pub subscription: Vec<u8>,
    /// The member's assignment (for "consumer":
    /// a `ConsumerProtocolAssignment`).
    pub assignment: Vec<u8>,
}

impl GroupMetadataValue {
    /// Kafka's `GroupMetadataValueJsonConverter.write(value, version)` as
    /// `kafka-dump-log` post-processes it: when the protocol type is
    /// `consumer`, each member's subscription and assignment are decoded as
    /// the consumer protocol (left as base64 if they do not parse).
    pub fn to_json(&self, version: i16) -> Json {
        group_metadata_json(&GROUP_METADATA_VALUE, &self.to_fields(), version)
    }

    fn to_fields(&self) -> Fields {
        let members = self
            .members
            .iter()
            .map(|m| {
                Value::Struct(Fields::from([
                    ("memberId", Value::Str(m.member_id.clone())),
                    ("groupInstanceId", Value::opt_str(m.group_instance_id.as_deref())),
                    ("clientId", Value::Str(m.client_id.clone())),
                    ("clientHost", Value::Str(m.client_host.clone())),
                    ("rebalanceTimeout", Value::Int(m.rebalance_timeout as i64)),
                    ("sessionTimeout", Value::Int(m.session_timeout as i64)),
                    ("subscription", Value::Bytes(m.subscription.clone())),
                    ("assignment", Value::Bytes(m.assignment.clone())),
                ]))
            })
            .collect();
        Fields::from([
            ("protocolType", Value::Str(self.protocol_type.clone())),
            ("generation", Value::Int(self.generation as i64)),
            ("protocol", Value::opt_str(self.protocol.as_deref())),
            ("leader", Value::opt_str(self.leader.as_deref())),
            ("currentStateTimestamp", Value::Int(self.current_state_timestamp)),
            ("members", Value::Array(members)),
        ])
    }

    fn from_fields(mut f: Fields) -> Self {
        let members = f
            .take("members")
            .into_array()
            .into_iter()
            .map(|m| {
                let mut m = m.into_fields();
                MemberMetadata {
                    member_id: m.take("memberId").into_string(),
                    group_instance_id: m.take("groupInstanceId").into_opt_string(),
                    client_id: m.take("clientId").into_string(),
                    client_host: m.take("clientHost").into_string(),
                    rebalance_timeout: m.integer("rebalanceTimeout") as i32,
                    session_timeout: m.integer("sessionTimeout") as i32,
                    subscription: m.take("subscription").into_bytes(),
                    assignment: m.take("assignment").into_bytes(),
                }
            })
            .collect();
        GroupMetadataValue {
            protocol_type: f.take("protocolType").into_string(),
            generation: f.integer("generation") as i32,
            protocol: f.take("protocol").into_opt_string(),
            leader: f.take("leader").into_opt_string(),
            current_state_timestamp: f.integer("currentStateTimestamp"),
            members,
        }
    }
}

/// A decoded `GroupMetadataValue` as JSON: each member's subscription and
/// assignment decoded as the consumer protocol when the protocol type is
/// `consumer` (base64 when they do not parse), as `kafka-dump-log` does.
fn group_metadata_json(schema: &codec::RecordSchema, value: &Fields, version: i16) -> Json {
    let consumer = matches!(value.get("protocolType"), Some(Value::Str(t)) if t == "consumer");
    json::render(schema, value, version, &|field, v| match (field.name, v) {
        ("subscription", Value::Bytes(b)) if consumer => {
            consumer_protocol::decode_subscription(b).ok().map(|(v, s)| consumer_subscription_json(&s, v))
        }
        ("assignment", Value::Bytes(b)) if consumer => {
            consumer_protocol::decode_assignment(b).ok().map(|(v, a)| consumer_assignment_json(&a, v))
        }
        _ => None,
    })
}

/// Reads the int16 version (record type for keys) that prefixes every key
/// and value of the internal topics.
pub fn read_version(bytes: &[u8]) -> Result<i16> {
    match bytes {
        [a, b, ..] => Ok(i16::from_be_bytes([*a, *b])),
        _ => Err(SchemaError::MissingVersion(bytes.len())),
    }
}

/// Encodes a key: offset commits as record type 1, group metadata as 2.
pub fn encode_key(key: &GroupRecordKey) -> Result<Vec<u8>> {
    let (schema, fields) = key.to_fields();
    codec::encode(schema, key.record_type(), &fields)
}

/// Decodes a key of record type 0, 1 or 2; other types are
/// [`SchemaError::UnknownRecordType`] (see
/// [`unsupported_group_record_type_name`] for those Kafka knows).
pub fn decode_key(bytes: &[u8]) -> Result<GroupRecordKey> {
    let record_type = read_version(bytes)?;
    let body = &bytes[2..];
    match record_type {
        0 | 1 => {
            let mut f = codec::decode(&OFFSET_COMMIT_KEY, record_type, body)?;
            Ok(GroupRecordKey::OffsetCommit {
                group: f.take("group").into_string(),
                topic: f.take("topic").into_string(),
                partition: f.integer("partition") as i32,
            })
        }
        2 => {
            let mut f = codec::decode(&GROUP_METADATA_KEY, record_type, body)?;
            Ok(GroupRecordKey::GroupMetadata { group: f.take("group").into_string() })
        }
        other => Err(SchemaError::UnknownRecordType(other)),
    }
}

/// Encodes at [`OffsetCommitValue::preferred_version`] (3, or 1 with an
/// expire timestamp).
pub fn encode_offset_commit_value(value: &OffsetCommitValue) -> Result<Vec<u8>> {
    encode_offset_commit_value_version(value, value.preferred_version())
}

/// Encodes at `version` (0-4); fields the version lacks are dropped (they
/// are all "ignorable" in the schema).
pub fn encode_offset_commit_value_version(value: &OffsetCommitValue, version: i16) -> Result<Vec<u8>> {
    codec::encode(&OFFSET_COMMIT_VALUE, version, &value.to_fields())
}

/// Decodes any version (0-4).
pub fn decode_offset_commit_value(bytes: &[u8]) -> Result<OffsetCommitValue> {
    decode_offset_commit_value_versioned(bytes).map(|(_, v)| v)
}

/// Decodes any version (0-4), returning it too.
pub fn decode_offset_commit_value_versioned(bytes: &[u8]) -> Result<(i16, OffsetCommitValue)> {
    let (version, fields) = codec::decode_versioned(&OFFSET_COMMIT_VALUE, bytes)?;
    Ok((version, OffsetCommitValue::from_fields(fields)))
}

/// Encodes at version 3 (what Kafka 4 writes).
pub fn encode_group_metadata_value(value: &GroupMetadataValue) -> Result<Vec<u8>> {
    encode_group_metadata_value_version(value, GROUP_METADATA_VALUE_VERSION)
}

/// Encodes at `version` (0-4); fields the version lacks are dropped.
pub fn encode_group_metadata_value_version(value: &GroupMetadataValue, version: i16) -> Result<Vec<u8>> {
    codec::encode(&GROUP_METADATA_VALUE, version, &value.to_fields())
}

/// Decodes any version (0-4).
pub fn decode_group_metadata_value(bytes: &[u8]) -> Result<GroupMetadataValue> {
    decode_group_metadata_value_versioned(bytes).map(|(_, v)| v)
}

/// Decodes any version (0-4), returning it too.
pub fn decode_group_metadata_value_versioned(bytes: &[u8]) -> Result<(i16, GroupMetadataValue)> {
    let (version, fields) = codec::decode_versioned(&GROUP_METADATA_VALUE, bytes)?;
    Ok((version, GroupMetadataValue::from_fields(fields)))
}

/// A decoded `__consumer_offsets` key rendered as `kafka-dump-log
/// --offsets-decoder` prints it: `{"type":"1","data":{...}}`.
pub fn group_key_json(bytes: &[u8]) -> Result<String> {
    let record_type = read_version(bytes)?;
    let record = schemas::group_record(record_type).ok_or(SchemaError::UnknownRecordType(record_type))?;
    let key = codec::decode(record.key, record_type, &bytes[2..])?;
    let data = json::plain(record.key, &key, record_type);
    Ok(Json::object([("type", Json::Str(record_type.to_string())), ("data", data)]).to_string())
}

/// A `__consumer_offsets` value of the given record type rendered as
/// `kafka-dump-log --offsets-decoder` prints it:
/// `{"version":"3","data":{...}}`.
pub fn group_value_json(record_type: i16, bytes: &[u8]) -> Result<String> {
    let record = schemas::group_record(record_type).ok_or(SchemaError::UnknownRecordType(record_type))?;
    let (version, value) = codec::decode_versioned(record.value, bytes)?;
    let data = (record.value_json)(record.value, &value, version);
    Ok(Json::object([("version", Json::Str(version.to_string())), ("data", data)]).to_string())
}

// ---------------------------------------------------------------------------
// Embedded consumer protocol (GroupMetadataValue member subscription and
// assignment when the protocol type is "consumer")
// ---------------------------------------------------------------------------

fn topic_partitions_json(topic: &str, partitions: &[i32]) -> Json {
    Json::object([
        ("topic", Json::str(topic)),
        ("partitions", Json::Array(partitions.iter().map(|p| Json::Int(*p as i64)).collect())),
    ])
}

/// Kafka's `ConsumerProtocolSubscriptionJsonConverter.write` (the
/// subscription as [`consumer_protocol::decode_subscription`] reads it).
pub fn consumer_subscription_json(s: &ConsumerProtocolSubscription, version: i16) -> Json {
    let mut f = vec![
        ("topics", Json::Array(s.topics.iter().map(|t| Json::str(t)).collect())),
        ("userData", Json::opt_bytes(s.user_data.as_deref())),
    ];
    if version >= 1 {
        f.push((
            "ownedPartitions",
            Json::Array(s.owned_partitions.iter().map(|tp| topic_partitions_json(&tp.topic, &tp.partitions)).collect()),
        ));
    }
    if version >= 2 {
        f.push(("generationId", Json::Int(s.generation_id as i64)));
    }
    if version >= 3 {
        f.push(("rackId", Json::opt_str(s.rack_id.as_deref())));
    }
    Json::object(f)
}

/// Kafka's `ConsumerProtocolAssignmentJsonConverter.write` (all versions
/// have the same fields).
pub fn consumer_assignment_json(a: &ConsumerProtocolAssignment, _version: i16) -> Json {
    Json::object([
        (
            "assignedPartitions",
            Json::Array(
                a.assigned_partitions.iter().map(|tp| topic_partitions_json(&tp.topic, &tp.partitions)).collect(),
            ),
        ),
        ("userData", Json::opt_bytes(a.user_data.as_deref())),
    ])
}

// ---------------------------------------------------------------------------
// Transaction coordinator records (__transaction_state)
// ---------------------------------------------------------------------------

/// The only TransactionLogKey version.
pub const TRANSACTION_LOG_KEY_VERSION: i16 = 0;
/// Highest TransactionLogValue version (1 is flexible, written with
/// transaction.version 2).
pub const TRANSACTION_LOG_VALUE_MAX_VERSION: i16 = 1;

/// `TransactionLogKey`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TransactionLogKey {
    pub transactional_id: String,
}

/// One topic's partitions in a [`TransactionLogValue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionPartitions {
    pub topic: String,
    pub partition_ids: Vec<i32>,
}

/// `TransactionLogValue` (all fields of the schema).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionLogValue {
    pub producer_id: i64,
    /// Tagged (tag 0) in v1+; -1 otherwise.
    pub previous_producer_id: i64,
    /// Tagged (tag 1) in v1+; -1 otherwise.
    pub next_producer_id: i64,
    pub producer_epoch: i16,
    pub transaction_timeout_ms: i32,
    /// A [`TransactionState`] id.
    pub transaction_status: i8,
    /// `None` (null) for `Empty` transactions.
    pub transaction_partitions: Option<Vec<TransactionPartitions>>,
    pub transaction_last_update_timestamp_ms: i64,
    pub transaction_start_timestamp_ms: i64,
    /// Tagged (tag 2) in v1+; 0 otherwise.
    pub client_transaction_version: i16,
}

/// Kafka's transaction states (`TransactionState` ids in the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    Dead,
    PrepareEpochFence,
}

impl TransactionState {
    pub fn from_id(id: i8) -> Option<Self> {
        use TransactionState::*;
        Some(match id {
            0 => Empty,
            1 => Ongoing,
            2 => PrepareCommit,
            3 => PrepareAbort,
            4 => CompleteCommit,
            5 => CompleteAbort,
            6 => Dead,
            7 => PrepareEpochFence,
            _ => return None,
        })
    }

    pub fn id(self) -> i8 {
        self as i8
    }

    /// Kafka's name (`DescribeTransactions` state, dump-log output).
    pub fn name(self) -> &'static str {
        use TransactionState::*;
        match self {
            Empty => "Empty",
            Ongoing => "Ongoing",
            PrepareCommit => "PrepareCommit",
            PrepareAbort => "PrepareAbort",
            CompleteCommit => "CompleteCommit",
            CompleteAbort => "CompleteAbort",
            Dead => "Dead",
            PrepareEpochFence => "PrepareEpochFence",
        }
    }
}

impl fmt::Display for TransactionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl TransactionLogValue {
    fn to_fields(&self) -> Fields {
        let partitions = self.transaction_partitions.as_ref().map_or(Value::Null, |parts| {
            Value::Array(
                parts
                    .iter()
                    .map(|p| {
                        Value::Struct(Fields::from([
                            ("topic", Value::Str(p.topic.clone())),
                            (
                                "partitionIds",
                                Value::Array(p.partition_ids.iter().map(|id| Value::Int(*id as i64)).collect()),
                            ),
                        ]))
                    })
                    .collect(),
            )
        });
        Fields::from([
            ("producerId", Value::Int(self.producer_id)),
            ("previousProducerId", Value::Int(self.previous_producer_id)),
            ("nextProducerId", Value::Int(self.next_producer_id)),
            ("producerEpoch", Value::Int(self.producer_epoch as i64)),
            ("transactionTimeoutMs", Value::Int(self.transaction_timeout_ms as i64)),
            ("transactionStatus", Value::Int(self.transaction_status as i64)),
            ("transactionPartitions", partitions),
            ("transactionLastUpdateTimestampMs", Value::Int(self.transaction_last_update_timestamp_ms)),
            ("transactionStartTimestampMs", Value::Int(self.transaction_start_timestamp_ms)),
            ("clientTransactionVersion", Value::Int(self.client_transaction_version as i64)),
        ])
    }

    fn from_fields(mut f: Fields) -> Self {
        let transaction_partitions = f.take("transactionPartitions").into_opt_array().map(|parts| {
            parts
                .into_iter()
                .map(|p| {
                    let mut p = p.into_fields();
                    TransactionPartitions {
                        topic: p.take("topic").into_string(),
                        partition_ids: p.take("partitionIds").into_array().iter().map(|id| id.int() as i32).collect(),
                    }
                })
                .collect()
        });
        TransactionLogValue {
            producer_id: f.integer("producerId"),
            previous_producer_id: f.integer("previousProducerId"),
            next_producer_id: f.integer("nextProducerId"),
            producer_epoch: f.integer("producerEpoch") as i16,
            transaction_timeout_ms: f.integer("transactionTimeoutMs") as i32,
            transaction_status: f.integer("transactionStatus") as i8,
            transaction_partitions,
            transaction_last_update_timestamp_ms: f.integer("transactionLastUpdateTimestampMs"),
            transaction_start_timestamp_ms: f.integer("transactionStartTimestampMs"),
            client_transaction_version: f.integer("clientTransactionVersion") as i16,
        }
    }
}

/// Encodes a transaction log key (version 0).
pub fn encode_transaction_log_key(key: &TransactionLogKey) -> Result<Vec<u8>> {
    let fields = Fields::from([("transactionalId", Value::Str(key.transactional_id.clone()))]);
    codec::encode(&TRANSACTION_LOG_KEY, TRANSACTION_LOG_KEY_VERSION, &fields)
}

/// Decodes a transaction log key (version 0 only).
pub fn decode_transaction_log_key(bytes: &[u8]) -> Result<TransactionLogKey> {
    let (_, mut f) = codec::decode_versioned(&TRANSACTION_LOG_KEY, bytes)?;
    Ok(TransactionLogKey { transactional_id: f.take("transactionalId").into_string() })
}

/// Encodes at `version`: 0 (what Kafka writes unless transaction.version 2
/// is enabled; the tagged fields are dropped) or 1 (flexible; tagged fields
/// written when not at their defaults, as Kafka does).
pub fn encode_transaction_log_value(value: &TransactionLogValue, version: i16) -> Result<Vec<u8>> {
    codec::encode(&TRANSACTION_LOG_VALUE, version, &value.to_fields())
}

/// Decodes any version (0-1).
pub fn decode_transaction_log_value(bytes: &[u8]) -> Result<TransactionLogValue> {
    decode_transaction_log_value_versioned(bytes).map(|(_, v)| v)
}

/// Decodes any version (0-1), returning it too.
pub fn decode_transaction_log_value_versioned(bytes: &[u8]) -> Result<(i16, TransactionLogValue)> {
    let (version, fields) = codec::decode_versioned(&TRANSACTION_LOG_VALUE, bytes)?;
    Ok((version, TransactionLogValue::from_fields(fields)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offset_value() -> OffsetCommitValue {
        OffsetCommitValue {
            offset: 42,
            leader_epoch: 7,
            metadata: "meta".into(),
            commit_timestamp: 1_700_000_000_000,
            expire_timestamp: -1,
        }
    }

    fn group_value() -> GroupMetadataValue {
        GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 3,
            protocol: Some("range".into()),
            leader: Some("m-1".into()),
            current_state_timestamp: 1_700_000_000_123,
            members: vec![
                MemberMetadata {
                    member_id: "m-1".into(),
                    group_instance_id: Some("inst".into()),
                    client_id: "c".into(),
                    client_host: "/127.0.0.1".into(),
                    rebalance_timeout: 300_000,
                    session_timeout: 45_000,
                    subscription: vec![0, 1, 2],
                    assignment: vec![],
                },
                MemberMetadata {
                    member_id: "m-2".into(),
                    group_instance_id: None,
                    client_id: "c2".into(),
                    client_host: "h".into(),
                    rebalance_timeout: 1,
                    session_timeout: 2,
                    subscription: vec![],
                    assignment: vec![9; 5],
                },
            ],
        }
    }

    fn txn_value() -> TransactionLogValue {
        TransactionLogValue {
            producer_id: 1000,
            previous_producer_id: 999,
            next_producer_id: 1001,
            producer_epoch: 4,
            transaction_timeout_ms: 60_000,
            transaction_status: 1,
            transaction_partitions: Some(vec![
                TransactionPartitions { topic: "t".into(), partition_ids: vec![0, 2] },
                TransactionPartitions { topic: "u".into(), partition_ids: vec![] },
            ]),
            transaction_last_update_timestamp_ms: 5,
            transaction_start_timestamp_ms: 4,
            client_transaction_version: 2,
        }
    }

    /// What a value is expected to look like after a round trip through
    /// `version` (fields the version lacks come back at their defaults).
    fn offset_at(v: &OffsetCommitValue, version: i16) -> OffsetCommitValue {
        let mut e = v.clone();
        if version < 3 {
            e.leader_epoch = -1;
        }
        if version != 1 {
            e.expire_timestamp = -1;
        }
        e
    }

    #[test]
    fn keys_round_trip() {
        for key in [
            GroupRecordKey::OffsetCommit { group: "g".into(), topic: "orders".into(), partition: 7 },
            GroupRecordKey::GroupMetadata { group: "group-é".into() },
        ] {
            let bytes = encode_key(&key).unwrap();
            assert_eq!(read_version(&bytes).unwrap(), key.record_type());
            assert_eq!(decode_key(&bytes).unwrap(), key);
        }
        // Record type 0 keys (older Kafka) have the same layout.
        let mut v0 =
            encode_key(&GroupRecordKey::OffsetCommit { group: "g".into(), topic: "t".into(), partition: 1 }).unwrap();
        v0[1] = 0;
        assert!(matches!(decode_key(&v0).unwrap(), GroupRecordKey::OffsetCommit { partition: 1, .. }));
    }

    #[test]
    fn key_bytes_are_exact() {
        // OffsetCommitKey v1: int16 1, string "g", string "t", int32 5.
        let bytes =
            encode_key(&GroupRecordKey::OffsetCommit { group: "g".into(), topic: "t".into(), partition: 5 }).unwrap();
        assert_eq!(bytes, [0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 5]);
        // GroupMetadataKey v2: int16 2, string "grp".
        let bytes = encode_key(&GroupRecordKey::GroupMetadata { group: "grp".into() }).unwrap();
        assert_eq!(bytes, [0, 2, 0, 3, b'g', b'r', b'p']);
        // TransactionLogKey v0: int16 0, string "tx".
        let bytes = encode_transaction_log_key(&TransactionLogKey { transactional_id: "tx".into() }).unwrap();
        assert_eq!(bytes, [0, 0, 0, 2, b't', b'x']);
    }

    #[test]
    fn offset_commit_values_round_trip_at_every_version() {
        let mut v = offset_value();
        for version in 0..=4 {
            let bytes = encode_offset_commit_value_version(&v, version).unwrap();
            let (read, back) = decode_offset_commit_value_versioned(&bytes).unwrap();
            assert_eq!(read, version);
            assert_eq!(back, offset_at(&v, version), "version {version}");
        }
        v.expire_timestamp = 99;
        let bytes = encode_offset_commit_value(&v).unwrap();
        assert_eq!(read_version(&bytes).unwrap(), 1);
        assert_eq!(decode_offset_commit_value(&bytes).unwrap(), offset_at(&v, 1));
        v.expire_timestamp = -1;
        let bytes = encode_offset_commit_value(&v).unwrap();
        assert_eq!(read_version(&bytes).unwrap(), 3);
        assert!(encode_offset_commit_value_version(&v, 5).is_err());
    }

    #[test]
    fn offset_commit_value_bytes_are_exact() {
        let v = OffsetCommitValue {
            offset: 5,
            leader_epoch: 2,
            metadata: "m".into(),
            commit_timestamp: 0x0102,
            expire_timestamp: -1,
        };
        // v3: int16 3, int64 offset, int32 leaderEpoch, string metadata,
        // int64 commitTimestamp.
        let mut expected = vec![0, 3];
        expected.extend_from_slice(&5i64.to_be_bytes());
        expected.extend_from_slice(&2i32.to_be_bytes());
        expected.extend_from_slice(&[0, 1, b'm']);
        expected.extend_from_slice(&0x0102i64.to_be_bytes());
        assert_eq!(encode_offset_commit_value_version(&v, 3).unwrap(), expected);
        // v4 (flexible): compact string (len + 1), trailing empty tag section.
        let mut expected = vec![0, 4];
        expected.extend_from_slice(&5i64.to_be_bytes());
        expected.extend_from_slice(&2i32.to_be_bytes());
        expected.extend_from_slice(&[2, b'm']);
        expected.extend_from_slice(&0x0102i64.to_be_bytes());
        expected.push(0);
        assert_eq!(encode_offset_commit_value_version(&v, 4).unwrap(), expected);
        // v1: no leader epoch, expire timestamp at the end.
        let mut expected = vec![0, 1];
        expected.extend_from_slice(&5i64.to_be_bytes());
        expected.extend_from_slice(&[0, 1, b'm']);
        expected.extend_from_slice(&0x0102i64.to_be_bytes());
        expected.extend_from_slice(&(-1i64).to_be_bytes());
        assert_eq!(encode_offset_commit_value_version(&v, 1).unwrap(), expected);
    }

    #[test]
    fn group_metadata_values_round_trip_at_every_version() {
        let v = group_value();
        for version in 0..=4 {
            let bytes = encode_group_metadata_value_version(&v, version).unwrap();
            let (read, back) = decode_group_metadata_value_versioned(&bytes).unwrap();
            assert_eq!(read, version);
            let mut expected = v.clone();
            if version < 2 {
                expected.current_state_timestamp = -1;
            }
            for m in &mut expected.members {
                if version < 3 {
                    m.group_instance_id = None;
                }
                if version < 1 {
                    m.rebalance_timeout = -1;
                }
            }
            assert_eq!(back, expected, "version {version}");
        }
        let bytes = encode_group_metadata_value(&v).unwrap();
        assert_eq!(read_version(&bytes).unwrap(), 3);
        // Nulls survive.
        let mut empty = v.clone();
        empty.protocol = None;
        empty.leader = None;
        empty.members.clear();
        for version in [0, 3, 4] {
            let bytes = encode_group_metadata_value_version(&empty, version).unwrap();
            let back = decode_group_metadata_value(&bytes).unwrap();
            assert_eq!(back.protocol, None);
            assert_eq!(back.leader, None);
            assert!(back.members.is_empty());
        }
    }

    #[test]
    fn group_metadata_value_bytes_are_exact() {
        let v = GroupMetadataValue {
            protocol_type: "c".into(),
            generation: 1,
            protocol: None,
            leader: Some("l".into()),
            current_state_timestamp: 9,
            members: vec![MemberMetadata {
                member_id: "m".into(),
                group_instance_id: None,
                client_id: "i".into(),
                client_host: "h".into(),
                rebalance_timeout: 3,
                session_timeout: 4,
                subscription: vec![0xaa],
                assignment: vec![],
            }],
        };
        // v3: protocolType, generation, protocol (null), leader,
        // currentStateTimestamp, members[ memberId, groupInstanceId (null),
        // clientId, clientHost, rebalanceTimeout, sessionTimeout,
        // subscription (int32 length), assignment ].
        let mut e = vec![0, 3, 0, 1, b'c', 0, 0, 0, 1, 0xff, 0xff, 0, 1, b'l'];
        e.extend_from_slice(&9i64.to_be_bytes());
        e.extend_from_slice(&[0, 0, 0, 1]);
        e.extend_from_slice(&[0, 1, b'm', 0xff, 0xff, 0, 1, b'i', 0, 1, b'h']);
        e.extend_from_slice(&[0, 0, 0, 3, 0, 0, 0, 4]);
        e.extend_from_slice(&[0, 0, 0, 1, 0xaa, 0, 0, 0, 0]);
        assert_eq!(encode_group_metadata_value_version(&v, 3).unwrap(), e);
        // v4: compact everything, a tag section per member and at the end.
        let mut e = vec![0, 4, 2, b'c', 0, 0, 0, 1, 0, 2, b'l'];
        e.extend_from_slice(&9i64.to_be_bytes());
        e.push(2);
        e.extend_from_slice(&[2, b'm', 0, 2, b'i', 2, b'h']);
        e.extend_from_slice(&[0, 0, 0, 3, 0, 0, 0, 4]);
        e.extend_from_slice(&[2, 0xaa, 1, 0, 0]);
        assert_eq!(encode_group_metadata_value_version(&v, 4).unwrap(), e);
    }

    #[test]
    fn transaction_log_round_trips() {
        let key = TransactionLogKey { transactional_id: "txn-1".into() };
        let bytes = encode_transaction_log_key(&key).unwrap();
        assert_eq!(decode_transaction_log_key(&bytes).unwrap(), key);

        let v = txn_value();
        let bytes = encode_transaction_log_value(&v, 1).unwrap();
        assert_eq!(decode_transaction_log_value_versioned(&bytes).unwrap(), (1, v.clone()));
        // v0 drops the tagged fields.
        let bytes = encode_transaction_log_value(&v, 0).unwrap();
        let mut expected = v.clone();
        expected.previous_producer_id = -1;
        expected.next_producer_id = -1;
        expected.client_transaction_version = 0;
        assert_eq!(decode_transaction_log_value(&bytes).unwrap(), expected);
        // Null partitions (Empty state).
        let mut empty = v.clone();
        empty.transaction_status = 0;
        empty.transaction_partitions = None;
        for version in [0, 1] {
            let bytes = encode_transaction_log_value(&empty, version).unwrap();
            assert_eq!(decode_transaction_log_value(&bytes).unwrap().transaction_partitions, None);
        }
        assert!(encode_transaction_log_value(&v, 2).is_err());
    }

    #[test]
    fn transaction_log_value_bytes_are_exact() {
        let v = TransactionLogValue {
            producer_id: 7,
            previous_producer_id: -1,
            next_producer_id: 8,
            producer_epoch: 1,
            transaction_timeout_ms: 2,
            transaction_status: 1,
            transaction_partitions: Some(vec![TransactionPartitions { topic: "t".into(), partition_ids: vec![3] }]),
            transaction_last_update_timestamp_ms: 10,
            transaction_start_timestamp_ms: 11,
            client_transaction_version: 0,
        };
        let tail = |e: &mut Vec<u8>| {
            e.extend_from_slice(&10i64.to_be_bytes());
            e.extend_from_slice(&11i64.to_be_bytes());
        };
        // v0: producerId, producerEpoch, timeout, status, partitions
        // (int32 count, string topic, int32 count, int32 ids), timestamps.
        let mut e = vec![0, 0];
        e.extend_from_slice(&7i64.to_be_bytes());
        e.extend_from_slice(&[0, 1, 0, 0, 0, 2, 1]);
        e.extend_from_slice(&[0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0, 3]);
        tail(&mut e);
        assert_eq!(encode_transaction_log_value(&v, 0).unwrap(), e);
        // v1: compact arrays/strings, struct tag section, then the value's
        // tagged fields: only NextProducerId (tag 1, 8 bytes) differs from
        // its default.
        let mut e = vec![0, 1];
        e.extend_from_slice(&7i64.to_be_bytes());
        e.extend_from_slice(&[0, 1, 0, 0, 0, 2, 1]);
        e.extend_from_slice(&[2, 2, b't', 2, 0, 0, 0, 3, 0]);
        tail(&mut e);
        e.extend_from_slice(&[1, 1, 8]);
        e.extend_from_slice(&8i64.to_be_bytes());
        assert_eq!(encode_transaction_log_value(&v, 1).unwrap(), e);
    }

    #[test]
    fn unknown_tagged_fields_are_skipped() {
        let v = offset_value();
        let mut bytes = encode_offset_commit_value_version(&v, 4).unwrap();
        let last = bytes.len() - 1;
        bytes[last] = 1; // one tagged field
        bytes.extend_from_slice(&[9, 2, 0xde, 0xad]);
        assert_eq!(decode_offset_commit_value(&bytes).unwrap(), v);
    }

    #[test]
    fn truncations_are_errors() {
        type Decodes = fn(&[u8]) -> bool;
        let samples: Vec<(Vec<u8>, Decodes)> = vec![
            (
                encode_key(&GroupRecordKey::OffsetCommit { group: "g".into(), topic: "t".into(), partition: 1 })
                    .unwrap(),
                |b| decode_key(b).is_ok(),
            ),
            (encode_offset_commit_value_version(&offset_value(), 4).unwrap(), |b| {
                decode_offset_commit_value(b).is_ok()
            }),
            (encode_offset_commit_value_version(&offset_value(), 1).unwrap(), |b| {
                decode_offset_commit_value(b).is_ok()
            }),
            (encode_group_metadata_value_version(&group_value(), 3).unwrap(), |b| {
                decode_group_metadata_value(b).is_ok()
            }),
            (encode_group_metadata_value_version(&group_value(), 4).unwrap(), |b| {
                decode_group_metadata_value(b).is_ok()
            }),
            (encode_transaction_log_value(&txn_value(), 0).unwrap(), |b| decode_transaction_log_value(b).is_ok()),
            (encode_transaction_log_value(&txn_value(), 1).unwrap(), |b| decode_transaction_log_value(b).is_ok()),
        ];
        for (bytes, decodes) in samples {
            assert!(decodes(&bytes));
            for cut in 0..bytes.len() {
                assert!(!decodes(&bytes[..cut]), "prefix of {cut} bytes decoded");
            }
        }
    }

    #[test]
    fn garbage_is_rejected_without_panics() {
        assert_eq!(decode_key(&[]), Err(SchemaError::MissingVersion(0)));
        assert_eq!(decode_key(&[0, 9]), Err(SchemaError::UnknownRecordType(9)));
        assert!(matches!(
            decode_offset_commit_value(&[0, 5, 0]),
            Err(SchemaError::UnsupportedVersion { version: 5, .. })
        ));
        assert!(matches!(
            decode_group_metadata_value(&[0xff, 0xff]),
            Err(SchemaError::UnsupportedVersion { version: -1, .. })
        ));
        // A huge member count with nothing behind it is refused before any
        // allocation.
        let mut b = vec![0, 3, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        b.extend_from_slice(&(-1i64).to_be_bytes());
        b.extend_from_slice(&i32::MAX.to_be_bytes());
        assert!(matches!(decode_group_metadata_value(&b), Err(SchemaError::Truncated { field: "members", .. })));
        // A null non-nullable string.
        assert_eq!(decode_key(&[0, 2, 0xff, 0xff]), Err(SchemaError::NullField("group")));
        // Over-long varints.
        let mut b = vec![0, 4];
        b.extend_from_slice(&[0; 12]);
        b.extend_from_slice(&[0xff; 6]);
        assert!(matches!(decode_offset_commit_value(&b), Err(SchemaError::BadVarint(_))));
        // Deterministic pseudo-random garbage and bit flips never panic.
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let valid = [
            encode_group_metadata_value_version(&group_value(), 4).unwrap(),
            encode_group_metadata_value_version(&group_value(), 2).unwrap(),
            encode_transaction_log_value(&txn_value(), 1).unwrap(),
            encode_offset_commit_value_version(&offset_value(), 4).unwrap(),
        ];
        for _ in 0..2000 {
            let len = (next() % 64) as usize;
            let mut b: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if b.len() >= 2 {
                b[0] = 0;
                b[1] = (next() % 6) as u8;
            }
            let _ = decode_key(&b);
            let _ = decode_offset_commit_value(&b);
            let _ = decode_group_metadata_value(&b);
            let _ = decode_transaction_log_key(&b);
            let _ = decode_transaction_log_value(&b);
            let _ = consumer_protocol::decode_subscription(&b);
            let _ = consumer_protocol::decode_assignment(&b);
            for v in &valid {
                let mut c = v.clone();
                let at = (next() as usize) % c.len();
                c[at] ^= 1 << (next() % 8);
                let _ = decode_group_metadata_value(&c);
                let _ = decode_transaction_log_value(&c);
                let _ = decode_offset_commit_value(&c);
            }
        }
    }

    #[test]
    fn string_limits_are_enforced_on_encode() {
        let key = GroupRecordKey::GroupMetadata { group: "x".repeat(40_000) };
        assert!(matches!(encode_key(&key), Err(SchemaError::StringTooLong { field: "group", .. })));
        // Flexible versions carry long strings.
        let mut v = offset_value();
        v.metadata = "y".repeat(40_000);
        assert!(encode_offset_commit_value_version(&v, 3).is_err());
        let bytes = encode_offset_commit_value_version(&v, 4).unwrap();
        assert_eq!(decode_offset_commit_value(&bytes).unwrap().metadata.len(), 40_000);
    }

    #[test]
    fn json_matches_kafkas_converters() {
        let key = GroupRecordKey::OffsetCommit { group: "g".into(), topic: "t".into(), partition: 0 };
        let kb = encode_key(&key).unwrap();
        assert_eq!(group_key_json(&kb).unwrap(), r#"{"type":"1","data":{"group":"g","topic":"t","partition":0}}"#);
        let v = OffsetCommitValue {
            offset: 5,
            leader_epoch: -1,
            metadata: "".into(),
            commit_timestamp: 100,
            expire_timestamp: 200,
        };
        let vb = encode_offset_commit_value_version(&v, 1).unwrap();
        assert_eq!(
            group_value_json(1, &vb).unwrap(),
            r#"{"version":"1","data":{"offset":5,"metadata":"","commitTimestamp":100,"expireTimestamp":200}}"#
        );
        let vb = encode_offset_commit_value_version(&v, 3).unwrap();
        assert_eq!(
            group_value_json(1, &vb).unwrap(),
            r#"{"version":"3","data":{"offset":5,"leaderEpoch":-1,"metadata":"","commitTimestamp":100}}"#
        );

        // The expected text of DumpLogSegmentsTest.testOffsetsMessageParser.
        let (subscription, assignment) = crate::coordinator::group::consumer_protocol::v3_bytes();
        let mut g = GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 10,
            protocol: Some("range".into()),
            leader: Some("member".into()),
            current_state_timestamp: -1,
            members: vec![MemberMetadata {
                member_id: "member".into(),
                group_instance_id: Some("instance".into()),
                client_id: "client".into(),
                client_host: "host".into(),
                rebalance_timeout: 1000,
                session_timeout: 100,
                subscription,
                assignment,
            }],
        };
        let gk = encode_key(&GroupRecordKey::GroupMetadata { group: "group".into() }).unwrap();
        assert_eq!(group_key_json(&gk).unwrap(), r#"{"type":"2","data":{"group":"group"}}"#);
        let gb = encode_group_metadata_value_version(&g, 4).unwrap();
        assert_eq!(
            group_value_json(2, &gb).unwrap(),
            concat!(
                r#"{"version":"4","data":{"protocolType":"consumer","generation":10,"protocol":"range","#,
                r#""leader":"member","currentStateTimestamp":-1,"members":[{"memberId":"member","#,
                r#""groupInstanceId":"instance","clientId":"client","clientHost":"host","#,
                r#""rebalanceTimeout":1000,"sessionTimeout":100,"subscription":{"topics":["foo"],"#,
                r#""userData":null,"ownedPartitions":[{"topic":"foo","partitions":[0]}],"#,
                r#""generationId":0,"rackId":"rack"},"assignment":{"assignedPartitions":"#,
                r#"[{"topic":"foo","partitions":[0]}],"userData":null}}]}}"#
            )
        );
        // Malformed embedded protocol stays base64.
        g.members[0].subscription = b"Subscription".to_vec();
        g.members[0].assignment = b"Assignment".to_vec();
        let gb = encode_group_metadata_value_version(&g, 4).unwrap();
        let json = group_value_json(2, &gb).unwrap();
        assert!(json.contains(r#""subscription":"U3Vic2NyaXB0aW9u","assignment":"QXNzaWdubWVudA==""#), "{json}");
        // Older versions omit the fields they lack.
        let gb = encode_group_metadata_value_version(&g, 0).unwrap();
        let json = group_value_json(2, &gb).unwrap();
        assert!(!json.contains("currentStateTimestamp"));
        assert!(!json.contains("groupInstanceId"));
        assert!(!json.contains("rebalanceTimeout"));
        // Escaping.
        assert_eq!(Json::str("a\"b\n").to_string(), r#""a\"b\n""#);
        assert!(group_value_json(3, &gb).is_err());
    }

    #[test]
    fn consumer_protocol_json_follows_the_version() {
        let (s, a) = crate::coordinator::group::consumer_protocol::v3_bytes();
        let (v, sub) = consumer_protocol::decode_subscription(&s).unwrap();
        assert_eq!(
            consumer_subscription_json(&sub, v).to_string(),
            r#"{"topics":["foo"],"userData":null,"ownedPartitions":[{"topic":"foo","partitions":[0]}],"generationId":0,"rackId":"rack"}"#
        );
        let (v, asg) = consumer_protocol::decode_assignment(&a).unwrap();
        assert_eq!(
            consumer_assignment_json(&asg, v).to_string(),
            r#"{"assignedPartitions":[{"topic":"foo","partitions":[0]}],"userData":null}"#
        );
        // v0 subscription: topics + user data only.
        let s0 = [0, 0, 0, 0, 0, 1, 0, 1, b'x', 0, 0, 0, 1, 7];
        let (v, sub) = consumer_protocol::decode_subscription(&s0).unwrap();
        assert_eq!(v, 0);
        assert_eq!(consumer_subscription_json(&sub, v).to_string(), r#"{"topics":["x"],"userData":"Bw=="}"#);
    }

    #[test]
    fn transaction_states() {
        for id in 0..8 {
            let s = TransactionState::from_id(id).unwrap();
            assert_eq!(s.id(), id);
        }
        assert_eq!(TransactionState::from_id(8), None);
        assert_eq!(TransactionState::PrepareEpochFence.to_string(), "PrepareEpochFence");
    }

    #[test]
    fn unsupported_types_are_named() {
        assert_eq!(unsupported_group_record_type_name(3), Some("ConsumerGroupMetadataKey"));
        assert_eq!(unsupported_group_record_type_name(15), Some("ShareGroupStatePartitionMetadataKey"));
        assert_eq!(unsupported_group_record_type_name(2), None);
        assert_eq!(unsupported_group_record_type_name(16), None);
        assert_eq!(unsupported_group_record_type_name(i16::MIN), None);
    }
}
