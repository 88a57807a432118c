//! `cargo bench --bench partitions`: one Weir node with 10,000 partitions.
//!
//! The node is one `weir serve` process (a copy of the binary Cargo built
//! for this bench, i.e. release code, so a concurrent rebuild cannot swap
//! it between restarts) that is both broker and controller (a single-voter
//! metadata quorum), with a PLAINTEXT and a CONTROLLER listener on loopback
//! ports chosen once and a temporary `log.dirs`; it is stopped and started
//! again on the same ports and data. librdkafka (rust-rdkafka) clients in
//! this process drive it. Steps, in order:
//!
//! 1. Create `WEIR_PARTITIONS` (default 10,000) partitions as topics of
//!    1,000 partitions each (replication factor 1) with the AdminClient,
//!    two topics per CreateTopics request, one request after the other
//!    (operation timeout 120 s). `create_s` runs until the last request is
//!    answered, `create_leaders_s` until metadata shows a leader for every
//!    partition.
//! 2. `produce_s`: one 1 KiB record to every partition (acks=1, linger 5
//!    ms), from the first send to the last delivery callback (the
//!    producer's first metadata lookup included).
//! 3. The broker's resident set (`VmRSS`), its peak so far (`VmHWM`) and its
//!    open file descriptors (entries of `/proc/<pid>/fd`), taken after the
//!    clients have disconnected; then a sample check (below).
//! 4. Clean restart: SIGTERM, and `clean_shutdown_s` until the process has
//!    exited (exit status 0 required). Started again on the same data,
//!    `clean_start_s` runs from spawn to the broker's `weir listening on
//!    PLAINTEXT` line, and the broker must have logged `log directory
//!    loaded ... clean_shutdown=true` (else this was no clean start and the
//!    bench fails). Then RSS, fds and a sample check.
//! 5. Unclean restart: a second record to every partition
//!    (`produce_again_s`), SIGKILL, start again: `unclean_start_s`, where
//!    the broker must log `clean_shutdown=false` (it recovers the logs);
//!    then RSS, fds and a sample check.
//!
//! Checks (each on 100 partitions chosen at random): after every phase,
//! ListOffsets must give log start 0 and a high watermark equal to the
//! records produced so far (retried for a while, as a restarted broker may
//! still be taking leadership); at the very end a consumer must read back
//! both records of each, byte for byte (each value names its topic,
//! partition and round). The read-back comes last because librdkafka's
//! consumer needs a group.id, which makes the broker create
//! `__consumer_offsets` (50 more partitions). Anything missing fails the
//! bench.
//!
//! For each start and stop, the progress output says when the broker
//! logged its milestones (logs loaded, controller active, registered,
//! listening; controlled shutdown done, logs closed), from when its lines
//! arrived here; that is where the time goes. For creation and produce it
//! also shows how the CPUs were used (broker, client = this process, other
//! work, iowait, and the busiest threads of each; `common::procstat`).
//! The broker runs with `RUST_LOG=info,openraft=warn`; its stdout and
//! stderr share one pipe (so lines keep their order) and are copied to
//! `weir.log` next to the data directory, each line prefixed with the
//! start number and the seconds since that start.
//!
//! Output: progress on stderr; on stdout a table (metric, value, goal) and
//! one `BENCH name=partitions-<N> metric=<m> value=<v>` line per figure
//! (seconds, MB = 10^6 bytes, counts), including the fd soft limit
//! (`ulimit -n`) the broker ran with. The goals shown (clean start < 5 s,
//! RSS < 500 MB) are targets, not assertions: the exit status is non-zero
//! only if a step failed (error, timeout, missing data); the figures
//! measured until then are still printed. Clients and broker share the
//! machine's CPUs, so results are noisy on a busy machine.
//!
//! Environment:
//!
//! * `WEIR_PARTITIONS` (default 10000): partitions in total.
//! * `WEIR_BENCH_QUIET_WAIT` (seconds, default 10; 0 disables): before
//!   starting, wait up to this long for other work on the machine to stop.
//! * `WEIR_BENCH_KEEP=1`: keep the data directory and `weir.log` (the path
//!   is printed) instead of removing them.
//!
//! Run without `--bench` (as `cargo test --all-targets` does), the binary
//! does nothing.

// Only part of the shared bench code (the table, `/proc` helpers) is used
// here; the throughput bench uses the rest.
#[allow(dead_code)]
mod common;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use common::client::{now_ns, BenchContext};
use common::process::{self, Capture, Launch, NotListening, Output, WeirProcess, READY_LINE};
use common::procstat::{fd_soft_limit, open_fds, peak_rss_kib, rss_kib, sync_disks, wait_for_quiet, CpuWindow};
use common::table::{thousands, Table};

/// Partitions in total unless `WEIR_PARTITIONS` says otherwise.
const DEFAULT_PARTITIONS: usize = 10_000;
/// Partitions per topic (the last topic may have fewer).
const PARTITIONS_PER_TOPIC: usize = 1_000;
/// Topics per CreateTopics request.
const TOPICS_PER_REQUEST: usize = 2;
/// Value bytes per record.
const RECORD_SIZE: usize = 1024;
/// Partitions checked after each phase.
const SAMPLE_SIZE: usize = 100;

