//! `cargo bench --bench throughput`: Weir's throughput and latency benchmark.
//!
//! Every measurement starts fresh `weir serve` processes (the binary Cargo
//! built for this bench, i.e. release code): one broker on an ephemeral
//! loopback port, or a 3-node cluster (below), each with its own temporary
//! `log.dirs`; drives them with librdkafka (rust-rdkafka) clients from this
//! process, then kills the brokers and removes the data. Dirty pages are
//! synced before each run so writeback left over from earlier runs does
//! not compete for the CPUs.
//!
//! Clients and brokers share the machine, so each result comes with how
//! the CPUs were used over the measured window, in % of one core: the
//! broker processes and this process (client) from `/proc/<pid>/stat`,
//! everything else that was busy ("other": kernel writeback, other
//! processes) and iowait from `/proc/stat`; plus the broker's peak RSS
//! (`VmHWM`) and the broker CPU time per MB moved (value bytes produced,
//! or consumed in the catch-up scenarios; on a cluster, summed over the
//! nodes).
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
//! * `produce-1KiB-p16-acks1-fsync`: `produce-1KiB-p16-acks1` on a topic
//!   with `flush.messages=1`: a record is acknowledged only once fsynced;
//!   the broker groups the fsyncs of concurrent appends (group commit).
//! * `produce-1KiB-p10000-acks1`: `produce-1KiB-p16-acks1`'s volume spread
//!   round-robin over 10,000 partitions of one topic (goal: half the
//!   16-partition throughput measured before, 658 MB/s).
//! * `consume-1KiB-catchup-fetch<N>MiB`: 1 GiB of 1 KiB records is
//!   produced to one partition and synced to disk (not measured); then a
//!   fresh `BaseConsumer` is `assign()`ed at offset 0 and reads it all back
//!   with `max.partition.fetch.bytes` = N MiB (1 MiB, the Kafka/librdkafka
//!   default, and 50 MiB) and a deep prefetch queue; the clock runs from
//!   `assign` to the last record. The data is still in the page cache.
//!   Reports MB/s and records/s.
//! * `latency-1KiB-50MBps`: one partition, `acks=1`, `linger.ms=1`. This
//!   thread sends 1 KiB records at 50 MB/s, paced in 1 ms slices, for 10 s
//!   (at scale 1) after a 1 s warm-up that is not recorded; before either,
//!   one acknowledged record (with acks=all on a cluster: every replica is
//!   fetching), so the figures are the steady state, not a topic's first
//!   second while its followers start. Each value
//!   starts with its send time (a monotonic `Instant` as nanoseconds since
//!   a start shared by both clients); a consumer thread tails the partition
//!   with `fetch.wait.max.ms=5` (Weir's fetch long-poll wakes on append, so
//!   this only bounds idle polling) and records receive time minus send
//!   time. Reports p50, p99, p99.9 and max in ms.
//! * `cluster-produce-<size>-p<N>-acksall`, for 100 B and 1 KiB records, 1
//!   and 16 partitions: `produce-*-acksall` (same producer settings,
//!   warm-up and clock) against a 3-node cluster, with half the
//!   single-node volumes (5M x 100 B or 1M x 1 KiB at scale 1; each byte
//!   is written three times). The topic has replication factor 3 and
//!   `min.insync.replicas=2`; an acks=all produce completes once every
//!   in-sync replica has the records (followers fetch them from the
//!   leader and the leader's high watermark passes them).
//! * `cluster-latency-1KiB-<rate>MBps` at 50, 100 and 200 MB/s:
//!   `latency-1KiB-50MBps` against the 3-node cluster, with `acks=all`.
//!   The consumer reads from the leader, which serves records only below
//!   the high watermark, so the latency includes the followers' fetch
//!   round trips. The goals are issue 12's 50 MB/s goals at every rate, to
//!   show the rates at which each still holds.
//!
//! The latency scenarios also print, per hop of a batch's path (client
//! send, queue, append, to followers, follower ack, ack queue, high watermark,
//! respond, to consumer, client receive), its p99 as a row and its
//! p50/p99/p99.9/max in the progress line, from the brokers' hop traces
//! (`WEIR_HOP_TRACE`, see `common::hops`).
//!
//! Clusters: 3 `weir serve` processes on loopback, each a broker and a
//! controller (a 3-voter metadata quorum) with its own ports and data
//! directory; all are spawned before any is waited for, since a node
//! reports its listener only once the quorum has formed and it has
//! registered; clients bootstrap from all three. After creating the topic
//! the bench waits until every partition has a leader and all 3 replicas
//! in the ISR. After each run it compares the topic's log bytes on each
//! node: in-sync replicas hold the same data, and a node holding next to
//! nothing means the binary does not replicate (see `WEIR_BASELINE_BIN`).
//! Broker CPU is the sum over the three processes, with each process
//! (busiest first, i.e. usually the leader first with one partition) in
//! parentheses; broker RSS is the largest of the three.
//!
//! Each scenario runs `WEIR_BENCH_RUNS` times per binary; the table shows
//! the median with min and max. Environment:
//!
//! * `WEIR_BENCH_SCALE` (default 1.0) scales data volumes and durations.
//! * `WEIR_BENCH_RUNS` (default 3) measurements per scenario and binary.
//! * `WEIR_BENCH_FILTER=a,b` runs only scenarios whose name contains one of
//!   the comma-separated substrings (a positional argument works too:
//!   `cargo bench --bench throughput -- produce-100B`; `cluster` selects
//!   the cluster scenarios).
//! * `WEIR_BASELINE_BIN=/path/to/weir` also measures that binary (e.g. one
//!   built from an older commit), interleaved run by run with the current
//!   one (baseline, current, baseline, current, ...) so machine noise hits
//!   both alike, and prints both plus the current/baseline ratio. A
//!   baseline that cannot form a replicating cluster is tried once; its
//!   cluster scenarios then show `n/a` (not an error; for the current
//!   binary it is one).
//! * `WEIR_BENCH_KAFKA=1` also measures Apache Kafka 4.4 (the jars of
//!   `compat/kafka/pom.xml`, started through `compat/bin`, see
//!   `common::kafka`): a fresh KRaft combined node per run, or 3 of them for
//!   the cluster scenarios (replication factor 3, as for Weir), with the
//!   heap and JVM settings of Kafka's `kafka-server-start.sh`
//!   (`-Xmx1G -Xms1G`, G1) and Kafka's defaults otherwise. It runs
//!   interleaved with Weir (kafka, current, kafka, current, ...; with a
//!   baseline too: baseline, kafka, current, ...), and the table gains
//!   `cur/kafka`. The same clients, settings, topics and clocks; broker
//!   CPU and RSS are the JVM's. Kafka writes no hop trace (those rows are
//!   `n/a`). Needs Java 17+ and Maven (the first run resolves the jars).
//! * `WEIR_BENCH_QUIET_WAIT` (seconds, default 10; 0 disables): before
//!   each measurement, wait up to this long for other work on the machine
//!   to stop (busy CPU below 20% of a core); results taken while other work
//!   ran anyway are flagged under the table, as are runs with iowait
//!   above 20% (a busy disk).
//! * `WEIR_BENCH_THREAD_CPU=1` adds a per-thread breakdown of each
//!   process's CPU over the measured window (threads grouped by name,
//!   busiest groups first) to the progress lines.
//! * `WEIR_BENCH_PRODUCER_CONFIG` / `WEIR_BENCH_CONSUMER_CONFIG` =
//!   `key=value,...`: librdkafka settings applied on top of the bench's own,
//!   for experiments; likewise `WEIR_BENCH_BROKER_CONFIG` for broker
//!   properties (`--override`s of every node).
//! * `WEIR_BENCH_HOPS_DIR`: keep each latency run's raw hop trace there.
//! * `WEIR_BENCH_PLOTS` (default `target/bench-plots`): where each latency
//!   scenario's plot goes, `<scenario>.svg`: the percentile curve of the
//!   end-to-end latencies (all runs pooled, one line per binary, log
//!   scales) with the scenario's goals marked; the paths are printed
//!   under the table.
//!
//! Progress goes to stderr (with the brokers' warnings once they are up,
//! prefixed by node); stdout gets the result table followed by one
//! machine-readable `BENCH name=... metric=... bin=... median=...` line per
//! scenario, metric and binary. Goals are printed next to results; they are
//! targets, not assertions; the exit status is non-zero only if a run
//! failed outright (broker error, timeout). Run without `--bench` (as
//! `cargo test --all-targets` does) the binary does nothing.
//!
//! The broker processes, `/proc` accounting and the table live in
//! `benches/common/`.

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use common::client::{now_ns, BenchContext, BENCH_GROUP};
use common::deploy::{Broker, ClusterUnavailable, Deployment};
use common::procstat::{sync_disks, wait_for_quiet, CpuUsage, CpuWindow};
use common::table::{thousands, Table};
use common::{hops, kafka, plot};

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
/// The offered rates (MB/s) of the cluster latency scenarios; the
/// single-node one runs at the first.
const LATENCY_RATES_MB: [u32; 3] = [50, 100, 200];
const LATENCY_SECS: f64 = 10.0;
/// Sent at full rate before latencies are recorded.
const LATENCY_WARMUP: Duration = Duration::from_secs(1);
/// Pacing granularity of the latency producer.
const LATENCY_SLICE: Duration = Duration::from_millis(1);
/// The tailing consumer's `fetch.wait.max.ms`.
const LATENCY_FETCH_WAIT_MS: &str = "5";
/// Partitions of the many-partitions produce scenario.
const MANY_PARTITIONS: i32 = 10_000;
/// Nodes of the cluster scenarios (also the topic's replication factor).
const CLUSTER_NODES: usize = 3;
/// The cluster topic's `min.insync.replicas`.
const CLUSTER_MIN_INSYNC: usize = 2;
/// Cluster produce volumes relative to the single-node ones (every byte is
/// written to three logs).
const CLUSTER_VOLUME: f64 = 0.5;
/// How long a new cluster topic may take to get leaders and a full ISR.
const TOPIC_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// A node holding less than this fraction of the topic bytes of the
/// fullest node after a cluster run has not been replicating at all.
const MIN_REPLICATED_FRACTION: f64 = 0.1;
/// Median "other" CPU (% of one core) above which a result is flagged as
/// disturbed by other work on the machine.
const NOISY_OTHER_CPU: f64 = 25.0;
/// iowait (% of one core) above which a run counts as having waited for a
/// busy disk (its own writeback or other work's I/O).
const NOISY_IOWAIT: f64 = 20.0;
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

    let current = settings.targets.len() - 1;
    // Baselines that could not form a cluster: their cluster scenarios are
    // skipped from then on.
    let mut no_cluster = vec![false; settings.targets.len()];
    let mut results = Vec::new();
    let mut plots = Vec::new();
    for sc in &scenarios {
        let mut per_target: Vec<TargetResult> = settings.targets.iter().map(|_| TargetResult::default()).collect();
        for run in 1..=settings.runs {
            for (ti, target) in settings.targets.iter().enumerate() {
                let t = &mut per_target[ti];
                if sc.is_cluster() && no_cluster[ti] {
                    t.no_cluster = true;
                    continue;
                }
                let label = format!("{} [{}] run {run}/{}", sc.name, target.label, settings.runs);
                match run_once(sc, &target.broker, &settings) {
                    Ok(out) => {
                        eprintln!("{label}: {}", out.summary(sc));
                        t.runs.push(out);
                    }
                    Err(e) if ti != current && e.downcast_ref::<ClusterUnavailable>().is_some() => {
                        eprintln!("{label}: {e:#}\n  (skipping this binary's cluster scenarios: n/a)");
                        no_cluster[ti] = true;
                        t.no_cluster = true;
                    }
                    Err(e) => {
                        eprintln!("{label}: FAILED: {e:#}");
                        t.failed += 1;
                    }
                }
            }
        }
        if let Some(path) = plot_latencies(sc, &settings, &per_target) {
            plots.push(path);
        }
        results.push(ScenarioResult { scenario: sc, per_target });
    }
    report(&settings, &results);
    for path in &plots {
        println!("latency plot: {}", path.display());
    }
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

