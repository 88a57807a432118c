//! Sparse segment indexes in Kafka's file format.
//!
//! `.index`: 8-byte entries `(relative offset: u32, position: u32)`;
//! `.timeindex`: 12-byte entries `(timestamp: i64, relative offset: u32)`,
//! all big-endian, offsets relative to the segment's base offset. Entries
//! are kept in memory and appended to the file in groups (on flush, roll and
//! shutdown): an index that lags its log after a crash is rebuilt by
//! recovery, which rescans every segment after the recovery point.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Result, StorageError};

pub const OFFSET_ENTRY_SIZE: usize = 8;
pub const TIME_ENTRY_SIZE: usize = 12;

/// Offset index: relative offset -> byte position. Invariant: both columns
/// strictly increase.
#[derive(Debug)]
pub struct OffsetIndex {
    path: PathBuf,
    base_offset: i64,
    entries: Vec<(u32, u32)>,
    /// Entries `[..persisted]` are already in the file.
    persisted: usize,
    max_entries: usize,
}

impl OffsetIndex {
    pub fn new(path: PathBuf, base_offset: i64, max_index_bytes: u64) -> Self {
        OffsetIndex {
            path,
            base_offset,
            entries: Vec::new(),
            persisted: 0,
            max_entries: (max_index_bytes as usize / OFFSET_ENTRY_SIZE).max(1),
        }
    }

    /// Loads the file; `Err(CorruptFile)` when the entries are not sane
    /// (not increasing, or pointing beyond `log_size`).
    pub fn load(path: PathBuf, base_offset: i64, max_index_bytes: u64, log_size: u64) -> Result<Self> {
        let bytes = read_or_empty(&path)?;
        let mut idx = OffsetIndex::new(path, base_offset, max_index_bytes);
        let usable = bytes.len() / OFFSET_ENTRY_SIZE * OFFSET_ENTRY_SIZE;
        for chunk in bytes[..usable].chunks_exact(OFFSET_ENTRY_SIZE) {
            let rel = u32::from_be_bytes(chunk[0..4].try_into().expect("4"));
            let pos = u32::from_be_bytes(chunk[4..8].try_into().expect("4"));
            // Kafka preallocates index files with zeros: a zero entry after
            // the first marks the end.
            if rel == 0 && pos == 0 && !idx.entries.is_empty() {
                break;
            }
            if let Some(&(lr, lp)) = idx.entries.last() {
                if rel <= lr || pos <= lp {
                    return Err(StorageError::CorruptFile(format!("{}: entries not increasing", idx.path.display())));
                }
            }
            if pos as u64 >= log_size.max(1) {
                return Err(StorageError::CorruptFile(format!("{}: position beyond log", idx.path.display())));
            }
            idx.entries.push((rel, pos));
        }
        idx.persisted = idx.entries.len();
        Ok(idx)
    }

