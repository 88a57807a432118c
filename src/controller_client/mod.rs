//! The broker's client to the controller (Kafka's
//! `NodeToControllerChannelManager` and the request and response types it
//! carries), and the types both sides of that conversation share.
//!
//! Kafka keeps this in the broker; Weir gives it its own module so the
//! graph has no cycle: brokers (`replica`, `coordinator`, `handlers`,
//! `broker`, the lifecycle manager) depend on it to reach the controller,
//! the controller depends on it for the shared types and the framing of
//! its listener, and nothing outside `controller` depends on `controller`
//! except the composition root that starts it.
//!
//! - [`channel`]: [`ControllerChannel`], the broker's path to the active
//!   controller (in process or over the controller listener).
//! - [`rpc`]: the controller listener's messages, framing and pooled client.
//! - [`ops`]: forwarded admin operations and their results.
//! - [`error`]: the [`ControllerError`] both sides return.
//! - [`topic`]: topic-name validation (Kafka's `Topic.validate`).
//! - [`raft_types`]: the metadata quorum's openraft type configuration,
//!   which the listener's Raft messages need.
//! - [`metadata_follower`]: broker-only nodes fetching the metadata log.
//! - [`lease`]: [`QuorumLease`], how long a broker may act on its
//!   leaderships without an answered heartbeat.

pub mod channel;
pub mod error;
pub mod lease;
pub mod metadata_follower;
pub mod ops;
pub mod raft_types;
pub mod rpc;
pub mod topic;

use std::collections::BTreeMap;

pub use channel::{ControllerChannel, LocalController};
pub use error::ControllerError;
pub use lease::QuorumLease;

/// A voter of the metadata quorum: node id and controller address.
pub type Voters = BTreeMap<u64, String>;