/// CreateTopics operation timeout (how long the broker may take to create
/// the partitions of one request), and the client's request timeout above
/// it.
const CREATE_OPERATION_TIMEOUT: Duration = Duration::from_secs(120);
const CREATE_REQUEST_TIMEOUT: Duration = Duration::from_secs(150);
/// How long after CreateTopics every partition may take to show a leader.
const LEADERS_TIMEOUT: Duration = Duration::from_secs(120);
/// How long one round of produce (one record per partition) may take.
const PRODUCE_TIMEOUT: Duration = Duration::from_secs(180);
/// How long a start may take to report the PLAINTEXT listener (recovery of
/// every log after a SIGKILL included).
const START_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a SIGTERMed broker may take to exit.
const STOP_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a sample check may take.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the output reader may take to see the end of a process's
/// output once it has exited.
const OUTPUT_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between polls of a condition (metadata, process exit, offsets).
const POLL_INTERVAL: Duration = Duration::from_millis(100);
const EXIT_POLL_INTERVAL: Duration = Duration::from_millis(2);
/// How long each producer poll waits for delivery callbacks.
const DELIVERY_POLL: Duration = Duration::from_millis(50);

/// Goals from the issue: targets shown next to the figures.
const CLEAN_START_GOAL_S: f64 = 5.0;
const RSS_GOAL_MB: f64 = 500.0;

/// The broker's log line once a log directory is loaded (with
/// `partitions=<n> clean_shutdown=<bool>`).
const LOADED_LINE: &str = "log directory loaded";
/// Lines of the broker's log shown in an error message.
const LOG_TAIL_LINES: usize = 15;

/// Milestones of a start: (substring of the broker's line, label).
const START_MILESTONES: &[(&str, &str)] = &[
    (LOADED_LINE, "logs loaded"),
    ("became the active controller", "controller active"),
    ("broker registered and caught up", "registered"),
    ("broker unfenced", "unfenced"),
    (READY_LINE, "listening"),
];
/// Milestones of a clean stop, after SIGTERM.
const STOP_MILESTONES: &[(&str, &str)] = &[
    ("shutting down", "signal seen"),
    ("controlled shutdown complete", "controlled shutdown done"),
    ("log manager shut down cleanly", "logs closed"),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("partitions: not run by `cargo bench` (no --bench flag); skipping");
        return;
    }
    let mut report = Report::default();
    let result = run(&mut report);
    report.print();
    if let Err(e) = result {
        eprintln!("partitions bench FAILED: {e:#}");
        std::process::exit(1);
    }
}

/// Sets up the node and its data directory, runs the steps, then stops the
/// node and removes (or keeps) the data.
fn run(report: &mut Report) -> Result<()> {
    let total = match std::env::var("WEIR_PARTITIONS") {
        Ok(v) => v.trim().parse::<usize>().with_context(|| format!("WEIR_PARTITIONS={v:?}"))?,
        Err(_) => DEFAULT_PARTITIONS,
    };
    if total == 0 {
        bail!("WEIR_PARTITIONS must be at least 1");
    }
    let quiet_wait = match std::env::var("WEIR_BENCH_QUIET_WAIT") {
        Ok(v) => v.trim().parse::<f64>().with_context(|| format!("WEIR_BENCH_QUIET_WAIT={v:?}"))?.max(0.0),
        Err(_) => 10.0,
    };
    let keep = std::env::var("WEIR_BENCH_KEEP").is_ok_and(|v| !v.is_empty() && v != "0");
    let layout = Layout::new(total);
    report.name = format!("partitions-{total}");
    report.total = total;

    let root = tempfile::Builder::new().prefix("weir-bench-partitions-").tempdir().context("temp dir")?;
    let mut broker = Broker::new(Path::new(env!("CARGO_BIN_EXE_weir")), root.path())?;
    eprintln!(
        "weir partitions bench: {} partitions ({} topics x up to {PARTITIONS_PER_TOPIC}), {} CPU(s)",
        thousands(total as u64),
        layout.topics.len(),
        thread::available_parallelism().map_or(0, |n| n.get()),
    );
    eprintln!("  binary {} (run from a copy)", env!("CARGO_BIN_EXE_weir"));
    eprintln!("  data and broker log under {}", root.path().display());
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        eprintln!("  load average at start: {}", load.trim());
    }
    // No writeback left from earlier work, and no build running, if we can.
    sync_disks();
    wait_for_quiet(Duration::from_secs_f64(quiet_wait));

    let result = steps(&mut broker, &layout, report);
    // Stop the node (SIGKILL if still running) before its data goes.
    drop(broker);
    if keep {
        let path = root.keep();
        eprintln!("  kept {} (data/ and weir.log)", path.display());
    }
    result
}

