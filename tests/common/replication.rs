//! Helpers for multi-node tests that look at replication: replica logs
//! read from each node's segment files, partition leadership and ISR
//! waits over Metadata, raw consumer requests (ListOffsets, Fetch), and
//! rdkafka producers and consumers whose records name their sequence
//! number, with an audit of what was acknowledged against what was read.
//! Built on [`super::cluster`].
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_protocol::messages::describe_topic_partitions_request::TopicRequest;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    ApiKey, BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, FetchRequest, FetchResponse,
    ListOffsetsRequest, ListOffsetsResponse,
};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use weir::record::batch::BatchIter;
use weir::record::records::decode_records;

use super::cluster::*;
use super::NONE;

// ---------------------------------------------------------------------------
// Replica logs as stored
// ---------------------------------------------------------------------------

/// One stored batch, as compared between replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBatch {
    pub base: i64,
    pub last: i64,
    pub leader_epoch: i32,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub crc: u32,
}

/// A replica's log read from its segment files: the valid batches in
/// offset order (a torn batch being written ends a segment) and their bytes.
#[derive(Debug, Clone)]
pub struct ReplicaLog {
    pub node: i32,
    /// Base offset of the first segment.
    pub start: i64,
    pub segments: usize,
    pub batches: Vec<StoredBatch>,
    pub bytes: Vec<u8>,
}

impl ReplicaLog {
    pub fn end_offset(&self) -> i64 {
        self.batches.last().map_or(self.start, |b| b.last + 1)
    }

    /// Every record: (offset, key, value).
    pub fn records(&self) -> Vec<(i64, String, Vec<u8>)> {
        let mut out = Vec::new();
        for item in BatchIter::new(&self.bytes, true) {
            let (_, view) = item.expect("stored batches parse");
            for r in decode_records(&view).expect("stored records decode") {
                out.push((
                    r.offset,
                    String::from_utf8(r.key.unwrap_or_default()).expect("utf-8 key"),
                    r.value.unwrap_or_default(),
                ));
            }
        }
        out
    }

    /// The leader epoch of the batch holding `offset`.
    pub fn epoch_of(&self, offset: i64) -> Option<i32> {
        self.batches.iter().find(|b| b.base <= offset && offset <= b.last).map(|b| b.leader_epoch)
    }
}

/// Reads node `node`'s log of `topic`-`partition` from its segment files.
pub fn read_log(c: &Cluster, node: i32, topic: &str, partition: i32) -> Result<ReplicaLog, String> {
    read_log_in(node, &c.node(node).data_dir(), topic, partition)
}

pub fn read_log_in(node: i32, data_dir: &Path, topic: &str, partition: i32) -> Result<ReplicaLog, String> {
    let dir = data_dir.join(format!("{topic}-{partition}"));
    let mut segments: Vec<(i64, std::path::PathBuf)> = std::fs::read_dir(&dir)
        .map_err(|e| format!("node {node}: {}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let base = name.strip_suffix(".log")?.parse::<i64>().ok()?;
            Some((base, e.path()))
        })
        .collect();
    segments.sort();
    if segments.is_empty() {
        return Err(format!("node {node}: no segment in {}", dir.display()));
    }
    let mut log =
        ReplicaLog { node, start: segments[0].0, segments: segments.len(), batches: Vec::new(), bytes: Vec::new() };
    for (_, path) in &segments {
        // A segment may vanish under a concurrent truncation or roll: retry.
        let bytes = std::fs::read(path).map_err(|e| format!("node {node}: {}: {e}", path.display()))?;
        for item in BatchIter::new(&bytes, true) {
            let Ok((_, view)) = item else { break };
            log.batches.push(StoredBatch {
                base: view.base_offset(),
                last: view.last_offset(),
                leader_epoch: view.partition_leader_epoch(),
                producer_id: view.producer_id(),
                producer_epoch: view.producer_epoch(),
                base_sequence: view.base_sequence(),
                crc: view.crc(),
            });
            log.bytes.extend_from_slice(view.bytes());
        }
    }
    Ok(log)
}

