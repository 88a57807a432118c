//! Kafka's aborted-transaction index (`TransactionIndex`, `AbortedTxn`):
//! one `<base>.txnindex` file per segment listing every transaction whose
//! ABORT marker lies in that segment, as 34-byte entries `version i16 (0),
//! producer_id i64, first_offset i64, last_offset i64 (the marker),
//! last_stable_offset i64` (the partition's LSO once it completed).
//!
//! The entries are also kept in memory (aborts are rare; read_committed
//! fetches consult them on every read). The file is created on the first
//! entry, written without fsync and fsynced with its segment. On load a
//! trailing partial entry is dropped; the partition log re-derives every
//! entry whose marker lies at or after the offset its producer-state scan
//! starts from (see `PartitionLog::rebuild_producer_state`).
//!
//! Invariant: entries are in marker (`last_offset`) order, and the file
//! holds exactly the in-memory entries once `flush` returns.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{segment_file_name, Result, StorageError};

pub const TXN_INDEX_SUFFIX: &str = ".txnindex";
/// The size of one entry on disk.
pub const ENTRY_SIZE: usize = 34;
const VERSION: i16 = 0;

/// One aborted transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The offset of the ABORT marker.
    pub last_offset: i64,
    /// The partition's last stable offset right after the abort.
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    pub fn encode(&self) -> [u8; ENTRY_SIZE] {
        let mut b = [0u8; ENTRY_SIZE];
        b[0..2].copy_from_slice(&VERSION.to_be_bytes());
        b[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        b[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        b[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        b[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        b
    }

    /// `None` for a short chunk or an unknown version.
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() < ENTRY_SIZE || i16::from_be_bytes([b[0], b[1]]) != VERSION {
            return None;
        }
        let at = |i: usize| i64::from_be_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        Some(AbortedTxn { producer_id: at(2), first_offset: at(10), last_offset: at(18), last_stable_offset: at(26) })
    }
}

/// The aborted transactions of one segment.
#[derive(Debug)]
pub struct TransactionIndex {
    path: PathBuf,
    entries: Vec<AbortedTxn>,
    /// Open for appends once the file exists.
    file: Option<File>,
    unflushed: bool,
}

impl TransactionIndex {
    pub fn path_for(dir: &Path, base_offset: i64) -> PathBuf {
        dir.join(segment_file_name(base_offset, TXN_INDEX_SUFFIX))
    }

    /// An empty index (a new segment): any stale file is removed.
    pub fn create(dir: &Path, base_offset: i64) -> Result<Self> {
        let path = Self::path_for(dir, base_offset);
        remove_if_exists(&path)?;
        Ok(TransactionIndex { path, entries: Vec::new(), file: None, unflushed: false })
    }

    /// Loads the index of an existing segment (none on disk: empty). A
    /// trailing partial entry or an entry of an unknown version ends it;
    /// the file is cut there.
    pub fn load(dir: &Path, base_offset: i64) -> Result<Self> {
        let path = Self::path_for(dir, base_offset);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(TransactionIndex { path, entries: Vec::new(), file: None, unflushed: false })
            }
            Err(e) => return Err(StorageError::io(path.display().to_string(), e)),
        };
        let mut entries: Vec<AbortedTxn> = bytes.chunks(ENTRY_SIZE).map_while(AbortedTxn::decode).collect();
        // Out-of-order entries are damage: keep the ordered prefix.
        if let Some(bad) = entries.windows(2).position(|w| w[1].last_offset <= w[0].last_offset) {
            entries.truncate(bad + 1);
        }
        let mut idx = TransactionIndex { path, entries, file: None, unflushed: false };
        if idx.entries.len() * ENTRY_SIZE != bytes.len() {
            tracing::warn!(file = %idx.path.display(), "cutting a damaged transaction index");
            idx.rewrite()?;
        }
        Ok(idx)
    }

    pub fn entries(&self) -> &[AbortedTxn] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn io(&self, e: std::io::Error) -> StorageError {
        StorageError::io(self.path.display().to_string(), e)
    }

    /// Appends an entry (its marker follows every earlier one).
    pub fn append(&mut self, txn: AbortedTxn) -> Result<()> {
        if self.entries.last().is_some_and(|l| l.last_offset >= txn.last_offset) {
            return Err(StorageError::InvalidRecord(format!(
                "aborted transaction ending at {} does not follow the last one in {}",
                txn.last_offset,
                self.path.display()
            )));
        }
        if self.file.is_none() {
            let f = OpenOptions::new().create(true).append(true).open(&self.path).map_err(|e| self.io(e))?;
            self.file = Some(f);
        }
        let bytes = txn.encode();
        let r = self.file.as_mut().expect("opened").write_all(&bytes);
        r.map_err(|e| self.io(e))?;
        self.entries.push(txn);
        self.unflushed = true;
        Ok(())
    }

    /// Drops every entry whose marker is at or after `offset`.
    pub fn truncate_to(&mut self, offset: i64) -> Result<()> {
        let keep = self.entries.partition_point(|t| t.last_offset < offset);
        if keep == self.entries.len() {
            return Ok(());
        }
        self.entries.truncate(keep);
        self.rewrite()
    }

    /// Replaces every entry (a cleaned segment taking over the entries of
    /// the segments it replaced); written atomically.
    pub fn replace_all(&mut self, entries: Vec<AbortedTxn>) -> Result<()> {
        self.entries = entries;
        self.rewrite()
    }

    fn rewrite(&mut self) -> Result<()> {
        self.file = None;
        if self.entries.is_empty() {
            return remove_if_exists(&self.path);
        }
        let bytes: Vec<u8> = self.entries.iter().flat_map(|t| t.encode()).collect();
        super::checkpoint::write_atomic(&self.path, &bytes)?;
        self.unflushed = false;
        Ok(())
    }

    /// fsyncs appended entries.
    pub fn flush(&mut self) -> Result<()> {
        if self.unflushed {
            if let Some(f) = &self.file {
                f.sync_data().map_err(|e| self.io(e))?;
            }
            self.unflushed = false;
        }
        Ok(())
    }

    /// A handle to fsync in the background (a rolled segment's), if any.
    pub fn try_clone_file(&self) -> Option<File> {
        self.file.as_ref().and_then(|f| f.try_clone().ok())
    }

    pub fn delete_file(&self) -> Result<()> {
        remove_if_exists(&self.path)
    }
}

fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StorageError::io(path.display().to_string(), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(pid: i64, first: i64, last: i64) -> AbortedTxn {
        AbortedTxn { producer_id: pid, first_offset: first, last_offset: last, last_stable_offset: last + 1 }
    }

    #[test]
    fn entries_survive_a_reload_and_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = TransactionIndex::create(dir.path(), 100).unwrap();
        assert!(!TransactionIndex::path_for(dir.path(), 100).exists(), "created lazily");
        idx.append(txn(1, 100, 105)).unwrap();
        idx.append(txn(2, 101, 110)).unwrap();
        assert!(idx.append(txn(3, 90, 110)).is_err(), "markers only move forward");
        idx.flush().unwrap();
        let path = TransactionIndex::path_for(dir.path(), 100);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 2 * ENTRY_SIZE as u64);
        let loaded = TransactionIndex::load(dir.path(), 100).unwrap();
        assert_eq!(loaded.entries(), &[txn(1, 100, 105), txn(2, 101, 110)]);
        let mut loaded = loaded;
        loaded.truncate_to(106).unwrap();
        assert_eq!(TransactionIndex::load(dir.path(), 100).unwrap().entries(), &[txn(1, 100, 105)]);
        loaded.truncate_to(0).unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn a_torn_entry_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = TransactionIndex::path_for(dir.path(), 0);
        let mut bytes = txn(1, 0, 3).encode().to_vec();
        bytes.extend_from_slice(&txn(2, 4, 9).encode()[..20]);
        std::fs::write(&path, &bytes).unwrap();
        let idx = TransactionIndex::load(dir.path(), 0).unwrap();
        assert_eq!(idx.entries(), &[txn(1, 0, 3)]);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), ENTRY_SIZE as u64);
    }
}
