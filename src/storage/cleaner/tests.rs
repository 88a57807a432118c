//! Cleaner rounds on real partition logs in temporary directories: what
//! survives and at which offsets, tombstones and their horizon, crash
//! leftovers at every step of a swap, and rounds abandoned because the log
//! changed under them. Plus an ignored throughput figure.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::config::{BrokerConfig, LogConfig};
use crate::record::batch::BatchIter;
use crate::record::records::{decode_records, BatchBuilder, Record};
use crate::storage::flusher::Flusher;
use crate::storage::log_manager::SharedLog;
use crate::storage::partition_log::{LoadHints, PartitionLog, ReadLimits};
use crate::storage::segment::{CLEANED_SUFFIX, SWAP_SUFFIX};
use crate::storage::{segment_file_name, TopicPartition};

use super::clean::{CleanOutcome, Cleaner};
use super::manager::{cleanable_offsets, LogSnapshot, LogToClean};
use super::offset_map::OffsetMap;
use super::throttler::Throttler;
use super::StopSignal;

const NOW: i64 = 1_700_000_000_000;

fn config(f: impl FnOnce(&mut LogConfig)) -> Arc<LogConfig> {
    let mut overrides = BTreeMap::new();
    overrides.insert("cleanup.policy".to_string(), "compact".to_string());
    let mut c = LogConfig::resolve(&BrokerConfig::default(), &overrides);
    c.index_interval_bytes = 256;
    c.segment_bytes = 1 << 20;
    f(&mut c);
    Arc::new(c)
}

fn tp() -> TopicPartition {
    TopicPartition::new("compacted", 0)
}

fn create(dir: &Path, cfg: Arc<LogConfig>) -> SharedLog {
    Arc::new(Mutex::new(PartitionLog::create(dir, tp(), uuid::Uuid::new_v4(), cfg, Flusher::start()).unwrap()))
}

fn load(dir: &Path, cfg: Arc<LogConfig>, hints: LoadHints) -> SharedLog {
    Arc::new(Mutex::new(PartitionLog::load(dir, tp(), cfg, Flusher::start(), hints).unwrap()))
}

/// Appends one client batch of (key, value) records; returns its offsets.
fn append(log: &SharedLog, records: &[(String, Option<String>)]) -> Vec<i64> {
    let mut b = BatchBuilder::new(0, NOW);
    for (k, v) in records {
        b.push(Record::new(Some(k.clone().into_bytes()), v.clone().map(String::into_bytes), NOW));
    }
    let mut l = log.lock().unwrap();
    let info = l.append_as_leader(&b.build(), 0, NOW).unwrap();
    let end = l.log_end_offset();
    l.set_high_watermark(end);
    (info.first_offset..=info.last_offset).collect()
}

fn roll(log: &SharedLog) {
    log.lock().unwrap().roll(NOW).unwrap();
}

type Rec = (i64, String, Option<String>);

/// Every record of the log, in offset order.
fn read_all(log: &SharedLog) -> Vec<Rec> {
    let l = log.lock().unwrap();
    let mut out = Vec::new();
    let mut offset = l.log_start_offset();
    let end = l.log_end_offset();
    while offset < end {
        let limits = ReadLimits { max_bytes: 1 << 20, max_offset: end, min_one_batch: true };
        let Some(plan) = l.read_plan(offset, limits).unwrap() else { break };
        let bytes = plan.read().unwrap();
        assert!(!bytes.is_empty());
        for item in BatchIter::new(&bytes, true) {
            let (_, view) = item.unwrap();
            for r in decode_records(&view).unwrap() {
                if r.offset >= offset {
                    let v = r.value.map(|v| String::from_utf8_lossy(&v).into_owned());
                    out.push((r.offset, String::from_utf8(r.key.unwrap()).unwrap(), v));
                }
            }
            offset = view.next_offset();
        }
    }
    out
}

fn cleaner() -> Cleaner {
    Cleaner::new(
        OffsetMap::new(1 << 24, 0.9),
        1 << 16,
        Arc::new(Throttler::new(f64::MAX)),
        Arc::new(StopSignal::default()),
    )
}

