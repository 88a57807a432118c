//! The follower side of replication (Kafka's `ReplicaFetcherManager` and
//! `ReplicaFetcherThread`): one fetcher task per leader broker sends real
//! Fetch requests (with `ReplicaState`: this node's id and broker epoch)
//! for every partition this broker follows on that leader, appends the
//! returned batches unchanged, adopts the leader's high watermark and log
//! start offset, truncates where the leader reports a diverging epoch, and
//! resynchronises after OFFSET_OUT_OF_RANGE with ListOffsets.
//!
//! Invariant: a partition is fetched by at most one fetcher, the one of
//! its current leader, and only at the leader epoch it was added with; the
//! partition itself refuses appends at any other leader or epoch, so a
//! response that raced a leadership change is dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ReplicaState};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::BrokerConfig;
use crate::metadata::MetadataCache;
use crate::storage::TopicPartition;
use crate::util::clock::now_ms;
use crate::wire::client::BrokerClient;

use super::{Partition, ReplicaError, ReplicaManager};

/// The Fetch version followers send (ReplicaState from v15, topic ids
/// from v13, diverging epochs from v12).
const FETCH_VERSION: i16 = 17;
const LIST_OFFSETS_VERSION: i16 = 7;
const LATEST_TIMESTAMP: i64 = -1;
const EARLIEST_TIMESTAMP: i64 = -2;

/// Kafka's replica fetcher settings (`replica.fetch.*`).
#[derive(Debug, Clone)]
pub struct FetcherConfig {
    pub max_wait_ms: i32,
    pub min_bytes: i32,
    pub response_max_bytes: i32,
    pub partition_max_bytes: i32,
    pub backoff: Duration,
    pub socket_timeout: Duration,
    /// The listener followers reach leaders on.
    pub listener: String,
}

impl FetcherConfig {
    pub fn from_broker(c: &BrokerConfig) -> Self {
        FetcherConfig {
            max_wait_ms: c.int("replica.fetch.wait.max.ms").max(0),
            min_bytes: c.int("replica.fetch.min.bytes").max(1),
            response_max_bytes: c.int("replica.fetch.response.max.bytes").max(1),
            partition_max_bytes: c.int("replica.fetch.max.bytes").max(1),
            backoff: Duration::from_millis(c.int("replica.fetch.backoff.ms").max(0) as u64),
            socket_timeout: Duration::from_millis(c.int("replica.socket.timeout.ms").max(1000) as u64),
            listener: c.inter_broker_listener_name(),
        }
    }
}

/// What fetchers need from the running broker, given once it has
/// registered (the broker epoch goes into every fetch).
#[derive(Clone)]
pub struct FetcherContext {
    pub replica_manager: Weak<ReplicaManager>,
    pub metadata: Arc<MetadataCache>,
    pub broker_epoch: Arc<AtomicI64>,
    pub shutdown: CancellationToken,
}

#[derive(Debug, Clone)]
struct FetchState {
    topic_id: Uuid,
    leader_epoch: i32,
    delayed_until: Option<Instant>,
}

/// One leader's fetcher: the partitions it fetches and its task's handle.
struct Fetcher {
    leader: i32,
    partitions: Mutex<HashMap<TopicPartition, FetchState>>,
    wake: Notify,
    cancel: CancellationToken,
}

#[derive(Default)]
struct ManagerInner {
    ctx: Option<FetcherContext>,
    fetchers: HashMap<i32, Arc<Fetcher>>,
}

pub struct ReplicaFetcherManager {
    node_id: i32,
    config: FetcherConfig,
    inner: Mutex<ManagerInner>,
}

impl ReplicaFetcherManager {
    pub fn new(node_id: i32, config: FetcherConfig) -> Self {
        ReplicaFetcherManager { node_id, config, inner: Mutex::new(ManagerInner::default()) }
    }

    /// Starts fetching (the partitions added so far and all later ones).
    pub fn start(&self, ctx: FetcherContext) {
        let mut inner = self.inner.lock().expect("fetcher manager lock");
        for f in inner.fetchers.values() {
            self.spawn(f.clone(), ctx.clone());
        }
        inner.ctx = Some(ctx);
    }

    fn spawn(&self, fetcher: Arc<Fetcher>, ctx: FetcherContext) {
        let run = FetcherRun { fetcher, ctx, config: self.config.clone(), node_id: self.node_id };
        tokio::spawn(run.run());
    }

