//! Which log to clean and how much of it (Kafka's `LogCleanerManager` and
//! `LogToClean`), computed from a [`LogSnapshot`] copied under the log lock
//! so that nothing here holds it.
//!
//! A compacted log is split at two offsets. Below the *first dirty offset*
//! (the cleaner checkpoint) the log is clean; from the *first uncleanable
//! offset* on it may not be cleaned yet: the active segment, anything at or
//! above the high watermark (Kafka's last stable offset, which is the high
//! watermark without open transactions), and segments younger than
//! `min.compaction.lag.ms`. It is rounded down to a segment base, so only
//! whole segments are cleaned. The *dirty ratio* is the bytes in between
//! over the bytes below the first uncleanable offset; the log is cleanable
//! when the ratio exceeds `min.cleanable.dirty.ratio`, or when dirty data is
//! older than `max.compaction.lag.ms`.

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use crate::config::LogConfig;
use crate::record::batch::{BatchHeader, HEADER_SIZE};
use crate::storage::index::{OFFSET_ENTRY_SIZE, TIME_ENTRY_SIZE};
use crate::storage::partition_log::PartitionLog;
use crate::storage::segment::read_at;
use crate::storage::segment::LogSegment;
use crate::storage::TopicPartition;

/// One segment as the cleaner saw it.
#[derive(Debug, Clone)]
pub struct SegmentSnapshot {
    pub base_offset: i64,
    pub size: u64,
    pub next_offset: i64,
    /// Largest record timestamp, or the file's modification time if none.
    pub largest_timestamp: i64,
    pub offset_index_bytes: u64,
    pub time_index_bytes: u64,
    pub file: SnapshotFile,
    /// Which file this was (`LogSegment::file_id`): the swap checks the
    /// segment was not replaced meanwhile.
    pub file_id: u64,
}

/// A segment's file as a snapshot refers to it, opened by path only when
/// the cleaner reads it: every pass snapshots every compacted log, and
/// opening all their segments each time would churn the process's capped
/// idle handles (`segment_file`). Opening outside the log's lock is safe:
/// only the cleaner itself renames segment files in place, a deleted one
/// fails to open, and the swap checks under the lock that each segment is
/// still the same file (`file_id`) at the same size.
#[derive(Debug, Clone)]
pub struct SnapshotFile {
    path: PathBuf,
    file: Arc<OnceLock<Arc<File>>>,
}

impl SnapshotFile {
    pub fn at(path: PathBuf) -> Self {
        SnapshotFile { path, file: Arc::new(OnceLock::new()) }
    }

    /// Wraps an already open file (tests).
    #[cfg(test)]
    pub fn open(file: File) -> Self {
        let cell = OnceLock::new();
        let _ = cell.set(Arc::new(file));
        SnapshotFile { path: PathBuf::new(), file: Arc::new(cell) }
    }

    pub fn get(&self) -> std::io::Result<Arc<File>> {
        if let Some(f) = self.file.get() {
            return Ok(f.clone());
        }
        let f = Arc::new(File::open(&self.path)?);
        Ok(self.file.get_or_init(|| f).clone())
    }
}

/// A log as the cleaner saw it at one instant.
#[derive(Debug, Clone)]
pub struct LogSnapshot {
    pub tp: TopicPartition,
    /// The partition directory.
    pub dir: PathBuf,
    pub config: Arc<LogConfig>,
    /// Oldest first; the last one is the active segment.
    pub segments: Vec<SegmentSnapshot>,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    pub high_watermark: i64,
    /// [`PartitionLog::truncation_count`] at the snapshot.
    pub truncations: u64,
    /// Producer id -> (last offset of its last data batch, epoch).
    pub active_producers: HashMap<i64, (Option<i64>, i16)>,
}

