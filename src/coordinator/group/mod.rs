//! The group coordinator for classic consumer groups, over the internal
//! topic `__consumer_offsets` (Kafka's `GroupCoordinator` +
//! `GroupMetadataManager`).
//!
//! A group belongs to partition `abs(hash(group_id)) % offsets.topic.num.partitions`
//! and is coordinated by that partition's leader. Every change that must
//! survive (group metadata with assignments, committed offsets, deletions)
//! is appended to the partition with acks=all semantics before it is
//! acknowledged; a broker that becomes leader of a partition rebuilds its
//! groups by replaying it, so state survives restarts and, once partitions
//! replicate, coordinator failover.

pub mod classic;
pub mod consumer_protocol;
pub mod error;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::config::BrokerConfig;
use crate::record::batch::BatchIter;
use crate::record::records::{decode_records, BatchBuilder, Record};
use crate::replica::{ReplicaError, ReplicaManager};
use crate::storage::partition_log::ReadLimits;
use crate::storage::TopicPartition;
use crate::util::clock::now_ms;

use super::record_schemas::{self as schema, GroupRecordKey};
pub use error::GroupError;

use classic::{ClassicGroup, CommittedOffset, Effect, GroupState, GroupTimeouts, JoinResult, LoadedMember, SyncResult};

pub const GROUP_METADATA_TOPIC: &str = "__consumer_offsets";
/// A new member may take this long to receive its first join response.
pub const NEW_MEMBER_JOIN_TIMEOUT_MS: u64 = 5 * 60 * 1000;
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

/// The group coordinator's configuration (Kafka's names in comments).
#[derive(Debug, Clone)]
pub struct GroupConfig {
    pub min_session_timeout_ms: i32,      // group.min.session.timeout.ms
    pub max_session_timeout_ms: i32,      // group.max.session.timeout.ms
    pub initial_rebalance_delay_ms: u64,  // group.initial.rebalance.delay.ms
    pub max_size: usize,                  // group.max.size
    pub num_partitions: i32,              // offsets.topic.num.partitions
    pub replication_factor: i16,          // offsets.topic.replication.factor
    pub segment_bytes: i32,               // offsets.topic.segment.bytes
    pub retention_ms: i64,                // offsets.retention.minutes
    pub retention_check_interval_ms: u64, // offsets.retention.check.interval.ms
    pub commit_timeout_ms: u64,           // offsets.commit.timeout.ms
    pub metadata_max_bytes: usize,        // offset.metadata.max.bytes
}

impl GroupConfig {
    pub fn from_broker(c: &BrokerConfig) -> Self {
        GroupConfig {
            min_session_timeout_ms: c.int("group.min.session.timeout.ms"),
            max_session_timeout_ms: c.int("group.max.session.timeout.ms"),
            initial_rebalance_delay_ms: c.int("group.initial.rebalance.delay.ms").max(0) as u64,
            max_size: c.int("group.max.size").max(1) as usize,
            num_partitions: c.int("offsets.topic.num.partitions").max(1),
            replication_factor: c.int("offsets.topic.replication.factor").clamp(1, i16::MAX as i32) as i16,
            segment_bytes: c.int("offsets.topic.segment.bytes"),
            retention_ms: c.int("offsets.retention.minutes") as i64 * 60_000,
            retention_check_interval_ms: c.long("offsets.retention.check.interval.ms").max(1) as u64,
            commit_timeout_ms: c.int("offsets.commit.timeout.ms").max(1) as u64,
            metadata_max_bytes: c.int("offset.metadata.max.bytes").max(0) as usize,
        }
    }
}

enum Status {
    Loading,
    Loaded,
}

struct OwnedPartition {
    status: Status,
    leader_epoch: i32,
    groups: HashMap<String, Arc<Mutex<ClassicGroup>>>,
}

/// A JoinGroup as the coordinator needs it.
#[derive(Debug, Clone)]
pub struct JoinArgs {
    pub group_id: String,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub require_known_member_id: bool,
    pub support_skipping_assignment: bool,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
}

#[derive(Debug, Clone)]
pub struct SyncArgs {
    pub group_id: String,
    pub generation: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignments: Vec<(String, Bytes)>,
}

/// One member's view in DescribeGroups.
#[derive(Debug, Clone)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

