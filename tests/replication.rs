//! Replication between real `weir` processes (tests/common/cluster.rs),
//! driven by real clients (rust-rdkafka) and raw requests, with Kafka's
//! semantics as the specification:
//!
//! - the high watermark advances only once every ISR member has fetched
//!   past it; a stopped follower holds acks=all back until the leader drops
//!   it from the ISR after `replica.lag.time.max.ms`, and rejoins once it
//!   has caught up;
//! - kill -9 of a leader under an idempotent acks=all producer loses,
//!   duplicates and reorders nothing acknowledged, and a batch the old
//!   leader never answered is deduplicated by the new one;
//! - `min.insync.replicas` refuses acks=all (NOT_ENOUGH_REPLICAS) while
//!   acks=1 still works;
//! - an old leader with records beyond the high watermark truncates to the
//!   divergence point, a restarted follower catches up across segment
//!   rolls, unclean election trades data for availability only when
//!   enabled;
//! - preferred leaders come back (auto rebalance, ElectLeaders), consumers
//!   fetch from followers in their rack (KIP-392), and group coordination
//!   survives the coordinator's death.
//!
//! Replica logs are compared by reading each node's segment files
//! (`<log.dirs>/<topic>-<partition>/*.log`): batches are appended with
//! pwrite, so a running (or paused) node's files show its log end offset.
//!
//! Failover figures (median over several kill -9 runs):
//! `cargo test --test replication failover_figures -- --ignored --nocapture`.

mod common;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cluster::*;
use common::replication::*;
use common::NONE;
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    ApiKey, ElectLeadersRequest, ElectLeadersResponse, FindCoordinatorRequest, FindCoordinatorResponse, GroupId,
    OffsetFetchRequest, OffsetFetchResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::ResponseError as E;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::FutureProducer;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

// ---------------------------------------------------------------------------
// 1. The seeds' flow
// ---------------------------------------------------------------------------

/// The replication flow of the seeds, observed: with RF 3 and
/// min.insync.replicas 2, an acks=all record is acknowledged only once both
/// followers have fetched past it (their logs hold it at the moment of the
/// acknowledgement, and the leader's high watermark covers it). SIGSTOP of
/// one follower: the next acks=all record is in the leader's and the other
/// follower's log but the high watermark stays before it (ListOffsets and
/// Fetch agree) and the producer waits, until the leader drops the stopped
/// follower from the ISR after `replica.lag.time.max.ms` (not fenced: its
/// session is long); then the high watermark follows the two in-sync
/// replicas. SIGCONT: the follower catches up (its log equals the
/// leader's, byte for byte), rejoins the ISR, and serves the records to a
/// consumer up to its own high watermark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_high_watermark_follows_the_isr_and_a_stopped_follower_rejoins() {
    const LAG_MS: u64 = 4000;
    let mut c = Cluster::builder()
        .controllers(1)
        .brokers(3)
        .with("replica.lag.time.max.ms", &LAG_MS.to_string())
        .with("replica.fetch.backoff.ms", "200")
        .with("auto.leader.rebalance.enable", "false")
        // Sessions outlast the pause: only the leader's lag check can
        // remove the stopped follower from the ISR.
        .session(30_000, 1000)
        .start()
        .await;
    let brokers = c.broker_ids();
    let (leader, follower, stopped) = (2, 3, 4);
    let topic = "seeds-flow";
    c.create_topic_assigned(leader, topic, &[&[leader, follower, stopped]], &[("min.insync.replicas", "2")]).await;
    wait_leader_isr(&c, &brokers, topic, leader, &brokers).await;
    let p = producer(&c, &[("acks", "all"), ("enable.idempotence", "true"), ("linger.ms", "0")]);

    // One acks=all record at a time: at each acknowledgement both
    // followers already hold it and the high watermark covers it.
    for seq in 0..30 {
        let offset = delivered(send(&p, topic, seq, 100).await).await.expect("acknowledged");
        assert_eq!(offset, seq as i64);
        for f in [follower, stopped] {
            let end = read_log(&c, f, topic, 0).unwrap().end_offset();
            assert!(end > offset, "record {offset} acknowledged while follower {f}'s log ends at {end}");
        }
        let hw = high_watermark(&c, leader, topic).await.unwrap();
        assert!(hw > offset, "record {offset} acknowledged with the high watermark at {hw}");
    }

    // Follower `stopped` stops fetching.
    c.pause(stopped);
    let paused_at = Instant::now();
    let pending = tokio::spawn(delivered(send(&p, topic, 30, 100).await));
    wait_log_end(&c, leader, topic, 31).await;
    wait_log_end(&c, follower, topic, 31).await;
    // Both running replicas hold record 30, yet it is not committed.
    let hw = high_watermark(&c, leader, topic).await.unwrap();
    let fetched = consumer_fetch(&c, leader, topic, 30, "").await.unwrap();
    let isr_now =
        PartitionView::from(partition_of(&c.metadata(leader, Some(&[topic])).await.unwrap(), topic, 0).unwrap());
    let waited_so_far = paused_at.elapsed();
    if pending.is_finished() {
        let answer = pending.await;
        panic!("acks=all answered {waited_so_far:?} after an ISR member stopped fetching, before it left the ISR: {answer:?}");
    }
    assert_eq!(hw, 30, "the high watermark passed a record the stopped ISR member does not hold");
    assert_eq!((fetched.error, fetched.high_watermark), (NONE, 30), "{fetched:?}");
    assert!(fetched.records.is_empty(), "a consumer read an uncommitted record: {fetched:?}");
    assert_eq!(sorted(isr_now.isr.clone()), brokers, "the ISR shrank {waited_so_far:?} after the pause: {isr_now:?}");
    let offset = tokio::time::timeout(WAIT, pending).await.expect("acks=all answered").unwrap().expect("acknowledged");
    let waited = paused_at.elapsed();
    assert_eq!(offset, 30);
    assert!(
        waited >= Duration::from_millis(LAG_MS / 2),
        "acks=all acknowledged {waited:?} after an ISR member stopped, before the lag window ({LAG_MS} ms) can have expired"
    );
    eprintln!(
        "acks=all waited {waited:?} for the stopped follower to leave the ISR (replica.lag.time.max.ms={LAG_MS})"
    );
    let running = [leader, follower];
    wait_leader_isr(&c, &running, topic, leader, &running).await;
    let m = c.metadata(leader, None).await.unwrap();
    assert!(broker_ids(&m).contains(&stopped), "the stopped follower was fenced, not dropped for lag: {m:?}");

    // The high watermark now follows the two in-sync replicas.
    let offsets = produce_all(&p, topic, 31..131, 100).await;
    assert_eq!(offsets, (31..131).collect::<Vec<i64>>());
    assert!(read_log(&c, follower, topic, 0).unwrap().end_offset() >= 131);
    assert_eq!(read_log(&c, stopped, topic, 0).unwrap().end_offset(), 30, "a stopped process cannot append");
    assert_eq!(high_watermark(&c, leader, topic).await.unwrap(), 131);

    // SIGCONT: it catches up, its log equals the leader's, it rejoins.
    c.resume(stopped);
    let log = wait_replicas_equal(&c, &[leader, follower, stopped], topic, 131).await;
    wait_leader_isr(&c, &brokers, topic, leader, &brokers).await;
    let stored = log.records();
    assert_eq!(stored.len(), 131);
    for (i, (offset, k, v)) in stored.iter().enumerate() {
        assert_eq!((*offset, k.as_str(), v), (i as i64, key(i).as_str(), &value(i, 100)));
    }
    // A consumer reads everything from the returned follower (KIP-392
    // v11+ consumer fetch) once its high watermark has caught up.
    let from_follower = poll_until("the returned follower serving every record", WAIT, || async {
        consumer_read_all(&c, stopped, topic, 131).await
    })
    .await;
    assert_eq!(from_follower, stored);
    let consumed = consume_all(&c, topic, 131);
    assert_eq!(consumed, stored);
}

// ---------------------------------------------------------------------------
// 2 and 9. Failover under an idempotent acks=all producer
// ---------------------------------------------------------------------------

/// Broker session used where a failover's speed matters (Kafka's default is
/// 9000 / 2000 ms): the controller fences a dead leader after this long.
const SESSION_MS: u64 = 3000;
const HEARTBEAT_MS: u64 = 500;

/// What one kill -9 of a leader under load gave.
#[derive(Debug)]
struct FailoverRun {
    audit: Audit,
    acked: usize,
    failed: usize,
    killed: i32,
    new_leader: i32,
    /// kill -9 -> the first acknowledgement of a record the new leader wrote.
    to_first_new_leader_ack: Duration,
    /// kill -9 -> the first acknowledgement of any record.
    to_first_ack: Duration,
}

