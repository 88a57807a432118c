//! `LogManager`: the log directories and every partition log in them.
//! Locks each directory, keeps `meta.properties`, loads (recovering after
//! an unclean stop) all partition logs at start-up, creates and deletes
//! logs, writes the per-directory offset checkpoints, and on shutdown
//! closes every log and leaves the clean-shutdown marker. It also holds the
//! log cleaner's checkpoints (`cleaner-offset-checkpoint`), which the
//! cleaner advances and which tell loading which logs may have offset gaps.
//!
//! Like Kafka's `LogManager`, it schedules its own periodic duties
//! ([`LogManager::start_background_tasks`]: `flush.ms`, offset checkpoints,
//! retention, and the log cleaner's threads); the composition root starts
//! them once the broker has caught up with the metadata log, and
//! [`LogManager::close`] stops them before closing the logs.
//!
//! It owns the broker's [`LogDirFailureChannel`]: every log reports its
//! i/o errors there, and a failed directory is skipped from then on (no
//! new partitions, checkpoints or clean-shutdown marker go to it) until the
//! broker restarts.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::{BrokerConfig, LogConfig};
use crate::util::clock::now_ms;

use super::checkpoint::{self, MetaProperties};
use super::cleaner::checkpoints::CleanerCheckpoints;
use super::cleaner::{CleanerConfig, LogCleaner};
use super::flusher::Flusher;
use super::log_dir_failure::LogDirFailureChannel;
use super::partition_log::{LoadHints, PartitionLog};
use super::{Result, StorageError, TopicPartition};

/// A loaded log and the topic id recorded in its directory.
pub type SharedLog = Arc<Mutex<PartitionLog>>;

pub struct LogManager {
    dirs: Vec<PathBuf>,
    /// Exclusive locks on the log directories, released by `shutdown`.
    locks: Mutex<Vec<File>>,
    logs: RwLock<HashMap<TopicPartition, (Uuid, SharedLog)>>,
    flusher: Arc<Flusher>,
    node_id: i32,
    /// From meta.properties, or learned from the metadata log.
    cluster_id: Mutex<Option<String>>,
    /// Names of internal directories (the metadata log) not to load.
    reserved: Vec<String>,
    cleaner_checkpoints: Arc<CleanerCheckpoints>,
    /// The broker epoch every log dir's clean-shutdown marker named at
    /// start-up (Kafka's `readBrokerEpochFromCleanShutdownFiles`): None
    /// unless every dir had a readable marker, all with the same epoch.
    previous_broker_epoch: Option<i64>,
    /// The broker epoch to record in the markers at a clean shutdown.
    broker_epoch: std::sync::atomic::AtomicI64,
    /// Which directories have failed (Kafka's `LogDirFailureChannel`).
    failure: Arc<LogDirFailureChannel>,
}

/// What [`LogManager::start_background_tasks`] started that must be stopped
/// before the logs close: the log cleaner's threads. The composition root
/// keeps it and hands it back to [`LogManager::close`].
pub struct LogManagerTasks {
    cleaner: Option<LogCleaner>,
}

fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join(".lock");
    let f = File::create(&path).map_err(|e| StorageError::io(path.display().to_string(), e))?;
    // SAFETY: flock on a file descriptor we own.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        return Err(StorageError::LogDir(format!(
            "Failed to acquire lock on file .lock in {}. A Kafka instance in another process or thread is using this directory.",
            dir.display()
        )));
    }
    Ok(f)
}

