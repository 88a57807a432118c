//! `Cluster`: N real `weir serve` processes on loopback, for multi-node
//! integration tests (controller failover, fencing, placement, restarts,
//! and later replication).
//!
//! What it guarantees:
//! - Every node gets fixed ports (chosen once, before the first start, by
//!   binding `127.0.0.1:0`) and its own directory under the cluster's
//!   temporary root, so a node can be killed and restarted on the same
//!   ports with the same data (`restart`).
//! - Voters (`process.roles=broker,controller` or `controller`) are started
//!   together: a broker prints `weir listening on PLAINTEXT <addr>` only once
//!   it has registered and been unfenced, which needs a quorum, so the
//!   helper spawns every node first and only then waits for each one.
//! - Each node's stdout and stderr go to `<root>/node-<id>/weir.log`
//!   (appended across restarts, with a header per incarnation). When a
//!   test panics, dropping the `Cluster` prints the tail of every node's
//!   log, so a CI failure shows what the brokers were doing.
//! - Dropping the `Cluster` (or a stray [`Node`]) SIGKILLs its processes, by
//!   pid; nothing else on the machine is touched.
//! - Waiting is always on a condition with a timeout ([`poll_until`]), never
//!   a fixed sleep; a timeout panics with the last observation.
//!
//! Requests go through [`weir::wire::client::BrokerClient`] on a fresh
//! connection with a per-request timeout, so a killed or paused (SIGSTOP)
//! node yields an error instead of hanging the test.
#![allow(dead_code)]

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use kafka_protocol::messages::create_partitions_request::{CreatePartitionsAssignment, CreatePartitionsTopic};
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_quorum_request::{PartitionData as QuorumPartition, TopicData as QuorumTopic};
use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::metadata_response::{MetadataResponsePartition, MetadataResponseTopic};
use kafka_protocol::messages::{
    ApiKey, BrokerId, CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, DescribeClusterRequest, DescribeClusterResponse, DescribeConfigsRequest,
    DescribeConfigsResponse, DescribeQuorumRequest, DescribeQuorumResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use uuid::Uuid;
use weir::wire::client::BrokerClient;

use super::process::{self, Launch, Output, WeirProcess};

/// Config resource types (`ConfigResource.Type`).
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;
/// DescribeConfigs config sources.
pub const DYNAMIC_TOPIC_CONFIG: i8 = 1;
pub const DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;

/// The metadata quorum's topic, as DescribeQuorum names it.
pub const METADATA_TOPIC: &str = "__cluster_metadata";

/// How long one request to one node may take before it counts as failed
/// (a SIGSTOPped node accepts connections but never answers).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a node may take to print its listening line after spawning.
/// Generous: a restarted node may wait out its predecessor's session.
pub const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// Default timeout for cluster-wide conditions (elections, propagation).
pub const WAIT: Duration = Duration::from_secs(30);

/// The roles of a node (`process.roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roles {
    /// `broker,controller`: a voter that also serves clients.
    Combined,
    /// `broker`: serves clients, reaches the quorum over the voters' CONTROLLER listeners.
    Broker,
    /// `controller`: a voter only; has no client listener.
    Controller,
}

impl Roles {
    pub fn is_voter(self) -> bool {
        matches!(self, Roles::Combined | Roles::Controller)
    }

    pub fn is_broker(self) -> bool {
        matches!(self, Roles::Combined | Roles::Broker)
    }

    fn property(self) -> &'static str {
        match self {
            Roles::Combined => "broker,controller",
            Roles::Broker => "broker",
            Roles::Controller => "controller",
        }
    }
}

/// One node to start: id, roles, rack and overrides of its own.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub id: i32,
    pub roles: Roles,
    pub rack: Option<String>,
    pub overrides: Vec<(String, String)>,
    /// The network namespace (`ip netns` name) the node runs in and its
    /// address there; `None`: the test's namespace, on loopback.
    pub netns: Option<(String, String)>,
}

/// Describes a cluster before it starts. Node ids are given in order of
/// `voters`/`brokers`/`controllers` calls, from 1.
#[derive(Debug, Clone, Default)]
pub struct ClusterBuilder {
    specs: Vec<NodeSpec>,
    common: Vec<(String, String)>,
}

