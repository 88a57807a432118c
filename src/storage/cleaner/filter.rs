//! Which records of a batch survive a cleaning, and the batch that holds
//! them: Kafka's `LogCleaner.cleanInto` record filter together with
//! `MemoryRecords.filterTo`, for message format v2.
//!
//! A record is kept when it lies past the offset map (not indexed this
//! round), or when it is the latest record of its key and either has a
//! value or is a tombstone whose delete horizon has not passed. A batch
//! whose records all survive, and which needs no delete horizon, is copied
//! byte for byte. Otherwise it is rebuilt with the same base offset, last
//! offset delta, producer id/epoch/base sequence, partition leader epoch,
//! codec and flags, holding only the kept records at their original
//! offsets. A batch keeping a tombstone (or an empty transaction's marker)
//! for the first time gets a delete horizon of now + `delete.retention.ms`
//! (attribute bit 6, the horizon stored as the base timestamp, KIP-534);
//! a later cleaning after the horizon drops those tombstones.
//!
//! A batch that loses every record still stays as an empty batch when it
//! is the last batch of an active idempotent producer (its sequence numbers
//! are needed to detect duplicates) or the last batch of the cleaned range
//! (so the log keeps its last offset).

use std::collections::{HashMap, HashSet};

use crate::record::batch::{self, BatchView, Compression, HEADER_SIZE, LOG_OVERHEAD};
use crate::record::compression;
use crate::record::iter::{payload_owned, RecordError, RecordIter, RecordView};

use super::codec;
use super::offset_map::OffsetMap;

const NO_TIMESTAMP: i64 = -1;
const TIMESTAMP_TYPE_FLAG: i16 = 0x08;
const TRANSACTIONAL_FLAG: i16 = 0x10;
const CONTROL_FLAG: i16 = 0x20;
const DELETE_HORIZON_FLAG: i16 = 0x40;
const CONTROL_TYPE_ABORT: i16 = 0;
const CONTROL_TYPE_COMMIT: i16 = 1;

/// What stays the same over one cleaning round.
pub struct FilterContext<'a> {
    pub map: &'a OffsetMap,
    /// Wall-clock time the round started (compared with delete horizons).
    pub now: i64,
    pub delete_retention_ms: i64,
    /// Producer id -> (offset of its last data batch's last record, if any;
    /// its epoch), from the log's producer state (Kafka's
    /// `lastRecordsOfActiveProducers`).
    pub active_producers: &'a HashMap<i64, (Option<i64>, i16)>,
    /// The first offset this round does not clean.
    pub upper_bound_offset: i64,
}

/// Transaction bookkeeping carried from batch to batch (Kafka's
/// `CleanedTransactionMetadata`, without the removal of aborted data: the
/// records of aborted transactions are kept like committed ones, abort
/// markers are kept, and `PartitionLog::replace_with_cleaned` carries the
/// replaced segments' aborted-transaction index entries to the cleaned
/// segment, so read_committed consumers still skip them).
#[derive(Debug, Default)]
pub struct TxnState {
    ongoing_committed: HashSet<i64>,
}

impl TxnState {
    /// A data batch: never discardable as part of an aborted transaction.
    fn on_batch_read(&mut self, view: &BatchView<'_>) -> bool {
        if view.is_transactional() {
            self.ongoing_committed.insert(view.producer_id());
        }
        false
    }

    /// A control batch: true when the marker itself may go (a COMMIT whose
    /// transaction left no data in what was read, or an empty batch).
    fn on_control_batch_read(&mut self, view: &BatchView<'_>, records: &[RecordView<'_>]) -> bool {
        let Some(first) = records.first() else {
            return true;
        };
        let kind = first.key.filter(|k| k.len() >= 4).map(|k| i16::from_be_bytes([k[2], k[3]]));
        match kind {
            Some(CONTROL_TYPE_COMMIT) => !self.ongoing_committed.remove(&view.producer_id()),
            Some(CONTROL_TYPE_ABORT) => false,
            _ => false,
        }
    }
}

