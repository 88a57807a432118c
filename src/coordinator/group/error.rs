//! The group coordinator's errors (the `Errors` Kafka's `GroupCoordinator`
//! and `GroupMetadataManager` answer with), mapped to wire codes in one
//! place, [`GroupError::kafka_code`]; handlers map at the boundary.

use std::sync::Arc;

use kafka_protocol::ResponseError as E;
use thiserror::Error;

use crate::replica::ReplicaError;

#[derive(Debug, Clone, Error)]
pub enum GroupError {
    #[error("the group id is empty")]
    InvalidGroupId,
    #[error("this broker is not the group's coordinator")]
    NotCoordinator,
    #[error("the group's coordinator is loading its state")]
    CoordinatorLoadInProgress,
    #[error("the group's coordinator is not available")]
    CoordinatorNotAvailable,
    #[error("the session timeout is outside the allowed range")]
    InvalidSessionTimeout,
    #[error("the member id is not known to the group")]
    UnknownMemberId,
    #[error("the generation is not the group's current one")]
    IllegalGeneration,
    #[error("the group is rebalancing")]
    RebalanceInProgress,
    #[error("another member with the same group instance id joined")]
    FencedInstanceId,
    #[error("the group has reached group.max.size")]
    GroupMaxSizeReached,
    #[error("the protocol type or protocols do not match the group's")]
    InconsistentGroupProtocol,
    #[error("a member id is required: rejoin with the id given")]
    MemberIdRequired,
    #[error("the group does not exist")]
    GroupIdNotFound,
    #[error("the group still has members")]
    NonEmptyGroup,
    #[error("the group is subscribed to the topic")]
    GroupSubscribedToTopic,
    #[error("the offset metadata exceeds offset.metadata.max.bytes")]
    OffsetMetadataTooLarge,
    #[error("the offset commit is too large to store")]
    InvalidCommitOffsetSize,
    /// A record could not be encoded (a client-chosen string longer than
    /// the schema allows).
    #[error("cannot encode the group coordinator record")]
    InvalidRequest,
    /// Appending to `__consumer_offsets` failed in a way the conversion in
    /// [`GroupError::from_append`] passes through.
    #[error("appending to __consumer_offsets: {0}")]
    Append(Arc<ReplicaError>),
}

impl GroupError {
    /// Maps a failed append to `__consumer_offsets` to what the group
    /// coordinator answers (Kafka's `GroupMetadataManager` error conversion).
    pub fn from_append(e: ReplicaError) -> Self {
        let code = e.kafka_code();
        if code == E::UnknownTopicOrPartition.code()
            || code == E::NotEnoughReplicas.code()
            || code == E::NotEnoughReplicasAfterAppend.code()
        {
            GroupError::CoordinatorNotAvailable
        } else if code == E::NotLeaderOrFollower.code() || code == E::KafkaStorageError.code() {
            GroupError::NotCoordinator
        } else if code == E::MessageTooLarge.code() || code == E::RecordListTooLarge.code() {
            GroupError::InvalidCommitOffsetSize
        } else {
            GroupError::Append(Arc::new(e))
        }
    }

    pub fn kafka_code(&self) -> i16 {
        match self {
            GroupError::InvalidGroupId => E::InvalidGroupId.code(),
            GroupError::NotCoordinator => E::NotCoordinator.code(),
            GroupError::CoordinatorLoadInProgress => E::CoordinatorLoadInProgress.code(),
            GroupError::CoordinatorNotAvailable => E::CoordinatorNotAvailable.code(),
            GroupError::InvalidSessionTimeout => E::InvalidSessionTimeout.code(),
            GroupError::UnknownMemberId => E::UnknownMemberId.code(),
            GroupError::IllegalGeneration => E::IllegalGeneration.code(),
            GroupError::RebalanceInProgress => E::RebalanceInProgress.code(),
            GroupError::FencedInstanceId => E::FencedInstanceId.code(),
            GroupError::GroupMaxSizeReached => E::GroupMaxSizeReached.code(),
            GroupError::InconsistentGroupProtocol => E::InconsistentGroupProtocol.code(),
            GroupError::MemberIdRequired => E::MemberIdRequired.code(),
            GroupError::GroupIdNotFound => E::GroupIdNotFound.code(),
            GroupError::NonEmptyGroup => E::NonEmptyGroup.code(),
            GroupError::GroupSubscribedToTopic => E::GroupSubscribedToTopic.code(),
            GroupError::OffsetMetadataTooLarge => E::OffsetMetadataTooLarge.code(),
            GroupError::InvalidCommitOffsetSize => E::InvalidCommitOffsetSize.code(),
            GroupError::InvalidRequest => E::InvalidRequest.code(),
            GroupError::Append(e) => e.kafka_code(),
        }
    }

    /// The wire code of an optional error: 0 for none.
    pub fn code(e: Option<&GroupError>) -> i16 {
        e.map_or(0, GroupError::kafka_code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StorageError;

    #[test]
    fn append_failures_convert_as_kafka_does() {
        let conv = |e: ReplicaError| GroupError::from_append(e).kafka_code();
        assert_eq!(conv(ReplicaError::UnknownTopicOrPartition), E::CoordinatorNotAvailable.code());
        assert_eq!(conv(ReplicaError::NotEnoughReplicas { isr: 1, min: 2 }), E::CoordinatorNotAvailable.code());
        assert_eq!(conv(ReplicaError::NotEnoughReplicasAfterAppend), E::CoordinatorNotAvailable.code());
        assert_eq!(conv(ReplicaError::NotLeaderOrFollower), E::NotCoordinator.code());
        assert_eq!(
            conv(ReplicaError::Storage(StorageError::RecordListTooLarge { size: 2, max: 1 })),
            E::InvalidCommitOffsetSize.code()
        );
        assert_eq!(conv(ReplicaError::RequestTimedOut), E::RequestTimedOut.code());
    }
}
