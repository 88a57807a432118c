//! PartitionLog tests: appends, reads, rolls, restarts, and recovery from
//! every way a crash can leave the tail of a segment.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::config::{BrokerConfig, LogConfig, TimestampType};
use crate::record::records::{BatchBuilder, Record};
use crate::storage::index::OFFSET_ENTRY_SIZE;

fn config(segment_bytes: u64) -> Arc<LogConfig> {
    let mut c = LogConfig::resolve(&BrokerConfig::default(), &BTreeMap::new());
    c.segment_bytes = segment_bytes;
    c.index_interval_bytes = 256;
    Arc::new(c)
}

fn tp() -> TopicPartition {
    TopicPartition::new("t", 0)
}

fn open(dir: &Path, cfg: Arc<LogConfig>, hints: LoadHints) -> PartitionLog {
    PartitionLog::load(dir, tp(), cfg, Flusher::start(), hints).unwrap()
}

fn create(dir: &Path, cfg: Arc<LogConfig>) -> PartitionLog {
    PartitionLog::create(dir, tp(), uuid::Uuid::new_v4(), cfg, Flusher::start()).unwrap()
}

/// A client batch of `n` records whose values encode their index.
fn client_batch(first_value: usize, n: usize, ts: i64) -> Bytes {
    let mut b = BatchBuilder::new(0, ts);
    for i in 0..n {
        b.push(Record::new(
            Some(format!("k{}", first_value + i).into_bytes()),
            Some(format!("value-{}", first_value + i).into_bytes()),
            ts + i as i64,
        ));
    }
    b.build()
}

fn idempotent_batch(pid: i64, epoch: i16, seq: i32, n: usize) -> Bytes {
    let mut b = BatchBuilder::new(0, 1_000).producer(pid, epoch, seq);
    for i in 0..n {
        b.push(Record::new(None, Some(format!("p{pid}-{}", seq as usize + i).into_bytes()), 1_000));
    }
    b.build()
}

/// Reads every record from `from` to the log end.
fn read_values(log: &PartitionLog, from: i64) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let mut offset = from;
    let end = log.log_end_offset();
    while offset < end {
        let plan =
            log.read_plan(offset, ReadLimits { max_bytes: 64 * 1024, max_offset: end, min_one_batch: true }).unwrap();
        let Some(plan) = plan else { break };
        let bytes = plan.read().unwrap();
        assert!(!bytes.is_empty());
        for item in BatchIter::new(&bytes, true) {
            let (_, view) = item.unwrap();
            for r in crate::record::records::decode_records(&view).unwrap() {
                if r.offset >= offset {
                    out.push((r.offset, String::from_utf8(r.value.unwrap()).unwrap()));
                }
            }
            offset = view.next_offset();
        }
    }
    out
}

const NOW: i64 = 1_700_000_000_000;

#[test]
fn appends_assign_offsets_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = create(dir.path(), config(1 << 20));
    let a = log.append_as_leader(&client_batch(0, 3, NOW), 0, NOW).unwrap();
    let b = log.append_as_leader(&client_batch(3, 2, NOW), 0, NOW).unwrap();
    assert_eq!((a.first_offset, a.last_offset), (0, 2));
    assert_eq!((b.first_offset, b.last_offset), (3, 4));
    assert_eq!(log.log_end_offset(), 5);
    let values = read_values(&log, 0);
    assert_eq!(values.len(), 5);
    assert_eq!(values[4], (4, "value-4".to_string()));
    // A read from the middle of a batch returns that batch.
    assert_eq!(read_values(&log, 1)[0], (1, "value-1".to_string()));
    // Out of range on both sides.
    let limits = ReadLimits { max_bytes: 100, max_offset: 5, min_one_batch: true };
    assert!(matches!(log.read_plan(6, limits), Err(StorageError::OffsetOutOfRange { .. })));
    assert!(log.read_plan(5, limits).unwrap().is_none());
}

