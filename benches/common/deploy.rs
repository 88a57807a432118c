//! The brokers under test: one `weir serve` process, or a cluster of
//! them on loopback, each with its own temporary `log.dirs`; or the same
//! of Apache Kafka nodes ([`Broker::Kafka`], started by [`super::kafka`]),
//! to measure Kafka beside Weir.
//!
//! * A single broker listens on an ephemeral port (`127.0.0.1:0`) and is
//!   ready when it prints `weir listening on PLAINTEXT <addr>`.
//! * A cluster of N nodes: every node plays both roles (broker and
//!   controller) and is a voter of an N-voter metadata quorum. Ports are
//!   chosen beforehand (bind `127.0.0.1:0`, read, drop), then all nodes
//!   are spawned before any is waited for: a node prints its listening
//!   line only once the quorum has formed and it has registered. The
//!   cluster is ready when, in addition, metadata lists all N brokers. A
//!   node that exits while starting (most likely a port taken in between
//!   by someone else) makes the start retry with new ports.
//!
//! A Kafka node's ports are chosen beforehand too (a single node is a
//! one-voter quorum); it is ready when it logs
//! [`super::kafka::READY_LINE`], and its (INFO) output is kept, not
//! forwarded, and shown only if the start fails.
//!
//! A binary that cannot form the cluster (e.g. a baseline from before
//! replication) fails with an error that carries [`ClusterUnavailable`],
//! so callers can tell "cannot do clusters" from a failed measurement.
//!
//! Asked to, the nodes trace their replicated writes hop by hop
//! (`WEIR_HOP_TRACE`, see `weir::replica::hop_trace`) into one file.
//!
//! Processes are launched by the launcher the tests use too
//! ([`super::process`]). Each node's output (with `RUST_LOG=warn`) is read
//! on a thread and kept; while starting, where the election chatter of a
//! forming quorum is normal, its last lines are shown only if the start
//! fails; once the node is ready, its lines are forwarded to our stderr
//! with the node's name. Processes are killed (SIGKILL, by pid) and data
//! removed on drop.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

use super::kafka;
use super::process::{self, Capture, Launch, NotListening, Output, WeirProcess};
use super::procstat::peak_rss_kib;

/// How long a single broker may take to report its listener.
const SINGLE_START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a cluster may take to elect a controller, register every
/// broker and list them all in metadata.
const CLUSTER_START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long Kafka nodes (JVMs, after a JVM run of `kafka-storage format`
/// each) may take to start, alone or as a cluster.
const KAFKA_START_TIMEOUT: Duration = Duration::from_secs(120);
/// Cluster starts tried when a node exits while starting.
const CLUSTER_START_ATTEMPTS: usize = 3;
/// Lines of a node's output shown in error messages.
const LOG_TAIL_LINES: usize = 12;
/// The file, beside the nodes' data, that `WEIR_HOP_TRACE` points them at.
const HOP_TRACE_FILE: &str = "hops.log";

/// Marks errors meaning "this binary did not form a (replicating) cluster",
/// as opposed to a measurement that failed.
#[derive(Debug)]
pub struct ClusterUnavailable;

impl std::fmt::Display for ClusterUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no working cluster")
    }
}

/// Which broker software a deployment runs.
pub enum Broker {
    /// `weir serve` from this binary.
    Weir(PathBuf),
    /// Apache Kafka from `compat/bin` ([`super::kafka`]).
    Kafka,
}

/// The brokers of one measurement.
pub struct Deployment {
    /// In node id order (ids 1..=N).
    nodes: Vec<Node>,
    /// `bootstrap.servers` for clients: every node's PLAINTEXT address.
    pub bootstrap: String,
    /// Holds the nodes' data directories; dropped after the nodes.
    dir: tempfile::TempDir,
    /// Where the nodes write `WEIR_HOP_TRACE` lines, if asked to.
    hop_trace: Option<PathBuf>,
}

