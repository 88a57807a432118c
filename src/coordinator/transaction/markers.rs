//! Sending a transaction's COMMIT or ABORT markers to the leaders of its
//! partitions: Kafka's `TransactionMarkerChannelManager` and
//! `TransactionMarkerRequestCompletionHandler`. The coordinator speaks to
//! each leader as any client would, WriteTxnMarkers v1 over a connection to
//! its inter-broker listener (even when the leader is this broker), so the
//! partition side has one entry point.
//!
//! A marker is retried, following leader changes in the metadata image,
//! until its partition answers NONE; the only ways out are the
//! coordinator losing the transaction's partition or being fenced by a
//! newer coordinator epoch (then the new coordinator finishes the job), a
//! deleted topic (nothing left to mark), or shutdown.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_protocol::messages::write_txn_markers_request::{WritableTxnMarker, WritableTxnMarkerTopic};
use kafka_protocol::messages::{ApiKey, ProducerId, TopicName, WriteTxnMarkersRequest, WriteTxnMarkersResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError as E;
use tokio_util::sync::CancellationToken;

use crate::metadata::MetadataCache;
use crate::wire::client::BrokerClient;

use super::metadata::TxnPartition;

/// The WriteTxnMarkers version sent (Kafka 4 serves only v1).
pub const WRITE_TXN_MARKERS_VERSION: i16 = 1;

/// One transaction's markers.
#[derive(Debug, Clone)]
pub struct MarkerJob {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub commit: bool,
    pub coordinator_epoch: i32,
    pub partitions: BTreeSet<TxnPartition>,
}

/// Why marker sending stopped before every marker was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkerStop {
    /// This broker no longer coordinates the transaction at that epoch.
    NotCoordinator,
    /// A leader refused the coordinator epoch or producer epoch: a newer
    /// coordinator owns the transaction.
    Fenced,
    Shutdown,
}

type Connection = Arc<tokio::sync::Mutex<Option<BrokerClient>>>;

pub struct MarkerChannel {
    node_id: i32,
    listener: String,
    request_timeout: Duration,
    metadata: Arc<MetadataCache>,
    connections: Mutex<HashMap<i32, Connection>>,
    shutdown: CancellationToken,
}

enum Outcome {
    Done,
    Retry,
    Stop(MarkerStop),
}

const RETRY_BACKOFF_MIN: Duration = Duration::from_millis(20);
const RETRY_BACKOFF_MAX: Duration = Duration::from_millis(500);

impl MarkerChannel {
    pub fn new(
        node_id: i32,
        listener: String,
        request_timeout: Duration,
        metadata: Arc<MetadataCache>,
        shutdown: CancellationToken,
    ) -> Self {
        MarkerChannel {
            node_id,
            listener,
            request_timeout,
            metadata,
            connections: Mutex::new(HashMap::new()),
            shutdown,
        }
    }

    /// Writes every marker of `job`, retrying until done; `still_owner` is
    /// asked before each round.
    pub async fn write_markers(&self, job: &MarkerJob, still_owner: impl Fn() -> bool) -> Result<(), MarkerStop> {
        let mut remaining = job.partitions.clone();
        let mut backoff = RETRY_BACKOFF_MIN;
        while !remaining.is_empty() {
            if self.shutdown.is_cancelled() {
                return Err(MarkerStop::Shutdown);
            }
            if !still_owner() {
                return Err(MarkerStop::NotCoordinator);
            }
            let image = self.metadata.image();
            let mut by_leader: BTreeMap<i32, Vec<TxnPartition>> = BTreeMap::new();
            for tp in remaining.clone() {
                let Some(topic) = image.topic_by_name(&tp.0) else {
                    // Kafka drops markers of deleted topics too.
                    tracing::info!(topic = %tp.0, partition = tp.1, "no marker for a deleted topic");
                    remaining.remove(&tp);
                    continue;
                };
                let Some(p) = topic.partitions.get(&tp.1) else {
                    remaining.remove(&tp);
                    continue;
                };
                if p.leader >= 0 {
                    by_leader.entry(p.leader).or_default().push(tp);
                }
            }
            let sends = by_leader.into_iter().map(|(leader, parts)| async move {
                let outcome = self.send(leader, job, &parts).await;
                (parts, outcome)
            });
            for (parts, outcomes) in futures::future::join_all(sends).await {
                for (tp, outcome) in parts.into_iter().zip(outcomes) {
                    match outcome {
                        Outcome::Done => {
                            remaining.remove(&tp);
                        }
                        Outcome::Retry => {}
                        Outcome::Stop(s) => return Err(s),
                    }
                }
            }
            if !remaining.is_empty() {
                let mut rx = self.metadata.subscribe();
                tokio::select! {
                    _ = self.shutdown.cancelled() => return Err(MarkerStop::Shutdown),
                    _ = tokio::time::sleep(backoff) => {}
                    _ = rx.changed() => {}
                }
                backoff = (backoff * 2).min(RETRY_BACKOFF_MAX);
            }
        }
        Ok(())
    }

