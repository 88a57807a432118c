//! Idempotent-producer state per partition (Kafka's `ProducerStateManager`):
//! for each producer id, its epoch and the metadata of its last 5 batches,
//! enough to recognise a retried batch and answer with its original
//! offsets, and to reject gaps (OUT_OF_ORDER_SEQUENCE_NUMBER) and stale
//! epochs (INVALID_PRODUCER_EPOCH).
//!
//! It also tracks transactions (Kafka's `ongoingTxns` and
//! `unreplicatedTxns`): a producer's transaction opens with its first
//! transactional batch and completes with its COMMIT or ABORT marker; a
//! completed one still holds the first unstable offset until the high
//! watermark passes its marker. The last stable offset is the first
//! unstable offset capped at the high watermark.
//!
//! State survives restarts through `<offset>.snapshot` files in Kafka's
//! `ProducerSnapshot` v1 format, plus a scan of the batch headers written
//! after the newest snapshot.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::record::batch::BatchHeader;
use crate::record::control::EndTxnMarker;

use super::{segment_file_name, Result, StorageError};

/// Kafka keeps this many batches per producer for duplicate detection.
pub const NUM_BATCHES_TO_RETAIN: usize = 5;
const SNAPSHOT_SUFFIX: &str = ".snapshot";
const SNAPSHOTS_TO_KEEP: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub timestamp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerStateEntry {
    pub producer_id: i64,
    pub epoch: i16,
    pub batches: VecDeque<BatchMetadata>,
    pub coordinator_epoch: i32,
    pub current_txn_first_offset: Option<i64>,
}

impl ProducerStateEntry {
    fn new(producer_id: i64, epoch: i16) -> Self {
        ProducerStateEntry {
            producer_id,
            epoch,
            batches: VecDeque::new(),
            coordinator_epoch: -1,
            current_txn_first_offset: None,
        }
    }

    pub fn last_seq(&self) -> i32 {
        self.batches.back().map_or(-1, |b| b.last_seq)
    }

    fn duplicate_of(&self, epoch: i16, first_seq: i32, last_seq: i32) -> Option<BatchMetadata> {
        if epoch != self.epoch {
            return None;
        }
        self.batches.iter().find(|b| b.first_seq == first_seq && b.last_seq == last_seq).copied()
    }
}

fn in_sequence(last_seq: i32, next_seq: i32) -> bool {
    next_seq as i64 == last_seq as i64 + 1 || (next_seq == 0 && last_seq == i32::MAX)
}

/// A transaction a marker completed on this partition (Kafka's
/// `CompletedTxn` plus the LSO its `AbortedTxn` records).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The marker's offset.
    pub last_offset: i64,
    pub aborted: bool,
    /// The first offset of the oldest transaction still open after this
    /// one completed, else the offset after the marker.
    pub last_stable_offset: i64,
}

/// Invariant: `ongoing` holds `(current_txn_first_offset, producer id)` of
/// exactly the producers whose entry has an open transaction;
/// `unreplicated` holds `(first offset, marker offset, producer id)` of
/// completed transactions whose marker is not yet below the high watermark.
#[derive(Debug)]
pub struct ProducerStateManager {
    dir: PathBuf,
    producers: HashMap<i64, ProducerStateEntry>,
    /// Offsets of snapshot files present on disk.
    snapshots: BTreeSet<i64>,
    ongoing: BTreeSet<(i64, i64)>,
    unreplicated: BTreeSet<(i64, i64, i64)>,
}

impl ProducerStateManager {
    pub fn new(dir: &Path) -> Self {
        ProducerStateManager {
            dir: dir.to_path_buf(),
            producers: HashMap::new(),
            snapshots: BTreeSet::new(),
            ongoing: BTreeSet::new(),
            unreplicated: BTreeSet::new(),
        }
    }

