//! `cargo bench --bench throughput`: Weir's throughput and latency benchmark.
//!
//! Every measurement starts a fresh `weir serve` process (the binary Cargo
//! built for this bench, i.e. release code) on an ephemeral loopback port
//! with its own temporary `log.dirs`, drives it with librdkafka
//! (rust-rdkafka) clients from this process, then kills the broker and
//! removes the data. Dirty pages are synced before each run so writeback
//! left over from earlier runs does not compete for the CPUs.
//!
//! Client and broker share the machine, so each result comes with how the
//! CPUs were used over the measured window, in % of one core: the broker
//! process and this process (client) from `/proc/<pid>/stat`, everything
//! else that was busy ("other": kernel writeback, other processes) and
//! iowait from `/proc/stat`; plus the broker's peak RSS (`VmHWM`).
//!
//! Scenarios (record sizes are value bytes; records have no key; 1 MB =
//! 10^6 bytes, and only value bytes count towards MB/s):
//!
//! * `produce-<size>-p<N>-acks<1|all>`, for 100 B and 1 KiB records, 1 and
//!   16 partitions, acks=1 and acks=all: a `BaseProducer`, polled by this
//!   thread, sends a fixed number of records (10M x 100 B or 2M x 1 KiB at
//!   scale 1) round-robin over the partitions with `linger.ms=5`,
//!   `batch.size=1 MiB`, no compression, no idempotence and a deep client
//!   queue. One record per partition is produced and acknowledged first
//!   (connections and metadata are warm); the clock runs from the first
//!   `send` to the last delivery callback. Reports records/s and MB/s.
//! * `consume-1KiB-catchup-fetch<N>MiB`: 1 GiB of 1 KiB records is
//!   produced to one partition and synced to disk (not measured); then a
//!   fresh `BaseConsumer` is `assign()`ed at offset 0 and reads it all back
//!   with `max.partition.fetch.bytes` = N MiB (1 MiB, the Kafka/librdkafka
//!   default, and 50 MiB) and a deep prefetch queue; the clock runs from
//!   `assign` to the last record. The data is still in the page cache.
//!   Reports MB/s and records/s.
//! * `latency-1KiB-50MBps`: one partition, `acks=1`, `linger.ms=1`. This
//!   thread sends 1 KiB records at 50 MB/s, paced in 1 ms slices, for 10 s
//!   (at scale 1) after a 1 s warm-up that is not recorded. Each value
//!   starts with its send time (a monotonic `Instant` as nanoseconds since
//!   a start shared by both clients); a consumer thread tails the partition
//!   with `fetch.wait.max.ms=5` (Weir's fetch long-poll wakes on append, so
//!   this only bounds idle polling) and records receive time minus send
//!   time. Reports p50, p99, p99.9 and max in ms.
//!
//! Each scenario runs `WEIR_BENCH_RUNS` times per binary; the table shows
//! the median with min and max. Environment:
//!
//! * `WEIR_BENCH_SCALE` (default 1.0) scales data volumes and durations.
//! * `WEIR_BENCH_RUNS` (default 3) measurements per scenario and binary.
//! * `WEIR_BENCH_FILTER=a,b` runs only scenarios whose name contains one of
//!   the comma-separated substrings (a positional argument works too:
//!   `cargo bench --bench throughput -- produce-100B`).
//! * `WEIR_BASELINE_BIN=/path/to/weir` also measures that binary (e.g. one
//!   built from an older commit), interleaved run by run with the current
//!   one (baseline, current, baseline, current, ...) so machine noise hits
//!   both alike, and prints both plus the current/baseline ratio.
//! * `WEIR_BENCH_QUIET_WAIT` (seconds, default 10; 0 disables): before
//!   each measurement, wait up to this long for other work on the machine
//!   to stop (busy CPU below 20% of a core); results taken while other work
//!   ran anyway are flagged under the table.
//! * `WEIR_BENCH_PRODUCER_CONFIG` / `WEIR_BENCH_CONSUMER_CONFIG` =
//!   `key=value,...`: librdkafka settings applied on top of the bench's own,
//!   for experiments.
//!
//! Progress goes to stderr; stdout gets the result table followed by one
//! machine-readable `BENCH name=... metric=... bin=... median=...` line per
//! scenario, metric and binary. Goals are printed next to results; they are
//! targets, not assertions; the exit status is non-zero only if a run
//! failed outright (broker error, timeout). Run without `--bench` (as
//! `cargo test --all-targets` does) the binary does nothing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer as _, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

const MB: f64 = 1e6;
const KIB: usize = 1024;
const GIB: f64 = (1u64 << 30) as f64;
const TOPIC: &str = "bench";

