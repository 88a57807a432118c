//! The broker under test, behind one trait ([`Sut`]) so the same workload,
//! nemesis and checker can run against another Kafka-compatible broker
//! (Apache Kafka 4.x once the project has a launcher for it). It owns
//! what is specific to a broker: starting its nodes in the lab's
//! namespaces, signalling them, asking who leads, stopping cleanly, and
//! reading a replica's stored log (Weir keeps Kafka's on-disk format, so
//! [`read_log_in`] reads either).

use std::path::PathBuf;
use std::time::Duration;

use crate::common::cluster::{partition_views, Cluster, PartitionView};
use crate::common::netns::NetLab;
use crate::common::replication::{read_log_in, ReplicaLog};

/// What the harness needs from a cluster of real broker processes.
#[allow(async_fn_in_trait)]
pub trait Sut {
    /// Which broker this is, for the report.
    fn name(&self) -> String;
    fn ids(&self) -> Vec<i32>;
    /// Every node's client address, comma-separated.
    fn bootstrap(&self) -> String;
    /// SIGKILL (no flush, no controlled shutdown).
    fn kill9(&mut self, id: i32);
    /// SIGSTOP, returning once every thread is stopped.
    fn pause(&mut self, id: i32);
    fn resume(&mut self, id: i32);
    /// Alive (possibly paused).
    fn is_running(&mut self, id: i32) -> bool;
    fn is_paused(&self, id: i32) -> bool;
    /// Starts the given stopped nodes (together) and waits until each serves.
    async fn start(&mut self, ids: &[i32]);
    /// The active controller, as DescribeQuorum on a live node says.
    async fn active_controller(&self) -> Result<i32, String>;
    /// Every partition of `topic` as node `via` sees it.
    async fn partitions(&self, via: i32, topic: &str) -> Result<Vec<PartitionView>, String>;
    /// The unfenced brokers node `via` lists.
    async fn brokers(&self, via: i32) -> Result<Vec<i32>, String>;
    async fn create_topic(&self, name: &str, partitions: i32, rf: i16, configs: &[(&str, &str)]);
    /// SIGTERM to every running node; waits for their clean exits.
    async fn stop_all(&mut self);
    /// SIGTERM to one node; waits (bounded) for it to exit, however it exits.
    async fn stop_node(&mut self, id: i32);
    /// Node `id`'s stored log of `topic`-`partition` (read while stopped).
    fn replica_log(&self, id: i32, topic: &str, partition: i32) -> Result<ReplicaLog, String>;
    /// The directory holding node `id`'s partition logs.
    fn log_dir(&self, id: i32) -> PathBuf;
    /// Prints the tail of every node's log (on failure).
    fn dump_logs(&self);
}

/// A Weir cluster of combined (broker + controller) nodes, node `i` in
/// the lab's namespace `i`.
pub struct WeirSut {
    pub cluster: Cluster,
}

/// Broker settings for the fault runs: Kafka's defaults except where a
/// default would make one run take minutes (a fenced broker after 3 s
/// instead of 9, a follower out of the ISR after 5 s instead of 30).
pub const WEIR_SETTINGS: &[(&str, &str)] = &[
    ("broker.session.timeout.ms", "3000"),
    ("broker.heartbeat.interval.ms", "500"),
    ("replica.lag.time.max.ms", "5000"),
    ("offsets.topic.replication.factor", "3"),
    ("offsets.topic.num.partitions", "3"),
    ("group.initial.rebalance.delay.ms", "0"),
];

impl WeirSut {
    /// Starts `n` voters, each in its namespace, with partition logs in
    /// `log_dirs[i - 1]` where given.
    pub async fn start_in(lab: &NetLab, n: i32, log_dirs: &[Option<PathBuf>]) -> WeirSut {
        let mut b = Cluster::builder().voters(n as usize);
        for (k, v) in WEIR_SETTINGS {
            b = b.with(k, v);
        }
        for i in 1..=n {
            b = b.place(i, lab.place(i));
            if let Some(Some(dir)) = log_dirs.get(i as usize - 1) {
                b = b.log_dir(i, dir);
            }
        }
        WeirSut { cluster: b.start().await }
    }
}

/// Timeout of one admin request in the harness (a node may be cut off).
const ASK: Duration = Duration::from_secs(5);

impl Sut for WeirSut {
    fn name(&self) -> String {
        "weir".into()
    }

    fn ids(&self) -> Vec<i32> {
        self.cluster.ids()
    }

    fn bootstrap(&self) -> String {
        self.cluster.bootstrap()
    }

    fn kill9(&mut self, id: i32) {
        self.cluster.kill9(id);
    }

    fn pause(&mut self, id: i32) {
        self.cluster.pause(id);
    }

    fn resume(&mut self, id: i32) {
        self.cluster.resume(id);
    }

    fn is_running(&mut self, id: i32) -> bool {
        self.cluster.node_mut(id).is_running()
    }

    fn is_paused(&self, id: i32) -> bool {
        self.cluster.node(id).is_paused()
    }

    async fn start(&mut self, ids: &[i32]) {
        self.cluster.start_nodes(ids).await;
    }

    async fn active_controller(&self) -> Result<i32, String> {
        let mut last = String::from("no node answered");
        for id in self.cluster.ids() {
            match tokio::time::timeout(ASK, self.cluster.describe_quorum(id)).await {
                Ok(Ok(q)) if q.leader_id >= 0 => return Ok(q.leader_id),
                Ok(Ok(q)) => last = format!("node {id}: no leader ({q:?})"),
                Ok(Err(e)) => last = format!("node {id}: {e}"),
                Err(_) => last = format!("node {id}: no answer"),
            }
        }
        Err(last)
    }

    async fn partitions(&self, via: i32, topic: &str) -> Result<Vec<PartitionView>, String> {
        let m = self.cluster.metadata(via, Some(&[topic])).await?;
        partition_views(&m, topic)
    }

    async fn brokers(&self, via: i32) -> Result<Vec<i32>, String> {
        let m = self.cluster.metadata(via, Some(&[])).await?;
        Ok(crate::common::cluster::broker_ids(&m))
    }

    async fn create_topic(&self, name: &str, partitions: i32, rf: i16, configs: &[(&str, &str)]) {
        self.cluster.create_topic(1, name, partitions, rf, configs).await;
    }

    async fn stop_all(&mut self) {
        self.cluster.terminate_all().await;
    }

    async fn stop_node(&mut self, id: i32) {
        let node = self.cluster.node_mut(id);
        // A node whose only log dir failed has stopped by itself (as Kafka
        // halts when every log dir failed): collect its exit status.
        let status = if node.is_running() {
            node.terminate(Duration::from_secs(60)).await
        } else if node.pid().is_some() {
            node.wait_exit(Duration::from_secs(5)).await
        } else {
            eprintln!("node {id} was already stopped");
            return;
        };
        eprintln!("node {id} stopped: {status}");
    }

    fn replica_log(&self, id: i32, topic: &str, partition: i32) -> Result<ReplicaLog, String> {
        read_log_in(id, &self.log_dir(id), topic, partition)
    }

    fn log_dir(&self, id: i32) -> PathBuf {
        self.cluster.node(id).data_dir()
    }

    fn dump_logs(&self) {
        self.cluster.dump_logs(60);
    }
}