impl ClusterBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    fn add(mut self, n: usize, roles: Roles) -> Self {
        for _ in 0..n {
            let id = self.specs.len() as i32 + 1;
            self.specs.push(NodeSpec { id, roles, rack: None, overrides: Vec::new(), netns: None });
        }
        self
    }

    /// `n` combined (broker + controller) voters.
    pub fn voters(self, n: usize) -> Self {
        self.add(n, Roles::Combined)
    }

    /// `n` broker-only nodes.
    pub fn brokers(self, n: usize) -> Self {
        self.add(n, Roles::Broker)
    }

    /// `n` controller-only voters.
    pub fn controllers(self, n: usize) -> Self {
        self.add(n, Roles::Controller)
    }

    /// `broker.rack` of node `id`.
    pub fn rack(mut self, id: i32, rack: &str) -> Self {
        self.spec_mut(id).rack = Some(rack.to_string());
        self
    }

    /// An override for every node (`--override key=value`).
    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.common.push((key.to_string(), value.to_string()));
        self
    }

    /// An override for node `id` only (applied after the common ones).
    pub fn node_with(mut self, id: i32, key: &str, value: &str) -> Self {
        self.spec_mut(id).overrides.push((key.to_string(), value.to_string()));
        self
    }

    /// Runs node `id` in the network namespace `netns` (made by the test,
    /// `ip netns add`), listening on and advertising `host`, an address the
    /// test's namespace and the other nodes reach.
    pub fn netns(mut self, id: i32, netns: &str, host: &str) -> Self {
        self.spec_mut(id).netns = Some((netns.to_string(), host.to_string()));
        self
    }

    /// Short broker sessions so fencing tests run quickly: heartbeats every
    /// `heartbeat_ms`, fenced after `session_ms` without one.
    pub fn session(self, session_ms: u64, heartbeat_ms: u64) -> Self {
        self.with("broker.session.timeout.ms", &session_ms.to_string())
            .with("broker.heartbeat.interval.ms", &heartbeat_ms.to_string())
    }

    fn spec_mut(&mut self, id: i32) -> &mut NodeSpec {
        self.specs.iter_mut().find(|s| s.id == id).unwrap_or_else(|| panic!("no node {id} in the cluster spec"))
    }

    /// Spawns every node, then waits until each is serving.
    pub async fn start(self) -> Cluster {
        assert!(self.specs.iter().any(|s| s.roles.is_voter()), "a cluster needs at least one voter");
        let root = tempfile::Builder::new().prefix("weir-cluster-").tempdir().expect("cluster temp dir");
        let mut nodes: Vec<Node> = self
            .specs
            .iter()
            .map(|s| {
                let port = s.roles.is_broker().then(free_port);
                let controller_port = s.roles.is_voter().then(free_port);
                Node::new(s.clone(), root.path(), port, controller_port)
            })
            .collect();
        let voters = nodes
            .iter()
            .filter_map(|n| n.controller_port.map(|p| format!("{}@{}:{p}", n.id, n.host())))
            .collect::<Vec<_>>()
            .join(",");
        for n in &mut nodes {
            n.args = node_args(n, &voters, &self.common);
        }
        let mut cluster = Cluster { nodes, voters, common: self.common, root };
        let ids = cluster.ids();
        cluster.start_nodes(&ids).await;
        cluster
    }
}

pub use super::process::free_port;

fn node_args(n: &Node, voters: &str, common: &[(String, String)]) -> Vec<String> {
    let mut props =
        process::kraft_props(n.id, n.spec.roles.property(), n.port, n.controller_port, voters, &n.data_dir());
    if n.host() != "127.0.0.1" {
        for (_, v) in props.iter_mut().filter(|(k, _)| k == "listeners") {
            *v = v.replace("127.0.0.1", n.host());
        }
    }
    if let Some(r) = &n.spec.rack {
        props.push(("broker.rack".into(), r.clone()));
    }
    props.extend(common.iter().cloned());
    props.extend(n.spec.overrides.iter().cloned());
    process::serve_args(&props)
}