    /// Fetches `tp` from `leader` at `leader_epoch` (moving it off any
    /// other leader's fetcher).
    pub fn add_partition(&self, tp: &TopicPartition, topic_id: Uuid, leader: i32, leader_epoch: i32) {
        let mut inner = self.inner.lock().expect("fetcher manager lock");
        Self::remove_locked(&mut inner, tp, Some(leader));
        let fetcher = match inner.fetchers.get(&leader) {
            Some(f) => f.clone(),
            None => {
                let f = Arc::new(Fetcher {
                    leader,
                    partitions: Mutex::new(HashMap::new()),
                    wake: Notify::new(),
                    cancel: CancellationToken::new(),
                });
                inner.fetchers.insert(leader, f.clone());
                if let Some(ctx) = inner.ctx.clone() {
                    self.spawn(f.clone(), ctx);
                }
                f
            }
        };
        fetcher
            .partitions
            .lock()
            .expect("fetcher partitions lock")
            .insert(tp.clone(), FetchState { topic_id, leader_epoch, delayed_until: None });
        fetcher.wake.notify_one();
    }

    /// Stops fetching `tp` (this broker leads it now, or no longer hosts it).
    pub fn remove_partition(&self, tp: &TopicPartition) {
        let mut inner = self.inner.lock().expect("fetcher manager lock");
        Self::remove_locked(&mut inner, tp, None);
    }

    fn remove_locked(inner: &mut ManagerInner, tp: &TopicPartition, keep_leader: Option<i32>) {
        let mut idle = Vec::new();
        for (leader, f) in &inner.fetchers {
            if Some(*leader) == keep_leader {
                continue;
            }
            let mut parts = f.partitions.lock().expect("fetcher partitions lock");
            if parts.remove(tp).is_some() && parts.is_empty() {
                idle.push(*leader);
            }
        }
        for leader in idle {
            if let Some(f) = inner.fetchers.remove(&leader) {
                f.cancel.cancel();
            }
        }
    }

