//! Topic and partition administration as pure planning over the current
//! image (Kafka's `ReplicationControlManager`): validate a request, and
//! produce the records that carry it out plus the answer to give.

use std::collections::HashSet;
use std::sync::Arc;

use uuid::Uuid;

use crate::config::{BrokerConfig, LogConfig};
use crate::controller_client::ops::{CreatedTopic, ElectionOutcome, ElectionType, IsrChange, NewTopic, OpError};
use crate::controller_client::topic::validate_topic_name;
use crate::controller_client::ControllerError;
use crate::metadata::{ConfigResourceType, MetadataImage, MetadataRecord, PartitionRegistration, TopicImage};
use crate::storage::checkpoint::random_kafka_uuid;

use super::placement::{self, UsableBroker};

/// Names that differ only in '.' vs '_' collide in metric names.
fn unify_collision_chars(name: &str) -> String {
    name.replace('.', "_")
}

pub fn usable_brokers(image: &MetadataImage) -> Vec<UsableBroker> {
    image
        .live_brokers()
        .filter(|b| !b.in_controlled_shutdown)
        .map(|b| UsableBroker { id: b.id, rack: b.rack.clone() })
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
        return Err(ControllerError::TopicAlreadyExists(format!("Topic '{}' already exists.", topic.name)));
    }
    let unified = unify_collision_chars(&topic.name);
    if let Some(existing) = image.topic_ids.keys().find(|t| unify_collision_chars(t) == unified) {
        return Err(ControllerError::InvalidTopic(format!(
            "Topic '{}' collides with existing topic: {existing}",
            topic.name
        )));
    }
    LogConfig::validate_overrides(broker, &topic.configs).map_err(ControllerError::InvalidConfig)?;
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
                return Err(ControllerError::InvalidReplicaAssignment(format!(
                    "The manual partition assignment includes an empty replica list for partition {p}."
                )));
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
        let partitions = if topic.num_partitions == -1 { broker.num_partitions } else { topic.num_partitions };
        if partitions <= 0 {
            return Err(ControllerError::InvalidPartitions(
                "Number of partitions was set to an invalid non-positive value.".into(),
            ));
        }
        let rf =
            if topic.replication_factor == -1 { broker.default_replication_factor } else { topic.replication_factor };
        if rf <= 0 {
            return Err(ControllerError::InvalidReplicationFactor(
                "Replication factor must be larger than 0, or -1 to use the default value.".into(),
            ));
        }
        placement::place(&live, partitions, rf, 0, None).map_err(|e| ControllerError::InvalidReplicationFactor(e.0))?
    };
    let topic_id = random_kafka_uuid();
    let mut records = vec![MetadataRecord::Topic { name: topic.name.clone(), topic_id }];
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
        records.push(new_partition_record(topic_id, p as i32, replicas, &live_ids));
    }
    let created = CreatedTopic {
        topic_id,
        num_partitions: assignments.len() as i32,
        replication_factor: assignments.first().map_or(0, |r| r.len() as i16),
    };
    Ok((records, created))
}