/// A broker under test.
struct Target {
    label: &'static str,
    /// Where the binary came from (Kafka: `compat/bin`).
    origin: PathBuf,
    /// Weir: a private copy of the binary that all runs execute, so a
    /// concurrent `cargo build` replacing `origin` cannot mix two builds
    /// into one result.
    broker: Broker,
    /// Kafka: its version, for the header.
    version: Option<String>,
}

struct Settings {
    scale: f64,
    runs: usize,
    filters: Vec<String>,
    /// How long to wait for other work on the machine to stop before each
    /// measurement.
    quiet_wait: Duration,
    /// Whether to break CPU use down by thread (`WEIR_BENCH_THREAD_CPU`).
    thread_cpu: bool,
    /// Broker properties for every node (`WEIR_BENCH_BROKER_CONFIG`).
    broker_overrides: Vec<(String, String)>,
    /// In run order: the baseline (if any) first, then Kafka (if asked
    /// for), the current binary last.
    targets: Vec<Target>,
    /// Where latency plots are written (`WEIR_BENCH_PLOTS`).
    plots_dir: PathBuf,
    /// Holds the copies of the binaries.
    _bin_dir: tempfile::TempDir,
}

impl Settings {
    fn from_env(args: &[String]) -> Settings {
        let scale = env_parse("WEIR_BENCH_SCALE", 1.0f64);
        assert!(scale > 0.0, "WEIR_BENCH_SCALE must be positive");
        let runs = env_parse("WEIR_BENCH_RUNS", 3usize).max(1);
        let quiet_wait = Duration::from_secs_f64(env_parse("WEIR_BENCH_QUIET_WAIT", 10.0f64).max(0.0));
        let thread_cpu = env_parse("WEIR_BENCH_THREAD_CPU", 0u8) != 0;
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
        let mut targets: Vec<Target> = origins
            .into_iter()
            .map(|(label, origin)| {
                let bin = bin_dir.path().join(format!("weir-{label}"));
                std::fs::copy(&origin, &bin)
                    .unwrap_or_else(|e| panic!("copy {} to {}: {e}", origin.display(), bin.display()));
                Target { label, origin, broker: Broker::Weir(bin), version: None }
            })
            .collect();
        if env_parse("WEIR_BENCH_KAFKA", 0u8) != 0 {
            let version = kafka::version().unwrap_or_else(|e| panic!("WEIR_BENCH_KAFKA: {e:#}"));
            let at = targets.len() - 1;
            targets.insert(
                at,
                Target { label: "kafka", origin: kafka::bin_dir(), broker: Broker::Kafka, version: Some(version) },
            );
        }
        let broker_overrides = env_overrides("WEIR_BENCH_BROKER_CONFIG");
        let plots_dir = std::env::var_os("WEIR_BENCH_PLOTS")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-plots"));
        Settings {
            scale,
            runs,
            filters,
            quiet_wait,
            thread_cpu,
            broker_overrides,
            targets,
            plots_dir,
            _bin_dir: bin_dir,
        }
    }

