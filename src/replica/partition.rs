//! One hosted partition: its log, its role (leader or follower) at a
//! leader epoch, the replicas and ISR as the controller last published
//! them, the leader's view of its followers, and a watch that changes
//! whenever the log end offset, high watermark or registration changes
//! (waking delayed fetches and acks=all producers).
//!
//! Invariants: while this broker leads, the high watermark never exceeds
//! the smallest log end offset of the (maximal) ISR, never moves backwards,
//! and only advances while the ISR has at least `min.insync.replicas`
//! members. A follower only appends what its current leader sent it at its
//! current leader epoch.
//!
//! A leader also needs the broker's [`QuorumLease`]: without an answered
//! heartbeat for a session, the controller may already have given the
//! partition to another in-sync replica, so this broker stops accepting
//! writes for it (NOT_LEADER_OR_FOLLOWER) until the lease is renewed or the
//! new metadata arrives. Partitions no other replica could lead (the ISR is
//! this broker alone and unclean election is off) keep taking writes, as
//! the controller would give them back to this broker anyway.
//!
//! Lock order: `state`, then `leader_side`, then the log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::config::LogConfig;
use crate::controller_client::QuorumLease;
use crate::record::control::EndTxnMarker;
use crate::storage::log_manager::SharedLog;
use crate::storage::log_validator;
use crate::storage::partition_log::{LogAppendInfo, PartitionLog, ReadLimits};
use crate::storage::producer_state::ProducerStateEntry;
use crate::storage::txn_index::AbortedTxn;
use crate::storage::{StorageError, TopicPartition};

use super::hop_trace::{self, HopTrace};
use super::isr::{self, PendingIsr, RemoteReplica};
use super::ReplicaError;

/// The offsets a fetch response reports.
/// Invariant: `log_start_offset <= last_stable_offset <= high_watermark
/// <= log_end_offset` (as `PartitionLog` keeps them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogOffsets {
    pub log_start_offset: i64,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_end_offset: i64,
}

impl LogOffsets {
    /// The offsets of `log` now (under its lock).
    pub fn of(log: &PartitionLog) -> Self {
        LogOffsets {
            log_start_offset: log.log_start_offset(),
            high_watermark: log.high_watermark(),
            last_stable_offset: log.last_stable_offset(),
            log_end_offset: log.log_end_offset(),
        }
    }
}

/// The partition's registration as this broker applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

impl PartitionState {
    /// Before the first registration is applied.
    pub fn unassigned() -> Self {
        PartitionState { leader: -1, leader_epoch: -1, partition_epoch: -1, replicas: Vec::new(), isr: Vec::new() }
    }

    /// `min.insync.replicas` as it applies to this partition: never more
    /// than the replication factor (Kafka's effective min ISR), so an RF 1
    /// topic with the broker default of 2 still takes acks=all.
    pub fn effective_min_isr(&self, min_insync_replicas: i32) -> i32 {
        min_insync_replicas.min(self.replicas.len().max(1) as i32)
    }
}

/// The result of a read: bytes as stored, plus the offsets at read time.
#[derive(Debug, Clone)]
pub struct ReadResult {
    pub records: Bytes,
    pub offsets: LogOffsets,
    /// read_committed: the aborted transactions of the batches served.
    pub aborted: Option<Vec<AbortedTxn>>,
}

/// Where a read stops.
#[derive(Debug, Clone, Copy)]
enum ReadUpTo {
    LogEnd,
    HighWatermark,
    LastStableOffset,
}

/// A follower's fetch of this partition, as the leader sees it.
#[derive(Debug, Clone)]
pub struct FollowerFetch {
    pub replica_id: i32,
    pub broker_epoch: i64,
    pub fetch_offset: i64,
    pub log_start_offset: i64,
    pub current_leader_epoch: i32,
    /// The epoch of the follower's last batch (-1: unknown, no check).
    pub last_fetched_epoch: i32,
    pub max_bytes: usize,
    pub min_one_batch: bool,
}

/// What a fetch gets: records, or where the fetcher's log diverged.
#[derive(Debug, Clone)]
pub enum FollowerRead {
    Records(ReadResult),
    /// The follower's log diverges from ours: it must truncate to (at
    /// most) `end_offset` of `epoch` (Fetch v12+ `diverging_epoch`).
    Diverging {
        epoch: i32,
        end_offset: i64,
        offsets: LogOffsets,
    },
}

