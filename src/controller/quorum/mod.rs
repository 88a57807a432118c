//! The metadata quorum on openraft: type configuration, the durable Raft
//! log (`log_store`), the state machine that applies metadata records to
//! the image (`state_machine`), and the network over the controller
//! channel (`network`).

pub mod log_store;
pub mod network;
pub mod state_machine;

use std::io::Cursor;

use serde::{Deserialize, Serialize};

use crate::metadata::MetadataRecord;

/// One Raft entry's payload: the records of one controller operation,
/// applied atomically.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataBatch {
    pub records: Vec<MetadataRecord>,
}

impl std::fmt::Display for MetadataBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MetadataBatch({} records)", self.records.len())
    }
}

openraft::declare_raft_types!(
    /// Weir's metadata quorum: node ids are Kafka node ids.
    pub TypeConfig:
        D = MetadataBatch,
        R = (),
        NodeId = u64,
        Node = openraft::BasicNode,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<u64>;

/// Raft timing: heartbeats well inside the election timeout, snapshots
/// every few thousand entries so the log stays bounded.
pub fn raft_config() -> openraft::Config {
    openraft::Config {
        cluster_name: "weir-metadata".into(),
        heartbeat_interval: 250,
        election_timeout_min: 1000,
        election_timeout_max: 2000,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(2000),
        max_in_snapshot_log_to_keep: 500,
        ..Default::default()
    }
}
