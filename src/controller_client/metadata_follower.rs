//! Broker-only nodes follow the metadata log: they fetch committed records
//! from the quorum through the [`ControllerChannel`] (long-polling), apply
//! them to their own image with the same `MetadataImage::apply`, and
//! publish each new image (through a [`MetadataPublisher`], as combined
//! nodes do). Kafka's brokers fetch the log as Raft observers; Weir's ask
//! the controller, so the follower is a client of the controller and lives
//! here rather than in `metadata`, which stays below this module.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::metadata::{Change, MetadataCache, MetadataImage, MetadataPublisher};

use super::ControllerChannel;

const FETCH_WAIT_MS: u64 = 500;

pub fn spawn(channel: Arc<ControllerChannel>, cache: Arc<MetadataCache>, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut image = (*cache.image()).clone();
        // Listeners run on the publisher's thread, not on this task.
        let publisher = MetadataPublisher::start(cache);
        loop {
            let fetched = tokio::select! {
                _ = shutdown.cancelled() => break,
                f = channel.fetch_metadata(image.offset, FETCH_WAIT_MS) => f,
            };
            let delta = match fetched {
                Ok(d) => d,
                Err(e) => {
                    tracing::debug!(error = %e, "metadata fetch failed");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            let mut changes = Vec::new();
            if let Some((offset, records)) = delta.snapshot {
                let mut fresh = MetadataImage::empty();
                for r in &records {
                    changes.extend(fresh.apply(offset, r));
                }
                fresh.offset = offset;
                // Topics the snapshot no longer has were deleted meanwhile.
                for (id, t) in &image.topics {
                    if !fresh.topics.contains_key(id) {
                        changes.push(Change::TopicDeleted { id: *id, name: t.name.clone() });
                    }
                }
                image = fresh;
            }
            if delta.entries.is_empty() && changes.is_empty() {
                continue;
            }
            for (offset, records) in &delta.entries {
                for r in records {
                    changes.extend(image.apply(*offset, r));
                }
                image.offset = *offset;
            }
            publisher.publish(Arc::new(image.clone()), changes);
        }
    });
}
