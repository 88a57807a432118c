//! The metadata controller: validates cluster changes, turns them into
//! metadata records, makes the records durable in the metadata log, and
//! applies them to the image every node serves from.
//!
//! Every operation follows one shape: plan (records + answer) against the
//! current image, append, apply, publish. State changes only when a record
//! is applied, by the same `MetadataImage::apply` used on load.

pub mod config_control;
pub mod metadata_log;
pub mod placement;
pub mod replication_control;

use std::collections::HashSet;
use std::sync::Arc;

use thiserror::Error;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::config::BrokerConfig;
use crate::metadata::{
    Change, ConfigResourceType, Endpoint, MetadataCache, MetadataImage, MetadataRecord,
};
use crate::storage::flusher::Flusher;
use crate::storage::StorageError;

use metadata_log::MetadataLog;
pub use replication_control::{CreatedTopic, NewTopic};

/// Producer ids are handed to brokers in blocks, as Kafka does.
pub const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;

#[derive(Debug, Error)]
pub enum ControllerError {
    #[error("{0}")]
    InvalidTopic(String),
    #[error("{0}")]
    TopicAlreadyExists(String),
    #[error("{0}")]
    InvalidPartitions(String),
    #[error("{0}")]
    InvalidReplicationFactor(String),
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    #[error("{0}")]
    InvalidConfig(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    UnknownTopicOrPartition(String),
    #[error("{0}")]
    UnknownTopicId(String),
    #[error("Topic deletion is disabled.")]
    TopicDeletionDisabled,
    #[error("metadata log: {0}")]
    Storage(#[from] StorageError),
}

impl ControllerError {
    pub fn kafka_code(&self) -> i16 {
        use kafka_protocol::ResponseError as E;
        match self {
            ControllerError::InvalidTopic(_) => E::InvalidTopicException.code(),
            ControllerError::TopicAlreadyExists(_) => E::TopicAlreadyExists.code(),
            ControllerError::InvalidPartitions(_) => E::InvalidPartitions.code(),
            ControllerError::InvalidReplicationFactor(_) => E::InvalidReplicationFactor.code(),
            ControllerError::InvalidReplicaAssignment(_) => E::InvalidReplicaAssignment.code(),
            ControllerError::InvalidConfig(_) => E::InvalidConfig.code(),
            ControllerError::InvalidRequest(_) => E::InvalidRequest.code(),
            ControllerError::UnknownTopicOrPartition(_) => E::UnknownTopicOrPartition.code(),
            ControllerError::UnknownTopicId(_) => E::UnknownTopicId.code(),
            ControllerError::TopicDeletionDisabled => E::TopicDeletionDisabled.code(),
            ControllerError::Storage(_) => E::UnknownServerError.code(),
        }
    }
}

struct ControllerState {
    image: MetadataImage,
    log: MetadataLog,
}

/// A single-node metadata quorum: this process is the only voter.
pub struct Controller {
    state: Mutex<ControllerState>,
    cache: Arc<MetadataCache>,
    config: Arc<BrokerConfig>,
}

/// How to address a topic in a deletion.
#[derive(Debug, Clone)]
pub enum TopicRef {
    Name(String),
    Id(Uuid),
}

impl Controller {
    /// Loads the metadata log, replays it, and publishes the image (which
    /// lets listeners load partitions before anything is served).
    pub fn start(
        config: Arc<BrokerConfig>,
        cache: Arc<MetadataCache>,
        flusher: Arc<Flusher>,
    ) -> Result<Self, ControllerError> {
        let (log, records) = MetadataLog::open(&config.metadata_log_dir, &config, flusher)?;
        let mut image = MetadataImage::empty();
        let mut changes = Vec::new();
        for (offset, r) in &records {
            changes.extend(image.apply(*offset, r));
        }
        tracing::info!(
            records = records.len(),
            topics = image.topics.len(),
            "metadata log replayed"
        );
        cache.publish(Arc::new(image.clone()), &changes);
        Ok(Controller {
            state: Mutex::new(ControllerState { image, log }),
            cache,
            config,
        })
    }

    /// Appends, applies and publishes `records`.
    async fn commit(
        &self,
        state: &mut ControllerState,
        records: Vec<MetadataRecord>,
    ) -> Result<(), ControllerError> {
        if records.is_empty() {
            return Ok(());
        }
        let offsets = state.log.append(&records)?;
        let mut changes = Vec::new();
        for (offset, r) in offsets.iter().zip(&records) {
            changes.extend(state.image.apply(*offset, r));
        }
        self.cache.publish(Arc::new(state.image.clone()), &changes);
        Ok(())
    }

    /// Registers (or re-registers) this node's broker with its listeners.
    pub async fn register_local_broker(
        &self,
        listeners: Vec<Endpoint>,
        rack: Option<String>,
    ) -> Result<i64, ControllerError> {
        let mut state = self.state.lock().await;
        let id = self.config.node_id;
        let record = MetadataRecord::RegisterBroker {
            broker_id: id,
            incarnation_id: Uuid::new_v4(),
            broker_epoch: state.image.offset + 1,
            listeners,
            rack,
            fenced: false,
        };
        self.commit(&mut state, vec![record]).await?;
        Ok(state.image.brokers.get(&id).map_or(-1, |b| b.epoch))
    }

    /// Creates topics; one result per requested topic, in order.
    pub async fn create_topics(
        &self,
        topics: Vec<NewTopic>,
        validate_only: bool,
    ) -> Vec<Result<CreatedTopic, ControllerError>> {
        let mut state = self.state.lock().await;
        let mut seen = HashSet::new();
        let duplicates: HashSet<String> = topics
            .iter()
            .filter(|t| !seen.insert(t.name.clone()))
            .map(|t| t.name.clone())
            .collect();
        let mut results = Vec::with_capacity(topics.len());
        for t in &topics {
            if duplicates.contains(&t.name) {
                results.push(Err(ControllerError::InvalidRequest(format!(
                    "Duplicate topic name: {}",
                    t.name
                ))));
                continue;
            }
            let view = state.image.broker_config(&self.config);
            let planned = replication_control::plan_create_topic(&state.image, &view, t);
            match planned {
                Ok((records, created)) => {
                    if !validate_only {
                        if let Err(e) = self.commit(&mut state, records).await {
                            results.push(Err(e));
                            continue;
                        }
                    }
                    results.push(Ok(created));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        results
    }

    /// Deletes topics; one result per reference: the topic's (name, id).
    pub async fn delete_topics(
        &self,
        topics: Vec<TopicRef>,
    ) -> Vec<Result<(String, Uuid), ControllerError>> {
        let mut state = self.state.lock().await;
        let mut results = Vec::with_capacity(topics.len());
        for t in topics {
            if !self.config.delete_topic_enable {
                results.push(Err(ControllerError::TopicDeletionDisabled));
                continue;
            }
            let found = match &t {
                TopicRef::Name(n) => state
                    .image
                    .topic_by_name(n)
                    .map(|t| (t.name.clone(), t.id))
                    .ok_or_else(|| {
                        ControllerError::UnknownTopicOrPartition(
                            "This server does not host this topic-partition.".into(),
                        )
                    }),
                TopicRef::Id(id) => state
                    .image
                    .topic_by_id(id)
                    .map(|t| (t.name.clone(), t.id))
                    .ok_or_else(|| {
                        ControllerError::UnknownTopicId(
                            "This server does not host this topic ID.".into(),
                        )
                    }),
            };
            match found {
                Ok((name, id)) => match self
                    .commit(
                        &mut state,
                        vec![MetadataRecord::RemoveTopic { topic_id: id }],
                    )
                    .await
                {
                    Ok(()) => results.push(Ok((name, id))),
                    Err(e) => results.push(Err(e)),
                },
                Err(e) => results.push(Err(e)),
            }
        }
        results
    }

    /// Alters dynamic configs; one result per resource, in order.
    pub async fn alter_configs(
        &self,
        changes: Vec<(ConfigResourceType, String, config_control::ConfigChange)>,
        validate_only: bool,
    ) -> Vec<Result<(), ControllerError>> {
        let mut state = self.state.lock().await;
        let mut results = Vec::with_capacity(changes.len());
        for (resource, name, change) in &changes {
            let planned =
                config_control::plan_alter(&state.image, &self.config, *resource, name, change);
            results.push(match planned {
                Ok(records) if !validate_only => self.commit(&mut state, records).await,
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            });
        }
        results
    }

    /// Reserves the next block of producer ids for `broker_id`: returns
    /// the first id of the block.
    pub async fn allocate_producer_ids(&self, broker_id: i32) -> Result<i64, ControllerError> {
        let mut state = self.state.lock().await;
        let first = state.image.next_producer_id;
        let record = MetadataRecord::ProducerIds {
            broker_id,
            next_producer_id: first + PRODUCER_ID_BLOCK_SIZE,
        };
        self.commit(&mut state, vec![record]).await?;
        Ok(first)
    }

    pub fn image(&self) -> Arc<MetadataImage> {
        self.cache.image()
    }

    pub async fn shutdown(&self) {
        let mut state = self.state.lock().await;
        if let Err(e) = state.log.close() {
            tracing::error!(error = %e, "closing metadata log");
        }
    }
}

/// Applied changes that concern partitions of `topic_id`.
pub fn touches_topic(changes: &[Change], topic_id: Uuid) -> bool {
    changes.iter().any(|c| match c {
        Change::TopicCreated(id) => *id == topic_id,
        Change::TopicDeleted { id, .. } => *id == topic_id,
        Change::Partition { topic_id: id, .. } => *id == topic_id,
        _ => false,
    })
}