impl LogManager {
    /// Opens the log directories: checks or writes `meta.properties`, then
    /// loads every partition. `config_for` gives each topic's LogConfig.
    pub fn startup(
        dirs: &[PathBuf],
        node_id: i32,
        reserved: Vec<String>,
        config_for: impl Fn(&str) -> Arc<LogConfig> + Sync,
    ) -> Result<Self> {
        let mut locks = Vec::new();
        let mut cluster_id: Option<String> = None;
        let mut metas = Vec::new();
        for dir in dirs {
            std::fs::create_dir_all(dir).map_err(|e| StorageError::io(dir.display().to_string(), e))?;
            locks.push(lock_dir(dir)?);
            let meta = checkpoint::read_meta_properties(dir)?;
            if let Some(m) = &meta {
                if m.node_id != node_id {
                    return Err(StorageError::LogDir(format!(
                        "Stored node id {} doesn't match previous node id {node_id} in {}. If you moved your data, make sure your configured node id matches. If you intend to create a new node, you should remove all data in your data directories.",
                        m.node_id,
                        dir.display()
                    )));
                }
                match &cluster_id {
                    Some(c) if *c != m.cluster_id => {
                        return Err(StorageError::LogDir(format!(
                            "Invalid cluster.id in {}: found {}, but other directories have {c}",
                            dir.display(),
                            m.cluster_id
                        )))
                    }
                    _ => cluster_id = Some(m.cluster_id.clone()),
                }
            }
            metas.push(meta);
        }
        // meta.properties is written once the cluster id is known (from
        // the metadata log); an existing one must agree with it then.
        // Read before loading, which removes the markers.
        let epochs: Vec<Option<i64>> = dirs.iter().map(|d| checkpoint::read_clean_shutdown_epoch(d)).collect();
        let previous_broker_epoch = match epochs.first() {
            Some(Some(e)) if *e >= 0 && epochs.iter().all(|x| *x == Some(*e)) => Some(*e),
            _ => None,
        };
        let flusher = Flusher::start();
        let failure = LogDirFailureChannel::new();
        let cleaner_checkpoints = Arc::new(CleanerCheckpoints::load(dirs));
        let mut logs = HashMap::new();
        for dir in dirs {
            let loaded = Self::load_dir(dir, &reserved, &config_for, &flusher, &cleaner_checkpoints)?;
            for (_, log) in loaded.values() {
                log.lock().expect("log lock").set_failure_channel(failure.clone());
            }
            logs.extend(loaded);
        }
        // Entries of logs that are no longer there go (Kafka keeps only
        // loaded logs in the file too).
        let in_dir = |dir: &Path, tp: &TopicPartition| {
            logs.get(tp)
                .is_some_and(|(_, l): &(Uuid, SharedLog)| l.lock().expect("log lock").dir().parent() == Some(dir))
        };
        cleaner_checkpoints.retain(in_dir)?;
        Ok(LogManager {
            dirs: dirs.to_vec(),
            locks: Mutex::new(locks),
            logs: RwLock::new(logs),
            flusher,
            node_id,
            cluster_id: Mutex::new(cluster_id),
            reserved,
            cleaner_checkpoints,
            previous_broker_epoch,
            broker_epoch: std::sync::atomic::AtomicI64::new(-1),
            failure,
        })
    }

    /// The broker epoch of the last clean shutdown, if the last stop was
    /// one (sent at registration as Kafka's `PreviousBrokerEpoch`).
    pub fn previous_broker_epoch(&self) -> Option<i64> {
        self.previous_broker_epoch
    }

    /// The broker epoch of this run, written into the clean-shutdown
    /// markers so the controller can tell the next start followed a clean
    /// stop.
    pub fn set_broker_epoch(&self, epoch: i64) {
        self.broker_epoch.store(epoch, std::sync::atomic::Ordering::Release);
    }