impl LogSnapshot {
    /// Copies what the cleaner needs; call with the log locked.
    pub fn take(log: &PartitionLog) -> Self {
        let segments = log
            .segments()
            .map(|s| SegmentSnapshot {
                base_offset: s.base_offset(),
                size: s.size(),
                next_offset: s.next_offset(),
                largest_timestamp: s.largest_timestamp(),
                offset_index_bytes: (s.offset_index.len() * OFFSET_ENTRY_SIZE) as u64,
                time_index_bytes: (s.time_index.entries().len() * TIME_ENTRY_SIZE) as u64,
                file: SnapshotFile::at(LogSegment::log_path(log.dir(), s.base_offset())),
                file_id: s.file_id(),
            })
            .collect();
        let active_producers = log
            .producer_state()
            .producers()
            .iter()
            .map(|(pid, e)| (*pid, (e.batches.back().map(|b| b.last_offset), e.epoch)))
            .collect();
        LogSnapshot {
            tp: log.topic_partition().clone(),
            dir: log.dir().to_path_buf(),
            config: log.config().clone(),
            segments,
            log_start_offset: log.log_start_offset(),
            log_end_offset: log.log_end_offset(),
            high_watermark: log.high_watermark(),
            truncations: log.truncation_count(),
            active_producers,
        }
    }

    pub fn active(&self) -> &SegmentSnapshot {
        self.segments.last().expect("a log always has an active segment")
    }

    /// Kafka's `logSegments(from, to)`: the segments holding offsets in
    /// `[from, to)`, from the one containing `from` (or the first).
    pub fn segments_in(&self, from: i64, to: i64) -> &[SegmentSnapshot] {
        if from >= to {
            return &[];
        }
        let start = self.segments.partition_point(|s| s.base_offset <= from).saturating_sub(1);
        let end = self.segments.partition_point(|s| s.base_offset < to);
        if start >= end {
            return &[];
        }
        &self.segments[start..end]
    }

    /// Kafka's `nonActiveLogSegmentsFrom(from)`.
    pub fn non_active_from(&self, from: i64) -> &[SegmentSnapshot] {
        let active = self.active().base_offset;
        if from > active {
            return &[];
        }
        self.segments_in(from, active)
    }
}

/// The first batch's max timestamp of a segment (Kafka's
/// `getFirstBatchTimestamp`), -1 when empty or unreadable.
pub fn first_batch_timestamp(seg: &SegmentSnapshot) -> i64 {
    if seg.size < HEADER_SIZE as u64 {
        return -1;
    }
    let Ok(file) = seg.file.get() else { return -1 };
    read_at(&file, 0, HEADER_SIZE).ok().and_then(|h| BatchHeader::parse(&h)).map_or(-1, |h| h.max_timestamp)
}

/// Kafka's `OffsetsToClean`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetsToClean {
    pub first_dirty_offset: i64,
    pub first_uncleanable_dirty_offset: i64,
    /// The checkpointed offset was invalid and must be rewritten.
    pub force_update_checkpoint: bool,
}

/// Kafka's `cleanableOffsets`.
pub fn cleanable_offsets(log: &LogSnapshot, last_clean_offset: Option<i64>, now: i64) -> OffsetsToClean {
    let start = log.log_start_offset;
    let checkpointed = last_clean_offset.unwrap_or(start);
    let (first_dirty, force) = if checkpointed < start {
        (start, true)
    } else if checkpointed > log.log_end_offset {
        tracing::warn!(partition = %log.tp, checkpointed, log_end = log.log_end_offset, "cleaner checkpoint beyond the log end; cleaning from the log start");
        (start, true)
    } else {
        (checkpointed, false)
    };
    let min_lag = log.config.min_compaction_lag_ms.max(0);
    let mut uncleanable = log.high_watermark.min(log.active().base_offset);
    if min_lag > 0 {
        if let Some(s) = log.non_active_from(first_dirty).iter().find(|s| s.largest_timestamp > now - min_lag) {
            uncleanable = uncleanable.min(s.base_offset);
        }
    }
    OffsetsToClean {
        first_dirty_offset: first_dirty,
        first_uncleanable_dirty_offset: first_dirty.max(uncleanable),
        force_update_checkpoint: force,
    }
}

