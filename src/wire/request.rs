//! Request header and typed body decoding.
//!
//! Order of checks for each frame: enough bytes for key/version/correlation
//! id; key known and version advertised (else the connection closes, except
//! ApiVersions which answers in v0 layout); then the `kafka-protocol`
//! decoders, header here and body in the handler that owns the API. Every
//! handler decodes its body before acting on it, so a malformed body closes
//! the connection without side effects, as in Kafka.
//!
//! Lengths read from the wire are safe to decode because the crate is
//! patched (vendor/kafka-protocol/WEIR-PATCH.md): no length reaches an
//! allocator unchecked against the bytes present, so the codec itself is
//! the only reader of a body; tests/decode_fuzz.rs holds it to that.
//! Decoding works on `Bytes`, so record batches inside Produce stay slices
//! of the frame, never copies.

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::Decodable;

use super::{versions, WireError};

/// A request whose header is decoded and whose version is advertised; the
/// body is decoded by the handler that owns the API.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub api_key: ApiKey,
    pub version: i16,
    pub header: RequestHeader,
    pub body: Bytes,
    /// When the connection read the request (`util::clock::monotonic_ns`;
    /// 0 when not stamped).
    pub received_ns: u64,
}

impl ApiRequest {
    pub fn correlation_id(&self) -> i32 {
        self.header.correlation_id
    }

    pub fn client_id(&self) -> &str {
        self.header.client_id.as_deref().unwrap_or("")
    }

    /// Decodes the body as `T`. Bytes after the request are ignored, as
    /// Kafka ignores them: every librdkafka 2.x sends an "all topics"
    /// Metadata v9+ request with a 4-byte placeholder where a 1-byte null
    /// array belongs, and Kafka reads the leading fields and ignores the
    /// rest.
    pub fn decode<T: Decodable>(&self) -> Result<T, WireError> {
        let mut body = self.body.clone();
        T::decode(&mut body, self.version).map_err(|e| {
            // The head of a refused body is what a client quirk report needs.
            let shown = &self.body[..self.body.len().min(64)];
            tracing::debug!(api = api_name(self.api_key), version = self.version, body = ?shown, error = %e, "request body refused");
            self.malformed(e.to_string())
        })
    }

    fn malformed(&self, reason: String) -> WireError {
        WireError::Malformed { api: api_name(self.api_key), version: self.version, reason }
    }
}

/// What the first bytes of a frame say before anything is decoded.
#[derive(Debug, Clone, Copy)]
pub struct RawHeader {
    pub api_key: i16,
    pub version: i16,
    pub correlation_id: i32,
}

pub fn peek_header(frame: &[u8]) -> Result<RawHeader, WireError> {
    if frame.len() < 8 {
        return Err(WireError::TruncatedHeader(frame.len()));
    }
    Ok(RawHeader {
        api_key: i16::from_be_bytes([frame[0], frame[1]]),
        version: i16::from_be_bytes([frame[2], frame[3]]),
        correlation_id: i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]),
    })
}

/// The outcome of reading a frame's header.
pub enum Parsed {
    Request(ApiRequest),
    /// ApiVersions at a version we do not advertise: answer in v0 layout.
    ApiVersionsFallback {
        correlation_id: i32,
    },
}

/// Decodes the header of an advertised API and splits off its body.
pub fn parse(mut frame: Bytes) -> Result<Parsed, WireError> {
    let raw = peek_header(&frame)?;
    let api_key = ApiKey::try_from(raw.api_key).map_err(|_| WireError::UnknownApiKey(raw.api_key))?;
    if versions::lookup(raw.api_key).is_none() {
        return Err(WireError::UnknownApiKey(raw.api_key));
    }
    if !versions::is_supported(raw.api_key, raw.version) {
        if api_key == ApiKey::ApiVersions {
            return Ok(Parsed::ApiVersionsFallback { correlation_id: raw.correlation_id });
        }
        return Err(WireError::UnsupportedVersion { api_key: raw.api_key, version: raw.version });
    }
    let header_version = api_key.request_header_version(raw.version);
    let header = RequestHeader::decode(&mut frame, header_version).map_err(|e| WireError::Malformed {
        api: "RequestHeader",
        version: header_version,
        reason: e.to_string(),
    })?;
    Ok(Parsed::Request(ApiRequest { api_key, version: raw.version, header, body: frame, received_ns: 0 }))
}

/// Kafka's name for an API, for logs and errors.
pub fn api_name(key: ApiKey) -> &'static str {
    match key {
        ApiKey::Produce => "Produce",
        ApiKey::Fetch => "Fetch",
        ApiKey::ListOffsets => "ListOffsets",
        ApiKey::Metadata => "Metadata",
        ApiKey::OffsetCommit => "OffsetCommit",
        ApiKey::OffsetFetch => "OffsetFetch",
        ApiKey::FindCoordinator => "FindCoordinator",
        ApiKey::JoinGroup => "JoinGroup",
        ApiKey::Heartbeat => "Heartbeat",
        ApiKey::LeaveGroup => "LeaveGroup",
        ApiKey::SyncGroup => "SyncGroup",
        ApiKey::DescribeGroups => "DescribeGroups",
        ApiKey::ListGroups => "ListGroups",
        ApiKey::ApiVersions => "ApiVersions",
        ApiKey::CreateTopics => "CreateTopics",
        ApiKey::DeleteTopics => "DeleteTopics",
        ApiKey::DeleteRecords => "DeleteRecords",
        ApiKey::InitProducerId => "InitProducerId",
        ApiKey::OffsetForLeaderEpoch => "OffsetForLeaderEpoch",
        ApiKey::AddPartitionsToTxn => "AddPartitionsToTxn",
        ApiKey::AddOffsetsToTxn => "AddOffsetsToTxn",
        ApiKey::EndTxn => "EndTxn",
        ApiKey::TxnOffsetCommit => "TxnOffsetCommit",
        ApiKey::DescribeConfigs => "DescribeConfigs",
        ApiKey::AlterConfigs => "AlterConfigs",
        ApiKey::DescribeLogDirs => "DescribeLogDirs",
        ApiKey::CreatePartitions => "CreatePartitions",
        ApiKey::DeleteGroups => "DeleteGroups",
        ApiKey::ElectLeaders => "ElectLeaders",
        ApiKey::IncrementalAlterConfigs => "IncrementalAlterConfigs",
        ApiKey::ListPartitionReassignments => "ListPartitionReassignments",
        ApiKey::OffsetDelete => "OffsetDelete",
        ApiKey::DescribeCluster => "DescribeCluster",
        ApiKey::DescribeProducers => "DescribeProducers",
        ApiKey::DescribeTransactions => "DescribeTransactions",
        ApiKey::ListTransactions => "ListTransactions",
        ApiKey::DescribeTopicPartitions => "DescribeTopicPartitions",
        ApiKey::AlterPartition => "AlterPartition",
        ApiKey::BrokerRegistration => "BrokerRegistration",
        ApiKey::BrokerHeartbeat => "BrokerHeartbeat",
        _ => "Other",
    }
}