/// Polls node `node`'s log until `check` accepts it.
pub async fn wait_log<F>(c: &Cluster, node: i32, topic: &str, what: &str, check: F) -> ReplicaLog
where
    F: Fn(&ReplicaLog) -> Result<(), String>,
{
    poll_until(&format!("node {node}: {what}"), WAIT, || async {
        let log = read_log(c, node, topic, 0)?;
        check(&log).map(|_| log.clone()).map_err(|e| format!("{e} (log end {})", log.end_offset()))
    })
    .await
}

pub async fn wait_log_end(c: &Cluster, node: i32, topic: &str, end: i64) -> ReplicaLog {
    wait_log(c, node, topic, &format!("log end offset {end}"), |l| {
        if l.end_offset() == end {
            Ok(())
        } else {
            Err("not yet".into())
        }
    })
    .await
}

/// Asserts two replicas hold the same batches, byte for byte.
pub fn assert_same_log(a: &ReplicaLog, b: &ReplicaLog, what: &str) {
    if a.batches != b.batches {
        let i =
            a.batches.iter().zip(&b.batches).position(|(x, y)| x != y).unwrap_or(a.batches.len().min(b.batches.len()));
        panic!(
            "{what}: node {} and node {} differ at batch {i}: {:?} vs {:?} (ends {} and {})",
            a.node,
            b.node,
            a.batches.get(i),
            b.batches.get(i),
            a.end_offset(),
            b.end_offset()
        );
    }
    assert!(a.bytes == b.bytes, "{what}: nodes {} and {} have equal batch headers but different bytes", a.node, b.node);
}

/// Waits until every node of `nodes` has the same log ending at `end`;
/// returns it.
pub async fn wait_replicas_equal(c: &Cluster, nodes: &[i32], topic: &str, end: i64) -> ReplicaLog {
    let mut logs = Vec::new();
    for n in nodes {
        logs.push(wait_log_end(c, *n, topic, end).await);
    }
    for l in &logs[1..] {
        assert_same_log(&logs[0], l, topic);
    }
    logs.swap_remove(0)
}

// ---------------------------------------------------------------------------
// Metadata waits
// ---------------------------------------------------------------------------

pub fn sorted(mut v: Vec<i32>) -> Vec<i32> {
    v.sort_unstable();
    v
}

/// Waits until every node of `via` reports partition `index` of `topic`
/// satisfying `check`; returns the view of the first.
pub async fn wait_partition<F>(c: &Cluster, via: &[i32], topic: &str, index: i32, what: &str, check: F) -> PartitionView
where
    F: Fn(&PartitionView) -> bool,
{
    let answers = c
        .wait_metadata(&format!("{topic}-{index}: {what}"), via, WAIT, |m| {
            let p = PartitionView::from(partition_of(m, topic, index)?);
            if check(&p) {
                Ok(())
            } else {
                Err(format!("{p:?}"))
            }
        })
        .await;
    PartitionView::from(partition_of(&answers[0], topic, index).unwrap())
}

/// Waits until `via` agree the partition is led by `leader` with ISR `isr` (any order).
pub async fn wait_leader_isr(c: &Cluster, via: &[i32], topic: &str, leader: i32, isr: &[i32]) -> PartitionView {
    let want = sorted(isr.to_vec());
    wait_partition(c, via, topic, 0, &format!("leader {leader}, ISR {want:?}"), |p| {
        p.leader == leader && p.error == NONE && sorted(p.isr.clone()) == want
    })
    .await
}

// ---------------------------------------------------------------------------
// Raw requests
// ---------------------------------------------------------------------------

/// One partition as DescribeTopicPartitions v0 reports it, with the
/// fields `kafka-topics --describe` prints as Elr and LastKnownElr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElrView {
    pub leader: i32,
    pub leader_epoch: i32,
    pub isr: Vec<i32>,
    pub elr: Vec<i32>,
    pub last_known_elr: Vec<i32>,
}