    /// The first offset of the oldest transaction that is open, or whose
    /// marker the high watermark has not passed (Kafka's
    /// `firstUnstableOffset`).
    pub fn first_unstable_offset(&self) -> Option<i64> {
        let ongoing = self.ongoing.first().map(|(o, _)| *o);
        let unreplicated = self.unreplicated.first().map(|(o, _, _)| *o);
        match (ongoing, unreplicated) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The high watermark moved: completed transactions whose marker is
    /// below it no longer hold the last stable offset back.
    pub fn on_high_watermark(&mut self, hw: i64) {
        self.unreplicated.retain(|(_, marker, _)| *marker >= hw);
    }

    /// Open transactions as (producer id, first offset), oldest first.
    pub fn ongoing_transactions(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.ongoing.iter().map(|(first, pid)| (*pid, *first))
    }

    /// Kafka's checks of a marker the coordinator asks this leader to
    /// write: a producer epoch older than the last seen one is refused
    /// (INVALID_PRODUCER_EPOCH), and so is an older coordinator epoch
    /// (TRANSACTION_COORDINATOR_FENCED).
    pub fn check_marker(&self, producer_id: i64, epoch: i16, coordinator_epoch: i32) -> Result<()> {
        let Some(entry) = self.producers.get(&producer_id) else {
            return Ok(());
        };
        if epoch < entry.epoch {
            return Err(StorageError::InvalidProducerEpoch(format!(
                "epoch of producer {producer_id} is {epoch}, which is smaller than the last seen epoch {}",
                entry.epoch
            )));
        }
        if entry.coordinator_epoch > coordinator_epoch {
            return Err(StorageError::TransactionCoordinatorFenced(format!(
                "invalid coordinator epoch for producerId {producer_id}: {coordinator_epoch} (zombie), {} (current)",
                entry.coordinator_epoch
            )));
        }
        Ok(())
    }

    pub fn set_dir(&mut self, dir: &Path) {
        self.dir = dir.to_path_buf();
    }

    pub fn producers(&self) -> &HashMap<i64, ProducerStateEntry> {
        &self.producers
    }

    pub fn entry(&self, producer_id: i64) -> Option<&ProducerStateEntry> {
        self.producers.get(&producer_id)
    }

    /// Validates a client batch against the producer's state. `Ok(Some(_))`
    /// is a duplicate: answer with those offsets and append nothing.
    pub fn check_client_batch(&self, batch: &BatchHeader) -> Result<Option<BatchMetadata>> {
        let pid = batch.producer_id;
        if pid < 0 {
            return Ok(None);
        }
        let epoch = batch.producer_epoch;
        let first_seq = batch.base_sequence;
        let Some(entry) = self.producers.get(&pid) else {
            // Unknown producer (new, or its state was removed by retention):
            // Kafka accepts any sequence.
            return Ok(None);
        };
        if let Some(dup) = entry.duplicate_of(epoch, first_seq, batch.last_sequence()) {
            return Ok(Some(dup));
        }
        if epoch < entry.epoch {
            return Err(StorageError::InvalidProducerEpoch(format!(
                "epoch of producer {pid} is {epoch}, which is smaller than the last seen epoch {}",
                entry.epoch
            )));
        }
        if epoch != entry.epoch {
            if first_seq != 0 {
                return Err(StorageError::OutOfOrderSequence(format!(
                    "invalid sequence number for new epoch of producer {pid}: {epoch} (request epoch), {first_seq} (seq. number), {} (current producer epoch)",
                    entry.epoch
                )));
            }
        } else {
            let last = entry.last_seq();
            if !in_sequence(last, first_seq) {
                return Err(StorageError::OutOfOrderSequence(format!(
                    "out of order sequence number for producer {pid}: {first_seq} (incoming seq. number), {last} (current end sequence number)"
                )));
            }
        }
        if entry.current_txn_first_offset.is_some() && !batch.is_transactional() {
            return Err(StorageError::InvalidTxnState(format!(
                "expected a transactional write from producer {pid}, which has a transaction open"
            )));
        }
        Ok(None)
    }

    /// Records an appended batch (leader append, follower append, or a
    /// recovery scan). `batch` carries its final offsets; `marker` is what
    /// a control batch carries (`None` for data, or a control batch that is
    /// no transaction marker). Returns the transaction a marker completed,
    /// if the producer had one open.
    pub fn update(&mut self, batch: &BatchHeader, marker: Option<EndTxnMarker>) -> Option<CompletedTxn> {
        let pid = batch.producer_id;
        if pid < 0 {
            return None;
        }
        let epoch = batch.producer_epoch;
        let entry = self.producers.entry(pid).or_insert_with(|| ProducerStateEntry::new(pid, epoch));
        if epoch > entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        } else if epoch < entry.epoch {
            // Replication of an old epoch's batch: keep the newer state.
            return None;
        }
        if batch.is_control() {
            let marker = marker?;
            entry.coordinator_epoch = marker.coordinator_epoch;
            let first = entry.current_txn_first_offset.take()?;
            self.ongoing.remove(&(first, pid));
            let last_offset = batch.base_offset;
            self.unreplicated.insert((first, last_offset, pid));
            let last_stable_offset = self.ongoing.first().map_or(last_offset + 1, |(o, _)| *o);
            return Some(CompletedTxn {
                producer_id: pid,
                first_offset: first,
                last_offset,
                aborted: !marker.commit,
                last_stable_offset,
            });
        }
        if batch.is_transactional() && entry.current_txn_first_offset.is_none() {
            entry.current_txn_first_offset = Some(batch.base_offset);
            self.ongoing.insert((batch.base_offset, pid));
        }
        if batch.base_sequence >= 0 {
            entry.batches.push_back(BatchMetadata {
                first_seq: batch.base_sequence,
                last_seq: batch.last_sequence(),
                first_offset: batch.base_offset,
                last_offset: batch.last_offset(),
                timestamp: batch.max_timestamp,
            });
            while entry.batches.len() > NUM_BATCHES_TO_RETAIN {
                entry.batches.pop_front();
            }
        }
        None
    }

