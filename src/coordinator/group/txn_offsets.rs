//! Transactional offset commits (TxnOffsetCommit): Kafka's
//! `OffsetMetadataManager` for offsets a transactional producer commits.
//! They are appended to the group's `__consumer_offsets` partition as a
//! transactional batch under the producer's id and epoch, held as pending
//! in the group, and become committed offsets only when the transaction's
//! COMMIT marker lands on that partition (an ABORT drops them); loading
//! replays the same rule from the log (`shard.rs`).
//!
//! The marker is written by the partition's WriteTxnMarkers path, not
//! here; the coordinator learns of it by reading its own partition up to
//! the high watermark, from the oldest pending record, on its timer
//! ([`GroupCoordinator::complete_pending_transactions`]).
//! Invariant: a pending offset is materialised only by a marker of its
//! producer at a higher log offset than its record.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::record::batch::{BatchIter, BatchView};
use crate::record::records::{decode_records, BatchBuilder, Record};
use crate::replica::ReplicaError;
use crate::storage::partition_log::ReadLimits;
use crate::storage::TopicPartition;
use crate::util::clock::now_ms;

use super::classic::{CommittedOffset, GroupState, PendingTxnOffsets};
use super::records::{offset_record, KeyValue};
use super::service::GroupCoordinator;
use super::shard::Status;
use super::{GroupError, GROUP_METADATA_TOPIC};

/// What a control batch says: `Some(true)` COMMIT, `Some(false)` ABORT
/// (Kafka's `ControlRecordType`: key = version int16, type int16).
pub(super) fn control_result(view: &BatchView<'_>) -> Option<bool> {
    let records = decode_records(view).ok()?;
    let key = records.first()?.key.as_deref()?;
    if key.len() < 4 {
        return None;
    }
    match i16::from_be_bytes([key[2], key[3]]) {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    }
}

/// One transactional commit request.
pub struct TxnCommit<'a> {
    pub group_id: &'a str,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub generation: i32,
    pub member_id: &'a str,
    pub instance_id: Option<&'a str>,
}