#[test]
fn read_stops_at_max_offset_and_honours_min_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = create(dir.path(), config(1 << 20));
    for i in 0..4 {
        log.append_as_leader(&client_batch(i * 10, 10, NOW), 0, NOW).unwrap();
    }
    // Only batches below the bound are returned.
    let plan =
        log.read_plan(0, ReadLimits { max_bytes: 1 << 20, max_offset: 20, min_one_batch: false }).unwrap().unwrap();
    let bytes = plan.read().unwrap();
    let batches: Vec<_> = BatchIter::new(&bytes, true).map(|b| b.unwrap().1.base_offset()).collect();
    assert_eq!(batches, vec![0, 10]);
    // max_bytes smaller than a batch: empty unless min_one_batch.
    let tiny = |min_one_batch| ReadLimits { max_bytes: 10, max_offset: 40, min_one_batch };
    assert!(log.read_plan(0, tiny(false)).unwrap().unwrap().read().unwrap().is_empty());
    let one = log.read_plan(0, tiny(true)).unwrap().unwrap().read().unwrap();
    assert_eq!(BatchIter::new(&one, true).count(), 1);
}

/// Opens as many idle segment handles as the cap allows, so every older
/// idle handle in the process is closed.
fn flood_idle_handles(dir: &Path, prefix: &str) -> Vec<crate::storage::segment_file::SegmentFile> {
    use crate::storage::segment_file::{SegmentFile, MAX_IDLE_SEGMENT_FILES};
    (0..MAX_IDLE_SEGMENT_FILES)
        .map(|i| {
            let path = dir.join(format!("{prefix}{i}.log"));
            let mut f = SegmentFile::new(path.clone(), std::fs::File::create(&path).unwrap());
            f.make_idle();
            f
        })
        .collect()
}

/// Rolled segments' handles close once more idle handles than the cap are
/// open (process-wide); reads, truncation and appends reopen them by path
/// and see exactly the same bytes.
#[test]
fn segment_files_closed_while_idle_reopen_on_demand() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(4096);
    let mut log = create(dir.path(), cfg.clone());
    for i in 0..100 {
        log.append_as_leader(&client_batch(i * 5, 5, NOW), 0, NOW).unwrap();
    }
    assert!(log.segment_count() >= 3, "segments: {}", log.segment_count());
    // Newer idle handles elsewhere in the process push the log's out.
    let other = tempfile::tempdir().unwrap();
    let fillers = flood_idle_handles(other.path(), "");
    let first = log.segments().next().unwrap();
    assert!(!first.file_is_open(), "the oldest rolled segment's handle was closed");
    assert!(log.segments().last().unwrap().file_is_open(), "the active segment keeps its handle");
    let values = read_values(&log, 0);
    assert_eq!(values.len(), 500);
    assert!(values.iter().enumerate().all(|(i, (o, v))| *o == i as i64 && *v == format!("value-{i}")));
    // Truncating into a rolled segment whose handle is closed again.
    drop(fillers);
    let fillers = flood_idle_handles(other.path(), "b");
    assert!(!log.segments().next().unwrap().file_is_open());
    log.truncate_to(10).unwrap();
    assert_eq!(log.log_end_offset(), 10);
    // The rolled segment the truncation made active again is pinned open.
    assert_eq!(log.segment_count(), 1);
    drop(fillers);
    let fillers = flood_idle_handles(other.path(), "c");
    assert!(log.segments().last().unwrap().file_is_open(), "the active segment keeps its handle");
    log.append_as_leader(&client_batch(10, 3, NOW), 0, NOW).unwrap();
    let values = read_values(&log, 0);
    assert_eq!(values.len(), 13);
    assert!(values.iter().enumerate().all(|(i, (o, v))| *o == i as i64 && *v == format!("value-{i}")));
    drop(fillers);
    // And the files on disk hold the same log after an unclean restart.
    drop(log);
    let log = open(dir.path(), cfg, LoadHints::default());
    assert_eq!(read_values(&log, 0), values);
}

