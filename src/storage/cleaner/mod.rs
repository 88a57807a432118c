//! The log cleaner (Kafka's `LogCleaner`): background threads that compact
//! logs with `cleanup.policy=compact` (or `compact,delete`), keeping the
//! latest record of each key at its original offset and, after
//! `delete.retention.ms`, dropping tombstones.
//!
//! Each of `log.cleaner.threads` threads loops: pick the dirtiest log
//! ([`manager`]), clean it ([`clean`]) and advance its
//! `cleaner-offset-checkpoint` ([`checkpoints`]); with nothing to clean,
//! sleep `log.cleaner.backoff.ms`. A log is never cleaned by two threads at
//! once. The cleaner runs on every replica's local log, leader or follower,
//! independently (as Kafka's does); cleaned segments only ever drop records
//! below the high watermark, and offsets never change, so replicas stay
//! consistent for fetches and epochs.
//!
//! Where this sits: the log lock is held only to snapshot a log and to swap
//! cleaned segments in ([`swap`]); reading, filtering ([`filter`]) and
//! writing ([`writer`]) run without it. Retention (`compact,delete`) stays
//! with the log manager's retention task, which runs for every log.
//!
//! Broker configs: `log.cleaner.enable`, `log.cleaner.threads`,
//! `log.cleaner.backoff.ms`, `log.cleaner.dedupe.buffer.size`,
//! `log.cleaner.io.buffer.load.factor`, `log.cleaner.io.buffer.size`,
//! `log.cleaner.io.max.bytes.per.second`; the others are defaults of topic
//! configs (`min.cleanable.dirty.ratio`, `min.compaction.lag.ms`,
//! `max.compaction.lag.ms`, `delete.retention.ms`). Everything but the
//! thread count applies live from the dynamic broker configs.

pub mod checkpoints;
pub mod clean;
pub mod codec;
pub mod filter;
pub mod manager;
pub mod offset_map;
pub mod swap;
pub mod throttler;
pub mod writer;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::config::BrokerConfig;

use super::log_manager::{LogManager, SharedLog};
use super::{StorageError, TopicPartition};
use crate::util::clock::now_ms;

use clean::{CleanOutcome, Cleaner};
use manager::{LogSnapshot, LogToClean};
use offset_map::OffsetMap;
use throttler::Throttler;

/// The cleaner's broker configuration (Kafka's `CleanerConfig`).
#[derive(Debug, Clone, PartialEq)]
pub struct CleanerConfig {
    pub enable: bool,
    pub threads: usize,
    /// Memory for the offset maps of all threads together.
    pub dedupe_buffer_size: u64,
    pub dedupe_buffer_load_factor: f64,
    /// Read and write buffer size of all threads together.
    pub io_buffer_size: usize,
    pub io_max_bytes_per_second: f64,
    pub backoff_ms: u64,
}

impl CleanerConfig {
    pub fn from_broker(c: &BrokerConfig) -> Self {
        CleanerConfig {
            enable: c.bool("log.cleaner.enable"),
            threads: c.int("log.cleaner.threads").max(0) as usize,
            dedupe_buffer_size: c.long("log.cleaner.dedupe.buffer.size").max(0) as u64,
            dedupe_buffer_load_factor: c.double("log.cleaner.io.buffer.load.factor", 0.9),
            io_buffer_size: c.int("log.cleaner.io.buffer.size").max(0) as usize,
            io_max_bytes_per_second: c.double("log.cleaner.io.max.bytes.per.second", f64::MAX),
            backoff_ms: c.long("log.cleaner.backoff.ms").max(0) as u64,
        }
    }

    /// Offset map memory of one thread (Kafka caps it at 2 GiB).
    fn map_memory_per_thread(&self) -> usize {
        (self.dedupe_buffer_size / self.threads.max(1) as u64).min(i32::MAX as u64) as usize
    }

    fn io_buffer_per_thread(&self) -> usize {
        self.io_buffer_size / self.threads.max(1) / 2
    }
}

/// A stop flag the cleaner threads can sleep on.
#[derive(Debug, Default)]
pub struct StopSignal {
    stopped: Mutex<bool>,
    cond: Condvar,
}

impl StopSignal {
    pub fn stop(&self) {
        *self.stopped.lock().expect("stop signal") = true;
        self.cond.notify_all();
    }

    pub fn is_stopped(&self) -> bool {
        *self.stopped.lock().expect("stop signal")
    }

    /// Sleeps up to `timeout`, returning early (true) once stopped.
    pub fn wait(&self, timeout: Duration) -> bool {
        let guard = self.stopped.lock().expect("stop signal");
        let (guard, _) = self.cond.wait_timeout_while(guard, timeout, |stopped| !*stopped).expect("stop signal");
        *guard
    }
}

type ConfigFn = dyn Fn() -> CleanerConfig + Send + Sync;

