//! Kafka's transaction markers (`EndTransactionMarker`, `ControlRecordType`):
//! the one record of a control batch that ends a producer's transaction on
//! a partition. Key: `version i16 (0), type i16` (0 ABORT, 1 COMMIT);
//! value: `version i16 (0), coordinator_epoch i32`. The batch is
//! transactional and control, carries the producer id and epoch, and no
//! sequence (-1).
//!
//! Invariant: [`marker_batch`] builds exactly what [`parse_marker`] reads
//! back; anything else in a control batch (other control types, short
//! keys or values, several records) parses as `None`.

use bytes::Bytes;

use super::batch::BatchView;
use super::iter::{payload_owned, RecordIter};
use super::records::{BatchBuilder, Record};

/// Control record type ids (Kafka's `ControlRecordType`).
pub const ABORT: i16 = 0;
pub const COMMIT: i16 = 1;
const CONTROL_KEY_VERSION: i16 = 0;
const MARKER_VALUE_VERSION: i16 = 0;

/// An end-of-transaction marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndTxnMarker {
    pub commit: bool,
    pub coordinator_epoch: i32,
}

impl EndTxnMarker {
    pub fn control_type(&self) -> i16 {
        if self.commit {
            COMMIT
        } else {
            ABORT
        }
    }
}

/// The control batch (offset 0, no leader epoch) carrying `marker` for
/// producer `producer_id` at `epoch`, stamped `timestamp`.
pub fn marker_batch(producer_id: i64, epoch: i16, marker: EndTxnMarker, timestamp: i64) -> Bytes {
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&CONTROL_KEY_VERSION.to_be_bytes());
    key.extend_from_slice(&marker.control_type().to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&MARKER_VALUE_VERSION.to_be_bytes());
    value.extend_from_slice(&marker.coordinator_epoch.to_be_bytes());
    let mut b = BatchBuilder::new(0, timestamp).producer(producer_id, epoch, -1).transactional(true).control(true);
    b.push(Record::new(Some(key), Some(value), timestamp));
    b.build()
}

/// The marker a control batch carries, as Kafka's
/// `EndTransactionMarker.deserialize` reads it (newer value versions are
/// read as version 0); `None` for a batch that is not a valid marker.
pub fn parse_marker(view: &BatchView<'_>) -> Option<EndTxnMarker> {
    if !view.is_control() {
        return None;
    }
    let payload = payload_owned(view).ok()?;
    let record = RecordIter::of(view, &payload).ok()?.next()?.ok()?;
    let key = record.key?;
    let value = record.value?;
    if key.len() < 4 || value.len() < 6 {
        return None;
    }
    let kind = i16::from_be_bytes([key[2], key[3]]);
    if !(kind == ABORT || kind == COMMIT) || i16::from_be_bytes([value[0], value[1]]) < 0 {
        return None;
    }
    let coordinator_epoch = i32::from_be_bytes([value[2], value[3], value[4], value[5]]);
    Some(EndTxnMarker { commit: kind == COMMIT, coordinator_epoch })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip() {
        for commit in [true, false] {
            let m = EndTxnMarker { commit, coordinator_epoch: 7 };
            let b = marker_batch(42, 3, m, 1000);
            let v = BatchView::parse_valid(&b).unwrap();
            assert!(v.is_control() && v.is_transactional());
            let h = v.header();
            assert_eq!((h.producer_id, h.producer_epoch, h.base_sequence, h.records_count), (42, 3, -1, 1));
            assert_eq!(parse_marker(&v), Some(m));
        }
    }

    #[test]
    fn other_control_records_are_not_markers() {
        let mut b = BatchBuilder::new(0, 1).producer(1, 0, -1).transactional(true).control(true);
        b.push(Record::new(Some(vec![0, 0, 0, 3]), Some(vec![0, 0, 0, 0, 0, 0]), 1));
        let bytes = b.build();
        assert_eq!(parse_marker(&BatchView::parse_valid(&bytes).unwrap()), None);
        let mut b = BatchBuilder::new(0, 1).producer(1, 0, -1).transactional(true).control(true);
        b.push(Record::new(Some(vec![0, 0, 0, 1]), Some(vec![0, 0]), 1));
        let bytes = b.build();
        assert_eq!(parse_marker(&BatchView::parse_valid(&bytes).unwrap()), None);
    }
}
