//! `Broker`: the read-only context every request handler reaches (the
//! collaborators Kafka hands to `KafkaApis`): configuration, metadata, the controller channel, and the broker's subsystems, plus the
//! internal-topic helpers handlers share. It starts nothing: the
//! composition root (`node::compose_and_start`) builds it and starts each
//! subsystem's own background tasks (the log manager's, replication, group
//! timers, heartbeats).
//!
//! Start-up order (see `node::compose_and_start`): open log directories
//! (recovering after an unclean stop) -> start or reach the metadata quorum
//! -> register with the active controller -> catch up with the metadata log
//! (only then are logs reconciled with it) -> serve -> heartbeat.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::{BrokerConfig, LogConfig};
use crate::controller_client::ops::NewTopic;
use crate::controller_client::{ControllerChannel, ControllerError};
use crate::coordinator::group::{CoordinatorLeadership, GroupConfig, GroupCoordinator, GROUP_METADATA_TOPIC};
use crate::coordinator::producer_id_manager::ProducerIdManager;
use crate::coordinator::transaction::verifier::CoordinatorVerifier;
use crate::coordinator::transaction::{
    TransactionConfig, TransactionCoordinator, TxnLeadership, TRANSACTION_STATE_TOPIC,
};
use crate::metadata::{MetadataCache, MetadataImage, METADATA_TOPIC};
use crate::replica::txn_verification::TransactionVerifier;
use crate::replica::ReplicaManager;
use crate::storage::log_manager::LogManager;

