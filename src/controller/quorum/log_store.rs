//! The durable Raft log of the metadata quorum: one Kafka-format record
//! batch per Raft entry in `<metadata.log.dir>/__cluster_metadata-0`
//! (offset = entry index, partition leader epoch = term, value = the entry
//! as JSON), fsynced before Raft is told an append is durable; the vote,
//! commit point and purge point live in `quorum-state` beside it, written
//! atomically. Entries are also kept in memory for replication reads (the
//! log is bounded by snapshots).
//!
//! Failures are said in plain words, naming the directory: a log that
//! cannot be read at start-up stops the node with what is wrong and what to
//! do ([`LogStore::open`]); a write that fails while running stops the node
//! too, as Kafka halts a broker whose metadata log directory failed
//! ([`metadata_log_failed`]), instead of leaving a Raft engine that answers
//! every request with its internal storage error.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{LogState, RaftLogReader, StorageError, StorageIOError, Vote};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::config::{BrokerConfig, LogConfig};
use crate::metadata::METADATA_TOPIC;
use crate::record::batch::BatchIter;
use crate::record::records::{decode_records, BatchBuilder, Record};
use crate::storage::checkpoint;
use crate::storage::flusher::Flusher;
use crate::storage::partition_log::{LoadHints, PartitionLog, ReadLimits};
use crate::storage::TopicPartition;
use crate::util::clock::now_ms;

use super::{Entry, LogId, TypeConfig};

const QUORUM_STATE: &str = "quorum-state";

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct QuorumState {
    vote: Option<Vote<u64>>,
    committed: Option<LogId>,
    last_purged: Option<LogId>,
}

struct Inner {
    log: PartitionLog,
    entries: BTreeMap<u64, Entry>,
    state: QuorumState,
    state_path: PathBuf,
}

#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<Inner>>,
}

fn io_err(e: impl std::error::Error + 'static) -> StorageError<u64> {
    StorageIOError::write_logs(&e).into()
}

/// A write to the metadata log failed (a full or failing disk): as Kafka
/// does when its metadata log directory fails, the node stops, saying so.
/// Raft state cannot be trusted after a failed write, and a node that kept
/// running would only answer with an internal storage error.
pub fn metadata_log_failed(dir: &Path, what: &str, e: &dyn std::fmt::Display) -> ! {
    tracing::error!(
        "shutting down: the metadata log in {} cannot be written ({what}: {e}). This node cannot take part in \
         the metadata quorum without it. Free space or replace the disk, then restart the node; the log is \
         recovered from what reached the disk.",
        dir.display()
    );
    eprintln!("weir: shutting down: the metadata log in {} cannot be written ({what}: {e})", dir.display());
    std::process::exit(1)
}

/// The plain-words error of a metadata log that cannot be read at start-up.
fn unreadable(path: &Path, cause: &dyn std::fmt::Display) -> crate::storage::StorageError {
    crate::storage::StorageError::CorruptFile(format!(
        "{}: the metadata log is damaged and cannot be read: {cause}. This node cannot rejoin the controller \
         quorum with it: restore the directory from a backup, or replace this node's metadata log with a copy \
         from a healthy controller",
        path.display()
    ))
}

impl LogStore {
    /// Opens (or creates) the log in `dir` and reads every entry.
    /// `snapshot_index` is the last index the state machine's snapshot
    /// covers: entries after it up to the committed index must be here.
    pub fn open(
        dir: &Path,
        broker: &BrokerConfig,
        flusher: Arc<Flusher>,
        snapshot_index: Option<u64>,
    ) -> Result<Self, crate::storage::StorageError> {
        let path = dir.join(TopicPartition::new(METADATA_TOPIC, 0).dir_name());
        Self::read(dir, broker, flusher, snapshot_index).map_err(|e| match e {
            // Already in plain words (committed entries lost).
            e @ crate::storage::StorageError::CorruptFile(_)
                if e.to_string().contains("the metadata log is damaged") =>
            {
                e
            }
            e => unreadable(&path, &e),
        })
    }

