//! One log segment (Kafka's `LogSegment`): `<base>.log` holding record
//! batches exactly as served, with its `.index` and `.timeindex`.
//!
//! Invariants: `size` is the length of the valid batch data in the file
//! (everything past it is garbage from a crash and is cut by recovery);
//! batches are contiguous and their offsets increase; `next_offset` is one
//! past the last offset in the segment (or `base_offset` when empty).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use bytes::Bytes;

use crate::record::batch::{self, BatchView, HEADER_SIZE, LOG_OVERHEAD};
use crate::util::clock::now_ms;

use super::index::{OffsetIndex, TimeIndex};
use super::segment_file::SegmentFile;
use super::txn_index::{TransactionIndex, TXN_INDEX_SUFFIX};
use super::{segment_file_name, Result, StorageError};

pub const LOG_SUFFIX: &str = ".log";
pub const INDEX_SUFFIX: &str = ".index";
pub const TIME_INDEX_SUFFIX: &str = ".timeindex";
pub const DELETED_SUFFIX: &str = ".deleted";
pub const CLEANED_SUFFIX: &str = ".cleaned";
pub const SWAP_SUFFIX: &str = ".swap";

/// Writes all of `parts` at `offset` with as few syscalls as possible.
pub fn write_all_vectored_at(file: &File, parts: &[&[u8]], mut offset: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut slices: Vec<&[u8]> = parts.iter().copied().filter(|p| !p.is_empty()).collect();
    while !slices.is_empty() {
        let iov: Vec<libc::iovec> = slices
            .iter()
            .map(|s| libc::iovec { iov_base: s.as_ptr() as *mut libc::c_void, iov_len: s.len() })
            .collect();
        // SAFETY: the iovecs point into live slices for the duration of the call.
        let n =
            unsafe { libc::pwritev(file.as_raw_fd(), iov.as_ptr(), iov.len() as libc::c_int, offset as libc::off_t) };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        let mut written = n as usize;
        offset += written as u64;
        while written > 0 {
            if written >= slices[0].len() {
                written -= slices[0].len();
                slices.remove(0);
            } else {
                slices[0] = &slices[0][written..];
                written = 0;
            }
        }
    }
    Ok(())
}

/// Reads exactly `len` bytes at `position` (fewer if the file is shorter).
pub fn read_at(file: &File, position: u64, len: usize) -> std::io::Result<Bytes> {
    use std::os::fd::AsRawFd;
    // Read straight into uninitialised capacity: zero-filling first would
    // touch every page of a large fetch once more for nothing.
    let mut buf: Vec<u8> = Vec::with_capacity(len);
    let mut filled = 0;
    while filled < len {
        let spare = &mut buf.spare_capacity_mut()[..len - filled];
        // SAFETY: `spare` is valid for writes of `spare.len()` bytes;
        // pread writes at most that many and reports how many it wrote.
        let n = unsafe {
            libc::pread(
                file.as_raw_fd(),
                spare.as_mut_ptr() as *mut libc::c_void,
                spare.len(),
                (position + filled as u64) as libc::off_t,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            break;
        }
        filled += n as usize;
        // SAFETY: the first `filled` bytes were written by pread above.
        unsafe { buf.set_len(filled) };
    }
    Ok(Bytes::from(buf))
}

/// Removes the `.log`, `.index`, `.timeindex` and `.txnindex` files of a
/// segment.
pub fn delete_segment_files(dir: &Path, base_offset: i64) -> Result<()> {
    for suffix in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX] {
        let p = dir.join(segment_file_name(base_offset, suffix));
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StorageError::io(p.display().to_string(), e)),
        }
    }
    Ok(())
}

/// Batch header fields needed to walk a segment without reading records.
#[derive(Debug, Clone, Copy)]
pub struct BatchPosition {
    pub position: u64,
    pub size: u64,
    pub base_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
}

