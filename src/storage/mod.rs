//! Storage: partition logs in Kafka's on-disk format. Knows offsets,
//! batches, segments, indexes and checkpoints; knows nothing of leaders,
//! ISR or the network.
//!
//! ```text
//! <log.dir>/meta.properties
//! <log.dir>/recovery-point-offset-checkpoint, log-start-offset-checkpoint, ...
//! <log.dir>/<topic>-<partition>/00000000000000000000.log|.index|.timeindex
//! <log.dir>/<topic>-<partition>/partition.metadata, leader-epoch-checkpoint
//! ```

pub mod checkpoint;
pub mod cleaner;
pub mod flusher;
pub mod index;
pub mod leader_epoch_cache;
pub mod log_dir_failure;
pub mod log_manager;
pub mod log_validator;
pub mod partition_log;
pub mod producer_state;
pub mod segment;
pub mod segment_file;
pub mod txn_index;

use std::fmt;
use std::sync::Arc;

use thiserror::Error;

use crate::record::batch::BatchError;

/// A topic name and partition index, Kafka's `TopicPartition`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: Arc<str>,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<Arc<str>>, partition: i32) -> Self {
        TopicPartition { topic: topic.into(), partition }
    }

    /// The partition's directory name: `<topic>-<partition>`.
    pub fn dir_name(&self) -> String {
        format!("{}-{}", self.topic, self.partition)
    }

    /// Parses a directory name back (the topic may itself contain '-').
    pub fn from_dir_name(name: &str) -> Option<Self> {
        let (topic, partition) = name.rsplit_once('-')?;
        if topic.is_empty() {
            return None;
        }
        let partition: i32 = partition.parse().ok()?;
        if partition < 0 {
            return None;
        }
        Some(TopicPartition::new(topic, partition))
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Errors of the storage layer; the handler boundary maps them to Kafka
/// error codes with [`StorageError::kafka_code`].
#[derive(Debug, Error)]
pub enum StorageError {
    #[error("i/o error on {context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("corrupt record batch: {0}")]
    Corrupt(BatchError),
    #[error("corrupt records: {0}")]
    CorruptRecords(String),
    /// The records of a batch cannot be read (structure, decompression).
    #[error("{0}")]
    Records(crate::record::RecordError),
    /// Records that read well but break the topic's rules (keys on a
    /// compacted topic, timestamps), with the index and reason of each
    /// (KIP-467's `record_errors`).
    #[error("{message}")]
    RecordValidation { timestamp: bool, message: String, record_errors: Vec<(i32, String)> },
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    #[error("record batch of {size} bytes exceeds max.message.bytes {max}")]
    MessageTooLarge { size: usize, max: usize },
    #[error("record batch of {size} bytes exceeds segment.bytes {max}")]
    RecordListTooLarge { size: usize, max: usize },
    #[error("invalid timestamp: {0}")]
    InvalidTimestamp(String),
    #[error("offset {offset} out of range [{log_start}, {log_end}] for {partition}")]
    OffsetOutOfRange { partition: String, offset: i64, log_start: i64, log_end: i64 },
    #[error("out of order sequence: {0}")]
    OutOfOrderSequence(String),
    #[error("invalid producer epoch: {0}")]
    InvalidProducerEpoch(String),
    /// A non-transactional batch from a producer with an open transaction.
    #[error("invalid transaction state: {0}")]
    InvalidTxnState(String),
    /// A transaction marker from an older coordinator epoch (a zombie).
    #[error("transaction coordinator fenced: {0}")]
    TransactionCoordinatorFenced(String),
    #[error("unsupported compression type: {0}")]
    UnsupportedCompression(String),
    #[error("log directory is in use or invalid: {0}")]
    LogDir(String),
    /// The log directory holding the partition failed (an earlier i/o
    /// error took it offline; see `log_dir_failure`).
    #[error("log directory {dir} is offline: {reason}")]
    LogDirOffline { dir: String, reason: String },
    #[error("corrupt checkpoint or metadata file {0}")]
    CorruptFile(String),
    /// A follower was sent batches that do not continue its log.
    #[error("unexpected append offset {first} for {partition}: log end offset is {log_end}")]
    UnexpectedAppendOffset { partition: String, first: i64, log_end: i64 },
}

impl StorageError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        StorageError::Io { context: context.into(), source }
    }

    /// The Kafka error code a client sees for this error.
    pub fn kafka_code(&self) -> i16 {
        use kafka_protocol::ResponseError as E;
        match self {
            StorageError::Io { .. }
            | StorageError::LogDir(_)
            | StorageError::LogDirOffline { .. }
            | StorageError::CorruptFile(_)
            | StorageError::UnexpectedAppendOffset { .. } => E::KafkaStorageError.code(),
            StorageError::Corrupt(_) | StorageError::CorruptRecords(_) => E::CorruptMessage.code(),
            StorageError::InvalidRecord(_) => E::InvalidRecord.code(),
            StorageError::Records(e) => {
                use crate::record::RecordError as R;
                match e {
                    R::Decompress(_) | R::Batch(_) => E::CorruptMessage.code(),
                    R::TooLarge { .. } => E::MessageTooLarge.code(),
                    _ => E::InvalidRecord.code(),
                }
            }
            StorageError::RecordValidation { timestamp: true, .. } => E::InvalidTimestamp.code(),
            StorageError::RecordValidation { timestamp: false, .. } => E::InvalidRecord.code(),
            StorageError::MessageTooLarge { .. } => E::MessageTooLarge.code(),
            StorageError::RecordListTooLarge { .. } => E::RecordListTooLarge.code(),
            StorageError::InvalidTimestamp(_) => E::InvalidTimestamp.code(),
            StorageError::OffsetOutOfRange { .. } => E::OffsetOutOfRange.code(),
            StorageError::OutOfOrderSequence(_) => E::OutOfOrderSequenceNumber.code(),
            StorageError::InvalidProducerEpoch(_) => E::InvalidProducerEpoch.code(),
            StorageError::InvalidTxnState(_) => E::InvalidTxnState.code(),
            StorageError::TransactionCoordinatorFenced(_) => E::TransactionCoordinatorFenced.code(),
            StorageError::UnsupportedCompression(_) => E::UnsupportedCompressionType.code(),
        }
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Formats a segment file name: the base offset as 20 zero-padded digits.
pub fn segment_file_name(base_offset: i64, suffix: &str) -> String {
    format!("{base_offset:020}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_names_round_trip() {
        let tp = TopicPartition::new("my-topic", 12);
        assert_eq!(tp.dir_name(), "my-topic-12");
        assert_eq!(TopicPartition::from_dir_name("my-topic-12"), Some(tp));
        assert_eq!(TopicPartition::from_dir_name("nodash"), None);
        assert_eq!(TopicPartition::from_dir_name("-1"), None);
        assert_eq!(segment_file_name(42, ".log"), "00000000000000000042.log");
    }
}