#[derive(Debug, Clone)]
pub struct GroupDescription {
    pub state: String,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

/// Group listing entry: (group id, protocol type, state).
pub type GroupOverview = (String, String, String);

/// OffsetFetch's answer: each (topic, partition) with its committed
/// offset, if any.
pub type FetchedOffsets = Vec<((String, i32), Option<CommittedOffset>)>;

pub struct GroupCoordinator {
    config: GroupConfig,
    timeouts: GroupTimeouts,
    replica_manager: Arc<ReplicaManager>,
    partitions: Mutex<HashMap<i32, OwnedPartition>>,
}

type GroupRef = Arc<Mutex<ClassicGroup>>;

/// A record for `__consumer_offsets`: key and value (None: tombstone).
type KeyValue = (Vec<u8>, Option<Vec<u8>>);

/// Encoding fails only for strings longer than the schema allows (a
/// client-chosen id over 32767 bytes); such a change is refused.
fn encoding_error(e: schema::SchemaError) -> GroupError {
    tracing::warn!(error = %e, "cannot encode group coordinator record");
    GroupError::InvalidRequest
}

fn offset_record(
    group: &str,
    topic: &str,
    partition: i32,
    o: Option<&CommittedOffset>,
) -> Result<KeyValue, GroupError> {
    let key = schema::encode_key(&GroupRecordKey::OffsetCommit {
        group: group.to_string(),
        topic: topic.to_string(),
        partition,
    })
    .map_err(encoding_error)?;
    let value = match o {
        None => None,
        Some(o) => Some(
            schema::encode_offset_commit_value(&schema::OffsetCommitValue {
                offset: o.offset,
                leader_epoch: o.leader_epoch,
                metadata: o.metadata.clone(),
                commit_timestamp: o.commit_timestamp,
                expire_timestamp: o.expire_timestamp,
            })
            .map_err(encoding_error)?,
        ),
    };
    Ok((key, value))
}

fn group_record(group_id: &str, snapshot: Option<classic::GroupSnapshot>) -> Result<KeyValue, GroupError> {
    let key =
        schema::encode_key(&GroupRecordKey::GroupMetadata { group: group_id.to_string() }).map_err(encoding_error)?;
    let value = match snapshot {
        None => None,
        Some(s) => Some(
            schema::encode_group_metadata_value(&schema::GroupMetadataValue {
                protocol_type: s.protocol_type,
                generation: s.generation,
                protocol: s.protocol,
                leader: s.leader,
                current_state_timestamp: s.state_timestamp,
                members: s
                    .members
                    .into_iter()
                    .map(|m| schema::MemberMetadata {
                        member_id: m.member_id,
                        group_instance_id: m.instance_id,
                        client_id: m.client_id,
                        client_host: m.client_host,
                        rebalance_timeout: m.rebalance_timeout_ms,
                        session_timeout: m.session_timeout_ms,
                        subscription: m.subscription.to_vec(),
                        assignment: m.assignment.to_vec(),
                    })
                    .collect(),
            })
            .map_err(encoding_error)?,
        ),
    };
    Ok((key, value))
}

impl GroupCoordinator {
    pub fn new(config: GroupConfig, replica_manager: Arc<ReplicaManager>) -> Arc<Self> {
        let timeouts = GroupTimeouts {
            initial_rebalance_delay_ms: config.initial_rebalance_delay_ms,
            new_member_join_timeout_ms: NEW_MEMBER_JOIN_TIMEOUT_MS,
        };
        Arc::new(GroupCoordinator { config, timeouts, replica_manager, partitions: Mutex::new(HashMap::new()) })
    }

    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    pub fn partition_for(&self, group_id: &str) -> i32 {
        partition_for(group_id, self.config.num_partitions)
    }