    fn connection(&self, broker: i32) -> Connection {
        self.connections.lock().expect("marker connections lock").entry(broker).or_default().clone()
    }

    /// One WriteTxnMarkers request to `leader` for `parts`: an outcome per
    /// partition, in order.
    async fn send(&self, leader: i32, job: &MarkerJob, parts: &[TxnPartition]) -> Vec<Outcome> {
        let retry_all = || parts.iter().map(|_| Outcome::Retry).collect::<Vec<_>>();
        let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (t, p) in parts {
            topics.entry(t.as_str()).or_default().push(*p);
        }
        let marker = WritableTxnMarker::default()
            .with_producer_id(ProducerId(job.producer_id))
            .with_producer_epoch(job.producer_epoch)
            .with_transaction_result(job.commit)
            .with_coordinator_epoch(job.coordinator_epoch)
            .with_topics(
                topics
                    .iter()
                    .map(|(t, ps)| {
                        WritableTxnMarkerTopic::default()
                            .with_name(TopicName(StrBytes::from_string(t.to_string())))
                            .with_partition_indexes(ps.clone())
                    })
                    .collect(),
            );
        let req = WriteTxnMarkersRequest::default().with_markers(vec![marker]);
        let conn = self.connection(leader);
        let mut guard = conn.lock().await;
        if guard.is_none() {
            let image = self.metadata.image();
            let Some(e) = image.brokers.get(&leader).and_then(|b| b.endpoint(&self.listener)).cloned() else {
                return retry_all();
            };
            let addr = format!("{}:{}", e.host, e.port);
            let client_id = format!("broker-{}-txn-marker-sender", self.node_id);
            match tokio::time::timeout(self.request_timeout, BrokerClient::connect(&addr, &client_id)).await {
                Ok(Ok(c)) => *guard = Some(c),
                _ => {
                    tracing::debug!(leader, addr, "cannot connect to send transaction markers");
                    return retry_all();
                }
            }
        }
        let client = guard.as_mut().expect("connected");
        let sent = tokio::time::timeout(
            self.request_timeout,
            client.send::<_, WriteTxnMarkersResponse>(ApiKey::WriteTxnMarkers, WRITE_TXN_MARKERS_VERSION, &req),
        )
        .await;
        let resp = match sent {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                tracing::debug!(leader, error = %e, "transaction marker request failed");
                *guard = None;
                return retry_all();
            }
            Err(_) => {
                *guard = None;
                return retry_all();
            }
        };
        drop(guard);
        let mut codes: HashMap<(String, i32), i16> = HashMap::new();
        for m in resp.markers.iter().filter(|m| m.producer_id.0 == job.producer_id) {
            for t in &m.topics {
                for p in &t.partitions {
                    codes.insert((t.name.0.to_string(), p.partition_index), p.error_code);
                }
            }
        }
        parts
            .iter()
            .map(|tp| {
                let code = codes.get(tp).copied().unwrap_or(E::UnknownServerError.code());
                classify(job, tp, code)
            })
            .collect()
    }
}

/// Kafka's `TransactionMarkerRequestCompletionHandler`, per partition.
fn classify(job: &MarkerJob, tp: &TxnPartition, code: i16) -> Outcome {
    if code == 0 {
        return Outcome::Done;
    }
    let retriable = [
        E::UnknownTopicOrPartition,
        E::NotLeaderOrFollower,
        E::LeaderNotAvailable,
        E::NotEnoughReplicas,
        E::NotEnoughReplicasAfterAppend,
        E::RequestTimedOut,
        E::KafkaStorageError,
        E::CoordinatorLoadInProgress,
    ];
    if retriable.iter().any(|e| e.code() == code) {
        return Outcome::Retry;
    }
    if code == E::InvalidProducerEpoch.code() || code == E::TransactionCoordinatorFenced.code() {
        tracing::info!(
            transactional_id = %job.transactional_id, topic = %tp.0, partition = tp.1, code,
            "a partition leader fenced this coordinator's markers"
        );
        return Outcome::Stop(MarkerStop::Fenced);
    }
    if code == E::UnsupportedForMessageFormat.code() || code == E::UnsupportedVersion.code() {
        tracing::warn!(topic = %tp.0, partition = tp.1, code, "a partition cannot take transaction markers; skipped");
        return Outcome::Done;
    }
    tracing::warn!(
        transactional_id = %job.transactional_id, topic = %tp.0, partition = tp.1, code,
        "unexpected error writing a transaction marker; retrying"
    );
    Outcome::Retry
}
