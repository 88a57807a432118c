//! The metadata controller (Kafka's `QuorumController`): a KRaft-style
//! quorum on openraft. The active controller (the Raft leader) validates
//! every cluster change against the current image, turns it into metadata
//! records, and commits them through Raft; every node applies committed
//! records with the same `MetadataImage::apply` (also when loading a
//! snapshot). Brokers reach the active controller through the
//! `ControllerChannel` of `controller_client`, whichever node they are on;
//! this module implements [`LocalController`] for it and serves the
//! controller listener (`listener`). The operation types it plans with and
//! its error type are `controller_client`'s too, shared with brokers.
//!
//! Only the composition root (`node`) depends on this module.

pub mod cluster_control;
pub mod config_control;
pub mod listener;
pub mod placement;
pub mod quorum;
pub mod replication_control;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use openraft::error::{ClientWriteError, RaftError};
use openraft::BasicNode;

use crate::config::BrokerConfig;
use crate::controller_client::ops::{
    ControllerOp, ElectionOutcome, ElectionType, OpError, OpResult, TopicRef, PRODUCER_ID_BLOCK_SIZE,
};
use crate::controller_client::rpc::{
    BrokerHeartbeat, BrokerRegistration, ControllerRequest, ControllerResponse, HeartbeatReply, MetadataDelta,
    QuorumDescription,
};
use crate::controller_client::{ControllerError, LocalController, Voters};
use crate::metadata::{ConfigResourceType, MetadataCache, MetadataImage, MetadataRecord};
use crate::storage::flusher::Flusher;
use crate::storage::StorageError;
use crate::wire::versions::{ELR_FEATURE, ELR_VERSION};

use cluster_control::Sessions;
use quorum::log_store::LogStore;
use quorum::state_machine::{FollowerData, StateMachineStore};
use quorum::{MetadataBatch, Raft};

/// The metadata.version this controller finalizes (Kafka 4.0-IV3).
pub const METADATA_VERSION: i16 = crate::wire::versions::METADATA_VERSION;

/// The controller role of a node: a Raft voter, and the active controller
/// while it leads.
pub struct QuorumController {
    node_id: u64,
    config: Arc<BrokerConfig>,
    raft: Raft,
    log_store: LogStore,
    sm: StateMachineStore,
    /// Serializes operations: each validates against the image left by the
    /// previous one.
    op_lock: tokio::sync::Mutex<()>,
    sessions: Mutex<Sessions>,
    /// The leader term sessions were last reset for.
    session_term: Mutex<u64>,
    /// A cluster id to propose if the metadata log has none.
    local_cluster_id: Option<String>,
}

fn not_leader_error<E>(e: &RaftError<u64, E>) -> bool {
    matches!(e, RaftError::APIError(_))
}

/// The error clients see when the Raft engine cannot serve: its storage
/// failing is said in plain words (which node's metadata log, what to do),
/// not as the engine's "when Read LogIndex(0) ...".
fn raft_unavailable<E: std::fmt::Display>(
    node_id: u64,
    config: &BrokerConfig,
    e: &RaftError<u64, E>,
) -> ControllerError {
    match e {
        RaftError::Fatal(openraft::error::Fatal::StorageError(se)) => {
            tracing::error!(error = %se, "the metadata log failed");
            ControllerError::Unavailable(format!(
                "the metadata log of controller {node_id} in {} cannot be read or written ({se}); that controller \
                 no longer takes part in the quorum: see its log, repair or replace the disk and restart it",
                config.metadata_log_dir.display()
            ))
        }
        e => ControllerError::Unavailable(e.to_string()),
    }
}