/// An ISR change for the controller (sent by the replica manager).
#[derive(Debug, Clone)]
pub struct IsrRequest {
    pub tp: TopicPartition,
    pub topic_id: Uuid,
    pub change: PendingIsr,
}

/// The leader's bookkeeping of its followers.
#[derive(Debug, Default)]
struct LeaderSide {
    remotes: HashMap<i32, RemoteReplica>,
    pending: Option<PendingIsr>,
}

pub struct Partition {
    pub tp: TopicPartition,
    pub topic_id: Uuid,
    node_id: i32,
    log: SharedLog,
    state: RwLock<PartitionState>,
    leader_side: Mutex<LeaderSide>,
    offsets: watch::Sender<LogOffsets>,
    isr_requests: mpsc::UnboundedSender<IsrRequest>,
    /// `replica.lag.time.max.ms`.
    lag_max_ms: i64,
    /// `WEIR_HOP_TRACE`'s per-batch latency trace (None: off).
    trace: Option<HopTrace>,
    /// The broker's lease on its registration (see the module doc).
    lease: Arc<QuorumLease>,
}

impl Partition {
    pub fn new(
        tp: TopicPartition,
        topic_id: Uuid,
        node_id: i32,
        log: SharedLog,
        isr_requests: mpsc::UnboundedSender<IsrRequest>,
        lag_max_ms: i64,
        lease: Arc<QuorumLease>,
    ) -> Arc<Self> {
        let offsets = LogOffsets::of(&log.lock().expect("log lock"));
        Arc::new(Partition {
            topic_id,
            node_id,
            log,
            state: RwLock::new(PartitionState::unassigned()),
            leader_side: Mutex::new(LeaderSide::default()),
            offsets: watch::channel(offsets).0,
            isr_requests,
            lag_max_ms,
            lease,
            trace: HopTrace::new(node_id, &tp.to_string()),
            tp,
        })
    }

    pub fn log(&self) -> &SharedLog {
        &self.log
    }

    pub fn state(&self) -> PartitionState {
        self.state.read().expect("partition lock").clone()
    }

    pub fn is_leader(&self) -> bool {
        self.state.read().expect("partition lock").leader == self.node_id
    }

    pub fn leader_epoch(&self) -> i32 {
        self.state.read().expect("partition lock").leader_epoch
    }

    /// Applies a registration in which this broker leads. A new leader
    /// epoch starts a new leadership: the epoch's start offset is recorded
    /// and nothing is assumed about followers. Returns whether it did.
    pub fn make_leader(&self, new: PartitionState, now_ms: i64) -> Result<bool, ReplicaError> {
        let started = {
            let mut st = self.state.write().expect("partition lock");
            let mut side = self.leader_side.lock().expect("leader side lock");
            let started = st.leader != self.node_id || st.leader_epoch != new.leader_epoch;
            if started {
                self.log.lock().expect("log lock").assign_epoch_start_offset(new.leader_epoch)?;
                side.remotes = new
                    .replicas
                    .iter()
                    .filter(|r| **r != self.node_id)
                    .map(|r| (*r, RemoteReplica::new(new.isr.contains(r), now_ms)))
                    .collect();
                side.pending = None;
                *st = new;
            } else if new.partition_epoch >= st.partition_epoch {
                // A committed change (ours or the controller's) supersedes
                // whatever was in flight.
                if new.partition_epoch > st.partition_epoch {
                    side.pending = None;
                }
                side.remotes.retain(|r, _| new.replicas.contains(r));
                for r in new.replicas.iter().filter(|r| **r != self.node_id) {
                    side.remotes.entry(*r).or_insert_with(|| RemoteReplica::new(new.isr.contains(r), now_ms));
                }
                *st = new;
            }
            started
        };
        self.maybe_advance_high_watermark();
        self.offsets.send_modify(|_| {});
        Ok(started)
    }

