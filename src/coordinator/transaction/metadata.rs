//! One transactional id's state and its transitions: Kafka's
//! `TransactionMetadata`. A change is prepared as a [`TxnTransit`] (the
//! state to write) while `pending` holds the target state; once the record
//! is in the log the transit is applied with [`TxnMetadata::complete`], or
//! dropped with [`TxnMetadata::abort_pending`] if the write failed.
//!
//! Invariants: at most one transit is pending at a time (every `prepare_*`
//! refuses while one is); `partitions` is empty in `Empty`,
//! `CompleteCommit` and `CompleteAbort`; the in-memory state changes only
//! through `complete`, so it never runs ahead of the log.

use std::collections::BTreeSet;

use crate::coordinator::record_schemas::{TransactionLogValue, TransactionPartitions, TransactionState};

use super::TxnError;

/// Kafka's `RecordBatch.NO_PRODUCER_ID` / `NO_PRODUCER_EPOCH`.
pub const NO_PRODUCER_ID: i64 = -1;
pub const NO_PRODUCER_EPOCH: i16 = -1;

/// A partition in a transaction: (topic, partition).
pub type TxnPartition = (String, i32);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMetadata {
    pub transactional_id: String,
    pub producer_id: i64,
    pub previous_producer_id: i64,
    pub next_producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last bump (KIP-360 retries); not in the log, so
    /// -1 after loading, as in Kafka.
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TransactionState,
    pub partitions: BTreeSet<TxnPartition>,
    pub start_timestamp: i64,
    pub last_update_timestamp: i64,
    pub client_transaction_version: i16,
    /// The state a prepared transit moves to, while its write is under way.
    pub pending: Option<TransactionState>,
}

/// A prepared change: the values to write and, once written, to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnTransit {
    pub producer_id: i64,
    pub previous_producer_id: i64,
    pub next_producer_id: i64,
    pub producer_epoch: i16,
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TransactionState,
    pub partitions: BTreeSet<TxnPartition>,
    pub start_timestamp: i64,
    pub last_update_timestamp: i64,
    pub client_transaction_version: i16,
}

/// Kafka's `TransactionMetadata.isEpochExhausted`: the last epoch a
/// producer id may use is `Short.MAX_VALUE - 1` (the next bump needs room).
pub fn is_epoch_exhausted(epoch: i16) -> bool {
    epoch >= i16::MAX - 1
}

impl TxnMetadata {
    /// A new transactional id: a fresh producer id, no epoch yet, `Empty`.
    pub fn new(transactional_id: &str, producer_id: i64, timeout_ms: i32, now: i64) -> Self {
        TxnMetadata {
            transactional_id: transactional_id.to_string(),
            producer_id,
            previous_producer_id: NO_PRODUCER_ID,
            next_producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            timeout_ms,
            state: TransactionState::Empty,
            partitions: BTreeSet::new(),
            start_timestamp: -1,
            last_update_timestamp: now,
            client_transaction_version: 0,
            pending: None,
        }
    }

    pub fn pending_in_progress(&self) -> bool {
        self.pending.is_some()
    }

    pub fn is_producer_epoch_exhausted(&self) -> bool {
        is_epoch_exhausted(self.producer_epoch)
    }

    fn transit(&self, state: TransactionState) -> TxnTransit {
        TxnTransit {
            producer_id: self.producer_id,
            previous_producer_id: self.previous_producer_id,
            next_producer_id: self.next_producer_id,
            producer_epoch: self.producer_epoch,
            last_producer_epoch: self.last_producer_epoch,
            timeout_ms: self.timeout_ms,
            state,
            partitions: self.partitions.clone(),
            start_timestamp: self.start_timestamp,
            last_update_timestamp: self.last_update_timestamp,
            client_transaction_version: self.client_transaction_version,
        }
    }

    /// Marks `t` pending and returns it (Kafka's `prepareTransitionTo`).
    fn prepare(&mut self, t: TxnTransit) -> Result<TxnTransit, TxnError> {
        if self.pending.is_some() {
            return Err(TxnError::ConcurrentTransactions);
        }
        if !valid_transition(self.state, t.state) {
            return Err(TxnError::Unknown(format!(
                "{}: illegal transition from {} to {}",
                self.transactional_id, self.state, t.state
            )));
        }
        self.pending = Some(t.state);
        Ok(t)
    }

