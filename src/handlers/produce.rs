//! Produce (key 0): advertised v0-12, served v3-12 (v0-2 are answered
//! UNSUPPORTED_VERSION per partition). acks 0 (no response; an error
//! closes the connection, as Kafka does), 1 (leader append), -1 (wait for
//! the high watermark to pass the batch, up to the request timeout).
//!
//! Handled in two steps, [`begin`] (decode and append, in request order)
//! and [`ProduceInFlight::complete`] (wait for durability and the high
//! watermark, then answer), so that the connection can append the produce
//! requests pipelined behind one that waits for its followers instead of
//! leaving them queued for a whole replication round each (see
//! `server::connection`).
//!
//! Transactional batches are appended with Kafka's checks (producer epoch,
//! sequence, a transaction open per producer; a control batch from a client
//! is INVALID_RECORD) and need the request's transactional id. KIP-890
//! verification goes through `replica::txn_verification`: with a verifier
//! installed, such requests come to [`handle`], which asks it first.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, LeaderIdAndEpoch, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ApiKey, BrokerId, ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::Decodable;
use kafka_protocol::ResponseError;

use crate::broker::Broker;
use crate::record::batch::{BatchHeader, Compression};
use crate::replica::txn_verification::Refusals;
use crate::replica::{Partition, ReplicaError};
use crate::storage::{StorageError, TopicPartition};
use crate::util::clock::now_ms;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::str_bytes;

struct Outcome {
    error: i16,
    message: Option<String>,
    base_offset: i64,
    log_append_time: i64,
    log_start_offset: i64,
    /// For acks=-1: wait until the high watermark passes this offset.
    wait_for: Option<(std::sync::Arc<Partition>, i64)>,
    /// `flush.messages` reached: wait until the log is durable up to here
    /// (the group commit queued by the append).
    durable_at: Option<(std::sync::Arc<Partition>, i64)>,
    leader_hint: Option<(i32, i32)>,
    /// KIP-467: the index and reason of each record that failed.
    record_errors: Vec<(i32, String)>,
    /// `WEIR_HOP_TRACE`: the partition and last offset of a traced batch.
    traced: Option<(std::sync::Arc<Partition>, i64)>,
}

impl Outcome {
    fn error(code: i16, message: Option<String>) -> Self {
        Outcome {
            error: code,
            message,
            base_offset: -1,
            log_append_time: -1,
            log_start_offset: -1,
            wait_for: None,
            durable_at: None,
            leader_hint: None,
            record_errors: Vec::new(),
            traced: None,
        }
    }
}

/// A produce request whose batches are appended (or refused), waiting
/// for what its acks require before it is answered.
pub struct ProduceInFlight {
    results: Vec<(String, Vec<(i32, Outcome)>)>,
    acks: i16,
    deadline: tokio::time::Instant,
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    /// Legacy versions are answered without appending anything.
    ready: Option<Bytes>,
}

/// Produce in one go (both steps), after asking the transaction
/// coordinator to verify the transactional batches when a verifier is
/// installed (`server::dispatch::start` sends such requests here).
pub async fn handle(broker: &Broker, req: &ApiRequest) -> Result<Option<Bytes>, WireError> {
    let refusals = verify_transactional(broker, req).await?;
    begin_verified(broker, req, &refusals)?.complete().await
}

/// Whether this request must be verified before its append: a verifier is
/// installed and some batch is transactional.
pub fn needs_verification(broker: &Broker, req: &ApiRequest) -> bool {
    if req.version < crate::wire::versions::PRODUCE_MIN_DECODED || !broker.transaction_verifier().enabled() {
        return false;
    }
    req.decode::<ProduceRequest>().is_ok_and(|body| !transactional_partitions(&body).is_empty())
}