    pub fn is_full(&self) -> bool {
        self.entries.len() >= self.max_entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entries(&self) -> &[(u32, u32)] {
        &self.entries
    }

    /// Appends `offset -> position` if it advances both columns.
    pub fn append(&mut self, offset: i64, position: u64) {
        let rel = (offset - self.base_offset) as u32;
        let pos = position as u32;
        if let Some(&(lr, lp)) = self.entries.last() {
            if rel <= lr || pos <= lp {
                return;
            }
        }
        if !self.is_full() {
            self.entries.push((rel, pos));
        }
    }

    /// The position of the largest indexed offset <= `offset` (0 if none).
    pub fn lookup(&self, offset: i64) -> u64 {
        let rel = offset - self.base_offset;
        if rel < 0 {
            return 0;
        }
        let rel = rel.min(u32::MAX as i64) as u32;
        match self.entries.partition_point(|&(r, _)| r <= rel) {
            0 => 0,
            n => self.entries[n - 1].1 as u64,
        }
    }

    /// Drops entries at or beyond `offset` (log truncation).
    pub fn truncate_to_offset(&mut self, offset: i64) -> Result<()> {
        let rel = offset - self.base_offset;
        let keep = if rel <= 0 { 0 } else { self.entries.partition_point(|&(r, _)| (r as i64) < rel) };
        self.truncate_entries(keep)
    }

    fn truncate_entries(&mut self, keep: usize) -> Result<()> {
        if keep < self.entries.len() {
            self.entries.truncate(keep);
            if self.persisted > keep {
                self.persisted = keep;
                rewrite(&self.path, &encode_offsets(&self.entries))?;
            }
        }
        Ok(())
    }

    /// Appends the entries not yet in the file.
    pub fn persist(&mut self) -> Result<()> {
        if self.persisted < self.entries.len() {
            append_bytes(
                &self.path,
                &encode_offsets(&self.entries[self.persisted..]),
                self.persisted * OFFSET_ENTRY_SIZE,
            )?;
            self.persisted = self.entries.len();
        } else if !self.path.exists() {
            rewrite(&self.path, &[])?;
        }
        Ok(())
    }

    /// Discards everything and rewrites the file (recovery rebuilds).
    pub fn reset(&mut self) -> Result<()> {
        self.entries.clear();
        self.persisted = 0;
        rewrite(&self.path, &[])
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Time index: timestamp -> relative offset. Invariant: timestamps and
/// offsets never decrease.
#[derive(Debug)]
pub struct TimeIndex {
    path: PathBuf,
    base_offset: i64,
    entries: Vec<(i64, u32)>,
    persisted: usize,
    max_entries: usize,
}

impl TimeIndex {
    pub fn new(path: PathBuf, base_offset: i64, max_index_bytes: u64) -> Self {
        TimeIndex {
            path,
            base_offset,
            entries: Vec::new(),
            persisted: 0,
            max_entries: (max_index_bytes as usize / TIME_ENTRY_SIZE).max(1),
        }
    }

    pub fn load(path: PathBuf, base_offset: i64, max_index_bytes: u64, next_offset: i64) -> Result<Self> {
        let bytes = read_or_empty(&path)?;
        let mut idx = TimeIndex::new(path, base_offset, max_index_bytes);
        let usable = bytes.len() / TIME_ENTRY_SIZE * TIME_ENTRY_SIZE;
        for chunk in bytes[..usable].chunks_exact(TIME_ENTRY_SIZE) {
            let ts = i64::from_be_bytes(chunk[0..8].try_into().expect("8"));
            let rel = u32::from_be_bytes(chunk[8..12].try_into().expect("4"));
            if ts == 0 && rel == 0 && !idx.entries.is_empty() {
                break;
            }
            if let Some(&(lt, lr)) = idx.entries.last() {
                if ts < lt || rel < lr {
                    return Err(StorageError::CorruptFile(format!("{}: entries not increasing", idx.path.display())));
                }
            }
            if base_offset + rel as i64 >= next_offset.max(base_offset + 1) {
                return Err(StorageError::CorruptFile(format!("{}: offset beyond log", idx.path.display())));
            }
            idx.entries.push((ts, rel));
        }
        idx.persisted = idx.entries.len();
        Ok(idx)
    }

    pub fn is_full(&self) -> bool {
        self.entries.len() >= self.max_entries
    }

    pub fn entries(&self) -> &[(i64, u32)] {
        &self.entries
    }

    pub fn last_entry(&self) -> Option<(i64, i64)> {
        self.entries.last().map(|&(t, r)| (t, self.base_offset + r as i64))
    }

    /// Appends when the timestamp grows (Kafka's `maybeAppend`).
    pub fn maybe_append(&mut self, timestamp: i64, offset: i64) {
        let rel = (offset - self.base_offset) as u32;
        if let Some(&(lt, lr)) = self.entries.last() {
            if timestamp <= lt || rel < lr {
                return;
            }
        }
        if !self.is_full() {
            self.entries.push((timestamp, rel));
        }
    }

    /// The offset of the largest entry whose timestamp is <= `timestamp`,
    /// or the base offset.
    pub fn lookup(&self, timestamp: i64) -> i64 {
        match self.entries.partition_point(|&(t, _)| t <= timestamp) {
            0 => self.base_offset,
            n => self.base_offset + self.entries[n - 1].1 as i64,
        }
    }

    pub fn truncate_to_offset(&mut self, offset: i64) -> Result<()> {
        let rel = offset - self.base_offset;
        let keep = if rel <= 0 { 0 } else { self.entries.partition_point(|&(_, r)| (r as i64) < rel) };
        if keep < self.entries.len() {
            self.entries.truncate(keep);
            if self.persisted > keep {
                self.persisted = keep;
                rewrite(&self.path, &encode_times(&self.entries))?;
            }
        }
        Ok(())
    }

    pub fn persist(&mut self) -> Result<()> {
        if self.persisted < self.entries.len() {
            append_bytes(&self.path, &encode_times(&self.entries[self.persisted..]), self.persisted * TIME_ENTRY_SIZE)?;
            self.persisted = self.entries.len();
        } else if !self.path.exists() {
            rewrite(&self.path, &[])?;
        }
        Ok(())
    }

    pub fn reset(&mut self) -> Result<()> {
        self.entries.clear();
        self.persisted = 0;
        rewrite(&self.path, &[])
    }
}

fn encode_offsets(entries: &[(u32, u32)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * OFFSET_ENTRY_SIZE);
    for &(r, p) in entries {
        out.extend_from_slice(&r.to_be_bytes());
        out.extend_from_slice(&p.to_be_bytes());
    }
    out
}

fn encode_times(entries: &[(i64, u32)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * TIME_ENTRY_SIZE);
    for &(t, r) in entries {
        out.extend_from_slice(&t.to_be_bytes());
        out.extend_from_slice(&r.to_be_bytes());
    }
    out
}

fn read_or_empty(path: &Path) -> Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(b) => Ok(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(StorageError::io(path.display().to_string(), e)),
    }
}

fn rewrite(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| StorageError::io(path.display().to_string(), e))
}

/// Writes `bytes` at `at`, cutting anything after (an index file may hold a
/// stale longer tail from before a truncation).
fn append_bytes(path: &Path, bytes: &[u8], at: usize) -> Result<()> {
    use std::os::unix::fs::FileExt;
    let io = |e| StorageError::io(path.display().to_string(), e);
    let f: File = OpenOptions::new().create(true).write(true).truncate(false).open(path).map_err(io)?;
    f.set_len(at as u64).map_err(io)?;
    f.write_all_at(bytes, at as u64).map_err(io)?;
    let _ = (&f).flush();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_index_lookup_persist_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000100.index");
        let mut idx = OffsetIndex::new(path.clone(), 100, 1024);
        idx.append(110, 4096);
        idx.append(105, 5000); // not increasing: ignored
        idx.append(120, 8192);
        assert_eq!(idx.lookup(99), 0);
        assert_eq!(idx.lookup(109), 0);
        assert_eq!(idx.lookup(110), 4096);
        assert_eq!(idx.lookup(119), 4096);
        assert_eq!(idx.lookup(500), 8192);
        idx.persist().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 16);
        let loaded = OffsetIndex::load(path.clone(), 100, 1024, 10_000).unwrap();
        assert_eq!(loaded.entries(), idx.entries());
        assert!(OffsetIndex::load(path.clone(), 100, 1024, 5000).is_err());
        idx.truncate_to_offset(115).unwrap();
        assert_eq!(idx.entries(), &[(10, 4096)]);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 8);
    }

    #[test]
    fn time_index_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = TimeIndex::new(dir.path().join("0.timeindex"), 0, 1024);
        idx.maybe_append(1000, 5);
        idx.maybe_append(1000, 9); // same timestamp: ignored
        idx.maybe_append(2000, 10);
        assert_eq!(idx.lookup(999), 0);
        assert_eq!(idx.lookup(1500), 5);
        assert_eq!(idx.lookup(2000), 10);
        idx.persist().unwrap();
        let loaded = TimeIndex::load(dir.path().join("0.timeindex"), 0, 1024, 11).unwrap();
        assert_eq!(loaded.entries(), idx.entries());
    }
}