/// A new partition: the leader is the first live replica. Until followers
/// replicate, the ISR holds only the leader: the ISR never claims a replica
/// that may lack records the leader has.
pub fn new_partition_record(
    topic_id: Uuid,
    partition_id: i32,
    replicas: &[i32],
    live: &HashSet<i32>,
) -> MetadataRecord {
    // An empty log is trivially in sync: every live replica starts in the
    // ISR, and the first of them leads (Kafka's createPartitions).
    let live_replicas: Vec<i32> = replicas.iter().copied().filter(|r| live.contains(r)).collect();
    let leader = live_replicas.first().copied().unwrap_or(-1);
    let isr = if live_replicas.is_empty() { replicas.to_vec() } else { live_replicas };
    MetadataRecord::Partition {
        topic_id,
        partition_id,
        replicas: replicas.to_vec(),
        isr,
        leader,
        leader_epoch: 0,
        partition_epoch: 0,
        elr: Vec::new(),
        last_known_elr: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only partitions holding ELR state get a change, and only for the
    /// fields that hold some.
    #[test]
    fn clearing_the_elr_touches_only_partitions_that_have_one() {
        let mut img = MetadataImage::empty();
        let (t, u) = (Uuid::new_v4(), Uuid::new_v4());
        img.apply(0, &MetadataRecord::Topic { name: "t".into(), topic_id: t });
        img.apply(1, &MetadataRecord::Topic { name: "u".into(), topic_id: u });
        for (topic_id, elr, last_known_elr) in [(t, vec![2, 3], vec![]), (u, vec![], vec![])] {
            img.apply(
                2,
                &MetadataRecord::Partition {
                    topic_id,
                    partition_id: 0,
                    replicas: vec![1, 2, 3],
                    isr: vec![1],
                    leader: 1,
                    leader_epoch: 0,
                    partition_epoch: 0,
                    elr,
                    last_known_elr,
                },
            );
        }
        let clear_t = vec![MetadataRecord::PartitionChange {
            topic_id: t,
            partition_id: 0,
            leader: None,
            isr: None,
            replicas: None,
            bump_leader_epoch: false,
            elr: Some(vec![]),
            last_known_elr: None,
        }];
        assert_eq!(clear_elr_updates(&img, None), clear_t);
        assert_eq!(clear_elr_updates(&img, Some("t")), clear_t);
        assert!(clear_elr_updates(&img, Some("u")).is_empty());
    }

    #[test]
    fn topic_name_rules() {
        assert!(validate_topic_name("orders.v1_x-2").is_ok());
        assert!(matches!(validate_topic_name(""), Err(ControllerError::InvalidTopic(_))));
        assert!(matches!(validate_topic_name("."), Err(ControllerError::InvalidTopic(_))));
        assert!(matches!(validate_topic_name(".."), Err(ControllerError::InvalidTopic(_))));
        assert!(matches!(validate_topic_name("a b"), Err(ControllerError::InvalidTopic(_))));
        assert!(matches!(validate_topic_name("ü"), Err(ControllerError::InvalidTopic(_))));
        assert!(validate_topic_name(&"a".repeat(249)).is_ok());
        assert!(matches!(validate_topic_name(&"a".repeat(250)), Err(ControllerError::InvalidTopic(_))));
    }
}

/// Which leader a partition change may pick (Kafka's election types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Election {
    /// Keep a valid leader, else any valid ISR (or, with the ISR empty,
    /// ELR) member in replica order, else the last known leader.
    Online,
    /// Like Online, then any acceptable replica (possible data loss).
    Unclean,
    /// The first replica if it is a valid leader.
    Preferred,
}

/// How one partition change is built: Kafka's `PartitionChangeBuilder`
/// settings that come from the topic and the cluster, not the partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeRules {
    pub election: Election,
    /// Eligible Leader Replicas (KIP-966) are kept and used.
    pub elr: bool,
    /// The topic's `min.insync.replicas`, capped at its replication factor
    /// (Kafka's `getTopicEffectiveMinIsr`).
    pub min_isr: usize,
    /// A replica whose last stop was not clean: it may have lost records it
    /// had acknowledged to the leader, so it leaves the ELR and may not lead.
    pub unclean_shutdown: Option<i32>,
}

impl ChangeRules {
    /// Rules without ELR (tests and callers that only elect).
    pub fn without_elr(election: Election) -> Self {
        ChangeRules { election, elr: false, min_isr: 1, unclean_shutdown: None }
    }
}

/// The cluster-wide inputs of elections, read once per controller
/// operation from the image and the active controller's static config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElectionPolicy {
    /// `unclean.leader.election.enable` at cluster level (dynamic default,
    /// else static); a topic's own setting overrides it.
    pub unclean_default: bool,
    /// `min.insync.replicas` at cluster level; a topic's setting overrides.
    pub min_isr_default: i32,
    /// `eligible.leader.replicas.version` >= 1 on a metadata.version that
    /// supports it.
    pub elr: bool,
}

impl ElectionPolicy {
    pub fn new(image: &MetadataImage, static_config: &BrokerConfig) -> Self {
        let view = image.broker_config(static_config);
        ElectionPolicy {
            unclean_default: view.bool("unclean.leader.election.enable"),
            min_isr_default: view.int("min.insync.replicas"),
            elr: image.elr_enabled(),
        }
    }