#[test]
fn rolls_segments_by_size_and_reads_across_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = create(dir.path(), config(4096));
    for i in 0..100 {
        log.append_as_leader(&client_batch(i * 5, 5, NOW), 0, NOW).unwrap();
    }
    assert!(log.segment_count() >= 3, "segments: {}", log.segment_count());
    let values = read_values(&log, 0);
    assert_eq!(values.len(), 500);
    assert!(values.iter().enumerate().all(|(i, (o, v))| *o == i as i64 && *v == format!("value-{i}")));
    // Every rolled segment's base offset is the previous one's end.
    let mut expected = 0;
    for seg in log.segments() {
        assert_eq!(seg.base_offset(), expected);
        expected = seg.next_offset();
    }
}

#[test]
fn clean_restart_keeps_everything_and_producer_state() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(4096);
    let mut log = create(dir.path(), cfg.clone());
    for i in 0..40 {
        log.append_as_leader(&idempotent_batch(7, 0, i * 2, 2), 0, NOW).unwrap();
    }
    log.close().unwrap();
    let end = log.log_end_offset();
    drop(log);
    let hints = LoadHints { clean_shutdown: true, recovery_point: Some(end), ..Default::default() };
    let mut log = open(dir.path(), cfg, hints);
    assert_eq!(log.log_end_offset(), 80);
    // The last batch, retried after the restart, is a duplicate.
    let dup = log.append_as_leader(&idempotent_batch(7, 0, 78, 2), 0, NOW).unwrap();
    assert!(dup.duplicate);
    assert_eq!(dup.first_offset, 78);
    assert_eq!(log.log_end_offset(), 80);
    // And the next sequence continues.
    let next = log.append_as_leader(&idempotent_batch(7, 0, 80, 1), 0, NOW).unwrap();
    assert_eq!(next.first_offset, 80);
}

/// A new leader's epoch is written to leader-epoch-checkpoint with its first
/// append, not when it is assigned; a crash in between loses only an epoch
/// with no records, and a crash after the append keeps it even where the
/// records are below the recovery point (not rescanned).
#[test]
fn a_leader_epoch_is_durable_before_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(1 << 20);
    let mut log = create(dir.path(), cfg.clone());
    log.assign_epoch_start_offset(0).unwrap();
    log.append_as_leader(&client_batch(0, 3, NOW), 0, NOW).unwrap();
    log.assign_epoch_start_offset(4).unwrap();
    assert_eq!(log.end_offset_for_epoch(4), Some((4, 3)));
    drop(log); // crash: no close
    let hints = LoadHints { recovery_point: Some(3), ..Default::default() };
    let mut log = open(dir.path(), cfg.clone(), hints);
    assert_eq!(log.leader_epoch_cache().entries(), &[(0, 0)], "an epoch without records is forgotten");
    log.assign_epoch_start_offset(5).unwrap();
    log.append_as_leader(&client_batch(3, 2, NOW), 5, NOW).unwrap();
    // The roll snapshots producer state at 5, so the load below does not
    // rescan these records' headers: the epoch must come from the file.
    log.roll(NOW).unwrap();
    log.flush().unwrap();
    drop(log); // crash after the records became durable
    let hints = LoadHints { recovery_point: Some(5), ..Default::default() };
    let log = open(dir.path(), cfg, hints);
    assert_eq!(log.leader_epoch_cache().entries(), &[(0, 0), (5, 3)]);
    assert_eq!(log.end_offset_for_epoch(0), Some((0, 3)));
}

/// A leader deposed before appending in its epoch: when the new leader
/// tells it to truncate to its log end, nothing is removed but the empty
/// epoch is, so its last fetched epoch is one the new leader knows (else
/// every fetch answers "diverging" at the same offset, forever).
#[test]
fn truncating_to_the_log_end_drops_an_epoch_without_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = create(dir.path(), config(1 << 20));
    log.assign_epoch_start_offset(0).unwrap();
    log.append_as_leader(&client_batch(0, 3, NOW), 0, NOW).unwrap();
    log.assign_epoch_start_offset(2).unwrap();
    assert_eq!(log.latest_epoch(), Some(2));
    log.truncate_to(3).unwrap();
    assert_eq!(log.log_end_offset(), 3, "no record removed");
    assert_eq!(log.latest_epoch(), Some(0));
    assert_eq!(log.end_offset_for_epoch(0), Some((0, 3)), "epoch 0 runs to the log end again");
    assert_eq!(read_values(&log, 0).len(), 3);
}

