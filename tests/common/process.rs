//! The `weir serve` process launcher shared by the integration tests
//! (`tests/common`, [`super::cluster`], `BrokerProcess`) and the benches
//! (`benches/common/mod.rs` includes this file by path). Synchronous and
//! free of test-framework code, so a bench's `main` can use it as well as
//! an async test.
//!
//! What it does:
//! - [`Launch`] describes a process: the binary ([`weir_bin`] is the one
//!   Cargo built for this target: the debug build for tests, the release
//!   build for `cargo bench`), broker properties passed as `--override
//!   key=value`, environment, and where the output goes ([`Output`]).
//! - [`WeirProcess`] is one running process: SIGKILL ([`WeirProcess::kill9`],
//!   also on drop), SIGTERM, SIGSTOP that returns only once every thread of
//!   the process is stopped ([`WeirProcess::pause`]), SIGCONT, waiting for
//!   the exit, and, for piped output, waiting for the listening line.
//! - Helpers for the properties of a KRaft node ([`kraft_props`]) and for
//!   ports ([`free_ports`]) that no other node of this process was given.
//!
//! Processes are signalled by pid, only our own unreaped children. By
//! default a process also gets SIGKILL when the thread that spawned it
//! exits (`PR_SET_PDEATHSIG`): spawn from the test's thread, a runtime
//! worker or a bench's main thread, never from `spawn_blocking`.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// What a broker prints (on stdout) once it serves clients, followed by
/// its address.
pub const READY_LINE: &str = "weir listening on PLAINTEXT ";

/// The `weir` binary Cargo built for this test or bench target, or the one
/// `WEIR_TEST_BIN` names (figures of another build, e.g. before a change).
pub fn weir_bin() -> PathBuf {
    std::env::var_os("WEIR_TEST_BIN").map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_weir")), PathBuf::from)
}

/// `n` distinct ports on 127.0.0.1 that were free a moment ago and that
/// no earlier call in this process returned.
pub fn free_ports(n: usize) -> std::io::Result<Vec<u16>> {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut ports = Vec::with_capacity(n);
    // Hold every listener until all ports are chosen, so none repeats.
    let mut held = Vec::with_capacity(n);
    while ports.len() < n {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = l.local_addr()?.port();
        held.push(l);
        if GIVEN.lock().unwrap_or_else(|e| e.into_inner()).insert(port) {
            ports.push(port);
        }
    }
    Ok(ports)
}

/// One port as [`free_ports`] gives them; panics if none can be bound.
pub fn free_port() -> u16 {
    free_ports(1).expect("bind an ephemeral port")[0]
}

/// `controller.quorum.voters`: `id@127.0.0.1:port` for each voter.
pub fn voters_property(voters: impl IntoIterator<Item = (i32, u16)>) -> String {
    voters.into_iter().map(|(id, port)| format!("{id}@127.0.0.1:{port}")).collect::<Vec<_>>().join(",")
}

/// The properties of KRaft node `id` listening on `host` (127.0.0.1, or
/// a node's own address in a network namespace, `super::netns`): `roles`
/// as `process.roles`, a PLAINTEXT listener on `port` (brokers) and a
/// CONTROLLER listener on `controller_port` (voters), the quorum's
/// `voters`, and `log_dirs` as data.
pub fn kraft_props(
    host: &str,
    id: i32,
    roles: &str,
    port: Option<u16>,
    controller_port: Option<u16>,
    voters: &str,
    log_dirs: &Path,
) -> Vec<(String, String)> {
    let mut listeners = Vec::new();
    if let Some(p) = port {
        listeners.push(format!("PLAINTEXT://{host}:{p}"));
    }
    if let Some(p) = controller_port {
        listeners.push(format!("CONTROLLER://{host}:{p}"));
    }
    vec![
        ("node.id".into(), id.to_string()),
        ("process.roles".into(), roles.into()),
        ("listeners".into(), listeners.join(",")),
        ("controller.listener.names".into(), "CONTROLLER".into()),
        ("controller.quorum.voters".into(), voters.into()),
        ("log.dirs".into(), log_dirs.display().to_string()),
    ]
}

