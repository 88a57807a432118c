//! `ControllerChannel` (Kafka's `NodeToControllerChannelManager`): how a
//! broker reaches the active controller. If this node is the active
//! controller the request is handled in process (through
//! [`LocalController`], which the controller implements, so this module
//! never names it); otherwise it goes over the controller listener to the
//! leader (learned from NotController answers), trying the voters in turn
//! while the quorum elects one. Admin requests sent to any broker reach the
//! active controller this way (Kafka forwards them too).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use uuid::Uuid;

use crate::metadata::ConfigResourceType;

use super::ops::{
    ConfigChange, ControllerOp, CreatedTopic, ElectionOutcome, ElectionType, IsrAfterChange, IsrChange, NewTopic,
    OpResult, PartitionGrowth, TopicRef,
};
use super::rpc::{
    BrokerHeartbeat, BrokerRegistration, ControllerRequest, ControllerResponse, HeartbeatReply, MetadataDelta,
    QuorumDescription, RpcClient,
};
use super::{ControllerError, Voters};

/// The controller role of this same process, as the channel sees it: the
/// composition root hands the channel the node's `QuorumController` through
/// this trait when the node is also a controller, and requests then skip
/// the network while it leads.
pub trait LocalController: Send + Sync + 'static {
    /// This node's id in the quorum.
    fn node_id(&self) -> u64;
    /// The current leader's id, if any.
    fn leader(&self) -> Option<u64>;
    /// Whether this node is the active controller.
    fn is_leader(&self) -> bool {
        self.leader() == Some(self.node_id())
    }
    /// Answers one request as if it had arrived on the controller listener.
    fn handle(&self, req: ControllerRequest) -> BoxFuture<'_, ControllerResponse>;
}

/// How long an operation may wait for an active controller.
const OP_TIMEOUT: Duration = Duration::from_secs(30);
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

pub struct ControllerChannel {
    local: Option<Arc<dyn LocalController>>,
    voters: Voters,
    client: Arc<RpcClient>,
    leader_hint: Mutex<Option<u64>>,
    next_voter: Mutex<usize>,
}

fn unexpected(r: &ControllerResponse) -> ControllerError {
    ControllerError::Unavailable(format!("unexpected controller response {r:?}"))
}

impl ControllerChannel {
    pub fn new(local: Option<Arc<dyn LocalController>>, voters: Voters) -> Arc<Self> {
        Arc::new(ControllerChannel {
            local,
            voters,
            client: RpcClient::new(),
            leader_hint: Mutex::new(None),
            next_voter: Mutex::new(0),
        })
    }

    pub fn local(&self) -> Option<&Arc<dyn LocalController>> {
        self.local.as_ref()
    }

    /// The active controller's id if known.
    pub fn leader_hint(&self) -> Option<u64> {
        match &self.local {
            Some(l) => l.leader(),
            None => *self.leader_hint.lock().expect("hint lock"),
        }
    }

    fn pick_target(&self) -> Option<(u64, String)> {
        if self.voters.is_empty() {
            return None;
        }
        let hint = self.leader_hint();
        if let Some(id) = hint {
            if let Some(addr) = self.voters.get(&id) {
                return Some((id, addr.clone()));
            }
        }
        let mut n = self.next_voter.lock().expect("voter lock");
        let (id, addr) = self.voters.iter().nth(*n % self.voters.len()).expect("non-empty");
        *n += 1;
        Some((*id, addr.clone()))
    }