/// DescribeTopicPartitions v0 for partition `index` of `topic`, asked of `node`.
pub async fn describe_partition(c: &Cluster, node: i32, topic: &str, index: i32) -> Result<ElrView, String> {
    let req = DescribeTopicPartitionsRequest::default()
        .with_topics(vec![TopicRequest::default().with_name(topic_name(topic))])
        .with_response_partition_limit(2000);
    let resp: DescribeTopicPartitionsResponse = c.request(node, ApiKey::DescribeTopicPartitions, 0, &req).await?;
    let t = resp.topics.first().ok_or("no topic in the answer")?;
    if t.error_code != NONE {
        return Err(format!("{topic}: error {}", t.error_code));
    }
    let p = t.partitions.iter().find(|p| p.partition_index == index).ok_or(format!("{topic}-{index} absent"))?;
    let ids = |v: &Option<Vec<BrokerId>>| v.as_ref().map(|v| v.iter().map(|b| b.0).collect()).unwrap_or_default();
    Ok(ElrView {
        leader: p.leader_id.0,
        leader_epoch: p.leader_epoch,
        isr: p.isr_nodes.iter().map(|b| b.0).collect(),
        elr: ids(&p.eligible_leader_replicas),
        last_known_elr: ids(&p.last_known_elr),
    })
}

/// Waits until `node` describes partition 0 of `topic` satisfying `check`.
pub async fn wait_elr<F>(c: &Cluster, node: i32, topic: &str, what: &str, check: F) -> ElrView
where
    F: Fn(&ElrView) -> bool,
{
    poll_until(&format!("{topic}-0 on node {node}: {what}"), WAIT, || async {
        let v = describe_partition(c, node, topic, 0).await?;
        if check(&v) {
            Ok(v)
        } else {
            Err(format!("{v:?}"))
        }
    })
    .await
}

/// ListOffsets latest as a consumer: the partition's high watermark, asked of its leader.
pub async fn high_watermark(c: &Cluster, node: i32, topic: &str) -> Result<i64, String> {
    let req =
        ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_current_leader_epoch(-1)
                .with_timestamp(-1)])]);
    let resp: ListOffsetsResponse = c.request(node, ApiKey::ListOffsets, 7, &req).await?;
    let p = &resp.topics[0].partitions[0];
    if p.error_code != 0 {
        return Err(format!("ListOffsets error {}", p.error_code));
    }
    Ok(p.offset)
}

/// What a consumer's Fetch (v12, replica id -1) of partition 0 got.
#[derive(Debug)]
pub struct Fetched {
    pub error: i16,
    pub high_watermark: i64,
    pub preferred_read_replica: i32,
    pub records: Vec<(i64, String, Vec<u8>)>,
}

/// A consumer Fetch (replica id -1, v12, no wait) of partition 0 of
/// `topic` from `offset`, sent to node `node`, with KIP-392's `rack_id`.
pub async fn consumer_fetch(c: &Cluster, node: i32, topic: &str, offset: i64, rack: &str) -> Result<Fetched, String> {
    consumer_fetch_v(c, node, topic, offset, rack, 12).await
}

/// [`consumer_fetch`] with a chosen Fetch version (4 to 12: by topic name;
/// `rack` must be empty below 11).
pub async fn consumer_fetch_v(
    c: &Cluster,
    node: i32,
    topic: &str,
    offset: i64,
    rack: &str,
    version: i16,
) -> Result<Fetched, String> {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(16 << 20)
        .with_isolation_level(0)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_rack_id(s(rack))
        .with_topics(vec![FetchTopic::default().with_topic(topic_name(topic)).with_partitions(vec![
            FetchPartition::default()
                .with_partition(0)
                .with_current_leader_epoch(-1)
                .with_fetch_offset(offset)
                .with_last_fetched_epoch(-1)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(16 << 20),
        ])]);
    let resp: FetchResponse = c.request(node, ApiKey::Fetch, version, &req).await?;
    if resp.error_code != 0 {
        return Err(format!("Fetch error {}", resp.error_code));
    }
    let pd: &PartitionData = resp
        .responses
        .first()
        .and_then(|t| t.partitions.first())
        .ok_or_else(|| "Fetch: no partition in the answer".to_string())?;
    let mut records = Vec::new();
    if let Some(bytes) = &pd.records {
        for item in BatchIter::new(bytes, true) {
            let Ok((_, view)) = item else { break };
            for r in decode_records(&view).map_err(|e| e.to_string())? {
                if r.offset >= offset {
                    records.push((
                        r.offset,
                        String::from_utf8(r.key.unwrap_or_default()).expect("utf-8 key"),
                        r.value.unwrap_or_default(),
                    ));
                }
            }
        }
    }
    Ok(Fetched {
        error: pd.error_code,
        high_watermark: pd.high_watermark,
        preferred_read_replica: pd.preferred_read_replica.0,
        records,
    })
}

