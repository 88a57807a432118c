//! Test kit shared by the integration tests: real Weir brokers on
//! loopback, in-process or as separate `weir` processes, with temporary
//! data directories, and helpers that wait on conditions with timeouts.
//!
//! - [`process`]: the `weir serve` launcher (spawn, ports, wait for the
//!   listener, SIGKILL, SIGTERM, SIGSTOP/SIGCONT); the benches include the
//!   same file (`benches/common/mod.rs`).
//! - [`cluster`]: multi-node clusters and requests to their nodes.
//! - [`replication`]: replica logs, leadership/ISR waits, consumer fetches,
//!   producers and consumers with an audit, for multi-node tests.
//! - [`netns`]: a private network of namespaces, one per node, with
//!   partitions (for the fault harness).
//! - Here: [`TestBroker`] (in-process), [`BrokerProcess`] (one process),
//!   [`Tmpfs`] (a small file system to fill up), [`LoopDisk`] (an ext4
//!   file system whose device starts failing with EIO), [`wait_until`],
//!   [`NONE`].
#![allow(dead_code)]

pub mod cluster;
pub mod netns;
pub mod process;
pub mod replication;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use process::{Capture, Launch, Output, WeirProcess};

use weir::config::BrokerConfig;
use weir::node::RunningServer;

/// The error code of success (`Errors.NONE`). Other codes are named by
/// kafka-protocol's `ResponseError`: `E::InvalidRecord.code()`, which has
/// no variant for success.
pub const NONE: i16 = 0;

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

/// A broker running as a separate `weir serve` process ([`process`]),
/// its output forwarded to the test's stderr.
pub struct BrokerProcess {
    proc: WeirProcess,
    pub addr: SocketAddr,
    pub dir: PathBuf,
}

impl BrokerProcess {
    pub fn spawn(dir: &Path, extra: &[(&str, &str)]) -> Self {
        let mut props = process::single_props(dir);
        props.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let launch = Launch::serve(&process::weir_bin(), "weir", &props);
        let mut proc =
            launch.spawn(Output::Capture(Capture { forward: true, ..Capture::default() })).expect("spawn weir");
        let addr = match proc.wait_listening(Duration::from_secs(120)) {
            Ok((addr, _)) => addr.parse().expect("listening address"),
            Err(e) => panic!("broker did not start listening: {e:?}"),
        };
        BrokerProcess { proc, addr, dir: dir.to_path_buf() }
    }

    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid().expect("running")
    }

    /// SIGKILL: no flush, no checkpoint, no marker.
    pub fn kill9(&mut self) {
        self.proc.kill9();
    }

    /// Captured output lines containing `needle`.
    pub fn lines_containing(&self, needle: &str) -> Vec<String> {
        self.proc.lines_containing(needle)
    }

    /// Waits (blocking, up to `timeout`) for the process to exit by itself;
    /// its exit status, or None if it still runs.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let status = self.proc.wait_exit_until(Instant::now() + timeout, Duration::from_millis(20)).ok().flatten();
        if status.is_some() {
            self.proc.drain_output(Duration::from_secs(5));
        }
        status
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(&mut self) {
        if self.proc.sigterm().is_ok() {
            let _ = self.proc.wait_exit_until(Instant::now() + Duration::from_secs(3600), Duration::from_millis(10));
        }
    }
}

/// A tmpfs of `mib` MiB at `at`, unmounted on drop.
pub struct Tmpfs(pub PathBuf);

