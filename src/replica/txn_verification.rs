//! The hook for KIP-890's server-side transaction verification: before a
//! partition leader appends a transactional batch, Kafka asks the
//! transaction coordinator (AddPartitionsToTxn v4+, verify only) whether
//! the producer added this partition to its open transaction, and refuses
//! the batch if not (INVALID_TXN_STATE, or TRANSACTION_ABORTABLE for
//! clients on transaction.version 2).
//!
//! The partition side only defines the question; the transaction
//! coordinator side answers it by implementing [`TransactionVerifier`] and
//! installing it with `Broker::set_transaction_verifier`. Until then the
//! broker runs [`NoVerification`]: transactional batches are accepted
//! unverified (Kafka with `transaction.partition.verification.enable=false`).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use crate::storage::TopicPartition;

/// The partitions a verification refused, with the Kafka error code each
/// produce partition answers.
pub type Refusals = HashMap<TopicPartition, i16>;

/// Answers whether a producer's transaction includes partitions.
pub trait TransactionVerifier: Send + Sync {
    /// Whether produce asks at all: `false` appends transactional batches
    /// unverified, without the produce request leaving the fast path.
    fn enabled(&self) -> bool;

    /// Checks that `transactional_id`'s producer `producer_id` at
    /// `producer_epoch` has `partitions` in its ongoing transaction;
    /// resolves to the partitions it must not write.
    fn verify<'a>(
        &'a self,
        transactional_id: &'a str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &'a [TopicPartition],
    ) -> Pin<Box<dyn Future<Output = Refusals> + Send + 'a>>;
}

/// The default: nothing is verified, every transactional batch is accepted.
#[derive(Debug, Default)]
pub struct NoVerification;

impl TransactionVerifier for NoVerification {
    fn enabled(&self) -> bool {
        false
    }

    fn verify<'a>(
        &'a self,
        _transactional_id: &'a str,
        _producer_id: i64,
        _producer_epoch: i16,
        _partitions: &'a [TopicPartition],
    ) -> Pin<Box<dyn Future<Output = Refusals> + Send + 'a>> {
        Box::pin(async { Refusals::new() })
    }
}