/// Which logs are being cleaned, and which failed (Kafka's in-progress and
/// uncleanable partition sets). A failed log is skipped while it is the
/// same log instance (until it is deleted and recreated, or a restart).
#[derive(Default)]
struct CleaningState {
    in_progress: HashSet<TopicPartition>,
    uncleanable: HashMap<TopicPartition, usize>,
}

struct Shared {
    log_manager: Arc<LogManager>,
    config: Box<ConfigFn>,
    stop: Arc<StopSignal>,
    throttler: Arc<Throttler>,
    state: Mutex<CleaningState>,
    rounds: AtomicU64,
}

/// The running cleaner threads; [`LogCleaner::shutdown`] stops them.
pub struct LogCleaner {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

fn log_identity(log: &SharedLog) -> usize {
    Arc::as_ptr(log) as usize
}

impl LogCleaner {
    /// Starts `log.cleaner.threads` threads (none when disabled). `config`
    /// is read at every round, so dynamic broker configs apply live.
    pub fn start(log_manager: Arc<LogManager>, config: impl Fn() -> CleanerConfig + Send + Sync + 'static) -> Self {
        let initial = config();
        let shared = Arc::new(Shared {
            log_manager,
            throttler: Arc::new(Throttler::new(initial.io_max_bytes_per_second)),
            config: Box::new(config),
            stop: Arc::new(StopSignal::default()),
            state: Mutex::new(CleaningState::default()),
            rounds: AtomicU64::new(0),
        });
        let count = if initial.enable { initial.threads } else { 0 };
        let threads = (0..count)
            .map(|id| {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("weir-log-cleaner-{id}"))
                    .spawn(move || shared.run(id))
                    .expect("spawn log cleaner thread")
            })
            .collect();
        if count > 0 {
            tracing::info!(threads = count, "log cleaner started");
        }
        LogCleaner { shared, threads }
    }

    /// Rounds completed by all threads (cleaned logs), for tests and metrics.
    pub fn rounds_completed(&self) -> u64 {
        self.shared.rounds.load(Ordering::Acquire)
    }