impl GroupCoordinator {
    /// TxnOffsetCommit: validates the group member as Kafka's
    /// `validateTransactionalOffsetCommit` does (KIP-447: a simple commit
    /// with generation -1 and no member, or the member's current
    /// generation), appends the offsets as the producer's transactional
    /// batch, and holds them until the transaction ends.
    pub async fn txn_commit_offsets(
        self: &Arc<Self>,
        c: TxnCommit<'_>,
        offsets: Vec<((String, i32), CommittedOffset)>,
    ) -> Vec<Result<(), GroupError>> {
        let all = |e: GroupError| vec![Err(e); offsets.len()];
        if let Err(e) = self.validate(c.group_id, true) {
            return all(e);
        }
        let (partition, group) = match self.lookup(c.group_id, c.generation < 0) {
            Err(e) => return all(e),
            Ok(None) => return all(GroupError::IllegalGeneration),
            Ok(Some(x)) => x,
        };
        {
            let g = group.lock().expect("group lock");
            let check = if g.is(GroupState::Dead) {
                Err(GroupError::CoordinatorNotAvailable)
            } else if c.generation < 0 && g.is(GroupState::Empty) {
                Ok(())
            } else if c.generation >= 0 || !c.member_id.is_empty() || c.instance_id.is_some() {
                Self::validate_member(&g, c.member_id, c.instance_id).and_then(|_| {
                    if c.generation != g.generation {
                        Err(GroupError::IllegalGeneration)
                    } else {
                        Ok(())
                    }
                })
            } else {
                Ok(())
            };
            if let Err(e) = check {
                return all(e);
            }
        }
        let mut outcomes: Vec<Result<(), GroupError>> = vec![Ok(()); offsets.len()];
        let mut records = Vec::new();
        for (i, ((topic, p), o)) in offsets.iter().enumerate() {
            if o.metadata.len() > self.config.metadata_max_bytes {
                outcomes[i] = Err(GroupError::OffsetMetadataTooLarge);
                continue;
            }
            match offset_record(c.group_id, topic, *p, Some(o)) {
                Ok(r) => records.push(r),
                Err(_) => outcomes[i] = Err(GroupError::InvalidCommitOffsetSize),
            }
        }
        if records.is_empty() {
            return outcomes;
        }
        match self.append_transactional(partition, c.producer_id, c.producer_epoch, records).await {
            Ok(base_offset) => {
                let mut g = group.lock().expect("group lock");
                let pending = g.pending_txn_offsets.entry(c.producer_id).or_default();
                let mut record_offset = base_offset;
                for (i, ((topic, p), o)) in offsets.into_iter().enumerate() {
                    if outcomes[i].is_ok() {
                        pending.insert((topic, p), (record_offset, o));
                        record_offset += 1;
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

    /// Appends `records` as one transactional batch of the producer and
    /// waits until committed; returns the batch's base offset. Batches are
    /// numbered after the producer's last sequence on the partition (one
    /// at a time, so numbers never race).
    async fn append_transactional(
        &self,
        partition: i32,
        producer_id: i64,
        producer_epoch: i16,
        records: Vec<KeyValue>,
    ) -> Result<i64, ReplicaError> {
        let tp = TopicPartition::new(GROUP_METADATA_TOPIC, partition);
        let p = self.replica_manager.get(&tp).ok_or(ReplicaError::NotLeaderOrFollower)?;
        let info = {
            let _serial = self.txn_append.lock().await;
            let sequence = match p.log().lock().expect("log lock").producer_sequence(producer_id) {
                Some((epoch, last)) if epoch == producer_epoch && last >= 0 => last.wrapping_add(1).max(0),
                _ => 0,
            };
            let now = now_ms();
            let mut b = BatchBuilder::new(0, now).producer(producer_id, producer_epoch, sequence).transactional(true);
            for (k, v) in records {
                b.push(Record::new(Some(k), v, now));
            }
            p.append_records_to_leader(&b.build(), -1, now)?
        };
        let deadline = Instant::now() + Duration::from_millis(self.config.commit_timeout_ms);
        p.wait_for_high_watermark(info.last_offset + 1, deadline).await?;
        Ok(info.first_offset)
    }

    /// Whether the group holds offsets of an open transaction for any of
    /// `partitions` (OffsetFetch with require_stable answers
    /// UNSTABLE_OFFSET_COMMIT then).
    pub fn has_pending_txn_offsets(&self, group_id: &str, partitions: Option<&[(String, i32)]>) -> bool {
        let Ok(Some((_, group))) = self.lookup(group_id, false) else { return false };
        let g = group.lock().expect("group lock");
        g.pending_txn_offsets.values().any(|o| match partitions {
            None => !o.is_empty(),
            Some(ps) => ps.iter().any(|tp| o.contains_key(tp)),
        })
    }

    /// Applies the COMMIT/ABORT markers that reached the partitions'
    /// high watermarks to the pending transactional offsets.
    pub(super) async fn complete_pending_transactions(self: &Arc<Self>) {
        // (partition, oldest pending record offset, producers pending).
        let work: Vec<(i32, i64, HashSet<i64>)> = {
            let parts = self.partitions.lock().expect("coordinator lock");
            parts
                .iter()
                .filter(|(_, p)| matches!(p.status, Status::Loaded))
                .filter_map(|(pid, p)| {
                    let mut from = i64::MAX;
                    let mut producers = HashSet::new();
                    for g in p.groups.values() {
                        let g = g.lock().expect("group lock");
                        for (producer, offsets) in &g.pending_txn_offsets {
                            for (o, _) in offsets.values() {
                                from = from.min(*o);
                                producers.insert(*producer);
                            }
                        }
                    }
                    (!producers.is_empty()).then_some((*pid, from, producers))
                })
                .collect()
        };
        for (partition, from, producers) in work {
            let tp = TopicPartition::new(GROUP_METADATA_TOPIC, partition);
            let Some(p) = self.replica_manager.get(&tp) else { continue };
            let log = p.log().clone();
            let markers = tokio::task::spawn_blocking(move || {
                let mut found: Vec<(i64, i64, bool)> = Vec::new();
                let end = log.lock().expect("log lock").high_watermark();
                let mut offset = from;
                while offset < end {
                    let plan = {
                        let l = log.lock().expect("log lock");
                        l.read_plan(offset, ReadLimits { max_bytes: 1 << 20, max_offset: end, min_one_batch: true })
                    };
                    let Ok(Some(plan)) = plan else { break };
                    let Ok(bytes) = plan.read() else { break };
                    if bytes.is_empty() {
                        break;
                    }
                    for item in BatchIter::new(&bytes, true) {
                        let Ok((_, view)) = item else { break };
                        offset = view.next_offset();
                        if view.is_control() && producers.contains(&view.producer_id()) {
                            if let Some(commit) = control_result(&view) {
                                found.push((view.producer_id(), view.base_offset(), commit));
                            }
                        }
                    }
                }
                found
            })
            .await
            .unwrap_or_default();
            if markers.is_empty() {
                continue;
            }
            let groups: Vec<_> = {
                let parts = self.partitions.lock().expect("coordinator lock");
                parts.get(&partition).map(|p| p.groups.values().cloned().collect()).unwrap_or_default()
            };
            for g in groups {
                let mut guard = g.lock().expect("group lock");
                let g = &mut *guard;
                for (producer, marker_offset, commit) in &markers {
                    apply_marker(&mut g.pending_txn_offsets, &mut g.offsets, *producer, *marker_offset, *commit);
                }
            }
        }
    }
}

/// A producer's marker at `marker_offset`: its pending offsets written
/// before it become committed (COMMIT) or are dropped (ABORT).
pub(super) fn apply_marker(
    pending: &mut PendingTxnOffsets,
    offsets: &mut HashMap<(String, i32), CommittedOffset>,
    producer_id: i64,
    marker_offset: i64,
    commit: bool,
) {
    let Some(mine) = pending.get_mut(&producer_id) else { return };
    let ended: Vec<(String, i32)> =
        mine.iter().filter(|(_, (o, _))| *o < marker_offset).map(|(k, _)| k.clone()).collect();
    for tp in ended {
        if let Some((_, o)) = mine.remove(&tp) {
            if commit {
                offsets.insert(tp, o);
            }
        }
    }
    if mine.is_empty() {
        pending.remove(&producer_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn off(o: i64) -> CommittedOffset {
        CommittedOffset {
            offset: o,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: 0,
            expire_timestamp: -1,
        }
    }

    #[test]
    fn markers_commit_or_drop_only_earlier_records() {
        let mut pending = HashMap::new();
        let mut offsets = HashMap::new();
        pending.insert(7, HashMap::from([(("t".to_string(), 0), (10, off(5))), (("t".to_string(), 1), (20, off(6)))]));
        // A marker of another producer changes nothing.
        apply_marker(&mut pending, &mut offsets, 8, 30, true);
        assert!(offsets.is_empty());
        // A marker at 15 ends only the record at 10.
        apply_marker(&mut pending, &mut offsets, 7, 15, true);
        assert_eq!(offsets.get(&("t".to_string(), 0)).map(|o| o.offset), Some(5));
        assert!(pending[&7].contains_key(&("t".to_string(), 1)));
        apply_marker(&mut pending, &mut offsets, 7, 25, false);
        assert!(!offsets.contains_key(&("t".to_string(), 1)), "aborted offsets are dropped");
        assert!(pending.is_empty());
    }
}