/// Steps 1 to 5 of the module documentation, each adding its figures to
/// `report` as it completes.
fn steps(broker: &mut Broker, layout: &Layout, report: &mut Report) -> Result<()> {
    let total = layout.total;
    let started = broker.start().context("first start")?;
    eprintln!(
        "first start: {:.2} s ({})",
        started.took.as_secs_f64(),
        broker.milestones(broker.spawned()?, START_MILESTONES)
    );
    let pid = broker.pid()?;
    report.fd_limit = fd_soft_limit(&pid.to_string());
    let bootstrap = started.addr;

    // 1. Create the topics.
    {
        let admin: AdminClient<BenchContext> = client_config(&bootstrap).create_with_context(BenchContext::default())?;
        let cpu = CpuWindow::start(&[pid], true);
        let create = create_topics(&admin, layout)?;
        report.seconds(
            "create_s",
            &format!("create {} partitions (CreateTopics answered)", thousands(total as u64)),
            create,
            None,
        );
        let leaders_from = Instant::now();
        wait_for_leaders(&admin, layout, leaders_from + LEADERS_TIMEOUT)?;
        let leaders = create + leaders_from.elapsed();
        report.seconds("create_leaders_s", "create, until every partition has a leader", leaders, None);
        eprintln!(
            "created: {:.2} s, all leaders after {:.2} s ({})",
            create.as_secs_f64(),
            leaders.as_secs_f64(),
            cpu_summary(&cpu)
        );
    }

    // 2. One record per partition.
    let (produce, cpu) = produce_round(&bootstrap, layout, 1, pid)?;
    report.seconds("produce_s", "produce 1 x 1 KiB to every partition (acks=1)", produce, None);
    eprintln!("produced round 1: {:.2} s ({cpu})", produce.as_secs_f64());

    // 3. Memory and files with all partitions created and written.
    report.process(pid, "", "after produce", true)?;
    check_offsets(&bootstrap, layout, 1)?;

    // 4. Clean stop and start.
    let stopped = broker.terminate()?;
    report.seconds("clean_shutdown_s", "clean shutdown (SIGTERM to exit)", stopped.took, None);
    eprintln!(
        "clean shutdown: {:.2} s ({})",
        stopped.took.as_secs_f64(),
        broker.milestones(stopped.signalled, STOP_MILESTONES)
    );
    let started = broker.start().context("start after the clean shutdown")?;
    eprintln!(
        "clean start: {:.2} s ({})",
        started.took.as_secs_f64(),
        broker.milestones(broker.spawned()?, START_MILESTONES)
    );
    broker.require_loaded(true, total)?;
    report.seconds(
        "clean_start_s",
        "clean start (spawn to PLAINTEXT listener)",
        started.took,
        Some(Goal::Below(CLEAN_START_GOAL_S, "s")),
    );
    report.process(broker.pid()?, "clean_start_", "after clean start", false)?;
    check_offsets(&started.addr, layout, 1)?;

    // 5. A second record everywhere, then a crash and a start that must
    // recover.
    let (produce, cpu) = produce_round(&started.addr, layout, 2, broker.pid()?)?;
    report.seconds("produce_again_s", "produce 1 x 1 KiB more to every partition", produce, None);
    eprintln!("produced round 2: {:.2} s ({cpu})", produce.as_secs_f64());
    broker.kill()?;
    eprintln!("SIGKILLed the broker");
    let started = broker.start().context("start after SIGKILL")?;
    eprintln!(
        "unclean start: {:.2} s ({})",
        started.took.as_secs_f64(),
        broker.milestones(broker.spawned()?, START_MILESTONES)
    );
    broker.require_loaded(false, total)?;
    report.seconds("unclean_start_s", "unclean start after SIGKILL (spawn to PLAINTEXT listener)", started.took, None);
    report.process(broker.pid()?, "unclean_start_", "after unclean start", false)?;
    check_offsets(&started.addr, layout, 2)?;
    // Last, as it adds __consumer_offsets to the broker: the records
    // themselves.
    read_back(&started.addr, layout, 2)?;
    Ok(())
}

/// CPU use over `window` in % of one core: broker, client (this
/// process), other work, iowait, then the busiest thread groups of each.
fn cpu_summary(window: &CpuWindow) -> String {
    let u = window.finish();
    format!(
        "CPU % of a core: broker {:.0}, client {:.0}, other {:.0}, iowait {:.0}; {}",
        u.broker, u.client, u.other, u.iowait, u.threads
    )
}

// ---------------------------------------------------------------------------
// Topics and records
// ---------------------------------------------------------------------------

/// The bench's topics: `parts-<i>` with `PARTITIONS_PER_TOPIC` partitions
/// each (the last one the rest), `total` partitions in all.
struct Layout {
    topics: Vec<(String, i32)>,
    total: usize,
}

impl Layout {
    fn new(total: usize) -> Layout {
        let topics = (0..total.div_ceil(PARTITIONS_PER_TOPIC))
            .map(|t| (format!("parts-{t}"), (total - t * PARTITIONS_PER_TOPIC).min(PARTITIONS_PER_TOPIC) as i32))
            .collect();
        Layout { topics, total }
    }