/// One `weir serve` process (and its restarts). Invariant: `proc` is
/// `Some` exactly while a process of this node may be alive; dropping the
/// node SIGKILLs it. The process also gets SIGKILL when the thread that
/// spawned it exits (`PR_SET_PDEATHSIG`): spawn from the test's thread or a
/// runtime worker, never from `spawn_blocking` (those threads come and go).
pub struct Node {
    pub id: i32,
    pub spec: NodeSpec,
    /// PLAINTEXT port (brokers only).
    pub port: Option<u16>,
    /// CONTROLLER port (voters only).
    pub controller_port: Option<u16>,
    /// This node's directory: `data/` (log.dirs) and `weir.log`.
    pub dir: PathBuf,
    args: Vec<String>,
    /// The current process, while one may be alive.
    proc: Option<WeirProcess>,
    /// Where the current incarnation's output starts in `weir.log`.
    log_start: u64,
    incarnations: u32,
}

impl Node {
    fn new(spec: NodeSpec, root: &Path, port: Option<u16>, controller_port: Option<u16>) -> Node {
        let dir = root.join(format!("node-{}", spec.id));
        std::fs::create_dir_all(&dir).expect("node dir");
        Node {
            id: spec.id,
            spec,
            port,
            controller_port,
            dir,
            args: Vec::new(),
            proc: None,
            log_start: 0,
            incarnations: 0,
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("weir.log")
    }

    /// The client address, `127.0.0.1:<port>` (or the node's address in
    /// its network namespace).
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host(), self.port.unwrap_or_else(|| panic!("node {} has no broker listener", self.id)))
    }

    /// The address the node listens on.
    pub fn host(&self) -> &str {
        self.spec.netns.as_ref().map_or("127.0.0.1", |(_, host)| host.as_str())
    }

    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().and_then(|p| p.pid())
    }

    /// Whether a process of this node is alive (possibly paused).
    pub fn is_running(&mut self) -> bool {
        self.proc.as_mut().is_some_and(|p| p.is_running())
    }

    pub fn is_paused(&self) -> bool {
        self.proc.as_ref().is_some_and(|p| p.is_paused())
    }

    /// Starts a process; does not wait for it to serve. Panics if one runs.
    pub fn spawn(&mut self) {
        assert!(self.pid().is_none(), "node {} is already running", self.id);
        let mut log = OpenOptions::new().create(true).append(true).open(self.log_path()).expect("open node log");
        self.incarnations += 1;
        writeln!(log, "===== node {} incarnation {}: weir {} =====", self.id, self.incarnations, self.args.join(" "))
            .expect("write log header");
        self.log_start = log.metadata().expect("log metadata").len();
        let mut launch = Launch::serve(&process::weir_bin(), &format!("node {}", self.id), &[]);
        launch.args = self.args.clone();
        let launch =
            launch.env("RUST_LOG", &std::env::var("WEIR_TEST_LOG").unwrap_or_else(|_| "info,openraft=warn".into()));
        // A child inherits the network namespace of the thread that spawns
        // it: enter the node's for the spawn only (no await in between).
        let _in_netns = self.spec.netns.as_ref().map(|(ns, _)| process::EnterNetns::enter(ns));
        self.proc = Some(launch.spawn(Output::File(log)).expect("spawn weir"));
    }

    /// The output of the current (or last) incarnation.
    pub fn output(&self) -> String {
        let mut f = match File::open(self.log_path()) {
            Ok(f) => f,
            Err(_) => return String::new(),
        };
        f.seek(SeekFrom::Start(self.log_start)).expect("seek log");
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).expect("read log");
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The last `lines` lines of the whole log (every incarnation).
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read(self.log_path()).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    fn ready_marker(&self) -> &'static str {
        if self.spec.roles.is_broker() {
            "weir listening on PLAINTEXT "
        } else {
            "controller listener"
        }
    }

    /// Waits until the current incarnation serves (a broker: registered,
    /// caught up and unfenced). Panics with the log if it exits first.
    pub async fn wait_ready(&mut self, timeout: Duration) {
        let start = Instant::now();
        let marker = self.ready_marker();
        loop {
            if self.output().contains(marker) {
                return;
            }
            if !self.is_running() {
                let status = self.proc.as_mut().and_then(|p| p.try_exit());
                self.proc = None;
                panic!(
                    "node {} exited ({status:?}) before serving; its output:\n{}",
                    self.id,
                    tail_of(&self.output(), 60)
                );
            }
            assert!(
                start.elapsed() < timeout,
                "node {} did not serve within {timeout:?}; its output:\n{}",
                self.id,
                tail_of(&self.output(), 60)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn running(&mut self) -> &mut WeirProcess {
        let id = self.id;
        self.proc.as_mut().unwrap_or_else(|| panic!("node {id} is not running"))
    }

    /// SIGKILL and reap: no flush, no controlled shutdown. No-op if stopped.
    pub fn kill9(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill9();
        }
    }

    /// SIGTERM (clean shutdown: controlled shutdown, flush) and waits for
    /// the exit; returns its status. Panics after `timeout` (the process is
    /// then SIGKILLed).
    pub async fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        self.signal_term();
        self.wait_exit(timeout).await
    }

    /// Waits for the process to exit on its own; returns its status.
    /// Panics (after SIGKILL) if it is still running after `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.running().try_exit() {
                self.proc = None;
                return status;
            }
            if start.elapsed() >= timeout {
                self.kill9();
                panic!(
                    "node {} did not exit within {timeout:?}; its output:\n{}",
                    self.id,
                    tail_of(&self.output(), 60)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends SIGTERM without waiting (see [`Node::wait_exit`]).
    pub fn signal_term(&mut self) {
        self.running().sigterm().unwrap_or_else(|e| panic!("SIGTERM: {e}"));
    }

    /// SIGSTOP, and waits until every thread of the process is stopped: it
    /// keeps its sockets but answers nothing.
    pub fn pause(&mut self) {
        self.running().pause().unwrap_or_else(|e| panic!("SIGSTOP: {e}"));
    }

    /// SIGCONT after `pause`.
    pub fn resume(&mut self) {
        self.running().resume().unwrap_or_else(|e| panic!("SIGCONT: {e}"));
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn tail_of(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A running cluster. Invariants: node ids are 1..=N in `nodes` order;
/// ports and directories of a node never change; dropping the cluster
/// kills every node (and prints their log tails if the test is panicking).
pub struct Cluster {
    pub nodes: Vec<Node>,
    /// `controller.quorum.voters` as given to every node.
    pub voters: String,
    common: Vec<(String, String)>,
    // Last field: dropped after the nodes are killed.
    root: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dump_logs(80);
        }
        for n in &mut self.nodes {
            n.kill9();
        }
        if std::env::var_os("WEIR_KEEP_CLUSTER").is_some() {
            let path = std::mem::replace(&mut self.root, tempfile::tempdir().expect("temp dir")).keep();
            eprintln!("cluster kept in {}", path.display());
        }
    }
}

impl Cluster {
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::new()
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub fn node(&self, id: i32) -> &Node {
        self.nodes.iter().find(|n| n.id == id).unwrap_or_else(|| panic!("no node {id}"))
    }

    pub fn node_mut(&mut self, id: i32) -> &mut Node {
        self.nodes.iter_mut().find(|n| n.id == id).unwrap_or_else(|| panic!("no node {id}"))
    }

    pub fn ids(&self) -> Vec<i32> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    pub fn voter_ids(&self) -> Vec<i32> {
        self.nodes.iter().filter(|n| n.spec.roles.is_voter()).map(|n| n.id).collect()
    }

    pub fn broker_ids(&self) -> Vec<i32> {
        self.nodes.iter().filter(|n| n.spec.roles.is_broker()).map(|n| n.id).collect()
    }

    /// Brokers whose process is alive and not paused.
    pub fn live_broker_ids(&mut self) -> Vec<i32> {
        self.nodes
            .iter_mut()
            .filter(|n| n.spec.roles.is_broker() && !n.is_paused())
            .filter_map(|n| n.is_running().then_some(n.id))
            .collect()
    }

    pub fn addr(&self, id: i32) -> String {
        self.node(id).addr()
    }

    /// Every broker's address, comma-separated (a client bootstrap list).
    pub fn bootstrap(&self) -> String {
        self.broker_ids().iter().map(|id| self.addr(*id)).collect::<Vec<_>>().join(",")
    }

    /// Prints the last `lines` lines of every node's log to stderr (the test
    /// harness shows it with the failure).
    pub fn dump_logs(&self, lines: usize) {
        for n in &self.nodes {
            eprintln!("----- node {} ({:?}) log tail: {} -----", n.id, n.spec.roles, n.log_path().display());
            eprintln!("{}", n.log_tail(lines));
        }
        eprintln!("----- end of node logs -----");
    }

    /// Spawns the given nodes, then waits until each serves. Spawning all
    /// first matters: voters need each other to elect a controller.
    pub async fn start_nodes(&mut self, ids: &[i32]) {
        for id in ids {
            self.node_mut(*id).spawn();
        }
        for id in ids {
            self.node_mut(*id).wait_ready(READY_TIMEOUT).await;
        }
    }

    /// Restarts a stopped node on its ports and directory; waits until it serves.
    pub async fn restart(&mut self, id: i32) {
        self.start_nodes(&[id]).await;
    }

    pub fn kill9(&mut self, id: i32) {
        self.node_mut(id).kill9();
    }

    /// SIGKILLs every node at once.
    pub fn kill9_all(&mut self) {
        for n in &mut self.nodes {
            n.kill9();
        }
    }

    /// SIGTERM of one node; waits (bounded) for its clean exit, which must succeed.
    pub async fn terminate(&mut self, id: i32) {
        let status = self.node_mut(id).terminate(WAIT * 2).await;
        assert!(status.success(), "node {id} exited with {status} on SIGTERM");
    }

    /// SIGTERM to every running node at once; waits for all clean exits.
    pub async fn terminate_all(&mut self) {
        let ids: Vec<i32> = self.nodes.iter_mut().filter_map(|n| n.is_running().then_some(n.id)).collect();
        for id in &ids {
            self.node_mut(*id).signal_term();
        }
        for id in &ids {
            let status = self.node_mut(*id).wait_exit(WAIT * 2).await;
            assert!(status.success(), "node {id} exited with {status} on SIGTERM");
        }
    }

    pub fn pause(&mut self, id: i32) {
        self.node_mut(id).pause();
    }

    pub fn resume(&mut self, id: i32) {
        self.node_mut(id).resume();
    }

    /// A process that is not part of the cluster but uses its voters and
    /// common overrides: node `spec.id` on fresh ports and its own
    /// directory. Spawned, not awaited; the caller owns (and drops) it.
    pub fn spawn_stray(&self, spec: NodeSpec) -> Node {
        let port = spec.roles.is_broker().then(free_port);
        let controller_port = spec.roles.is_voter().then(free_port);
        let mut n =
            Node::new(spec, &self.root.path().join("strays").join(Uuid::new_v4().to_string()), port, controller_port);
        n.args = node_args(&n, &self.voters, &self.common);
        n.spawn();
        n
    }

    // -----------------------------------------------------------------
    // Requests (fresh connection, bounded time)
    // -----------------------------------------------------------------

    /// Sends one request to node `id`; an error (connection refused, node
    /// paused, timeout, decode failure) comes back as a string.
    pub async fn request<Q: Encodable, R: Decodable>(
        &self,
        id: i32,
        key: ApiKey,
        version: i16,
        req: &Q,
    ) -> Result<R, String> {
        request_addr(&self.addr(id), key, version, req).await
    }

    /// Metadata v12 for all topics (`topics` None) or the named ones,
    /// without auto-creation.
    pub async fn metadata(&self, id: i32, topics: Option<&[&str]>) -> Result<MetadataResponse, String> {
        let req =
            MetadataRequest::default()
                .with_topics(topics.map(|ts| {
                    ts.iter().map(|t| MetadataRequestTopic::default().with_name(Some(topic_name(t)))).collect()
                }))
                .with_allow_auto_topic_creation(false);
        self.request(id, ApiKey::Metadata, 12, &req).await
    }

    /// DescribeCluster v2 (fenced brokers included on request).
    pub async fn describe_cluster(&self, id: i32, include_fenced: bool) -> Result<DescribeClusterResponse, String> {
        let req = DescribeClusterRequest::default().with_include_fenced_brokers(include_fenced);
        let resp: DescribeClusterResponse = self.request(id, ApiKey::DescribeCluster, 2, &req).await?;
        if resp.error_code != 0 {
            return Err(format!("DescribeCluster error {}: {:?}", resp.error_code, resp.error_message));
        }
        Ok(resp)
    }

    /// DescribeQuorum v1 for `__cluster_metadata-0`, asked of node `id`:
    /// (leader id, leader epoch, voter ids).
    pub async fn describe_quorum(&self, id: i32) -> Result<QuorumView, String> {
        let req = DescribeQuorumRequest::default().with_topics(vec![QuorumTopic::default()
            .with_topic_name(topic_name(METADATA_TOPIC))
            .with_partitions(vec![QuorumPartition::default().with_partition_index(0)])]);
        let resp: DescribeQuorumResponse = self.request(id, ApiKey::DescribeQuorum, 1, &req).await?;
        if resp.error_code != 0 {
            return Err(format!("DescribeQuorum error {}", resp.error_code));
        }
        let p = resp
            .topics
            .first()
            .and_then(|t| t.partitions.first())
            .ok_or_else(|| "DescribeQuorum: no partition in the answer".to_string())?;
        if p.error_code != 0 {
            return Err(format!("DescribeQuorum partition error {}", p.error_code));
        }
        let mut voters: Vec<i32> = p.current_voters.iter().map(|v| v.replica_id.0).collect();
        voters.sort_unstable();
        Ok(QuorumView {
            leader_id: p.leader_id.0,
            leader_epoch: p.leader_epoch,
            high_watermark: p.high_watermark,
            voters,
        })
    }

    /// Waits until every node in `via` (brokers) names the same active
    /// controller, and it is one of `among`; returns it.
    pub async fn wait_for_active_controller(&self, via: &[i32], among: &[i32], timeout: Duration) -> QuorumView {
        poll_until(&format!("brokers {via:?} to agree on an active controller among {among:?}"), timeout, || async {
            let mut seen = Vec::new();
            for id in via {
                match self.describe_quorum(*id).await {
                    Ok(q) => seen.push(q),
                    Err(e) => return Err(format!("node {id}: {e}")),
                }
            }
            let first = seen[0].clone();
            if seen.iter().all(|q| q.leader_id == first.leader_id) && among.contains(&first.leader_id) {
                Ok(first)
            } else {
                Err(format!("answers {seen:?}"))
            }
        })
        .await
    }

    /// Polls Metadata (all topics) on each node of `via` until `check`
    /// accepts every answer; returns the answers. `check` returns why not.
    pub async fn wait_metadata<F>(&self, what: &str, via: &[i32], timeout: Duration, check: F) -> Vec<MetadataResponse>
    where
        F: Fn(&MetadataResponse) -> Result<(), String>,
    {
        poll_until(what, timeout, || async {
            let mut out = Vec::new();
            for id in via {
                let m = self.metadata(*id, None).await.map_err(|e| format!("node {id}: {e}"))?;
                check(&m).map_err(|e| format!("node {id}: {e}"))?;
                out.push(m);
            }
            Ok(out)
        })
        .await
    }

    /// Waits until every node of `via` lists exactly `brokers` (unfenced) in Metadata.
    pub async fn wait_brokers(&self, via: &[i32], brokers: &[i32], timeout: Duration) {
        let mut want = brokers.to_vec();
        want.sort_unstable();
        self.wait_metadata(&format!("brokers {want:?} in the metadata of {via:?}"), via, timeout, |m| {
            let got = broker_ids(m);
            if got == want {
                Ok(())
            } else {
                Err(format!("brokers {got:?}"))
            }
        })
        .await;
    }

    // -----------------------------------------------------------------
    // Topic admin (panic on failure unless named try_)
    // -----------------------------------------------------------------

    pub async fn try_create_topics(
        &self,
        via: i32,
        topics: Vec<CreatableTopic>,
    ) -> Result<CreateTopicsResponse, String> {
        let req = CreateTopicsRequest::default().with_topics(topics).with_timeout_ms(30_000);
        self.request(via, ApiKey::CreateTopics, 7, &req).await
    }

    async fn create_one(&self, via: i32, topic: CreatableTopic) -> Uuid {
        let name = topic.name.0.to_string();
        let resp = self
            .try_create_topics(via, vec![topic])
            .await
            .unwrap_or_else(|e| panic!("CreateTopics {name} via {via}: {e}"));
        let r = &resp.topics[0];
        assert_eq!(r.error_code, 0, "creating {name} via node {via}: {:?}", r.error_message);
        assert!(!r.topic_id.is_nil(), "{name} created with a nil id");
        r.topic_id
    }

    /// Creates a topic placed by the controller; returns its id. `-1` asks
    /// for the broker defaults.
    pub async fn create_topic(&self, via: i32, name: &str, partitions: i32, rf: i16, configs: &[(&str, &str)]) -> Uuid {
        self.create_one(via, creatable(name, partitions, rf, configs)).await
    }

    /// Creates a topic with replicas as given (partition i -> `assignment[i]`).
    pub async fn create_topic_assigned(
        &self,
        via: i32,
        name: &str,
        assignment: &[&[i32]],
        configs: &[(&str, &str)],
    ) -> Uuid {
        let mut t = creatable(name, -1, -1, configs);
        t.assignments = assignment
            .iter()
            .enumerate()
            .map(|(i, r)| {
                CreatableReplicaAssignment::default()
                    .with_partition_index(i as i32)
                    .with_broker_ids(r.iter().map(|b| BrokerId(*b)).collect())
            })
            .collect();
        self.create_one(via, t).await
    }

    pub async fn delete_topic(&self, via: i32, name: &str) {
        let req = DeleteTopicsRequest::default()
            .with_topics(vec![DeleteTopicState::default().with_name(Some(topic_name(name)))])
            .with_timeout_ms(30_000);
        let resp: DeleteTopicsResponse = self
            .request(via, ApiKey::DeleteTopics, 6, &req)
            .await
            .unwrap_or_else(|e| panic!("DeleteTopics {name} via {via}: {e}"));
        let r = &resp.responses[0];
        assert_eq!(r.error_code, 0, "deleting {name} via node {via}: {:?}", r.error_message);
    }

    /// CreatePartitions to `count` in total, placed by the controller (or as assigned).
    pub async fn create_partitions(&self, via: i32, name: &str, count: i32, assignment: Option<&[&[i32]]>) {
        let t = CreatePartitionsTopic::default().with_name(topic_name(name)).with_count(count).with_assignments(
            assignment.map(|a| {
                a.iter()
                    .map(|r| {
                        CreatePartitionsAssignment::default().with_broker_ids(r.iter().map(|b| BrokerId(*b)).collect())
                    })
                    .collect()
            }),
        );
        let req = CreatePartitionsRequest::default().with_topics(vec![t]).with_timeout_ms(30_000);
        let resp: CreatePartitionsResponse = self
            .request(via, ApiKey::CreatePartitions, 3, &req)
            .await
            .unwrap_or_else(|e| panic!("CreatePartitions {name} via {via}: {e}"));
        let r = &resp.results[0];
        assert_eq!(r.error_code, 0, "CreatePartitions {name} to {count} via node {via}: {:?}", r.error_message);
    }

    /// IncrementalAlterConfigs SET of `configs` on one resource
    /// (`RESOURCE_TOPIC` name, or `RESOURCE_BROKER` id / "" for the cluster default).
    pub async fn set_configs(&self, via: i32, resource_type: i8, name: &str, configs: &[(&str, &str)]) {
        let req = IncrementalAlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(s(name))
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        AlterableConfig::default().with_name(s(k)).with_config_operation(0).with_value(Some(s(v)))
                    })
                    .collect(),
            )]);
        let resp: IncrementalAlterConfigsResponse = self
            .request(via, ApiKey::IncrementalAlterConfigs, 1, &req)
            .await
            .unwrap_or_else(|e| panic!("IncrementalAlterConfigs {name} via {via}: {e}"));
        let r = &resp.responses[0];
        assert_eq!(r.error_code, 0, "IncrementalAlterConfigs {name} {configs:?} via node {via}: {:?}", r.error_message);
    }

    /// DescribeConfigs v4 of one resource: (name, value, source) per config.
    pub async fn describe_configs(
        &self,
        via: i32,
        resource_type: i8,
        name: &str,
    ) -> Result<Vec<(String, Option<String>, i8)>, String> {
        let req = DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(s(name))
            .with_configuration_keys(None)]);
        let resp: DescribeConfigsResponse = self.request(via, ApiKey::DescribeConfigs, 4, &req).await?;
        let r = &resp.results[0];
        if r.error_code != 0 {
            return Err(format!("DescribeConfigs {name}: error {} {:?}", r.error_code, r.error_message));
        }
        Ok(r.configs
            .iter()
            .map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string()), c.config_source))
            .collect())
    }
}

