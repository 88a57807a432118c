//! Apache Kafka as a broker under test, for side-by-side figures
//! (`WEIR_BENCH_KAFKA=1`): KRaft combined nodes (broker and controller)
//! of Apache Kafka 4.4, run from the launchers in `compat/bin` (the jars
//! come from Maven Central through `compat/kafka/pom.xml`, as for the
//! compatibility suite).
//!
//! A node is formatted with `kafka-storage format` (a static quorum:
//! `controller.quorum.voters` lists every node, one voter for a single
//! node), then runs `kafka-server-start` with the heap and JVM settings of
//! Kafka's own scripts (`-Xmx1G -Xms1G`, G1) unless `KAFKA_HEAP_OPTS` /
//! `KAFKA_JVM_PERFORMANCE_OPTS` say otherwise. The launchers `exec` the
//! JVM, so the process id the bench accounts CPU and RSS to is the JVM's.
//! A node is ready when it logs `Kafka Server started`; its INFO log is
//! kept in memory and shown only when the start fails.
//!
//! Kafka's settings are its defaults, plus what a single node needs
//! (replication factor 1 for its internal topics) and any
//! `WEIR_BENCH_BROKER_CONFIG` overrides, which apply to Weir alike.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context as _, Result};

use super::process::{Capture, Launch, Output, WeirProcess};

/// What Kafka's broker logs once it serves clients.
pub const READY_LINE: &str = "Kafka Server started";

/// The cluster id every formatted node gets (any base64 UUID would do).
const CLUSTER_ID: &str = "V2VpckJlbmNoS2Fma2EhIQ";

/// `compat/bin` of this repository.
pub fn bin_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("compat").join("bin")
}

/// The Kafka version the launchers run (`kafka-topics --version`); the
/// first call resolves the jars from Maven Central if they are not yet.
pub fn version() -> Result<String> {
    let out = Command::new(bin_dir().join("kafka-topics"))
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .context("run compat/bin/kafka-topics (needs Java 17+ and Maven)")?;
    if !out.status.success() {
        bail!("kafka-topics --version failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string())
}

/// One node of a static quorum of `voters` (`id@host:port,...`): its
/// properties.
pub fn node_props(
    id: i32,
    port: u16,
    controller_port: u16,
    voters: &str,
    nodes: usize,
    data: &Path,
    overrides: &[(String, String)],
) -> Vec<(String, String)> {
    let mut props: Vec<(String, String)> = [
        ("process.roles", "broker,controller".to_string()),
        ("node.id", id.to_string()),
        ("listeners", format!("PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}")),
        ("advertised.listeners", format!("PLAINTEXT://127.0.0.1:{port}")),
        ("controller.listener.names", "CONTROLLER".into()),
        ("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".into()),
        ("controller.quorum.voters", voters.into()),
        ("log.dirs", data.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if nodes == 1 {
        // Kafka's internal topics default to 3 replicas, which one node
        // cannot place.
        for k in [
            "offsets.topic.replication.factor",
            "transaction.state.log.replication.factor",
            "transaction.state.log.min.isr",
            "share.coordinator.state.topic.replication.factor",
            "share.coordinator.state.topic.min.isr",
        ] {
            props.push((k.into(), "1".into()));
        }
    }
    props.extend_from_slice(overrides);
    props
}

/// Writes `props` to `<dir>/server.properties`, formats `data` (once) and
/// starts `kafka-server-start` on it; its output is captured.
pub fn spawn(name: &str, dir: &Path, props: &[(String, String)], data: &Path) -> Result<WeirProcess> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let config = dir.join("server.properties");
    let text: String = props.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::write(&config, text).with_context(|| format!("write {}", config.display()))?;
    if !data.join("meta.properties").exists() {
        let out = Command::new(bin_dir().join("kafka-storage"))
            .args(["format", "--cluster-id", CLUSTER_ID, "--config"])
            .arg(&config)
            .stdin(Stdio::null())
            .output()
            .context("run kafka-storage format")?;
        if !out.status.success() {
            bail!(
                "{name}: kafka-storage format failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
    let launch = Launch {
        bin: bin_dir().join("kafka-server-start"),
        args: vec![config.display().to_string()],
        env: Vec::new(),
        name: name.to_string(),
        die_with_parent: true,
        netns: None,
    };
    launch.spawn(Output::Capture(Capture::default())).with_context(|| format!("spawn {name}"))
}
