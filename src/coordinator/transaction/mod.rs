//! The transaction coordinator over the internal topic
//! `__transaction_state` (Kafka's `transaction-coordinator` module and
//! `kafka.coordinator.transaction`; this file holds its configuration,
//! Kafka's `TransactionLogConfig` and `TransactionStateManagerConfig`).
//!
//! A transactional id belongs to partition
//! `abs(hash(transactional_id)) % transaction.state.log.num.partitions` and
//! is coordinated by that partition's leader. Every state change is first
//! appended to the partition with acks=all semantics and only then applied
//! in memory; a broker that becomes leader of a partition rebuilds its
//! transactions by replaying it to its log end, and finishes (sends the
//! markers of) every transaction it finds half-completed.
//!
//! Layout, along Kafka's seams:
//! - [`metadata`]: one transactional id's state and its transitions
//!   (`TransactionMetadata`), pure and tested without I/O;
//! - [`state_manager`]: the partitions this broker leads, their loading,
//!   and the log writes (`TransactionStateManager`);
//! - [`coordinator`]: the operations the APIs call
//!   (`TransactionCoordinator`), the timeout abort and id expiration;
//! - [`markers`]: sending WriteTxnMarkers to partition leaders until every
//!   marker is written (`TransactionMarkerChannelManager`);
//! - [`verifier`]: KIP-890's check, before a transactional append, that
//!   the partition is in the producer's transaction;
//! - [`error`]: the errors it answers with.

pub mod coordinator;
pub mod error;
pub mod markers;
pub mod metadata;
pub mod state_manager;
pub mod verifier;

use crate::config::BrokerConfig;

pub use coordinator::{TransactionCoordinator, TxnLeadership};
pub use error::TxnError;
pub use metadata::TxnMetadata;

pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// The transaction coordinator's configuration (Kafka's names in comments).
#[derive(Debug, Clone)]
pub struct TransactionConfig {
    pub num_partitions: i32,              // transaction.state.log.num.partitions
    pub replication_factor: i16,          // transaction.state.log.replication.factor
    pub min_isr: i32,                     // transaction.state.log.min.isr
    pub segment_bytes: i32,               // transaction.state.log.segment.bytes
    pub max_timeout_ms: i32,              // transaction.max.timeout.ms
    pub id_expiration_ms: i64,            // transactional.id.expiration.ms
    pub abort_timed_out_interval_ms: u64, // transaction.abort.timed.out.transaction.cleanup.interval.ms
    pub remove_expired_interval_ms: u64,  // transaction.remove.expired.transaction.cleanup.interval.ms
    pub request_timeout_ms: u64,          // request.timeout.ms (log writes, marker requests)
    pub inter_broker_listener: String,    // inter.broker.listener.name
    pub partition_verification: bool,     // transaction.partition.verification.enable
}

impl TransactionConfig {
    pub fn from_broker(c: &BrokerConfig) -> Self {
        TransactionConfig {
            num_partitions: c.int("transaction.state.log.num.partitions").max(1),
            replication_factor: c.int("transaction.state.log.replication.factor").clamp(1, i16::MAX as i32) as i16,
            min_isr: c.int("transaction.state.log.min.isr").max(1),
            segment_bytes: c.int("transaction.state.log.segment.bytes"),
            max_timeout_ms: c.int("transaction.max.timeout.ms").max(1),
            id_expiration_ms: c.int("transactional.id.expiration.ms").max(1) as i64,
            abort_timed_out_interval_ms: c.int("transaction.abort.timed.out.transaction.cleanup.interval.ms").max(1)
                as u64,
            remove_expired_interval_ms: c.int("transaction.remove.expired.transaction.cleanup.interval.ms").max(1)
                as u64,
            // Kafka's request.timeout.ms default; Weir has no such broker
            // config.
            request_timeout_ms: 30_000,
            inter_broker_listener: c.inter_broker_listener_name(),
            partition_verification: c.bool("transaction.partition.verification.enable"),
        }
    }
}

/// The `__transaction_state` partition of a transactional id (Kafka's
/// `TransactionStateManager.partitionFor`: Java's `String.hashCode`, made
/// non-negative, modulo the partition count; the same rule as groups).
pub fn partition_for(transactional_id: &str, partitions: i32) -> i32 {
    super::group::partition_for(transactional_id, partitions)
}