    /// Applies a registration in which another broker (or nobody) leads.
    /// Returns whether the leader or leader epoch changed.
    pub fn make_follower(&self, new: PartitionState) -> bool {
        let changed = {
            let mut st = self.state.write().expect("partition lock");
            let changed = st.leader != new.leader || st.leader_epoch != new.leader_epoch;
            let mut side = self.leader_side.lock().expect("leader side lock");
            side.remotes.clear();
            side.pending = None;
            *st = new;
            changed
        };
        self.publish_offsets();
        // Waiting acks=all producers see the lost leadership.
        self.offsets.send_modify(|_| {});
        changed
    }

    pub fn offsets(&self) -> LogOffsets {
        *self.offsets.borrow()
    }

    /// A receiver that sees every later offset or registration change.
    pub fn subscribe(&self) -> watch::Receiver<LogOffsets> {
        self.offsets.subscribe()
    }

    /// Whether this broker may act as the leader `st` names: it leads, and
    /// either its lease is held or no other replica could have been elected
    /// meanwhile (an ISR of this broker alone, unclean election off).
    fn may_lead(&self, st: &PartitionState, config: &LogConfig) -> bool {
        if st.leader != self.node_id {
            return false;
        }
        if self.lease.is_held() {
            return true;
        }
        let others_in_isr = st.isr.iter().any(|r| *r != self.node_id);
        let others_electable = config.unclean_leader_election_enable && st.replicas.iter().any(|r| *r != self.node_id);
        !(others_in_isr || others_electable)
    }

    /// Wakes every waiter on this partition's offsets (acks=all produces,
    /// delayed fetches) so it re-checks leadership: the lease lapsed.
    pub fn wake_waiters(&self) {
        self.offsets.send_modify(|_| {});
    }

    /// The log directory holding this partition failed: waiting produces
    /// (acks=all, `flush.messages`) wake and answer KAFKA_STORAGE_ERROR.
    pub fn mark_offline(&self) {
        self.log.lock().expect("log lock").wake_durable_waiters();
        self.offsets.send_modify(|_| {});
    }

    /// The error of a partition whose log directory failed, if it did.
    fn offline_error(log: &PartitionLog) -> Result<(), ReplicaError> {
        if log.is_offline() {
            return Err(ReplicaError::Storage(log.offline_error()));
        }
        Ok(())
    }

    /// Checks a client-supplied leader epoch (-1 means "don't check").
    pub fn check_leader_epoch(&self, requested: i32) -> Result<(), ReplicaError> {
        check_epoch(requested, self.leader_epoch())
    }

    /// Appends a client batch as leader (acks is checked by the caller).
    pub fn append_records_to_leader(
        &self,
        records: &[u8],
        required_acks: i16,
        now: i64,
    ) -> Result<LogAppendInfo, ReplicaError> {
        let check = |st: &PartitionState, log: &PartitionLog| {
            if !self.may_lead(st, log.config()) {
                return Err(ReplicaError::NotLeaderOrFollower);
            }
            let min_isr = st.effective_min_isr(log.config().min_insync_replicas);
            if required_acks == -1 && (st.isr.len() as i32) < min_isr {
                return Err(ReplicaError::NotEnoughReplicas { isr: st.isr.len(), min: min_isr });
            }
            Ok(())
        };
        // Leadership and the ISR are checked first, as Kafka does; every
        // record is then read and checked before the log lock is taken for
        // the append (decompression must not stall fetches and followers),
        // and the checks are repeated under the lock.
        let config = {
            let st = self.state.read().expect("partition lock");
            let log = self.log.lock().expect("log lock");
            check(&st, &log)?;
            log.config().clone()
        };
        let batch = log_validator::validate_client_batch(records, &config, &self.tp, now)?;
        let info = {
            let st = self.state.read().expect("partition lock");
            let mut log = self.log.lock().expect("log lock");
            check(&st, &log)?;
            log.append_validated(&batch, st.leader_epoch, now)?
        };
        if !info.duplicate {
            self.maybe_advance_high_watermark();
        }
        Ok(info)
    }

