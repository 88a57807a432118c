//! Connection counting and limits, after Kafka's `ConnectionQuotas`:
//! `max.connections` (broker-wide: an acceptor waits for a free slot, the
//! client's connection sits unserved in the meantime),
//! `max.connections.per.ip` and its overrides (checked once a slot is free:
//! the extra connection is closed at once), and KIP-402's protected
//! inter-broker listener (when the broker has more than one listener, that
//! listener is exempt from `max.connections`; when its connections push the
//! total over the limit, the least recently active connection of another
//! listener is closed). Also owns each connection's activity clock, which
//! the connection uses for `connections.max.idle.ms` and the LRU close uses
//! to pick its victim.

use std::collections::HashMap;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::BrokerConfig;

/// When a connection last did I/O, as nanoseconds since `base`.
#[derive(Debug)]
pub struct Activity {
    base: Instant,
    last: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity { base: Instant::now(), last: AtomicU64::new(0) }
    }

    /// Records I/O now.
    pub fn touch(&self) {
        self.last.store(self.base.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }

    /// The instant of the last recorded I/O (the accept counts as one).
    pub fn last(&self) -> Instant {
        self.base + Duration::from_nanos(self.last.load(Ordering::Relaxed))
    }
}

/// What the quotas know of one open connection.
#[derive(Debug)]
struct Conn {
    listener: String,
    activity: Arc<Activity>,
    /// Cancelled to close the connection (the LRU close of KIP-402).
    close: CancellationToken,
}

#[derive(Debug, Default)]
struct Counts {
    per_ip: HashMap<IpAddr, usize>,
    total: usize,
    next_id: u64,
    open: HashMap<u64, Conn>,
}

/// A refused connection: its address already has `max` connections.
#[derive(Debug)]
pub struct TooManyConnections {
    pub ip: IpAddr,
    pub max: usize,
}

#[derive(Debug)]
pub struct ConnectionQuotas {
    max_connections: usize,
    per_ip_default: usize,
    per_ip_overrides: HashMap<IpAddr, usize>,
    /// The inter-broker listener, when it is protected (KIP-402: only if
    /// the broker has other listeners too).
    protected_listener: Option<String>,
    counts: Mutex<Counts>,
    /// Wakes acceptors waiting for a slot when a connection closes.
    released: Notify,
}

impl ConnectionQuotas {
    /// Limits from `config`; override hosts are resolved here, as Kafka
    /// resolves them when its socket server starts (the first address,
    /// IPv4 preferred as the JVM does).
    pub fn new(config: &BrokerConfig) -> Result<Self, String> {
        let mut per_ip_overrides = HashMap::new();
        for (host, count) in &config.max_connections_per_ip_overrides {
            let host_only = host.trim_start_matches('[').trim_end_matches(']');
            let ip = match host_only.parse::<IpAddr>() {
                Ok(ip) => ip,
                Err(_) => {
                    let addrs: Vec<IpAddr> = (host_only, 0)
                        .to_socket_addrs()
                        .map_err(|e| format!("max.connections.per.ip.overrides: cannot resolve {host}: {e}"))?
                        .map(|a| a.ip())
                        .collect();
                    addrs
                        .iter()
                        .find(|a| a.is_ipv4())
                        .or(addrs.first())
                        .copied()
                        .ok_or_else(|| format!("max.connections.per.ip.overrides: {host} has no address"))?
                }
            };
            per_ip_overrides.insert(ip.to_canonical(), *count);
        }
        let listeners = config.broker_listeners();
        let inter_broker = config.inter_broker_listener_name();
        let protected_listener =
            (listeners.len() > 1 && listeners.iter().any(|l| l.name == inter_broker)).then_some(inter_broker);
        Ok(ConnectionQuotas {
            max_connections: config.max_connections,
            per_ip_default: config.max_connections_per_ip,
            per_ip_overrides,
            protected_listener,
            counts: Mutex::new(Counts::default()),
            released: Notify::new(),
        })
    }

    fn is_protected(&self, listener: &str) -> bool {
        self.protected_listener.as_deref() == Some(listener)
    }

    fn slot_available(&self, counts: &Counts, listener: &str) -> bool {
        self.is_protected(listener) || counts.total < self.max_connections
    }

    /// Counts a new connection from `ip` on `listener`, first waiting (as
    /// Kafka's acceptor does) until `max.connections` leaves room for it;
    /// then refuses it if its address is at its per-ip limit. The slot is
    /// given back when the returned value is dropped.
    pub async fn admit(self: &Arc<Self>, listener: &str, ip: IpAddr) -> Result<ConnectionSlot, TooManyConnections> {
        // An IPv4 client of a listener bound to `::` is the IPv4 address
        // (as Java reports it), so its limits and overrides apply.
        let ip = ip.to_canonical();
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            // Registered before the check, so a close in between wakes us.
            released.as_mut().enable();
            if let Some(admitted) = self.try_admit(listener, ip) {
                return admitted;
            }
            released.await;
        }
    }

    fn try_admit(self: &Arc<Self>, listener: &str, ip: IpAddr) -> Option<Result<ConnectionSlot, TooManyConnections>> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if !self.slot_available(&counts, listener) {
            return None;
        }
        let max = self.per_ip_overrides.get(&ip).copied().unwrap_or(self.per_ip_default);
        let from_ip = counts.per_ip.get(&ip).copied().unwrap_or(0);
        if from_ip >= max {
            return Some(Err(TooManyConnections { ip, max }));
        }
        *counts.per_ip.entry(ip).or_default() += 1;
        counts.total += 1;
        let id = counts.next_id;
        counts.next_id += 1;
        let activity = Arc::new(Activity::new());
        let close = CancellationToken::new();
        counts
            .open
            .insert(id, Conn { listener: listener.to_string(), activity: activity.clone(), close: close.clone() });
        self.close_excess(&mut counts);
        Some(Ok(ConnectionSlot { quotas: self.clone(), id, ip, activity, close }))
    }

    /// KIP-402: while connections of the protected listener keep the total
    /// over `max.connections`, close the least recently active connection
    /// of the other listeners (Kafka closes one per poll of each processor
    /// until the total is back within the limit).
    fn close_excess(&self, counts: &mut Counts) {
        let closing = counts.open.values().filter(|c| c.close.is_cancelled()).count();
        let mut excess = counts.total.saturating_sub(closing).saturating_sub(self.max_connections);
        while excess > 0 {
            let victim = counts
                .open
                .values()
                .filter(|c| !c.close.is_cancelled() && !self.is_protected(&c.listener))
                .min_by_key(|c| c.activity.last());
            let Some(victim) = victim else { break };
            tracing::info!(listener = %victim.listener, "closing the least recently used connection: max.connections reached");
            victim.close.cancel();
            excess -= 1;
        }
    }

    fn release(&self, id: u64, ip: IpAddr) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if counts.open.remove(&id).is_some() {
            counts.total -= 1;
            if let Some(n) = counts.per_ip.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    counts.per_ip.remove(&ip);
                }
            }
        }
        drop(counts);
        self.released.notify_waiters();
    }
}

/// One admitted connection's place in the counts; dropping it frees it.
#[derive(Debug)]
pub struct ConnectionSlot {
    quotas: Arc<ConnectionQuotas>,
    id: u64,
    ip: IpAddr,
    activity: Arc<Activity>,
    close: CancellationToken,
}

impl ConnectionSlot {
    pub fn activity(&self) -> &Arc<Activity> {
        &self.activity
    }

    /// Cancelled when the quotas close this connection.
    pub fn close_token(&self) -> &CancellationToken {
        &self.close
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.quotas.release(self.id, self.ip);
    }
}
