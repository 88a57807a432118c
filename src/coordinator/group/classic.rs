//! One classic consumer group (Kafka's `GroupMetadata` + `MemberMetadata`):
//! its state machine, members, protocol selection, the join and sync
//! responses owed to waiting members, and its committed offsets.
//!
//! States and transitions (as Kafka):
//!
//! ```text
//! Empty --join--> PreparingRebalance --all joined / rebalance timeout-->
//!   CompletingRebalance --leader SyncGroup stored--> Stable
//! Stable | CompletingRebalance --join/leave/expiry--> PreparingRebalance
//! PreparingRebalance --no member left--> Empty ; any --unload/delete--> Dead
//! ```
//!
//! This type does no I/O and holds no lock: the coordinator owns it behind a
//! mutex, persists what it asks to persist, and drives its timers.

use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::error::GroupError;

/// `group.initial.rebalance.delay.ms` and friends, as the group sees them.
#[derive(Debug, Clone, Copy)]
pub struct GroupTimeouts {
    pub initial_rebalance_delay_ms: u64,
    /// How long a new member may take to get its first join response.
    pub new_member_join_timeout_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// The name DescribeGroups and ListGroups report.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// What a JoinGroup request receives.
#[derive(Debug, Clone, Default)]
pub struct JoinResult {
    pub error: Option<GroupError>,
    pub member_id: String,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub skip_assignment: bool,
    /// Filled for the leader only: (member id, group instance id, metadata).
    pub members: Vec<(String, Option<String>, Bytes)>,
}

impl JoinResult {
    pub fn error(member_id: &str, error: GroupError) -> Self {
        JoinResult { error: Some(error), member_id: member_id.to_string(), generation: -1, ..Default::default() }
    }
}

/// What a SyncGroup request receives.
#[derive(Debug, Clone, Default)]
pub struct SyncResult {
    pub error: Option<GroupError>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncResult {
    pub fn error(error: GroupError) -> Self {
        SyncResult { error: Some(error), ..Default::default() }
    }
}

#[derive(Debug)]
pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub protocol_type: String,
    /// (protocol name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    pub awaiting_join: Option<oneshot::Sender<JoinResult>>,
    pub awaiting_sync: Option<oneshot::Sender<SyncResult>>,
    pub is_new: bool,
    /// When the member is expired unless it heartbeats (or is owed a
    /// rebalance response).
    pub heartbeat_deadline: Instant,
}

impl Member {
    fn matches(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }

    fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols.iter().find(|(n, _)| n == protocol).map(|(_, m)| m.clone()).unwrap_or_default()
    }

    fn vote(&self, candidates: &HashSet<String>) -> Option<String> {
        self.protocols.iter().map(|(n, _)| n).find(|n| candidates.contains(*n)).cloned()
    }

    /// Kafka's `hasSatisfiedHeartbeat` at the deadline: members owed a
    /// rebalance response are alive unless new and never answered.
    fn expired(&self, now: Instant) -> bool {
        if now < self.heartbeat_deadline {
            return false;
        }
        self.is_new || (self.awaiting_join.is_none() && self.awaiting_sync.is_none())
    }
}

/// A committed offset as stored in `__consumer_offsets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
    /// Explicit expiry from OffsetCommit v2-4 `retention_time_ms` (-1: none).
    pub expire_timestamp: i64,
}

/// The join phase's deadline: Kafka's DelayedJoin, or the InitialDelayedJoin
/// that holds an empty group open for `group.initial.rebalance.delay.ms`.
#[derive(Debug, Clone, Copy)]
enum JoinTimer {
    Delayed { deadline: Instant },
    Initial { deadline: Instant, delay_ms: u64, remaining_ms: u64 },
}

