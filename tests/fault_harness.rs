//! A Jepsen-style queue test: a cluster of real `weir` processes, each
//! node in a network namespace of its own ([`common::netns`]), a nemesis
//! of process, network and disk faults ([`nemesis`]), idempotent acks=all
//! producers and assign-mode and group consumers on librdkafka
//! ([`workload`]), and a checker with Jepsen's counters and availability
//! figures ([`checker`]). The broker under test is behind [`sut::Sut`].
//!
//! `cargo test` runs a short fixed-seed set and requires every safety
//! counter to be 0. Longer randomized runs:
//!
//! ```sh
//! WEIR_FAULTS_RUNS=10 WEIR_FAULTS_SECS=120 cargo test --release --test fault_harness -- --nocapture
//! ```
//!
//! Variables: `WEIR_FAULTS_RUNS` (number of runs; setting it selects the
//! randomized mode), `WEIR_FAULTS_SECS` (nemesis time per run, default 60),
//! `WEIR_FAULTS_SEED` (first seed; default: from the clock, printed),
//! `WEIR_FAULTS_NODES` (3 or 5), `WEIR_FAULTS_KINDS` (comma-separated
//! fault names, default all: see `nemesis::Kind::name`).
//!
//! Where namespaces cannot be made (not root, no iproute2) the test prints
//! why and passes without testing.

#[path = "fault_harness/checker.rs"]
mod checker;
mod common;
#[path = "fault_harness/nemesis.rs"]
mod nemesis;
#[path = "fault_harness/sut.rs"]
mod sut;
#[path = "fault_harness/workload.rs"]
mod workload;

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

use checker::{Observed, Report};
use common::netns::NetLab;
use common::Tmpfs;
use nemesis::{wait_whole, FaultRecord, Kind, Nemesis};
use sut::{Sut, WeirSut};
use workload::{History, WorkloadSpec};

const TOPIC: &str = "jepsen-queue";
const PARTITIONS: i32 = 3;

/// One run: its seed, cluster size, nemesis time and fault kinds.
#[derive(Debug, Clone)]
struct RunSpec {
    seed: u64,
    nodes: i32,
    secs: u64,
    kinds: Vec<Kind>,
    /// Quiet time between two faults (uniform in the range).
    quiet: (Duration, Duration),
    hold: (Duration, Duration),
}

struct RunResult {
    spec: RunSpec,
    report: Report,
    faults: Vec<FaultRecord>,
    sent: usize,
    failed: usize,
    fatal: Vec<String>,
    wall: Duration,
}