/// One round from `checkpoint`; returns the new checkpoint (None if aborted).
fn clean_once(c: &mut Cleaner, log: &SharedLog, checkpoint: Option<i64>, now: i64) -> Option<i64> {
    let snapshot = LogSnapshot::take(&log.lock().unwrap());
    let o = cleanable_offsets(&snapshot, checkpoint, now);
    let ltc = LogToClean::new(snapshot, o.first_dirty_offset, o.first_uncleanable_dirty_offset, false);
    match c.clean(&ltc, log, &|| true, now).unwrap() {
        CleanOutcome::Cleaned { end_offset, .. } => Some(end_offset),
        CleanOutcome::Aborted(_) => None,
    }
}

/// The latest record of each key among `records`, in offset order.
fn latest_per_key(records: &[Rec]) -> Vec<Rec> {
    let mut latest: HashMap<&str, &Rec> = HashMap::new();
    for r in records {
        latest.insert(&r.1, r);
    }
    let mut v: Vec<Rec> = latest.into_values().cloned().collect();
    v.sort();
    v
}

fn kv(k: usize, v: usize) -> (String, Option<String>) {
    (format!("key-{k}"), Some(format!("value-{v}")))
}

/// 5 segments of 40 updates over 10 keys, then an active segment.
fn build_log(dir: &Path) -> (SharedLog, Vec<Rec>) {
    let log = create(dir, config(|_| {}));
    let mut written = Vec::new();
    let mut n = 0;
    for _ in 0..5 {
        for _ in 0..4 {
            let batch: Vec<_> = (0..10).map(|i| kv((n + i * 3) % 10, n + i)).collect();
            let offsets = append(&log, &batch);
            for (o, (k, v)) in offsets.into_iter().zip(batch) {
                written.push((o, k, v));
            }
            n += 10;
        }
        roll(&log);
    }
    let tail = vec![kv(0, 9999)];
    let o = append(&log, &tail);
    written.push((o[0], tail[0].0.clone(), tail[0].1.clone()));
    (log, written)
}

#[test]
fn keeps_the_latest_value_per_key_at_its_original_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (log, written) = build_log(dir.path());
    assert_eq!(log.lock().unwrap().segment_count(), 6);
    let before_end = log.lock().unwrap().log_end_offset();
    let checkpoint = clean_once(&mut cleaner(), &log, None, NOW).expect("cleaned");
    // Everything below the active segment was cleaned.
    assert_eq!(checkpoint, 200);
    let after = read_all(&log);
    let (cleaned_part, active_part): (Vec<Rec>, Vec<Rec>) = written.iter().cloned().partition(|r| r.0 < 200);
    let mut expected = latest_per_key(&cleaned_part);
    expected.extend(active_part);
    assert_eq!(after, expected);
    let l = log.lock().unwrap();
    assert_eq!(l.log_end_offset(), before_end);
    // The five small segments became one; the active one is untouched.
    assert_eq!(l.segments().map(|s| s.base_offset()).collect::<Vec<_>>(), vec![0, 200]);
    // No leftovers.
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(
        names.iter().all(|n| !n.ends_with(CLEANED_SUFFIX) && !n.ends_with(SWAP_SUFFIX) && !n.ends_with(".deleted")),
        "{names:?}"
    );
    drop(l);
    // Gaps survive an unclean restart: recovery must not cut at them.
    drop(log);
    let hints = LoadHints { offset_gaps_possible: true, ..Default::default() };
    let reloaded = load(dir.path(), config(|_| {}), hints);
    assert_eq!(reloaded.lock().unwrap().log_end_offset(), before_end);
    reloaded.lock().unwrap().set_high_watermark(before_end);
    assert_eq!(read_all(&reloaded), expected);
}

