//! The transaction coordinator's operations, what the transaction APIs
//! call: Kafka's `TransactionCoordinator` (transaction.version 1: the
//! epoch is bumped by InitProducerId and by fencing, not per transaction),
//! plus its periodic duties (aborting transactions that outlived their
//! timeout, expiring idle transactional ids) and the loading of a
//! partition when this broker becomes its leader.
//!
//! Every operation follows one pattern: under the transaction's lock,
//! validate and prepare a transit (marking it pending, so a concurrent
//! request answers CONCURRENT_TRANSACTIONS); without the lock, write it to
//! `__transaction_state`; then apply it (`TransactionStateManager::append`).
//! EndTxn answers once PrepareCommit/PrepareAbort is written; the markers
//! and the final CompleteCommit/CompleteAbort follow in the background.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::coordinator::producer_id_manager::ProducerIdManager;
use crate::coordinator::record_schemas::TransactionState;
use crate::metadata::MetadataCache;
use crate::replica::ReplicaManager;
use crate::storage::TopicPartition;
use crate::util::clock::now_ms;

use super::markers::{MarkerChannel, MarkerJob, MarkerStop};
use super::metadata::{is_epoch_exhausted, TxnMetadata, TxnPartition, TxnTransit, NO_PRODUCER_EPOCH};
use super::state_manager::{EpochAndTxn, TransactionStateManager};
use super::{TransactionConfig, TxnError, TRANSACTION_STATE_TOPIC};

pub struct TransactionCoordinator {
    pub state: TransactionStateManager,
    producer_ids: Arc<ProducerIdManager>,
    markers: MarkerChannel,
    shutdown: CancellationToken,
}

/// A transaction as DescribeTransactions / ListTransactions show it.
#[derive(Debug, Clone)]
pub struct TxnView {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub state: TransactionState,
    pub timeout_ms: i32,
    pub start_timestamp: i64,
    pub partitions: BTreeSet<TxnPartition>,
}

/// What InitProducerId decided under the transaction's lock.
enum InitAction {
    Write(TxnTransit),
    /// An ongoing transaction was fenced: abort it at this epoch.
    AbortFenced(i64, i16),
}

impl TransactionCoordinator {
    pub fn new(
        config: TransactionConfig,
        node_id: i32,
        replica_manager: Arc<ReplicaManager>,
        metadata: Arc<MetadataCache>,
        producer_ids: Arc<ProducerIdManager>,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        let markers = MarkerChannel::new(
            node_id,
            config.inter_broker_listener.clone(),
            Duration::from_millis(config.request_timeout_ms),
            metadata,
            shutdown.clone(),
        );
        Arc::new(TransactionCoordinator {
            state: TransactionStateManager::new(config, replica_manager),
            producer_ids,
            markers,
            shutdown,
        })
    }

    pub fn config(&self) -> &TransactionConfig {
        &self.state.config
    }

    pub fn partition_for(&self, transactional_id: &str) -> i32 {
        self.state.partition_for(transactional_id)
    }

    async fn new_producer_id(&self) -> Result<i64, TxnError> {
        self.producer_ids.generate().await.map_err(|e| {
            tracing::warn!(error = %e, "producer id allocation failed");
            TxnError::CoordinatorNotAvailable
        })
    }