impl Deployment {
    /// One broker on an ephemeral port, with default settings but for
    /// `overrides` (broker properties).
    /// With `trace_hops`, the broker writes a `WEIR_HOP_TRACE` file.
    /// Kafka writes no hop trace.
    pub fn single(broker: &Broker, overrides: &[(String, String)], trace_hops: bool) -> Result<Deployment> {
        let dir = tempfile::Builder::new().prefix("weir-bench-").tempdir().context("temp dir")?;
        let data = dir.path().join("data");
        let hop_trace = (trace_hops && matches!(broker, Broker::Weir(_))).then(|| dir.path().join(HOP_TRACE_FILE));
        let (mut node, timeout) = match broker {
            Broker::Weir(bin) => {
                let mut props = process::single_props(&data);
                props.extend_from_slice(overrides);
                let node = Node::spawn(bin, 1, "weir", &props, hop_trace.as_deref())?;
                (node, SINGLE_START_TIMEOUT)
            }
            Broker::Kafka => {
                let ports = process::free_ports(2).context("free ports")?;
                let voters = process::voters_property([(1, ports[1])]);
                let props = kafka::node_props(1, ports[0], ports[1], &voters, 1, &data, overrides);
                (
                    Node::spawn_kafka(1, "kafka", &dir.path().join("config"), &props, &data, ports[0])?,
                    KAFKA_START_TIMEOUT,
                )
            }
        };
        let deadline = Instant::now() + timeout;
        let addr = node.wait_ready(deadline)?;
        if matches!(broker, Broker::Kafka) {
            wait_for_group_coordinator(&addr, deadline)?;
        }
        Ok(Deployment { nodes: vec![node], bootstrap: addr, dir, hop_trace })
    }

    /// A cluster of `n` combined broker+controller nodes (an `n`-voter
    /// quorum), each with `overrides` (broker properties) on top; errors
    /// carry [`ClusterUnavailable`].
    pub fn cluster(broker: &Broker, n: usize, overrides: &[(String, String)], trace_hops: bool) -> Result<Deployment> {
        let mut attempt = 1;
        loop {
            match Deployment::try_cluster(broker, n, overrides, trace_hops) {
                Ok(d) => return Ok(d),
                Err(StartError::NodeExited(e)) if attempt < CLUSTER_START_ATTEMPTS => {
                    eprintln!("  (cluster start attempt {attempt} failed, retrying with new ports: {e:#})");
                    attempt += 1;
                }
                Err(StartError::NodeExited(e) | StartError::Other(e)) => return Err(e.context(ClusterUnavailable)),
            }
        }
    }

    fn try_cluster(
        broker: &Broker,
        n: usize,
        overrides: &[(String, String)],
        trace_hops: bool,
    ) -> Result<Deployment, StartError> {
        let dir = tempfile::Builder::new().prefix("weir-bench-cluster-").tempdir().context("temp dir")?;
        let hop_trace = (trace_hops && matches!(broker, Broker::Weir(_))).then(|| dir.path().join(HOP_TRACE_FILE));
        let ports = process::free_ports(2 * n).context("free ports")?;
        let (broker_ports, controller_ports) = ports.split_at(n);
        let voters = process::voters_property(controller_ports.iter().enumerate().map(|(i, p)| (i as i32 + 1, *p)));
        let mut nodes = Vec::with_capacity(n);
        for i in 0..n {
            let id = i as i32 + 1;
            let data = dir.path().join(format!("node-{id}"));
            let bin = match broker {
                Broker::Weir(bin) => bin,
                Broker::Kafka => {
                    let props =
                        kafka::node_props(id, broker_ports[i], controller_ports[i], &voters, n, &data, overrides);
                    let config = dir.path().join(format!("node-{id}-config"));
                    nodes.push(Node::spawn_kafka(
                        id,
                        &format!("kafka node {id}"),
                        &config,
                        &props,
                        &data,
                        broker_ports[i],
                    )?);
                    continue;
                }
            };
            let mut props = process::kraft_props(
                "127.0.0.1",
                id,
                "broker,controller",
                Some(broker_ports[i]),
                Some(controller_ports[i]),
                &voters,
                &data,
            );
            props.extend_from_slice(overrides);
            nodes.push(Node::spawn(bin, id, &format!("weir node {id}"), &props, hop_trace.as_deref())?);
        }
        // All nodes run now; each reports its listener once the quorum is
        // up and it has registered.
        let timeout = match broker {
            Broker::Weir(_) => CLUSTER_START_TIMEOUT,
            Broker::Kafka => KAFKA_START_TIMEOUT,
        };
        let deadline = Instant::now() + timeout;
        let mut addrs = Vec::with_capacity(n);
        for node in &mut nodes {
            match node.wait_ready(deadline) {
                Ok(addr) => addrs.push(addr),
                Err(e) if !node.is_running() => return Err(StartError::NodeExited(e)),
                Err(e) => return Err(StartError::Other(e)),
            }
        }
        let d = Deployment { nodes, bootstrap: addrs.join(","), dir, hop_trace };
        d.wait_for_brokers(deadline).map_err(StartError::Other)?;
        if matches!(broker, Broker::Kafka) {
            wait_for_group_coordinator(&d.bootstrap, deadline).map_err(StartError::Other)?;
        }
        Ok(d)
    }

