//! The brokers under test: one `weir serve` process, or a cluster of
//! them on loopback, each with its own temporary `log.dirs`.
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
//! A binary that cannot form the cluster (e.g. a baseline from before
//! replication) fails with an error that carries [`ClusterUnavailable`],
//! so callers can tell "cannot do clusters" from a failed measurement.
//!
//! Each node's stdout is drained on a thread. Its stderr (with
//! `RUST_LOG=warn`) is kept to the last lines while starting, where the
//! election chatter of a forming quorum is normal, and is shown if the
//! start fails; once the node is ready, its lines are forwarded to our
//! stderr with the node's name. Processes are killed (SIGKILL, by pid)
//! and data removed on drop.

use std::collections::{BTreeSet, VecDeque};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

use super::procstat::peak_rss_kib;

/// How long a single broker may take to report its listener.
const SINGLE_START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a cluster may take to elect a controller, register every
/// broker and list them all in metadata.
const CLUSTER_START_TIMEOUT: Duration = Duration::from_secs(60);
/// Cluster starts tried when a node exits while starting.
const CLUSTER_START_ATTEMPTS: usize = 3;
/// Lines of a node's stderr kept for error messages.
const LOG_TAIL_LINES: usize = 12;
const READY_LINE: &str = "weir listening on PLAINTEXT ";

/// Marks errors meaning "this binary did not form a (replicating) cluster",
/// as opposed to a measurement that failed.
#[derive(Debug)]
pub struct ClusterUnavailable;

impl std::fmt::Display for ClusterUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no working cluster")
    }
}

/// The brokers of one measurement.
pub struct Deployment {
    /// In node id order (ids 1..=N).
    nodes: Vec<Node>,
    /// `bootstrap.servers` for clients: every node's PLAINTEXT address.
    pub bootstrap: String,
    /// Holds the nodes' data directories; dropped after the nodes.
    dir: tempfile::TempDir,
}

impl Deployment {
    /// One broker on an ephemeral port, with default settings but for
    /// `overrides` (broker properties).
    pub fn single(bin: &Path, overrides: &[(String, String)]) -> Result<Deployment> {
        let dir = tempfile::Builder::new().prefix("weir-bench-").tempdir().context("temp dir")?;
        let mut props = vec![
            ("listeners".to_string(), "PLAINTEXT://127.0.0.1:0".to_string()),
            ("log.dirs".to_string(), dir.path().display().to_string()),
        ];
        props.extend_from_slice(overrides);
        let mut node = Node::spawn(bin, 1, "weir", &props)?;
        let addr = node.wait_ready(Instant::now() + SINGLE_START_TIMEOUT)?;
        Ok(Deployment { nodes: vec![node], bootstrap: addr, dir })
    }

    /// A cluster of `n` combined broker+controller nodes (an `n`-voter
    /// quorum), each with `overrides` (broker properties) on top; errors
    /// carry [`ClusterUnavailable`].
    pub fn cluster(bin: &Path, n: usize, overrides: &[(String, String)]) -> Result<Deployment> {
        let mut attempt = 1;
        loop {
            match Deployment::try_cluster(bin, n, overrides) {
                Ok(d) => return Ok(d),
                Err(StartError::NodeExited(e)) if attempt < CLUSTER_START_ATTEMPTS => {
                    eprintln!("  (cluster start attempt {attempt} failed, retrying with new ports: {e:#})");
                    attempt += 1;
                }
                Err(StartError::NodeExited(e) | StartError::Other(e)) => return Err(e.context(ClusterUnavailable)),
            }
        }
    }

