//! The classic group operations: Kafka's `GroupMetadataManager`
//! (`classicGroupJoin`, `classicGroupSync`, `classicGroupHeartbeat`,
//! `classicGroupLeave`, `describeGroups`, `deleteGroups`) over the
//! [`ClassicGroup`] state machine.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::classic::{ClassicGroup, Effect, GroupState, JoinResult, SyncResult};
use super::records::{group_record, offset_record, KeyValue};
use super::service::GroupCoordinator;
use super::GroupError;

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

impl GroupCoordinator {
    pub(super) fn validate_member(
        group: &ClassicGroup,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), GroupError> {
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
                    // Kafka keeps a member's last assignment outside Stable
                    // too (describeNoMetadata); it is emptied when a rebalance
                    // interrupts CompletingRebalance.
                    assignment: m.assignment,
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
}