/// The partitions whose batch is transactional, with that batch's
/// producer id and epoch.
fn transactional_partitions(body: &ProduceRequest) -> Vec<(TopicPartition, i64, i16)> {
    let mut out = Vec::new();
    for t in &body.topic_data {
        for pd in &t.partition_data {
            if let Some(h) = pd.records.as_deref().and_then(BatchHeader::parse).filter(|h| h.is_transactional()) {
                out.push((TopicPartition::new(t.name.0.as_str(), pd.index), h.producer_id, h.producer_epoch));
            }
        }
    }
    out
}

/// KIP-890: asks the installed verifier about every transactional batch's
/// partition (grouped by producer); the refused ones are not appended.
async fn verify_transactional(broker: &Broker, req: &ApiRequest) -> Result<Refusals, WireError> {
    let verifier = broker.transaction_verifier();
    if req.version < crate::wire::versions::PRODUCE_MIN_DECODED || !verifier.enabled() {
        return Ok(Refusals::new());
    }
    let body: ProduceRequest = req.decode()?;
    let Some(txn_id) = body.transactional_id.as_ref().map(|t| t.0.to_string()) else {
        return Ok(Refusals::new());
    };
    let mut by_producer: std::collections::BTreeMap<(i64, i16), Vec<TopicPartition>> = Default::default();
    for (tp, pid, epoch) in transactional_partitions(&body) {
        by_producer.entry((pid, epoch)).or_default().push(tp);
    }
    let mut refusals = Refusals::new();
    for ((pid, epoch), partitions) in by_producer {
        refusals.extend(verifier.verify(&txn_id, pid, epoch, &partitions).await);
    }
    Ok(refusals)
}

/// The first step: decodes the request and appends every batch, in order.
/// An acks=0 request that failed is an error (the connection closes, as
/// Kafka does). Transactional batches are appended unverified here.
pub fn begin(broker: &Broker, req: &ApiRequest) -> Result<ProduceInFlight, WireError> {
    begin_verified(broker, req, &Refusals::new())
}

/// [`begin`], with the partitions a transaction verification refused.
fn begin_verified(broker: &Broker, req: &ApiRequest, refusals: &Refusals) -> Result<ProduceInFlight, WireError> {
    let mut flight = ProduceInFlight {
        results: Vec::new(),
        acks: 1,
        deadline: tokio::time::Instant::now(),
        api_key: req.api_key,
        version: req.version,
        correlation_id: req.correlation_id(),
        ready: None,
    };
    if req.version < crate::wire::versions::PRODUCE_MIN_DECODED {
        flight.ready = Some(legacy_unsupported(req)?);
        return Ok(flight);
    }
    let started_ns = crate::util::clock::monotonic_ns();
    let body: ProduceRequest = req.decode()?;
    let acks = body.acks;
    let now = now_ms();
    let image = broker.metadata.image();
    let mut results: Vec<(String, Vec<(i32, Outcome)>)> = Vec::with_capacity(body.topic_data.len());
    let valid_acks = matches!(acks, -1..=1);
    // Kafka refuses transactional records without a transactional id
    // (its authorization of the id fails) for the whole request.
    let no_txn_id = body.transactional_id.is_none() && !transactional_partitions(&body).is_empty();
    for topic in &body.topic_data {
        let name = topic.name.0.to_string();
        let mut parts = Vec::with_capacity(topic.partition_data.len());
        for pd in &topic.partition_data {
            let refused = refusals.get(&TopicPartition::new(name.as_str(), pd.index));
            let outcome = if !valid_acks {
                Outcome::error(ResponseError::InvalidRequiredAcks.code(), None)
            } else if no_txn_id {
                Outcome::error(
                    ResponseError::TransactionalIdAuthorizationFailed.code(),
                    Some("Transactional records need a transactional id".into()),
                )
            } else if let Some(code) = refused {
                Outcome::error(
                    *code,
                    Some(format!("The partition {name}-{} is not part of the producer's transaction", pd.index)),
                )
            } else {
                produce_one(broker, &image, &name, pd.index, pd.records.as_deref(), acks, req.version, now)
            };
            if let Some((p, last_offset)) = &outcome.traced {
                p.trace_appended(*last_offset, acks, req.received_ns, started_ns);
            }
            parts.push((pd.index, outcome));
        }
        results.push((name, parts));
    }

    if acks == 0 {
        let failed = results.iter().flat_map(|(_, p)| p).find(|(_, o)| o.error != 0);
        if let Some((_, o)) = failed {
            return Err(WireError::Malformed {
                api: "Produce",
                version: req.version,
                reason: format!("acks=0 produce failed with error {}; closing connection", o.error),
            });
        }
    }
    flight.acks = acks;
    flight.deadline = tokio::time::Instant::now() + Duration::from_millis(body.timeout_ms.max(0) as u64);
    flight.results = results;
    Ok(flight)
}

