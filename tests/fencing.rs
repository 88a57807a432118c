//! Fencing and failover with real faults, Kafka's rules as the
//! specification (`broker.session.timeout.ms`, the controller's fencing,
//! the ISR), plus Weir's lease (`controller_client::lease`):
//!
//! - a leader cut off from the controller quorum (network namespaces of
//!   the kit's `NetLab`: each node in its own; the cut drops the packets
//!   between the leader and the controller only, so the leader still
//!   reaches the other brokers and the clients) stops taking writes for its replicated partitions once a
//!   session passes without an answered heartbeat: it answers
//!   NOT_LEADER_OR_FOLLOWER (its metadata still at the old leader epoch,
//!   answered as if it were fenced), and appends nothing more. The controller fences it and elects
//!   another in-sync replica; an idempotent acks=all producer moves there
//!   and, after the heal, every record is acknowledged exactly once, with no
//!   fatal error, and the replicas converge;
//! - with the controller paused (SIGSTOP) for longer than a session, the
//!   brokers stop taking writes on replicated partitions (the documented
//!   difference from Kafka) and take them again once it resumes, losing
//!   nothing acknowledged;
//! - figures (ignored): kill -9 of a leader -> fenced by the controller ->
//!   the new leader in the survivors' metadata -> the first acknowledgement
//!   it writes.
//!
//! The namespace test needs root and `ip netns`; where namespaces cannot be
//! made it says so and passes without running.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use common::cluster::*;
use common::netns::{Host, NetLab};
use common::replication::*;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse};
use kafka_protocol::ResponseError as E;
use rdkafka::producer::FutureProducer;
use rdkafka::types::RDKafkaErrorCode;
use weir::record::records::{BatchBuilder, Record};

const SESSION_MS: u64 = 3000;
const HEARTBEAT_MS: u64 = 500;
const VALUE_LEN: usize = 100;

// ---------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------

/// One record's answer: its sequence number, offset or error, and when.
type Answer = (usize, Result<i64, RDKafkaErrorCode>, Instant);

/// An idempotent acks=all producer sending one record after another (a few
/// ms apart, at most 50 unanswered) until stopped; every answer is kept
/// with the moment it came.
struct Stream {
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<Vec<Answer>>,
}

impl Stream {
    fn start(c: &Cluster, topic: &str) -> Stream {
        let p: FutureProducer = producer(
            c,
            &[
                ("acks", "all"),
                ("enable.idempotence", "true"),
                ("max.in.flight.requests.per.connection", "5"),
                ("linger.ms", "2"),
                ("retry.backoff.ms", "50"),
                ("message.timeout.ms", "120000"),
            ],
        );
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let task = {
            let (stop, acked, failed, topic) = (stop.clone(), acked.clone(), failed.clone(), topic.to_string());
            tokio::spawn(async move {
                let mut results = Vec::new();
                let mut in_flight = std::collections::VecDeque::new();
                let mut seq = 0;
                let settle = |r: Result<i64, RDKafkaErrorCode>, s: usize, results: &mut Vec<_>| {
                    let counter = if r.is_ok() { &acked } else { &failed };
                    counter.fetch_add(1, Ordering::Relaxed);
                    results.push((s, r, Instant::now()));
                };
                while !stop.load(Ordering::Relaxed) {
                    in_flight.push_back((seq, send(&p, &topic, seq, VALUE_LEN).await));
                    seq += 1;
                    if in_flight.len() >= 50 {
                        let (s, f) = in_flight.pop_front().unwrap();
                        let r = delivered(f).await;
                        settle(r, s, &mut results);
                    }
                    // Pacing, not a wait for a condition.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                while let Some((s, f)) = in_flight.pop_front() {
                    let r = delivered(f).await;
                    settle(r, s, &mut results);
                }
                results
            })
        };
        Stream { stop, acked, failed, task }
    }

    fn acked(&self) -> usize {
        self.acked.load(Ordering::Relaxed)
    }

    /// Waits until `more` records beyond those acknowledged now are
    /// acknowledged; none may fail meanwhile.
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

    /// Stops and returns every answer; panics if any record failed (a
    /// fatal idempotence error fails every later record).
    async fn finish(self) -> Vec<Answer> {
        self.stop.store(true, Ordering::Relaxed);
        let results = tokio::time::timeout(Duration::from_secs(150), self.task)
            .await
            .expect("the producer finished")
            .expect("producer task");
        let failed: Vec<_> = results.iter().filter(|(_, r, _)| r.is_err()).collect();
        assert!(
            failed.is_empty(),
            "{} of {} records failed: {:?}",
            failed.len(),
            results.len(),
            &failed[..5.min(failed.len())]
        );
        results
    }
}

