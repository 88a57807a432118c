//! The `__transaction_state` partitions this broker leads, their loading,
//! and the writes that make every state change durable: Kafka's
//! `TransactionStateManager`.
//!
//! Invariants: a partition is either loading (requests for its ids answer
//! COORDINATOR_LOAD_IN_PROGRESS) or loaded for one coordinator epoch (the
//! partition's leader epoch); a write is applied in memory only after it
//! is committed (high watermark past it) and only if the partition is
//! still loaded at the epoch the write was prepared under, otherwise the
//! caller gets NOT_COORDINATOR and the state stays as the log says.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::coordinator::record_schemas::{self as schema, TransactionLogKey};
use crate::record::batch::BatchIter;
use crate::record::records::{decode_records, BatchBuilder, Record};
use crate::replica::ReplicaManager;
use crate::storage::partition_log::ReadLimits;
use crate::storage::TopicPartition;
use crate::util::clock::now_ms;

use super::metadata::{TxnMetadata, TxnTransit};
use super::{partition_for, TransactionConfig, TxnError, TRANSACTION_STATE_TOPIC};

pub type TxnRef = Arc<Mutex<TxnMetadata>>;

enum Status {
    Loading,
    Loaded,
}

/// A partition this broker leads.
struct OwnedPartition {
    status: Status,
    /// The leader epoch it was loaded for: the coordinator epoch markers
    /// carry.
    coordinator_epoch: i32,
    txns: HashMap<String, TxnRef>,
}

pub struct TransactionStateManager {
    pub(super) config: TransactionConfig,
    replica_manager: Arc<ReplicaManager>,
    partitions: Mutex<HashMap<i32, OwnedPartition>>,
}

/// A transaction's state as a caller sees it: the coordinator epoch it is
/// owned under, and its metadata.
#[derive(Clone)]
pub struct EpochAndTxn {
    pub coordinator_epoch: i32,
    pub txn: TxnRef,
}

impl TransactionStateManager {
    pub fn new(config: TransactionConfig, replica_manager: Arc<ReplicaManager>) -> Self {
        TransactionStateManager { config, replica_manager, partitions: Mutex::new(HashMap::new()) }
    }

    pub fn partition_for(&self, transactional_id: &str) -> i32 {
        partition_for(transactional_id, self.config.num_partitions)
    }

    /// The id's state, or NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS
    /// (Kafka's `getTransactionState`); with `create`, a new id gets
    /// `create`'s metadata (Kafka's `putTransactionStateIfNotExists`).
    pub fn get(&self, transactional_id: &str, create: Option<TxnMetadata>) -> Result<Option<EpochAndTxn>, TxnError> {
        let p = self.partition_for(transactional_id);
        let mut parts = self.partitions.lock().expect("txn partitions lock");
        let owned = parts.get_mut(&p).ok_or(TxnError::NotCoordinator)?;
        if matches!(owned.status, Status::Loading) {
            return Err(TxnError::CoordinatorLoadInProgress);
        }
        let coordinator_epoch = owned.coordinator_epoch;
        if let Some(t) = owned.txns.get(transactional_id) {
            return Ok(Some(EpochAndTxn { coordinator_epoch, txn: t.clone() }));
        }
        Ok(create.map(|m| {
            let t = Arc::new(Mutex::new(m));
            owned.txns.insert(transactional_id.to_string(), t.clone());
            EpochAndTxn { coordinator_epoch, txn: t }
        }))
    }

    /// Every loaded transaction, with its partition's coordinator epoch;
    /// the error is COORDINATOR_LOAD_IN_PROGRESS while a partition loads.
    pub fn all(&self) -> (Option<TxnError>, Vec<EpochAndTxn>) {
        let parts = self.partitions.lock().expect("txn partitions lock");
        let loading = parts.values().any(|p| matches!(p.status, Status::Loading));
        let out = parts
            .values()
            .filter(|p| matches!(p.status, Status::Loaded))
            .flat_map(|p| {
                p.txns.values().map(|t| EpochAndTxn { coordinator_epoch: p.coordinator_epoch, txn: t.clone() })
            })
            .collect();
        (loading.then_some(TxnError::CoordinatorLoadInProgress), out)
    }

    /// True while this broker owns the id's partition at `epoch`.
    pub fn owns(&self, transactional_id: &str, epoch: i32) -> bool {
        let p = self.partition_for(transactional_id);
        let parts = self.partitions.lock().expect("txn partitions lock");
        parts.get(&p).is_some_and(|o| matches!(o.status, Status::Loaded) && o.coordinator_epoch == epoch)
    }

    fn remove_if_dead(&self, transactional_id: &str, epoch: i32) {
        let p = self.partition_for(transactional_id);
        let mut parts = self.partitions.lock().expect("txn partitions lock");
        if let Some(o) = parts.get_mut(&p).filter(|o| o.coordinator_epoch == epoch) {
            let dead = o
                .txns
                .get(transactional_id)
                .is_some_and(|t| t.lock().expect("txn lock").state == schema::TransactionState::Dead);
            if dead {
                o.txns.remove(transactional_id);
            }
        }
    }

    /// Writes `transit` for the id (acks=all: answered once committed) and
    /// applies it if this broker still owns the id at `epoch`; on failure
    /// the pending transit is dropped (Kafka's `appendTransactionToLog`).
    pub async fn append(&self, e: &EpochAndTxn, transit: &TxnTransit) -> Result<(), TxnError> {
        let transactional_id = e.txn.lock().expect("txn lock").transactional_id.clone();
        let result = self.write(&transactional_id, transit).await;
        let mut m = e.txn.lock().expect("txn lock");
        let result = result.and_then(|()| {
            if self.owns(&transactional_id, e.coordinator_epoch) {
                Ok(())
            } else {
                Err(TxnError::NotCoordinator)
            }
        });
        match &result {
            Ok(()) => m.complete(transit),
            Err(err) => {
                tracing::info!(transactional_id, error = %err, "transaction state write failed");
                m.abort_pending();
            }
        }
        drop(m);
        if result.is_ok() && transit.state == schema::TransactionState::Dead {
            self.remove_if_dead(&transactional_id, e.coordinator_epoch);
        }
        result
    }