/// Reads `[0, end)` of partition 0 from node `node` with consumer fetches.
pub async fn consumer_read_all(
    c: &Cluster,
    node: i32,
    topic: &str,
    end: i64,
) -> Result<Vec<(i64, String, Vec<u8>)>, String> {
    let mut out = Vec::new();
    let mut next = 0;
    while next < end {
        let f = consumer_fetch(c, node, topic, next, "").await?;
        if f.error != 0 {
            return Err(format!("fetch at {next}: error {}", f.error));
        }
        if f.high_watermark < end {
            return Err(format!("high watermark {} < {end}", f.high_watermark));
        }
        let Some(last) = f.records.last() else { return Err(format!("no records at {next}")) };
        next = last.0 + 1;
        out.extend(f.records.into_iter().filter(|r| r.0 < end));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------

pub fn key(seq: usize) -> String {
    format!("k-{seq:06}")
}

pub fn value(seq: usize, len: usize) -> Vec<u8> {
    let mut v = format!("v-{seq}-").into_bytes();
    v.resize(len.max(v.len()), b'x');
    v
}

pub fn seq_of(key: &str) -> usize {
    key.strip_prefix("k-").and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("unexpected key {key:?}"))
}

pub fn producer(c: &Cluster, extra: &[(&str, &str)]) -> FutureProducer {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", c.bootstrap()).set("linger.ms", "1").set("message.timeout.ms", "60000");
    for (k, v) in extra {
        cfg.set(*k, *v);
    }
    cfg.create().expect("producer")
}

/// A producer bootstrapped from the given brokers only.
pub fn producer_via(c: &Cluster, via: &[i32], extra: &[(&str, &str)]) -> FutureProducer {
    let bootstrap = via.iter().map(|id| c.addr(*id)).collect::<Vec<_>>().join(",");
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", bootstrap).set("linger.ms", "1").set("message.timeout.ms", "60000");
    for (k, v) in extra {
        cfg.set(*k, *v);
    }
    cfg.create().expect("producer")
}

pub const ACKS_ALL_IDEMPOTENT: &[(&str, &str)] = &[("acks", "all"), ("enable.idempotence", "true")];

/// Enqueues record `seq` for partition 0 (waiting while the queue is full).
pub async fn send(p: &FutureProducer, topic: &str, seq: usize, value_len: usize) -> DeliveryFuture {
    send_to(p, topic, 0, seq, value_len).await
}

pub async fn send_to(p: &FutureProducer, topic: &str, partition: i32, seq: usize, value_len: usize) -> DeliveryFuture {
    let k = key(seq);
    let v = value(seq, value_len);
    let mut record = FutureRecord::to(topic).partition(partition).key(&k).payload(&v[..]);
    loop {
        match p.send_result(record) {
            Ok(f) => return f,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err((e, _)) => panic!("enqueue {seq}: {e}"),
        }
    }
}

/// The outcome of one delivery: the offset, or the error code.
pub async fn delivered(f: DeliveryFuture) -> Result<i64, RDKafkaErrorCode> {
    match f.await.expect("delivery not cancelled") {
        Ok(d) => Ok(d.offset),
        Err((KafkaError::MessageProduction(code), _)) => Err(code),
        Err((e, _)) => panic!("unexpected delivery error {e:?}"),
    }
}

/// Produces `seqs` one batch after another, all acknowledged; returns offsets.
pub async fn produce_all(p: &FutureProducer, topic: &str, seqs: std::ops::Range<usize>, value_len: usize) -> Vec<i64> {
    let mut futures = Vec::new();
    for seq in seqs.clone() {
        futures.push(send(p, topic, seq, value_len).await);
    }
    let mut offsets = Vec::new();
    for (seq, f) in seqs.zip(futures) {
        offsets.push(delivered(f).await.unwrap_or_else(|e| panic!("record {seq} not acknowledged: {e:?}")));
    }
    offsets
}

/// Keeps the latest statistics librdkafka emitted (`statistics.interval.ms`).
#[derive(Clone, Default)]
pub struct StatsContext(pub Arc<Mutex<Option<Statistics>>>);

impl ClientContext for StatsContext {
    fn stats(&self, statistics: Statistics) {
        *self.0.lock().unwrap() = Some(statistics);
    }
}

impl ConsumerContext for StatsContext {}

pub fn assigned_consumer(
    c: &Cluster,
    topic: &str,
    extra: &[(&str, &str)],
) -> (BaseConsumer<StatsContext>, StatsContext) {
    let ctx = StatsContext::default();
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", c.bootstrap())
        .set("group.id", "weir-replication-assign")
        .set("enable.auto.commit", "false")
        .set("statistics.interval.ms", "200");
    for (k, v) in extra {
        cfg.set(*k, *v);
    }
    let consumer: BaseConsumer<StatsContext> = cfg.create_with_context(ctx.clone()).expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning).unwrap();
    consumer.assign(&tpl).expect("assign");
    (consumer, ctx)
}