    fn read(
        dir: &Path,
        broker: &BrokerConfig,
        flusher: Arc<Flusher>,
        snapshot_index: Option<u64>,
    ) -> Result<Self, crate::storage::StorageError> {
        let tp = TopicPartition::new(METADATA_TOPIC, 0);
        let path = dir.join(tp.dir_name());
        let config = Arc::new(LogConfig::resolve(broker, &Default::default()));
        let mut log = if path.exists() {
            PartitionLog::load(&path, tp, config, flusher, LoadHints::default())?
        } else {
            PartitionLog::create(&path, tp, checkpoint::random_kafka_uuid(), config, flusher)?
        };
        let end = log.log_end_offset();
        log.set_high_watermark(end);
        let state_path = path.join(QUORUM_STATE);
        let state: QuorumState = match std::fs::read(&state_path) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| crate::storage::StorageError::CorruptFile(format!("{}: {e}", state_path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => QuorumState::default(),
            Err(e) => return Err(crate::storage::StorageError::io(state_path.display().to_string(), e)),
        };
        let mut entries = BTreeMap::new();
        let mut offset = log.log_start_offset();
        while offset < end {
            let limits = ReadLimits { max_bytes: 8 << 20, max_offset: end, min_one_batch: true };
            let Some(plan) = log.read_plan(offset, limits)? else { break };
            let bytes = plan.read()?;
            if bytes.is_empty() {
                break;
            }
            for item in BatchIter::new(&bytes, true) {
                let (_, view) = item.map_err(crate::storage::StorageError::Corrupt)?;
                for r in
                    decode_records(&view).map_err(|e| crate::storage::StorageError::CorruptRecords(e.to_string()))?
                {
                    let entry: Entry = serde_json::from_slice(&r.value.unwrap_or_default()).map_err(|e| {
                        crate::storage::StorageError::CorruptFile(format!("raft entry at {}: {e}", r.offset))
                    })?;
                    entries.insert(r.offset as u64, entry);
                }
                offset = view.next_offset();
            }
        }
        check_survived_recovery(&path, &state, &entries, snapshot_index)?;
        Ok(LogStore { inner: Arc::new(Mutex::new(Inner { log, entries, state, state_path })) })
    }

    /// Entries from `from` (inclusive) on, for serving followers' fetches.
    pub async fn entries_from(&self, from: u64) -> Vec<Entry> {
        self.inner.lock().await.entries.range(from..).map(|(_, e)| e.clone()).collect()
    }

    pub async fn close(&self) {
        let mut inner = self.inner.lock().await;
        if let Err(e) = inner.log.close() {
            tracing::error!(error = %e, "closing metadata log");
        }
    }
}

/// A log that lost committed entries the state machine still has to
/// apply (recovery cut a damaged segment) cannot rejoin the quorum: the
/// Raft engine would only report that it failed to read an index. Say what
/// happened, in plain words, instead.
fn check_survived_recovery(
    path: &Path,
    state: &QuorumState,
    entries: &BTreeMap<u64, Entry>,
    snapshot_index: Option<u64>,
) -> Result<(), crate::storage::StorageError> {
    let Some(committed) = state.committed else { return Ok(()) };
    let covered = [entries.keys().next_back().copied(), state.last_purged.map(|l| l.index), snapshot_index]
        .into_iter()
        .flatten()
        .max();
    if covered.is_some_and(|c| c >= committed.index) {
        return Ok(());
    }
    let survived = match (entries.keys().next(), entries.keys().next_back()) {
        (Some(first), Some(last)) => format!("only entries {first} to {last} survived"),
        _ => "no entry survived".to_string(),
    };
    Err(crate::storage::StorageError::CorruptFile(format!(
        "{}: the metadata log is damaged: entries up to index {} were committed, but recovery found \
         unreadable data and {survived}. This node cannot rejoin the controller quorum with it: restore the \
         directory from a backup, or replace this node's metadata log with a copy from a healthy controller",
        path.display(),
        committed.index
    )))
}

impl Inner {
    // openraft's StorageError is what the trait methods return; boxing it
    // here would only move the size elsewhere.
    #[allow(clippy::result_large_err)]
    fn save_state(&self) -> Result<(), StorageError<u64>> {
        let bytes = serde_json::to_vec(&self.state).map_err(io_err)?;
        checkpoint::write_atomic(&self.state_path, &bytes).unwrap_or_else(|e| self.failed("write quorum-state", &e));
        Ok(())
    }

