//! Records as the cleaner handles them: borrowed views of the records of a
//! (decompressed) v2 batch, their re-encoding at new timestamp deltas, and
//! compression of a rebuilt batch with the batch's own codec.
//!
//! `wire::records` decodes records into owned values for tools and internal
//! topics; the cleaner reads every record of every segment, so it keeps
//! keys, values and headers as slices of the payload and copies the header
//! section of a retained record byte for byte.

use std::borrow::Cow;
use std::io::Write;

use bytes::BufMut;

use crate::wire::batch::{BatchView, Compression};
use crate::wire::records::{self, put_varint, put_varlong, varlong_size, Cursor, RecordError};

/// One record of a batch, borrowed from the batch's records payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawRecord<'a> {
    pub offset_delta: i32,
    pub timestamp_delta: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    /// The header section as stored (count varint, then the headers).
    pub headers: &'a [u8],
}

/// The records section of `view`, decompressed if needed (borrowed when not).
pub fn payload<'a>(view: &BatchView<'a>) -> Result<Cow<'a, [u8]>, RecordError> {
    match view.compression()? {
        Compression::None => Ok(Cow::Borrowed(view.records_bytes())),
        _ => records::records_payload(view).map(Cow::Owned),
    }
}

/// Parses every record of a payload; the count must match the header's.
pub fn parse_records(payload: &[u8], expected: i32) -> Result<Vec<RawRecord<'_>>, RecordError> {
    let mut out = Vec::with_capacity(expected.clamp(0, 4096) as usize);
    let mut c = Cursor::new(payload);
    while c.remaining() > 0 {
        let len = c.varint()?;
        if len < 0 {
            return Err(RecordError::BadLength(len as i64));
        }
        let body = c.take(len as usize)?;
        let mut r = Cursor::new(body);
        let _attributes = r.u8()?;
        let timestamp_delta = r.varlong()?;
        let offset_delta = r.varint()?;
        let key = r.nullable_bytes()?;
        let value = r.nullable_bytes()?;
        let headers_at = r.position();
        let count = r.varint()?;
        if count < 0 || count as usize > r.remaining() {
            return Err(RecordError::BadLength(count as i64));
        }
        for _ in 0..count {
            r.nullable_bytes()?.ok_or(RecordError::BadLength(-1))?;
            r.nullable_bytes()?;
        }
        if r.remaining() != 0 {
            return Err(RecordError::BadLength(r.remaining() as i64));
        }
        out.push(RawRecord { offset_delta, timestamp_delta, key, value, headers: &body[headers_at..] });
    }
    if out.len() as i64 != expected as i64 {
        return Err(RecordError::CountMismatch { expected, found: out.len() as i32 });
    }
    Ok(out)
}

fn nullable_size(b: Option<&[u8]>) -> usize {
    match b {
        None => 1,
        Some(b) => varlong_size(b.len() as i64) + b.len(),
    }
}

fn put_nullable(buf: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => put_varint(buf, -1),
        Some(b) => {
            put_varint(buf, b.len() as i32);
            buf.extend_from_slice(b);
        }
    }
}

/// Appends `record` as Kafka's `DefaultRecord.writeTo` would with the given
/// timestamp delta: length, attributes (0), deltas, key, value, headers.
pub fn encode_record(buf: &mut Vec<u8>, record: &RawRecord<'_>, timestamp_delta: i64) {
    let body = 1
        + varlong_size(timestamp_delta)
        + varlong_size(record.offset_delta as i64)
        + nullable_size(record.key)
        + nullable_size(record.value)
        + record.headers.len();
    buf.reserve(body + 5);
    put_varint(buf, body as i32);
    buf.put_u8(0);
    put_varlong(buf, timestamp_delta);
    put_varint(buf, record.offset_delta);
    put_nullable(buf, record.key);
    put_nullable(buf, record.value);
    buf.extend_from_slice(record.headers);
}

/// xerial framing as written by Kafka's `SnappyOutputStream`: magic,
/// version 1, compatible version 1, then 32 KiB blocks each prefixed with
/// its compressed length.
fn snappy_xerial(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    const BLOCK: usize = 32 * 1024;
    let mut out = Vec::with_capacity(raw.len() / 2 + 32);
    out.extend_from_slice(b"\x82SNAPPY\x00");
    out.extend_from_slice(&1i32.to_be_bytes());
    out.extend_from_slice(&1i32.to_be_bytes());
    let mut enc = snap::raw::Encoder::new();
    for chunk in raw.chunks(BLOCK) {
        let c = enc.compress_vec(chunk).map_err(std::io::Error::other)?;
        out.extend_from_slice(&(c.len() as u32).to_be_bytes());
        out.extend_from_slice(&c);
    }
    Ok(out)
}

/// Compresses a records section with `codec` at Kafka's default level. LZ4
/// is a frame of independent 64 KiB blocks without checksums, which is what
/// Kafka's `KafkaLZ4BlockOutputStream` writes and what its reader requires.
pub fn compress(codec: Compression, raw: &[u8]) -> std::io::Result<Vec<u8>> {
    match codec {
        Compression::None => Ok(raw.to_vec()),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(raw)?;
            e.finish()
        }
        Compression::Snappy => snappy_xerial(raw),
        Compression::Lz4 => {
            let mut e = lz4::EncoderBuilder::new()
                .block_size(lz4::BlockSize::Max64KB)
                .block_mode(lz4::BlockMode::Independent)
                .checksum(lz4::ContentChecksum::NoChecksum)
                .build(Vec::new())?;
            e.write_all(raw)?;
            let (out, res) = e.finish();
            res.map(|()| out)
        }
        Compression::Zstd => zstd::stream::encode_all(raw, 3),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::records::{BatchBuilder, Record};

    #[test]
    fn parse_and_reencode_is_byte_identical() {
        let mut b = BatchBuilder::new(0, 1000);
        let mut r = Record::new(Some(b"k1".to_vec()), Some(b"v1".to_vec()), 1000);
        r.headers.push(("h".into(), Some(b"x".to_vec())));
        r.headers.push(("n".into(), None));
        b.push(r);
        b.push(Record::new(Some(b"k2".to_vec()), None, 1005));
        let bytes = b.build();
        let view = BatchView::parse_valid(&bytes).unwrap();
        let p = payload(&view).unwrap();
        let recs = parse_records(&p, view.records_count()).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!((recs[1].offset_delta, recs[1].timestamp_delta, recs[1].value), (1, 5, None));
        let mut out = Vec::new();
        for r in &recs {
            encode_record(&mut out, r, r.timestamp_delta);
        }
        assert_eq!(&out[..], view.records_bytes());
        assert!(parse_records(&p, 3).is_err());
    }

    #[test]
    fn every_codec_round_trips_through_the_decoder() {
        let raw: Vec<u8> = (0..200_000u32).flat_map(|i| (i % 251).to_be_bytes()).collect();
        for codec in [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
            let c = compress(codec, &raw).unwrap();
            assert_eq!(records::decompress(codec, &c).unwrap(), raw, "{codec:?}");
        }
    }
}