    /// Writes a transaction marker as leader (WriteTxnMarkers): the same
    /// leadership checks as a produce with acks=all, then
    /// `PartitionLog::append_marker`. The caller waits for the high
    /// watermark to pass `last_offset` before answering.
    pub fn append_marker_as_leader(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        marker: EndTxnMarker,
        now: i64,
    ) -> Result<LogAppendInfo, ReplicaError> {
        let info = {
            let st = self.state.read().expect("partition lock");
            let mut log = self.log.lock().expect("log lock");
            if !self.may_lead(&st, log.config()) {
                return Err(ReplicaError::NotLeaderOrFollower);
            }
            let min_isr = st.effective_min_isr(log.config().min_insync_replicas);
            if (st.isr.len() as i32) < min_isr {
                return Err(ReplicaError::NotEnoughReplicas { isr: st.isr.len(), min: min_isr });
            }
            log.append_marker(producer_id, producer_epoch, marker, st.leader_epoch, now)?
        };
        self.maybe_advance_high_watermark();
        Ok(info)
    }

    /// The producers this replica's producer state knows, by producer id
    /// (DescribeProducers).
    pub fn active_producers(&self) -> Vec<ProducerStateEntry> {
        let log = self.log.lock().expect("log lock");
        let mut v: Vec<ProducerStateEntry> = log.producer_state().producers().values().cloned().collect();
        v.sort_by_key(|e| e.producer_id);
        v
    }

    /// Whether `WEIR_HOP_TRACE` follows this partition's batches.
    pub fn traced(&self) -> bool {
        self.trace.is_some()
    }

    /// Hop trace: a produce request received at `received_ns` and handled
    /// from `started_ns` appended a batch ending at `last_offset`.
    pub fn trace_appended(&self, last_offset: i64, acks: i16, received_ns: u64, started_ns: u64) {
        if let Some(t) = &self.trace {
            t.appended(last_offset, acks, received_ns, started_ns, self.offsets().high_watermark);
        }
    }

    /// Hop trace: the produce response for the batch ending at `last_offset` is ready.
    pub fn trace_responded(&self, last_offset: i64) {
        if let Some(t) = &self.trace {
            t.responded(last_offset);
        }
    }

    /// Recomputes the high watermark. As leader: the smallest log end
    /// offset over the maximal ISR, while that ISR has at least
    /// `min.insync.replicas` members. Then publishes the offsets.
    pub fn maybe_advance_high_watermark(&self) {
        {
            let st = self.state.read().expect("partition lock");
            if st.leader == self.node_id {
                let side = self.leader_side.lock().expect("leader side lock");
                let members = isr::maximal_isr(&st.isr, side.pending.as_ref());
                let mut log = self.log.lock().expect("log lock");
                let enough = members.len() as i32 >= st.effective_min_isr(log.config().min_insync_replicas);
                let leo = log.log_end_offset();
                if let (true, Some(hw)) = (enough, isr::isr_high_watermark(self.node_id, &members, leo, &side.remotes))
                {
                    if hw > log.high_watermark() {
                        log.set_high_watermark(hw);
                        if let Some(t) = &self.trace {
                            t.high_watermark(hw);
                        }
                    }
                }
            }
        }
        self.publish_offsets();
    }

    fn publish_offsets(&self) {
        let offsets = LogOffsets::of(&self.log.lock().expect("log lock"));
        self.offsets.send_if_modified(|cur| {
            if *cur != offsets {
                *cur = offsets;
                true
            } else {
                false
            }
        });
    }