/// Creates `topic` on `replicas` (the first leads; RF 3, min.insync 2),
/// runs an idempotent acks=all producer of `total` records (at most 200 in
/// flight), kill -9s the leader once `kill_after` are acknowledged, lets the
/// producer finish on the new leader, restarts the old one, waits until all
/// three replicas hold the same log, and audits what a consumer reads
/// against what was acknowledged.
async fn failover_run(c: &mut Cluster, topic: &str, replicas: &[i32], total: usize, kill_after: usize) -> FailoverRun {
    const VALUE_LEN: usize = 100;
    let leader = replicas[0];
    c.create_topic_assigned(replicas[1], topic, &[replicas], &[("min.insync.replicas", "2")]).await;
    let brokers = c.broker_ids();
    let before = wait_leader_isr(c, &brokers, topic, leader, replicas).await;
    let p = producer(
        c,
        &[
            ("acks", "all"),
            ("enable.idempotence", "true"),
            ("max.in.flight.requests.per.connection", "5"),
            ("linger.ms", "2"),
            ("batch.num.messages", "50"),
            ("message.timeout.ms", "120000"),
            ("retry.backoff.ms", "50"),
        ],
    );
    let acked_count = Arc::new(AtomicUsize::new(0));
    let producing = {
        let (p, topic, acked_count) = (p.clone(), topic.to_string(), acked_count.clone());
        tokio::spawn(async move {
            let mut results: Vec<(usize, Result<i64, RDKafkaErrorCode>, Instant)> = Vec::with_capacity(total);
            let mut in_flight = std::collections::VecDeque::new();
            for seq in 0..total {
                in_flight.push_back((seq, send(&p, &topic, seq, VALUE_LEN).await));
                if in_flight.len() >= 200 {
                    let (s, f) = in_flight.pop_front().unwrap();
                    let r = delivered(f).await;
                    results.push((s, r, Instant::now()));
                    acked_count.fetch_add(1, Ordering::Relaxed);
                }
            }
            while let Some((s, f)) = in_flight.pop_front() {
                let r = delivered(f).await;
                results.push((s, r, Instant::now()));
                acked_count.fetch_add(1, Ordering::Relaxed);
            }
            results
        })
    };
    let start = Instant::now();
    while acked_count.load(Ordering::Relaxed) < kill_after {
        assert!(
            start.elapsed() < WAIT,
            "only {} records acknowledged before the kill",
            acked_count.load(Ordering::Relaxed)
        );
        assert!(!producing.is_finished(), "the producer finished early");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let killed_at = Instant::now();
    c.kill9(leader);
    let results = tokio::time::timeout(Duration::from_secs(120), producing)
        .await
        .expect("the producer finished after the failover")
        .expect("producer task");
    let survivors: Vec<i32> = brokers.iter().copied().filter(|b| *b != leader).collect();
    let after = wait_partition(c, &survivors, topic, 0, "a new leader", |p| {
        p.leader >= 0 && p.leader != leader && p.leader_epoch > before.leader_epoch
    })
    .await;
    let new_leader = after.leader;

    let acked: BTreeMap<usize, i64> =
        results.iter().filter_map(|(s, r, _)| r.as_ref().ok().map(|o| (*s, *o))).collect();
    let failed = results.len() - acked.len();
    let log = read_log(c, new_leader, topic, 0).unwrap();
    let first_ack = results.iter().filter(|(_, r, at)| r.is_ok() && *at > killed_at).map(|(_, _, at)| *at).min();
    let first_new = results
        .iter()
        .filter(|(_, r, at)| {
            *at > killed_at && r.as_ref().ok().and_then(|o| log.epoch_of(*o)).is_some_and(|e| e > before.leader_epoch)
        })
        .map(|(_, _, at)| *at)
        .min();

    // The old leader returns as a follower; all three converge.
    c.restart(leader).await;
    wait_leader_isr(c, &brokers, topic, new_leader, replicas).await;
    let end = high_watermark(c, new_leader, topic).await.unwrap();
    wait_replicas_equal(c, replicas, topic, end).await;
    let consumed = consume_all(c, topic, end);
    assert_eq!(consumed.len() as i64, end);
    FailoverRun {
        audit: audit(&consumed, &acked, VALUE_LEN),
        acked: acked.len(),
        failed,
        killed: leader,
        new_leader,
        to_first_new_leader_ack: first_new.expect("a record acknowledged by the new leader") - killed_at,
        to_first_ack: first_ack.expect("a record acknowledged after the kill") - killed_at,
    }
}

/// kill -9 of the leader while an idempotent acks=all producer streams 5000
/// records (sequence numbers in keys and values): after the failover and
/// the old leader's return, a consumer reads every acknowledged record
/// exactly once, in order, at the offset it was acknowledged at (lost,
/// duplicated, reordered, offset-mismatched: all 0), nothing fails, and all
/// replicas hold the same bytes. Prints the time from kill -9 to the first
/// acknowledgement by the new leader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_kill9_under_an_idempotent_producer_loses_and_duplicates_nothing() {
    let mut c = Cluster::builder()
        .controllers(1)
        .brokers(3)
        .with("replica.lag.time.max.ms", "10000")
        .with("replica.fetch.backoff.ms", "200")
        .with("auto.leader.rebalance.enable", "false")
        .session(SESSION_MS, HEARTBEAT_MS)
        .start()
        .await;
    let run = failover_run(&mut c, "failover", &[2, 3, 4], 5000, 1500).await;
    eprintln!(
        "FAILOVER kill -9 of leader {} -> first acks=all acknowledgement written by the new leader {}: {:?} \
         (first acknowledgement of any record: {:?}); broker.session.timeout.ms={SESSION_MS}, \
         broker.heartbeat.interval.ms={HEARTBEAT_MS}; {} acknowledged, {} failed; {:?}",
        run.killed, run.new_leader, run.to_first_new_leader_ack, run.to_first_ack, run.acked, run.failed, run.audit
    );
    assert_clean(&run.audit, "after kill -9 of the leader");
    assert_eq!((run.acked, run.failed), (5000, 0), "every record is acknowledged (idempotent, long timeout)");
    assert_eq!(run.audit.unacknowledged_present, 0);
}

/// Medians over several kill -9 runs of [`failover_run`]; override the
/// count with WEIR_FIGURES_RUNS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "figures; run with --ignored --nocapture"]
async fn failover_figures() {
    let runs: usize = std::env::var("WEIR_FIGURES_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let mut c = Cluster::builder()
        .controllers(1)
        .brokers(3)
        .with("replica.lag.time.max.ms", "10000")
        .with("replica.fetch.backoff.ms", "200")
        .with("auto.leader.rebalance.enable", "false")
        .session(SESSION_MS, HEARTBEAT_MS)
        .start()
        .await;
    let mut new_leader_acks = Vec::new();
    let mut any_acks = Vec::new();
    for run in 0..runs {
        let replicas: Vec<i32> = (0..3).map(|i| 2 + ((run + i) % 3) as i32).collect();
        let r = failover_run(&mut c, &format!("figures-{run}"), &replicas, 3000, 1000).await;
        println!(
            "run {run}: leader {} killed, {} leads; first new-leader ack after {:?}, first ack after {:?}; {:?}",
            r.killed, r.new_leader, r.to_first_new_leader_ack, r.to_first_ack, r.audit
        );
        assert_clean(&r.audit, "figures run");
        new_leader_acks.push(r.to_first_new_leader_ack);
        any_acks.push(r.to_first_ack);
    }
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    println!(
        "FIGURES (median of {runs}; broker.session.timeout.ms={SESSION_MS}, broker.heartbeat.interval.ms={HEARTBEAT_MS}):\n  \
         kill -9 leader -> first acks=all ack written by the new leader: {:?} (all {new_leader_acks:?})\n  \
         kill -9 leader -> first ack of any record: {:?} (all {any_acks:?})",
        median(new_leader_acks.clone()),
        median(any_acks.clone())
    );
}

/// Kafka's idempotence across a leader change, made deterministic: with
/// one follower stopped (still in the ISR), an acks=all batch reaches the
/// leader and the other follower but is not committed, so the leader never
/// answers it; kill -9 of the leader. The producer retries the batch on the
/// new leader (the follower that holds it), which recognises it from the
/// replicated producer state and answers the original offset: the record
/// is stored once, and the producer's later sequence numbers are accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_batch_the_old_leader_never_answered_is_not_duplicated() {
    let mut c = Cluster::builder()
        .controllers(1)
        .brokers(3)
        // The stopped follower stays in the ISR (the record stays uncommitted).
        .with("replica.lag.time.max.ms", "30000")
        .with("replica.fetch.backoff.ms", "200")
        .with("auto.leader.rebalance.enable", "false")
        .session(SESSION_MS, HEARTBEAT_MS)
        .start()
        .await;
    let brokers = c.broker_ids();
    let (leader, next, slow) = (2, 3, 4);
    let topic = "retried";
    c.create_topic_assigned(leader, topic, &[&[leader, next, slow]], &[("min.insync.replicas", "2")]).await;
    wait_leader_isr(&c, &brokers, topic, leader, &brokers).await;
    let p = producer(
        &c,
        &[("acks", "all"), ("enable.idempotence", "true"), ("linger.ms", "0"), ("retry.backoff.ms", "50")],
    );
    assert_eq!(produce_all(&p, topic, 0..20, 100).await, (0..20).collect::<Vec<i64>>());

    c.pause(slow);
    let pending = tokio::spawn(delivered(send(&p, topic, 20, 100).await));
    wait_log_end(&c, leader, topic, 21).await;
    let on_next = wait_log_end(&c, next, topic, 21).await;
    let batch = on_next.batches.last().unwrap().clone();
    assert!(batch.producer_id >= 0 && batch.base_sequence == 20, "an idempotent batch: {batch:?}");
    assert!(!pending.is_finished(), "acks=all answered while an ISR member lacks the record");
    assert_eq!(high_watermark(&c, leader, topic).await.unwrap(), 20);

    c.kill9(leader);
    c.resume(slow);
    let survivors = [next, slow];
    wait_leader_isr(&c, &survivors, topic, next, &survivors).await;
    let offset = tokio::time::timeout(WAIT, pending)
        .await
        .expect("the retried batch is answered")
        .unwrap()
        .expect("the retried batch is acknowledged");
    assert_eq!(offset, 20, "the new leader answers the retried batch with its original offset");
    // Later sequence numbers continue on the new leader.
    assert_eq!(produce_all(&p, topic, 21..40, 100).await, (21..40).collect::<Vec<i64>>());

    let log = wait_replicas_equal(&c, &survivors, topic, 40).await;
    let copies: Vec<&StoredBatch> =
        log.batches.iter().filter(|b| b.producer_id == batch.producer_id && b.base_sequence == 20).collect();
    assert_eq!(copies, vec![&batch], "the retried batch is stored once, as the old leader wrote it");
    let acked: BTreeMap<usize, i64> = (0..40).map(|s| (s, s as i64)).collect();
    assert_clean(&audit(&log.records(), &acked, 100), "after the retried batch");

    c.restart(leader).await;
    wait_leader_isr(&c, &brokers, topic, next, &brokers).await;
    wait_replicas_equal(&c, &brokers, topic, 40).await;
}

/// Produce requests pipelined on one connection behind an acks=all
/// request that waits for its followers are appended at once, not after
/// that request is answered (the queueing behind each replication round
/// was issue 12's latency tail); their answers still come in request
/// order. Both followers stopped (in the ISR): request A (acks=all) cannot
/// be committed, yet request B (acks=1), sent after it on the same
/// connection, reaches the leader's log; neither is answered until the
/// followers return, then A (offset 0) and B (offset 1) in that order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_requests_pipelined_behind_a_waiting_acks_all_request_are_appended_at_once() {
    let mut c = Cluster::builder()
        .controllers(1)
        .brokers(3)
        // The stopped followers stay in the ISR: A stays uncommitted.
        .with("replica.lag.time.max.ms", "60000")
        .with("auto.leader.rebalance.enable", "false")
        .session(60_000, 1000)
        .start()
        .await;
    let brokers = c.broker_ids();
    let (leader, f1, f2) = (2, 3, 4);
    let topic = "pipelined-acks";
    c.create_topic_assigned(leader, topic, &[&[leader, f1, f2]], &[("min.insync.replicas", "2")]).await;
    wait_leader_isr(&c, &brokers, topic, leader, &brokers).await;

    c.pause(f1);
    c.pause(f2);
    let mut conn = weir::wire::client::BrokerClient::connect(&c.addr(leader), "pipelined").await.expect("connect");
    let a = conn.write_request(ApiKey::Produce, 9, &raw_produce(topic, -1, b"a")).await.expect("write A");
    let b = conn.write_request(ApiKey::Produce, 9, &raw_produce(topic, 1, b"b")).await.expect("write B");
    // B is in the leader's log while A still waits for the followers.
    wait_log_end(&c, leader, topic, 2).await;
    assert_eq!(high_watermark(&c, leader, topic).await.unwrap(), 0, "nothing is committed yet");

    c.resume(f1);
    c.resume(f2);
    for (corr, offset) in [(a, 0), (b, 1)] {
        let frame = tokio::time::timeout(WAIT, conn.read_frame())
            .await
            .expect("answered once the followers are back")
            .expect("read")
            .expect("the connection stays open");
        assert_eq!(i32::from_be_bytes(frame[..4].try_into().unwrap()), corr, "answers in request order");
        let r: ProduceResponse = weir::wire::client::decode_response(ApiKey::Produce, 9, frame).expect("decode");
        let p = &r.responses[0].partition_responses[0];
        assert_eq!((p.error_code, p.base_offset), (0, offset), "{p:?}");
    }
    wait_replicas_equal(&c, &brokers, topic, 2).await;
}