/// What DescribeQuorum says about the metadata quorum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumView {
    pub leader_id: i32,
    pub leader_epoch: i32,
    pub high_watermark: i64,
    pub voters: Vec<i32>,
}

/// Sends one request on a fresh connection, bounded by [`REQUEST_TIMEOUT`].
pub async fn request_addr<Q: Encodable, R: Decodable>(
    addr: &str,
    key: ApiKey,
    version: i16,
    req: &Q,
) -> Result<R, String> {
    let work = async {
        let mut c =
            BrokerClient::connect(addr, "weir-cluster-test").await.map_err(|e| format!("connect {addr}: {e}"))?;
        c.send(key, version, req).await.map_err(|e| format!("{key:?} v{version} to {addr}: {e}"))
    };
    tokio::time::timeout(REQUEST_TIMEOUT, work)
        .await
        .unwrap_or_else(|_| Err(format!("{key:?} v{version} to {addr}: no answer within {REQUEST_TIMEOUT:?}")))
}

/// Polls `probe` every 20ms until it returns `Ok`, and returns that value;
/// after `timeout` panics with `what` and the last `Err` (what was seen).
pub async fn poll_until<T, F, Fut>(what: &str, timeout: Duration, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    poll_every(what, timeout, Duration::from_millis(20), probe).await
}

