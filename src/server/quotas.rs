//! Connection counting and limits, after Kafka's `ConnectionQuotas`:
//! `max.connections` (broker-wide: an acceptor waits for a free slot, the
//! client's connection sits unserved in the meantime),
//! `max.connections.per.ip` and its overrides (checked once a slot is free:
//! the extra connection is closed at once), and KIP-402's protected
//! inter-broker listener (when the broker has more than one listener, that
//! listener is exempt from `max.connections`; when its connections push the
//! total over the limit, the least recently active connection of another
//! listener is closed). The three limits are dynamic broker configs, as in
//! Kafka: a raised `max.connections` admits waiting clients, a lowered one
//! closes least recently used connections down to it, per-ip changes apply
//! to new connections. Also owns each connection's activity clock, which
//! the connection uses for `connections.max.idle.ms` and the LRU close uses
//! to pick its victim.

use std::collections::HashMap;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::{parse_per_ip_overrides, BrokerConfig};
use crate::metadata::{Change, ConfigResourceType, MetadataImage, MetadataListener};

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

/// The limits in force.
#[derive(Debug, PartialEq)]
struct Limits {
    max_connections: usize,
    per_ip_default: usize,
    per_ip_overrides: HashMap<IpAddr, usize>,
}

impl Limits {
    /// From a configuration view (static, or with the dynamic layers);
    /// override hosts are resolved here, as Kafka resolves them when they
    /// are configured (the first address, IPv4 preferred as the JVM does).
    fn from_config(config: &BrokerConfig) -> Result<Limits, String> {
        let overrides = config.value("max.connections.per.ip.overrides").unwrap_or_default();
        let overrides = parse_per_ip_overrides(&overrides).map_err(|e| e.to_string())?;
        let mut per_ip_overrides = HashMap::new();
        for (host, count) in &overrides {
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
        Ok(Limits {
            max_connections: config.int("max.connections").max(0) as usize,
            per_ip_default: config.int("max.connections.per.ip").max(0) as usize,
            per_ip_overrides,
        })
    }
}

#[derive(Debug)]
struct Counts {
    limits: Limits,
    /// The metadata offset the limits were last taken from.
    limits_offset: i64,
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
    /// The static configuration, under the dynamic layers of each image.
    config: Arc<BrokerConfig>,
    /// The inter-broker listener, when it is protected (KIP-402: only if
    /// the broker has other listeners too).
    protected_listener: Option<String>,
    counts: Mutex<Counts>,
    /// Wakes acceptors waiting for a slot when a connection closes or the
    /// limit rises.
    released: Notify,
}

impl ConnectionQuotas {
    /// Limits from the static `config` (an unresolvable override host
    /// fails the start); [`ConnectionQuotas::apply_image`] layers the
    /// dynamic configs on top.
    pub fn new(config: Arc<BrokerConfig>) -> Result<Self, String> {
        let limits = Limits::from_config(&config)?;
        let listeners = config.broker_listeners();
        let inter_broker = config.inter_broker_listener_name();
        let protected_listener =
            (listeners.len() > 1 && listeners.iter().any(|l| l.name == inter_broker)).then_some(inter_broker);
        Ok(ConnectionQuotas {
            config,
            protected_listener,
            counts: Mutex::new(Counts {
                limits,
                limits_offset: -1,
                per_ip: HashMap::new(),
                total: 0,
                next_id: 0,
                open: HashMap::new(),
            }),
            released: Notify::new(),
        })
    }

    /// Takes the limits from `image`'s dynamic broker configs over the
    /// static ones (older images than the one applied are ignored).
    pub fn apply_image(&self, image: &MetadataImage) {
        let view = image.broker_config(&self.config);
        let limits = match Limits::from_config(&view) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "connection limits unchanged");
                return;
            }
        };
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if image.offset < counts.limits_offset {
            return;
        }
        counts.limits_offset = image.offset;
        if counts.limits == limits {
            return;
        }
        tracing::info!(
            max_connections = limits.max_connections,
            max_connections_per_ip = limits.per_ip_default,
            overrides = ?limits.per_ip_overrides,
            "connection limits updated"
        );
        counts.limits = limits;
        self.close_excess(&mut counts);
        drop(counts);
        self.released.notify_waiters();
    }

    fn is_protected(&self, listener: &str) -> bool {
        self.protected_listener.as_deref() == Some(listener)
    }

    fn slot_available(&self, counts: &Counts, listener: &str) -> bool {
        self.is_protected(listener) || counts.total < counts.limits.max_connections
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
        let max = counts.limits.per_ip_overrides.get(&ip).copied().unwrap_or(counts.limits.per_ip_default);
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

    /// KIP-402: while the total is over `max.connections` (connections of
    /// the protected listener, or a lowered limit), close the least
    /// recently active connection of the other listeners (Kafka closes one
    /// per poll of each processor until the total is back within it).
    fn close_excess(&self, counts: &mut Counts) {
        let closing = counts.open.values().filter(|c| c.close.is_cancelled()).count();
        let mut excess = counts.total.saturating_sub(closing).saturating_sub(counts.limits.max_connections);
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

impl MetadataListener for ConnectionQuotas {
    fn on_metadata_update(&self, image: &Arc<MetadataImage>, changes: &[Change]) {
        let node = self.config.node_id.to_string();
        // An empty change list is the whole image (catching up).
        let ours = changes.is_empty()
            || changes.iter().any(
                |c| matches!(c, Change::Config(ConfigResourceType::Broker, name) if name.is_empty() || *name == node),
            );
        if ours {
            self.apply_image(image);
        }
    }
}