impl ProduceInFlight {
    /// The second step: waits for durability (`flush.messages`) and, with
    /// acks=all, for the high watermark; then the answer (none for acks=0).
    pub async fn complete(self) -> Result<Option<Bytes>, WireError> {
        let ProduceInFlight { mut results, acks, deadline, api_key, version, correlation_id, ready } = self;
        if ready.is_some() {
            return Ok(ready);
        }
        if acks == 0 {
            return Ok(None);
        }
        answer(&mut results, acks, deadline).await;
        encode(results, api_key, version, correlation_id).map(Some)
    }
}

async fn answer(results: &mut [(String, Vec<(i32, Outcome)>)], acks: i16, deadline: tokio::time::Instant) {
    // Kafka flushes inside the append when `flush.messages` is reached; the
    // group commit does it for many appends at once, and the answer waits.
    for (_, parts) in results.iter_mut() {
        for (_, o) in parts.iter_mut() {
            if let Some((partition, required)) = o.durable_at.take() {
                if let Err(e) = partition.wait_durable(required, deadline).await {
                    o.error = e.kafka_code();
                    o.message = Some(e.to_string());
                    o.wait_for = None;
                }
            }
        }
    }
    if acks == -1 {
        for (_, parts) in results.iter_mut() {
            for (_, o) in parts.iter_mut() {
                if let Some((partition, required)) = o.wait_for.take() {
                    if let Err(e) = partition.wait_for_high_watermark(required, deadline).await {
                        o.error = e.kafka_code();
                        o.message = Some(e.to_string());
                    }
                }
            }
        }
    }

    for (p, last_offset) in results.iter().flat_map(|(_, parts)| parts).filter_map(|(_, o)| o.traced.as_ref()) {
        p.trace_responded(*last_offset);
    }
}

fn encode(
    results: Vec<(String, Vec<(i32, Outcome)>)>,
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
) -> Result<Bytes, WireError> {
    let mut resp = ProduceResponse::default();
    for (name, parts) in results {
        let mut t = TopicProduceResponse::default().with_name(kafka_protocol::messages::TopicName(str_bytes(name)));
        for (index, o) in parts {
            let mut p = PartitionProduceResponse::default()
                .with_index(index)
                .with_error_code(o.error)
                .with_base_offset(o.base_offset)
                .with_log_append_time_ms(o.log_append_time);
            if version >= 5 {
                p.log_start_offset = o.log_start_offset;
            }
            if version >= 8 {
                p.error_message = o.message.map(str_bytes);
                p.record_errors = o
                    .record_errors
                    .into_iter()
                    .map(|(index, message)| {
                        BatchIndexAndErrorMessage::default()
                            .with_batch_index(index)
                            .with_batch_index_error_message(Some(str_bytes(message)))
                    })
                    .collect();
            }
            if version >= 10 {
                if let Some((leader, epoch)) = o.leader_hint {
                    p.current_leader =
                        LeaderIdAndEpoch::default().with_leader_id(BrokerId(leader)).with_leader_epoch(epoch);
                }
            }
            t.partition_responses.push(p);
        }
        resp.responses.push(t);
    }
    crate::wire::response::encode(api_key, version, correlation_id, &resp)
}

