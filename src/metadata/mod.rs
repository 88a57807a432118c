//! The broker's read view of cluster metadata: the current
//! [`MetadataImage`] and the listeners that turn applied changes into
//! actions (become leader, create or delete logs, apply configs).

pub mod image;
pub mod records;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::watch;

pub use image::{BrokerRegistration, Change, MetadataImage, PartitionRegistration, TopicImage};
pub use records::{ConfigResourceType, Endpoint, MetadataRecord};

/// The metadata log's topic name (Kafka's
/// `Topic.CLUSTER_METADATA_TOPIC_NAME`): the controller's Raft log lives in
/// its partition 0 directory, brokers keep that directory out of their own
/// logs, and DescribeQuorum names it.
pub const METADATA_TOPIC: &str = "__cluster_metadata";

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

/// One publication waiting for the publisher thread.
type Publication = (Arc<MetadataImage>, Vec<Change>);

/// Publishes to a [`MetadataCache`] from a thread of its own, in order, so
/// whoever applies the metadata log (the controller's Raft state machine on
/// a combined node) never waits for what listeners do with it: creating the
/// logs of 10k new partitions must not hold up the quorum, and with it the
/// heartbeats that keep this very broker unfenced (Kafka's brokers likewise
/// load the metadata log apart from the controller). Publications queued
/// while listeners run are merged into one: the newest image with every
/// change in log order.
#[derive(Clone)]
pub struct MetadataPublisher {
    tx: std::sync::mpsc::Sender<Publication>,
}

impl MetadataPublisher {
    /// Starts the publisher thread; it runs inside the current tokio
    /// runtime's context (listeners spawn tasks) and ends once every
    /// handle is dropped.
    pub fn start(cache: Arc<MetadataCache>) -> MetadataPublisher {
        let (tx, rx) = std::sync::mpsc::channel::<Publication>();
        let runtime = tokio::runtime::Handle::try_current().ok();
        std::thread::Builder::new()
            .name("metadata-publisher".into())
            .spawn(move || {
                let _entered = runtime.as_ref().map(|h| h.enter());
                while let Ok((mut image, mut changes)) = rx.recv() {
                    while let Ok((newer, more)) = rx.try_recv() {
                        image = newer;
                        changes.extend(more);
                    }
                    let published =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cache.publish(image, &changes)));
                    if published.is_err() {
                        // The broker could no longer follow the metadata log
                        // while still heartbeating as if it did: stop, as
                        // Kafka's fault handler does.
                        tracing::error!("applying metadata failed; exiting");
                        std::process::exit(1);
                    }
                }
            })
            .expect("spawn the metadata publisher thread");
        MetadataPublisher { tx }
    }

    /// Queues `image` (and what changed since the previous one).
    pub fn publish(&self, image: Arc<MetadataImage>, changes: Vec<Change>) {
        // The thread only ends when every sender is gone.
        let _ = self.tx.send((image, changes));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Records what it is shown; while a gate is set, the next call blocks
    /// until released, so later publications queue up behind it.
    struct Recorder {
        seen: Mutex<Vec<(i64, Vec<Change>)>>,
        gate: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
    }

    impl MetadataListener for Recorder {
        fn on_metadata_update(&self, image: &Arc<MetadataImage>, changes: &[Change]) {
            if let Some(gate) = self.gate.lock().unwrap().take() {
                gate.recv().unwrap();
            }
            self.seen.lock().unwrap().push((image.offset, changes.to_vec()));
        }
    }

    fn image_at(offset: i64) -> Arc<MetadataImage> {
        let mut image = MetadataImage::empty();
        image.offset = offset;
        Arc::new(image)
    }

    fn deleted(name: &str) -> Change {
        Change::TopicDeleted { id: uuid::Uuid::nil(), name: name.into() }
    }

    #[tokio::test]
    async fn publications_arrive_in_order_without_blocking_the_publisher() {
        let cache = Arc::new(MetadataCache::new());
        let (release, gate) = std::sync::mpsc::channel();
        let recorder = Arc::new(Recorder { seen: Mutex::new(Vec::new()), gate: Mutex::new(None) });
        cache.add_listener(recorder.clone());
        cache.mark_caught_up();
        // From now on the listener blocks on its next call until released.
        *recorder.gate.lock().unwrap() = Some(gate);
        let publisher = MetadataPublisher::start(cache.clone());
        let mut offsets = cache.subscribe();
        // These return at once although the listener is stuck.
        publisher.publish(image_at(1), vec![deleted("a")]);
        publisher.publish(image_at(2), vec![deleted("b")]);
        publisher.publish(image_at(3), vec![deleted("c")]);
        release.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), offsets.wait_for(|o| *o == 3)).await.unwrap().unwrap();
        assert_eq!(cache.image().offset, 3);
        let seen = recorder.seen.lock().unwrap().clone();
        // The catch-up call, then every change exactly once, in order,
        // whether or not publications were merged.
        assert_eq!(seen[0], (-1, vec![]));
        let changes: Vec<Change> = seen[1..].iter().flat_map(|(_, c)| c.clone()).collect();
        assert_eq!(changes, vec![deleted("a"), deleted("b"), deleted("c")]);
        assert_eq!(seen.last().unwrap().0, 3);
        assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "{seen:?}");
    }
}
