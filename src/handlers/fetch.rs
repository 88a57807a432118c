//! Fetch (key 1), v4-17: by topic name, or by topic id from v13. Reads the
//! stored batches as they are, honouring `max_bytes` and
//! `partition_max_bytes` while always returning at least the first batch
//! (KIP-74), and long-polls up to `max_wait_ms` for `min_bytes`.
//! Consumers (replica id -1) read up to the high watermark (the last
//! stable offset under read_committed); followers (replica id >= 0, or
//! `ReplicaState` from v15) read up to the log end offset, get a diverging
//! epoch (v12+) when their log has split from ours, and their fetch offset
//! tells us what they hold. Sessions (KIP-227) are not kept: every
//! response is a full one with session id 0, which clients accept as "no
//! session".

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{AbortedTransaction, FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId, TopicName};
use uuid::Uuid;

use crate::broker::Broker;
use crate::replica::partition::{FollowerFetch, FollowerRead, LogOffsets};
use crate::replica::{Partition, ReplicaError};
use crate::storage::TopicPartition;
use crate::util::clock::now_ms;
use crate::wire::request::ApiRequest;
use crate::wire::response::ResponseFrame;
use crate::wire::WireError;

use super::str_bytes;

/// One requested partition, resolved.
struct Wanted {
    topic_index: usize,
    partition_index: i32,
    fetch_offset: i64,
    current_leader_epoch: i32,
    last_fetched_epoch: i32,
    log_start_offset: i64,
    max_bytes: usize,
    target: Result<Arc<Partition>, ReplicaError>,
}

/// Who is fetching: a consumer, or a follower replica with its broker epoch.
#[derive(Clone, Copy)]
enum Fetcher {
    Consumer,
    Follower { replica_id: i32, broker_epoch: i64 },
}

struct TopicSlot {
    name: Option<String>,
    id: Uuid,
}

struct PartitionResult {
    error: i16,
    offsets: LogOffsets,
    records: Bytes,
    /// (epoch, end offset) when a follower's log diverged.
    diverging: Option<(i32, i64)>,
    /// read_committed: the aborted transactions of the records served.
    aborted: Option<Vec<crate::storage::txn_index::AbortedTxn>>,
    /// KIP-392: the replica the consumer should fetch from instead.
    preferred_read_replica: Option<i32>,
}

impl PartitionResult {
    /// An answer without records.
    fn empty(error: i16, offsets: LogOffsets) -> Self {
        PartitionResult {
            error,
            offsets,
            records: Bytes::new(),
            diverging: None,
            aborted: None,
            preferred_read_replica: None,
        }
    }
}

/// `replica.selector.class` as Kafka ships it.
const RACK_AWARE_SELECTOR: &str = "org.apache.kafka.common.replica.RackAwareReplicaSelector";

/// KIP-392 read-replica selection for this request: on when the broker
/// runs the rack-aware selector and a v11+ consumer names its rack.
struct ReadReplicaSelector {
    client_rack: Option<String>,
    racks: std::collections::HashMap<i32, Option<String>>,
}

impl ReadReplicaSelector {
    fn new(
        broker: &Broker,
        image: &crate::metadata::MetadataImage,
        v: i16,
        rack_id: &kafka_protocol::protocol::StrBytes,
    ) -> Self {
        let enabled = v >= 11
            && !rack_id.is_empty()
            && broker.config.explicit("replica.selector.class").is_some_and(|c| c.trim() == RACK_AWARE_SELECTOR);
        ReadReplicaSelector {
            client_rack: enabled.then(|| rack_id.to_string()),
            racks: if enabled {
                image.brokers.iter().map(|(id, b)| (*id, b.rack.clone())).collect()
            } else {
                Default::default()
            },
        }
    }

    fn select(&self, p: &Partition, fetch_offset: i64) -> Option<i32> {
        let rack = self.client_rack.as_deref()?;
        p.preferred_read_replica(rack, fetch_offset, |id| self.racks.get(&id).cloned().flatten())
    }
}

