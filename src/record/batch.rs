//! Zero-copy view of a record batch header (message format v2, `magic = 2`).
//!
//! The broker never decodes records on the produce path: it reads the
//! 61-byte batch header, checks the CRC-32C, and patches the base offset and
//! partition leader epoch in place. The same view walks stored segment bytes
//! during recovery, fetch trimming and `dump-log`.
//!
//! Layout (Kafka's `DefaultRecordBatch`):
//!
//! ```text
//! baseOffset: int64            0
//! batchLength: int32           8   (bytes after this field)
//! partitionLeaderEpoch: int32  12
//! magic: int8                  16
//! crc: uint32                  17  (CRC-32C of attributes..end)
//! attributes: int16            21
//! lastOffsetDelta: int32       23
//! baseTimestamp: int64         27
//! maxTimestamp: int64          35
//! producerId: int64            43
//! producerEpoch: int16         51
//! baseSequence: int32          53
//! recordsCount: int32          57
//! records                      61
//! ```

use thiserror::Error;

/// Bytes of `baseOffset` + `batchLength`: what precedes the length-counted part.
pub const LOG_OVERHEAD: usize = 12;
/// Size of the fixed v2 batch header.
pub const HEADER_SIZE: usize = 61;
/// Smallest legal `batchLength` (a header with no records).
pub const MIN_BATCH_LENGTH: i32 = (HEADER_SIZE - LOG_OVERHEAD) as i32;

pub const OFFSET_BASE_OFFSET: usize = 0;
pub const OFFSET_LENGTH: usize = 8;
pub const OFFSET_LEADER_EPOCH: usize = 12;
pub const OFFSET_MAGIC: usize = 16;
pub const OFFSET_CRC: usize = 17;
pub const OFFSET_ATTRIBUTES: usize = 21;
pub const OFFSET_LAST_OFFSET_DELTA: usize = 23;
pub const OFFSET_BASE_TIMESTAMP: usize = 27;
pub const OFFSET_MAX_TIMESTAMP: usize = 35;
pub const OFFSET_PRODUCER_ID: usize = 43;
pub const OFFSET_PRODUCER_EPOCH: usize = 51;
pub const OFFSET_BASE_SEQUENCE: usize = 53;
pub const OFFSET_RECORDS_COUNT: usize = 57;

const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_MASK: i16 = 0x08;
const TRANSACTIONAL_FLAG: i16 = 0x10;
const CONTROL_FLAG: i16 = 0x20;
const DELETE_HORIZON_FLAG: i16 = 0x40;

/// Compression codec named in the low three attribute bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    pub fn from_id(id: i16) -> Option<Self> {
        Some(match id {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            _ => return None,
        })
    }

    pub fn id(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The name Kafka's tools print (`compresscodec: none`).
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// Why a byte range is not a valid v2 batch.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BatchError {
    #[error("record batch truncated: {needed} bytes needed, {present} present")]
    Truncated { needed: usize, present: usize },
    #[error("record batch length {0} is invalid")]
    InvalidLength(i32),
    #[error("record batch magic {0} is not supported (only magic 2)")]
    UnsupportedMagic(i8),
    #[error("record batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CorruptCrc { stored: u32, computed: u32 },
    #[error("record batch uses unknown compression codec {0}")]
    UnknownCompression(i16),
}

/// A borrowed v2 batch: `bytes` is exactly one batch (`LOG_OVERHEAD + batchLength`).
#[derive(Clone, Copy)]
pub struct BatchView<'a> {
    bytes: &'a [u8],
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Reads the size of the batch starting at `bytes[0]` without validating it:
/// `Ok(None)` when fewer than [`LOG_OVERHEAD`] bytes are present.
pub fn peek_batch_size(bytes: &[u8]) -> Result<Option<usize>, BatchError> {
    if bytes.len() < LOG_OVERHEAD {
        return Ok(None);
    }
    let length = be_i32(bytes, OFFSET_LENGTH);
    if length < MIN_BATCH_LENGTH {
        return Err(BatchError::InvalidLength(length));
    }
    Ok(Some(LOG_OVERHEAD + length as usize))
}

