//! The one iterator over the records of a v2 batch (Kafka's
//! `DefaultRecordBatch.RecordIterator` with `DefaultRecord.readFrom`).
//! Everything that reads records goes through it: the produce validator,
//! the log cleaner, the coordinators, offset-by-timestamp lookups and
//! `dump-log`.
//!
//! It reads exactly the `recordsCount` the batch header declares and
//! fails, as Kafka's iterator does, when the data ends first or bytes are
//! left after the last record. Each record must consume exactly the length
//! it declares. Records are borrowed from the payload; nothing allocates.

use std::borrow::Cow;

use thiserror::Error;

use super::batch::{BatchError, BatchView, Compression};
use super::compression;
use super::varint::Cursor;

/// Why the records of a batch cannot be read. The messages are Kafka's
/// where Kafka has one, since produce responses carry them to clients.
#[derive(Debug, Error)]
pub enum RecordError {
    #[error("Found invalid record structure: data ends inside a field")]
    Truncated,
    #[error("Found invalid record structure: invalid varint")]
    BadVarint,
    #[error("Found invalid record structure: invalid length {0}")]
    BadLength(i64),
    #[error(
        "Invalid record size: expected {expected} bytes in record payload, but instead the buffer has only {available} remaining bytes."
    )]
    RecordSize { expected: i64, available: usize },
    #[error("Invalid record size: expected to read {expected} bytes in record payload, but instead read {read}")]
    RecordSizeMismatch { expected: usize, read: usize },
    #[error("Found invalid number of record headers {0}")]
    HeaderCount(i32),
    #[error("Invalid negative header key size {0}")]
    HeaderKeySize(i32),
    #[error("Found invalid record count {0} in magic v2 batch")]
    InvalidCount(i32),
    #[error("Incorrect declared batch size, premature EOF reached ({found} of {expected} records present)")]
    PrematureEof { expected: i32, found: i32 },
    #[error("Incorrect declared batch size, records still remaining in file")]
    RecordsRemaining,
    #[error("batch: {0}")]
    Batch(#[from] BatchError),
    #[error("Failed to decompress record stream: {0}")]
    Decompress(String),
    #[error("decompressed records exceed {limit} bytes")]
    TooLarge { limit: usize },
}

/// One record of a batch, borrowed from the batch's (decompressed)
/// records payload. Offsets and timestamps are the stored deltas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    pub attributes: u8,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    /// The header section as stored (count varint, then the headers).
    pub headers_raw: &'a [u8],
    pub header_count: i32,
    /// Bytes of the record body (what its length varint counts).
    pub body_size: usize,
}

impl<'a> RecordView<'a> {
    /// The record's headers, already checked by the iterator.
    pub fn headers(&self) -> impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)> {
        let mut c = Cursor::new(self.headers_raw);
        let count = c.varint().unwrap_or(0);
        (0..count).map_while(move |_| {
            let key = c.nullable_bytes().ok()??;
            let value = c.nullable_bytes().ok()?;
            Some((key, value))
        })
    }

    /// The absolute offset in a batch based at `base_offset`.
    pub fn offset(&self, view: &BatchView<'_>) -> i64 {
        view.base_offset().wrapping_add(self.offset_delta as i64)
    }

    /// The record's timestamp as Kafka reports it: the batch's max
    /// timestamp under LogAppendTime, else base timestamp plus delta.
    pub fn timestamp(&self, view: &BatchView<'_>) -> i64 {
        if view.is_log_append_time() {
            view.max_timestamp()
        } else {
            view.base_timestamp().wrapping_add(self.timestamp_delta)
        }
    }
}

/// Iterates over the `count` records in `payload`; see the module header.
/// Fused: after an error it yields nothing more.
pub struct RecordIter<'a> {
    cursor: Cursor<'a>,
    count: i32,
    read: i32,
    done: bool,
}

impl<'a> RecordIter<'a> {
    pub fn new(payload: &'a [u8], count: i32) -> Result<Self, RecordError> {
        if count < 0 {
            return Err(RecordError::InvalidCount(count));
        }
        Ok(RecordIter { cursor: Cursor::new(payload), count, read: 0, done: false })
    }

    /// The records of `view`, whose decompressed payload is `payload`.
    pub fn of(view: &BatchView<'_>, payload: &'a [u8]) -> Result<Self, RecordError> {
        Self::new(payload, view.records_count())
    }

    fn read_record(&mut self) -> Result<RecordView<'a>, RecordError> {
        let len = self.cursor.varint()?;
        if len < 0 || len as usize > self.cursor.remaining() {
            return Err(RecordError::RecordSize { expected: len as i64, available: self.cursor.remaining() });
        }
        let body_size = len as usize;
        let body = self.cursor.take(body_size)?;
        let mut r = Cursor::new(body);
        let attributes = r.u8()?;
        let timestamp_delta = r.varlong()?;
        let offset_delta = r.varint()?;
        let key = r.nullable_bytes()?;
        let value = r.nullable_bytes()?;
        let headers_at = r.position();
        let header_count = r.varint()?;
        if header_count < 0 || header_count as usize > r.remaining() {
            return Err(RecordError::HeaderCount(header_count));
        }
        for _ in 0..header_count {
            let key_len = r.varint()?;
            if key_len < 0 {
                return Err(RecordError::HeaderKeySize(key_len));
            }
            r.take(key_len as usize)?;
            r.nullable_bytes()?;
        }
        if r.remaining() != 0 {
            return Err(RecordError::RecordSizeMismatch { expected: body_size, read: r.position() });
        }
        Ok(RecordView {
            attributes,
            timestamp_delta,
            offset_delta,
            key,
            value,
            headers_raw: &body[headers_at..],
            header_count,
            body_size,
        })
    }
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<RecordView<'a>, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.read == self.count {
            self.done = true;
            return (self.cursor.remaining() > 0).then_some(Err(RecordError::RecordsRemaining));
        }
        if self.cursor.remaining() == 0 {
            self.done = true;
            return Some(Err(RecordError::PrematureEof { expected: self.count, found: self.read }));
        }
        let item = self.read_record();
        self.read += 1;
        if item.is_err() {
            self.done = true;
        }
        Some(item)
    }
}

