//! The broker's life with the controller (Kafka's `BrokerLifecycleManager`):
//! register with an incarnation id, catch up with the metadata log,
//! heartbeat (which unfences the broker once caught up, and renews its
//! `QuorumLease`), and on a clean stop, controlled shutdown so leaderships
//! move away first.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::broker::{Broker, StartError};
use crate::controller_client::rpc::{BrokerHeartbeat, BrokerRegistration};
use crate::controller_client::ControllerError;
use crate::metadata::Endpoint;

/// Registers this broker. A live broker with the same id makes the
/// controller answer DUPLICATE_BROKER_REGISTRATION; that is retried for one
/// session timeout (a restarted broker waits out its predecessor's session)
/// and is fatal after it.
pub async fn register(broker: &Broker, listeners: Vec<Endpoint>) -> Result<i64, StartError> {
    let session = Duration::from_millis(broker.config.int("broker.session.timeout.ms").max(1) as u64);
    let reg = BrokerRegistration {
        broker_id: broker.config.node_id,
        incarnation_id: broker.incarnation_id,
        listeners,
        rack: broker.config.rack.clone(),
        cluster_id: broker.log_manager.cluster_id(),
        previous_broker_epoch: broker.log_manager.previous_broker_epoch(),
        offline_replicas: broker.replica_manager.offline_replicas(),
    };
    let mut first_duplicate: Option<Instant> = None;
    loop {
        if broker.shutdown.is_cancelled() {
            return Err(StartError::Registration("shut down during registration".into()));
        }
        match broker.controller.register(reg.clone()).await {
            Ok(epoch) => {
                broker.broker_epoch.store(epoch, Ordering::Release);
                broker.log_manager.set_broker_epoch(epoch);
                return Ok(epoch);
            }
            Err(ControllerError::DuplicateBrokerRegistration) => {
                let since = *first_duplicate.get_or_insert_with(Instant::now);
                if since.elapsed() > session + Duration::from_secs(2) {
                    return Err(StartError::Registration(ControllerError::DuplicateBrokerRegistration.to_string()));
                }
                tracing::warn!("another broker is registered with node id {}; retrying", reg.broker_id);
            }
            Err(ControllerError::Remote { code, message })
                if code == kafka_protocol::ResponseError::InconsistentClusterId.code() =>
            {
                return Err(StartError::Registration(message));
            }
            Err(e) => tracing::info!(error = %e, "registration not accepted yet; retrying"),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Waits until this broker has applied the metadata log up to the
/// quorum's high watermark (and past its own registration).
pub async fn wait_caught_up(broker: &Broker, epoch: i64) -> Result<(), StartError> {
    let mut rx = broker.metadata.subscribe();
    loop {
        if broker.shutdown.is_cancelled() {
            return Err(StartError::Registration("shut down while catching up".into()));
        }
        let target = match broker.controller.describe_quorum().await {
            Ok(q) => q.high_watermark - 1,
            Err(e) => {
                tracing::debug!(error = %e, "quorum not described yet");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let target = target.max(epoch);
        loop {
            if *rx.borrow_and_update() >= target {
                return Ok(());
            }
            if tokio::time::timeout(Duration::from_millis(500), rx.changed()).await.is_err() {
                break;
            }
        }
    }
}

/// Waits until a heartbeat reports this broker unfenced.
pub async fn wait_unfenced(broker: &Broker) -> Result<(), StartError> {
    let mut logged = Instant::now();
    while broker.fenced.load(Ordering::Acquire) {
        if broker.shutdown.is_cancelled() {
            return Err(StartError::Registration("shut down before being unfenced".into()));
        }
        if logged.elapsed() > Duration::from_secs(10) {
            tracing::info!("waiting for the controller to unfence this broker");
            logged = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// Heartbeats every `broker.heartbeat.interval.ms` until shutdown; a
/// registration the controller no longer knows is renewed.
pub fn spawn_heartbeats(broker: Arc<Broker>, listeners: Vec<Endpoint>) {
    tokio::spawn(async move {
        let interval = Duration::from_millis(broker.config.int("broker.heartbeat.interval.ms").max(1) as u64);
        let mut tick = tokio::time::interval(interval);
        // A failed log directory is reported at once (Kafka's
        // `propagateDirectoryFailure` schedules an immediate heartbeat).
        let mut offline = broker.replica_manager.subscribe_offline();
        loop {
            tokio::select! {
                _ = broker.shutdown.cancelled() => break,
                _ = tick.tick() => {}
                _ = offline.changed() => {}
            }
            if broker.in_controlled_shutdown.load(Ordering::Acquire) {
                break;
            }
            let hb = BrokerHeartbeat {
                broker_id: broker.config.node_id,
                broker_epoch: broker.broker_epoch(),
                metadata_offset: broker.metadata.image().offset,
                want_fence: false,
                want_shutdown: false,
                offline_replicas: broker.replica_manager.offline_replicas(),
            };
            // The lease counts from the send: the controller's session counts
            // from the (later) receipt, so the lease always ends first.
            let sent_at = Instant::now();
            match broker.controller.heartbeat(hb, interval.max(Duration::from_secs(1))).await {
                Ok(r) if r.error == 0 => {
                    let was = broker.fenced.swap(r.is_fenced, Ordering::AcqRel);
                    if was && !r.is_fenced {
                        tracing::info!("broker unfenced");
                    }
                    if r.is_fenced {
                        broker.replica_manager.lease().revoke();
                    } else {
                        broker.replica_manager.lease().renew(sent_at);
                    }
                }
                Ok(r) => {
                    use kafka_protocol::ResponseError as E;
                    if r.error == E::StaleBrokerEpoch.code() || r.error == E::BrokerIdNotRegistered.code() {
                        tracing::warn!("registration lost; registering again");
                        broker.replica_manager.lease().revoke();
                        match register(&broker, listeners.clone()).await {
                            Ok(epoch) => tracing::info!(epoch, "re-registered"),
                            Err(e) => {
                                tracing::error!(error = %e, "re-registration failed; shutting down");
                                broker.shutdown.cancel();
                            }
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "heartbeat failed"),
            }
        }
    });
}

/// Controlled shutdown: ask the controller to move this broker's
/// leaderships away, and wait (bounded) until it says we may stop.
pub async fn controlled_shutdown(broker: &Broker, timeout: Duration) {
    broker.in_controlled_shutdown.store(true, Ordering::Release);
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let hb = BrokerHeartbeat {
            broker_id: broker.config.node_id,
            broker_epoch: broker.broker_epoch(),
            metadata_offset: broker.metadata.image().offset,
            want_fence: false,
            want_shutdown: true,
            offline_replicas: broker.replica_manager.offline_replicas(),
        };
        match broker.controller.heartbeat(hb, Duration::from_secs(2)).await {
            Ok(r) if r.should_shutdown => {
                tracing::info!("controlled shutdown complete");
                return;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(error = %e, "controlled shutdown heartbeat failed");
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tracing::warn!("controlled shutdown did not complete in time; stopping anyway");
}