/// Data per produce run at scale 1.0, chosen for a few seconds per run.
const PRODUCE_100B_RECORDS: f64 = 10_000_000.0;
const PRODUCE_1KIB_RECORDS: f64 = 2_000_000.0;
/// Data written, then read back, by the catch-up scenarios at scale 1.0.
const CATCH_UP_BYTES: f64 = GIB;
/// The catch-up consumer's `max.partition.fetch.bytes`, one scenario each:
/// librdkafka's (and Kafka's) default, and a large one.
const CATCH_UP_FETCH_MIB: [usize; 2] = [1, 50];
/// End-to-end latency: offered load and measured duration at scale 1.0.
const LATENCY_RATE_BYTES: f64 = 50.0 * MB;
const LATENCY_SECS: f64 = 10.0;
/// Sent at full rate before latencies are recorded.
const LATENCY_WARMUP: Duration = Duration::from_secs(1);
/// Pacing granularity of the latency producer.
const LATENCY_SLICE: Duration = Duration::from_millis(1);
/// The tailing consumer's `fetch.wait.max.ms`.
const LATENCY_FETCH_WAIT_MS: &str = "5";
/// Median "other" CPU (% of one core) above which a result is flagged as
/// disturbed by other work on the machine.
const NOISY_OTHER_CPU: f64 = 25.0;
/// Busy CPU (% of one core) below which the machine counts as quiet.
const QUIET_CPU: f64 = 20.0;
/// Hard limit on one measurement, so a stalled broker fails the run.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("throughput: not run by `cargo bench` (no --bench flag); skipping");
        return;
    }
    let settings = Settings::from_env(&args);
    let scenarios: Vec<Scenario> =
        all_scenarios(settings.scale).into_iter().filter(|s| settings.selects(&s.name)).collect();
    if scenarios.is_empty() {
        eprintln!("no scenario matches WEIR_BENCH_FILTER {:?}", settings.filters);
        drop(settings); // exit() skips destructors: remove the binary copies
        std::process::exit(1);
    }
    settings.describe(&scenarios);

    let mut results = Vec::new();
    for sc in &scenarios {
        let mut per_target: Vec<Vec<RunOutcome>> = vec![Vec::new(); settings.targets.len()];
        let mut failures = vec![0usize; settings.targets.len()];
        for run in 1..=settings.runs {
            for (ti, target) in settings.targets.iter().enumerate() {
                let label = format!("{} [{}] run {run}/{}", sc.name, target.label, settings.runs);
                match run_once(sc, &target.bin, settings.quiet_wait) {
                    Ok(out) => {
                        eprintln!("{label}: {}", out.summary(sc));
                        per_target[ti].push(out);
                    }
                    Err(e) => {
                        eprintln!("{label}: FAILED: {e:#}");
                        failures[ti] += 1;
                    }
                }
            }
        }
        results.push(ScenarioResult {
            scenario: sc,
            per_target: per_target
                .into_iter()
                .zip(failures)
                .map(|(runs, failed)| TargetResult { runs, failed })
                .collect(),
        });
    }
    report(&settings, &results);
    // Goals are informational, but a run that failed outright is an error.
    let failed: usize = results.iter().flat_map(|r| &r.per_target).map(|t| t.failed).sum();
    if failed > 0 {
        eprintln!("{failed} run(s) failed");
        drop(settings);
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------
// Settings and scenarios
// ---------------------------------------------------------------------------

/// A broker binary under test.
struct Target {
    label: &'static str,
    /// Where the binary came from.
    origin: PathBuf,
    /// A private copy that all runs execute, so a concurrent `cargo build`
    /// replacing `origin` cannot mix two builds into one result.
    bin: PathBuf,
}

struct Settings {
    scale: f64,
    runs: usize,
    filters: Vec<String>,
    /// How long to wait for other work on the machine to stop before each
    /// measurement.
    quiet_wait: Duration,
    /// In run order: the baseline (if any) first, the current binary last.
    targets: Vec<Target>,
    /// Holds the copies of the binaries.
    _bin_dir: tempfile::TempDir,
}

impl Settings {
    fn from_env(args: &[String]) -> Settings {
        let scale = env_parse("WEIR_BENCH_SCALE", 1.0f64);
        assert!(scale > 0.0, "WEIR_BENCH_SCALE must be positive");
        let runs = env_parse("WEIR_BENCH_RUNS", 3usize).max(1);
        let quiet_wait = Duration::from_secs_f64(env_parse("WEIR_BENCH_QUIET_WAIT", 10.0f64).max(0.0));
        let filter = std::env::var("WEIR_BENCH_FILTER")
            .ok()
            .or_else(|| args.iter().find(|a| !a.starts_with("--")).cloned())
            .unwrap_or_default();
        let filters = filter.split(',').map(str::trim).filter(|f| !f.is_empty()).map(String::from).collect();
        let mut origins = Vec::new();
        if let Some(b) = std::env::var_os("WEIR_BASELINE_BIN").filter(|b| !b.is_empty()) {
            let bin = PathBuf::from(b);
            assert!(bin.is_file(), "WEIR_BASELINE_BIN {} is not a file", bin.display());
            origins.push(("baseline", bin));
        }
        origins.push(("current", PathBuf::from(env!("CARGO_BIN_EXE_weir"))));
        let bin_dir = tempfile::Builder::new().prefix("weir-bench-bin-").tempdir().expect("temp dir");
        let targets = origins
            .into_iter()
            .map(|(label, origin)| {
                let bin = bin_dir.path().join(format!("weir-{label}"));
                std::fs::copy(&origin, &bin)
                    .unwrap_or_else(|e| panic!("copy {} to {}: {e}", origin.display(), bin.display()));
                Target { label, origin, bin }
            })
            .collect();
        Settings { scale, runs, filters, quiet_wait, targets, _bin_dir: bin_dir }
    }

    fn selects(&self, name: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| name.contains(f.as_str()))
    }

    fn has_baseline(&self) -> bool {
        self.targets.len() > 1
    }

    fn describe(&self, scenarios: &[Scenario]) {
        let cpus = thread::available_parallelism().map_or(0, |n| n.get());
        eprintln!(
            "weir throughput bench: {} scenario(s), {} run(s) each, scale {}, {cpus} CPU(s)",
            scenarios.len(),
            self.runs,
            self.scale
        );
        for t in &self.targets {
            eprintln!("  {:<8} {} (run from a copy)", t.label, t.origin.display());
        }
        if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
            eprintln!("  load average at start: {}", load.trim());
        }
    }
}

fn env_parse<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().unwrap_or_else(|_| panic!("cannot parse {name}={v:?}")),
        _ => default,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Acks {
    Leader,
    All,
}

impl Acks {
    fn config(self) -> &'static str {
        match self {
            Acks::Leader => "1",
            Acks::All => "all",
        }
    }
}

#[derive(Clone, Copy)]
enum Workload {
    Produce {
        record_size: usize,
        records: u64,
        partitions: i32,
        acks: Acks,
    },
    CatchUp {
        record_size: usize,
        records: u64,
        /// The consumer's `max.partition.fetch.bytes`.
        partition_fetch_bytes: usize,
    },
    Latency {
        record_size: usize,
        bytes_per_sec: f64,
        duration: Duration,
    },
}