    /// Forgets every producer whose last batch ends at or after `offset`
    /// would be wrong after truncation; callers reload instead. This drops
    /// all state, for a rebuild from a snapshot plus a scan.
    pub fn clear(&mut self) {
        self.producers.clear();
        self.ongoing.clear();
        self.unreplicated.clear();
    }

    fn snapshot_path(&self, offset: i64) -> PathBuf {
        self.dir.join(segment_file_name(offset, SNAPSHOT_SUFFIX))
    }

    /// Lists snapshot files in the directory.
    pub fn scan_snapshots(&mut self) -> Result<()> {
        self.snapshots.clear();
        let rd = std::fs::read_dir(&self.dir).map_err(|e| StorageError::io(self.dir.display().to_string(), e))?;
        for e in rd.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if let Some(stem) = name.strip_suffix(SNAPSHOT_SUFFIX) {
                if let Ok(off) = stem.parse::<i64>() {
                    self.snapshots.insert(off);
                }
            }
        }
        Ok(())
    }

    /// Loads the newest valid snapshot at or below `max_offset`, deleting
    /// newer or corrupt ones; returns the offset to scan the log from
    /// (`None`: no snapshot, scan from the log start).
    pub fn load_latest_snapshot(&mut self, max_offset: i64) -> Result<Option<i64>> {
        self.scan_snapshots()?;
        self.clear();
        let newer: Vec<i64> = self.snapshots.range(max_offset + 1..).copied().collect();
        for off in newer {
            self.delete_snapshot(off);
        }
        while let Some(&off) = self.snapshots.iter().next_back() {
            match std::fs::read(self.snapshot_path(off)).ok().and_then(|b| decode_snapshot(&b)) {
                Some(entries) => {
                    for e in entries {
                        if let Some(first) = e.current_txn_first_offset {
                            self.ongoing.insert((first, e.producer_id));
                        }
                        self.producers.insert(e.producer_id, e);
                    }
                    return Ok(Some(off));
                }
                None => {
                    tracing::warn!(dir = %self.dir.display(), offset = off, "deleting corrupt producer snapshot");
                    self.delete_snapshot(off);
                }
            }
        }
        Ok(None)
    }

    fn delete_snapshot(&mut self, offset: i64) {
        let _ = std::fs::remove_file(self.snapshot_path(offset));
        self.snapshots.remove(&offset);
    }

    /// The offset of the newest snapshot file, if any.
    pub fn latest_snapshot(&self) -> Option<i64> {
        self.snapshots.last().copied()
    }

    /// Writes `<offset>.snapshot` (state as of the log end `offset`) and
    /// keeps only the newest few.
    pub fn take_snapshot(&mut self, offset: i64) -> Result<()> {
        let bytes = encode_snapshot(self.producers.values());
        super::checkpoint::write_atomic(&self.snapshot_path(offset), &bytes)?;
        self.snapshots.insert(offset);
        while self.snapshots.len() > SNAPSHOTS_TO_KEEP {
            let oldest = *self.snapshots.iter().next().expect("non-empty");
            self.delete_snapshot(oldest);
        }
        Ok(())
    }

    /// Deletes snapshots above `offset` (after a truncation).
    pub fn delete_snapshots_after(&mut self, offset: i64) {
        let newer: Vec<i64> = self.snapshots.range(offset + 1..).copied().collect();
        for off in newer {
            self.delete_snapshot(off);
        }
    }
}

