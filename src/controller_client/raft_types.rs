//! The metadata quorum's openraft type configuration ([`TypeConfig`]) and
//! its entry payload ([`MetadataBatch`]). The controller listener carries
//! Raft traffic between voters in the same [`super::rpc::ControllerRequest`]
//! enum as broker requests, so the message types need the Raft types; they
//! are declared here, with the messages, so `controller_client` never
//! imports the controller (whose `quorum` module implements the log store,
//! state machine and network over this configuration).

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