/// How a metric's values are printed.
#[derive(Clone, Copy)]
enum Unit {
    RecordsPerSec,
    MegabytesPerSec,
    Millis,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::RecordsPerSec => "rec/s",
            Unit::MegabytesPerSec => "MB/s",
            Unit::Millis => "ms",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Unit::RecordsPerSec => "records_per_sec",
            Unit::MegabytesPerSec => "mb_per_sec",
            Unit::Millis => "ms",
        }
    }

    fn format(self, v: f64) -> String {
        match self {
            Unit::RecordsPerSec => thousands(v.round() as u64),
            Unit::MegabytesPerSec => format!("{v:.1}"),
            Unit::Millis => format!("{v:.3}"),
        }
    }
}

/// A target value for a metric (printed, never asserted).
#[derive(Clone, Copy)]
enum Goal {
    AtLeast(f64),
    AtMost(f64),
}

impl Goal {
    fn met(self, v: f64) -> bool {
        match self {
            Goal::AtLeast(g) => v >= g,
            Goal::AtMost(g) => v <= g,
        }
    }

    fn describe(self, unit: Unit) -> String {
        match self {
            Goal::AtLeast(g) => format!(">= {}", unit.format(g)),
            Goal::AtMost(g) => format!("<= {}", unit.format(g)),
        }
    }
}

struct Metric {
    /// Distinguishes metrics sharing a unit (the latency percentiles).
    name: &'static str,
    unit: Unit,
    goal: Option<Goal>,
}

impl Metric {
    fn new(name: &'static str, unit: Unit, goal: Option<Goal>) -> Metric {
        Metric { name, unit, goal }
    }
}

struct Scenario {
    name: String,
    workload: Workload,
    /// The values every run of this scenario reports, in order.
    metrics: Vec<Metric>,
}

fn scaled(base: f64, scale: f64) -> u64 {
    ((base * scale).round() as u64).max(1)
}

fn size_label(size: usize) -> String {
    if size % KIB == 0 {
        format!("{}KiB", size / KIB)
    } else {
        format!("{size}B")
    }
}

fn all_scenarios(scale: f64) -> Vec<Scenario> {
    let mut out = Vec::new();
    for (record_size, base_records) in [(100, PRODUCE_100B_RECORDS), (KIB, PRODUCE_1KIB_RECORDS)] {
        for partitions in [1, 16] {
            for acks in [Acks::Leader, Acks::All] {
                let (rec_goal, mb_goal) = match (acks, record_size) {
                    (Acks::Leader, 100) => (Some(Goal::AtLeast(1_200_000.0)), None),
                    (Acks::Leader, _) => (None, Some(Goal::AtLeast(700.0))),
                    _ => (None, None),
                };
                out.push(Scenario {
                    name: format!("produce-{}-p{partitions}-acks{}", size_label(record_size), acks.config()),
                    workload: Workload::Produce { record_size, records: scaled(base_records, scale), partitions, acks },
                    metrics: vec![
                        Metric::new("throughput", Unit::RecordsPerSec, rec_goal),
                        Metric::new("throughput", Unit::MegabytesPerSec, mb_goal),
                    ],
                });
            }
        }
    }
    for fetch_mib in CATCH_UP_FETCH_MIB {
        out.push(Scenario {
            name: format!("consume-1KiB-catchup-fetch{fetch_mib}MiB"),
            workload: Workload::CatchUp {
                record_size: KIB,
                records: scaled(CATCH_UP_BYTES / KIB as f64, scale),
                partition_fetch_bytes: fetch_mib << 20,
            },
            metrics: vec![
                Metric::new("throughput", Unit::MegabytesPerSec, Some(Goal::AtLeast(1000.0))),
                Metric::new("throughput", Unit::RecordsPerSec, None),
            ],
        });
    }
    out.push(Scenario {
        name: "latency-1KiB-50MBps".into(),
        workload: Workload::Latency {
            record_size: KIB,
            bytes_per_sec: LATENCY_RATE_BYTES,
            duration: Duration::from_secs_f64((LATENCY_SECS * scale).max(1.0)),
        },
        metrics: vec![
            Metric::new("p50", Unit::Millis, None),
            Metric::new("p99", Unit::Millis, Some(Goal::AtMost(5.0))),
            Metric::new("p99.9", Unit::Millis, None),
            Metric::new("max", Unit::Millis, None),
        ],
    });
    out
}

// ---------------------------------------------------------------------------
// One measurement
// ---------------------------------------------------------------------------

/// What one run of a scenario measured.
#[derive(Clone)]
struct RunOutcome {
    /// One value per `Scenario::metrics` entry.
    values: Vec<f64>,
    /// CPU over the measured window.
    cpu: CpuUsage,
    /// The broker's peak resident set (VmHWM) at the end of the run.
    broker_rss_kib: Option<u64>,
    /// Free-form extra information for the progress line.
    detail: String,
}

impl RunOutcome {
    fn summary(&self, sc: &Scenario) -> String {
        let values: Vec<String> = sc.metrics.iter().zip(&self.values).map(|(m, v)| metric_value_label(m, *v)).collect();
        format!(
            "{}; CPU broker {:.0}% client {:.0}% other {:.0}% iowait {:.0}%; broker RSS {}{}",
            values.join(", "),
            self.cpu.broker,
            self.cpu.client,
            self.cpu.other,
            self.cpu.iowait,
            rss_label(self.broker_rss_kib),
            if self.detail.is_empty() { String::new() } else { format!("; {}", self.detail) }
        )
    }
}

fn metric_value_label(m: &Metric, v: f64) -> String {
    match m.unit {
        Unit::Millis => format!("{} {} ms", m.name, m.unit.format(v)),
        u => format!("{} {}", u.format(v), u.name()),
    }
}

