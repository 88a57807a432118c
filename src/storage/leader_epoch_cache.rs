//! The leader-epoch cache (Kafka's `LeaderEpochFileCache`): for each leader
//! epoch, the first offset written in it, persisted to
//! `leader-epoch-checkpoint`. It answers "where does epoch E end?", which is
//! how a follower or consumer finds the exact point where its log diverged
//! from the leader's (KIP-101, KIP-279).
//!
//! Invariant: epochs and start offsets both strictly increase.
//!
//! Persistence: the file may lag memory only by changes a restart re-derives
//! (Kafka flushes truncations asynchronously for the same reason): a new
//! leader's epoch that has no records yet, and truncations, whose stale
//! entries load trims again against the log's start and end. Every append
//! path goes through [`LeaderEpochCache::assign`], which brings the file up
//! to date (fsynced) before the records it covers can become durable, so a
//! recovery point never passes records whose epoch the file lacks. Deferring
//! is what keeps electing 10k leaders from costing 10k fsyncs.

use std::path::PathBuf;

use super::checkpoint;
use super::Result;

#[derive(Debug)]
pub struct LeaderEpochCache {
    path: PathBuf,
    entries: Vec<(i32, i64)>,
    /// The file holds `entries` (false after a deferred change).
    persisted: bool,
    /// The file was unreadable or broke the invariant when loaded: the
    /// cache starts empty and must be rebuilt from the log's batches.
    loaded_corrupt: bool,
}

impl LeaderEpochCache {
    pub fn load(dir: &std::path::Path) -> Result<Self> {
        let path = dir.join(checkpoint::LEADER_EPOCH_CHECKPOINT);
        // A torn or hand-edited file is not trusted at all (not even the
        // entries before the damage: later ones may be missing, and an
        // epoch whose start is lost would end in the wrong place); the
        // owner rebuilds the cache from the log instead.
        let (entries, loaded_corrupt) = match checkpoint::read_leader_epoch_checkpoint(&path) {
            Ok(entries) if entries.windows(2).all(|w| w[1].0 > w[0].0 && w[1].1 >= w[0].1) => (entries, false),
            Ok(_) | Err(_) => {
                tracing::warn!(file = %path.display(), "corrupt leader-epoch checkpoint; rebuilding it from the log");
                (Vec::new(), true)
            }
        };
        Ok(LeaderEpochCache { path, entries, persisted: !loaded_corrupt, loaded_corrupt })
    }

    /// Whether [`Self::load`] found the file corrupt (the cache then
    /// starts empty); reading it clears the flag.
    pub fn take_loaded_corrupt(&mut self) -> bool {
        std::mem::take(&mut self.loaded_corrupt)
    }

