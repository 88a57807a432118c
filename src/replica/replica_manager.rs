//! `ReplicaManager`: the partitions this broker hosts. It follows the
//! metadata image: partitions whose replicas include this node get a log
//! and a role, deleted topics lose theirs, topic config changes reach the
//! logs. Request handlers look partitions up here.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use uuid::Uuid;

use crate::config::{BrokerConfig, LogConfig};
use crate::metadata::{Change, ConfigResourceType, MetadataImage, MetadataListener, PartitionRegistration, TopicImage};
use crate::storage::log_manager::LogManager;
use crate::storage::TopicPartition;

use super::partition::{Partition, PartitionState};
use super::ReplicaError;

/// Told when this broker starts or stops leading a partition (the group
/// coordinator follows `__consumer_offsets` this way).
pub trait LeadershipListener: Send + Sync {
    fn on_leadership_change(&self, tp: &TopicPartition, is_leader: bool, leader_epoch: i32);
}

pub struct ReplicaManager {
    node_id: i32,
    leadership_listeners: RwLock<Vec<Arc<dyn LeadershipListener>>>,
    config: Arc<BrokerConfig>,
    log_manager: Arc<LogManager>,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
    initialized: AtomicBool,
}

impl ReplicaManager {
    pub fn new(config: Arc<BrokerConfig>, log_manager: Arc<LogManager>) -> Arc<Self> {
        Arc::new(ReplicaManager {
            node_id: config.node_id,
            leadership_listeners: RwLock::new(Vec::new()),
            config,
            log_manager,
            partitions: RwLock::new(HashMap::new()),
            initialized: AtomicBool::new(false),
        })
    }

    pub fn add_leadership_listener(&self, l: Arc<dyn LeadershipListener>) {
        self.leadership_listeners.write().expect("listeners lock").push(l);
    }

    fn notify_leadership(&self, tp: &TopicPartition, is_leader: bool, epoch: i32) {
        let listeners = self.leadership_listeners.read().expect("listeners lock").clone();
        for l in listeners {
            l.on_leadership_change(tp, is_leader, epoch);
        }
    }

    pub fn node_id(&self) -> i32 {
        self.node_id
    }

    pub fn log_manager(&self) -> &Arc<LogManager> {
        &self.log_manager
    }

    pub fn get(&self, tp: &TopicPartition) -> Option<Arc<Partition>> {
        self.partitions.read().expect("partitions lock").get(tp).cloned()
    }

    /// The partition if this broker leads it, else the error a client sees.
    pub fn leader_partition(&self, image: &MetadataImage, tp: &TopicPartition) -> Result<Arc<Partition>, ReplicaError> {
        match self.get(tp) {
            Some(p) if p.is_leader() => Ok(p),
            Some(_) => Err(ReplicaError::NotLeaderOrFollower),
            None => {
                let known = image.topic_by_name(&tp.topic).is_some_and(|t| t.partitions.contains_key(&tp.partition));
                if known {
                    Err(ReplicaError::NotLeaderOrFollower)
                } else {
                    Err(ReplicaError::UnknownTopicOrPartition)
                }
            }
        }
    }

    pub fn all(&self) -> Vec<Arc<Partition>> {
        self.partitions.read().expect("partitions lock").values().cloned().collect()
    }

    fn log_config(&self, image: &MetadataImage, topic: &str) -> Arc<LogConfig> {
        Arc::new(LogConfig::resolve(&image.broker_config(&self.config), &image.topic_configs(topic)))
    }

