//! Metadata records: every cluster change is one of these, appended to the
//! metadata log and applied, by the same code on every node, to the
//! [`MetadataImage`](super::image::MetadataImage). Names follow Kafka's
//! KRaft records (`RegisterBrokerRecord`, `TopicRecord`, `PartitionRecord`,
//! `PartitionChangeRecord`, `ConfigRecord`, `RemoveTopicRecord`,
//! `ProducerIdsRecord`, `FeatureLevelRecord`).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A listener a broker registered: name, host, port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub name: String,
    pub host: String,
    pub port: u16,
}

/// Kafka's ConfigResource types (DescribeConfigs `resource_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ConfigResourceType {
    Topic,
    Broker,
}

impl ConfigResourceType {
    pub fn from_code(code: i8) -> Option<Self> {
        match code {
            2 => Some(ConfigResourceType::Topic),
            4 => Some(ConfigResourceType::Broker),
            _ => None,
        }
    }
    pub fn code(self) -> i8 {
        match self {
            ConfigResourceType::Topic => 2,
            ConfigResourceType::Broker => 4,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum MetadataRecord {
    /// A broker (re-)registers; its broker epoch is this record's offset
    /// (snapshots carry the original epoch explicitly).
    RegisterBroker {
        broker_id: i32,
        incarnation_id: Uuid,
        listeners: Vec<Endpoint>,
        rack: Option<String>,
        fenced: bool,
        #[serde(default)]
        broker_epoch: Option<i64>,
    },
    UnregisterBroker {
        broker_id: i32,
        broker_epoch: i64,
    },
    BrokerRegistrationChange {
        broker_id: i32,
        broker_epoch: i64,
        fenced: Option<bool>,
        in_controlled_shutdown: Option<bool>,
    },
    Topic {
        name: String,
        topic_id: Uuid,
    },
    Partition {
        topic_id: Uuid,
        partition_id: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        leader: i32,
        leader_epoch: i32,
        partition_epoch: i32,
    },
    /// A change to a partition. Replay bumps the partition epoch always and
    /// the leader epoch when the leader changes (or `bump_leader_epoch`).
    PartitionChange {
        topic_id: Uuid,
        partition_id: i32,
        leader: Option<i32>,
        isr: Option<Vec<i32>>,
        replicas: Option<Vec<i32>>,
        #[serde(default)]
        bump_leader_epoch: bool,
    },
    Config {
        resource_type: ConfigResourceType,
        resource_name: String,
        name: String,
        value: Option<String>,
    },
    RemoveTopic {
        topic_id: Uuid,
    },
    ProducerIds {
        broker_id: i32,
        next_producer_id: i64,
    },
    FeatureLevel {
        name: String,
        level: i16,
    },
    /// The cluster's id, written once when the metadata log is new.
    ClusterId {
        cluster_id: String,
    },
}

impl MetadataRecord {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("metadata records serialize")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let r = MetadataRecord::Partition {
            topic_id: Uuid::new_v4(),
            partition_id: 3,
            replicas: vec![1, 2],
            isr: vec![1],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
        };
        assert_eq!(MetadataRecord::decode(&r.encode()).unwrap(), r);
        assert!(MetadataRecord::decode(b"{\"type\":\"Nope\"}").is_err());
    }
}