/// A clean shutdown writes a producer snapshot only when the log moved
/// past the last one; a restart still finds the producers.
#[test]
fn close_snapshots_producer_state_only_when_it_changed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(1 << 20);
    let snapshots = |d: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".snapshot"))
            .collect();
        v.sort();
        v
    };
    let mut log = create(dir.path(), cfg.clone());
    log.close().unwrap();
    assert!(snapshots(dir.path()).is_empty(), "an empty log needs no snapshot");
    log.append_as_leader(&idempotent_batch(7, 0, 0, 2), 0, NOW).unwrap();
    log.close().unwrap();
    assert_eq!(snapshots(dir.path()), vec!["00000000000000000002.snapshot"]);
    let written = std::fs::metadata(dir.path().join("00000000000000000002.snapshot")).unwrap().modified().unwrap();
    drop(log);
    let hints = LoadHints { clean_shutdown: true, recovery_point: Some(2), ..Default::default() };
    let mut log = open(dir.path(), cfg.clone(), hints);
    log.close().unwrap();
    let again = std::fs::metadata(dir.path().join("00000000000000000002.snapshot")).unwrap().modified().unwrap();
    assert_eq!(written, again, "unchanged state is not rewritten");
    drop(log);
    let hints = LoadHints { clean_shutdown: true, recovery_point: Some(2), ..Default::default() };
    let mut log = open(dir.path(), cfg, hints);
    assert!(log.append_as_leader(&idempotent_batch(7, 0, 0, 2), 0, NOW).unwrap().duplicate);
}

#[test]
fn unclean_restart_rebuilds_producer_state_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(1 << 20);
    let mut log = create(dir.path(), cfg.clone());
    for i in 0..10 {
        log.append_as_leader(&idempotent_batch(3, 1, i * 3, 3), 0, NOW).unwrap();
    }
    drop(log); // no close: no snapshot, no index persist
    let mut log = open(dir.path(), cfg, LoadHints::default());
    assert_eq!(log.log_end_offset(), 30);
    let dup = log.append_as_leader(&idempotent_batch(3, 1, 27, 3), 0, NOW).unwrap();
    assert!(dup.duplicate && dup.first_offset == 27);
    let gap = log.append_as_leader(&idempotent_batch(3, 1, 99, 1), 0, NOW);
    assert!(matches!(gap, Err(StorageError::OutOfOrderSequence(_))));
}

#[test]
fn validation_errors_map_to_kafka_codes() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = create(dir.path(), config(1 << 20));
    let good = client_batch(0, 2, NOW).to_vec();
    let mut corrupt = good.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    assert_eq!(log.append_as_leader(&corrupt, 0, NOW).unwrap_err().kafka_code(), 2);
    let mut two = good.clone();
    two.extend_from_slice(&good);
    assert_eq!(log.append_as_leader(&two, 0, NOW).unwrap_err().kafka_code(), 87);
    // A batch cut short is no batch at all: INVALID_RECORD, as in Kafka.
    assert_eq!(log.append_as_leader(&good[..good.len() - 3], 0, NOW).unwrap_err().kafka_code(), 87);
    let mut magic1 = good.clone();
    magic1[crate::record::batch::OFFSET_MAGIC] = 1;
    assert_eq!(log.append_as_leader(&magic1, 0, NOW).unwrap_err().kafka_code(), 87);
    // A timestamp two hours in the future breaks message.timestamp.after.max.ms.
    let future = client_batch(0, 1, NOW + 2 * 3_600_000);
    assert_eq!(log.append_as_leader(&future, 0, NOW).unwrap_err().kafka_code(), 32);
    assert_eq!(log.log_end_offset(), 0);
}