    /// The rules for a partition of `topic`, electing as its
    /// `unclean.leader.election.enable` allows.
    pub fn rules(&self, image: &MetadataImage, topic: &TopicImage) -> ChangeRules {
        let configs = image.topic_configs(&topic.name);
        let unclean = configs
            .get("unclean.leader.election.enable")
            .map_or(self.unclean_default, |v| v.trim().eq_ignore_ascii_case("true"));
        let min_isr = configs
            .get("min.insync.replicas")
            .and_then(|v| v.trim().parse::<i32>().ok())
            .unwrap_or(self.min_isr_default)
            .max(1) as usize;
        let rf = topic.partitions.values().next().map_or(1, |p| p.replicas.len()).max(1);
        ChangeRules {
            election: if unclean { Election::Unclean } else { Election::Online },
            elr: self.elr,
            min_isr: min_isr.min(rf),
            unclean_shutdown: None,
        }
    }
}

/// Kafka's `PartitionChangeBuilder` for one partition: moves the ISR to
/// `target_isr`, keeps the ELR and last-known ELR as KIP-966 says, elects
/// with `rules.election` among replicas that `acceptable` allows, and
/// produces the PartitionChange record, or None when nothing changes.
///
/// The order of candidates is the ISR, then (only while the ISR is empty)
/// the ELR, then the last known leader (a partition that lost every ISR
/// and ELR member gets back the replica that led it last, which is what
/// Kafka did before ELR by keeping the last ISR member), and only for
/// `Election::Unclean` any acceptable replica.
pub fn partition_change(
    topic_id: Uuid,
    partition: i32,
    current: &PartitionRegistration,
    target_isr: Vec<i32>,
    rules: ChangeRules,
    acceptable: &dyn Fn(i32) -> bool,
) -> Option<MetadataRecord> {
    let mut target_isr = target_isr;
    let mut target_elr = current.elr.clone();
    if rules.elr {
        if target_isr.len() >= rules.min_isr {
            // Enough in-sync replicas again: the ISR alone decides.
            target_elr.clear();
        } else {
            // Whoever was in the ISR or ELR and is not in the new ISR left
            // it while the high watermark could not advance without it, so
            // it holds every committed record: unless its last stop was
            // unclean, it may lead.
            let mut candidates: Vec<i32> = current.elr.iter().chain(&current.isr).copied().collect();
            candidates.sort_unstable();
            candidates.dedup();
            target_elr = candidates
                .into_iter()
                .filter(|r| !target_isr.contains(r) && Some(*r) != rules.unclean_shutdown)
                .collect();
        }
    }
    let valid =
        |r: i32| (target_isr.contains(&r) || (target_isr.is_empty() && target_elr.contains(&r))) && acceptable(r);
    // Kafka 4.1 elects the last known leader only once it is acceptable
    // again (KAFKA-19522 fixed 4.0 electing it while still fenced).
    let last_known_leader = match current.last_known_elr.as_slice() {
        [l] if rules.elr && target_isr.is_empty() && target_elr.is_empty() && acceptable(*l) => Some(*l),
        _ => None,
    };
    let (leader, unclean) = match rules.election {
        Election::Preferred => {
            let preferred = current.preferred_leader();
            if valid(preferred) {
                (preferred, false)
            } else if valid(current.leader) {
                (current.leader, false)
            } else if let Some(r) = current.replicas.iter().skip(1).copied().find(|r| valid(*r)) {
                (r, false)
            } else if let Some(l) = last_known_leader {
                (l, true)
            } else {
                (-1, false)
            }
        }
        Election::Online | Election::Unclean => {
            if valid(current.leader) {
                (current.leader, false)
            } else if let Some(r) = current.replicas.iter().copied().find(|r| valid(*r)) {
                (r, false)
            } else if let Some(l) = last_known_leader {
                (l, true)
            } else if rules.election == Election::Unclean {
                match current.replicas.iter().copied().find(|r| acceptable(*r)) {
                    Some(r) => (r, true),
                    None => (-1, false),
                }
            } else {
                (-1, false)
            }
        }
    };
    let mut leader_change = None;
    let mut isr_change = None;
    if leader != current.leader {
        if target_elr.contains(&leader) {
            // Elected from the ELR: it alone is in sync until followers
            // catch up with it.
            target_isr = vec![leader];
            target_elr.retain(|r| *r != leader);
        } else if last_known_leader == Some(leader) {
            // Kafka counts this among its unclean elections (the ISR is
            // reset to the leader) but makes it without
            // `unclean.leader.election.enable`: the replica that led last
            // holds what was committed unless its own log lost it.
            tracing::info!(%topic_id, partition, new_leader = leader, "electing the last known leader: the ISR and ELR are empty");
        } else if unclean {
            tracing::warn!(
                %topic_id,
                partition,
                new_leader = leader,
                "unclean leader election: a replica outside the ISR and ELR becomes leader; records acknowledged by the old ISR may be lost"
            );
        }
        leader_change = Some(leader);
        if unclean {
            isr_change = Some(vec![leader]);
        }
    }
    // An unclean election starts the partition's history over: nothing the
    // old ELR knew applies to the new leader's log.
    if isr_change.is_some() || !rules.elr {
        target_elr.clear();
    }
    let elr_change = (target_elr != current.elr).then(|| target_elr.clone());
    // Without ELR an ISR is never empty: its last member stays recorded so
    // that it, and only it, can lead again.
    if isr_change.is_none() && (!target_isr.is_empty() || rules.elr) && target_isr != current.isr {
        isr_change = Some(target_isr);
    }
    let mut last_known_elr_change = None;
    if rules.elr {
        let isr_emptied = isr_change.as_ref().is_some_and(|i| i.is_empty());
        if isr_emptied && current.last_known_elr != [current.leader] {
            // Remember who led when the partition went leaderless.
            last_known_elr_change = Some(vec![current.leader]);
        } else if (leader_change.is_some_and(|l| l >= 0) || (current.leader != -1 && leader_change != Some(-1)))
            && !current.last_known_elr.is_empty()
        {
            last_known_elr_change = Some(Vec::new());
        }
    }
    if leader_change.is_none() && isr_change.is_none() && elr_change.is_none() && last_known_elr_change.is_none() {
        return None;
    }
    Some(MetadataRecord::PartitionChange {
        topic_id,
        partition_id: partition,
        leader: leader_change,
        isr: isr_change,
        replicas: None,
        bump_leader_epoch: false,
        elr: elr_change,
        last_known_elr: last_known_elr_change,
    })
}

