//! `MetadataImage`: the cluster state as of a metadata log offset —
//! brokers, topics, partitions (replicas, ISR, leader, epochs), configs and
//! the producer id high-water mark. Immutable once published; changes make
//! a new image, copying only the topics they touch.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use uuid::Uuid;

use super::records::{ConfigResourceType, Endpoint, MetadataRecord};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerRegistration {
    pub id: i32,
    pub incarnation_id: Uuid,
    pub epoch: i64,
    pub listeners: Vec<Endpoint>,
    pub rack: Option<String>,
    pub fenced: bool,
    pub in_controlled_shutdown: bool,
    /// Replicas (topic id, partition) this broker holds in a failed log
    /// directory: offline until it registers again.
    pub offline_replicas: BTreeSet<(Uuid, i32)>,
}

impl BrokerRegistration {
    /// The endpoint clients use for `listener` (the first if absent).
    pub fn endpoint(&self, listener: &str) -> Option<&Endpoint> {
        self.listeners.iter().find(|e| e.name == listener).or_else(|| self.listeners.first())
    }
}

/// Kafka's `PartitionRegistration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRegistration {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// -1 when the partition has no leader (offline).
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// Eligible leader replicas (KIP-966); empty while ELR is off.
    pub elr: Vec<i32>,
    /// Kafka's `LastKnownElr`: the last leader of a partition left with
    /// neither ISR nor ELR.
    pub last_known_elr: Vec<i32>,
}

impl PartitionRegistration {
    pub fn preferred_leader(&self) -> i32 {
        self.replicas.first().copied().unwrap_or(-1)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicImage {
    pub name: String,
    pub id: Uuid,
    pub partitions: BTreeMap<i32, PartitionRegistration>,
}

#[derive(Debug, Clone, Default)]
pub struct MetadataImage {
    /// Offset of the last record applied (-1: empty).
    pub offset: i64,
    /// Empty until the metadata log's ClusterId record is applied.
    pub cluster_id: String,
    pub brokers: BTreeMap<i32, BrokerRegistration>,
    pub topic_ids: HashMap<String, Uuid>,
    pub topics: HashMap<Uuid, Arc<TopicImage>>,
    pub configs: HashMap<(ConfigResourceType, String), BTreeMap<String, String>>,
    pub next_producer_id: i64,
    pub features: BTreeMap<String, i16>,
}

/// What a record changed, for listeners that react to deltas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Broker(i32),
    TopicCreated(Uuid),
    TopicDeleted { id: Uuid, name: String },
    Partition { topic_id: Uuid, partition: i32 },
    Config(ConfigResourceType, String),
}

impl MetadataImage {
    pub fn empty() -> Self {
        MetadataImage { offset: -1, ..Default::default() }
    }

    pub fn topic_by_name(&self, name: &str) -> Option<&Arc<TopicImage>> {
        self.topic_ids.get(name).and_then(|id| self.topics.get(id))
    }

    pub fn topic_by_id(&self, id: &Uuid) -> Option<&Arc<TopicImage>> {
        self.topics.get(id)
    }

    pub fn topic_configs(&self, name: &str) -> BTreeMap<String, String> {
        self.configs.get(&(ConfigResourceType::Topic, name.to_string())).cloned().unwrap_or_default()
    }

    /// `static_config` with the dynamic broker configs of this image
    /// (for `node_id`, and the cluster-wide default) layered on top.
    pub fn broker_config(&self, static_config: &crate::config::BrokerConfig) -> crate::config::BrokerConfig {
        let get = |name: String| self.configs.get(&(ConfigResourceType::Broker, name)).cloned().unwrap_or_default();
        static_config.with_dynamic(get(static_config.node_id.to_string()), get(String::new()))
    }

    /// The finalized level of feature `name` (0 when not finalized).
    pub fn feature_level(&self, name: &str) -> i16 {
        self.features.get(name).copied().unwrap_or(0)
    }