fn rss_label(kib: Option<u64>) -> String {
    kib.map_or_else(|| "?".into(), |k| format!("{:.0} MiB", k as f64 / 1024.0))
}

/// Starts a fresh broker from `bin`, runs the scenario once, stops it.
fn run_once(sc: &Scenario, bin: &Path, quiet_wait: Duration) -> Result<RunOutcome> {
    // Start from clean page cache state: no writeback left over from
    // earlier runs (or anything else) competing for the CPUs.
    sync_disks();
    wait_for_quiet(quiet_wait);
    let broker = Broker::start(bin)?;
    let deadline = Instant::now() + RUN_TIMEOUT;
    let mut out = match sc.workload {
        Workload::Produce { record_size, records, partitions, acks } => {
            bench_produce(&broker, record_size, records, partitions, acks, deadline)?
        }
        Workload::CatchUp { record_size, records, partition_fetch_bytes } => {
            bench_catch_up(&broker, record_size, records, partition_fetch_bytes, deadline)?
        }
        Workload::Latency { record_size, bytes_per_sec, duration } => {
            bench_latency(&broker, record_size, bytes_per_sec, duration, deadline)?
        }
    };
    out.broker_rss_kib = broker.peak_rss_kib();
    Ok(out)
}

/// Produce throughput: warm up, then time `records` sends to the last ack.
fn bench_produce(
    broker: &Broker,
    record_size: usize,
    records: u64,
    partitions: i32,
    acks: Acks,
    deadline: Instant,
) -> Result<RunOutcome> {
    create_topic(&broker.bootstrap, TOPIC, partitions)?;
    let producer = throughput_producer(&broker.bootstrap, acks)?;
    warm_up(&producer, TOPIC, partitions, record_size, deadline)?;
    let cpu = CpuWindow::start(broker.pid());
    let elapsed = produce_all(&producer, TOPIC, partitions, record_size, records, deadline)?;
    let cpu = cpu.finish();
    let secs = elapsed.as_secs_f64();
    Ok(RunOutcome {
        values: vec![records as f64 / secs, (records * record_size as u64) as f64 / MB / secs],
        cpu,
        broker_rss_kib: None,
        detail: format!("{} records in {secs:.2} s", thousands(records)),
    })
}

/// Consume catch-up: fill one partition, then read it all with a new consumer.
fn bench_catch_up(
    broker: &Broker,
    record_size: usize,
    records: u64,
    partition_fetch_bytes: usize,
    deadline: Instant,
) -> Result<RunOutcome> {
    create_topic(&broker.bootstrap, TOPIC, 1)?;
    let fill = {
        let producer = throughput_producer(&broker.bootstrap, Acks::Leader)?;
        warm_up(&producer, TOPIC, 1, record_size, deadline)?;
        produce_all(&producer, TOPIC, 1, record_size, records, deadline)?
    };
    // The warm-up record is in the partition too.
    let total = records + 1;
    // Catching up reads data written long ago: let writeback of the fill
    // (the roll of the first 1 GiB segment fsyncs it) finish first.
    sync_disks();

    let consumer = catch_up_consumer(&broker.bootstrap, partition_fetch_bytes)?;
    // Bootstrap connection and metadata before the clock starts.
    consumer.fetch_metadata(Some(TOPIC), Duration::from_secs(10)).context("consumer metadata")?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(TOPIC, 0, Offset::Offset(0))?;

    let cpu = CpuWindow::start(broker.pid());
    let start = Instant::now();
    consumer.assign(&tpl).context("assign")?;
    let (mut received, mut bytes) = (0u64, 0u64);
    while received < total {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                received += 1;
                bytes += m.payload_len() as u64;
            }
            Some(Err(e)) => bail!("consume: {e}"),
            None => check_deadline(deadline, || format!("consumed {received} of {total}"))?,
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu.finish();
    Ok(RunOutcome {
        values: vec![bytes as f64 / MB / secs, received as f64 / secs],
        cpu,
        broker_rss_kib: None,
        detail: format!(
            "{:.0} MB in {secs:.2} s; fill {:.0} MB/s",
            bytes as f64 / MB,
            (records * record_size as u64) as f64 / MB / fill.as_secs_f64()
        ),
    })
}