impl<'a> BatchView<'a> {
    /// Parses the batch at the start of `bytes` (which may hold more after
    /// it), checking length and magic but not the CRC.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, BatchError> {
        let size = match peek_batch_size(bytes)? {
            Some(size) => size,
            None => return Err(BatchError::Truncated { needed: LOG_OVERHEAD, present: bytes.len() }),
        };
        if bytes.len() < OFFSET_MAGIC + 1 {
            return Err(BatchError::Truncated { needed: OFFSET_MAGIC + 1, present: bytes.len() });
        }
        let magic = bytes[OFFSET_MAGIC] as i8;
        if magic != 2 {
            return Err(BatchError::UnsupportedMagic(magic));
        }
        if bytes.len() < size {
            return Err(BatchError::Truncated { needed: size, present: bytes.len() });
        }
        Ok(BatchView { bytes: &bytes[..size] })
    }

    /// Parses and checks the CRC: what a stored or received batch must pass.
    pub fn parse_valid(bytes: &'a [u8]) -> Result<Self, BatchError> {
        let view = Self::parse(bytes)?;
        view.verify_crc()?;
        Ok(view)
    }

    pub fn verify_crc(&self) -> Result<(), BatchError> {
        let computed = self.compute_crc();
        let stored = self.crc();
        if computed != stored {
            return Err(BatchError::CorruptCrc { stored, computed });
        }
        Ok(())
    }

    pub fn compute_crc(&self) -> u32 {
        crc32c::crc32c(&self.bytes[OFFSET_ATTRIBUTES..])
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
    pub fn size(&self) -> usize {
        self.bytes.len()
    }
    pub fn base_offset(&self) -> i64 {
        be_i64(self.bytes, OFFSET_BASE_OFFSET)
    }
    pub fn batch_length(&self) -> i32 {
        be_i32(self.bytes, OFFSET_LENGTH)
    }
    pub fn partition_leader_epoch(&self) -> i32 {
        be_i32(self.bytes, OFFSET_LEADER_EPOCH)
    }
    pub fn magic(&self) -> i8 {
        self.bytes[OFFSET_MAGIC] as i8
    }
    pub fn crc(&self) -> u32 {
        u32::from_be_bytes(self.bytes[OFFSET_CRC..OFFSET_CRC + 4].try_into().expect("4 bytes"))
    }
    pub fn attributes(&self) -> i16 {
        be_i16(self.bytes, OFFSET_ATTRIBUTES)
    }
    pub fn compression(&self) -> Result<Compression, BatchError> {
        let id = self.attributes() & COMPRESSION_MASK;
        Compression::from_id(id).ok_or(BatchError::UnknownCompression(id))
    }
    pub fn is_log_append_time(&self) -> bool {
        self.attributes() & TIMESTAMP_TYPE_MASK != 0
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes() & TRANSACTIONAL_FLAG != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes() & CONTROL_FLAG != 0
    }
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes() & DELETE_HORIZON_FLAG != 0
    }
    pub fn last_offset_delta(&self) -> i32 {
        be_i32(self.bytes, OFFSET_LAST_OFFSET_DELTA)
    }
    pub fn last_offset(&self) -> i64 {
        self.base_offset() + self.last_offset_delta() as i64
    }
    /// The offset after this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset() + 1
    }
    pub fn base_timestamp(&self) -> i64 {
        be_i64(self.bytes, OFFSET_BASE_TIMESTAMP)
    }
    pub fn max_timestamp(&self) -> i64 {
        be_i64(self.bytes, OFFSET_MAX_TIMESTAMP)
    }
    pub fn producer_id(&self) -> i64 {
        be_i64(self.bytes, OFFSET_PRODUCER_ID)
    }
    pub fn producer_epoch(&self) -> i16 {
        be_i16(self.bytes, OFFSET_PRODUCER_EPOCH)
    }
    pub fn base_sequence(&self) -> i32 {
        be_i32(self.bytes, OFFSET_BASE_SEQUENCE)
    }
    /// Last sequence number, wrapping at `i32::MAX` as Kafka does.
    pub fn last_sequence(&self) -> i32 {
        self.header().last_sequence()
    }
    /// An owned copy of the header fields.
    pub fn header(&self) -> BatchHeader {
        BatchHeader::parse(self.bytes).expect("a parsed view holds a full header")
    }
    pub fn records_count(&self) -> i32 {
        be_i32(self.bytes, OFFSET_RECORDS_COUNT)
    }
    pub fn has_producer_id(&self) -> bool {
        self.producer_id() >= 0
    }
    /// The records section (possibly compressed).
    pub fn records_bytes(&self) -> &'a [u8] {
        &self.bytes[HEADER_SIZE.min(self.bytes.len())..]
    }
}