/// The properties of a single-node broker on an ephemeral port (no
/// quorum configured) with `log_dirs` as data.
pub fn single_props(log_dirs: &Path) -> Vec<(String, String)> {
    vec![("listeners".into(), "PLAINTEXT://127.0.0.1:0".into()), ("log.dirs".into(), log_dirs.display().to_string())]
}

/// `serve --override k=v ...` for `props`, in order (later ones win).
pub fn serve_args(props: &[(String, String)]) -> Vec<String> {
    let mut args = vec!["serve".to_string()];
    for (k, v) in props {
        args.push("--override".into());
        args.push(format!("{k}={v}"));
    }
    args
}

/// Where a process's stdout and stderr go.
pub enum Output {
    /// Both appended to this (already open) file; the caller reads it.
    File(File),
    /// Both through one pipe (so lines keep their order), read line by line
    /// on a thread: see [`Capture`].
    Capture(Capture),
}

/// How piped output is handled. Every line is kept in memory with its
/// arrival time; the address of the first [`READY_LINE`] is reported to
/// [`WeirProcess::wait_listening`].
#[derive(Default)]
pub struct Capture {
    /// Also append each line to this file, as `[<tag> +<seconds since
    /// spawn>s] <line>`.
    pub log: Option<(Arc<Mutex<File>>, String)>,
    /// Copy lines to our stderr as `<name>: <line>`: from the start, or
    /// (when `false`) once [`WeirProcess::set_forward`] turns it on.
    pub forward: bool,
}

/// A process to start.
pub struct Launch {
    pub bin: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Name in messages and forwarded lines.
    pub name: String,
    /// SIGKILL the process when the spawning thread exits.
    pub die_with_parent: bool,
    /// Run it in this network namespace (a `/run/netns/<name>` file,
    /// [`super::netns`]) instead of the caller's.
    pub netns: Option<PathBuf>,
}

impl Launch {
    /// `bin serve` with `props` as overrides; `RUST_LOG=warn`, `NO_COLOR=1`.
    pub fn serve(bin: &Path, name: &str, props: &[(String, String)]) -> Launch {
        Launch {
            bin: bin.to_path_buf(),
            args: serve_args(props),
            env: vec![("RUST_LOG".into(), "warn".into()), ("NO_COLOR".into(), "1".into())],
            name: name.to_string(),
            die_with_parent: true,
            netns: None,
        }
    }

