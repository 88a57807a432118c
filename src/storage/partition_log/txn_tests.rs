//! PartitionLog transaction tests: the last stable offset, markers and
//! their checks, the aborted-transaction index, and that all of it comes
//! back the same after a crash (no clean close) and after truncation.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::config::{BrokerConfig, LogConfig};
use crate::record::records::{BatchBuilder, Record};

const NOW: i64 = 1_700_000_000_000;

fn config(segment_bytes: u64) -> Arc<LogConfig> {
    let mut c = LogConfig::resolve(&BrokerConfig::default(), &BTreeMap::new());
    c.segment_bytes = segment_bytes;
    Arc::new(c)
}

fn tp() -> TopicPartition {
    TopicPartition::new("t", 0)
}

fn create(dir: &Path, cfg: Arc<LogConfig>) -> PartitionLog {
    PartitionLog::create(dir, tp(), uuid::Uuid::new_v4(), cfg, Flusher::start()).unwrap()
}

fn reopen_after_crash(dir: &Path, cfg: Arc<LogConfig>, hw: i64) -> PartitionLog {
    let hints = LoadHints { high_watermark: Some(hw), ..Default::default() };
    PartitionLog::load(dir, tp(), cfg, Flusher::start(), hints).unwrap()
}

fn txn_batch(pid: i64, epoch: i16, seq: i32, n: usize) -> Bytes {
    let mut b = BatchBuilder::new(0, NOW).producer(pid, epoch, seq).transactional(true);
    for i in 0..n {
        b.push(Record::new(None, Some(format!("{pid}-{}", seq as usize + i).into_bytes()), NOW));
    }
    b.build()
}

fn plain_batch(pid: i64, epoch: i16, seq: i32) -> Bytes {
    let mut b = BatchBuilder::new(0, NOW).producer(pid, epoch, seq);
    b.push(Record::new(None, Some(b"plain".to_vec()), NOW));
    b.build()
}

fn marker(commit: bool, coordinator_epoch: i32) -> EndTxnMarker {
    EndTxnMarker { commit, coordinator_epoch }
}

fn aborted(log: &PartitionLog) -> Vec<AbortedTxn> {
    log.collect_aborted_transactions(0, log.log_end_offset())
}

/// pid 1 writes 0-2 and aborts at 6; pid 2 writes 3-4 and commits at 7;
/// pid 3 writes 5 without a transaction.
fn two_transactions(log: &mut PartitionLog) {
    log.append_as_leader(&txn_batch(1, 0, 0, 3), 0, NOW).unwrap();
    log.append_as_leader(&txn_batch(2, 0, 0, 2), 0, NOW).unwrap();
    log.append_as_leader(&plain_batch(3, 0, 0), 0, NOW).unwrap();
    log.set_high_watermark(6);
    assert_eq!(log.last_stable_offset(), 0, "stuck at the first open transaction");
    let info = log.append_marker(1, 0, marker(false, 5), 0, NOW).unwrap();
    assert_eq!(info.first_offset, 6);
    log.set_high_watermark(6);
    assert_eq!(log.last_stable_offset(), 0, "the abort marker is not replicated yet");
    log.set_high_watermark(7);
    assert_eq!(log.last_stable_offset(), 3, "pid 2's transaction is still open");
    log.append_marker(2, 0, marker(true, 5), 0, NOW).unwrap();
    log.set_high_watermark(8);
    assert_eq!(log.last_stable_offset(), 8);
}

#[test]
fn last_stable_offset_and_aborted_index_follow_markers() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = create(dir.path(), config(1 << 20));
    two_transactions(&mut log);
    let entry = AbortedTxn { producer_id: 1, first_offset: 0, last_offset: 6, last_stable_offset: 3 };
    assert_eq!(aborted(&log), vec![entry]);
    // Only the range served counts.
    assert_eq!(log.collect_aborted_transactions(7, 8), vec![]);
    assert_eq!(log.collect_aborted_transactions(0, 1), vec![entry]);
    log.flush().unwrap();
    let on_disk = std::fs::read(dir.path().join("00000000000000000000.txnindex")).unwrap();
    assert_eq!(on_disk, entry.encode().to_vec(), "Kafka's 34-byte AbortedTxn entry");
}

