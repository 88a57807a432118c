//! The quorum's state machine: committed metadata batches applied, in log
//! order, to the [`MetadataImage`] by the same `apply` every node uses
//! (including when a snapshot is loaded: a snapshot is the list of records
//! that rebuilds the image). It also keeps recent entries for brokers that
//! follow the metadata log, and publishes each new image to the local
//! broker when this node has the broker role.

use std::collections::VecDeque;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, EntryPayload, RaftSnapshotBuilder, SnapshotMeta, StorageError, StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, RwLock};

use crate::metadata::{Change, MetadataCache, MetadataImage, MetadataPublisher, MetadataRecord, METADATA_TOPIC};
use crate::storage::checkpoint;

use super::{Entry, LogId, TypeConfig};

/// Entries kept for brokers following the log; one further behind gets
/// the current image instead.
const HISTORY: usize = 5000;
const SNAPSHOT_FILE: &str = "quorum-snapshot.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SnapshotData {
    last_offset: i64,
    records: Vec<MetadataRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<u64, BasicNode>,
    data: Vec<u8>,
}

struct Inner {
    image: MetadataImage,
    last_applied: Option<LogId>,
    last_membership: StoredMembership<u64, BasicNode>,
    history: VecDeque<(i64, Vec<MetadataRecord>)>,
    snapshot: Option<StoredSnapshot>,
    snapshot_idx: u64,
}

/// What a follower of the metadata log receives.
pub enum FollowerData {
    Entries(Vec<(i64, Vec<MetadataRecord>)>),
    Image(i64, Vec<MetadataRecord>),
}

#[derive(Clone)]
pub struct StateMachineStore {
    inner: Arc<RwLock<Inner>>,
    applied: Arc<watch::Sender<i64>>,
    publish_to: Option<MetadataPublisher>,
    snapshot_path: PathBuf,
}

fn read_err(e: impl std::error::Error + 'static) -> StorageError<u64> {
    StorageIOError::read_state_machine(&e).into()
}

fn image_from(data: &SnapshotData) -> (MetadataImage, Vec<Change>) {
    let mut image = MetadataImage::empty();
    let mut changes = Vec::new();
    for r in &data.records {
        changes.extend(image.apply(data.last_offset, r));
    }
    image.offset = data.last_offset;
    (image, changes)
}

impl StateMachineStore {
    /// Opens the state machine, starting from the persisted snapshot.
    pub fn open(dir: &Path, publish_to: Option<Arc<MetadataCache>>) -> Result<Self, crate::storage::StorageError> {
        let snapshot_path = dir.join(METADATA_TOPIC.to_string() + "-0").join(SNAPSHOT_FILE);
        let snapshot: Option<StoredSnapshot> =
            match std::fs::read(&snapshot_path) {
                Ok(b) => Some(serde_json::from_slice(&b).map_err(|e| {
                    crate::storage::StorageError::CorruptFile(format!("{}: {e}", snapshot_path.display()))
                })?),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(crate::storage::StorageError::io(snapshot_path.display().to_string(), e)),
            };
        let (image, last_applied, last_membership) = match &snapshot {
            Some(s) => {
                let data: SnapshotData = serde_json::from_slice(&s.data)
                    .map_err(|e| crate::storage::StorageError::CorruptFile(format!("snapshot data: {e}")))?;
                (image_from(&data).0, s.meta.last_log_id, s.meta.last_membership.clone())
            }
            None => (MetadataImage::empty(), None, StoredMembership::default()),
        };
        let (applied, _) = watch::channel(image.offset);
        Ok(StateMachineStore {
            inner: Arc::new(RwLock::new(Inner {
                image,
                last_applied,
                last_membership,
                history: VecDeque::new(),
                snapshot,
                snapshot_idx: 0,
            })),
            applied: Arc::new(applied),
            publish_to: publish_to.map(MetadataPublisher::start),
            snapshot_path,
        })
    }

    /// The last log index the persisted snapshot covers (what need not be
    /// re-applied from the log at start), if there is a snapshot.
    pub fn snapshot_last_index(&self) -> Option<u64> {
        self.inner.try_read().ok().and_then(|i| i.snapshot.as_ref().and_then(|s| s.meta.last_log_id.map(|l| l.index)))
    }

    /// The current image (as of the last applied entry).
    pub async fn image(&self) -> MetadataImage {
        self.inner.read().await.image.clone()
    }

    /// Publishes the current image to the local broker (at start-up).
    pub async fn publish_current(&self) {
        if let Some(publisher) = &self.publish_to {
            let image = Arc::new(self.inner.read().await.image.clone());
            publisher.publish(image, Vec::new());
        }
    }