#[test]
fn a_second_round_keeps_the_clean_section_deduplicated() {
    let dir = tempfile::tempdir().unwrap();
    let (log, mut written) = build_log(dir.path());
    let mut c = cleaner();
    let cp = clean_once(&mut c, &log, None, NOW).unwrap();
    // More updates of half the keys, then roll so they become cleanable.
    for i in 0..5 {
        let batch = vec![kv(i, 5000 + i)];
        let o = append(&log, &batch);
        written.push((o[0], batch[0].0.clone(), batch[0].1.clone()));
    }
    roll(&log);
    let cp2 = clean_once(&mut c, &log, Some(cp), NOW).unwrap();
    assert_eq!(cp2, log.lock().unwrap().log_end_offset());
    assert_eq!(read_all(&log), latest_per_key(&written));
}

#[test]
fn tombstones_stay_until_the_delete_horizon_then_go() {
    let dir = tempfile::tempdir().unwrap();
    let log = create(dir.path(), config(|c| c.delete_retention_ms = 10_000));
    append(&log, &[kv(1, 1), kv(2, 2), kv(3, 3)]);
    append(&log, &[("key-1".into(), None), kv(3, 33)]);
    roll(&log);
    append(&log, &[kv(4, 4)]);
    roll(&log);
    append(&log, &[kv(9, 9)]); // active
    let mut c = cleaner();
    // Round 1: the tombstone stays (its horizon is now set), key-1's value goes.
    let cp = clean_once(&mut c, &log, None, NOW).unwrap();
    let keys = |log: &SharedLog| read_all(log).into_iter().map(|r| (r.0, r.1, r.2.is_some())).collect::<Vec<_>>();
    let with_tombstone = vec![
        (1, "key-2".to_string(), true),
        (3, "key-1".to_string(), false),
        (4, "key-3".to_string(), true),
        (5, "key-4".to_string(), true),
        (6, "key-9".to_string(), true),
    ];
    assert_eq!(keys(&log), with_tombstone);
    // Before the horizon (now + delete.retention.ms) it is still there.
    append(&log, &[kv(7, 7)]);
    roll(&log);
    let cp = clean_once(&mut c, &log, Some(cp), NOW + 9_999).unwrap();
    assert!(keys(&log).contains(&(3, "key-1".to_string(), false)));
    // At the horizon it is gone; everything else stays at its offset.
    append(&log, &[kv(8, 8)]);
    roll(&log);
    clean_once(&mut c, &log, Some(cp), NOW + 10_000).unwrap();
    let after = keys(&log);
    assert!(!after.iter().any(|r| r.1 == "key-1"), "{after:?}");
    assert_eq!(after.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 4, 5, 6, 7, 8]);
}

#[test]
fn a_round_is_abandoned_when_the_log_is_truncated_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let (log, written) = build_log(dir.path());
    let snapshot = LogSnapshot::take(&log.lock().unwrap());
    let o = cleanable_offsets(&snapshot, None, NOW);
    let ltc = LogToClean::new(snapshot, o.first_dirty_offset, o.first_uncleanable_dirty_offset, false);
    // A follower truncation after the snapshot: the map would name records
    // that no longer exist. Reading the cut segment may fail first; either
    // way nothing is swapped in.
    log.lock().unwrap().truncate_to(190).unwrap();
    match cleaner().clean(&ltc, &log, &|| true, NOW) {
        Ok(CleanOutcome::Aborted(_)) | Err(_) => {}
        Ok(other) => panic!("cleaned a truncated log: {other:?}"),
    }
    let remaining: Vec<Rec> = written.into_iter().filter(|r| r.0 < 190).collect();
    log.lock().unwrap().set_high_watermark(190);
    assert_eq!(read_all(&log), remaining);
    let leftovers = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(CLEANED_SUFFIX))
        .count();
    assert_eq!(leftovers, 0);
    // Segments deleted by retention meanwhile abandon it too.
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = build_log(dir.path());
    let snapshot = LogSnapshot::take(&log.lock().unwrap());
    let ltc = LogToClean::new(snapshot, 0, 200, false);
    log.lock().unwrap().increment_log_start_offset(80).unwrap();
    assert!(matches!(cleaner().clean(&ltc, &log, &|| true, NOW).unwrap(), CleanOutcome::Aborted(_)));
}