fn acked_offsets(results: &[Answer]) -> BTreeMap<usize, i64> {
    results.iter().filter_map(|(s, r, _)| r.as_ref().ok().map(|o| (*s, *o))).collect()
}

/// One acks=1 Produce (v9) of a single record to partition 0 of `topic`
/// at node `node`; the partition's error code.
async fn produce_probe(c: &Cluster, node: i32, topic: &str) -> Result<i16, String> {
    let now = weir::util::clock::now_ms();
    let mut batch = BatchBuilder::new(0, now);
    batch.push(Record::new(None, Some(b"probe".to_vec()), now));
    let records: Bytes = batch.build();
    let req =
        ProduceRequest::default().with_acks(1).with_timeout_ms(5000).with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default().with_index(0).with_records(Some(records))])]);
    let resp: ProduceResponse = c.request(node, ApiKey::Produce, 9, &req).await?;
    Ok(resp.responses[0].partition_responses[0].error_code)
}

/// Waits until node `node` answers a produce to `topic` with `code`.
async fn wait_produce_answer(c: &Cluster, node: i32, topic: &str, code: i16, what: &str) {
    poll_until(what, WAIT, || async {
        match produce_probe(c, node, topic).await? {
            got if got == code => Ok(()),
            got => Err(format!("answered {got}")),
        }
    })
    .await
}

// ---------------------------------------------------------------------------
// 1. A leader cut off from the quorum
// ---------------------------------------------------------------------------

/// One controller and three brokers, each in its own namespace; a topic
/// led by broker 2 (RF 3, min.insync.replicas 2) under an idempotent
/// acks=all producer, and a probe topic with the same replicas. Broker 2
/// loses the controller (it still reaches brokers 3 and 4 and the test):
/// - it answers NOT_LEADER_OR_FOLLOWER to produce on the probe topic, and
///   Metadata, still at the old leader epoch, as if it were fenced (itself
///   not among the brokers, the partition it led without a leader);
/// - from then on its log of the producer's topic does not grow, while the
///   controller fences it, another broker leads and acknowledges more;
/// - after the heal it follows the new leader (truncating what it could
///   never commit), the producer finishes with every record acknowledged
///   (no OUT_OF_ORDER_SEQUENCE_NUMBER or any other failure), and a consumer
///   reads each acknowledged record exactly once at its offset.
#[test]
fn a_leader_cut_off_from_the_quorum_stops_taking_writes_and_its_producer_survives_the_heal() {
    let mut lab = match NetLab::create(4) {
        Ok(lab) => lab,
        Err(e) => {
            eprintln!("SKIPPED: cannot make network namespaces here ({e})");
            return;
        }
    };
    lab.on_client_thread(|lab| {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        rt.block_on(a_leader_cut_off(lab))
    });
}

async fn a_leader_cut_off(lab: &mut NetLab) {
    let mut builder = Cluster::builder().controllers(1).brokers(3);
    for id in 1..=4 {
        builder = builder.place(id, lab.place(id));
    }
    let c = builder
        .with("replica.lag.time.max.ms", "10000")
        .with("auto.leader.rebalance.enable", "false")
        .session(SESSION_MS, HEARTBEAT_MS)
        .start()
        .await;
    let (controller, leader) = (1, 2);
    let brokers = c.broker_ids();
    let (topic, probe) = ("cut-off", "cut-off-probe");
    let mut before = None;
    for t in [topic, probe] {
        c.create_topic_assigned(3, t, &[&[2, 3, 4]], &[("min.insync.replicas", "2")]).await;
        before = Some(wait_leader_isr(&c, &brokers, t, leader, &brokers).await);
    }
    let before = before.unwrap();
    assert_eq!(produce_probe(&c, leader, probe).await, Ok(common::NONE));
    let stream = Stream::start(&c, topic);
    stream.wait_more(200, "before the cut").await;

    lab.cut(Host::Node(leader), Host::Node(controller)).expect("cut the leader from the controller");
    wait_produce_answer(
        &c,
        leader,
        probe,
        E::NotLeaderOrFollower.code(),
        "the cut-off leader refuses writes once its lease lapsed",
    )
    .await;
    // Its metadata is stale (the old leader epoch), and it answers as if
    // fenced: not among the brokers, the partition without a leader.
    let stale = c.metadata(leader, Some(&[topic])).await.unwrap();
    assert!(!broker_ids(&stale).contains(&leader), "a lapsed broker leaves itself out: {:?}", broker_ids(&stale));
    let stale = PartitionView::from(partition_of(&stale, topic, 0).unwrap());
    assert_eq!(
        (stale.error, stale.leader, stale.leader_epoch),
        (E::LeaderNotAvailable.code(), -1, before.leader_epoch),
        "the cut-off broker's answer for the partition it led: {stale:?}"
    );
    let frozen = read_log(&c, leader, topic, 0).unwrap().end_offset();

    let survivors = [3, 4];
    let after = wait_partition(&c, &survivors, topic, 0, "another in-sync replica leads", |p| {
        p.leader >= 0 && p.leader != leader && p.leader_epoch > before.leader_epoch
    })
    .await;
    stream.wait_more(300, "on the new leader while the old one is cut off").await;
    assert_eq!(
        read_log(&c, leader, topic, 0).unwrap().end_offset(),
        frozen,
        "the cut-off broker appended nothing after its lease lapsed"
    );
    assert_eq!(produce_probe(&c, leader, probe).await, Ok(E::NotLeaderOrFollower.code()));

    lab.heal().expect("heal");
    wait_leader_isr(&c, &brokers, topic, after.leader, &brokers).await;
    stream.wait_more(200, "after the heal").await;
    let results = stream.finish().await;
    let acked = acked_offsets(&results);
    let end = high_watermark(&c, after.leader, topic).await.unwrap();
    wait_replicas_equal(&c, &brokers, topic, end).await;
    let consumed = consume_all(&c, topic, end);
    let a = audit(&consumed, &acked, VALUE_LEN);
    assert_clean(&a, "after the heal");
    assert_eq!(a.unacknowledged_present, 0, "every stored record was acknowledged");
    // The probe topic's old leader is back as a follower and takes no writes.
    assert_eq!(produce_probe(&c, leader, probe).await, Ok(E::NotLeaderOrFollower.code()));
    drop(c);
}