    /// Every (topic, partition), topic by topic.
    fn partitions(&self) -> impl Iterator<Item = (&str, i32)> + '_ {
        self.topics.iter().flat_map(|(name, n)| (0..*n).map(move |p| (name.as_str(), p)))
    }

    /// The `i`-th partition of [`Layout::partitions`].
    fn locate(&self, i: usize) -> (&str, i32) {
        (self.topics[i / PARTITIONS_PER_TOPIC].0.as_str(), (i % PARTITIONS_PER_TOPIC) as i32)
    }
}

/// The value of the record produced to `topic`/`partition` in `round`
/// (1, 2, ...): it names all three, so a record read back proves it is
/// the right one; `RECORD_SIZE` bytes.
fn record_value(topic: &str, partition: i32, round: i64) -> Vec<u8> {
    let mut v = format!("{topic}/{partition}/round {round}/").into_bytes();
    while v.len() < RECORD_SIZE {
        v.push(b'a' + (v.len() % 26) as u8);
    }
    v.truncate(RECORD_SIZE);
    v
}

// ---------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------

fn client_config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap);
    c
}

/// Creates the layout's topics, `TOPICS_PER_REQUEST` per CreateTopics
/// request, one request at a time; returns the time until the last answer.
fn create_topics(admin: &AdminClient<BenchContext>, layout: &Layout) -> Result<Duration> {
    let opts = AdminOptions::new()
        .operation_timeout(Some(CREATE_OPERATION_TIMEOUT))
        .request_timeout(Some(CREATE_REQUEST_TIMEOUT));
    let start = Instant::now();
    for batch in layout.topics.chunks(TOPICS_PER_REQUEST) {
        let topics: Vec<NewTopic<'_>> =
            batch.iter().map(|(name, n)| NewTopic::new(name, *n, TopicReplication::Fixed(1))).collect();
        let names: Vec<&str> = batch.iter().map(|(name, _)| name.as_str()).collect();
        let sent = Instant::now();
        // The request timeout bounds this wait: librdkafka fails the
        // request once it passes.
        let results = futures::executor::block_on(admin.create_topics(&topics, &opts))
            .with_context(|| format!("CreateTopics {}", names.join(", ")))?;
        for r in results {
            r.map_err(|(topic, code)| anyhow!("create topic {topic}: {code:?}"))?;
        }
        let partitions: i32 = batch.iter().map(|(_, n)| n).sum();
        eprintln!(
            "  CreateTopics {} ({partitions} partitions): {:.2} s",
            names.join(", "),
            sent.elapsed().as_secs_f64()
        );
    }
    Ok(start.elapsed())
}

/// Polls metadata until every partition of the layout has a leader.
fn wait_for_leaders(admin: &AdminClient<BenchContext>, layout: &Layout, deadline: Instant) -> Result<()> {
    let names: HashSet<&str> = layout.topics.iter().map(|(name, _)| name.as_str()).collect();
    loop {
        let timeout = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(1));
        let seen = match admin.inner().fetch_metadata(None, timeout) {
            Ok(md) => {
                let led = md
                    .topics()
                    .iter()
                    .filter(|t| names.contains(t.name()) && t.error().is_none())
                    .flat_map(|t| t.partitions())
                    .filter(|p| p.error().is_none() && p.leader() >= 0)
                    .count();
                if led == layout.total {
                    return Ok(());
                }
                format!("{led} of {} partitions have a leader", layout.total)
            }
            Err(e) => format!("metadata: {e}"),
        };
        if Instant::now() >= deadline {
            bail!("partitions without a leader {LEADERS_TIMEOUT:?} after CreateTopics: {seen}");
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// Produces round `round`'s record to every partition (acks=1) and waits
/// for every delivery. Returns the time from the first send to the last
/// delivery callback, and how the CPUs were used meanwhile (`broker_pid`
/// is the broker's process).
fn produce_round(bootstrap: &str, layout: &Layout, round: i64, broker_pid: u32) -> Result<(Duration, String)> {
    let producer: BaseProducer<BenchContext> = client_config(bootstrap)
        .set("acks", "1")
        .set("linger.ms", "5")
        .set("compression.type", "none")
        .set("enable.idempotence", "false")
        // Room for every record of the round at once.
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("message.timeout.ms", PRODUCE_TIMEOUT.as_millis().to_string())
        .create_with_context(BenchContext::default())
        .context("producer")?;
    let cpu = CpuWindow::start(&[broker_pid], true);
    let start = Instant::now();
    let start_ns = now_ns();
    let deadline = start + PRODUCE_TIMEOUT;
    for (i, (topic, partition)) in layout.partitions().enumerate() {
        let value = record_value(topic, partition, round);
        send(&producer, BaseRecord::to(topic).partition(partition).payload(&value[..]), deadline)?;
        // Serve delivery callbacks now and then.
        if i % 1024 == 1023 {
            producer.poll(Duration::ZERO);
        }
    }
    let ctx = producer.context();
    while ctx.completed() < layout.total as u64 {
        // rust-rdkafka's poll() runs for its whole timeout and spins in its
        // last millisecond, so a short timeout would keep a CPU busy here;
        // the end time comes from the delivery callbacks instead.
        producer.poll(DELIVERY_POLL);
        if Instant::now() >= deadline {
            bail!(
                "round {round}: {} of {} deliveries after {PRODUCE_TIMEOUT:?}",
                ctx.completed(),
                thousands(layout.total as u64)
            );
        }
    }
    // While the producer's threads still exist, for the per-thread view.
    let cpu = cpu_summary(&cpu);
    let took =
        ctx.last_delivery_ns().map_or_else(|| start.elapsed(), |at| Duration::from_nanos(at.saturating_sub(start_ns)));
    ctx.check().with_context(|| format!("produce round {round}"))?;
    Ok((took, cpu))
}

/// Enqueues `record`, serving delivery callbacks while the client queue is
/// full.
fn send(producer: &BaseProducer<BenchContext>, mut record: BaseRecord<'_, (), [u8]>, deadline: Instant) -> Result<()> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                producer.poll(Duration::from_millis(1));
                if Instant::now() >= deadline {
                    bail!("producer queue stayed full");
                }
            }
            Err((e, _)) => bail!("send: {e}"),
        }
    }
}

