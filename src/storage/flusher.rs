//! A background thread that fsyncs files handed to it, so a segment roll
//! never stalls the produce path on the disk (Kafka flushes a rolled
//! segment asynchronously too). Each job runs a completion callback, which
//! is how the recovery point advances only after data is durable.

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
                for job in rx {
                    let mut result = Ok(());
                    for f in &job.files {
                        if let Err(e) = f.sync_data() {
                            result = Err(e);
                            break;
                        }
                    }
                    (job.done)(result);
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
    let mut result = Ok(());
    for f in &job.files {
        if let Err(e) = f.sync_data() {
            result = Err(e);
            break;
        }
    }
    (job.done)(result);
}