/// A Produce v9 request of one record to partition 0 of `topic`.
fn raw_produce(topic: &str, acks: i16, value: &[u8]) -> ProduceRequest {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use weir::record::records::{BatchBuilder, Record};
    let now = weir::util::clock::now_ms();
    let mut batch = BatchBuilder::new(0, now);
    batch.push(Record::new(None, Some(value.to_vec()), now));
    ProduceRequest::default().with_acks(acks).with_timeout_ms(120_000).with_topic_data(vec![TopicProduceData::default(
    )
    .with_name(TopicName(kafka_protocol::protocol::StrBytes::from_string(topic.into())))
    .with_partition_data(vec![PartitionProduceData::default().with_index(0).with_records(Some(batch.build()))])])
}

// ---------------------------------------------------------------------------
// 3. min.insync.replicas
// ---------------------------------------------------------------------------

/// A producer that reports the broker's first answer (no retries).
fn strict_producer(c: &Cluster, acks: &str) -> FutureProducer {
    producer(
        c,
        &[
            ("acks", acks),
            ("enable.idempotence", "false"),
            ("retries", "0"),
            ("linger.ms", "0"),
            ("request.timeout.ms", "15000"),
            ("message.timeout.ms", "30000"),
        ],
    )
}

/// RF 3 on [voter, broker, broker] with min.insync.replicas 2: kill -9 of
/// both broker-only replicas (the quorum stays up). A produce already
/// waiting when the ISR shrinks below 2 is not acknowledged; once the ISR
/// is the leader alone, acks=all is refused with NOT_ENOUGH_REPLICAS
/// before anything is appended while acks=1 is still accepted (and stays
/// uncommitted: the high watermark does not move under min ISR). With the
/// replicas back in the ISR acks=all works again, and a consumer finds
/// every acknowledged record at its offset (the refused one nowhere).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_insync_replicas_refuses_acks_all_but_not_acks_1() {
    let mut c = Cluster::builder()
        .voters(3)
        .brokers(2)
        .with("replica.lag.time.max.ms", "2000")
        .with("replica.fetch.backoff.ms", "200")
        .with("auto.leader.rebalance.enable", "false")
        .session(SESSION_MS, HEARTBEAT_MS)
        .start()
        .await;
    let all = c.ids();
    let voters = c.voter_ids();
    let (leader, b1, b2) = (1, 4, 5);
    let topic = "min-isr";
    c.create_topic_assigned(leader, topic, &[&[leader, b1, b2]], &[("min.insync.replicas", "2")]).await;
    wait_leader_isr(&c, &all, topic, leader, &[leader, b1, b2]).await;
    let idempotent = producer(&c, &[("acks", "all"), ("enable.idempotence", "true")]);
    let mut acked: BTreeMap<usize, i64> = BTreeMap::new();
    for (seq, offset) in (0..100).zip(produce_all(&idempotent, topic, 0..100, 100).await) {
        acked.insert(seq, offset);
    }

    c.kill9(b1);
    c.kill9(b2);
    let strict_all = strict_producer(&c, "all");
    // Appended, then the ISR shrinks below min.insync.replicas while it waits.
    let waiting = delivered(send(&strict_all, topic, 100, 100).await).await;
    let after_append = waiting.expect_err("acks=all acknowledged with the followers dead");
    assert!(
        matches!(after_append, RDKafkaErrorCode::NotEnoughReplicasAfterAppend | RDKafkaErrorCode::RequestTimedOut),
        "a waiting acks=all produce whose ISR shrank below min.insync.replicas: {after_append:?}"
    );
    eprintln!("acks=all waiting while the ISR shrank below min.insync.replicas: {after_append:?}");
    wait_leader_isr(&c, &voters, topic, leader, &[leader]).await;
    let end_before = read_log(&c, leader, topic, 0).unwrap().end_offset();
    assert_eq!(end_before, 101, "the record that waited was appended (Kafka answers after the append)");

    let refused = delivered(send(&strict_all, topic, 101, 100).await).await;
    assert_eq!(refused, Err(RDKafkaErrorCode::NotEnoughReplicas), "acks=all with ISR [leader] < min.insync.replicas 2");
    assert_eq!(read_log(&c, leader, topic, 0).unwrap().end_offset(), 101, "a refused acks=all record is not appended");

    let acks1 = strict_producer(&c, "1");
    for seq in 102..112 {
        let offset = delivered(send(&acks1, topic, seq, 100).await).await.expect("acks=1 works under min ISR");
        acked.insert(seq, offset);
    }
    assert_eq!(high_watermark(&c, leader, topic).await.unwrap(), 100, "under min ISR the high watermark stays");

    c.restart(b1).await;
    c.restart(b2).await;
    wait_leader_isr(&c, &all, topic, leader, &[leader, b1, b2]).await;
    for (seq, offset) in (112..130).zip(produce_all(&idempotent, topic, 112..130, 100).await) {
        acked.insert(seq, offset);
    }
    let end = high_watermark(&c, leader, topic).await.unwrap();
    assert_eq!(end, 129);
    wait_replicas_equal(&c, &[leader, b1, b2], topic, end).await;
    let consumed = consume_all(&c, topic, end);
    let a = audit(&consumed, &acked, 100);
    assert_clean(&a, "min.insync.replicas");
    assert_eq!(a.unacknowledged_present, 1, "only the record refused after its append is stored unacknowledged");
    assert!(consumed.iter().all(|r| seq_of(&r.1) != 101), "the refused record is nowhere");
}

/// Kafka uses min(min.insync.replicas, replicas) (`Partition.effectiveMinIsr`):
/// an RF 1 topic with min.insync.replicas 2 accepts acks=all and its high
/// watermark advances, so consumers see its records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_insync_replicas_above_the_replication_factor_counts_as_the_replication_factor() {
    let c = Cluster::builder().voters(1).start().await;
    let topic = "min-isr-above-rf";
    c.create_topic(1, topic, 1, 1, &[("min.insync.replicas", "2")]).await;
    wait_leader_isr(&c, &[1], topic, 1, &[1]).await;
    let acks1 = strict_producer(&c, "1");
    assert_eq!(delivered(send(&acks1, topic, 0, 10).await).await, Ok(0));
    let hw = poll_until("the high watermark of an RF 1 topic", Duration::from_secs(5), || async {
        match high_watermark(&c, 1, topic).await? {
            1 => Ok(1),
            hw => Err(format!("high watermark {hw}")),
        }
    })
    .await;
    assert_eq!(hw, 1);
    let acks_all = strict_producer(&c, "all");
    assert_eq!(delivered(send(&acks_all, topic, 1, 10).await).await, Ok(1), "acks=all with effective min ISR 1");
}

// ---------------------------------------------------------------------------
// 4. Divergence and truncation
// ---------------------------------------------------------------------------

/// The `to=` offsets of node `node`'s "truncating follower log" lines for
/// `topic`-0 (Weir's info log of `Partition::truncate_as_follower`).
fn truncations(c: &Cluster, node: i32, topic: &str) -> Vec<i64> {
    let needle = format!("partition={topic}-0");
    c.node(node)
        .output()
        .lines()
        .filter(|l| l.contains("truncating follower log") && l.contains(&needle))
        .filter_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix("to=")).and_then(|v| v.parse().ok()))
        .collect()
}

/// An old leader with records beyond the high watermark: with both
/// followers stopped (still in the ISR), the leader takes 50 acks=1
/// records (a stopped follower can only receive what answers the one fetch
/// it had outstanding, so at most the first of them). Then the leader is
/// stopped too (SIGSTOP, so it is fenced) and the followers resume: one of
/// them is elected from the ISR and takes acks=all writes at a new leader
/// epoch, starting at its log end X < 150. SIGCONT: the old leader
/// returns as a follower, is told where its epoch diverged and truncates to
/// exactly X, then fetches the new leader's records: its log equals the
/// new leader's byte for byte. The acks=1 records only the old leader held
/// are gone (Kafka allows it); every acks=all record is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returning_leader_truncates_to_the_divergence_point() {
    let mut c = Cluster::builder()
        .controllers(1)
        .brokers(3)
        // Stopped followers stay in the ISR (the leader's lag check would
        // otherwise commit the acks=1 records without them).
        .with("replica.lag.time.max.ms", "30000")
        // One batch per follower fetch (Kafka: at least one, else up to
        // this many bytes): the fetch a follower had outstanding when it was
        // stopped brings it at most the first acks=1 record, however late
        // the leader's answer is read (under load it could hold them all).
        .with("replica.fetch.max.bytes", "1")
        .with("replica.fetch.backoff.ms", "200")
        .with("auto.leader.rebalance.enable", "false")
        .session(SESSION_MS, HEARTBEAT_MS)
        .start()
        .await;
    let brokers = c.broker_ids();
    let (old, f1, f2) = (2, 3, 4);
    let topic = "divergence";
    c.create_topic_assigned(old, topic, &[&[old, f1, f2]], &[("min.insync.replicas", "2")]).await;
    let before = wait_leader_isr(&c, &brokers, topic, old, &brokers).await;
    let first = producer(&c, ACKS_ALL_IDEMPOTENT);
    let mut acked: BTreeMap<usize, i64> = (0..100).zip(produce_all(&first, topic, 0..100, 100).await).collect();
    wait_replicas_equal(&c, &brokers, topic, 100).await;

    // Records beyond the high watermark on the leader.
    c.pause(f1);
    c.pause(f2);
    let acks1 = strict_producer(&c, "1");
    for seq in 100..150 {
        let offset = delivered(send(&acks1, topic, seq, 100).await).await.expect("acks=1 on the leader alone");
        assert_eq!(offset, seq as i64);
    }
    assert_eq!(read_log(&c, old, topic, 0).unwrap().end_offset(), 150);
    assert_eq!(high_watermark(&c, old, topic).await.unwrap(), 100, "nothing past 100 is committed");
    let old_log = read_log(&c, old, topic, 0).unwrap();

    // The leader is cut off; a follower from the ISR takes over.
    c.pause(old);
    c.resume(f1);
    c.resume(f2);
    let followers = [f1, f2];
    let after = wait_partition(&c, &followers, topic, 0, "a new leader from the ISR", |p| {
        followers.contains(&p.leader) && p.leader_epoch > before.leader_epoch
    })
    .await;
    let new = after.leader;
    // Clients that knew the paused leader would wait for it until their
    // request timeout; a new producer asks the running brokers only.
    let second = producer_via(&c, &followers, ACKS_ALL_IDEMPOTENT);
    let new_offsets = produce_all(&second, topic, 150..220, 100).await;
    let new_log = read_log(&c, new, topic, 0).unwrap();
    let x = new_log.batches.iter().find(|b| b.leader_epoch > before.leader_epoch).expect("a new-epoch batch").base;
    assert!((100..150).contains(&x), "the new leader's epoch starts at {x}: no divergence to resolve");
    assert_eq!(new_offsets, (x..x + 70).collect::<Vec<i64>>());
    acked.extend((150..220).zip(new_offsets));
    let end = x + 70;
    wait_replicas_equal(&c, &followers, topic, end).await;

    // The old leader returns: it truncates to exactly x and catches up.
    assert_eq!(read_log(&c, old, topic, 0).unwrap().end_offset(), 150);
    c.resume(old);
    let log = wait_replicas_equal(&c, &brokers, topic, end).await;
    wait_leader_isr(&c, &brokers, topic, new, &brokers).await;
    let cuts = truncations(&c, old, topic);
    assert!(!cuts.is_empty() && cuts.iter().all(|t| *t == x), "the old leader's truncations: {cuts:?} (want [{x}])");
    let kept = old_log.batches.iter().take_while(|b| b.base < x).count();
    assert_eq!(&log.batches[..kept], &old_log.batches[..kept], "what precedes the divergence is untouched");
    let stored = log.records();
    let a = audit(&stored, &acked, 100);
    assert_clean(&a, "after the divergence");
    assert_eq!(a.unacknowledged_present as i64, x - 100, "acks=1 records the new leader had are kept");
    let seqs: Vec<usize> = stored.iter().map(|r| seq_of(&r.1)).collect();
    let want: Vec<usize> = (0..x as usize).chain(150..220).collect();
    assert_eq!(seqs, want, "the acks=1 records only the old leader held are gone");
    assert_eq!(consume_all(&c, topic, end), stored);
}