/// Whether `broker` may lead: registered, unfenced, not shutting down.
pub fn is_active(image: &MetadataImage, broker: i32) -> bool {
    image.brokers.get(&broker).is_some_and(|b| !b.fenced && !b.in_controlled_shutdown)
}

/// Whether `broker` may lead the partition (Kafka's `LeaderAcceptor`):
/// active, and its replica's log directory has not failed.
pub fn may_lead(image: &MetadataImage, topic_id: Uuid, partition: i32, broker: i32) -> bool {
    is_active(image, broker) && !image.replica_dir_failed(topic_id, partition, broker)
}

/// Topics in name order, so plans are deterministic.
fn topics_by_name(image: &MetadataImage) -> Vec<&Arc<TopicImage>> {
    let mut topics: Vec<_> = image.topics.values().collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    topics
}

/// Kafka's `generateLeaderAndIsrUpdates`: when `remove` leaves (fenced or
/// shutting down) it leaves every ISR and its leaderships move; when `add`
/// comes back, leaderless partitions it can lead get it.
pub fn leader_and_isr_updates(
    image: &MetadataImage,
    remove: Option<i32>,
    add: Option<i32>,
    policy: &ElectionPolicy,
) -> Vec<MetadataRecord> {
    let mut out = Vec::new();
    for t in topics_by_name(image) {
        let rules = policy.rules(image, t);
        for (p, reg) in &t.partitions {
            let acceptable = |r: i32| {
                Some(r) != remove && (Some(r) == add || is_active(image, r)) && !image.replica_dir_failed(t.id, *p, r)
            };
            let concerned = match (remove, add) {
                (Some(b), _) => reg.isr.contains(&b) || reg.leader == b,
                (None, Some(b)) => reg.leader == -1 && reg.replicas.contains(&b),
                (None, None) => false,
            };
            if !concerned {
                continue;
            }
            let target_isr: Vec<i32> = reg.isr.iter().copied().filter(|r| Some(*r) != remove).collect();
            if let Some(r) = partition_change(t.id, *p, reg, target_isr, rules, &acceptable) {
                out.push(r);
            }
        }
    }
    out
}

