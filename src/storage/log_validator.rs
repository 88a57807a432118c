//! Kafka's `LogValidator` for a client's produce batch (magic v2): the
//! batch-level checks of `validateBatch`, then every record read through
//! the record iterator (decompressed into bounded per-thread scratch space)
//! and checked as `validateRecord` does: structure, consecutive offset
//! deltas, keys on compacted topics, timestamps against
//! `message.timestamp.*`.
//!
//! It runs before the log lock is taken and never copies the records: the
//! result is the client's bytes plus the header to write in front of them,
//! whose max timestamp (and CRC) are corrected as Kafka's `setMaxTimestamp`
//! corrects them. A batch that fails is never appended, so a consumer
//! never meets records it cannot read.
//!
//! Decompressed output is capped at [`decompressed_limit`]: a multiple of
//! `max.message.bytes`, not `max.message.bytes` itself, because producers
//! size batches by their compressed bytes (the Java client's `batch.size`)
//! and Kafka accepts batches that inflate past `max.message.bytes`. The cap
//! refuses a decompression bomb after at most that much output.

use std::cell::RefCell;

use crate::config::{LogConfig, TimestampType};
use crate::record::batch::{self, BatchError, BatchHeader, BatchView, Compression, HEADER_SIZE};
use crate::record::iter::{self, RecordError, RecordIter};

use super::{Result, StorageError, TopicPartition};

/// Kafka's `RecordBatch.NO_TIMESTAMP`.
const NO_TIMESTAMP: i64 = -1;
/// How far one batch may inflate beyond `max.message.bytes`.
const DECOMPRESSION_FACTOR: usize = 64;
/// Scratch buffers above this size are released after use.
const SCRATCH_KEEP_BYTES: usize = 4 << 20;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The most bytes a batch's records may decompress to on a topic whose
/// `max.message.bytes` is `max_message_bytes`.
pub fn decompressed_limit(max_message_bytes: i32) -> usize {
    (max_message_bytes.max(1 << 20) as usize).saturating_mul(DECOMPRESSION_FACTOR)
}

/// A client batch that passed validation: its bytes as received and the
/// header to write in their place (timestamps and CRC final; base offset
/// and partition leader epoch are set at append).
#[derive(Debug)]
pub struct ValidatedBatch<'a> {
    pub bytes: &'a [u8],
    pub header: [u8; HEADER_SIZE],
    /// The header as received (count, producer fields, offsets).
    pub h: BatchHeader,
    /// `now` when the topic uses LogAppendTime, else -1.
    pub log_append_time: i64,
}

impl ValidatedBatch<'_> {
    /// The records after the header, written untouched.
    pub fn records(&self) -> &[u8] {
        &self.bytes[HEADER_SIZE..]
    }
    /// The max timestamp the stored batch carries.
    pub fn max_timestamp(&self) -> i64 {
        BatchHeader::parse(&self.header).expect("full header").max_timestamp
    }
}

/// Validates the records a client sent for one partition.
pub fn validate_client_batch<'a>(
    records: &'a [u8],
    config: &LogConfig,
    tp: &TopicPartition,
    now: i64,
) -> Result<ValidatedBatch<'a>> {
    check_first_batch_framing(records)?;
    let view = BatchView::parse_valid(records).map_err(batch_error)?;
    if view.size() != records.len() {
        return Err(StorageError::InvalidRecord(
            "Produce requests are only allowed to contain exactly one record batch per partition".into(),
        ));
    }
    let h = view.header();
    validate_batch(&h, tp)?;
    let codec = Compression::from_id(h.compression_id())
        .ok_or(StorageError::Corrupt(BatchError::UnknownCompression(h.compression_id())))?;
    if view.size() > config.max_message_bytes.max(0) as usize {
        return Err(StorageError::MessageTooLarge { size: view.size(), max: config.max_message_bytes as usize });
    }
    if view.size() as u64 > config.segment_bytes {
        return Err(StorageError::RecordListTooLarge { size: view.size(), max: config.segment_bytes as usize });
    }
    let max_timestamp = SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let result = validate_records(&view, codec, config, tp, now, &mut scratch);
        if scratch.capacity() > SCRATCH_KEEP_BYTES {
            *scratch = Vec::new();
        }
        result
    })?;
    let mut header = [0u8; HEADER_SIZE];
    header.copy_from_slice(&records[..HEADER_SIZE]);
    let log_append_time = match config.message_timestamp_type {
        TimestampType::LogAppendTime => {
            batch::patch::set_max_timestamp(&mut header, view.records_bytes(), true, now);
            now
        }
        TimestampType::CreateTime => {
            if h.max_timestamp != max_timestamp || h.is_log_append_time() {
                batch::patch::set_max_timestamp(&mut header, view.records_bytes(), false, max_timestamp);
            }
            NO_TIMESTAMP
        }
    };
    Ok(ValidatedBatch { bytes: records, header, h, log_append_time })
}

