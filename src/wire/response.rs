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
