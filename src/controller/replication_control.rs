//! Topic and partition administration as pure planning over the current
//! image (Kafka's `ReplicationControlManager`): validate a request, and
//! produce the records that carry it out plus the answer to give.

use std::collections::{BTreeMap, HashSet};

use uuid::Uuid;

use crate::config::{BrokerConfig, LogConfig};
use crate::metadata::{ConfigResourceType, MetadataImage, MetadataRecord};
use crate::storage::checkpoint::random_kafka_uuid;

use super::placement::{self, UsableBroker};
use super::ControllerError;

pub const MAX_TOPIC_NAME_LENGTH: usize = 249;

/// Kafka's `Topic.validate`.
pub fn validate_topic_name(name: &str) -> Result<(), ControllerError> {
    if name.is_empty() {
        return Err(ControllerError::InvalidTopic(
            "Topic name is illegal, it can't be empty".into(),
        ));
    }
    if name == "." || name == ".." {
        return Err(ControllerError::InvalidTopic(
            "Topic name cannot be \".\" or \"..\"".into(),
        ));
    }
    if name.len() > MAX_TOPIC_NAME_LENGTH {
        return Err(ControllerError::InvalidTopic(format!(
            "Topic name is illegal, it can't be longer than {MAX_TOPIC_NAME_LENGTH} characters, topic name: {name}"
        )));
    }
    if !name
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || c == b'-')
    {
        return Err(ControllerError::InvalidTopic(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        )));
    }
    Ok(())
}

/// Names that differ only in '.' vs '_' collide in metric names.
fn unify_collision_chars(name: &str) -> String {
    name.replace('.', "_")
}

/// A topic to create, as requested.
#[derive(Debug, Clone)]
pub struct NewTopic {
    pub name: String,
    pub num_partitions: i32,
    pub replication_factor: i16,
    /// Manual assignment: partition index -> replicas.
    pub assignments: Vec<(i32, Vec<i32>)>,
    pub configs: BTreeMap<String, String>,
}

/// The outcome of a planned creation.
#[derive(Debug, Clone)]
pub struct CreatedTopic {
    pub topic_id: Uuid,
    pub num_partitions: i32,
    pub replication_factor: i16,
}

pub fn usable_brokers(image: &MetadataImage) -> Vec<UsableBroker> {
    image
        .live_brokers()
        .filter(|b| !b.in_controlled_shutdown)
        .map(|b| UsableBroker {
            id: b.id,
            rack: b.rack.clone(),
        })
        .collect()
}