#[test]
fn log_append_time_is_stamped_with_a_valid_crc() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = (*config(1 << 20)).clone();
    cfg.message_timestamp_type = TimestampType::LogAppendTime;
    let mut log = create(dir.path(), Arc::new(cfg));
    let info = log.append_as_leader(&client_batch(0, 2, 5), 0, NOW).unwrap();
    assert_eq!(info.log_append_time, NOW);
    let bytes = log
        .read_plan(0, ReadLimits { max_bytes: 4096, max_offset: 2, min_one_batch: true })
        .unwrap()
        .unwrap()
        .read()
        .unwrap();
    let view = BatchView::parse_valid(&bytes).unwrap();
    assert!(view.is_log_append_time());
    assert_eq!(view.max_timestamp(), NOW);
}

#[test]
fn offsets_for_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = create(dir.path(), config(4096));
    for i in 0..50i64 {
        // Record timestamps NOW + 10*i .. NOW + 10*i + 4
        log.append_as_leader(&client_batch(i as usize * 5, 5, NOW + 10 * i), 0, NOW).unwrap();
    }
    assert_eq!(log.offset_for_timestamp(NOW).unwrap().map(|r| r.0), Some(0));
    // NOW+102 is record 2 of batch 10 (offset 52).
    assert_eq!(log.offset_for_timestamp(NOW + 102).unwrap(), Some((52, NOW + 102, 0)));
    // Between batches: the next batch's first record.
    assert_eq!(log.offset_for_timestamp(NOW + 106).unwrap().map(|r| r.0), Some(55));
    assert_eq!(log.offset_for_timestamp(NOW + 10_000).unwrap(), None);
    let (ts, off, _) = log.max_timestamp_and_offset().unwrap().unwrap();
    assert_eq!((ts, off), (NOW + 494, 249));
}

/// Everything a recovered log must satisfy: it is a prefix of what was
/// written, offsets are dense and increasing, and each index entry points
/// at the start of a batch holding an offset at or below the entry's.
fn check_recovered(dir: &Path, written: &[(i64, String)]) -> i64 {
    let log = open(dir, config(4096), LoadHints::default());
    let values = read_values(&log, 0);
    assert!(values.len() <= written.len());
    assert_eq!(&values[..], &written[..values.len()], "recovered log is not a prefix");
    assert_eq!(log.log_end_offset(), values.len() as i64);
    for seg in log.segments() {
        for &(rel, pos) in seg.offset_index.entries() {
            let b = seg.batch_at(pos as u64, seg.size()).unwrap().expect("index points at a batch");
            assert!(b.base_offset <= seg.base_offset() + rel as i64);
            assert!(b.last_offset >= seg.base_offset() + rel as i64);
        }
        let index_file = std::fs::metadata(seg.offset_index.path()).unwrap().len();
        assert_eq!(index_file as usize, seg.offset_index.len() * OFFSET_ENTRY_SIZE, "index file agrees with memory");
    }
    log.log_end_offset()
}

fn write_sample(dir: &Path) -> (Vec<(i64, String)>, std::path::PathBuf, u64) {
    let mut log = create(dir, config(4096));
    let mut written = Vec::new();
    for i in 0..30usize {
        let n = 1 + i % 4;
        let info = log.append_as_leader(&client_batch(written.len(), n, NOW), 0, NOW).unwrap();
        for k in 0..n {
            written.push((info.first_offset + k as i64, format!("value-{}", info.first_offset as usize + k)));
        }
    }
    let active = log.segments().last().unwrap();
    let path = LogSegment::log_path(dir, active.base_offset());
    let last_batch = active.find_batch(log.log_end_offset() - 1, active.size()).unwrap().unwrap();
    drop(log);
    (written, path, last_batch.position)
}

#[test]
fn recovery_after_truncation_at_every_byte_of_the_last_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (written, path, last_pos) = write_sample(dir.path());
    let pristine = std::fs::read(&path).unwrap();
    let snapshot = copy_dir(dir.path());
    for cut in last_pos as usize..pristine.len() {
        restore_dir(&snapshot, dir.path());
        std::fs::write(&path, &pristine[..cut]).unwrap();
        let end = check_recovered(dir.path(), &written);
        // Everything before the last batch survives; the torn batch does not.
        let expected_end = written.len() as i64 - {
            let v = BatchView::parse(&pristine[last_pos as usize..]).unwrap();
            v.records_count() as i64
        };
        assert_eq!(end, expected_end, "cut at {cut}");
        // Recovery is idempotent: a second open changes nothing.
        assert_eq!(check_recovered(dir.path(), &written), end);
    }
}