impl Tmpfs {
    /// `None` where mounting is not permitted (the caller skips its test).
    pub fn mount(at: &Path, mib: u32) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }

    /// Bytes still free for files.
    pub fn free_bytes(&self) -> u64 {
        let path = std::ffi::CString::new(self.0.to_str().expect("utf-8 path")).expect("no NUL in path");
        // SAFETY: statvfs only writes into the zeroed struct we pass.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `path` is a valid NUL-terminated string and `st` a valid out pointer.
        let rc = unsafe { libc::statvfs(path.as_ptr(), &mut st) };
        assert_eq!(rc, 0, "statvfs {}", self.0.display());
        st.f_frsize * st.f_bavail
    }

    /// Writes the file `name` so that about `leave` bytes stay free (the
    /// disk is full once the broker writes those); returns its path.
    /// Removing the file frees the space again.
    pub fn fill(&self, name: &str, leave: u64) -> PathBuf {
        let filler = self.0.join(name);
        let size = self.free_bytes().saturating_sub(leave);
        std::fs::write(&filler, vec![0u8; size as usize]).expect("write the filler file");
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// An ext4 file system on a loop device over a sparse image file, mounted
/// at a directory, that can be made to fail: [`LoopDisk::fail`] shrinks the
/// device under the mounted file system, so every later write (and read
/// of anything not cached) outside its first MiB fails with EIO, as a
/// dying disk does. [`LoopDisk::replace`] puts back a device holding what
/// the disk held when it failed (a replaced disk restored from that
/// image). Needs root, `losetup` and `mkfs.ext4`; unmounted on drop.
pub struct LoopDisk {
    pub mount_point: PathBuf,
    image: PathBuf,
    saved: PathBuf,
}

fn run(cmd: &str, args: &[&str]) -> bool {
    std::process::Command::new(cmd)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl LoopDisk {
    /// A `mib` MiB file system at `at`, its image in `image_dir`; `None`
    /// where loop devices or mounting are not permitted.
    pub fn mount(at: &Path, image_dir: &Path, mib: u32) -> Option<LoopDisk> {
        std::fs::create_dir_all(at).ok()?;
        std::fs::create_dir_all(image_dir).ok()?;
        let image = image_dir.join("disk.img");
        let disk = LoopDisk { mount_point: at.to_path_buf(), saved: image_dir.join("disk.img.saved"), image };
        let size = format!("{mib}M");
        let ok = run("truncate", &["-s", &size, disk.image.to_str()?])
            && run("mkfs.ext4", &["-q", "-F", "-E", "lazy_itable_init=1,lazy_journal_init=1", disk.image.to_str()?])
            && disk.attach();
        ok.then_some(disk)
    }

    fn attach(&self) -> bool {
        run("mount", &["-o", "loop", self.image.to_str().unwrap(), self.mount_point.to_str().unwrap()])
    }

    fn loop_device(&self) -> Option<String> {
        let out = std::process::Command::new("losetup").arg("-j").arg(&self.image).output().ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines().next().and_then(|l| l.split(':').next()).map(str::to_string)
    }

    /// From now on the device fails: a copy of what it holds is kept for
    /// [`LoopDisk::replace`], then it shrinks to 1 MiB under the file
    /// system.
    pub fn fail(&self) {
        let device = self.loop_device().expect("the loop device of the image");
        assert!(run("cp", &["--sparse=always", self.image.to_str().unwrap(), self.saved.to_str().unwrap()]));
        assert!(run("truncate", &["-s", "1M", self.image.to_str().unwrap()]));
        assert!(run("losetup", &["-c", &device]), "losetup -c {device}");
    }

    /// Unmounts the failed file system and mounts a healthy device with the
    /// contents the disk had when it failed. Nothing may use the mount.
    pub fn replace(&self) {
        assert!(run("umount", &[self.mount_point.to_str().unwrap()]), "umount {}", self.mount_point.display());
        std::fs::rename(&self.saved, &self.image).expect("restore the image");
        assert!(self.attach(), "mount the replaced disk");
    }
}

impl Drop for LoopDisk {
    fn drop(&mut self) {
        // A loop mount frees its device when unmounted (autoclear).
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.mount_point).status();
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

/// Creates a topic with one partition and replication factor 1 through a
/// raw CreateTopics v7 (for tests that talk Kafka's protocol directly),
/// asserting it succeeded.
pub async fn create_topic_raw(c: &mut weir::wire::client::BrokerClient, name: &str, configs: &[(&str, &str)]) {
    use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
    use kafka_protocol::messages::{ApiKey, CreateTopicsRequest, CreateTopicsResponse, TopicName};
    use kafka_protocol::protocol::StrBytes;
    let s = |v: &str| StrBytes::from_string(v.to_string());
    let req = CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
        .with_name(TopicName(s(name)))
        .with_num_partitions(1)
        .with_replication_factor(1)
        .with_configs(
            configs
                .iter()
                .map(|(k, v)| CreatableTopicConfig::default().with_name(s(k)).with_value(Some(s(v))))
                .collect(),
        )]);
    let resp: CreateTopicsResponse = c.send(ApiKey::CreateTopics, 7, &req).await.expect("CreateTopics answered");
    assert_eq!(resp.topics[0].error_code, NONE, "create {name}: {:?}", resp.topics[0].error_message);
}