    fn apply_partition(&self, image: &MetadataImage, topic: &TopicImage, index: i32, reg: &PartitionRegistration) {
        let tp = TopicPartition::new(topic.name.as_str(), index);
        if !reg.replicas.contains(&self.node_id) {
            self.remove_partition(&tp);
            return;
        }
        let state = PartitionState {
            leader: reg.leader,
            leader_epoch: reg.leader_epoch,
            partition_epoch: reg.partition_epoch,
            replicas: reg.replicas.clone(),
            isr: reg.isr.clone(),
        };
        let leads = state.leader == self.node_id;
        let epoch = state.leader_epoch;
        if let Some(p) = self.get(&tp) {
            if p.topic_id == topic.id {
                let old = p.state();
                if old != state {
                    p.update_state(state);
                    if (old.leader == self.node_id) != leads || old.leader_epoch != epoch {
                        self.notify_leadership(&tp, leads, epoch);
                    }
                }
                return;
            }
            self.remove_partition(&tp);
        }
        match self.log_manager.get_or_create(&tp, topic.id, self.log_config(image, &topic.name)) {
            Ok(log) => {
                let p = Partition::new(tp.clone(), topic.id, self.node_id, log, state);
                self.partitions.write().expect("partitions lock").insert(tp.clone(), p);
                if leads {
                    self.notify_leadership(&tp, true, epoch);
                }
            }
            Err(e) => tracing::error!(partition = %tp, error = %e, "cannot create or load log"),
        }
    }

    fn remove_partition(&self, tp: &TopicPartition) {
        let removed = self.partitions.write().expect("partitions lock").remove(tp);
        if let Some(p) = removed {
            if p.is_leader() {
                self.notify_leadership(tp, false, p.leader_epoch());
            }
        }
        if let Err(e) = self.log_manager.delete(tp) {
            tracing::error!(partition = %tp, error = %e, "deleting log");
        }
    }

    fn apply_topic(&self, image: &MetadataImage, topic: &TopicImage) {
        for (index, reg) in &topic.partitions {
            self.apply_partition(image, topic, *index, reg);
        }
    }

    /// First image: host what the image says and delete logs it doesn't know.
    fn reconcile_all(&self, image: &MetadataImage) {
        for topic in image.topics.values() {
            self.apply_topic(image, topic);
        }
        let hosted: HashSet<TopicPartition> =
            self.partitions.read().expect("partitions lock").keys().cloned().collect();
        for (tp, _, _) in self.log_manager.all() {
            if !hosted.contains(&tp) {
                tracing::info!(partition = %tp, "deleting log of a topic that no longer exists");
                if let Err(e) = self.log_manager.delete(&tp) {
                    tracing::error!(partition = %tp, error = %e, "deleting stray log");
                }
            }
        }
    }

    fn delete_topic(&self, id: Uuid, name: &str) {
        let doomed: Vec<TopicPartition> = self
            .partitions
            .read()
            .expect("partitions lock")
            .iter()
            .filter(|(tp, p)| p.topic_id == id && &*tp.topic == name)
            .map(|(tp, _)| tp.clone())
            .collect();
        for tp in doomed {
            self.remove_partition(&tp);
        }
    }

    fn update_topic_config(&self, image: &MetadataImage, topic: &str) {
        let config = self.log_config(image, topic);
        for p in self.all().into_iter().filter(|p| &*p.tp.topic == topic) {
            p.log().lock().expect("log lock").set_config(config.clone());
        }
    }
}

impl MetadataListener for ReplicaManager {
    fn on_metadata_update(&self, image: &Arc<MetadataImage>, changes: &[Change]) {
        if !self.initialized.swap(true, Ordering::AcqRel) {
            self.reconcile_all(image);
            return;
        }
        for change in changes {
            match change {
                Change::TopicCreated(id) => {
                    if let Some(t) = image.topic_by_id(id) {
                        self.apply_topic(image, t);
                    }
                }
                Change::Partition { topic_id, partition } => {
                    if let Some(t) = image.topic_by_id(topic_id) {
                        if let Some(reg) = t.partitions.get(partition) {
                            self.apply_partition(image, t, *partition, reg);
                        }
                    }
                }
                Change::TopicDeleted { id, name } => self.delete_topic(*id, name),
                Change::Config(ConfigResourceType::Topic, name) => self.update_topic_config(image, name),
                Change::Config(ConfigResourceType::Broker, _) => {
                    // A broker-level default changed: every topic may see it.
                    let topics: HashSet<String> = self.all().iter().map(|p| p.tp.topic.to_string()).collect();
                    for t in topics {
                        self.update_topic_config(image, &t);
                    }
                }
                Change::Broker(_) => {}
            }
        }
    }
}