pub struct Broker {
    pub config: Arc<BrokerConfig>,
    pub metadata: Arc<MetadataCache>,
    pub controller: Arc<ControllerChannel>,
    pub replica_manager: Arc<ReplicaManager>,
    pub log_manager: Arc<LogManager>,
    pub producer_ids: Arc<ProducerIdManager>,
    pub group_coordinator: Arc<GroupCoordinator>,
    pub txn_coordinator: Arc<TransactionCoordinator>,
    pub shutdown: CancellationToken,
    /// A fresh id per process start: the controller tells a restart from a
    /// second process with the same node id by it.
    pub incarnation_id: Uuid,
    /// The epoch of this broker's current registration (-1 before).
    pub broker_epoch: Arc<AtomicI64>,
    pub fenced: AtomicBool,
    /// Set when controlled shutdown begins: periodic heartbeats stop, so
    /// none can unfence the broker after the controller fenced it.
    pub in_controlled_shutdown: AtomicBool,
    /// KIP-890 verification of transactional produce (see
    /// `replica::txn_verification`): the transaction coordinator's
    /// `CoordinatorVerifier` from the start.
    txn_verifier: RwLock<Arc<dyn TransactionVerifier>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("storage: {0}")]
    Storage(#[from] crate::storage::StorageError),
    #[error("controller: {0}")]
    Controller(#[from] ControllerError),
    #[error("cannot bind listener {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("{0}")]
    Registration(String),
    #[error("configuration: {0}")]
    Config(String),
}

/// The broker role's storage and local services, before it serves.
pub struct BrokerStorage {
    pub metadata: Arc<MetadataCache>,
    pub log_manager: Arc<LogManager>,
    pub replica_manager: Arc<ReplicaManager>,
    pub group_coordinator: Arc<GroupCoordinator>,
}

/// How long an admin request waits for its change to reach this broker.
const ADMIN_VISIBILITY_WAIT: Duration = Duration::from_secs(20);

impl BrokerStorage {
    /// Opens the log directories (blocking: recovery may scan segments).
    pub fn open(config: &Arc<BrokerConfig>) -> Result<Self, StartError> {
        let metadata_dir_name = format!("{METADATA_TOPIC}-0");
        let metadata = Arc::new(MetadataCache::new());
        // Logs load with broker-default configs; the metadata image applies
        // each topic's overrides once the broker has caught up.
        let default_log_config = Arc::new(LogConfig::resolve(config, &Default::default()));
        let log_manager =
            Arc::new(LogManager::startup(&config.log_dirs, config.node_id, vec![metadata_dir_name], |_| {
                default_log_config.clone()
            })?);
        let replica_manager = ReplicaManager::new(config.clone(), log_manager.clone());
        metadata.add_listener(replica_manager.clone());
        let group_coordinator = GroupCoordinator::new(GroupConfig::from_broker(config), replica_manager.clone());
        replica_manager.add_leadership_listener(Arc::new(CoordinatorLeadership(group_coordinator.clone())));
        Ok(BrokerStorage { metadata, log_manager, replica_manager, group_coordinator })
    }
}

impl Broker {
    /// Waits until this broker has applied the metadata log as far as the
    /// quorum has committed it, for at most the request's `timeout_ms`
    /// (none or <= 0: `ADMIN_VISIBILITY_WAIT`), never past
    /// `ADMIN_VISIBILITY_WAIT`, which stays below clients' request timeout.
    /// Admin handlers call it after a controller operation committed
    /// something, so the client that asked finds its change here at once:
    /// Weir publishes metadata to the broker asynchronously, and creating
    /// thousands of logs takes a while. Timing out is not an error; the
    /// change is committed and becomes visible later (clients retry, as
    /// with Kafka).
    pub async fn await_committed_metadata(&self, timeout_ms: Option<i32>) {
        let limit = match timeout_ms {
            Some(ms) if ms > 0 => Duration::from_millis(ms as u64).min(ADMIN_VISIBILITY_WAIT),
            _ => ADMIN_VISIBILITY_WAIT,
        };
        let wait = async {
            let Ok(q) = self.controller.describe_quorum().await else { return };
            let target = q.high_watermark - 1;
            let mut rx = self.metadata.subscribe();
            let _ = rx.wait_for(|applied| *applied >= target).await;
        };
        let _ = tokio::time::timeout(limit, wait).await;
    }

    pub fn new(
        config: Arc<BrokerConfig>,
        storage: BrokerStorage,
        controller: Arc<ControllerChannel>,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        let producer_ids = Arc::new(ProducerIdManager::new(config.node_id, controller.clone()));
        let txn_coordinator = TransactionCoordinator::new(
            TransactionConfig::from_broker(&config),
            config.node_id,
            storage.replica_manager.clone(),
            storage.metadata.clone(),
            producer_ids.clone(),
            shutdown.clone(),
        );
        // Before the broker catches up with the metadata log, so no
        // leadership of a __transaction_state partition is missed.
        storage.replica_manager.add_leadership_listener(Arc::new(TxnLeadership(txn_coordinator.clone())));
        // KIP-890: transactional produce asks this coordinator.
        let verifier: Arc<dyn TransactionVerifier> = Arc::new(CoordinatorVerifier(txn_coordinator.clone()));
        Arc::new(Broker {
            config,
            metadata: storage.metadata,
            controller,
            replica_manager: storage.replica_manager,
            log_manager: storage.log_manager,
            producer_ids,
            group_coordinator: storage.group_coordinator,
            txn_coordinator,
            shutdown,
            incarnation_id: Uuid::new_v4(),
            broker_epoch: Arc::new(AtomicI64::new(-1)),
            fenced: AtomicBool::new(true),
            in_controlled_shutdown: AtomicBool::new(false),
            txn_verifier: RwLock::new(verifier),
        })
    }

    /// The verifier transactional produce asks (KIP-890).
    pub fn transaction_verifier(&self) -> Arc<dyn TransactionVerifier> {
        self.txn_verifier.read().expect("verifier lock").clone()
    }

    /// Installs the transaction coordinator's verifier.
    pub fn set_transaction_verifier(&self, verifier: Arc<dyn TransactionVerifier>) {
        *self.txn_verifier.write().expect("verifier lock") = verifier;
    }

    /// The cluster id from the metadata log.
    pub fn cluster_id(&self) -> String {
        self.metadata.image().cluster_id.clone()
    }

    pub fn broker_epoch(&self) -> i64 {
        self.broker_epoch.load(Ordering::Acquire)
    }

    /// How an internal topic is created when first needed (or auto-created
    /// by a client's Metadata request): `__consumer_offsets` and
    /// `__transaction_state` with their own partition counts, replication
    /// factors (clamped to the live brokers, with one warning) and
    /// compaction; the transaction log also has its own min.insync.replicas.
    pub fn internal_topic_spec(&self, name: &str, image: &MetadataImage) -> Option<NewTopic> {
        let mut configs = std::collections::BTreeMap::new();
        configs.insert("cleanup.policy".to_string(), "compact".to_string());
        configs.insert("compression.type".to_string(), "producer".to_string());
        let (partitions, replication_factor, rf_config) = if name == GROUP_METADATA_TOPIC {
            let gc = self.group_coordinator.config();
            configs.insert("segment.bytes".to_string(), gc.segment_bytes.to_string());
            (gc.num_partitions, gc.replication_factor, "offsets.topic.replication.factor")
        } else if name == TRANSACTION_STATE_TOPIC {
            let tc = self.txn_coordinator.config();
            configs.insert("segment.bytes".to_string(), tc.segment_bytes.to_string());
            configs.insert("min.insync.replicas".to_string(), tc.min_isr.to_string());
            // Kafka's transactionTopicConfigs: never unclean, uncompressed.
            configs.insert("unclean.leader.election.enable".to_string(), "false".to_string());
            configs.insert("compression.type".to_string(), "uncompressed".to_string());
            (tc.num_partitions, tc.replication_factor, "transaction.state.log.replication.factor")
        } else {
            return None;
        };
        let live = image.live_brokers().count().max(1) as i16;
        let rf = if replication_factor > live {
            tracing::warn!(
                configured = replication_factor,
                live,
                "{rf_config} exceeds the live brokers; creating {name} with replication factor {live}"
            );
            live
        } else {
            replication_factor
        };
        Some(NewTopic {
            name: name.to_string(),
            num_partitions: partitions,
            replication_factor: rf,
            assignments: Vec::new(),
            configs,
        })
    }

    /// The image once `__consumer_offsets` exists (creating it if needed).
    pub async fn ensure_offsets_topic(&self) -> Result<Arc<MetadataImage>, String> {
        self.ensure_internal_topic(GROUP_METADATA_TOPIC).await
    }

    /// The image once `__transaction_state` exists (creating it if needed).
    pub async fn ensure_transaction_topic(&self) -> Result<Arc<MetadataImage>, String> {
        self.ensure_internal_topic(TRANSACTION_STATE_TOPIC).await
    }

    async fn ensure_internal_topic(&self, name: &str) -> Result<Arc<MetadataImage>, String> {
        let image = self.metadata.image();
        if image.topic_by_name(name).is_some() {
            return Ok(image);
        }
        let spec = self.internal_topic_spec(name, &image).expect("internal topic");
        for r in self.controller.create_topics(vec![spec], false).await {
            match r {
                Ok(_) => tracing::info!("created {name}"),
                Err(ControllerError::TopicAlreadyExists(_)) => {}
                Err(ControllerError::Remote { code, .. })
                    if code == kafka_protocol::ResponseError::TopicAlreadyExists.code() => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        // The creation is committed; wait until this broker has applied it.
        let mut rx = self.metadata.subscribe();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let image = self.metadata.image();
            if image.topic_by_name(name).is_some() {
                return Ok(image);
            }
            if tokio::time::timeout_at(deadline, rx.changed()).await.is_err() {
                return Err(format!("{name} is not visible yet"));
            }
        }
    }
}
