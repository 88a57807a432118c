//! The metadata quorum on openraft: type configuration, the durable Raft
//! log (`log_store`), the state machine that applies metadata records to
//! the image (`state_machine`), and the network over the controller
//! channel (`network`).

pub mod log_store;
pub mod network;
pub mod state_machine;

// The type configuration is declared with the controller listener's
// messages (they carry Raft RPCs), below this module.
pub use crate::controller_client::raft_types::{MetadataBatch, TypeConfig};

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