#[allow(clippy::too_many_arguments)]
fn produce_one(
    broker: &Broker,
    image: &crate::metadata::MetadataImage,
    topic: &str,
    partition: i32,
    records: Option<&[u8]>,
    acks: i16,
    version: i16,
    now: i64,
) -> Outcome {
    let tp = TopicPartition::new(topic, partition);
    let p = match broker.replica_manager.leader_partition(image, &tp) {
        Ok(p) => p,
        Err(e) => {
            let mut o = Outcome::error(e.kafka_code(), None);
            if matches!(e, ReplicaError::NotLeaderOrFollower) {
                if let Some(reg) = image.topic_by_name(topic).and_then(|t| t.partitions.get(&partition)) {
                    o.leader_hint = Some((reg.leader, reg.leader_epoch));
                }
            }
            return o;
        }
    };
    let Some(records) = records.filter(|r| !r.is_empty()) else {
        return Outcome::error(
            ResponseError::InvalidRecord.code(),
            Some(format!("Produce requests with version {version} must have at least one record batch per partition")),
        );
    };
    if version < 7 {
        if let Some(h) = BatchHeader::parse(records) {
            if h.compression_id() == Compression::Zstd.id() {
                return Outcome::error(
                    ResponseError::UnsupportedCompressionType.code(),
                    Some(format!(
                        "Produce requests with version {version} are not allowed to use ZStandard compression"
                    )),
                );
            }
        }
    }
    match p.append_records_to_leader(records, acks, now) {
        Ok(info) => Outcome {
            error: 0,
            message: None,
            base_offset: info.first_offset,
            log_append_time: info.log_append_time,
            log_start_offset: info.log_start_offset,
            wait_for: (acks == -1).then(|| (p.clone(), info.last_offset + 1)),
            durable_at: info.awaits_flush.then(|| (p.clone(), info.last_offset + 1)),
            leader_hint: None,
            record_errors: Vec::new(),
            traced: (p.traced() && !info.duplicate).then(|| (p.clone(), info.last_offset)),
        },
        Err(e) => {
            tracing::debug!(partition = %tp, error = %e, "produce failed");
            let mut o = Outcome::error(e.kafka_code(), Some(e.to_string()));
            if let ReplicaError::Storage(StorageError::RecordValidation { record_errors, .. }) = e {
                o.record_errors = record_errors;
            }
            o
        }
    }
}

/// Produce v0-2: the body is read as v3 (the same layout without the
/// transactional id) only to name the partitions in an UNSUPPORTED_VERSION
/// answer in the old layout.
fn legacy_unsupported(req: &ApiRequest) -> Result<Bytes, WireError> {
    let mut patched = BytesMut::with_capacity(req.body.len() + 2);
    patched.put_i16(-1);
    patched.extend_from_slice(&req.body);
    let mut buf = patched.freeze();
    let body = ProduceRequest::decode(&mut buf, 3).map_err(|e| WireError::Malformed {
        api: "Produce",
        version: req.version,
        reason: e.to_string(),
    })?;
    if body.acks == 0 {
        return Err(WireError::UnsupportedVersion { api_key: ApiKey::Produce as i16, version: req.version });
    }
    let code = ResponseError::UnsupportedVersion.code();
    let mut out = BytesMut::new();
    out.put_i32(0); // size, patched below
    out.put_i32(req.correlation_id());
    out.put_i32(body.topic_data.len() as i32);
    for t in &body.topic_data {
        let name = t.name.0.as_bytes();
        out.put_i16(name.len() as i16);
        out.extend_from_slice(name);
        out.put_i32(t.partition_data.len() as i32);
        for p in &t.partition_data {
            out.put_i32(p.index);
            out.put_i16(code);
            out.put_i64(-1);
            if req.version >= 2 {
                out.put_i64(-1);
            }
        }
    }
    if req.version >= 1 {
        out.put_i32(0);
    }
    let size = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&size.to_be_bytes());
    Ok(out.freeze())
}