    fn try_cluster(bin: &Path, n: usize, overrides: &[(String, String)]) -> Result<Deployment, StartError> {
        let dir = tempfile::Builder::new().prefix("weir-bench-cluster-").tempdir().context("temp dir")?;
        let ports = free_ports(2 * n).context("free ports")?;
        let (broker_ports, controller_ports) = ports.split_at(n);
        let voters: Vec<String> =
            controller_ports.iter().enumerate().map(|(i, p)| format!("{}@127.0.0.1:{p}", i + 1)).collect();
        let mut nodes = Vec::with_capacity(n);
        for i in 0..n {
            let id = i as i32 + 1;
            let data = dir.path().join(format!("node-{id}"));
            let mut props = vec![
                ("node.id".to_string(), id.to_string()),
                ("process.roles".to_string(), "broker,controller".to_string()),
                (
                    "listeners".to_string(),
                    format!("PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{}", broker_ports[i], controller_ports[i]),
                ),
                ("controller.listener.names".to_string(), "CONTROLLER".to_string()),
                ("controller.quorum.voters".to_string(), voters.join(",")),
                ("log.dirs".to_string(), data.display().to_string()),
            ];
            props.extend_from_slice(overrides);
            nodes.push(Node::spawn(bin, id, &format!("weir node {id}"), &props)?);
        }
        // All nodes run now; each reports its listener once the quorum is
        // up and it has registered.
        let deadline = Instant::now() + CLUSTER_START_TIMEOUT;
        let mut addrs = Vec::with_capacity(n);
        for node in &mut nodes {
            match node.wait_ready(deadline) {
                Ok(addr) => addrs.push(addr),
                Err(e) if !node.is_running() => return Err(StartError::NodeExited(e)),
                Err(e) => return Err(StartError::Other(e)),
            }
        }
        let d = Deployment { nodes, bootstrap: addrs.join(","), dir };
        d.wait_for_brokers(deadline).map_err(StartError::Other)?;
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
        self.nodes.iter().map(|n| n.child.id()).collect()
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
            self.dir.path().to_path_buf()
        }
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

/// `n` distinct ports on 127.0.0.1 that were free a moment ago.
fn free_ports(n: usize) -> Result<Vec<u16>> {
    // Hold all listeners until every port is chosen, so none repeats.
    let listeners = (0..n).map(|_| std::net::TcpListener::bind("127.0.0.1:0")).collect::<Result<Vec<_>, _>>()?;
    Ok(listeners.iter().map(|l| l.local_addr().map(|a| a.port())).collect::<Result<Vec<_>, _>>()?)
}

/// One `weir serve` process; SIGKILLed on drop.
struct Node {
    id: i32,
    child: Child,
    /// The PLAINTEXT address, once, from the stdout reader.
    ready: mpsc::Receiver<String>,
    /// The last lines of stderr.
    log_tail: Arc<Mutex<VecDeque<String>>>,
    /// Set once ready: stderr lines are forwarded from then on.
    forward: Arc<AtomicBool>,
}

impl Node {
    fn spawn(bin: &Path, id: i32, name: &str, props: &[(String, String)]) -> Result<Node> {
        let mut cmd = Command::new(bin);
        cmd.arg("serve");
        for (k, v) in props {
            cmd.arg("--override").arg(format!("{k}={v}"));
        }
        let mut child = cmd
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("spawn {}", bin.display()))?;
        // Read stdout until the listening line, then keep draining it so
        // the broker never blocks on a full pipe.
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, ready) = mpsc::channel();
        thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.trim().strip_prefix(READY_LINE) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr.to_string());
                    }
                }
            }
        });
        let log_tail = Arc::new(Mutex::new(VecDeque::new()));
        let forward = Arc::new(AtomicBool::new(false));
        let stderr = child.stderr.take().expect("piped stderr");
        spawn_stderr_reader(stderr, name.to_string(), log_tail.clone(), forward.clone());
        Ok(Node { id, child, ready, log_tail, forward })
    }

    /// Waits for the listening line until `deadline`; returns the address.
    fn wait_ready(&mut self, deadline: Instant) -> Result<String> {
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.ready.recv_timeout(wait) {
            Ok(addr) => {
                self.forward.store(true, Ordering::Relaxed);
                Ok(addr)
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // Stdout closed: the process is gone (or going).
                let mut status = "stdout closed".to_string();
                for _ in 0..20 {
                    if let Ok(Some(s)) = self.child.try_wait() {
                        status = s.to_string();
                        break;
                    }
                    thread::sleep(Duration::from_millis(50));
                }
                Err(anyhow!("node {} exited before listening ({status}){}", self.id, self.log_tail()))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                Err(anyhow!("node {} reported no PLAINTEXT listener in time{}", self.id, self.log_tail()))
            }
        }
    }

    fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// "; last log lines: ..." or nothing.
    fn log_tail(&self) -> String {
        // Give the stderr reader a moment to catch the last words.
        thread::sleep(Duration::from_millis(100));
        let tail = self.log_tail.lock().unwrap();
        if tail.is_empty() {
            return String::new();
        }
        format!("; last log lines:\n    {}", tail.iter().cloned().collect::<Vec<_>>().join("\n    "))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Keeps the last lines of a node's stderr and, once `forward` is set,
/// copies each line to our stderr as "<name>: <line>".
fn spawn_stderr_reader(
    stderr: impl Read + Send + 'static,
    name: String,
    tail: Arc<Mutex<VecDeque<String>>>,
    forward: Arc<AtomicBool>,
) {
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if forward.load(Ordering::Relaxed) {
                eprintln!("{name}: {line}");
            }
            let mut tail = tail.lock().unwrap();
            if tail.len() == LOG_TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line);
        }
    });
}