    /// InitProducerId on a completed or empty transaction: bump the epoch
    /// (Kafka's `prepareIncrementProducerEpoch`, with its KIP-360 rules for
    /// a producer that gives its current id and epoch).
    pub fn prepare_increment_epoch(
        &mut self,
        timeout_ms: i32,
        expected_epoch: Option<i16>,
        now: i64,
    ) -> Result<TxnTransit, TxnError> {
        if self.is_producer_epoch_exhausted() {
            return Err(TxnError::Unknown(format!("no producer epochs left for producer id {}", self.producer_id)));
        }
        let bumped = self.producer_epoch + 1;
        let (epoch, last) = match expected_epoch {
            None => (bumped, NO_PRODUCER_EPOCH),
            Some(e) if self.producer_epoch == NO_PRODUCER_EPOCH || e == self.producer_epoch => {
                (bumped, self.producer_epoch)
            }
            // A retry of a bump whose answer the producer never received.
            Some(e) if e == self.last_producer_epoch => (self.producer_epoch, self.last_producer_epoch),
            Some(_) => return Err(TxnError::ProducerFenced),
        };
        let mut t = self.transit(TransactionState::Empty);
        t.producer_epoch = epoch;
        t.last_producer_epoch = last;
        t.timeout_ms = timeout_ms;
        t.partitions.clear();
        t.start_timestamp = -1;
        t.last_update_timestamp = now;
        self.prepare(t)
    }

