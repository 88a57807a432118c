//! openraft's network over the controller channel: each voter reaches the
//! others at their `controller.quorum.voters` address.

use std::sync::Arc;
use std::time::Duration;

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::BasicNode;

use super::TypeConfig;
use crate::controller_client::rpc::{ControllerRequest, ControllerResponse, RpcClient, RpcError};

pub struct Network {
    pub client: Arc<RpcClient>,
}

pub struct Connection {
    client: Arc<RpcClient>,
    target: u64,
    addr: String,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Connection;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> Connection {
        Connection { client: self.client.clone(), target, addr: node.addr.clone() }
    }
}

fn transport<E: std::error::Error>(e: RpcError) -> RPCError<u64, BasicNode, E> {
    match e {
        RpcError::Connect { .. } => RPCError::Unreachable(Unreachable::new(&e)),
        other => RPCError::Network(NetworkError::new(&other)),
    }
}

fn unexpected<E: std::error::Error>(addr: &str) -> RPCError<u64, BasicNode, E> {
    let e = std::io::Error::other(format!("unexpected controller response from {addr}"));
    RPCError::Network(NetworkError::new(&e))
}

impl Connection {
    async fn call(&self, req: ControllerRequest, timeout: Duration) -> Result<ControllerResponse, RpcError> {
        self.client.call(&self.addr, &req, timeout).await
    }
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        req: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        match self.call(ControllerRequest::AppendEntries(req), option.hard_ttl()).await.map_err(transport)? {
            ControllerResponse::AppendEntries(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            _ => Err(unexpected(&self.addr)),
        }
    }

    async fn install_snapshot(
        &mut self,
        req: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<u64>, RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>> {
        match self.call(ControllerRequest::InstallSnapshot(req), option.hard_ttl()).await.map_err(transport)? {
            ControllerResponse::InstallSnapshot(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            _ => Err(unexpected(&self.addr)),
        }
    }

    async fn vote(
        &mut self,
        req: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        match self.call(ControllerRequest::Vote(req), option.hard_ttl()).await.map_err(transport)? {
            ControllerResponse::Vote(r) => r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e))),
            _ => Err(unexpected(&self.addr)),
        }
    }
}