    /// Whether the controller keeps Eligible Leader Replicas (KIP-966):
    /// `eligible.leader.replicas.version` finalized at 1 or more on a
    /// metadata.version that supports it (Kafka's `isElrFeatureEnabled`).
    pub fn elr_enabled(&self) -> bool {
        use crate::wire::versions::{ELR_FEATURE, ELR_MIN_METADATA_VERSION};
        self.feature_level(ELR_FEATURE) >= 1 && self.feature_level("metadata.version") >= ELR_MIN_METADATA_VERSION
    }

    /// Whether `broker`'s replica of the partition is offline: the broker
    /// is unknown or fenced, or the replica's log directory failed.
    pub fn replica_offline(&self, topic_id: Uuid, partition: i32, broker: i32) -> bool {
        self.brokers.get(&broker).is_none_or(|b| b.fenced || b.offline_replicas.contains(&(topic_id, partition)))
    }

    /// Whether `broker`'s replica of the partition is in a failed log
    /// directory.
    pub fn replica_dir_failed(&self, topic_id: Uuid, partition: i32, broker: i32) -> bool {
        self.brokers.get(&broker).is_some_and(|b| b.offline_replicas.contains(&(topic_id, partition)))
    }

    /// Live (registered, unfenced) brokers.
    pub fn live_brokers(&self) -> impl Iterator<Item = &BrokerRegistration> {
        self.brokers.values().filter(|b| !b.fenced)
    }

    /// Records that rebuild this image from an empty one (a snapshot):
    /// applying them, by the same `apply`, yields an equal image.
    pub fn to_records(&self) -> Vec<MetadataRecord> {
        let mut out = Vec::new();
        if !self.cluster_id.is_empty() {
            out.push(MetadataRecord::ClusterId { cluster_id: self.cluster_id.clone() });
        }
        for (name, level) in &self.features {
            out.push(MetadataRecord::FeatureLevel { name: name.clone(), level: *level });
        }
        for b in self.brokers.values() {
            out.push(MetadataRecord::RegisterBroker {
                broker_id: b.id,
                incarnation_id: b.incarnation_id,
                listeners: b.listeners.clone(),
                rack: b.rack.clone(),
                fenced: b.fenced,
                broker_epoch: Some(b.epoch),
                offline_replicas: b.offline_replicas.iter().copied().collect(),
            });
            if b.in_controlled_shutdown {
                out.push(MetadataRecord::BrokerRegistrationChange {
                    broker_id: b.id,
                    broker_epoch: b.epoch,
                    fenced: None,
                    in_controlled_shutdown: Some(true),
                    offline_replicas: None,
                });
            }
        }
        let mut topics: Vec<&Arc<TopicImage>> = self.topics.values().collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        for t in topics {
            out.push(MetadataRecord::Topic { name: t.name.clone(), topic_id: t.id });
            for (p, r) in &t.partitions {
                out.push(MetadataRecord::Partition {
                    topic_id: t.id,
                    partition_id: *p,
                    replicas: r.replicas.clone(),
                    isr: r.isr.clone(),
                    leader: r.leader,
                    leader_epoch: r.leader_epoch,
                    partition_epoch: r.partition_epoch,
                    elr: r.elr.clone(),
                    last_known_elr: r.last_known_elr.clone(),
                });
            }
        }
        let mut configs: Vec<_> = self.configs.iter().collect();
        configs.sort_by(|a, b| a.0.cmp(b.0));
        for ((resource_type, resource_name), entries) in configs {
            for (name, value) in entries {
                out.push(MetadataRecord::Config {
                    resource_type: *resource_type,
                    resource_name: resource_name.clone(),
                    name: name.clone(),
                    value: Some(value.clone()),
                });
            }
        }
        if self.next_producer_id > 0 {
            out.push(MetadataRecord::ProducerIds { broker_id: -1, next_producer_id: self.next_producer_id });
        }
        out
    }

