//! The group coordinator for classic consumer groups, over the internal
//! topic `__consumer_offsets` (Kafka's `group-coordinator` module; this
//! file holds its configuration, Kafka's `GroupCoordinatorConfig`).
//!
//! A group belongs to partition `abs(hash(group_id)) % offsets.topic.num.partitions`
//! and is coordinated by that partition's leader. Every change that must
//! survive (group metadata with assignments, committed offsets, deletions)
//! is appended to the partition with acks=all semantics before it is
//! acknowledged; a broker that becomes leader of a partition rebuilds its
//! groups by replaying it, so state survives restarts and, once partitions
//! replicate, coordinator failover.
//!
//! Layout, along Kafka's seams:
//! - [`service`]: routing group ids to partitions and the coordinator per
//!   partition (`GroupCoordinatorService`, `CoordinatorRuntime`);
//! - [`shard`]: one partition's groups and their loading by replay
//!   (`GroupCoordinatorShard`, `GroupMetadataManager`'s loading);
//! - [`membership`]: the classic group operations (`GroupMetadataManager`);
//! - [`offsets`]: committed offsets (`OffsetMetadataManager`);
//! - [`records`]: building and appending records
//!   (`GroupCoordinatorRecordHelpers`);
//! - [`txn_offsets`]: transactional offset commits, pending until their
//!   transaction's marker;
//! - [`classic`]: one classic group (`ClassicGroup`);
//! - [`error`]: the errors it answers with.

pub mod classic;
pub mod consumer_protocol;
pub mod error;
pub mod membership;
pub mod offsets;
mod records;
pub mod service;
mod shard;
pub mod txn_offsets;

use crate::config::BrokerConfig;

pub use error::GroupError;
pub use membership::{GroupDescription, GroupOverview, JoinArgs, MemberDescription, SyncArgs};
pub use offsets::FetchedOffsets;
pub use service::{partition_for, CoordinatorLeadership, GroupCoordinator};

pub const GROUP_METADATA_TOPIC: &str = "__consumer_offsets";
/// A new member may take this long to receive its first join response.
pub const NEW_MEMBER_JOIN_TIMEOUT_MS: u64 = 5 * 60 * 1000;

/// The group coordinator's configuration (Kafka's names in comments).
#[derive(Debug, Clone)]
pub struct GroupConfig {
    pub min_session_timeout_ms: i32,      // group.min.session.timeout.ms
    pub max_session_timeout_ms: i32,      // group.max.session.timeout.ms
    pub initial_rebalance_delay_ms: u64,  // group.initial.rebalance.delay.ms
    pub max_size: usize,                  // group.max.size
    pub num_partitions: i32,              // offsets.topic.num.partitions
    pub replication_factor: i16,          // offsets.topic.replication.factor
    pub segment_bytes: i32,               // offsets.topic.segment.bytes
    pub retention_ms: i64,                // offsets.retention.minutes
    pub retention_check_interval_ms: u64, // offsets.retention.check.interval.ms
    pub commit_timeout_ms: u64,           // offsets.commit.timeout.ms
    pub metadata_max_bytes: usize,        // offset.metadata.max.bytes
}

impl GroupConfig {
    pub fn from_broker(c: &BrokerConfig) -> Self {
        GroupConfig {
            min_session_timeout_ms: c.int("group.min.session.timeout.ms"),
            max_session_timeout_ms: c.int("group.max.session.timeout.ms"),
            initial_rebalance_delay_ms: c.int("group.initial.rebalance.delay.ms").max(0) as u64,
            max_size: c.int("group.max.size").max(1) as usize,
            num_partitions: c.int("offsets.topic.num.partitions").max(1),
            replication_factor: c.int("offsets.topic.replication.factor").clamp(1, i16::MAX as i32) as i16,
            segment_bytes: c.int("offsets.topic.segment.bytes"),
            retention_ms: c.int("offsets.retention.minutes") as i64 * 60_000,
            retention_check_interval_ms: c.long("offsets.retention.check.interval.ms").max(1) as u64,
            commit_timeout_ms: c.int("offsets.commit.timeout.ms").max(1) as u64,
            metadata_max_bytes: c.int("offset.metadata.max.bytes").max(0) as usize,
        }
    }
}