/// Consumes partition 0 of `topic` from the beginning until offset `end`
/// (exclusive) with rdkafka; returns (offset, key, value) in order received.
pub fn consume_to(
    consumer: &BaseConsumer<StatsContext>,
    topic: &str,
    end: i64,
    timeout: Duration,
) -> Vec<(i64, String, Vec<u8>)> {
    let mut out: Vec<(i64, String, Vec<u8>)> = Vec::new();
    let start = Instant::now();
    while out.last().is_none_or(|r| r.0 + 1 < end) {
        assert!(start.elapsed() < timeout, "consumed up to {:?} of {topic}, want end {end}", out.last().map(|r| r.0));
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => out.push((
                m.offset(),
                String::from_utf8(m.key().unwrap_or_default().to_vec()).unwrap(),
                m.payload().unwrap_or_default().to_vec(),
            )),
            Some(Err(e)) => panic!("consume error: {e}"),
            None => {}
        }
    }
    out
}

pub fn consume_all(c: &Cluster, topic: &str, end: i64) -> Vec<(i64, String, Vec<u8>)> {
    let (consumer, _) = assigned_consumer(c, topic, &[]);
    consume_to(&consumer, topic, end, WAIT * 2)
}

/// [`consume_all`] bootstrapped from the given brokers only (librdkafka
/// reports a dead bootstrap broker as a consume error).
pub fn consume_all_via(c: &Cluster, via: &[i32], topic: &str, end: i64) -> Vec<(i64, String, Vec<u8>)> {
    let bootstrap = via.iter().map(|id| c.addr(*id)).collect::<Vec<_>>().join(",");
    let (consumer, _) = assigned_consumer(c, topic, &[("bootstrap.servers", &bootstrap)]);
    consume_to(&consumer, topic, end, WAIT * 2)
}

/// Checks the records of a partition against what was acknowledged:
/// `acked` maps sequence number -> acknowledged offset.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Audit {
    pub lost: usize,
    pub duplicated: usize,
    pub reordered: usize,
    pub offset_mismatch: usize,
    pub bad_value: usize,
    pub unacknowledged_present: usize,
}

pub fn audit(records: &[(i64, String, Vec<u8>)], acked: &BTreeMap<usize, i64>, value_len: usize) -> Audit {
    let mut a = Audit::default();
    let mut seen: HashMap<usize, Vec<i64>> = HashMap::new();
    let mut last_seq: Option<usize> = None;
    for (i, (offset, k, v)) in records.iter().enumerate() {
        if i > 0 && *offset != records[i - 1].0 + 1 {
            panic!("offsets not dense: {} then {offset}", records[i - 1].0);
        }
        let seq = seq_of(k);
        if *v != value(seq, value_len) {
            a.bad_value += 1;
        }
        if last_seq.is_some_and(|l| seq <= l) {
            a.reordered += 1;
        }
        last_seq = Some(last_seq.map_or(seq, |l| l.max(seq)));
        seen.entry(seq).or_default().push(*offset);
    }
    for (seq, offsets) in &seen {
        if offsets.len() > 1 {
            a.duplicated += offsets.len() - 1;
        }
        if !acked.contains_key(seq) {
            a.unacknowledged_present += 1;
        }
    }
    for (seq, offset) in acked {
        match seen.get(seq) {
            None => a.lost += 1,
            Some(o) if o[0] != *offset => a.offset_mismatch += 1,
            Some(_) => {}
        }
    }
    a
}

pub fn assert_clean(a: &Audit, what: &str) {
    assert_eq!((a.lost, a.duplicated, a.reordered, a.offset_mismatch, a.bad_value), (0, 0, 0, 0, 0), "{what}: {a:?}");
}
