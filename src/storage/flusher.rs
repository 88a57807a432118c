//! A background thread that fsyncs files handed to it, so a segment roll
//! or a `flush.messages` flush never stalls the produce path on the disk
//! under the log lock (Kafka flushes a rolled segment asynchronously too).
//! Jobs queued while an fsync runs are grouped into the next round, one
//! fsync per file (group commit). Each job runs a completion callback,
//! which is how the recovery point advances only after data is durable.

use std::fs::File;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

type Done = Box<dyn FnOnce(std::io::Result<()>) + Send>;

pub struct FlushJob {
    pub files: Vec<Arc<File>>,
    pub done: Done,
}

#[derive(Debug)]
pub struct Flusher {
    tx: Mutex<Option<mpsc::Sender<FlushJob>>>,
    handle: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Flusher {
    pub fn start() -> Arc<Self> {
        let (tx, rx) = mpsc::channel::<FlushJob>();
        let handle = std::thread::Builder::new()
            .name("weir-flusher".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    // Group commit: everything queued by now shares this
                    // round's fsyncs, one per file; completions run after
                    // all of them, in submission order, so a completion
                    // never precedes an fsync queued before it.
                    let mut jobs = vec![first];
                    jobs.extend(rx.try_iter());
                    run_group(jobs);
                }
            })
            .expect("spawn flusher thread");
        Arc::new(Flusher { tx: Mutex::new(Some(tx)), handle: Mutex::new(Some(handle)) })
    }

    /// Queues a flush; runs it inline if the flusher has stopped.
    pub fn submit(&self, job: FlushJob) {
        let tx = self.tx.lock().expect("flusher lock").clone();
        match tx {
            Some(tx) => {
                if let Err(mpsc::SendError(job)) = tx.send(job) {
                    run_inline(job);
                }
            }
            None => run_inline(job),
        }
    }

    /// Drains queued jobs and stops the thread.
    pub fn shutdown(&self) {
        self.tx.lock().expect("flusher lock").take();
        if let Some(h) = self.handle.lock().expect("flusher lock").take() {
            let _ = h.join();
        }
    }
}

fn run_inline(job: FlushJob) {
    run_group(vec![job]);
}

/// An fsync's error: its kind and errno.
type FsyncError = (std::io::ErrorKind, Option<i32>);

/// fsyncs each distinct file of `jobs` once, then completes every job with
/// the outcome of its own files.
fn run_group(jobs: Vec<FlushJob>) {
    // The error as the OS gave it (its errno, so the log says "No space
    // left on device" or "Input/output error"), or its kind.
    let mut synced: Vec<(Arc<File>, Option<FsyncError>)> = Vec::new();
    for job in &jobs {
        for f in &job.files {
            if !synced.iter().any(|(s, _)| Arc::ptr_eq(s, f)) {
                let outcome = f.sync_data().err().map(|e| (e.kind(), e.raw_os_error()));
                synced.push((f.clone(), outcome));
            }
        }
    }
    for job in jobs {
        let failed =
            job.files.iter().find_map(|f| synced.iter().find(|(s, _)| Arc::ptr_eq(s, f)).and_then(|(_, e)| *e));
        (job.done)(match failed {
            Some((_, Some(code))) => Err(std::io::Error::from_raw_os_error(code)),
            Some((kind, None)) => Err(std::io::Error::new(kind, "fsync failed")),
            None => Ok(()),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Jobs complete in submission order, each once, with the outcome of
    /// their files; a file named by many queued jobs is synced once a round.
    #[test]
    fn jobs_complete_in_order_after_their_fsyncs() {
        let dir = tempfile::tempdir().unwrap();
        let file = Arc::new(File::create(dir.path().join("f")).unwrap());
        let flusher = Flusher::start();
        let order = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        for i in 0..50 {
            let (order, count) = (order.clone(), count.clone());
            flusher.submit(FlushJob {
                files: vec![file.clone()],
                done: Box::new(move |res| {
                    assert!(res.is_ok());
                    order.lock().unwrap().push(i);
                    count.fetch_add(1, Ordering::SeqCst);
                }),
            });
        }
        flusher.shutdown();
        assert_eq!(count.load(Ordering::SeqCst), 50);
        assert_eq!(*order.lock().unwrap(), (0..50).collect::<Vec<_>>());
    }
}
