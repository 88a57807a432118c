//! `PartitionLog` (Kafka's `UnifiedLog`): the segments of one partition,
//! its log start and end offsets, producer state and leader-epoch cache.
//!
//! Produce path: `log_validator` checks the batch and every record in it
//! (before the log lock); [`PartitionLog::append_validated`] checks the
//! producer's sequence, patches base offset and partition leader epoch into
//! a copy of the 61-byte header and writes header + untouched records with
//! one `pwritev`. Fetch path: [`PartitionLog::read_plan`] finds the file
//! range under the lock; [`ReadPlan::read`] reads it without the lock.
//!
//! Invariants: segments are contiguous by base offset;
//! `log_start_offset <= log_end_offset`; `log_end_offset` is the active
//! segment's next offset; `recovery_point <= log_end_offset` and every byte
//! below it has been fsynced.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::watch;
use uuid::Uuid;

use crate::config::LogConfig;
use crate::record::batch::{self, BatchError, BatchHeader, BatchIter, BatchView, HEADER_SIZE};
use crate::record::control::{self, EndTxnMarker};
use crate::record::iter::{self, RecordIter};
use crate::util::clock::now_ms;

use super::checkpoint;
use super::flusher::{FlushJob, Flusher};
use super::leader_epoch_cache::LeaderEpochCache;
use super::log_dir_failure::LogDirFailureChannel;
use super::log_validator::{self, batch_error, ValidatedBatch};
use super::producer_state::{CompletedTxn, ProducerStateManager};
use super::segment::{self, read_at, LogSegment, SegmentConfig};
use super::txn_index::AbortedTxn;
use super::{Result, StorageError, TopicPartition};

/// Control batches larger than this are no transaction marker (a marker
/// batch is under 100 bytes): the recovery scan does not read them whole.
const MAX_CONTROL_BATCH_BYTES: usize = 4096;

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogAppendInfo {
    pub first_offset: i64,
    pub last_offset: i64,
    /// The broker time stamped on the batch, or -1 for CreateTime topics.
    pub log_append_time: i64,
    pub log_start_offset: i64,
    /// A retried idempotent batch: nothing was written.
    pub duplicate: bool,
    pub records_count: i32,
    /// The append reached `flush.messages`: it is durable once the
    /// recovery point passes `last_offset` (a group commit is queued).
    pub awaits_flush: bool,
}

/// A byte range of one segment to serve, found under the log lock and read
/// without it. Reading stops at `max_offset` and at whole batches.
#[derive(Debug)]
pub struct ReadPlan {
    file: Arc<File>,
    position: u64,
    len: usize,
    max_offset: i64,
    /// A read error takes this log directory offline.
    failure: Arc<LogDirFailureChannel>,
    log_dir: Arc<Path>,
    tp: TopicPartition,
}

impl ReadPlan {
    /// Reads the range and trims it to whole batches below `max_offset`.
    pub fn read(self) -> Result<Bytes> {
        let read = read_at(&self.file, self.position, self.len).map_err(|e| StorageError::io("segment read", e));
        let bytes = self.failure.check(&self.log_dir, &format_args!("read of {}", self.tp), read)?;
        let mut keep = 0usize;
        for item in BatchIter::new(&bytes, false) {
            match item {
                Ok((pos, view)) if view.base_offset() < self.max_offset => keep = pos + view.size(),
                _ => break,
            }
        }
        Ok(bytes.slice(..keep))
    }
}

/// Parameters of a fetch read.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    pub max_bytes: usize,
    /// Exclusive upper bound: the high watermark for consumers, the log end
    /// offset for followers.
    pub max_offset: i64,
    /// Return the first batch even if it exceeds `max_bytes` (KIP-74).
    pub min_one_batch: bool,
}

#[derive(Debug)]
pub struct PartitionLog {
    tp: TopicPartition,
    dir: PathBuf,
    config: Arc<LogConfig>,
    segments: BTreeMap<i64, LogSegment>,
    log_start_offset: i64,
    high_watermark: i64,
    recovery_point: Arc<AtomicI64>,
    producer_state: ProducerStateManager,
    leader_epoch_cache: LeaderEpochCache,
    unflushed_messages: i64,
    last_flush_ms: i64,
    roll_jitter_ms: i64,
    flusher: Arc<Flusher>,
    /// Publishes the recovery point as fsyncs complete: producers waiting
    /// on a group commit (`flush.messages`) watch it.
    durable_tx: Arc<watch::Sender<i64>>,
    /// Set by an append that reached `flush.messages` and queued a flush.
    flush_queued: bool,
    /// Bumped by every truncation: the log cleaner, which reads segments
    /// without the lock, checks it before swapping cleaned segments in.
    truncations: u64,
    /// The lowest offset truncated to since the cleaner last asked: its
    /// checkpoint must not stay above it (Kafka's `maybeTruncateCheckpoint`).
    lowest_truncation: Option<i64>,
    /// Where an i/o error on this log is reported: it takes `log_dir`
    /// offline (the log manager hands every log its shared channel).
    failure: Arc<LogDirFailureChannel>,
    /// The log directory holding `dir`.
    log_dir: Arc<Path>,
}

fn segment_config(config: &LogConfig) -> SegmentConfig {
    SegmentConfig {
        index_interval_bytes: config.index_interval_bytes,
        max_index_bytes: config.segment_index_bytes,
        dense_offsets: !config.cleanup_policy.compact,
    }
}