    /// Waits until the high watermark reaches `required` (acks=all), or
    /// the deadline passes, or leadership is lost, or the ISR shrinks below
    /// `min.insync.replicas` (NOT_ENOUGH_REPLICAS_AFTER_APPEND).
    pub async fn wait_for_high_watermark(
        &self,
        required: i64,
        deadline: tokio::time::Instant,
    ) -> Result<(), ReplicaError> {
        let mut rx = self.subscribe();
        loop {
            if rx.borrow_and_update().high_watermark >= required {
                return Ok(());
            }
            {
                let st = self.state.read().expect("partition lock");
                let config = {
                    let log = self.log.lock().expect("log lock");
                    // Not acknowledged: this replica's copy may be gone.
                    Self::offline_error(&log)?;
                    log.config().clone()
                };
                // A lapsed lease answers NOT_LEADER_OR_FOLLOWER at once: the
                // record cannot commit here if another replica leads now, and
                // the client moves on instead of timing out.
                if !self.may_lead(&st, &config) {
                    return Err(ReplicaError::NotLeaderOrFollower);
                }
                let min_isr = st.effective_min_isr(config.min_insync_replicas);
                if (st.isr.len() as i32) < min_isr {
                    return Err(ReplicaError::NotEnoughReplicasAfterAppend);
                }
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) => return Err(ReplicaError::NotLeaderOrFollower),
                Err(_) => return Err(ReplicaError::RequestTimedOut),
            }
        }
    }

    /// DeleteRecords on the leader: `offset` -1 means the high watermark.
    /// Returns the new log start offset (the low watermark).
    pub fn delete_records(&self, offset: i64) -> Result<i64, ReplicaError> {
        if !self.is_leader() {
            return Err(ReplicaError::NotLeaderOrFollower);
        }
        let low = {
            let mut log = self.log.lock().expect("log lock");
            let hw = log.high_watermark();
            let target = if offset == -1 { hw } else { offset };
            if target < 0 || target > hw {
                return Err(ReplicaError::Storage(StorageError::OffsetOutOfRange {
                    partition: self.tp.to_string(),
                    offset,
                    log_start: log.log_start_offset(),
                    log_end: hw,
                }));
            }
            log.increment_log_start_offset(target)?;
            log.log_start_offset()
        };
        self.maybe_advance_high_watermark();
        Ok(low)
    }

    /// Reads from `offset` up to the high watermark (consumers), or up to
    /// the last stable offset with the aborted transactions of the range
    /// served (`read_committed`), with the log lock held only to locate the
    /// bytes.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        read_committed: bool,
    ) -> Result<ReadResult, ReplicaError> {
        let limit = if read_committed { ReadUpTo::LastStableOffset } else { ReadUpTo::HighWatermark };
        let mut read = self.read_up_to(offset, max_bytes, min_one_batch, limit)?;
        if read_committed {
            // Kafka's `collectAbortedTxns` for exactly the batches served.
            read.aborted = Some(match hop_trace::end_offset(&read.records) {
                Some(end) => self.log.lock().expect("log lock").collect_aborted_transactions(offset, end),
                None => Vec::new(),
            });
        }
        if let Some(end) = self.trace.as_ref().and_then(|_| hop_trace::end_offset(&read.records)) {
            self.trace.as_ref().expect("checked").consumed(end);
        }
        Ok(read)
    }

    fn read_up_to(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        up_to: ReadUpTo,
    ) -> Result<ReadResult, ReplicaError> {
        let (plan, offsets) = {
            let log = self.log.lock().expect("log lock");
            let offsets = LogOffsets::of(&log);
            let max_offset = match up_to {
                ReadUpTo::LogEnd => offsets.log_end_offset,
                ReadUpTo::HighWatermark => offsets.high_watermark,
                ReadUpTo::LastStableOffset => offsets.last_stable_offset,
            };
            let plan = log.read_plan(offset, ReadLimits { max_bytes, max_offset, min_one_batch })?;
            (plan, offsets)
        };
        let records = match plan {
            Some(p) => p.read()?,
            None => Bytes::new(),
        };
        Ok(ReadResult { records, offsets, aborted: None })
    }

    /// A follower's fetch: checks it is a replica fetching at our leader
    /// epoch, answers a diverging epoch if its last fetched epoch does not
    /// end where it fetches from, else reads up to the log end offset and
    /// records its position (which may grow the ISR and move the high
    /// watermark).
    pub fn read_for_follower(&self, f: &FollowerFetch, now_ms: i64) -> Result<FollowerRead, ReplicaError> {
        {
            let st = self.state.read().expect("partition lock");
            if st.leader != self.node_id {
                return Err(ReplicaError::NotLeaderOrFollower);
            }
            check_epoch(f.current_leader_epoch, st.leader_epoch)?;
            if !st.replicas.contains(&f.replica_id) || f.replica_id == self.node_id {
                // As Kafka: with a leader epoch the follower is told to
                // retry (the assignment may be catching up), else refused.
                return Err(if f.current_leader_epoch >= 0 {
                    ReplicaError::UnknownLeaderEpoch { request: f.current_leader_epoch, current: st.leader_epoch }
                } else {
                    ReplicaError::NotLeaderOrFollower
                });
            }
        }
        if let Some(diverging) = self.diverging_epoch(f.last_fetched_epoch, f.fetch_offset) {
            return Ok(diverging);
        }
        let read = self.read_up_to(f.fetch_offset, f.max_bytes, f.min_one_batch, ReadUpTo::LogEnd)?;
        if let Some(t) = &self.trace {
            let end = hop_trace::end_offset(&read.records).unwrap_or(f.fetch_offset);
            t.follower_fetch(f.replica_id, f.fetch_offset, end);
        }
        self.update_follower_fetch_state(f, read.offsets.log_end_offset, now_ms);
        Ok(FollowerRead::Records(read))
    }

    /// Kafka's check of a fetch's `last_fetched_epoch` (v12+, followers
    /// and consumers alike): if our log does not have that epoch ending at
    /// or after the fetch offset, the fetcher's log diverged from ours and
    /// it is told where the epoch ends here.
    pub fn diverging_epoch(&self, last_fetched_epoch: i32, fetch_offset: i64) -> Option<FollowerRead> {
        if last_fetched_epoch < 0 {
            return None;
        }
        let log = self.log.lock().expect("log lock");
        let (epoch, end_offset) = log.end_offset_for_epoch(last_fetched_epoch).unwrap_or((-1, -1));
        if epoch < last_fetched_epoch || end_offset < fetch_offset {
            let offsets = LogOffsets::of(&log);
            return Some(FollowerRead::Diverging { epoch, end_offset, offsets });
        }
        None
    }

    fn update_follower_fetch_state(&self, f: &FollowerFetch, leader_leo: i64, now_ms: i64) {
        let request = {
            let st = self.state.read().expect("partition lock");
            if st.leader != self.node_id {
                return;
            }
            let mut side = self.leader_side.lock().expect("leader side lock");
            let Some(remote) = side.remotes.get_mut(&f.replica_id) else { return };
            remote.on_fetch(f.fetch_offset, f.log_start_offset, f.broker_epoch, now_ms, leader_leo);
            let follower_leo = remote.log_end_offset;
            let in_isr = isr::maximal_isr(&st.isr, side.pending.as_ref()).contains(&f.replica_id);
            if in_isr || side.pending.is_some() {
                None
            } else {
                let (hw, epoch_start) = {
                    let log = self.log.lock().expect("log lock");
                    (log.high_watermark(), log.epoch_start_offset(st.leader_epoch))
                };
                if isr::may_join_isr(follower_leo, hw, epoch_start) {
                    let mut new_isr = st.isr.clone();
                    new_isr.push(f.replica_id);
                    let change =
                        PendingIsr { new_isr, leader_epoch: st.leader_epoch, partition_epoch: st.partition_epoch };
                    side.pending = Some(change.clone());
                    tracing::info!(partition = %self.tp, replica = f.replica_id, isr = ?change.new_isr, "expanding ISR");
                    Some(change)
                } else {
                    None
                }
            }
        };
        if let Some(change) = request {
            self.send_isr_request(change);
        }
        self.maybe_advance_high_watermark();
    }

    /// KIP-392's `RackAwareReplicaSelector` on the leader: the replica a
    /// consumer in `client_rack` should fetch `fetch_offset` from, if not
    /// this leader. Candidates are the ISR followers holding that offset;
    /// in the client's rack the leader wins, else the most caught-up one.
    pub fn preferred_read_replica(
        &self,
        client_rack: &str,
        fetch_offset: i64,
        rack_of: impl Fn(i32) -> Option<String>,
    ) -> Option<i32> {
        if client_rack.is_empty() {
            return None;
        }
        let st = self.state.read().expect("partition lock");
        if st.leader != self.node_id || rack_of(self.node_id).as_deref() == Some(client_rack) {
            return None;
        }
        let side = self.leader_side.lock().expect("leader side lock");
        let now = crate::util::clock::now_ms();
        st.isr
            .iter()
            .filter(|r| **r != self.node_id)
            .filter_map(|r| side.remotes.get(r).map(|s| (*r, s)))
            .filter(|(_, s)| s.log_end_offset >= fetch_offset && s.log_start_offset <= fetch_offset)
            .filter(|(r, _)| rack_of(*r).as_deref() == Some(client_rack))
            // Most caught up: largest log end, then most recently caught up.
            .max_by_key(|(_, s)| (s.log_end_offset, -(now - s.last_caught_up_ms)))
            .map(|(r, _)| r)
    }

    /// Removes followers that have not caught up within
    /// `replica.lag.time.max.ms` from the ISR (Kafka's `maybeShrinkIsr`).
    pub fn maybe_shrink_isr(&self, now_ms: i64) {
        let request = {
            let st = self.state.read().expect("partition lock");
            if st.leader != self.node_id {
                return;
            }
            let mut side = self.leader_side.lock().expect("leader side lock");
            if side.pending.is_some() {
                return;
            }
            let leo = self.log.lock().expect("log lock").log_end_offset();
            let lagging = isr::out_of_sync(self.node_id, &st.isr, leo, &side.remotes, now_ms, self.lag_max_ms);
            if lagging.is_empty() {
                return;
            }
            let new_isr: Vec<i32> = st.isr.iter().copied().filter(|r| !lagging.contains(r)).collect();
            tracing::info!(partition = %self.tp, out_of_sync = ?lagging, isr = ?new_isr, "shrinking ISR");
            let change = PendingIsr { new_isr, leader_epoch: st.leader_epoch, partition_epoch: st.partition_epoch };
            side.pending = Some(change.clone());
            change
        };
        self.send_isr_request(request);
    }

    fn send_isr_request(&self, change: PendingIsr) {
        let req = IsrRequest { tp: self.tp.clone(), topic_id: self.topic_id, change };
        if self.isr_requests.send(req).is_err() {
            // The sender is gone (shutting down): nothing is in flight.
            self.leader_side.lock().expect("leader side lock").pending = None;
        }
    }

    /// The controller's answer to an ISR change this partition sent:
    /// the committed (leader epoch, partition epoch, ISR), or an error.
    pub fn on_isr_response(&self, sent: &PendingIsr, result: Result<(i32, i32, Vec<i32>), i16>) {
        {
            let mut st = self.state.write().expect("partition lock");
            let mut side = self.leader_side.lock().expect("leader side lock");
            if side.pending.as_ref() != Some(sent) {
                return; // superseded by a newer registration
            }
            side.pending = None;
            match result {
                Ok((leader_epoch, partition_epoch, isr))
                    if st.leader == self.node_id
                        && leader_epoch == st.leader_epoch
                        && partition_epoch > st.partition_epoch =>
                {
                    tracing::info!(partition = %self.tp, ?isr, partition_epoch, "ISR updated");
                    st.isr = isr;
                    st.partition_epoch = partition_epoch;
                }
                Ok(_) => {}
                Err(code) => {
                    tracing::warn!(partition = %self.tp, code, isr = ?sent.new_isr, "ISR change refused");
                }
            }
        }
        self.maybe_advance_high_watermark();
        self.offsets.send_modify(|_| {});
    }

    // ---------------------------------------------------------------
    // Follower side
    // ---------------------------------------------------------------

    /// Checks, under the caller's state guard, that this broker still
    /// follows `leader` at `leader_epoch`.
    fn check_following(&self, st: &PartitionState, leader: i32, leader_epoch: i32) -> Result<(), ReplicaError> {
        if st.leader != leader || st.leader_epoch != leader_epoch || leader == self.node_id {
            return Err(ReplicaError::NotLeaderOrFollower);
        }
        Ok(())
    }

    /// Where a follower of `leader` at `leader_epoch` fetches from: (log
    /// end offset, epoch of its last batch or -1, log start offset).
    pub fn fetch_position(&self, leader: i32, leader_epoch: i32) -> Result<(i64, i32, i64), ReplicaError> {
        let st = self.state.read().expect("partition lock");
        self.check_following(&st, leader, leader_epoch)?;
        let log = self.log.lock().expect("log lock");
        Ok((log.log_end_offset(), log.latest_epoch().unwrap_or(-1), log.log_start_offset()))
    }

    /// Appends what the leader sent and adopts its high watermark (capped
    /// at our log end) and log start offset. Returns the new log end offset
    /// and whether the append queued a group commit to wait for.
    pub fn append_as_follower(
        &self,
        leader: i32,
        leader_epoch: i32,
        records: &[u8],
        leader_hw: i64,
        leader_log_start: i64,
        now_ms: i64,
    ) -> Result<(i64, bool), ReplicaError> {
        let result = {
            let st = self.state.read().expect("partition lock");
            self.check_following(&st, leader, leader_epoch)?;
            let mut log = self.log.lock().expect("log lock");
            let appended = if records.is_empty() { Ok((0, false)) } else { log.append_as_follower(records, now_ms) };
            let leo = log.log_end_offset();
            let hw = leader_hw.min(leo);
            if hw >= log.log_start_offset() && hw != log.high_watermark() {
                log.set_high_watermark(hw);
            }
            if leader_log_start > log.log_start_offset() && leader_log_start <= log.high_watermark() {
                log.increment_log_start_offset(leader_log_start)?;
            }
            appended.map(|(_, awaits_flush)| (leo, awaits_flush))
        };
        self.publish_offsets();
        Ok(result?)
    }

    /// Waits until everything below `offset` is on disk (a group commit
    /// queued by an append that reached `flush.messages`).
    pub async fn wait_durable(&self, offset: i64, deadline: tokio::time::Instant) -> Result<(), ReplicaError> {
        let mut rx = self.log.lock().expect("log lock").subscribe_durable();
        loop {
            if *rx.borrow_and_update() >= offset {
                return Ok(());
            }
            // A failed fsync leaves the recovery point behind for good.
            Self::offline_error(&self.log.lock().expect("log lock"))?;
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) => return Err(ReplicaError::NotLeaderOrFollower),
                Err(_) => return Err(ReplicaError::RequestTimedOut),
            }
        }
    }

    /// Where this follower must truncate to after the leader reported its
    /// log diverging at (`epoch`, `end_offset`) (Kafka's
    /// `getOffsetTruncationState`).
    pub fn divergence_truncation_offset(&self, epoch: i32, end_offset: i64) -> i64 {
        let log = self.log.lock().expect("log lock");
        let leo = log.log_end_offset();
        if end_offset < 0 {
            return log.high_watermark().min(leo);
        }
        if epoch < 0 {
            return end_offset.min(leo);
        }
        match log.end_offset_for_epoch(epoch) {
            Some((local_epoch, local_end)) if local_epoch == epoch => local_end.min(end_offset).min(leo),
            // We never had the leader's epoch: everything after our largest
            // earlier epoch's end is suspect.
            Some((_, local_end)) => local_end.min(leo),
            None => end_offset.min(leo),
        }
    }

    /// Truncates this follower's log to `offset` (diverged or ahead of an
    /// unclean leader).
    pub fn truncate_as_follower(&self, leader: i32, leader_epoch: i32, offset: i64) -> Result<(), ReplicaError> {
        {
            let st = self.state.read().expect("partition lock");
            self.check_following(&st, leader, leader_epoch)?;
            let mut log = self.log.lock().expect("log lock");
            if offset < log.log_end_offset() {
                tracing::info!(partition = %self.tp, from = log.log_end_offset(), to = offset, "truncating follower log");
            }
            // Also at the log end: an epoch this broker began as leader
            // without appending must go (see `PartitionLog::truncate_to`).
            log.truncate_to(offset)?;
        }
        self.publish_offsets();
        Ok(())
    }

    /// Empties this follower's log and restarts it at the leader's log
    /// start offset (it fell behind the leader's retention).
    pub fn restart_as_follower_at(&self, leader: i32, leader_epoch: i32, offset: i64) -> Result<(), ReplicaError> {
        {
            let st = self.state.read().expect("partition lock");
            self.check_following(&st, leader, leader_epoch)?;
            let mut log = self.log.lock().expect("log lock");
            tracing::info!(partition = %self.tp, from = log.log_end_offset(), start = offset, "restarting follower log at the leader's start");
            log.truncate_fully_and_start_at(offset)?;
        }
        self.publish_offsets();
        Ok(())
    }
}

fn check_epoch(requested: i32, current: i32) -> Result<(), ReplicaError> {
    if requested < 0 {
        return Ok(());
    }
    if requested < current {
        Err(ReplicaError::FencedLeaderEpoch { request: requested, current })
    } else if requested > current {
        Err(ReplicaError::UnknownLeaderEpoch { request: requested, current })
    } else {
        Ok(())
    }
}