/// The partition changes of `broker`'s replicas of `partitions` going
/// offline (a failed log directory): each leaves the ISR and may not lead;
/// leadership moves to another acceptable in-sync (or eligible) replica,
/// as when a broker is fenced, but only for these partitions.
pub fn dir_failure_updates(
    image: &MetadataImage,
    broker: i32,
    partitions: &[(Uuid, i32)],
    policy: &ElectionPolicy,
) -> Vec<MetadataRecord> {
    let mut out = Vec::new();
    for (topic_id, p) in partitions {
        let Some(t) = image.topic_by_id(topic_id) else { continue };
        let Some(reg) = t.partitions.get(p) else { continue };
        let rules = policy.rules(image, t);
        let acceptable = |r: i32| r != broker && may_lead(image, *topic_id, *p, r);
        let target_isr: Vec<i32> = reg.isr.iter().copied().filter(|r| *r != broker).collect();
        if let Some(r) = partition_change(*topic_id, *p, reg, target_isr, rules, &acceptable) {
            out.push(r);
        }
    }
    out
}

/// Kafka's `handleBrokerUncleanShutdown` (with ELR on): `broker` came back
/// without proof that its last stop was clean, so its log may lack records
/// it had acknowledged. It leaves every ISR and ELR it is in and may not
/// lead; the last-known ELR keeps it (Kafka too), since after the
/// leader it was, only it can say what the partition held.
pub fn unclean_shutdown_updates(image: &MetadataImage, broker: i32, policy: &ElectionPolicy) -> Vec<MetadataRecord> {
    if !policy.elr {
        return Vec::new();
    }
    let mut out = Vec::new();
    for t in topics_by_name(image) {
        let rules = ChangeRules { unclean_shutdown: Some(broker), ..policy.rules(image, t) };
        for (p, reg) in &t.partitions {
            let acceptable = |r: i32| r != broker && may_lead(image, t.id, *p, r);
            if !reg.isr.contains(&broker) && !reg.elr.contains(&broker) {
                continue;
            }
            let target_isr: Vec<i32> = reg.isr.iter().copied().filter(|r| *r != broker).collect();
            if let Some(r) = partition_change(t.id, *p, reg, target_isr, rules, &acceptable) {
                out.push(r);
            }
        }
    }
    out
}

/// A changed `min.insync.replicas` (of `topic`, or the cluster default when
/// None) voids the ELR computed against the old value: Kafka clears the
/// ELR and last-known ELR of every partition it applies to
/// (`config_control::elr_cleared_by` says which).
pub fn clear_elr_updates(image: &MetadataImage, topic: Option<&str>) -> Vec<MetadataRecord> {
    let mut out = Vec::new();
    for t in topics_by_name(image) {
        if topic.is_some_and(|name| name != t.name) {
            continue;
        }
        for (p, reg) in &t.partitions {
            if reg.elr.is_empty() && reg.last_known_elr.is_empty() {
                continue;
            }
            out.push(MetadataRecord::PartitionChange {
                topic_id: t.id,
                partition_id: *p,
                leader: None,
                isr: None,
                replicas: None,
                bump_leader_epoch: false,
                elr: (!reg.elr.is_empty()).then(Vec::new),
                last_known_elr: (!reg.last_known_elr.is_empty()).then(Vec::new),
            });
        }
    }
    out
}

