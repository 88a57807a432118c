//! Operations the active controller performs, as they travel from any
//! broker to it (admin requests are forwarded here, as Kafka forwards them
//! in an `Envelope`) and the answers that come back: the request and
//! response types of Kafka's CreateTopics, DeleteTopics, CreatePartitions,
//! (Incremental)AlterConfigs, AllocateProducerIds, ElectLeaders and
//! AlterPartition as the controller sees them. Errors cross the wire as a
//! Kafka error code and message.
//!
//! Both sides share these types, so they live here, below the controller:
//! the broker builds them, the controller's managers
//! (`ReplicationControlManager`, `ConfigurationControlManager`) plan with
//! them, and neither has to import the other.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::metadata::ConfigResourceType;

use super::ControllerError;

/// Producer ids are handed to brokers in blocks, as Kafka does
/// (`ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE`).
pub const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;

/// A controller error reduced to what a client is told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpError {
    pub code: i16,
    pub message: String,
}

impl From<&ControllerError> for OpError {
    fn from(e: &ControllerError) -> Self {
        OpError { code: e.kafka_code(), message: e.to_string() }
    }
}

impl From<ControllerError> for OpError {
    fn from(e: ControllerError) -> Self {
        OpError::from(&e)
    }
}

impl From<OpError> for ControllerError {
    fn from(e: OpError) -> Self {
        ControllerError::Remote { code: e.code, message: e.message }
    }
}

/// One partition's election outcome (ElectLeaders).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ElectionOutcome {
    pub topic: String,
    pub partition: i32,
    pub error: Option<OpError>,
}

/// Kafka's election types (ElectLeaders `election_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ElectionType {
    Preferred,
    Unclean,
}

/// A partition leader's request to change the ISR (AlterPartition).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IsrChange {
    pub topic_id: Uuid,
    pub partition: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub new_isr: Vec<i32>,
}

/// A topic to create, as requested.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewTopic {
    pub name: String,
    pub num_partitions: i32,
    pub replication_factor: i16,
    /// Manual assignment: partition index -> replicas.
    pub assignments: Vec<(i32, Vec<i32>)>,
    pub configs: BTreeMap<String, String>,
}

/// The outcome of a planned creation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedTopic {
    pub topic_id: Uuid,
    pub num_partitions: i32,
    pub replication_factor: i16,
}

/// How to address a topic in a deletion.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum TopicRef {
    Name(String),
    Id(Uuid),
}

/// IncrementalAlterConfigs operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlterOp {
    Set,
    Delete,
    Append,
    Subtract,
}

impl AlterOp {
    pub fn from_code(code: i8) -> Option<Self> {
        Some(match code {
            0 => AlterOp::Set,
            1 => AlterOp::Delete,
            2 => AlterOp::Append,
            3 => AlterOp::Subtract,
            _ => return None,
        })
    }
}

/// How a resource's dynamic configs change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ConfigChange {
    /// IncrementalAlterConfigs: one operation per key.
    Incremental(Vec<(String, AlterOp, Option<String>)>),
    /// AlterConfigs: the given set replaces every dynamic config.
    Replace(Vec<(String, Option<String>)>),
}

/// CreatePartitions for one topic: (topic, new total count, manual
/// assignment of the new partitions).
pub type PartitionGrowth = (String, i32, Option<Vec<Vec<i32>>>);

/// A partition's registration after an ISR change: (leader epoch,
/// partition epoch, ISR).
pub type IsrAfterChange = (i32, i32, Vec<i32>);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ControllerOp {
    CreateTopics {
        topics: Vec<NewTopic>,
        validate_only: bool,
    },
    DeleteTopics {
        topics: Vec<TopicRef>,
    },
    CreatePartitions {
        topics: Vec<PartitionGrowth>,
        validate_only: bool,
    },
    AlterConfigs {
        changes: Vec<(ConfigResourceType, String, ConfigChange)>,
        validate_only: bool,
    },
    AllocateProducerIds {
        broker_id: i32,
    },
    ElectLeaders {
        election: ElectionType,
        /// None: every partition.
        partitions: Option<Vec<(String, i32)>>,
    },
    AlterPartition {
        broker_id: i32,
        broker_epoch: i64,
        changes: Vec<IsrChange>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum OpResult {
    CreateTopics(Vec<Result<CreatedTopic, OpError>>),
    DeleteTopics(Vec<Result<(String, Uuid), OpError>>),
    CreatePartitions(Vec<Result<(), OpError>>),
    AlterConfigs(Vec<Result<(), OpError>>),
    ProducerIds(Result<i64, OpError>),
    ElectLeaders(Result<Vec<ElectionOutcome>, OpError>),
    /// Per change: the partition's registration after it, or the error.
    AlterPartition(Result<Vec<Result<IsrAfterChange, OpError>>, OpError>),
    /// The whole operation failed (no active controller, timeout...).
    Failed(OpError),
}