impl QuorumController {
    /// Opens the Raft log and state machine in `metadata.log.dir` and
    /// starts the Raft node. `publish_to` is the local broker's metadata
    /// cache when this node is also a broker.
    pub async fn start(
        config: Arc<BrokerConfig>,
        voters: Voters,
        flusher: Arc<Flusher>,
        publish_to: Option<Arc<MetadataCache>>,
        local_cluster_id: Option<String>,
    ) -> Result<Arc<Self>, ControllerError> {
        let node_id = config.node_id as u64;
        let dir = config.metadata_log_dir.clone();
        std::fs::create_dir_all(&dir).map_err(|e| StorageError::io(dir.display().to_string(), e))?;
        let sm = StateMachineStore::open(&dir, publish_to)?;
        let log_store = LogStore::open(&dir, &config, flusher, sm.snapshot_last_index())?;
        let network = quorum::network::Network { client: crate::controller_client::rpc::RpcClient::new() };
        let raft_config =
            Arc::new(quorum::raft_config().validate().map_err(|e| ControllerError::Unavailable(e.to_string()))?);
        let raft = Raft::new(node_id, raft_config, network, log_store.clone(), sm.clone())
            .await
            .map_err(|e| ControllerError::Unavailable(e.to_string()))?;
        let members: BTreeMap<u64, BasicNode> =
            voters.iter().map(|(id, addr)| (*id, BasicNode { addr: addr.clone() })).collect();
        if !raft.is_initialized().await.unwrap_or(true) {
            // Every voter may initialize with the same voter set.
            if let Err(e) = raft.initialize(members).await {
                tracing::debug!(error = %e, "raft initialize");
            }
        }
        if voters.len() == 1 {
            // A lone voter need not wait an election timeout.
            let _ = raft.trigger().elect().await;
        }
        let session_timeout = Duration::from_millis(config.int("broker.session.timeout.ms").max(1) as u64);
        Ok(Arc::new(QuorumController {
            node_id,
            config,
            raft,
            log_store,
            sm,
            op_lock: tokio::sync::Mutex::new(()),
            sessions: Mutex::new(Sessions::new(session_timeout)),
            session_term: Mutex::new(0),
            local_cluster_id,
        }))
    }

    pub fn node_id(&self) -> u64 {
        self.node_id
    }

    pub fn state_machine(&self) -> &StateMachineStore {
        &self.sm
    }

    /// The current leader's id, if any.
    pub fn leader(&self) -> Option<u64> {
        self.raft.metrics().borrow().current_leader
    }

    pub fn is_leader(&self) -> bool {
        self.leader() == Some(self.node_id)
    }