    /// Stops the node: a write to the metadata log failed.
    fn failed(&self, what: &str, e: &dyn std::fmt::Display) -> ! {
        metadata_log_failed(self.state_path.parent().unwrap_or(&self.state_path), what, e)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError<u64>> {
        let inner = self.inner.lock().await;
        Ok(inner.entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<u64>> {
        let inner = self.inner.lock().await;
        let last = inner.entries.values().next_back().map(|e| e.log_id).or(inner.state.last_purged);
        Ok(LogState { last_purged_log_id: inner.state.last_purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError<u64>> {
        let mut inner = self.inner.lock().await;
        inner.state.vote = Some(*vote);
        inner.save_state()
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError<u64>> {
        Ok(self.inner.lock().await.state.vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError<u64>> {
        let mut inner = self.inner.lock().await;
        inner.state.committed = committed;
        inner.save_state()
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError<u64>> {
        Ok(self.inner.lock().await.state.committed)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError<u64>>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut inner = self.inner.lock().await;
        let now = now_ms();
        for entry in entries {
            let index = entry.log_id.index as i64;
            let end = inner.log.log_end_offset();
            if index > end {
                // After a snapshot install the log restarts past it.
                if let Err(e) = inner.log.truncate_fully_and_start_at(index) {
                    inner.failed("truncate", &e);
                }
            } else if index < end {
                if let Err(e) = inner.log.truncate_to(index) {
                    inner.failed("truncate", &e);
                }
            }
            let value = serde_json::to_vec(&entry).map_err(io_err)?;
            let mut b = BatchBuilder::new(0, now);
            b.push(Record::new(None, Some(value), now));
            if let Err(e) = inner.log.append_internal(&b.build(), entry.log_id.leader_id.term as i32, now) {
                inner.failed("append", &e);
            }
            let end = inner.log.log_end_offset();
            inner.log.set_high_watermark(end);
            inner.entries.insert(entry.log_id.index, entry);
        }
        // Raft may count this append only once it is on disk.
        if let Err(e) = inner.log.flush() {
            inner.failed("fsync", &e);
        }
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError<u64>> {
        let mut inner = self.inner.lock().await;
        if let Err(e) = inner.log.truncate_to(log_id.index as i64).and_then(|_| inner.log.flush()) {
            inner.failed("truncate", &e);
        }
        let doomed: Vec<u64> = inner.entries.range(log_id.index..).map(|(k, _)| *k).collect();
        for k in doomed {
            inner.entries.remove(&k);
        }
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError<u64>> {
        let mut inner = self.inner.lock().await;
        inner.state.last_purged = Some(log_id);
        inner.save_state()?;
        let keep_from = log_id.index + 1;
        let doomed: Vec<u64> = inner.entries.range(..keep_from).map(|(k, _)| *k).collect();
        for k in doomed {
            inner.entries.remove(&k);
        }
        let end = inner.log.log_end_offset();
        let purged = if (keep_from as i64) > end {
            inner.log.truncate_fully_and_start_at(keep_from as i64)
        } else {
            inner.log.increment_log_start_offset(keep_from as i64).map(|_| ())
        };
        if let Err(e) = purged {
            inner.failed("purge", &e);
        }
        Ok(())
    }
}