/// The records section of `view`: borrowed when uncompressed, else
/// decompressed into `scratch` (at most `limit` bytes).
pub fn payload<'x>(view: &BatchView<'x>, limit: usize, scratch: &'x mut Vec<u8>) -> Result<&'x [u8], RecordError> {
    match view.compression()? {
        Compression::None => Ok(view.records_bytes()),
        codec => {
            compression::decompress_into(codec, view.records_bytes(), limit, scratch)?;
            Ok(&scratch[..])
        }
    }
}

/// The records section of `view`, borrowed when uncompressed, else
/// decompressed into a new buffer (at most [`MAX_DECOMPRESSED_BYTES`]).
pub fn payload_owned<'a>(view: &BatchView<'a>) -> Result<Cow<'a, [u8]>, RecordError> {
    match view.compression()? {
        Compression::None => Ok(Cow::Borrowed(view.records_bytes())),
        codec => compression::decompress(codec, view.records_bytes()).map(Cow::Owned),
    }
}

/// Calls `f` with every record of `view` (decompressing if needed), in
/// order, stopping at the first error.
pub fn for_each_record(
    view: &BatchView<'_>,
    mut f: impl FnMut(RecordView<'_>) -> Result<(), RecordError>,
) -> Result<(), RecordError> {
    let payload = payload_owned(view)?;
    for r in RecordIter::of(view, &payload)? {
        f(r?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::records::{BatchBuilder, Record};
    use crate::record::varint::put_varint;

    fn batch_of(n: usize) -> Vec<u8> {
        let mut b = BatchBuilder::new(0, 1_000);
        for i in 0..n {
            let mut r = Record::new(Some(vec![b'k', i as u8]), Some(vec![7; 10]), 1_000 + i as i64);
            r.headers.push(("h".into(), Some(b"x".to_vec())));
            b.push(r);
        }
        b.build().to_vec()
    }

    fn collect(payload: &[u8], count: i32) -> Result<Vec<RecordView<'_>>, RecordError> {
        RecordIter::new(payload, count)?.collect()
    }

    #[test]
    fn reads_exactly_the_declared_records() {
        let bytes = batch_of(3);
        let view = BatchView::parse_valid(&bytes).unwrap();
        let recs = collect(view.records_bytes(), 3).unwrap();
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[2].offset_delta, 2);
        assert_eq!(recs[2].timestamp(&view), 1_002);
        assert_eq!(recs[1].key, Some(&[b'k', 1][..]));
        assert_eq!(recs[0].headers().collect::<Vec<_>>(), vec![(&b"h"[..], Some(&b"x"[..]))]);
        assert!(matches!(collect(view.records_bytes(), 2), Err(RecordError::RecordsRemaining)));
        assert!(matches!(collect(view.records_bytes(), 4), Err(RecordError::PrematureEof { expected: 4, found: 3 })));
        assert!(matches!(collect(view.records_bytes(), -1), Err(RecordError::InvalidCount(-1))));
        assert_eq!(collect(&[], 0).unwrap().len(), 0);
    }

    #[test]
    fn a_record_must_use_exactly_its_length() {
        // A record whose length claims one byte more than its fields use.
        let bytes = batch_of(1);
        let view = BatchView::parse_valid(&bytes).unwrap();
        let body = &view.records_bytes()[1..];
        let mut longer = Vec::new();
        put_varint(&mut longer, body.len() as i32 + 1);
        longer.extend_from_slice(body);
        longer.push(0);
        assert!(matches!(collect(&longer, 1), Err(RecordError::RecordSizeMismatch { .. })));
        let mut shorter = Vec::new();
        put_varint(&mut shorter, body.len() as i32 + 5);
        shorter.extend_from_slice(body);
        assert!(matches!(collect(&shorter, 1), Err(RecordError::RecordSize { .. })));
    }

    #[test]
    fn lying_header_counts_are_errors() {
        let mut rec = vec![0u8]; // attributes
        put_varint(&mut rec, 0); // timestamp delta
        put_varint(&mut rec, 0); // offset delta
        put_varint(&mut rec, -1); // key
        put_varint(&mut rec, -1); // value
        for (count, want) in [(-3, "headers -3"), (1_000, "headers 1000")] {
            let mut r = rec.clone();
            put_varint(&mut r, count);
            let mut p = Vec::new();
            put_varint(&mut p, r.len() as i32);
            p.extend_from_slice(&r);
            let err = collect(&p, 1).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        }
        let mut r = rec.clone();
        put_varint(&mut r, 1);
        put_varint(&mut r, -5); // header key size
        put_varint(&mut r, -1);
        let mut p = Vec::new();
        put_varint(&mut p, r.len() as i32);
        p.extend_from_slice(&r);
        assert!(matches!(collect(&p, 1), Err(RecordError::HeaderKeySize(-5))));
    }

    #[test]
    fn every_mutation_is_an_error_or_a_consistent_read() {
        let bytes = batch_of(4);
        let view = BatchView::parse_valid(&bytes).unwrap();
        let payload = view.records_bytes().to_vec();
        for at in 0..payload.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut p = payload.clone();
                p[at] ^= flip;
                if let Ok(recs) = collect(&p, 4) {
                    let used: usize = recs.iter().map(|r| r.body_size + 1).sum();
                    assert!(used <= p.len());
                }
            }
        }
    }
}