// ---------------------------------------------------------------------------
// 5. Catching up across segment rolls
// ---------------------------------------------------------------------------

/// kill -9 of a follower of an RF 3 topic with 1 MiB segments (Kafka's
/// smallest `segment.bytes`), then ~7 MiB of acks=all records (min.insync
/// 2: acknowledged by the leader and the other follower once the dead one
/// is fenced and leaves the ISR), so the leader rolls many segments. The
/// follower restarts, fetches its way across the leader's segment
/// boundaries, rejoins the ISR, and stores the same batches, byte for
/// byte, as the leader: every acknowledged record once, at its offset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_follower_catches_up_across_segment_rolls() {
    const VALUE_LEN: usize = 8192;
    const TOTAL: usize = 1000;
    let mut c = Cluster::builder()
        .controllers(1)
        .brokers(3)
        .with("replica.lag.time.max.ms", "10000")
        .with("replica.fetch.backoff.ms", "200")
        .with("auto.leader.rebalance.enable", "false")
        .session(SESSION_MS, HEARTBEAT_MS)
        .start()
        .await;
    let brokers = c.broker_ids();
    let (leader, follower, stopped) = (2, 3, 4);
    let topic = "segment-rolls";
    c.create_topic_assigned(
        leader,
        topic,
        &[&[leader, follower, stopped]],
        &[("min.insync.replicas", "2"), ("segment.bytes", "1048576")],
    )
    .await;
    wait_leader_isr(&c, &brokers, topic, leader, &brokers).await;
    // Batches of at most 16 records (128 KiB): several per segment.
    let p = producer(&c, &[("acks", "all"), ("enable.idempotence", "true"), ("batch.num.messages", "16")]);
    let mut acked: BTreeMap<usize, i64> = BTreeMap::new();
    acked.extend((0..100).zip(produce_all(&p, topic, 0..100, VALUE_LEN).await));
    let before = wait_replicas_equal(&c, &brokers, topic, 100).await;

    c.kill9(stopped);
    let offsets = produce_all(&p, topic, 100..TOTAL, VALUE_LEN).await;
    assert_eq!(offsets, (100..TOTAL as i64).collect::<Vec<i64>>());
    acked.extend((100..TOTAL).zip(offsets));
    let running = [leader, follower];
    wait_leader_isr(&c, &running, topic, leader, &running).await;
    let on_leader = wait_log_end(&c, leader, topic, TOTAL as i64).await;
    assert!(
        on_leader.segments >= 6,
        "the leader rolled {} segments for ~{} MiB (segment.bytes 1 MiB)",
        on_leader.segments,
        (TOTAL * VALUE_LEN) >> 20
    );
    let dead = read_log(&c, stopped, topic, 0).unwrap();
    assert_eq!((dead.end_offset(), dead.segments), (100, before.segments), "a dead follower's log does not move");

    c.restart(stopped).await;
    wait_leader_isr(&c, &brokers, topic, leader, &brokers).await;
    let log = wait_replicas_equal(&c, &brokers, topic, TOTAL as i64).await;
    // Segment boundaries are each replica's own (Kafka's too); the batches
    // are what must agree. (How the restarted follower rolls: see
    // `a_restarted_broker_applies_its_topics_configs`.)
    let caught_up = read_log(&c, stopped, topic, 0).unwrap();
    eprintln!(
        "segments: leader {}, follower {}, restarted follower {} (it had {} before its kill)",
        on_leader.segments,
        read_log(&c, follower, topic, 0).unwrap().segments,
        caught_up.segments,
        before.segments
    );
    assert_eq!(high_watermark(&c, leader, topic).await.unwrap(), TOTAL as i64);
    let a = audit(&log.records(), &acked, VALUE_LEN);
    assert_clean(&a, "after catching up across segment rolls");
    assert_eq!(a.unacknowledged_present, 0);
}

/// A broker applies its topics' configs to the logs it loads at start-up,
/// as it does to the logs it creates and on config changes (Kafka's
/// `LogManager` loads each log with its topic's config). RF 2 on [2, 3]
/// with 1 MiB segments and min.insync.replicas 2: node 2 is killed and
/// restarted (it returns as a follower), ElectLeaders makes it the leader
/// again. ~4 MiB of acks=all records roll several segments on it, as on
/// node 3; then node 3 is killed, and with the ISR [2] acks=all is refused
/// with NOT_ENOUGH_REPLICAS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_broker_applies_its_topics_configs() {
    let mut c = Cluster::builder()
        .controllers(1)
        .brokers(2)
        .with("replica.lag.time.max.ms", "10000")
        .with("replica.fetch.backoff.ms", "200")
        .with("auto.leader.rebalance.enable", "false")
        .session(SESSION_MS, HEARTBEAT_MS)
        .start()
        .await;
    let (restarted, other) = (2, 3);
    let pair = [restarted, other];
    let topic = "configs-after-restart";
    c.create_topic_assigned(other, topic, &[&pair], &[("segment.bytes", "1048576"), ("min.insync.replicas", "2")])
        .await;
    wait_leader_isr(&c, &pair, topic, restarted, &pair).await;
    c.kill9(restarted);
    wait_leader_isr(&c, &[other], topic, other, &[other]).await;
    c.restart(restarted).await;
    wait_leader_isr(&c, &pair, topic, other, &pair).await;
    assert_eq!(elect_preferred(&c, other, topic).await.unwrap(), (NONE, NONE));
    wait_leader_isr(&c, &pair, topic, restarted, &pair).await;

    let p = producer(&c, &[("acks", "all"), ("enable.idempotence", "true"), ("batch.num.messages", "16")]);
    assert_eq!(produce_all(&p, topic, 0..500, 8192).await, (0..500).collect::<Vec<i64>>());
    wait_replicas_equal(&c, &pair, topic, 500).await;
    let segments = |n: i32| read_log(&c, n, topic, 0).unwrap().segments;
    let (on_restarted, on_other) = (segments(restarted), segments(other));
    assert!(on_other >= 3, "the replica that never restarted rolls by segment.bytes: {on_other} segments");

    c.kill9(other);
    wait_leader_isr(&c, &[restarted], topic, restarted, &[restarted]).await;
    let alone = delivered(send(&strict_producer(&c, "all"), topic, 500, 100).await).await;
    assert_eq!(
        (on_restarted >= 3, alone),
        (true, Err(RDKafkaErrorCode::NotEnoughReplicas)),
        "on the restarted broker: {on_restarted} segments for ~4 MiB (segment.bytes 1 MiB; {on_other} on the other), \
         acks=all with ISR [{restarted}] and min.insync.replicas 2: {alone:?}"
    );
}

// ---------------------------------------------------------------------------
// 6. Unclean leader election, with data
// ---------------------------------------------------------------------------

