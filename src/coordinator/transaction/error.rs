//! The transaction coordinator's errors (the `Errors` Kafka's
//! `TransactionCoordinator` answers with), mapped to wire codes in one
//! place, [`TxnError::kafka_code`]; handlers map at the boundary (and
//! downgrade PRODUCER_FENCED for versions that predate it).

use kafka_protocol::ResponseError as E;
use thiserror::Error;

use crate::replica::ReplicaError;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TxnError {
    #[error("the transactional id is empty")]
    InvalidRequest,
    #[error("this broker is not the transaction's coordinator")]
    NotCoordinator,
    #[error("the transaction coordinator is loading its state")]
    CoordinatorLoadInProgress,
    #[error("the transaction coordinator is not available")]
    CoordinatorNotAvailable,
    #[error("another change of this transaction is in progress")]
    ConcurrentTransactions,
    #[error("a newer producer with the same transactional id exists")]
    ProducerFenced,
    #[error("the producer epoch is not the current one")]
    InvalidProducerEpoch,
    #[error("the producer id is not the one of this transactional id")]
    InvalidProducerIdMapping,
    #[error("the transaction is not in a state that allows this")]
    InvalidTxnState,
    #[error("the transaction timeout is larger than transaction.max.timeout.ms or not positive")]
    InvalidTransactionTimeout,
    #[error("the transactional id is not known")]
    TransactionalIdNotFound,
    #[error("the partition is not known")]
    UnknownTopicOrPartition,
    #[error("the operation was not attempted because another partition failed")]
    OperationNotAttempted,
    #[error("unexpected error: {0}")]
    Unknown(String),
}

impl TxnError {
    pub fn kafka_code(&self) -> i16 {
        match self {
            TxnError::InvalidRequest => E::InvalidRequest.code(),
            TxnError::NotCoordinator => E::NotCoordinator.code(),
            TxnError::CoordinatorLoadInProgress => E::CoordinatorLoadInProgress.code(),
            TxnError::CoordinatorNotAvailable => E::CoordinatorNotAvailable.code(),
            TxnError::ConcurrentTransactions => E::ConcurrentTransactions.code(),
            TxnError::ProducerFenced => E::ProducerFenced.code(),
            TxnError::InvalidProducerEpoch => E::InvalidProducerEpoch.code(),
            TxnError::InvalidProducerIdMapping => E::InvalidProducerIdMapping.code(),
            TxnError::InvalidTxnState => E::InvalidTxnState.code(),
            TxnError::InvalidTransactionTimeout => E::InvalidTransactionTimeout.code(),
            TxnError::TransactionalIdNotFound => E::TransactionalIdNotFound.code(),
            TxnError::UnknownTopicOrPartition => E::UnknownTopicOrPartition.code(),
            TxnError::OperationNotAttempted => E::OperationNotAttempted.code(),
            TxnError::Unknown(_) => E::UnknownServerError.code(),
        }
    }

    /// The code at a request version: PRODUCER_FENCED exists from the
    /// versions given (Kafka's KIP-588); older clients get
    /// INVALID_PRODUCER_EPOCH for it, as Kafka answers them.
    pub fn kafka_code_at(&self, version: i16, fenced_from: i16) -> i16 {
        if *self == TxnError::ProducerFenced && version < fenced_from {
            return E::InvalidProducerEpoch.code();
        }
        self.kafka_code()
    }

    /// Maps a failed write to `__transaction_state` to what the coordinator
    /// answers (Kafka's `TransactionStateManager.appendTransactionToLog`).
    pub fn from_append(e: &ReplicaError) -> TxnError {
        match e {
            ReplicaError::UnknownTopicOrPartition
            | ReplicaError::NotEnoughReplicas { .. }
            | ReplicaError::NotEnoughReplicasAfterAppend
            | ReplicaError::RequestTimedOut => TxnError::CoordinatorNotAvailable,
            ReplicaError::NotLeaderOrFollower
            | ReplicaError::LeaderNotAvailable
            | ReplicaError::FencedLeaderEpoch { .. } => TxnError::NotCoordinator,
            ReplicaError::Storage(s) if s.kafka_code() == E::KafkaStorageError.code() => TxnError::NotCoordinator,
            other => TxnError::Unknown(other.to_string()),
        }
    }
}
