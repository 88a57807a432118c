//! Writes one cleaned segment: `<base>.log.cleaned` with its
//! `.index.cleaned` and `.timeindex.cleaned`, indexed exactly as
//! `LogSegment::append` indexes (an offset entry each `index.interval.bytes`,
//! the time index following the largest timestamp), then fsynced. Nobody
//! else sees these files until `swap` renames them into the log.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::record::batch::BatchHeader;
use crate::storage::index::{OffsetIndex, TimeIndex};
use crate::storage::segment::{CLEANED_SUFFIX, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX};
use crate::storage::{segment_file_name, Result, StorageError};

/// `<base><suffix>.cleaned` in `dir`.
pub fn cleaned_path(dir: &Path, base_offset: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{}{CLEANED_SUFFIX}", segment_file_name(base_offset, suffix)))
}

pub struct CleanedSegmentWriter {
    dir: PathBuf,
    base_offset: i64,
    log: BufWriter<File>,
    size: u64,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    index_interval_bytes: u64,
    bytes_since_last_index_entry: u64,
    max_timestamp: i64,
    offset_of_max_timestamp: i64,
    finished: bool,
}

impl CleanedSegmentWriter {
    /// Creates (truncating any leftover) the `.cleaned` files of a segment
    /// starting at `base_offset`.
    pub fn create(
        dir: &Path,
        base_offset: i64,
        index_interval_bytes: u64,
        max_index_bytes: u64,
        io_buffer_size: usize,
    ) -> Result<Self> {
        let path = cleaned_path(dir, base_offset, LOG_SUFFIX);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| StorageError::io(path.display().to_string(), e))?;
        let mut w = CleanedSegmentWriter {
            dir: dir.to_path_buf(),
            base_offset,
            log: BufWriter::with_capacity(io_buffer_size.max(4096), file),
            size: 0,
            offset_index: OffsetIndex::new(cleaned_path(dir, base_offset, INDEX_SUFFIX), base_offset, max_index_bytes),
            time_index: TimeIndex::new(cleaned_path(dir, base_offset, TIME_INDEX_SUFFIX), base_offset, max_index_bytes),
            index_interval_bytes,
            bytes_since_last_index_entry: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: base_offset,
            finished: false,
        };
        // Start from empty index files (a crash may have left longer ones).
        w.offset_index.reset()?;
        w.time_index.reset()?;
        Ok(w)
    }

    fn io(&self, e: std::io::Error) -> StorageError {
        StorageError::io(cleaned_path(&self.dir, self.base_offset, LOG_SUFFIX).display().to_string(), e)
    }

    /// Appends one whole, valid batch.
    pub fn append(&mut self, batch: &[u8]) -> Result<()> {
        let h = BatchHeader::parse(batch).ok_or_else(|| StorageError::CorruptRecords("short batch".into()))?;
        let position = self.size;
        self.log.write_all(batch).map_err(|e| self.io(e))?;
        let last_offset = h.last_offset();
        if h.max_timestamp > self.max_timestamp {
            self.max_timestamp = h.max_timestamp;
            self.offset_of_max_timestamp = last_offset;
        }
        if self.bytes_since_last_index_entry > self.index_interval_bytes {
            self.offset_index.append(last_offset, position);
            self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp);
            self.bytes_since_last_index_entry = 0;
        }
        self.bytes_since_last_index_entry += batch.len() as u64;
        self.size += batch.len() as u64;
        Ok(())
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// Completes the segment as an inactive one (final time index entry),
    /// fsyncs the three files and gives the log file `modified` as its
    /// modification time (Kafka keeps the replaced segments' last one, which
    /// retention reads for an empty segment).
    pub fn finish(mut self, modified: Option<SystemTime>) -> Result<u64> {
        self.log.flush().map_err(|e| self.io(e))?;
        if self.max_timestamp >= 0 {
            self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp);
        }
        self.offset_index.persist()?;
        self.time_index.persist()?;
        for suffix in [INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
            let p = cleaned_path(&self.dir, self.base_offset, suffix);
            File::open(&p).and_then(|f| f.sync_all()).map_err(|e| StorageError::io(p.display().to_string(), e))?;
        }
        let file = self.log.get_ref();
        file.sync_all().map_err(|e| self.io(e))?;
        if let Some(t) = modified {
            // Best effort: only retention of an empty segment reads it.
            let _ = file.set_modified(t);
        }
        self.finished = true;
        Ok(self.size)
    }
}

impl Drop for CleanedSegmentWriter {
    /// An unfinished segment (aborted round, error) leaves no files.
    fn drop(&mut self) {
        if !self.finished {
            delete_cleaned_files(&self.dir, self.base_offset);
        }
    }
}

/// Removes the `.cleaned` files of a segment, if any.
pub fn delete_cleaned_files(dir: &Path, base_offset: i64) {
    for suffix in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
        let _ = std::fs::remove_file(cleaned_path(dir, base_offset, suffix));
    }
}
