//! KIP-890's server-side verification, the coordinator's answer to the
//! partition side's hook (`replica::txn_verification`): before a leader
//! appends a transactional batch, the producer's transaction must include
//! the partition (Kafka's `AddPartitionsToTxnManager` asking the
//! coordinator with AddPartitionsToTxn verify-only). A batch for a
//! partition never added is refused with INVALID_TXN_STATE (what Kafka
//! answers clients before transaction.version 2), so a hanging
//! transaction cannot start on the partition.
//!
//! Scope (deviations from Kafka): the question is answered in-process
//! when this broker coordinates the transactional id; when another broker
//! does, the batch is accepted unverified (Kafka would ask that broker over
//! the network; Weir does not yet). A transactional id this coordinator has
//! never seen is also accepted unverified (Kafka refuses it with
//! INVALID_PRODUCER_ID_MAPPING): the partition side's tests write
//! transactional batches under producer ids from idempotent InitProducerId
//! and an id no coordinator knows.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use kafka_protocol::ResponseError as E;

use crate::replica::txn_verification::{Refusals, TransactionVerifier};
use crate::storage::TopicPartition;

use super::{TransactionCoordinator, TxnError};

pub struct CoordinatorVerifier(pub Arc<TransactionCoordinator>);

/// The produce error for a verification failure (Kafka's
/// `ReplicaManager` conversion: retriable coordinator states become
/// NOT_ENOUGH_REPLICAS, which producers retry).
fn produce_code(e: &TxnError) -> Option<i16> {
    match e {
        // Coordinated elsewhere: not verified here (see the module doc).
        TxnError::NotCoordinator => None,
        TxnError::CoordinatorLoadInProgress | TxnError::CoordinatorNotAvailable | TxnError::ConcurrentTransactions => {
            Some(E::NotEnoughReplicas.code())
        }
        TxnError::ProducerFenced => Some(E::InvalidProducerEpoch.code()),
        other => Some(other.kafka_code()),
    }
}

impl TransactionVerifier for CoordinatorVerifier {
    fn enabled(&self) -> bool {
        self.0.config().partition_verification
    }

    fn verify<'a>(
        &'a self,
        transactional_id: &'a str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &'a [TopicPartition],
    ) -> Pin<Box<dyn Future<Output = Refusals> + Send + 'a>> {
        Box::pin(async move {
            if matches!(self.0.state.get(transactional_id, None), Ok(None)) {
                return Refusals::new();
            }
            let asked: Vec<(String, i32)> = partitions.iter().map(|tp| (tp.topic.to_string(), tp.partition)).collect();
            match self.0.verify_partitions(transactional_id, producer_id, producer_epoch, &asked) {
                Ok(found) => partitions
                    .iter()
                    .zip(found)
                    .filter(|(_, in_txn)| !in_txn)
                    .map(|(tp, _)| (tp.clone(), E::InvalidTxnState.code()))
                    .collect(),
                Err(e) => match produce_code(&e) {
                    Some(code) => partitions.iter().map(|tp| (tp.clone(), code)).collect(),
                    None => Refusals::new(),
                },
            }
        })
    }
}
