//! The composition root: the one place that builds every subsystem of a
//! node and wires them together (Kafka's `KafkaRaftServer`, which creates
//! a `ControllerServer` and a `BrokerServer` and starts them).
//! [`compose_and_start`] opens storage, starts the controller role (the
//! metadata quorum and its CONTROLLER listener) and the channel to it,
//! builds the broker's read-only context ([`Broker`]), registers and
//! catches up with the metadata log, starts each subsystem's background
//! tasks (the log manager's duties, replication, group timers, heartbeats),
//! then binds and serves the client listeners. Ports given as 0 are bound
//! to a free port, and the real port is what the broker advertises.
//!
//! It sits at the top of the module graph: it is the only module outside
//! `controller` that depends on `controller`, and nothing depends on it but
//! the binary and the tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::broker::{Broker, BrokerStorage, StartError};
use crate::broker_lifecycle;
use crate::config::BrokerConfig;
use crate::controller::{listener as controller_listener, ControllerServer, QuorumController};
use crate::controller_client::{metadata_follower, ControllerChannel, LocalController};
use crate::metadata::Endpoint;
use crate::replica::replica_manager::ReplicationContext;
use crate::server::listener::accept_loop;
use crate::server::quotas::ConnectionQuotas;
use crate::storage::cleaner::CleanerConfig;
use crate::storage::flusher::Flusher;
use crate::storage::log_manager::LogManagerTasks;

/// A started node: its bound addresses and the handle to stop it.
pub struct RunningServer {
    /// The broker role, if this node has it.
    pub broker: Option<Arc<Broker>>,
    /// The controller role, if this node has it.
    pub quorum: Option<Arc<QuorumController>>,
    /// Bound client listeners (name, address).
    pub addrs: Vec<(String, SocketAddr)>,
    pub controller_addr: Option<SocketAddr>,
    pub shutdown: CancellationToken,
    tasks: JoinSet<()>,
    /// The log manager's tasks to stop before its logs close.
    log_tasks: Option<LogManagerTasks>,
}

impl RunningServer {
    /// The first client listener's bound address (what tests connect to).
    pub fn addr(&self) -> SocketAddr {
        self.addrs.first().map(|a| a.1).or(self.controller_addr).expect("a bound listener")
    }

    /// Controlled shutdown, then stop accepting, then close storage.
    pub async fn shutdown(mut self) {
        if let Some(b) = &self.broker {
            broker_lifecycle::controlled_shutdown(b, Duration::from_secs(10)).await;
        }
        self.shutdown.cancel();
        while self.tasks.join_next().await.is_some() {}
        if let Some(b) = &self.broker {
            b.log_manager.close(self.log_tasks.take()).await;
        }
        if let Some(q) = &self.quorum {
            q.shutdown().await;
        }
    }

    /// Waits until shutdown is requested from elsewhere, then stops.
    pub async fn run_until_shutdown(self) {
        self.shutdown.cancelled().await;
        self.shutdown().await;
    }
}

async fn bind(addr: String) -> Result<(TcpListener, SocketAddr), StartError> {
    let listener = TcpListener::bind(&addr).await.map_err(|source| StartError::Bind { addr: addr.clone(), source })?;
    let local = listener.local_addr().map_err(|source| StartError::Bind { addr, source })?;
    Ok((listener, local))
}

