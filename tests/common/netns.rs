//! Network namespaces for fault tests: a private network ([`NetLab`]) in
//! which each node runs in a namespace of its own, plus one namespace for
//! the test's clients that holds the bridge joining them. Nothing is added
//! to the machine's own (root) namespace, so the addresses used here
//! (10.77.0.0/24) reach nothing outside the lab.
//!
//! What it guarantees:
//! - Names start with `wfh<pid>x<seq>` (unlikely to clash; a lab left by a
//!   process that is gone is removed by the next one), and every namespace
//!   made is deleted on drop, also while unwinding from a panic; deleting
//!   a namespace removes its veth ends with it.
//! - Partitions are packet drops on input: `ip rule ... blackhole` in the
//!   receiving namespace drops what arrives from a given source, silently,
//!   as a cut cable does (a sender only sees its retransmissions go
//!   unanswered). The `local` routing rule is moved behind the drop rules
//!   for that, since it otherwise decides local delivery first. Only
//!   iproute2 is needed: no iptables or nft, which many machines lack.
//! - [`NetLab::enter_client`] moves the calling thread into the clients'
//!   namespace; threads it spawns afterwards (a tokio runtime, librdkafka's)
//!   inherit it. Processes get into a node's namespace through
//!   `process::Launch::netns`.
//!
//! Where namespaces cannot be made (not root, no `ip`), [`NetLab::create`]
//! says why, and the caller skips its test with that message.
#![allow(dead_code)]

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use super::cluster::Place;

/// The lab's subnet (/24); the clients' bridge is `.1`, node `i` is `.(10+i)`.
const SUBNET: &str = "10.77.0";
/// Priority the `local` rule moves to; drop rules go below it.
const LOCAL_RULE_PRIO: u32 = 1000;
const PREFIX: &str = "wfh";

/// Who sends or receives: the test's clients or node `i` (from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Host {
    Clients,
    Node(i32),
}

/// A private network of `nodes` namespaces and the clients' namespace.
pub struct NetLab {
    prefix: String,
    nodes: i32,
    /// Every namespace made, deleted on drop (clients' last).
    made: Vec<String>,
    /// Drop rules in force: (namespace, priority).
    rules: Vec<(String, u32)>,
    next_prio: u32,
}

/// Runs `ip args`; `Err` with its stderr if it fails.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("cannot run `ip`: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("`ip {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Deletes namespaces of earlier labs whose process is gone (a test killed
/// before its drop ran).
fn remove_stale_labs() {
    let Ok(entries) = std::fs::read_dir("/run/netns") else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(PREFIX) else { continue };
        let pid: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        if !pid.is_empty() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", &name]);
        }
    }
}

impl NetLab {
    /// Makes the lab for nodes `1..=nodes`; `Err` says why it cannot be
    /// made here (the caller skips its test with it).
    pub fn create(nodes: i32) -> Result<NetLab, String> {
        // SAFETY: geteuid(2) has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("network namespaces need root".into());
        }
        ip(&["-V"]).map_err(|e| format!("iproute2 is not installed ({e})"))?;
        remove_stale_labs();
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let prefix = format!("{PREFIX}{}x{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
        let mut lab = NetLab { prefix, nodes, made: Vec::new(), rules: Vec::new(), next_prio: 100 };
        lab.build()?;
        Ok(lab)
    }

    fn build(&mut self) -> Result<(), String> {
        let c = self.ns(Host::Clients);
        ip(&["netns", "add", &c])?;
        self.made.push(c.clone());
        ip(&["-n", &c, "link", "set", "lo", "up"])?;
        ip(&["-n", &c, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &c, "addr", "add", &format!("{}/24", self.ip(Host::Clients)), "dev", "br0"])?;
        ip(&["-n", &c, "link", "set", "br0", "up"])?;
        move_local_rule(&c)?;
        for i in 1..=self.nodes {
            let n = self.ns(Host::Node(i));
            ip(&["netns", "add", &n])?;
            self.made.insert(0, n.clone());
            let port = format!("n{i}");
            ip(&["-n", &n, "link", "add", "eth0", "type", "veth", "peer", "name", &port, "netns", &c])?;
            ip(&["-n", &c, "link", "set", &port, "master", "br0", "up"])?;
            ip(&["-n", &n, "addr", "add", &format!("{}/24", self.ip(Host::Node(i))), "dev", "eth0"])?;
            ip(&["-n", &n, "link", "set", "eth0", "up"])?;
            ip(&["-n", &n, "link", "set", "lo", "up"])?;
            move_local_rule(&n)?;
        }
        Ok(())
    }