impl PartitionLog {
    /// Creates an empty log in `dir` (which must not hold one).
    pub fn create(
        dir: &Path,
        tp: TopicPartition,
        topic_id: Uuid,
        config: Arc<LogConfig>,
        flusher: Arc<Flusher>,
    ) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| StorageError::io(dir.display().to_string(), e))?;
        checkpoint::write_partition_metadata(dir, topic_id)?;
        Self::load(dir, tp, config, flusher, LoadHints::default())
    }

    /// Loads (and if needed recovers) the log in `dir`.
    pub fn load(
        dir: &Path,
        tp: TopicPartition,
        config: Arc<LogConfig>,
        flusher: Arc<Flusher>,
        hints: LoadHints,
    ) -> Result<Self> {
        let io = |e| StorageError::io(dir.display().to_string(), e);
        // An interrupted cleaner swap is completed or rolled back first.
        let swaps = super::cleaner::swap::recover_leftovers(dir)?;
        if swaps != Default::default() {
            tracing::info!(partition = %tp, ?swaps, "recovered files of an interrupted log cleaning");
        }
        let mut bases = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                // Leftover of an interrupted checkpoint write.
                let _ = std::fs::remove_file(entry.path());
                continue;
            }
            if let Some(stem) = name.strip_suffix(segment::LOG_SUFFIX) {
                if let Ok(base) = stem.parse::<i64>() {
                    bases.push(base);
                }
            }
        }
        bases.sort_unstable();
        let mut seg_cfg = segment_config(&config);
        // Offset gaps are no damage in a log that was ever compacted.
        seg_cfg.dense_offsets &= !hints.offset_gaps_possible;
        let recovery_point = hints.recovery_point.unwrap_or(0);
        let mut segments: BTreeMap<i64, LogSegment> = BTreeMap::new();
        let mut recovered_any = false;
        for (i, &base) in bases.iter().enumerate() {
            let next_base = bases.get(i + 1).copied();
            // Segments wholly below the recovery point were fsynced.
            let needs_recovery = !hints.clean_shutdown && next_base.is_none_or(|nb| nb > recovery_point);
            let (mut seg, truncated) = LogSegment::open(dir, base, &seg_cfg, needs_recovery)?;
            if next_base.is_some() {
                // Not the active segment: its handle joins the capped idle
                // ones now, so loading many segments never holds them all.
                seg.make_idle();
            }
            recovered_any |= needs_recovery;
            // Without offset gaps each segment starts where the one before
            // ends; a hole means a segment file went missing. Refuse to
            // serve a log with records silently gone from its middle.
            if let Some((prev_base, prev)) = segments.iter().next_back() {
                let prev_end = prev.next_offset();
                if seg_cfg.dense_offsets && !prev.is_empty() && prev_end != base {
                    return Err(StorageError::CorruptFile(format!(
                        "{}: segment {base} follows segment {prev_base}, which ends at offset {prev_end}",
                        dir.display()
                    )));
                }
            }
            segments.insert(base, seg);
            if truncated > 0 {
                tracing::warn!(partition = %tp, segment = base, bytes = truncated, "truncated invalid bytes at the end of segment during recovery");
                // Everything after a corrupt point is garbage.
                for &later in &bases[i + 1..] {
                    segment::delete_segment_files(dir, later)?;
                    tracing::warn!(partition = %tp, segment = later, "deleted segment after corruption point");
                }
                break;
            }
        }
        // Drop empty non-active segments whose offsets were never reached
        // (a crash between roll and first write leaves one at the end only).
        let checkpointed_start = hints.log_start_offset.unwrap_or(0);
        if segments.is_empty() {
            let base = checkpointed_start.max(0);
            segments.insert(base, LogSegment::create(dir, base, &seg_cfg)?);
        }
        // The last segment is the active one, even where recovery deleted
        // the ones after it.
        if let Some(last) = segments.values_mut().next_back() {
            last.make_active()?;
        }
        let first_base = *segments.keys().next().expect("non-empty");
        let log_end = segments.values().next_back().expect("non-empty").next_offset();
        let log_start_offset = checkpointed_start.clamp(first_base, log_end);
        let mut log = PartitionLog {
            tp,
            dir: dir.to_path_buf(),
            config,
            segments,
            log_start_offset,
            high_watermark: 0,
            recovery_point: Arc::new(AtomicI64::new(if hints.clean_shutdown || !recovered_any {
                log_end.max(recovery_point.min(log_end))
            } else {
                log_end
            })),
            producer_state: ProducerStateManager::new(dir),
            leader_epoch_cache: LeaderEpochCache::load(dir)?,
            unflushed_messages: 0,
            last_flush_ms: now_ms(),
            roll_jitter_ms: 0,
            flusher,
            durable_tx: Arc::new(watch::channel(0).0),
            flush_queued: false,
            truncations: 0,
            lowest_truncation: None,
            failure: LogDirFailureChannel::new(),
            log_dir: Arc::from(dir.parent().unwrap_or(dir)),
        };
        log.durable_tx.send_replace(log.recovery_point.load(Ordering::Acquire));
        log.high_watermark = hints.high_watermark.unwrap_or(log_end).clamp(log_start_offset, log_end);
        log.leader_epoch_cache.truncate_from_start(log.log_start_offset)?;
        log.leader_epoch_cache.truncate_from_end(log_end)?;
        if log.leader_epoch_cache.take_loaded_corrupt() {
            // The producer-state scan below starts at the newest snapshot;
            // epochs must come from every batch from the log start.
            let mut epochs = Vec::new();
            log.for_each_batch_from(log.log_start_offset, |h, _| {
                epochs.push((h.partition_leader_epoch, h.base_offset))
            })?;
            for (epoch, base) in epochs.into_iter().filter(|&(e, _)| e >= 0) {
                log.leader_epoch_cache.assign_deferred(epoch, base.max(log.log_start_offset));
            }
            log.leader_epoch_cache.persist()?;
        }
        log.rebuild_producer_state()?;
        Ok(log)
    }

    /// Producer state: newest snapshot at or below the log end, then a
    /// header scan of every batch after it (control batches are read
    /// whole: their markers complete transactions). The aborted-transaction
    /// index is trusted below the scan's start and re-derived from it on,
    /// so a crash between a marker's append and its index entry, or a
    /// truncation, leaves no entry missing or stale.
    fn rebuild_producer_state(&mut self) -> Result<()> {
        let end = self.log_end_offset();
        let from =
            self.producer_state.load_latest_snapshot(end)?.unwrap_or(self.log_start_offset).max(self.log_start_offset);
        let start_key = self.segments.range(..=from).next_back().map(|(k, _)| *k).unwrap_or(i64::MIN);
        for seg in self.segments.range_mut(start_key..).map(|(_, s)| s) {
            seg.txn_index.truncate_to(from)?;
        }
        let mut batches = Vec::new();
        self.for_each_batch_from(from, |h, marker| batches.push((*h, marker)))?;
        for (h, marker) in &batches {
            let completed = self.producer_state.update(h, *marker);
            self.index_completed(completed)?;
            if h.partition_leader_epoch >= 0 {
                self.leader_epoch_cache.assign(h.partition_leader_epoch, h.base_offset)?;
            }
        }
        self.producer_state.on_high_watermark(self.high_watermark);
        Ok(())
    }

    /// Records an aborted transaction in the index of the segment holding
    /// its marker.
    fn index_completed(&mut self, completed: Option<CompletedTxn>) -> Result<()> {
        let Some(c) = completed.filter(|c| c.aborted) else {
            return Ok(());
        };
        let Some((_, seg)) = self.segments.range_mut(..=c.last_offset).next_back() else {
            return Ok(());
        };
        seg.txn_index.append(AbortedTxn {
            producer_id: c.producer_id,
            first_offset: c.first_offset,
            last_offset: c.last_offset,
            last_stable_offset: c.last_stable_offset,
        })
    }

    /// Calls `f` with the header of every batch whose last offset >= `from`,
    /// and the transaction marker of each control batch.
    fn for_each_batch_from(&self, from: i64, mut f: impl FnMut(&BatchHeader, Option<EndTxnMarker>)) -> Result<()> {
        let start_key = self.segments.range(..=from).next_back().map(|(k, _)| *k).unwrap_or(i64::MIN);
        for seg in self.segments.range(start_key..).map(|(_, s)| s) {
            let mut pos = match seg.find_batch(from, seg.size())? {
                Some(b) => b.position,
                None => continue,
            };
            while pos < seg.size() {
                let hdr =
                    read_at(&*seg.file()?, pos, HEADER_SIZE).map_err(|e| StorageError::io("producer state scan", e))?;
                let Some(h) = BatchHeader::parse(&hdr) else {
                    break;
                };
                let marker = if h.is_control() && h.size() <= MAX_CONTROL_BATCH_BYTES {
                    let whole = read_at(&*seg.file()?, pos, h.size())
                        .map_err(|e| StorageError::io("producer state scan", e))?;
                    BatchView::parse(&whole).ok().and_then(|v| control::parse_marker(&v))
                } else {
                    None
                };
                f(&h, marker);
                pos += h.size() as u64;
            }
        }
        Ok(())
    }

    /// Reports this log's i/o errors to `channel` (the log manager's).
    pub fn set_failure_channel(&mut self, channel: Arc<LogDirFailureChannel>) {
        self.failure = channel;
    }

    /// The log directory (one of `log.dirs`) holding this partition.
    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// Whether the log directory holding this partition has failed.
    pub fn is_offline(&self) -> bool {
        self.failure.is_offline(&self.log_dir)
    }

    /// The error every operation on this log answers once its directory
    /// failed.
    pub fn offline_error(&self) -> StorageError {
        self.failure.offline_error(&self.log_dir)
    }

    /// Wakes producers waiting for a group commit (`subscribe_durable`) so
    /// they see the directory failed.
    pub fn wake_durable_waiters(&self) {
        self.durable_tx.send_modify(|_| {});
    }

    /// Every operation on a log in a failed directory is refused.
    fn online(&self) -> Result<()> {
        if self.is_offline() {
            return Err(self.failure.offline_error(&self.log_dir));
        }
        Ok(())
    }

    /// An i/o error of `what` on this log takes its directory offline.
    fn guard<T>(&self, what: &str, result: Result<T>) -> Result<T> {
        self.failure.check(&self.log_dir, &format_args!("{what} of {}", self.tp), result)
    }

    pub fn topic_partition(&self) -> &TopicPartition {
        &self.tp
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn config(&self) -> &Arc<LogConfig> {
        &self.config
    }
    pub fn set_config(&mut self, config: Arc<LogConfig>) {
        self.config = config;
    }
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }
    /// A producer's epoch and last sequence here, if this log has seen it:
    /// coordinators that append transactional batches under a client's
    /// producer id (the group coordinator's TxnOffsetCommit records) number
    /// them so they pass the sequence checks.
    pub fn producer_sequence(&self, producer_id: i64) -> Option<(i16, i32)> {
        self.producer_state.entry(producer_id).map(|e| (e.epoch, e.last_seq()))
    }

    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset()
    }
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }
    /// Sets the high watermark, clamped to the log's range.
    pub fn set_high_watermark(&mut self, hw: i64) {
        self.high_watermark = hw.clamp(self.log_start_offset, self.log_end_offset());
        self.producer_state.on_high_watermark(self.high_watermark);
    }
    /// Kafka's `lastStableOffset`: the first offset of the oldest
    /// transaction not yet decided and replicated, capped at the high
    /// watermark (never below the log start offset).
    pub fn last_stable_offset(&self) -> i64 {
        let hw = self.high_watermark;
        self.producer_state.first_unstable_offset().map_or(hw, |f| f.min(hw)).max(self.log_start_offset)
    }
    /// The aborted transactions a read_committed fetch of `[from, upper)`
    /// needs (Kafka's `collectAbortedTxns`): every one whose marker is at
    /// or after `from` and that began below `upper`. Segments are walked
    /// from the one holding `from` until an entry shows that every
    /// transaction begun below `upper` had completed.
    pub fn collect_aborted_transactions(&self, from: i64, upper: i64) -> Vec<AbortedTxn> {
        let start_key = self.segments.range(..=from).next_back().map(|(k, _)| *k).unwrap_or(i64::MIN);
        let mut out = Vec::new();
        for seg in self.segments.range(start_key..).map(|(_, s)| s) {
            for t in seg.txn_index.entries() {
                if t.last_offset >= from && t.first_offset < upper {
                    out.push(*t);
                }
                if t.last_stable_offset >= upper {
                    return out;
                }
            }
        }
        out
    }
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point.load(Ordering::Acquire)
    }
    pub fn size_in_bytes(&self) -> u64 {
        self.segments.values().map(LogSegment::size).sum()
    }
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }
    pub fn segments(&self) -> impl Iterator<Item = &LogSegment> {
        self.segments.values()
    }
    pub fn leader_epoch_cache(&self) -> &LeaderEpochCache {
        &self.leader_epoch_cache
    }
    pub fn producer_state(&self) -> &ProducerStateManager {
        &self.producer_state
    }
    /// The segment starting at `base_offset`, if any.
    pub fn segment(&self, base_offset: i64) -> Option<&LogSegment> {
        self.segments.get(&base_offset)
    }
    /// How many truncations the log has seen since it was loaded.
    pub fn truncation_count(&self) -> u64 {
        self.truncations
    }
    /// The lowest offset the log was truncated to since the last call.
    pub fn take_lowest_truncation(&mut self) -> Option<i64> {
        self.lowest_truncation.take()
    }
    fn note_truncation(&mut self, offset: i64) {
        self.truncations += 1;
        self.lowest_truncation = Some(self.lowest_truncation.map_or(offset, |o| o.min(offset)));
    }
    fn active(&self) -> &LogSegment {
        self.segments.values().next_back().expect("a log always has an active segment")
    }
    fn active_mut(&mut self) -> &mut LogSegment {
        self.segments.values_mut().next_back().expect("a log always has an active segment")
    }

    /// Validates and appends a client's batch as leader at `leader_epoch`.
    pub fn append_as_leader(&mut self, records: &[u8], leader_epoch: i32, now: i64) -> Result<LogAppendInfo> {
        let batch = log_validator::validate_client_batch(records, &self.config, &self.tp, now)?;
        self.append_validated(&batch, leader_epoch, now)
    }

    /// Appends a batch that passed [`log_validator::validate_client_batch`]
    /// (run outside the log lock): checks the producer's sequence, then
    /// writes the validated header, with base offset and partition leader
    /// epoch set, in front of the untouched records.
    pub fn append_validated(
        &mut self,
        batch: &ValidatedBatch<'_>,
        leader_epoch: i32,
        now: i64,
    ) -> Result<LogAppendInfo> {
        self.online()?;
        let r = self.append_validated_unguarded(batch, leader_epoch, now);
        self.guard("append", r)
    }

    fn append_validated_unguarded(
        &mut self,
        batch: &ValidatedBatch<'_>,
        leader_epoch: i32,
        now: i64,
    ) -> Result<LogAppendInfo> {
        self.flush_queued = false;
        let h = &batch.h;
        if let Some(dup) = self.producer_state.check_client_batch(h)? {
            return Ok(LogAppendInfo {
                first_offset: dup.first_offset,
                last_offset: dup.last_offset,
                log_append_time: -1,
                log_start_offset: self.log_start_offset,
                duplicate: true,
                records_count: h.records_count,
                awaits_flush: false,
            });
        }
        let base_offset = self.log_end_offset();
        let mut header = batch.header;
        batch::patch::set_base_offset(&mut header, base_offset);
        batch::patch::set_partition_leader_epoch(&mut header, leader_epoch);
        let size = batch.bytes.len();
        self.maybe_roll(size, base_offset + h.last_offset_delta as i64, batch.max_timestamp(), now)?;
        self.active_mut().append(&header, batch.records())?;
        let final_header = BatchHeader::parse(&header).expect("full header");
        self.after_append(&final_header, leader_epoch, None)?;
        Ok(LogAppendInfo {
            first_offset: base_offset,
            last_offset: final_header.last_offset(),
            log_append_time: batch.log_append_time,
            log_start_offset: self.log_start_offset,
            duplicate: false,
            records_count: h.records_count,
            awaits_flush: std::mem::take(&mut self.flush_queued),
        })
    }

    /// Appends batches the broker built itself (internal topics) with
    /// offsets assigned here; the batches need not be client-valid.
    pub fn append_internal(&mut self, batch_bytes: &[u8], leader_epoch: i32, now: i64) -> Result<LogAppendInfo> {
        self.online()?;
        let r = self.append_internal_unguarded(batch_bytes, leader_epoch, now);
        self.guard("append", r)
    }

    /// Writes a COMMIT or ABORT marker for `producer_id` at `epoch` as
    /// leader (Kafka's `appendAsLeader` with the coordinator as origin):
    /// refused for an older producer epoch (INVALID_PRODUCER_EPOCH) or an
    /// older coordinator epoch (TRANSACTION_COORDINATOR_FENCED); completes
    /// the producer's open transaction here, indexing it if aborted.
    pub fn append_marker(
        &mut self,
        producer_id: i64,
        epoch: i16,
        marker: EndTxnMarker,
        leader_epoch: i32,
        now: i64,
    ) -> Result<LogAppendInfo> {
        self.online()?;
        self.producer_state.check_marker(producer_id, epoch, marker.coordinator_epoch)?;
        let bytes = control::marker_batch(producer_id, epoch, marker, now);
        let r = self.append_built(&bytes, leader_epoch, now, Some(marker));
        self.guard("append a transaction marker", r)
    }

    fn append_internal_unguarded(&mut self, batch_bytes: &[u8], leader_epoch: i32, now: i64) -> Result<LogAppendInfo> {
        self.append_built(batch_bytes, leader_epoch, now, None)
    }

    fn append_built(
        &mut self,
        batch_bytes: &[u8],
        leader_epoch: i32,
        now: i64,
        marker: Option<EndTxnMarker>,
    ) -> Result<LogAppendInfo> {
        self.flush_queued = false;
        let view = BatchView::parse_valid(batch_bytes).map_err(batch_error)?;
        let h = view.header();
        let base_offset = self.log_end_offset();
        let mut header = [0u8; HEADER_SIZE];
        header.copy_from_slice(&batch_bytes[..HEADER_SIZE]);
        batch::patch::set_base_offset(&mut header, base_offset);
        batch::patch::set_partition_leader_epoch(&mut header, leader_epoch);
        self.maybe_roll(batch_bytes.len(), base_offset + h.last_offset_delta as i64, h.max_timestamp, now)?;
        self.active_mut().append(&header, &batch_bytes[HEADER_SIZE..])?;
        let final_header = BatchHeader::parse(&header).expect("full header");
        self.after_append(&final_header, leader_epoch, marker)?;
        Ok(LogAppendInfo {
            first_offset: base_offset,
            last_offset: final_header.last_offset(),
            log_append_time: -1,
            log_start_offset: self.log_start_offset,
            duplicate: false,
            records_count: h.records_count,
            awaits_flush: std::mem::take(&mut self.flush_queued),
        })
    }

    /// Appends what a leader sent a follower: whole batches kept byte for
    /// byte, with the leader's offsets and partition leader epochs (Kafka's
    /// `appendAsFollower`). A trailing partial batch (a fetch cut at its
    /// size limit) is ignored; a batch that fails its CRC stops the append
    /// with an error after the good batches before it are written. Offsets
    /// must continue the log: the first batch may not start below the log
    /// end offset. Returns the number of batches appended, and whether a
    /// group commit was queued (`flush.messages`).
    pub fn append_as_follower(&mut self, records: &[u8], now: i64) -> Result<(usize, bool)> {
        self.online()?;
        let r = self.append_as_follower_unguarded(records, now);
        self.guard("append as follower", r)
    }

    fn append_as_follower_unguarded(&mut self, records: &[u8], now: i64) -> Result<(usize, bool)> {
        self.flush_queued = false;
        let mut appended = 0;
        for item in BatchIter::new(records, true) {
            let view = match item {
                Ok((_, v)) => v,
                Err(BatchError::Truncated { .. }) => break,
                Err(e) => return Err(StorageError::Corrupt(e)),
            };
            let end = self.log_end_offset();
            if view.base_offset() < end || view.last_offset() < view.base_offset() {
                return Err(StorageError::UnexpectedAppendOffset {
                    partition: self.tp.to_string(),
                    first: view.base_offset(),
                    log_end: end,
                });
            }
            let bytes = view.bytes();
            self.maybe_roll(bytes.len(), view.last_offset(), view.max_timestamp(), now)?;
            self.active_mut().append(&bytes[..HEADER_SIZE], &bytes[HEADER_SIZE..])?;
            let h = view.header();
            let marker = if h.is_control() { control::parse_marker(&view) } else { None };
            self.after_append(&h, h.partition_leader_epoch, marker)?;
            appended += 1;
        }
        Ok((appended, std::mem::take(&mut self.flush_queued)))
    }

    /// A new leader records where its epoch starts before it appends
    /// anything (Kafka's `maybeAssignEpochStartOffset` on becoming leader),
    /// so followers and OffsetForLeaderEpoch see the epoch at once.
    pub fn assign_epoch_start_offset(&mut self, leader_epoch: i32) -> Result<()> {
        let end = self.log_end_offset();
        self.leader_epoch_cache.assign_deferred(leader_epoch, end);
        Ok(())
    }

    /// Where `epoch` starts in this log, if the epoch cache has it.
    pub fn epoch_start_offset(&self, epoch: i32) -> Option<i64> {
        self.leader_epoch_cache.entries().iter().find(|(e, _)| *e == epoch).map(|(_, o)| *o)
    }

    /// The latest leader epoch in the log, if any (a follower's
    /// `last_fetched_epoch`).
    pub fn latest_epoch(&self) -> Option<i32> {
        self.leader_epoch_cache.latest_epoch()
    }

    /// Kafka's `endOffsetForEpoch`: the largest epoch <= `epoch` this log
    /// knows and where it ends, or `None` when undefined.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)> {
        match self.leader_epoch_cache.end_offset_for(epoch, self.log_end_offset()) {
            (-1, _) | (_, -1) => None,
            found => Some(found),
        }
    }

    fn after_append(&mut self, h: &BatchHeader, leader_epoch: i32, marker: Option<EndTxnMarker>) -> Result<()> {
        let completed = self.producer_state.update(h, marker);
        self.index_completed(completed)?;
        if leader_epoch >= 0 {
            self.leader_epoch_cache.assign(leader_epoch, h.base_offset)?;
        }
        self.unflushed_messages += h.records_count.max(0) as i64;
        if self.unflushed_messages >= self.config.flush_messages {
            self.queue_flush();
        }
        Ok(())
    }

    /// Group commit: queues an fsync of the active segment on the flusher
    /// instead of running it under the log lock. Appends arriving while an
    /// fsync runs share the next one (the flusher drains its queue before
    /// syncing). The recovery point moves, and waiters wake, when it is
    /// done.
    fn queue_flush(&mut self) {
        let end = self.log_end_offset();
        let (rp, tx, tp) = (self.recovery_point.clone(), self.durable_tx.clone(), self.tp.clone());
        let (failure, log_dir) = (self.failure.clone(), self.log_dir.clone());
        self.flusher.submit(FlushJob {
            files: match self.active().file() {
                Ok(f) => vec![f],
                Err(e) => {
                    self.failure.mark_offline(
                        &self.log_dir,
                        &format!("open the active segment of {} to flush it: {e}", self.tp),
                    );
                    self.durable_tx.send_modify(|_| {});
                    return;
                }
            },
            done: Box::new(move |res| match res {
                Ok(()) => {
                    let now = rp.fetch_max(end, Ordering::AcqRel).max(end);
                    tx.send_if_modified(|v| {
                        let changed = *v < now;
                        *v = (*v).max(now);
                        changed
                    });
                }
                Err(e) => {
                    // Whether the bytes reached the disk is unknown now:
                    // nothing more is acknowledged from this directory.
                    failure.mark_offline(&log_dir, &format!("fsync of {tp}: {e}"));
                    tx.send_modify(|_| {});
                }
            }),
        });
        self.unflushed_messages = 0;
        self.last_flush_ms = now_ms();
        self.flush_queued = true;
    }

    /// The recovery point as fsyncs complete (for group-commit waiters).
    pub fn subscribe_durable(&self) -> watch::Receiver<i64> {
        self.durable_tx.subscribe()
    }

    /// Kafka's `shouldRoll`: size, time, full indexes, or an offset that no
    /// longer fits the segment's 32-bit relative offsets.
    fn maybe_roll(&mut self, batch_size: usize, last_offset: i64, max_timestamp: i64, now: i64) -> Result<()> {
        let cfg = self.config.clone();
        // Kafka's `maxSegmentMs`: a compacted log also rolls within
        // max.compaction.lag.ms, as the active segment is never cleaned.
        let segment_ms = if cfg.cleanup_policy.compact && cfg.max_compaction_lag_ms > 0 {
            cfg.segment_ms.min(cfg.max_compaction_lag_ms)
        } else {
            cfg.segment_ms
        };
        let active = self.active();
        let roll = active.size() + batch_size as u64 > cfg.segment_bytes
            || (active.size() > 0
                && active.time_waited_for_roll(now, max_timestamp) > segment_ms - self.roll_jitter_ms)
            || active.offset_index.is_full()
            || active.time_index.is_full()
            || last_offset - active.base_offset() > i32::MAX as i64;
        if roll {
            self.roll(now)?;
        }
        Ok(())
    }

    /// Starts a new active segment at the log end offset. The old one is
    /// fsynced in the background; the recovery point follows when done.
    pub fn roll(&mut self, now: i64) -> Result<()> {
        self.online()?;
        let r = self.roll_unguarded(now);
        self.guard("roll a new segment", r)
    }

    fn roll_unguarded(&mut self, _now: i64) -> Result<()> {
        let new_base = self.log_end_offset();
        if self.active().is_empty() && self.active().base_offset() == new_base {
            return Ok(());
        }
        self.active_mut().on_become_inactive()?;
        let old_file = self.active().file()?;
        // Its aborted-transaction entries are fsynced with it.
        let old_txn_index = self.active().txn_index.try_clone_file().map(Arc::new);
        self.producer_state.take_snapshot(new_base)?;
        let seg = LogSegment::create(&self.dir, new_base, &segment_config(&self.config))?;
        self.segments.insert(new_base, seg);
        self.roll_jitter_ms = if self.config.segment_jitter_ms > 0 {
            rand::random::<u64>() as i64 % self.config.segment_jitter_ms
        } else {
            0
        };
        let rp = self.recovery_point.clone();
        let tp = self.tp.clone();
        let (failure, log_dir, tx) = (self.failure.clone(), self.log_dir.clone(), self.durable_tx.clone());
        self.flusher.submit(FlushJob {
            files: std::iter::once(old_file).chain(old_txn_index).collect(),
            done: Box::new(move |res| match res {
                Ok(()) => {
                    rp.fetch_max(new_base, Ordering::AcqRel);
                }
                Err(e) => {
                    failure.mark_offline(&log_dir, &format!("fsync of a rolled segment of {tp}: {e}"));
                    tx.send_modify(|_| {});
                }
            }),
        });
        Ok(())
    }

    /// fsyncs the active segment and moves the recovery point to the end.
    pub fn flush(&mut self) -> Result<()> {
        self.online()?;
        let r = self.flush_unguarded();
        self.guard("flush", r)
    }

    fn flush_unguarded(&mut self) -> Result<()> {
        let end = self.log_end_offset();
        for seg in self.segments.values_mut() {
            if seg.has_unflushed() || seg.next_offset() > self.recovery_point.load(Ordering::Acquire) {
                seg.flush()?;
            }
        }
        let now = self.recovery_point.fetch_max(end, Ordering::AcqRel).max(end);
        self.durable_tx.send_if_modified(|v| {
            let changed = *v < now;
            *v = (*v).max(now);
            changed
        });
        self.unflushed_messages = 0;
        self.last_flush_ms = now_ms();
        Ok(())
    }

    /// Flushes if `flush.ms` has passed since the last flush.
    pub fn flush_if_due(&mut self, now: i64) -> Result<()> {
        if self.unflushed_messages > 0 && now - self.last_flush_ms >= self.config.flush_ms {
            self.flush()?;
        }
        Ok(())
    }

    /// Finds the file range to serve for a fetch at `offset`.
    pub fn read_plan(&self, offset: i64, limits: ReadLimits) -> Result<Option<ReadPlan>> {
        self.online()?;
        let r = self.read_plan_unguarded(offset, limits);
        self.guard("read", r)
    }

    fn read_plan_unguarded(&self, offset: i64, limits: ReadLimits) -> Result<Option<ReadPlan>> {
        let end = self.log_end_offset();
        if offset < self.log_start_offset || offset > end {
            return Err(StorageError::OffsetOutOfRange {
                partition: self.tp.to_string(),
                offset,
                log_start: self.log_start_offset,
                log_end: end,
            });
        }
        if offset >= limits.max_offset || offset == end {
            return Ok(None);
        }
        let start_key = self.segments.range(..=offset).next_back().map(|(k, _)| *k).unwrap_or(i64::MIN);
        for seg in self.segments.range(start_key..).map(|(_, s)| s) {
            let limit = seg.size();
            let Some(b) = seg.find_batch(offset, limit)? else {
                continue;
            };
            if b.base_offset >= limits.max_offset {
                return Ok(None);
            }
            let available = (limit - b.position) as usize;
            let mut len = limits.max_bytes.min(available);
            if limits.min_one_batch && len < b.size as usize {
                len = b.size as usize;
            }
            if len == 0 {
                return Ok(None);
            }
            return Ok(Some(ReadPlan {
                file: seg.file()?,
                position: b.position,
                len,
                max_offset: limits.max_offset,
                failure: self.failure.clone(),
                log_dir: self.log_dir.clone(),
                tp: self.tp.clone(),
            }));
        }
        Ok(None)
    }

    /// Kafka's `fetchOffsetByTimestamp`: the first record with a timestamp
    /// >= `timestamp`, as (offset, timestamp, leader epoch of its batch).
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64, i32)>> {
        self.online()?;
        let r = self.offset_for_timestamp_unguarded(timestamp);
        self.guard("timestamp lookup", r)
    }

    fn offset_for_timestamp_unguarded(&self, timestamp: i64) -> Result<Option<(i64, i64, i32)>> {
        for seg in self.segments.values() {
            if seg.max_timestamp() < timestamp {
                continue;
            }
            let Some(b) = seg.find_batch_by_timestamp(timestamp, self.log_start_offset)? else {
                continue;
            };
            let bytes = read_at(&*seg.file()?, b.position, b.size as usize)
                .map_err(|e| StorageError::io("timestamp lookup", e))?;
            let view = BatchView::parse(&bytes).map_err(StorageError::Corrupt)?;
            let epoch = view.partition_leader_epoch();
            let payload = iter::payload_owned(&view)?;
            for r in RecordIter::of(&view, &payload)? {
                let r = r?;
                let (offset, ts) = (r.offset(&view), r.timestamp(&view));
                if ts >= timestamp && offset >= self.log_start_offset {
                    return Ok(Some((offset, ts, epoch)));
                }
            }
        }
        Ok(None)
    }

    /// The largest timestamp in the log and the offset carrying it
    /// (ListOffsets MAX_TIMESTAMP), with that batch's leader epoch.
    pub fn max_timestamp_and_offset(&self) -> Result<Option<(i64, i64, i32)>> {
        self.online()?;
        let r = self.max_timestamp_and_offset_unguarded();
        self.guard("max timestamp lookup", r)
    }

    fn max_timestamp_and_offset_unguarded(&self) -> Result<Option<(i64, i64, i32)>> {
        let mut best: Option<(i64, i64)> = None;
        for seg in self.segments.values() {
            if seg.max_timestamp() >= 0 && best.is_none_or(|(t, _)| seg.max_timestamp() > t) {
                best = Some((seg.max_timestamp(), seg.offset_of_max_timestamp()));
            }
        }
        let Some((ts, batch_last_offset)) = best else {
            return Ok(None);
        };
        // The batch holds it; the record is the first one carrying the
        // batch's max timestamp (KIP-734 answers the record, not the batch).
        let Some((_, seg)) = self.segments.range(..=batch_last_offset).next_back() else {
            return Ok(None);
        };
        let Some(b) = seg.find_batch(batch_last_offset, seg.size())? else {
            return Ok(None);
        };
        let bytes = read_at(&*seg.file()?, b.position, b.size as usize)
            .map_err(|e| StorageError::io("max timestamp lookup", e))?;
        let view = BatchView::parse(&bytes).map_err(StorageError::Corrupt)?;
        let epoch = view.partition_leader_epoch();
        let offset = if view.is_log_append_time() {
            view.base_offset()
        } else {
            let payload = iter::payload_owned(&view)?;
            let mut found = batch_last_offset;
            for r in RecordIter::of(&view, &payload)? {
                let r = r?;
                if r.timestamp(&view) == ts {
                    found = r.offset(&view);
                    break;
                }
            }
            found
        };
        Ok(Some((ts, offset, epoch)))
    }

    /// The partition leader epoch of the batch holding `offset` (-1 if none).
    pub fn epoch_of_offset(&self, offset: i64) -> Result<i32> {
        self.online()?;
        let r = self.epoch_of_offset_unguarded(offset);
        self.guard("epoch lookup", r)
    }

    fn epoch_of_offset_unguarded(&self, offset: i64) -> Result<i32> {
        let Some((_, seg)) = self.segments.range(..=offset).next_back() else {
            return Ok(-1);
        };
        let Some(b) = seg.find_batch(offset, seg.size())? else {
            return Ok(-1);
        };
        let hdr = read_at(&*seg.file()?, b.position, HEADER_SIZE).map_err(|e| StorageError::io("epoch lookup", e))?;
        Ok(BatchHeader::parse(&hdr).map_or(-1, |h| h.partition_leader_epoch))
    }

    /// Writes indexes, fsyncs and snapshots producer state: the clean
    /// shutdown of one log.
    /// Moves the log start offset forward (DeleteRecords, retention) and
    /// drops segments that now lie wholly below it. Never moves backwards,
    /// never beyond the high watermark.
    pub fn increment_log_start_offset(&mut self, offset: i64) -> Result<bool> {
        self.online()?;
        let r = self.increment_log_start_offset_unguarded(offset);
        self.guard("move the log start offset", r)
    }

    fn increment_log_start_offset_unguarded(&mut self, offset: i64) -> Result<bool> {
        let offset = offset.min(self.high_watermark);
        if offset <= self.log_start_offset {
            return Ok(false);
        }
        self.log_start_offset = offset;
        self.leader_epoch_cache.truncate_from_start(offset)?;
        // Segments whose every offset is below the new start go now.
        let doomed: Vec<i64> =
            self.segments.iter().filter(|(_, s)| s.next_offset() <= offset).map(|(b, _)| *b).collect();
        self.remove_segments(&doomed)?;
        Ok(true)
    }

    /// Removes whole segments (oldest first), rolling first if the active
    /// segment is among them so a log always has an active segment.
    fn remove_segments(&mut self, bases: &[i64]) -> Result<()> {
        if bases.is_empty() {
            return Ok(());
        }
        let active_base = self.active().base_offset();
        if bases.contains(&active_base) && !self.active().is_empty() {
            self.roll(now_ms())?;
        }
        for base in bases {
            if *base == self.active().base_offset() {
                continue;
            }
            if let Some(seg) = self.segments.remove(base) {
                seg.delete_files()?;
            }
        }
        let first = self.segments.values().next().expect("active segment remains");
        if first.base_offset() > self.log_start_offset {
            self.log_start_offset = first.base_offset();
            self.leader_epoch_cache.truncate_from_start(self.log_start_offset)?;
        }
        Ok(())
    }

    /// Kafka's `deleteOldSegments` for `cleanup.policy=delete`: whole
    /// segments past `retention.ms` (by their largest timestamp) or beyond
    /// `retention.bytes`, and segments below the log start offset; only
    /// segments wholly below the high watermark; the active one only by
    /// rolling it first. Returns the number of segments deleted.
    pub fn delete_old_segments(&mut self, now: i64) -> Result<usize> {
        self.online()?;
        let r = self.delete_old_segments_unguarded(now);
        self.guard("retention", r)
    }

    fn delete_old_segments_unguarded(&mut self, now: i64) -> Result<usize> {
        let hw = self.high_watermark;
        let cfg = self.config.clone();
        let bases: Vec<i64> = self.segments.keys().copied().collect();
        let mut doomed = Vec::new();
        let mut remaining_size = self.size_in_bytes() as i64;
        for (i, base) in bases.iter().enumerate() {
            let seg = &self.segments[base];
            let is_last = i + 1 == bases.len();
            let upper = if is_last { self.log_end_offset() } else { bases[i + 1] };
            if is_last && seg.is_empty() {
                break;
            }
            if upper > hw {
                break;
            }
            let below_start = upper <= self.log_start_offset;
            let by_time =
                cfg.cleanup_policy.delete && cfg.retention_ms >= 0 && now - seg.largest_timestamp() > cfg.retention_ms;
            let by_size = cfg.cleanup_policy.delete
                && cfg.retention_bytes >= 0
                && remaining_size - seg.size() as i64 >= cfg.retention_bytes;
            if !(below_start || by_time || by_size) {
                break;
            }
            remaining_size -= seg.size() as i64;
            doomed.push(*base);
        }
        let count = doomed.len();
        if count > 0 {
            tracing::info!(partition = %self.tp, segments = count, "deleting segments past retention");
            self.remove_segments(&doomed)?;
        }
        Ok(count)
    }

    /// Removes everything at or after `offset` (a follower whose log
    /// diverged, a Raft log conflict). Segments starting at or after it go;
    /// the one holding it is cut at the batch boundary. Producer state and
    /// the leader-epoch cache follow; the recovery point and high watermark
    /// never stay above the new end.
    pub fn truncate_to(&mut self, offset: i64) -> Result<()> {
        self.online()?;
        let r = self.truncate_to_unguarded(offset);
        self.guard("truncate", r)
    }

    fn truncate_to_unguarded(&mut self, offset: i64) -> Result<()> {
        if offset >= self.log_end_offset() {
            // As Kafka's `UnifiedLog.truncateTo`, the epoch cache is cut at
            // the log end even when no record goes: a broker that became
            // leader and was deposed before appending holds its epoch's
            // start at the log end. Kept, it would be this follower's last
            // fetched epoch, which the new leader never had: the leader
            // answers "diverging" at this same offset on every fetch, and
            // the follower never catches up (nor rejoins the ISR).
            let end = self.log_end_offset();
            return self.leader_epoch_cache.truncate_from_end(end);
        }
        self.note_truncation(offset);
        let first_base = *self.segments.keys().next().expect("active segment");
        if offset <= first_base {
            return self.truncate_fully_and_start_at(offset.max(self.log_start_offset));
        }
        let doomed: Vec<i64> = self.segments.range(offset..).map(|(b, _)| *b).collect();
        for base in doomed {
            if let Some(seg) = self.segments.remove(&base) {
                seg.delete_files()?;
            }
        }
        if let Some(seg) = self.segments.values_mut().next_back() {
            // It may have been rolled before: it is the active one again.
            seg.make_active()?;
            seg.truncate_to(offset)?;
        }
        self.after_truncation(offset)
    }

    /// Deletes every segment and starts an empty log at `offset`.
    pub fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<()> {
        self.online()?;
        let r = self.truncate_fully_and_start_at_unguarded(offset);
        self.guard("truncate", r)
    }

    fn truncate_fully_and_start_at_unguarded(&mut self, offset: i64) -> Result<()> {
        self.note_truncation(offset);
        let all: Vec<i64> = self.segments.keys().copied().collect();
        for base in all {
            if let Some(seg) = self.segments.remove(&base) {
                seg.delete_files()?;
            }
        }
        let seg = LogSegment::create(&self.dir, offset, &segment_config(&self.config))?;
        self.segments.insert(offset, seg);
        self.log_start_offset = offset;
        self.leader_epoch_cache.clear()?;
        self.after_truncation(offset)
    }

    fn after_truncation(&mut self, offset: i64) -> Result<()> {
        let end = self.log_end_offset();
        self.leader_epoch_cache.truncate_from_end(end)?;
        self.recovery_point.fetch_min(end, Ordering::AcqRel);
        if self.high_watermark > end {
            self.high_watermark = end;
        }
        self.producer_state.delete_snapshots_after(offset);
        self.rebuild_producer_state()?;
        self.unflushed_messages = 0;
        Ok(())
    }

    /// Puts the cleaner's segment at `new_base` (its files already renamed
    /// into place by `cleaner::swap::commit`) in place of the segments at
    /// `old` (whose files are gone to `.deleted`). Offsets, producer state,
    /// epochs and the recovery point are untouched: cleaning only drops
    /// records below the high watermark and keeps the rest at their offsets.
    /// Never replaces the active segment.
    /// Pins the handles of the segments at `bases` open (see
    /// `LogSegment::make_active`).
    pub fn pin_segments(&mut self, bases: &[i64]) -> Result<()> {
        self.online()?;
        let r = self.pin_segments_unguarded(bases);
        self.guard("open segments", r)
    }

    fn pin_segments_unguarded(&mut self, bases: &[i64]) -> Result<()> {
        for base in bases {
            if let Some(seg) = self.segments.get_mut(base) {
                seg.make_active()?;
            }
        }
        Ok(())
    }

    pub fn replace_with_cleaned(&mut self, old: &[i64], new_base: i64) -> Result<()> {
        self.online()?;
        let r = self.replace_with_cleaned_unguarded(old, new_base);
        self.guard("swap in a cleaned segment", r)
    }

    fn replace_with_cleaned_unguarded(&mut self, old: &[i64], new_base: i64) -> Result<()> {
        let active = self.active().base_offset();
        debug_assert!(old.iter().all(|b| *b < active) && new_base < active);
        let mut cfg = segment_config(&self.config);
        cfg.dense_offsets = false;
        let (mut seg, _) = LogSegment::open(&self.dir, new_base, &cfg, false)?;
        seg.make_idle();
        // The cleaner keeps abort markers and the data of aborted
        // transactions, so every aborted transaction of the replaced
        // segments still applies: the cleaned segment's index holds them all.
        let mut aborted: Vec<AbortedTxn> = Vec::new();
        for base in old {
            if *base != active {
                if let Some(old_seg) = self.segments.remove(base) {
                    aborted.extend_from_slice(old_seg.txn_index.entries());
                    if *base != new_base {
                        old_seg.txn_index.delete_file()?;
                    }
                }
            }
        }
        aborted.sort_by_key(|t| t.last_offset);
        aborted.dedup_by_key(|t| t.last_offset);
        if aborted.as_slice() != seg.txn_index.entries() {
            seg.txn_index.replace_all(aborted)?;
        }
        self.segments.insert(new_base, seg);
        Ok(())
    }

    pub fn close(&mut self) -> Result<()> {
        self.online()?;
        let r = self.close_unguarded();
        self.guard("close", r)
    }

    fn close_unguarded(&mut self) -> Result<()> {
        self.flush()?;
        let end = self.log_end_offset();
        self.active_mut().on_become_inactive()?;
        // Like Kafka, only when the log moved past the last snapshot: a
        // restart then reads that snapshot and scans nothing. An empty log
        // has nothing to scan either (and 10k idle partitions would cost
        // 10k fsyncs per shutdown).
        if end > self.log_start_offset && self.producer_state.latest_snapshot() != Some(end) {
            self.producer_state.take_snapshot(end)?;
        }
        Ok(())
    }

    /// Removes the whole partition directory.
    pub fn delete(self) -> Result<()> {
        let dir = self.dir.clone();
        drop(self);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError::io(dir.display().to_string(), e)),
        }
    }
}

/// Checkpointed facts that speed up or steer loading.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadHints {
    pub clean_shutdown: bool,
    /// The log may have offset gaps (it has a cleaner checkpoint entry):
    /// recovery must not cut it at a gap, whatever the topic config says.
    pub offset_gaps_possible: bool,
    pub recovery_point: Option<i64>,
    pub log_start_offset: Option<i64>,
    pub high_watermark: Option<i64>,
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod txn_tests;