    /// InitProducerId with a transactional id (Kafka's
    /// `handleInitProducerId`): the producer id and the bumped epoch.
    /// `expected` is the producer's current id and epoch (v3+, KIP-360).
    pub async fn init_producer_id(
        self: &Arc<Self>,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), TxnError> {
        if transactional_id.is_empty() {
            return Err(TxnError::InvalidRequest);
        }
        if timeout_ms <= 0 || timeout_ms > self.config().max_timeout_ms {
            return Err(TxnError::InvalidTransactionTimeout);
        }
        let e = match self.state.get(transactional_id, None)? {
            Some(e) => e,
            None => {
                let pid = self.new_producer_id().await?;
                let fresh = TxnMetadata::new(transactional_id, pid, timeout_ms, now_ms());
                self.state.get(transactional_id, Some(fresh))?.ok_or(TxnError::NotCoordinator)?
            }
        };
        // A producer id to rotate to, if the epoch is exhausted.
        let exhausted = e.txn.lock().expect("txn lock").is_producer_epoch_exhausted();
        let rotate_to = if exhausted { Some(self.new_producer_id().await?) } else { None };
        let action = {
            let mut m = e.txn.lock().expect("txn lock");
            if m.pending_in_progress() {
                return Err(TxnError::ConcurrentTransactions);
            }
            if let Some((pid, epoch)) = expected {
                let valid = m.producer_epoch == NO_PRODUCER_EPOCH
                    || pid == m.producer_id
                    || (pid == m.previous_producer_id && is_epoch_exhausted(epoch));
                if !valid {
                    return Err(TxnError::ProducerFenced);
                }
            }
            let now = now_ms();
            match m.state {
                TransactionState::PrepareAbort | TransactionState::PrepareCommit => {
                    return Err(TxnError::ConcurrentTransactions)
                }
                TransactionState::CompleteAbort | TransactionState::CompleteCommit | TransactionState::Empty => {
                    match rotate_to {
                        Some(pid)
                            if m.is_producer_epoch_exhausted()
                                && expected.is_none_or(|(_, epoch)| epoch == m.producer_epoch) =>
                        {
                            InitAction::Write(m.prepare_producer_id_rotation(
                                pid,
                                timeout_ms,
                                now,
                                expected.is_some(),
                            )?)
                        }
                        _ => InitAction::Write(m.prepare_increment_epoch(timeout_ms, expected.map(|e| e.1), now)?),
                    }
                }
                TransactionState::Ongoing => {
                    m.prepare_fence_producer_epoch()?;
                    InitAction::AbortFenced(m.producer_id, m.producer_epoch)
                }
                TransactionState::Dead | TransactionState::PrepareEpochFence => {
                    return Err(TxnError::Unknown(format!("{transactional_id} is in state {}", m.state)))
                }
            }
        };
        match action {
            InitAction::Write(t) => {
                self.state.append(&e, &t).await?;
                Ok((t.producer_id, t.producer_epoch))
            }
            InitAction::AbortFenced(pid, epoch) => {
                // The client retries and then gets the epoch after this one.
                if let Err(err) = self.end_transaction(transactional_id, pid, epoch, false, false).await {
                    tracing::info!(transactional_id, error = %err, "aborting a fenced transaction failed");
                }
                Err(TxnError::ConcurrentTransactions)
            }
        }
    }

    fn check_producer(m: &TxnMetadata, producer_id: i64, producer_epoch: i16) -> Result<(), TxnError> {
        if m.producer_id != producer_id {
            Err(TxnError::InvalidProducerIdMapping)
        } else if m.producer_epoch != producer_epoch {
            Err(TxnError::ProducerFenced)
        } else {
            Ok(())
        }
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn (Kafka's
    /// `handleAddPartitionsToTransaction`).
    pub async fn add_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[TxnPartition],
    ) -> Result<(), TxnError> {
        if transactional_id.is_empty() {
            return Err(TxnError::InvalidRequest);
        }
        let e = self.state.get(transactional_id, None)?.ok_or(TxnError::InvalidProducerIdMapping)?;
        let transit = {
            let mut m = e.txn.lock().expect("txn lock");
            Self::check_producer(&m, producer_id, producer_epoch)?;
            if m.pending_in_progress() {
                return Err(TxnError::ConcurrentTransactions);
            }
            match m.state {
                TransactionState::PrepareCommit | TransactionState::PrepareAbort => {
                    return Err(TxnError::ConcurrentTransactions)
                }
                TransactionState::Ongoing if partitions.iter().all(|p| m.partitions.contains(p)) => return Ok(()),
                TransactionState::Dead | TransactionState::PrepareEpochFence => {
                    return Err(TxnError::ConcurrentTransactions)
                }
                _ => m.prepare_add_partitions(partitions.iter().cloned(), now_ms())?,
            }
        };
        self.state.append(&e, &transit).await
    }

    /// AddPartitionsToTxn with verify_only (KIP-890): which partitions are
    /// in the ongoing transaction (NONE) and which are not
    /// (TRANSACTION_ABORTABLE), or one error for all.
    pub fn verify_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[TxnPartition],
    ) -> Result<Vec<bool>, TxnError> {
        if transactional_id.is_empty() {
            return Err(TxnError::InvalidRequest);
        }
        let e = self.state.get(transactional_id, None)?.ok_or(TxnError::InvalidProducerIdMapping)?;
        let m = e.txn.lock().expect("txn lock");
        Self::check_producer(&m, producer_id, producer_epoch)?;
        if matches!(m.state, TransactionState::PrepareCommit | TransactionState::PrepareAbort) {
            return Err(TxnError::ConcurrentTransactions);
        }
        Ok(partitions.iter().map(|p| m.partitions.contains(p)).collect())
    }

