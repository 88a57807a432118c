//! Classic consumer groups end to end: real librdkafka consumers
//! (rust-rdkafka) subscribed to topics on real Weir brokers.
//!
//! The consumers record what they see as events: their generation and
//! assignment whenever either changes, every record with the generation it
//! was consumed in, where each newly assigned partition must resume (its
//! committed offset) and where it did. The checks run over those events
//! (and the broker's own view, through the protocol client):
//!
//! - every produced record is consumed;
//! - within a generation, a partition is consumed by one member only, and
//!   the members' assignments are disjoint;
//! - a newly assigned partition resumes at its committed offset (no gap);
//! - a record is consumed twice only when its commit failed or its first
//!   consumer was killed before committing.
//!
//! One member of the three-consumer scenarios is killed with SIGKILL: it
//! runs in a child process (this test binary, running the ignored
//! `victim_consumer` test) that writes its events to a file.
#![allow(clippy::await_holding_lock)] // see `serial`

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::CStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use common::process::free_port;
use common::{BrokerProcess, TestBroker, NONE};
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_delete_request::{OffsetDeleteRequestPartition, OffsetDeleteRequestTopic};
use kafka_protocol::messages::offset_fetch_request::{OffsetFetchRequestGroup, OffsetFetchRequestTopics};
use kafka_protocol::messages::{
    ApiKey, DescribeGroupsRequest, DescribeGroupsResponse, GroupId, ListGroupsRequest, ListGroupsResponse,
    OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse, OffsetFetchRequest,
    OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError as E;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use weir::coordinator::group::consumer_protocol;
use weir::wire::client::BrokerClient;

const TIMEOUT: Duration = Duration::from_secs(60);
const PARTITIONS: i32 = 6;
/// Joins complete without the initial rebalance delay.
const BROKER_CONFIG: &[(&str, &str)] = &[("group.initial.rebalance.delay.ms", "0")];
/// `group.min.session.timeout.ms` default.
const SESSION_MS: u32 = 6_000;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis() as i64
}

/// The scenarios measure rebalance times: one at a time. The guard is
/// held across awaits on purpose: each test has its own runtime, and the
/// lock only orders whole tests.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------
// What a consumer records
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    /// subscribe() was called (wall-clock ms).
    Subscribed {
        at_ms: i64,
    },
    Member {
        id: String,
    },
    /// The generation and current assignment, whenever either changes.
    Status {
        generation: i32,
        partitions: BTreeSet<i32>,
    },
    /// The first record of a newly assigned partition, and the committed
    /// offset it had to resume from.
    Start {
        generation: i32,
        partition: i32,
        offset: i64,
        expected: i64,
    },
    Record {
        generation: i32,
        partition: i32,
        offset: i64,
    },
    /// A commit of `offset` (the next record to read) failed.
    CommitFailed {
        partition: i32,
        offset: i64,
        error: String,
    },
    /// The committed offsets of new partitions could not be looked up.
    LookupFailed {
        error: String,
    },
    Closed,
}

impl Event {
    fn to_line(&self) -> String {
        match self {
            Event::Subscribed { at_ms } => format!("SUBSCRIBED {at_ms}"),
            Event::Member { id } => format!("MEMBER {id}"),
            Event::Status { generation, partitions } => {
                let ps: Vec<String> = partitions.iter().map(|p| p.to_string()).collect();
                format!("STATUS {generation} {}", if ps.is_empty() { "-".to_string() } else { ps.join(",") })
            }
            Event::Start { generation, partition, offset, expected } => {
                format!("START {generation} {partition} {offset} {expected}")
            }
            Event::Record { generation, partition, offset } => {
                format!("RECORD {generation} {partition} {offset}")
            }
            Event::CommitFailed { partition, offset, error } => {
                format!("COMMITFAILED {partition} {offset} {}", error.replace('\n', " "))
            }
            Event::LookupFailed { error } => format!("LOOKUPFAILED {}", error.replace('\n', " ")),
            Event::Closed => "CLOSED".to_string(),
        }
    }

    fn parse(line: &str) -> Option<Event> {
        let mut w = line.splitn(2, ' ');
        let kind = w.next()?;
        let rest = w.next().unwrap_or("");
        let f: Vec<&str> = rest.split(' ').collect();
        let n = |i: usize| -> Option<i64> { f.get(i)?.parse().ok() };
        Some(match kind {
            "SUBSCRIBED" => Event::Subscribed { at_ms: n(0)? },
            "MEMBER" => Event::Member { id: rest.to_string() },
            "STATUS" => Event::Status {
                generation: n(0)? as i32,
                partitions: match *f.get(1)? {
                    "-" => BTreeSet::new(),
                    ps => ps.split(',').map(|p| p.parse().ok()).collect::<Option<_>>()?,
                },
            },
            "START" => {
                Event::Start { generation: n(0)? as i32, partition: n(1)? as i32, offset: n(2)?, expected: n(3)? }
            }
            "RECORD" => Event::Record { generation: n(0)? as i32, partition: n(1)? as i32, offset: n(2)? },
            "COMMITFAILED" => Event::CommitFailed { partition: n(0)? as i32, offset: n(1)?, error: f[2..].join(" ") },
            "LOOKUPFAILED" => Event::LookupFailed { error: rest.to_string() },
            "CLOSED" => Event::Closed,
            _ => return None,
        })
    }
}

type Sink = Arc<dyn Fn(Event) + Send + Sync>;
type Log = Arc<Mutex<Vec<(String, Event)>>>;

fn memory_sink(name: &str, log: &Log) -> Sink {
    let (name, log) = (name.to_string(), log.clone());
    Arc::new(move |e| log.lock().unwrap().push((name.clone(), e)))
}

/// One line per event, each written with a single write so a SIGKILL
/// leaves whole lines.
fn file_sink(path: &Path) -> Sink {
    let file = Mutex::new(std::fs::OpenOptions::new().create(true).append(true).open(path).expect("victim output"));
    Arc::new(move |e| {
        let line = format!("{}\n", e.to_line());
        file.lock().unwrap().write_all(line.as_bytes()).expect("write event");
    })
}

fn read_events(name: &str, path: &Path) -> Vec<(String, Event)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    complete
        .lines()
        .map(|l| (name.to_string(), Event::parse(l).unwrap_or_else(|| panic!("bad event line {l:?}"))))
        .collect()
}

// ---------------------------------------------------------------------------
// A subscribed consumer
// ---------------------------------------------------------------------------

struct GroupContext {
    /// Partitions assigned since the last look at their committed offsets.
    fresh: Mutex<Vec<i32>>,
}

impl ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    fn post_rebalance(&self, _c: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            self.fresh.lock().unwrap().extend(tpl.elements().iter().map(|e| e.partition()));
        }
    }
}

