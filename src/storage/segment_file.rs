//! A segment's `.log` file handle, opened on demand.
//!
//! An active segment keeps its handle: every append writes to it. A rolled
//! (inactive) segment is mostly cold, so its handle is one of at most
//! [`MAX_IDLE_SEGMENT_FILES`] kept open process-wide; opening one more
//! closes the one opened longest ago, and the next read reopens it by path.
//! A broker then needs a file descriptor per partition plus a bounded
//! number, not one per segment (Kafka keeps every segment open).
//!
//! Invariants: handles are only taken (and reopened) with the owning log's
//! lock held, and the files of a log are renamed only under that lock
//! (directory renames, the cleaner's swap), so a reopen never finds another
//! file at the path. Whoever reads hands on an `Arc<File>`: closing a
//! handle only drops the segment's reference, never a read in progress.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// Rolled segments' handles kept open at most, process-wide.
pub const MAX_IDLE_SEGMENT_FILES: usize = 1024;

type Slot = Mutex<Option<Arc<File>>>;

/// Handles of inactive segments, oldest first. Entries of dropped segments
/// or already closed handles are skipped when they reach the front.
static IDLE: Mutex<VecDeque<Weak<Slot>>> = Mutex::new(VecDeque::new());

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

#[derive(Debug)]
pub struct SegmentFile {
    path: PathBuf,
    slot: Arc<Slot>,
    /// The segment is inactive: its open handle counts against the cap.
    idle: AtomicBool,
    /// Identifies this segment's file among all segments ever opened in
    /// the process (the cleaner checks that a segment was not replaced).
    id: u64,
}

impl SegmentFile {
    /// Wraps a file just created or opened at `path` (kept open).
    pub fn new(path: PathBuf, file: File) -> Self {
        SegmentFile {
            path,
            slot: Arc::new(Mutex::new(Some(Arc::new(file)))),
            idle: AtomicBool::new(false),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The open handle, reopening the file if its handle was closed.
    pub fn get(&self) -> std::io::Result<Arc<File>> {
        let mut slot = self.slot.lock().expect("segment file lock");
        if let Some(f) = slot.as_ref() {
            return Ok(f.clone());
        }
        let file = Arc::new(OpenOptions::new().read(true).write(true).open(&self.path)?);
        *slot = Some(file.clone());
        drop(slot);
        if self.idle.load(Ordering::Acquire) {
            register_idle(&self.slot);
        }
        Ok(file)
    }

    /// The segment is no longer active: from now on its handle counts
    /// against [`MAX_IDLE_SEGMENT_FILES`].
    pub fn make_idle(&self) {
        if self.idle.swap(true, Ordering::AcqRel) {
            return;
        }
        if self.is_open() {
            register_idle(&self.slot);
        }
    }

    pub fn is_open(&self) -> bool {
        self.slot.lock().expect("segment file lock").is_some()
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file was renamed with its directory.
    pub fn set_path(&mut self, path: PathBuf) {
        self.path = path;
    }
}

/// Adds an idle handle, closing the oldest ones beyond the cap.
fn register_idle(slot: &Arc<Slot>) {
    let mut evicted = Vec::new();
    {
        let mut idle = IDLE.lock().expect("idle segment files lock");
        idle.push_back(Arc::downgrade(slot));
        while idle.len() > MAX_IDLE_SEGMENT_FILES {
            if let Some(old) = idle.pop_front().and_then(|w| w.upgrade()) {
                evicted.push(old);
            }
        }
    }
    // Closed outside the list's lock; a slot is never locked while the
    // list is (get() registers after releasing its slot).
    for old in evicted {
        old.lock().expect("segment file lock").take();
    }
}

/// Open handles of inactive segments, counted from the idle list (for
/// tests and figures).
pub fn open_idle_files() -> usize {
    IDLE.lock()
        .expect("idle segment files lock")
        .iter()
        .filter_map(|w| w.upgrade())
        .filter(|s| s.lock().expect("segment file lock").is_some())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn idle_handles_are_capped_and_reopen_on_demand() {
        let dir = tempfile::tempdir().unwrap();
        let n = MAX_IDLE_SEGMENT_FILES + 10;
        let files: Vec<SegmentFile> = (0..n)
            .map(|i| {
                let path = dir.path().join(format!("{i}.log"));
                let mut f = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
                write!(f, "segment {i}").unwrap();
                SegmentFile::new(path, f)
            })
            .collect();
        for f in &files {
            f.make_idle();
        }
        // Other tests in this process share the cap, so only what this
        // test can be sure of: the oldest of its handles were closed, the
        // newest are open, and a closed one reopens with the same bytes.
        assert!(!files[0].is_open(), "the oldest idle handle is closed");
        assert!(files[n - 1].is_open(), "the newest idle handle stays open");
        assert!(open_idle_files() <= MAX_IDLE_SEGMENT_FILES);
        let reopened = files[0].get().unwrap();
        let mut buf = vec![0u8; 9];
        std::os::unix::fs::FileExt::read_exact_at(&*reopened, &mut buf, 0).unwrap();
        assert_eq!(&buf, b"segment 0");
        assert!(files[0].is_open());
        // A reader's handle outlives eviction.
        let held = files[1].get().unwrap();
        for f in &files[2..] {
            let _ = f.get().unwrap();
        }
        std::os::unix::fs::FileExt::read_exact_at(&*held, &mut buf, 0).unwrap();
        assert_eq!(&buf, b"segment 1");
        // Active segments never count.
        let path = dir.path().join("active.log");
        let active = SegmentFile::new(path.clone(), File::create(&path).unwrap());
        for f in &files {
            f.make_idle();
        }
        assert!(active.is_open());
    }
}