    pub fn entries(&self) -> &[(i32, i64)] {
        &self.entries
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|&(e, _)| e)
    }

    /// Records that `epoch` starts at `start_offset` (no-op if it is not
    /// newer than the latest epoch), then makes sure the file holds every
    /// entry, deferred ones included. Append paths call this.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> Result<()> {
        self.assign_in_memory(epoch, start_offset);
        self.persist()
    }

    /// [`Self::assign`] without writing: for a new leader's epoch, which
    /// has no records until the first append persists it.
    pub fn assign_deferred(&mut self, epoch: i32, start_offset: i64) {
        self.assign_in_memory(epoch, start_offset);
    }

    fn assign_in_memory(&mut self, epoch: i32, start_offset: i64) {
        if epoch < 0 {
            return;
        }
        if let Some(&(le, _)) = self.entries.last() {
            if epoch <= le {
                return;
            }
        }
        // A later epoch starting at or before an earlier one's start
        // supersedes it (the earlier epoch wrote nothing that survives).
        while self.entries.last().is_some_and(|&(_, o)| o >= start_offset) {
            self.entries.pop();
        }
        self.entries.push((epoch, start_offset));
        self.persisted = false;
    }

    /// Kafka's `endOffsetFor`: `(epoch, end offset)` where the end offset is
    /// the start of the next higher epoch, or `log_end_offset` for the
    /// latest. For an epoch below the earliest: `(requested, start of the
    /// earliest)`; above the latest, or -1: `(-1, -1)` (UNDEFINED).
    pub fn end_offset_for(&self, requested: i32, log_end_offset: i64) -> (i32, i64) {
        match self.entries.last() {
            None => return (-1, -1),
            Some(&(latest, _)) if requested == latest => return (latest, log_end_offset),
            _ => {}
        }
        if requested < 0 {
            return (-1, -1);
        }
        // First entry with epoch > requested.
        let idx = self.entries.partition_point(|&(e, _)| e <= requested);
        if idx == self.entries.len() {
            // Requested epoch is above everything we know.
            return (-1, -1);
        }
        if idx == 0 {
            // Below every known epoch (the log start moved past it): the
            // requested epoch ends where the first known one starts, so a
            // follower replicates from there.
            return (requested, self.entries[0].1);
        }
        let (floor_epoch, _) = self.entries[idx - 1];
        (floor_epoch, self.entries[idx].1)
    }

    /// Removes entries starting at or after `offset` (log truncated to it).
    pub fn truncate_from_end(&mut self, offset: i64) -> Result<()> {
        let before = self.entries.len();
        while self.entries.last().is_some_and(|&(_, o)| o >= offset) {
            self.entries.pop();
        }
        if self.entries.len() != before {
            self.persisted = false;
        }
        Ok(())
    }

    /// Log start offset moved to `offset`: the epoch covering it now starts there.
    pub fn truncate_from_start(&mut self, offset: i64) -> Result<()> {
        let idx = self.entries.partition_point(|&(_, o)| o <= offset);
        if idx == 0 {
            return Ok(());
        }
        let epoch = self.entries[idx - 1].0;
        let mut changed = idx > 1 || self.entries[0].1 != offset;
        self.entries.drain(..idx - 1);
        if self.entries[0].1 < offset {
            self.entries[0] = (epoch, offset);
            changed = true;
        }
        if changed {
            self.persisted = false;
        }
        Ok(())
    }

    /// Forgets every entry, durably: load could not tell stale entries
    /// below a log that restarted at a higher offset from live ones.
    pub fn clear(&mut self) -> Result<()> {
        self.entries.clear();
        self.persisted = false;
        self.persist()
    }

    /// Writes the file (fsynced) if memory has changes it lacks.
    pub fn persist(&mut self) -> Result<()> {
        if !self.persisted {
            checkpoint::write_leader_epoch_checkpoint(&self.path, &self.entries)?;
            self.persisted = true;
        }
        Ok(())
    }

    pub fn set_dir(&mut self, dir: &std::path::Path) {
        self.path = dir.join(checkpoint::LEADER_EPOCH_CHECKPOINT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_offsets_follow_kafka() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = LeaderEpochCache::load(dir.path()).unwrap();
        assert_eq!(c.end_offset_for(0, 10), (-1, -1));
        c.assign(0, 0).unwrap();
        c.assign(2, 50).unwrap();
        c.assign(1, 40).unwrap(); // older: ignored
        c.assign(5, 80).unwrap();
        assert_eq!(c.end_offset_for(0, 100), (0, 50));
        assert_eq!(c.end_offset_for(1, 100), (0, 50));
        assert_eq!(c.end_offset_for(2, 100), (2, 80));
        assert_eq!(c.end_offset_for(5, 100), (5, 100));
        assert_eq!(c.end_offset_for(9, 100), (-1, -1));
        assert_eq!(c.end_offset_for(-1, 100), (-1, -1));
        let reloaded = LeaderEpochCache::load(dir.path()).unwrap();
        assert_eq!(reloaded.entries(), c.entries());
        c.truncate_from_end(60).unwrap();
        assert_eq!(c.entries(), &[(0, 0), (2, 50)]);
        c.truncate_from_start(55).unwrap();
        assert_eq!(c.entries(), &[(2, 55)]);
        // Below the earliest known epoch: it ends where the earliest starts.
        assert_eq!(c.end_offset_for(1, 100), (1, 55));
    }

    #[test]
    fn deferred_changes_reach_the_file_with_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = LeaderEpochCache::load(dir.path()).unwrap();
        c.assign(0, 0).unwrap();
        // A new leader's epoch: in memory at once, not yet in the file.
        c.assign_deferred(1, 10);
        assert_eq!(c.entries(), &[(0, 0), (1, 10)]);
        assert_eq!(LeaderEpochCache::load(dir.path()).unwrap().entries(), &[(0, 0)]);
        // The first append in epoch 1 assigns it again: a no-op in memory
        // that writes the deferred entry before the records can be flushed.
        c.assign(1, 10).unwrap();
        assert_eq!(LeaderEpochCache::load(dir.path()).unwrap().entries(), &[(0, 0), (1, 10)]);
        // Truncations are deferred too; the next append writes them.
        c.truncate_from_end(5).unwrap();
        assert_eq!(LeaderEpochCache::load(dir.path()).unwrap().entries(), &[(0, 0), (1, 10)]);
        c.assign(2, 5).unwrap();
        assert_eq!(LeaderEpochCache::load(dir.path()).unwrap().entries(), &[(0, 0), (2, 5)]);
        // Clearing is written at once.
        c.clear().unwrap();
        assert!(LeaderEpochCache::load(dir.path()).unwrap().entries().is_empty());
    }
}