/// Kafka's ProducerSnapshot v1: version i16, crc u32 (CRC-32C of what
/// follows), entries array (i32 count) of
/// `[pid i64, epoch i16, last_seq i32, last_offset i64, offset_delta i32,
/// timestamp i64, coordinator_epoch i32, current_txn_first_offset i64]`.
pub fn encode_snapshot<'a>(entries: impl Iterator<Item = &'a ProducerStateEntry>) -> Vec<u8> {
    let mut body = Vec::new();
    let entries: Vec<&ProducerStateEntry> =
        entries.filter(|e| !e.batches.is_empty() || e.current_txn_first_offset.is_some()).collect();
    body.extend_from_slice(&(entries.len() as i32).to_be_bytes());
    for e in entries {
        let last = e.batches.back();
        body.extend_from_slice(&e.producer_id.to_be_bytes());
        body.extend_from_slice(&e.epoch.to_be_bytes());
        body.extend_from_slice(&last.map_or(-1, |b| b.last_seq).to_be_bytes());
        body.extend_from_slice(&last.map_or(-1, |b| b.last_offset).to_be_bytes());
        body.extend_from_slice(&last.map_or(0, |b| b.last_seq.wrapping_sub(b.first_seq)).to_be_bytes());
        body.extend_from_slice(&last.map_or(-1, |b| b.timestamp).to_be_bytes());
        body.extend_from_slice(&e.coordinator_epoch.to_be_bytes());
        body.extend_from_slice(&e.current_txn_first_offset.unwrap_or(-1).to_be_bytes());
    }
    let mut out = Vec::with_capacity(6 + body.len());
    out.extend_from_slice(&1i16.to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

const SNAPSHOT_ENTRY_SIZE: usize = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8;

/// One entry of a ProducerSnapshot v1 file, field by field as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotEntry {
    pub producer_id: i64,
    pub epoch: i16,
    pub last_sequence: i32,
    pub last_offset: i64,
    pub offset_delta: i32,
    pub timestamp: i64,
    pub coordinator_epoch: i32,
    pub current_txn_first_offset: i64,
}

/// Why bytes are not a producer snapshot, with the messages of Kafka's
/// `ProducerStateManager.readSnapshot` (which `kafka-dump-log` prints).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SnapshotError {
    #[error("Snapshot failed schema validation: only {0} byte(s) available for the int16 version")]
    MissingVersion(usize),
    #[error("Snapshot failed schema validation: Snapshot contained an unknown file version {0}")]
    UnknownVersion(i16),
    #[error("Snapshot failed schema validation: {0} byte(s) are too few for the crc and the entry count")]
    MissingHeader(usize),
    #[error("Snapshot failed schema validation: non-nullable field producerEntries was serialized as null")]
    NullEntries,
    #[error("Snapshot failed schema validation: {count} producer entries need {needed} bytes, but only {available} bytes remain")]
    Truncated { count: i32, needed: u64, available: usize },
    #[error("Snapshot is corrupt (CRC is no longer valid). Stored crc: {stored}. Computed crc: {computed}")]
    Crc { stored: u32, computed: u32 },
}