#[derive(Debug)]
pub struct ClassicGroup {
    pub id: String,
    state: GroupState,
    /// Wall-clock ms of the last state change (`current_state_timestamp`).
    pub state_timestamp: i64,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub generation: i32,
    leader: Option<String>,
    members: BTreeMap<String, Member>,
    static_members: HashMap<String, String>,
    /// Members told MEMBER_ID_REQUIRED, with their expiry.
    pending_members: HashMap<String, Instant>,
    pending_sync: HashSet<String>,
    supported_protocols: HashMap<String, usize>,
    new_member_added: bool,
    join_timer: Option<JoinTimer>,
    sync_deadline: Option<Instant>,
    pub offsets: HashMap<(String, i32), CommittedOffset>,
    /// Transactional offset commits not yet committed or aborted, by
    /// producer id: each offset with the log offset of its record
    /// (Kafka's `pendingTransactionalOffsets`).
    pub pending_txn_offsets: PendingTxnOffsets,
}

/// Pending transactional offsets by producer id: per partition, the log
/// offset of the record and the offset it commits.
pub type PendingTxnOffsets = HashMap<i64, HashMap<(String, i32), (i64, CommittedOffset)>>;

/// Something the coordinator must do after a transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Persist the group's metadata (members and assignments) as they are now.
    StoreGroup,
}

fn now_wall_ms() -> i64 {
    crate::util::clock::now_ms()
}

impl ClassicGroup {
    pub fn new(id: &str) -> Self {
        ClassicGroup {
            id: id.to_string(),
            state: GroupState::Empty,
            state_timestamp: now_wall_ms(),
            protocol_type: None,
            protocol_name: None,
            generation: 0,
            leader: None,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            pending_members: HashMap::new(),
            pending_sync: HashSet::new(),
            supported_protocols: HashMap::new(),
            new_member_added: false,
            join_timer: None,
            sync_deadline: None,
            offsets: HashMap::new(),
            pending_txn_offsets: HashMap::new(),
        }
    }

    pub fn state(&self) -> GroupState {
        self.state
    }

    pub fn is(&self, s: GroupState) -> bool {
        self.state == s
    }

    pub fn leader(&self) -> Option<&str> {
        self.leader.as_deref()
    }

    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    pub fn size(&self) -> usize {
        self.members.len()
    }

    pub fn has_member(&self, id: &str) -> bool {
        self.members.contains_key(id)
    }

    pub fn static_member_id(&self, instance_id: &str) -> Option<&str> {
        self.static_members.get(instance_id).map(String::as_str)
    }

    fn transition(&mut self, to: GroupState) {
        self.state = to;
        self.state_timestamp = now_wall_ms();
    }

    /// The largest rebalance timeout among members.
    pub fn rebalance_timeout_ms(&self) -> u64 {
        self.members.values().map(|m| m.rebalance_timeout_ms.max(0) as u64).max().unwrap_or(0)
    }

    fn can_rebalance(&self) -> bool {
        matches!(self.state, GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty)
    }

    /// Kafka's `supportsProtocols`.
    pub fn supports_protocols(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.is(GroupState::Empty) {
            !protocol_type.is_empty() && !protocols.is_empty()
        } else {
            self.protocol_type.as_deref() == Some(protocol_type)
                && protocols
                    .iter()
                    .any(|(n, _)| self.supported_protocols.get(n).copied().unwrap_or(0) == self.members.len())
        }
    }

    fn select_protocol(&self) -> Option<String> {
        let n = self.members.len();
        let candidates: HashSet<String> =
            self.supported_protocols.iter().filter(|(_, c)| **c == n).map(|(p, _)| p.clone()).collect();
        let mut votes: HashMap<String, usize> = HashMap::new();
        for m in self.members.values() {
            if let Some(v) = m.vote(&candidates) {
                *votes.entry(v).or_default() += 1;
            }
        }
        // Ties resolve to the protocol the first member prefers.
        let best = votes.values().copied().max()?;
        let first_pref = self.members.values().next().and_then(|m| m.vote(&candidates));
        match first_pref {
            Some(p) if votes.get(&p) == Some(&best) => Some(p),
            _ => votes.into_iter().filter(|(_, c)| *c == best).map(|(p, _)| p).min(),
        }
    }

    fn inc_protocols(&mut self, protocols: &[(String, Bytes)]) {
        for (p, _) in protocols {
            *self.supported_protocols.entry(p.clone()).or_default() += 1;
        }
    }

    fn dec_protocols(&mut self, protocols: &[(String, Bytes)]) {
        for (p, _) in protocols {
            if let Some(c) = self.supported_protocols.get_mut(p) {
                *c = c.saturating_sub(1);
            }
        }
    }