/// An owned copy of a batch's header fields, for code that must keep them
/// after the bytes are gone (producer state, indexing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

impl BatchHeader {
    /// Reads the fixed header from at least [`HEADER_SIZE`] bytes (no
    /// validation beyond the length).
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < HEADER_SIZE {
            return None;
        }
        Some(BatchHeader {
            base_offset: be_i64(bytes, OFFSET_BASE_OFFSET),
            batch_length: be_i32(bytes, OFFSET_LENGTH),
            partition_leader_epoch: be_i32(bytes, OFFSET_LEADER_EPOCH),
            attributes: be_i16(bytes, OFFSET_ATTRIBUTES),
            last_offset_delta: be_i32(bytes, OFFSET_LAST_OFFSET_DELTA),
            base_timestamp: be_i64(bytes, OFFSET_BASE_TIMESTAMP),
            max_timestamp: be_i64(bytes, OFFSET_MAX_TIMESTAMP),
            producer_id: be_i64(bytes, OFFSET_PRODUCER_ID),
            producer_epoch: be_i16(bytes, OFFSET_PRODUCER_EPOCH),
            base_sequence: be_i32(bytes, OFFSET_BASE_SEQUENCE),
            records_count: be_i32(bytes, OFFSET_RECORDS_COUNT),
        })
    }
    pub fn size(&self) -> usize {
        LOG_OVERHEAD + self.batch_length.max(0) as usize
    }
    pub fn last_offset(&self) -> i64 {
        self.base_offset + self.last_offset_delta as i64
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_FLAG != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_FLAG != 0
    }
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & TIMESTAMP_TYPE_MASK != 0
    }
    pub fn compression_id(&self) -> i16 {
        self.attributes & COMPRESSION_MASK
    }
    pub fn has_producer_id(&self) -> bool {
        self.producer_id >= 0
    }
    /// Last sequence number, wrapping at `i32::MAX` as Kafka does.
    pub fn last_sequence(&self) -> i32 {
        let base = self.base_sequence;
        if base < 0 {
            return -1;
        }
        let delta = self.last_offset_delta;
        if delta > i32::MAX - base {
            delta - (i32::MAX - base) - 1
        } else {
            base + delta
        }
    }
}

/// Iterates over consecutive batches in `bytes`, stopping (with the error)
/// at the first one that does not parse; a trailing partial batch ends the
/// iteration with `Truncated`.
pub struct BatchIter<'a> {
    rest: &'a [u8],
    position: usize,
    verify_crc: bool,
}