/// Kafka's `calculateCleanableBytes`: the first uncleanable offset rounded
/// down to its segment's base, and the bytes of the segments before it from
/// the first dirty one.
pub fn cleanable_bytes(log: &LogSnapshot, first_dirty: i64, uncleanable: i64) -> (i64, u64) {
    let first_uncleanable = log.non_active_from(uncleanable).first().unwrap_or(log.active()).base_offset;
    let bytes = log.segments_in(first_dirty.min(first_uncleanable), first_uncleanable).iter().map(|s| s.size).sum();
    (first_uncleanable, bytes)
}

/// Kafka's `maxCompactionDelay`: how long past `max.compaction.lag.ms` the
/// oldest dirty record is (0 when not overdue).
pub fn max_compaction_delay(log: &LogSnapshot, first_dirty: i64, now: i64) -> i64 {
    let clean_until = now.saturating_sub(log.config.max_compaction_lag_ms.max(0));
    if clean_until <= 0 {
        // No record timestamp can be that old: skip reading the segments.
        return 0;
    }
    let earliest =
        log.non_active_from(first_dirty).iter().map(first_batch_timestamp).filter(|&t| t > 0).min().unwrap_or(i64::MAX);
    if earliest < clean_until {
        clean_until - earliest
    } else {
        0
    }
}

/// A log chosen for cleaning and the range to clean (Kafka's `LogToClean`).
#[derive(Debug, Clone)]
pub struct LogToClean {
    pub snapshot: LogSnapshot,
    pub first_dirty_offset: i64,
    /// A segment base: cleaning stops before it.
    pub first_uncleanable_offset: i64,
    pub clean_bytes: u64,
    pub cleanable_bytes: u64,
    pub need_compaction_now: bool,
}

impl LogToClean {
    pub fn new(snapshot: LogSnapshot, first_dirty: i64, uncleanable: i64, need_compaction_now: bool) -> Self {
        let clean_bytes = snapshot.segments_in(i64::MIN, first_dirty).iter().map(|s| s.size).sum();
        let (first_uncleanable_offset, cleanable_bytes) = cleanable_bytes(&snapshot, first_dirty, uncleanable);
        LogToClean {
            snapshot,
            first_dirty_offset: first_dirty,
            first_uncleanable_offset,
            clean_bytes,
            cleanable_bytes,
            need_compaction_now,
        }
    }

    pub fn total_bytes(&self) -> u64 {
        self.clean_bytes + self.cleanable_bytes
    }

    pub fn cleanable_ratio(&self) -> f64 {
        self.cleanable_bytes as f64 / self.total_bytes() as f64
    }

    /// Kafka's filter in `grabFilthiestCompactedLog`.
    pub fn is_cleanable(&self) -> bool {
        (self.need_compaction_now && self.cleanable_bytes > 0)
            || self.cleanable_ratio() > self.snapshot.config.min_cleanable_dirty_ratio
    }
}