#[test]
fn recovery_after_bit_flips_in_the_last_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (written, path, last_pos) = write_sample(dir.path());
    let pristine = std::fs::read(&path).unwrap();
    let snapshot = copy_dir(dir.path());
    for at in last_pos as usize..pristine.len() {
        for bit in [0u8, 3, 7] {
            restore_dir(&snapshot, dir.path());
            let mut bytes = pristine.clone();
            bytes[at] ^= 1 << bit;
            std::fs::write(&path, &bytes).unwrap();
            let end = check_recovered(dir.path(), &written);
            // The partition leader epoch is the one field neither the CRC
            // nor offset density covers (as in Kafka); its records are intact.
            let in_epoch_field = (at - last_pos as usize) >= crate::record::batch::OFFSET_LEADER_EPOCH
                && (at - last_pos as usize) < crate::record::batch::OFFSET_MAGIC;
            assert!(end < written.len() as i64 || in_epoch_field, "flip at {at} bit {bit} went unnoticed");
        }
    }
}

#[test]
fn recovery_after_random_damage_many_iterations() {
    // A deterministic xorshift so failures reproduce.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let dir = tempfile::tempdir().unwrap();
    let (written, path, _) = write_sample(dir.path());
    let pristine = std::fs::read(&path).unwrap();
    let snapshot = copy_dir(dir.path());
    for _ in 0..200 {
        restore_dir(&snapshot, dir.path());
        let mut bytes = pristine.clone();
        match next() % 3 {
            0 => bytes.truncate((next() % bytes.len() as u64) as usize),
            1 => {
                let at = (next() % bytes.len() as u64) as usize;
                bytes[at] ^= 1 << (next() % 8);
            }
            _ => {
                // Garbage appended after the valid data (a torn write of a new batch).
                let n = (next() % 200) as usize;
                bytes.extend((0..n).map(|_| next() as u8));
            }
        }
        std::fs::write(&path, &bytes).unwrap();
        let end = check_recovered(dir.path(), &written);
        assert_eq!(check_recovered(dir.path(), &written), end, "recovery not idempotent");
    }
}

fn copy_dir(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect()
}

fn restore_dir(snapshot: &[(std::path::PathBuf, Vec<u8>)], dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::remove_file(p).unwrap();
        }
    }
    for (p, b) in snapshot {
        std::fs::write(p, b).unwrap();
    }
}

/// `flush.messages`: the append that reaches it queues a group commit
/// instead of fsyncing under the lock; the recovery point (and its watch)
/// reach the end once the flusher has synced. Below the threshold nothing
/// waits.
#[test]
fn flush_messages_queues_a_group_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = (*config(1 << 20)).clone();
    cfg.flush_messages = 5;
    let mut log = create(dir.path(), Arc::new(cfg));
    let rx = log.subscribe_durable();
    let first = log.append_as_leader(&client_batch(0, 3, 1_000), 0, 1_000).unwrap();
    assert!(!first.awaits_flush, "3 of 5 messages: no flush yet");
    let second = log.append_as_leader(&client_batch(3, 3, 1_000), 0, 1_000).unwrap();
    assert!(second.awaits_flush, "6 >= 5 messages: a flush is queued");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while *rx.borrow() < second.last_offset + 1 {
        assert!(std::time::Instant::now() < deadline, "the group commit never completed");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(log.recovery_point(), 6);
    let third = log.append_as_leader(&client_batch(6, 1, 1_000), 0, 1_000).unwrap();
    assert!(!third.awaits_flush, "the counter restarted after the queued flush");
}

// Regressions found by tests/storage_recovery_fuzz.rs.