    /// The namespace name of `h`.
    pub fn ns(&self, h: Host) -> String {
        match h {
            Host::Clients => format!("{}c", self.prefix),
            Host::Node(i) => format!("{}n{i}", self.prefix),
        }
    }

    /// The address of `h` in the lab.
    pub fn ip(&self, h: Host) -> String {
        match h {
            Host::Clients => format!("{SUBNET}.1"),
            Host::Node(i) => format!("{SUBNET}.{}", 10 + i),
        }
    }

    /// Where node `i` runs, for `ClusterBuilder::place`.
    pub fn place(&self, i: i32) -> Place {
        Place { host: self.ip(Host::Node(i)), netns: PathBuf::from(format!("/run/netns/{}", self.ns(Host::Node(i)))) }
    }

    /// Every host: the clients and each node.
    pub fn hosts(&self) -> Vec<Host> {
        std::iter::once(Host::Clients).chain((1..=self.nodes).map(Host::Node)).collect()
    }

    /// Moves the calling thread into the clients' namespace.
    pub fn enter_client(&self) -> Result<(), String> {
        enter(&self.ns(Host::Clients))
    }

    /// Runs `f` on a thread of its own in the clients' namespace (start a
    /// runtime there: only threads spawned after entering are inside) and
    /// returns what it returns; its panic is raised here, while the lab
    /// (a drop guard) still exists.
    pub fn on_client_thread<T: Send>(&mut self, f: impl FnOnce(&mut NetLab) -> T + Send) -> T {
        let result = std::thread::scope(|s| {
            s.spawn(|| {
                self.enter_client().expect("enter the clients' namespace");
                f(self)
            })
            .join()
        });
        result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    /// Drops every packet `from` sends to `to` (one direction only).
    pub fn drop_from(&mut self, from: Host, to: Host) -> Result<(), String> {
        assert_ne!(from, to, "a host always reaches itself");
        let (ns, dev) = match to {
            Host::Clients => (self.ns(to), "br0".to_string()),
            Host::Node(_) => (self.ns(to), "eth0".to_string()),
        };
        let prio = self.next_prio;
        assert!(prio < LOCAL_RULE_PRIO, "too many drop rules at once");
        self.next_prio += 1;
        let src = self.ip(from);
        ip(&["-n", &ns, "rule", "add", "prio", &prio.to_string(), "from", &src, "iif", &dev, "blackhole"])?;
        self.rules.push((ns, prio));
        Ok(())
    }

    /// Cuts `a` and `b` apart in both directions.
    pub fn cut(&mut self, a: Host, b: Host) -> Result<(), String> {
        self.drop_from(a, b)?;
        self.drop_from(b, a)
    }

    /// Removes every drop rule: the network is whole again.
    pub fn heal(&mut self) -> Result<(), String> {
        let mut first_err = None;
        for (ns, prio) in std::mem::take(&mut self.rules) {
            if let Err(e) = ip(&["-n", &ns, "rule", "del", "prio", &prio.to_string()]) {
                first_err.get_or_insert(e);
            }
        }
        self.next_prio = 100;
        first_err.map_or(Ok(()), Err)
    }

    /// Whether any drop rule is in force.
    pub fn is_partitioned(&self) -> bool {
        !self.rules.is_empty()
    }
}

/// Moves the calling thread into the namespace named `ns` (threads it
/// spawns afterwards start there too).
pub fn enter(ns: &str) -> Result<(), String> {
    let path = format!("/run/netns/{ns}");
    let f = File::open(&path).map_err(|e| format!("{path}: {e}"))?;
    // SAFETY: setns(2) on a descriptor we hold open; it only changes this
    // thread's network namespace.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(format!("setns {path}: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Puts the `local` table's rule behind the drop rules, so they see
/// packets addressed to this namespace.
fn move_local_rule(ns: &str) -> Result<(), String> {
    ip(&["-n", ns, "rule", "add", "prio", &LOCAL_RULE_PRIO.to_string(), "lookup", "local"])?;
    ip(&["-n", ns, "rule", "del", "prio", "0"])
}

impl Drop for NetLab {
    fn drop(&mut self) {
        for ns in &self.made {
            if let Err(e) = ip(&["netns", "del", ns]) {
                eprintln!("netns: could not delete {ns}: {e}");
            }
        }
    }
}
