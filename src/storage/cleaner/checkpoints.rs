//! `cleaner-offset-checkpoint`: per log directory, how far each compacted
//! log has been cleaned (Kafka's `LogCleanerManager.checkpoints`). The
//! offset is the log's first dirty offset: everything below it was cleaned
//! against a map of the keys after it.
//!
//! Same format as the other offset checkpoints (`0`, count, then
//! `topic partition offset` lines), written atomically on every change.
//!
//! Besides steering the cleaner, an entry tells the log loader that the log
//! may hold offset gaps (compaction removes records, and a follower copies
//! the gaps of its leader), so recovery must not take a gap for damage. The
//! cleaner therefore records every compacted log it sees, at its log start
//! offset when it has not cleaned it yet: for Kafka that reads exactly like
//! no entry.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::storage::checkpoint::{self, CLEANER_CHECKPOINT};
use crate::storage::{Result, TopicPartition};

/// The cleaner checkpoints of every log directory, in memory and on disk.
#[derive(Debug, Default)]
pub struct CleanerCheckpoints {
    dirs: Mutex<HashMap<PathBuf, BTreeMap<TopicPartition, i64>>>,
}

impl CleanerCheckpoints {
    /// Reads each directory's file. An unreadable or corrupt file counts as
    /// empty (Kafka logs it and cleans those logs from their start again).
    pub fn load(dirs: &[PathBuf]) -> Self {
        let mut map = HashMap::new();
        for dir in dirs {
            let path = dir.join(CLEANER_CHECKPOINT);
            // Kafka creates the file empty at start-up and reads that as no entries.
            let empty = std::fs::metadata(&path).is_ok_and(|m| m.len() == 0);
            let read = if empty { Ok(BTreeMap::new()) } else { checkpoint::read_offset_checkpoint(&path) };
            let entries = read.unwrap_or_else(|e| {
                tracing::error!(file = %path.display(), error = %e, "unreadable cleaner checkpoint; treating it as empty");
                BTreeMap::new()
            });
            map.insert(dir.clone(), entries);
        }
        CleanerCheckpoints { dirs: Mutex::new(map) }
    }

    /// The checkpointed first dirty offset of `tp` in `dir`.
    pub fn get(&self, dir: &Path, tp: &TopicPartition) -> Option<i64> {
        self.dirs.lock().expect("cleaner checkpoints").get(dir).and_then(|m| m.get(tp)).copied()
    }

    /// Whether any directory has an entry for `tp`.
    pub fn contains(&self, tp: &TopicPartition) -> bool {
        self.dirs.lock().expect("cleaner checkpoints").values().any(|m| m.contains_key(tp))
    }

    /// Sets `tp`'s offset in `dir` and rewrites that directory's file.
    pub fn update(&self, dir: &Path, tp: &TopicPartition, offset: i64) -> Result<()> {
        let mut dirs = self.dirs.lock().expect("cleaner checkpoints");
        let m = dirs.entry(dir.to_path_buf()).or_default();
        if m.get(tp) == Some(&offset) {
            return Ok(());
        }
        m.insert(tp.clone(), offset);
        checkpoint::write_offset_checkpoint(&dir.join(CLEANER_CHECKPOINT), m)
    }

    /// Sets several offsets, writing each directory's file once.
    pub fn update_many(&self, entries: &[(PathBuf, TopicPartition, i64)]) -> Result<()> {
        let mut dirs = self.dirs.lock().expect("cleaner checkpoints");
        let mut changed: Vec<&Path> = Vec::new();
        for (dir, tp, offset) in entries {
            let m = dirs.entry(dir.clone()).or_default();
            if m.insert(tp.clone(), *offset) != Some(*offset) && !changed.contains(&dir.as_path()) {
                changed.push(dir);
            }
        }
        for dir in changed {
            checkpoint::write_offset_checkpoint(&dir.join(CLEANER_CHECKPOINT), &dirs[dir])?;
        }
        Ok(())
    }

    /// Adds `tp` at `offset` unless it has an entry already.
    pub fn ensure(&self, dir: &Path, tp: &TopicPartition, offset: i64) -> Result<()> {
        if self.get(dir, tp).is_some() {
            return Ok(());
        }
        self.update(dir, tp, offset)
    }