/// Copies the regular files of `from` into `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn crash_leftovers_are_rolled_back_or_completed() {
    let root = tempfile::tempdir().unwrap();
    let original = root.path().join("original");
    let cleaned = root.path().join("cleaned");
    let (log, _) = build_log(&cleaned);
    let end = log.lock().unwrap().log_end_offset();
    log.lock().unwrap().close().unwrap();
    copy_dir(&cleaned, &original);
    let before = read_all(&log);
    clean_once(&mut cleaner(), &log, None, NOW).unwrap();
    let after = read_all(&log);
    assert_ne!(before, after);
    log.lock().unwrap().close().unwrap();
    drop(log);

    let name = |suffix: &str, extra: &str| format!("{}{extra}", segment_file_name(0, suffix));
    // Each crash point: which cleaned files exist under which suffix, and
    // whether the originals they replace are still there.
    struct Case {
        what: &'static str,
        new_files: &'static [(&'static str, &'static str)],
        originals_present: bool,
        completed: bool,
    }
    let cases = [
        Case {
            what: "while writing .cleaned",
            new_files: &[(".log", CLEANED_SUFFIX), (".index", CLEANED_SUFFIX)],
            originals_present: true,
            completed: false,
        },
        Case {
            what: "while renaming to .swap",
            new_files: &[(".timeindex", SWAP_SUFFIX), (".index", SWAP_SUFFIX), (".log", CLEANED_SUFFIX)],
            originals_present: true,
            completed: false,
        },
        Case {
            what: "after the .swap renames",
            new_files: &[(".timeindex", SWAP_SUFFIX), (".index", SWAP_SUFFIX), (".log", SWAP_SUFFIX)],
            originals_present: true,
            completed: true,
        },
        Case {
            what: "while renaming the originals to .deleted",
            new_files: &[(".timeindex", SWAP_SUFFIX), (".index", SWAP_SUFFIX), (".log", SWAP_SUFFIX)],
            originals_present: false,
            completed: true,
        },
    ];
    for (i, case) in cases.iter().enumerate() {
        let dir = root.path().join(format!("case-{i}"));
        copy_dir(&original, &dir);
        for (suffix, extra) in case.new_files {
            std::fs::copy(cleaned.join(name(suffix, "")), dir.join(name(suffix, extra))).unwrap();
        }
        if !case.originals_present {
            // Half the originals already moved to .deleted.
            for base in [0i64, 40, 80] {
                let f = segment_file_name(base, ".log");
                std::fs::rename(dir.join(&f), dir.join(format!("{f}.deleted"))).unwrap();
            }
        }
        let hints = LoadHints { offset_gaps_possible: true, ..Default::default() };
        let log = load(&dir, config(|_| {}), hints);
        log.lock().unwrap().set_high_watermark(end);
        let expected = if case.completed { &after } else { &before };
        assert_eq!(&read_all(&log), expected, "crash {}", case.what);
        let names: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert!(
            names.iter().all(|n| !n.ends_with(CLEANED_SUFFIX) && !n.ends_with(SWAP_SUFFIX) && !n.ends_with(".deleted")),
            "crash {}: {names:?}",
            case.what
        );
        let bases: Vec<i64> = log.lock().unwrap().segments().map(|s| s.base_offset()).collect();
        if case.completed {
            assert_eq!(bases, vec![0, 200], "crash {}", case.what);
        } else {
            assert_eq!(bases, vec![0, 40, 80, 120, 160, 200], "crash {}", case.what);
        }
    }
}

