//! The queue workload, with librdkafka as the client: idempotent acks=all
//! producers sending unique values, consumers in assign mode and in a
//! consumer group (committing), and a final reader. Everything a client
//! observed goes into a [`History`] (acknowledgements, failures) or into
//! each consumer's own [`ConsumerLog`], which the checker reads.
//!
//! Clients run on plain threads with rdkafka's `BaseProducer` /
//! `BaseConsumer`: the threads (and librdkafka's own) are spawned from the
//! harness thread, so they live in the lab's client namespace.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

/// One acknowledged value.
#[derive(Debug, Clone)]
pub struct Ack {
    pub value: String,
    pub partition: i32,
    pub offset: i64,
    /// Since the workload started.
    pub at: Duration,
    /// When it was sent (also since the start; the value carries it).
    pub sent: Duration,
}

/// What the producers saw.
pub struct History {
    pub t0: Instant,
    pub acks: Mutex<Vec<Ack>>,
    /// Values whose delivery failed (indeterminate: they may be stored).
    pub failed: AtomicUsize,
    pub sent: AtomicUsize,
    /// Fatal producer errors (the producer is then replaced, as an
    /// application would).
    pub fatal: Mutex<Vec<String>>,
}

impl History {
    pub fn new() -> Arc<History> {
        Arc::new(History {
            t0: Instant::now(),
            acks: Mutex::new(Vec::new()),
            failed: AtomicUsize::new(0),
            sent: AtomicUsize::new(0),
            fatal: Mutex::new(Vec::new()),
        })
    }

    pub fn now(&self) -> Duration {
        self.t0.elapsed()
    }

    pub fn ack_count(&self) -> usize {
        self.acks.lock().unwrap().len()
    }
}