impl<'a> BatchIter<'a> {
    pub fn new(bytes: &'a [u8], verify_crc: bool) -> Self {
        BatchIter { rest: bytes, position: 0, verify_crc }
    }
    /// Byte position of the next batch relative to the start.
    pub fn position(&self) -> usize {
        self.position
    }
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = Result<(usize, BatchView<'a>), BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let parsed = if self.verify_crc { BatchView::parse_valid(self.rest) } else { BatchView::parse(self.rest) };
        match parsed {
            Ok(view) => {
                let at = self.position;
                self.rest = &self.rest[view.size()..];
                self.position += view.size();
                Some(Ok((at, view)))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// Mutating helpers on an owned batch buffer (exactly one batch).
pub mod patch {
    use super::*;

    pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
        batch[OFFSET_BASE_OFFSET..OFFSET_BASE_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
    }

    pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
        batch[OFFSET_LEADER_EPOCH..OFFSET_LEADER_EPOCH + 4].copy_from_slice(&epoch.to_be_bytes());
    }

    /// Kafka's `setMaxTimestamp`: sets the timestamp type (LogAppendTime
    /// or CreateTime) and the max timestamp in `header` (the first
    /// [`HEADER_SIZE`] bytes of a batch) and recomputes the CRC over the
    /// patched header tail and `records`, the untouched rest of the batch.
    pub fn set_max_timestamp(header: &mut [u8], records: &[u8], log_append_time: bool, timestamp: i64) {
        let mut attributes = be_i16(header, OFFSET_ATTRIBUTES);
        if log_append_time {
            attributes |= TIMESTAMP_TYPE_MASK;
        } else {
            attributes &= !TIMESTAMP_TYPE_MASK;
        }
        header[OFFSET_ATTRIBUTES..OFFSET_ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
        header[OFFSET_MAX_TIMESTAMP..OFFSET_MAX_TIMESTAMP + 8].copy_from_slice(&timestamp.to_be_bytes());
        let crc = crc32c::crc32c_append(crc32c::crc32c(&header[OFFSET_ATTRIBUTES..HEADER_SIZE]), records);
        header[OFFSET_CRC..OFFSET_CRC + 4].copy_from_slice(&crc.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::records::{BatchBuilder, Record};

    fn sample() -> Vec<u8> {
        let mut b = BatchBuilder::new(0, 1_000);
        b.push(Record::new(None, Some(b"hello".to_vec()), 1_000));
        b.push(Record::new(Some(b"k".to_vec()), Some(b"v".to_vec()), 1_005));
        b.build().to_vec()
    }

    #[test]
    fn parses_a_built_batch() {
        let bytes = sample();
        let v = BatchView::parse_valid(&bytes).unwrap();
        assert_eq!(v.base_offset(), 0);
        assert_eq!(v.last_offset_delta(), 1);
        assert_eq!(v.records_count(), 2);
        assert_eq!(v.max_timestamp(), 1_005);
        assert_eq!(v.compression().unwrap(), Compression::None);
        assert_eq!(v.size(), bytes.len());
    }

    #[test]
    fn detects_crc_corruption() {
        let mut bytes = sample();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        assert!(matches!(BatchView::parse_valid(&bytes), Err(BatchError::CorruptCrc { .. })));
    }

    #[test]
    fn rejects_bad_magic_and_lengths() {
        let mut bytes = sample();
        bytes[OFFSET_MAGIC] = 1;
        assert_eq!(BatchView::parse(&bytes).err(), Some(BatchError::UnsupportedMagic(1)));
        let mut bytes = sample();
        bytes[OFFSET_LENGTH..OFFSET_LENGTH + 4].copy_from_slice(&10i32.to_be_bytes());
        assert_eq!(BatchView::parse(&bytes).err(), Some(BatchError::InvalidLength(10)));
        let bytes = sample();
        assert!(matches!(BatchView::parse(&bytes[..bytes.len() - 1]), Err(BatchError::Truncated { .. })));
    }

    #[test]
    fn patches_keep_crc_valid() {
        let mut bytes = sample();
        patch::set_base_offset(&mut bytes, 42);
        patch::set_partition_leader_epoch(&mut bytes, 7);
        let v = BatchView::parse_valid(&bytes).unwrap();
        assert_eq!(v.base_offset(), 42);
        assert_eq!(v.partition_leader_epoch(), 7);
        let (header, records) = bytes.split_at_mut(HEADER_SIZE);
        patch::set_max_timestamp(header, records, true, 99);
        let v = BatchView::parse_valid(&bytes).unwrap();
        assert!(v.is_log_append_time());
        assert_eq!(v.max_timestamp(), 99);
        let (header, records) = bytes.split_at_mut(HEADER_SIZE);
        patch::set_max_timestamp(header, records, false, 7);
        let v = BatchView::parse_valid(&bytes).unwrap();
        assert!(!v.is_log_append_time());
        assert_eq!(v.max_timestamp(), 7);
    }

    #[test]
    fn last_sequence_wraps() {
        let mut bytes = sample();
        bytes[OFFSET_BASE_SEQUENCE..OFFSET_BASE_SEQUENCE + 4].copy_from_slice(&i32::MAX.to_be_bytes());
        let v = BatchView::parse(&bytes).unwrap();
        assert_eq!(v.last_sequence(), 0);
    }
}
