//! Committed offsets: Kafka's `OffsetMetadataManager` (commit, fetch,
//! delete, and expiration of the offsets of empty groups).

use std::collections::HashSet;
use std::sync::Arc;

use tokio::time::Instant;

use crate::util::clock::now_ms;

use super::classic::{CommittedOffset, GroupState};
use super::records::{group_record, offset_record};
use super::service::{GroupCoordinator, GroupRef};
use super::shard::Status;
use super::GroupError;

/// OffsetFetch's answer: each (topic, partition) with its committed
/// offset, if any.
pub type FetchedOffsets = Vec<((String, i32), Option<CommittedOffset>)>;

impl GroupCoordinator {
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

    /// Kafka's offset expiry: offsets of empty groups older than
    /// `offsets.retention.minutes` (measured from when a consumer group
    /// became empty, or from the commit for groups without a protocol), and
    /// offsets with an explicit expiry; empty groups left without offsets
    /// are removed.
    pub(super) async fn expire_offsets(self: &Arc<Self>) {
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