    /// The epoch is exhausted: continue under a new producer id (Kafka's
    /// `prepareProducerIdRotation`).
    pub fn prepare_producer_id_rotation(
        &mut self,
        new_producer_id: i64,
        timeout_ms: i32,
        now: i64,
        record_last_epoch: bool,
    ) -> Result<TxnTransit, TxnError> {
        let mut t = self.transit(TransactionState::Empty);
        t.previous_producer_id = self.producer_id;
        t.producer_id = new_producer_id;
        t.producer_epoch = 0;
        t.last_producer_epoch = if record_last_epoch { self.producer_epoch } else { NO_PRODUCER_EPOCH };
        t.timeout_ms = timeout_ms;
        t.partitions.clear();
        t.start_timestamp = -1;
        t.last_update_timestamp = now;
        self.prepare(t)
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn: `Ongoing` with more partitions;
    /// a transaction starts at its first partition.
    pub fn prepare_add_partitions(
        &mut self,
        added: impl IntoIterator<Item = TxnPartition>,
        now: i64,
    ) -> Result<TxnTransit, TxnError> {
        let mut t = self.transit(TransactionState::Ongoing);
        if matches!(
            self.state,
            TransactionState::Empty | TransactionState::CompleteCommit | TransactionState::CompleteAbort
        ) {
            t.start_timestamp = now;
        }
        t.partitions.extend(added);
        t.last_update_timestamp = now;
        self.prepare(t)
    }

    /// EndTxn on an ongoing transaction: `PrepareCommit` or `PrepareAbort`.
    pub fn prepare_abort_or_commit(&mut self, commit: bool, now: i64) -> Result<TxnTransit, TxnError> {
        let state = if commit { TransactionState::PrepareCommit } else { TransactionState::PrepareAbort };
        let mut t = self.transit(state);
        t.last_update_timestamp = now;
        self.prepare(t)
    }

    /// Every marker is written: `CompleteCommit` / `CompleteAbort` with no
    /// partitions (Kafka's `prepareComplete`).
    pub fn prepare_complete(&mut self, now: i64) -> Result<TxnTransit, TxnError> {
        let state = match self.state {
            TransactionState::PrepareCommit => TransactionState::CompleteCommit,
            TransactionState::PrepareAbort => TransactionState::CompleteAbort,
            s => return Err(TxnError::Unknown(format!("cannot complete a transaction in state {s}"))),
        };
        let mut t = self.transit(state);
        t.partitions.clear();
        t.last_update_timestamp = now;
        self.prepare(t)
    }

    /// Fences the current producer of an ongoing transaction before it is
    /// aborted (a new producer's InitProducerId, or a timeout): the epoch
    /// is bumped in memory now, and the abort that follows writes it
    /// (Kafka's `prepareFenceProducerEpoch`). Unlike other transits this
    /// one is never written itself.
    pub fn prepare_fence_producer_epoch(&mut self) -> Result<(), TxnError> {
        if self.pending.is_some() {
            return Err(TxnError::ConcurrentTransactions);
        }
        if self.state != TransactionState::Ongoing {
            return Err(TxnError::InvalidTxnState);
        }
        // An exhausted epoch is not bumped; the retried InitProducerId then
        // rotates the producer id.
        if !self.is_producer_epoch_exhausted() {
            self.producer_epoch += 1;
        }
        self.last_producer_epoch = NO_PRODUCER_EPOCH;
        self.pending = Some(TransactionState::PrepareEpochFence);
        Ok(())
    }

    /// The fence's abort: `PrepareAbort` at the fenced epoch (the pending
    /// fence is replaced by it).
    pub fn prepare_fenced_abort(&mut self, now: i64) -> Result<TxnTransit, TxnError> {
        if self.pending != Some(TransactionState::PrepareEpochFence) {
            return Err(TxnError::ConcurrentTransactions);
        }
        self.pending = None;
        self.prepare_abort_or_commit(false, now)
    }

    /// Expiration: `Dead`, written as a tombstone.
    pub fn prepare_dead(&mut self) -> Result<TxnTransit, TxnError> {
        let mut t = self.transit(TransactionState::Dead);
        t.partitions.clear();
        self.prepare(t)
    }

    /// Applies a written transit (Kafka's `completeTransitionTo`).
    pub fn complete(&mut self, t: &TxnTransit) {
        self.producer_id = t.producer_id;
        self.previous_producer_id = t.previous_producer_id;
        self.next_producer_id = t.next_producer_id;
        self.producer_epoch = t.producer_epoch;
        self.last_producer_epoch = t.last_producer_epoch;
        self.timeout_ms = t.timeout_ms;
        self.state = t.state;
        self.partitions = t.partitions.clone();
        self.start_timestamp = t.start_timestamp;
        self.last_update_timestamp = t.last_update_timestamp;
        self.client_transaction_version = t.client_transaction_version;
        self.pending = None;
    }

    /// A transit's write failed: nothing changes but the pending mark.
    pub fn abort_pending(&mut self) {
        self.pending = None;
    }

    /// The state rebuilt from a log record.
    pub fn from_log(transactional_id: &str, v: &TransactionLogValue) -> Option<Self> {
        let state = TransactionState::from_id(v.transaction_status)?;
        let partitions = v
            .transaction_partitions
            .iter()
            .flatten()
            .flat_map(|p| p.partition_ids.iter().map(move |id| (p.topic.clone(), *id)))
            .collect();
        Some(TxnMetadata {
            transactional_id: transactional_id.to_string(),
            producer_id: v.producer_id,
            previous_producer_id: v.previous_producer_id,
            next_producer_id: v.next_producer_id,
            producer_epoch: v.producer_epoch,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            timeout_ms: v.transaction_timeout_ms,
            state,
            partitions,
            start_timestamp: v.transaction_start_timestamp_ms,
            last_update_timestamp: v.transaction_last_update_timestamp_ms,
            client_transaction_version: v.client_transaction_version,
            pending: None,
        })
    }
}

impl TxnTransit {
    /// The record value Kafka writes for this state (`TransactionLog.valueToBytes`:
    /// partitions null for `Empty`, grouped by topic otherwise).
    pub fn to_log_value(&self) -> TransactionLogValue {
        let transaction_partitions = if self.state == TransactionState::Empty {
            None
        } else {
            let mut by_topic: Vec<TransactionPartitions> = Vec::new();
            for (topic, p) in &self.partitions {
                match by_topic.last_mut() {
                    Some(last) if &last.topic == topic => last.partition_ids.push(*p),
                    _ => by_topic.push(TransactionPartitions { topic: topic.clone(), partition_ids: vec![*p] }),
                }
            }
            Some(by_topic)
        };
        TransactionLogValue {
            producer_id: self.producer_id,
            previous_producer_id: self.previous_producer_id,
            next_producer_id: self.next_producer_id,
            producer_epoch: self.producer_epoch,
            transaction_timeout_ms: self.timeout_ms,
            transaction_status: self.state.id(),
            transaction_partitions,
            transaction_last_update_timestamp_ms: self.last_update_timestamp,
            transaction_start_timestamp_ms: self.start_timestamp,
            client_transaction_version: self.client_transaction_version,
        }
    }
}

/// Kafka's `TransactionState.validPreviousStates`, read from the target.
pub fn valid_transition(from: TransactionState, to: TransactionState) -> bool {
    use TransactionState::*;
    match to {
        Empty => matches!(from, Empty | CompleteCommit | CompleteAbort),
        Ongoing => matches!(from, Ongoing | Empty | CompleteCommit | CompleteAbort),
        PrepareCommit => from == Ongoing,
        PrepareAbort => matches!(from, Ongoing | PrepareEpochFence),
        CompleteCommit => from == PrepareCommit,
        CompleteAbort => from == PrepareAbort,
        Dead => matches!(from, Empty | CompleteCommit | CompleteAbort),
        PrepareEpochFence => from == Ongoing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TransactionState::*;

    fn fresh() -> TxnMetadata {
        TxnMetadata::new("t", 7, 60_000, 1)
    }

    fn run(m: &mut TxnMetadata, t: Result<TxnTransit, TxnError>) -> TxnTransit {
        let t = t.expect("transit");
        m.complete(&t);
        t
    }

    #[test]
    fn init_then_transaction_then_commit() {
        let mut m = fresh();
        let t = m.prepare_increment_epoch(1000, None, 2);
        run(&mut m, t);
        assert_eq!((m.producer_epoch, m.state), (0, Empty));
        let t = m.prepare_add_partitions([("a".to_string(), 0)], 3);
        run(&mut m, t);
        assert_eq!((m.state, m.start_timestamp), (Ongoing, 3));
        let t = m.prepare_add_partitions([("a".to_string(), 1)], 4);
        run(&mut m, t);
        assert_eq!(m.start_timestamp, 3, "the start is the first partition's");
        let t = m.prepare_abort_or_commit(true, 5);
        let t = run(&mut m, t);
        assert_eq!(t.partitions.len(), 2);
        let t = m.prepare_complete(6);
        run(&mut m, t);
        assert_eq!((m.state, m.partitions.len()), (CompleteCommit, 0));
    }

    #[test]
    fn only_one_pending_transit() {
        let mut m = fresh();
        let _t = m.prepare_increment_epoch(1000, None, 2).unwrap();
        assert_eq!(m.prepare_add_partitions([("a".to_string(), 0)], 3), Err(TxnError::ConcurrentTransactions));
        m.abort_pending();
        assert_eq!(m.producer_epoch, NO_PRODUCER_EPOCH, "a failed write changes nothing");
        assert!(m.prepare_add_partitions([("a".to_string(), 0)], 3).is_ok());
    }

    #[test]
    fn kip_360_retry_and_fencing() {
        let mut m = fresh();
        let t = m.prepare_increment_epoch(1000, None, 2);
        run(&mut m, t);
        // The producer (epoch 0) asks to bump its own epoch.
        let t = m.prepare_increment_epoch(1000, Some(0), 3);
        run(&mut m, t);
        assert_eq!((m.producer_epoch, m.last_producer_epoch), (1, 0));
        // Its retry (it never saw the answer) gets the same epoch.
        let t = m.prepare_increment_epoch(1000, Some(0), 4);
        run(&mut m, t);
        assert_eq!(m.producer_epoch, 1);
        // An older epoch is fenced.
        assert_eq!(m.prepare_increment_epoch(1000, Some(5), 5), Err(TxnError::ProducerFenced));
    }

    #[test]
    fn fence_bumps_the_epoch_and_aborts() {
        let mut m = fresh();
        let t = m.prepare_increment_epoch(1000, None, 2);
        run(&mut m, t);
        let t = m.prepare_add_partitions([("a".to_string(), 0)], 3);
        run(&mut m, t);
        m.prepare_fence_producer_epoch().unwrap();
        assert_eq!(m.producer_epoch, 1);
        let t = m.prepare_fenced_abort(4);
        let t = run(&mut m, t);
        assert_eq!((t.state, t.producer_epoch), (PrepareAbort, 1));
    }

    #[test]
    fn log_value_round_trip() {
        let mut m = fresh();
        let t = m.prepare_increment_epoch(1000, None, 2);
        run(&mut m, t);
        let t = m.prepare_add_partitions([("b".to_string(), 2), ("a".to_string(), 1), ("a".to_string(), 0)], 3);
        let t = run(&mut m, t);
        let v = t.to_log_value();
        let parts = v.transaction_partitions.clone().unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].partition_ids, vec![0, 1]);
        let back = TxnMetadata::from_log("t", &v).unwrap();
        assert_eq!(back.partitions, m.partitions);
        assert_eq!(back.state, Ongoing);
        let empty = TxnMetadata::new("t", 7, 1, 1).transit(Empty).to_log_value();
        assert!(empty.transaction_partitions.is_none(), "Kafka writes null partitions for Empty");
    }

    #[test]
    fn transitions_follow_kafka() {
        assert!(valid_transition(CompleteAbort, Ongoing));
        assert!(!valid_transition(PrepareCommit, Ongoing));
        assert!(!valid_transition(Ongoing, Dead));
        assert!(valid_transition(PrepareEpochFence, PrepareAbort));
    }
}
