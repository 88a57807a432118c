//! CPU, memory and open-file accounting from `/proc`, and keeping the
//! machine quiet around measurements.
//!
//! A measured window ([`CpuWindow`]) attributes the machine's CPU time to
//! the broker processes (each one and their sum), this process (the
//! clients) and everything else, in % of one core. With per-thread
//! sampling on, it also breaks each process down by thread name (tokio
//! workers, librdkafka's `rdk:*` threads, ...).

use std::collections::HashMap;
use std::thread;
use std::time::{Duration, Instant};

/// Busy CPU (% of one core) below which the machine counts as quiet.
const QUIET_CPU: f64 = 20.0;
/// Thread groups listed per process in a per-thread breakdown.
const THREAD_GROUPS_SHOWN: usize = 4;

/// Waits up to `max_wait` for the machine to be nearly idle (below
/// `QUIET_CPU`), so that a measurement does not start in the middle of
/// someone else's build. No clients or broker are running at this point.
pub fn wait_for_quiet(max_wait: Duration) {
    if max_wait.is_zero() {
        return;
    }
    let start = Instant::now();
    let hz = clock_ticks_per_sec();
    loop {
        let sample = Duration::from_millis(500);
        let before = system_ticks();
        thread::sleep(sample);
        let busy = match (before, system_ticks()) {
            (Some(b), Some(a)) => a.0.saturating_sub(b.0) as f64 / hz / sample.as_secs_f64() * 100.0,
            _ => return,
        };
        if busy <= QUIET_CPU {
            if start.elapsed() > Duration::from_secs(1) {
                eprintln!("  (waited {:.0} s for other work to stop)", start.elapsed().as_secs_f64());
            }
            return;
        }
        if start.elapsed() >= max_wait {
            eprintln!("  (machine still {busy:.0}% busy after {max_wait:?}; measuring anyway)");
            return;
        }
    }
}

fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64
}

/// Flushes all dirty pages to disk (`sync(2)`), outside measured windows.
pub fn sync_disks() {
    // SAFETY: sync() takes no arguments and cannot fail.
    unsafe { libc::sync() };
}

/// Peak resident set size (VmHWM) of a process in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Command name and CPU time (user + system, in clock ticks) from a
/// `/proc/.../stat` file of a process or thread.
fn stat_ticks(path: &str) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(path).ok()?;
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let comm = stat.get(open + 1..close)?.to_string();
    // Fields after the parenthesised command name; utime and stime are
    // fields 14 and 15 of the whole line, i.e. 11 and 12 here.
    let fields: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    Some((comm, fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?))
}

/// CPU time of a process (`pid` or "self") in clock ticks.
fn cpu_ticks(pid: &str) -> Option<u64> {
    stat_ticks(&format!("/proc/{pid}/stat")).map(|(_, t)| t)
}

/// CPU ticks of every thread of a process, by thread id: (name, ticks).
fn thread_ticks(pid: &str) -> HashMap<String, (String, u64)> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return HashMap::new() };
    dir.filter_map(|e| {
        let tid = e.ok()?.file_name().into_string().ok()?;
        let stat = stat_ticks(&format!("/proc/{pid}/task/{tid}/stat"))?;
        Some((tid, stat))
    })
    .collect()
}

/// Busy (everything but idle and iowait) and iowait ticks of the whole
/// machine, from the first line of /proc/stat.
fn system_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line.split_whitespace().map(|f| f.parse().unwrap_or(0)).collect();
    // user nice system idle iowait irq softirq steal (guest time is
    // already included in user).
    let (idle, iowait) = (*v.get(3)?, *v.get(4)?);
    let total: u64 = v.iter().take(8).sum();
    Some((total - idle - iowait, iowait))
}

/// CPU use over a measured window, each in % of one core (so up to 100% x
/// cores in total).
#[derive(Clone, Debug)]
pub struct CpuUsage {
    /// All broker processes together.
    pub broker: f64,
    /// Each broker process, in node order (one entry for a single broker).
    pub per_broker: Vec<f64>,
    /// This bench process: the librdkafka clients and the driving threads.
    pub client: f64,
    /// Busy time of the machine not charged to the brokers or the client:
    /// mostly kernel threads (writeback, softirq) and anything else running.
    pub other: f64,
    /// Time idle with I/O outstanding.
    pub iowait: f64,
    /// Per-thread breakdown of every process, when sampling was asked for
    /// (`CpuWindow::start`), else empty.
    pub threads: String,
}

