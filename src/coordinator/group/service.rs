//! Routing of group ids to `__consumer_offsets` partitions and the
//! coordinator of each partition this broker leads: Kafka's
//! `GroupCoordinatorService` (the entry point, which routes a group id to
//! its partition) and `CoordinatorRuntime` (which schedules a partition's
//! loading when this broker becomes its leader, unloads it on
//! resignation, and drives the shards' timers).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::replica::ReplicaManager;
use crate::storage::TopicPartition;

use super::classic::{ClassicGroup, GroupState, GroupTimeouts};
use super::membership::GroupOverview;
use super::shard::{OwnedPartition, Status};
use super::{GroupConfig, GroupError, GROUP_METADATA_TOPIC, NEW_MEMBER_JOIN_TIMEOUT_MS};

const TICK: Duration = Duration::from_millis(50);

/// Kafka's `Utils.abs(groupId.hashCode) % partitions`, with Java's
/// `String.hashCode` over UTF-16 code units.
pub fn partition_for(group_id: &str, partitions: i32) -> i32 {
    let mut h: i32 = 0;
    for unit in group_id.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(unit as i32);
    }
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions.max(1)
}

pub struct GroupCoordinator {
    pub(super) config: GroupConfig,
    pub(super) timeouts: GroupTimeouts,
    pub(super) replica_manager: Arc<ReplicaManager>,
    pub(super) partitions: Mutex<HashMap<i32, OwnedPartition>>,
    /// Serialises transactional appends, which number their batches.
    pub(super) txn_append: tokio::sync::Mutex<()>,
}

pub(super) type GroupRef = Arc<Mutex<ClassicGroup>>;

impl GroupCoordinator {
    pub fn new(config: GroupConfig, replica_manager: Arc<ReplicaManager>) -> Arc<Self> {
        let timeouts = GroupTimeouts {
            initial_rebalance_delay_ms: config.initial_rebalance_delay_ms,
            new_member_join_timeout_ms: NEW_MEMBER_JOIN_TIMEOUT_MS,
        };
        Arc::new(GroupCoordinator {
            config,
            timeouts,
            replica_manager,
            partitions: Mutex::new(HashMap::new()),
            txn_append: tokio::sync::Mutex::new(()),
        })
    }

    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    pub fn partition_for(&self, group_id: &str) -> i32 {
        partition_for(group_id, self.config.num_partitions)
    }

    /// The group if this coordinator owns it (creating it when asked), or
    /// the error Kafka gives: NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS.
    pub(super) fn lookup(&self, group_id: &str, create: bool) -> Result<Option<(i32, GroupRef)>, GroupError> {
        let p = self.partition_for(group_id);
        let mut parts = self.partitions.lock().expect("coordinator lock");
        let owned = parts.get_mut(&p).ok_or(GroupError::NotCoordinator)?;
        if matches!(owned.status, Status::Loading) {
            return Err(GroupError::CoordinatorLoadInProgress);
        }
        if let Some(g) = owned.groups.get(group_id) {
            return Ok(Some((p, g.clone())));
        }
        if !create {
            return Ok(None);
        }
        let g = Arc::new(Mutex::new(ClassicGroup::new(group_id)));
        owned.groups.insert(group_id.to_string(), g.clone());
        Ok(Some((p, g)))
    }

    /// Checks the group id and ownership without touching the group.
    pub(super) fn validate(&self, group_id: &str, allow_empty_id: bool) -> Result<(), GroupError> {
        if group_id.is_empty() && !allow_empty_id {
            return Err(GroupError::InvalidGroupId);
        }
        let p = self.partition_for(group_id);
        let parts = self.partitions.lock().expect("coordinator lock");
        match parts.get(&p) {
            None => Err(GroupError::NotCoordinator),
            Some(o) if matches!(o.status, Status::Loading) => Err(GroupError::CoordinatorLoadInProgress),
            Some(_) => Ok(()),
        }
    }

    /// Groups this broker coordinates, filtered by state names
    /// (case-insensitive); the error is COORDINATOR_LOAD_IN_PROGRESS while a
    /// partition still loads.
    pub fn list_groups(&self, states: &[String]) -> (Option<GroupError>, Vec<GroupOverview>) {
        let wanted: HashSet<String> = states.iter().map(|s| s.to_lowercase()).collect();
        let parts = self.partitions.lock().expect("coordinator lock");
        let loading = parts.values().any(|p| matches!(p.status, Status::Loading));
        let mut out = Vec::new();
        for p in parts.values() {
            for g in p.groups.values() {
                let g = g.lock().expect("group lock");
                if g.is(GroupState::Dead) {
                    continue;
                }
                let state = g.state().name();
                if wanted.is_empty() || wanted.contains(&state.to_lowercase()) {
                    out.push((g.id.clone(), g.protocol_type.clone().unwrap_or_default(), state.to_string()));
                }
            }
        }
        out.sort();
        (loading.then_some(GroupError::CoordinatorLoadInProgress), out)
    }