/// Counters for the round summary.
#[derive(Debug, Default, Clone, Copy)]
pub struct FilterStats {
    pub messages_read: u64,
    pub bytes_read: u64,
    pub messages_retained: u64,
    pub bytes_retained: u64,
    /// Keyless records met (and dropped) in a compacted log.
    pub invalid_messages: u64,
}

/// The fate of one batch.
#[derive(Debug, PartialEq, Eq)]
pub enum Filtered {
    /// Nothing of it is written.
    Dropped,
    /// Written unchanged.
    Original,
    /// Written as these bytes (same base and last offset).
    Rebuilt(Vec<u8>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Retention {
    Delete,
    RetainEmpty,
    DeleteEmpty,
}

/// Kafka's `Cleaner.shouldRetainRecord` for a v2 data record.
fn retain_record(
    ctx: &FilterContext<'_>,
    view: &BatchView<'_>,
    offset: i64,
    r: &RecordView<'_>,
    stats: &mut FilterStats,
) -> bool {
    if offset > ctx.map.latest_offset() {
        return true;
    }
    let Some(key) = r.key else {
        stats.invalid_messages += 1;
        return false;
    };
    let latest_for_key = offset >= ctx.map.get(key);
    let retain_deletes = !view.has_delete_horizon() || ctx.now < view.base_timestamp();
    latest_for_key && (r.value.is_some() || retain_deletes)
}

/// Filters one batch (see the module docs).
pub fn filter_batch(
    view: &BatchView<'_>,
    ctx: &FilterContext<'_>,
    txn: &mut TxnState,
    stats: &mut FilterStats,
) -> Result<Filtered, RecordError> {
    stats.bytes_read += view.size() as u64;
    let payload = payload_owned(view)?;
    let records = RecordIter::of(view, &payload)?.collect::<Result<Vec<_>, _>>()?;

    // checkBatchRetention
    let can_discard_batch =
        if view.is_control() { txn.on_control_batch_read(view, &records) } else { txn.on_batch_read(view) };
    let discard_batch_records = if view.is_control() {
        can_discard_batch && view.has_delete_horizon() && view.base_timestamp() <= ctx.now
    } else {
        can_discard_batch
    };
    let last_of_producer = view.has_producer_id()
        && ctx.active_producers.get(&view.producer_id()).is_some_and(
            |&(last_data_offset, epoch)| match last_data_offset {
                Some(o) => view.last_offset() == o,
                None => view.is_control() && view.producer_epoch() == epoch,
            },
        );
    let retention = if last_of_producer || view.next_offset() == ctx.upper_bound_offset {
        Retention::RetainEmpty
    } else if discard_batch_records {
        Retention::Delete
    } else {
        Retention::DeleteEmpty
    };
    let marker_for_empty_txn = can_discard_batch && view.is_control();
    if retention == Retention::Delete {
        stats.messages_read += records.len() as u64;
        return Ok(Filtered::Dropped);
    }

    // filterBatch
    let base = view.base_offset();
    let mut kept: Vec<(i64, &RecordView<'_>)> = Vec::with_capacity(records.len());
    let mut contains_tombstones = false;
    for r in &records {
        stats.messages_read += 1;
        let offset = base + r.offset_delta as i64;
        let keep = if discard_batch_records {
            false
        } else if view.is_control() {
            true
        } else {
            retain_record(ctx, view, offset, r, stats)
        };
        if keep {
            contains_tombstones |= r.value.is_none();
            kept.push((offset, r));
        }
    }

    if kept.is_empty() {
        if retention == Retention::RetainEmpty {
            let empty = empty_batch(view);
            stats.bytes_retained += empty.len() as u64;
            return Ok(Filtered::Rebuilt(empty));
        }
        return Ok(Filtered::Dropped);
    }
    stats.messages_retained += kept.len() as u64;
    let need_horizon = (contains_tombstones || marker_for_empty_txn) && !view.has_delete_horizon();
    if kept.len() == records.len() && !need_horizon {
        stats.bytes_retained += view.size() as u64;
        return Ok(Filtered::Original);
    }
    let horizon = if need_horizon {
        ctx.now.saturating_add(ctx.delete_retention_ms)
    } else if view.has_delete_horizon() {
        view.base_timestamp()
    } else {
        NO_TIMESTAMP
    };
    let rebuilt = rebuild(view, &kept, horizon).map_err(|e| RecordError::Decompress(e.to_string()))?;
    stats.bytes_retained += rebuilt.len() as u64;
    Ok(Filtered::Rebuilt(rebuilt))
}

/// Kafka's `MemoryRecords.buildRetainedRecordsInto`: the kept records in a
/// batch like the original, with `horizon` (or none when -1).
fn rebuild(view: &BatchView<'_>, kept: &[(i64, &RecordView<'_>)], horizon: i64) -> std::io::Result<Vec<u8>> {
    let log_append_time = view.is_log_append_time();
    let original_base_ts = view.base_timestamp();
    let timestamp_of = |r: &RecordView<'_>| {
        if log_append_time {
            view.max_timestamp()
        } else {
            original_base_ts.wrapping_add(r.timestamp_delta)
        }
    };
    let base_timestamp = if horizon >= 0 { horizon } else { timestamp_of(kept[0].1) };
    let mut max_timestamp = NO_TIMESTAMP;
    let mut raw = Vec::new();
    for (_, r) in kept {
        let ts = timestamp_of(r);
        max_timestamp = max_timestamp.max(ts);
        codec::encode_record(&mut raw, r, ts.wrapping_sub(base_timestamp));
    }
    if log_append_time {
        max_timestamp = view.max_timestamp();
    }
    let codec_used = view.compression().unwrap_or(Compression::None);
    let body = match codec_used {
        Compression::None => raw,
        c => compression::compress(c, &raw)?,
    };
    let mut attributes =
        codec_used.id() | (view.attributes() & (TIMESTAMP_TYPE_FLAG | TRANSACTIONAL_FLAG | CONTROL_FLAG));
    if horizon >= 0 {
        attributes |= DELETE_HORIZON_FLAG;
    }
    Ok(write_batch(view, attributes, base_timestamp, max_timestamp, kept.len() as i32, &body))
}

