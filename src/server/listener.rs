//! Listeners: bind every configured listener, accept connections up to
//! `max.connections`, and stop on shutdown. Ports given as 0 are bound to
//! a free port, and the real port is what the broker advertises.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::broker::{Broker, StartError};
use crate::config::BrokerConfig;
use crate::metadata::Endpoint;

use super::connection;

/// A started broker: its bound addresses and the handle to stop it.
pub struct RunningServer {
    pub broker: Arc<Broker>,
    pub addrs: Vec<(String, SocketAddr)>,
    tasks: JoinSet<()>,
}

impl RunningServer {
    /// The first listener's bound address (what tests connect to).
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0].1
    }

    /// Stops accepting, then shuts storage down cleanly.
    pub async fn shutdown(mut self) {
        self.broker.shutdown.cancel();
        while self.tasks.join_next().await.is_some() {}
        self.broker.close().await;
    }

    /// Waits until shutdown is requested from elsewhere, then stops.
    pub async fn run_until_shutdown(self) {
        self.broker.shutdown.cancelled().await;
        self.shutdown().await;
    }
}

/// Opens storage, binds listeners, registers and serves.
pub async fn start(config: BrokerConfig) -> Result<RunningServer, StartError> {
    let listeners_cfg = config.listeners.clone();
    let advertised_cfg = config.advertised_listeners.clone();
    let broker = tokio::task::spawn_blocking(move || Broker::open(config))
        .await
        .expect("broker open task")?;
    let mut bound = Vec::new();
    for l in &listeners_cfg {
        let addr = l.bind_addr();
        let listener = TcpListener::bind(&addr)
            .await
            .map_err(|source| StartError::Bind {
                addr: addr.clone(),
                source,
            })?;
        let local = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        bound.push((l.name.clone(), local, listener));
    }
    let endpoints: Vec<Endpoint> = advertised_cfg
        .iter()
        .map(|a| {
            let bound_port = bound
                .iter()
                .find(|(n, _, _)| *n == a.name)
                .map(|(_, addr, _)| addr.port());
            let host = if a.host.is_empty() {
                hostname()
            } else {
                a.host.clone()
            };
            let port = if a.port == 0 {
                bound_port.unwrap_or(0)
            } else {
                a.port
            };
            Endpoint {
                name: a.name.clone(),
                host,
                port,
            }
        })
        .collect();
    let epoch = broker.register(endpoints.clone()).await?;
    tracing::info!(
        node_id = broker.config.node_id,
        broker_epoch = epoch,
        ?endpoints,
        "broker registered"
    );
    broker.spawn_background_tasks();
    let mut tasks = JoinSet::new();
    let permits = Arc::new(Semaphore::new(
        broker.config.max_connections.min(Semaphore::MAX_PERMITS),
    ));
    let mut addrs = Vec::new();
    for (name, addr, listener) in bound {
        tracing::info!(listener = %name, %addr, "listening");
        addrs.push((name.clone(), addr));
        let broker = broker.clone();
        let permits = permits.clone();
        tasks.spawn(accept_loop(broker, name, listener, permits));
    }
    Ok(RunningServer {
        broker,
        addrs,
        tasks,
    })
}

async fn accept_loop(
    broker: Arc<Broker>,
    listener_name: String,
    listener: TcpListener,
    permits: Arc<Semaphore>,
) {
    let mut connections = JoinSet::new();
    loop {
        let permit = tokio::select! {
            _ = broker.shutdown.cancelled() => break,
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let accepted = tokio::select! {
            _ = broker.shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                let broker = broker.clone();
                let name = listener_name.clone();
                connections.spawn(async move {
                    connection::serve(broker, stream, peer, name).await;
                    drop(permit);
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
        // Reap finished connection tasks.
        while connections.try_join_next().is_some() {}
    }
    connections.shutdown().await;
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