/// End-to-end latency at a fixed offered load.
fn bench_latency(
    broker: &Broker,
    record_size: usize,
    bytes_per_sec: f64,
    duration: Duration,
    deadline: Instant,
) -> Result<RunOutcome> {
    assert!(record_size >= 9, "latency records carry a 9-byte header");
    create_topic(&broker.bootstrap, TOPIC, 1)?;
    let rate = bytes_per_sec / record_size as f64; // records per second
    let total = ((LATENCY_WARMUP + duration).as_secs_f64() * rate).round() as u64;

    // The consumer tails from offset 0 in its own thread until it has seen
    // all `total` records, collecting latencies of the flagged ones.
    let consumer = tailing_consumer(&broker.bootstrap)?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(TOPIC, 0, Offset::Offset(0))?;
    consumer.assign(&tpl).context("assign")?;
    // Set when this function returns, so that the consumer thread gives up
    // rather than waiting for records after an error on the producing side.
    let stop = StopOnDrop::default();
    let stopped = stop.0.clone();
    let tail = thread::spawn(move || -> Result<Vec<u64>> {
        let mut latencies = Vec::with_capacity(total as usize);
        let mut received = 0u64;
        while received < total && !stopped.load(Ordering::Relaxed) {
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    let now = now_ns();
                    received += 1;
                    let v = m.payload().unwrap_or_default();
                    if v.len() >= 9 && v[8] == 1 {
                        let sent = u64::from_le_bytes(v[..8].try_into().unwrap());
                        latencies.push(now.saturating_sub(sent));
                    }
                }
                Some(Err(e)) => bail!("consume: {e}"),
                None => check_deadline(deadline, || format!("consumed {received} of {total}"))?,
            }
        }
        Ok(latencies)
    });

    let producer = latency_producer(&broker.bootstrap)?;
    let tracker = producer.context();
    let mut value = payload(record_size);
    let cpu = CpuWindow::start(broker.pid());
    let start = Instant::now();
    let mut sent = 0u64;
    let mut slice = 0u32;
    while sent < total {
        let elapsed = start.elapsed();
        let due = ((elapsed.as_secs_f64() * rate) as u64).min(total);
        let measured = elapsed >= LATENCY_WARMUP;
        while sent < due {
            value[..8].copy_from_slice(&now_ns().to_le_bytes());
            value[8] = measured as u8;
            send_blocking(&producer, BaseRecord::to(TOPIC).partition(0).payload(&value[..]), deadline)?;
            sent += 1;
        }
        producer.poll(Duration::ZERO);
        // Sleep to the start of the next slice (catching up if we overslept).
        slice = slice.max((elapsed.as_nanos() / LATENCY_SLICE.as_nanos()) as u32) + 1;
        let next = start + LATENCY_SLICE * slice;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
    }
    let send_secs = start.elapsed().as_secs_f64();
    wait_for_deliveries(&producer, total, deadline)?;
    tracker.check()?;
    let mut latencies = tail.join().map_err(|_| anyhow!("consumer thread panicked"))??;
    let cpu = cpu.finish();
    if latencies.is_empty() {
        bail!("no latency samples");
    }
    latencies.sort_unstable();
    let ms = |ns: u64| ns as f64 / 1e6;
    Ok(RunOutcome {
        values: vec![
            ms(percentile(&latencies, 0.50)),
            ms(percentile(&latencies, 0.99)),
            ms(percentile(&latencies, 0.999)),
            ms(*latencies.last().unwrap()),
        ],
        cpu,
        broker_rss_kib: None,
        detail: format!(
            "{} samples, offered {:.1} MB/s",
            thousands(latencies.len() as u64),
            (sent * record_size as u64) as f64 / MB / send_secs
        ),
    })
}

/// A flag that is raised when this guard is dropped.
#[derive(Default)]
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The value at quantile `q` of sorted `v` (nearest rank).
fn percentile(v: &[u64], q: f64) -> u64 {
    let rank = (q * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

// ---------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------

/// Nanoseconds since a process-wide monotonic origin; producer and consumer
/// threads share it, so their stamps are directly comparable.
fn now_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

fn check_deadline(deadline: Instant, what: impl FnOnce() -> String) -> Result<()> {
    if Instant::now() > deadline {
        bail!("timed out after {RUN_TIMEOUT:?}: {}", what());
    }
    Ok(())
}

/// Client context for all benchmark clients: counts producer deliveries
/// (and when the last one arrived) and surfaces librdkafka warnings and
/// errors on stderr instead of the (absent) `log` backend.
#[derive(Default)]
struct BenchContext {
    delivered: AtomicU64,
    failed: AtomicU64,
    /// `now_ns()` at the most recent delivery callback.
    last_delivery_ns: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl BenchContext {
    fn completed(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed) + self.failed.load(Ordering::Relaxed)
    }

    /// Fails if any delivery failed.
    fn check(&self) -> Result<()> {
        match self.failed.load(Ordering::Relaxed) {
            0 => Ok(()),
            n => bail!("{n} deliveries failed, first: {}", self.first_error.lock().unwrap().as_deref().unwrap_or("?")),
        }
    }
}

impl ClientContext for BenchContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        if (level as i32) <= (RDKafkaLogLevel::Warning as i32) {
            eprintln!("librdkafka {level:?} {fac}: {message}");
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        eprintln!("librdkafka error: {error}: {reason}");
    }
}

impl ConsumerContext for BenchContext {}

impl ProducerContext for BenchContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                self.first_error.lock().unwrap().get_or_insert_with(|| e.to_string());
            }
        }
        self.last_delivery_ns.store(now_ns(), Ordering::Relaxed);
    }
}

type BenchProducer = BaseProducer<BenchContext>;
type BenchConsumer = BaseConsumer<BenchContext>;

fn create_topic(bootstrap: &str, name: &str, partitions: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap).create().context("admin client")?;
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = futures::executor::block_on(admin.create_topics([&topic], &opts)).context("create_topics")?;
    for r in results {
        r.map_err(|(t, code)| anyhow!("create topic {t}: {code:?}"))?;
    }
    Ok(())
}

/// Creates a client from `config` plus the `key=value,...` overrides in
/// environment variable `overrides_var` (for experiments).
fn create_client<T>(mut config: ClientConfig, overrides_var: &str) -> Result<T>
where
    T: rdkafka::config::FromClientConfigAndContext<BenchContext>,
{
    for kv in std::env::var(overrides_var).unwrap_or_default().split(',') {
        if let Some((k, v)) = kv.split_once('=') {
            config.set(k.trim(), v.trim());
        }
    }
    config.create_with_context(BenchContext::default()).with_context(|| format!("client with {config:?}"))
}

/// The producer of the throughput scenarios (and of the catch-up fill).
fn throughput_producer(bootstrap: &str, acks: Acks) -> Result<BenchProducer> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("acks", acks.config())
        .set("linger.ms", "5")
        .set("batch.size", "1048576")
        .set("batch.num.messages", "1000000")
        // Deep enough never to stall the sender, but bounded: a queue of
        // 1 GiB measured slower (allocator and page-fault churn).
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "262144")
        .set("compression.type", "none")
        .set("enable.idempotence", "false")
        .set("message.timeout.ms", "120000");
    create_client(config, "WEIR_BENCH_PRODUCER_CONFIG")
}

/// The latency producer: small batches, sent after at most 1 ms.
fn latency_producer(bootstrap: &str) -> Result<BenchProducer> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("acks", "1")
        .set("linger.ms", "1")
        .set("compression.type", "none")
        .set("enable.idempotence", "false")
        .set("message.timeout.ms", "120000");
    create_client(config, "WEIR_BENCH_PRODUCER_CONFIG")
}