    /// A new member id: client id (or instance id) + '-' + a UUID.
    pub fn generate_member_id(client_id: &str, instance_id: Option<&str>) -> String {
        format!("{}-{}", instance_id.unwrap_or(client_id), uuid::Uuid::new_v4())
    }

    pub fn is_pending_member(&self, id: &str) -> bool {
        self.pending_members.contains_key(id)
    }

    pub fn add_pending_member(&mut self, id: &str, deadline: Instant) {
        self.pending_members.insert(id.to_string(), deadline);
    }

    fn all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.awaiting_join.is_some())
    }

    /// Adds a member awaiting its join response.
    #[allow(clippy::too_many_arguments)]
    pub fn add_member(
        &mut self,
        id: String,
        instance_id: Option<String>,
        client_id: String,
        client_host: String,
        rebalance_timeout_ms: i32,
        session_timeout_ms: i32,
        protocol_type: String,
        protocols: Vec<(String, Bytes)>,
        respond: oneshot::Sender<JoinResult>,
        timeouts: &GroupTimeouts,
        now: Instant,
    ) -> Vec<Effect> {
        if self.members.is_empty() {
            self.protocol_type = Some(protocol_type.clone());
        }
        if let Some(i) = &instance_id {
            self.static_members.insert(i.clone(), id.clone());
        }
        if self.leader.is_none() {
            self.leader = Some(id.clone());
        }
        if self.is(GroupState::PreparingRebalance) && self.generation == 0 {
            self.new_member_added = true;
        }
        self.inc_protocols(&protocols);
        self.pending_members.remove(&id);
        self.members.insert(
            id.clone(),
            Member {
                id,
                instance_id,
                client_id,
                client_host,
                rebalance_timeout_ms,
                session_timeout_ms,
                protocol_type,
                protocols,
                assignment: Bytes::new(),
                awaiting_join: Some(respond),
                awaiting_sync: None,
                is_new: true,
                heartbeat_deadline: now + std::time::Duration::from_millis(timeouts.new_member_join_timeout_ms),
            },
        );
        self.rebalance_or_complete_join(timeouts, now)
    }

    /// A known member re-joins with (maybe new) protocols and timeouts.
    pub fn update_member(
        &mut self,
        id: &str,
        protocols: Vec<(String, Bytes)>,
        rebalance_timeout_ms: i32,
        session_timeout_ms: i32,
        respond: Option<oneshot::Sender<JoinResult>>,
    ) {
        let old = match self.members.get(id) {
            Some(m) => m.protocols.clone(),
            None => return,
        };
        self.dec_protocols(&old);
        self.inc_protocols(&protocols);
        let m = self.members.get_mut(id).expect("checked");
        m.protocols = protocols;
        m.rebalance_timeout_ms = rebalance_timeout_ms;
        m.session_timeout_ms = session_timeout_ms;
        if let Some(r) = respond {
            m.awaiting_join = Some(r);
        }
    }

    #[allow(clippy::too_many_arguments)] // the JoinGroup fields, as Kafka passes them
    pub fn update_member_and_rebalance(
        &mut self,
        id: &str,
        protocols: Vec<(String, Bytes)>,
        rebalance_timeout_ms: i32,
        session_timeout_ms: i32,
        respond: oneshot::Sender<JoinResult>,
        timeouts: &GroupTimeouts,
        now: Instant,
    ) -> Vec<Effect> {
        self.update_member(id, protocols, rebalance_timeout_ms, session_timeout_ms, Some(respond));
        self.rebalance_or_complete_join(timeouts, now)
    }

    /// The join response for `member_id` in the current generation.
    pub fn current_join_result(&self, member_id: &str, include_members: bool, skip_assignment: bool) -> JoinResult {
        JoinResult {
            error: None,
            member_id: member_id.to_string(),
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            skip_assignment,
            members: if include_members { self.member_metadata() } else { Vec::new() },
        }
    }

    fn member_metadata(&self) -> Vec<(String, Option<String>, Bytes)> {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        self.members.values().map(|m| (m.id.clone(), m.instance_id.clone(), m.metadata(&protocol))).collect()
    }

    pub fn member_matches(&self, id: &str, protocols: &[(String, Bytes)]) -> bool {
        self.members.get(id).is_some_and(|m| m.matches(protocols))
    }

    /// After a JoinGroup registered a member awaiting its join response:
    /// start a rebalance if the group can, else (PreparingRebalance) this
    /// join may be the last one the phase waits for (Kafka's
    /// `handleJoinGroup` ends with `rebalancePurgatory.checkAndComplete`).
    fn rebalance_or_complete_join(&mut self, timeouts: &GroupTimeouts, now: Instant) -> Vec<Effect> {
        if self.can_rebalance() {
            self.prepare_rebalance(timeouts, now)
        } else {
            self.try_complete_join(timeouts, now)
        }
    }

    pub fn maybe_prepare_rebalance(&mut self, timeouts: &GroupTimeouts, now: Instant) -> Vec<Effect> {
        if self.can_rebalance() {
            self.prepare_rebalance(timeouts, now)
        } else {
            Vec::new()
        }
    }

    /// Kafka's `prepareRebalance`: owed sync responses get
    /// REBALANCE_IN_PROGRESS, and the join phase starts (with the initial
    /// delay for an empty group).
    pub fn prepare_rebalance(&mut self, timeouts: &GroupTimeouts, now: Instant) -> Vec<Effect> {
        if self.is(GroupState::CompletingRebalance) {
            for m in self.members.values_mut() {
                m.assignment = Bytes::new();
            }
            self.propagate_sync_error(GroupError::RebalanceInProgress, now);
        }
        self.pending_sync.clear();
        self.sync_deadline = None;
        let rebalance_ms = self.rebalance_timeout_ms();
        self.join_timer = Some(if self.is(GroupState::Empty) {
            let delay = timeouts.initial_rebalance_delay_ms;
            JoinTimer::Initial {
                deadline: now + std::time::Duration::from_millis(delay),
                delay_ms: delay,
                remaining_ms: rebalance_ms.saturating_sub(delay),
            }
        } else {
            JoinTimer::Delayed { deadline: now + std::time::Duration::from_millis(rebalance_ms) }
        });
        self.transition(GroupState::PreparingRebalance);
        self.try_complete_join(timeouts, now)
    }

    /// Completes the join phase when every member has rejoined (never
    /// during the initial delay).
    pub fn try_complete_join(&mut self, timeouts: &GroupTimeouts, now: Instant) -> Vec<Effect> {
        if !self.is(GroupState::PreparingRebalance) {
            return Vec::new();
        }
        if matches!(self.join_timer, Some(JoinTimer::Initial { .. })) {
            return Vec::new();
        }
        if self.all_members_joined() {
            return self.complete_join(timeouts, now);
        }
        Vec::new()
    }

    /// Kafka's `onCompleteJoin`.
    fn complete_join(&mut self, timeouts: &GroupTimeouts, now: Instant) -> Vec<Effect> {
        self.join_timer = None;
        // Dynamic members that did not rejoin in time are dropped.
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none() && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in gone {
            self.remove_member_raw(&id);
        }
        if !self.maybe_elect_new_joined_leader() && !self.members.is_empty() {
            // Nobody rejoined: wait another rebalance timeout.
            self.join_timer = Some(JoinTimer::Delayed {
                deadline: now + std::time::Duration::from_millis(self.rebalance_timeout_ms()),
            });
            return Vec::new();
        }
        self.generation += 1;
        self.pending_sync.clear();
        if self.members.is_empty() {
            self.protocol_name = None;
            self.transition(GroupState::Empty);
            return vec![Effect::StoreGroup];
        }
        self.protocol_name = self.select_protocol();
        self.transition(GroupState::CompletingRebalance);
        let leader = self.leader.clone().unwrap_or_default();
        let metadata = self.member_metadata();
        let generation = self.generation;
        let (ptype, pname) = (self.protocol_type.clone(), self.protocol_name.clone());
        for m in self.members.values_mut() {
            let is_leader = m.id == leader;
            let result = JoinResult {
                error: None,
                member_id: m.id.clone(),
                generation,
                protocol_type: ptype.clone(),
                protocol_name: pname.clone(),
                leader: leader.clone(),
                skip_assignment: false,
                members: if is_leader { metadata.clone() } else { Vec::new() },
            };
            if let Some(tx) = m.awaiting_join.take() {
                let _ = tx.send(result);
            }
            m.heartbeat_deadline = now + std::time::Duration::from_millis(m.session_timeout_ms.max(0) as u64);
            m.is_new = false;
            self.pending_sync.insert(m.id.clone());
        }
        self.sync_deadline = Some(now + std::time::Duration::from_millis(self.rebalance_timeout_ms()));
        let _ = timeouts;
        Vec::new()
    }

    fn maybe_elect_new_joined_leader(&mut self) -> bool {
        let Some(current) = self.leader.clone() else { return self.members.is_empty() };
        match self.members.get(&current) {
            Some(m) if m.awaiting_join.is_some() => true,
            _ => match self.members.values().find(|m| m.awaiting_join.is_some()) {
                Some(m) => {
                    self.leader = Some(m.id.clone());
                    true
                }
                None => false,
            },
        }
    }

    /// Removes a member without any rebalance side effect.
    fn remove_member_raw(&mut self, id: &str) -> Option<Member> {
        let m = self.members.remove(id)?;
        let protocols = m.protocols.clone();
        self.dec_protocols(&protocols);
        if let Some(i) = &m.instance_id {
            self.static_members.remove(i);
        }
        if self.leader.as_deref() == Some(id) {
            self.leader = self.members.keys().next().cloned();
        }
        self.pending_members.remove(id);
        self.pending_sync.remove(id);
        Some(m)
    }

    /// Kafka's `removeMemberAndUpdateGroup` (leave, expiry).
    pub fn remove_member(&mut self, id: &str, timeouts: &GroupTimeouts, now: Instant) -> Vec<Effect> {
        if let Some(m) = self.members.get_mut(id) {
            if let Some(tx) = m.awaiting_join.take() {
                let _ = tx.send(JoinResult::error("", GroupError::UnknownMemberId));
            }
        }
        self.remove_member_raw(id);
        match self.state {
            GroupState::Dead | GroupState::Empty => Vec::new(),
            GroupState::Stable | GroupState::CompletingRebalance => self.maybe_prepare_rebalance(timeouts, now),
            GroupState::PreparingRebalance => self.try_complete_join(timeouts, now),
        }
    }

    pub fn remove_pending_member(&mut self, id: &str, timeouts: &GroupTimeouts, now: Instant) -> Vec<Effect> {
        self.pending_members.remove(id);
        self.try_complete_join(timeouts, now)
    }

    /// Replaces a static member's id (a restarted static member), fencing
    /// the old id's pending requests with FENCED_INSTANCE_ID.
    pub fn replace_static_member(&mut self, instance_id: &str, old_id: &str, new_id: &str) {
        let Some(mut m) = self.members.remove(old_id) else { return };
        if let Some(tx) = m.awaiting_join.take() {
            let _ = tx.send(JoinResult::error(old_id, GroupError::FencedInstanceId));
        }
        if let Some(tx) = m.awaiting_sync.take() {
            let _ = tx.send(SyncResult::error(GroupError::FencedInstanceId));
        }
        m.id = new_id.to_string();
        self.members.insert(new_id.to_string(), m);
        if self.leader.as_deref() == Some(old_id) {
            self.leader = Some(new_id.to_string());
        }
        if self.pending_sync.remove(old_id) {
            self.pending_sync.insert(new_id.to_string());
        }
        self.static_members.insert(instance_id.to_string(), new_id.to_string());
    }

    /// Records a heartbeat: the member's next deadline is a session away.
    pub fn heartbeat(&mut self, id: &str, now: Instant) {
        if let Some(m) = self.members.get_mut(id) {
            m.heartbeat_deadline = now + std::time::Duration::from_millis(m.session_timeout_ms.max(0) as u64);
        }
    }

    pub fn set_awaiting_sync(&mut self, id: &str, tx: oneshot::Sender<SyncResult>) {
        if let Some(m) = self.members.get_mut(id) {
            m.awaiting_sync = Some(tx);
        }
        self.pending_sync.remove(id);
    }

    pub fn mark_synced(&mut self, id: &str) {
        self.pending_sync.remove(id);
    }

    pub fn member_assignment(&self, id: &str) -> Bytes {
        self.members.get(id).map(|m| m.assignment.clone()).unwrap_or_default()
    }

    /// The leader's assignment is stored: give everyone theirs, go Stable.
    pub fn complete_sync(&mut self, assignment: &HashMap<String, Bytes>, now: Instant) {
        for m in self.members.values_mut() {
            m.assignment = assignment.get(&m.id).cloned().unwrap_or_default();
        }
        let (ptype, pname) = (self.protocol_type.clone(), self.protocol_name.clone());
        for m in self.members.values_mut() {
            if let Some(tx) = m.awaiting_sync.take() {
                let _ = tx.send(SyncResult {
                    error: None,
                    protocol_type: ptype.clone(),
                    protocol_name: pname.clone(),
                    assignment: m.assignment.clone(),
                });
                m.heartbeat_deadline = now + std::time::Duration::from_millis(m.session_timeout_ms.max(0) as u64);
            }
        }
        self.transition(GroupState::Stable);
    }

    /// Storing the assignment failed: owed sync responses get `error`.
    pub fn fail_sync(&mut self, error: GroupError, timeouts: &GroupTimeouts, now: Instant) -> Vec<Effect> {
        for m in self.members.values_mut() {
            m.assignment = Bytes::new();
        }
        self.propagate_sync_error(error, now);
        self.maybe_prepare_rebalance(timeouts, now)
    }

    fn propagate_sync_error(&mut self, error: GroupError, now: Instant) {
        for m in self.members.values_mut() {
            if let Some(tx) = m.awaiting_sync.take() {
                let _ = tx.send(SyncResult::error(error.clone()));
                m.heartbeat_deadline = now + std::time::Duration::from_millis(m.session_timeout_ms.max(0) as u64);
            }
        }
    }

    /// Fails every owed response (coordinator moved, group deleted).
    pub fn mark_dead(&mut self, error: GroupError) {
        for m in self.members.values_mut() {
            if let Some(tx) = m.awaiting_join.take() {
                let _ = tx.send(JoinResult::error(&m.id, error.clone()));
            }
            if let Some(tx) = m.awaiting_sync.take() {
                let _ = tx.send(SyncResult::error(error.clone()));
            }
        }
        self.join_timer = None;
        self.sync_deadline = None;
        self.transition(GroupState::Dead);
    }

    /// Runs every timer that is due: join phase end (and the initial delay's
    /// extensions), members missing the sync deadline, expired sessions and
    /// pending members.
    pub fn tick(&mut self, timeouts: &GroupTimeouts, now: Instant) -> Vec<Effect> {
        let mut effects = Vec::new();
        if self.is(GroupState::Dead) {
            return effects;
        }
        // Pending members that never came back.
        let expired_pending: Vec<String> =
            self.pending_members.iter().filter(|(_, d)| now >= **d).map(|(id, _)| id.clone()).collect();
        for id in expired_pending {
            effects.extend(self.remove_pending_member(&id, timeouts, now));
        }
        // Sessions.
        let expired: Vec<String> = self.members.values().filter(|m| m.expired(now)).map(|m| m.id.clone()).collect();
        for id in expired {
            tracing::info!(group = %self.id, member = %id, "removing member on heartbeat expiration");
            effects.extend(self.remove_member(&id, timeouts, now));
        }
        // Join phase.
        match self.join_timer {
            Some(JoinTimer::Initial { deadline, delay_ms, remaining_ms }) if now >= deadline => {
                if self.new_member_added && remaining_ms != 0 {
                    self.new_member_added = false;
                    let delay = timeouts.initial_rebalance_delay_ms.min(remaining_ms);
                    self.join_timer = Some(JoinTimer::Initial {
                        deadline: now + std::time::Duration::from_millis(delay),
                        delay_ms: delay,
                        remaining_ms: remaining_ms.saturating_sub(delay_ms),
                    });
                } else if self.is(GroupState::PreparingRebalance) {
                    effects.extend(self.complete_join(timeouts, now));
                }
            }
            Some(JoinTimer::Delayed { deadline }) if now >= deadline && self.is(GroupState::PreparingRebalance) => {
                effects.extend(self.complete_join(timeouts, now));
            }
            _ => {}
        }
        // Sync phase: members that never sent SyncGroup are removed.
        if let Some(deadline) = self.sync_deadline {
            if now >= deadline {
                self.sync_deadline = None;
                if matches!(self.state, GroupState::CompletingRebalance | GroupState::Stable)
                    && !self.pending_sync.is_empty()
                {
                    let missing: Vec<String> = self.pending_sync.drain().collect();
                    for id in &missing {
                        self.remove_member_raw(id);
                    }
                    tracing::info!(group = %self.id, members = ?missing, "removing members that did not sync");
                    effects.extend(self.prepare_rebalance(timeouts, now));
                }
            }
        }
        effects
    }

    /// Loads persisted state (a GroupMetadataValue): a Stable group with its
    /// members and assignments, or Empty.
    #[allow(clippy::too_many_arguments)]
    pub fn load(
        &mut self,
        protocol_type: String,
        generation: i32,
        protocol: Option<String>,
        leader: Option<String>,
        state_timestamp: i64,
        members: Vec<LoadedMember>,
        now: Instant,
    ) {
        self.members.clear();
        self.static_members.clear();
        self.supported_protocols.clear();
        self.protocol_type = if protocol_type.is_empty() { None } else { Some(protocol_type) };
        self.generation = generation;
        self.protocol_name = protocol.clone();
        self.leader = leader;
        for lm in members {
            let protocols = vec![(protocol.clone().unwrap_or_default(), lm.subscription)];
            self.inc_protocols(&protocols);
            if let Some(i) = &lm.instance_id {
                self.static_members.insert(i.clone(), lm.member_id.clone());
            }
            self.members.insert(
                lm.member_id.clone(),
                Member {
                    id: lm.member_id,
                    instance_id: lm.instance_id,
                    client_id: lm.client_id,
                    client_host: lm.client_host,
                    rebalance_timeout_ms: lm.rebalance_timeout_ms,
                    session_timeout_ms: lm.session_timeout_ms,
                    protocol_type: self.protocol_type.clone().unwrap_or_default(),
                    protocols,
                    assignment: lm.assignment,
                    awaiting_join: None,
                    awaiting_sync: None,
                    is_new: false,
                    heartbeat_deadline: now + std::time::Duration::from_millis(lm.session_timeout_ms.max(0) as u64),
                },
            );
        }
        self.state = if self.members.is_empty() { GroupState::Empty } else { GroupState::Stable };
        self.state_timestamp = if state_timestamp > 0 { state_timestamp } else { now_wall_ms() };
    }

    /// The state to persist (GroupMetadataValue), with each member's
    /// subscription (its metadata for the chosen protocol) and assignment.
    /// `assignment` overrides members' current assignments (the leader's
    /// proposal, stored before it takes effect).
    pub fn snapshot(&self, assignment: Option<&HashMap<String, Bytes>>) -> GroupSnapshot {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        GroupSnapshot {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol_name.clone(),
            leader: self.leader.clone(),
            state_timestamp: self.state_timestamp,
            members: self
                .members
                .values()
                .map(|m| LoadedMember {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: m.metadata(&protocol),
                    assignment: assignment
                        .map(|a| a.get(&m.id).cloned().unwrap_or_default())
                        .unwrap_or_else(|| m.assignment.clone()),
                })
                .collect(),
        }
    }

    /// Topics the members subscribe to (consumer protocol only), or None
    /// when unknown.
    pub fn subscribed_topics(&self) -> Option<HashSet<String>> {
        if self.protocol_type.as_deref() != Some("consumer") {
            return None;
        }
        let protocol = self.protocol_name.clone()?;
        let mut topics = HashSet::new();
        for m in self.members.values() {
            topics.extend(super::consumer_protocol::subscription_topics(&m.metadata(&protocol))?);
        }
        Some(topics)
    }
}

/// A member as persisted in GroupMetadataValue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSnapshot {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub state_timestamp: i64,
    pub members: Vec<LoadedMember>,
}

#[cfg(test)]
mod tests;