/// CreatePartitions: more partitions for an existing topic, placed like
/// its existing ones (or as assigned).
pub fn plan_create_partitions(
    image: &MetadataImage,
    topic: &str,
    count: i32,
    assignment: Option<&[Vec<i32>]>,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    let t = image
        .topic_by_name(topic)
        .ok_or_else(|| ControllerError::UnknownTopicOrPartition(format!("The topic '{topic}' does not exist.")))?;
    let current = t.partitions.len() as i32;
    if count < current {
        return Err(ControllerError::InvalidPartitions(format!(
            "The topic {topic} currently has {current} partition(s); {count} would not be an increase."
        )));
    }
    if count == current {
        return Err(ControllerError::InvalidPartitions(format!("Topic already has {current} partition(s).")));
    }
    let rf = t.partitions.values().next().map_or(1, |p| p.replicas.len()) as i16;
    let new_count = count - current;
    let live = usable_brokers(image);
    let assignments: Vec<Vec<i32>> = match assignment {
        Some(a) => {
            if a.len() as i32 != new_count {
                return Err(ControllerError::InvalidReplicaAssignment(format!(
                    "Increasing the number of partitions by {new_count} but {} assignments provided.",
                    a.len()
                )));
            }
            for replicas in a {
                if replicas.len() as i16 != rf {
                    return Err(ControllerError::InvalidReplicaAssignment(format!(
                        "The manual partition assignment includes a partition with {} replica(s), but this is not consistent with previous partitions, which have {rf} replica(s).",
                        replicas.len()
                    )));
                }
                let distinct: HashSet<_> = replicas.iter().collect();
                if distinct.len() != replicas.len() {
                    return Err(ControllerError::InvalidReplicaAssignment(
                        "Duplicate brokers in a replica assignment.".into(),
                    ));
                }
                for b in replicas {
                    if !image.brokers.contains_key(b) {
                        return Err(ControllerError::InvalidReplicaAssignment(format!(
                            "The manual partition assignment includes broker {b}, but no such broker is registered."
                        )));
                    }
                }
            }
            a.to_vec()
        }
        None => placement::place(&live, new_count, rf, current, None)
            .map_err(|e| ControllerError::InvalidReplicationFactor(e.0))?,
    };
    let live_ids: HashSet<i32> = live.iter().map(|b| b.id).collect();
    Ok(assignments
        .iter()
        .enumerate()
        .map(|(i, r)| new_partition_record(t.id, current + i as i32, r, &live_ids))
        .collect())
}

/// ElectLeaders: preferred elections move leadership to the first
/// replica when it is alive and in sync; unclean ones give leaderless
/// partitions any live replica.
pub fn plan_elect_leaders(
    image: &MetadataImage,
    election: ElectionType,
    partitions: Option<&[(String, i32)]>,
    policy: &ElectionPolicy,
) -> (Vec<MetadataRecord>, Vec<ElectionOutcome>) {
    use kafka_protocol::ResponseError as E;
    let explicit = partitions.is_some();
    let wanted: Vec<(String, i32)> = match partitions {
        Some(p) => p.to_vec(),
        None => {
            let mut all: Vec<(String, i32)> =
                image.topics.values().flat_map(|t| t.partitions.keys().map(move |p| (t.name.clone(), *p))).collect();
            all.sort();
            all
        }
    };
    let mut records = Vec::new();
    let mut outcomes = Vec::new();
    for (topic, p) in wanted {
        let err = |code: i16, message: &str| Some(OpError { code, message: message.to_string() });
        let found = image.topic_by_name(&topic).and_then(|t| t.partitions.get(&p).map(|r| (t, r)));
        let outcome = match found {
            None => err(E::UnknownTopicOrPartition.code(), "The partition does not exist."),
            Some((t, reg)) => {
                let acceptable = |r: i32| may_lead(image, t.id, p, r);
                match election {
                    ElectionType::Preferred => {
                        if reg.leader == reg.preferred_leader() {
                            err(E::ElectionNotNeeded.code(), "Leader election not needed for topic partition.")
                        } else {
                            let rules = ChangeRules { election: Election::Preferred, ..policy.rules(image, t) };
                            match partition_change(t.id, p, reg, reg.isr.clone(), rules, &acceptable) {
                            Some(r @ MetadataRecord::PartitionChange { leader: Some(l), .. }) if l == reg.preferred_leader() => {
                                records.push(r);
                                None
                            }
                            _ => err(
                                E::PreferredLeaderNotAvailable.code(),
                                "Failed to elect leader for partition: the preferred replica is not alive or not in the ISR.",
                            ),
                        }
                        }
                    }
                    ElectionType::Unclean => {
                        if reg.leader >= 0 && acceptable(reg.leader) {
                            err(E::ElectionNotNeeded.code(), "Leader election not needed for topic partition.")
                        } else {
                            let rules = ChangeRules { election: Election::Unclean, ..policy.rules(image, t) };
                            match partition_change(t.id, p, reg, reg.isr.clone(), rules, &acceptable) {
                                Some(r @ MetadataRecord::PartitionChange { leader: Some(l), .. }) if l >= 0 => {
                                    records.push(r);
                                    None
                                }
                                _ => err(
                                    E::EligibleLeadersNotAvailable.code(),
                                    "Failed to elect leader for partition: no replica is alive.",
                                ),
                            }
                        }
                    }
                }
            }
        };
        let not_needed = outcome.as_ref().is_some_and(|e| e.code == E::ElectionNotNeeded.code());
        if explicit || !not_needed {
            outcomes.push(ElectionOutcome { topic, partition: p, error: outcome });
        }
    }
    (records, outcomes)
}

