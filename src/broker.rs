//! `Broker`: everything a request handler can reach, and the start-up and
//! shutdown sequence that wires it together.
//!
//! Start-up: open log directories (recovering after an unclean stop) ->
//! replay the metadata log (the replica manager attaches logs to the
//! partitions the image assigns here) -> bind listeners -> register this
//! broker with its advertised endpoints -> serve. Shutdown reverses it and
//! leaves the clean-shutdown marker.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::{BrokerConfig, LogConfig};
use crate::controller::metadata_log::METADATA_TOPIC;
use crate::controller::Controller;
use crate::controller::NewTopic;
use crate::coordinator::group::{CoordinatorLeadership, GroupConfig, GroupCoordinator, GROUP_METADATA_TOPIC};
use crate::coordinator::producer_id_manager::ProducerIdManager;
use crate::metadata::{Endpoint, MetadataCache, MetadataImage};
use crate::replica::ReplicaManager;
use crate::storage::log_manager::LogManager;
use crate::storage::segment::now_ms;

pub struct Broker {
    pub config: Arc<BrokerConfig>,
    pub cluster_id: String,
    pub metadata: Arc<MetadataCache>,
    pub controller: Arc<Controller>,
    pub replica_manager: Arc<ReplicaManager>,
    pub log_manager: Arc<LogManager>,
    pub producer_ids: ProducerIdManager,
    pub group_coordinator: Arc<GroupCoordinator>,
    pub shutdown: CancellationToken,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("storage: {0}")]
    Storage(#[from] crate::storage::StorageError),
    #[error("controller: {0}")]
    Controller(#[from] crate::controller::ControllerError),
    #[error("cannot bind listener {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

impl Broker {
    /// Opens storage and metadata; nothing is served yet.
    pub fn open(config: BrokerConfig) -> Result<Arc<Self>, StartError> {
        let config = Arc::new(config);
        let metadata_dir_name = format!("{METADATA_TOPIC}-0");
        let metadata = Arc::new(MetadataCache::new());
        // Logs load with broker-default configs; the first metadata image
        // applies each topic's overrides.
        let default_log_config = Arc::new(LogConfig::resolve(&config, &Default::default()));
        let log_manager = Arc::new(LogManager::startup(
            &config.log_dirs,
            config.node_id,
            vec![metadata_dir_name],
            |_| default_log_config.clone(),
        )?);
        let replica_manager = ReplicaManager::new(config.clone(), log_manager.clone());
        metadata.add_listener(replica_manager.clone());
        let group_coordinator = GroupCoordinator::new(GroupConfig::from_broker(&config), replica_manager.clone());
        replica_manager.add_leadership_listener(Arc::new(CoordinatorLeadership(group_coordinator.clone())));
        let controller = Arc::new(Controller::start(
            config.clone(),
            metadata.clone(),
            log_manager.flusher().clone(),
        )?);
        let producer_ids = ProducerIdManager::new(config.node_id, controller.clone());
        Ok(Arc::new(Broker {
            cluster_id: log_manager.cluster_id().to_string(),
            config,
            metadata,
            controller,
            replica_manager,
            log_manager,
            producer_ids,
            group_coordinator,
            shutdown: CancellationToken::new(),
        }))
    }

    /// Registers this broker with the endpoints clients should use.
    pub async fn register(&self, endpoints: Vec<Endpoint>) -> Result<i64, StartError> {
        Ok(self
            .controller
            .register_local_broker(endpoints, self.config.rack.clone())
            .await?)
    }

    /// How an internal topic is created when first needed (or auto-created
    /// by a client's Metadata request): `__consumer_offsets` with its own
    /// partition count, replication factor (clamped to the live brokers)
    /// and compaction.
    pub fn internal_topic_spec(&self, name: &str, image: &MetadataImage) -> Option<NewTopic> {
        if name != GROUP_METADATA_TOPIC {
            return None;
        }
        let gc = self.group_coordinator.config();
        let live = image.live_brokers().count().max(1) as i16;
        let rf = if gc.replication_factor > live {
            tracing::warn!(
                configured = gc.replication_factor,
                live,
                "offsets.topic.replication.factor exceeds the live brokers; creating {GROUP_METADATA_TOPIC} with replication factor {live}"
            );
            live
        } else {
            gc.replication_factor
        };
        let mut configs = std::collections::BTreeMap::new();
        configs.insert("cleanup.policy".to_string(), "compact".to_string());
        configs.insert("compression.type".to_string(), "producer".to_string());
        configs.insert("segment.bytes".to_string(), gc.segment_bytes.to_string());
        Some(NewTopic {
            name: name.to_string(),
            num_partitions: gc.num_partitions,
            replication_factor: rf,
            assignments: Vec::new(),
            configs,
        })
    }

    /// The image once `__consumer_offsets` exists (creating it if needed).
    pub async fn ensure_offsets_topic(&self) -> Result<Arc<MetadataImage>, String> {
        let image = self.metadata.image();
        if image.topic_by_name(GROUP_METADATA_TOPIC).is_some() {
            return Ok(image);
        }
        let spec = self.internal_topic_spec(GROUP_METADATA_TOPIC, &image).expect("internal topic");
        for r in self.controller.create_topics(vec![spec], false).await {
            match r {
                Ok(_) => tracing::info!("created {GROUP_METADATA_TOPIC}"),
                Err(crate::controller::ControllerError::TopicAlreadyExists(_)) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(self.metadata.image())
    }

    /// Periodic storage duties: `flush.ms`, offset checkpoints
    /// (`log.flush.offset.checkpoint.interval.ms`) and retention
    /// (`log.retention.check.interval.ms`).
    pub fn spawn_background_tasks(self: &Arc<Self>) {
        self.group_coordinator.spawn_timers(self.shutdown.clone());
        let broker = self.clone();
        tokio::spawn(async move {
            let checkpoint_every = Duration::from_millis(
                broker
                    .config
                    .log_flush_offset_checkpoint_interval_ms
                    .max(1000),
            );
            let retention_every =
                Duration::from_millis(broker.config.log_retention_check_interval_ms.max(1));
            let tick_every = retention_every.min(Duration::from_millis(1000));
            let mut tick = tokio::time::interval(tick_every);
            let mut last_checkpoint = tokio::time::Instant::now();
            let mut last_retention = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    _ = broker.shutdown.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let b = broker.clone();
                let checkpoint_due = last_checkpoint.elapsed() >= checkpoint_every;
                let retention_due = last_retention.elapsed() >= retention_every;
                let _ = tokio::task::spawn_blocking(move || {
                    let now = now_ms();
                    b.log_manager.flush_due(now);
                    if retention_due {
                        b.log_manager.delete_old_segments(now);
                        // Deleted segments may let producers/consumers see a
                        // new log start offset right away.
                        for p in b.replica_manager.all() {
                            p.maybe_advance_high_watermark();
                        }
                    }
                    if checkpoint_due {
                        if let Err(e) = b.log_manager.checkpoint() {
                            tracing::error!(error = %e, "writing checkpoints");
                        }
                    }
                })
                .await;
                if checkpoint_due {
                    last_checkpoint = tokio::time::Instant::now();
                }
                if retention_due {
                    last_retention = tokio::time::Instant::now();
                }
            }
        });
    }

    /// Clean shutdown of storage: flush, checkpoints, marker.
    pub async fn close(&self) {
        self.shutdown.cancel();
        self.controller.shutdown().await;
        let lm = self.log_manager.clone();
        match tokio::task::spawn_blocking(move || lm.shutdown()).await {
            Ok(Ok(())) => tracing::info!("log manager shut down cleanly"),
            Ok(Err(e)) => tracing::error!(error = %e, "log manager shutdown"),
            Err(e) => tracing::error!(error = %e, "log manager shutdown task"),
        }
    }
}
