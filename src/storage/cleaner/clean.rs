//! One cleaning round of one log (Kafka's `Cleaner.doClean`): build the
//! offset map over the dirty section, then rewrite every segment below the
//! map's end, group by group, each group into one cleaned segment swapped
//! in under the log lock.
//!
//! Only the snapshot's files are read, without the log lock: non-active
//! segments below the high watermark change only by truncation, retention
//! or deletion, and each swap first re-checks, under the lock, that the
//! log was not truncated since the snapshot and that every replaced segment
//! is still there, the same file at the same size. Otherwise the round is
//! abandoned (nothing swapped since, checkpoint unchanged) and retried later
//! from a new snapshot.

use std::fs::File;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use crate::record::batch::{self, BatchView, LOG_OVERHEAD};
use crate::storage::log_manager::SharedLog;
use crate::storage::segment::read_at;
use crate::storage::{Result, StorageError};

use super::filter::{self, FilterContext, FilterStats, Filtered, TxnState};
use super::manager::{group_segments_by_size, LogToClean, SegmentSnapshot};
use super::offset_map::OffsetMap;
use super::swap;
use super::throttler::Throttler;
use super::writer::{delete_cleaned_files, CleanedSegmentWriter};
use super::StopSignal;
use crate::record::iter::{payload_owned, RecordError, RecordIter};

/// How a round ended.
#[derive(Debug)]
pub enum CleanOutcome {
    /// Everything below `end_offset` is clean: the new checkpoint.
    Cleaned { end_offset: i64, stats: CleanerStats },
    /// Stopped early (shutdown, or the log changed under the round).
    Aborted(&'static str),
}

/// Figures of one round, logged like Kafka's cleaner summary.
#[derive(Debug, Default, Clone)]
pub struct CleanerStats {
    pub map_bytes_read: u64,
    pub map_messages_read: u64,
    pub map_entries: usize,
    pub buffer_utilization: f64,
    pub filter: FilterStats,
    pub segments_replaced: usize,
    pub cleaned_segments: usize,
    pub elapsed_map_secs: f64,
    pub elapsed_secs: f64,
}

fn open_snapshot_file(seg: &SegmentSnapshot) -> Result<std::sync::Arc<File>> {
    seg.file.get().map_err(|e| StorageError::io("cleaner open", e))
}

/// Reads whole batches of one segment file sequentially, in chunks.
struct BatchReader<'a> {
    file: &'a File,
    limit: u64,
    pos: u64,
    buf: Bytes,
    buf_start: u64,
    chunk: usize,
}

impl<'a> BatchReader<'a> {
    fn new(file: &'a File, limit: u64, chunk: usize) -> Self {
        BatchReader { file, limit, pos: 0, buf: Bytes::new(), buf_start: 0, chunk: chunk.max(64 * 1024) }
    }

    fn refill(&mut self, want: usize) -> Result<()> {
        let want = want.min((self.limit - self.pos) as usize);
        self.buf = read_at(self.file, self.pos, want).map_err(|e| StorageError::io("cleaner read", e))?;
        self.buf_start = self.pos;
        Ok(())
    }

    /// The next batch (position, bytes), `None` at the limit.
    fn next(&mut self) -> Result<Option<(u64, Bytes)>> {
        if self.pos >= self.limit {
            return Ok(None);
        }
        let corrupt = |what: String| StorageError::CorruptRecords(what);
        let mut at = (self.pos - self.buf_start) as usize;
        if self.pos < self.buf_start || at + LOG_OVERHEAD > self.buf.len() {
            self.refill(self.chunk)?;
            at = 0;
        }
        let size = match batch::peek_batch_size(&self.buf[at..]) {
            Ok(Some(s)) => s,
            Ok(None) => return Err(corrupt(format!("segment ends inside a batch header at {}", self.pos))),
            Err(e) => return Err(StorageError::Corrupt(e)),
        };
        if at + size > self.buf.len() {
            self.refill(size.max(self.chunk))?;
            at = 0;
            if size > self.buf.len() {
                return Err(corrupt(format!("segment ends inside a batch at {}", self.pos)));
            }
        }
        let position = self.pos;
        self.pos += size as u64;
        Ok(Some((position, self.buf.slice(at..at + size))))
    }
}