/// A process whose CPU is attributed: its label and `/proc` name.
struct Tracked {
    label: String,
    pid: String,
    ticks: Option<u64>,
    threads: Option<HashMap<String, (String, u64)>>,
}

impl Tracked {
    fn new(label: String, pid: String, per_thread: bool) -> Tracked {
        Tracked { ticks: cpu_ticks(&pid), threads: per_thread.then(|| thread_ticks(&pid)), label, pid }
    }

    /// "label: name xN P%, ..." for the busiest thread groups since `new`;
    /// threads started in between count from zero.
    fn thread_breakdown(&self, to_pct: impl Fn(u64) -> f64) -> Option<String> {
        let before = self.threads.as_ref()?;
        let mut groups: HashMap<String, (usize, u64)> = HashMap::new();
        for (tid, (name, now)) in thread_ticks(&self.pid) {
            let then = before.get(&tid).map_or(0, |(_, t)| *t);
            let g = groups.entry(name).or_default();
            g.0 += 1;
            g.1 += now.saturating_sub(then);
        }
        let mut groups: Vec<(String, usize, u64)> = groups.into_iter().map(|(n, (c, t))| (n, c, t)).collect();
        groups.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
        let shown: Vec<String> = groups
            .iter()
            .take(THREAD_GROUPS_SHOWN)
            .filter(|g| g.2 > 0)
            .map(|(name, count, t)| {
                let n = if *count > 1 { format!(" x{count}") } else { String::new() };
                format!("{name}{n} {:.0}%", to_pct(*t))
            })
            .collect();
        Some(format!("{}: {}", self.label, shown.join(", ")))
    }
}

/// Snapshot of CPU counters at the start of a measured window.
pub struct CpuWindow {
    brokers: Vec<Tracked>,
    client: Tracked,
    system: Option<(u64, u64)>,
    start: Instant,
}

impl CpuWindow {
    /// Starts a window over the given broker processes (in node order) and
    /// this process; `per_thread` also samples every thread of each.
    pub fn start(broker_pids: &[u32], per_thread: bool) -> CpuWindow {
        let label = |i: usize| if broker_pids.len() == 1 { "broker".to_string() } else { format!("node{}", i + 1) };
        CpuWindow {
            brokers: broker_pids
                .iter()
                .enumerate()
                .map(|(i, pid)| Tracked::new(label(i), pid.to_string(), per_thread))
                .collect(),
            client: Tracked::new("client".into(), "self".into(), per_thread),
            system: system_ticks(),
            start: Instant::now(),
        }
    }

    /// CPU used since `start`.
    pub fn finish(&self) -> CpuUsage {
        let secs = self.start.elapsed().as_secs_f64();
        let hz = clock_ticks_per_sec();
        let to_pct = |ticks: u64| ticks as f64 / hz / secs * 100.0;
        let pct = |then: Option<u64>, now: Option<u64>| match (then, now) {
            (Some(t), Some(n)) => to_pct(n.saturating_sub(t)),
            _ => f64::NAN,
        };
        let per_broker: Vec<f64> = self.brokers.iter().map(|b| pct(b.ticks, cpu_ticks(&b.pid))).collect();
        let broker = per_broker.iter().sum();
        let client = pct(self.client.ticks, cpu_ticks(&self.client.pid));
        let now = system_ticks();
        let busy = pct(self.system.map(|s| s.0), now.map(|s| s.0));
        let iowait = pct(self.system.map(|s| s.1), now.map(|s| s.1));
        let threads: Vec<String> =
            self.brokers.iter().chain([&self.client]).filter_map(|p| p.thread_breakdown(to_pct)).collect();
        CpuUsage {
            broker,
            per_broker,
            client,
            other: (busy - broker - client).max(0.0),
            iowait,
            threads: threads.join("; "),
        }
    }
}

/// Current resident set size (VmRSS) of a process in KiB.
#[allow(dead_code)] // used by the partitions bench, not by every bench
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Number of open file descriptors of a process (entries of
/// `/proc/<pid>/fd`).
#[allow(dead_code)] // used by the partitions bench, not by every bench
pub fn open_fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// Soft limit on open files (`ulimit -n`) of a process (a pid or "self"),
/// from `/proc/<pid>/limits`; `None` if unreadable or unlimited.
#[allow(dead_code)] // used by the partitions bench, not by every bench
pub fn fd_soft_limit(pid: &str) -> Option<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find_map(|l| l.strip_prefix("Max open files"))?;
    line.split_whitespace().next()?.parse().ok()
}