pub async fn handle(broker: &Broker, req: &ApiRequest) -> Result<ResponseFrame, WireError> {
    let body: FetchRequest = req.decode()?;
    let v = req.version;
    let image = broker.metadata.image();
    let read_committed = v >= 4 && body.isolation_level == 1;
    let (replica_id, broker_epoch) = if v >= 15 {
        (body.replica_state.replica_id.0, body.replica_state.replica_epoch)
    } else {
        (body.replica_id.0, -1)
    };
    let fetcher = if replica_id >= 0 { Fetcher::Follower { replica_id, broker_epoch } } else { Fetcher::Consumer };

    let mut topics = Vec::with_capacity(body.topics.len());
    let mut wanted = Vec::new();
    for (ti, t) in body.topics.iter().enumerate() {
        let (name, id) = if v >= 13 {
            (image.topic_by_id(&t.topic_id).map(|ti| ti.name.clone()), t.topic_id)
        } else {
            let n = t.topic.0.to_string();
            let id = image.topic_by_name(&n).map_or(Uuid::nil(), |ti| ti.id);
            (Some(n), id)
        };
        for p in &t.partitions {
            let target = match &name {
                None => Err(ReplicaError::UnknownTopicId),
                Some(n) => {
                    let tp = TopicPartition::new(n.as_str(), p.partition);
                    // KIP-392: from v11 consumers may read from followers
                    // (up to the follower's high watermark).
                    if matches!(fetcher, Fetcher::Consumer) && v >= 11 {
                        broker.replica_manager.hosted_partition(&image, &tp)
                    } else {
                        broker.replica_manager.leader_partition(&image, &tp)
                    }
                }
            };
            wanted.push(Wanted {
                topic_index: ti,
                partition_index: p.partition,
                fetch_offset: p.fetch_offset,
                current_leader_epoch: if v >= 9 { p.current_leader_epoch } else { -1 },
                last_fetched_epoch: if v >= 12 { p.last_fetched_epoch } else { -1 },
                log_start_offset: p.log_start_offset,
                max_bytes: p.partition_max_bytes.max(0) as usize,
                target,
            });
        }
        topics.push(TopicSlot { name, id });
    }

    // Subscribe before the first read so no append between read and wait is missed.
    let mut watches: Vec<_> = wanted.iter().filter_map(|w| w.target.as_ref().ok().map(|p| p.subscribe())).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(body.max_wait_ms.max(0) as u64);
    let min_bytes = body.min_bytes.max(0) as usize;
    let max_bytes = body.max_bytes.max(0) as usize;
    let selector = ReadReplicaSelector::new(broker, &image, v, &body.rack_id);
    let mut results = read_all(&wanted, max_bytes, fetcher, &selector, read_committed);
    loop {
        let total: usize = results.iter().map(|r| r.records.len()).sum();
        let any_error =
            results.iter().any(|r| r.error != 0 || r.diverging.is_some() || r.preferred_read_replica.is_some());
        if total >= min_bytes || any_error || watches.is_empty() || tokio::time::Instant::now() >= deadline {
            break;
        }
        let changed = futures::future::select_all(watches.iter_mut().map(|w| Box::pin(w.changed())));
        match tokio::time::timeout_at(deadline, changed).await {
            // A partition went away (deleted or moved): answer now.
            Ok((Err(_), _, _)) => {
                results = read_all(&wanted, max_bytes, fetcher, &selector, read_committed);
                break;
            }
            Ok((Ok(()), _, _)) => results = read_all(&wanted, max_bytes, fetcher, &selector, read_committed),
            Err(_) => break,
        }
        if broker.shutdown.is_cancelled() {
            break;
        }
    }

    let mut resp = FetchResponse::default();
    let mut topic_responses: Vec<FetchableTopicResponse> = topics
        .iter()
        .map(|t| {
            let mut r = FetchableTopicResponse::default();
            if v >= 13 {
                r.topic_id = t.id;
            } else {
                r.topic = TopicName(str_bytes(t.name.clone().unwrap_or_default()));
            }
            r
        })
        .collect();
    let payloads: Vec<Bytes> = results.iter().map(|r| r.records.clone()).filter(|r| !r.is_empty()).collect();
    for (w, r) in wanted.iter().zip(results) {
        let aborted = r.aborted;
        let mut pd = PartitionData::default()
            .with_partition_index(w.partition_index)
            .with_error_code(r.error)
            .with_high_watermark(r.offsets.high_watermark)
            .with_last_stable_offset(r.offsets.last_stable_offset)
            .with_log_start_offset(r.offsets.log_start_offset)
            .with_records(Some(r.records));
        if let (Some(replica), true) = (r.preferred_read_replica, v >= 11) {
            pd.preferred_read_replica = kafka_protocol::messages::BrokerId(replica);
        }
        if let (Some((epoch, end_offset)), true) = (r.diverging, v >= 12) {
            pd.diverging_epoch.epoch = epoch;
            pd.diverging_epoch.end_offset = end_offset;
        }
        if v >= 12 && (r.error == NOT_LEADER_OR_FOLLOWER || r.error == FENCED_LEADER_EPOCH) {
            if let Some(reg) = topics[w.topic_index]
                .name
                .as_deref()
                .and_then(|n| image.topic_by_name(n))
                .and_then(|t| t.partitions.get(&w.partition_index))
            {
                pd.current_leader.leader_id = kafka_protocol::messages::BrokerId(reg.leader);
                pd.current_leader.leader_epoch = reg.leader_epoch;
            }
        }
        pd.aborted_transactions = read_committed.then(|| {
            aborted
                .unwrap_or_default()
                .into_iter()
                .map(|t| {
                    AbortedTransaction::default()
                        .with_producer_id(ProducerId(t.producer_id))
                        .with_first_offset(t.first_offset)
                })
                .collect()
        });
        topic_responses[w.topic_index].partitions.push(pd);
    }
    resp.responses = topic_responses;
    crate::wire::response::encode_with_payloads(req.api_key, req.version, req.correlation_id(), &resp, &payloads)
}