    /// EndTxn (Kafka's `endTransaction`, transaction.version 1). `from_client`
    /// is false for the coordinator's own aborts (fencing, timeouts), which
    /// may use an epoch above the client's.
    pub async fn end_transaction(
        self: &Arc<Self>,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        from_client: bool,
    ) -> Result<(), TxnError> {
        if transactional_id.is_empty() {
            return Err(TxnError::InvalidRequest);
        }
        let e = self.state.get(transactional_id, None)?.ok_or(TxnError::InvalidProducerIdMapping)?;
        let transit = {
            let mut m = e.txn.lock().expect("txn lock");
            let valid_epoch =
                (!from_client || producer_epoch == m.producer_epoch) && producer_epoch >= m.producer_epoch;
            if m.producer_id != producer_id {
                return Err(TxnError::InvalidProducerIdMapping);
            }
            if !valid_epoch {
                return Err(TxnError::ProducerFenced);
            }
            let fencing = m.pending == Some(TransactionState::PrepareEpochFence);
            if m.pending_in_progress() && !fencing {
                return Err(TxnError::ConcurrentTransactions);
            }
            let now = now_ms();
            match (m.state, commit) {
                (TransactionState::Ongoing, false) if fencing => m.prepare_fenced_abort(now)?,
                (TransactionState::Ongoing, _) if fencing => return Err(TxnError::ConcurrentTransactions),
                (TransactionState::Ongoing, _) => m.prepare_abort_or_commit(commit, now)?,
                (TransactionState::CompleteCommit, true) | (TransactionState::CompleteAbort, false) => return Ok(()),
                (TransactionState::PrepareCommit, true) | (TransactionState::PrepareAbort, false) => {
                    return Err(TxnError::ConcurrentTransactions)
                }
                (TransactionState::Dead | TransactionState::PrepareEpochFence, _) => {
                    return Err(TxnError::Unknown(format!("{transactional_id} is in state {}", m.state)))
                }
                (state, _) => {
                    tracing::debug!(transactional_id, %state, commit, "EndTxn in a state that does not allow it");
                    return Err(TxnError::InvalidTxnState);
                }
            }
        };
        self.state.append(&e, &transit).await?;
        let job = MarkerJob {
            transactional_id: transactional_id.to_string(),
            producer_id: transit.producer_id,
            producer_epoch: transit.producer_epoch,
            commit,
            coordinator_epoch: e.coordinator_epoch,
            partitions: transit.partitions.clone(),
        };
        let this = self.clone();
        tokio::spawn(async move { this.send_markers_and_complete(e, job).await });
        Ok(())
    }