    fn selects(&self, name: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| name.contains(f.as_str()))
    }

    /// Whether results are compared: with a baseline binary, Kafka, or both.
    fn compares(&self) -> bool {
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
            match &t.version {
                Some(v) => eprintln!("  {:<8} Apache Kafka {v} ({})", t.label, t.origin.display()),
                None => eprintln!("  {:<8} {} (run from a copy)", t.label, t.origin.display()),
            }
        }
        if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
            eprintln!("  load average at start: {}", load.trim());
        }
    }
}

/// The `key=value,...` pairs in environment variable `name`.
fn env_overrides(name: &str) -> Vec<(String, String)> {
    let value = std::env::var(name).unwrap_or_default();
    value.split(',').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.trim().into(), v.trim().into())).collect()
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
        /// Topic configs the benchmark topic is created with.
        topic_configs: &'static [(&'static str, &'static str)],
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
        acks: Acks,
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
    /// Broker processes: 1, or a cluster of `CLUSTER_NODES`.
    nodes: usize,
    workload: Workload,
    /// The values every run of this scenario reports, in order.
    metrics: Vec<Metric>,
}

impl Scenario {
    fn is_cluster(&self) -> bool {
        self.nodes > 1
    }
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
                    nodes: 1,
                    workload: Workload::Produce {
                        record_size,
                        records: scaled(base_records, scale),
                        partitions,
                        acks,
                        topic_configs: &[],
                    },
                    metrics: vec![
                        Metric::new("throughput", Unit::RecordsPerSec, rec_goal),
                        Metric::new("throughput", Unit::MegabytesPerSec, mb_goal),
                    ],
                });
            }
        }
    }
    // Durable produce: every record fsynced before it is acknowledged
    // (flush.messages=1), through the group commit.
    out.push(Scenario {
        name: "produce-1KiB-p16-acks1-fsync".into(),
        nodes: 1,
        workload: Workload::Produce {
            record_size: KIB,
            records: scaled(PRODUCE_1KIB_RECORDS, scale),
            partitions: 16,
            acks: Acks::Leader,
            topic_configs: &[("flush.messages", "1")],
        },
        metrics: vec![
            Metric::new("throughput", Unit::RecordsPerSec, None),
            Metric::new("throughput", Unit::MegabytesPerSec, Some(Goal::AtLeast(450.0))),
        ],
    });
    // Many partitions on one node: the same volume spread over 10k
    // partitions (goal: half the 16-partition throughput).
    out.push(Scenario {
        name: format!("produce-1KiB-p{MANY_PARTITIONS}-acks1"),
        nodes: 1,
        workload: Workload::Produce {
            record_size: KIB,
            records: scaled(PRODUCE_1KIB_RECORDS, scale),
            partitions: MANY_PARTITIONS,
            acks: Acks::Leader,
            topic_configs: &[],
        },
        metrics: vec![
            Metric::new("throughput", Unit::RecordsPerSec, None),
            Metric::new("throughput", Unit::MegabytesPerSec, Some(Goal::AtLeast(329.0))),
        ],
    });
    for fetch_mib in CATCH_UP_FETCH_MIB {
        out.push(Scenario {
            name: format!("consume-1KiB-catchup-fetch{fetch_mib}MiB"),
            nodes: 1,
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
    let single_goals = LatencyGoals { p50: None, p99: 3.0, p999: None, max: None };
    out.push(latency_scenario("latency-1KiB-50MBps", 1, Acks::Leader, 50.0, single_goals, scale));
    for (record_size, base_records) in [(KIB, PRODUCE_1KIB_RECORDS), (100, PRODUCE_100B_RECORDS)] {
        for partitions in [1, 16] {
            let (rec_goal, mb_goal) = match record_size {
                100 => (Some(Goal::AtLeast(422_000.0)), None),
                _ => (None, Some(Goal::AtLeast(300.0))),
            };
            out.push(Scenario {
                name: format!("cluster-produce-{}-p{partitions}-acksall", size_label(record_size)),
                nodes: CLUSTER_NODES,
                workload: Workload::Produce {
                    record_size,
                    records: scaled(base_records * CLUSTER_VOLUME, scale),
                    partitions,
                    acks: Acks::All,
                    topic_configs: &[],
                },
                metrics: vec![
                    Metric::new("throughput", Unit::RecordsPerSec, rec_goal),
                    Metric::new("throughput", Unit::MegabytesPerSec, mb_goal),
                ],
            });
        }
    }
    // The 50 MB/s goals also at higher rates, to find where each still holds.
    for rate in LATENCY_RATES_MB {
        let goals = LatencyGoals { p50: Some(2.0), p99: 5.0, p999: Some(10.0), max: Some(25.0) };
        let name = format!("cluster-latency-1KiB-{rate}MBps");
        out.push(latency_scenario(&name, CLUSTER_NODES, Acks::All, rate as f64, goals, scale));
    }
    out
}

/// End-to-end latency of 1 KiB records offered at `rate_mb` MB/s, with
/// goals in ms.
fn latency_scenario(name: &str, nodes: usize, acks: Acks, rate_mb: f64, goals: LatencyGoals, scale: f64) -> Scenario {
    Scenario {
        name: name.into(),
        nodes,
        workload: Workload::Latency {
            record_size: KIB,
            bytes_per_sec: rate_mb * MB,
            duration: Duration::from_secs_f64((LATENCY_SECS * scale).max(1.0)),
            acks,
        },
        metrics: [
            Metric::new("p50", Unit::Millis, goals.p50.map(Goal::AtMost)),
            Metric::new("p99", Unit::Millis, Some(Goal::AtMost(goals.p99))),
            Metric::new("p99.9", Unit::Millis, goals.p999.map(Goal::AtMost)),
            Metric::new("max", Unit::Millis, goals.max.map(Goal::AtMost)),
        ]
        .into_iter()
        .chain(
            HOP_METRICS
                .iter()
                .filter(|(hop, _)| nodes > 1 || !FOLLOWER_HOPS.contains(hop))
                .map(|(_, label)| Metric::new(label, Unit::Millis, None)),
        )
        .collect(),
    }
}

/// End-to-end latency goals in ms (issue 12).
struct LatencyGoals {
    p50: Option<f64>,
    p99: f64,
    p999: Option<f64>,
    max: Option<f64>,
}

/// The hops (see `common::hops`) whose p99 is a row of the latency
/// scenarios, with the row's label.
const HOP_METRICS: [(&str, &str); 10] = [
    ("client send", "hop client send p99"),
    ("queue", "hop queue p99"),
    ("append", "hop append p99"),
    ("to followers", "hop to followers p99"),
    ("follower ack", "hop follower ack p99"),
    ("ack queue", "hop ack queue p99"),
    ("hw", "hop hw p99"),
    ("respond", "hop respond p99"),
    ("to consumer", "hop to consumer p99"),
    ("client receive", "hop client receive p99"),
];
const FOLLOWER_HOPS: [&str; 3] = ["to followers", "follower ack", "ack queue"];

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
    /// The largest broker peak resident set (VmHWM) at the end of the run.
    broker_rss_kib: Option<u64>,
    /// Broker CPU time (all nodes) per MB of values moved, in ms.
    broker_cpu_ms_per_mb: Option<f64>,
    /// Free-form extra information for the progress line.
    detail: String,
    /// Latency scenarios: every end-to-end latency sample in ms, sorted
    /// (for the plot); empty otherwise.
    latencies_ms: Vec<f64>,
}

impl RunOutcome {
    fn new(values: Vec<f64>, cpu: CpuUsage, detail: String) -> RunOutcome {
        RunOutcome { values, cpu, broker_rss_kib: None, broker_cpu_ms_per_mb: None, detail, latencies_ms: Vec::new() }
    }

    fn summary(&self, sc: &Scenario) -> String {
        let values: Vec<String> = sc.metrics.iter().zip(&self.values).map(|(m, v)| metric_value_label(m, *v)).collect();
        let mut broker = format!("{:.0}%", self.cpu.broker);
        if self.cpu.per_broker.len() > 1 {
            let nodes: Vec<String> =
                self.cpu.per_broker.iter().enumerate().map(|(i, c)| format!("n{} {c:.0}%", i + 1)).collect();
            broker += &format!(" ({})", nodes.join(", "));
        }
        let mut line = format!(
            "{}; CPU broker {broker} client {:.0}% other {:.0}% iowait {:.0}%; broker {} CPU/MB; broker RSS {}",
            values.join(", "),
            self.cpu.client,
            self.cpu.other,
            self.cpu.iowait,
            cpu_per_mb_label(self.broker_cpu_ms_per_mb),
            rss_label(self.broker_rss_kib),
        );
        for extra in [&self.detail, &self.cpu.threads] {
            if !extra.is_empty() {
                line += "; ";
                line += extra;
            }
        }
        line
    }
}

fn metric_value_label(m: &Metric, v: f64) -> String {
    match m.unit {
        Unit::Millis => format!("{} {} ms", m.name, m.unit.format(v)),
        u => format!("{} {}", u.format(v), u.name()),
    }
}

fn cpu_per_mb_label(ms: Option<f64>) -> String {
    ms.map_or_else(|| "?".into(), |ms| format!("{ms:.2} ms"))
}

/// Broker CPU time per MB of values moved in the measured window, in ms:
/// the broker CPU (% of one core, all nodes) over the MB/s of the run (the
/// throughput measured, or the latency scenarios' offered rate).
fn broker_cpu_ms_per_mb(sc: &Scenario, out: &RunOutcome) -> Option<f64> {
    let mb_per_sec = match sc.workload {
        Workload::Latency { bytes_per_sec, .. } => bytes_per_sec / MB,
        _ => sc
            .metrics
            .iter()
            .zip(&out.values)
            .find(|(m, _)| matches!(m.unit, Unit::MegabytesPerSec))
            .map(|(_, v)| *v)?,
    };
    (mb_per_sec > 0.0 && out.cpu.broker.is_finite()).then(|| out.cpu.broker / 100.0 * 1000.0 / mb_per_sec)
}

fn rss_label(kib: Option<u64>) -> String {
    kib.map_or_else(|| "?".into(), |k| format!("{:.0} MiB", k as f64 / 1024.0))
}

/// The brokers of one measurement and what every workload needs with them.
struct Run {
    deploy: Deployment,
    thread_cpu: bool,
    /// When the measurement counts as stalled.
    deadline: Instant,
}

impl Run {
    fn bootstrap(&self) -> &str {
        &self.deploy.bootstrap
    }

    /// Starts the measured window's CPU accounting.
    fn cpu_window(&self) -> CpuWindow {
        CpuWindow::start(&self.deploy.pids(), self.thread_cpu)
    }

    /// Creates the benchmark topic: on a cluster with one replica per node
    /// and `min.insync.replicas`, then waits until every partition has a
    /// leader and all replicas in sync. On a cluster, failing to do so
    /// means there is no working cluster.
    fn create_topic(&self, partitions: i32) -> Result<()> {
        self.create_topic_with(partitions, &[])
    }

    /// [`Self::create_topic`] with extra topic configs.
    fn create_topic_with(&self, partitions: i32, configs: &[(&str, &str)]) -> Result<()> {
        self.setup_step(self.try_create_topic(partitions, configs))
    }

    /// `warm_up` (one acknowledged record per partition); on a cluster
    /// within `TOPIC_READY_TIMEOUT`, or there is no working cluster.
    fn warm_up(&self, producer: &BenchProducer, partitions: i32, record_size: usize) -> Result<()> {
        let deadline = if self.deploy.is_cluster() {
            self.deadline.min(Instant::now() + TOPIC_READY_TIMEOUT)
        } else {
            self.deadline
        };
        self.setup_step(warm_up(producer, TOPIC, partitions, record_size, deadline))
    }

    /// On a cluster, marks a failed setup step as [`ClusterUnavailable`].
    fn setup_step<T>(&self, r: Result<T>) -> Result<T> {
        if self.deploy.is_cluster() {
            r.context(ClusterUnavailable)
        } else {
            r
        }
    }

    fn try_create_topic(&self, partitions: i32, configs: &[(&str, &str)]) -> Result<()> {
        let admin: AdminClient<DefaultClientContext> =
            ClientConfig::new().set("bootstrap.servers", self.bootstrap()).create().context("admin client")?;
        let replicas = self.deploy.len();
        let min_insync = CLUSTER_MIN_INSYNC.to_string();
        let mut topic = NewTopic::new(TOPIC, partitions, TopicReplication::Fixed(replicas as i32));
        if self.deploy.is_cluster() {
            topic = topic.set("min.insync.replicas", &min_insync);
        }
        for (k, v) in configs {
            topic = topic.set(k, v);
        }
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(60)));
        let results = futures::executor::block_on(admin.create_topics([&topic], &opts)).context("create_topics")?;
        for r in results {
            r.map_err(|(t, code)| anyhow!("create topic {t}: {code:?}"))?;
        }
        if self.deploy.is_cluster() {
            wait_for_full_isr(&admin, partitions, replicas)?;
        }
        Ok(())
    }

    /// On a cluster, the topic's log bytes on each node, checked for
    /// replication; "" for a single broker.
    fn replication_summary(&self) -> Result<String> {
        if !self.deploy.is_cluster() {
            return Ok(String::new());
        }
        let bytes = self.deploy.topic_log_bytes(TOPIC);
        let fullest = bytes.iter().copied().max().unwrap_or(0);
        let gb: Vec<String> = bytes.iter().map(|b| format!("{:.2}", *b as f64 / 1e9)).collect();
        let summary = format!("topic log GB per node {}", gb.join("/"));
        if bytes.iter().any(|&b| (b as f64) < fullest as f64 * MIN_REPLICATED_FRACTION) {
            return Err(anyhow!("{summary}: followers hold next to nothing, so the binary does not replicate")
                .context(ClusterUnavailable));
        }
        let behind: Vec<String> =
            bytes.iter().enumerate().filter(|(_, &b)| b < fullest).map(|(i, _)| format!("n{}", i + 1)).collect();
        Ok(if behind.is_empty() { summary } else { format!("{summary} (behind: {})", behind.join(", ")) })
    }
}

