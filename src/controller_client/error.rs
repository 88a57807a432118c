//! `ControllerError`: how a controller operation fails, on both sides of
//! the channel. The controller's managers return it while planning; the
//! broker's [`super::ControllerChannel`] returns it for a failed call, and a
//! remote failure arrives as [`ControllerError::Remote`] carrying the Kafka
//! error code the active controller chose (Kafka's `ApiError`). Handlers map
//! it to response codes with [`ControllerError::kafka_code`].

use thiserror::Error;

use crate::storage::StorageError;

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
    #[error("Another broker is registered with that broker id.")]
    DuplicateBrokerRegistration,
    #[error("This is not the active controller.")]
    NotController,
    #[error("The active controller is not available: {0}")]
    Unavailable(String),
    #[error("metadata log: {0}")]
    Storage(#[from] StorageError),
    /// An error the active controller reported over the channel.
    #[error("{message}")]
    Remote { code: i16, message: String },
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
            ControllerError::DuplicateBrokerRegistration => E::DuplicateBrokerRegistration.code(),
            ControllerError::NotController => E::NotController.code(),
            ControllerError::Unavailable(_) => E::RequestTimedOut.code(),
            ControllerError::Storage(_) => E::UnknownServerError.code(),
            ControllerError::Remote { code, .. } => *code,
        }
    }
}