// ---------------------------------------------------------------------------
// 2. The whole quorum unreachable
// ---------------------------------------------------------------------------

/// The controller (a process of its own) paused for longer than a session:
/// every broker's lease lapses, and the leader of a replicated partition
/// refuses writes (where Kafka would keep accepting them: the documented
/// difference), while a partition no other replica could lead (RF 1) still
/// takes them. After SIGCONT the brokers take writes again, and every
/// acknowledged record of the idempotent producer is read back exactly
/// once. On its return the controller finds every session expired and
/// fences the brokers one after another before their heartbeats unfence
/// them, so leadership moves through brokers that never append in their
/// epoch; their followers must drop such an empty epoch when told to
/// truncate to their log end, or they never catch up again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_quorum_unreachable_replicated_partitions_stop_taking_writes_until_it_returns() {
    let mut c = Cluster::builder()
        .controllers(1)
        .brokers(3)
        .with("replica.lag.time.max.ms", "10000")
        .with("auto.leader.rebalance.enable", "false")
        .session(SESSION_MS, HEARTBEAT_MS)
        .start()
        .await;
    let (controller, leader) = (1, 2);
    let brokers = c.broker_ids();
    let (topic, probe, single) = ("quorum-gone", "quorum-gone-probe", "quorum-gone-rf1");
    for t in [topic, probe] {
        c.create_topic_assigned(3, t, &[&[2, 3, 4]], &[("min.insync.replicas", "2")]).await;
        wait_leader_isr(&c, &brokers, t, leader, &brokers).await;
    }
    c.create_topic_assigned(3, single, &[&[2]], &[]).await;
    wait_leader_isr(&c, &brokers, single, leader, &[leader]).await;
    let stream = Stream::start(&c, topic);
    stream.wait_more(200, "before the pause").await;

    c.pause(controller);
    wait_produce_answer(&c, leader, probe, E::NotLeaderOrFollower.code(), "writes refused without the quorum").await;
    assert_eq!(produce_probe(&c, leader, single).await, Ok(common::NONE), "an RF 1 partition still takes writes");
    c.resume(controller);

    stream.wait_more(300, "after the controller returned").await;
    let results = stream.finish().await;
    let acked = acked_offsets(&results);
    let view = wait_partition(&c, &brokers, topic, 0, "a leader and a full ISR", |p| {
        p.leader >= 0 && sorted(p.isr.clone()) == brokers
    })
    .await;
    let end = high_watermark(&c, view.leader, topic).await.unwrap();
    wait_replicas_equal(&c, &brokers, topic, end).await;
    let a = audit(&consume_all(&c, topic, end), &acked, VALUE_LEN);
    assert_clean(&a, "after the controller's pause");
    assert_eq!(a.unacknowledged_present, 0, "every stored record was acknowledged");
}

// ---------------------------------------------------------------------------
// 3. Figures: where a kill -9 failover spends its time
// ---------------------------------------------------------------------------

