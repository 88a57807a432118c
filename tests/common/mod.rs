//! Test harness shared by the integration tests: real Weir brokers on
//! loopback, in-process or as separate `weir` processes, with temporary
//! data directories, and helpers that wait on conditions with timeouts.
#![allow(dead_code)]

pub mod cluster;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use weir::config::BrokerConfig;
use weir::node::RunningServer;

/// Broker properties for tests: loopback, an ephemeral port, `dir` as data.
pub fn test_config(dir: &Path, extra: &[(&str, &str)]) -> BrokerConfig {
    let mut props = std::collections::BTreeMap::new();
    props.insert("listeners".to_string(), "PLAINTEXT://127.0.0.1:0".to_string());
    props.insert("log.dirs".to_string(), dir.display().to_string());
    for (k, v) in extra {
        props.insert(k.to_string(), v.to_string());
    }
    BrokerConfig::from_props(props).expect("valid test config")
}

/// A broker running inside the test process.
pub struct TestBroker {
    pub server: Option<RunningServer>,
    pub dir: PathBuf,
}

impl TestBroker {
    pub async fn start_in(dir: &Path, extra: &[(&str, &str)]) -> Self {
        let server = weir::node::compose_and_start(test_config(dir, extra)).await.expect("broker starts");
        TestBroker { server: Some(server), dir: dir.to_path_buf() }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.as_ref().expect("running").addr()
    }

    pub fn bootstrap(&self) -> String {
        self.addr().to_string()
    }

    /// Clean shutdown (flush, checkpoints, clean-shutdown marker).
    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}

/// A broker running as a separate `weir serve` process.
pub struct BrokerProcess {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub dir: PathBuf,
}

impl BrokerProcess {
    pub fn spawn(dir: &Path, extra: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_weir"));
        cmd.arg("serve")
            .arg("--override")
            .arg("listeners=PLAINTEXT://127.0.0.1:0")
            .arg("--override")
            .arg(format!("log.dirs={}", dir.display()));
        for (k, v) in extra {
            cmd.arg("--override").arg(format!("{k}={v}"));
        }
        cmd.env("RUST_LOG", "warn").stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawn weir");
        let stdout = child.stdout.take().expect("stdout");
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let addr = loop {
            line.clear();
            let n = reader.read_line(&mut line).expect("read broker stdout");
            assert!(n > 0, "broker exited before listening");
            if let Some(rest) = line.trim().strip_prefix("weir listening on PLAINTEXT ") {
                break rest.parse().expect("listening address");
            }
        };
        // Keep draining stdout so the broker never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while reader.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
                sink.clear();
            }
        });
        BrokerProcess { child: Some(child), addr, dir: dir.to_path_buf() }
    }

    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGKILL: no flush, no checkpoint, no marker.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) only sends a signal to our own, not yet reaped child.
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
            let _ = c.wait();
        }
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Polls `cond` until it holds or `timeout` passes (then panics with `what`).
pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if cond().await {
            return;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