    /// The group if this coordinator owns it (creating it when asked), or
    /// the error Kafka gives: NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS.
    fn lookup(&self, group_id: &str, create: bool) -> Result<Option<(i32, GroupRef)>, GroupError> {
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
    fn validate(&self, group_id: &str, allow_empty_id: bool) -> Result<(), GroupError> {
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

    /// Appends records to the group's `__consumer_offsets` partition and
    /// waits until they are committed (high watermark past them).
    async fn append(&self, partition: i32, records: Vec<KeyValue>) -> Result<(), ReplicaError> {
        if records.is_empty() {
            return Ok(());
        }
        let tp = TopicPartition::new(GROUP_METADATA_TOPIC, partition);
        let p = self.replica_manager.get(&tp).ok_or(ReplicaError::NotLeaderOrFollower)?;
        let now = now_ms();
        let mut b = BatchBuilder::new(0, now);
        for (k, v) in records {
            b.push(Record::new(Some(k), v, now));
        }
        let batch = b.build();
        let info = p.append_records_to_leader(&batch, -1, now)?;
        let deadline = Instant::now() + Duration::from_millis(self.config.commit_timeout_ms);
        p.wait_for_high_watermark(info.last_offset + 1, deadline).await
    }

    /// Runs effects a transition asked for (persisting group metadata).
    fn run_effects(self: &Arc<Self>, partition: i32, group: &ClassicGroup, effects: Vec<Effect>) {
        if effects.contains(&Effect::StoreGroup) {
            let Ok(record) = group_record(&group.id, Some(group.snapshot(None))) else { return };
            let this = self.clone();
            let id = group.id.clone();
            tokio::spawn(async move {
                if let Err(e) = this.append(partition, vec![record]).await {
                    tracing::warn!(group = %id, error = %e, "failed to store group metadata");
                }
            });
        }
    }

    fn validate_member(group: &ClassicGroup, member_id: &str, instance_id: Option<&str>) -> Result<(), GroupError> {
        if let Some(i) = instance_id {
            match group.static_member_id(i) {
                Some(current) if current != member_id => return Err(GroupError::FencedInstanceId),
                Some(_) => {}
                None => return Err(GroupError::UnknownMemberId),
            }
        }
        if !group.has_member(member_id) {
            return Err(GroupError::UnknownMemberId);
        }
        Ok(())
    }

    /// JoinGroup: answers when the join phase completes (or at once for
    /// errors, MEMBER_ID_REQUIRED, and rejoining members of a stable group).
    pub async fn join_group(self: &Arc<Self>, a: JoinArgs) -> JoinResult {
        if let Err(e) = self.validate(&a.group_id, false) {
            return JoinResult::error(&a.member_id, e);
        }
        if a.session_timeout_ms < self.config.min_session_timeout_ms
            || a.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return JoinResult::error(&a.member_id, GroupError::InvalidSessionTimeout);
        }
        let unknown = a.member_id.is_empty();
        let (partition, group) = match self.lookup(&a.group_id, unknown) {
            Err(e) => return JoinResult::error(&a.member_id, e),
            Ok(None) => return JoinResult::error(&a.member_id, GroupError::UnknownMemberId),
            Ok(Some(x)) => x,
        };
        let (tx, rx) = oneshot::channel();
        let now = Instant::now();
        let (immediate, store) = {
            let mut g = group.lock().expect("group lock");
            let (immediate, effects, store) = self.join_locked(&mut g, &a, tx, now);
            self.run_effects(partition, &g, effects);
            (immediate, store)
        };
        if let Some((records, new_member_id, result_on_success)) = store {
            // A static member replaced in a stable group: persist, then answer.
            let outcome = self.append(partition, records).await;
            return match outcome {
                Ok(()) => result_on_success,
                Err(e) => {
                    tracing::warn!(group = %a.group_id, member = %new_member_id, error = %e, "failed to persist static member replacement");
                    JoinResult::error("", GroupError::from_append(e))
                }
            };
        }
        if let Some(r) = immediate {
            return r;
        }
        rx.await.unwrap_or_else(|_| JoinResult::error(&a.member_id, GroupError::UnknownMemberId))
    }

    /// The locked part of JoinGroup (Kafka's doNewMemberJoinGroup /
    /// doCurrentMemberJoinGroup). Returns an immediate answer if any, the
    /// effects to run, and for a static member replacement the records to
    /// store before answering.
    #[allow(clippy::type_complexity)]
    fn join_locked(
        &self,
        g: &mut ClassicGroup,
        a: &JoinArgs,
        tx: oneshot::Sender<JoinResult>,
        now: Instant,
    ) -> (Option<JoinResult>, Vec<Effect>, Option<(Vec<KeyValue>, String, JoinResult)>) {
        let t = &self.timeouts;
        let err = |e: GroupError, member: &str| (Some(JoinResult::error(member, e)), Vec::new(), None);
        // Kafka's acceptJoiningMember.
        let accept = match g.state() {
            GroupState::Empty | GroupState::Dead => true,
            GroupState::PreparingRebalance => g.has_member(&a.member_id) || g.size() < self.config.max_size,
            _ => g.has_member(&a.member_id) || g.size() < self.config.max_size,
        };
        if !accept {
            return err(GroupError::GroupMaxSizeReached, "");
        }
        if g.is(GroupState::Dead) {
            return err(GroupError::CoordinatorNotAvailable, &a.member_id);
        }
        if !g.supports_protocols(&a.protocol_type, &a.protocols) {
            return err(GroupError::InconsistentGroupProtocol, &a.member_id);
        }
        if a.member_id.is_empty() {
            let new_id = ClassicGroup::generate_member_id(&a.client_id, a.group_instance_id.as_deref());
            if let Some(instance) = &a.group_instance_id {
                if let Some(old_id) = g.static_member_id(instance).map(str::to_string) {
                    return self.replace_static_member(g, a, instance, &old_id, &new_id, tx, now);
                }
                let effects = g.add_member(
                    new_id,
                    a.group_instance_id.clone(),
                    a.client_id.clone(),
                    a.client_host.clone(),
                    a.rebalance_timeout_ms,
                    a.session_timeout_ms,
                    a.protocol_type.clone(),
                    a.protocols.clone(),
                    tx,
                    t,
                    now,
                );
                return (None, effects, None);
            }
            if a.require_known_member_id {
                g.add_pending_member(&new_id, now + Duration::from_millis(a.session_timeout_ms.max(0) as u64));
                return (Some(JoinResult::error(&new_id, GroupError::MemberIdRequired)), Vec::new(), None);
            }
            let effects = g.add_member(
                new_id,
                None,
                a.client_id.clone(),
                a.client_host.clone(),
                a.rebalance_timeout_ms,
                a.session_timeout_ms,
                a.protocol_type.clone(),
                a.protocols.clone(),
                tx,
                t,
                now,
            );
            return (None, effects, None);
        }
        // A known (or pending) member id.
        if g.is_pending_member(&a.member_id) {
            let effects = g.add_member(
                a.member_id.clone(),
                None,
                a.client_id.clone(),
                a.client_host.clone(),
                a.rebalance_timeout_ms,
                a.session_timeout_ms,
                a.protocol_type.clone(),
                a.protocols.clone(),
                tx,
                t,
                now,
            );
            return (None, effects, None);
        }
        if let Err(e) = Self::validate_member(g, &a.member_id, a.group_instance_id.as_deref()) {
            return err(e, &a.member_id);
        }
        match g.state() {
            GroupState::PreparingRebalance => {
                let effects = g.update_member_and_rebalance(
                    &a.member_id,
                    a.protocols.clone(),
                    a.rebalance_timeout_ms,
                    a.session_timeout_ms,
                    tx,
                    t,
                    now,
                );
                (None, effects, None)
            }
            GroupState::CompletingRebalance => {
                if g.member_matches(&a.member_id, &a.protocols) {
                    let is_leader = g.leader() == Some(a.member_id.as_str());
                    (Some(g.current_join_result(&a.member_id, is_leader, false)), Vec::new(), None)
                } else {
                    let effects = g.update_member_and_rebalance(
                        &a.member_id,
                        a.protocols.clone(),
                        a.rebalance_timeout_ms,
                        a.session_timeout_ms,
                        tx,
                        t,
                        now,
                    );
                    (None, effects, None)
                }
            }
            GroupState::Stable => {
                let is_leader = g.leader() == Some(a.member_id.as_str());
                if is_leader || !g.member_matches(&a.member_id, &a.protocols) {
                    let effects = g.update_member_and_rebalance(
                        &a.member_id,
                        a.protocols.clone(),
                        a.rebalance_timeout_ms,
                        a.session_timeout_ms,
                        tx,
                        t,
                        now,
                    );
                    (None, effects, None)
                } else {
                    (Some(g.current_join_result(&a.member_id, false, false)), Vec::new(), None)
                }
            }
            GroupState::Empty | GroupState::Dead => err(GroupError::UnknownMemberId, &a.member_id),
        }
    }

    /// Kafka's `updateStaticMemberAndRebalance`.
    #[allow(clippy::type_complexity, clippy::too_many_arguments)]
    fn replace_static_member(
        &self,
        g: &mut ClassicGroup,
        a: &JoinArgs,
        instance: &str,
        old_id: &str,
        new_id: &str,
        tx: oneshot::Sender<JoinResult>,
        now: Instant,
    ) -> (Option<JoinResult>, Vec<Effect>, Option<(Vec<KeyValue>, String, JoinResult)>) {
        let t = &self.timeouts;
        let current_leader = g.leader().map(str::to_string);
        g.replace_static_member(instance, old_id, new_id);
        g.heartbeat(new_id, now);
        match g.state() {
            GroupState::Stable => {
                let previous_protocol = g.protocol_name.clone();
                g.update_member(new_id, a.protocols.clone(), a.rebalance_timeout_ms, a.session_timeout_ms, None);
                // Same protocol choice: keep the assignment, no rebalance.
                let still = previous_protocol.as_deref().is_some_and(|p| a.protocols.iter().any(|(n, _)| n == p));
                if still {
                    let records = match group_record(&g.id, Some(g.snapshot(None))) {
                        Ok(r) => vec![r],
                        Err(e) => return (Some(JoinResult::error("", e)), Vec::new(), None),
                    };
                    let is_leader = g.leader() == Some(new_id);
                    let mut result = if a.support_skipping_assignment {
                        g.current_join_result(new_id, is_leader, is_leader)
                    } else {
                        g.current_join_result(new_id, false, false)
                    };
                    if !a.support_skipping_assignment {
                        result.leader = current_leader.unwrap_or_default();
                    }
                    drop(tx);
                    (None, Vec::new(), Some((records, new_id.to_string(), result)))
                } else {
                    let effects = g.update_member_and_rebalance(
                        new_id,
                        a.protocols.clone(),
                        a.rebalance_timeout_ms,
                        a.session_timeout_ms,
                        tx,
                        t,
                        now,
                    );
                    (None, effects, None)
                }
            }
            GroupState::CompletingRebalance => {
                g.update_member(new_id, a.protocols.clone(), a.rebalance_timeout_ms, a.session_timeout_ms, Some(tx));
                (None, g.prepare_rebalance(t, now), None)
            }
            _ => {
                // PreparingRebalance: wait for the join phase to complete.
                g.update_member(new_id, a.protocols.clone(), a.rebalance_timeout_ms, a.session_timeout_ms, Some(tx));
                (None, g.try_complete_join(t, now), None)
            }
        }
    }

    /// SyncGroup: the leader's assignment is stored, then every member gets
    /// its share.
    pub async fn sync_group(self: &Arc<Self>, a: SyncArgs) -> SyncResult {
        match self.validate(&a.group_id, false) {
            Err(GroupError::CoordinatorLoadInProgress) => return SyncResult::error(GroupError::RebalanceInProgress),
            Err(e) => return SyncResult::error(e),
            Ok(()) => {}
        }
        let (partition, group) = match self.lookup(&a.group_id, false) {
            Err(e) => return SyncResult::error(e),
            Ok(None) => return SyncResult::error(GroupError::UnknownMemberId),
            Ok(Some(x)) => x,
        };
        let (tx, rx) = oneshot::channel();
        let now = Instant::now();
        let store = {
            let mut g = group.lock().expect("group lock");
            if g.is(GroupState::Dead) {
                return SyncResult::error(GroupError::CoordinatorNotAvailable);
            }
            if let Err(e) = Self::validate_member(&g, &a.member_id, a.group_instance_id.as_deref()) {
                return SyncResult::error(e);
            }
            if a.generation != g.generation {
                return SyncResult::error(GroupError::IllegalGeneration);
            }
            if a.protocol_type.as_ref().is_some_and(|p| g.protocol_type.as_ref() != Some(p))
                || a.protocol_name.as_ref().is_some_and(|p| g.protocol_name.as_ref() != Some(p))
            {
                return SyncResult::error(GroupError::InconsistentGroupProtocol);
            }
            match g.state() {
                GroupState::Empty => return SyncResult::error(GroupError::UnknownMemberId),
                GroupState::PreparingRebalance => return SyncResult::error(GroupError::RebalanceInProgress),
                GroupState::Stable => {
                    g.mark_synced(&a.member_id);
                    g.heartbeat(&a.member_id, now);
                    return SyncResult {
                        error: None,
                        protocol_type: g.protocol_type.clone(),
                        protocol_name: g.protocol_name.clone(),
                        assignment: g.member_assignment(&a.member_id),
                    };
                }
                GroupState::Dead => return SyncResult::error(GroupError::CoordinatorNotAvailable),
                GroupState::CompletingRebalance => {
                    g.set_awaiting_sync(&a.member_id, tx);
                    if g.leader() == Some(a.member_id.as_str()) {
                        let mut assignment: HashMap<String, Bytes> = a.assignments.iter().cloned().collect();
                        for m in g.members() {
                            assignment.entry(m.id.clone()).or_default();
                        }
                        match group_record(&g.id, Some(g.snapshot(Some(&assignment)))) {
                            Ok(r) => Some((vec![r], assignment, g.generation)),
                            Err(e) => {
                                let effects = g.fail_sync(e, &self.timeouts, now);
                                self.run_effects(partition, &g, effects);
                                None
                            }
                        }
                    } else {
                        None
                    }
                }
            }
        };
        if let Some((records, assignment, generation)) = store {
            let outcome = self.append(partition, records).await;
            let mut g = group.lock().expect("group lock");
            if g.is(GroupState::CompletingRebalance) && g.generation == generation {
                let now = Instant::now();
                match outcome {
                    Ok(()) => g.complete_sync(&assignment, now),
                    Err(e) => {
                        let effects = g.fail_sync(GroupError::from_append(e), &self.timeouts, now);
                        self.run_effects(partition, &g, effects);
                    }
                }
            }
        }
        rx.await.unwrap_or_else(|_| SyncResult::error(GroupError::RebalanceInProgress))
    }

    pub fn heartbeat(
        self: &Arc<Self>,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), GroupError> {
        match self.validate(group_id, false) {
            Err(GroupError::CoordinatorLoadInProgress) => return Ok(()),
            Err(e) => return Err(e),
            Ok(()) => {}
        }
        let group = match self.lookup(group_id, false) {
            Err(e) => return Err(e),
            Ok(None) => return Err(GroupError::UnknownMemberId),
            Ok(Some((_, g))) => g,
        };
        let mut g = group.lock().expect("group lock");
        if g.is(GroupState::Dead) {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        Self::validate_member(&g, member_id, instance_id)?;
        if generation != g.generation {
            return Err(GroupError::IllegalGeneration);
        }
        let now = Instant::now();
        match g.state() {
            GroupState::Empty => Err(GroupError::UnknownMemberId),
            GroupState::CompletingRebalance | GroupState::Stable => {
                g.heartbeat(member_id, now);
                Ok(())
            }
            GroupState::PreparingRebalance => {
                g.heartbeat(member_id, now);
                Err(GroupError::RebalanceInProgress)
            }
            GroupState::Dead => Err(GroupError::CoordinatorNotAvailable),
        }
    }

    /// LeaveGroup for one or more members: per-member outcomes, or a
    /// group-level error.
    pub fn leave_group(
        self: &Arc<Self>,
        group_id: &str,
        members: &[(String, Option<String>)],
    ) -> Result<Vec<Result<(), GroupError>>, GroupError> {
        self.validate(group_id, false)?;
        let (partition, group) = match self.lookup(group_id, false)? {
            None => return Ok(members.iter().map(|_| Err(GroupError::UnknownMemberId)).collect()),
            Some(x) => x,
        };
        let mut g = group.lock().expect("group lock");
        if g.is(GroupState::Dead) {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        let now = Instant::now();
        let mut outcomes = Vec::with_capacity(members.len());
        for (member_id, instance_id) in members {
            let outcome = if member_id.is_empty() {
                match instance_id.as_deref().and_then(|i| g.static_member_id(i)).map(str::to_string) {
                    Some(current) => {
                        let effects = g.remove_member(&current, &self.timeouts, now);
                        self.run_effects(partition, &g, effects);
                        Ok(())
                    }
                    None => Err(GroupError::UnknownMemberId),
                }
            } else if g.is_pending_member(member_id) {
                let effects = g.remove_pending_member(member_id, &self.timeouts, now);
                self.run_effects(partition, &g, effects);
                Ok(())
            } else {
                match Self::validate_member(&g, member_id, instance_id.as_deref()) {
                    Err(e) => Err(e),
                    Ok(()) => {
                        tracing::info!(group = %group_id, member = %member_id, "member left the group");
                        let effects = g.remove_member(member_id, &self.timeouts, now);
                        self.run_effects(partition, &g, effects);
                        Ok(())
                    }
                }
            };
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    /// OffsetCommit: validates the member and generation, stores the
    /// offsets durably, then makes them visible. One outcome per offset.
    pub async fn commit_offsets(
        self: &Arc<Self>,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        offsets: Vec<((String, i32), CommittedOffset)>,
    ) -> Vec<Result<(), GroupError>> {
        let all = |e: GroupError| vec![Err(e); offsets.len()];
        if let Err(e) = self.validate(group_id, true) {
            return all(e);
        }
        let (partition, group) = match self.lookup(group_id, generation < 0) {
            Err(e) => return all(e),
            Ok(None) => return all(GroupError::IllegalGeneration),
            Ok(Some(x)) => x,
        };
        {
            let mut g = group.lock().expect("group lock");
            let check = if g.is(GroupState::Dead) {
                Err(GroupError::CoordinatorNotAvailable)
            } else if generation < 0 && g.is(GroupState::Empty) {
                Ok(())
            } else if generation >= 0 || !member_id.is_empty() || instance_id.is_some() {
                Self::validate_member(&g, member_id, instance_id).and_then(|_| {
                    if generation != g.generation {
                        Err(GroupError::IllegalGeneration)
                    } else {
                        Ok(())
                    }
                })
            } else if !g.is(GroupState::Empty) {
                Err(GroupError::UnknownMemberId)
            } else {
                Ok(())
            };
            if let Err(e) = check {
                return all(e);
            }
            match g.state() {
                GroupState::CompletingRebalance => return all(GroupError::RebalanceInProgress),
                GroupState::Stable | GroupState::PreparingRebalance => g.heartbeat(member_id, Instant::now()),
                _ => {}
            }
        }
        let mut outcomes: Vec<Result<(), GroupError>> = vec![Ok(()); offsets.len()];
        let mut records = Vec::new();
        for (i, ((topic, p), o)) in offsets.iter().enumerate() {
            if o.metadata.len() > self.config.metadata_max_bytes {
                outcomes[i] = Err(GroupError::OffsetMetadataTooLarge);
                continue;
            }
            match offset_record(group_id, topic, *p, Some(o)) {
                Ok(r) => records.push(r),
                Err(_) => outcomes[i] = Err(GroupError::InvalidCommitOffsetSize),
            }
        }
        if records.is_empty() {
            return outcomes;
        }
        match self.append(partition, records).await {
            Ok(()) => {
                let mut g = group.lock().expect("group lock");
                for (i, ((topic, p), o)) in offsets.into_iter().enumerate() {
                    if outcomes[i].is_ok() {
                        g.offsets.insert((topic, p), o);
                    }
                }
            }
            Err(e) => {
                let e = GroupError::from_append(e);
                for o in outcomes.iter_mut().filter(|o| o.is_ok()) {
                    *o = Err(e.clone());
                }
            }
        }
        outcomes
    }

    /// OffsetFetch: committed offsets of the group (all when `partitions`
    /// is None). Unknown groups and partitions have no offset, no error.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        partitions: Option<Vec<(String, i32)>>,
    ) -> Result<FetchedOffsets, GroupError> {
        self.validate(group_id, true)?;
        let group = self.lookup(group_id, false)?.map(|(_, g)| g);
        let g = group.as_ref().map(|g| g.lock().expect("group lock"));
        let offsets = g.as_ref().map(|g| &g.offsets);
        Ok(match partitions {
            Some(list) => list
                .into_iter()
                .map(|tp| {
                    let o = offsets.and_then(|m| m.get(&tp)).cloned();
                    (tp, o)
                })
                .collect(),
            None => {
                let mut all: Vec<_> =
                    offsets.map(|m| m.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect()).unwrap_or_default();
                all.sort_by(|a: &((String, i32), Option<CommittedOffset>), b| a.0.cmp(&b.0));
                all
            }
        })
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

    pub fn describe_group(&self, group_id: &str) -> Result<GroupDescription, GroupError> {
        self.validate(group_id, true)?;
        let Some((_, group)) = self.lookup(group_id, false)? else {
            return Ok(GroupDescription {
                state: "Dead".into(),
                protocol_type: String::new(),
                protocol: String::new(),
                members: Vec::new(),
            });
        };
        let g = group.lock().expect("group lock");
        let stable = g.is(GroupState::Stable);
        let protocol = if stable { g.protocol_name.clone().unwrap_or_default() } else { String::new() };
        let snapshot = g.snapshot(None);
        Ok(GroupDescription {
            state: g.state().name().to_string(),
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: protocol.clone(),
            members: snapshot
                .members
                .into_iter()
                .map(|m| MemberDescription {
                    member_id: m.member_id,
                    group_instance_id: m.instance_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    metadata: if stable { m.subscription } else { Bytes::new() },
                    assignment: if stable { m.assignment } else { Bytes::new() },
                })
                .collect(),
        })
    }

    /// DeleteGroups: only empty groups; their metadata and offsets get
    /// tombstones.
    pub async fn delete_group(self: &Arc<Self>, group_id: &str) -> Result<(), GroupError> {
        self.validate(group_id, true)?;
        let (partition, group) = self.lookup(group_id, false)?.ok_or(GroupError::GroupIdNotFound)?;
        let records = {
            let mut g = group.lock().expect("group lock");
            match g.state() {
                GroupState::Dead => return Err(GroupError::GroupIdNotFound),
                GroupState::Empty => {}
                _ => return Err(GroupError::NonEmptyGroup),
            }
            let mut records: Vec<KeyValue> = group_record(group_id, None).into_iter().collect();
            for (topic, p) in g.offsets.keys() {
                records.extend(offset_record(group_id, topic, *p, None));
            }
            g.mark_dead(GroupError::CoordinatorNotAvailable);
            records
        };
        self.remove_group(partition, group_id);
        self.append(partition, records).await.map_err(GroupError::from_append)
    }

    fn remove_group(&self, partition: i32, group_id: &str) {
        if let Some(p) = self.partitions.lock().expect("coordinator lock").get_mut(&partition) {
            p.groups.remove(group_id);
        }
    }

    /// OffsetDelete: removes committed offsets the group is not subscribed
    /// to. Group-level error, or one outcome per partition.
    pub async fn delete_offsets(
        self: &Arc<Self>,
        group_id: &str,
        partitions: &[(String, i32)],
    ) -> Result<Vec<Result<(), GroupError>>, GroupError> {
        // Unlike OffsetCommit/OffsetFetch, OffsetDelete needs a group id.
        self.validate(group_id, false)?;
        let (partition, group) = self.lookup(group_id, false)?.ok_or(GroupError::GroupIdNotFound)?;
        let (outcomes, records) = {
            let mut g = group.lock().expect("group lock");
            if g.is(GroupState::Dead) {
                return Err(GroupError::GroupIdNotFound);
            }
            let subscribed = if g.is(GroupState::Empty) {
                HashSet::new()
            } else if g.protocol_type.as_deref() == Some("consumer") {
                g.subscribed_topics().unwrap_or_default()
            } else {
                return Err(GroupError::NonEmptyGroup);
            };
            let mut outcomes = Vec::with_capacity(partitions.len());
            let mut records = Vec::new();
            for (topic, p) in partitions {
                if subscribed.contains(topic) {
                    outcomes.push(Err(GroupError::GroupSubscribedToTopic));
                    continue;
                }
                if g.offsets.remove(&(topic.clone(), *p)).is_some() {
                    records.extend(offset_record(group_id, topic, *p, None));
                }
                outcomes.push(Ok(()));
            }
            (outcomes, records)
        };
        self.append(partition, records).await.map_err(GroupError::from_append)?;
        Ok(outcomes)
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

    /// Replays a `__consumer_offsets` partition into groups.
    async fn load_partition(&self, partition: i32) -> HashMap<String, GroupRef> {
        let tp = TopicPartition::new(GROUP_METADATA_TOPIC, partition);
        let Some(p) = self.replica_manager.get(&tp) else { return HashMap::new() };
        let log = p.log().clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let mut metadata: HashMap<String, Option<schema::GroupMetadataValue>> = HashMap::new();
            let mut offsets: HashMap<String, HashMap<(String, i32), CommittedOffset>> = HashMap::new();
            let (start, end) = {
                let l = log.lock().expect("log lock");
                // To the log end, not the high watermark: a new leader's
                // log is the partition's truth, and a follower learns the
                // high watermark only from its next fetch, so a commit
                // acknowledged just before the old coordinator died may
                // still be above it here (Kafka's loader reads to the log
                // end too).
                (l.log_start_offset(), l.log_end_offset())
            };
            let mut offset = start;
            while offset < end {
                let plan = {
                    let l = log.lock().expect("log lock");
                    l.read_plan(offset, ReadLimits { max_bytes: 4 << 20, max_offset: end, min_one_batch: true })
                };
                let Ok(Some(plan)) = plan else { break };
                let Ok(bytes) = plan.read() else { break };
                if bytes.is_empty() {
                    break;
                }
                for item in BatchIter::new(&bytes, true) {
                    let Ok((_, view)) = item else { break };
                    offset = view.next_offset();
                    if view.is_control() {
                        continue;
                    }
                    let Ok(records) = decode_records(&view) else { continue };
                    for r in records {
                        let Some(key) = r.key.as_deref() else { continue };
                        match schema::decode_key(key) {
                            Ok(GroupRecordKey::OffsetCommit { group, topic, partition }) => {
                                let entry = offsets.entry(group).or_default();
                                match r.value.as_deref().map(schema::decode_offset_commit_value) {
                                    Some(Ok(v)) => {
                                        entry.insert(
                                            (topic, partition),
                                            CommittedOffset {
                                                offset: v.offset,
                                                leader_epoch: v.leader_epoch,
                                                metadata: v.metadata,
                                                commit_timestamp: v.commit_timestamp,
                                                expire_timestamp: v.expire_timestamp,
                                            },
                                        );
                                    }
                                    None => {
                                        entry.remove(&(topic, partition));
                                    }
                                    Some(Err(e)) => tracing::warn!(error = %e, "skipping undecodable offset commit"),
                                }
                            }
                            Ok(GroupRecordKey::GroupMetadata { group }) => {
                                match r.value.as_deref().map(schema::decode_group_metadata_value) {
                                    Some(Ok(v)) => {
                                        metadata.insert(group, Some(v));
                                    }
                                    None => {
                                        metadata.insert(group.clone(), None);
                                        offsets.remove(&group);
                                    }
                                    Some(Err(e)) => tracing::warn!(error = %e, "skipping undecodable group metadata"),
                                }
                            }
                            Err(_) => {}
                        }
                    }
                }
            }
            (metadata, offsets)
        })
        .await;
        let Ok((metadata, mut offsets)) = loaded else { return HashMap::new() };
        let now = Instant::now();
        let mut groups = HashMap::new();
        let mut ids: HashSet<String> = metadata.iter().filter(|(_, v)| v.is_some()).map(|(k, _)| k.clone()).collect();
        // Offset tombstones leave empty maps behind: a group whose offsets
        // were all deleted (and that has no metadata) is gone, as in Kafka.
        ids.extend(offsets.iter().filter(|(_, o)| !o.is_empty()).map(|(k, _)| k.clone()));
        for id in ids {
            let mut g = ClassicGroup::new(&id);
            if let Some(Some(v)) = metadata.get(&id) {
                g.load(
                    v.protocol_type.clone(),
                    v.generation,
                    v.protocol.clone(),
                    v.leader.clone(),
                    v.current_state_timestamp,
                    v.members
                        .iter()
                        .map(|m| LoadedMember {
                            member_id: m.member_id.clone(),
                            instance_id: m.group_instance_id.clone(),
                            client_id: m.client_id.clone(),
                            client_host: m.client_host.clone(),
                            rebalance_timeout_ms: m.rebalance_timeout,
                            session_timeout_ms: m.session_timeout,
                            subscription: Bytes::from(m.subscription.clone()),
                            assignment: Bytes::from(m.assignment.clone()),
                        })
                        .collect(),
                    now,
                );
            }
            if let Some(o) = offsets.remove(&id) {
                g.offsets = o;
            }
            groups.insert(id, Arc::new(Mutex::new(g)));
        }
        groups
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
                if last_expiry.elapsed() >= Duration::from_millis(this.config.retention_check_interval_ms) {
                    last_expiry = std::time::Instant::now();
                    this.expire_offsets().await;
                }
            }
        });
    }

    fn tick_groups(self: &Arc<Self>) {
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

    /// Kafka's offset expiry: offsets of empty groups older than
    /// `offsets.retention.minutes` (measured from when a consumer group
    /// became empty, or from the commit for groups without a protocol), and
    /// offsets with an explicit expiry; empty groups left without offsets
    /// are removed.
    async fn expire_offsets(self: &Arc<Self>) {
        let now = now_ms();
        let groups: Vec<(i32, String, GroupRef)> = {
            let parts = self.partitions.lock().expect("coordinator lock");
            parts
                .iter()
                .filter(|(_, p)| matches!(p.status, Status::Loaded))
                .flat_map(|(pid, p)| p.groups.iter().map(move |(id, g)| (*pid, id.clone(), g.clone())))
                .collect()
        };
        for (partition, id, group) in groups {
            let (records, remove) = {
                let mut g = group.lock().expect("group lock");
                if !g.is(GroupState::Empty) {
                    continue;
                }
                let retention = self.config.retention_ms;
                let consumer = g.protocol_type.is_some();
                let state_ts = g.state_timestamp;
                let expired: Vec<(String, i32)> = g
                    .offsets
                    .iter()
                    .filter(|(_, o)| {
                        if o.expire_timestamp >= 0 {
                            now >= o.expire_timestamp
                        } else {
                            let base = if consumer { state_ts } else { o.commit_timestamp };
                            now - base >= retention
                        }
                    })
                    .map(|(k, _)| k.clone())
                    .collect();
                let mut records = Vec::new();
                for k in &expired {
                    g.offsets.remove(k);
                    records.extend(offset_record(&id, &k.0, k.1, None));
                }
                // An empty group without offsets is gone (Kafka: Empty -> Dead).
                let remove = g.offsets.is_empty();
                if remove {
                    records.extend(group_record(&id, None));
                    g.mark_dead(GroupError::CoordinatorNotAvailable);
                }
                (records, remove)
            };
            if remove {
                self.remove_group(partition, &id);
            }
            if !records.is_empty() {
                tracing::info!(group = %id, records = records.len(), "expiring offsets");
                if let Err(e) = self.append(partition, records).await {
                    tracing::warn!(group = %id, error = %e, "writing offset expiry tombstones");
                }
            }
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