/// Settings shared by both consumers. rust-rdkafka needs a `group.id` even
/// for `assign()`; with explicit offsets and no commits no group
/// coordinator is ever used (Weir has no consumer groups yet).
fn consumer_config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("group.id", "weir-bench")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false");
    c
}

/// Reads as fast as possible: `partition_fetch_bytes` per fetch (one
/// partition) and a deep prefetch queue.
fn catch_up_consumer(bootstrap: &str, partition_fetch_bytes: usize) -> Result<BenchConsumer> {
    let mut config = consumer_config(bootstrap);
    config
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", partition_fetch_bytes.to_string())
        .set("receive.message.max.bytes", "104857600")
        .set("queued.max.messages.kbytes", "1048576")
        .set("queued.min.messages", "1000000");
    create_client(config, "WEIR_BENCH_CONSUMER_CONFIG")
}

/// Tails a partition: answers as soon as there is any data.
fn tailing_consumer(bootstrap: &str) -> Result<BenchConsumer> {
    let mut config = consumer_config(bootstrap);
    config.set("fetch.wait.max.ms", LATENCY_FETCH_WAIT_MS).set("fetch.min.bytes", "1");
    create_client(config, "WEIR_BENCH_CONSUMER_CONFIG")
}

/// A record value of `len` pseudo-random bytes (no compression is used, so
/// the content only matters if someone turns compression on).
fn payload(len: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Enqueues `record`, serving delivery callbacks while the client queue is full.
fn send_blocking(producer: &BenchProducer, mut record: BaseRecord<'_, (), [u8]>, deadline: Instant) -> Result<()> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                producer.poll(Duration::from_millis(1));
                check_deadline(deadline, || "producer queue stayed full".into())?;
            }
            Err((e, _)) => bail!("send: {e}"),
        }
    }
}

/// Polls until `target` deliveries in total have completed.
fn wait_for_deliveries(producer: &BenchProducer, target: u64, deadline: Instant) -> Result<()> {
    let tracker = producer.context();
    while tracker.completed() < target {
        producer.poll(Duration::from_millis(1));
        check_deadline(deadline, || format!("{} of {target} deliveries", tracker.completed()))?;
    }
    Ok(())
}

/// Produces and awaits one record per partition, so that metadata and
/// connections are in place before anything is timed.
fn warm_up(
    producer: &BenchProducer,
    topic: &str,
    partitions: i32,
    record_size: usize,
    deadline: Instant,
) -> Result<()> {
    let value = payload(record_size);
    let before = producer.context().completed();
    for p in 0..partitions {
        send_blocking(producer, BaseRecord::to(topic).partition(p).payload(&value[..]), deadline)?;
    }
    wait_for_deliveries(producer, before + partitions as u64, deadline)?;
    producer.context().check()
}

/// Sends `records` records round-robin over `partitions` and returns the
/// time from the first send to the last delivery callback.
fn produce_all(
    producer: &BenchProducer,
    topic: &str,
    partitions: i32,
    record_size: usize,
    records: u64,
    deadline: Instant,
) -> Result<Duration> {
    let tracker = producer.context();
    let target = tracker.completed() + records;
    let value = payload(record_size);
    let start = now_ns();
    for i in 0..records {
        let partition = (i % partitions as u64) as i32;
        send_blocking(producer, BaseRecord::to(topic).partition(partition).payload(&value[..]), deadline)?;
        // Serve delivery callbacks now and then so the queue drains.
        if i % 1024 == 1023 {
            producer.poll(Duration::ZERO);
        }
    }
    wait_for_deliveries(producer, target, deadline)?;
    tracker.check()?;
    let end = tracker.last_delivery_ns.load(Ordering::Relaxed);
    Ok(Duration::from_nanos(end.saturating_sub(start)))
}

// ---------------------------------------------------------------------------
// The broker process
// ---------------------------------------------------------------------------

/// A `weir serve` process on an ephemeral port with a temporary data
/// directory; killed (SIGKILL) and the directory removed on drop.
struct Broker {
    child: Child,
    bootstrap: String,
    // Dropped after `Drop::drop` has killed the process.
    _dir: tempfile::TempDir,
}

impl Broker {
    fn start(bin: &Path) -> Result<Broker> {
        let dir = tempfile::Builder::new().prefix("weir-bench-").tempdir().context("temp dir")?;
        let mut child = Command::new(bin)
            .arg("serve")
            .arg("--override")
            .arg("listeners=PLAINTEXT://127.0.0.1:0")
            .arg("--override")
            .arg(format!("log.dirs={}", dir.path().display()))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("spawn {}", bin.display()))?;
        // Read stdout on a thread until the listening line, then keep
        // draining it so the broker never blocks on a full pipe.
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.trim().strip_prefix("weir listening on PLAINTEXT ") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(rest.to_string());
                    }
                }
            }
        });
        let mut broker = Broker { child, bootstrap: String::new(), _dir: dir };
        broker.bootstrap = rx
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| anyhow!("{} did not report a PLAINTEXT listener", bin.display()))?;
        Ok(broker)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident set size (VmHWM) in KiB.
    fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits up to `max_wait` for the machine to be nearly idle (below
/// `QUIET_CPU`), so that a measurement does not start in the middle of
/// someone else's build. No clients or broker are running at this point.
fn wait_for_quiet(max_wait: Duration) {
    if max_wait.is_zero() {
        return;
    }
    let start = Instant::now();
    let hz = clock_ticks_per_sec();
    loop {
        let sample = Duration::from_millis(500);
        let before = system_ticks();
        thread::sleep(sample);
        let busy = match (before, system_ticks()) {
            (Some(b), Some(a)) => a.0.saturating_sub(b.0) as f64 / hz / sample.as_secs_f64() * 100.0,
            _ => return,
        };
        if busy <= QUIET_CPU {
            if start.elapsed() > Duration::from_secs(1) {
                eprintln!("  (waited {:.0} s for other work to stop)", start.elapsed().as_secs_f64());
            }
            return;
        }
        if start.elapsed() >= max_wait {
            eprintln!("  (machine still {busy:.0}% busy after {max_wait:?}; measuring anyway)");
            return;
        }
    }
}

fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64
}