/// Two RF 2 topics on [old, stale], identical but for
/// `unclean.leader.election.enable` (set to true on one with
/// IncrementalAlterConfigs). Both take 50 acks=all records; the follower
/// `stale` is killed (fenced, it leaves both ISRs), both take 50 more on
/// the leader alone (min.insync.replicas 1); then the leader is killed
/// too, and `stale` alone comes back. Broker 4, on neither topic, watches.
///
/// - Unclean election off: the partition stays leaderless (leader -1, ISR
///   empty, `old` eligible in the ELR and its last known leader) with
///   `stale` alive, and when `old` returns it leads with all 100 records;
///   `stale` catches up without truncating: nothing lost.
/// - Unclean election on: `stale` leads at a new epoch with its 50 records,
///   takes new writes after them, and that log is what consumers read; the
///   50 acknowledged records only `old` had are gone: when `old` returns it
///   truncates to exactly 50 and copies the new leader's log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unclean_leader_election_trades_acknowledged_records_for_availability_only_when_enabled() {
    let mut c = Cluster::builder()
        .controllers(1)
        .brokers(3)
        .with("replica.lag.time.max.ms", "10000")
        .with("replica.fetch.backoff.ms", "200")
        .with("auto.leader.rebalance.enable", "false")
        .session(SESSION_MS, HEARTBEAT_MS)
        .start()
        .await;
    let (old, stale, watcher) = (2, 3, 4);
    let pair = [old, stale];
    let (clean, unclean) = ("election-clean", "election-unclean");
    for t in [clean, unclean] {
        c.create_topic_assigned(old, t, &[&pair], &[]).await;
    }
    c.set_configs(old, RESOURCE_TOPIC, unclean, &[("unclean.leader.election.enable", "true")]).await;
    for id in c.broker_ids() {
        poll_until(&format!("node {id} describing {unclean} with unclean election on"), WAIT, || async {
            let configs = c.describe_configs(id, RESOURCE_TOPIC, unclean).await?;
            match configs.iter().find(|(k, _, _)| k == "unclean.leader.election.enable") {
                Some((_, Some(v), src)) if v == "true" && *src == DYNAMIC_TOPIC_CONFIG => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    }
    let mut first = BTreeMap::new();
    for t in [clean, unclean] {
        first.insert(t, wait_leader_isr(&c, &c.broker_ids(), t, old, &pair).await);
    }
    let p = producer(&c, ACKS_ALL_IDEMPOTENT);
    for t in [clean, unclean] {
        assert_eq!(produce_all(&p, t, 0..50, 100).await, (0..50).collect::<Vec<i64>>());
        wait_replicas_equal(&c, &pair, t, 50).await;
    }

    // The follower dies: fenced, it leaves the ISRs; the leader takes more.
    c.kill9(stale);
    for t in [clean, unclean] {
        wait_leader_isr(&c, &[old, watcher], t, old, &[old]).await;
        assert_eq!(produce_all(&p, t, 50..100, 100).await, (50..100).collect::<Vec<i64>>());
        assert_eq!(high_watermark(&c, old, t).await.unwrap(), 100);
    }
    drop(p);
    let old_clean = read_log(&c, old, clean, 0).unwrap();
    assert_eq!(old_clean.end_offset(), 100);

    // The leader dies too: no live replica, no leader.
    c.kill9(old);
    for t in [clean, unclean] {
        let v = wait_partition(&c, &[watcher], t, 0, "leaderless", |p| p.leader == -1).await;
        assert_eq!(v.isr, Vec::<i32>::new(), "with ELR the ISR empties: {v:?}");
        let e = describe_partition(&c, watcher, t, 0).await.unwrap();
        assert_eq!((e.elr.clone(), e.last_known_elr.clone()), (vec![old], vec![old]), "{e:?}");
    }

    // The stale follower returns. Its unfencing elects it where allowed.
    c.restart(stale).await;
    let via = [watcher, stale];
    let u = wait_partition(&c, &via, unclean, 0, "the stale replica elected uncleanly", |p| p.leader == stale).await;
    assert_eq!((u.isr.clone(), u.error), (vec![stale], NONE), "{u:?}");
    assert!(u.leader_epoch > first[unclean].leader_epoch, "a new leader epoch: {u:?}");
    for id in via {
        let m = c.metadata(id, Some(&[clean])).await.unwrap();
        let cl = PartitionView::from(partition_of(&m, clean, 0).unwrap());
        assert_eq!(
            (cl.leader, cl.error, cl.isr.clone()),
            (-1, E::LeaderNotAvailable.code(), vec![]),
            "node {id}: with unclean election off, a live replica outside the ISR is not elected: {cl:?}"
        );
    }
    assert_eq!(read_log(&c, stale, clean, 0).unwrap().end_offset(), 50);

    // The unclean leader's log, from 50 on at its new epoch, is what
    // consumers see.
    let p = producer_via(&c, &via, ACKS_ALL_IDEMPOTENT);
    assert_eq!(produce_all(&p, unclean, 100..130, 100).await, (50..80).collect::<Vec<i64>>());
    let new_log = wait_log_end(&c, stale, unclean, 80).await;
    assert_eq!(new_log.epoch_of(49), first[unclean].leader_epoch.into());
    assert_eq!(new_log.epoch_of(50), Some(u.leader_epoch));
    let seqs = |records: &[(i64, String, Vec<u8>)]| records.iter().map(|r| seq_of(&r.1)).collect::<Vec<usize>>();
    let want: Vec<usize> = (0..50).chain(100..130).collect();
    let consumed = consume_all_via(&c, &via, unclean, 80);
    assert_eq!(consumed, new_log.records());
    assert_eq!(seqs(&consumed), want, "records 50..100 were acknowledged by the old leader alone: lost");

    // The old leader returns.
    c.restart(old).await;
    // Clean: it leads again with every record; the stale replica catches up.
    let cl = wait_leader_isr(&c, &[old, stale, watcher], clean, old, &pair).await;
    assert!(cl.leader_epoch > first[clean].leader_epoch, "{cl:?}");
    let log = wait_replicas_equal(&c, &pair, clean, 100).await;
    assert_same_log(&log, &old_clean, "the clean topic's log after the old leader's return");
    assert!(
        truncations(&c, stale, clean).is_empty(),
        "a stale prefix is not truncated: {:?}",
        truncations(&c, stale, clean)
    );
    let acked: BTreeMap<usize, i64> = (0..100).map(|s| (s, s as i64)).collect();
    let a = audit(&consume_all(&c, clean, 100), &acked, 100);
    assert_clean(&a, "unclean election off");
    // Unclean: the old leader follows, truncating what the new leader lacks.
    wait_leader_isr(&c, &[old, stale, watcher], unclean, stale, &pair).await;
    let log = wait_replicas_equal(&c, &[stale, old], unclean, 80).await;
    assert_same_log(&log, &new_log, "the unclean topic's log after the old leader's return");
    let cuts = truncations(&c, old, unclean);
    assert_eq!(cuts, vec![50], "the old leader truncates to the unclean leader's epoch start");
    assert_eq!(seqs(&consume_all(&c, unclean, 80)), want);
}

// ---------------------------------------------------------------------------
// 6b. Eligible Leader Replicas: the last replica standing
// ---------------------------------------------------------------------------

/// KIP-966's "last replica standing", on a new cluster (ELR on) with
/// `min.insync.replicas` 2 and RF 3 on [2, 3, 4] led by 2, broker 5
/// watching, unclean election off. acks=all records are acknowledged
/// throughout; the ISR members are killed (-9) one by one, the leader last,
/// and restarted in the worst order: first the stale replica (which missed
/// records), then the ELR member (which crashed, so it is no longer
/// eligible), then the last leader. At each step DescribeTopicPartitions
/// reports the ISR, ELR and last-known ELR that Kafka's
/// `PartitionChangeBuilder` gives for the same events:
///
/// | event | leader | ISR | ELR | last-known ELR |
/// |---|---|---|---|---|
/// | start | 2 | 2,3,4 | - | - |
/// | kill 4 | 2 | 2,3 | - | - |
/// | kill 3 | 2 | 2 | 3 | - |
/// | kill 2 | -1 | - | 2,3 | 2 |
/// | restart 4 (stale) | -1 | - | 2,3 | 2 |
/// | restart 3 (crashed) | -1 | - | 2 | 2 |
/// | restart 2 (crashed) | 2 | 2 | - | - |
///
/// No other replica is ever elected, no unclean election is logged, and
/// every acknowledged record is still there, at its offset, on all three
/// replicas at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_replica_standing_loses_nothing_and_returns_without_unclean_election() {
    let mut c = Cluster::builder()
        .controllers(1)
        .brokers(4)
        .with("min.insync.replicas", "2")
        .with("replica.lag.time.max.ms", "10000")
        .with("replica.fetch.backoff.ms", "200")
        .with("auto.leader.rebalance.enable", "false")
        .session(SESSION_MS, HEARTBEAT_MS)
        .start()
        .await;
    let (last, middle, first, watcher) = (2, 3, 4, 5);
    let topic = "last-standing";
    // Kafka 4.1 reports the cluster-level min.insync.replicas it recorded
    // when ELR was enabled.
    let cluster_configs = c.describe_configs(watcher, RESOURCE_BROKER, "").await.unwrap();
    let min_isr = cluster_configs.iter().find(|(k, _, _)| k == "min.insync.replicas").cloned();
    assert_eq!(
        min_isr,
        Some(("min.insync.replicas".to_string(), Some("2".to_string()), DYNAMIC_DEFAULT_BROKER_CONFIG)),
        "the cluster-level min.insync.replicas"
    );
    c.create_topic_assigned(last, topic, &[&[last, middle, first]], &[]).await;
    let start = wait_leader_isr(&c, &[last, middle, first, watcher], topic, last, &[last, middle, first]).await;
    let elr = |e: &ElrView| (e.leader, sorted(e.isr.clone()), e.elr.clone(), e.last_known_elr.clone());
    let v = describe_partition(&c, watcher, topic, 0).await.unwrap();
    assert_eq!(elr(&v), (last, vec![2, 3, 4], vec![], vec![]));

    let p = producer(&c, ACKS_ALL_IDEMPOTENT);
    let mut acked: BTreeMap<usize, i64> = BTreeMap::new();
    acked.extend((0..100).zip(produce_all(&p, topic, 0..100, 100).await));

    // 4 dies: the ISR keeps min ISR, nobody is eligible outside it.
    c.kill9(first);
    let v = wait_elr(&c, watcher, topic, "4 out of the ISR", |v| !v.isr.contains(&first)).await;
    assert_eq!(elr(&v), (last, vec![2, 3], vec![], vec![]));
    acked.extend((100..200).zip(produce_all(&p, topic, 100..200, 100).await));
    drop(p);
    assert_eq!(acked.len(), 200);

    // 3 dies: the ISR falls below min ISR, so 3, which holds every
    // committed record, becomes eligible; acks=all is refused.
    c.kill9(middle);
    let v = wait_elr(&c, watcher, topic, "3 out of the ISR", |v| !v.isr.contains(&middle)).await;
    assert_eq!(elr(&v), (last, vec![2], vec![3], vec![]));
    let strict = producer(
        &c,
        &[("acks", "all"), ("enable.idempotence", "false"), ("retries", "0"), ("message.timeout.ms", "30000")],
    );
    let refused = delivered(send(&strict, topic, 200, 100).await).await;
    assert_eq!(refused, Err(RDKafkaErrorCode::NotEnoughReplicas), "acks=all with ISR [2] under min ISR 2");
    drop(strict);
    assert_eq!(high_watermark(&c, last, topic).await.unwrap(), 200);

    // The leader dies: no leader; 2 and 3 are eligible, 2 led last.
    c.kill9(last);
    let v = wait_elr(&c, watcher, topic, "leaderless", |v| v.leader == -1).await;
    assert_eq!(elr(&v), (-1, vec![], vec![2, 3], vec![2]));

    // The stale replica returns first. Its unfencing and any election it
    // allows are one metadata batch: once the watcher lists it as a live
    // broker, the partition's state is final for this step.
    c.restart(first).await;
    c.wait_brokers(&[watcher], &[first, watcher], WAIT).await;
    let v = describe_partition(&c, watcher, topic, 0).await.unwrap();
    assert_eq!(elr(&v), (-1, vec![], vec![2, 3], vec![2]), "the stale replica must not lead");

    // 3 returns after a crash: it may have lost what it acknowledged, so
    // it leaves the ELR (and may not lead).
    c.restart(middle).await;
    c.wait_brokers(&[watcher], &[middle, first, watcher], WAIT).await;
    let v = describe_partition(&c, watcher, topic, 0).await.unwrap();
    assert_eq!(elr(&v), (-1, vec![], vec![2], vec![2]), "a crashed ELR member is no longer eligible");

    // The last leader returns: it leaves the ELR too (it crashed), but as
    // the last known leader it is elected, with a new leader epoch.
    c.restart(last).await;
    let v = wait_elr(&c, watcher, topic, "2 leads again", |v| v.leader == last).await;
    assert_eq!((v.leader, v.elr.clone(), v.last_known_elr.clone()), (last, vec![], vec![]), "{v:?}");
    assert!(v.leader_epoch > start.leader_epoch, "a new leader epoch: {start:?} -> {v:?}");
    // The followers catch up and rejoin: the ISR is back at min ISR and more.
    wait_leader_isr(&c, &[last, middle, first, watcher], topic, last, &[last, middle, first]).await;
    let v = describe_partition(&c, watcher, topic, 0).await.unwrap();
    assert_eq!(elr(&v), (last, vec![2, 3, 4], vec![], vec![]));

    // acks=all works again; every acknowledged record is on every replica.
    let p = producer(&c, ACKS_ALL_IDEMPOTENT);
    acked.extend((200..250).zip(produce_all(&p, topic, 200..250, 100).await));
    let log = wait_replicas_equal(&c, &[last, middle, first], topic, 250).await;
    let a = audit(&log.records(), &acked, 100);
    assert_clean(&a, "replica log after the last replica standing");
    let a = audit(&consume_all(&c, topic, 250), &acked, 100);
    assert_clean(&a, "consumed after the last replica standing");
    assert_eq!(a.unacknowledged_present, 0, "the refused record is nowhere");
    // Elected only from the ISR, the ELR and the last known leader.
    let controller_log = c.node(1).output();
    assert!(controller_log.contains("electing the last known leader"), "the controller elected the last known leader");
    assert!(!controller_log.contains("unclean leader election"), "an unclean election happened");
    for n in [middle, first] {
        assert!(
            truncations(&c, n, topic).iter().all(|to| *to >= 200),
            "node {n} truncated acknowledged records: {:?}",
            truncations(&c, n, topic)
        );
    }
}

/// The clean-stop side of the same rules: an ELR member stopped with
/// SIGTERM (a controlled shutdown, which records its broker epoch in the
/// clean-shutdown marker) stays eligible, so when the leader has crashed it
/// is elected from the ELR as soon as it is back, before the last leader
/// returns, and no acknowledged record is lost.
///
/// | event | leader | ISR | ELR | last-known ELR |
/// |---|---|---|---|---|
/// | kill 4 | 2 | 2,3 | - | - |
/// | SIGTERM 3 | 2 | 2 | 3 | - |
/// | kill 2 | -1 | - | 2,3 | 2 |
/// | restart 3 (clean) | 3 | 3 | 2 | - |
/// | restart 4, caught up | 3 | 3,4 | - | - |
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cleanly_stopped_elr_member_leads_when_the_leader_has_crashed() {
    let mut c = Cluster::builder()
        .controllers(1)
        .brokers(4)
        .with("min.insync.replicas", "2")
        .with("replica.lag.time.max.ms", "10000")
        .with("replica.fetch.backoff.ms", "200")
        .with("auto.leader.rebalance.enable", "false")
        .session(SESSION_MS, HEARTBEAT_MS)
        .start()
        .await;
    let (leader, clean, stale, watcher) = (2, 3, 4, 5);
    let topic = "clean-elr";
    c.create_topic_assigned(leader, topic, &[&[leader, clean, stale]], &[]).await;
    wait_leader_isr(&c, &[leader, clean, stale, watcher], topic, leader, &[leader, clean, stale]).await;
    let elr = |e: &ElrView| (e.leader, sorted(e.isr.clone()), e.elr.clone(), e.last_known_elr.clone());
    let p = producer(&c, ACKS_ALL_IDEMPOTENT);
    let mut acked: BTreeMap<usize, i64> = BTreeMap::new();
    acked.extend((0..100).zip(produce_all(&p, topic, 0..100, 100).await));
    c.kill9(stale);
    wait_elr(&c, watcher, topic, "4 out of the ISR", |v| !v.isr.contains(&stale)).await;
    acked.extend((100..200).zip(produce_all(&p, topic, 100..200, 100).await));
    drop(p);

    c.terminate(clean).await;
    let v = wait_elr(&c, watcher, topic, "3 out of the ISR", |v| !v.isr.contains(&clean)).await;
    assert_eq!(elr(&v), (leader, vec![2], vec![3], vec![]));
    c.kill9(leader);
    let v = wait_elr(&c, watcher, topic, "leaderless", |v| v.leader == -1).await;
    assert_eq!(elr(&v), (-1, vec![], vec![2, 3], vec![2]));

    c.restart(clean).await;
    let v = wait_elr(&c, watcher, topic, "3 elected from the ELR", |v| v.leader == clean).await;
    assert_eq!(elr(&v), (clean, vec![3], vec![2], vec![]));
    c.restart(stale).await;
    wait_leader_isr(&c, &[clean, stale, watcher], topic, clean, &[clean, stale]).await;
    let v = describe_partition(&c, watcher, topic, 0).await.unwrap();
    assert_eq!(elr(&v), (clean, vec![3, 4], vec![], vec![]), "back at min ISR: no ELR");

    let p = producer_via(&c, &[clean, stale, watcher], ACKS_ALL_IDEMPOTENT);
    acked.extend((200..250).zip(produce_all(&p, topic, 200..250, 100).await));
    c.restart(leader).await;
    let log = wait_replicas_equal(&c, &[clean, stale, leader], topic, 250).await;
    assert_clean(&audit(&log.records(), &acked, 100), "after the ELR member's election");
    assert_clean(&audit(&consume_all(&c, topic, 250), &acked, 100), "consumed after the ELR member's election");
    assert!(!c.node(1).output().contains("unclean leader election"), "an unclean election happened");
}

// ---------------------------------------------------------------------------
// 7. Preferred leaders come back
// ---------------------------------------------------------------------------

/// An idempotent acks=all producer sending one record after another (a few
/// ms apart, at most 50 unanswered) until stopped.
struct BackgroundProducer {
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<Vec<(usize, Result<i64, RDKafkaErrorCode>)>>,
}

impl BackgroundProducer {
    fn start(p: FutureProducer, topic: &str, value_len: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let task = {
            let (stop, acked, failed, topic) = (stop.clone(), acked.clone(), failed.clone(), topic.to_string());
            tokio::spawn(async move {
                let mut results = Vec::new();
                let mut in_flight = VecDeque::new();
                let count = |seq: usize, r: Result<i64, RDKafkaErrorCode>, results: &mut Vec<_>| {
                    let counter = if r.is_ok() { &acked } else { &failed };
                    counter.fetch_add(1, Ordering::Relaxed);
                    results.push((seq, r));
                };
                let mut seq = 0;
                while !stop.load(Ordering::Relaxed) {
                    in_flight.push_back((seq, send(&p, &topic, seq, value_len).await));
                    seq += 1;
                    if in_flight.len() >= 50 {
                        let (s, f) = in_flight.pop_front().unwrap();
                        let r = delivered(f).await;
                        count(s, r, &mut results);
                    }
                    // Pacing, not a wait for a condition.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                while let Some((s, f)) = in_flight.pop_front() {
                    let r = delivered(f).await;
                    count(s, r, &mut results);
                }
                results
            })
        };
        BackgroundProducer { stop, acked, failed, task }
    }

    fn acked(&self) -> usize {
        self.acked.load(Ordering::Relaxed)
    }

    /// Waits until `more` records beyond those acknowledged now are acknowledged.
    async fn wait_more(&self, more: usize, what: &str) {
        let want = self.acked() + more;
        poll_until(&format!("{want} records acknowledged ({what})"), WAIT * 2, || async {
            let failed = self.failed.load(Ordering::Relaxed);
            assert_eq!(failed, 0, "{failed} records failed ({what})");
            match self.acked() {
                n if n >= want => Ok(()),
                n => Err(format!("{n} acknowledged")),
            }
        })
        .await
    }

    /// Stops; returns sequence number -> offset, every record acknowledged.
    async fn finish(self) -> BTreeMap<usize, i64> {
        self.stop.store(true, Ordering::Relaxed);
        let results = tokio::time::timeout(Duration::from_secs(120), self.task)
            .await
            .expect("the producer finished")
            .expect("producer task");
        let failed: Vec<_> = results.iter().filter(|(_, r)| r.is_err()).collect();
        assert!(
            failed.is_empty(),
            "{} of {} records failed: {:?}",
            failed.len(),
            results.len(),
            &failed[..5.min(failed.len())]
        );
        results.into_iter().map(|(s, r)| (s, r.unwrap())).collect()
    }
}

/// ElectLeaders v2, PREFERRED (election type 0), for partition 0 of
/// `topic`, sent to `node`: (top-level error, the partition's error).
async fn elect_preferred(c: &Cluster, node: i32, topic: &str) -> Result<(i16, i16), String> {
    let req = ElectLeadersRequest::default()
        .with_election_type(0)
        .with_topic_partitions(Some(vec![TopicPartitions::default()
            .with_topic(topic_name(topic))
            .with_partitions(vec![0])]))
        .with_timeout_ms(30_000);
    let resp: ElectLeadersResponse = c.request(node, ApiKey::ElectLeaders, 2, &req).await?;
    let p = resp
        .replica_election_results
        .iter()
        .filter(|r| &*r.topic.0 == topic)
        .flat_map(|r| r.partition_result.iter())
        .find(|p| p.partition_id == 0)
        .ok_or_else(|| format!("ElectLeaders: no result for {topic}-0: {resp:?}"))?;
    Ok((resp.error_code, p.error_code))
}

/// The part both preferred-leader tests share: an RF 3 topic led by its
/// preferred replica 2 under a background producer; kill -9 of 2, a new
/// leader from the ISR takes the records, 2 restarts. Returns the
/// producer and the partition as the new leader took over.
async fn kill_and_restart_the_preferred_leader(c: &mut Cluster, topic: &str) -> (BackgroundProducer, PartitionView) {
    let brokers = c.broker_ids();
    let preferred = 2;
    c.create_topic_assigned(3, topic, &[&[preferred, 3, 4]], &[("min.insync.replicas", "2")]).await;
    let before = wait_leader_isr(c, &brokers, topic, preferred, &brokers).await;
    let bp = BackgroundProducer::start(
        producer(c, &[("acks", "all"), ("enable.idempotence", "true"), ("retry.backoff.ms", "50")]),
        topic,
        100,
    );
    bp.wait_more(100, "before the kill").await;
    c.kill9(preferred);
    let survivors = [3, 4];
    let after = wait_partition(c, &survivors, topic, 0, "a new leader from the ISR", |p| {
        survivors.contains(&p.leader) && p.leader_epoch > before.leader_epoch && sorted(p.isr.clone()) == survivors
    })
    .await;
    bp.wait_more(100, "on the new leader").await;
    (bp, after)
}

/// Stops the producer; all three replicas converge and a consumer reads
/// every acknowledged record once, in order, at its offset.
async fn all_acknowledged_records_are_consumable(c: &Cluster, topic: &str, leader: i32, bp: BackgroundProducer) {
    let acked = bp.finish().await;
    let end = high_watermark(c, leader, topic).await.unwrap();
    assert_eq!(end, acked.len() as i64, "every record acknowledged once: {} acknowledged, end {end}", acked.len());
    wait_replicas_equal(c, &c.broker_ids(), topic, end).await;
    let a = audit(&consume_all(c, topic, end), &acked, 100);
    assert_clean(&a, "records produced throughout the leader changes");
    assert_eq!(a.unacknowledged_present, 0);
    eprintln!("{} records produced throughout, all consumed", acked.len());
}

/// With `auto.leader.rebalance.enable=false`, leadership stays where the
/// failover put it after the preferred replica returns, until an
/// ElectLeaders PREFERRED: refused (PREFERRED_LEADER_NOT_AVAILABLE) while
/// the preferred replica is dead, accepted once it is back in the ISR,
/// which moves leadership to it at a new leader epoch, then
/// ELECTION_NOT_NEEDED. An idempotent producer runs throughout: every
/// record acknowledged, all consumable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elect_leaders_returns_leadership_to_the_preferred_replica() {
    let mut c = Cluster::builder()
        .controllers(1)
        .brokers(3)
        .with("replica.lag.time.max.ms", "10000")
        .with("replica.fetch.backoff.ms", "200")
        .with("auto.leader.rebalance.enable", "false")
        .session(SESSION_MS, HEARTBEAT_MS)
        .start()
        .await;
    let brokers = c.broker_ids();
    let topic = "elect-preferred";
    let (bp, after) = kill_and_restart_the_preferred_leader(&mut c, topic).await;
    let interim = after.leader;
    assert_eq!(
        elect_preferred(&c, interim, topic).await.unwrap(),
        (NONE, E::PreferredLeaderNotAvailable.code()),
        "ElectLeaders while the preferred replica is dead"
    );

    c.restart(2).await;
    // Back in the ISR; nothing moves leadership without a request.
    let rejoined = wait_leader_isr(&c, &brokers, topic, interim, &brokers).await;
    assert_eq!(rejoined.leader_epoch, after.leader_epoch, "{after:?} -> {rejoined:?}");
    bp.wait_more(100, "with the preferred replica back as a follower").await;
    assert_eq!(elect_preferred(&c, 4, topic).await.unwrap(), (NONE, NONE), "ElectLeaders PREFERRED");
    let back = wait_leader_isr(&c, &brokers, topic, 2, &brokers).await;
    assert!(back.leader_epoch > after.leader_epoch, "{after:?} -> {back:?}");
    assert_eq!(
        elect_preferred(&c, 3, topic).await.unwrap(),
        (NONE, E::ElectionNotNeeded.code()),
        "a second ElectLeaders"
    );
    bp.wait_more(100, "on the preferred leader again").await;
    all_acknowledged_records_are_consumable(&c, topic, 2, bp).await;
}