/// A leader-epoch checkpoint that does not parse is rebuilt from every
/// batch from the log start, not only from those after the newest producer
/// snapshot (which lost the earlier epochs and moved the start of the
/// first surviving one).
#[test]
fn corrupt_leader_epoch_checkpoint_is_rebuilt_from_the_whole_log() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(4096);
    let mut log = create(dir.path(), cfg.clone());
    for epoch in 0..3 {
        for i in 0..5 {
            log.append_as_leader(&client_batch(epoch as usize * 10 + i * 2, 2, NOW), epoch, NOW).unwrap();
        }
    }
    log.close().unwrap();
    let end = log.log_end_offset();
    drop(log);
    // A producer snapshot at the end: the scan after it covers nothing.
    assert!(dir.path().join(format!("{end:020}.snapshot")).exists());
    let path = dir.path().join(checkpoint::LEADER_EPOCH_CHECKPOINT);
    std::fs::write(&path, "0\n3\n0 0\n1 1\x00x\n").unwrap();
    let hints = LoadHints { clean_shutdown: true, recovery_point: Some(end), ..Default::default() };
    let log = open(dir.path(), cfg, hints);
    assert_eq!(log.leader_epoch_cache().entries(), &[(0, 0), (1, 10), (2, 20)]);
    assert_eq!(checkpoint::read_leader_epoch_checkpoint(&path).unwrap(), vec![(0, 0), (1, 10), (2, 20)]);
}

/// A segment file missing from the middle of a log without offset gaps
/// fails the load instead of serving a log with a hole in it.
#[test]
fn a_missing_middle_segment_fails_the_load() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(4096);
    let mut log = create(dir.path(), cfg.clone());
    for i in 0..150 {
        log.append_as_leader(&client_batch(i * 3, 3, NOW), 0, NOW).unwrap();
    }
    log.flush().unwrap();
    let bases: Vec<i64> = log.segments().map(|s| s.base_offset()).collect();
    drop(log);
    assert!(bases.len() >= 3);
    segment::delete_segment_files(dir.path(), bases[1]).unwrap();
    let err = PartitionLog::load(dir.path(), tp(), cfg, Flusher::start(), LoadHints::default()).unwrap_err();
    assert!(matches!(err, StorageError::CorruptFile(_)), "{err}");
}

/// An offset index entry damaged so that it still passes the load checks
/// (increasing, inside the file) but points past the batch holding its
/// offset: reads find the right batch anyway.
#[test]
fn a_plausible_but_wrong_index_entry_does_not_skip_records() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(1 << 20);
    let mut log = create(dir.path(), cfg.clone());
    for i in 0..40 {
        log.append_as_leader(&client_batch(i * 3, 3, NOW + i as i64 * 10), 0, NOW).unwrap();
    }
    log.close().unwrap();
    let end = log.log_end_offset();
    let index_path = log.segments().next().unwrap().offset_index.path().to_path_buf();
    drop(log);
    // Lower the relative offset of the third entry to the first offset of
    // the batch before the one it points at.
    let mut index = std::fs::read(&index_path).unwrap();
    assert!(index.len() >= 3 * OFFSET_ENTRY_SIZE);
    let e = 2 * OFFSET_ENTRY_SIZE;
    let prev_rel = u32::from_be_bytes(index[e - 8..e - 4].try_into().unwrap());
    let rel = u32::from_be_bytes(index[e..e + 4].try_into().unwrap());
    let lowered = (rel - 4).max(prev_rel + 1);
    index[e..e + 4].copy_from_slice(&lowered.to_be_bytes());
    std::fs::write(&index_path, &index).unwrap();
    let hints = LoadHints { clean_shutdown: true, recovery_point: Some(end), ..Default::default() };
    let log = open(dir.path(), cfg, hints);
    assert_eq!(log.segments().next().unwrap().offset_index.entries()[2].0, lowered, "the damage passed the load");
    let values = read_values(&log, 0);
    assert_eq!(values.len() as i64, end);
    for o in 0..end {
        let first = read_values(&log, o)[0].0;
        assert_eq!(first, o, "a read at {o} starts at {first}");
    }
    assert_eq!(
        log.offset_for_timestamp(NOW + lowered as i64 / 3 * 10).unwrap().map(|r| r.0),
        Some(lowered as i64 / 3 * 3)
    );
}
