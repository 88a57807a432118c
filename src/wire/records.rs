//! Records inside a v2 batch: varint codec, decompression, iteration, and a
//! builder for batches the broker writes itself (metadata, tests).
//!
//! The produce and fetch paths never come here; records are decoded only
//! where Kafka decodes them too: `dump-log`, offset-by-timestamp lookup,
//! the log cleaner, and internal topics.

use std::io::Read;

use bytes::{BufMut, Bytes, BytesMut};
use thiserror::Error;

use super::batch::{self, BatchView, Compression, HEADER_SIZE};

/// Decompressed records never exceed this, whatever a batch claims: a guard
/// against decompression bombs in stored or received data.
pub const MAX_DECOMPRESSED_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug, Error)]
pub enum RecordError {
    #[error("record data truncated")]
    Truncated,
    #[error("invalid varint")]
    BadVarint,
    #[error("negative or oversized length {0}")]
    BadLength(i64),
    #[error("batch: {0}")]
    Batch(#[from] batch::BatchError),
    #[error("decompression failed: {0}")]
    Decompress(String),
    #[error("decompressed records exceed {MAX_DECOMPRESSED_BYTES} bytes")]
    TooLarge,
    #[error("record count mismatch: header says {expected}, found {found}")]
    CountMismatch { expected: i32, found: i32 },
}

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

// ---- varints (zig-zag, as Kafka's ByteUtils) ----

pub fn put_varint(buf: &mut impl BufMut, value: i32) {
    put_varlong(buf, value as i64);
}

pub fn put_varlong(buf: &mut impl BufMut, value: i64) {
    let mut v = ((value << 1) ^ (value >> 63)) as u64;
    while v & !0x7f != 0 {
        buf.put_u8(((v & 0x7f) | 0x80) as u8);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

pub fn varlong_size(value: i64) -> usize {
    let mut v = ((value << 1) ^ (value >> 63)) as u64;
    let mut n = 1;
    while v & !0x7f != 0 {
        n += 1;
        v >>= 7;
    }
    n
}

/// A cursor over a byte slice with checked reads.
pub struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }
    pub fn position(&self) -> usize {
        self.pos
    }
    pub fn u8(&mut self) -> Result<u8, RecordError> {
        let b = *self.bytes.get(self.pos).ok_or(RecordError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        if self.remaining() < n {
            return Err(RecordError::Truncated);
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub fn varlong(&mut self) -> Result<i64, RecordError> {
        let mut raw: u64 = 0;
        let mut shift = 0;
        loop {
            let b = self.u8()?;
            raw |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 63 {
                return Err(RecordError::BadVarint);
            }
        }
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }
    pub fn varint(&mut self) -> Result<i32, RecordError> {
        let v = self.varlong()?;
        i32::try_from(v).map_err(|_| RecordError::BadVarint)
    }
    /// A varint-length-prefixed byte string; -1 is null.
    pub fn nullable_bytes(&mut self) -> Result<Option<&'a [u8]>, RecordError> {
        let len = self.varint()?;
        if len < 0 {
            return Ok(None);
        }
        self.take(len as usize).map(Some)
    }
}

/// Decompresses (or borrows) the records section of a batch.
pub fn records_payload(view: &BatchView<'_>) -> Result<Vec<u8>, RecordError> {
    let raw = view.records_bytes();
    decompress(view.compression()?, raw)
}

pub fn decompress(codec: Compression, raw: &[u8]) -> Result<Vec<u8>, RecordError> {
    let limit = MAX_DECOMPRESSED_BYTES as u64 + 1;
    let mut out = Vec::new();
    let res = match codec {
        Compression::None => {
            out.extend_from_slice(raw);
            Ok(0)
        }
        Compression::Gzip => flate2::read::GzDecoder::new(raw).take(limit).read_to_end(&mut out),
        Compression::Snappy => return snappy_decompress(raw),
        Compression::Lz4 => match lz4::Decoder::new(raw) {
            Ok(d) => d.take(limit).read_to_end(&mut out),
            Err(e) => Err(e),
        },
        Compression::Zstd => match zstd::stream::read::Decoder::new(raw) {
            Ok(d) => d.take(limit).read_to_end(&mut out),
            Err(e) => Err(e),
        },
    };
    res.map_err(|e| RecordError::Decompress(e.to_string()))?;
    if out.len() > MAX_DECOMPRESSED_BYTES {
        return Err(RecordError::TooLarge);
    }
    Ok(out)
}

/// Snappy as Kafka clients send it: raw blocks, or xerial framing
/// (`\x82SNAPPY\0`, two version ints, then `[len: u32][block]`...).
fn snappy_decompress(raw: &[u8]) -> Result<Vec<u8>, RecordError> {
    const XERIAL: &[u8] = b"\x82SNAPPY\x00";
    let block = |b: &[u8], out: &mut Vec<u8>| -> Result<(), RecordError> {
        let n = snap::raw::decompress_len(b).map_err(|e| RecordError::Decompress(e.to_string()))?;
        if out.len() + n > MAX_DECOMPRESSED_BYTES {
            return Err(RecordError::TooLarge);
        }
        let start = out.len();
        out.resize(start + n, 0);
        snap::raw::Decoder::new()
            .decompress(b, &mut out[start..])
            .map_err(|e| RecordError::Decompress(e.to_string()))?;
        Ok(())
    };
    let mut out = Vec::new();
    if raw.len() >= 16 && &raw[..8] == XERIAL {
        let mut c = Cursor::new(&raw[16..]);
        while c.remaining() > 0 {
            let len = u32::from_be_bytes(c.take(4)?.try_into().expect("4 bytes")) as usize;
            block(c.take(len)?, &mut out)?;
        }
    } else {
        block(raw, &mut out)?;
    }
    Ok(out)
}

/// Decodes every record of a batch (decompressing if needed).
pub fn decode_records(view: &BatchView<'_>) -> Result<Vec<Record>, RecordError> {
    let payload = records_payload(view)?;
    let mut out = Vec::new();
    let mut c = Cursor::new(&payload);
    let base_offset = view.base_offset();
    let base_ts = view.base_timestamp();
    let log_append = view.is_log_append_time();
    let expected = view.records_count();
    while c.remaining() > 0 {
        let len = c.varint()?;
        if len < 0 {
            return Err(RecordError::BadLength(len as i64));
        }
        let body = c.take(len as usize)?;
        let mut r = Cursor::new(body);
        let _attributes = r.u8()?;
        let ts_delta = r.varlong()?;
        let offset_delta = r.varint()?;
        let key = r.nullable_bytes()?.map(<[u8]>::to_vec);
        let value = r.nullable_bytes()?.map(<[u8]>::to_vec);
        let header_count = r.varint()?;
        if header_count < 0 || header_count as usize > r.remaining() {
            return Err(RecordError::BadLength(header_count as i64));
        }
        let mut headers = Vec::new();
        for _ in 0..header_count {
            let k = r.nullable_bytes()?.ok_or(RecordError::BadLength(-1))?;
            let v = r.nullable_bytes()?.map(<[u8]>::to_vec);
            headers.push((String::from_utf8_lossy(k).into_owned(), v));
        }
        out.push(Record {
            offset: base_offset + offset_delta as i64,
            timestamp: if log_append { view.max_timestamp() } else { base_ts + ts_delta },
            key,
            value,
            headers,
            size_in_bytes: len as usize,
        });
    }
    if out.len() as i64 != expected as i64 {
        return Err(RecordError::CountMismatch { expected, found: out.len() as i32 });
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
        let mut attributes: i16 = 0;
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
    fn varints_round_trip() {
        for v in [0i64, 1, -1, 63, -64, 64, 300, i32::MAX as i64, i64::MIN, i64::MAX] {
            let mut b = BytesMut::new();
            put_varlong(&mut b, v);
            assert_eq!(b.len(), varlong_size(v));
            assert_eq!(Cursor::new(&b).varlong().unwrap(), v);
        }
    }

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