/// `auto.leader.rebalance.enable` with `leader.imbalance.check.interval.seconds=1`:
/// once the preferred replica is back in the ISR, the controller moves
/// leadership back to it within seconds, under a running producer whose
/// records are all acknowledged and consumable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_leader_rebalance_returns_leadership_to_the_preferred_replica() {
    let mut c = Cluster::builder()
        .controllers(1)
        .brokers(3)
        .with("replica.lag.time.max.ms", "10000")
        .with("replica.fetch.backoff.ms", "200")
        .with("auto.leader.rebalance.enable", "true")
        .with("leader.imbalance.check.interval.seconds", "1")
        .session(SESSION_MS, HEARTBEAT_MS)
        .start()
        .await;
    let brokers = c.broker_ids();
    let topic = "auto-rebalance";
    let (bp, after) = kill_and_restart_the_preferred_leader(&mut c, topic).await;
    let restarted = Instant::now();
    c.restart(2).await;
    let back = wait_leader_isr(&c, &brokers, topic, 2, &brokers).await;
    assert!(back.leader_epoch > after.leader_epoch, "{after:?} -> {back:?}");
    eprintln!("preferred leader back {:?} after its restart began", restarted.elapsed());
    bp.wait_more(100, "on the preferred leader again").await;
    all_acknowledged_records_are_consumable(&c, topic, 2, bp).await;
}

