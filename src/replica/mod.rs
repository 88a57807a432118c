//! Replication (Kafka's `ReplicaManager`, `Partition`, replica fetchers):
//! which partitions this broker hosts, in which role and leader epoch;
//! as leader, appends with their acks semantics, reads up to the high
//! watermark, follower tracking and the ISR; as follower, fetching from
//! the leader and truncating where logs diverge; the offset watches that
//! wake waiting fetches and producers; the hook through which produce
//! asks the transaction coordinator to verify transactional batches.

pub mod fetcher;
pub mod hop_trace;
pub mod isr;
pub mod partition;
pub mod replica_manager;
pub mod txn_verification;

use thiserror::Error;

use crate::storage::StorageError;

pub use partition::Partition;
pub use replica_manager::ReplicaManager;

#[derive(Debug, Error)]
pub enum ReplicaError {
    #[error("this server does not host this topic-partition")]
    UnknownTopicOrPartition,
    #[error("this server does not host this topic id")]
    UnknownTopicId,
    #[error("this broker is not the leader of the partition")]
    NotLeaderOrFollower,
    #[error("the partition has no leader")]
    LeaderNotAvailable,
    #[error("leader epoch {request} is older than the current {current}")]
    FencedLeaderEpoch { request: i32, current: i32 },
    #[error("leader epoch {request} is newer than the current {current}")]
    UnknownLeaderEpoch { request: i32, current: i32 },
    #[error("not enough in-sync replicas: {isr} < min.insync.replicas {min}")]
    NotEnoughReplicas { isr: usize, min: i32 },
    #[error("the in-sync replicas shrank below min.insync.replicas after the append")]
    NotEnoughReplicasAfterAppend,
    #[error("request timed out")]
    RequestTimedOut,
    #[error("invalid required acks {0}")]
    InvalidRequiredAcks(i16),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl ReplicaError {
    pub fn kafka_code(&self) -> i16 {
        use kafka_protocol::ResponseError as E;
        match self {
            ReplicaError::UnknownTopicOrPartition => E::UnknownTopicOrPartition.code(),
            ReplicaError::UnknownTopicId => E::UnknownTopicId.code(),
            ReplicaError::NotLeaderOrFollower => E::NotLeaderOrFollower.code(),
            ReplicaError::LeaderNotAvailable => E::LeaderNotAvailable.code(),
            ReplicaError::FencedLeaderEpoch { .. } => E::FencedLeaderEpoch.code(),
            ReplicaError::UnknownLeaderEpoch { .. } => E::UnknownLeaderEpoch.code(),
            ReplicaError::NotEnoughReplicas { .. } => E::NotEnoughReplicas.code(),
            ReplicaError::NotEnoughReplicasAfterAppend => E::NotEnoughReplicasAfterAppend.code(),
            ReplicaError::RequestTimedOut => E::RequestTimedOut.code(),
            ReplicaError::InvalidRequiredAcks(_) => E::InvalidRequiredAcks.code(),
            ReplicaError::Storage(e) => e.kafka_code(),
        }
    }
}
