//! One hosted partition: its log, role, leader epoch, replicas and ISR as
//! the controller last published them, and a watch that changes whenever
//! the log end offset or high watermark moves (waking delayed fetches and
//! acks=all producers).
//!
//! Invariant: the high watermark never exceeds the minimum log end offset
//! of the ISR, and never moves backwards while this broker leads.

use std::sync::{Arc, RwLock};

use bytes::Bytes;
use tokio::sync::watch;
use uuid::Uuid;

use crate::storage::log_manager::SharedLog;
use crate::storage::partition_log::{LogAppendInfo, ReadLimits};
use crate::storage::TopicPartition;

use super::ReplicaError;

/// The offsets a fetch response reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogOffsets {
    pub log_start_offset: i64,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_end_offset: i64,
}

/// The partition's registration as this broker applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// The result of a read: bytes as stored, plus the offsets at read time.
#[derive(Debug, Clone)]
pub struct ReadResult {
    pub records: Bytes,
    pub offsets: LogOffsets,
}

pub struct Partition {
    pub tp: TopicPartition,
    pub topic_id: Uuid,
    node_id: i32,
    log: SharedLog,
    state: RwLock<PartitionState>,
    offsets: watch::Sender<LogOffsets>,
}

impl Partition {
    pub fn new(tp: TopicPartition, topic_id: Uuid, node_id: i32, log: SharedLog, state: PartitionState) -> Arc<Self> {
        let offsets = {
            let l = log.lock().expect("log lock");
            let leo = l.log_end_offset();
            LogOffsets {
                log_start_offset: l.log_start_offset(),
                high_watermark: l.high_watermark(),
                last_stable_offset: l.high_watermark(),
                log_end_offset: leo,
            }
        };
        let p = Arc::new(Partition {
            tp,
            topic_id,
            node_id,
            log,
            state: RwLock::new(state),
            offsets: watch::channel(offsets).0,
        });
        p.maybe_advance_high_watermark();
        p
    }

    pub fn log(&self) -> &SharedLog {
        &self.log
    }

    pub fn state(&self) -> PartitionState {
        self.state.read().expect("partition lock").clone()
    }

    pub fn is_leader(&self) -> bool {
        self.state.read().expect("partition lock").leader == self.node_id
    }

    pub fn leader_epoch(&self) -> i32 {
        self.state.read().expect("partition lock").leader_epoch
    }

    /// Applies a newer registration from the controller.
    pub fn update_state(&self, state: PartitionState) {
        *self.state.write().expect("partition lock") = state;
        self.maybe_advance_high_watermark();
    }

    pub fn offsets(&self) -> LogOffsets {
        *self.offsets.borrow()
    }

    /// A receiver that sees every later offset change.
    pub fn subscribe(&self) -> watch::Receiver<LogOffsets> {
        self.offsets.subscribe()
    }

    /// Checks a client-supplied leader epoch (-1 means "don't check").
    pub fn check_leader_epoch(&self, requested: i32) -> Result<(), ReplicaError> {
        if requested < 0 {
            return Ok(());
        }
        let current = self.leader_epoch();
        if requested < current {
            Err(ReplicaError::FencedLeaderEpoch { request: requested, current })
        } else if requested > current {
            Err(ReplicaError::UnknownLeaderEpoch { request: requested, current })
        } else {
            Ok(())
        }
    }

    /// Appends a client batch as leader (acks is checked by the caller).
    pub fn append_records_to_leader(
        &self,
        records: &[u8],
        required_acks: i16,
        now: i64,
    ) -> Result<LogAppendInfo, ReplicaError> {
        let (epoch, isr_len, leader) = {
            let s = self.state.read().expect("partition lock");
            (s.leader_epoch, s.isr.len(), s.leader)
        };
        if leader != self.node_id {
            return Err(ReplicaError::NotLeaderOrFollower);
        }
        let info = {
            let mut log = self.log.lock().expect("log lock");
            let min_isr = log.config().min_insync_replicas;
            if required_acks == -1 && (isr_len as i32) < min_isr {
                return Err(ReplicaError::NotEnoughReplicas { isr: isr_len, min: min_isr });
            }
            log.append_as_leader(records, epoch, now)?
        };
        if !info.duplicate {
            self.maybe_advance_high_watermark();
        }
        Ok(info)
    }

    /// Recomputes the high watermark: the minimum log end offset over the
    /// ISR. With this broker the only ISR member that is its own LEO.
    pub fn maybe_advance_high_watermark(&self) {
        let isr_is_self = {
            let s = self.state.read().expect("partition lock");
            s.leader == self.node_id && s.isr.len() == 1 && s.isr[0] == self.node_id
        };
        let offsets = {
            let mut log = self.log.lock().expect("log lock");
            let leo = log.log_end_offset();
            if isr_is_self && log.high_watermark() < leo {
                log.set_high_watermark(leo);
            }
            LogOffsets {
                log_start_offset: log.log_start_offset(),
                high_watermark: log.high_watermark(),
                last_stable_offset: log.high_watermark(),
                log_end_offset: leo,
            }
        };
        self.offsets.send_if_modified(|cur| {
            if *cur != offsets {
                *cur = offsets;
                true
            } else {
                false
            }
        });
    }

    /// Waits until the high watermark reaches `required` (acks=all), or
    /// the deadline passes, or leadership is lost.
    pub async fn wait_for_high_watermark(
        &self,
        required: i64,
        deadline: tokio::time::Instant,
    ) -> Result<(), ReplicaError> {
        let mut rx = self.subscribe();
        loop {
            if rx.borrow_and_update().high_watermark >= required {
                return Ok(());
            }
            if !self.is_leader() {
                return Err(ReplicaError::NotLeaderOrFollower);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) => return Err(ReplicaError::NotLeaderOrFollower),
                Err(_) => return Err(ReplicaError::RequestTimedOut),
            }
        }
    }

    /// DeleteRecords on the leader: `offset` -1 means the high watermark.
    /// Returns the new log start offset (the low watermark).
    pub fn delete_records(&self, offset: i64) -> Result<i64, ReplicaError> {
        if !self.is_leader() {
            return Err(ReplicaError::NotLeaderOrFollower);
        }
        let low = {
            let mut log = self.log.lock().expect("log lock");
            let hw = log.high_watermark();
            let target = if offset == -1 { hw } else { offset };
            if target < 0 || target > hw {
                return Err(ReplicaError::Storage(crate::storage::StorageError::OffsetOutOfRange {
                    partition: self.tp.to_string(),
                    offset,
                    log_start: log.log_start_offset(),
                    log_end: hw,
                }));
            }
            log.increment_log_start_offset(target)?;
            log.log_start_offset()
        };
        self.maybe_advance_high_watermark();
        Ok(low)
    }

    /// Reads from `offset` up to the high watermark (consumers) with the
    /// log lock held only to locate the bytes.
    pub fn read(&self, offset: i64, max_bytes: usize, min_one_batch: bool) -> Result<ReadResult, ReplicaError> {
        let (plan, offsets) = {
            let log = self.log.lock().expect("log lock");
            let hw = log.high_watermark();
            let offsets = LogOffsets {
                log_start_offset: log.log_start_offset(),
                high_watermark: hw,
                last_stable_offset: hw,
                log_end_offset: log.log_end_offset(),
            };
            let plan = log.read_plan(offset, ReadLimits { max_bytes, max_offset: hw, min_one_batch })?;
            (plan, offsets)
        };
        let records = match plan {
            Some(p) => p.read()?,
            None => Bytes::new(),
        };
        Ok(ReadResult { records, offsets })
    }
}
