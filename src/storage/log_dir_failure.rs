//! `LogDirFailureChannel` (Kafka's class of that name): which log
//! directories have failed. Any i/o error on a partition log (append,
//! roll, fsync, index or checkpoint write, read) takes the whole directory
//! holding it offline: from then on no log in it is written or read until
//! the broker restarts (Kafka never brings a failed directory back while
//! running). The channel records the first error of each directory, says in
//! the broker log which directory failed and why, and wakes whoever
//! watches (the replica manager, which stops serving the directory's
//! partitions and tells the controller).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use tokio::sync::watch;

use super::StorageError;

#[derive(Debug)]
pub struct LogDirFailureChannel {
    /// Failed directories and the error that took each offline.
    offline: RwLock<BTreeMap<PathBuf, String>>,
    /// Bumped whenever a directory goes offline.
    changes: watch::Sender<u64>,
}

impl Default for LogDirFailureChannel {
    fn default() -> Self {
        LogDirFailureChannel { offline: RwLock::new(BTreeMap::new()), changes: watch::channel(0).0 }
    }
}

impl LogDirFailureChannel {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn is_offline(&self, dir: &Path) -> bool {
        self.offline.read().expect("offline dirs lock").contains_key(dir)
    }

    /// Why `dir` went offline, if it did.
    pub fn reason(&self, dir: &Path) -> Option<String> {
        self.offline.read().expect("offline dirs lock").get(dir).cloned()
    }

    /// Every failed directory with the error that took it offline.
    pub fn offline_dirs(&self) -> Vec<(PathBuf, String)> {
        self.offline.read().expect("offline dirs lock").iter().map(|(d, r)| (d.clone(), r.clone())).collect()
    }

    /// Takes `dir` offline because of `cause` (what failed, on what
    /// partition or file). Only the first failure of a directory is logged
    /// and announced; later ones change nothing.
    pub fn mark_offline(&self, dir: &Path, cause: &str) {
        {
            let mut offline = self.offline.write().expect("offline dirs lock");
            if offline.contains_key(dir) {
                return;
            }
            offline.insert(dir.to_path_buf(), cause.to_string());
        }
        tracing::error!(
            dir = %dir.display(),
            "log directory {} failed and is now offline: {cause}. The partitions in it are no longer written or \
             served by this broker (clients get KAFKA_STORAGE_ERROR; the controller moves their leadership to \
             other replicas). Fix the disk (free space, replace the device) and restart the broker to bring the \
             directory back.",
            dir.display()
        );
        self.changes.send_modify(|n| *n += 1);
    }

    /// The error a caller sees for any operation on a log in `dir` once it
    /// is offline.
    pub fn offline_error(&self, dir: &Path) -> StorageError {
        StorageError::LogDirOffline {
            dir: dir.display().to_string(),
            reason: self.reason(dir).unwrap_or_else(|| "the log directory is offline".into()),
        }
    }

    /// Passes `result` through; an i/o error takes `dir` offline first and
    /// comes back as [`StorageError::LogDirOffline`], naming `what` (the
    /// operation and partition) and the original error.
    pub fn check<T>(
        &self,
        dir: &Path,
        what: &dyn std::fmt::Display,
        result: Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        match result {
            Err(e @ StorageError::Io { .. }) => {
                self.mark_offline(dir, &format!("{what}: {e}"));
                Err(self.offline_error(dir))
            }
            other => other,
        }
    }

    /// A receiver that sees every directory going offline.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_io_error_takes_the_dir_offline_once_and_other_errors_do_not() {
        let ch = LogDirFailureChannel::new();
        let rx = ch.subscribe();
        let dir = Path::new("/data/a");
        let ok: Result<i32, StorageError> = ch.check(dir, &"append to t-0", Ok(1));
        assert_eq!(ok.unwrap(), 1);
        let not_io = ch.check::<()>(dir, &"append to t-0", Err(StorageError::InvalidRecord("x".into())));
        assert!(matches!(not_io, Err(StorageError::InvalidRecord(_))));
        assert!(!ch.is_offline(dir));
        let enospc = std::io::Error::from_raw_os_error(libc::ENOSPC);
        let err =
            ch.check::<()>(dir, &"append to t-0", Err(StorageError::io("/data/a/t-0/0.log", enospc))).unwrap_err();
        assert!(ch.is_offline(dir));
        assert!(!ch.is_offline(Path::new("/data/b")));
        let text = err.to_string();
        assert!(text.contains("/data/a") && text.contains("append to t-0") && text.contains("No space left"), "{text}");
        assert_eq!(err.kafka_code(), kafka_protocol::ResponseError::KafkaStorageError.code());
        assert_eq!(*rx.borrow(), 1);
        // A second failure keeps the first reason and announces nothing.
        ch.mark_offline(dir, "later");
        assert_eq!(*rx.borrow(), 1);
        assert!(ch.reason(dir).unwrap().contains("append to t-0"));
    }
}