/// Seconds since the Unix epoch of a log line's RFC 3339 UTC timestamp
/// (`2025-01-31T12:34:56.789012Z ...`).
fn log_time(line: &str) -> Option<f64> {
    let ts = line.split_whitespace().next()?.strip_suffix('Z')?;
    let (date, time) = ts.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = time.split(':');
    let (h, min, s) = (t.next()?.parse::<f64>().ok()?, t.next()?.parse::<f64>().ok()?, t.next()?.parse::<f64>().ok()?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as f64 * 86_400.0 + h * 3600.0 + min * 60.0 + s)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// kill -9 of a partition's leader (a broker-only node; one controller
/// process, three brokers, session 3000 ms, heartbeat 500 ms) under an
/// idempotent acks=all producer, WEIR_FIGURES_RUNS times (default 5): from
/// the kill to (1) the controller's "broker session expired; fencing" log
/// line, (2) both survivors' Metadata naming the new leader, (3) the first
/// acknowledgement of a record the new leader wrote. WEIR_TEST_BIN runs
/// another build (e.g. the one before a change) for comparison.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "figures; run with --ignored --nocapture"]
async fn failover_timeline() {
    let runs: usize = std::env::var("WEIR_FIGURES_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let mut c = Cluster::builder()
        .controllers(1)
        .brokers(3)
        .with("replica.lag.time.max.ms", "10000")
        .with("auto.leader.rebalance.enable", "false")
        .session(SESSION_MS, HEARTBEAT_MS)
        .start()
        .await;
    let brokers = c.broker_ids();
    let (mut fenced, mut in_metadata, mut acked) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let replicas: Vec<i32> = (0..3).map(|i| brokers[(run + i) % 3]).collect();
        let (leader, survivors) = (replicas[0], replicas[1..].to_vec());
        let topic = format!("timeline-{run}");
        c.create_topic_assigned(survivors[0], &topic, &[&replicas], &[("min.insync.replicas", "2")]).await;
        let before = wait_leader_isr(&c, &brokers, &topic, leader, &replicas).await;
        let stream = Stream::start(&c, &topic);
        stream.wait_more(200, "before the kill").await;

        let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
        let killed_at = Instant::now();
        c.kill9(leader);
        let seen = poll_every("the new leader in both survivors' metadata", WAIT, Duration::from_millis(5), || async {
            for s in &survivors {
                let m = c.metadata(*s, Some(&[&topic])).await?;
                let p = PartitionView::from(partition_of(&m, &topic, 0)?);
                if p.leader_epoch <= before.leader_epoch || p.leader == leader || p.leader < 0 {
                    return Err(format!("node {s}: {p:?}"));
                }
            }
            Ok(killed_at.elapsed())
        })
        .await;
        stream.wait_more(100, "on the new leader").await;
        let results = stream.finish().await;
        let new_leader = wait_partition(&c, &survivors, &topic, 0, "a new leader", |p| p.leader != leader).await.leader;
        let log = read_log(&c, new_leader, &topic, 0).unwrap();
        let first_new = results
            .iter()
            .filter(|(_, r, at)| {
                *at > killed_at
                    && r.as_ref().ok().and_then(|o| log.epoch_of(*o)).is_some_and(|e| e > before.leader_epoch)
            })
            .map(|(_, _, at)| *at - killed_at)
            .min()
            .expect("an acknowledgement from the new leader");
        let line = c
            .node(1)
            .output()
            .lines()
            .filter(|l| l.contains("broker session expired; fencing") && l.contains(&format!("broker={leader}")))
            .filter_map(log_time)
            .rfind(|t| *t >= wall);
        let fence = line.map(|t| Duration::from_secs_f64(t - wall));
        println!(
            "run {run}: leader {leader} killed; fenced after {fence:?}, new leader {new_leader} in metadata after \
             {seen:?}, its first acknowledgement after {first_new:?}"
        );
        fenced.extend(fence);
        in_metadata.push(seen);
        acked.push(first_new);
        c.restart(leader).await;
        wait_leader_isr(&c, &brokers, &topic, new_leader, &replicas).await;
    }
    println!(
        "FIGURES (median of {runs}; broker.session.timeout.ms={SESSION_MS}, broker.heartbeat.interval.ms={HEARTBEAT_MS}; \
         binary {}):\n  kill -9 -> fenced by the controller: {:?} (all {fenced:?})\n  kill -9 -> new leader in the \
         survivors' metadata: {:?} (all {in_metadata:?})\n  kill -9 -> first acks=all acknowledgement by the new \
         leader: {:?} (all {acked:?})",
        common::process::weir_bin().display(),
        median(fenced.clone()),
        median(in_metadata.clone()),
        median(acked.clone()),
    );
}