    /// Stops the threads: a round in progress is abandoned at its next batch
    /// (its `.cleaned` files removed), nothing half-swapped.
    pub fn shutdown(mut self) {
        self.shared.stop.stop();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for LogCleaner {
    fn drop(&mut self) {
        self.shared.stop.stop();
    }
}

impl Shared {
    fn run(&self, id: usize) {
        let cfg = (self.config)();
        let mut cleaner = Cleaner::new(
            OffsetMap::new(cfg.map_memory_per_thread(), cfg.dedupe_buffer_load_factor),
            cfg.io_buffer_per_thread(),
            self.throttler.clone(),
            self.stop.clone(),
        );
        let mut applied = cfg;
        while !self.stop.is_stopped() {
            let cfg = (self.config)();
            if cfg != applied {
                self.throttler.set_rate(cfg.io_max_bytes_per_second);
                cleaner.map.set_budget(cfg.map_memory_per_thread(), cfg.dedupe_buffer_load_factor);
                cleaner.set_io_buffer_size(cfg.io_buffer_per_thread());
                applied = cfg.clone();
            }
            let cleaned = self.clean_filthiest_log(&mut cleaner, id);
            if !cleaned {
                self.stop.wait(Duration::from_millis(cfg.backoff_ms.max(1)));
            }
        }
    }

    /// Kafka's `grabFilthiestCompactedLog` + `cleanLog`. True when a log
    /// was cleaned (look again at once), false to back off.
    fn clean_filthiest_log(&self, cleaner: &mut Cleaner, id: usize) -> bool {
        let now = now_ms();
        let Some((ltc, log)) = self.grab_filthiest(now) else {
            return false;
        };
        let tp = ltc.snapshot.tp.clone();
        let lm = &self.log_manager;
        let still_live = || lm.get(&tp).is_some_and(|(_, l)| Arc::ptr_eq(&l, &log));
        let result = cleaner.clean(&ltc, &log, &still_live, now);
        self.state.lock().expect("cleaner state").in_progress.remove(&tp);
        let log_dir = ltc.snapshot.dir.parent().unwrap_or(Path::new("")).to_path_buf();
        // Kafka's cleaner takes the directory offline on an i/o error too.
        let result = lm.failure_channel().check(&log_dir, &format_args!("clean the log of {tp}"), result);
        match result {
            Ok(CleanOutcome::Cleaned { end_offset, stats }) => {
                let written = lm.cleaner_checkpoints().update(&log_dir, &tp, end_offset);
                if let Err(e) = lm.failure_channel().check(&log_dir, &"write the cleaner checkpoint", written) {
                    tracing::error!(partition = %tp, error = %e, "writing the cleaner checkpoint");
                }
                self.rounds.fetch_add(1, Ordering::AcqRel);
                log_stats(id, &tp, ltc.first_dirty_offset, end_offset, &stats);
                true
            }
            Ok(CleanOutcome::Aborted(reason)) => {
                tracing::info!(partition = %tp, reason, "log cleaning abandoned");
                false
            }
            Err(e @ StorageError::LogDirOffline { .. }) => {
                tracing::info!(partition = %tp, error = %e, "log cleaning stopped: the log directory failed");
                false
            }
            Err(e) => {
                let changed = log.lock().expect("log lock").truncation_count() != ltc.snapshot.truncations;
                if changed || !still_live() {
                    tracing::info!(partition = %tp, error = %e, "log cleaning abandoned: the log changed");
                } else {
                    tracing::warn!(partition = %tp, error = %e, "unexpected error cleaning the log; marking it uncleanable");
                    self.state.lock().expect("cleaner state").uncleanable.insert(tp, log_identity(&log));
                }
                false
            }
        }
    }

    /// Snapshots every compacted log not being cleaned and picks the one
    /// with the largest cleanable ratio among those eligible; marks it in
    /// progress.
    fn grab_filthiest(&self, now: i64) -> Option<(LogToClean, SharedLog)> {
        let checkpoints = self.log_manager.cleaner_checkpoints();
        let mut best: Option<(LogToClean, SharedLog)> = None;
        let mut new_checkpoints = Vec::new();
        for (tp, _, log) in self.log_manager.all() {
            {
                let state = self.state.lock().expect("cleaner state");
                if state.in_progress.contains(&tp) || state.uncleanable.get(&tp) == Some(&log_identity(&log)) {
                    continue;
                }
            }
            let (snapshot, truncated_to) = {
                let mut l = log.lock().expect("log lock");
                let truncated_to = l.take_lowest_truncation();
                if !l.config().cleanup_policy.compact || l.is_offline() {
                    continue;
                }
                (LogSnapshot::take(&l), truncated_to)
            };
            let log_dir = snapshot.dir.parent().unwrap_or(Path::new("")).to_path_buf();
            if let Some(offset) = truncated_to {
                if let Err(e) = checkpoints.truncate(&log_dir, &tp, offset) {
                    tracing::error!(partition = %tp, error = %e, "writing the cleaner checkpoint");
                }
            }
            let last_clean = checkpoints.get(&log_dir, &tp);
            let offsets = manager::cleanable_offsets(&snapshot, last_clean, now);
            // Also records every compacted log (see `checkpoints`).
            if offsets.force_update_checkpoint || last_clean.is_none() {
                new_checkpoints.push((log_dir.clone(), tp.clone(), offsets.first_dirty_offset));
            }
            let delay = manager::max_compaction_delay(&snapshot, offsets.first_dirty_offset, now);
            let ltc = LogToClean::new(
                snapshot,
                offsets.first_dirty_offset,
                offsets.first_uncleanable_dirty_offset,
                delay > 0,
            );
            tracing::trace!(
                partition = %tp,
                first_dirty = ltc.first_dirty_offset,
                first_uncleanable = ltc.first_uncleanable_offset,
                clean_bytes = ltc.clean_bytes,
                cleanable_bytes = ltc.cleanable_bytes,
                "cleanable ratio {:.3}",
                ltc.cleanable_ratio()
            );
            if ltc.total_bytes() == 0 || !ltc.is_cleanable() {
                continue;
            }
            if best.as_ref().is_none_or(|(b, _)| ltc.cleanable_ratio() > b.cleanable_ratio()) {
                best = Some((ltc, log));
            }
        }
        if let Err(e) = checkpoints.update_many(&new_checkpoints) {
            tracing::error!(error = %e, "writing the cleaner checkpoint");
        }
        let (ltc, log) = best?;
        let mut state = self.state.lock().expect("cleaner state");
        // Another thread may have taken it meanwhile.
        if !state.in_progress.insert(ltc.snapshot.tp.clone()) {
            return None;
        }
        Some((ltc, log))
    }
}

fn log_stats(id: usize, tp: &TopicPartition, from: i64, to: i64, s: &clean::CleanerStats) {
    let mb = |b: u64| b as f64 / (1024.0 * 1024.0);
    let f = &s.filter;
    tracing::info!(
        "log cleaner thread {id} cleaned log {tp} (dirty section = [{from}, {to}]): \
         {:.1} MB of log processed in {:.1} seconds; indexed {:.1} MB in {:.1} seconds, buffer utilization {:.1}%; \
         start size {:.1} MB ({} messages), end size {:.1} MB ({} messages), {:.1}% size reduction; \
         {} segments rewritten into {}",
        mb(f.bytes_read),
        s.elapsed_secs,
        mb(s.map_bytes_read),
        s.elapsed_map_secs,
        100.0 * s.buffer_utilization,
        mb(f.bytes_read),
        f.messages_read,
        mb(f.bytes_retained),
        f.messages_retained,
        if f.bytes_read > 0 { 100.0 * (1.0 - f.bytes_retained as f64 / f.bytes_read as f64) } else { 0.0 },
        s.segments_replaced,
        s.cleaned_segments,
    );
    if f.invalid_messages > 0 {
        tracing::warn!(partition = %tp, count = f.invalid_messages, "found keyless messages during compaction");
    }
}
