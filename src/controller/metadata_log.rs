//! The durable metadata log of a single-node quorum: metadata records as
//! Kafka-format batches (one JSON-encoded record per Kafka record) in
//! `<metadata.log.dir>/__cluster_metadata-0`, fsynced on every append, so
//! `dump-log` can read it like any partition.

use std::path::Path;
use std::sync::Arc;

use crate::config::{BrokerConfig, LogConfig};
use crate::metadata::MetadataRecord;
use crate::storage::flusher::Flusher;
use crate::storage::partition_log::{LoadHints, PartitionLog, ReadLimits};
use crate::storage::segment::now_ms;
use crate::storage::{checkpoint, StorageError, TopicPartition};
use crate::wire::batch::BatchIter;
use crate::wire::records::{decode_records, BatchBuilder, Record};

pub const METADATA_TOPIC: &str = "__cluster_metadata";

pub struct MetadataLog {
    log: PartitionLog,
}

impl MetadataLog {
    /// Opens (or creates) the log and returns every record in it.
    pub fn open(
        dir: &Path,
        broker: &BrokerConfig,
        flusher: Arc<Flusher>,
    ) -> Result<(Self, Vec<(i64, MetadataRecord)>), StorageError> {
        let tp = TopicPartition::new(METADATA_TOPIC, 0);
        let path = dir.join(tp.dir_name());
        let config = Arc::new(LogConfig::resolve(broker, &Default::default()));
        let log = if path.join(checkpoint::PARTITION_METADATA).exists() || path.exists() {
            // Always recover: this log is small and must be exact.
            PartitionLog::load(&path, tp, config, flusher, LoadHints::default())?
        } else {
            PartitionLog::create(&path, tp, checkpoint::random_kafka_uuid(), config, flusher)?
        };
        let mut records = Vec::new();
        let mut offset = log.log_start_offset();
        let end = log.log_end_offset();
        while offset < end {
            let limits = ReadLimits {
                max_bytes: 8 << 20,
                max_offset: end,
                min_one_batch: true,
            };
            let Some(plan) = log.read_plan(offset, limits)? else {
                break;
            };
            let bytes = plan.read()?;
            if bytes.is_empty() {
                break;
            }
            for item in BatchIter::new(&bytes, true) {
                let (_, view) = item.map_err(StorageError::Corrupt)?;
                for r in decode_records(&view)
                    .map_err(|e| StorageError::CorruptRecords(e.to_string()))?
                {
                    let value = r.value.unwrap_or_default();
                    let rec = MetadataRecord::decode(&value).map_err(|e| {
                        StorageError::CorruptFile(format!(
                            "metadata record at offset {}: {e}",
                            r.offset
                        ))
                    })?;
                    records.push((r.offset, rec));
                }
                offset = view.next_offset();
            }
        }
        Ok((MetadataLog { log }, records))
    }

    /// Appends `records` as one batch, durably; returns their offsets.
    pub fn append(&mut self, records: &[MetadataRecord]) -> Result<Vec<i64>, StorageError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let mut b = BatchBuilder::new(0, now);
        for r in records {
            b.push(Record::new(None, Some(r.encode()), now));
        }
        let info = self.log.append_internal(&b.build(), 0, now)?;
        self.log.flush()?;
        Ok((info.first_offset..=info.last_offset).collect())
    }

    pub fn close(&mut self) -> Result<(), StorageError> {
        self.log.close()
    }
}