type GroupConsumer = BaseConsumer<GroupContext>;

/// The consumer's generation and member id as librdkafka knows them.
fn group_identity<C: ConsumerContext>(c: &BaseConsumer<C>) -> (i32, String) {
    use rdkafka::bindings as rd;
    // SAFETY: the consumer's native handle outlives this call; the group
    // metadata it returns is checked for null, read, and destroyed once.
    unsafe {
        let md = rd::rd_kafka_consumer_group_metadata(c.client().native_ptr());
        if md.is_null() {
            return (-1, String::new());
        }
        let generation = rd::rd_kafka_consumer_group_metadata_generation_id(md);
        let id = rd::rd_kafka_consumer_group_metadata_member_id(md);
        let id = if id.is_null() { String::new() } else { CStr::from_ptr(id).to_string_lossy().into_owned() };
        rd::rd_kafka_consumer_group_metadata_destroy(md);
        (generation, id)
    }
}

#[derive(Debug, Clone)]
struct ConsumerSpec {
    name: String,
    bootstrap: String,
    group: String,
    topic: String,
    strategy: String,
    instance: Option<String>,
    session_ms: u32,
}

impl ConsumerSpec {
    fn new(name: &str, bootstrap: &str, group: &str, topic: &str, strategy: &str) -> Self {
        ConsumerSpec {
            name: name.to_string(),
            bootstrap: bootstrap.to_string(),
            group: group.to_string(),
            topic: topic.to_string(),
            strategy: strategy.to_string(),
            instance: None,
            session_ms: SESSION_MS,
        }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![
            ("WEIR_VICTIM_NAME", self.name.clone()),
            ("WEIR_VICTIM_BOOTSTRAP", self.bootstrap.clone()),
            ("WEIR_VICTIM_GROUP", self.group.clone()),
            ("WEIR_VICTIM_TOPIC", self.topic.clone()),
            ("WEIR_VICTIM_STRATEGY", self.strategy.clone()),
            ("WEIR_VICTIM_SESSION_MS", self.session_ms.to_string()),
        ];
        if let Some(i) = &self.instance {
            v.push(("WEIR_VICTIM_INSTANCE", i.clone()));
        }
        v
    }

    fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} not set"));
        ConsumerSpec {
            name: var("WEIR_VICTIM_NAME"),
            bootstrap: var("WEIR_VICTIM_BOOTSTRAP"),
            group: var("WEIR_VICTIM_GROUP"),
            topic: var("WEIR_VICTIM_TOPIC"),
            strategy: var("WEIR_VICTIM_STRATEGY"),
            instance: std::env::var("WEIR_VICTIM_INSTANCE").ok(),
            session_ms: var("WEIR_VICTIM_SESSION_MS").parse().expect("session"),
        }
    }

    fn create(&self) -> GroupConsumer {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap)
            .set("client.id", &self.name)
            .set("group.id", &self.group)
            .set("partition.assignment.strategy", &self.strategy)
            .set("session.timeout.ms", self.session_ms.to_string())
            .set("heartbeat.interval.ms", "500")
            // Also the rebalance timeout.
            .set("max.poll.interval.ms", "30000")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "50")
            .set("topic.metadata.refresh.interval.ms", "1000");
        if let Some(i) = &self.instance {
            c.set("group.instance.id", i);
        }
        c.create_with_context(GroupContext { fresh: Mutex::new(Vec::new()) }).expect("consumer")
    }
}

/// Subscribes and consumes until `stop` (or `limit`), committing each
/// record synchronously, then closes (LeaveGroup, unless static).
fn run_consumer(spec: &ConsumerSpec, sink: Sink, stop: &AtomicBool, limit: Duration) {
    let consumer = spec.create();
    consumer.subscribe(&[&spec.topic]).expect("subscribe");
    sink(Event::Subscribed { at_ms: now_ms() });
    let mut status: Option<(i32, BTreeSet<i32>)> = None;
    let mut member = String::new();
    let mut expected: HashMap<i32, i64> = HashMap::new();
    // Commits that failed (a rebalance in progress, an old generation, the
    // broker away), retried while the partition stays assigned.
    let mut retry: BTreeMap<i32, i64> = BTreeMap::new();
    let mut last_retry = Instant::now();
    let started = Instant::now();
    while !stop.load(Ordering::SeqCst) && started.elapsed() < limit {
        let polled = consumer.poll(Duration::from_millis(50));
        // Where newly assigned partitions must resume: their committed
        // offsets, looked up before any of their records is handled.
        let fresh = std::mem::take(&mut *consumer.context().fresh.lock().unwrap());
        if !fresh.is_empty() {
            let mut tpl = TopicPartitionList::new();
            for p in &fresh {
                tpl.add_partition(&spec.topic, *p);
            }
            match consumer.committed_offsets(tpl, Duration::from_secs(10)) {
                Ok(c) => {
                    for e in c.elements() {
                        let at = match e.offset() {
                            Offset::Offset(o) => o,
                            // Nothing committed: auto.offset.reset=earliest.
                            _ => 0,
                        };
                        expected.insert(e.partition(), at);
                    }
                }
                Err(e) => {
                    for p in &fresh {
                        expected.remove(p);
                    }
                    sink(Event::LookupFailed { error: e.to_string() });
                }
            }
        }
        let (generation, id) = group_identity(&consumer);
        if !id.is_empty() && id != member {
            member = id.clone();
            sink(Event::Member { id });
        }
        let partitions: BTreeSet<i32> =
            consumer.assignment().map(|a| a.elements().iter().map(|e| e.partition()).collect()).unwrap_or_default();
        retry.retain(|p, _| partitions.contains(p));
        if !retry.is_empty() && last_retry.elapsed() >= Duration::from_millis(200) {
            last_retry = Instant::now();
            let mut tpl = TopicPartitionList::new();
            for (p, o) in &retry {
                tpl.add_partition_offset(&spec.topic, *p, Offset::Offset(*o)).unwrap();
            }
            if consumer.commit(&tpl, CommitMode::Sync).is_ok() {
                retry.clear();
            }
        }
        if status.as_ref() != Some(&(generation, partitions.clone())) {
            status = Some((generation, partitions.clone()));
            sink(Event::Status { generation, partitions });
        }
        // Transient errors (a broker restarting) are retried by the client.
        if let Some(Ok(m)) = polled {
            let (partition, offset) = (m.partition(), m.offset());
            if let Some(expected) = expected.remove(&partition) {
                sink(Event::Start { generation, partition, offset, expected });
            }
            sink(Event::Record { generation, partition, offset });
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(&spec.topic, partition, Offset::Offset(offset + 1)).unwrap();
            match consumer.commit(&tpl, CommitMode::Sync) {
                Ok(()) => {
                    retry.remove(&partition);
                }
                Err(e) => {
                    retry.insert(partition, offset + 1);
                    sink(Event::CommitFailed { partition, offset: offset + 1, error: e.to_string() });
                }
            }
        }
    }
    drop(consumer);
    sink(Event::Closed);
}