/// Kafka's `DefaultRecordBatch.writeEmptyHeader`: a record-less batch that
/// keeps the offsets, producer fields and flags of `view`.
fn empty_batch(view: &BatchView<'_>) -> Vec<u8> {
    let attributes = view.attributes() & (TIMESTAMP_TYPE_FLAG | TRANSACTIONAL_FLAG | CONTROL_FLAG);
    write_batch(view, attributes, NO_TIMESTAMP, view.max_timestamp(), 0, &[])
}

/// A batch with `view`'s offsets, producer fields and leader epoch, and
/// the given attributes, timestamps, count and (encoded) records section.
pub(super) fn write_batch(
    view: &BatchView<'_>,
    attributes: i16,
    base_timestamp: i64,
    max_timestamp: i64,
    count: i32,
    body: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_SIZE + body.len());
    out.extend_from_slice(&view.base_offset().to_be_bytes());
    out.extend_from_slice(&((HEADER_SIZE - LOG_OVERHEAD + body.len()) as i32).to_be_bytes());
    out.extend_from_slice(&view.partition_leader_epoch().to_be_bytes());
    out.push(2);
    out.extend_from_slice(&[0; 4]); // crc, below
    out.extend_from_slice(&attributes.to_be_bytes());
    out.extend_from_slice(&view.last_offset_delta().to_be_bytes());
    out.extend_from_slice(&base_timestamp.to_be_bytes());
    out.extend_from_slice(&max_timestamp.to_be_bytes());
    out.extend_from_slice(&view.producer_id().to_be_bytes());
    out.extend_from_slice(&view.producer_epoch().to_be_bytes());
    out.extend_from_slice(&view.base_sequence().to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(body);
    let crc = crc32c::crc32c(&out[batch::OFFSET_ATTRIBUTES..]);
    out[batch::OFFSET_CRC..batch::OFFSET_CRC + 4].copy_from_slice(&crc.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::records::{decode_records, BatchBuilder, Record};

    fn batch(base: i64, records: &[(&str, Option<&str>)]) -> Vec<u8> {
        let mut b = BatchBuilder::new(base, 10_000);
        for (i, (k, v)) in records.iter().enumerate() {
            b.push(Record::new(Some(k.as_bytes().to_vec()), v.map(|v| v.as_bytes().to_vec()), 10_000 + i as i64));
        }
        b.build().to_vec()
    }

    fn map_of(entries: &[(&str, i64)], latest: i64) -> OffsetMap {
        let mut m = OffsetMap::new(1 << 20, 0.9);
        for (k, o) in entries {
            m.put(k.as_bytes(), *o);
        }
        m.update_latest_offset(latest);
        m
    }

    fn run(bytes: &[u8], map: &OffsetMap, now: i64, upper: i64) -> Filtered {
        let producers = HashMap::new();
        let ctx = FilterContext {
            map,
            now,
            delete_retention_ms: 1000,
            active_producers: &producers,
            upper_bound_offset: upper,
        };
        let view = BatchView::parse_valid(bytes).unwrap();
        filter_batch(&view, &ctx, &mut TxnState::default(), &mut FilterStats::default()).unwrap()
    }

    fn kept(out: &[u8]) -> Vec<(i64, String, Option<String>)> {
        let view = BatchView::parse_valid(out).unwrap();
        decode_records(&view)
            .unwrap()
            .into_iter()
            .map(|r| {
                (r.offset, String::from_utf8(r.key.unwrap()).unwrap(), r.value.map(|v| String::from_utf8(v).unwrap()))
            })
            .collect()
    }

    #[test]
    fn keeps_only_the_latest_record_of_each_key_at_its_offset() {
        let b = batch(100, &[("a", Some("1")), ("b", Some("1")), ("a", Some("2")), ("c", Some("1"))]);
        // b's latest is later, a's latest is 102, c is not in the map.
        let map = map_of(&[("a", 102), ("b", 250)], 300);
        let Filtered::Rebuilt(out) = run(&b, &map, 0, 1000) else { panic!("expected a rebuilt batch") };
        assert_eq!(kept(&out), vec![(102, "a".into(), Some("2".into())), (103, "c".into(), Some("1".into()))]);
        let view = BatchView::parse_valid(&out).unwrap();
        // Same offsets range, fewer records.
        assert_eq!((view.base_offset(), view.last_offset(), view.records_count()), (100, 103, 2));
        assert!(!view.has_delete_horizon());
        // Timestamps survive (base moved to the first kept record).
        let ts: Vec<i64> = decode_records(&view).unwrap().iter().map(|r| r.timestamp).collect();
        assert_eq!(ts, vec![10_002, 10_003]);
        assert_eq!(view.max_timestamp(), 10_003);
    }

    #[test]
    fn unchanged_batches_are_copied_and_dead_ones_dropped() {
        let b = batch(0, &[("a", Some("1")), ("b", Some("1"))]);
        assert_eq!(run(&b, &map_of(&[("a", 0), ("b", 1)], 1), 0, 1000), Filtered::Original);
        assert_eq!(run(&b, &map_of(&[("a", 5), ("b", 6)], 6), 0, 1000), Filtered::Dropped);
        // Records past the map's range are kept whatever the map says.
        assert_eq!(run(&b, &map_of(&[("a", 5)], 0), 0, 1000), Filtered::Rebuilt(batch_keep_b(&b)));
    }

    fn batch_keep_b(b: &[u8]) -> Vec<u8> {
        let Filtered::Rebuilt(out) = run(b, &map_of(&[("a", 5), ("b", 1)], 6), 0, 1000) else { panic!() };
        out
    }

    #[test]
    fn the_last_batch_of_the_round_stays_even_when_empty() {
        let b = batch(10, &[("a", Some("1")), ("a", Some("2"))]);
        let map = map_of(&[("a", 50)], 50);
        let Filtered::Rebuilt(out) = run(&b, &map, 0, 12) else { panic!("kept as empty") };
        let v = BatchView::parse_valid(&out).unwrap();
        assert_eq!((v.base_offset(), v.last_offset(), v.records_count(), v.size()), (10, 11, 0, HEADER_SIZE));
        assert_eq!(run(&b, &map, 0, 13), Filtered::Dropped);
    }

    #[test]
    fn tombstones_get_a_horizon_then_go_after_it() {
        let b = batch(0, &[("a", None), ("b", Some("x"))]);
        let map = map_of(&[("a", 0), ("b", 1)], 1);
        // First cleaning: kept, horizon set to now + delete.retention.ms.
        let Filtered::Rebuilt(first) = run(&b, &map, 5_000, 1000) else { panic!("horizon forces a rebuild") };
        let v = BatchView::parse_valid(&first).unwrap();
        assert!(v.has_delete_horizon());
        assert_eq!(v.base_timestamp(), 6_000);
        let recs = decode_records(&v).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].timestamp, 10_000); // timestamps unchanged under the horizon base
        assert_eq!(recs[0].value, None);
        // Before the horizon: copied as is; at/after: the tombstone goes.
        assert_eq!(run(&first, &map, 5_999, 1000), Filtered::Original);
        let Filtered::Rebuilt(second) = run(&first, &map, 6_000, 1000) else { panic!("tombstone removed") };
        assert_eq!(kept(&second), vec![(1, "b".into(), Some("x".into()))]);
        let v = BatchView::parse_valid(&second).unwrap();
        assert!(v.has_delete_horizon(), "the horizon stays with the batch");
    }

    #[test]
    fn compressed_batches_are_rebuilt_with_their_codec() {
        let raw = batch(0, &[("a", Some("old")), ("a", Some("new")), ("b", Some("v"))]);
        let view = BatchView::parse_valid(&raw).unwrap();
        let body = compression::compress(Compression::Zstd, view.records_bytes()).unwrap();
        let attributes = Compression::Zstd.id();
        let compressed = write_batch(&view, attributes, view.base_timestamp(), view.max_timestamp(), 3, &body);
        let map = map_of(&[("a", 1), ("b", 2)], 2);
        let Filtered::Rebuilt(out) = run(&compressed, &map, 0, 1000) else { panic!() };
        let v = BatchView::parse_valid(&out).unwrap();
        assert_eq!(v.compression().unwrap(), Compression::Zstd);
        assert_eq!(kept(&out), vec![(1, "a".into(), Some("new".into())), (2, "b".into(), Some("v".into()))]);
    }

    #[test]
    fn an_active_producers_last_batch_is_kept_empty() {
        let mut b = BatchBuilder::new(20, 1).producer(7, 0, 5);
        b.push(Record::new(Some(b"a".to_vec()), Some(b"1".to_vec()), 1));
        let bytes = b.build();
        let map = map_of(&[("a", 99)], 99);
        let mut producers = HashMap::new();
        producers.insert(7i64, (Some(20i64), 0i16));
        let ctx = FilterContext {
            map: &map,
            now: 0,
            delete_retention_ms: 0,
            active_producers: &producers,
            upper_bound_offset: 1000,
        };
        let view = BatchView::parse_valid(&bytes).unwrap();
        let out = filter_batch(&view, &ctx, &mut TxnState::default(), &mut FilterStats::default()).unwrap();
        let Filtered::Rebuilt(out) = out else { panic!("kept empty") };
        let v = BatchView::parse_valid(&out).unwrap();
        assert_eq!((v.producer_id(), v.base_sequence(), v.last_sequence(), v.records_count()), (7, 5, 5, 0));
        producers.clear();
        let ctx = FilterContext {
            map: &map,
            now: 0,
            delete_retention_ms: 0,
            active_producers: &producers,
            upper_bound_offset: 1000,
        };
        let out = filter_batch(&view, &ctx, &mut TxnState::default(), &mut FilterStats::default()).unwrap();
        assert_eq!(out, Filtered::Dropped);
    }
}
