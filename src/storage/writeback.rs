//! Early writeback: a background thread that asks the kernel to start
//! writing a segment's newly appended bytes to disk
//! (`sync_file_range(SYNC_FILE_RANGE_WRITE)`), a chunk at a time, so dirty
//! page-cache data stays bounded per segment instead of piling up until the
//! kernel's background threshold (10 % of memory by default).
//!
//! Why: at a sustained rate above what the disk absorbs per second, gigabytes
//! of dirty pages accumulate, and once the kernel starts writing them back
//! every writer (Weir's appends on leaders and followers alike) is throttled
//! for hundreds of milliseconds to seconds at a time. Starting writeback as
//! data arrives keeps the disk busy from the first second and the dirty
//! backlog small. This is not a durability step: nothing waits for it and
//! the recovery point does not move (only the flusher's fsyncs move it).
//! Kafka leaves writeback to the kernel; this is Weir's own addition, with
//! no config of its own.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

/// Appended bytes per segment after which writeback of them is started.
pub const WRITEBACK_CHUNK_BYTES: u64 = 1 << 20;

/// Requests queued before new ones are dropped (the kernel writes those
/// pages back later on its own): the thread must never hold up appends.
const QUEUE_DEPTH: usize = 1024;

/// A byte range of a file whose writeback should start.
struct Range {
    file: Arc<File>,
    offset: u64,
    len: u64,
}

/// The writeback thread. Dropping the last handle stops it.
#[derive(Debug)]
pub struct Writeback {
    tx: Mutex<Option<mpsc::SyncSender<Range>>>,
    handle: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Ranges whose writeback the kernel accepted.
    started: Arc<AtomicU64>,
}

impl Writeback {
    pub fn start() -> Writeback {
        let (tx, rx) = mpsc::sync_channel::<Range>(QUEUE_DEPTH);
        let started = Arc::new(AtomicU64::new(0));
        let count = started.clone();
        let handle = std::thread::Builder::new()
            .name("weir-writeback".into())
            .spawn(move || {
                while let Ok(r) = rx.recv() {
                    if start_writeback(&r) {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
            .expect("spawn writeback thread");
        Writeback { tx: Mutex::new(Some(tx)), handle: Mutex::new(Some(handle)), started }
    }

    /// Asks for writeback of `len` bytes of `file` from `offset`; never
    /// blocks (a full queue drops the request).
    pub fn request(&self, file: Arc<File>, offset: u64, len: u64) {
        if let Some(tx) = self.tx.lock().expect("writeback lock").as_ref() {
            let _ = tx.try_send(Range { file, offset, len });
        }
    }

    /// How many requested ranges the kernel accepted so far.
    pub fn started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    /// Stops the thread after the queued requests.
    pub fn shutdown(&self) {
        self.tx.lock().expect("writeback lock").take();
        if let Some(h) = self.handle.lock().expect("writeback lock").take() {
            let _ = h.join();
        }
    }
}

/// Whether the kernel accepted the range. A failure (say EIO) is left to
/// the flusher's fsync, which reports it: this is only a hint.
fn start_writeback(r: &Range) -> bool {
    let (Ok(offset), Ok(len)) = (libc::off64_t::try_from(r.offset), libc::off64_t::try_from(r.len)) else {
        return false;
    };
    // SAFETY: the descriptor is open for as long as `r.file` lives; the
    // call reads no memory of ours.
    unsafe { libc::sync_file_range(r.file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// The kernel accepts requests for live and for already deleted files;
    /// the thread drains its queue on shutdown and takes no more requests.
    #[test]
    fn starts_writeback_and_stops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg");
        let mut f = File::create(&path).unwrap();
        f.write_all(&vec![7u8; 3 << 20]).unwrap();
        let f = Arc::new(f);
        let wb = Writeback::start();
        wb.request(f.clone(), 0, 1 << 20);
        std::fs::remove_file(&path).unwrap();
        wb.request(f.clone(), 1 << 20, 2 << 20);
        wb.shutdown();
        assert_eq!(wb.started(), 2);
        wb.request(f, 0, 1);
        assert_eq!(wb.started(), 2);
        assert!(wb.handle.lock().unwrap().is_none());
    }
}