    /// Runs the active controller's periodic duties while it leads:
    /// bootstrap records, session expiry (fencing), and preferred leader
    /// rebalancing.
    pub fn spawn_duties(self: &Arc<Self>, shutdown: tokio_util::sync::CancellationToken) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let rebalance_every =
                Duration::from_secs(this.config.long("leader.imbalance.check.interval.seconds").max(1) as u64);
            let mut last_rebalance = Instant::now();
            let mut expiry: Option<Instant> = None;
            loop {
                // As Kafka's deferred "maybeFenceReplicas" event: wake when
                // the oldest session expires, not only on the tick, so a
                // dead broker's partitions move as soon as its session
                // allows. (A heartbeat only pushes that moment later; a new
                // registration's session ends a whole timeout from now.)
                let at_expiry = async {
                    match expiry {
                        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tick.tick() => {}
                    _ = at_expiry => {}
                }
                expiry = None;
                if !this.is_leader() {
                    continue;
                }
                match this.leader_duties().await {
                    Ok(next) => expiry = next,
                    Err(e) => tracing::debug!(error = %e, "controller duties"),
                }
                if this.config.bool("auto.leader.rebalance.enable") && last_rebalance.elapsed() >= rebalance_every {
                    last_rebalance = Instant::now();
                    this.maybe_rebalance_leaders().await;
                }
            }
        });
    }

    /// Bootstrap records, then fencing of brokers whose session expired.
    /// Returns when the next session expires (the next check is due).
    async fn leader_duties(&self) -> Result<Option<Instant>, ControllerError> {
        let term = self.raft.metrics().borrow().current_term;
        let _guard = self.op_lock.lock().await;
        let image = self.current_image().await?;
        {
            let mut t = self.session_term.lock().expect("session lock");
            if *t != term {
                *t = term;
                self.sessions.lock().expect("session lock").reset(&image, Instant::now());
                tracing::info!(node_id = self.node_id, term, "became the active controller");
            }
        }
        let records = self.bootstrap_records(&image);
        if !records.is_empty() {
            self.propose(records).await?;
            return Ok(None);
        }
        let expired = self.sessions.lock().expect("session lock").expired(&image, Instant::now());
        for broker in &expired {
            tracing::warn!(broker, "broker session expired; fencing");
            let image = self.current_image().await?;
            let records = cluster_control::fence(&image, *broker, &self.policy(&image));
            self.propose(records).await?;
        }
        if !expired.is_empty() {
            // The brokers just fenced no longer count.
            let image = self.sm.image().await;
            return Ok(self.sessions.lock().expect("session lock").next_expiry(&image));
        }
        Ok(self.sessions.lock().expect("session lock").next_expiry(&image))
    }

    /// The records a newly formed quorum still lacks (Kafka writes its
    /// bootstrap records when a controller activates, before anything else).
    fn bootstrap_records(&self, image: &MetadataImage) -> Vec<MetadataRecord> {
        let mut records = Vec::new();
        if image.cluster_id.is_empty() {
            let id = self.local_cluster_id.clone().unwrap_or_else(|| {
                crate::storage::checkpoint::uuid_to_base64(crate::storage::checkpoint::random_kafka_uuid())
            });
            records.push(MetadataRecord::ClusterId { cluster_id: id });
        }
        if !image.features.contains_key("metadata.version") {
            records.push(MetadataRecord::FeatureLevel { name: "metadata.version".into(), level: METADATA_VERSION });
            // A new cluster: Kafka 4.1 finalizes ELR at bootstrap. A log
            // that already has a metadata.version predates ELR and keeps
            // it off, as an upgraded Kafka cluster does.
            records.push(MetadataRecord::FeatureLevel { name: ELR_FEATURE.into(), level: ELR_VERSION });
            let cluster_key = (ConfigResourceType::Broker, String::new());
            if !image.configs.get(&cluster_key).is_some_and(|c| c.contains_key("min.insync.replicas")) {
                // With ELR on, `min.insync.replicas` is a cluster-level
                // setting (KIP-966): Kafka records the active controller's
                // static value as the cluster default when ELR is enabled.
                records.push(MetadataRecord::Config {
                    resource_type: ConfigResourceType::Broker,
                    resource_name: String::new(),
                    name: "min.insync.replicas".into(),
                    value: Some(self.config.int("min.insync.replicas").to_string()),
                });
            }
        }
        records
    }

    /// The image after every committed entry is applied (linearizable).
    async fn current_image(&self) -> Result<MetadataImage, ControllerError> {
        self.raft.ensure_linearizable().await.map_err(|e| {
            if not_leader_error(&e) {
                ControllerError::NotController
            } else {
                raft_unavailable(self.node_id, &self.config, &e)
            }
        })?;
        Ok(self.sm.image().await)
    }

    /// Commits `records` as one entry; returns its index once applied.
    async fn propose(&self, records: Vec<MetadataRecord>) -> Result<i64, ControllerError> {
        if records.is_empty() {
            return Ok(-1);
        }
        match self.raft.client_write(MetadataBatch { records }).await {
            Ok(resp) => Ok(resp.log_id.index as i64),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => Err(ControllerError::NotController),
            Err(e) => Err(raft_unavailable(self.node_id, &self.config, &e)),
        }
    }

    /// Answers one controller-channel request (from the network or from
    /// this node's own broker).
    pub async fn handle(&self, req: ControllerRequest) -> ControllerResponse {
        match req {
            ControllerRequest::AppendEntries(r) => ControllerResponse::AppendEntries(self.raft.append_entries(r).await),
            ControllerRequest::Vote(r) => ControllerResponse::Vote(self.raft.vote(r).await),
            ControllerRequest::InstallSnapshot(r) => {
                ControllerResponse::InstallSnapshot(self.raft.install_snapshot(r).await)
            }
            ControllerRequest::FetchMetadata { after, max_wait_ms } => {
                ControllerResponse::Metadata(self.fetch_metadata(after, max_wait_ms).await)
            }
            other => {
                if !self.is_leader() {
                    return ControllerResponse::NotController { leader: self.leader() };
                }
                let resp = match other {
                    ControllerRequest::RegisterBroker(reg) => ControllerResponse::Registered(self.register(reg).await),
                    ControllerRequest::BrokerHeartbeat(hb) => ControllerResponse::Heartbeat(self.heartbeat(hb).await),
                    ControllerRequest::Op(op) => ControllerResponse::Op(self.execute(op).await),
                    ControllerRequest::DescribeQuorum => ControllerResponse::Quorum(self.describe_quorum().await),
                    _ => unreachable!("raft and fetch requests handled above"),
                };
                match resp {
                    ControllerResponse::Op(OpResult::Failed(ref e))
                        if e.code == kafka_protocol::ResponseError::NotController.code() =>
                    {
                        ControllerResponse::NotController { leader: self.leader() }
                    }
                    r => r,
                }
            }
        }
    }

    async fn fetch_metadata(&self, after: i64, max_wait_ms: u64) -> MetadataDelta {
        let mut applied = self.sm.subscribe_applied();
        if *applied.borrow_and_update() <= after && max_wait_ms > 0 {
            let _ = tokio::time::timeout(Duration::from_millis(max_wait_ms), applied.changed()).await;
        }
        let leader = self.leader();
        match self.sm.follower_data(after).await {
            FollowerData::Entries(entries) => MetadataDelta { snapshot: None, entries, leader },
            FollowerData::Image(offset, records) => {
                MetadataDelta { snapshot: Some((offset, records)), entries: Vec::new(), leader }
            }
        }
    }

    async fn register(&self, reg: BrokerRegistration) -> Result<i64, (i16, String)> {
        let fail = |e: ControllerError| (e.kafka_code(), e.to_string());
        let _guard = self.op_lock.lock().await;
        let mut image = self.current_image().await.map_err(fail)?;
        // A broker must learn the cluster id before it serves: bootstrap first.
        let bootstrap = self.bootstrap_records(&image);
        if !bootstrap.is_empty() {
            self.propose(bootstrap).await.map_err(fail)?;
            image = self.current_image().await.map_err(fail)?;
        }
        if let (Some(theirs), false) = (&reg.cluster_id, image.cluster_id.is_empty()) {
            if *theirs != image.cluster_id {
                return Err((
                    kafka_protocol::ResponseError::InconsistentClusterId.code(),
                    format!("The broker's cluster id {theirs} does not match the cluster's {}", image.cluster_id),
                ));
            }
        }
        let now = Instant::now();
        let policy = self.policy(&image);
        let records = {
            let sessions = self.sessions.lock().expect("session lock");
            cluster_control::plan_register(&image, &sessions, &reg, now, &policy).map_err(fail)?
        };
        let index = self.propose(records).await.map_err(fail)?;
        self.sessions.lock().expect("session lock").touch(reg.broker_id, now);
        tracing::info!(broker = reg.broker_id, epoch = index, rack = ?reg.rack, "broker registered");
        Ok(index)
    }

    async fn heartbeat(&self, hb: BrokerHeartbeat) -> HeartbeatReply {
        use kafka_protocol::ResponseError as E;
        let reply = |error: i16, fenced: bool, caught_up: bool, shutdown: bool| HeartbeatReply {
            error,
            is_caught_up: caught_up,
            is_fenced: fenced,
            should_shutdown: shutdown,
        };
        let _guard = self.op_lock.lock().await;
        let image = match self.current_image().await {
            Ok(i) => i,
            Err(e) => return reply(e.kafka_code(), true, false, false),
        };
        let Some(b) = image.brokers.get(&hb.broker_id).cloned() else {
            return reply(E::BrokerIdNotRegistered.code(), true, false, false);
        };
        if b.epoch != hb.broker_epoch {
            return reply(E::StaleBrokerEpoch.code(), true, false, false);
        }
        self.sessions.lock().expect("session lock").touch(hb.broker_id, Instant::now());
        let caught_up = hb.metadata_offset >= b.epoch;
        let mut records = Vec::new();
        let mut should_shutdown = false;
        if hb.want_shutdown {
            if !b.in_controlled_shutdown && !b.fenced {
                records = cluster_control::begin_controlled_shutdown(&image, hb.broker_id, &self.policy(&image));
            } else if cluster_control::leaderships(&image, hb.broker_id) == 0 {
                should_shutdown = true;
                if !b.fenced {
                    records = cluster_control::fence(&image, hb.broker_id, &self.policy(&image));
                }
            }
        } else if hb.want_fence && !b.fenced {
            records = cluster_control::fence(&image, hb.broker_id, &self.policy(&image));
        } else if b.fenced && caught_up && !hb.want_fence {
            tracing::info!(broker = hb.broker_id, "unfencing broker");
            records = cluster_control::unfence(&image, hb.broker_id, &self.policy(&image));
        }
        if records.is_empty() && !hb.offline_replicas.is_empty() {
            // Planned alone, against the image the other changes would
            // move: the next heartbeat repeats the report if it waited.
            records = cluster_control::offline_replicas_updates(
                &image,
                hb.broker_id,
                &hb.offline_replicas,
                &self.policy(&image),
            );
        }
        if let Err(e) = self.propose(records).await {
            return reply(e.kafka_code(), b.fenced, caught_up, false);
        }
        let fenced_after = self.sm.image().await.brokers.get(&hb.broker_id).is_none_or(|b| b.fenced);
        reply(0, fenced_after, caught_up, should_shutdown)
    }

    async fn describe_quorum(&self) -> QuorumDescription {
        let m = self.raft.metrics().borrow().clone();
        let hw = m.last_applied.map_or(-1, |l| l.index as i64 + 1);
        let mut voters: Vec<(i64, i64)> = Vec::new();
        let ids: Vec<u64> = m.membership_config.membership().voter_ids().collect();
        for id in ids {
            let leo = if id == self.node_id {
                m.last_log_index.map_or(0, |i| i as i64 + 1)
            } else {
                m.replication.as_ref().and_then(|r| r.get(&id).cloned().flatten()).map_or(-1, |l| l.index as i64 + 1)
            };
            voters.push((id as i64, leo));
        }
        QuorumDescription {
            leader_id: m.current_leader.map_or(-1, |l| l as i64),
            leader_epoch: m.current_term as i64,
            high_watermark: hw,
            voters,
        }
    }

    /// Executes one operation on the active controller.
    pub async fn execute(&self, op: ControllerOp) -> OpResult {
        let _guard = self.op_lock.lock().await;
        match self.execute_locked(op).await {
            Ok(r) => r,
            Err(e) => OpResult::Failed(OpError::from(&e)),
        }
    }

    async fn execute_locked(&self, op: ControllerOp) -> Result<OpResult, ControllerError> {
        Ok(match op {
            ControllerOp::CreateTopics { topics, validate_only } => {
                let mut seen = HashSet::new();
                let duplicates: HashSet<String> =
                    topics.iter().filter(|t| !seen.insert(t.name.clone())).map(|t| t.name.clone()).collect();
                let mut results = Vec::with_capacity(topics.len());
                // Every valid topic of the request goes into one entry:
                // each is planned against the image with the ones before
                // it applied, and the quorum commits them in one round
                // instead of one per topic.
                let mut image = self.current_image().await?;
                let view = image.broker_config(&self.config);
                let mut batch = Vec::new();
                for t in &topics {
                    if duplicates.contains(&t.name) {
                        results.push(Err(OpError::from(ControllerError::InvalidRequest(format!(
                            "Duplicate topic name: {}",
                            t.name
                        )))));
                        continue;
                    }
                    match replication_control::plan_create_topic(&image, &view, t) {
                        Ok((records, created)) => {
                            for r in &records {
                                image.apply(image.offset, r);
                            }
                            batch.extend(records);
                            results.push(Ok(created));
                        }
                        Err(e) => results.push(Err(OpError::from(e))),
                    }
                }
                if !validate_only && !batch.is_empty() {
                    self.propose(batch).await?;
                }
                OpResult::CreateTopics(results)
            }
            ControllerOp::DeleteTopics { topics } => {
                let mut results = Vec::with_capacity(topics.len());
                for t in topics {
                    if !self.config.delete_topic_enable {
                        results.push(Err(OpError::from(ControllerError::TopicDeletionDisabled)));
                        continue;
                    }
                    let image = self.current_image().await?;
                    let found = match &t {
                        TopicRef::Name(n) => image.topic_by_name(n).map(|t| (t.name.clone(), t.id)).ok_or_else(|| {
                            ControllerError::UnknownTopicOrPartition(
                                "This server does not host this topic-partition.".into(),
                            )
                        }),
                        TopicRef::Id(id) => image.topic_by_id(id).map(|t| (t.name.clone(), t.id)).ok_or_else(|| {
                            ControllerError::UnknownTopicId("This server does not host this topic ID.".into())
                        }),
                    };
                    match found {
                        Ok((name, id)) => {
                            self.propose(vec![MetadataRecord::RemoveTopic { topic_id: id }]).await?;
                            results.push(Ok((name, id)));
                        }
                        Err(e) => results.push(Err(OpError::from(e))),
                    }
                }
                OpResult::DeleteTopics(results)
            }
            ControllerOp::CreatePartitions { topics, validate_only } => {
                let mut results = Vec::with_capacity(topics.len());
                for (name, count, assignment) in topics {
                    let image = self.current_image().await?;
                    match replication_control::plan_create_partitions(&image, &name, count, assignment.as_deref()) {
                        Ok(records) => {
                            if !validate_only {
                                self.propose(records).await?;
                            }
                            results.push(Ok(()));
                        }
                        Err(e) => results.push(Err(OpError::from(e))),
                    }
                }
                OpResult::CreatePartitions(results)
            }
            ControllerOp::AlterConfigs { changes, validate_only } => {
                let mut results = Vec::with_capacity(changes.len());
                for (resource, name, change) in &changes {
                    let image = self.current_image().await?;
                    match config_control::plan_alter(&image, &self.config, *resource, name, change) {
                        Ok(mut records) => {
                            if let Some(topic) = config_control::elr_cleared_by(&image, *resource, name, change) {
                                records.extend(replication_control::clear_elr_updates(&image, topic));
                            }
                            if !validate_only {
                                self.propose(records).await?;
                            }
                            results.push(Ok(()));
                        }
                        Err(e) => results.push(Err(OpError::from(e))),
                    }
                }
                OpResult::AlterConfigs(results)
            }
            ControllerOp::AllocateProducerIds { broker_id } => {
                let image = self.current_image().await?;
                let first = image.next_producer_id;
                self.propose(vec![MetadataRecord::ProducerIds {
                    broker_id,
                    next_producer_id: first + PRODUCER_ID_BLOCK_SIZE,
                }])
                .await?;
                OpResult::ProducerIds(Ok(first))
            }
            ControllerOp::ElectLeaders { election, partitions } => {
                let image = self.current_image().await?;
                let (records, outcomes) = replication_control::plan_elect_leaders(
                    &image,
                    election,
                    partitions.as_deref(),
                    &self.policy(&image),
                );
                self.propose(records).await?;
                OpResult::ElectLeaders(Ok(outcomes))
            }
            ControllerOp::AlterPartition { broker_id, broker_epoch, changes } => {
                let image = self.current_image().await?;
                let policy = self.policy(&image);
                match replication_control::plan_alter_partition(&image, broker_id, broker_epoch, &changes, &policy) {
                    Err(e) => OpResult::AlterPartition(Err(OpError::from(e))),
                    Ok((records, results)) => {
                        self.propose(records).await?;
                        // Report the registrations as committed.
                        let image = self.sm.image().await;
                        let results = results
                            .into_iter()
                            .zip(&changes)
                            .map(|(r, c)| {
                                r.map_err(OpError::from).and_then(|_| {
                                    image
                                        .topic_by_id(&c.topic_id)
                                        .and_then(|t| t.partitions.get(&c.partition))
                                        .map(|p| (p.leader_epoch, p.partition_epoch, p.isr.clone()))
                                        .ok_or(OpError {
                                            code: kafka_protocol::ResponseError::UnknownTopicOrPartition.code(),
                                            message: "partition vanished".into(),
                                        })
                                })
                            })
                            .collect();
                        OpResult::AlterPartition(Ok(results))
                    }
                }
            }
        })
    }

    /// `auto.leader.rebalance.enable`: when a broker leads less than its
    /// share of the partitions it is preferred for by more than
    /// `leader.imbalance.per.broker.percentage`, elect preferred leaders.
    async fn maybe_rebalance_leaders(&self) {
        let threshold = self.config.int("leader.imbalance.per.broker.percentage").max(0) as f64 / 100.0;
        let Ok(image) = ({
            let _g = self.op_lock.lock().await;
            self.current_image().await
        }) else {
            return;
        };
        let mut wanted = Vec::new();
        for b in image.brokers.values().filter(|b| !b.fenced) {
            let mut preferred = 0usize;
            let mut not_leading = Vec::new();
            for t in image.topics.values() {
                for (p, reg) in &t.partitions {
                    if reg.preferred_leader() == b.id {
                        preferred += 1;
                        if reg.leader != b.id && reg.isr.contains(&b.id) {
                            not_leading.push((t.name.clone(), *p));
                        }
                    }
                }
            }
            if preferred > 0 && not_leading.len() as f64 / preferred as f64 > threshold {
                wanted.extend(not_leading);
            }
        }
        if !wanted.is_empty() {
            tracing::info!(partitions = wanted.len(), "preferred leader rebalance");
            let _ = self
                .execute(ControllerOp::ElectLeaders { election: ElectionType::Preferred, partitions: Some(wanted) })
                .await;
        }
    }

    /// What elections read at cluster level: `unclean.leader.election.enable`
    /// and `min.insync.replicas` (the dynamic cluster default, else this
    /// controller's static config) and whether ELR is on.
    fn policy(&self, image: &MetadataImage) -> replication_control::ElectionPolicy {
        replication_control::ElectionPolicy::new(image, &self.config)
    }

    pub async fn shutdown(&self) {
        let _ = self.raft.shutdown().await;
        self.log_store.close().await;
    }
}

/// Serves controller-channel requests from the network.
pub struct ControllerServer(pub Arc<QuorumController>);

impl listener::RequestHandler for ControllerServer {
    fn handle(&self, req: ControllerRequest) -> BoxFuture<'_, ControllerResponse> {
        Box::pin(self.0.handle(req))
    }
}

/// The broker side's view of this controller when both roles share a
/// process: the channel calls it directly instead of going over the
/// network while this node leads.
impl LocalController for QuorumController {
    fn node_id(&self) -> u64 {
        QuorumController::node_id(self)
    }

    fn leader(&self) -> Option<u64> {
        QuorumController::leader(self)
    }

    fn is_leader(&self) -> bool {
        QuorumController::is_leader(self)
    }

    fn handle(&self, req: ControllerRequest) -> BoxFuture<'_, ControllerResponse> {
        Box::pin(QuorumController::handle(self, req))
    }
}

/// Outcome of an ElectLeaders for callers that only need success.
pub fn election_ok(o: &ElectionOutcome) -> bool {
    o.error.is_none()
}