/// Kafka's framing checks on the first batch of a produce request, in its
/// order (`ByteBufferLogInputStream` + `ProduceRequest.validateRecords`):
/// a length below the smallest legacy record is corrupt; a batch cut short
/// is no batch at all, and a batch that is not magic 2 is refused, both
/// INVALID_RECORD.
fn check_first_batch_framing(records: &[u8]) -> Result<()> {
    const HEADER_UP_TO_MAGIC: usize = batch::OFFSET_MAGIC + 1;
    const LEGACY_RECORD_OVERHEAD_V0: i32 = 14;
    let no_batch =
        || StorageError::InvalidRecord("Produce requests must have at least one record batch per partition".into());
    if records.len() < HEADER_UP_TO_MAGIC {
        return Err(no_batch());
    }
    let length =
        i32::from_be_bytes(records[batch::OFFSET_LENGTH..batch::OFFSET_LENGTH + 4].try_into().expect("4 bytes"));
    if length < LEGACY_RECORD_OVERHEAD_V0 {
        return Err(StorageError::Corrupt(BatchError::InvalidLength(length)));
    }
    if batch::LOG_OVERHEAD + length as usize > records.len() {
        return Err(no_batch());
    }
    let magic = records[batch::OFFSET_MAGIC] as i8;
    if magic != 2 {
        return Err(batch_error(BatchError::UnsupportedMagic(magic)));
    }
    Ok(())
}

/// Maps a batch parse failure to Kafka's error for a produce request.
pub fn batch_error(e: BatchError) -> StorageError {
    match e {
        BatchError::UnsupportedMagic(m) => StorageError::InvalidRecord(format!(
            "Produce requests are only allowed to contain record batches with magic version 2 (got {m})"
        )),
        other => StorageError::Corrupt(other),
    }
}

/// Kafka's `validateBatch` for a client's v2 batch.
fn validate_batch(h: &BatchHeader, tp: &TopicPartition) -> Result<()> {
    if h.last_offset_delta < 0 {
        return Err(StorageError::InvalidRecord(format!(
            "Batch has an invalid offset range: [{}, {}] in topic partition {tp}",
            h.base_offset,
            h.last_offset()
        )));
    }
    if h.records_count <= 0 {
        return Err(StorageError::InvalidRecord(format!(
            "Invalid reported count for record batch: {} in topic partition {tp}",
            h.records_count
        )));
    }
    if h.records_count as i64 != h.last_offset_delta as i64 + 1 {
        return Err(StorageError::InvalidRecord(format!(
            "Inconsistent batch offset range [{}, {}] and count of records {} in topic partition {tp}",
            h.base_offset,
            h.last_offset(),
            h.records_count
        )));
    }
    if h.is_control() {
        return Err(StorageError::InvalidRecord(format!(
            "Clients are not allowed to write control records in topic partition {tp}"
        )));
    }
    if h.has_producer_id() && h.base_sequence < 0 {
        return Err(StorageError::InvalidRecord(format!(
            "Invalid sequence number {} in record batch with producerId {} in topic partition {tp}",
            h.base_sequence, h.producer_id
        )));
    }
    Ok(())
}

/// Reads every record, returning the largest record timestamp (-1 when
/// none has one). Structural errors stop at once (Kafka throws from its
/// iterator); key and timestamp errors are collected per record and
/// reported together with their indexes (KIP-467), as `processRecordErrors`.
fn validate_records(
    view: &BatchView<'_>,
    codec: Compression,
    config: &LogConfig,
    tp: &TopicPartition,
    now: i64,
    scratch: &mut Vec<u8>,
) -> Result<i64> {
    let limit = decompressed_limit(config.max_message_bytes);
    let payload = match codec {
        Compression::None => view.records_bytes(),
        _ => iter::payload(view, limit, scratch)?,
    };
    let create_time = config.message_timestamp_type == TimestampType::CreateTime;
    let earliest = now.saturating_sub(config.message_timestamp_before_max_ms);
    let latest = now.saturating_add(config.message_timestamp_after_max_ms);
    let mut max_timestamp = NO_TIMESTAMP;
    let mut errors: Vec<(i32, String)> = Vec::new();
    let mut timestamp_error = false;
    for (index, record) in RecordIter::of(view, payload)?.enumerate() {
        let record = record?;
        let index = index as i32;
        if record.offset_delta != index {
            return Err(StorageError::InvalidRecord(format!(
                "Inner record {index} inside the record batch does not have incremental offsets: offset delta {} in topic partition {tp}",
                record.offset_delta
            )));
        }
        let timestamp = record.timestamp(view);
        max_timestamp = max_timestamp.max(timestamp);
        if config.cleanup_policy.compact && record.key.is_none() {
            errors.push((index, format!("Compacted topic cannot accept message without key in topic partition {tp}.")));
            continue;
        }
        if create_time && timestamp != NO_TIMESTAMP {
            if timestamp < earliest || timestamp > latest {
                timestamp_error = true;
                errors.push((
                    index,
                    format!(
                        "Timestamp {timestamp} of message with offset {} is out of range. The timestamp should be within [{earliest}, {latest}]",
                        record.offset(view)
                    ),
                ));
            }
        } else if view.is_log_append_time() {
            timestamp_error = true;
            errors.push((
                index,
                "Invalid timestamp type in message. Producer should not set timestamp type to LogAppendTime.".into(),
            ));
        }
    }
    if errors.is_empty() {
        return Ok(max_timestamp);
    }
    let message = if timestamp_error {
        "One or more records have been rejected due to invalid timestamp".to_string()
    } else {
        let shown: Vec<String> =
            errors.iter().take(3).map(|(i, m)| format!("RecordError(batchIndex={i}, message='{m}')")).collect();
        format!(
            "One or more records have been rejected due to {} record errors in total, and only showing the first three errors at most: [{}]",
            errors.len(),
            shown.join(", ")
        )
    };
    Err(StorageError::RecordValidation { timestamp: timestamp_error, message, record_errors: errors })
}

impl From<RecordError> for StorageError {
    fn from(e: RecordError) -> Self {
        StorageError::Records(e)
    }
}

#[cfg(test)]
mod tests;