/// [`poll_until`] with a chosen interval.
pub async fn poll_every<T, F, Fut>(what: &str, timeout: Duration, interval: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    loop {
        let last = match probe().await {
            Ok(v) => return v,
            Err(e) => e,
        };
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}; last seen: {last}");
        tokio::time::sleep(interval).await;
    }
}

// ---------------------------------------------------------------------
// Small builders and views over responses
// ---------------------------------------------------------------------

pub fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

pub fn topic_name(v: &str) -> TopicName {
    TopicName(s(v))
}

pub fn creatable(name: &str, partitions: i32, rf: i16, configs: &[(&str, &str)]) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(topic_name(name))
        .with_num_partitions(partitions)
        .with_replication_factor(rf)
        .with_configs(
            configs
                .iter()
                .map(|(k, v)| CreatableTopicConfig::default().with_name(s(k)).with_value(Some(s(v))))
                .collect(),
        )
}

/// Sorted ids of the (unfenced) brokers a Metadata answer lists.
pub fn broker_ids(m: &MetadataResponse) -> Vec<i32> {
    let mut ids: Vec<i32> = m.brokers.iter().map(|b| b.node_id.0).collect();
    ids.sort_unstable();
    ids
}

pub fn find_topic<'a>(m: &'a MetadataResponse, name: &str) -> Option<&'a MetadataResponseTopic> {
    m.topics.iter().find(|t| t.name.as_ref().is_some_and(|n| &*n.0 == name))
}

