//! The broker's read view of cluster metadata: the current
//! [`MetadataImage`] and the listeners that turn applied changes into
//! actions (become leader, create or delete logs, apply configs).

pub mod follower;
pub mod image;
pub mod records;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

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
///
/// Listeners run only once the broker has caught up with the metadata log
/// ([`MetadataCache::mark_caught_up`]): acting on a half-replayed log would
/// delete the logs of topics created later in it.
pub struct MetadataCache {
    image: RwLock<Arc<MetadataImage>>,
    offset: watch::Sender<i64>,
    listeners: RwLock<Vec<Arc<dyn MetadataListener>>>,
    caught_up: AtomicBool,
    /// Serializes publications so listeners see changes in log order.
    publishing: Mutex<()>,
}

impl MetadataCache {
    pub fn new() -> Self {
        let (offset, _) = watch::channel(-1);
        MetadataCache {
            image: RwLock::new(Arc::new(MetadataImage::empty())),
            offset,
            listeners: RwLock::new(Vec::new()),
            caught_up: AtomicBool::new(false),
            publishing: Mutex::new(()),
        }
    }

    pub fn image(&self) -> Arc<MetadataImage> {
        self.image.read().expect("metadata lock").clone()
    }

    pub fn add_listener(&self, listener: Arc<dyn MetadataListener>) {
        self.listeners.write().expect("metadata lock").push(listener);
    }

    /// Runs listeners on `changes` (once caught up), then makes `image`
    /// current.
    pub fn publish(&self, image: Arc<MetadataImage>, changes: &[Change]) {
        let _order = self.publishing.lock().expect("publish lock");
        if self.caught_up.load(Ordering::Acquire) {
            let listeners = self.listeners.read().expect("metadata lock").clone();
            for l in &listeners {
                l.on_metadata_update(&image, changes);
            }
        }
        let offset = image.offset;
        *self.image.write().expect("metadata lock") = image;
        self.offset.send_replace(offset);
    }

    /// The broker has the metadata log up to the quorum's high watermark:
    /// listeners see the whole current image once, then every change.
    pub fn mark_caught_up(&self) {
        let _order = self.publishing.lock().expect("publish lock");
        if self.caught_up.swap(true, Ordering::AcqRel) {
            return;
        }
        let image = self.image();
        let listeners = self.listeners.read().expect("metadata lock").clone();
        for l in &listeners {
            l.on_metadata_update(&image, &[]);
        }
    }

    pub fn is_caught_up(&self) -> bool {
        self.caught_up.load(Ordering::Acquire)
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
