//! Owned records, for the few places that keep records after their bytes
//! are gone (tools, internal topics, tests), and a builder for batches the
//! broker writes itself (metadata, coordinators, tests). Decoding goes
//! through the one iterator, [`super::iter::RecordIter`].

use bytes::{BufMut, Bytes, BytesMut};

use super::batch::{self, BatchView, Compression, HEADER_SIZE};
use super::compression::compress;
use super::iter::{payload_owned, RecordError, RecordIter};
use super::varint::{put_varint, put_varlong};

/// One record as stored, with offsets and timestamps made absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Encoded size of the record body (after its length varint).
    pub size_in_bytes: usize,
}

impl Record {
    pub fn new(key: Option<Vec<u8>>, value: Option<Vec<u8>>, timestamp: i64) -> Self {
        Record { offset: 0, timestamp, key, value, headers: Vec::new(), size_in_bytes: 0 }
    }
}

/// Decodes every record of a batch (decompressing if needed) into owned
/// records with absolute offsets and timestamps.
pub fn decode_records(view: &BatchView<'_>) -> Result<Vec<Record>, RecordError> {
    let payload = payload_owned(view)?;
    let mut out = Vec::new();
    for r in RecordIter::of(view, &payload)? {
        let r = r?;
        out.push(Record {
            offset: r.offset(view),
            timestamp: r.timestamp(view),
            key: r.key.map(<[u8]>::to_vec),
            value: r.value.map(<[u8]>::to_vec),
            headers: r
                .headers()
                .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), v.map(<[u8]>::to_vec)))
                .collect(),
            size_in_bytes: r.body_size,
        });
    }
    Ok(out)
}

/// Builds an uncompressed v2 batch. Offsets inside are deltas from
/// `base_offset`; the producer fields default to "no producer".
pub struct BatchBuilder {
    base_offset: i64,
    base_timestamp: i64,
    records: Vec<Record>,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    partition_leader_epoch: i32,
    transactional: bool,
    control: bool,
    compression: Compression,
}

impl BatchBuilder {
    pub fn new(base_offset: i64, base_timestamp: i64) -> Self {
        BatchBuilder {
            base_offset,
            base_timestamp,
            records: Vec::new(),
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            partition_leader_epoch: -1,
            transactional: false,
            control: false,
            compression: Compression::None,
        }
    }

    pub fn producer(mut self, producer_id: i64, epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = producer_id;
        self.producer_epoch = epoch;
        self.base_sequence = base_sequence;
        self
    }

    pub fn transactional(mut self, yes: bool) -> Self {
        self.transactional = yes;
        self
    }

    pub fn control(mut self, yes: bool) -> Self {
        self.control = yes;
        self
    }

    /// Compresses the records section with `codec` when built.
    pub fn compression(mut self, codec: Compression) -> Self {
        self.compression = codec;
        self
    }

    pub fn leader_epoch(mut self, epoch: i32) -> Self {
        self.partition_leader_epoch = epoch;
        self
    }

    pub fn push(&mut self, record: Record) {
        self.records.push(record);
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn build(&self) -> Bytes {
        let mut body = BytesMut::new();
        let mut max_ts = self.base_timestamp;
        for (i, r) in self.records.iter().enumerate() {
            max_ts = max_ts.max(r.timestamp);
            let mut rec = BytesMut::new();
            rec.put_u8(0);
            put_varlong(&mut rec, r.timestamp - self.base_timestamp);
            put_varint(&mut rec, i as i32);
            put_nullable(&mut rec, r.key.as_deref());
            put_nullable(&mut rec, r.value.as_deref());
            put_varint(&mut rec, r.headers.len() as i32);
            for (k, v) in &r.headers {
                put_nullable(&mut rec, Some(k.as_bytes()));
                put_nullable(&mut rec, v.as_deref());
            }
            put_varint(&mut body, rec.len() as i32);
            body.extend_from_slice(&rec);
        }
        let body = match self.compression {
            Compression::None => body,
            codec => BytesMut::from(&compress(codec, &body).expect("in-memory compression")[..]),
        };
        let mut attributes: i16 = self.compression.id();
        if self.transactional {
            attributes |= 0x10;
        }
        if self.control {
            attributes |= 0x20;
        }
        let mut out = BytesMut::with_capacity(HEADER_SIZE + body.len());
        out.put_i64(self.base_offset);
        out.put_i32((HEADER_SIZE - batch::LOG_OVERHEAD + body.len()) as i32);
        out.put_i32(self.partition_leader_epoch);
        out.put_i8(2);
        out.put_u32(0); // crc, filled below
        out.put_i16(attributes);
        out.put_i32(self.records.len().saturating_sub(1) as i32);
        out.put_i64(self.base_timestamp);
        out.put_i64(max_ts);
        out.put_i64(self.producer_id);
        out.put_i16(self.producer_epoch);
        out.put_i32(self.base_sequence);
        out.put_i32(self.records.len() as i32);
        out.extend_from_slice(&body);
        let crc = crc32c::crc32c(&out[batch::OFFSET_ATTRIBUTES..]);
        out[batch::OFFSET_CRC..batch::OFFSET_CRC + 4].copy_from_slice(&crc.to_be_bytes());
        out.freeze()
    }
}

fn put_nullable(buf: &mut BytesMut, bytes: Option<&[u8]>) {
    match bytes {
        None => put_varint(buf, -1),
        Some(b) => {
            put_varint(buf, b.len() as i32);
            buf.extend_from_slice(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_batch_decodes() {
        let mut b = BatchBuilder::new(10, 500);
        let mut r = Record::new(Some(b"key".to_vec()), None, 510);
        r.headers.push(("h".into(), Some(b"x".to_vec())));
        b.push(r);
        b.push(Record::new(None, Some(b"v".to_vec()), 505));
        let bytes = b.build();
        let view = BatchView::parse_valid(&bytes).unwrap();
        let recs = decode_records(&view).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].offset, 10);
        assert_eq!(recs[0].timestamp, 510);
        assert_eq!(recs[0].key.as_deref(), Some(&b"key"[..]));
        assert_eq!(recs[0].value, None);
        assert_eq!(recs[0].headers[0].0, "h");
        assert_eq!(recs[1].offset, 11);
        assert_eq!(view.max_timestamp(), 510);
    }

    #[test]
    fn garbage_records_are_errors_not_panics() {
        let mut b = BatchBuilder::new(0, 0);
        b.push(Record::new(None, Some(vec![1; 40]), 0));
        let bytes = b.build().to_vec();
        for cut in HEADER_SIZE..bytes.len() {
            let mut copy = bytes.clone();
            copy[cut] ^= 0xff;
            if let Ok(view) = BatchView::parse(&copy) {
                let _ = decode_records(&view);
            }
        }
    }
}