/// The partitions of `name` sorted by index, or why not (absent, error).
pub fn partitions_of<'a>(m: &'a MetadataResponse, name: &str) -> Result<Vec<&'a MetadataResponsePartition>, String> {
    let t = find_topic(m, name).ok_or_else(|| format!("topic {name} absent"))?;
    if t.error_code != 0 {
        return Err(format!("topic {name} error {}", t.error_code));
    }
    let mut ps: Vec<&MetadataResponsePartition> = t.partitions.iter().collect();
    ps.sort_by_key(|p| p.partition_index);
    Ok(ps)
}

/// One partition of `name`, or why not.
pub fn partition_of<'a>(
    m: &'a MetadataResponse,
    name: &str,
    index: i32,
) -> Result<&'a MetadataResponsePartition, String> {
    partitions_of(m, name)?
        .into_iter()
        .find(|p| p.partition_index == index)
        .ok_or_else(|| format!("{name}-{index} absent"))
}

/// A compact, comparable view of a partition: (leader, epoch, replicas, isr, error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionView {
    pub index: i32,
    pub error: i16,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline: Vec<i32>,
}

impl From<&MetadataResponsePartition> for PartitionView {
    fn from(p: &MetadataResponsePartition) -> Self {
        PartitionView {
            index: p.partition_index,
            error: p.error_code,
            leader: p.leader_id.0,
            leader_epoch: p.leader_epoch,
            replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
            isr: p.isr_nodes.iter().map(|b| b.0).collect(),
            offline: p.offline_replicas.iter().map(|b| b.0).collect(),
        }
    }
}

/// Every partition of `name` as [`PartitionView`]s, sorted by index.
pub fn partition_views(m: &MetadataResponse, name: &str) -> Result<Vec<PartitionView>, String> {
    Ok(partitions_of(m, name)?.into_iter().map(PartitionView::from).collect())
}