    /// Applies one record at `offset`, returning what changed.
    pub fn apply(&mut self, offset: i64, record: &MetadataRecord) -> Option<Change> {
        self.offset = offset;
        match record {
            MetadataRecord::RegisterBroker {
                broker_id,
                incarnation_id,
                broker_epoch,
                listeners,
                rack,
                fenced,
                offline_replicas,
            } => {
                self.brokers.insert(
                    *broker_id,
                    BrokerRegistration {
                        id: *broker_id,
                        incarnation_id: *incarnation_id,
                        epoch: broker_epoch.unwrap_or(offset),
                        listeners: listeners.clone(),
                        rack: rack.clone(),
                        fenced: *fenced,
                        in_controlled_shutdown: false,
                        offline_replicas: offline_replicas.iter().copied().collect(),
                    },
                );
                Some(Change::Broker(*broker_id))
            }
            MetadataRecord::UnregisterBroker { broker_id, .. } => {
                self.brokers.remove(broker_id);
                Some(Change::Broker(*broker_id))
            }
            MetadataRecord::BrokerRegistrationChange {
                broker_id,
                broker_epoch,
                fenced,
                in_controlled_shutdown,
                offline_replicas,
            } => {
                let b = self.brokers.get_mut(broker_id)?;
                // A change for an older registration no longer applies.
                if b.epoch != *broker_epoch {
                    return None;
                }
                if let Some(f) = fenced {
                    b.fenced = *f;
                }
                if let Some(s) = in_controlled_shutdown {
                    b.in_controlled_shutdown = *s;
                }
                if let Some(o) = offline_replicas {
                    b.offline_replicas = o.iter().copied().collect();
                }
                Some(Change::Broker(*broker_id))
            }
            MetadataRecord::Topic { name, topic_id } => {
                self.topic_ids.insert(name.clone(), *topic_id);
                self.topics.insert(
                    *topic_id,
                    Arc::new(TopicImage { name: name.clone(), id: *topic_id, partitions: BTreeMap::new() }),
                );
                Some(Change::TopicCreated(*topic_id))
            }
            MetadataRecord::Partition {
                topic_id,
                partition_id,
                replicas,
                isr,
                leader,
                leader_epoch,
                partition_epoch,
                elr,
                last_known_elr,
            } => {
                let topic = Arc::make_mut(self.topics.get_mut(topic_id)?);
                topic.partitions.insert(
                    *partition_id,
                    PartitionRegistration {
                        replicas: replicas.clone(),
                        isr: isr.clone(),
                        leader: *leader,
                        leader_epoch: *leader_epoch,
                        partition_epoch: *partition_epoch,
                        elr: elr.clone(),
                        last_known_elr: last_known_elr.clone(),
                    },
                );
                Some(Change::Partition { topic_id: *topic_id, partition: *partition_id })
            }
            MetadataRecord::PartitionChange {
                topic_id,
                partition_id,
                leader,
                isr,
                replicas,
                bump_leader_epoch,
                elr,
                last_known_elr,
            } => {
                let topic = Arc::make_mut(self.topics.get_mut(topic_id)?);
                let p = topic.partitions.get_mut(partition_id)?;
                // Epochs are Kafka int32s and wrap as Java's do; a replayed
                // log must never panic on them (debug builds check overflow).
                if let Some(l) = leader {
                    if *l != p.leader || *bump_leader_epoch {
                        p.leader_epoch = p.leader_epoch.wrapping_add(1);
                    }
                    p.leader = *l;
                } else if *bump_leader_epoch {
                    p.leader_epoch = p.leader_epoch.wrapping_add(1);
                }
                if let Some(i) = isr {
                    p.isr = i.clone();
                }
                if let Some(r) = replicas {
                    p.replicas = r.clone();
                }
                if let Some(e) = elr {
                    p.elr = e.clone();
                }
                if let Some(e) = last_known_elr {
                    p.last_known_elr = e.clone();
                }
                p.partition_epoch = p.partition_epoch.wrapping_add(1);
                Some(Change::Partition { topic_id: *topic_id, partition: *partition_id })
            }
            MetadataRecord::Config { resource_type, resource_name, name, value } => {
                let key = (*resource_type, resource_name.clone());
                let entry = self.configs.entry(key).or_default();
                match value {
                    Some(v) => {
                        entry.insert(name.clone(), v.clone());
                    }
                    None => {
                        entry.remove(name);
                    }
                }
                Some(Change::Config(*resource_type, resource_name.clone()))
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                let topic = self.topics.remove(topic_id)?;
                self.topic_ids.remove(&topic.name);
                self.configs.remove(&(ConfigResourceType::Topic, topic.name.clone()));
                Some(Change::TopicDeleted { id: *topic_id, name: topic.name.clone() })
            }
            MetadataRecord::ProducerIds { next_producer_id, .. } => {
                self.next_producer_id = self.next_producer_id.max(*next_producer_id);
                None
            }
            MetadataRecord::FeatureLevel { name, level } => {
                self.features.insert(name.clone(), *level);
                None
            }
            MetadataRecord::ClusterId { cluster_id } => {
                if self.cluster_id.is_empty() {
                    self.cluster_id = cluster_id.clone();
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_changes_bump_epochs_like_kafka() {
        let mut img = MetadataImage::empty();
        let id = Uuid::new_v4();
        img.apply(0, &MetadataRecord::Topic { name: "t".into(), topic_id: id });
        img.apply(
            1,
            &MetadataRecord::Partition {
                topic_id: id,
                partition_id: 0,
                replicas: vec![1, 2, 3],
                isr: vec![1, 2, 3],
                leader: 1,
                leader_epoch: 0,
                partition_epoch: 0,
                elr: vec![],
                last_known_elr: vec![],
            },
        );
        img.apply(
            2,
            &MetadataRecord::PartitionChange {
                topic_id: id,
                partition_id: 0,
                leader: None,
                isr: Some(vec![1, 2]),
                replicas: None,
                bump_leader_epoch: false,
                elr: None,
                last_known_elr: None,
            },
        );
        let p = &img.topic_by_name("t").unwrap().partitions[&0];
        assert_eq!((p.leader_epoch, p.partition_epoch), (0, 1));
        img.apply(
            3,
            &MetadataRecord::PartitionChange {
                topic_id: id,
                partition_id: 0,
                leader: Some(2),
                isr: None,
                replicas: None,
                bump_leader_epoch: false,
                elr: None,
                last_known_elr: None,
            },
        );
        let p = &img.topic_by_name("t").unwrap().partitions[&0];
        assert_eq!((p.leader, p.leader_epoch, p.partition_epoch), (2, 1, 2));
        let change = img.apply(4, &MetadataRecord::RemoveTopic { topic_id: id });
        assert_eq!(change, Some(Change::TopicDeleted { id, name: "t".into() }));
        assert!(img.topic_by_name("t").is_none());
        assert_eq!(img.offset, 4);
    }

    /// Found by tests/metadata_decode_fuzz.rs: a partition at the largest
    /// epochs took a change with an overflowing `+= 1` (a panic in debug
    /// builds); epochs wrap like Kafka's Java ints.
    #[test]
    fn a_change_at_the_largest_epochs_does_not_overflow() {
        let mut img = MetadataImage::empty();
        let id = Uuid::new_v4();
        img.apply(0, &MetadataRecord::Topic { name: "t".into(), topic_id: id });
        img.apply(
            1,
            &MetadataRecord::Partition {
                topic_id: id,
                partition_id: 0,
                replicas: vec![1, 2],
                isr: vec![1, 2],
                leader: 1,
                leader_epoch: i32::MAX,
                partition_epoch: i32::MAX,
                elr: vec![],
                last_known_elr: vec![],
            },
        );
        let change = MetadataRecord::PartitionChange {
            topic_id: id,
            partition_id: 0,
            leader: Some(2),
            isr: None,
            replicas: None,
            bump_leader_epoch: true,
            elr: None,
            last_known_elr: None,
        };
        img.apply(2, &change);
        let p = &img.topic_by_name("t").unwrap().partitions[&0];
        assert_eq!((p.leader, p.leader_epoch, p.partition_epoch), (2, i32::MIN, i32::MIN));
    }
}
