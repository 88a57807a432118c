//! Response framing: size prefix, response header (v0 or v1 by the
//! request's version; always v0 for ApiVersions), body at the request's
//! version.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseHeader};
use kafka_protocol::protocol::Encodable;

use super::WireError;

/// Encodes a complete response frame (size prefix included).
pub fn encode<T: Encodable>(api_key: ApiKey, version: i16, correlation_id: i32, body: &T) -> Result<Bytes, WireError> {
    let header_version = api_key.response_header_version(version);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let size = header
        .compute_size(header_version)
        .and_then(|h| body.compute_size(version).map(|b| h + b))
        .map_err(|e| WireError::Encode(e.to_string()))?;
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_i32(size as i32);
    header.encode(&mut buf, header_version).map_err(|e| WireError::Encode(e.to_string()))?;
    body.encode(&mut buf, version).map_err(|e| WireError::Encode(format!("{api_key:?} v{version}: {e}")))?;
    debug_assert_eq!(buf.len(), 4 + size);
    Ok(buf.freeze())
}

/// A response frame in pieces: encoded protocol bytes around record
/// payloads that go out exactly as they were read from the segments,
/// without being copied into the response buffer.
#[derive(Debug, Clone, Default)]
pub struct ResponseFrame {
    pub chunks: Vec<Bytes>,
}

impl From<Bytes> for ResponseFrame {
    fn from(b: Bytes) -> Self {
        ResponseFrame { chunks: vec![b] }
    }
}

impl ResponseFrame {
    pub fn len(&self) -> usize {
        self.chunks.iter().map(Bytes::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Payloads smaller than this are copied: a separate write costs more.
const ZERO_COPY_MIN: usize = 16 * 1024;

/// Like [`encode`], but the `payloads` (record sets the body holds as
/// `Bytes`) are spliced into the frame by reference: when the encoder
/// writes a slice that is exactly one of them, the frame gets a clone of
/// that `Bytes` instead of a copy of its contents.
pub fn encode_with_payloads<T: Encodable>(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &T,
    payloads: &[Bytes],
) -> Result<ResponseFrame, WireError> {
    let header_version = api_key.response_header_version(version);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let size = header
        .compute_size(header_version)
        .and_then(|h| body.compute_size(version).map(|b| h + b))
        .map_err(|e| WireError::Encode(e.to_string()))?;
    let spliced: std::collections::HashMap<usize, &Bytes> =
        payloads.iter().filter(|p| p.len() >= ZERO_COPY_MIN).map(|p| (p.as_ptr() as usize, p)).collect();
    let copied = size - spliced.values().map(|p| p.len()).sum::<usize>().min(size);
    let mut buf = SplicingBuf { current: BytesMut::with_capacity(4 + copied), chunks: Vec::new(), base: 0, spliced };
    buf.current.put_i32(size as i32);
    header.encode(&mut buf, header_version).map_err(|e| WireError::Encode(e.to_string()))?;
    body.encode(&mut buf, version).map_err(|e| WireError::Encode(format!("{api_key:?} v{version}: {e}")))?;
    let frame = buf.finish();
    debug_assert_eq!(frame.len(), 4 + size);
    Ok(frame)
}

/// The buffer behind [`encode_with_payloads`]. Invariant: the frame is
/// `chunks` followed by `current`; `base` is the length of `chunks`.
struct SplicingBuf<'a> {
    current: BytesMut,
    chunks: Vec<Bytes>,
    base: usize,
    /// Payloads to splice, by address.
    spliced: std::collections::HashMap<usize, &'a Bytes>,
}

impl SplicingBuf<'_> {
    fn finish(mut self) -> ResponseFrame {
        if !self.current.is_empty() {
            self.chunks.push(self.current.split().freeze());
        }
        ResponseFrame { chunks: self.chunks }
    }
}

// SAFETY: every method delegates to the `BytesMut` being written, which
// upholds `BufMut`'s contract; `put_slice` only adds whole chunks besides.
unsafe impl BufMut for SplicingBuf<'_> {
    fn remaining_mut(&self) -> usize {
        self.current.remaining_mut()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        // SAFETY: forwarded with the caller's guarantee.
        unsafe { self.current.advance_mut(cnt) }
    }

    fn chunk_mut(&mut self) -> &mut bytes::buf::UninitSlice {
        self.current.chunk_mut()
    }

    fn put_slice(&mut self, src: &[u8]) {
        let whole = self.spliced.get(&(src.as_ptr() as usize)).filter(|p| p.len() == src.len());
        match whole {
            Some(p) => {
                let before = self.current.split().freeze();
                self.base += before.len() + p.len();
                if !before.is_empty() {
                    self.chunks.push(before);
                }
                self.chunks.push((*p).clone());
            }
            None => self.current.extend_from_slice(src),
        }
    }
}

/// Message encoders never seek (only record-batch encoders use gaps), so
/// these only need to work within the chunk being written.
impl kafka_protocol::protocol::buf::ByteBufMut for SplicingBuf<'_> {
    fn offset(&self) -> usize {
        self.base + self.current.len()
    }

    fn seek(&mut self, offset: usize) {
        self.current.resize(offset.saturating_sub(self.base), 0);
    }

    fn range(&mut self, r: std::ops::Range<usize>) -> &mut [u8] {
        let (start, end) = (r.start.saturating_sub(self.base), r.end.saturating_sub(self.base));
        &mut self.current[start..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use kafka_protocol::messages::FetchResponse;

    #[test]
    fn spliced_frames_equal_copied_ones_and_share_the_payloads() {
        let big = Bytes::from(vec![7u8; 100_000]);
        let small = Bytes::from_static(b"tiny records");
        let part = |i, r: &Bytes| PartitionData::default().with_partition_index(i).with_records(Some(r.clone()));
        let resp = FetchResponse::default().with_responses(vec![
            FetchableTopicResponse::default().with_partitions(vec![part(0, &big), part(1, &small), part(2, &big)])
        ]);
        for v in [4, 12, 16] {
            let flat = encode(ApiKey::Fetch, v, 9, &resp).unwrap();
            let frame = encode_with_payloads(ApiKey::Fetch, v, 9, &resp, &[big.clone(), small.clone()]).unwrap();
            let joined: Vec<u8> = frame.chunks.iter().flat_map(|c| c.iter().copied()).collect();
            assert_eq!(joined, flat.to_vec(), "v{v}");
            let shared = frame.chunks.iter().filter(|c| c.as_ptr() == big.as_ptr()).count();
            assert_eq!(shared, 2, "v{v}: the big payload is referenced, not copied");
            assert!(frame.chunks.iter().all(|c| c.as_ptr() != small.as_ptr()), "small payloads are copied");
        }
    }
}