/// The per-thread cleaning machinery (Kafka's `Cleaner`).
pub struct Cleaner {
    pub(super) map: OffsetMap,
    io_buffer_size: usize,
    throttler: Arc<Throttler>,
    stop: Arc<StopSignal>,
}

impl Cleaner {
    pub fn new(map: OffsetMap, io_buffer_size: usize, throttler: Arc<Throttler>, stop: Arc<StopSignal>) -> Self {
        Cleaner { map, io_buffer_size, throttler, stop }
    }

    pub fn set_io_buffer_size(&mut self, size: usize) {
        self.io_buffer_size = size;
    }

    /// Cleans `ltc` (a snapshot of `log`). `still_live` says whether the
    /// log is still the one the log manager serves (not deleted).
    pub fn clean(
        &mut self,
        ltc: &LogToClean,
        log: &SharedLog,
        still_live: &dyn Fn() -> bool,
        now: i64,
    ) -> Result<CleanOutcome> {
        let started = Instant::now();
        let snap = &ltc.snapshot;
        let mut stats = CleanerStats::default();
        // Open every segment this round may read while the log still has
        // it: one deleted since the snapshot (retention, truncation) means
        // the log changed, not that it cannot be cleaned.
        for seg in snap.segments_in(i64::MIN, ltc.first_uncleanable_offset) {
            match seg.file.get() {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Ok(CleanOutcome::Aborted("segment deleted during cleaning"));
                }
                Err(e) => return Err(StorageError::io("cleaner open", e)),
            }
        }
        if !self.build_offset_map(ltc, &mut stats)? {
            return Ok(CleanOutcome::Aborted("shutdown"));
        }
        stats.elapsed_map_secs = started.elapsed().as_secs_f64();
        stats.map_entries = self.map.len();
        stats.buffer_utilization = self.map.utilization();
        let end_offset = self.map.latest_offset() + 1;
        let to_clean = snap.segments_in(i64::MIN, end_offset);
        let cfg = &snap.config;
        let groups =
            group_segments_by_size(to_clean, cfg.segment_bytes, cfg.segment_index_bytes, ltc.first_uncleanable_offset);
        let ctx = FilterContext {
            map: &self.map,
            now,
            delete_retention_ms: cfg.delete_retention_ms,
            active_producers: &snap.active_producers,
            upper_bound_offset: ltc.first_uncleanable_offset,
        };
        let mut txn = TxnState::default();
        for g in groups {
            let group = &to_clean[g];
            if let Some(reason) = self.clean_segments(ltc, group, &ctx, &mut txn, log, still_live, &mut stats)? {
                return Ok(CleanOutcome::Aborted(reason));
            }
        }
        stats.elapsed_secs = started.elapsed().as_secs_f64();
        Ok(CleanOutcome::Cleaned { end_offset, stats })
    }

    /// Kafka's `buildOffsetMap`: every key of the dirty section
    /// `[first dirty, first uncleanable)` -> its latest offset, until the
    /// map is full. False when stopped.
    fn build_offset_map(&mut self, ltc: &LogToClean, stats: &mut CleanerStats) -> Result<bool> {
        self.map.clear();
        let start = ltc.first_dirty_offset;
        let end = ltc.first_uncleanable_offset;
        let dirty = ltc.snapshot.segments_in(start, end);
        for (i, seg) in dirty.iter().enumerate() {
            let next_start = dirty.get(i + 1).map_or(end, |s| s.base_offset);
            match self.map_segment(seg, start, stats)? {
                None => return Ok(false),
                Some(true) => {
                    tracing::debug!(partition = %ltc.snapshot.tp, segment = seg.base_offset, "offset map full; segment partially mapped");
                    return Ok(true);
                }
                // Offsets without keys up to the next segment are covered too.
                Some(false) => self.map.update_latest_offset(next_start - 1),
            }
        }
        Ok(true)
    }

    /// Adds one segment's keys at or after `start`; `Some(true)` if the map
    /// filled up, `None` if stopped.
    fn map_segment(&mut self, seg: &SegmentSnapshot, start: i64, stats: &mut CleanerStats) -> Result<Option<bool>> {
        let file = open_snapshot_file(seg)?;
        let mut reader = BatchReader::new(&file, seg.size, self.io_buffer_size);
        while let Some((_, bytes)) = reader.next()? {
            if self.stop.is_stopped() {
                return Ok(None);
            }
            self.throttler.maybe_throttle(bytes.len() as u64, &self.stop);
            stats.map_bytes_read += bytes.len() as u64;
            let view = BatchView::parse_valid(&bytes).map_err(StorageError::Corrupt)?;
            if view.last_offset() < start {
                continue;
            }
            if !view.is_control() {
                let corrupt = |e: RecordError| StorageError::CorruptRecords(e.to_string());
                let payload = payload_owned(&view).map_err(corrupt)?;
                for r in RecordIter::of(&view, &payload).map_err(corrupt)? {
                    let r = r.map_err(corrupt)?;
                    stats.map_messages_read += 1;
                    let offset = view.base_offset() + r.offset_delta as i64;
                    if let Some(key) = r.key {
                        if offset >= start && !self.map.put(key, offset) {
                            return Ok(Some(true));
                        }
                    }
                }
            }
            self.map.update_latest_offset(view.last_offset());
        }
        Ok(Some(false))
    }

    /// Kafka's `cleanSegments`: rewrites `group` into one cleaned segment
    /// and swaps it in. `Some(reason)` when the round must stop.
    #[allow(clippy::too_many_arguments)]
    fn clean_segments(
        &self,
        ltc: &LogToClean,
        group: &[SegmentSnapshot],
        ctx: &FilterContext<'_>,
        txn: &mut TxnState,
        log: &SharedLog,
        still_live: &dyn Fn() -> bool,
        stats: &mut CleanerStats,
    ) -> Result<Option<&'static str>> {
        let snap = &ltc.snapshot;
        let dir = &snap.dir;
        let new_base = group[0].base_offset;
        let mut writer = CleanedSegmentWriter::create(
            dir,
            new_base,
            snap.config.index_interval_bytes,
            snap.config.segment_index_bytes,
            self.io_buffer_size,
        )?;
        for seg in group {
            let file = open_snapshot_file(seg)?;
            let mut reader = BatchReader::new(&file, seg.size, self.io_buffer_size);
            while let Some((_, bytes)) = reader.next()? {
                if self.stop.is_stopped() {
                    return Ok(Some("shutdown"));
                }
                self.throttler.maybe_throttle(bytes.len() as u64, &self.stop);
                let view = BatchView::parse_valid(&bytes).map_err(StorageError::Corrupt)?;
                let written = match filter::filter_batch(&view, ctx, txn, &mut stats.filter)
                    .map_err(|e| StorageError::CorruptRecords(e.to_string()))?
                {
                    Filtered::Dropped => 0,
                    Filtered::Original => {
                        writer.append(&bytes)?;
                        bytes.len()
                    }
                    Filtered::Rebuilt(b) => {
                        writer.append(&b)?;
                        b.len()
                    }
                };
                if written > 0 {
                    self.throttler.maybe_throttle(written as u64, &self.stop);
                }
            }
        }
        let modified = group
            .last()
            .and_then(|s| s.file.get().ok())
            .and_then(|f| f.metadata().ok())
            .and_then(|m| m.modified().ok());
        writer.finish(modified)?;

        // Swap, if the log is still what the group was read from.
        if !still_live() {
            delete_cleaned_files(dir, new_base);
            return Ok(Some("log deleted"));
        }
        let old: Vec<i64> = group.iter().map(|s| s.base_offset).collect();
        {
            let mut l = log.lock().expect("log lock");
            let unchanged = l.truncation_count() == snap.truncations
                && group
                    .iter()
                    .all(|g| l.segment(g.base_offset).is_some_and(|s| s.file_id() == g.file_id && s.size() == g.size));
            if !unchanged {
                drop(l);
                delete_cleaned_files(dir, new_base);
                return Ok(Some("log changed during cleaning"));
            }
            // Until the swap is done the old segments must keep reading
            // their own files: pin their handles open, so none is reopened
            // by a path that may by then name the cleaned file (or nothing,
            // if the swap fails half-way).
            l.pin_segments(&old)?;
            swap::commit(dir, new_base, &old)?;
            l.replace_with_cleaned(&old, new_base)?;
        }
        swap::delete_replaced(dir, &old);
        stats.segments_replaced += old.len();
        stats.cleaned_segments += 1;
        tracing::debug!(partition = %snap.tp, segments = ?old, "swapped in cleaned segment {new_base}");
        Ok(None)
    }
}
