//! `SUPPORTED_APIS`: the one hand-written table behind ApiVersions and the
//! version gate. It lists only what Weir implements, at every version it
//! implements; it is deliberately not derived from the `kafka-protocol`
//! crate, which tracks a newer Kafka than we serve.
//!
//! Serving one more version of an API is a one-line change here, once the
//! handler handles it: bodies are decoded by the (length-safe, patched)
//! crate alone, and tests/protocol_roundtrip.rs and tests/decode_fuzz.rs
//! walk this table, so the new version is round-tripped and fuzzed.

use kafka_protocol::messages::ApiKey;

/// One advertised API and its inclusive version range.
#[derive(Debug, Clone, Copy)]
pub struct SupportedApi {
    pub key: ApiKey,
    pub min: i16,
    pub max: i16,
}

const fn api(key: ApiKey, min: i16, max: i16) -> SupportedApi {
    SupportedApi { key, min, max }
}

/// Everything Weir answers. Produce is advertised from v0 although only
/// v3+ is decoded: librdkafka < 2.8 turns compression off when Produce's
/// minimum is not 0 (KAFKA-18659); v0-2 are answered UNSUPPORTED_VERSION.
pub const SUPPORTED_APIS: &[SupportedApi] = &[
    api(ApiKey::Produce, 0, 12),
    api(ApiKey::Fetch, 4, 17),
    api(ApiKey::ListOffsets, 1, 10),
    api(ApiKey::Metadata, 0, 13),
    api(ApiKey::OffsetCommit, 2, 9),
    api(ApiKey::OffsetFetch, 1, 9),
    api(ApiKey::FindCoordinator, 0, 6),
    api(ApiKey::JoinGroup, 0, 9),
    api(ApiKey::Heartbeat, 0, 4),
    api(ApiKey::LeaveGroup, 0, 5),
    api(ApiKey::SyncGroup, 0, 5),
    api(ApiKey::DescribeGroups, 0, 5),
    api(ApiKey::ListGroups, 0, 5),
    api(ApiKey::ApiVersions, 0, 4),
    api(ApiKey::CreateTopics, 2, 7),
    api(ApiKey::DeleteTopics, 1, 6),
    api(ApiKey::DeleteRecords, 0, 2),
    api(ApiKey::OffsetForLeaderEpoch, 2, 4),
    api(ApiKey::CreatePartitions, 0, 3),
    api(ApiKey::DeleteGroups, 0, 2),
    api(ApiKey::ElectLeaders, 0, 2),
    api(ApiKey::ListPartitionReassignments, 0, 0),
    api(ApiKey::DescribeQuorum, 0, 1),
    api(ApiKey::OffsetDelete, 0, 0),
    api(ApiKey::InitProducerId, 0, 5),
    api(ApiKey::AddPartitionsToTxn, 0, 5),
    api(ApiKey::AddOffsetsToTxn, 0, 4),
    api(ApiKey::EndTxn, 0, 4),
    api(ApiKey::TxnOffsetCommit, 0, 4),
    api(ApiKey::DescribeConfigs, 1, 4),
    api(ApiKey::AlterConfigs, 0, 2),
    api(ApiKey::IncrementalAlterConfigs, 0, 1),
    api(ApiKey::DescribeCluster, 0, 2),
    api(ApiKey::DescribeTopicPartitions, 0, 0),
    api(ApiKey::DescribeTransactions, 0, 0),
    api(ApiKey::ListTransactions, 0, 1),
    api(ApiKey::WriteTxnMarkers, 1, 1),
    api(ApiKey::DescribeProducers, 0, 0),
];

/// Lowest Produce version whose body we decode.
pub const PRODUCE_MIN_DECODED: i16 = 3;

/// Features announced in ApiVersions v3+ as (name, min, max). A feature
/// whose minimum is 0 is left out below ApiVersions v4, as Kafka does
/// (KAFKA-17492: older Java clients reject 0). Only `metadata.version` and
/// `eligible.leader.replicas.version` are known, so clients use
/// transaction.version 1 and the classic group protocol.
pub const SUPPORTED_FEATURES: &[(&str, i16, i16)] =
    &[("metadata.version", 1, METADATA_VERSION), (ELR_FEATURE, 0, ELR_VERSION)];

/// Kafka's `eligible.leader.replicas.version` feature (KIP-966).
pub const ELR_FEATURE: &str = "eligible.leader.replicas.version";

/// The level of [`ELR_FEATURE`] that turns Eligible Leader Replicas on
/// (Kafka's `ELRV_1`), finalized when a new cluster's metadata log is
/// written, as Kafka 4.1 does; a cluster whose log predates it stays at 0.
pub const ELR_VERSION: i16 = 1;

/// The first `metadata.version` with ELR (Kafka's 4.0-IV1,
/// `MetadataVersion.isElrSupported`), which `ELRV_1` depends on.
pub const ELR_MIN_METADATA_VERSION: i16 = 23;

/// The finalized `metadata.version` level (Kafka 4.0-IV3).
pub const METADATA_VERSION: i16 = 25;

pub fn lookup(api_key: i16) -> Option<&'static SupportedApi> {
    SUPPORTED_APIS.iter().find(|a| a.key as i16 == api_key)
}

/// True when `version` of `api_key` is advertised.
pub fn is_supported(api_key: i16, version: i16) -> bool {
    lookup(api_key).is_some_and(|a| version >= a.min && version <= a.max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_within_what_the_codec_can_encode() {
        for a in SUPPORTED_APIS {
            let codec = a.key.valid_versions();
            let decoded_min = if a.key == ApiKey::Produce { PRODUCE_MIN_DECODED } else { a.min };
            assert!(decoded_min >= codec.min && a.max <= codec.max, "{:?}", a.key);
            assert!(a.min <= a.max);
        }
    }

    #[test]
    fn produce_is_advertised_from_zero() {
        assert!(is_supported(ApiKey::Produce as i16, 0));
        assert!(!is_supported(ApiKey::Fetch as i16, 3));
        assert!(!is_supported(9999, 0));
    }
}