/// A consumer on its own thread.
struct Running {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    fn start(spec: ConsumerSpec, log: &Log) -> Running {
        let stop = Arc::new(AtomicBool::new(false));
        let sink = memory_sink(&spec.name, log);
        let s = stop.clone();
        let thread = std::thread::spawn(move || run_consumer(&spec, sink, &s, Duration::from_secs(300)));
        Running { stop, thread: Some(thread) }
    }

    /// Stops polling and closes the consumer.
    fn close(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().expect("consumer thread");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The victim: a consumer in a child process, killed with SIGKILL.
struct Victim {
    child: Child,
    out: PathBuf,
    name: String,
}

impl Victim {
    fn spawn(spec: &ConsumerSpec, out: &Path) -> Victim {
        let child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--ignored", "--exact", "victim_consumer", "--nocapture", "--test-threads=1"])
            .envs(spec.env())
            .env("WEIR_VICTIM_OUT", out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn victim consumer");
        Victim { child, out: out.to_path_buf(), name: spec.name.clone() }
    }

    fn events(&self) -> Vec<(String, Event)> {
        read_events(&self.name, &self.out)
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Runs as the child process of the three-consumer scenarios.
#[test]
#[ignore = "the victim consumer of the group scenarios, run as a child process"]
fn victim_consumer() {
    let Ok(out) = std::env::var("WEIR_VICTIM_OUT") else { return };
    let spec = ConsumerSpec::from_env();
    let stop = AtomicBool::new(false);
    run_consumer(&spec, file_sink(Path::new(&out)), &stop, Duration::from_secs(180));
}

// ---------------------------------------------------------------------------
// Observing the group
// ---------------------------------------------------------------------------

fn all_events(log: &Log, victim: Option<&Victim>) -> Vec<(String, Event)> {
    let mut events = log.lock().unwrap().clone();
    if let Some(v) = victim {
        events.extend(v.events());
    }
    events
}

fn latest_status(events: &[(String, Event)], name: &str) -> Option<(i32, BTreeSet<i32>)> {
    events.iter().rev().find_map(|(n, e)| match e {
        Event::Status { generation, partitions } if n == name => Some((*generation, partitions.clone())),
        _ => None,
    })
}

fn records_of(events: &[(String, Event)], name: &str, generation: i32) -> usize {
    events
        .iter()
        .filter(|(n, e)| n == name && matches!(e, Event::Record { generation: g, .. } if *g == generation))
        .count()
}

fn subscribed_at(events: &[(String, Event)], name: &str) -> i64 {
    events
        .iter()
        .find_map(|(n, e)| match e {
            Event::Subscribed { at_ms } if n == name => Some(*at_ms),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{name} never subscribed"))
}

/// The members' latest statuses if they agree on a generation newer than
/// `after` and their assignments split the topic's partitions.
fn agreed_generation(events: &[(String, Event)], members: &[&str], after: i32) -> Option<i32> {
    let mut generation = None;
    let mut seen = BTreeSet::new();
    for m in members {
        let (g, parts) = latest_status(events, m)?;
        if g <= after || generation.is_some_and(|x| x != g) || parts.is_empty() {
            return None;
        }
        generation = Some(g);
        for p in parts {
            if !seen.insert(p) {
                return None;
            }
        }
    }
    (seen == (0..PARTITIONS).collect()).then_some(generation?)
}

async fn connect(addr: &str) -> BrokerClient {
    BrokerClient::connect(addr, "groups-test").await.expect("connect")
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// (state, [(member id, instance id, assigned partitions of `topic`)]).
type Described = (String, Vec<(String, Option<String>, BTreeSet<i32>)>);

async fn describe_group(bootstrap: &str, group: &str, topic: &str) -> Described {
    let mut c = connect(bootstrap).await;
    let req = DescribeGroupsRequest::default().with_groups(vec![GroupId(s(group))]);
    let resp: DescribeGroupsResponse = c.send(ApiKey::DescribeGroups, 5, &req).await.expect("DescribeGroups");
    let g = &resp.groups[0];
    assert_eq!(g.error_code, NONE);
    let members = g
        .members
        .iter()
        .map(|m| {
            let parts = decode_assignment(&m.member_assignment)
                .into_iter()
                .filter(|(t, _)| t == topic)
                .flat_map(|(_, ps)| ps)
                .collect();
            (m.member_id.to_string(), m.group_instance_id.as_ref().map(|i| i.to_string()), parts)
        })
        .collect();
    (g.group_state.to_string(), members)
}

/// ConsumerProtocolAssignment (any version; empty while there is none):
/// (topic, partitions).
fn decode_assignment(b: &Bytes) -> Vec<(String, Vec<i32>)> {
    if b.len() < 6 {
        return Vec::new();
    }
    let (_, a) = consumer_protocol::decode_assignment(b).expect("assignment");
    a.assigned_partitions.into_iter().map(|tp| (tp.topic.to_string(), tp.partitions)).collect()
}

/// Waits until `members` are the whole group, Stable, in one new
/// generation with a split of all partitions that the broker agrees with.
/// Returns the generation and the wall-clock time it was seen.
async fn wait_stable(
    bootstrap: &str,
    group: &str,
    topic: &str,
    log: &Log,
    victim: Option<&Victim>,
    members: &[&str],
    after: i32,
) -> (i32, i64) {
    let start = Instant::now();
    loop {
        let events = all_events(log, victim);
        if let Some(generation) = agreed_generation(&events, members, after) {
            let seen_at = now_ms();
            let (state, described) = describe_group(bootstrap, group, topic).await;
            if state == "Stable" && described.len() == members.len() {
                // The broker's stored assignment is the members' view.
                let mut broker_view: Vec<BTreeSet<i32>> = described.iter().map(|m| m.2.clone()).collect();
                let mut client_view: Vec<BTreeSet<i32>> =
                    members.iter().map(|m| latest_status(&events, m).unwrap().1).collect();
                broker_view.sort();
                client_view.sort();
                if broker_view == client_view {
                    return (generation, seen_at);
                }
            }
        }
        assert!(
            start.elapsed() < TIMEOUT,
            "group {group} never became stable with {members:?}; statuses: {:?}",
            members.iter().map(|m| (m, latest_status(&events, m))).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < TIMEOUT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------
// Producing, and the checks
// ---------------------------------------------------------------------------

fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("admin client")
}

async fn create_topic(bootstrap: &str, name: &str, partitions: i32) {
    let t = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let res = admin(bootstrap).create_topics([&t], &AdminOptions::new()).await.expect("create_topics");
    assert!(res[0].is_ok(), "create {name}: {:?}", res[0]);
}

fn producer(bootstrap: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        // No duplicates in the log when a broker restarts under a send.
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "30000")
        .create()
        .expect("producer")
}

/// Produces `rounds` rounds of one record per partition; returns the
/// (partition, offset) of each.
async fn produce_rounds(p: &FutureProducer, topic: &str, rounds: usize) -> BTreeSet<(i32, i64)> {
    let mut futures = Vec::new();
    for i in 0..rounds {
        for part in 0..PARTITIONS {
            let key = format!("key-{i}");
            let value = format!("value-{i}-p{part}");
            let record = FutureRecord::to(topic).partition(part).key(&key).payload(&value);
            futures.push(p.send_result(record).map_err(|(e, _)| e).expect("enqueue"));
        }
    }
    let mut out = BTreeSet::new();
    for f in futures {
        let d = f.await.expect("not cancelled").expect("delivered");
        out.insert((d.partition, d.offset));
    }
    out
}

/// Produces `n` records to one partition.
async fn produce_to(p: &FutureProducer, topic: &str, partition: i32, n: usize) -> BTreeSet<(i32, i64)> {
    let mut out = BTreeSet::new();
    for i in 0..n {
        let value = format!("value-{i}");
        let d = p
            .send(FutureRecord::<(), _>::to(topic).partition(partition).payload(&value), Duration::from_secs(30))
            .await
            .expect("delivered");
        out.insert((d.partition, d.offset));
    }
    out
}

/// Produces a round every 20 ms until `stop`.
fn produce_until_stopped(
    bootstrap: &str,
    topic: &str,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<BTreeSet<(i32, i64)>> {
    let (bootstrap, topic) = (bootstrap.to_string(), topic.to_string());
    tokio::spawn(async move {
        let p = producer(&bootstrap);
        let mut produced = BTreeSet::new();
        while !stop.load(Ordering::SeqCst) {
            produced.extend(produce_rounds(&p, &topic, 1).await);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        produced
    })
}

fn consumed(events: &[(String, Event)]) -> BTreeSet<(i32, i64)> {
    events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Record { partition, offset, .. } => Some((*partition, *offset)),
            _ => None,
        })
        .collect()
}

/// The checks listed at the top of this file. `killed`: members that were
/// killed (their last uncommitted record may be consumed again).
/// `incarnations`: consumers that are one static member (one group
/// instance id) restarted, hence one member of the group.
fn check_consumption(
    events: &[(String, Event)],
    produced: &BTreeSet<(i32, i64)>,
    killed: &[&str],
    incarnations: &[&str],
) {
    let member = |name: &str| -> String {
        if incarnations.contains(&name) {
            incarnations.join("+")
        } else {
            name.to_string()
        }
    };
    let events: Vec<(String, Event)> = events.iter().map(|(n, e)| (member(n), e.clone())).collect();
    let killed: Vec<String> = killed.iter().map(|n| member(n)).collect();
    let events = &events[..];
    let got = consumed(events);
    let missing: Vec<_> = produced.difference(&got).take(10).collect();
    assert!(missing.is_empty(), "produced but never consumed (first 10): {missing:?}");
    let phantom: Vec<_> = got.difference(produced).take(10).collect();
    assert!(phantom.is_empty(), "consumed but never produced: {phantom:?}");

    // Within a generation a partition belongs to one member.
    let mut owners: BTreeMap<(i32, i32), BTreeSet<&str>> = BTreeMap::new();
    let mut seen: BTreeMap<(i32, i64), Vec<(&str, i32)>> = BTreeMap::new();
    for (name, e) in events {
        if let Event::Record { generation, partition, offset } = e {
            owners.entry((*generation, *partition)).or_default().insert(name);
            seen.entry((*partition, *offset)).or_default().push((name, *generation));
        }
    }
    for ((generation, partition), who) in &owners {
        assert_eq!(who.len(), 1, "generation {generation}: partition {partition} consumed by {who:?}");
    }
    // A record read twice: only by a member killed before its commit, or
    // after a failed commit; never twice by one member in one generation.
    let failed: BTreeSet<(i32, i64)> = events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::CommitFailed { partition, offset, .. } => Some((*partition, *offset)),
            _ => None,
        })
        .collect();
    let mut duplicates = 0;
    for ((partition, offset), by) in &seen {
        if by.len() < 2 {
            continue;
        }
        duplicates += 1;
        let distinct: BTreeSet<_> = by.iter().collect();
        assert_eq!(distinct.len(), by.len(), "{partition}@{offset} read twice in one generation: {by:?}");
        let explained =
            by.iter().any(|(n, _)| killed.iter().any(|k| k == n)) || failed.contains(&(*partition, offset + 1));
        assert!(explained, "{partition}@{offset} consumed again although committed: {by:?}");
    }
    // New partitions resume at their committed offsets.
    let mut starts = 0;
    for (name, e) in events {
        if let Event::Start { generation, partition, offset, expected } = e {
            starts += 1;
            assert_eq!(
                offset, expected,
                "{name} (generation {generation}) resumed partition {partition} at {offset}, committed {expected}"
            );
        }
    }
    assert!(starts >= PARTITIONS as usize, "only {starts} resumptions checked");
    // Assignments within a generation never overlap.
    let mut assigned: BTreeMap<i32, BTreeMap<&str, BTreeSet<i32>>> = BTreeMap::new();
    for (name, e) in events {
        if let Event::Status { generation, partitions } = e {
            assigned.entry(*generation).or_default().entry(name).or_default().extend(partitions);
        }
    }
    for (generation, by_member) in &assigned {
        let mut union = BTreeSet::new();
        for (name, parts) in by_member {
            for p in parts {
                assert!(
                    union.insert(*p),
                    "generation {generation}: partition {p} assigned twice ({name}): {by_member:?}"
                );
            }
        }
    }
    for (name, e) in events.iter().filter(|(_, e)| matches!(e, Event::CommitFailed { .. })).take(3) {
        eprintln!("commit failure of {name}: {e:?}");
    }
    let lookups = events.iter().filter(|(_, e)| matches!(e, Event::LookupFailed { .. })).count();
    assert_eq!(lookups, 0, "committed offsets could not be looked up");
    eprintln!(
        "consumed {} records ({} read twice, {} failed commits, {} resumptions checked)",
        got.len(),
        duplicates,
        failed.len(),
        starts
    );
}

/// (offset, metadata) committed for each partition of `topic`.
async fn committed(bootstrap: &str, group: &str, topic: &str, partitions: i32) -> BTreeMap<i32, (i64, String)> {
    let mut c = connect(bootstrap).await;
    let req = OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
        .with_group_id(GroupId(s(group)))
        .with_topics(Some(vec![OffsetFetchRequestTopics::default()
            .with_name(TopicName(s(topic)))
            .with_partition_indexes((0..partitions).collect())]))]);
    let resp: OffsetFetchResponse = c.send(ApiKey::OffsetFetch, 8, &req).await.expect("OffsetFetch");
    let g = &resp.groups[0];
    assert_eq!(g.error_code, NONE, "OffsetFetch {group}");
    g.topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| {
            assert_eq!(p.error_code, NONE);
            (p.partition_index, (p.committed_offset, p.metadata.as_deref().unwrap_or("").to_string()))
        })
        .collect()
}

fn log_end(produced: &BTreeSet<(i32, i64)>) -> BTreeMap<i32, i64> {
    let mut end = BTreeMap::new();
    for (p, o) in produced {
        let e = end.entry(*p).or_insert(0);
        *e = (*e).max(o + 1);
    }
    end
}

// ---------------------------------------------------------------------------
// Three consumers: one leaves, one is killed
// ---------------------------------------------------------------------------

/// A rebalance whose members all rejoin promptly completes long before the
/// rebalance timeout (max.poll.interval.ms, 30 s here): the join phase ends
/// when the last member is in.
fn assert_prompt(ms: i64) {
    assert!(ms < 10_000, "the rebalance took {ms} ms");
}

async fn three_consumers(strategy: &str) {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut broker = TestBroker::start_in(dir.path(), BROKER_CONFIG).await;
    let bs = broker.bootstrap();
    let (topic, group) = (format!("orders-{strategy}"), format!("group-{strategy}"));
    create_topic(&bs, &topic, PARTITIONS).await;
    let stop_producing = Arc::new(AtomicBool::new(false));
    let producing = produce_until_stopped(&bs, &topic, stop_producing.clone());

    let log: Log = Arc::new(Mutex::new(Vec::new()));
    let spec = |name: &str| ConsumerSpec::new(name, &bs, &group, &topic, strategy);
    let mut a = Running::start(spec("a"), &log);
    let mut b = Running::start(spec("b"), &log);
    let (g2, _) = wait_stable(&bs, &group, &topic, &log, None, &["a", "b"], 0).await;

    // The third member, in its own process.
    let mut victim = Victim::spawn(&spec("victim"), &out.path().join("victim.events"));
    let (g3, stable_at) = wait_stable(&bs, &group, &topic, &log, Some(&victim), &["a", "b", "victim"], g2).await;
    let joined_at = subscribed_at(&victim.events(), "victim");
    eprintln!("REBALANCE_TIMING strategy={strategy} event=third-member-joined ms={}", stable_at - joined_at);
    assert_prompt(stable_at - joined_at);
    wait_for("the victim to consume", || records_of(&victim.events(), "victim", g3) > 0).await;

    // b leaves (LeaveGroup on close).
    let left_at = now_ms();
    b.close();
    let (g4, stable_at) = wait_stable(&bs, &group, &topic, &log, Some(&victim), &["a", "victim"], g3).await;
    eprintln!("REBALANCE_TIMING strategy={strategy} event=member-left ms={}", stable_at - left_at);
    assert_prompt(stable_at - left_at);
    wait_for("the victim to consume again", || records_of(&victim.events(), "victim", g4) > 0).await;

    // The victim dies without leaving: its session expires.
    let killed_at = now_ms();
    victim.kill9();
    let (_, stable_at) = wait_stable(&bs, &group, &topic, &log, Some(&victim), &["a"], g4).await;
    eprintln!(
        "REBALANCE_TIMING strategy={strategy} event=member-killed ms={} (session.timeout.ms={SESSION_MS})",
        stable_at - killed_at
    );

    stop_producing.store(true, Ordering::SeqCst);
    let produced = producing.await.expect("producer task");
    wait_for("every record to be consumed", || consumed(&all_events(&log, Some(&victim))).is_superset(&produced)).await;
    a.close();
    let events = all_events(&log, Some(&victim));
    check_consumption(&events, &produced, &["victim"], &[]);
    // The survivor committed everything.
    let offsets = committed(&bs, &group, &topic, PARTITIONS).await;
    let end = log_end(&produced);
    for p in 0..PARTITIONS {
        assert_eq!(offsets[&p].0, end[&p], "committed offset of partition {p}");
    }
    let (state, members) = describe_group(&bs, &group, &topic).await;
    assert_eq!((state.as_str(), members.len()), ("Empty", 0));
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_consumers_range() {
    three_consumers("range").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_consumers_roundrobin() {
    three_consumers("roundrobin").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_consumers_cooperative_sticky() {
    three_consumers("cooperative-sticky").await;
}

// ---------------------------------------------------------------------------
// Static membership
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_member_restart_keeps_its_assignment_without_a_rebalance() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut broker = TestBroker::start_in(dir.path(), BROKER_CONFIG).await;
    let bs = broker.bootstrap();
    let (topic, group) = ("static-orders", "static-group");
    create_topic(&bs, topic, PARTITIONS).await;
    let p = producer(&bs);
    let mut produced = produce_rounds(&p, topic, 20).await;

    let log: Log = Arc::new(Mutex::new(Vec::new()));
    let static_spec = |name: &str| ConsumerSpec {
        instance: Some("static-1".to_string()),
        session_ms: 30_000,
        ..ConsumerSpec::new(name, &bs, group, topic, "range")
    };
    let mut s1 = Running::start(static_spec("s1"), &log);
    let mut d1 = Running::start(ConsumerSpec::new("d1", &bs, group, topic, "range"), &log);
    let mut d2 = Running::start(ConsumerSpec::new("d2", &bs, group, topic, "range"), &log);
    let (generation, _) = wait_stable(&bs, group, topic, &log, None, &["s1", "d1", "d2"], 0).await;
    let events = log.lock().unwrap().clone();
    let (_, s1_parts) = latest_status(&events, "s1").unwrap();
    let (_, described) = describe_group(&bs, group, topic).await;
    let old = described.iter().find(|m| m.1.as_deref() == Some("static-1")).expect("static member").clone();
    assert_eq!(old.2, s1_parts);
    wait_for("everything produced so far to be consumed", || consumed(&log.lock().unwrap()).is_superset(&produced))
        .await;

    // The static member's process stops: no LeaveGroup, it stays a member.
    s1.close();
    let (state, described) = describe_group(&bs, group, topic).await;
    assert_eq!(state, "Stable");
    assert_eq!(described.len(), 3, "a closing static member does not leave");
    produced.extend(produce_rounds(&p, topic, 20).await);

    // It comes back within its session timeout.
    let mut s2 = Running::start(static_spec("s2"), &log);
    wait_for("the restarted static member's assignment", || {
        latest_status(&log.lock().unwrap(), "s2").is_some_and(|(_, parts)| !parts.is_empty())
    })
    .await;
    let events = log.lock().unwrap().clone();
    let restarted = subscribed_at(&events, "s2");
    let assigned_at = now_ms();
    eprintln!("REBALANCE_TIMING strategy=range event=static-member-restart ms={}", assigned_at - restarted);
    let (s2_generation, s2_parts) = latest_status(&events, "s2").unwrap();
    assert_eq!(s2_parts, s1_parts, "the restarted static member keeps its partitions");
    assert_eq!(s2_generation, generation, "no new generation");
    // The others keep their generation and assignment, now and a few
    // heartbeats later.
    let before: Vec<_> = ["d1", "d2"].iter().map(|m| latest_status(&events, m)).collect();
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    wait_for("the rest of the records", || consumed(&log.lock().unwrap()).is_superset(&produced)).await;
    let events = log.lock().unwrap().clone();
    for m in ["d1", "d2"] {
        let statuses: Vec<_> = events
            .iter()
            .filter_map(|(n, e)| match e {
                Event::Status { generation: g, .. } if n == m => Some(*g),
                _ => None,
            })
            .collect();
        assert!(
            statuses.iter().all(|g| *g <= generation),
            "{m} saw a rebalance after the static member's restart: generations {statuses:?}"
        );
    }
    let after: Vec<_> = ["d1", "d2"].iter().map(|m| latest_status(&events, m)).collect();
    assert_eq!(before, after);
    let (state, described) = describe_group(&bs, group, topic).await;
    assert_eq!(state, "Stable");
    assert_eq!(described.len(), 3);
    let new = described.iter().find(|m| m.1.as_deref() == Some("static-1")).expect("static member");
    assert_ne!(new.0, old.0, "the restarted instance has a new member id");
    assert_eq!(new.2, s1_parts, "the broker kept its assignment");
    let mut ids: Vec<_> = described.iter().map(|m| m.0.clone()).collect();
    ids.sort();
    let mut known: Vec<_> = events
        .iter()
        .filter_map(|(n, e)| match e {
            Event::Member { id } if n != "s1" => Some(id.clone()),
            _ => None,
        })
        .collect();
    known.sort();
    assert_eq!(ids, known);
    s2.close();
    d1.close();
    d2.close();
    let events = log.lock().unwrap().clone();
    check_consumption(&events, &produced, &[], &["s1", "s2"]);
    broker.stop().await;
}

// ---------------------------------------------------------------------------
// Offsets with metadata
// ---------------------------------------------------------------------------

fn plain_consumer(bootstrap: &str, group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer")
}

fn offsets_with_metadata(topic: &str, entries: &[(i32, i64, &str)]) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for (p, o, m) in entries {
        let mut e = tpl.add_partition(topic, *p);
        e.set_offset(Offset::Offset(*o)).unwrap();
        e.set_metadata(*m);
    }
    tpl
}

fn query(topic: &str, partitions: i32) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    tpl
}

fn as_map(tpl: &TopicPartitionList) -> BTreeMap<i32, (Offset, String)> {
    tpl.elements().iter().map(|e| (e.partition(), (e.offset(), e.metadata().to_string()))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_carry_their_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = TestBroker::start_in(dir.path(), BROKER_CONFIG).await;
    let bs = broker.bootstrap();
    let topic = "with-metadata";
    create_topic(&bs, topic, 3).await;
    let c = plain_consumer(&bs, "metadata-group");
    // A group without members commits with generation -1.
    let tpl = offsets_with_metadata(topic, &[(0, 5, "checkpoint 0"), (1, 7, ""), (2, 9, "é ✓ \"json\": {1}")]);
    c.commit(&tpl, CommitMode::Sync).expect("commit");
    let got = as_map(&c.committed_offsets(query(topic, 3), TIMEOUT).expect("committed"));
    assert_eq!(
        got,
        BTreeMap::from([
            (0, (Offset::Offset(5), "checkpoint 0".to_string())),
            (1, (Offset::Offset(7), String::new())),
            (2, (Offset::Offset(9), "é ✓ \"json\": {1}".to_string())),
        ])
    );
    // The broker's view, through OffsetFetch.
    let offsets = committed(&bs, "metadata-group", topic, 3).await;
    assert_eq!(offsets[&0], (5, "checkpoint 0".to_string()));
    assert_eq!(offsets[&2], (9, "é ✓ \"json\": {1}".to_string()));
    // Overwrite one; the others stay.
    c.commit(&offsets_with_metadata(topic, &[(0, 6, "checkpoint 1")]), CommitMode::Sync).expect("commit");
    let got = as_map(&c.committed_offsets(query(topic, 3), TIMEOUT).expect("committed"));
    assert_eq!(got[&0], (Offset::Offset(6), "checkpoint 1".to_string()));
    assert_eq!(got[&1], (Offset::Offset(7), String::new()));
    // A partition never committed, in another group.
    let other = plain_consumer(&bs, "metadata-group-2");
    let got = as_map(&other.committed_offsets(query(topic, 1), TIMEOUT).expect("committed"));
    assert_eq!(got[&0].0, Offset::Invalid);
    // Metadata over offset.metadata.max.bytes (4096) is refused.
    let big = "m".repeat(5000);
    let res = c.commit(&offsets_with_metadata(topic, &[(1, 8, &big)]), CommitMode::Sync);
    let err = res.expect_err("oversized metadata");
    assert_eq!(err.rdkafka_error_code(), Some(RDKafkaErrorCode::OffsetMetadataTooLarge), "{err}");
    let got = as_map(&c.committed_offsets(query(topic, 3), TIMEOUT).expect("committed"));
    assert_eq!(got[&1], (Offset::Offset(7), String::new()));

    // A subscribed member commits with metadata in its generation.
    let p = producer(&bs);
    produce_to(&p, topic, 1, 1).await;
    let member: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bs)
        .set("group.id", "metadata-member-group")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", SESSION_MS.to_string())
        .create()
        .expect("consumer");
    member.subscribe(&[topic]).expect("subscribe");
    let start = Instant::now();
    let m = loop {
        assert!(start.elapsed() < TIMEOUT, "no record for the member");
        if let Some(r) = member.poll(Duration::from_millis(100)) {
            break r.expect("record").detach();
        }
    };
    let tpl = offsets_with_metadata(topic, &[(m.partition(), m.offset() + 1, "member checkpoint")]);
    member.commit(&tpl, CommitMode::Sync).expect("member commit");
    let offsets = committed(&bs, "metadata-member-group", topic, 3).await;
    assert_eq!(offsets[&m.partition()], (m.offset() + 1, "member checkpoint".to_string()));
    drop(member);
    broker.stop().await;
}

// ---------------------------------------------------------------------------
// Listing, describing, deleting; resetting and deleting offsets
// ---------------------------------------------------------------------------

async fn commit_as_admin(bootstrap: &str, group: &str, topic: &str, offsets: &[(i32, i64)]) -> Vec<i16> {
    let mut c = connect(bootstrap).await;
    // What `kafka-consumer-groups --reset-offsets --execute` sends:
    // generation -1, no member.
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default().with_name(TopicName(s(topic))).with_partitions(
            offsets
                .iter()
                .map(|(p, o)| {
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(*p)
                        .with_committed_offset(*o)
                        .with_committed_metadata(Some(s("")))
                })
                .collect(),
        )]);
    let resp: OffsetCommitResponse = c.send(ApiKey::OffsetCommit, 8, &req).await.expect("OffsetCommit");
    resp.topics[0].partitions.iter().map(|p| p.error_code).collect()
}

async fn delete_offsets(bootstrap: &str, group: &str, topic: &str, partitions: &[i32]) -> (i16, Vec<i16>) {
    let mut c = connect(bootstrap).await;
    let req = OffsetDeleteRequest::default().with_group_id(GroupId(s(group))).with_topics(vec![
        OffsetDeleteRequestTopic::default().with_name(TopicName(s(topic))).with_partitions(
            partitions.iter().map(|p| OffsetDeleteRequestPartition::default().with_partition_index(*p)).collect(),
        ),
    ]);
    let resp: OffsetDeleteResponse = c.send(ApiKey::OffsetDelete, 0, &req).await.expect("OffsetDelete");
    let codes = resp.topics.iter().flat_map(|t| t.partitions.iter().map(|p| p.error_code)).collect();
    (resp.error_code, codes)
}

/// Every group's state, once no `__consumer_offsets` partition is still
/// loading (until then ListGroups answers COORDINATOR_LOAD_IN_PROGRESS).
async fn list_groups(bootstrap: &str) -> BTreeMap<String, String> {
    let mut c = connect(bootstrap).await;
    let start = Instant::now();
    loop {
        let resp: ListGroupsResponse =
            c.send(ApiKey::ListGroups, 4, &ListGroupsRequest::default()).await.expect("ListGroups");
        match resp.error_code {
            NONE => return resp.groups.iter().map(|g| (g.group_id.0.to_string(), g.group_state.to_string())).collect(),
            code if code == E::CoordinatorLoadInProgress.code() => {}
            other => panic!("ListGroups: error {other}"),
        }
        assert!(start.elapsed() < TIMEOUT, "group coordinator partitions still loading");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls until the first record of `partition`; returns its offset.
fn first_offset(c: &BaseConsumer, partition: i32) -> i64 {
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < TIMEOUT, "no record from partition {partition}");
        if let Some(r) = c.poll(Duration::from_millis(100)) {
            let m = r.expect("record");
            if m.partition() == partition {
                return m.offset();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_describe_reset_and_delete_groups() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = TestBroker::start_in(dir.path(), BROKER_CONFIG).await;
    let bs = broker.bootstrap();
    let (topic, other_topic, group) = ("admin-orders", "admin-audit", "admin-group");
    create_topic(&bs, topic, 1).await;
    create_topic(&bs, other_topic, 1).await;
    let p = producer(&bs);
    for t in [topic, other_topic] {
        produce_to(&p, t, 0, 5).await;
    }

    // A live member, subscribed to `topic`.
    let log: Log = Arc::new(Mutex::new(Vec::new()));
    let mut member = Running::start(ConsumerSpec::new("member", &bs, group, topic, "range"), &log);
    wait_for("the member to consume", || consumed(&log.lock().unwrap()).len() == 5).await;
    // A commit without generation is refused while the group has members.
    assert_eq!(commit_as_admin(&bs, group, other_topic, &[(0, 2)]).await, vec![E::UnknownMemberId.code()]);

    // librdkafka's ListGroups + DescribeGroups.
    let c = plain_consumer(&bs, "admin-observer");
    let list = c.fetch_group_list(Some(group), TIMEOUT).expect("group list");
    let g = list.groups().iter().find(|g| g.name() == group).expect("group listed");
    assert_eq!(g.state(), "Stable");
    assert_eq!(g.protocol_type(), "consumer");
    assert_eq!(g.protocol(), "range");
    assert_eq!(g.members().len(), 1);
    let m = &g.members()[0];
    assert_eq!(m.client_id(), "member");
    assert_eq!(m.client_host(), "/127.0.0.1");
    let assignment = decode_assignment(&Bytes::copy_from_slice(m.assignment().expect("assignment")));
    assert_eq!(assignment, vec![(topic.to_string(), vec![0])]);
    let all = c.fetch_group_list(None, TIMEOUT).expect("group list");
    assert!(all.groups().iter().any(|g| g.name() == group && g.state() == "Stable"));
    assert_eq!(list_groups(&bs).await.get(group).map(String::as_str), Some("Stable"));

    // A group with members can be neither deleted nor stripped of the
    // offsets of topics it consumes.
    let a = admin(&bs);
    let res = a.delete_groups(&[group], &AdminOptions::new()).await.expect("delete_groups");
    assert_eq!(res, vec![Err((group.to_string(), RDKafkaErrorCode::NonEmptyGroup))]);
    assert_eq!(delete_offsets(&bs, group, topic, &[0]).await, (NONE, vec![E::GroupSubscribedToTopic.code()]));

    // The member leaves: the group is empty, its offsets remain.
    member.close();
    let (state, members) = describe_group(&bs, group, topic).await;
    assert_eq!((state.as_str(), members.len()), ("Empty", 0));
    let list = c.fetch_group_list(Some(group), TIMEOUT).expect("group list");
    assert_eq!(list.groups()[0].state(), "Empty");
    assert_eq!(committed(&bs, group, topic, 1).await[&0].0, 5);

    // An admin resets the offsets (generation -1), and the next member
    // starts there.
    assert_eq!(commit_as_admin(&bs, group, topic, &[(0, 2)]).await, vec![NONE]);
    assert_eq!(commit_as_admin(&bs, group, other_topic, &[(0, 3)]).await, vec![NONE]);
    assert_eq!(committed(&bs, group, topic, 1).await[&0].0, 2);
    assert_eq!(committed(&bs, group, other_topic, 1).await[&0].0, 3);
    let next = plain_consumer(&bs, group);
    next.subscribe(&[topic]).expect("subscribe");
    assert_eq!(first_offset(&next, 0), 2, "the next member starts at the reset offset");
    drop(next);

    // OffsetDelete on the empty group: any topic's offsets can go.
    assert_eq!(delete_offsets(&bs, group, other_topic, &[0]).await, (NONE, vec![NONE]));
    assert_eq!(committed(&bs, group, other_topic, 1).await[&0].0, -1);
    assert_eq!(committed(&bs, group, topic, 1).await[&0].0, 2);

    // DeleteGroups removes the group and its offsets.
    let res = a.delete_groups(&[group], &AdminOptions::new()).await.expect("delete_groups");
    assert_eq!(res, vec![Ok(group.to_string())]);
    assert!(!list_groups(&bs).await.contains_key(group));
    assert!(!c.fetch_group_list(None, TIMEOUT).expect("group list").groups().iter().any(|g| g.name() == group));
    assert_eq!(committed(&bs, group, topic, 1).await[&0].0, -1);
    let res = a.delete_groups(&[group], &AdminOptions::new()).await.expect("delete_groups");
    assert_eq!(res, vec![Err((group.to_string(), RDKafkaErrorCode::GroupIdNotFound))]);
    assert_eq!(delete_offsets(&bs, group, topic, &[0]).await.0, E::GroupIdNotFound.code());
    drop(c);
    broker.stop().await;
}

// ---------------------------------------------------------------------------
// Broker restarts
// ---------------------------------------------------------------------------

/// Committed offsets once the coordinator has loaded the group.
async fn committed_after_load(bootstrap: &str, group: &str, topic: &str) -> BTreeMap<i32, (i64, String)> {
    let start = Instant::now();
    loop {
        let attempt = async {
            let mut c = BrokerClient::connect(bootstrap, "groups-test").await.ok()?;
            let req = OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(s(group)))
                .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                    .with_name(TopicName(s(topic)))
                    .with_partition_indexes((0..PARTITIONS).collect())]))]);
            let resp: OffsetFetchResponse = c.send(ApiKey::OffsetFetch, 8, &req).await.ok()?;
            (resp.groups[0].error_code == NONE).then_some(())
        };
        if attempt.await.is_some() {
            return committed(bootstrap, group, topic, PARTITIONS).await;
        }
        assert!(start.elapsed() < TIMEOUT, "the coordinator of {group} never loaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_survive_broker_restarts() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let listeners = format!("PLAINTEXT://127.0.0.1:{port}");
    let config = [("listeners", listeners.as_str()), BROKER_CONFIG[0]];
    let mut broker = BrokerProcess::spawn(dir.path(), &config);
    assert_eq!(broker.addr.port(), port);
    let bs = broker.bootstrap();
    let (topic, group) = ("restart-orders", "restart-group");
    create_topic(&bs, topic, PARTITIONS).await;
    let p = producer(&bs);
    let mut produced = produce_rounds(&p, topic, 50).await;

    // A first member consumes about half, committing each record, and
    // leaves.
    let log: Log = Arc::new(Mutex::new(Vec::new()));
    let spec = |name: &str| ConsumerSpec::new(name, &bs, group, topic, "range");
    let mut c1 = Running::start(spec("c1"), &log);
    wait_for("c1 to consume", || consumed(&log.lock().unwrap()).len() >= produced.len() / 2).await;
    c1.close();
    let before = committed(&bs, group, topic, PARTITIONS).await;
    let c1_read = consumed(&log.lock().unwrap());
    for (p, (offset, _)) in &before {
        let next = c1_read.iter().filter(|(q, _)| q == p).map(|(_, o)| o + 1).max().unwrap_or(-1);
        assert_eq!(*offset, next, "partition {p}: committed what c1 read");
    }

    // A group deleted, and a group with an offset deleted, before the
    // restart.
    assert_eq!(commit_as_admin(&bs, "restart-deleted", topic, &[(0, 1)]).await, vec![NONE]);
    assert_eq!(commit_as_admin(&bs, "restart-pruned", topic, &[(0, 1), (1, 2)]).await, vec![NONE, NONE]);
    let res = admin(&bs).delete_groups(&["restart-deleted"], &AdminOptions::new()).await.expect("delete_groups");
    assert_eq!(res, vec![Ok("restart-deleted".to_string())]);
    assert_eq!(delete_offsets(&bs, "restart-pruned", topic, &[0]).await, (NONE, vec![NONE]));

    // kill -9 and restart: the coordinator rebuilds the groups from
    // __consumer_offsets.
    broker.kill9();
    let mut broker = BrokerProcess::spawn(dir.path(), &config);
    assert_eq!(committed_after_load(&bs, group, topic).await, before, "committed offsets after a restart");
    let groups = list_groups(&bs).await;
    assert_eq!(groups.get(group).map(String::as_str), Some("Empty"), "{groups:?}");
    assert!(!groups.contains_key("restart-deleted"), "a deleted group stays deleted: {groups:?}");
    assert_eq!(committed(&bs, "restart-deleted", topic, 1).await[&0].0, -1);
    let pruned = committed(&bs, "restart-pruned", topic, 2).await;
    assert_eq!((pruned[&0].0, pruned[&1].0), (-1, 2), "deleted offsets stay deleted");

    // The next member resumes exactly there, and keeps going while the
    // broker is killed and restarted under it.
    let mut c2 = Running::start(spec("c2"), &log);
    wait_for("c2 to consume", || {
        log.lock().unwrap().iter().filter(|(n, e)| n == "c2" && matches!(e, Event::Record { .. })).count() >= 20
    })
    .await;
    for (n, e) in log.lock().unwrap().iter() {
        if let (true, Event::Start { partition, offset, .. }) = (n == "c2", e) {
            if before[partition].0 >= 0 {
                assert_eq!(*offset, before[partition].0, "c2 resumed partition {partition} at the committed offset");
            }
        }
    }
    // Records keep coming while the broker is killed and restarted.
    let stop_producing = Arc::new(AtomicBool::new(false));
    let producing = produce_until_stopped(&bs, topic, stop_producing.clone());
    let c2_records =
        |log: &Log| log.lock().unwrap().iter().filter(|(n, e)| n == "c2" && matches!(e, Event::Record { .. })).count();
    wait_for("c2 to catch up", || consumed(&log.lock().unwrap()).is_superset(&produced)).await;
    let read = c2_records(&log);
    wait_for("c2 to consume new records", || c2_records(&log) >= read + 30).await;
    broker.kill9();
    let broker = BrokerProcess::spawn(dir.path(), &config);
    let read = c2_records(&log);
    wait_for("c2 to consume after the restart", || c2_records(&log) >= read + 30).await;
    stop_producing.store(true, Ordering::SeqCst);
    produced.extend(producing.await.expect("producer task"));
    wait_for("every record to be consumed", || consumed(&log.lock().unwrap()).is_superset(&produced)).await;
    c2.close();
    let events = log.lock().unwrap().clone();
    check_consumption(&events, &produced, &[], &[]);
    let offsets = committed_after_load(&bs, group, topic).await;
    let end = log_end(&produced);
    for p in 0..PARTITIONS {
        assert_eq!(offsets[&p].0, end[&p], "committed offset of partition {p}");
    }
    drop(broker);
}