    fn load_dir(
        dir: &Path,
        reserved: &[String],
        config_for: &(impl Fn(&str) -> Arc<LogConfig> + Sync),
        flusher: &Arc<Flusher>,
        cleaner_checkpoints: &CleanerCheckpoints,
    ) -> Result<HashMap<TopicPartition, (Uuid, SharedLog)>> {
        let marker = dir.join(checkpoint::CLEAN_SHUTDOWN_FILE);
        let clean = marker.exists();
        let recovery =
            checkpoint::read_offset_checkpoint(&dir.join(checkpoint::RECOVERY_POINT_CHECKPOINT)).unwrap_or_default();
        let starts =
            checkpoint::read_offset_checkpoint(&dir.join(checkpoint::LOG_START_OFFSET_CHECKPOINT)).unwrap_or_default();
        let hws = checkpoint::read_offset_checkpoint(&dir.join(checkpoint::REPLICATION_CHECKPOINT)).unwrap_or_default();
        let mut todo = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| StorageError::io(dir.display().to_string(), e))? {
            let entry = entry.map_err(|e| StorageError::io(dir.display().to_string(), e))?;
            if !entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if reserved.contains(&name) {
                continue;
            }
            if name.ends_with("-delete") {
                // A deletion interrupted by a stop: finish it.
                let _ = std::fs::remove_dir_all(entry.path());
                continue;
            }
            let Some(tp) = TopicPartition::from_dir_name(&name) else {
                continue;
            };
            todo.push((tp, entry.path()));
        }
        let loaded: Mutex<HashMap<TopicPartition, (Uuid, SharedLog)>> = Mutex::new(HashMap::new());
        let first_error: Mutex<Option<StorageError>> = Mutex::new(None);
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).clamp(1, 8);
        for_each_in_parallel(&todo, threads, |(tp, path)| {
            let hints = LoadHints {
                clean_shutdown: clean,
                recovery_point: recovery.get(tp).copied(),
                log_start_offset: starts.get(tp).copied(),
                high_watermark: hws.get(tp).copied(),
                offset_gaps_possible: cleaner_checkpoints.get(dir, tp).is_some(),
            };
            let topic_id = match checkpoint::read_partition_metadata(path) {
                Ok(Some(id)) => id,
                Ok(None) | Err(_) => {
                    tracing::warn!(dir = %path.display(), "partition directory without valid partition.metadata; skipping");
                    return;
                }
            };
            match PartitionLog::load(path, tp.clone(), config_for(&tp.topic), flusher.clone(), hints) {
                Ok(log) => {
                    loaded.lock().expect("load lock").insert(tp.clone(), (topic_id, Arc::new(Mutex::new(log))));
                }
                Err(e) => {
                    first_error.lock().expect("load lock").get_or_insert(e);
                }
            }
        });
        if let Some(e) = first_error.into_inner().expect("load lock") {
            return Err(e);
        }
        // A crash from here on must recover: remove the marker now.
        if clean {
            let _ = std::fs::remove_file(&marker);
        }
        let loaded = loaded.into_inner().expect("load lock");
        tracing::info!(dir = %dir.display(), partitions = loaded.len(), clean_shutdown = clean, "log directory loaded");
        Ok(loaded)
    }

    /// The cluster id found in meta.properties at start-up (if any).
    pub fn cluster_id(&self) -> Option<String> {
        self.cluster_id.lock().expect("cluster id lock").clone()
    }

    /// Records the cluster's id in every log directory's meta.properties;
    /// a directory formatted for another cluster is an error.
    pub fn ensure_cluster_id(&self, id: &str) -> Result<()> {
        let mut current = self.cluster_id.lock().expect("cluster id lock");
        if let Some(c) = current.as_deref() {
            if c != id {
                return Err(StorageError::LogDir(format!(
                    "Invalid cluster.id in meta.properties: the log directories belong to cluster {c}, but the metadata quorum's cluster is {id}"
                )));
            }
        }
        for dir in &self.dirs {
            let meta = checkpoint::read_meta_properties(dir)?;
            if meta.is_none() {
                checkpoint::write_meta_properties(
                    dir,
                    &MetaProperties {
                        cluster_id: id.to_string(),
                        node_id: self.node_id,
                        directory_id: checkpoint::random_kafka_uuid(),
                    },
                )?;
            }
        }
        *current = Some(id.to_string());
        Ok(())
    }

    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Where logs report i/o errors; says which directories failed.
    pub fn failure_channel(&self) -> &Arc<LogDirFailureChannel> {
        &self.failure
    }

    /// The log directories that have not failed.
    pub fn online_dirs(&self) -> Vec<PathBuf> {
        self.dirs.iter().filter(|d| !self.failure.is_offline(d)).cloned().collect()
    }

    pub fn flusher(&self) -> &Arc<Flusher> {
        &self.flusher
    }

    /// The log cleaner's per-directory checkpoints.
    pub fn cleaner_checkpoints(&self) -> &Arc<CleanerCheckpoints> {
        &self.cleaner_checkpoints
    }

    pub fn get(&self, tp: &TopicPartition) -> Option<(Uuid, SharedLog)> {
        self.logs.read().expect("logs lock").get(tp).cloned()
    }

    pub fn all(&self) -> Vec<(TopicPartition, Uuid, SharedLog)> {
        self.logs.read().expect("logs lock").iter().map(|(tp, (id, log))| (tp.clone(), *id, log.clone())).collect()
    }

    /// Returns the log for `tp` with `config` (the topic's, from the
    /// metadata), creating it in the least loaded directory. A log loaded
    /// at start-up (with the broker defaults, before the metadata was
    /// known) takes `config` now. A log left from an older topic with the
    /// same name is replaced.
    pub fn get_or_create(&self, tp: &TopicPartition, topic_id: Uuid, config: Arc<LogConfig>) -> Result<SharedLog> {
        if let Some((id, log)) = self.get(tp) {
            if id == topic_id {
                log.lock().expect("log lock").set_config(config);
                return Ok(log);
            }
            tracing::info!(partition = %tp, "replacing log of a deleted topic with the same name");
            self.delete(tp)?;
        }
        let mut logs = self.logs.write().expect("logs lock");
        if let Some((_, log)) = logs.get(tp) {
            return Ok(log.clone());
        }
        let Some(dir) = self.pick_dir(&logs) else {
            return Err(StorageError::LogDir(format!(
                "cannot create the log of {tp}: every log directory has failed ({})",
                self.dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
            )));
        };
        let path = dir.join(tp.dir_name());
        let created = PartitionLog::create(&path, tp.clone(), topic_id, config, self.flusher.clone());
        let mut log = self.failure.check(&dir, &format_args!("create the log of {tp}"), created)?;
        log.set_failure_channel(self.failure.clone());
        let shared = Arc::new(Mutex::new(log));
        logs.insert(tp.clone(), (topic_id, shared.clone()));
        Ok(shared)
    }

    /// The online directory holding the fewest partitions (None: every
    /// directory has failed).
    fn pick_dir(&self, logs: &HashMap<TopicPartition, (Uuid, SharedLog)>) -> Option<PathBuf> {
        let online = self.online_dirs();
        // One directory (the usual case): no need to count, which costs a
        // pass over every log per created partition.
        if online.len() <= 1 {
            return online.into_iter().next();
        }
        let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
        for (_, (_, log)) in logs.iter() {
            let dir = log.lock().expect("log lock").dir().parent().map(Path::to_path_buf).unwrap_or_default();
            if let Some(i) = self.dirs.iter().position(|d| *d == dir) {
                *counts.entry(i).or_default() += 1;
            }
        }
        (0..self.dirs.len())
            .filter(|i| !self.failure.is_offline(&self.dirs[*i]))
            .min_by_key(|i| counts.get(i).copied().unwrap_or(0))
            .map(|i| self.dirs[i].clone())
    }

    /// Removes a partition's log and its files.
    pub fn delete(&self, tp: &TopicPartition) -> Result<()> {
        let removed = self.logs.write().expect("logs lock").remove(tp);
        if removed.is_some() {
            self.cleaner_checkpoints.remove(tp)?;
        }
        if let Some((_, log)) = removed {
            let (dir, offline) = {
                let log = log.lock().expect("log lock");
                (log.dir().to_path_buf(), log.is_offline())
            };
            if offline {
                // Nothing is removed from a failed directory; a restart
                // deletes the stray log once the directory is back.
                return Ok(());
            }
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::io(dir.display().to_string(), e)),
            }
        }
        Ok(())
    }

    /// Writes recovery-point, log-start-offset and replication (high
    /// watermark) checkpoints for every online directory. A directory whose
    /// checkpoint cannot be written goes offline; the others are written.
    pub fn checkpoint(&self) -> Result<()> {
        let mut per_dir: HashMap<PathBuf, [BTreeMap<TopicPartition, i64>; 3]> = HashMap::new();
        for (tp, _, log) in self.all() {
            let log = log.lock().expect("log lock");
            if log.is_offline() {
                continue;
            }
            let dir = log.dir().parent().map(Path::to_path_buf).unwrap_or_default();
            let e = per_dir.entry(dir).or_default();
            e[0].insert(tp.clone(), log.recovery_point());
            e[1].insert(tp.clone(), log.log_start_offset());
            e[2].insert(tp, log.high_watermark());
        }
        let mut first_error = None;
        for dir in self.online_dirs() {
            let maps = per_dir.remove(&dir).unwrap_or_default();
            let written =
                checkpoint::write_offset_checkpoint(&dir.join(checkpoint::RECOVERY_POINT_CHECKPOINT), &maps[0])
                    .and_then(|_| {
                        checkpoint::write_offset_checkpoint(
                            &dir.join(checkpoint::LOG_START_OFFSET_CHECKPOINT),
                            &maps[1],
                        )
                    })
                    .and_then(|_| {
                        checkpoint::write_offset_checkpoint(&dir.join(checkpoint::REPLICATION_CHECKPOINT), &maps[2])
                    });
            if let Err(e) = self.failure.check(&dir, &"write the offset checkpoints", written) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Applies `flush.ms` to every log.
    pub fn flush_due(&self, now: i64) {
        for (tp, _, log) in self.all() {
            let mut log = log.lock().expect("log lock");
            if log.is_offline() {
                continue;
            }
            if let Err(e) = log.flush_if_due(now) {
                tracing::error!(partition = %tp, error = %e, "scheduled flush failed");
            }
        }
    }

    /// Applies retention to every log (`log.retention.check.interval.ms`).
    pub fn delete_old_segments(&self, now: i64) -> usize {
        let mut total = 0;
        for (tp, _, log) in self.all() {
            let mut log = log.lock().expect("log lock");
            if log.is_offline() {
                continue;
            }
            match log.delete_old_segments(now) {
                Ok(n) => total += n,
                Err(e) => tracing::error!(partition = %tp, error = %e, "retention failed"),
            }
        }
        total
    }

    /// Starts the periodic storage duties, as Kafka's `LogManager.startup`
    /// schedules them: `flush.ms`, offset checkpoints
    /// (`log.flush.offset.checkpoint.interval.ms`) and retention
    /// (`log.retention.check.interval.ms`) on one tokio task that runs each
    /// pass on a blocking thread until `shutdown`; and the log cleaner's
    /// threads (`log.cleaner.enable`), which read `cleaner_config` (the
    /// dynamic broker configs) live. `after_retention` runs after each
    /// retention pass: deleted segments may move a log start offset, and the
    /// replica layer above lets clients see it at once (storage cannot name
    /// the replica layer, so it is handed in).
    pub fn start_background_tasks(
        self: &Arc<Self>,
        config: &BrokerConfig,
        cleaner_config: impl Fn() -> CleanerConfig + Send + Sync + 'static,
        after_retention: impl Fn() + Send + Sync + 'static,
        shutdown: CancellationToken,
    ) -> LogManagerTasks {
        let cleaner =
            CleanerConfig::from_broker(config).enable.then(|| LogCleaner::start(self.clone(), cleaner_config));
        let log_manager = self.clone();
        let after_retention = Arc::new(after_retention);
        let checkpoint_every = Duration::from_millis(config.log_flush_offset_checkpoint_interval_ms.max(1000));
        let retention_every = Duration::from_millis(config.log_retention_check_interval_ms.max(1));
        tokio::spawn(async move {
            let tick_every = retention_every.min(Duration::from_millis(1000));
            let mut tick = tokio::time::interval(tick_every);
            let mut last_checkpoint = tokio::time::Instant::now();
            let mut last_retention = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let lm = log_manager.clone();
                let after_retention = after_retention.clone();
                let checkpoint_due = last_checkpoint.elapsed() >= checkpoint_every;
                let retention_due = last_retention.elapsed() >= retention_every;
                let _ = tokio::task::spawn_blocking(move || {
                    let now = now_ms();
                    lm.flush_due(now);
                    if retention_due {
                        lm.delete_old_segments(now);
                        after_retention();
                    }
                    if checkpoint_due {
                        if let Err(e) = lm.checkpoint() {
                            tracing::error!(error = %e, "writing checkpoints");
                        }
                    }
                })
                .await;
                if checkpoint_due {
                    last_checkpoint = tokio::time::Instant::now();
                }
                if retention_due {
                    last_retention = tokio::time::Instant::now();
                }
            }
        });
        LogManagerTasks { cleaner }
    }

    /// Clean shutdown from async code: stop the cleaner (if `tasks` started
    /// one), then [`LogManager::shutdown`] (flush, checkpoints, marker),
    /// each on a blocking thread.
    pub async fn close(self: &Arc<Self>, tasks: Option<LogManagerTasks>) {
        if let Some(cleaner) = tasks.and_then(|t| t.cleaner) {
            let _ = tokio::task::spawn_blocking(move || cleaner.shutdown()).await;
        }
        let lm = self.clone();
        match tokio::task::spawn_blocking(move || lm.shutdown()).await {
            Ok(Ok(())) => tracing::info!("log manager shut down cleanly"),
            Ok(Err(e)) => tracing::error!(error = %e, "log manager shutdown"),
            Err(e) => tracing::error!(error = %e, "log manager shutdown task"),
        }
    }

    /// Clean shutdown: close every log, checkpoint, leave the marker.
    pub fn shutdown(&self) -> Result<()> {
        let failed = std::sync::atomic::AtomicBool::new(false);
        // Closing is mostly waiting for fsyncs, so threads help even on few
        // cores (Kafka closes logs on its recovery threads too).
        for_each_in_parallel(&self.all(), SHUTDOWN_THREADS, |(tp, _, log)| {
            let mut log = log.lock().expect("log lock");
            if log.is_offline() {
                // A failed directory is left as it is: the next start
                // recovers its logs (it gets no clean-shutdown marker).
                return;
            }
            if let Err(e) = log.close() {
                tracing::error!(partition = %tp, error = %e, "closing log");
                failed.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        });
        let failed = failed.into_inner();
        self.flusher.shutdown();
        self.checkpoint()?;
        if !failed {
            for dir in &self.online_dirs() {
                checkpoint::write_atomic(
                    &dir.join(checkpoint::CLEAN_SHUTDOWN_FILE),
                    &checkpoint::clean_shutdown_contents(self.broker_epoch.load(std::sync::atomic::Ordering::Acquire)),
                )?;
            }
        }
        // The directories may be opened again (by a restart in this process).
        self.locks.lock().expect("locks").clear();
        Ok(())
    }

    pub fn reserved(&self) -> &[String] {
        &self.reserved
    }
}

/// Threads closing logs at shutdown.
const SHUTDOWN_THREADS: usize = 8;

/// Runs `f` on every item, spread over `threads` scoped threads.
fn for_each_in_parallel<T: Sync>(items: &[T], threads: usize, f: impl Fn(&T) + Sync) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads.min(items.len()).max(1) {
            s.spawn(|| {
                while let Some(item) = items.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
                    f(item);
                }
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::records::{BatchBuilder, Record};

    #[test]
    fn a_failed_dir_gets_no_new_partitions_no_writes_and_no_checkpoints() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let dirs = vec![a.path().to_path_buf(), b.path().to_path_buf()];
        let config = Arc::new(LogConfig::resolve(&BrokerConfig::default(), &Default::default()));
        let lm = LogManager::startup(&dirs, 1, Vec::new(), |_| config.clone()).unwrap();
        let (t0, t1, t2) = (TopicPartition::new("t", 0), TopicPartition::new("t", 1), TopicPartition::new("t", 2));
        let log0 = lm.get_or_create(&t0, Uuid::new_v4(), config.clone()).unwrap();
        assert!(a.path().join("t-0").is_dir(), "the first partition goes to the first directory");
        lm.failure_channel().mark_offline(a.path(), "test: the disk is gone");
        let batch = || {
            let mut b = BatchBuilder::new(0, 0);
            b.push(Record::new(None, Some(b"v".to_vec()), 0));
            b.build()
        };
        let err = log0.lock().unwrap().append_internal(&batch(), 0, 0).unwrap_err();
        assert!(matches!(err, StorageError::LogDirOffline { .. }), "{err}");
        let log1 = lm.get_or_create(&t1, Uuid::new_v4(), config.clone()).unwrap();
        assert!(b.path().join("t-1").is_dir(), "new partitions go to a healthy directory");
        log1.lock().unwrap().append_internal(&batch(), 0, 0).unwrap();
        lm.checkpoint().unwrap();
        assert!(b.path().join(checkpoint::RECOVERY_POINT_CHECKPOINT).exists());
        assert!(!a.path().join(checkpoint::RECOVERY_POINT_CHECKPOINT).exists(), "nothing is written to a failed dir");
        lm.failure_channel().mark_offline(b.path(), "test");
        assert!(matches!(lm.get_or_create(&t2, Uuid::new_v4(), config).unwrap_err(), StorageError::LogDir(_)));
    }
}