#[derive(Debug)]
pub struct LogSegment {
    base_offset: i64,
    dir: PathBuf,
    file: SegmentFile,
    size: u64,
    next_offset: i64,
    pub offset_index: OffsetIndex,
    pub time_index: TimeIndex,
    /// The transactions whose ABORT marker lies in this segment.
    pub txn_index: TransactionIndex,
    index_interval_bytes: u64,
    bytes_since_last_index_entry: u64,
    max_timestamp: i64,
    offset_of_max_timestamp: i64,
    /// Timestamp the segment.ms roll is measured from.
    rolling_based_timestamp: Option<i64>,
    created_ms: i64,
    /// Bytes written since the last fsync.
    unflushed: bool,
    dense_offsets: bool,
}

pub struct SegmentConfig {
    pub index_interval_bytes: u64,
    pub max_index_bytes: u64,
    /// Batches follow each other without offset gaps (every log but a
    /// compacted one). Recovery then also catches damage to the base
    /// offset, the one header field the CRC does not cover.
    pub dense_offsets: bool,
}

impl LogSegment {
    pub fn log_path(dir: &Path, base_offset: i64) -> PathBuf {
        dir.join(segment_file_name(base_offset, LOG_SUFFIX))
    }

    /// Creates an empty segment (files created now).
    pub fn create(dir: &Path, base_offset: i64, cfg: &SegmentConfig) -> Result<Self> {
        let path = Self::log_path(dir, base_offset);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| StorageError::io(path.display().to_string(), e))?;
        let mut seg = LogSegment {
            base_offset,
            dir: dir.to_path_buf(),
            file: SegmentFile::new(path, file),
            size: 0,
            next_offset: base_offset,
            offset_index: OffsetIndex::new(
                dir.join(segment_file_name(base_offset, INDEX_SUFFIX)),
                base_offset,
                cfg.max_index_bytes,
            ),
            time_index: TimeIndex::new(
                dir.join(segment_file_name(base_offset, TIME_INDEX_SUFFIX)),
                base_offset,
                cfg.max_index_bytes,
            ),
            txn_index: TransactionIndex::create(dir, base_offset)?,
            index_interval_bytes: cfg.index_interval_bytes,
            bytes_since_last_index_entry: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: base_offset,
            rolling_based_timestamp: None,
            created_ms: now_ms(),
            unflushed: false,
            dense_offsets: cfg.dense_offsets,
        };
        seg.offset_index.persist()?;
        seg.time_index.persist()?;
        Ok(seg)
    }

    /// Opens an existing segment. With `recover`, every batch is validated
    /// and the file cut at the first invalid one, indexes rebuilt; without,
    /// the indexes are loaded (and rebuilt if they fail sanity checks).
    pub fn open(dir: &Path, base_offset: i64, cfg: &SegmentConfig, recover: bool) -> Result<(Self, u64)> {
        let path = Self::log_path(dir, base_offset);
        let io = |e| StorageError::io(path.display().to_string(), e);
        let file = OpenOptions::new().read(true).write(true).open(&path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        let file_len = meta.len();
        let created_ms = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as i64)
            .unwrap_or_else(now_ms);
        let mut seg = LogSegment {
            base_offset,
            dir: dir.to_path_buf(),
            file: SegmentFile::new(path.clone(), file),
            size: file_len,
            next_offset: base_offset,
            offset_index: OffsetIndex::new(
                dir.join(segment_file_name(base_offset, INDEX_SUFFIX)),
                base_offset,
                cfg.max_index_bytes,
            ),
            time_index: TimeIndex::new(
                dir.join(segment_file_name(base_offset, TIME_INDEX_SUFFIX)),
                base_offset,
                cfg.max_index_bytes,
            ),
            txn_index: TransactionIndex::load(dir, base_offset)?,
            index_interval_bytes: cfg.index_interval_bytes,
            bytes_since_last_index_entry: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: base_offset,
            rolling_based_timestamp: None,
            created_ms,
            unflushed: false,
            dense_offsets: cfg.dense_offsets,
        };
        if recover {
            let truncated = seg.recover()?;
            return Ok((seg, truncated));
        }
        let loaded =
            OffsetIndex::load(seg.offset_index.path().to_path_buf(), base_offset, cfg.max_index_bytes, file_len);
        match loaded {
            Ok(idx) => seg.offset_index = idx,
            Err(e) => {
                tracing::warn!(error = %e, "rebuilding corrupt offset index");
                let truncated = seg.recover()?;
                return Ok((seg, truncated));
            }
        }
        // Find the end: walk batch headers from the last index entry.
        let start = seg.offset_index.entries().last().map_or(0, |&(_, p)| p as u64);
        let mut last: Option<BatchPosition> = None;
        let mut pos = start;
        let mut consistent = true;
        while pos < file_len {
            match seg.batch_at(pos, file_len)? {
                Some(b) => {
                    pos += b.size;
                    last = Some(b);
                }
                None => {
                    consistent = false;
                    break;
                }
            }
        }
        if !consistent || seg.first_batch()?.is_some_and(|b| b.base_offset < base_offset) {
            tracing::warn!(segment = %path.display(), "segment tail invalid on clean open; recovering");
            let truncated = seg.recover()?;
            return Ok((seg, truncated));
        }
        if let Some(b) = last {
            seg.next_offset = b.last_offset + 1;
        }
        match TimeIndex::load(seg.time_index_path(), base_offset, cfg.max_index_bytes, seg.next_offset) {
            Ok(t) => seg.time_index = t,
            Err(_) => {
                let truncated = seg.recover()?;
                return Ok((seg, truncated));
            }
        }
        if let Some((ts, off)) = seg.time_index.last_entry() {
            seg.max_timestamp = ts;
            seg.offset_of_max_timestamp = off;
        }
        // Batches after the last time index entry may carry a larger timestamp.
        let mut pos = start;
        while pos < file_len {
            let Some(b) = seg.batch_at(pos, file_len)? else {
                break;
            };
            if b.max_timestamp > seg.max_timestamp {
                seg.max_timestamp = b.max_timestamp;
                seg.offset_of_max_timestamp = b.last_offset;
            }
            pos += b.size;
        }
        if let Some(first) = seg.first_batch()? {
            seg.rolling_based_timestamp = Some(first.max_timestamp);
        }
        Ok((seg, 0))
    }

    /// Validates every batch (length, magic, CRC, increasing offsets),
    /// truncates at the first bad byte, and rebuilds both indexes. Returns
    /// the number of bytes cut.
    pub fn recover(&mut self) -> Result<u64> {
        let file_len = self.handle()?.metadata().map_err(|e| self.io(e))?.len();
        self.offset_index.reset()?;
        self.time_index.reset()?;
        self.max_timestamp = -1;
        self.offset_of_max_timestamp = self.base_offset;
        self.bytes_since_last_index_entry = 0;
        self.next_offset = self.base_offset;
        self.rolling_based_timestamp = None;
        let mut pos = 0u64;
        // Read in chunks; each batch is validated from memory.
        const CHUNK: usize = 8 << 20;
        let mut buf = Bytes::new();
        let mut buf_start = 0u64;
        loop {
            if pos >= file_len {
                break;
            }
            let in_buf = (pos - buf_start) as usize;
            let need_header = in_buf + LOG_OVERHEAD > buf.len();
            let size_known = if need_header { None } else { batch::peek_batch_size(&buf[in_buf..]).ok().flatten() };
            let refill = match size_known {
                None => need_header,
                Some(sz) => in_buf + sz > buf.len(),
            };
            if refill {
                let want = size_known.unwrap_or(CHUNK).max(CHUNK).min((file_len - pos) as usize);
                buf = read_at(&*self.handle()?, pos, want).map_err(|e| self.io(e))?;
                buf_start = pos;
                if buf.len() < LOG_OVERHEAD {
                    break;
                }
                if let Ok(Some(sz)) = batch::peek_batch_size(&buf) {
                    if sz > buf.len() {
                        break; // torn batch at the end
                    }
                }
            }
            let in_buf = (pos - buf_start) as usize;
            let view = match BatchView::parse_valid(&buf[in_buf..]) {
                Ok(v) => v,
                Err(_) => break,
            };
            let gap = view.base_offset() != self.next_offset;
            if view.base_offset() < self.next_offset
                || (gap && self.dense_offsets)
                || view.last_offset() < view.base_offset()
            {
                break;
            }
            self.index_batch(&view, pos);
            if self.rolling_based_timestamp.is_none() {
                self.rolling_based_timestamp = Some(view.max_timestamp());
            }
            self.next_offset = view.last_offset() + 1;
            pos += view.size() as u64;
        }
        let truncated = file_len - pos;
        if truncated > 0 {
            self.handle()?.set_len(pos).map_err(|e| self.io(e))?;
        }
        self.size = pos;
        self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp);
        self.offset_index.persist()?;
        self.time_index.persist()?;
        Ok(truncated)
    }

    fn io(&self, e: std::io::Error) -> StorageError {
        StorageError::io(Self::log_path(&self.dir, self.base_offset).display().to_string(), e)
    }

    fn index_batch(&mut self, view: &BatchView<'_>, position: u64) {
        if view.max_timestamp() > self.max_timestamp {
            self.max_timestamp = view.max_timestamp();
            self.offset_of_max_timestamp = view.last_offset();
        }
        if self.bytes_since_last_index_entry > self.index_interval_bytes {
            self.offset_index.append(view.last_offset(), position);
            self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp);
            self.bytes_since_last_index_entry = 0;
        }
        self.bytes_since_last_index_entry += view.size() as u64;
    }

    /// Appends one batch given as header + rest (so a patched header need
    /// not be copied together with the records). `header` is the batch's
    /// first [`HEADER_SIZE`] bytes.
    pub fn append(&mut self, header: &[u8], rest: &[u8]) -> Result<()> {
        debug_assert_eq!(header.len(), HEADER_SIZE);
        let position = self.size;
        write_all_vectored_at(&*self.handle()?, &[header, rest], position).map_err(|e| self.io(e))?;
        // Index from the header alone (the view never reads records).
        let mut hdr = [0u8; HEADER_SIZE];
        hdr.copy_from_slice(header);
        let total = header.len() + rest.len();
        let view_len = total as u64;
        let base = i64::from_be_bytes(hdr[0..8].try_into().expect("8"));
        let last_delta = i32::from_be_bytes(
            hdr[batch::OFFSET_LAST_OFFSET_DELTA..batch::OFFSET_LAST_OFFSET_DELTA + 4].try_into().expect("4"),
        );
        let max_ts = i64::from_be_bytes(
            hdr[batch::OFFSET_MAX_TIMESTAMP..batch::OFFSET_MAX_TIMESTAMP + 8].try_into().expect("8"),
        );
        let last_offset = base + last_delta as i64;
        if max_ts > self.max_timestamp {
            self.max_timestamp = max_ts;
            self.offset_of_max_timestamp = last_offset;
        }
        if self.bytes_since_last_index_entry > self.index_interval_bytes {
            self.offset_index.append(last_offset, position);
            self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp);
            self.bytes_since_last_index_entry = 0;
        }
        self.bytes_since_last_index_entry += view_len;
        if self.rolling_based_timestamp.is_none() {
            self.rolling_based_timestamp = Some(max_ts);
        }
        self.size += view_len;
        self.next_offset = last_offset + 1;
        self.unflushed = true;
        Ok(())
    }

    /// Reads the header of the batch at `position`; `None` if no valid
    /// header (or the batch runs past `limit`).
    pub fn batch_at(&self, position: u64, limit: u64) -> Result<Option<BatchPosition>> {
        if position + HEADER_SIZE as u64 > limit {
            return Ok(None);
        }
        let hdr = read_at(&*self.handle()?, position, HEADER_SIZE).map_err(|e| self.io(e))?;
        if hdr.len() < HEADER_SIZE {
            return Ok(None);
        }
        let size = match batch::peek_batch_size(&hdr) {
            Ok(Some(s)) => s as u64,
            _ => return Ok(None),
        };
        if hdr[batch::OFFSET_MAGIC] != 2 || position + size > limit {
            return Ok(None);
        }
        let base_offset = i64::from_be_bytes(hdr[0..8].try_into().expect("8"));
        let delta = i32::from_be_bytes(
            hdr[batch::OFFSET_LAST_OFFSET_DELTA..batch::OFFSET_LAST_OFFSET_DELTA + 4].try_into().expect("4"),
        );
        let max_timestamp = i64::from_be_bytes(
            hdr[batch::OFFSET_MAX_TIMESTAMP..batch::OFFSET_MAX_TIMESTAMP + 8].try_into().expect("8"),
        );
        Ok(Some(BatchPosition { position, size, base_offset, last_offset: base_offset + delta as i64, max_timestamp }))
    }

    pub fn first_batch(&self) -> Result<Option<BatchPosition>> {
        self.batch_at(0, self.size)
    }

    /// The first batch whose last offset is >= `offset`, scanning from the
    /// index's nearest entry; `None` if the segment has no such batch.
    pub fn find_batch(&self, offset: i64, limit: u64) -> Result<Option<BatchPosition>> {
        let pos = self.checked_index_lookup(offset, limit)?;
        self.scan_for_offset(pos, offset, limit)
    }

    /// The offset index's position for `offset`, or 0 when the entry is
    /// wrong: an index entry `(o, p)` always points at a batch starting at
    /// or below `o`, so a batch there starting above `offset` (or none) is
    /// a damaged index that passed the load checks, and following it would
    /// skip records. The check reads the header the scan reads first.
    fn checked_index_lookup(&self, offset: i64, limit: u64) -> Result<u64> {
        let pos = self.offset_index.lookup(offset);
        if pos == 0 || pos >= limit {
            return Ok(pos);
        }
        match self.batch_at(pos, limit)? {
            Some(b) if b.base_offset <= offset => Ok(pos),
            _ => {
                tracing::warn!(
                    segment = self.base_offset,
                    offset,
                    position = pos,
                    "offset index entry does not point at its batch; scanning the segment"
                );
                Ok(0)
            }
        }
    }

    fn scan_for_offset(&self, mut pos: u64, offset: i64, limit: u64) -> Result<Option<BatchPosition>> {
        while pos < limit {
            match self.batch_at(pos, limit)? {
                Some(b) if b.last_offset >= offset => return Ok(Some(b)),
                Some(b) => pos += b.size,
                None => return Ok(None),
            }
        }
        Ok(None)
    }

    /// The first batch whose max timestamp is >= `timestamp`, at or after `min_offset`.
    pub fn find_batch_by_timestamp(&self, timestamp: i64, min_offset: i64) -> Result<Option<BatchPosition>> {
        let indexed = self.time_index.lookup(timestamp);
        let mut pos = self.checked_index_lookup(indexed.max(min_offset), self.size)?;
        while pos < self.size {
            match self.batch_at(pos, self.size)? {
                Some(b) if b.max_timestamp >= timestamp && b.last_offset >= min_offset => return Ok(Some(b)),
                Some(b) => pos += b.size,
                None => return Ok(None),
            }
        }
        Ok(None)
    }

    /// Cuts the segment so it ends before `offset`; returns bytes removed.
    pub fn truncate_to(&mut self, offset: i64) -> Result<u64> {
        if offset >= self.next_offset {
            return Ok(0);
        }
        let new_size = match self.find_batch(offset, self.size)? {
            Some(b) => b.position,
            None => self.size,
        };
        let removed = self.size - new_size;
        self.handle()?.set_len(new_size).map_err(|e| self.io(e))?;
        self.size = new_size;
        self.offset_index.truncate_to_offset(offset)?;
        self.time_index.truncate_to_offset(offset)?;
        self.txn_index.truncate_to(offset)?;
        // Recompute the end offset, max timestamp and index cadence.
        self.next_offset = self.base_offset;
        self.max_timestamp = -1;
        self.offset_of_max_timestamp = self.base_offset;
        self.rolling_based_timestamp = None;
        let mut pos = 0;
        while pos < self.size {
            let Some(b) = self.batch_at(pos, self.size)? else {
                break;
            };
            if b.max_timestamp > self.max_timestamp {
                self.max_timestamp = b.max_timestamp;
                self.offset_of_max_timestamp = b.last_offset;
            }
            if self.rolling_based_timestamp.is_none() {
                self.rolling_based_timestamp = Some(b.max_timestamp);
            }
            self.next_offset = b.last_offset + 1;
            pos += b.size;
        }
        let last_indexed = self.offset_index.entries().last().map_or(0, |&(_, p)| p as u64);
        self.bytes_since_last_index_entry = self.size.saturating_sub(last_indexed);
        Ok(removed)
    }

    /// fsyncs the log and writes pending index entries.
    pub fn flush(&mut self) -> Result<()> {
        if self.unflushed {
            self.handle()?.sync_data().map_err(|e| self.io(e))?;
            self.unflushed = false;
        }
        self.txn_index.flush()?;
        self.persist_indexes()
    }

    pub fn persist_indexes(&mut self) -> Result<()> {
        self.offset_index.persist()?;
        self.time_index.persist()
    }

    /// Called when a newer segment becomes active: record the final max
    /// timestamp in the time index so retention and lookups see it.
    pub fn on_become_inactive(&mut self) -> Result<()> {
        if self.max_timestamp >= 0 {
            self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp);
        }
        self.make_idle();
        self.persist_indexes()
    }

    /// Removes the segment's files.
    pub fn delete_files(&self) -> Result<()> {
        delete_segment_files(&self.dir, self.base_offset)
    }
    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }
    /// The `.log` file's handle, reopened if it was closed while the
    /// segment was idle; call with the log locked.
    pub fn file(&self) -> Result<Arc<File>> {
        self.handle()
    }

    fn handle(&self) -> Result<Arc<File>> {
        self.file.get().map_err(|e| self.io(e))
    }

    /// Whether the `.log` handle is open now (it closes while idle).
    #[cfg(test)]
    pub fn file_is_open(&self) -> bool {
        self.file.is_open()
    }

    /// Identifies this segment's file in the process (see [`SegmentFile`]).
    pub fn file_id(&self) -> u64 {
        self.file.id()
    }

    /// The segment is no longer the active one: its handle may be closed
    /// while idle and reopened on demand.
    pub fn make_idle(&mut self) {
        self.file.make_idle();
    }

    /// The segment is the active one again (or must stay open for a
    /// while): its handle is pinned open.
    pub fn make_active(&mut self) -> Result<()> {
        self.file.make_active().map_err(|e| self.io(e))
    }
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }
    pub fn offset_of_max_timestamp(&self) -> i64 {
        self.offset_of_max_timestamp
    }
    pub fn time_index_path(&self) -> PathBuf {
        self.dir.join(segment_file_name(self.base_offset, TIME_INDEX_SUFFIX))
    }
    /// Kafka's `timeWaitedForRoll`: the incoming batch's timestamp minus the
    /// first batch's, or wall time since creation when timestamps are absent.
    pub fn time_waited_for_roll(&self, now: i64, message_timestamp: i64) -> i64 {
        match self.rolling_based_timestamp {
            Some(t) if t >= 0 => message_timestamp - t,
            _ => now - self.created_ms,
        }
    }
    /// The timestamp retention.ms compares: the largest record timestamp,
    /// or the file's modification time for an empty segment.
    pub fn largest_timestamp(&self) -> i64 {
        if self.max_timestamp >= 0 {
            self.max_timestamp
        } else {
            self.created_ms
        }
    }
    pub fn has_unflushed(&self) -> bool {
        self.unflushed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::batch::patch;
    use crate::record::records::{BatchBuilder, Record};

    fn cfg() -> SegmentConfig {
        SegmentConfig { index_interval_bytes: 100, max_index_bytes: 1 << 20, dense_offsets: true }
    }

    fn batch(base: i64, n: usize, ts: i64) -> Vec<u8> {
        let mut b = BatchBuilder::new(0, ts);
        for i in 0..n {
            b.push(Record::new(None, Some(vec![b'a' + (i % 26) as u8; 50]), ts + i as i64));
        }
        let mut v = b.build().to_vec();
        patch::set_base_offset(&mut v, base);
        v
    }

    fn append(seg: &mut LogSegment, b: &[u8]) {
        seg.append(&b[..HEADER_SIZE], &b[HEADER_SIZE..]).unwrap();
    }

    #[test]
    fn append_find_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = LogSegment::create(dir.path(), 0, &cfg()).unwrap();
        let mut offset = 0;
        for i in 0..20 {
            let b = batch(offset, 3, 1000 + i * 10);
            append(&mut seg, &b);
            offset += 3;
        }
        assert_eq!(seg.next_offset(), 60);
        assert!(seg.offset_index.len() > 3);
        let b = seg.find_batch(31, seg.size()).unwrap().unwrap();
        assert_eq!((b.base_offset, b.last_offset), (30, 32));
        let t = seg.find_batch_by_timestamp(1100, 0).unwrap().unwrap();
        assert_eq!(t.base_offset, 30);
        assert_eq!(seg.max_timestamp(), 1000 + 19 * 10 + 2);
        seg.flush().unwrap();
        seg.on_become_inactive().unwrap();
        let size = seg.size();
        drop(seg);
        let (seg, cut) = LogSegment::open(dir.path(), 0, &cfg(), false).unwrap();
        assert_eq!(cut, 0);
        assert_eq!(seg.size(), size);
        assert_eq!(seg.next_offset(), 60);
        assert_eq!(seg.max_timestamp(), 1192);
    }

    #[test]
    fn recovery_cuts_torn_tail_and_rebuilds_index() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = LogSegment::create(dir.path(), 0, &cfg()).unwrap();
        for i in 0..5 {
            append(&mut seg, &batch(i * 2, 2, 10));
        }
        let good = seg.size();
        seg.flush().unwrap();
        drop(seg);
        let path = LogSegment::log_path(dir.path(), 0);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&batch(10, 2, 10)[..70]);
        std::fs::write(&path, &bytes).unwrap();
        let (seg, cut) = LogSegment::open(dir.path(), 0, &cfg(), true).unwrap();
        assert_eq!(cut, 70);
        assert_eq!(seg.size(), good);
        assert_eq!(seg.next_offset(), 10);
    }

    #[test]
    fn truncate_to_offset() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = LogSegment::create(dir.path(), 100, &cfg()).unwrap();
        for i in 0..10 {
            append(&mut seg, &batch(100 + i * 2, 2, 10 + i));
        }
        seg.truncate_to(105).unwrap();
        assert_eq!(seg.next_offset(), 104);
        assert!(seg.offset_index.entries().iter().all(|&(r, _)| (r as i64) < 5));
        assert_eq!(seg.max_timestamp(), 11 + 1);
    }
}