/// Starts the node's roles: storage, the metadata quorum, registration,
/// catch-up, then serving. This is where every subsystem is built and
/// wired to the others, and where each one's background tasks start.
pub async fn compose_and_start(config: BrokerConfig) -> Result<RunningServer, StartError> {
    let config = Arc::new(config);
    let shutdown = CancellationToken::new();
    let mut tasks = JoinSet::new();

    let storage = if config.roles.broker {
        let c = config.clone();
        Some(tokio::task::spawn_blocking(move || BrokerStorage::open(&c)).await.expect("storage open task")?)
    } else {
        None
    };

    let quorum = if config.roles.controller {
        let flusher = storage.as_ref().map(|s| s.log_manager.flusher().clone()).unwrap_or_else(Flusher::start);
        let publish_to = storage.as_ref().map(|s| s.metadata.clone());
        let local_cluster_id = storage.as_ref().and_then(|s| s.log_manager.cluster_id());
        let q = QuorumController::start(config.clone(), config.voters.clone(), flusher, publish_to, local_cluster_id)
            .await?;
        q.spawn_duties(shutdown.clone());
        Some(q)
    } else {
        None
    };
    let mut controller_addr = None;
    if let (Some(q), Some(l)) = (&quorum, config.controller_listener()) {
        let (listener, local) = bind(l.bind_addr()).await?;
        tracing::info!(addr = %local, "controller listener");
        controller_addr = Some(local);
        tasks.spawn(controller_listener::serve(listener, Arc::new(ControllerServer(q.clone())), shutdown.clone()));
    }
    let local = quorum.clone().map(|q| q as Arc<dyn LocalController>);
    let channel = ControllerChannel::new(local, config.voters.clone());

    let Some(storage) = storage else {
        return Ok(RunningServer {
            broker: None,
            quorum,
            addrs: Vec::new(),
            controller_addr,
            shutdown,
            tasks,
            log_tasks: None,
        });
    };
    if quorum.is_none() {
        metadata_follower::spawn(channel.clone(), storage.metadata.clone(), shutdown.clone());
    }
    let broker = Broker::new(config.clone(), storage, channel, shutdown.clone());

    // Before registering, so a bad override host fails the start cleanly.
    let quotas = Arc::new(ConnectionQuotas::new(config.clone()).map_err(StartError::Config)?);
    let mut bound = Vec::new();
    for l in config.broker_listeners() {
        let (listener, local) = bind(l.bind_addr()).await?;
        bound.push((l.name.clone(), local, listener));
    }
    let endpoints: Vec<Endpoint> = config
        .advertised_listeners
        .iter()
        .map(|a| {
            let bound_port = bound.iter().find(|(n, _, _)| *n == a.name).map(|(_, addr, _)| addr.port());
            let host = if a.host.is_empty() { hostname() } else { a.host.clone() };
            let port = if a.port == 0 { bound_port.unwrap_or(0) } else { a.port };
            Endpoint { name: a.name.clone(), host, port }
        })
        .collect();
    let epoch = broker_lifecycle::register(&broker, endpoints.clone()).await?;
    broker_lifecycle::wait_caught_up(&broker, epoch).await?;
    let cluster_id = broker.cluster_id();
    if !cluster_id.is_empty() {
        broker.log_manager.ensure_cluster_id(&cluster_id)?;
    }
    // Only now may metadata drive the logs (create, load, delete).
    broker.metadata.mark_caught_up();
    // Dynamic connection limits: from now on, and as they are now.
    broker.metadata.add_listener(quotas.clone());
    quotas.apply_image(&broker.metadata.image());
    tracing::info!(node_id = config.node_id, broker_epoch = epoch, ?endpoints, "broker registered and caught up");
    broker_lifecycle::spawn_heartbeats(broker.clone(), endpoints);
    // Each subsystem's own background tasks.
    let log_tasks = {
        let (metadata, config) = (broker.metadata.clone(), config.clone());
        let replicas = broker.replica_manager.clone();
        broker.log_manager.start_background_tasks(
            &broker.config,
            move || CleanerConfig::from_broker(&metadata.image().broker_config(&config)),
            // Deleted segments may let clients see a new log start offset
            // right away.
            move || {
                for p in replicas.all() {
                    p.maybe_advance_high_watermark();
                }
            },
            shutdown.clone(),
        )
    };
    broker.group_coordinator.spawn_timers(shutdown.clone());
    broker.txn_coordinator.spawn_timers();
    broker.replica_manager.start_replication(ReplicationContext {
        metadata: broker.metadata.clone(),
        controller: broker.controller.clone(),
        broker_epoch: broker.broker_epoch.clone(),
        shutdown: shutdown.clone(),
    });
    // As Kafka: requests are served only once the controller has unfenced
    // this broker, so no client ever sees it missing from its own metadata.
    broker_lifecycle::wait_unfenced(&broker).await?;

    let mut addrs = Vec::new();
    for (name, addr, listener) in bound {
        tracing::info!(listener = %name, %addr, "listening");
        addrs.push((name.clone(), addr));
        tasks.spawn(accept_loop(broker.clone(), name, listener, quotas.clone()));
    }
    Ok(RunningServer {
        broker: Some(broker),
        quorum,
        addrs,
        controller_addr,
        shutdown,
        tasks,
        log_tasks: Some(log_tasks),
    })
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if rc == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        if let Ok(s) = std::str::from_utf8(&buf[..end]) {
            if !s.is_empty() {
                return s.to_string();
            }
        }
    }
    "localhost".to_string()
}