/// Validates `topic` against `image` and returns the records creating it.
pub fn plan_create_topic(
    image: &MetadataImage,
    broker: &BrokerConfig,
    topic: &NewTopic,
) -> Result<(Vec<MetadataRecord>, CreatedTopic), ControllerError> {
    validate_topic_name(&topic.name)?;
    if image.topic_ids.contains_key(&topic.name) {
        return Err(ControllerError::TopicAlreadyExists(format!(
            "Topic '{}' already exists.",
            topic.name
        )));
    }
    let unified = unify_collision_chars(&topic.name);
    if let Some(existing) = image
        .topic_ids
        .keys()
        .find(|t| unify_collision_chars(t) == unified)
    {
        return Err(ControllerError::InvalidTopic(format!(
            "Topic '{}' collides with existing topic: {existing}",
            topic.name
        )));
    }
    LogConfig::validate_overrides(broker, &topic.configs)
        .map_err(ControllerError::InvalidConfig)?;
    let live = usable_brokers(image);
    let assignments: Vec<Vec<i32>> = if !topic.assignments.is_empty() {
        if topic.num_partitions != -1 || topic.replication_factor != -1 {
            return Err(ControllerError::InvalidRequest(
                "A manual partition assignment was specified, but numPartitions or replicationFactor was not set to -1.".into(),
            ));
        }
        let mut sorted = topic.assignments.clone();
        sorted.sort_by_key(|(p, _)| *p);
        let mut out = Vec::new();
        for (expected, (p, replicas)) in sorted.iter().enumerate() {
            if *p != expected as i32 {
                return Err(ControllerError::InvalidReplicaAssignment(format!(
                    "Partitions should be numbered consecutively from 0; partition {expected} is missing."
                )));
            }
            if replicas.is_empty() {
                return Err(ControllerError::InvalidReplicaAssignment(format!("The manual partition assignment includes an empty replica list for partition {p}.")));
            }
            let distinct: HashSet<_> = replicas.iter().collect();
            if distinct.len() != replicas.len() {
                return Err(ControllerError::InvalidReplicaAssignment(format!(
                    "The manual partition assignment includes the broker more than once for partition {p}."
                )));
            }
            for b in replicas {
                if !image.brokers.contains_key(b) {
                    return Err(ControllerError::InvalidReplicaAssignment(format!(
                        "The manual partition assignment includes broker {b}, but no such broker is registered."
                    )));
                }
            }
            if let Some(first) = out.first().map(|r: &Vec<i32>| r.len()) {
                if first != replicas.len() {
                    return Err(ControllerError::InvalidReplicaAssignment(format!(
                        "The manual partition assignment includes a partition with {} replica(s), but this is not consistent with previous partitions, which have {first} replica(s).",
                        replicas.len()
                    )));
                }
            }
            out.push(replicas.clone());
        }
        out
    } else {
        let partitions = if topic.num_partitions == -1 {
            broker.num_partitions
        } else {
            topic.num_partitions
        };
        if partitions <= 0 {
            return Err(ControllerError::InvalidPartitions(
                "Number of partitions was set to an invalid non-positive value.".into(),
            ));
        }
        let rf = if topic.replication_factor == -1 {
            broker.default_replication_factor
        } else {
            topic.replication_factor
        };
        if rf <= 0 {
            return Err(ControllerError::InvalidReplicationFactor(
                "Replication factor must be larger than 0, or -1 to use the default value.".into(),
            ));
        }
        placement::place(&live, partitions, rf, 0, None)
            .map_err(|e| ControllerError::InvalidReplicationFactor(e.0))?
    };
    let topic_id = random_kafka_uuid();
    let mut records = vec![MetadataRecord::Topic {
        name: topic.name.clone(),
        topic_id,
    }];
    for (name, value) in &topic.configs {
        records.push(MetadataRecord::Config {
            resource_type: ConfigResourceType::Topic,
            resource_name: topic.name.clone(),
            name: name.clone(),
            value: Some(value.clone()),
        });
    }
    let live_ids: HashSet<i32> = live.iter().map(|b| b.id).collect();
    for (p, replicas) in assignments.iter().enumerate() {
        records.push(new_partition_record(
            topic_id, p as i32, replicas, &live_ids,
        ));
    }
    let created = CreatedTopic {
        topic_id,
        num_partitions: assignments.len() as i32,
        replication_factor: assignments.first().map_or(0, |r| r.len() as i16),
    };
    Ok((records, created))
}

/// A new partition: the ISR is the live replicas, the leader the first of them.
pub fn new_partition_record(
    topic_id: Uuid,
    partition_id: i32,
    replicas: &[i32],
    live: &HashSet<i32>,
) -> MetadataRecord {
    let isr: Vec<i32> = replicas
        .iter()
        .copied()
        .filter(|r| live.contains(r))
        .collect();
    let leader = isr.first().copied().unwrap_or(-1);
    MetadataRecord::Partition {
        topic_id,
        partition_id,
        replicas: replicas.to_vec(),
        isr,
        leader,
        leader_epoch: 0,
        partition_epoch: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_name_rules() {
        assert!(validate_topic_name("orders.v1_x-2").is_ok());
        assert!(matches!(
            validate_topic_name(""),
            Err(ControllerError::InvalidTopic(_))
        ));
        assert!(matches!(
            validate_topic_name("."),
            Err(ControllerError::InvalidTopic(_))
        ));
        assert!(matches!(
            validate_topic_name(".."),
            Err(ControllerError::InvalidTopic(_))
        ));
        assert!(matches!(
            validate_topic_name("a b"),
            Err(ControllerError::InvalidTopic(_))
        ));
        assert!(matches!(
            validate_topic_name("ü"),
            Err(ControllerError::InvalidTopic(_))
        ));
        assert!(validate_topic_name(&"a".repeat(249)).is_ok());
        assert!(matches!(
            validate_topic_name(&"a".repeat(250)),
            Err(ControllerError::InvalidTopic(_))
        ));
    }
}