    /// Waits until metadata lists every node as a broker.
    fn wait_for_brokers(&self, deadline: Instant) -> Result<()> {
        let admin: AdminClient<DefaultClientContext> =
            ClientConfig::new().set("bootstrap.servers", &self.bootstrap).create().context("admin client")?;
        loop {
            let seen = match admin.inner().fetch_metadata(None, Duration::from_secs(5)) {
                Ok(md) => {
                    let ids: BTreeSet<i32> = md.brokers().iter().map(|b| b.id()).collect();
                    if ids.len() == self.nodes.len() {
                        return Ok(());
                    }
                    format!("brokers {ids:?}")
                }
                Err(e) => format!("metadata: {e}"),
            };
            if Instant::now() > deadline {
                bail!("metadata does not list all {} brokers: {seen}", self.nodes.len());
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Number of broker processes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_cluster(&self) -> bool {
        self.nodes.len() > 1
    }

    /// Process ids, in node order.
    pub fn pids(&self) -> Vec<u32> {
        self.nodes.iter().filter_map(|n| n.proc.pid()).collect()
    }

    /// The largest peak resident set (VmHWM) of any node, in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        self.pids().into_iter().filter_map(peak_rss_kib).max()
    }

    /// Bytes in the log segments (`*.log`) of `topic`'s partitions, per
    /// node (in node order): replication leaves equal amounts on every
    /// in-sync replica.
    pub fn topic_log_bytes(&self, topic: &str) -> Vec<u64> {
        let prefix = format!("{topic}-");
        (0..self.nodes.len())
            .map(|i| {
                let data = self.data_dir(i);
                let partitions = std::fs::read_dir(&data).into_iter().flatten().flatten().filter(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.strip_prefix(&prefix).is_some_and(|p| p.parse::<u32>().is_ok())
                });
                partitions
                    .flat_map(|p| std::fs::read_dir(p.path()).into_iter().flatten().flatten())
                    .filter(|f| f.path().extension().is_some_and(|x| x == "log"))
                    .filter_map(|f| f.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .collect()
    }

    fn data_dir(&self, i: usize) -> PathBuf {
        if self.is_cluster() {
            self.dir.path().join(format!("node-{}", i + 1))
        } else {
            self.dir.path().join("data")
        }
    }

    /// The `WEIR_HOP_TRACE` lines the nodes have written so far (empty
    /// unless started with `trace_hops`).
    pub fn hop_trace(&self) -> String {
        self.hop_trace.as_ref().and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default()
    }
}

/// Waits until the group coordinator of the benches' consumer group
/// answers. Kafka creates `__consumer_offsets` (50 partitions) on the
/// first FindCoordinator, and librdkafka holds back the fetches of a
/// consumer with a `group.id` until its coordinator is known: without
/// this, the first measurement on a fresh Kafka cluster would include
/// that creation (a minute on a loaded machine). Weir's coordinator is
/// ready when it listens.
fn wait_for_group_coordinator(bootstrap: &str, deadline: Instant) -> Result<()> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", super::client::BENCH_GROUP)
        .set("enable.auto.commit", "false")
        .create()
        .context("coordinator probe consumer")?;
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition("weir-bench-coordinator-probe", 0);
    loop {
        let err = match consumer.committed_offsets(tpl.clone(), Duration::from_secs(5)) {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        if Instant::now() > deadline {
            bail!("no group coordinator in time: {err}");
        }
        thread::sleep(Duration::from_millis(200));
    }
}

enum StartError {
    /// A node exited before it was ready (e.g. its port was taken).
    NodeExited(anyhow::Error),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for StartError {
    fn from(e: anyhow::Error) -> Self {
        StartError::Other(e)
    }
}

/// One broker process (`weir serve` or a Kafka JVM); SIGKILLed on drop.
struct Node {
    id: i32,
    proc: WeirProcess,
    /// A Kafka node's PLAINTEXT address, known before it starts (Weir
    /// prints its own in its listening line).
    kafka_addr: Option<String>,
}

impl Node {
    fn spawn(bin: &Path, id: i32, name: &str, props: &[(String, String)], hop_trace: Option<&Path>) -> Result<Node> {
        let mut launch = Launch::serve(bin, name, props);
        if let Some(path) = hop_trace {
            launch = launch.env("WEIR_HOP_TRACE", &path.to_string_lossy());
        }
        let proc =
            launch.spawn(Output::Capture(Capture::default())).with_context(|| format!("spawn {}", bin.display()))?;
        Ok(Node { id, proc, kafka_addr: None })
    }

    /// A Kafka node with `props`, its config in `config_dir`, listening
    /// (once ready) on `port`.
    fn spawn_kafka(
        id: i32,
        name: &str,
        config_dir: &Path,
        props: &[(String, String)],
        data: &Path,
        port: u16,
    ) -> Result<Node> {
        let proc = kafka::spawn(name, config_dir, props, data)?;
        Ok(Node { id, proc, kafka_addr: Some(format!("127.0.0.1:{port}")) })
    }

    /// Waits for the listening line until `deadline`; returns the address
    /// and from then on forwards the node's output to our stderr.
    fn wait_ready(&mut self, deadline: Instant) -> Result<String> {
        if let Some(addr) = self.kafka_addr.clone() {
            return self.wait_kafka_ready(addr, deadline);
        }
        match self.proc.wait_listening(deadline.saturating_duration_since(Instant::now())) {
            Ok((addr, _)) => {
                self.proc.set_forward(true);
                Ok(addr)
            }
            Err(NotListening::Exited(status)) => {
                Err(anyhow!("node {} exited before listening ({status}){}", self.id, self.log_tail()))
            }
            Err(NotListening::Timeout) => {
                Err(anyhow!("node {} reported no PLAINTEXT listener in time{}", self.id, self.log_tail()))
            }
        }
    }

    /// Polls the captured output for [`kafka::READY_LINE`] until `deadline`.
    fn wait_kafka_ready(&mut self, addr: String, deadline: Instant) -> Result<String> {
        loop {
            if !self.proc.lines_containing(kafka::READY_LINE).is_empty() {
                return Ok(addr);
            }
            if !self.proc.is_running() {
                self.proc.drain_output(Duration::from_secs(5));
                bail!("kafka node {} exited before it started{}", self.id, self.log_tail());
            }
            if Instant::now() > deadline {
                bail!("kafka node {} did not log '{}' in time{}", self.id, kafka::READY_LINE, self.log_tail());
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn is_running(&mut self) -> bool {
        self.proc.is_running()
    }

    /// "; last log lines: ..." or nothing.
    fn log_tail(&self) -> String {
        let tail = self.proc.tail(LOG_TAIL_LINES);
        if tail.is_empty() {
            return String::new();
        }
        format!("; last log lines:\n    {}", tail.join("\n    "))
    }
}