/// `SAMPLE_SIZE` partitions of the layout, chosen at random.
fn random_sample(layout: &Layout) -> Vec<(&str, i32)> {
    let sample = rand::seq::index::sample(&mut rand::thread_rng(), layout.total, SAMPLE_SIZE.min(layout.total));
    sample.iter().map(|i| layout.locate(i)).collect()
}

/// Checks with ListOffsets that `SAMPLE_SIZE` random partitions have log
/// start 0 and high watermark `rounds`, retrying for a while (a restarted
/// broker may still be taking leadership); fails if records are missing.
fn check_offsets(bootstrap: &str, layout: &Layout, rounds: i64) -> Result<()> {
    let start = Instant::now();
    let deadline = start + VERIFY_TIMEOUT;
    let sample = random_sample(layout);
    // No group.id: this client never asks for a group coordinator, so the
    // broker creates no __consumer_offsets.
    let consumer: BaseConsumer<BenchContext> =
        client_config(bootstrap).create_with_context(BenchContext::default()).context("ListOffsets client")?;
    let mut retried = 0;
    for &(topic, partition) in &sample {
        let mut first = true;
        loop {
            let timeout = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(1));
            let seen = match consumer.fetch_watermarks(topic, partition, timeout) {
                Ok((0, high)) if high == rounds => break,
                Ok((low, high)) if high > rounds || low > 0 => {
                    bail!("{topic}/{partition}: log start {low}, high watermark {high}; expected 0 and {rounds}")
                }
                Ok((low, high)) => format!("log start {low}, high watermark {high}"),
                Err(e) => format!("ListOffsets: {e}"),
            };
            if Instant::now() >= deadline {
                bail!(
                    "{topic}/{partition}: expected high watermark {rounds}, still {seen} after {VERIFY_TIMEOUT:?}: \
                     records are missing"
                );
            }
            if first {
                retried += 1;
                first = false;
            }
            thread::sleep(POLL_INTERVAL);
        }
    }
    let retried = if retried > 0 { format!(" ({retried} only after retries)") } else { String::new() };
    eprintln!(
        "  ListOffsets of {} random partitions: log start 0, high watermark {rounds}{retried}, in {:.2} s",
        sample.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Reads `SAMPLE_SIZE` random partitions from offset 0 with a consumer and
/// checks that they hold exactly the records of rounds 1 to `rounds`, byte
/// for byte. The consumer needs a group.id (librdkafka's assign() does),
/// so the broker creates __consumer_offsets (50 partitions): run this only
/// once nothing else is measured.
fn read_back(bootstrap: &str, layout: &Layout, rounds: i64) -> Result<()> {
    let start = Instant::now();
    let deadline = start + VERIFY_TIMEOUT;
    let sample = random_sample(layout);
    let consumer: BaseConsumer<BenchContext> = client_config(bootstrap)
        // Needed for assign(); nothing is committed.
        .set("group.id", "weir-bench-partitions")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .create_with_context(BenchContext::default())
        .context("consumer")?;
    let mut assignment = TopicPartitionList::new();
    for &(topic, partition) in &sample {
        assignment.add_partition_offset(topic, partition, Offset::Beginning).context("assignment")?;
    }
    consumer.assign(&assignment).context("assign")?;
    // Next offset expected from each partition.
    let mut next: HashMap<(String, i32), i64> = HashMap::new();
    let want = sample.len() as i64 * rounds;
    let mut read = 0;
    while read < want {
        if Instant::now() >= deadline {
            let short: Vec<String> = sample
                .iter()
                .filter(|(t, p)| next.get(&(t.to_string(), *p)).copied().unwrap_or(0) < rounds)
                .take(5)
                .map(|(t, p)| format!("{t}/{p}"))
                .collect();
            bail!(
                "read back {read} of {want} records in {VERIFY_TIMEOUT:?}; short partitions include {}",
                short.join(", ")
            );
        }
        let m = match consumer.poll(POLL_INTERVAL) {
            None => continue,
            Some(Err(e)) => {
                // Usually transient; the deadline ends the wait otherwise.
                eprintln!("  (consumer: {e})");
                continue;
            }
            Some(Ok(m)) => m,
        };
        let (topic, partition, offset) = (m.topic(), m.partition(), m.offset());
        let n = next.entry((topic.to_string(), partition)).or_insert(0);
        if offset != *n || offset >= rounds {
            bail!("{topic}/{partition}: read offset {offset}, expected offset {n} (of {rounds} records)");
        }
        if m.payload() != Some(&record_value(topic, partition, offset + 1)[..]) {
            bail!("{topic}/{partition} offset {offset}: the value is not the one produced");
        }
        *n += 1;
        read += 1;
    }
    eprintln!(
        "  read back {} random partitions: {rounds} record(s) each, as produced, in {:.2} s",
        sample.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// The broker process
// ---------------------------------------------------------------------------

/// The node under test: one `weir serve` process at a time (broker and sole
/// controller), always with the same ports and data, so it can be stopped
/// and started again. Launched by the launcher the tests use
/// (`common::process`): the process is SIGKILLed (by pid) on drop, and
/// also if this bench dies (`PR_SET_PDEATHSIG`).
struct Broker {
    /// How to start it: the private copy of the binary, its properties.
    launch: Launch,
    /// `weir.log`: every start's output.
    log: Arc<Mutex<File>>,
    /// Starts so far.
    starts: u32,
    /// The current (or last) process; its output stays readable after it
    /// has exited.
    process: Option<WeirProcess>,
}

/// A start: the client address and the time from spawn to the listening
/// line.
struct Started {
    addr: String,
    took: Duration,
}

/// A clean stop: when SIGTERM was sent and how long the exit took.
struct Stopped {
    signalled: Instant,
    took: Duration,
}

impl Broker {
    /// Prepares the node in `root`: copies `bin` there, picks its ports,
    /// data in `root/data`, output in `root/weir.log`.
    fn new(bin: &Path, root: &Path) -> Result<Broker> {
        let copy = root.join("weir");
        std::fs::copy(bin, &copy).with_context(|| format!("copy {} to {}", bin.display(), copy.display()))?;
        let ports = process::free_ports(2).context("bind")?;
        let (port, controller_port) = (ports[0], ports[1]);
        let props = process::kraft_props(
            "127.0.0.1",
            1,
            "broker,controller",
            Some(port),
            Some(controller_port),
            &process::voters_property([(1, controller_port)]),
            &root.join("data"),
        );
        let launch = Launch::serve(&copy, "weir", &props).env("RUST_LOG", "info,openraft=warn");
        let log_path = root.join("weir.log");
        let log = File::create(&log_path).with_context(|| format!("create {}", log_path.display()))?;
        Ok(Broker { launch, log: Arc::new(Mutex::new(log)), starts: 0, process: None })
    }

    /// Spawns the node and waits for its PLAINTEXT listener.
    fn start(&mut self) -> Result<Started> {
        if self.process.as_ref().is_some_and(|p| p.pid().is_some()) {
            bail!("the broker is already running");
        }
        self.starts += 1;
        let n = self.starts;
        self.log_line(&format!("==== start {n}: {} {}", self.launch.bin.display(), self.launch.args.join(" ")));
        let capture = Capture { log: Some((self.log.clone(), n.to_string())), forward: false };
        let p = self
            .launch
            .spawn(Output::Capture(capture))
            .with_context(|| format!("spawn {}", self.launch.bin.display()))?;
        let spawned = p.spawned;
        let p = self.process.insert(p);
        match p.wait_listening(START_TIMEOUT) {
            Ok((addr, at)) => Ok(Started { addr, took: at.duration_since(spawned) }),
            Err(NotListening::Timeout) => {
                self.kill()?;
                Err(anyhow!("start {n}: no PLAINTEXT listener after {START_TIMEOUT:?}{}", self.tail()))
            }
            Err(NotListening::Exited(_)) => {
                // The output ended: the process is gone or going.
                let status = p.wait_exit_until(Instant::now() + STOP_TIMEOUT, EXIT_POLL_INTERVAL);
                let status = match status {
                    Ok(Some(s)) => s.to_string(),
                    Ok(None) => "exited".to_string(),
                    Err(e) => e,
                };
                Err(anyhow!("start {n}: the broker exited before listening ({status}){}", self.tail()))
            }
        }
    }

    /// SIGTERM, and waits for a clean exit (status 0).
    fn terminate(&mut self) -> Result<Stopped> {
        self.pid()?;
        self.log_line("==== SIGTERM");
        let signalled = Instant::now();
        let p = self.running()?;
        p.sigterm().map_err(|e| anyhow!("SIGTERM: {e}"))?;
        // wait_exit_until reaps the process, or SIGKILLs and reaps it.
        let status = p.wait_exit_until(signalled + STOP_TIMEOUT, EXIT_POLL_INTERVAL);
        let took = signalled.elapsed();
        drain_output(p);
        match status {
            Ok(Some(s)) if s.success() => Ok(Stopped { signalled, took }),
            Ok(Some(s)) => Err(anyhow!("the broker exited with {s} after SIGTERM{}", self.tail())),
            Ok(None) => Err(anyhow!("the broker was not running")),
            Err(e) => Err(anyhow!("clean shutdown: {e}{}", self.tail())),
        }
    }

    /// SIGKILL, and waits for the process to be gone.
    fn kill(&mut self) -> Result<()> {
        self.pid()?;
        self.log_line("==== SIGKILL");
        let p = self.running()?;
        p.kill9();
        drain_output(p);
        Ok(())
    }

    fn running(&mut self) -> Result<&mut WeirProcess> {
        match &mut self.process {
            Some(p) if p.pid().is_some() => Ok(p),
            _ => bail!("the broker is not running"),
        }
    }

    fn pid(&self) -> Result<u32> {
        self.process.as_ref().and_then(|p| p.pid()).ok_or_else(|| anyhow!("the broker is not running"))
    }

    /// When the current (or last) process was spawned.
    fn spawned(&self) -> Result<Instant> {
        self.process.as_ref().map(|p| p.spawned).ok_or_else(|| anyhow!("the broker never started"))
    }

    /// Checks the current process's `log directory loaded` line: it must
    /// say `clean_shutdown=<clean>` and list at least `partitions`.
    fn require_loaded(&self, clean: bool, partitions: usize) -> Result<()> {
        let line = self
            .lines_containing(LOADED_LINE)
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("the broker did not log {LOADED_LINE:?} before listening"))?;
        let field = |name: &str| {
            line.split_whitespace().find_map(|w| w.strip_prefix(name)?.strip_prefix('=')).map(str::to_string)
        };
        let was_clean = field("clean_shutdown");
        if was_clean.as_deref() != Some(if clean { "true" } else { "false" }) {
            bail!("expected clean_shutdown={clean}, the broker logged: {line}");
        }
        let loaded = field("partitions").and_then(|n| n.parse::<usize>().ok());
        if loaded.is_none_or(|n| n < partitions) {
            bail!("expected {partitions} partitions loaded, the broker logged: {line}");
        }
        Ok(())
    }

    /// The current process's lines containing `needle`.
    fn lines_containing(&self, needle: &str) -> Vec<String> {
        self.process.as_ref().map(|p| p.lines_containing(needle)).unwrap_or_default()
    }

    /// "label +1.23 s, ..." in time order, for those of `milestones`
    /// (substring, label) that the current process logged after `since`.
    fn milestones(&self, since: Instant, milestones: &[(&str, &str)]) -> String {
        let Some(p) = &self.process else { return String::new() };
        let mut found: Vec<(Instant, &str)> = p.with_lines(|lines| {
            milestones
                .iter()
                .filter_map(|(needle, label)| {
                    let (at, _) = lines.iter().find(|(at, l)| *at >= since && l.contains(needle))?;
                    Some((*at, *label))
                })
                .collect()
        });
        found.sort();
        let found: Vec<String> = found
            .iter()
            .map(|(at, label)| format!("{label} +{:.2} s", at.duration_since(since).as_secs_f64()))
            .collect();
        if found.is_empty() {
            "no milestones logged".into()
        } else {
            found.join(", ")
        }
    }

    /// "; last lines of weir.log: ..." for error messages.
    fn tail(&self) -> String {
        let Some(p) = &self.process else { return String::new() };
        let tail = p.tail(LOG_TAIL_LINES);
        if tail.is_empty() {
            return String::new();
        }
        format!("; last lines of the broker's output:\n    {}", tail.join("\n    "))
    }

    /// Appends a line of our own to `weir.log`.
    fn log_line(&self, line: &str) {
        if let Ok(mut log) = self.log.lock() {
            let _ = writeln!(log, "{line}");
        }
    }
}

/// Waits (bounded) until the reader has seen the end of the output of an
/// exited process, so its last lines are in.
fn drain_output(p: &WeirProcess) {
    if !p.drain_output(OUTPUT_DRAIN_TIMEOUT) {
        eprintln!("  (the broker's output did not end within {OUTPUT_DRAIN_TIMEOUT:?} of its exit)");
    }
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

/// A target from the issue: the figure should stay below the bound.
#[derive(Clone, Copy)]
enum Goal {
    /// (bound, unit)
    Below(f64, &'static str),
}

impl Goal {
    fn label(&self) -> String {
        match self {
            Goal::Below(b, unit) => format!("< {b} {unit}"),
        }
    }

    fn met(&self, v: f64) -> bool {
        match self {
            Goal::Below(b, _) => v < *b,
        }
    }
}

/// One measured figure.
struct Figure {
    /// Machine-readable name (`metric=` of the BENCH line).
    metric: String,
    /// Human-readable description.
    label: String,
    value: f64,
    /// Shown value, with its unit.
    shown: String,
    /// Value on the BENCH line.
    raw: String,
    goal: Option<Goal>,
}

/// The figures so far, printed at the end (also after a failure).
#[derive(Default)]
struct Report {
    /// `partitions-<N>`.
    name: String,
    /// Partitions in total.
    total: usize,
    /// The broker's soft limit on open files.
    fd_limit: Option<u64>,
    /// The most open fds seen.
    max_fds: usize,
    figures: Vec<Figure>,
}

impl Report {
    fn seconds(&mut self, metric: &str, label: &str, d: Duration, goal: Option<Goal>) {
        let s = d.as_secs_f64();
        self.figures.push(Figure {
            metric: metric.into(),
            label: label.into(),
            value: s,
            shown: format!("{s:.2} s"),
            raw: format!("{s:.3}"),
            goal,
        });
    }

    fn megabytes(&mut self, metric: &str, label: &str, kib: u64, goal: Option<Goal>) {
        let mb = kib as f64 * 1024.0 / 1e6;
        self.figures.push(Figure {
            metric: metric.into(),
            label: label.into(),
            value: mb,
            shown: format!("{mb:.0} MB"),
            raw: format!("{mb:.1}"),
            goal,
        });
    }

    fn count(&mut self, metric: &str, label: &str, n: u64) {
        self.figures.push(Figure {
            metric: metric.into(),
            label: label.into(),
            value: n as f64,
            shown: thousands(n),
            raw: n.to_string(),
            goal: None,
        });
    }

    /// The broker's RSS and open fds now (and its peak RSS if `peak`), as
    /// `<prefix>rss_mb`, `<prefix>fds` (and `<prefix>peak_rss_mb`).
    fn process(&mut self, pid: u32, prefix: &str, when: &str, peak: bool) -> Result<()> {
        // Let the broker notice that the clients of the step before are gone.
        settle_fds(pid, Instant::now() + Duration::from_secs(2));
        let rss = rss_kib(pid).ok_or_else(|| anyhow!("no VmRSS for pid {pid}"))?;
        let fds = open_fds(pid).ok_or_else(|| anyhow!("cannot list /proc/{pid}/fd"))?;
        self.megabytes(
            &format!("{prefix}rss_mb"),
            &format!("broker RSS {when}"),
            rss,
            Some(Goal::Below(RSS_GOAL_MB, "MB")),
        );
        if peak {
            let hwm = peak_rss_kib(pid).ok_or_else(|| anyhow!("no VmHWM for pid {pid}"))?;
            self.megabytes(&format!("{prefix}peak_rss_mb"), &format!("broker peak RSS (VmHWM) {when}"), hwm, None);
        }
        self.count(&format!("{prefix}fds"), &format!("broker open fds {when}"), fds as u64);
        self.max_fds = self.max_fds.max(fds);
        eprintln!("  broker {when}: RSS {:.0} MB, {} open fds", rss as f64 * 1024.0 / 1e6, thousands(fds as u64));
        Ok(())
    }

    fn print(&mut self) {
        if let Some(limit) = self.fd_limit {
            self.count("fd_soft_limit", "broker fd soft limit (ulimit -n)", limit);
        }
        if self.figures.is_empty() {
            return;
        }
        let mut table = Table::new(&["metric", "value", "goal"]);
        for f in &self.figures {
            let goal = f.goal.map_or_else(String::new, |g| {
                format!("{} ({})", g.label(), if g.met(f.value) { "met" } else { "MISSED" })
            });
            table.row(vec![f.label.clone(), f.shown.clone(), goal]);
        }
        println!();
        println!("{}: one node (broker and controller), {} partitions", self.name, thousands(self.total as u64));
        table.print();
        if let Some(limit) = self.fd_limit.filter(|&l| l > 0 && self.max_fds > 0) {
            println!(
                "The most open fds seen ({}) are {:.0}% of the broker's soft limit (ulimit -n {}).",
                thousands(self.max_fds as u64),
                self.max_fds as f64 / limit as f64 * 100.0,
                thousands(limit)
            );
        }
        println!();
        for f in &self.figures {
            println!("BENCH name={} metric={} value={}", self.name, f.metric, f.raw);
        }
    }
}

/// Waits (up to `deadline`) until the broker's open fd count stops
/// changing for a moment: connections of clients just dropped close on the
/// broker's side a little later.
fn settle_fds(pid: u32, deadline: Instant) {
    let mut last = open_fds(pid);
    while Instant::now() < deadline {
        thread::sleep(POLL_INTERVAL);
        let now = open_fds(pid);
        if now == last {
            return;
        }
        last = now;
    }
}