    pub fn subscribe_applied(&self) -> watch::Receiver<i64> {
        self.applied.subscribe()
    }

    /// Committed metadata after `after` for a follower.
    pub async fn follower_data(&self, after: i64) -> FollowerData {
        let inner = self.inner.read().await;
        let first = inner.history.front().map(|(o, _)| *o);
        let covered = match first {
            Some(first) => after + 1 >= first,
            None => after >= inner.image.offset,
        };
        if covered {
            FollowerData::Entries(inner.history.iter().filter(|(o, _)| *o > after).cloned().collect())
        } else {
            FollowerData::Image(inner.image.offset, inner.image.to_records())
        }
    }

    async fn persist(&self, snapshot: &StoredSnapshot) -> Result<(), StorageError<u64>> {
        let bytes = serde_json::to_vec(snapshot).map_err(read_err)?;
        let path = self.snapshot_path.clone();
        tokio::task::spawn_blocking(move || checkpoint::write_atomic(&path, &bytes))
            .await
            .map_err(read_err)?
            .map_err(|e| StorageIOError::write_snapshot(None, &e).into())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<u64>> {
        let (meta, data) = {
            let mut inner = self.inner.write().await;
            let data = SnapshotData { last_offset: inner.image.offset, records: inner.image.to_records() };
            let bytes = serde_json::to_vec(&data).map_err(read_err)?;
            inner.snapshot_idx += 1;
            let snapshot_id = match inner.last_applied {
                Some(l) => format!("{}-{}-{}", l.leader_id, l.index, inner.snapshot_idx),
                None => format!("--{}", inner.snapshot_idx),
            };
            let meta = SnapshotMeta {
                last_log_id: inner.last_applied,
                last_membership: inner.last_membership.clone(),
                snapshot_id,
            };
            inner.snapshot = Some(StoredSnapshot { meta: meta.clone(), data: bytes.clone() });
            (meta, bytes)
        };
        self.persist(&StoredSnapshot { meta: meta.clone(), data: data.clone() }).await?;
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership<u64, BasicNode>), StorageError<u64>> {
        let inner = self.inner.read().await;
        Ok((inner.last_applied, inner.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<()>, StorageError<u64>>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut out = Vec::new();
        let (image, changes, last) = {
            let mut inner = self.inner.write().await;
            let mut changes = Vec::new();
            for entry in entries {
                let index = entry.log_id.index as i64;
                inner.last_applied = Some(entry.log_id);
                match entry.payload {
                    EntryPayload::Blank => {}
                    EntryPayload::Normal(batch) => {
                        for r in &batch.records {
                            changes.extend(inner.image.apply(index, r));
                        }
                        inner.history.push_back((index, batch.records));
                        while inner.history.len() > HISTORY {
                            inner.history.pop_front();
                        }
                    }
                    EntryPayload::Membership(m) => {
                        inner.last_membership = StoredMembership::new(Some(entry.log_id), m);
                    }
                }
                inner.image.offset = index;
                out.push(());
            }
            (Arc::new(inner.image.clone()), changes, inner.image.offset)
        };
        if let Some(publisher) = &self.publish_to {
            publisher.publish(image, changes);
        }
        self.applied.send_replace(last);
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError<u64>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<u64>> {
        let bytes = snapshot.into_inner();
        let data: SnapshotData =
            serde_json::from_slice(&bytes).map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        let (image, mut changes) = image_from(&data);
        let stored = StoredSnapshot { meta: meta.clone(), data: bytes };
        self.persist(&stored).await?;
        let published = {
            let mut inner = self.inner.write().await;
            // Everything the old image had that the new one lacks changed too.
            for id in inner.image.topics.keys() {
                if !image.topics.contains_key(id) {
                    if let Some(t) = inner.image.topics.get(id) {
                        changes.push(Change::TopicDeleted { id: *id, name: t.name.clone() });
                    }
                }
            }
            inner.image = image;
            inner.last_applied = meta.last_log_id;
            inner.last_membership = meta.last_membership.clone();
            inner.history.clear();
            inner.snapshot = Some(stored);
            Arc::new(inner.image.clone())
        };
        let offset = published.offset;
        if let Some(publisher) = &self.publish_to {
            publisher.publish(published, changes);
        }
        self.applied.send_replace(offset);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError<u64>> {
        let inner = self.inner.read().await;
        Ok(inner
            .snapshot
            .as_ref()
            .map(|s| Snapshot { meta: s.meta.clone(), snapshot: Box::new(Cursor::new(s.data.clone())) }))
    }
}