    /// The partitions being fetched, with their leader (for tests and
    /// diagnostics).
    pub fn fetched_partitions(&self) -> Vec<(TopicPartition, i32)> {
        let inner = self.inner.lock().expect("fetcher manager lock");
        inner
            .fetchers
            .values()
            .flat_map(|f| {
                let leader = f.leader;
                f.partitions
                    .lock()
                    .expect("fetcher partitions lock")
                    .keys()
                    .map(|tp| (tp.clone(), leader))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    pub fn shutdown(&self) {
        let mut inner = self.inner.lock().expect("fetcher manager lock");
        for (_, f) in inner.fetchers.drain() {
            f.cancel.cancel();
        }
    }
}

/// One requested partition, to match the response against.
struct Requested {
    tp: TopicPartition,
    partition: Arc<Partition>,
    leader_epoch: i32,
}

/// The running task of one fetcher.
struct FetcherRun {
    fetcher: Arc<Fetcher>,
    ctx: FetcherContext,
    config: FetcherConfig,
    node_id: i32,
}

enum Next {
    Done,
    /// Appended; `flush.messages` queued a group commit up to this offset,
    /// which must finish before the next fetch tells the leader we hold it.
    AwaitFlush(i64),
    OutOfRange,
    Backoff,
}

impl FetcherRun {
    async fn run(self) {
        let leader = self.fetcher.leader;
        let mut client: Option<BrokerClient> = None;
        let mut warned = false;
        loop {
            if self.fetcher.cancel.is_cancelled() || self.ctx.shutdown.is_cancelled() {
                break;
            }
            let Some(rm) = self.ctx.replica_manager.upgrade() else { break };
            let (requested, next_wake) = self.ready(&rm);
            drop(rm);
            if requested.is_empty() {
                let nap = next_wake.map_or(Duration::from_secs(3600), |t| t.saturating_duration_since(Instant::now()));
                tokio::select! {
                    _ = self.fetcher.cancel.cancelled() => break,
                    _ = self.ctx.shutdown.cancelled() => break,
                    _ = self.fetcher.wake.notified() => {}
                    _ = tokio::time::sleep(nap) => {}
                }
                continue;
            }
            if client.is_none() {
                match self.connect().await {
                    Ok(c) => {
                        if warned {
                            tracing::info!(leader, "replica fetcher reconnected");
                        }
                        warned = false;
                        client = Some(c);
                    }
                    Err(e) => {
                        if !warned {
                            tracing::warn!(leader, error = %e, "replica fetcher cannot reach the leader");
                            warned = true;
                        }
                        self.nap().await;
                        continue;
                    }
                }
            }
            let c = client.as_mut().expect("connected");
            let req = self.request(&requested);
            let wait = self.config.socket_timeout + Duration::from_millis(self.config.max_wait_ms as u64);
            let resp: FetchResponse = match tokio::time::timeout(wait, c.send(ApiKey::Fetch, FETCH_VERSION, &req)).await
            {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => {
                    tracing::debug!(leader, error = %e, "replica fetch failed");
                    client = None;
                    self.nap().await;
                    continue;
                }
                Err(_) => {
                    client = None;
                    continue;
                }
            };
            if resp.error_code != 0 {
                tracing::debug!(leader, code = resp.error_code, "replica fetch refused");
                self.nap().await;
                continue;
            }
            let mut flushes = Vec::new();
            for topic in &resp.responses {
                for pd in &topic.partitions {
                    let Some(r) = requested
                        .iter()
                        .find(|r| r.partition.topic_id == topic.topic_id && r.tp.partition == pd.partition_index)
                    else {
                        continue;
                    };
                    match self.process(r, pd) {
                        Next::Done => {}
                        Next::AwaitFlush(offset) => flushes.push((r.partition.clone(), offset)),
                        Next::Backoff => self.delay(&r.tp),
                        Next::OutOfRange => {
                            let c = client.as_mut().expect("connected");
                            if let Err(e) = self.resync(c, r).await {
                                tracing::warn!(partition = %r.tp, leader, error = %e, "cannot resynchronise with the leader");
                                self.delay(&r.tp);
                            }
                        }
                    }
                }
            }
            // As Kafka's follower flushes within its append, the next fetch
            // (our acknowledgement) waits for the group commits queued here.
            let deadline = Instant::now() + self.config.socket_timeout;
            for (p, offset) in flushes {
                if let Err(e) = p.wait_durable(offset, deadline).await {
                    tracing::warn!(partition = %p.tp, error = %e, "follower flush did not complete");
                }
            }
        }
    }

    /// Partitions due for a fetch, and when the next delayed one is due.
    fn ready(&self, rm: &ReplicaManager) -> (Vec<Requested>, Option<Instant>) {
        let now = Instant::now();
        let mut next_wake: Option<Instant> = None;
        let mut out = Vec::new();
        let parts = self.fetcher.partitions.lock().expect("fetcher partitions lock");
        for (tp, st) in parts.iter() {
            if let Some(t) = st.delayed_until.filter(|t| *t > now) {
                next_wake = Some(next_wake.map_or(t, |n| n.min(t)));
                continue;
            }
            if let Some(p) = rm.get(tp).filter(|p| p.topic_id == st.topic_id) {
                out.push(Requested { tp: tp.clone(), partition: p, leader_epoch: st.leader_epoch });
            }
        }
        (out, next_wake)
    }

    fn delay(&self, tp: &TopicPartition) {
        let until = Instant::now() + self.config.backoff;
        if let Some(st) = self.fetcher.partitions.lock().expect("fetcher partitions lock").get_mut(tp) {
            st.delayed_until = Some(until);
        }
    }

    async fn nap(&self) {
        tokio::select! {
            _ = self.fetcher.cancel.cancelled() => {}
            _ = self.ctx.shutdown.cancelled() => {}
            _ = tokio::time::sleep(self.config.backoff.max(Duration::from_millis(50))) => {}
        }
    }

    async fn connect(&self) -> Result<BrokerClient, String> {
        let image = self.ctx.metadata.image();
        let broker = image
            .brokers
            .get(&self.fetcher.leader)
            .ok_or_else(|| format!("broker {} is unknown", self.fetcher.leader))?;
        let e = broker.endpoint(&self.config.listener).ok_or("the leader has no endpoint")?;
        let addr = format!("{}:{}", e.host, e.port);
        let client_id = format!("broker-{}-fetcher-{}", self.node_id, self.fetcher.leader);
        tokio::time::timeout(self.config.socket_timeout, BrokerClient::connect(&addr, &client_id))
            .await
            .map_err(|_| format!("connecting to {addr} timed out"))?
            .map_err(|e| format!("{addr}: {e}"))
    }

    fn request(&self, requested: &[Requested]) -> FetchRequest {
        let mut topics: Vec<FetchTopic> = Vec::new();
        for r in requested {
            let Ok((fetch_offset, last_fetched_epoch, log_start_offset)) =
                r.partition.fetch_position(self.fetcher.leader, r.leader_epoch)
            else {
                continue;
            };
            let part = FetchPartition::default()
                .with_partition(r.tp.partition)
                .with_current_leader_epoch(r.leader_epoch)
                .with_fetch_offset(fetch_offset)
                .with_last_fetched_epoch(last_fetched_epoch)
                .with_log_start_offset(log_start_offset)
                .with_partition_max_bytes(self.config.partition_max_bytes);
            match topics.iter_mut().find(|t| t.topic_id == r.partition.topic_id) {
                Some(t) => t.partitions.push(part),
                None => topics.push(
                    FetchTopic::default()
                        .with_topic_id(r.partition.topic_id)
                        .with_topic(TopicName(StrBytes::from_string(r.tp.topic.to_string())))
                        .with_partitions(vec![part]),
                ),
            }
        }
        FetchRequest::default()
            .with_replica_state(
                ReplicaState::default()
                    .with_replica_id(BrokerId(self.node_id))
                    .with_replica_epoch(self.ctx.broker_epoch.load(Ordering::Acquire)),
            )
            .with_max_wait_ms(self.config.max_wait_ms)
            .with_min_bytes(self.config.min_bytes)
            .with_max_bytes(self.config.response_max_bytes)
            .with_isolation_level(0)
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(topics)
    }

    fn process(&self, r: &Requested, pd: &kafka_protocol::messages::fetch_response::PartitionData) -> Next {
        let leader = self.fetcher.leader;
        let code = pd.error_code;
        if code == ResponseError::OffsetOutOfRange.code() {
            return Next::OutOfRange;
        }
        if code != 0 {
            tracing::debug!(partition = %r.tp, leader, code, "replica fetch error");
            return Next::Backoff;
        }
        let diverging = &pd.diverging_epoch;
        let result = if diverging.epoch >= 0 || diverging.end_offset >= 0 {
            let to = r.partition.divergence_truncation_offset(diverging.epoch, diverging.end_offset);
            tracing::info!(
                partition = %r.tp, leader, epoch = diverging.epoch, end_offset = diverging.end_offset, truncate_to = to,
                "leader reports a diverging epoch"
            );
            r.partition.truncate_as_follower(leader, r.leader_epoch, to).map(|()| Next::Done)
        } else {
            let records = pd.records.as_deref().unwrap_or_default();
            r.partition
                .append_as_follower(leader, r.leader_epoch, records, pd.high_watermark, pd.log_start_offset, now_ms())
                .map(|(leo, awaits_flush)| if awaits_flush { Next::AwaitFlush(leo) } else { Next::Done })
        };
        match result {
            Ok(next) => next,
            // Leadership moved while the fetch was in flight: the
            // metadata update re-homes the partition.
            Err(ReplicaError::NotLeaderOrFollower) => Next::Done,
            Err(e) => {
                tracing::error!(partition = %r.tp, leader, error = %e, "cannot append what the leader sent");
                Next::Backoff
            }
        }
    }

    /// OFFSET_OUT_OF_RANGE: our log end is past the leader's (an unclean
    /// election) or before its start (retention): find out which with
    /// ListOffsets and truncate accordingly (Kafka's `fetchOffsetAndTruncate`).
    async fn resync(&self, c: &mut BrokerClient, r: &Requested) -> Result<(), String> {
        let leader = self.fetcher.leader;
        let (leo, _, _) = r.partition.fetch_position(leader, r.leader_epoch).map_err(|e| e.to_string())?;
        let leader_end = self.list_offset(c, r, LATEST_TIMESTAMP).await?;
        if leader_end < leo {
            tracing::warn!(partition = %r.tp, leader, leader_end, log_end = leo, "follower is ahead of its leader; truncating");
            return r.partition.truncate_as_follower(leader, r.leader_epoch, leader_end).map_err(|e| e.to_string());
        }
        let leader_start = self.list_offset(c, r, EARLIEST_TIMESTAMP).await?;
        if leader_start > leo {
            return r.partition.restart_as_follower_at(leader, r.leader_epoch, leader_start).map_err(|e| e.to_string());
        }
        Ok(())
    }

    async fn list_offset(&self, c: &mut BrokerClient, r: &Requested, timestamp: i64) -> Result<i64, String> {
        let req = ListOffsetsRequest::default().with_replica_id(BrokerId(self.node_id)).with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(TopicName(StrBytes::from_string(r.tp.topic.to_string())))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(r.tp.partition)
                    .with_current_leader_epoch(r.leader_epoch)
                    .with_timestamp(timestamp)]),
        ]);
        let resp: ListOffsetsResponse =
            tokio::time::timeout(self.config.socket_timeout, c.send(ApiKey::ListOffsets, LIST_OFFSETS_VERSION, &req))
                .await
                .map_err(|_| "ListOffsets timed out".to_string())?
                .map_err(|e| e.to_string())?;
        let p = resp.topics.first().and_then(|t| t.partitions.first()).ok_or("empty ListOffsets response")?;
        if p.error_code != 0 {
            return Err(format!("ListOffsets error {}", p.error_code));
        }
        Ok(p.offset)
    }
}
