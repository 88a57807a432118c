//! One `__consumer_offsets` partition's coordinator state, and its loading
//! by replaying the partition: Kafka's `GroupCoordinatorShard` (the state
//! of one partition) with `GroupMetadataManager`'s and
//! `OffsetMetadataManager`'s replay of records (`CoordinatorLoaderImpl`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::time::Instant;

use crate::record::batch::BatchIter;
use crate::record::records::decode_records;
use crate::storage::partition_log::ReadLimits;
use crate::storage::TopicPartition;

use super::super::record_schemas::{self as schema, GroupRecordKey};
use super::classic::{ClassicGroup, CommittedOffset, LoadedMember, PendingTxnOffsets};

/// A transactional offset commit read back: group, partition, record
/// offset, offset.
type TxnRecord = (String, (String, i32), i64, CommittedOffset);
use super::service::{GroupCoordinator, GroupRef};
use super::txn_offsets::control_result;
use super::GROUP_METADATA_TOPIC;

pub(super) enum Status {
    Loading,
    Loaded,
}

/// A partition this broker leads: its loading status, the leader epoch it
/// was loaded for, and its groups.
pub(super) struct OwnedPartition {
    pub(super) status: Status,
    pub(super) leader_epoch: i32,
    pub(super) groups: HashMap<String, Arc<Mutex<ClassicGroup>>>,
}

impl GroupCoordinator {
    /// Replays a `__consumer_offsets` partition into groups.
    pub(super) async fn load_partition(&self, partition: i32) -> HashMap<String, GroupRef> {
        let tp = TopicPartition::new(GROUP_METADATA_TOPIC, partition);
        let Some(p) = self.replica_manager.get(&tp) else { return HashMap::new() };
        let log = p.log().clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let mut metadata: HashMap<String, Option<schema::GroupMetadataValue>> = HashMap::new();
            let mut offsets: HashMap<String, HashMap<(String, i32), CommittedOffset>> = HashMap::new();
            // Transactional commits by producer: (group, topic, partition,
            // record offset, offset), until their marker.
            let mut txn: HashMap<i64, Vec<TxnRecord>> = HashMap::new();
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
                        // A transaction ended: its offsets commit or vanish.
                        if let (Some(commit), Some(ended)) = (control_result(&view), txn.remove(&view.producer_id())) {
                            for (group, tp, _, o) in ended.into_iter().filter(|_| commit) {
                                offsets.entry(group).or_default().insert(tp, o);
                            }
                        }
                        continue;
                    }
                    let transactional = view.is_transactional().then_some(view.producer_id());
                    let Ok(records) = decode_records(&view) else { continue };
                    for r in records {
                        let Some(key) = r.key.as_deref() else { continue };
                        match schema::decode_key(key) {
                            Ok(GroupRecordKey::OffsetCommit { group, topic, partition }) if transactional.is_some() => {
                                match r.value.as_deref().map(schema::decode_offset_commit_value) {
                                    Some(Ok(v)) => txn.entry(transactional.unwrap_or(-1)).or_default().push((
                                        group,
                                        (topic, partition),
                                        r.offset,
                                        CommittedOffset {
                                            offset: v.offset,
                                            leader_epoch: v.leader_epoch,
                                            metadata: v.metadata,
                                            commit_timestamp: v.commit_timestamp,
                                            expire_timestamp: v.expire_timestamp,
                                        },
                                    )),
                                    _ => {
                                        tracing::warn!("skipping a transactional offset tombstone or undecodable value")
                                    }
                                }
                            }
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
            (metadata, offsets, txn)
        })
        .await;
        let Ok((metadata, mut offsets, txn)) = loaded else { return HashMap::new() };
        // Transactions still open at the log end stay pending.
        let mut pending: HashMap<String, PendingTxnOffsets> = HashMap::new();
        for (producer, entries) in txn {
            for (group, tp, record_offset, o) in entries {
                pending.entry(group).or_default().entry(producer).or_default().insert(tp, (record_offset, o));
            }
        }
        let now = Instant::now();
        let mut groups = HashMap::new();
        let mut ids: HashSet<String> = metadata.iter().filter(|(_, v)| v.is_some()).map(|(k, _)| k.clone()).collect();
        // Offset tombstones leave empty maps behind: a group whose offsets
        // were all deleted (and that has no metadata) is gone, as in Kafka.
        ids.extend(offsets.iter().filter(|(_, o)| !o.is_empty()).map(|(k, _)| k.clone()));
        ids.extend(pending.keys().cloned());
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
            if let Some(p) = pending.remove(&id) {
                g.pending_txn_offsets = p;
            }
            groups.insert(id, Arc::new(Mutex::new(g)));
        }
        groups
    }
}
