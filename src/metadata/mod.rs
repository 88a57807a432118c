//! The broker's read view of cluster metadata: the current
//! [`MetadataImage`] and the listeners that turn applied changes into
//! actions (become leader, create or delete logs, apply configs).

pub mod image;
pub mod records;

use std::sync::{Arc, RwLock};

use tokio::sync::watch;

pub use image::{BrokerRegistration, Change, MetadataImage, PartitionRegistration, TopicImage};
pub use records::{ConfigResourceType, Endpoint, MetadataRecord};

/// Reacts to metadata changes; called before the new image is visible to
/// request handlers, so a topic is servable once clients can see it.
pub trait MetadataListener: Send + Sync {
    fn on_metadata_update(&self, image: &Arc<MetadataImage>, changes: &[Change]);
}

/// Holds the published image. Readers take an `Arc` snapshot and never
/// block writers for longer than a pointer swap.
pub struct MetadataCache {
    image: RwLock<Arc<MetadataImage>>,
    offset: watch::Sender<i64>,
    listeners: RwLock<Vec<Arc<dyn MetadataListener>>>,
}

impl MetadataCache {
    pub fn new() -> Self {
        let (offset, _) = watch::channel(-1);
        MetadataCache {
            image: RwLock::new(Arc::new(MetadataImage::empty())),
            offset,
            listeners: RwLock::new(Vec::new()),
        }
    }

    pub fn image(&self) -> Arc<MetadataImage> {
        self.image.read().expect("metadata lock").clone()
    }

    pub fn add_listener(&self, listener: Arc<dyn MetadataListener>) {
        self.listeners
            .write()
            .expect("metadata lock")
            .push(listener);
    }

    /// Runs listeners on `changes`, then makes `image` current.
    pub fn publish(&self, image: Arc<MetadataImage>, changes: &[Change]) {
        let listeners = self.listeners.read().expect("metadata lock").clone();
        for l in &listeners {
            l.on_metadata_update(&image, changes);
        }
        let offset = image.offset;
        *self.image.write().expect("metadata lock") = image;
        self.offset.send_replace(offset);
    }

    /// Watches the applied metadata offset (tests and waiters).
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.offset.subscribe()
    }
}

impl Default for MetadataCache {
    fn default() -> Self {
        Self::new()
    }
}