/// Reads a ProducerSnapshot v1 like Kafka's
/// `ProducerStateManager.readSnapshot`: checks the version, that the
/// declared entries fit, then the CRC; bytes after the entries are ignored.
pub fn read_snapshot(bytes: &[u8]) -> std::result::Result<Vec<SnapshotEntry>, SnapshotError> {
    if bytes.len() < 2 {
        return Err(SnapshotError::MissingVersion(bytes.len()));
    }
    let version = i16::from_be_bytes([bytes[0], bytes[1]]);
    if version != 1 {
        return Err(SnapshotError::UnknownVersion(version));
    }
    if bytes.len() < 10 {
        return Err(SnapshotError::MissingHeader(bytes.len()));
    }
    let stored = u32::from_be_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]);
    let count = i32::from_be_bytes([bytes[6], bytes[7], bytes[8], bytes[9]]);
    if count < 0 {
        return Err(SnapshotError::NullEntries);
    }
    let available = bytes.len() - 10;
    if (count as usize).saturating_mul(SNAPSHOT_ENTRY_SIZE) > available {
        return Err(SnapshotError::Truncated { count, needed: (count as u64) * SNAPSHOT_ENTRY_SIZE as u64, available });
    }
    let computed = crc32c::crc32c(&bytes[6..]);
    if stored != computed {
        return Err(SnapshotError::Crc { stored, computed });
    }
    Ok(bytes[10..]
        .chunks_exact(SNAPSHOT_ENTRY_SIZE)
        .take(count as usize)
        .map(|c| {
            let i64_at = |at: usize| i64::from_be_bytes(c[at..at + 8].try_into().expect("8"));
            let i32_at = |at: usize| i32::from_be_bytes(c[at..at + 4].try_into().expect("4"));
            SnapshotEntry {
                producer_id: i64_at(0),
                epoch: i16::from_be_bytes([c[8], c[9]]),
                last_sequence: i32_at(10),
                last_offset: i64_at(14),
                offset_delta: i32_at(22),
                timestamp: i64_at(26),
                coordinator_epoch: i32_at(34),
                current_txn_first_offset: i64_at(38),
            }
        })
        .collect())
}