    pub(super) fn remove_group(&self, partition: i32, group_id: &str) {
        if let Some(p) = self.partitions.lock().expect("coordinator lock").get_mut(&partition) {
            p.groups.remove(group_id);
        }
    }

    /// This broker now leads `__consumer_offsets-<partition>`: load its
    /// groups (requests meanwhile get COORDINATOR_LOAD_IN_PROGRESS).
    pub fn on_become_leader(self: &Arc<Self>, partition: i32, leader_epoch: i32) {
        {
            let mut parts = self.partitions.lock().expect("coordinator lock");
            if parts.get(&partition).is_some_and(|p| p.leader_epoch == leader_epoch) {
                return;
            }
            if let Some(old) = parts
                .insert(partition, OwnedPartition { status: Status::Loading, leader_epoch, groups: HashMap::new() })
            {
                for g in old.groups.values() {
                    g.lock().expect("group lock").mark_dead(GroupError::NotCoordinator);
                }
            }
        }
        let this = self.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let loaded = this.load_partition(partition).await;
            let mut parts = this.partitions.lock().expect("coordinator lock");
            match parts.get_mut(&partition) {
                Some(p) if p.leader_epoch == leader_epoch => {
                    let n = loaded.len();
                    p.groups = loaded;
                    p.status = Status::Loaded;
                    tracing::info!(
                        partition,
                        groups = n,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "loaded group metadata"
                    );
                }
                _ => {}
            }
        });
    }

    /// This broker no longer leads the partition: its groups are gone here.
    pub fn on_resign(&self, partition: i32) {
        if let Some(old) = self.partitions.lock().expect("coordinator lock").remove(&partition) {
            for g in old.groups.values() {
                g.lock().expect("group lock").mark_dead(GroupError::NotCoordinator);
            }
        }
    }

    /// Drives group timers and offset expiry until `shutdown`.
    pub fn spawn_timers(self: &Arc<Self>, shutdown: tokio_util::sync::CancellationToken) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_expiry = std::time::Instant::now();
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tick.tick() => {}
                }
                this.tick_groups();
                this.complete_pending_transactions().await;
                if last_expiry.elapsed() >= Duration::from_millis(this.config.retention_check_interval_ms) {
                    last_expiry = std::time::Instant::now();
                    this.expire_offsets().await;
                }
            }
        });
    }

    pub(super) fn tick_groups(self: &Arc<Self>) {
        let groups: Vec<(i32, GroupRef)> = {
            let parts = self.partitions.lock().expect("coordinator lock");
            parts
                .iter()
                .filter(|(_, p)| matches!(p.status, Status::Loaded))
                .flat_map(|(pid, p)| p.groups.values().map(move |g| (*pid, g.clone())))
                .collect()
        };
        let now = Instant::now();
        for (partition, group) in groups {
            let mut g = group.lock().expect("group lock");
            let effects = g.tick(&self.timeouts, now);
            self.run_effects(partition, &g, effects);
        }
    }
}

/// Lets the replica manager tell the coordinator which
/// `__consumer_offsets` partitions this broker leads.
pub struct CoordinatorLeadership(pub Arc<GroupCoordinator>);

impl crate::replica::replica_manager::LeadershipListener for CoordinatorLeadership {
    fn on_leadership_change(&self, tp: &TopicPartition, is_leader: bool, leader_epoch: i32) {
        if &*tp.topic != GROUP_METADATA_TOPIC {
            return;
        }
        if is_leader {
            self.0.on_become_leader(tp.partition, leader_epoch);
        } else {
            self.0.on_resign(tp.partition);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_for_matches_javas_string_hash() {
        // "test-group".hashCode() == 627841412 in Java.
        assert_eq!(partition_for("test-group", 50), 627841412 % 50);
        // "" hashes to 0.
        assert_eq!(partition_for("", 50), 0);
        // Non-ASCII uses UTF-16 code units: "ü".hashCode() == 252.
        assert_eq!(partition_for("ü", 50), 252 % 50);
        // "polygenelubricants".hashCode() == Integer.MIN_VALUE: abs() maps it to 0.
        assert_eq!(partition_for("polygenelubricants", 50), 0);
    }
}