#[test]
fn idempotent_producers_keep_their_last_batch() {
    let dir = tempfile::tempdir().unwrap();
    let log = create(dir.path(), config(|_| {}));
    let batch = |seq: i32, v: &str| {
        let mut b = BatchBuilder::new(0, NOW).producer(42, 0, seq);
        b.push(Record::new(Some(b"k".to_vec()), Some(v.as_bytes().to_vec()), NOW));
        b.build()
    };
    {
        let mut l = log.lock().unwrap();
        for (seq, v) in [(0, "a"), (1, "b")] {
            l.append_as_leader(&batch(seq, v), 0, NOW).unwrap();
        }
    }
    append(&log, &[("k".into(), Some("c".into()))]); // a plain producer supersedes both
    roll(&log);
    append(&log, &[kv(0, 0)]);
    clean_once(&mut cleaner(), &log, None, NOW).unwrap();
    assert_eq!(read_all(&log), vec![(2, "k".into(), Some("c".into())), (3, "key-0".into(), Some("value-0".into()))]);
    // The producer's last batch is still there (empty) so a retry of seq 1
    // is still recognised as a duplicate with its original offset.
    let mut l = log.lock().unwrap();
    let dup = l.append_as_leader(&batch(1, "b"), 0, NOW).unwrap();
    assert!(dup.duplicate);
    assert_eq!(dup.first_offset, 1);
    // And after a restart, rebuilt from the log alone (no snapshot).
    l.close().unwrap();
    drop(l);
    drop(log);
    for f in std::fs::read_dir(dir.path()).unwrap() {
        let p = f.unwrap().path();
        if p.extension().is_some_and(|e| e == "snapshot") {
            std::fs::remove_file(p).unwrap();
        }
    }
    let log = load(dir.path(), config(|_| {}), LoadHints { offset_gaps_possible: true, ..Default::default() });
    let dup = log.lock().unwrap().append_as_leader(&batch(1, "b"), 0, NOW).unwrap();
    assert!(dup.duplicate);
}

#[test]
fn compacted_logs_roll_within_max_compaction_lag() {
    let dir = tempfile::tempdir().unwrap();
    let log = create(dir.path(), config(|c| c.max_compaction_lag_ms = 1000));
    let at = |ts: i64| {
        let mut b = BatchBuilder::new(0, ts);
        b.push(Record::new(Some(b"k".to_vec()), Some(b"v".to_vec()), ts));
        log.lock().unwrap().append_as_leader(&b.build(), 0, ts).unwrap();
    };
    at(NOW);
    at(NOW + 1000);
    assert_eq!(log.lock().unwrap().segment_count(), 1);
    // segment.ms is a week, but the active segment is never cleaned, so a
    // compacted log rolls after max.compaction.lag.ms (Kafka's maxSegmentMs).
    at(NOW + 1001);
    assert_eq!(log.lock().unwrap().segment_count(), 2);
}

