//! Segment and index recovery under damage, as a bounded-time property
//! test (cargo-fuzz needs nightly; this runs on stable in CI).
//!
//! A partition log is written through the broker's own append path
//! (`PartitionLog::append_as_leader`: plain, compressed and idempotent
//! batches over several leader epochs, small segments and a dense offset
//! index), closed and reopened so it has producer snapshots, a
//! leader-epoch checkpoint and the log directory's offset checkpoints, and
//! kept in memory. Each case restores that directory, damages some of its
//! files (truncation anywhere, bit flips, runs of flipped bytes, garbage
//! appended, a zero-filled tail, random overwrites, a digit changed in a
//! text checkpoint, a file deleted), and loads it the way `LogManager`
//! does (hints from the offset checkpoints, `unwrap_or_default` on a
//! checkpoint that does not parse).
//!
//! Properties:
//! - loading never panics; it fails with an error or succeeds;
//! - log start <= high watermark <= log end, recovery point <= log end;
//! - every batch from the log start to the log end is read back through
//!   `read_plan` (the offset index) with a valid CRC, its records decode
//!   (`decode_records`, decompression included), offsets are dense and
//!   strictly increasing, and each record has the value written at that
//!   offset; when only `.log` bytes of segments that are recovered were
//!   damaged, what survives is a prefix of what was written; when no
//!   `.log` byte was damaged, nothing is lost;
//! - a read at any offset returns the batch holding it; each offset index
//!   entry points at the start of a batch holding its offset;
//!   `offset_for_timestamp` finds the first record at or after a time;
//! - leader-epoch entries strictly increase and lie within the log; when
//!   the checkpoint is intact or unreadable, they are exactly the epochs
//!   of the surviving batches;
//! - producer state (last batch of each producer) is what the surviving
//!   batches say, whatever happened to the snapshots;
//! - the loaded log takes an append at its end, and a clean close and
//!   reopen keeps everything.
//!
//! Seeded (`StdRng`), so a failure prints its seed and case and
//! reproduces; `WEIR_FUZZ_ITERS` multiplies the number of cases for long
//! local runs, `WEIR_FUZZ_SEED` changes the seed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use weir::config::{BrokerConfig, LogConfig};
use weir::record::batch::{BatchIter, Compression};
use weir::record::records::{decode_records, BatchBuilder, Record};
use weir::storage::checkpoint;
use weir::storage::flusher::Flusher;
use weir::storage::partition_log::{LoadHints, PartitionLog, ReadLimits};
use weir::storage::TopicPartition;

const NOW: i64 = 1_700_000_000_000;
const BASE_CASES: u64 = 400;