const NOT_LEADER_OR_FOLLOWER: i16 = 6;
const FENCED_LEADER_EPOCH: i16 = 74;

fn unknown_offsets() -> LogOffsets {
    LogOffsets { log_start_offset: -1, high_watermark: -1, last_stable_offset: -1, log_end_offset: -1 }
}

fn read_all(
    wanted: &[Wanted],
    max_bytes: usize,
    fetcher: Fetcher,
    selector: &ReadReplicaSelector,
    read_committed: bool,
) -> Vec<PartitionResult> {
    let mut remaining = max_bytes;
    let mut first_with_data = true;
    let now = now_ms();
    wanted
        .iter()
        .map(|w| {
            let p = match &w.target {
                Ok(p) => p,
                Err(e) => return PartitionResult::empty(e.kafka_code(), unknown_offsets()),
            };
            let failed = |e: ReplicaError| PartitionResult::empty(e.kafka_code(), p.offsets());
            let limit = w.max_bytes.min(remaining);
            let read = match fetcher {
                Fetcher::Consumer => {
                    if let Err(e) = p.check_leader_epoch(w.current_leader_epoch) {
                        return failed(e);
                    }
                    if let Some(replica) = selector.select(p, w.fetch_offset) {
                        // Point the consumer at a replica in its rack; no read.
                        return PartitionResult {
                            preferred_read_replica: Some(replica),
                            ..PartitionResult::empty(0, p.offsets())
                        };
                    }
                    if let Some(FollowerRead::Diverging { epoch, end_offset, offsets }) =
                        p.diverging_epoch(w.last_fetched_epoch, w.fetch_offset)
                    {
                        return PartitionResult {
                            diverging: Some((epoch, end_offset)),
                            ..PartitionResult::empty(0, offsets)
                        };
                    }
                    p.read(w.fetch_offset, limit, first_with_data, read_committed)
                }
                Fetcher::Follower { replica_id, broker_epoch } => {
                    let f = FollowerFetch {
                        replica_id,
                        broker_epoch,
                        fetch_offset: w.fetch_offset,
                        log_start_offset: w.log_start_offset,
                        current_leader_epoch: w.current_leader_epoch,
                        last_fetched_epoch: w.last_fetched_epoch,
                        max_bytes: limit,
                        min_one_batch: first_with_data,
                    };
                    match p.read_for_follower(&f, now) {
                        Ok(FollowerRead::Records(r)) => Ok(r),
                        Ok(FollowerRead::Diverging { epoch, end_offset, offsets }) => {
                            return PartitionResult {
                                diverging: Some((epoch, end_offset)),
                                ..PartitionResult::empty(0, offsets)
                            }
                        }
                        Err(e) => Err(e),
                    }
                }
            };
            match read {
                Ok(r) => {
                    if !r.records.is_empty() {
                        first_with_data = false;
                        remaining = remaining.saturating_sub(r.records.len());
                    }
                    PartitionResult { records: r.records, aborted: r.aborted, ..PartitionResult::empty(0, r.offsets) }
                }
                Err(e) => failed(e),
            }
        })
        .collect()
}