/// AlterPartition from a partition leader: ISR changes fenced by leader
/// epoch and partition epoch; members must be live replicas. The change
/// goes through [`partition_change`], so an ISR shrinking below
/// `min.insync.replicas` puts the replicas it drops in the ELR, and one
/// growing back to it clears the ELR.
#[allow(clippy::type_complexity)]
pub fn plan_alter_partition(
    image: &MetadataImage,
    broker_id: i32,
    broker_epoch: i64,
    changes: &[IsrChange],
    policy: &ElectionPolicy,
) -> Result<(Vec<MetadataRecord>, Vec<Result<(), ControllerError>>), ControllerError> {
    use kafka_protocol::ResponseError as E;
    let remote = |code: i16, message: String| ControllerError::Remote { code, message };
    match image.brokers.get(&broker_id) {
        Some(b) if b.epoch == broker_epoch || broker_epoch < 0 => {}
        Some(_) => return Err(remote(E::StaleBrokerEpoch.code(), format!("Stale broker epoch {broker_epoch}"))),
        None => return Err(remote(E::BrokerIdNotRegistered.code(), format!("Broker {broker_id} is not registered"))),
    }
    let mut records = Vec::new();
    let mut results = Vec::new();
    for c in changes {
        let Some((topic, reg)) =
            image.topic_by_id(&c.topic_id).and_then(|t| t.partitions.get(&c.partition).map(|p| (t, p)))
        else {
            results.push(Err(remote(E::UnknownTopicOrPartition.code(), "unknown partition".into())));
            continue;
        };
        let r = if reg.leader != broker_id {
            Err(remote(E::NotLeaderOrFollower.code(), format!("Broker {broker_id} is not the leader")))
        } else if c.leader_epoch < reg.leader_epoch {
            Err(remote(E::FencedLeaderEpoch.code(), "stale leader epoch".into()))
        } else if c.leader_epoch > reg.leader_epoch {
            Err(remote(E::UnknownLeaderEpoch.code(), "leader epoch from the future".into()))
        } else if c.partition_epoch != reg.partition_epoch {
            Err(remote(E::InvalidUpdateVersion.code(), "stale partition epoch".into()))
        } else if c.new_isr.is_empty() || !c.new_isr.contains(&broker_id) {
            Err(remote(E::InvalidRequest.code(), "the leader must be in the ISR".into()))
        } else if let Some(bad) =
            c.new_isr.iter().find(|r| !reg.replicas.contains(r) || !may_lead(image, c.topic_id, c.partition, **r))
        {
            Err(remote(E::IneligibleReplica.code(), format!("replica {bad} is not eligible for the ISR")))
        } else {
            let rules = policy.rules(image, topic);
            let acceptable = |r: i32| may_lead(image, c.topic_id, c.partition, r);
            if let Some(record) = partition_change(c.topic_id, c.partition, reg, c.new_isr.clone(), rules, &acceptable)
            {
                records.push(record);
            }
            Ok(())
        };
        results.push(r);
    }
    Ok((records, results))
}