/// Runs `spec` in a lab of its own; `None` (with a message) where the lab
/// cannot be made.
fn run_in_lab(spec: &RunSpec) -> Option<RunResult> {
    let mut lab = match NetLab::create(spec.nodes) {
        Ok(lab) => lab,
        Err(why) => {
            eprintln!("SKIPPED: fault harness not run: cannot make network namespaces here: {why}");
            return None;
        }
    };
    // The clients run on a thread of their own in the lab's client
    // namespace; the lab (a drop guard) outlives it, panicking or not.
    let result = std::thread::scope(|s| {
        s.spawn(|| {
            lab.enter_client().expect("enter the clients' namespace");
            let rt =
                tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
            rt.block_on(run(&mut lab, spec))
        })
        .join()
    });
    match result {
        Ok(r) => Some(r),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

async fn run(lab: &mut NetLab, spec: &RunSpec) -> RunResult {
    let wall = Instant::now();
    eprintln!("fault harness: seed {} nodes {} secs {} kinds {:?}", spec.seed, spec.nodes, spec.secs, spec.kinds);
    let root = tempfile::Builder::new().prefix("weir-faults-").tempdir().expect("temp dir");
    // Small tmpfs log dirs (the disk-full fault fills one); declared
    // before the cluster so they are unmounted after its nodes are killed.
    let disks: Vec<Option<Tmpfs>> = (1..=spec.nodes)
        .map(|i| {
            if spec.kinds.contains(&Kind::DiskFull) {
                Tmpfs::mount(&root.path().join(format!("logs-{i}")), 128)
            } else {
                None
            }
        })
        .collect();
    let mut kinds = spec.kinds.clone();
    if disks.iter().all(|d| d.is_none()) && kinds.contains(&Kind::DiskFull) {
        eprintln!("NOTE: cannot mount a tmpfs here; the disk-full fault is left out");
        kinds.retain(|k| *k != Kind::DiskFull);
    }
    let dirs: Vec<_> = disks.iter().map(|d| d.as_ref().map(|t| t.0.clone())).collect();
    let mut sut = WeirSut::start_in(lab, spec.nodes, &dirs).await;
    eprintln!(
        "fault harness: {} cluster of {} nodes up after {:.1}s",
        sut.name(),
        spec.nodes,
        wall.elapsed().as_secs_f64()
    );
    let rf = spec.nodes.min(3) as i16;
    sut.create_topic(TOPIC, PARTITIONS, rf, &[("min.insync.replicas", "2")]).await;
    if let Err(e) = wait_whole(&mut sut, TOPIC, Duration::from_secs(60)).await {
        sut.dump_logs();
        panic!("the new cluster is not whole: {e}");
    }

    let history = History::new();
    let wspec = WorkloadSpec {
        topic: TOPIC.into(),
        partitions: PARTITIONS,
        producers: 3,
        send_every: Duration::from_millis(4),
        assign_consumers: 2,
        group_consumers: 2,
    };
    let mut clients = workload::start(&wspec, &sut.bootstrap(), &history);
    let first = Instant::now();
    while history.ack_count() == 0 {
        assert!(first.elapsed() < Duration::from_secs(60), "no acknowledgement within 60 s of starting");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mut rng = rand::rngs::StdRng::seed_from_u64(spec.seed);
    let nemesis_rng = rand::rngs::StdRng::seed_from_u64(rng.gen());
    let mut nemesis = Nemesis {
        rng: nemesis_rng,
        lab,
        disks: &disks,
        topic: TOPIC.into(),
        partitions: PARTITIONS,
        kinds,
        hold: spec.hold,
    };
    let mut faults = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(spec.secs);
    while Instant::now() < deadline {
        // Quiet time between faults is part of the schedule, not a wait.
        tokio::time::sleep(rng.gen_range(spec.quiet.0..=spec.quiet.1)).await;
        let f = nemesis.one(&mut sut, history.t0).await;
        eprintln!(
            "  {:>7.1}s {:<16} {} (healed {:.1}s, whole again {:.1}s)",
            f.start.as_secs_f64(),
            f.kind.name(),
            f.what,
            f.healed.as_secs_f64(),
            f.recovered.as_secs_f64()
        );
        faults.push(f);
    }
    // A last quiet stretch so the figures see the healed cluster work.
    tokio::time::sleep(spec.quiet.1).await;
    let span = history.now();
    clients.stop_producers();

    let bootstrap = sut.bootstrap();
    let ends = workload::end_offsets(&bootstrap, TOPIC, PARTITIONS).expect("high watermarks after healing");
    // Consumers catch up to the end (or the checker counts what they missed).
    let caught_up = Instant::now();
    let groups = clients.group_members;
    loop {
        let positions: Vec<_> = clients.positions.iter().map(|p| p.lock().unwrap().clone()).collect();
        let (assigned, grouped) = positions.split_at(positions.len() - groups);
        let assign_done =
            assigned.iter().all(|pos| (0..PARTITIONS).all(|p| pos.get(&p).copied().unwrap_or(0) >= ends[p as usize]));
        let group_done = (0..PARTITIONS)
            .all(|p| grouped.iter().filter_map(|pos| pos.get(&p).copied()).max().unwrap_or(0) >= ends[p as usize]);
        if assign_done && group_done {
            break;
        }
        if caught_up.elapsed() > Duration::from_secs(60) {
            eprintln!("consumers did not reach {ends:?} within 60 s: {positions:?}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let consumers = clients.stop_consumers();
    let final_read = workload::read_all(&bootstrap, TOPIC, &ends, Duration::from_secs(60));

    // Replicas: in sync, then stopped cleanly and read from disk.
    if let Err(e) = wait_whole(&mut sut, TOPIC, nemesis::RECOVERY).await {
        sut.dump_logs();
        panic!("the cluster is not whole after the run: {e}");
    }
    let views = sut.partitions(1, TOPIC).await.expect("partition views");
    sut.stop_all().await;
    let replicas: Vec<Vec<_>> = views
        .iter()
        .map(|v| {
            let mut ids = v.replicas.clone();
            ids.sort_unstable();
            ids.iter().map(|id| sut.replica_log(*id, TOPIC, v.index).expect("replica log")).collect()
        })
        .collect();

    let acks = history.acks.lock().unwrap().clone();
    let report = checker::check(&Observed {
        acks: &acks,
        consumers: &consumers,
        final_read: &final_read,
        replicas: &replicas,
        ends: &ends,
        faults: &faults,
        span,
    });
    for e in &report.examples {
        eprintln!("  {e}");
    }
    let fatal = history.fatal.lock().unwrap().clone();
    RunResult {
        spec: spec.clone(),
        report,
        faults,
        sent: history.sent.load(std::sync::atomic::Ordering::Relaxed),
        failed: history.failed.load(std::sync::atomic::Ordering::Relaxed),
        fatal,
        wall: wall.elapsed(),
    }
}

fn fmt_opt(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.1}", d.as_secs_f64()))
}

/// Prints the table: one line per run.
fn print_table(results: &[RunResult]) {
    eprintln!();
    eprintln!(
        "{:>20} {:>2} {:>4} {:>3} {:>7} {:>6} {:>5} | {:>4} {:>7} {:>7} {:>5} {:>6} {:>5} {:>5} {:>6} | {:>5} {:>6} {:>7} {:>7} {:>5}",
        "seed", "n", "secs", "flt", "acked", "failed", "fatal", "lost", "dup-pes", "dup-val", "incon", "nonmon", "skip",
        "diver", "unseen", "ack-s", "gap-s", "f2a-med", "f2a-max", "wall"
    );
    for r in results {
        let p = &r.report;
        let mut f2a: Vec<Duration> = p.fault_to_ack.iter().flatten().copied().collect();
        f2a.sort_unstable();
        let med = f2a.get(f2a.len() / 2).copied();
        let max = f2a.last().copied();
        let never = p.fault_to_ack.iter().filter(|d| d.is_none()).count();
        eprintln!(
            "{:>20} {:>2} {:>4} {:>3} {:>7} {:>6} {:>5} | {:>4} {:>7} {:>7} {:>5} {:>6} {:>5} {:>5} {:>6} | {:>4.0}% {:>6.1} {:>7} {:>7} {:>4.0}s{}",
            r.spec.seed,
            r.spec.nodes,
            r.spec.secs,
            r.faults.len(),
            p.acked,
            r.failed,
            r.fatal.len(),
            p.lost,
            p.dup_same_pes,
            p.dup_values,
            p.inconsistent,
            p.nonmonotonic,
            p.skipped,
            p.divergent,
            p.unseen,
            p.ack_seconds * 100.0,
            p.longest_gap.as_secs_f64(),
            fmt_opt(med),
            fmt_opt(max),
            r.wall.as_secs_f64(),
            if never > 0 { format!(" ({never} faults without a later ack)") } else { String::new() },
        );
        let _ = r.sent;
    }
    eprintln!();
}

fn env<T: std::str::FromStr>(key: &str) -> Option<T> {
    std::env::var(key).ok().map(|v| v.parse().unwrap_or_else(|_| panic!("{key}={v:?} is not valid")))
}

fn kinds_from_env() -> Vec<Kind> {
    match std::env::var("WEIR_FAULTS_KINDS") {
        Ok(list) => list
            .split(',')
            .map(|s| Kind::parse(s.trim()).unwrap_or_else(|| panic!("unknown fault kind {s:?}")))
            .collect(),
        Err(_) => Kind::ALL.to_vec(),
    }
}

/// Runs every spec, prints the table, and fails if any safety counter is
/// not 0 or a producer died of a fatal error.
fn run_all(specs: &[RunSpec]) {
    let mut results = Vec::new();
    for spec in specs {
        let Some(r) = run_in_lab(spec) else { return };
        for f in &r.fatal {
            eprintln!("  fatal producer error: {f}");
        }
        results.push(r);
        print_table(&results);
    }
    let bad: Vec<String> = results
        .iter()
        .filter(|r| r.report.safety_violations() > 0)
        .map(|r| format!("seed {}: {:?}", r.spec.seed, r.report.examples))
        .collect();
    assert!(bad.is_empty(), "safety violations:\n{}", bad.join("\n"));
    assert!(results.iter().all(|r| r.report.acked > 0), "a run acknowledged nothing");
}

#[test]
fn queue_under_faults() {
    let nodes: i32 = env("WEIR_FAULTS_NODES").unwrap_or(3);
    let kinds = kinds_from_env();
    let specs: Vec<RunSpec> = match env::<usize>("WEIR_FAULTS_RUNS") {
        Some(runs) => {
            let first: u64 = env("WEIR_FAULTS_SEED").unwrap_or_else(|| {
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
            });
            (0..runs as u64)
                .map(|i| RunSpec {
                    seed: first.wrapping_add(i),
                    nodes,
                    secs: env("WEIR_FAULTS_SECS").unwrap_or(60),
                    kinds: kinds.clone(),
                    quiet: (Duration::from_secs(1), Duration::from_secs(4)),
                    hold: (Duration::from_secs(2), Duration::from_secs(8)),
                })
                .collect()
        }
        // The CI set: short, fixed seed.
        None => vec![RunSpec {
            seed: env("WEIR_FAULTS_SEED").unwrap_or(1),
            nodes,
            secs: env("WEIR_FAULTS_SECS").unwrap_or(30),
            kinds,
            quiet: (Duration::from_secs(1), Duration::from_secs(2)),
            hold: (Duration::from_secs(2), Duration::from_secs(4)),
        }],
    };
    run_all(&specs);
}