// ---------------------------------------------------------------------------
// 8. Fetching from followers (KIP-392)
// ---------------------------------------------------------------------------

const RACK_AWARE_SELECTOR: &str = "org.apache.kafka.common.replica.RackAwareReplicaSelector";

/// Polls `consumer` (which drives its statistics callback) until its
/// statistics say partition 0 of `topic` is fetched from `broker`.
fn wait_fetching_from(
    consumer: &BaseConsumer<StatsContext>,
    ctx: &StatsContext,
    topic: &str,
    broker: i32,
) -> (i32, i32) {
    let start = Instant::now();
    let mut last = None;
    loop {
        if let Some(s) = ctx.0.lock().unwrap().as_ref() {
            if let Some(p) = s.topics.get(topic).and_then(|t| t.partitions.get(&0)) {
                last = Some((p.broker, p.leader));
                if p.broker == broker {
                    return (p.broker, p.leader);
                }
            }
        }
        assert!(
            start.elapsed() < WAIT,
            "the consumer never fetched {topic}-0 from {broker}: (broker, leader) {last:?}"
        );
        assert!(consumer.poll(Duration::from_millis(100)).is_none(), "no more records expected");
    }
}

/// Brokers 2, 3, 4 in racks a, b, c with Kafka's rack-aware replica
/// selector; an RF 3 topic led by 2. The leader's answer to a consumer
/// Fetch names the ISR follower in the consumer's rack as
/// preferred_read_replica (no records); in the leader's rack, an unknown
/// rack or none, it serves the records itself. A follower serves a v11+
/// consumer Fetch up to its high watermark only (records it holds beyond
/// it stay invisible), and refuses older versions. An rdkafka consumer
/// with `client.rack` = b reads every record while fetching from 3; one
/// without a rack fetches from the leader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_fetch_from_a_follower_in_their_rack() {
    let mut c = Cluster::builder()
        .controllers(1)
        .brokers(3)
        .rack(2, "rack-a")
        .rack(3, "rack-b")
        .rack(4, "rack-c")
        .with("replica.selector.class", RACK_AWARE_SELECTOR)
        // A stopped follower stays in the ISR, holding the high watermark.
        .with("replica.lag.time.max.ms", "30000")
        .with("replica.fetch.backoff.ms", "200")
        .with("auto.leader.rebalance.enable", "false")
        .session(30_000, 1000)
        .start()
        .await;
    let brokers = c.broker_ids();
    let (leader, in_b, in_c) = (2, 3, 4);
    let topic = "follower-fetching";
    c.create_topic_assigned(leader, topic, &[&[leader, in_b, in_c]], &[]).await;
    wait_leader_isr(&c, &brokers, topic, leader, &brokers).await;
    let p = producer(&c, ACKS_ALL_IDEMPOTENT);
    assert_eq!(produce_all(&p, topic, 0..100, 100).await, (0..100).collect::<Vec<i64>>());
    let stored = wait_replicas_equal(&c, &brokers, topic, 100).await.records();

    // The leader points consumers at a replica in their rack.
    for (rack, want) in [("rack-b", in_b), ("rack-c", in_c)] {
        let f = consumer_fetch(&c, leader, topic, 0, rack).await.unwrap();
        assert_eq!((f.error, f.preferred_read_replica, f.high_watermark), (NONE, want, 100), "{rack}: {f:?}");
        assert!(f.records.is_empty(), "{rack}: a redirected fetch carries no records: {f:?}");
    }
    for rack in ["rack-a", "rack-x", ""] {
        let f = consumer_fetch(&c, leader, topic, 0, rack).await.unwrap();
        assert_eq!((f.error, f.preferred_read_replica), (NONE, -1), "{rack:?}: the leader serves: {f:?}");
        assert_eq!(f.records, stored, "{rack:?}");
    }

    // Follower 3 holds records past the high watermark: 4 is stopped (in
    // the ISR still), the leader takes acks=1 records.
    c.pause(in_c);
    let acks1 = strict_producer(&c, "1");
    for seq in 100..120 {
        assert_eq!(delivered(send(&acks1, topic, seq, 100).await).await, Ok(seq as i64));
    }
    let ahead = wait_log_end(&c, in_b, topic, 120).await;
    assert_eq!(high_watermark(&c, leader, topic).await.unwrap(), 100);
    let f = consumer_fetch(&c, leader, topic, 100, "rack-b").await.unwrap();
    assert_eq!(f.preferred_read_replica, in_b, "3 holds offset 100: {f:?}");
    let f = consumer_fetch(&c, in_b, topic, 0, "rack-b").await.unwrap();
    assert_eq!((f.error, f.high_watermark, f.preferred_read_replica), (NONE, 100, -1), "{f:?}");
    assert_eq!(f.records, stored, "the follower serves up to its high watermark only");
    let f = consumer_fetch(&c, in_b, topic, 100, "rack-b").await.unwrap();
    assert_eq!((f.error, f.high_watermark), (NONE, 100), "{f:?}");
    assert!(f.records.is_empty(), "records past the high watermark served by a follower: {f:?}");
    let f = consumer_fetch_v(&c, in_b, topic, 0, "", 10).await.unwrap();
    assert_eq!(f.error, 6, "Fetch v10 (before KIP-392) from a follower: NOT_LEADER_OR_FOLLOWER: {f:?}");

    c.resume(in_c);
    let all = wait_replicas_equal(&c, &brokers, topic, 120).await;
    assert_same_log(&all, &ahead, "follower 3 after the high watermark moved");
    let stored = all.records();
    let from_follower =
        poll_until("follower 3 serving every record", WAIT, || async { consumer_read_all(&c, in_b, topic, 120).await })
            .await;
    assert_eq!(from_follower, stored);

    // rdkafka with client.rack: reads everything, from the follower.
    let (consumer, ctx) = assigned_consumer(&c, topic, &[("client.rack", "rack-b")]);
    assert_eq!(consume_to(&consumer, topic, 120, WAIT), stored);
    assert_eq!(wait_fetching_from(&consumer, &ctx, topic, in_b), (in_b, leader), "(fetched from, leader)");
    drop(consumer);
    let (consumer, ctx) = assigned_consumer(&c, topic, &[]);
    assert_eq!(consume_to(&consumer, topic, 120, WAIT), stored);
    assert_eq!(wait_fetching_from(&consumer, &ctx, topic, leader), (leader, leader), "without a rack: the leader");
}

// ---------------------------------------------------------------------------
// 10. Group coordinator failover
// ---------------------------------------------------------------------------

const GROUP_METADATA_TOPIC: &str = "__consumer_offsets";

/// Three brokers (and a controller) whose `__consumer_offsets` has one
/// partition (every group on it) with Kafka's replication factor 3.
fn coordinated_cluster() -> ClusterBuilder {
    Cluster::builder()
        .controllers(1)
        .brokers(3)
        .with("offsets.topic.num.partitions", "1")
        .with("offsets.topic.replication.factor", "3")
        .with("group.initial.rebalance.delay.ms", "0")
        .with("replica.lag.time.max.ms", "10000")
        .with("replica.fetch.backoff.ms", "200")
        .with("auto.leader.rebalance.enable", "false")
        .session(SESSION_MS, HEARTBEAT_MS)
}

/// FindCoordinator v3 (group) asked of `via`: the coordinator's node id.
async fn find_coordinator(c: &Cluster, via: i32, group: &str) -> Result<i32, String> {
    let req = FindCoordinatorRequest::default().with_key(s(group)).with_key_type(0);
    let resp: FindCoordinatorResponse = c.request(via, ApiKey::FindCoordinator, 3, &req).await?;
    if resp.error_code != NONE {
        return Err(format!("FindCoordinator via {via}: error {} {:?}", resp.error_code, resp.error_message));
    }
    Ok(resp.node_id.0)
}