/// Flushes all dirty pages to disk (`sync(2)`), outside measured windows.
fn sync_disks() {
    // SAFETY: sync() takes no arguments and cannot fail.
    unsafe { libc::sync() };
}

/// CPU time (user + system) of a process in clock ticks, from /proc.
fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are
    // fields 14 and 15 of the whole line, i.e. 11 and 12 here.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Busy (everything but idle and iowait) and iowait ticks of the whole
/// machine, from the first line of /proc/stat.
fn system_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line.split_whitespace().map(|f| f.parse().unwrap_or(0)).collect();
    // user nice system idle iowait irq softirq steal (guest time is
    // already included in user).
    let (idle, iowait) = (*v.get(3)?, *v.get(4)?);
    let total: u64 = v.iter().take(8).sum();
    Some((total - idle - iowait, iowait))
}

/// CPU use over a measured window, each in % of one core (so up to 100% x
/// cores in total).
#[derive(Clone, Copy)]
struct CpuUsage {
    broker: f64,
    /// This bench process: the librdkafka clients and the driving threads.
    client: f64,
    /// Busy time of the machine not charged to either process: mostly
    /// kernel threads (writeback, softirq) and anything else running.
    other: f64,
    /// Time idle with I/O outstanding.
    iowait: f64,
}

/// Picks one figure out of a `CpuUsage`.
type CpuField = fn(&CpuUsage) -> f64;

/// Snapshot of CPU counters at the start of a measured window.
struct CpuWindow {
    broker_pid: String,
    broker: Option<u64>,
    client: Option<u64>,
    system: Option<(u64, u64)>,
    start: Instant,
}

impl CpuWindow {
    fn start(broker_pid: u32) -> CpuWindow {
        let broker_pid = broker_pid.to_string();
        CpuWindow {
            broker: cpu_ticks(&broker_pid),
            client: cpu_ticks("self"),
            system: system_ticks(),
            broker_pid,
            start: Instant::now(),
        }
    }

    /// CPU used since `start`.
    fn finish(&self) -> CpuUsage {
        let secs = self.start.elapsed().as_secs_f64();
        let hz = clock_ticks_per_sec();
        let pct = |then: Option<u64>, now: Option<u64>| match (then, now) {
            (Some(t), Some(n)) => n.saturating_sub(t) as f64 / hz / secs * 100.0,
            _ => f64::NAN,
        };
        let broker = pct(self.broker, cpu_ticks(&self.broker_pid));
        let client = pct(self.client, cpu_ticks("self"));
        let now = system_ticks();
        let busy = pct(self.system.map(|s| s.0), now.map(|s| s.0));
        let iowait = pct(self.system.map(|s| s.1), now.map(|s| s.1));
        CpuUsage { broker, client, other: (busy - broker - client).max(0.0), iowait }
    }
}

// ---------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------

struct TargetResult {
    runs: Vec<RunOutcome>,
    failed: usize,
}

struct ScenarioResult<'a> {
    scenario: &'a Scenario,
    /// In `Settings::targets` order.
    per_target: Vec<TargetResult>,
}

/// Median, min and max of a sample.
#[derive(Clone, Copy)]
struct Stats {
    median: f64,
    min: f64,
    max: f64,
}

impl Stats {
    fn of(values: impl IntoIterator<Item = f64>) -> Option<Stats> {
        let mut v: Vec<f64> = values.into_iter().filter(|x| !x.is_nan()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
        Some(Stats { median, min: v[0], max: v[n - 1] })
    }
}

impl TargetResult {
    fn metric(&self, i: usize) -> Option<Stats> {
        Stats::of(self.runs.iter().map(|r| r.values[i]))
    }

    /// Median of one CPU figure over the runs.
    fn cpu(&self, f: CpuField) -> Option<f64> {
        Stats::of(self.runs.iter().map(|r| f(&r.cpu))).map(|s| s.median)
    }

