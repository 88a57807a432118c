//! The broker role's client listeners: an accept loop per listener that
//! admits connections through the connection quotas (see `quotas`) and
//! serves each on its own task (see `connection`). The composition root
//! (`node::compose_and_start`) binds the listeners and starts the loops.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::broker::Broker;

use super::connection;
use super::quotas::ConnectionQuotas;

/// Accepts, then admits through the quotas: like Kafka's acceptor, it
/// waits (accepting nothing more on this listener) while `max.connections`
/// is reached, and closes a connection over its address's limit at once.
pub async fn accept_loop(
    broker: Arc<Broker>,
    listener_name: String,
    listener: TcpListener,
    quotas: Arc<ConnectionQuotas>,
) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = broker.shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let admitted = tokio::select! {
            _ = broker.shutdown.cancelled() => break,
            a = quotas.admit(&listener_name, peer.ip()) => a,
        };
        match admitted {
            Ok(slot) => {
                let broker = broker.clone();
                let name = listener_name.clone();
                connections.spawn(connection::serve(broker, stream, peer, name, slot));
            }
            Err(refused) => {
                tracing::info!(
                    ip = %refused.ip,
                    max = refused.max,
                    "rejected connection: the address already has its maximum number of connections"
                );
                drop(stream);
            }
        }
        // Reap finished connection tasks.
        while connections.try_join_next().is_some() {}
    }
    connections.shutdown().await;
}