    /// Writes the markers, then CompleteCommit / CompleteAbort (Kafka's
    /// `TransactionMarkerChannelManager.tryAppendToLog`, retried while the
    /// transaction log is unavailable and this broker still owns it).
    async fn send_markers_and_complete(self: Arc<Self>, e: EpochAndTxn, job: MarkerJob) {
        let owns = || self.state.owns(&job.transactional_id, e.coordinator_epoch);
        match self.markers.write_markers(&job, owns).await {
            Ok(()) => {}
            Err(MarkerStop::Shutdown) => return,
            Err(stop) => {
                tracing::info!(transactional_id = %job.transactional_id, ?stop, "stopped sending transaction markers");
                return;
            }
        }
        let mut backoff = Duration::from_millis(20);
        loop {
            if !owns() || self.shutdown.is_cancelled() {
                return;
            }
            let transit = {
                let mut m = e.txn.lock().expect("txn lock");
                if m.producer_id != job.producer_id || m.producer_epoch != job.producer_epoch {
                    return;
                }
                let expected =
                    if job.commit { TransactionState::PrepareCommit } else { TransactionState::PrepareAbort };
                if m.state != expected || m.pending_in_progress() {
                    return;
                }
                match m.prepare_complete(now_ms()) {
                    Ok(t) => t,
                    Err(_) => return,
                }
            };
            match self.state.append(&e, &transit).await {
                Ok(()) => return,
                Err(TxnError::CoordinatorNotAvailable) => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
                Err(err) => {
                    tracing::info!(transactional_id = %job.transactional_id, error = %err, "could not complete a transaction");
                    return;
                }
            }
        }
    }

    /// DescribeTransactions for one id.
    pub fn describe(&self, transactional_id: &str) -> Result<TxnView, TxnError> {
        if transactional_id.is_empty() {
            return Err(TxnError::TransactionalIdNotFound);
        }
        let e = self.state.get(transactional_id, None)?.ok_or(TxnError::TransactionalIdNotFound)?;
        let m = e.txn.lock().expect("txn lock");
        if m.state == TransactionState::Dead {
            return Err(TxnError::TransactionalIdNotFound);
        }
        Ok(view(&m))
    }

    /// ListTransactions: every transaction this broker coordinates, and
    /// COORDINATOR_LOAD_IN_PROGRESS while a partition still loads.
    pub fn list(&self) -> (Option<TxnError>, Vec<TxnView>) {
        let (err, all) = self.state.all();
        let mut out: Vec<TxnView> = all
            .iter()
            .map(|e| view(&e.txn.lock().expect("txn lock")))
            .filter(|v| v.state != TransactionState::Dead)
            .collect();
        out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        (err, out)
    }

    /// Aborts every ongoing transaction older than its timeout, fencing its
    /// producer first (Kafka's `abortTimedOutTransactions`).
    pub fn abort_timed_out(self: &Arc<Self>) {
        let (_, all) = self.state.all();
        let now = now_ms();
        for e in all {
            let fenced = {
                let mut m = e.txn.lock().expect("txn lock");
                if m.state != TransactionState::Ongoing
                    || m.pending_in_progress()
                    || m.start_timestamp + m.timeout_ms as i64 > now
                {
                    continue;
                }
                if m.prepare_fence_producer_epoch().is_err() {
                    continue;
                }
                (m.transactional_id.clone(), m.producer_id, m.producer_epoch)
            };
            let this = self.clone();
            tokio::spawn(async move {
                let (id, pid, epoch) = fenced;
                tracing::info!(transactional_id = %id, producer_id = pid, "aborting a transaction that timed out");
                if let Err(err) = this.end_transaction(&id, pid, epoch, false, false).await {
                    tracing::info!(transactional_id = %id, error = %err, "aborting a timed-out transaction failed");
                    // A failed fence leaves the bumped epoch pending; clear it
                    // so the next round tries again.
                    if let Ok(Some(e)) = this.state.get(&id, None) {
                        let mut m = e.txn.lock().expect("txn lock");
                        if m.pending == Some(TransactionState::PrepareEpochFence) {
                            m.abort_pending();
                        }
                    }
                }
            });
        }
    }