/// Waits until each of the topic's `partitions` has a leader and all
/// `replicas` in its ISR.
fn wait_for_full_isr(admin: &AdminClient<DefaultClientContext>, partitions: i32, replicas: usize) -> Result<()> {
    let deadline = Instant::now() + TOPIC_READY_TIMEOUT;
    loop {
        let seen = match admin.inner().fetch_metadata(Some(TOPIC), Duration::from_secs(5)) {
            Ok(md) => match md.topics().iter().find(|t| t.name() == TOPIC) {
                Some(t) if t.error().is_none() && t.partitions().len() == partitions as usize => {
                    let lagging: Vec<String> = t
                        .partitions()
                        .iter()
                        .filter(|p| p.error().is_some() || p.leader() < 0 || p.isr().len() != replicas)
                        .map(|p| format!("p{} leader {} isr {:?}", p.id(), p.leader(), p.isr()))
                        .collect();
                    if lagging.is_empty() {
                        return Ok(());
                    }
                    lagging.join(", ")
                }
                Some(t) => format!("topic error {:?}, {} partitions", t.error(), t.partitions().len()),
                None => "topic not in metadata".into(),
            },
            Err(e) => format!("metadata: {e}"),
        };
        if Instant::now() > deadline {
            bail!("topic {TOPIC} not ready after {TOPIC_READY_TIMEOUT:?}: {seen}");
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Starts fresh brokers from `bin`, runs the scenario once, stops them.
fn run_once(sc: &Scenario, broker: &Broker, settings: &Settings) -> Result<RunOutcome> {
    // Start from clean page cache state: no writeback left over from
    // earlier runs (or anything else) competing for the CPUs.
    sync_disks();
    wait_for_quiet(settings.quiet_wait);
    let overrides = &settings.broker_overrides;
    let trace_hops = matches!(sc.workload, Workload::Latency { .. });
    let deploy = if sc.is_cluster() {
        Deployment::cluster(broker, sc.nodes, overrides, trace_hops)?
    } else {
        Deployment::single(broker, overrides, trace_hops)?
    };
    let run = Run { deploy, thread_cpu: settings.thread_cpu, deadline: Instant::now() + RUN_TIMEOUT };
    let mut out = match sc.workload {
        Workload::Produce { record_size, records, partitions, acks, topic_configs } => {
            bench_produce(&run, record_size, records, partitions, acks, topic_configs)?
        }
        Workload::CatchUp { record_size, records, partition_fetch_bytes } => {
            bench_catch_up(&run, record_size, records, partition_fetch_bytes)?
        }
        Workload::Latency { record_size, bytes_per_sec, duration, acks } => {
            bench_latency(&run, record_size, bytes_per_sec, duration, acks)?
        }
    };
    out.broker_rss_kib = run.deploy.peak_rss_kib();
    out.broker_cpu_ms_per_mb = broker_cpu_ms_per_mb(sc, &out);
    let replication = run.replication_summary()?;
    if !replication.is_empty() {
        out.detail = format!("{}; {replication}", out.detail);
    }
    Ok(out)
}

/// Produce throughput: warm up, then time `records` sends to the last ack.
fn bench_produce(
    run: &Run,
    record_size: usize,
    records: u64,
    partitions: i32,
    acks: Acks,
    topic_configs: &[(&str, &str)],
) -> Result<RunOutcome> {
    run.create_topic_with(partitions, topic_configs)?;
    let producer = throughput_producer(run.bootstrap(), acks)?;
    run.warm_up(&producer, partitions, record_size)?;
    let cpu = run.cpu_window();
    let elapsed = produce_all(&producer, TOPIC, partitions, record_size, records, run.deadline)?;
    let cpu = cpu.finish();
    let secs = elapsed.as_secs_f64();
    Ok(RunOutcome::new(
        vec![records as f64 / secs, (records * record_size as u64) as f64 / MB / secs],
        cpu,
        format!("{} records in {secs:.2} s", thousands(records)),
    ))
}

/// Consume catch-up: fill one partition, then read it all with a new consumer.
fn bench_catch_up(run: &Run, record_size: usize, records: u64, partition_fetch_bytes: usize) -> Result<RunOutcome> {
    let deadline = run.deadline;
    run.create_topic(1)?;
    let fill = {
        let producer = throughput_producer(run.bootstrap(), Acks::Leader)?;
        run.warm_up(&producer, 1, record_size)?;
        produce_all(&producer, TOPIC, 1, record_size, records, deadline)?
    };
    // The warm-up record is in the partition too.
    let total = records + 1;
    // Catching up reads data written long ago: let writeback of the fill
    // (the roll of the first 1 GiB segment fsyncs it) finish first.
    sync_disks();

    let consumer = catch_up_consumer(run.bootstrap(), partition_fetch_bytes)?;
    // Bootstrap connection and metadata before the clock starts.
    consumer.fetch_metadata(Some(TOPIC), Duration::from_secs(10)).context("consumer metadata")?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(TOPIC, 0, Offset::Offset(0))?;

    let cpu = run.cpu_window();
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
    Ok(RunOutcome::new(
        vec![bytes as f64 / MB / secs, received as f64 / secs],
        cpu,
        format!(
            "{:.0} MB in {secs:.2} s; fill {:.0} MB/s",
            bytes as f64 / MB,
            (records * record_size as u64) as f64 / MB / fill.as_secs_f64()
        ),
    ))
}

/// End-to-end latency at a fixed offered load.
fn bench_latency(
    run: &Run,
    record_size: usize,
    bytes_per_sec: f64,
    duration: Duration,
    acks: Acks,
) -> Result<RunOutcome> {
    assert!(record_size >= 9, "latency records carry a 9-byte header");
    let deadline = run.deadline;
    run.create_topic(1)?;
    let rate = bytes_per_sec / record_size as f64; // records per second
    let total = ((LATENCY_WARMUP + duration).as_secs_f64() * rate).round() as u64;

    // One acknowledged record at offset 0 first: with acks=all that needs
    // every replica fetching, so the clock below measures the steady state,
    // not the followers' start after the topic's creation (their first
    // fetch can meet a leader that has not taken the partition yet and then
    // waits `replica.fetch.backoff.ms`, as Kafka's followers do).
    let producer = latency_producer(run.bootstrap(), acks)?;
    run.warm_up(&producer, 1, record_size)?;

    // The consumer tails from offset 1 in its own thread until it has seen
    // all `total` records, collecting latencies of the flagged ones.
    let consumer = tailing_consumer(run.bootstrap())?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(TOPIC, 0, Offset::Offset(1))?;
    consumer.assign(&tpl).context("assign")?;
    // Set when this function returns, so that the consumer thread gives up
    // rather than waiting for records after an error on the producing side.
    let stop = StopOnDrop::default();
    let stopped = stop.0.clone();
    // Per measured record: (offset, sent, received) in `now_ns` time.
    type Seen = Vec<(i64, u64, u64)>;
    let tail = thread::spawn(move || -> Result<Seen> {
        let mut seen = Vec::with_capacity(total as usize);
        let mut received = 0u64;
        while received < total && !stopped.load(Ordering::Relaxed) {
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    let now = now_ns();
                    received += 1;
                    let v = m.payload().unwrap_or_default();
                    if v.len() >= 9 && v[8] == 1 {
                        let sent = u64::from_le_bytes(v[..8].try_into().unwrap());
                        seen.push((m.offset(), sent, now));
                    }
                }
                Some(Err(e)) => bail!("consume: {e}"),
                None => check_deadline(deadline, || format!("consumed {received} of {total}"))?,
            }
        }
        Ok(seen)
    });

    let tracker = producer.context();
    let delivered_before = tracker.completed();
    let mut value = payload(record_size);
    let cpu = run.cpu_window();
    let start = Instant::now();
    let mut sent = 0u64;
    let mut slice = 0u32;
    // The brokers' clock (monotonic) when recording starts, for their traces.
    let mut measured_from_ns = None;
    while sent < total {
        let elapsed = start.elapsed();
        let due = ((elapsed.as_secs_f64() * rate) as u64).min(total);
        let measured = elapsed >= LATENCY_WARMUP;
        if measured {
            measured_from_ns.get_or_insert_with(weir::util::clock::monotonic_ns);
        }
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
    wait_for_deliveries(&producer, delivered_before + total, deadline)?;
    tracker.check()?;
    let seen = tail.join().map_err(|_| anyhow!("consumer thread panicked"))??;
    let mut latencies: Vec<u64> = seen.iter().map(|(_, sent, got)| got.saturating_sub(*sent)).collect();
    let cpu = cpu.finish();
    if latencies.is_empty() {
        bail!("no latency samples");
    }
    latencies.sort_unstable();
    let ms = |ns: u64| ns as f64 / 1e6;
    let mut values = vec![
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.99)),
        ms(percentile(&latencies, 0.999)),
        ms(*latencies.last().unwrap()),
    ];
    let mut detail = format!(
        "{} samples, offered {:.1} MB/s",
        thousands(latencies.len() as u64),
        (sent * record_size as u64) as f64 / MB / send_secs
    );
    // Where the time went, from the brokers' own traces (a binary without
    // `WEIR_HOP_TRACE`, e.g. an old baseline, leaves these rows NaN).
    let cluster = run.deploy.is_cluster();
    let trace = run.deploy.hop_trace();
    keep_hop_trace(&trace);
    // `now_ns` and the brokers' monotonic clock differ by a constant.
    let to_monotonic = weir::util::clock::monotonic_ns() as i64 - now_ns() as i64;
    let clients: std::collections::HashMap<i64, (u64, u64)> = seen
        .iter()
        .map(|(offset, sent, got)| {
            let mono = |t: u64| (t as i64 + to_monotonic) as u64;
            (*offset, (mono(*sent), mono(*got)))
        })
        .collect();
    let hops = hops::hop_latencies(&trace, measured_from_ns.unwrap_or(0), cluster, &clients);
    let traced = hops.first().map_or(0, |(_, v)| v.len());
    detail += &format!("; hops over {} traced batches (p50/p99/p99.9/max ms):", thousands(traced as u64));
    for (name, v) in &hops {
        let q = |x: f64| hops::quantile(v, x);
        detail += &format!(" {name} {:.2}/{:.2}/{:.2}/{:.2};", q(0.5), q(0.99), q(0.999), q(1.0));
        values.push(q(0.99));
    }
    let mut out = RunOutcome::new(values, cpu, detail);
    out.latencies_ms = latencies.iter().map(|ns| ms(*ns)).collect();
    Ok(out)
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
fn check_deadline(deadline: Instant, what: impl FnOnce() -> String) -> Result<()> {
    if Instant::now() > deadline {
        bail!("timed out after {RUN_TIMEOUT:?}: {}", what());
    }
    Ok(())
}

type BenchProducer = BaseProducer<BenchContext>;
type BenchConsumer = BaseConsumer<BenchContext>;

/// Creates a client from `config` plus the `key=value,...` overrides in
/// environment variable `overrides_var` (for experiments).
fn create_client<T>(mut config: ClientConfig, overrides_var: &str) -> Result<T>
where
    T: rdkafka::config::FromClientConfigAndContext<BenchContext>,
{
    for (k, v) in env_overrides(overrides_var) {
        config.set(k, v);
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
fn latency_producer(bootstrap: &str, acks: Acks) -> Result<BenchProducer> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("acks", acks.config())
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
        .set("group.id", BENCH_GROUP)
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
    let end = tracker.last_delivery_ns().unwrap_or_else(now_ns);
    Ok(Duration::from_nanos(end.saturating_sub(start)))
}

/// With `WEIR_BENCH_HOPS_DIR` set, keeps a run's raw `WEIR_HOP_TRACE`
/// lines there (one file per run, named by the time it ended) for a closer
/// look than the percentiles give, e.g. which follower stalled and when.
fn keep_hop_trace(trace: &str) {
    let Some(dir) = std::env::var_os("WEIR_BENCH_HOPS_DIR") else { return };
    if trace.is_empty() {
        return;
    }
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis();
    let path = PathBuf::from(dir).join(format!("{stamp}.hops.log"));
    if let Err(e) =
        std::fs::create_dir_all(path.parent().expect("has a parent")).and_then(|_| std::fs::write(&path, trace))
    {
        eprintln!("cannot keep the hop trace in {}: {e}", path.display());
    }
}

// ---------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------

#[derive(Default)]
struct TargetResult {
    runs: Vec<RunOutcome>,
    failed: usize,
    /// A cluster scenario this binary cannot run (no working cluster).
    no_cluster: bool,
}

/// Picks one figure out of a `CpuUsage`.
type CpuField = fn(&CpuUsage) -> f64;

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
    /// Nothing to show because the binary formed no working cluster.
    fn unavailable(&self) -> bool {
        self.no_cluster && self.runs.is_empty()
    }

    fn metric(&self, i: usize) -> Option<Stats> {
        Stats::of(self.runs.iter().map(|r| r.values[i]))
    }

    /// Median of one CPU figure over the runs.
    fn cpu(&self, f: CpuField) -> Option<f64> {
        Stats::of(self.runs.iter().map(|r| f(&r.cpu))).map(|s| s.median)
    }

    /// Medians of the per-broker CPU figures by rank: the busiest broker
    /// of each run first, and so on (with one partition the leader is
    /// usually the busiest, whichever node it is).
    fn broker_cpu_ranked(&self) -> Vec<f64> {
        let ranked: Vec<Vec<f64>> = self
            .runs
            .iter()
            .map(|r| {
                let mut v = r.cpu.per_broker.clone();
                v.sort_by(|a, b| b.total_cmp(a));
                v
            })
            .collect();
        let n = ranked.iter().map(Vec::len).min().unwrap_or(0);
        (0..n).filter_map(|i| Stats::of(ranked.iter().map(|v| v[i])).map(|s| s.median)).collect()
    }

    /// "150% (85+33+32)" on a cluster: the sum, then each broker by rank.
    fn broker_cpu_label(&self) -> String {
        if self.unavailable() {
            return "n/a".into();
        }
        let Some(sum) = self.cpu(|c| c.broker) else { return "?".into() };
        let ranked = self.broker_cpu_ranked();
        if ranked.len() > 1 {
            let parts: Vec<String> = ranked.iter().map(|c| format!("{c:.0}")).collect();
            format!("{sum:.0}% ({})", parts.join("+"))
        } else {
            format!("{sum:.0}%")
        }
    }

    fn peak_rss_kib(&self) -> Option<u64> {
        self.runs.iter().filter_map(|r| r.broker_rss_kib).max()
    }

    /// Median broker CPU ms per MB over the runs.
    fn cpu_ms_per_mb(&self) -> Option<f64> {
        Stats::of(self.runs.iter().filter_map(|r| r.broker_cpu_ms_per_mb)).map(|s| s.median)
    }
}

/// Writes the percentile curve of a latency scenario (one line per binary,
/// all runs pooled) to `<plots dir>/<scenario>.svg`; `None` for other
/// scenarios or when it cannot be written (said on stderr).
fn plot_latencies(sc: &Scenario, settings: &Settings, per_target: &[TargetResult]) -> Option<PathBuf> {
    let pooled: Vec<(&str, Vec<f64>)> = settings
        .targets
        .iter()
        .zip(per_target)
        .filter_map(|(target, t)| {
            let mut all: Vec<f64> = t.runs.iter().flat_map(|r| r.latencies_ms.iter().copied()).collect();
            all.sort_by(f64::total_cmp);
            (!all.is_empty()).then_some((target.label, all))
        })
        .collect();
    if pooled.is_empty() {
        return None;
    }
    let series: Vec<plot::Series<'_>> = pooled.iter().map(|(label, v)| plot::Series { label, sorted_ms: v }).collect();
    let goals: Vec<plot::GoalMark> = sc
        .metrics
        .iter()
        .filter_map(|m| {
            let Some(Goal::AtMost(ms)) = m.goal else { return None };
            let q = match m.name {
                "p50" => 0.5,
                "p99" => 0.99,
                "p99.9" => 0.999,
                "max" => 1.0,
                _ => return None,
            };
            Some(plot::GoalMark { label: format!("{} <= {ms} ms", m.name), q, ms })
        })
        .collect();
    let title = format!("{}: end-to-end latency, {} run(s) pooled per binary", sc.name, settings.runs);
    let svg = plot::percentile_svg(&title, &series, &goals);
    let path = settings.plots_dir.join(format!("{}.svg", sc.name));
    match std::fs::create_dir_all(&settings.plots_dir).and_then(|_| std::fs::write(&path, svg)) {
        Ok(()) => Some(path),
        Err(e) => {
            eprintln!("cannot write the latency plot {}: {e}", path.display());
            None
        }
    }
}

fn report(settings: &Settings, results: &[ScenarioResult<'_>]) {
    // With references (baseline, kafka): each target's median and range,
    // then the current median over each reference's.
    let baseline = settings.compares();
    let current = settings.targets.len() - 1;
    let references = &settings.targets[..current];
    let mut header: Vec<String> = vec!["scenario".into()];
    if baseline {
        for t in &settings.targets {
            header.extend([t.label.to_string(), format!("{} min - max", t.label)]);
        }
        header.extend(references.iter().map(|t| format!("cur/{}", t.label)));
    } else {
        header.extend(["median".into(), "min".into(), "max".into()]);
    }
    header.extend(
        ["unit", "goal", "broker CPU", "CPU/MB", "client CPU", "other CPU", "iowait", "broker RSS"].map(String::from),
    );
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut table = Table::new(&header);

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
                    // No cluster, or no value in any run (an older binary
                    // writes no hop trace).
                    None if failed == 0 && (r.per_target[ti].unavailable() || !r.per_target[ti].runs.is_empty()) => {
                        row.push("n/a".into());
                        row.push(String::new());
                        if !baseline {
                            row.push(String::new());
                        }
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
                for b in &stats[..current] {
                    row.push(match (b, stats[current]) {
                        (Some(b), Some(c)) if b.median != 0.0 => format!("{:.3}", c.median / b.median),
                        _ => "-".into(),
                    });
                }
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
            // Resource figures once per scenario, "baseline / kafka / current".
            if first {
                let join =
                    |f: &dyn Fn(&TargetResult) -> String| r.per_target.iter().map(f).collect::<Vec<_>>().join(" / ");
                let pct = |t: &TargetResult, f: CpuField| {
                    if t.unavailable() {
                        "n/a".into()
                    } else {
                        t.cpu(f).map_or("?".into(), |v| format!("{v:.0}%"))
                    }
                };
                row.push(join(&|t| t.broker_cpu_label()));
                row.push(join(&|t| if t.unavailable() { "n/a".into() } else { cpu_per_mb_label(t.cpu_ms_per_mb()) }));
                row.push(join(&|t| pct(t, |c| c.client)));
                row.push(join(&|t| pct(t, |c| c.other)));
                row.push(join(&|t| pct(t, |c| c.iowait)));
                row.push(join(&|t| if t.unavailable() { "n/a".into() } else { rss_label(t.peak_rss_kib()) }));
            } else {
                row.extend(std::iter::repeat_n(String::new(), 6));
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
        match &t.version {
            Some(v) => println!(
                "{}: Apache Kafka {v} ({}; heap and JVM options of kafka-server-start)",
                t.label,
                t.origin.display()
            ),
            None => println!("{}: {}", t.label, t.origin.display()),
        }
    }
    if baseline {
        let labels: Vec<&str> = settings.targets.iter().map(|t| t.label).collect();
        println!(
            "cur/X = current median / X's median (throughput: higher is better; latency: lower is better); \
             resource columns are {}",
            labels.join(" / ")
        );
    }
    println!("CPU/MB = broker CPU time (all nodes) per MB of values moved (throughput, or the offered rate)");
    println!(
        "CPU = median % of one core over the measured window (client = this bench process, \
         other = rest of the machine's busy time); RSS = broker peak (VmHWM)"
    );
    if results.iter().any(|r| r.scenario.is_cluster()) {
        println!(
            "cluster-*: {CLUSTER_NODES} brokers (broker+controller each), replication factor {CLUSTER_NODES}, \
             min.insync.replicas={CLUSTER_MIN_INSYNC}; broker CPU = sum over the brokers (each broker, \
             busiest first); RSS = largest broker; n/a = binary formed no working cluster"
        );
    }
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
        let io_bound: Vec<String> = settings
            .targets
            .iter()
            .zip(&r.per_target)
            .filter_map(|(target, t)| {
                let n = t.runs.iter().filter(|o| o.cpu.iowait > NOISY_IOWAIT).count();
                (n > 0).then(|| format!("{} {n} of {}", target.label, t.runs.len()))
            })
            .collect();
        if !io_bound.is_empty() {
            println!(
                "note: {}: iowait above {NOISY_IOWAIT:.0}% in run(s): {} (disk busy with writeback or other \
                 work); treat as noisy",
                r.scenario.name,
                io_bound.join(", ")
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
                    "BENCH name={} metric={}_{} bin={} nodes={} runs={} failed={}",
                    sc.name,
                    m.name,
                    m.unit.key(),
                    target.label,
                    sc.nodes,
                    t.runs.len(),
                    t.failed
                );
                if t.no_cluster {
                    line += " unavailable=no_cluster";
                }
                if let Some(s) = t.metric(mi) {
                    line += &format!(" median={:.3} min={:.3} max={:.3}", s.median, s.min, s.max);
                }
                if baseline && ti == current {
                    // ratio= against the first reference (the baseline, or
                    // Kafka alone), ratio_<label>= against each.
                    if let (Some(b), Some(c)) = (r.per_target[0].metric(mi), t.metric(mi)) {
                        line += &format!(" ratio={:.4}", c.median / b.median);
                    }
                    for (ri, reference) in references.iter().enumerate() {
                        if let (Some(b), Some(c)) = (r.per_target[ri].metric(mi), t.metric(mi)) {
                            line += &format!(" ratio_{}={:.4}", reference.label, c.median / b.median);
                        }
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
                let ranked = t.broker_cpu_ranked();
                if ranked.len() > 1 {
                    let v: Vec<String> = ranked.iter().map(|c| format!("{c:.0}")).collect();
                    line += &format!(" broker_cpu_pct_ranked={}", v.join("/"));
                }
                if let Some(k) = t.peak_rss_kib() {
                    line += &format!(" broker_rss_kib={k}");
                }
                if let Some(ms) = t.cpu_ms_per_mb() {
                    line += &format!(" broker_cpu_ms_per_mb={ms:.3}");
                }
                println!("{line}");
            }
        }
    }
}