    /// Lowers `tp`'s offset to `offset` if it is above (Kafka's
    /// `maybeTruncateCheckpoint`: a truncated log is dirty from there).
    pub fn truncate(&self, dir: &Path, tp: &TopicPartition, offset: i64) -> Result<()> {
        match self.get(dir, tp) {
            Some(current) if current > offset => self.update(dir, tp, offset),
            _ => Ok(()),
        }
    }

    /// Forgets `tp` everywhere (its log was deleted).
    pub fn remove(&self, tp: &TopicPartition) -> Result<()> {
        let mut dirs = self.dirs.lock().expect("cleaner checkpoints");
        for (dir, m) in dirs.iter_mut() {
            if m.remove(tp).is_some() {
                checkpoint::write_offset_checkpoint(&dir.join(CLEANER_CHECKPOINT), m)?;
            }
        }
        Ok(())
    }

    /// Keeps only the entries `keep` accepts, rewriting changed files (logs
    /// that were not loaded are forgotten, as Kafka's `updateCheckpoints`).
    pub fn retain(&self, keep: impl Fn(&Path, &TopicPartition) -> bool) -> Result<()> {
        let mut dirs = self.dirs.lock().expect("cleaner checkpoints");
        for (dir, m) in dirs.iter_mut() {
            let before = m.len();
            m.retain(|tp, _| keep(dir, tp));
            if m.len() != before {
                checkpoint::write_offset_checkpoint(&dir.join(CLEANER_CHECKPOINT), m)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_the_file() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let dirs = vec![a.path().to_path_buf(), b.path().to_path_buf()];
        let cps = CleanerCheckpoints::load(&dirs);
        let t0 = TopicPartition::new("compacted-topic", 0);
        let t1 = TopicPartition::new("other", 3);
        assert_eq!(cps.get(a.path(), &t0), None);
        cps.update(a.path(), &t0, 1500).unwrap();
        cps.ensure(a.path(), &t0, 0).unwrap(); // present: unchanged
        cps.ensure(b.path(), &t1, 40).unwrap();
        cps.update_many(&[(b.path().to_path_buf(), t1.clone(), 42)]).unwrap();
        assert_eq!(
            std::fs::read_to_string(a.path().join(CLEANER_CHECKPOINT)).unwrap(),
            "0\n1\ncompacted-topic 0 1500\n"
        );
        assert_eq!(std::fs::read_to_string(b.path().join(CLEANER_CHECKPOINT)).unwrap(), "0\n1\nother 3 42\n");
        cps.truncate(a.path(), &t0, 2000).unwrap();
        assert_eq!(cps.get(a.path(), &t0), Some(1500));
        cps.truncate(a.path(), &t0, 900).unwrap();

        let reloaded = CleanerCheckpoints::load(&dirs);
        assert_eq!(reloaded.get(a.path(), &t0), Some(900));
        assert_eq!(reloaded.get(b.path(), &t1), Some(42));
        assert!(reloaded.contains(&t1));
        reloaded.remove(&t1).unwrap();
        assert!(!reloaded.contains(&t1));
        reloaded.retain(|_, tp| tp.topic.as_ref() != "compacted-topic").unwrap();
        let again = CleanerCheckpoints::load(&dirs);
        assert!(!again.contains(&t0) && !again.contains(&t1));
        assert_eq!(std::fs::read_to_string(a.path().join(CLEANER_CHECKPOINT)).unwrap(), "0\n0\n");
    }

    #[test]
    fn a_corrupt_file_reads_as_empty() {
        let a = tempfile::tempdir().unwrap();
        std::fs::write(a.path().join(CLEANER_CHECKPOINT), "0\n5\nnope\n").unwrap();
        let cps = CleanerCheckpoints::load(&[a.path().to_path_buf()]);
        assert!(!cps.contains(&TopicPartition::new("nope", 0)));
        std::fs::write(a.path().join(CLEANER_CHECKPOINT), "").unwrap();
        let cps = CleanerCheckpoints::load(&[a.path().to_path_buf()]);
        cps.update(a.path(), &TopicPartition::new("t", 1), 5).unwrap();
        assert_eq!(std::fs::read_to_string(a.path().join(CLEANER_CHECKPOINT)).unwrap(), "0\n1\nt 1 5\n");
    }
}