#[test]
fn markers_from_zombies_and_stale_producers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = create(dir.path(), config(1 << 20));
    log.append_as_leader(&txn_batch(1, 3, 0, 1), 0, NOW).unwrap();
    log.append_marker(1, 3, marker(true, 5), 0, NOW).unwrap();
    let end = log.log_end_offset();
    assert!(matches!(
        log.append_marker(1, 3, marker(true, 4), 0, NOW),
        Err(StorageError::TransactionCoordinatorFenced(_))
    ));
    assert!(matches!(log.append_marker(1, 2, marker(false, 6), 0, NOW), Err(StorageError::InvalidProducerEpoch(_))));
    assert_eq!(log.log_end_offset(), end, "nothing written");
    // An older producer epoch's data batch is fenced too.
    assert!(matches!(log.append_as_leader(&txn_batch(1, 2, 1, 1), 0, NOW), Err(StorageError::InvalidProducerEpoch(_))));
    // A non-transactional batch inside an open transaction is refused.
    log.append_as_leader(&txn_batch(1, 3, 1, 1), 0, NOW).unwrap();
    assert!(matches!(log.append_as_leader(&plain_batch(1, 3, 2), 0, NOW), Err(StorageError::InvalidTxnState(_))));
    // A client may not write a control batch.
    let forged = crate::record::control::marker_batch(1, 3, marker(true, 9), NOW);
    assert!(matches!(log.append_as_leader(&forged, 0, NOW), Err(StorageError::InvalidRecord(_))));
    assert_eq!(log.last_stable_offset(), 0.max(log.log_start_offset()));
}

#[test]
fn a_crash_keeps_open_transactions_and_the_aborted_index() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(1 << 20);
    {
        let mut log = create(dir.path(), cfg.clone());
        two_transactions(&mut log);
        log.append_as_leader(&txn_batch(4, 0, 0, 2), 0, NOW).unwrap(); // 8-9, open
        log.set_high_watermark(10);
        assert_eq!(log.last_stable_offset(), 8);
        // Dropped without close: no snapshot at the end, as after kill -9.
    }
    let log = reopen_after_crash(dir.path(), cfg.clone(), 10);
    assert_eq!(log.last_stable_offset(), 8);
    assert_eq!(log.producer_state().entry(4).unwrap().current_txn_first_offset, Some(8));
    assert_eq!(aborted(&log).len(), 1);
    assert!(dir.path().join("00000000000000000000.txnindex").exists(), "the index file is rewritten");
    // A damaged index (torn entry) is re-derived from the log.
    drop(log);
    std::fs::write(dir.path().join("00000000000000000000.txnindex"), [0u8; 20]).unwrap();
    let log = reopen_after_crash(dir.path(), cfg, 10);
    assert_eq!(
        aborted(&log),
        vec![AbortedTxn { producer_id: 1, first_offset: 0, last_offset: 6, last_stable_offset: 3 }]
    );
}

#[test]
fn snapshots_carry_open_transactions_across_rolls_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    // Small segments: every batch rolls, every roll snapshots.
    let cfg = config(100);
    {
        let mut log = create(dir.path(), cfg.clone());
        log.append_as_leader(&txn_batch(1, 0, 0, 1), 0, NOW).unwrap();
        log.append_as_leader(&txn_batch(2, 0, 0, 1), 0, NOW).unwrap();
        log.append_marker(2, 0, marker(false, 1), 0, NOW).unwrap();
        log.append_as_leader(&plain_batch(3, 0, 0), 0, NOW).unwrap();
        log.set_high_watermark(log.log_end_offset());
        assert!(log.segment_count() > 2);
        assert_eq!(log.last_stable_offset(), 0);
        log.close().unwrap();
    }
    let log = reopen_after_crash(dir.path(), cfg, 4);
    assert_eq!(log.last_stable_offset(), 0, "pid 1's transaction is open after the restart");
    assert_eq!(aborted(&log).len(), 1);
    assert_eq!(aborted(&log)[0].producer_id, 2);
}

#[test]
fn truncation_below_a_marker_reopens_its_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = create(dir.path(), config(1 << 20));
    two_transactions(&mut log);
    log.truncate_to(6).unwrap();
    assert!(aborted(&log).is_empty());
    log.set_high_watermark(6);
    assert_eq!(log.last_stable_offset(), 0);
    // A follower then appends what the new leader has: the same abort.
    let follower_marker = {
        let mut b = crate::record::control::marker_batch(1, 0, marker(false, 5), NOW).to_vec();
        crate::record::batch::patch::set_base_offset(&mut b, 6);
        b
    };
    log.append_as_follower(&follower_marker, NOW).unwrap();
    log.set_high_watermark(7);
    assert_eq!(log.last_stable_offset(), 3);
    assert_eq!(aborted(&log).len(), 1);
}
