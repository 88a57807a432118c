//! A segment's `.log` file handle, opened on demand.
//!
//! An active segment keeps its handle: every append writes to it. A rolled
//! (inactive) segment is mostly cold, so its handle is one of at most
//! [`MAX_IDLE_SEGMENT_FILES`] kept open process-wide; opening one more
//! closes the one opened longest ago, and the next read reopens it by path.
//! A broker then needs a file descriptor per partition plus a bounded
//! number, not one per segment (Kafka keeps every segment open).
//!
//! The cap is [`MAX_IDLE_SEGMENT_FILES`] or, at a broker's start, half its
//! open-files limit ([`set_idle_file_limit`]); eviction is oldest-opened
//! first, not least recently used.
//!
//! Invariants: handles are only taken (and reopened) with the owning log's
//! lock held, and the files of a log are renamed only under that lock
//! (directory renames, the cleaner's swap), so a reopen never finds another
//! file at the path. Whoever reads hands on an `Arc<File>`: closing a
//! handle only drops the segment's reference, never a read in progress.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// Rolled segments' handles kept open at most, process-wide, unless
/// [`set_idle_file_limit`] chose another number.
pub const MAX_IDLE_SEGMENT_FILES: usize = 1024;

static IDLE_LIMIT: AtomicUsize = AtomicUsize::new(MAX_IDLE_SEGMENT_FILES);

/// Sets the cap on idle handles (the broker derives it from its open-files
/// limit at start-up; never below [`MAX_IDLE_SEGMENT_FILES`]).
pub fn set_idle_file_limit(limit: usize) {
    IDLE_LIMIT.store(limit.max(MAX_IDLE_SEGMENT_FILES), Ordering::Relaxed);
}

type Slot = Mutex<Option<Arc<File>>>;

/// Handles of inactive segments, oldest first. Entries of dropped segments
/// or already closed handles are skipped when they reach the front.
static IDLE: Mutex<VecDeque<Weak<Slot>>> = Mutex::new(VecDeque::new());

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

#[derive(Debug)]
pub struct SegmentFile {
    path: PathBuf,
    /// The handle of an active segment: never closed, read without a lock
    /// (appends and fetches of the active segment take it every time).
    pinned: Option<Arc<File>>,
    /// The handle of an idle segment, closed by eviction.
    slot: Arc<Slot>,
    /// Identifies this segment's file among all segments ever opened in
    /// the process (the cleaner checks that a segment was not replaced).
    id: u64,
}

impl SegmentFile {
    /// Wraps a file just created or opened at `path`, as an active one.
    pub fn new(path: PathBuf, file: File) -> Self {
        SegmentFile {
            path,
            pinned: Some(Arc::new(file)),
            slot: Arc::new(Mutex::new(None)),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The open handle, reopening the file if its idle handle was closed.
    pub fn get(&self) -> std::io::Result<Arc<File>> {
        if let Some(f) = &self.pinned {
            return Ok(f.clone());
        }
        let mut slot = self.slot.lock().expect("segment file lock");
        if let Some(f) = slot.as_ref() {
            return Ok(f.clone());
        }
        let file = Arc::new(OpenOptions::new().read(true).write(true).open(&self.path)?);
        *slot = Some(file.clone());
        drop(slot);
        register_idle(&self.slot);
        Ok(file)
    }

    /// The segment is no longer active: from now on its handle counts
    /// against the cap and may be closed while unused.
    pub fn make_idle(&mut self) {
        if let Some(f) = self.pinned.take() {
            *self.slot.lock().expect("segment file lock") = Some(f);
            register_idle(&self.slot);
        }
    }

    /// The segment is active again (a truncation removed the ones after
    /// it), or must not be closed for a while: its handle is pinned open.
    pub fn make_active(&mut self) -> std::io::Result<()> {
        if self.pinned.is_none() {
            let file = self.get()?;
            // Its entry in the idle list now finds an empty slot.
            self.slot.lock().expect("segment file lock").take();
            self.pinned = Some(file);
        }
        Ok(())
    }

    #[cfg(test)]
    pub fn is_open(&self) -> bool {
        self.pinned.is_some() || self.slot.lock().expect("segment file lock").is_some()
    }

    pub fn id(&self) -> u64 {
        self.id
    }
}

/// Adds an idle handle, closing the oldest ones beyond the cap.
fn register_idle(slot: &Arc<Slot>) {
    let limit = IDLE_LIMIT.load(Ordering::Relaxed);
    let mut evicted = Vec::new();
    {
        let mut idle = IDLE.lock().expect("idle segment files lock");
        idle.push_back(Arc::downgrade(slot));
        while idle.len() > limit {
            if let Some(old) = idle.pop_front().and_then(|w| w.upgrade()) {
                evicted.push(old);
            }
        }
    }
    // Closed outside the list's lock: no thread holds a slot's lock while
    // it waits for the list's.
    for old in evicted {
        old.lock().expect("segment file lock").take();
    }
}

/// Open handles of inactive segments.
#[cfg(test)]
pub fn open_idle_files() -> usize {
    let slots: Vec<Arc<Slot>> =
        IDLE.lock().expect("idle segment files lock").iter().filter_map(|w| w.upgrade()).collect();
    slots.iter().filter(|s| s.lock().expect("segment file lock").is_some()).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn idle_handles_are_capped_and_reopen_on_demand() {
        let dir = tempfile::tempdir().unwrap();
        let n = MAX_IDLE_SEGMENT_FILES + 10;
        let mut files: Vec<SegmentFile> = (0..n)
            .map(|i| {
                let path = dir.path().join(format!("{i}.log"));
                let mut f = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
                write!(f, "segment {i}").unwrap();
                SegmentFile::new(path, f)
            })
            .collect();
        for f in &mut files {
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
        let mut active = SegmentFile::new(path.clone(), File::create(&path).unwrap());
        for f in &mut files {
            f.make_idle();
        }
        assert!(active.is_open());
        // An idle one made active again is pinned: eviction leaves it open.
        files[0].make_active().unwrap();
        for f in &mut files[1..] {
            let _ = f.get().unwrap();
        }
        assert!(files[0].is_open());
        active.make_idle();
        assert!(active.is_open(), "just registered, not yet evicted");
    }
}
