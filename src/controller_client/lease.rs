//! The broker's lease on its registration: how long this broker may still
//! act on the leaderships its metadata gives it without hearing from the
//! active controller.
//!
//! The controller fences a broker whose heartbeats stop for
//! `broker.session.timeout.ms` (counted from when it *received* the last
//! one) and elects new leaders for its partitions. The lease runs for the
//! same timeout from when the broker *sent* its last heartbeat that was
//! answered "not fenced", so it ends no later than the controller's view of
//! the session: a leader cut off from the quorum stops claiming its
//! partitions before the controller can give them to another broker.
//!
//! Kafka 4.x has no such lease (`BrokerLifecycleManager` only retries
//! failed heartbeats; a cut-off leader keeps accepting writes that can never
//! commit until it sees the new metadata). Weir's deliberate difference and
//! its cost are documented in the README ("Leadership without the
//! controller"): while the whole quorum is unavailable for longer than a
//! session, brokers refuse produce on partitions another replica could
//! lead, where Kafka would keep accepting them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// A lease renewed by answered heartbeats; cheap to check on every append.
#[derive(Debug)]
pub struct QuorumLease {
    /// The process-local origin of `expires_ns`.
    base: Instant,
    duration: Duration,
    /// Nanoseconds after `base` at which the lease ends (0: not held).
    expires_ns: AtomicU64,
    /// Bumped whenever the lease is renewed after a lapse or revoked, so a
    /// watcher can wake waiting requests; carries whether it is held.
    held: watch::Sender<bool>,
}

impl QuorumLease {
    /// A lease of `duration` (`broker.session.timeout.ms`), not yet held.
    pub fn new(duration: Duration) -> Self {
        QuorumLease { base: Instant::now(), duration, expires_ns: AtomicU64::new(0), held: watch::channel(false).0 }
    }

    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// A heartbeat sent at `sent_at` was answered "not fenced": the lease
    /// runs until `sent_at` + the session timeout (never moving backwards).
    pub fn renew(&self, sent_at: Instant) {
        let until = (sent_at.saturating_duration_since(self.base) + self.duration).as_nanos() as u64;
        self.expires_ns.fetch_max(until.max(1), Ordering::AcqRel);
        self.held.send_if_modified(|h| !std::mem::replace(h, true));
    }

    /// The controller says this broker is fenced: the lease ends now.
    pub fn revoke(&self) {
        self.expires_ns.store(0, Ordering::Release);
        self.mark_lapsed();
    }

    /// Whether the lease is held at `now`.
    pub fn is_held_at(&self, now: Instant) -> bool {
        let until = self.expires_ns.load(Ordering::Acquire);
        until > 0 && (now.saturating_duration_since(self.base).as_nanos() as u64) < until
    }

    pub fn is_held(&self) -> bool {
        self.is_held_at(Instant::now())
    }

    /// When the lease ends (`None`: not held).
    pub fn expires_at(&self) -> Option<Instant> {
        match self.expires_ns.load(Ordering::Acquire) {
            0 => None,
            ns => Some(self.base + Duration::from_nanos(ns)),
        }
    }

    /// Records that the lease lapsed (its end passed); returns whether this
    /// changed the published state, i.e. whether waiters must be woken.
    pub fn mark_lapsed(&self) -> bool {
        self.held.send_if_modified(|h| std::mem::replace(h, false))
    }

    /// A receiver that sees every change between held and lapsed.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.held.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_runs_a_session_from_the_heartbeat_sent() {
        let lease = QuorumLease::new(Duration::from_secs(3));
        let t0 = Instant::now();
        assert!(!lease.is_held_at(t0), "not held before the first answered heartbeat");
        lease.renew(t0);
        assert!(lease.is_held_at(t0 + Duration::from_millis(2999)));
        assert!(!lease.is_held_at(t0 + Duration::from_secs(3)));
        // A late answer to an older heartbeat does not shorten it.
        lease.renew(t0 - Duration::from_secs(1));
        assert_eq!(lease.expires_at(), Some(t0 + Duration::from_secs(3)));
        lease.renew(t0 + Duration::from_secs(1));
        assert!(lease.is_held_at(t0 + Duration::from_millis(3999)));
    }

    #[test]
    fn revoking_ends_the_lease_and_tells_watchers() {
        let lease = QuorumLease::new(Duration::from_secs(3));
        let mut rx = lease.subscribe();
        lease.renew(Instant::now());
        assert!(rx.has_changed().unwrap() && *rx.borrow_and_update());
        lease.revoke();
        assert!(!lease.is_held());
        assert!(rx.has_changed().unwrap() && !*rx.borrow_and_update());
        assert!(!lease.mark_lapsed(), "already lapsed: nothing to tell");
    }
}