/// The producer state a snapshot holds (`None` if it is not valid). Stricter
/// than [`read_snapshot`]: bytes after the entries make it invalid.
pub fn decode_snapshot(bytes: &[u8]) -> Option<Vec<ProducerStateEntry>> {
    let entries = read_snapshot(bytes).ok()?;
    if entries.len() * SNAPSHOT_ENTRY_SIZE != bytes.len() - 10 {
        return None;
    }
    Some(
        entries
            .into_iter()
            .map(|s| {
                let mut e = ProducerStateEntry::new(s.producer_id, s.epoch);
                e.coordinator_epoch = s.coordinator_epoch;
                e.current_txn_first_offset = (s.current_txn_first_offset >= 0).then_some(s.current_txn_first_offset);
                if s.last_sequence >= 0 {
                    e.batches.push_back(BatchMetadata {
                        first_seq: s.last_sequence.wrapping_sub(s.offset_delta),
                        last_seq: s.last_sequence,
                        first_offset: s.last_offset - s.offset_delta as i64,
                        last_offset: s.last_offset,
                        timestamp: s.timestamp,
                    });
                }
                e
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::batch::{patch, BatchView};
    use crate::record::records::{BatchBuilder, Record};

    fn batch(pid: i64, epoch: i16, seq: i32, n: usize, base_offset: i64) -> Vec<u8> {
        let mut b = BatchBuilder::new(0, 1).producer(pid, epoch, seq);
        for _ in 0..n {
            b.push(Record::new(None, Some(b"x".to_vec()), 1));
        }
        let mut v = b.build().to_vec();
        patch::set_base_offset(&mut v, base_offset);
        v
    }

    #[test]
    fn sequences_duplicates_and_epochs() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = ProducerStateManager::new(dir.path());
        let b0 = batch(7, 0, 0, 3, 0);
        let v0 = BatchView::parse(&b0).unwrap().header();
        assert_eq!(s.check_client_batch(&v0).unwrap(), None);
        s.update(&v0, None);
        // Exact retry: duplicate with the original offsets.
        let dup = s.check_client_batch(&v0).unwrap().unwrap();
        assert_eq!((dup.first_offset, dup.last_offset), (0, 2));
        // Gap.
        let gap = batch(7, 0, 5, 1, 3);
        assert!(matches!(
            s.check_client_batch(&BatchView::parse(&gap).unwrap().header()),
            Err(StorageError::OutOfOrderSequence(_))
        ));
        // In sequence.
        let b1 = batch(7, 0, 3, 2, 3);
        let v1 = BatchView::parse(&b1).unwrap().header();
        assert_eq!(s.check_client_batch(&v1).unwrap(), None);
        s.update(&v1, None);
        // New epoch must start at 0.
        let bad = batch(7, 1, 5, 1, 5);
        assert!(matches!(
            s.check_client_batch(&BatchView::parse(&bad).unwrap().header()),
            Err(StorageError::OutOfOrderSequence(_))
        ));
        let e1 = batch(7, 1, 0, 1, 5);
        let ve1 = BatchView::parse(&e1).unwrap().header();
        s.check_client_batch(&ve1).unwrap();
        s.update(&ve1, None);
        // Old epoch is fenced.
        let old = batch(7, 0, 5, 1, 6);
        assert!(matches!(
            s.check_client_batch(&BatchView::parse(&old).unwrap().header()),
            Err(StorageError::InvalidProducerEpoch(_))
        ));
    }

    #[test]
    fn only_last_five_batches_are_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = ProducerStateManager::new(dir.path());
        let mut first = Vec::new();
        for i in 0..7 {
            let b = batch(1, 0, i, 1, i as i64);
            if i == 0 {
                first = b.clone();
            }
            s.update(&BatchView::parse(&b).unwrap().header(), None);
        }
        assert_eq!(s.entry(1).unwrap().batches.len(), 5);
        // The first batch is forgotten: its retry is now out of order.
        assert!(s.check_client_batch(&BatchView::parse(&first).unwrap().header()).is_err());
    }

    #[test]
    fn snapshots_round_trip_in_kafkas_format() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = ProducerStateManager::new(dir.path());
        let b = batch(42, 3, 10, 4, 100);
        s.update(&BatchView::parse(&b).unwrap().header(), None);
        s.take_snapshot(104).unwrap();
        assert!(dir.path().join("00000000000000000104.snapshot").exists());
        let mut r = ProducerStateManager::new(dir.path());
        assert_eq!(r.load_latest_snapshot(200).unwrap(), Some(104));
        let e = r.entry(42).unwrap();
        assert_eq!(e.epoch, 3);
        assert_eq!(
            e.batches[0],
            BatchMetadata { first_seq: 10, last_seq: 13, first_offset: 100, last_offset: 103, timestamp: 1 }
        );
        // A snapshot beyond the log end is discarded.
        let mut r = ProducerStateManager::new(dir.path());
        assert_eq!(r.load_latest_snapshot(50).unwrap(), None);
        assert!(!dir.path().join("00000000000000000104.snapshot").exists());
    }

    #[test]
    fn corrupt_snapshots_are_rejected() {
        let mut bytes = encode_snapshot(std::iter::empty());
        assert!(decode_snapshot(&bytes).is_some());
        bytes.push(0);
        assert!(decode_snapshot(&bytes).is_none());
        assert!(decode_snapshot(&[0, 1, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff]).is_none());
    }
}
