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

use rand::seq::SliceRandom;
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
    /// Each kind once in a seeded order (then `secs` is not used), instead
    /// of faults drawn at random for `secs`.
    each_once: bool,
    /// Quiet time between two faults (uniform in the range).
    quiet: (Duration, Duration),
    hold: (Duration, Duration),
}

struct RunResult {
    spec: RunSpec,
    /// How long the producers ran.
    span: Duration,
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
    Some(lab.on_client_thread(|lab| {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        rt.block_on(run(lab, spec))
    }))
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
    let schedule = spec.each_once.then(|| {
        let mut order = kinds.clone();
        order.shuffle(&mut rng);
        order
    });
    let mut nemesis = Nemesis {
        schedule,
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
    while if spec.each_once { !nemesis.schedule_done() } else { Instant::now() < deadline } {
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
    for (f, d) in faults.iter().zip(&report.fault_to_ack) {
        eprintln!("  {:<16} every partition acknowledged again after {}s", f.kind.name(), fmt_opt(*d));
    }
    let fatal = history.fatal.lock().unwrap().clone();
    RunResult {
        spec: spec.clone(),
        span,
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

/// Prints the table, one line per run, straight to stderr: the test
/// harness's output capture would hide it when the test passes.
fn print_table(results: &[RunResult]) {
    let mut t = String::from("\n");
    t += &format!(
        "{:>20} {:>2} {:>4} {:>3} {:>7} {:>6} {:>5} | {:>4} {:>7} {:>7} {:>5} {:>6} {:>5} {:>5} {:>6} | {:>5} {:>6} {:>7} {:>7} {:>5}\n",
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
        t += &format!(
            "{:>20} {:>2} {:>4} {:>3} {:>7} {:>6} {:>5} | {:>4} {:>7} {:>7} {:>5} {:>6} {:>5} {:>5} {:>6} | {:>4.0}% {:>6.1} {:>7} {:>7} {:>4.0}s{}\n",
            r.spec.seed,
            r.spec.nodes,
            r.span.as_secs(),
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
    let _ = std::io::Write::write_all(&mut std::io::stderr(), t.as_bytes());
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
                    each_once: false,
                    quiet: (Duration::from_secs(1), Duration::from_secs(4)),
                    hold: (Duration::from_secs(2), Duration::from_secs(8)),
                })
                .collect()
        }
        // The CI set: every fault kind once, in the order of a fixed seed.
        None => vec![RunSpec {
            seed: env("WEIR_FAULTS_SEED").unwrap_or(1),
            nodes,
            secs: 0,
            kinds,
            each_once: true,
            quiet: (Duration::from_secs(1), Duration::from_secs(2)),
            hold: (Duration::from_secs(2), Duration::from_secs(4)),
        }],
    };
    run_all(&specs);
}

/// The checker counts each anomaly it is shown (so a run can fail): a
/// synthetic history with one of each.
#[test]
fn checker_counts_every_anomaly() {
    use checker::check;
    use common::replication::read_log_in;
    use weir::record::records::{BatchBuilder, Record};
    use workload::{Ack, ConsumerLog, Read};

    // Two replicas of partition 0: offsets 0-1 (producer 7, epoch 0,
    // sequences 0-1), offset 2 (sequence 0 again: the duplicate check
    // failed), offset 3 (epoch 1: a KIP-360 re-send). Node 2 holds another
    // value at offset 3.
    let dir = tempfile::tempdir().unwrap();
    let batch = |base: i64, epoch: i16, seq: i32, values: &[&str]| {
        let mut b = BatchBuilder::new(base, 0).producer(7, epoch, seq);
        for v in values {
            b.push(Record::new(None, Some(v.as_bytes().to_vec()), 0));
        }
        b.build()
    };
    let mut logs = Vec::new();
    for (node, last) in [(1, "b"), (2, "z")] {
        let d = dir.path().join(format!("node-{node}/q-0"));
        std::fs::create_dir_all(&d).unwrap();
        let bytes = [batch(0, 0, 0, &["a", "b"]), batch(2, 0, 0, &["a"]), batch(3, 1, 0, &[last])].concat();
        std::fs::write(d.join("00000000000000000000.log"), bytes).unwrap();
        logs.push(read_log_in(node, &dir.path().join(format!("node-{node}")), "q", 0).unwrap());
    }
    let read = |offset: i64, value: &str| Read { partition: 0, offset, value: value.into(), generation: 0 };
    let ack = |offset: i64, value: &str, ms: u64| Ack {
        value: value.into(),
        partition: 0,
        offset,
        at: Duration::from_millis(ms),
        sent: Duration::from_millis(ms - 100),
    };
    // "b" acknowledged without an offset (librdkafka's implicit
    // acknowledgement), which names no offset and so is no inconsistency.
    let acks = [ack(0, "a", 500), ack(-1001, "b", 1_500), ack(5, "c", 5_000)];
    let final_read = [read(0, "a"), read(1, "b"), read(2, "a"), read(3, "b")];
    let consumers = [ConsumerLog {
        name: "assign-0".into(),
        reads: vec![read(0, "a"), read(1, "x"), read(1, "b"), read(3, "b")],
        ..ConsumerLog::default()
    }];
    let fault = FaultRecord {
        kind: Kind::Pause,
        what: String::new(),
        start: Duration::from_secs(1),
        healed: Duration::from_secs(2),
        recovered: Duration::from_secs(2),
    };
    let r = check(&Observed {
        acks: &acks,
        consumers: &consumers,
        final_read: &final_read,
        replicas: &[logs],
        ends: &[4],
        faults: &[fault],
        span: Duration::from_secs(4),
    });
    let counters =
        (r.lost, r.dup_same_pes, r.dup_values, r.inconsistent, r.nonmonotonic, r.skipped, r.divergent, r.unseen);
    assert_eq!(counters, (1, 1, 2, 2, 1, 1, 1, 1), "{:#?}", r.examples);
    assert_eq!(r.safety_violations(), 8);
    assert_eq!(r.ack_seconds, 0.5);
    assert_eq!(r.longest_gap, Duration::from_millis(2_500));
    // "b" was sent at 1.4 s, after the fault began at 1 s.
    assert_eq!(r.fault_to_ack, vec![Some(Duration::from_millis(500))]);
}

/// The lab's drop rules cut exactly what they are told to: a connection
/// from the clients to a node works, times out while either direction is
/// dropped, and works again after healing.
#[test]
fn lab_drops_packets_one_way_and_heals() {
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, Ordering};

    use common::netns::Host;

    let mut lab = match NetLab::create(1) {
        Ok(lab) => lab,
        Err(why) => {
            eprintln!("SKIPPED: cannot make network namespaces here: {why}");
            return;
        }
    };
    let addr: SocketAddr = format!("{}:7000", lab.ip(Host::Node(1))).parse().unwrap();
    let (node_ns, stop) = (lab.ns(Host::Node(1)), AtomicBool::new(false));
    let clients_ns = lab.ns(Host::Clients);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            common::netns::enter(&node_ns).unwrap();
            let l = TcpListener::bind(addr).unwrap();
            l.set_nonblocking(true).unwrap();
            tx.send(()).unwrap();
            while !stop.load(Ordering::Relaxed) {
                let _ = l.accept();
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        rx.recv().unwrap();
        // The client side on a thread of its own too: the test's thread
        // may be the process's main thread, which must stay where it is.
        let result = s
            .spawn(|| {
                common::netns::enter(&clients_ns).unwrap();
                let connects = || TcpStream::connect_timeout(&addr, Duration::from_millis(700)).is_ok();
                assert!(connects(), "whole network");
                lab.drop_from(Host::Clients, Host::Node(1)).unwrap();
                assert!(!connects(), "clients -> node dropped");
                lab.heal().unwrap();
                assert!(connects(), "healed");
                lab.drop_from(Host::Node(1), Host::Clients).unwrap();
                assert!(!connects(), "node -> clients dropped (no SYN-ACK back)");
                lab.heal().unwrap();
                assert!(connects(), "healed again");
            })
            .join();
        stop.store(true, Ordering::Relaxed);
        if let Err(p) = result {
            std::panic::resume_unwind(p);
        }
    });
}