/// Records every delivery report in the history.
struct Deliveries(Arc<History>);

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        match r {
            Ok(m) => {
                let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
                let sent = value
                    .rsplit('@')
                    .next()
                    .and_then(|ms| ms.parse().ok())
                    .map_or(Duration::ZERO, Duration::from_millis);
                let ack = Ack { value, partition: m.partition(), offset: m.offset(), at: self.0.now(), sent };
                self.0.acks.lock().unwrap().push(ack);
            }
            Err(_) => {
                self.0.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Client settings shared by every producer.
const PRODUCER: &[(&str, &str)] = &[
    ("acks", "all"),
    ("enable.idempotence", "true"),
    ("linger.ms", "5"),
    // Bounded so a run ends: a message not acknowledged within this is
    // reported failed (indeterminate) and librdkafka bumps its epoch.
    ("message.timeout.ms", "15000"),
    ("request.timeout.ms", "5000"),
    ("retry.backoff.ms", "100"),
    ("retry.backoff.max.ms", "500"),
    ("reconnect.backoff.max.ms", "500"),
    ("topic.metadata.refresh.interval.ms", "2000"),
];

/// Running clients, stopped by [`Clients::stop_producers`] and
/// [`Clients::stop_consumers`].
pub struct Clients {
    stop_producing: Arc<AtomicBool>,
    stop_consuming: Arc<AtomicBool>,
    producers: Vec<JoinHandle<()>>,
    consumers: Vec<JoinHandle<ConsumerLog>>,
    /// Per consumer: partition -> next offset it will read.
    pub positions: Vec<Arc<Mutex<BTreeMap<i32, i64>>>>,
    pub group_members: usize,
}

/// How the workload runs.
pub struct WorkloadSpec {
    pub topic: String,
    pub partitions: i32,
    pub producers: usize,
    /// Pause between two sends of one producer (pacing, not waiting).
    pub send_every: Duration,
    pub assign_consumers: usize,
    pub group_consumers: usize,
}

/// One value as a consumer read it.
#[derive(Debug, Clone)]
pub struct Read {
    pub partition: i32,
    pub offset: i64,
    pub value: String,
    /// For group consumers, the assignment it was read under (offsets may
    /// go back across a rebalance, never within one).
    pub generation: u32,
}

/// Everything one consumer read, in order.
#[derive(Debug, Default)]
pub struct ConsumerLog {
    pub name: String,
    pub group: bool,
    pub reads: Vec<Read>,
    pub errors: usize,
    pub commits_failed: usize,
}

pub fn start(spec: &WorkloadSpec, bootstrap: &str, history: &Arc<History>) -> Clients {
    let stop_producing = Arc::new(AtomicBool::new(false));
    let stop_consuming = Arc::new(AtomicBool::new(false));
    let producers = (0..spec.producers)
        .map(|i| {
            let (stop, history, bootstrap, topic) =
                (stop_producing.clone(), history.clone(), bootstrap.to_string(), spec.topic.clone());
            let (partitions, every) = (spec.partitions, spec.send_every);
            std::thread::Builder::new()
                .name(format!("producer-{i}"))
                .spawn(move || produce(i, &bootstrap, &topic, partitions, every, &stop, &history))
                .expect("spawn producer")
        })
        .collect();
    let mut consumers = Vec::new();
    let mut positions = Vec::new();
    for i in 0..spec.assign_consumers + spec.group_consumers {
        let group = i >= spec.assign_consumers;
        let name = if group { format!("group-{}", i - spec.assign_consumers) } else { format!("assign-{i}") };
        let pos = Arc::new(Mutex::new(BTreeMap::new()));
        positions.push(pos.clone());
        let (stop, bootstrap, topic) = (stop_consuming.clone(), bootstrap.to_string(), spec.topic.clone());
        let partitions = spec.partitions;
        consumers.push(
            std::thread::Builder::new()
                .name(name.clone())
                .spawn(move || consume(name, group, &bootstrap, &topic, partitions, &stop, &pos))
                .expect("spawn consumer"),
        );
    }
    Clients { stop_producing, stop_consuming, producers, consumers, positions, group_members: spec.group_consumers }
}

impl Clients {
    /// Stops sending and waits until every message sent was acknowledged
    /// or failed (bounded by `message.timeout.ms`).
    pub fn stop_producers(&mut self) {
        self.stop_producing.store(true, Ordering::Relaxed);
        for p in self.producers.drain(..) {
            p.join().expect("producer thread");
        }
    }

    pub fn stop_consumers(&mut self) -> Vec<ConsumerLog> {
        self.stop_consuming.store(true, Ordering::Relaxed);
        self.consumers.drain(..).map(|c| c.join().expect("consumer thread")).collect()
    }
}

fn new_producer(bootstrap: &str, history: &Arc<History>) -> BaseProducer<Deliveries> {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", bootstrap);
    for (k, v) in PRODUCER {
        cfg.set(*k, *v);
    }
    cfg.create_with_context(Deliveries(history.clone())).expect("producer")
}

/// Sends `p<idx>-<n>@<ms since the start>` for n = 0, 1, ... round robin
/// over the partitions.
fn produce(
    idx: usize,
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    every: Duration,
    stop: &AtomicBool,
    history: &Arc<History>,
) {
    let mut producer = new_producer(bootstrap, history);
    let mut n: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        // A bounded backlog: while messages wait for a dead leader, do not
        // pile up more than the timeout can fail in one go.
        if producer.in_flight_count() > 5_000 {
            producer.poll(Duration::from_millis(20));
            continue;
        }
        let value = format!("p{idx}-{n}@{}", history.now().as_millis());
        let record = BaseRecord::<(), String>::to(topic).partition((n % partitions as u64) as i32).payload(&value);
        match producer.send(record) {
            Ok(()) => {
                n += 1;
                history.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {}
            Err((e, _)) => panic!("producer {idx}: enqueue {value}: {e}"),
        }
        producer.poll(Duration::ZERO);
        if let Some((code, reason)) = producer.client().fatal_error() {
            // An application would replace its producer; so do we (the
            // outstanding messages are failed by the old one's drop).
            history.fatal.lock().unwrap().push(format!("producer {idx}: {code:?}: {reason}"));
            producer = new_producer(bootstrap, history);
        }
        std::thread::sleep(every);
    }
    // Resolve every outstanding message; the message timeout bounds this.
    let _ = producer.flush(Duration::from_secs(30));
}

/// Counts rebalances so reads know their assignment.
struct Generations(Arc<AtomicU32>);

impl ClientContext for Generations {}

impl ConsumerContext for Generations {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, _: &Rebalance<'_>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn consume(
    name: String,
    group: bool,
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    stop: &AtomicBool,
    positions: &Mutex<BTreeMap<i32, i64>>,
) -> ConsumerLog {
    let generation = Arc::new(AtomicU32::new(0));
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", bootstrap)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("reconnect.backoff.max.ms", "500")
        .set("topic.metadata.refresh.interval.ms", "2000");
    if group {
        cfg.set("group.id", "wfh-group");
    } else {
        cfg.set("group.id", format!("wfh-{name}"));
    }
    let consumer: BaseConsumer<Generations> =
        cfg.create_with_context(Generations(generation.clone())).expect("consumer");
    if group {
        consumer.subscribe(&[topic]).expect("subscribe");
    } else {
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning).expect("assign");
        }
        consumer.assign(&tpl).expect("assign");
    }
    let mut log = ConsumerLog { name, group, ..ConsumerLog::default() };
    let mut last_commit = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
                let read = Read {
                    partition: m.partition(),
                    offset: m.offset(),
                    value,
                    generation: generation.load(Ordering::Relaxed),
                };
                positions.lock().unwrap().insert(read.partition, read.offset + 1);
                log.reads.push(read);
            }
            Some(Err(_)) => log.errors += 1,
            None => {}
        }
        if group && last_commit.elapsed() > Duration::from_millis(200) {
            last_commit = Instant::now();
            if consumer.commit_consumer_state(CommitMode::Async).is_err() {
                log.commits_failed += 1;
            }
        }
    }
    log
}

/// Reads every partition of `topic` from the beginning up to `ends`
/// (exclusive) with a fresh assign-mode consumer; panics after `timeout`.
pub fn read_all(bootstrap: &str, topic: &str, ends: &[i64], timeout: Duration) -> Vec<Read> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "wfh-final")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("final reader");
    let mut tpl = TopicPartitionList::new();
    for p in 0..ends.len() {
        tpl.add_partition_offset(topic, p as i32, Offset::Beginning).expect("assign");
    }
    consumer.assign(&tpl).expect("assign");
    let mut next: Vec<i64> = vec![0; ends.len()];
    let mut out = Vec::new();
    let start = Instant::now();
    while next.iter().zip(ends).any(|(n, e)| n < e) {
        assert!(start.elapsed() < timeout, "final read stuck at {next:?}, want {ends:?}");
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let p = m.partition();
                next[p as usize] = next[p as usize].max(m.offset() + 1);
                let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
                out.push(Read { partition: p, offset: m.offset(), value, generation: 0 });
            }
            Some(Err(e)) => eprintln!("final read: {e}"),
            None => {}
        }
    }
    out
}

/// The high watermark of each partition (asked of its leader).
pub fn end_offsets(bootstrap: &str, topic: &str, partitions: i32) -> Result<Vec<i64>, String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "wfh-final")
        .create()
        .map_err(|e| e.to_string())?;
    (0..partitions)
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .map(|(_, high)| high)
                .map_err(|e| e.to_string())
        })
        .collect()
}