    /// Sets (or replaces) an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Launch {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
        self
    }

    /// Starts the process; does not wait for it to serve.
    pub fn spawn(&self, output: Output) -> std::io::Result<WeirProcess> {
        let mut cmd = Command::new(&self.bin);
        cmd.args(&self.args).stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if self.die_with_parent {
            // SAFETY: runs in the child between fork and exec and only calls
            // prctl(2), which is async-signal-safe.
            unsafe {
                cmd.pre_exec(|| {
                    // If we die without unwinding (killed by a CI timeout), the
                    // broker dies too instead of lingering.
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        if let Some(ns) = &self.netns {
            // Opened here, close-on-exec, so the child only has to call
            // setns(2); the descriptor goes away with `cmd`.
            let fd: OwnedFd = File::open(ns)?.into();
            // SAFETY: runs in the child between fork and exec and only calls
            // setns(2) on a descriptor opened before the fork.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let (capture, reader) = match output {
            Output::File(f) => {
                cmd.stdout(Stdio::from(f.try_clone()?)).stderr(Stdio::from(f));
                (None, None)
            }
            Output::Capture(c) => {
                let (reader, writer) = output_pipe()?;
                cmd.stdout(Stdio::from(writer.try_clone()?)).stderr(Stdio::from(writer));
                (Some(c), Some(reader))
            }
        };
        let spawned = Instant::now();
        let child = cmd.spawn()?;
        // Our copies of the pipe's write end go with `cmd`; the reader sees
        // the end of the output once the process is gone.
        drop(cmd);
        let lines = match (capture, reader) {
            (Some(c), Some(r)) => Some(Lines::start(r, c, self.name.clone(), spawned)),
            _ => None,
        };
        Ok(WeirProcess { name: self.name.clone(), child: Some(child), spawned, paused: false, lines })
    }
}

/// A pipe (read end, write end), both close-on-exec.
fn output_pipe() -> std::io::Result<(File, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 stores two new descriptors in `fds`.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and nothing else owns them.
    Ok(unsafe { (File::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The reader side of captured output.
struct Lines {
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
    /// The PLAINTEXT address from the listening line, and when it came.
    ready: mpsc::Receiver<(String, Instant)>,
    /// The address once received.
    listening: Option<(String, Instant)>,
    /// Signalled by the reader at the end of the output.
    done: mpsc::Receiver<()>,
    forward: Arc<AtomicBool>,
}

impl Lines {
    fn start(output: File, capture: Capture, name: String, spawned: Instant) -> Lines {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let forward = Arc::new(AtomicBool::new(capture.forward));
        let (ready_tx, ready) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        let (kept, fwd) = (lines.clone(), forward.clone());
        thread::spawn(move || {
            let mut ready_tx = Some(ready_tx);
            for line in BufReader::new(output).lines() {
                let Ok(line) = line else { break };
                let at = Instant::now();
                if let Some((log, tag)) = &capture.log {
                    if let Ok(mut log) = log.lock() {
                        let _ = writeln!(log, "[{tag} +{:8.3}s] {line}", at.duration_since(spawned).as_secs_f64());
                    }
                }
                if fwd.load(Ordering::Relaxed) {
                    eprintln!("{name}: {line}");
                }
                let addr = line.trim().strip_prefix(READY_LINE).map(str::to_string);
                // Kept before the waiter hears of it, so the line is in
                // `lines` by then.
                if let Ok(mut lines) = kept.lock() {
                    lines.push((at, line));
                }
                if let (Some(addr), Some(tx)) = (addr, ready_tx.as_ref()) {
                    let _ = tx.send((addr, at));
                    ready_tx = None;
                }
            }
            // Dropping `ready_tx` unsent tells a waiter the process is gone.
            drop(ready_tx);
            let _ = done_tx.send(());
        });
        Lines { lines, ready, listening: None, done, forward }
    }
}

/// Why [`WeirProcess::wait_listening`] returned no address.
#[derive(Debug)]
pub enum NotListening {
    /// The output ended (the process exited, with this status if known).
    Exited(String),
    /// No listening line within the time given.
    Timeout,
}

/// One `weir` process. Invariant: `child` is `Some` exactly while the
/// process may be alive (not yet reaped); dropping it SIGKILLs the process.
/// Captured output stays readable after the exit.
pub struct WeirProcess {
    pub name: String,
    child: Option<Child>,
    /// When it was spawned.
    pub spawned: Instant,
    paused: bool,
    lines: Option<Lines>,
}

impl WeirProcess {
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Whether the process is alive (possibly paused).
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            None => false,
            Some(c) => c.try_wait().expect("try_wait").is_none(),
        }
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// The exit status if the process has exited (it is then reaped).
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().expect("try_wait")?;
        self.child = None;
        self.paused = false;
        Some(status)
    }

    /// Polls every `interval` until the process exits; at `deadline`
    /// SIGKILLs it and returns `Err`. `Ok(None)` if it was not running.
    pub fn wait_exit_until(&mut self, deadline: Instant, interval: Duration) -> Result<Option<ExitStatus>, String> {
        if self.child.is_none() {
            return Ok(None);
        }
        loop {
            if let Some(status) = self.try_exit() {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                self.kill9();
                return Err(format!("{} did not exit in time (SIGKILLed)", self.name));
            }
            thread::sleep(interval);
        }
    }

    /// Sends `sig` to the process; `Err` if it is not running or kill fails.
    pub fn signal(&self, sig: i32) -> Result<(), String> {
        let pid = self.pid().ok_or_else(|| format!("{} is not running", self.name))?;
        // SAFETY: kill(2) on the pid of a child we spawned and have not
        // reaped, so the pid cannot belong to another process.
        let rc = unsafe { libc::kill(pid as libc::pid_t, sig) };
        if rc == 0 {
            Ok(())
        } else {
            Err(format!("kill({pid}, {sig}): {}", std::io::Error::last_os_error()))
        }
    }

    /// SIGKILL and reap: no flush, no controlled shutdown. No-op if stopped.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.paused = false;
    }

    /// SIGTERM (a paused process is resumed first); does not wait.
    pub fn sigterm(&mut self) -> Result<(), String> {
        if self.paused {
            self.resume()?;
        }
        self.signal(libc::SIGTERM)
    }

    /// SIGSTOP, then waits until every thread is stopped: the process
    /// keeps its sockets but answers nothing. Panics if it does not stop
    /// within 10 s.
    pub fn pause(&mut self) -> Result<(), String> {
        self.signal(libc::SIGSTOP)?;
        self.paused = true;
        self.wait_stopped();
        Ok(())
    }

    /// Waits until every thread of the process is in the stopped state.
    /// kill(2) returns once SIGSTOP is queued; the group stop starts only
    /// when one thread of the target runs to take it, so on a busy machine
    /// the other threads keep running (fetching, answering) for some
    /// milliseconds after kill returns.
    fn wait_stopped(&self) {
        let pid = self.pid().unwrap_or_else(|| panic!("{} is not running", self.name));
        let all_stopped = || -> bool {
            let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return false };
            tasks.flatten().all(|t| {
                std::fs::read_to_string(t.path().join("stat"))
                    .ok()
                    .and_then(|s| s.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next()))
                    .is_some_and(|state| state == 'T' || state == 't')
            })
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !all_stopped() {
            assert!(Instant::now() < deadline, "{} did not stop within 10 s of SIGSTOP", self.name);
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// SIGCONT after [`WeirProcess::pause`].
    pub fn resume(&mut self) -> Result<(), String> {
        self.signal(libc::SIGCONT)?;
        self.paused = false;
        Ok(())
    }

    fn lines(&self) -> &Lines {
        self.lines.as_ref().unwrap_or_else(|| panic!("{}: output is not captured", self.name))
    }

    /// Waits (blocking, until `timeout`) for the listening line of captured
    /// output; returns the address and when the line arrived.
    pub fn wait_listening(&mut self, timeout: Duration) -> Result<(String, Instant), NotListening> {
        let lines = self.lines.as_mut().unwrap_or_else(|| panic!("{}: output is not captured", self.name));
        if let Some(l) = &lines.listening {
            return Ok(l.clone());
        }
        match lines.ready.recv_timeout(timeout) {
            Ok(l) => {
                lines.listening = Some(l.clone());
                Ok(l)
            }
            Err(mpsc::RecvTimeoutError::Timeout) => Err(NotListening::Timeout),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // The output ended: the process is gone (or going).
                let mut status = "output closed".to_string();
                for _ in 0..20 {
                    if let Some(s) = self.try_exit() {
                        status = s.to_string();
                        break;
                    }
                    thread::sleep(Duration::from_millis(50));
                }
                Err(NotListening::Exited(status))
            }
        }
    }

    /// Turns forwarding of captured lines to our stderr on or off.
    pub fn set_forward(&self, on: bool) {
        self.lines().forward.store(on, Ordering::Relaxed);
    }

    /// Waits (bounded) until the reader has seen the end of the captured
    /// output of this exited process, so its last lines are in; `false` if
    /// it did not end in time.
    pub fn drain_output(&self, timeout: Duration) -> bool {
        self.lines().done.recv_timeout(timeout).is_ok()
    }

    /// Captured lines with their arrival times.
    pub fn with_lines<T>(&self, f: impl FnOnce(&[(Instant, String)]) -> T) -> T {
        let lines = self.lines().lines.lock().unwrap_or_else(|e| e.into_inner());
        f(&lines)
    }

    /// Captured lines containing `needle`.
    pub fn lines_containing(&self, needle: &str) -> Vec<String> {
        self.with_lines(|ls| ls.iter().filter(|(_, l)| l.contains(needle)).map(|(_, l)| l.clone()).collect())
    }

    /// The last `n` captured lines.
    pub fn tail(&self, n: usize) -> Vec<String> {
        self.with_lines(|ls| ls[ls.len().saturating_sub(n)..].iter().map(|(_, l)| l.clone()).collect())
    }
}

impl Drop for WeirProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}