    async fn write(&self, transactional_id: &str, transit: &TxnTransit) -> Result<(), TxnError> {
        let key =
            schema::encode_transaction_log_key(&TransactionLogKey { transactional_id: transactional_id.to_string() })
                .map_err(|_| TxnError::InvalidRequest)?;
        let value = if transit.state == schema::TransactionState::Dead {
            None
        } else {
            let version = if transit.client_transaction_version >= 2 { 1 } else { 0 };
            Some(
                schema::encode_transaction_log_value(&transit.to_log_value(), version)
                    .map_err(|e| TxnError::Unknown(e.to_string()))?,
            )
        };
        let tp = TopicPartition::new(TRANSACTION_STATE_TOPIC, self.partition_for(transactional_id));
        let p = self.replica_manager.get(&tp).ok_or(TxnError::NotCoordinator)?;
        let now = now_ms();
        let mut b = BatchBuilder::new(0, now);
        b.push(Record::new(Some(key), value, now));
        let batch = b.build();
        let info = p.append_records_to_leader(&batch, -1, now).map_err(|e| TxnError::from_append(&e))?;
        let deadline = Instant::now() + Duration::from_millis(self.config.request_timeout_ms);
        p.wait_for_high_watermark(info.last_offset + 1, deadline).await.map_err(|e| TxnError::from_append(&e))
    }

    /// This broker now leads `__transaction_state-<partition>` at
    /// `leader_epoch`: marks it loading and returns true if that is new
    /// (the caller then calls [`Self::load`]).
    pub(super) fn begin_loading(&self, partition: i32, leader_epoch: i32) -> bool {
        let mut parts = self.partitions.lock().expect("txn partitions lock");
        if parts.get(&partition).is_some_and(|p| p.coordinator_epoch == leader_epoch) {
            return false;
        }
        parts.insert(
            partition,
            OwnedPartition { status: Status::Loading, coordinator_epoch: leader_epoch, txns: HashMap::new() },
        );
        true
    }

    /// Replays the partition to its log end and, if it is still owned at
    /// `leader_epoch`, publishes the loaded transactions; returns them.
    pub(super) async fn load(&self, partition: i32, leader_epoch: i32) -> Option<Vec<TxnRef>> {
        let started = std::time::Instant::now();
        let loaded = self.read_partition(partition).await;
        let mut parts = self.partitions.lock().expect("txn partitions lock");
        let p = parts.get_mut(&partition).filter(|p| p.coordinator_epoch == leader_epoch)?;
        p.txns = loaded.into_iter().map(|(k, v)| (k, Arc::new(Mutex::new(v)))).collect();
        p.status = Status::Loaded;
        tracing::info!(
            partition,
            transactions = p.txns.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "loaded transaction metadata"
        );
        Some(p.txns.values().cloned().collect())
    }

    pub(super) fn unload(&self, partition: i32) {
        self.partitions.lock().expect("txn partitions lock").remove(&partition);
    }

    async fn read_partition(&self, partition: i32) -> HashMap<String, TxnMetadata> {
        let tp = TopicPartition::new(TRANSACTION_STATE_TOPIC, partition);
        let Some(p) = self.replica_manager.get(&tp) else { return HashMap::new() };
        let log = p.log().clone();
        tokio::task::spawn_blocking(move || {
            let mut txns: HashMap<String, TxnMetadata> = HashMap::new();
            let (start, end) = {
                let l = log.lock().expect("log lock");
                // To the log end, as the group coordinator's loader (and
                // Kafka's) does: the new leader's log is the truth.
                (l.log_start_offset(), l.log_end_offset())
            };
            let mut offset = start;
            while offset < end {
                let plan = {
                    let l = log.lock().expect("log lock");
                    l.read_plan(offset, ReadLimits { max_bytes: 4 << 20, max_offset: end, min_one_batch: true })
                };
                let Ok(Some(plan)) = plan else { break };
                let Ok(bytes) = plan.read() else { break };
                if bytes.is_empty() {
                    break;
                }
                for item in BatchIter::new(&bytes, true) {
                    let Ok((_, view)) = item else { break };
                    offset = view.next_offset();
                    if view.is_control() {
                        continue;
                    }
                    let Ok(records) = decode_records(&view) else { continue };
                    for r in records {
                        let Some(key) = r.key.as_deref() else { continue };
                        let Ok(key) = schema::decode_transaction_log_key(key) else {
                            tracing::warn!(partition, "skipping an undecodable transaction log key");
                            continue;
                        };
                        match r.value.as_deref().map(schema::decode_transaction_log_value) {
                            None => {
                                txns.remove(&key.transactional_id);
                            }
                            Some(Ok(v)) => match TxnMetadata::from_log(&key.transactional_id, &v) {
                                Some(m) => {
                                    txns.insert(key.transactional_id, m);
                                }
                                None => tracing::warn!(
                                    partition,
                                    status = v.transaction_status,
                                    "unknown transaction state"
                                ),
                            },
                            Some(Err(e)) => {
                                tracing::warn!(partition, error = %e, "skipping an undecodable transaction log value")
                            }
                        }
                    }
                }
            }
            txns
        })
        .await
        .unwrap_or_default()
    }
}