/// Writes ~100 MB over 10,000 keys and cleans it once, printing the time.
/// `hot_only`: every key updated throughout, so the latest records sit at
/// the end and most batches go whole. Otherwise half the keys are written
/// once, spread over the log, so every batch keeps a few records and is
/// rebuilt (and, with a codec, recompressed).
fn throughput(name: &str, codec: crate::record::batch::Compression, hot_only: bool) {
    use crate::record::batch::BatchView;
    let dir = tempfile::tempdir().unwrap();
    let log = create(dir.path(), config(|c| c.segment_bytes = 64 << 20));
    const KEYS: usize = 10_000;
    const PER_BATCH: usize = 50;
    let target: u64 = 100 << 20;
    let mut n = 0usize;
    let mut cold = 0usize;
    let mut written: u64 = 0;
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut keys = std::collections::HashSet::new();
    while written < target {
        let mut b = BatchBuilder::new(0, NOW);
        for i in 0..PER_BATCH {
            let key = if !hot_only && (n + i) % 20 == 0 && cold < KEYS / 2 {
                cold += 1;
                format!("cold-{cold:05}")
            } else {
                format!("hot-{:05}", (n + i) * 7919 % if hot_only { KEYS } else { KEYS / 2 })
            };
            keys.insert(key.clone());
            // Half random bytes, half text: compresses about 2:1.
            let mut v = format!("{:09}", n + i).into_bytes();
            while v.len() < 500 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                v.push(x as u8);
            }
            v.resize(1000, b'v');
            b.push(Record::new(Some(key.into_bytes()), Some(v), NOW));
        }
        let plain = b.build();
        let bytes = match codec {
            crate::record::batch::Compression::None => plain.to_vec(),
            c => {
                let view = BatchView::parse_valid(&plain).unwrap();
                let body = crate::record::compression::compress(c, view.records_bytes()).unwrap();
                super::filter::write_batch(
                    &view,
                    c.id(),
                    view.base_timestamp(),
                    view.max_timestamp(),
                    PER_BATCH as i32,
                    &body,
                )
            }
        };
        let mut l = log.lock().unwrap();
        l.append_as_leader(&bytes, 0, NOW).unwrap();
        let end = l.log_end_offset();
        l.set_high_watermark(end);
        written = l.size_in_bytes();
        n += PER_BATCH;
    }
    roll(&log);
    append(&log, &[kv(0, 0)]);
    let mut c = cleaner();
    c.map = OffsetMap::new(128 << 20, 0.9);
    let started = std::time::Instant::now();
    clean_once(&mut c, &log, None, NOW).unwrap();
    let took = started.elapsed();
    let after = log.lock().unwrap().size_in_bytes();
    println!(
        "{name}: {:.1} MB on disk ({n} records, {} keys) -> {:.1} MB in {:.2?} ({:.0} MB/s)",
        written as f64 / (1 << 20) as f64,
        keys.len(),
        after as f64 / (1 << 20) as f64,
        took,
        written as f64 / (1 << 20) as f64 / took.as_secs_f64()
    );
    assert_eq!(read_all(&log).len(), keys.len() + 1);
}

/// `cargo test --release --lib -- --ignored --nocapture compaction_throughput`
#[test]
#[ignore = "figures; run with --release --ignored --nocapture"]
fn compaction_throughput() {
    use crate::record::batch::Compression;
    throughput("uncompressed, latest records at the end", Compression::None, true);
    throughput("uncompressed, every batch rebuilt", Compression::None, false);
    throughput("lz4, every batch rebuilt and recompressed", Compression::Lz4, false);
    throughput("zstd, every batch rebuilt and recompressed", Compression::Zstd, false);
}

#[test]
fn cleaning_keeps_every_aborted_transaction_indexed() {
    use crate::record::control::EndTxnMarker;
    let dir = tempfile::tempdir().unwrap();
    let log = create(dir.path(), config(|_| {}));
    let txn = |pid: i64, key: &str| {
        let mut b = BatchBuilder::new(0, NOW).producer(pid, 0, 0).transactional(true);
        b.push(Record::new(Some(key.as_bytes().to_vec()), Some(b"aborted".to_vec()), NOW));
        b.build()
    };
    for pid in [1, 2] {
        {
            let mut l = log.lock().unwrap();
            l.append_as_leader(&txn(pid, "k"), 0, NOW).unwrap();
            l.append_marker(pid, 0, EndTxnMarker { commit: false, coordinator_epoch: 0 }, 0, NOW).unwrap();
        }
        append(&log, &[("k".into(), Some(format!("plain-{pid}")))]);
        roll(&log);
    }
    append(&log, &[kv(0, 0)]);
    let before = log.lock().unwrap().collect_aborted_transactions(0, i64::MAX);
    assert_eq!(
        before.iter().map(|t| (t.producer_id, t.first_offset, t.last_offset)).collect::<Vec<_>>(),
        [(1, 0, 1), (2, 3, 4)]
    );
    clean_once(&mut cleaner(), &log, None, NOW).unwrap();
    let l = log.lock().unwrap();
    assert!(l.segment_count() < 3, "the two segments were cleaned into one");
    assert_eq!(l.collect_aborted_transactions(0, i64::MAX), before, "no aborted transaction lost");
    let indexes: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txnindex"))
        .collect();
    assert_eq!(indexes.len(), 1, "one index for the cleaned segment: {indexes:?}");
    assert_eq!(std::fs::metadata(&indexes[0]).unwrap().len(), 2 * 34);
}