    /// Sends `req` to the active controller, retrying until `timeout`.
    pub async fn send(&self, req: ControllerRequest, timeout: Duration) -> Result<ControllerResponse, ControllerError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut backoff = Duration::from_millis(20);
        loop {
            if let Some(local) = &self.local {
                if local.is_leader() {
                    // Bounded like a remote call: a leader that lost its
                    // quorum never commits, and openraft keeps it leading.
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    match tokio::time::timeout(left, local.handle(req.clone())).await {
                        Err(_) => {
                            return Err(ControllerError::Unavailable(
                                "the active controller did not answer in time".into(),
                            ))
                        }
                        Ok(ControllerResponse::NotController { .. }) => {}
                        Ok(resp) => return Ok(resp),
                    }
                }
            }
            let local_id = self.local.as_ref().map(|l| l.node_id());
            match self.pick_target() {
                Some((id, addr)) if Some(id) != local_id => {
                    match self.client.call(&addr, &req, CALL_TIMEOUT.min(timeout)).await {
                        Ok(ControllerResponse::NotController { leader }) => {
                            *self.leader_hint.lock().expect("hint lock") = leader;
                        }
                        Ok(resp) => {
                            *self.leader_hint.lock().expect("hint lock") = Some(id);
                            return Ok(resp);
                        }
                        Err(e) => {
                            tracing::debug!(controller = id, error = %e, "controller unreachable");
                            *self.leader_hint.lock().expect("hint lock") = None;
                        }
                    }
                }
                Some(_) => {
                    // The hint names this node, which is not leading (yet).
                    *self.leader_hint.lock().expect("hint lock") = None;
                }
                None => return Err(ControllerError::Unavailable("no controller quorum voters configured".into())),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ControllerError::Unavailable("no active controller answered in time".into()));
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(200));
        }
    }

    async fn op(&self, op: ControllerOp) -> Result<OpResult, ControllerError> {
        match self.send(ControllerRequest::Op(op), OP_TIMEOUT).await? {
            ControllerResponse::Op(OpResult::Failed(e)) => Err(e.into()),
            ControllerResponse::Op(r) => Ok(r),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn create_topics(
        &self,
        topics: Vec<NewTopic>,
        validate_only: bool,
    ) -> Vec<Result<CreatedTopic, ControllerError>> {
        let n = topics.len();
        match self.op(ControllerOp::CreateTopics { topics, validate_only }).await {
            Ok(OpResult::CreateTopics(r)) => r.into_iter().map(|x| x.map_err(Into::into)).collect(),
            Ok(other) => fail_all(n, unexpected_op(&other)),
            Err(e) => fail_all(n, e),
        }
    }

    pub async fn delete_topics(&self, topics: Vec<TopicRef>) -> Vec<Result<(String, Uuid), ControllerError>> {
        let n = topics.len();
        match self.op(ControllerOp::DeleteTopics { topics }).await {
            Ok(OpResult::DeleteTopics(r)) => r.into_iter().map(|x| x.map_err(Into::into)).collect(),
            Ok(other) => fail_all(n, unexpected_op(&other)),
            Err(e) => fail_all(n, e),
        }
    }

    pub async fn create_partitions(
        &self,
        topics: Vec<PartitionGrowth>,
        validate_only: bool,
    ) -> Vec<Result<(), ControllerError>> {
        let n = topics.len();
        match self.op(ControllerOp::CreatePartitions { topics, validate_only }).await {
            Ok(OpResult::CreatePartitions(r)) => r.into_iter().map(|x| x.map_err(Into::into)).collect(),
            Ok(other) => fail_all(n, unexpected_op(&other)),
            Err(e) => fail_all(n, e),
        }
    }

    pub async fn alter_configs(
        &self,
        changes: Vec<(ConfigResourceType, String, ConfigChange)>,
        validate_only: bool,
    ) -> Vec<Result<(), ControllerError>> {
        let n = changes.len();
        match self.op(ControllerOp::AlterConfigs { changes, validate_only }).await {
            Ok(OpResult::AlterConfigs(r)) => r.into_iter().map(|x| x.map_err(Into::into)).collect(),
            Ok(other) => fail_all(n, unexpected_op(&other)),
            Err(e) => fail_all(n, e),
        }
    }

    pub async fn allocate_producer_ids(&self, broker_id: i32) -> Result<i64, ControllerError> {
        match self.op(ControllerOp::AllocateProducerIds { broker_id }).await? {
            OpResult::ProducerIds(r) => r.map_err(Into::into),
            other => Err(unexpected_op(&other)),
        }
    }

    pub async fn elect_leaders(
        &self,
        election: ElectionType,
        partitions: Option<Vec<(String, i32)>>,
    ) -> Result<Vec<ElectionOutcome>, ControllerError> {
        match self.op(ControllerOp::ElectLeaders { election, partitions }).await? {
            OpResult::ElectLeaders(r) => r.map_err(Into::into),
            other => Err(unexpected_op(&other)),
        }
    }

    /// AlterPartition: per change, the new (leader epoch, partition epoch, ISR).
    pub async fn alter_partition(
        &self,
        broker_id: i32,
        broker_epoch: i64,
        changes: Vec<IsrChange>,
    ) -> Result<Vec<Result<IsrAfterChange, ControllerError>>, ControllerError> {
        match self.op(ControllerOp::AlterPartition { broker_id, broker_epoch, changes }).await? {
            OpResult::AlterPartition(r) => {
                r.map(|v| v.into_iter().map(|x| x.map_err(Into::into)).collect()).map_err(Into::into)
            }
            other => Err(unexpected_op(&other)),
        }
    }

    pub async fn register(&self, reg: BrokerRegistration) -> Result<i64, ControllerError> {
        match self.send(ControllerRequest::RegisterBroker(reg), CALL_TIMEOUT).await? {
            ControllerResponse::Registered(Ok(epoch)) => Ok(epoch),
            ControllerResponse::Registered(Err((code, message))) => {
                if code == kafka_protocol::ResponseError::DuplicateBrokerRegistration.code() {
                    Err(ControllerError::DuplicateBrokerRegistration)
                } else {
                    Err(ControllerError::Remote { code, message })
                }
            }
            other => Err(unexpected(&other)),
        }
    }

    pub async fn heartbeat(&self, hb: BrokerHeartbeat, timeout: Duration) -> Result<HeartbeatReply, ControllerError> {
        match self.send(ControllerRequest::BrokerHeartbeat(hb), timeout).await? {
            ControllerResponse::Heartbeat(r) => Ok(r),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn fetch_metadata(&self, after: i64, max_wait_ms: u64) -> Result<MetadataDelta, ControllerError> {
        match self
            .send(
                ControllerRequest::FetchMetadata { after, max_wait_ms },
                Duration::from_millis(max_wait_ms) + CALL_TIMEOUT,
            )
            .await?
        {
            ControllerResponse::Metadata(d) => {
                if d.leader.is_some() {
                    *self.leader_hint.lock().expect("hint lock") = d.leader;
                }
                Ok(d)
            }
            other => Err(unexpected(&other)),
        }
    }

    pub async fn describe_quorum(&self) -> Result<QuorumDescription, ControllerError> {
        match self.send(ControllerRequest::DescribeQuorum, CALL_TIMEOUT).await? {
            ControllerResponse::Quorum(q) => Ok(q),
            other => Err(unexpected(&other)),
        }
    }
}

fn unexpected_op(r: &OpResult) -> ControllerError {
    ControllerError::Unavailable(format!("unexpected operation result {r:?}"))
}

fn fail_all<T>(n: usize, e: ControllerError) -> Vec<Result<T, ControllerError>> {
    let code = e.kafka_code();
    let message = e.to_string();
    (0..n).map(|_| Err(ControllerError::Remote { code, message: message.clone() })).collect()
}
