//! `BrokerClient`: an outbound Kafka protocol connection. Used by follower
//! fetchers, request forwarding, and tests that speak the protocol at exact
//! versions. One request at a time; responses are matched by correlation id.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{frame, WireError};

pub struct BrokerClient {
    stream: BufReader<TcpStream>,
    read_buf: BytesMut,
    next_correlation_id: i32,
    client_id: StrBytes,
    max_response: usize,
}

impl BrokerClient {
    pub async fn connect(addr: &str, client_id: &str) -> Result<Self, WireError> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(BrokerClient {
            stream: BufReader::new(stream),
            read_buf: BytesMut::new(),
            next_correlation_id: 1,
            client_id: StrBytes::from_string(client_id.to_string()),
            max_response: 1 << 30,
        })
    }

    /// Sends `body` as `api_key` v`version` and decodes the response as `R`.
    pub async fn send<Q: Encodable, R: Decodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        body: &Q,
    ) -> Result<R, WireError> {
        let frame = self.send_raw(api_key, version, body).await?;
        decode_response(api_key, version, frame)
    }

    /// Sends a request and returns the raw response frame (header included).
    pub async fn send_raw<Q: Encodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        body: &Q,
    ) -> Result<Bytes, WireError> {
        let correlation_id = self.write_request(api_key, version, body).await?;
        let frame = frame::read_frame(&mut self.stream, &mut self.read_buf, self.max_response)
            .await?
            .ok_or(WireError::UnexpectedEof)?;
        if frame.len() < 4 || i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) != correlation_id {
            return Err(WireError::Malformed {
                api: "ResponseHeader",
                version: 0,
                reason: "correlation id mismatch".into(),
            });
        }
        Ok(frame)
    }

    /// Writes a request without waiting for its answer (to pipeline
    /// requests; read the answers with [`Self::read_frame`]) and returns
    /// its correlation id.
    pub async fn write_request<Q: Encodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        body: &Q,
    ) -> Result<i32, WireError> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(self.client_id.clone()));
        let header_version = api_key.request_header_version(version);
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        header.encode(&mut buf, header_version).map_err(|e| WireError::Encode(e.to_string()))?;
        body.encode(&mut buf, version).map_err(|e| WireError::Encode(e.to_string()))?;
        let size = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&size.to_be_bytes());
        self.stream.get_mut().write_all(&buf).await?;
        Ok(correlation_id)
    }

    /// Writes raw bytes (tests use this to send malformed input).
    pub async fn write_raw(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        self.stream.get_mut().write_all(bytes).await?;
        Ok(())
    }

    /// Reads one raw frame; `None` when the peer closed the connection.
    pub async fn read_frame(&mut self) -> Result<Option<Bytes>, WireError> {
        frame::read_frame(&mut self.stream, &mut self.read_buf, self.max_response).await
    }
}

/// Decodes a response frame (header + body) at `version`.
pub fn decode_response<R: Decodable>(api_key: ApiKey, version: i16, mut frame: Bytes) -> Result<R, WireError> {
    let header_version = api_key.response_header_version(version);
    let malformed = |reason: String| WireError::Malformed { api: "response", version, reason };
    ResponseHeader::decode(&mut frame, header_version).map_err(|e| malformed(e.to_string()))?;
    let body = R::decode(&mut frame, version).map_err(|e| malformed(e.to_string()))?;
    if frame.has_remaining() {
        return Err(malformed(format!("{} trailing bytes", frame.remaining())));
    }
    Ok(body)
}