/// Waits until every node of `via` names the same coordinator for `group`, not `not`.
async fn wait_coordinator(c: &Cluster, via: &[i32], group: &str, not: i32) -> i32 {
    poll_until(&format!("a coordinator for {group} other than {not}"), WAIT, || async {
        let mut seen = BTreeSet::new();
        for id in via {
            seen.insert(find_coordinator(c, *id, group).await?);
        }
        match seen.iter().collect::<Vec<_>>()[..] {
            [n] if *n != not => Ok(*n),
            _ => Err(format!("coordinators named: {seen:?}")),
        }
    })
    .await
}

/// OffsetFetch v7 asked of `node`: partition -> committed offset (-1: none).
async fn offset_fetch(
    c: &Cluster,
    node: i32,
    group: &str,
    topic: &str,
    partitions: &[i32],
) -> Result<BTreeMap<i32, i64>, String> {
    let req = OffsetFetchRequest::default().with_group_id(GroupId(s(group))).with_topics(Some(vec![
        OffsetFetchRequestTopic::default().with_name(topic_name(topic)).with_partition_indexes(partitions.to_vec()),
    ]));
    let resp: OffsetFetchResponse = c.request(node, ApiKey::OffsetFetch, 7, &req).await?;
    if resp.error_code != NONE {
        return Err(format!("OffsetFetch from {node}: error {}", resp.error_code));
    }
    let mut out = BTreeMap::new();
    for p in resp.topics.iter().filter(|t| &*t.name.0 == topic).flat_map(|t| t.partitions.iter()) {
        if p.error_code != NONE {
            return Err(format!("OffsetFetch from {node}: partition {} error {}", p.partition_index, p.error_code));
        }
        out.insert(p.partition_index, p.committed_offset);
    }
    Ok(out)
}

/// A consumer of `group` bootstrapped from the brokers `via`.
fn group_consumer(c: &Cluster, via: &[i32], group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", via.iter().map(|id| c.addr(*id)).collect::<Vec<_>>().join(","))
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .create()
        .expect("group consumer")
}

/// Commits `offsets` of `topic` for `group` as a consumer outside any
/// generation (assign, no subscription); returns once acknowledged.
fn commit_standalone(c: &Cluster, group: &str, topic: &str, offsets: &BTreeMap<i32, i64>) -> BaseConsumer {
    let consumer = group_consumer(c, &c.broker_ids(), group);
    let mut tpl = TopicPartitionList::new();
    for (p, o) in offsets {
        tpl.add_partition_offset(topic, *p, Offset::Offset(*o)).unwrap();
    }
    consumer.assign(&tpl).expect("assign");
    consumer.commit(&tpl, CommitMode::Sync).expect("offsets committed");
    consumer
}

/// Waits until `__consumer_offsets-0` has 3 replicas, all in sync; returns its leader.
async fn wait_offsets_topic_in_sync(c: &Cluster) -> i32 {
    let brokers = c.broker_ids();
    let v = wait_partition(c, &brokers, GROUP_METADATA_TOPIC, 0, "RF 3, fully in sync", |p| {
        p.leader >= 0 && sorted(p.replicas.clone()) == brokers && sorted(p.isr.clone()) == brokers
    })
    .await;
    v.leader
}

/// A consumer group (rdkafka, subscribed) commits offsets of a 3-partition
/// RF 3 topic and leaves; `__consumer_offsets` has replication factor 3.
/// Once every replica of the group's offsets partition knows the commit
/// is committed (each follower's high watermark is at the log end), the
/// coordinator FindCoordinator names is killed with -9. The survivors
/// agree on a new coordinator, OffsetFetch there returns the committed
/// offsets, and a new member of the group resumes exactly from them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_survive_the_group_coordinators_kill9() {
    let mut c = coordinated_cluster().start().await;
    let brokers = c.broker_ids();
    let (topic, group) = ("coordinated", "failover-group");
    c.create_topic(2, topic, 3, 3, &[]).await;
    c.wait_metadata("the topic's partitions fully in sync", &brokers, WAIT, |m| {
        let ps = partition_views(m, topic)?;
        if ps.len() == 3 && ps.iter().all(|p| p.leader >= 0 && sorted(p.isr.clone()) == brokers) {
            Ok(())
        } else {
            Err(format!("{ps:?}"))
        }
    })
    .await;
    let p = producer(&c, ACKS_ALL_IDEMPOTENT);
    let per_partition = 100usize;
    for part in 0..3 {
        let mut futures = Vec::new();
        for i in 0..per_partition {
            futures.push(send_to(&p, topic, part, part as usize * 1000 + i, 100).await);
        }
        for (i, f) in futures.into_iter().enumerate() {
            assert_eq!(delivered(f).await, Ok(i as i64));
        }
    }
    let committed: BTreeMap<i32, i64> = [(0, 60), (1, 25), (2, 100)].into_iter().collect();

    // A member of the group commits, then leaves.
    {
        let a = group_consumer(&c, &brokers, group);
        a.subscribe(&[topic]).expect("subscribe");
        let start = Instant::now();
        while a.assignment().map_or(0, |t| t.count()) < 3 {
            assert!(start.elapsed() < WAIT, "consumer A never got its assignment");
            let _ = a.poll(Duration::from_millis(100));
        }
        let mut tpl = TopicPartitionList::new();
        for (part, o) in &committed {
            tpl.add_partition_offset(topic, *part, Offset::Offset(*o)).unwrap();
        }
        a.commit(&tpl, CommitMode::Sync).expect("commit as a group member");
    }

    let coordinator = wait_offsets_topic_in_sync(&c).await;
    assert_eq!(find_coordinator(&c, 3, group).await.unwrap(), coordinator, "the partition leader coordinates");
    assert_eq!(offset_fetch(&c, coordinator, group, topic, &[0, 1, 2]).await.unwrap(), committed);
    let followers: Vec<i32> = brokers.iter().copied().filter(|b| *b != coordinator).collect();
    for f in &followers {
        poll_until(&format!("follower {f}'s high watermark at the offsets log end"), WAIT, || async {
            let end = read_log(&c, coordinator, GROUP_METADATA_TOPIC, 0)?.end_offset();
            let fetched = consumer_fetch(&c, *f, GROUP_METADATA_TOPIC, end, "").await?;
            if fetched.high_watermark == end {
                Ok(())
            } else {
                Err(format!("high watermark {} < log end {end}", fetched.high_watermark))
            }
        })
        .await;
    }

    c.kill9(coordinator);
    let new = wait_coordinator(&c, &followers, group, coordinator).await;
    assert!(followers.contains(&new));
    let fetched = poll_until("the committed offsets from the new coordinator", WAIT, || async {
        match offset_fetch(&c, new, group, topic, &[0, 1, 2]).await? {
            o if o == committed => Ok(o),
            o => Err(format!("offsets {o:?}")),
        }
    })
    .await;
    assert_eq!(fetched, committed);

    // A new member resumes from the committed offsets.
    let b = group_consumer(&c, &followers, group);
    b.subscribe(&[topic]).expect("subscribe");
    let want = committed.values().map(|o| per_partition - *o as usize).sum::<usize>();
    let mut got: BTreeMap<i32, Vec<(i64, usize)>> = BTreeMap::new();
    let start = Instant::now();
    while got.values().map(Vec::len).sum::<usize>() < want {
        assert!(start.elapsed() < WAIT * 2, "consumer B read {got:?}, want {want} records");
        match b.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => got
                .entry(m.partition())
                .or_default()
                .push((m.offset(), seq_of(std::str::from_utf8(m.key().unwrap_or_default()).expect("utf-8 key")))),
            Some(Err(e)) => panic!("consumer B: {e}"),
            None => {}
        }
    }
    for (part, from) in &committed {
        let want: Vec<(i64, usize)> =
            (*from..per_partition as i64).map(|o| (o, *part as usize * 1000 + o as usize)).collect();
        assert_eq!(got.remove(part).unwrap_or_default(), want, "partition {part} resumed from {from}");
    }
    let tpl = b.committed(WAIT).expect("committed offsets through rdkafka");
    let seen: BTreeMap<i32, i64> = tpl
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => (e.partition(), o),
            o => panic!("partition {}: {o:?}", e.partition()),
        })
        .collect();
    assert_eq!(seen, committed);
}

/// Kafka's guarantee for an acknowledged offset commit: it was appended
/// to `__consumer_offsets` and replicated to the whole ISR before the
/// answer, so it survives the coordinator's death. Here the coordinator
/// is killed right after acknowledging the commit, before its followers
/// learn from a later fetch response that the high watermark moved past
/// it (at most `replica.fetch.wait.max.ms` later, 500 ms by default).
/// Kafka's loader replays a new leader's log to its end (the commit
/// becomes visible as the high watermark reaches it), and so does Weir's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_acknowledged_just_before_the_coordinator_dies_survives() {
    let mut c = coordinated_cluster().start().await;
    let brokers = c.broker_ids();
    let (topic, group) = ("coordinated-late", "late-group");
    c.create_topic(2, topic, 1, 3, &[]).await;
    let first: BTreeMap<i32, i64> = [(0, 10)].into_iter().collect();
    drop(commit_standalone(&c, group, topic, &first));
    let coordinator = wait_offsets_topic_in_sync(&c).await;
    assert_eq!(find_coordinator(&c, 3, group).await.unwrap(), coordinator);
    let followers: Vec<i32> = brokers.iter().copied().filter(|b| *b != coordinator).collect();
    // The first commit is known to be committed everywhere.
    for f in &followers {
        poll_until(&format!("follower {f}'s high watermark at the offsets log end"), WAIT, || async {
            let end = read_log(&c, coordinator, GROUP_METADATA_TOPIC, 0)?.end_offset();
            match consumer_fetch(&c, *f, GROUP_METADATA_TOPIC, end, "").await?.high_watermark {
                hw if hw == end => Ok(()),
                hw => Err(format!("high watermark {hw} < log end {end}")),
            }
        })
        .await;
    }

    let second: BTreeMap<i32, i64> = [(0, 60)].into_iter().collect();
    let _member = commit_standalone(&c, group, topic, &second);
    c.kill9(coordinator);
    let end = read_log(&c, coordinator, GROUP_METADATA_TOPIC, 0).unwrap().end_offset();
    for f in &followers {
        assert_eq!(read_log(&c, *f, GROUP_METADATA_TOPIC, 0).unwrap().end_offset(), end, "the commit is on {f}");
    }
    let new = wait_coordinator(&c, &followers, group, coordinator).await;
    let fetched = poll_until("the last acknowledged commit from the new coordinator", WAIT, || async {
        match offset_fetch(&c, new, group, topic, &[0]).await? {
            o if o == second => Ok(o),
            o => Err(format!("offsets {o:?}")),
        }
    })
    .await;
    assert_eq!(fetched, second);
}
