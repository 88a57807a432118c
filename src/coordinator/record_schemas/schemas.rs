//! The schema tables: one static [`RecordSchema`] per record, mirroring
//! Kafka's message JSON files `OffsetCommitKey.json`,
//! `OffsetCommitValue.json`, `GroupMetadataKey.json`,
//! `GroupMetadataValue.json` (group coordinator, `__consumer_offsets`) and
//! `TransactionLogKey.json`, `TransactionLogValue.json` (transaction
//! coordinator, `__transaction_state`): field order, types, versions,
//! nullability, tags and defaults. Field names are the camelCase names
//! Kafka's `JsonConverter`s print.
//!
//! Adding a record: write its table here (fields in the JSON file's
//! order), and for a `__consumer_offsets` record type add a
//! [`GroupRecord`] to [`GROUP_RECORDS`]; [`super::group_key_json`] and
//! [`super::group_value_json`] then decode and print it. A typed struct
//! (built from the decoded [`super::codec::Fields`]) is only needed where
//! the coordinator uses the record.

use super::codec::{Default, Field, Fields, RecordSchema, StructSchema, Type, Versions};
use super::json::{self, Json};

const ALL: Versions = Versions::ALL;
const fn from(v: i16) -> Versions {
    Versions::from(v)
}

// ---------------------------------------------------------------------------
// __consumer_offsets
// ---------------------------------------------------------------------------

/// Record types 0 and 1.
pub static OFFSET_COMMIT_KEY: RecordSchema = RecordSchema {
    root: StructSchema {
        name: "OffsetCommitKey",
        fields: &[
            Field::new("group", Type::String, ALL),
            Field::new("topic", Type::String, ALL),
            Field::new("partition", Type::Int32, ALL),
        ],
        min_size: None,
    },
    versions: Versions::range(0, 1),
    flexible_from: None,
};

/// Record type 2.
pub static GROUP_METADATA_KEY: RecordSchema = RecordSchema {
    root: StructSchema { name: "GroupMetadataKey", fields: &[Field::new("group", Type::String, ALL)], min_size: None },
    versions: Versions::range(2, 2),
    flexible_from: None,
};

pub static OFFSET_COMMIT_VALUE: RecordSchema = RecordSchema {
    root: StructSchema {
        name: "OffsetCommitValue",
        fields: &[
            Field::new("offset", Type::Int64, ALL),
            Field::new("leaderEpoch", Type::Int32, from(3)).default(Default::Int(-1)),
            Field::new("metadata", Type::String, ALL),
            Field::new("commitTimestamp", Type::Int64, ALL),
            Field::new("expireTimestamp", Type::Int64, Versions::range(1, 1)).default(Default::Int(-1)),
        ],
        min_size: None,
    },
    versions: Versions::range(0, 4),
    flexible_from: Some(4),
};

static MEMBER_METADATA: StructSchema = StructSchema {
    name: "MemberMetadata",
    fields: &[
        Field::new("memberId", Type::String, ALL),
        Field::new("groupInstanceId", Type::String, from(3)).nullable().default(Default::Null),
        Field::new("clientId", Type::String, ALL),
        Field::new("clientHost", Type::String, ALL),
        Field::new("rebalanceTimeout", Type::Int32, from(1)).default(Default::Int(-1)),
        Field::new("sessionTimeout", Type::Int32, ALL),
        Field::new("subscription", Type::Bytes, ALL),
        Field::new("assignment", Type::Bytes, ALL),
    ],
    // The v0 layout, and 14 compact: the bounds the hand-written decoder
    // used (the computed ones are tighter at v1+), kept so that errors on
    // corrupt records read as before.
    min_size: Some((18, 14)),
};

pub static GROUP_METADATA_VALUE: RecordSchema = RecordSchema {
    root: StructSchema {
        name: "GroupMetadataValue",
        fields: &[
            Field::new("protocolType", Type::String, ALL),
            Field::new("generation", Type::Int32, ALL),
            Field::new("protocol", Type::String, ALL).nullable(),
            Field::new("leader", Type::String, ALL).nullable(),
            Field::new("currentStateTimestamp", Type::Int64, from(2)).default(Default::Int(-1)),
            Field::new("members", Type::Array(&Type::Struct(&MEMBER_METADATA)), ALL),
        ],
        min_size: None,
    },
    versions: Versions::range(0, 4),
    flexible_from: Some(4),
};

/// A `__consumer_offsets` record type Weir decodes.
pub struct GroupRecord {
    pub record_type: i16,
    pub key: &'static RecordSchema,
    pub value: &'static RecordSchema,
    /// Renders a decoded value (`json::plain` unless the record needs more).
    pub value_json: fn(&RecordSchema, &Fields, i16) -> Json,
}

/// The `__consumer_offsets` record types Weir decodes, by record type.
pub static GROUP_RECORDS: &[GroupRecord] = &[
    GroupRecord { record_type: 0, key: &OFFSET_COMMIT_KEY, value: &OFFSET_COMMIT_VALUE, value_json: json::plain },
    GroupRecord { record_type: 1, key: &OFFSET_COMMIT_KEY, value: &OFFSET_COMMIT_VALUE, value_json: json::plain },
    GroupRecord {
        record_type: 2,
        key: &GROUP_METADATA_KEY,
        value: &GROUP_METADATA_VALUE,
        value_json: super::group_metadata_json,
    },
];

pub fn group_record(record_type: i16) -> Option<&'static GroupRecord> {
    GROUP_RECORDS.iter().find(|r| r.record_type == record_type)
}

// ---------------------------------------------------------------------------
// __transaction_state
// ---------------------------------------------------------------------------

pub static TRANSACTION_LOG_KEY: RecordSchema = RecordSchema {
    root: StructSchema {
        name: "TransactionLogKey",
        fields: &[Field::new("transactionalId", Type::String, ALL)],
        min_size: None,
    },
    versions: Versions::range(0, 0),
    flexible_from: None,
};

static PARTITIONS_SCHEMA: StructSchema = StructSchema {
    name: "PartitionsSchema",
    fields: &[Field::new("topic", Type::String, ALL), Field::new("partitionIds", Type::Array(&Type::Int32), ALL)],
    min_size: None,
};

pub static TRANSACTION_LOG_VALUE: RecordSchema = RecordSchema {
    root: StructSchema {
        name: "TransactionLogValue",
        fields: &[
            Field::new("producerId", Type::Int64, ALL),
            Field::new("previousProducerId", Type::Int64, from(1)).tagged(0).default(Default::Int(-1)),
            Field::new("nextProducerId", Type::Int64, from(1)).tagged(1).default(Default::Int(-1)),
            Field::new("producerEpoch", Type::Int16, ALL),
            Field::new("transactionTimeoutMs", Type::Int32, ALL),
            Field::new("transactionStatus", Type::Int8, ALL),
            Field::new("transactionPartitions", Type::Array(&Type::Struct(&PARTITIONS_SCHEMA)), ALL).nullable(),
            Field::new("transactionLastUpdateTimestampMs", Type::Int64, ALL),
            Field::new("transactionStartTimestampMs", Type::Int64, ALL),
            Field::new("clientTransactionVersion", Type::Int16, from(1)).tagged(2),
        ],
        min_size: None,
    },
    versions: Versions::range(0, 1),
    flexible_from: Some(1),
};
