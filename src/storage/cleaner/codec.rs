//! Records as the cleaner writes them back: a retained record re-encoded
//! at a new timestamp delta, its header section copied byte for byte.
//! Reading goes through the one record iterator (`record::iter`) and
//! compression through `record::compression`.

use bytes::BufMut;

use crate::record::iter::RecordView;
use crate::record::varint::{put_varint, put_varlong, varlong_size};

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
pub fn encode_record(buf: &mut Vec<u8>, record: &RecordView<'_>, timestamp_delta: i64) {
    let body = 1
        + varlong_size(timestamp_delta)
        + varlong_size(record.offset_delta as i64)
        + nullable_size(record.key)
        + nullable_size(record.value)
        + record.headers_raw.len();
    buf.reserve(body + 5);
    put_varint(buf, body as i32);
    buf.put_u8(0);
    put_varlong(buf, timestamp_delta);
    put_varint(buf, record.offset_delta);
    put_nullable(buf, record.key);
    put_nullable(buf, record.value);
    buf.extend_from_slice(record.headers_raw);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::batch::BatchView;
    use crate::record::iter::RecordIter;
    use crate::record::records::{BatchBuilder, Record};

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
        let recs: Vec<_> = RecordIter::of(&view, view.records_bytes()).unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!((recs[1].offset_delta, recs[1].timestamp_delta, recs[1].value), (1, 5, None));
        let mut out = Vec::new();
        for r in &recs {
            encode_record(&mut out, r, r.timestamp_delta);
        }
        assert_eq!(&out[..], view.records_bytes());
    }
}