/// Kafka's `groupSegmentsBySize`: consecutive segments whose total log
/// size stays within `max_size` and index sizes within `max_index_size`,
/// and whose offsets fit one segment's 32-bit relative offsets. Returns
/// index ranges into `segments`.
pub fn group_segments_by_size(
    segments: &[SegmentSnapshot],
    max_size: u64,
    max_index_size: u64,
    first_uncleanable_offset: i64,
) -> Vec<std::ops::Range<usize>> {
    let mut groups = Vec::new();
    let mut i = 0;
    while i < segments.len() {
        let start = i;
        let mut log_size = segments[i].size;
        let mut index_size = segments[i].offset_index_bytes;
        let mut time_index_size = segments[i].time_index_bytes;
        i += 1;
        while i < segments.len() {
            let s = &segments[i];
            // Estimated last offset of the candidate: the next base - 1.
            let last_offset = segments.get(i + 1).map_or(first_uncleanable_offset, |n| n.base_offset) - 1;
            let fits = log_size + s.size <= max_size
                && index_size + s.offset_index_bytes <= max_index_size
                && time_index_size + s.time_index_bytes <= max_index_size
                && (s.size == 0 || last_offset - segments[start].base_offset <= i32::MAX as i64);
            if !fits {
                break;
            }
            log_size += s.size;
            index_size += s.offset_index_bytes;
            time_index_size += s.time_index_bytes;
            i += 1;
        }
        groups.push(start..i);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BrokerConfig;

    fn seg(base: i64, size: u64, largest_ts: i64) -> SegmentSnapshot {
        let f = tempfile::tempfile().unwrap();
        SegmentSnapshot {
            base_offset: base,
            size,
            next_offset: base,
            largest_timestamp: largest_ts,
            offset_index_bytes: 8,
            time_index_bytes: 12,
            file: SnapshotFile::open(f),
            file_id: 0,
        }
    }

    fn snapshot(segments: Vec<SegmentSnapshot>, hw: i64, cfg: impl FnOnce(&mut LogConfig)) -> LogSnapshot {
        let mut c = LogConfig::resolve(&BrokerConfig::default(), &Default::default());
        cfg(&mut c);
        LogSnapshot {
            tp: TopicPartition::new("t", 0),
            dir: PathBuf::new(),
            config: Arc::new(c),
            segments,
            log_start_offset: 0,
            log_end_offset: 400,
            high_watermark: hw,
            truncations: 0,
            active_producers: HashMap::new(),
        }
    }

    #[test]
    fn dirty_section_stops_at_the_active_segment_and_the_high_watermark() {
        let segs = vec![seg(0, 1000, 10), seg(100, 1000, 20), seg(200, 1000, 30), seg(300, 500, 40)];
        let log = snapshot(segs.clone(), 400, |_| {});
        let o = cleanable_offsets(&log, Some(100), 1000);
        assert_eq!(
            o,
            OffsetsToClean {
                first_dirty_offset: 100,
                first_uncleanable_dirty_offset: 300,
                force_update_checkpoint: false
            }
        );
        let ltc = LogToClean::new(log, o.first_dirty_offset, o.first_uncleanable_dirty_offset, false);
        assert_eq!((ltc.clean_bytes, ltc.cleanable_bytes, ltc.first_uncleanable_offset), (1000, 2000, 300));
        assert!((ltc.cleanable_ratio() - 2.0 / 3.0).abs() < 1e-9);
        assert!(ltc.is_cleanable());
        // A high watermark inside segment 200 rounds down to its base.
        let log = snapshot(segs.clone(), 250, |_| {});
        let o = cleanable_offsets(&log, None, 1000);
        let ltc = LogToClean::new(log, o.first_dirty_offset, o.first_uncleanable_dirty_offset, false);
        assert_eq!((ltc.first_dirty_offset, ltc.first_uncleanable_offset, ltc.cleanable_bytes), (0, 200, 2000));
        // Everything clean: nothing cleanable.
        let log = snapshot(segs.clone(), 400, |c| c.min_cleanable_dirty_ratio = 0.0);
        let o = cleanable_offsets(&log, Some(300), 1000);
        let ltc = LogToClean::new(log, o.first_dirty_offset, o.first_uncleanable_dirty_offset, false);
        assert_eq!(ltc.cleanable_bytes, 0);
        assert!(!ltc.is_cleanable());
    }

    #[test]
    fn invalid_checkpoints_reset_to_the_log_start() {
        let log = snapshot(vec![seg(0, 10, 1), seg(100, 10, 2)], 400, |_| {});
        assert_eq!(cleanable_offsets(&log, Some(500), 0).first_dirty_offset, 0);
        assert!(cleanable_offsets(&log, Some(500), 0).force_update_checkpoint);
        let mut log = log;
        log.log_start_offset = 50;
        let o = cleanable_offsets(&log, Some(10), 0);
        assert_eq!((o.first_dirty_offset, o.force_update_checkpoint), (50, true));
    }

    #[test]
    fn min_compaction_lag_holds_back_young_segments() {
        let segs = vec![seg(0, 1000, 100), seg(100, 1000, 9_500), seg(200, 1000, 9_900), seg(300, 10, 9_990)];
        let log = snapshot(segs, 400, |c| c.min_compaction_lag_ms = 1000);
        let o = cleanable_offsets(&log, None, 10_000);
        assert_eq!(o.first_uncleanable_dirty_offset, 100);
        let ltc = LogToClean::new(log, o.first_dirty_offset, o.first_uncleanable_dirty_offset, false);
        assert_eq!((ltc.first_uncleanable_offset, ltc.cleanable_bytes), (100, 1000));
    }

    #[test]
    fn max_compaction_lag_forces_cleaning() {
        use std::io::Write;
        let mut b = crate::record::records::BatchBuilder::new(0, 1_000);
        b.push(crate::record::records::Record::new(Some(b"k".to_vec()), Some(b"v".to_vec()), 1_000));
        let bytes = b.build();
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&bytes).unwrap();
        let mut first = seg(0, bytes.len() as u64, 1_000);
        first.file = SnapshotFile::open(f);
        let log = snapshot(vec![first, seg(100, 10, 2_000)], 400, |c| {
            c.max_compaction_lag_ms = 5_000;
            c.min_cleanable_dirty_ratio = 0.99;
        });
        assert_eq!(max_compaction_delay(&log, 0, 5_500), 0);
        assert_eq!(max_compaction_delay(&log, 0, 7_000), 1_000);
        // Overdue: cleanable although the ratio is below the minimum.
        let mut log = log;
        log.segments.insert(0, seg(-100, 1_000_000, 1));
        let ltc = LogToClean::new(log, 0, 100, true);
        assert!(ltc.cleanable_ratio() < 0.99);
        assert!(ltc.is_cleanable());
    }

    #[test]
    fn groups_respect_size_and_index_limits() {
        let segs: Vec<_> = (0..6).map(|i| seg(i * 100, 400, 0)).collect();
        let g = group_segments_by_size(&segs, 1000, 1 << 20, 600);
        assert_eq!(g, vec![0..2, 2..4, 4..6]);
        // Three offset index entries (24 bytes) fit, but only two time index ones.
        let g = group_segments_by_size(&segs, 1 << 30, 24, 600);
        assert_eq!(g, vec![0..2, 2..4, 4..6]);
        let g = group_segments_by_size(&segs, 1 << 30, 1 << 20, 600);
        assert_eq!(g, vec![0..6]);
        // Offsets that would overflow 32-bit relative offsets split groups.
        let far = vec![seg(0, 10, 0), seg(i32::MAX as i64, 10, 0), seg(i32::MAX as i64 + 5, 10, 0)];
        assert_eq!(group_segments_by_size(&far, 1 << 30, 1 << 20, i32::MAX as i64 + 10), vec![0..1, 1..3]);
    }

    #[test]
    fn segment_ranges_follow_kafka() {
        let log = snapshot(vec![seg(0, 1, 0), seg(100, 1, 0), seg(200, 1, 0), seg(300, 1, 0)], 400, |_| {});
        let bases = |s: &[SegmentSnapshot]| s.iter().map(|s| s.base_offset).collect::<Vec<_>>();
        assert_eq!(bases(log.segments_in(150, 300)), vec![100, 200]);
        assert_eq!(bases(log.segments_in(100, 101)), vec![100]);
        assert_eq!(bases(log.segments_in(i64::MIN, 100)), vec![0]);
        assert!(log.segments_in(200, 200).is_empty());
        assert_eq!(bases(log.non_active_from(250)), vec![200]);
        assert!(log.non_active_from(301).is_empty());
    }
}
