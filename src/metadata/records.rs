//! Metadata records: every cluster change is one of these, appended to the
//! metadata log and applied, by the same code on every node, to the
//! [`MetadataImage`](super::image::MetadataImage). Names follow Kafka's
//! KRaft records (`RegisterBrokerRecord`, `TopicRecord`, `PartitionRecord`,
//! `PartitionChangeRecord`, `ConfigRecord`, `RemoveTopicRecord`,
//! `ProducerIdsRecord`, `FeatureLevelRecord`).
//!
//! Records are JSON. A field added later is optional with a default and
//! left out while it holds that default (as Kafka adds tagged fields), so a
//! metadata log written before it reads the same, and a node that never
//! uses it writes the same bytes as before.

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
        /// Replicas (topic id, partition) the broker holds in failed log
        /// directories (Kafka's registration lists the online directories
        /// instead, and partition records name each replica's directory).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        offline_replicas: Vec<(Uuid, i32)>,
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
        /// The broker's replicas in failed log directories, when they
        /// change (None: unchanged). Kafka's `LogDirs` of this record.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        offline_replicas: Option<Vec<(Uuid, i32)>>,
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
        /// Eligible leader replicas (KIP-966): replicas that left the ISR
        /// while it was below `min.insync.replicas`, so they hold every
        /// committed record and may lead when the ISR is empty.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        elr: Vec<i32>,
        /// Kafka's `LastKnownElr`: with ELR on, the last leader of a
        /// partition whose ISR and ELR both emptied.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        last_known_elr: Vec<i32>,
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
        /// The new ELR, when it changes (None: unchanged).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        elr: Option<Vec<i32>>,
        /// The new last-known ELR, when it changes (None: unchanged).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_known_elr: Option<Vec<i32>>,
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
            elr: vec![2],
            last_known_elr: vec![],
        };
        assert_eq!(MetadataRecord::decode(&r.encode()).unwrap(), r);
        assert!(MetadataRecord::decode(b"{\"type\":\"Nope\"}").is_err());
    }

    /// Records written before ELR existed (no `elr` fields) still decode,
    /// and records without ELR state encode as they always did.
    #[test]
    fn records_without_elr_fields_read_and_write_as_before() {
        let topic_id = Uuid::nil();
        let old_partition = format!(
            r#"{{"type":"Partition","topic_id":"{topic_id}","partition_id":0,"replicas":[1,2],"isr":[1],"leader":1,"leader_epoch":3,"partition_epoch":4}}"#
        );
        let decoded = MetadataRecord::decode(old_partition.as_bytes()).unwrap();
        assert!(
            matches!(&decoded, MetadataRecord::Partition { elr, last_known_elr, .. } if elr.is_empty() && last_known_elr.is_empty())
        );
        assert_eq!(String::from_utf8(decoded.encode()).unwrap(), old_partition);
        let old_change = format!(
            r#"{{"type":"PartitionChange","topic_id":"{topic_id}","partition_id":0,"leader":2,"isr":[2],"replicas":null,"bump_leader_epoch":false}}"#
        );
        let decoded = MetadataRecord::decode(old_change.as_bytes()).unwrap();
        assert!(matches!(&decoded, MetadataRecord::PartitionChange { elr: None, last_known_elr: None, .. }));
        assert_eq!(String::from_utf8(decoded.encode()).unwrap(), old_change);
    }
}