    /// Removes transactional ids idle for `transactional.id.expiration.ms`
    /// (Kafka's `removeExpiredTransactionalIds`): a tombstone each.
    pub async fn remove_expired(&self) {
        let (_, all) = self.state.all();
        let now = now_ms();
        for e in all {
            let transit = {
                let mut m = e.txn.lock().expect("txn lock");
                let idle = matches!(
                    m.state,
                    TransactionState::Empty | TransactionState::CompleteCommit | TransactionState::CompleteAbort
                );
                if !idle || m.pending_in_progress() || m.last_update_timestamp + self.config().id_expiration_ms > now {
                    continue;
                }
                match m.prepare_dead() {
                    Ok(t) => t,
                    Err(_) => continue,
                }
            };
            let id = e.txn.lock().expect("txn lock").transactional_id.clone();
            match self.state.append(&e, &transit).await {
                Ok(()) => tracing::info!(transactional_id = %id, "expired a transactional id"),
                Err(err) => tracing::info!(transactional_id = %id, error = %err, "could not expire a transactional id"),
            }
        }
    }

    /// Runs the periodic duties until shutdown.
    pub fn spawn_timers(self: &Arc<Self>) {
        let this = self.clone();
        tokio::spawn(async move {
            let abort_every = Duration::from_millis(this.config().abort_timed_out_interval_ms);
            let expire_every = Duration::from_millis(this.config().remove_expired_interval_ms);
            let mut abort_tick = tokio::time::interval(abort_every);
            let mut expire_tick = tokio::time::interval(expire_every);
            abort_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            expire_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = this.shutdown.cancelled() => break,
                    _ = abort_tick.tick() => this.abort_timed_out(),
                    _ = expire_tick.tick() => this.remove_expired().await,
                }
            }
        });
    }

    /// This broker now leads `__transaction_state-<partition>`: load it,
    /// then finish every transaction found between prepare and complete.
    pub fn on_become_leader(self: &Arc<Self>, partition: i32, leader_epoch: i32) {
        if !self.state.begin_loading(partition, leader_epoch) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let Some(txns) = this.state.load(partition, leader_epoch).await else { return };
            for txn in txns {
                let job = {
                    let m = txn.lock().expect("txn lock");
                    let commit = match m.state {
                        TransactionState::PrepareCommit => true,
                        TransactionState::PrepareAbort => false,
                        _ => continue,
                    };
                    MarkerJob {
                        transactional_id: m.transactional_id.clone(),
                        producer_id: m.producer_id,
                        producer_epoch: m.producer_epoch,
                        commit,
                        coordinator_epoch: leader_epoch,
                        partitions: m.partitions.clone(),
                    }
                };
                let e = EpochAndTxn { coordinator_epoch: leader_epoch, txn };
                tokio::spawn(this.clone().send_markers_and_complete(e, job));
            }
        });
    }

    pub fn on_resign(&self, partition: i32) {
        self.state.unload(partition);
    }
}

fn view(m: &TxnMetadata) -> TxnView {
    TxnView {
        transactional_id: m.transactional_id.clone(),
        producer_id: m.producer_id,
        producer_epoch: m.producer_epoch,
        state: m.state,
        timeout_ms: m.timeout_ms,
        start_timestamp: m.start_timestamp,
        partitions: m.partitions.clone(),
    }
}

/// Lets the replica manager tell the coordinator which
/// `__transaction_state` partitions this broker leads.
pub struct TxnLeadership(pub Arc<TransactionCoordinator>);

impl crate::replica::replica_manager::LeadershipListener for TxnLeadership {
    fn on_leadership_change(&self, tp: &TopicPartition, is_leader: bool, leader_epoch: i32) {
        if &*tp.topic != TRANSACTION_STATE_TOPIC {
            return;
        }
        if is_leader {
            self.0.on_become_leader(tp.partition, leader_epoch);
        } else {
            self.0.on_resign(tp.partition);
        }
    }
}