    fn peak_rss_kib(&self) -> Option<u64> {
        self.runs.iter().filter_map(|r| r.broker_rss_kib).max()
    }
}

fn report(settings: &Settings, results: &[ScenarioResult<'_>]) {
    let baseline = settings.has_baseline();
    let mut header: Vec<&str> = vec!["scenario"];
    if baseline {
        header.extend(["baseline", "base min - max", "current", "cur min - max", "cur/base"]);
    } else {
        header.extend(["median", "min", "max"]);
    }
    header.extend(["unit", "goal", "broker CPU", "client CPU", "other CPU", "iowait", "broker RSS"]);
    let mut table = Table::new(&header);

    let current = settings.targets.len() - 1;
    for r in results {
        let sc = r.scenario;
        for (mi, m) in sc.metrics.iter().enumerate() {
            let first = mi == 0;
            let mut row = vec![if first { sc.name.clone() } else { String::new() }];
            let stats: Vec<Option<Stats>> = r.per_target.iter().map(|t| t.metric(mi)).collect();
            for (ti, s) in stats.iter().enumerate() {
                let failed = r.per_target[ti].failed;
                match s {
                    Some(s) if baseline => {
                        row.push(m.unit.format(s.median));
                        row.push(format!("{} - {}", m.unit.format(s.min), m.unit.format(s.max)));
                    }
                    Some(s) => {
                        row.push(m.unit.format(s.median));
                        row.push(m.unit.format(s.min));
                        row.push(m.unit.format(s.max));
                    }
                    None => {
                        row.push(format!("FAILED x{failed}"));
                        row.push(String::new());
                        if !baseline {
                            row.push(String::new());
                        }
                    }
                }
            }
            if baseline {
                row.push(match (stats[0], stats[current]) {
                    (Some(b), Some(c)) if b.median != 0.0 => format!("{:.3}", c.median / b.median),
                    _ => "-".into(),
                });
            }
            row.push(match m.unit {
                Unit::Millis => format!("{} {}", m.name, m.unit.name()),
                u => u.name().into(),
            });
            row.push(match (m.goal, stats[current]) {
                (Some(g), Some(s)) => {
                    format!("{} {}", g.describe(m.unit), if g.met(s.median) { "(met)" } else { "(MISSED)" })
                }
                (Some(g), None) => g.describe(m.unit),
                (None, _) => String::new(),
            });
            // Resource figures once per scenario, "baseline / current".
            if first {
                let join =
                    |f: &dyn Fn(&TargetResult) -> String| r.per_target.iter().map(f).collect::<Vec<_>>().join(" / ");
                let pct = |v: Option<f64>| v.map_or("?".into(), |v| format!("{v:.0}%"));
                row.push(join(&|t| pct(t.cpu(|c| c.broker))));
                row.push(join(&|t| pct(t.cpu(|c| c.client))));
                row.push(join(&|t| pct(t.cpu(|c| c.other))));
                row.push(join(&|t| pct(t.cpu(|c| c.iowait))));
                row.push(join(&|t| rss_label(t.peak_rss_kib())));
            } else {
                row.extend(std::iter::repeat_n(String::new(), 5));
            }
            table.row(row);
        }
    }

    println!();
    println!(
        "Weir benchmark: median of {} run(s), scale {}, {} CPU(s), fresh broker per run; \
         MB = 10^6 value bytes",
        settings.runs,
        settings.scale,
        thread::available_parallelism().map_or(0, |n| n.get())
    );
    for t in &settings.targets {
        println!("{}: {}", t.label, t.origin.display());
    }
    if baseline {
        println!(
            "cur/base = current median / baseline median (throughput: higher is better; \
             latency: lower is better); resource columns are baseline / current"
        );
    }
    println!(
        "CPU = median % of one core over the measured window (client = this bench process, \
         other = rest of the machine's busy time); RSS = broker peak (VmHWM)"
    );
    println!();
    table.print();
    println!();
    // Other work on the machine skews results; say where it was noticeable.
    for r in results {
        let busy: Vec<String> = settings
            .targets
            .iter()
            .zip(&r.per_target)
            .filter_map(|(target, t)| {
                let other = t.cpu(|c| c.other)?;
                (other > NOISY_OTHER_CPU).then(|| format!("{} {other:.0}%", target.label))
            })
            .collect();
        if !busy.is_empty() {
            println!(
                "note: {}: other work used CPU while measuring (median {}); treat as noisy",
                r.scenario.name,
                busy.join(", ")
            );
        }
    }
    println!();

    for r in results {
        let sc = r.scenario;
        for (ti, target) in settings.targets.iter().enumerate() {
            let t = &r.per_target[ti];
            for (mi, m) in sc.metrics.iter().enumerate() {
                let mut line = format!(
                    "BENCH name={} metric={}_{} bin={} runs={} failed={}",
                    sc.name,
                    m.name,
                    m.unit.key(),
                    target.label,
                    t.runs.len(),
                    t.failed
                );
                if let Some(s) = t.metric(mi) {
                    line += &format!(" median={:.3} min={:.3} max={:.3}", s.median, s.min, s.max);
                }
                if baseline && ti == current {
                    if let (Some(b), Some(c)) = (r.per_target[0].metric(mi), t.metric(mi)) {
                        line += &format!(" ratio={:.4}", c.median / b.median);
                    }
                }
                if let Some(g) = m.goal {
                    let (op, v) = match g {
                        Goal::AtLeast(v) => ("ge", v),
                        Goal::AtMost(v) => ("le", v),
                    };
                    line += &format!(" goal_{op}={v}");
                    if let Some(s) = t.metric(mi) {
                        line += &format!(" goal_met={}", g.met(s.median));
                    }
                }
                let cpu_fields: [(&str, CpuField); 4] = [
                    ("broker_cpu_pct", |c| c.broker),
                    ("client_cpu_pct", |c| c.client),
                    ("other_cpu_pct", |c| c.other),
                    ("iowait_pct", |c| c.iowait),
                ];
                for (key, f) in cpu_fields {
                    if let Some(v) = t.cpu(f) {
                        line += &format!(" {key}={v:.0}");
                    }
                }
                if let Some(k) = t.peak_rss_kib() {
                    line += &format!(" broker_rss_kib={k}");
                }
                println!("{line}");
            }
        }
    }
}

/// A plain text table: columns padded to width, numbers right-aligned.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &[&str]) -> Table {
        Table { header: header.iter().map(|h| h.to_string()).collect(), rows: Vec::new() }
    }

    fn row(&mut self, row: Vec<String>) {
        debug_assert_eq!(row.len(), self.header.len());
        self.rows.push(row);
    }

    fn print(&self) {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|c| std::iter::once(&self.header).chain(&self.rows).map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        // A column is right-aligned when its cells look numeric.
        let numeric: Vec<bool> = (0..self.header.len())
            .map(|c| self.rows.iter().any(|r| r[c].chars().next().is_some_and(|ch| ch.is_ascii_digit())))
            .collect();
        let pad = |c: usize, s: &str| {
            let w = widths[c];
            if numeric[c] {
                format!("{s:>w$}")
            } else {
                format!("{s:<w$}")
            }
        };
        let line = |cells: &[String]| {
            let parts: Vec<String> = cells.iter().enumerate().map(|(c, s)| pad(c, s)).collect();
            println!("{}", parts.join(" | ").trim_end());
        };
        line(&self.header);
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        println!("{}", rule.join("-|-"));
        for r in &self.rows {
            line(r);
        }
    }
}

/// 1234567 -> "1,234,567".
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