fn multiplier() -> u64 {
    std::env::var("WEIR_FUZZ_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(1).max(1)
}

fn seed() -> u64 {
    std::env::var("WEIR_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x5eed_2026)
}

fn config() -> Arc<LogConfig> {
    let mut c = LogConfig::resolve(&BrokerConfig::default(), &BTreeMap::new());
    c.segment_bytes = 4096;
    c.index_interval_bytes = 200;
    Arc::new(c)
}

/// One flusher thread for every log the test opens.
fn flusher() -> Arc<Flusher> {
    static FLUSHER: std::sync::OnceLock<Arc<Flusher>> = std::sync::OnceLock::new();
    FLUSHER.get_or_init(Flusher::start).clone()
}

fn tp() -> TopicPartition {
    TopicPartition::new("t", 0)
}

/// One batch as written: its offsets, epoch and producer fields.
#[derive(Debug, Clone, Copy)]
struct Written {
    base: i64,
    last: i64,
    leader_epoch: i32,
    pid: i64,
    producer_epoch: i16,
    last_seq: i32,
}

/// What was written, record by record and batch by batch.
struct Expected {
    /// (offset, timestamp, value)
    records: Vec<(i64, i64, Vec<u8>)>,
    batches: Vec<Written>,
}

/// A partition directory and its parent (the log directory holding the
/// offset checkpoints), as bytes by path relative to the parent.
struct Pristine {
    files: Vec<(PathBuf, Vec<u8>)>,
    expected: Expected,
}

fn value_of(offset: usize) -> Vec<u8> {
    // Values of varying length, compressible and not.
    let n = 10 + offset * 7 % 90;
    (0..n).map(|i| b"abcdefghij0123456789"[(offset + i * (offset % 3 + 1)) % 20]).collect()
}

fn append(log: &mut PartitionLog, rng: &mut StdRng, exp: &mut Expected, leader_epoch: i32, seqs: &mut [i32; 3]) {
    let n = rng.gen_range(1..=6usize);
    let first = exp.records.len();
    let ts0 = NOW + first as i64 * 10;
    let codec = match rng.gen_range(0..8) {
        0 => Compression::Gzip,
        1 => Compression::Snappy,
        2 => Compression::Lz4,
        3 => Compression::Zstd,
        _ => Compression::None,
    };
    let producer = rng.gen_range(0..5usize);
    let mut b = BatchBuilder::new(0, ts0).compression(codec);
    let (pid, pepoch, seq) = if producer < 3 {
        let seq = seqs[producer];
        seqs[producer] += n as i32;
        b = b.producer(100 + producer as i64, 0, seq);
        (100 + producer as i64, 0i16, seq)
    } else {
        (-1, -1, -1)
    };
    for i in 0..n {
        let off = first + i;
        b.push(Record::new(Some(format!("k{off}").into_bytes()), Some(value_of(off)), ts0 + i as i64 * 10));
    }
    let info = log.append_as_leader(&b.build(), leader_epoch, NOW).expect("append");
    assert_eq!(info.first_offset, first as i64);
    for i in 0..n {
        let off = first + i;
        exp.records.push((off as i64, ts0 + i as i64 * 10, value_of(off)));
    }
    exp.batches.push(Written {
        base: info.first_offset,
        last: info.last_offset,
        leader_epoch,
        pid,
        producer_epoch: pepoch,
        last_seq: if pid >= 0 { seq + n as i32 - 1 } else { -1 },
    });
}

fn read_files(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in [root.to_path_buf(), root.join(tp().dir_name())] {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                out.push((p.strip_prefix(root).unwrap().to_path_buf(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn restore(root: &Path, files: &[(PathBuf, Vec<u8>)]) {
    let part = root.join(tp().dir_name());
    let _ = std::fs::remove_dir_all(&part);
    for e in std::fs::read_dir(root).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::remove_file(p).unwrap();
        }
    }
    std::fs::create_dir_all(&part).unwrap();
    for (p, b) in files {
        std::fs::write(root.join(p), b).unwrap();
    }
}

fn write_checkpoints(root: &Path, log: &PartitionLog) {
    let one = |v: i64| BTreeMap::from([(tp(), v)]);
    checkpoint::write_offset_checkpoint(&root.join(checkpoint::RECOVERY_POINT_CHECKPOINT), &one(log.recovery_point()))
        .unwrap();
    checkpoint::write_offset_checkpoint(
        &root.join(checkpoint::LOG_START_OFFSET_CHECKPOINT),
        &one(log.log_start_offset()),
    )
    .unwrap();
    checkpoint::write_offset_checkpoint(&root.join(checkpoint::REPLICATION_CHECKPOINT), &one(log.high_watermark()))
        .unwrap();
}

/// Writes the sample log. `clean`: closed (indexes, snapshot, marker);
/// otherwise flushed and dropped as by a crash after the last fsync, with
/// a stale recovery point in the checkpoint.
fn build(rng: &mut StdRng, clean: bool) -> Pristine {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join(tp().dir_name());
    let flusher = flusher();
    let mut exp = Expected { records: Vec::new(), batches: Vec::new() };
    let mut seqs = [0i32; 3];
    let mut log = PartitionLog::create(&dir, tp(), uuid::Uuid::new_v4(), config(), flusher.clone()).unwrap();
    for i in 0..30 {
        append(&mut log, rng, &mut exp, i / 10, &mut seqs);
    }
    // A first restart: a producer snapshot at this point.
    log.close().unwrap();
    drop(log);
    let hints =
        LoadHints { clean_shutdown: true, recovery_point: Some(exp.records.len() as i64), ..Default::default() };
    let mut log = PartitionLog::load(&dir, tp(), config(), flusher.clone(), hints).unwrap();
    for i in 30..60 {
        append(&mut log, rng, &mut exp, 3 + i / 20, &mut seqs);
        if i == 45 {
            write_checkpoints(root.path(), &log);
        }
    }
    log.flush().unwrap();
    if clean {
        log.close().unwrap();
        write_checkpoints(root.path(), &log);
        checkpoint::write_atomic(&root.path().join(checkpoint::CLEAN_SHUTDOWN_FILE), b"").unwrap();
    }
    assert!(log.segment_count() >= 3, "the sample spans several segments");
    drop(log);
    let files = read_files(root.path());
    Pristine { files, expected: exp }
}

// ---------------------------------------------------------------------------
// Damage
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Damage {
    Truncate,
    FlipBits,
    FlipRun,
    AppendGarbage,
    ZeroTail,
    Overwrite,
    ChangeDigit,
    Delete,
}

const ALL_DAMAGE: [Damage; 8] = [
    Damage::Truncate,
    Damage::FlipBits,
    Damage::FlipRun,
    Damage::AppendGarbage,
    Damage::ZeroTail,
    Damage::Overwrite,
    Damage::ChangeDigit,
    Damage::Delete,
];

/// Damages `bytes` in place; `None` deletes the file.
fn damage(rng: &mut StdRng, bytes: &mut Vec<u8>, kind: Damage) -> Option<()> {
    let len = bytes.len();
    match kind {
        Damage::Truncate => bytes.truncate(rng.gen_range(0..=len)),
        Damage::FlipBits if len > 0 => {
            for _ in 0..rng.gen_range(1..=8) {
                let at = rng.gen_range(0..len);
                bytes[at] ^= 1 << rng.gen_range(0..8);
            }
        }
        Damage::FlipRun if len > 0 => {
            let at = rng.gen_range(0..len);
            let n = rng.gen_range(1..=32).min(len - at);
            for b in &mut bytes[at..at + n] {
                *b ^= rng.gen_range(1..=255u8);
            }
        }
        Damage::AppendGarbage => {
            let n = rng.gen_range(1..=300);
            bytes.extend((0..n).map(|_| rng.gen::<u8>()));
        }
        Damage::ZeroTail if len > 0 => {
            let at = rng.gen_range(0..len);
            bytes[at..].fill(0);
        }
        Damage::Overwrite if len > 0 => {
            let at = rng.gen_range(0..len);
            let n = rng.gen_range(1..=64).min(len - at);
            rng.fill(&mut bytes[at..at + n]);
        }
        Damage::ChangeDigit => {
            let digits: Vec<usize> = (0..len).filter(|&i| bytes[i].is_ascii_digit()).collect();
            if digits.is_empty() {
                bytes.push(b'0' + rng.gen_range(0..10));
            } else {
                let at = digits[rng.gen_range(0..digits.len())];
                bytes[at] = b'0' + rng.gen_range(0..10);
            }
        }
        Damage::Delete => return None,
        _ => bytes.push(rng.gen()),
    }
    Some(())
}

fn file_kind(p: &Path) -> &'static str {
    let name = p.file_name().unwrap().to_string_lossy().into_owned();
    for (suffix, kind) in [
        (".log", "log"),
        (".index", "index"),
        (".timeindex", "timeindex"),
        (".snapshot", "snapshot"),
        (checkpoint::LEADER_EPOCH_CHECKPOINT, "epochs"),
        ("-checkpoint", "checkpoint"),
        (checkpoint::PARTITION_METADATA, "partition.metadata"),
        (checkpoint::CLEAN_SHUTDOWN_FILE, "marker"),
    ] {
        if name.ends_with(suffix) {
            return kind;
        }
    }
    "other"
}

fn base_of(p: &Path) -> i64 {
    p.file_stem().unwrap().to_string_lossy().parse().unwrap()
}

// ---------------------------------------------------------------------------
// One case
// ---------------------------------------------------------------------------

#[derive(Default, Debug)]
struct Tally {
    cases: u64,
    loads_ok: u64,
    load_errors: u64,
    records_lost: u64,
    damaged_files: u64,
}

fn load_like_log_manager(root: &Path) -> Result<PartitionLog, weir::storage::StorageError> {
    let read =
        |name: &str| checkpoint::read_offset_checkpoint(&root.join(name)).unwrap_or_default().get(&tp()).copied();
    let hints = LoadHints {
        clean_shutdown: root.join(checkpoint::CLEAN_SHUTDOWN_FILE).exists(),
        offset_gaps_possible: false,
        recovery_point: read(checkpoint::RECOVERY_POINT_CHECKPOINT),
        log_start_offset: read(checkpoint::LOG_START_OFFSET_CHECKPOINT),
        high_watermark: read(checkpoint::REPLICATION_CHECKPOINT),
    };
    PartitionLog::load(&root.join(tp().dir_name()), tp(), config(), flusher(), hints)
}

/// Reads every batch from `from` to the end through `read_plan`, checking
/// CRCs, record decoding and offset density; returns (offset, value).
fn read_all(log: &PartitionLog, from: i64) -> Vec<(i64, Vec<u8>)> {
    let end = log.log_end_offset();
    let mut out = Vec::new();
    let mut offset = from;
    while offset < end {
        let limits = ReadLimits { max_bytes: 3000, max_offset: end, min_one_batch: true };
        let plan = log.read_plan(offset, limits).expect("read plan").expect("data below the log end");
        let bytes = plan.read().expect("read");
        assert!(!bytes.is_empty(), "empty read at {offset} below the log end {end}");
        for item in BatchIter::new(&bytes, true) {
            let (_, view) = item.expect("every batch served has a valid CRC");
            assert!(view.base_offset() <= offset && offset <= view.last_offset() || view.base_offset() == offset);
            let records = decode_records(&view).expect("records of a served batch decode");
            for r in records {
                if r.offset >= from {
                    assert_eq!(r.offset, out.last().map_or(from, |&(o, _)| o + 1), "offsets dense and increasing");
                    out.push((r.offset, r.value.unwrap_or_default()));
                }
            }
            offset = view.next_offset();
        }
    }
    out
}

/// The partition leader epoch of every batch from `from`, by base offset.
fn batch_epochs(log: &PartitionLog, from: i64) -> BTreeMap<i64, i32> {
    let end = log.log_end_offset();
    let mut out = BTreeMap::new();
    let mut offset = from;
    while offset < end {
        let limits = ReadLimits { max_bytes: 1 << 20, max_offset: end, min_one_batch: true };
        let bytes = log.read_plan(offset, limits).unwrap().unwrap().read().unwrap();
        for item in BatchIter::new(&bytes, true) {
            let (_, view) = item.unwrap();
            out.insert(view.base_offset(), view.partition_leader_epoch());
            offset = view.next_offset();
        }
    }
    out
}

fn check(
    log: &PartitionLog,
    exp: &Expected,
    log_damaged: bool,
    (index_damaged, time_index_damaged): (bool, bool),
    epochs_trustworthy: bool,
) -> usize {
    let start = log.log_start_offset();
    let end = log.log_end_offset();
    assert!(0 <= start && start <= log.high_watermark() && log.high_watermark() <= end, "offsets out of order");
    assert!(log.recovery_point() <= end, "recovery point beyond the log end");
    assert!(end <= exp.records.len() as i64, "log end {end} beyond what was written");
    if !log_damaged {
        assert_eq!(end, exp.records.len() as i64, "records lost although no .log byte was damaged");
    }
    // Contents: each record's original value at its original offset.
    let values = read_all(log, start);
    assert_eq!(values.len() as i64, end - start);
    for (o, v) in &values {
        assert_eq!(v, &exp.records[*o as usize].2, "value at offset {o}");
    }
    // Reads at every offset find the batch holding it; index entries point
    // at batch starts.
    for o in start..end {
        let limits = ReadLimits { max_bytes: 1, max_offset: end, min_one_batch: true };
        let bytes = log.read_plan(o, limits).unwrap().unwrap().read().unwrap();
        let (_, view) = BatchIter::new(&bytes, true).next().expect("one batch").unwrap();
        assert!(view.base_offset() <= o && o <= view.last_offset(), "read at {o} got batch {}", view.base_offset());
    }
    // A damaged index that still passes the load checks is caught at
    // lookup time (reads above); an undamaged or rebuilt one is exact.
    for seg in log.segments().filter(|_| !index_damaged) {
        for &(rel, pos) in seg.offset_index.entries() {
            let b = seg.batch_at(pos as u64, seg.size()).unwrap().expect("index entry points at a batch");
            let o = seg.base_offset() + rel as i64;
            // Lookups at or after `o` start here and scan forward: the
            // batch must not start after `o` (one ending before it only
            // costs a longer scan).
            assert!(b.base_offset <= o, "index entry {o} -> batch {}..={}", b.base_offset, b.last_offset);
        }
    }
    // Timestamps. Known gap (open): a time index damaged so that it still
    // passes the load checks (entries increasing, offsets in the segment)
    // is trusted on a clean open and can answer a later offset; only an
    // undamaged or rebuilt time index is held to this.
    for k in [0usize, 3, 50, 111, 200].into_iter().filter(|_| !time_index_damaged) {
        let Some(&(_, ts, _)) = exp.records.get(k) else { continue };
        let want = exp.records.iter().find(|(o, t, _)| *t >= ts && *o >= start && *o < end).map(|r| r.0);
        let got = log.offset_for_timestamp(ts).unwrap().map(|r| r.0);
        assert_eq!(got, want, "offset for timestamp {ts}");
    }
    // Leader epochs.
    let epochs = log.leader_epoch_cache().entries();
    for w in epochs.windows(2) {
        assert!(w[0].0 < w[1].0 && w[0].1 < w[1].1, "epochs not increasing: {epochs:?}");
    }
    for &(_, o) in epochs {
        assert!(start <= o && o < end.max(start + 1), "epoch start {o} outside [{start}, {end}): {epochs:?}");
    }
    let surviving: Vec<&Written> = exp.batches.iter().filter(|b| b.last < end).collect();
    if epochs_trustworthy {
        // The partition leader epoch is the one header field neither the
        // CRC nor offset density covers (as in Kafka): a flip there is
        // kept, so the epochs to expect are the ones on disk.
        let on_disk = batch_epochs(log, start);
        let mut want: Vec<(i32, i64)> = Vec::new();
        for b in surviving.iter().filter(|b| b.last >= start) {
            let epoch = if log_damaged { on_disk[&b.base] } else { b.leader_epoch };
            if want.last().is_none_or(|&(e, _)| e < epoch) {
                want.push((epoch, b.base.max(start)));
            }
        }
        assert_eq!(epochs, &want[..], "leader epochs of the surviving batches");
    }
    // Producer state: the last batch of each producer, as the log says.
    if start == 0 {
        let mut want: BTreeMap<i64, &Written> = BTreeMap::new();
        for b in surviving.iter().filter(|b| b.pid >= 0) {
            want.insert(b.pid, b);
        }
        let got = log.producer_state().producers();
        for (pid, w) in &want {
            let e = got.get(pid).unwrap_or_else(|| panic!("producer {pid} lost"));
            let last = e.batches.back().expect("a batch");
            assert_eq!((e.epoch, last.last_seq, last.last_offset), (w.producer_epoch, w.last_seq, w.last));
        }
        assert!(got.keys().all(|p| want.contains_key(p)), "producers that wrote nothing surviving: {got:?}");
    }
    values.len()
}

fn run_case(rng: &mut StdRng, root: &Path, pristine: &Pristine, tally: &mut Tally, label: &mut String) {
    restore(root, &pristine.files);
    let exp = &pristine.expected;
    let clean = root.join(checkpoint::CLEAN_SHUTDOWN_FILE).exists();
    // Which .log files recovery rescans: with an unclean shutdown, the
    // ones at or after the recovery point; damage to the others is
    // damage to fsynced data, which no load can detect without reading
    // every CRC (Kafka does not either).
    let log_files: Vec<&(PathBuf, Vec<u8>)> = pristine.files.iter().filter(|(p, _)| file_kind(p) == "log").collect();
    let rp = checkpoint::read_offset_checkpoint(&root.join(checkpoint::RECOVERY_POINT_CHECKPOINT))
        .unwrap()
        .get(&tp())
        .copied()
        .unwrap_or(0);
    let recovered: Vec<PathBuf> = log_files
        .iter()
        .enumerate()
        .filter(|(i, _)| !clean && log_files.get(i + 1).is_none_or(|(next, _)| base_of(next) > rp))
        .map(|(_, (p, _))| p.clone())
        .collect();
    let mut candidates: Vec<PathBuf> = pristine
        .files
        .iter()
        .map(|(p, _)| p.clone())
        .filter(|p| file_kind(p) != "log" || recovered.contains(p))
        .map(|p| root.join(p))
        .filter(|p| !matches!(file_kind(p), "partition.metadata" | "marker"))
        .collect();
    // Damage metadata files only, or .log files too.
    let damage_logs = rng.gen_bool(0.5);
    if !damage_logs {
        candidates.retain(|p| file_kind(p) != "log");
    } else {
        candidates.retain(|p| file_kind(p) == "log" || rng.gen_bool(0.3));
    }
    // The offset checkpoints steer which segments are rescanned: damaging
    // them together with .log files could hide .log damage from recovery
    // legitimately, so they are damaged only in metadata-only cases.
    if damage_logs {
        candidates.retain(|p| file_kind(p) != "checkpoint");
    }
    let n = rng.gen_range(1..=3usize.min(candidates.len().max(1)));
    let mut what = Vec::new();
    let mut log_damaged = false;
    let mut epochs_damaged = false;
    let mut index_damaged = false;
    let mut time_index_damaged = false;
    for _ in 0..n {
        let Some(p) = candidates.get(rng.gen_range(0..candidates.len().max(1))).cloned() else { break };
        let kind = ALL_DAMAGE[rng.gen_range(0..ALL_DAMAGE.len())];
        let mut bytes = std::fs::read(&p).unwrap_or_default();
        match damage(rng, &mut bytes, kind) {
            Some(()) => std::fs::write(&p, &bytes).unwrap(),
            None => {
                let _ = std::fs::remove_file(&p);
            }
        }
        log_damaged |= file_kind(&p) == "log";
        epochs_damaged |= file_kind(&p) == "epochs";
        index_damaged |= file_kind(&p) == "index";
        time_index_damaged |= file_kind(&p) == "timeindex";
        what.push(format!("{kind:?} {}", p.file_name().unwrap().to_string_lossy()));
        tally.damaged_files += 1;
    }
    // The epoch file is trusted only if it reads as written or not at all
    // (then the log is the only source).
    let epoch_path = root.join(tp().dir_name()).join(checkpoint::LEADER_EPOCH_CHECKPOINT);
    let epochs_trustworthy = !epochs_damaged || checkpoint::read_leader_epoch_checkpoint(&epoch_path).is_err();
    *label = format!("clean={clean} damage=[{}]", what.join(", "));
    let mut log = match load_like_log_manager(root) {
        Ok(log) => log,
        Err(e) => {
            tally.load_errors += 1;
            label.push_str(&format!(": load failed: {e}"));
            return;
        }
    };
    tally.loads_ok += 1;
    let survived = check(&log, exp, log_damaged, (index_damaged, time_index_damaged), epochs_trustworthy);
    tally.records_lost += (exp.records.len() - survived) as u64;
    // The loaded log is usable: an append lands at its end, and a clean
    // close and reopen keeps everything.
    let end = log.log_end_offset();
    let mut b = BatchBuilder::new(0, NOW);
    b.push(Record::new(None, Some(b"after".to_vec()), NOW));
    let epoch = log.leader_epoch_cache().latest_epoch().unwrap_or(0).max(0) + 1;
    let info = log.append_as_leader(&b.build(), epoch, NOW).expect("append after load");
    assert_eq!(info.first_offset, end);
    log.set_high_watermark(end + 1);
    let start = log.log_start_offset();
    let before = read_all(&log, start);
    log.close().unwrap();
    drop(log);
    let hints = LoadHints {
        clean_shutdown: true,
        recovery_point: Some(end + 1),
        log_start_offset: Some(start),
        ..Default::default()
    };
    let log = PartitionLog::load(&root.join(tp().dir_name()), tp(), config(), flusher(), hints)
        .expect("reopen after a clean close");
    assert_eq!(read_all(&log, start), before, "a clean close and reopen changed the log");
    let last: Bytes = before.last().map(|(_, v)| Bytes::from(v.clone())).unwrap_or_default();
    assert_eq!(&last[..], b"after");
}

#[test]
fn damaged_logs_recover_to_consistent_state() {
    let seed = seed();
    let cases = BASE_CASES * multiplier();
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let pristine = [build(&mut rng, true), build(&mut rng, false)];
    let root = tempfile::tempdir().unwrap();
    let mut tally = Tally::default();
    for case in 0..cases {
        let which = (case % 2) as usize;
        let mut case_rng = StdRng::seed_from_u64(seed ^ (case.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        let mut label = String::new();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_case(&mut case_rng, root.path(), &pristine[which], &mut tally, &mut label)
        }));
        tally.cases += 1;
        if let Err(e) = outcome {
            let msg = e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()));
            panic!("case {case} (seed {seed:#x}, sample {which}, {label}) failed: {msg:?}");
        }
        if std::env::var_os("WEIR_FUZZ_VERBOSE").is_some() {
            eprintln!("case {case}: {label}");
        }
    }
    eprintln!(
        "storage_recovery_fuzz: {} executions (seed {seed:#x}) in {:.1?}: {} loaded, {} load errors, \
         {} files damaged, {} records lost to recovery in total",
        tally.cases,
        started.elapsed(),
        tally.loads_ok,
        tally.load_errors,
        tally.damaged_files,
        tally.records_lost
    );
}
