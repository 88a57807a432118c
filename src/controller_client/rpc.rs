//! The controller listener's protocol and its client: how nodes talk to
//! the metadata quorum over the CONTROLLER listener
//! (`controller.listener.names`). Raft traffic between voters, broker
//! registration and heartbeats, metadata log fetches by brokers, and admin
//! operations forwarded to the active controller all travel as
//! length-prefixed JSON messages on this internal listener; Kafka clients
//! never see it (they use the broker listeners).
//!
//! Frames are a big-endian u32 size then that many bytes of JSON, capped at
//! [`MAX_FRAME`]. A connection carries one request at a time; [`RpcClient`]
//! keeps a small pool per address for concurrency. The serving side (the
//! controller's accept loop) is `controller::listener`; it shares
//! [`read_frame`] and [`write_frame`] with the client here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use uuid::Uuid;

use crate::metadata::{Endpoint, MetadataRecord};

use super::ops::{ControllerOp, OpResult};
use super::raft_types::TypeConfig;

/// Largest message accepted (snapshots travel in chunks below this).
pub const MAX_FRAME: usize = 256 << 20;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ControllerRequest {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<u64>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    RegisterBroker(BrokerRegistration),
    BrokerHeartbeat(BrokerHeartbeat),
    /// Committed metadata after `after` (an entry index), waiting up to
    /// `max_wait_ms` for something new.
    FetchMetadata {
        after: i64,
        max_wait_ms: u64,
    },
    Op(ControllerOp),
    DescribeQuorum,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum ControllerResponse {
    AppendEntries(Result<AppendEntriesResponse<u64>, RaftError<u64>>),
    Vote(Result<VoteResponse<u64>, RaftError<u64>>),
    InstallSnapshot(Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>),
    Registered(Result<i64, (i16, String)>),
    Heartbeat(HeartbeatReply),
    Metadata(MetadataDelta),
    Op(OpResult),
    Quorum(QuorumDescription),
    /// This node is not the active controller; `leader` if known.
    NotController {
        leader: Option<u64>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BrokerRegistration {
    pub broker_id: i32,
    pub incarnation_id: Uuid,
    pub listeners: Vec<Endpoint>,
    pub rack: Option<String>,
    /// The cluster id this broker's storage was formatted with, if any.
    pub cluster_id: Option<String>,
    /// Kafka's `PreviousBrokerEpoch`: the broker epoch this broker's log
    /// dirs recorded at its last clean shutdown (None after a crash).
    #[serde(default)]
    pub previous_broker_epoch: Option<i64>,
    /// Replicas (topic id, partition) in log directories that failed
    /// while this process ran (Kafka registers its online directories).
    #[serde(default)]
    pub offline_replicas: Vec<(Uuid, i32)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BrokerHeartbeat {
    pub broker_id: i32,
    pub broker_epoch: i64,
    /// The metadata offset this broker has applied.
    pub metadata_offset: i64,
    pub want_fence: bool,
    pub want_shutdown: bool,
    /// Replicas (topic id, partition) this broker holds in failed log
    /// directories: Kafka's `OfflineLogDirs`, naming replicas because
    /// Weir's metadata does not record which directory holds each one.
    #[serde(default)]
    pub offline_replicas: Vec<(Uuid, i32)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeartbeatReply {
    pub error: i16,
    pub is_caught_up: bool,
    pub is_fenced: bool,
    pub should_shutdown: bool,
}

/// Committed metadata for a follower: either entries after its position,
/// or a snapshot (records rebuilding the image) then entries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetadataDelta {
    pub snapshot: Option<(i64, Vec<MetadataRecord>)>,
    pub entries: Vec<(i64, Vec<MetadataRecord>)>,
    pub leader: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QuorumDescription {
    pub leader_id: i64,
    pub leader_epoch: i64,
    pub high_watermark: i64,
    /// (voter id, log end offset).
    pub voters: Vec<(i64, i64)>,
}

#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("cannot reach {addr}: {source}")]
    Connect { addr: String, source: std::io::Error },
    #[error("i/o with {addr}: {source}")]
    Io { addr: String, source: std::io::Error },
    #[error("bad message from {addr}: {reason}")]
    Protocol { addr: String, reason: String },
    #[error("timed out talking to {0}")]
    Timeout(String),
}

/// Writes one frame: the body's length (big-endian u32), then the body.
pub async fn write_frame(stream: &mut TcpStream, bytes: &[u8]) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(4 + bytes.len());
    buf.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    buf.extend_from_slice(bytes);
    stream.write_all(&buf).await
}

/// Reads one frame; `Ok(None)` at a clean end of stream.
pub async fn read_frame(stream: &mut TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match stream.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "controller frame too large"));
    }
    // Grow as bytes arrive rather than trusting the announced size.
    let mut body = Vec::with_capacity(len.min(1 << 20));
    let mut limited = (&mut *stream).take(len as u64);
    limited.read_to_end(&mut body).await?;
    if body.len() != len {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(Some(body))
}

/// A pool of connections per address.
#[derive(Default)]
pub struct RpcClient {
    idle: Mutex<HashMap<String, Vec<TcpStream>>>,
}

impl RpcClient {
    pub fn new() -> Arc<Self> {
        Arc::new(RpcClient::default())
    }

    pub async fn call(
        &self,
        addr: &str,
        req: &ControllerRequest,
        timeout: Duration,
    ) -> Result<ControllerResponse, RpcError> {
        let body = serde_json::to_vec(req)
            .map_err(|e| RpcError::Protocol { addr: addr.to_string(), reason: e.to_string() })?;
        match tokio::time::timeout(timeout, self.exchange(addr, &body)).await {
            Ok(r) => r,
            Err(_) => Err(RpcError::Timeout(addr.to_string())),
        }
    }

    async fn exchange(&self, addr: &str, body: &[u8]) -> Result<ControllerResponse, RpcError> {
        let pooled = self.idle.lock().expect("rpc pool").get_mut(addr).and_then(Vec::pop);
        let mut stream = match pooled {
            Some(s) => s,
            None => {
                let s = TcpStream::connect(addr)
                    .await
                    .map_err(|source| RpcError::Connect { addr: addr.to_string(), source })?;
                let _ = s.set_nodelay(true);
                s
            }
        };
        let io = |source| RpcError::Io { addr: addr.to_string(), source };
        write_frame(&mut stream, body).await.map_err(io)?;
        let frame = read_frame(&mut stream)
            .await
            .map_err(io)?
            .ok_or_else(|| RpcError::Io { addr: addr.to_string(), source: std::io::ErrorKind::UnexpectedEof.into() })?;
        let resp = serde_json::from_slice(&frame)
            .map_err(|e| RpcError::Protocol { addr: addr.to_string(), reason: e.to_string() })?;
        self.idle.lock().expect("rpc pool").entry(addr.to_string()).or_default().push(stream);
        Ok(resp)
    }
}
