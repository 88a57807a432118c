//! AddPartitionsToTxn (key 24), v0-5. v0-3 (clients): one transaction's
//! partitions join it. v4+ (partition leaders, KIP-890): batched by
//! transaction; with `verify_only`, nothing changes and each partition
//! answers whether it is already in the ongoing transaction (NONE) or not
//! (TRANSACTION_ABORTABLE). Partitions of unknown topics answer
//! UNKNOWN_TOPIC_OR_PARTITION and the others OPERATION_NOT_ATTEMPTED, as
//! Kafka's `KafkaApis` does; a coordinator error is given to every
//! partition. PRODUCER_FENCED exists from v2.

use bytes::Bytes;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, TopicName, TransactionalId};
use kafka_protocol::ResponseError as E;

use crate::broker::Broker;
use crate::coordinator::transaction::metadata::TxnPartition;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::{respond, str_bytes};

const PRODUCER_FENCED_FROM: i16 = 2;

pub async fn handle(broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: AddPartitionsToTxnRequest = req.decode()?;
    let mut resp = AddPartitionsToTxnResponse::default();
    if req.version < 4 {
        let codes = add(
            broker,
            req.version,
            &body.v3_and_below_transactional_id.0,
            body.v3_and_below_producer_id.0,
            body.v3_and_below_producer_epoch,
            false,
            &body.v3_and_below_topics,
        )
        .await;
        resp.results_by_topic_v3_and_below = results(codes);
    } else {
        for t in &body.transactions {
            let codes = add(
                broker,
                req.version,
                &t.transactional_id.0,
                t.producer_id.0,
                t.producer_epoch,
                t.verify_only,
                &t.topics,
            )
            .await;
            resp.results_by_transaction.push(
                AddPartitionsToTxnResult::default()
                    .with_transactional_id(TransactionalId(str_bytes(t.transactional_id.0.to_string())))
                    .with_topic_results(results(codes)),
            );
        }
    }
    respond(req, &resp)
}

/// One transaction's partitions and their codes.
async fn add(
    broker: &Broker,
    version: i16,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    verify_only: bool,
    topics: &[AddPartitionsToTxnTopic],
) -> Vec<(TxnPartition, i16)> {
    let partitions: Vec<TxnPartition> =
        topics.iter().flat_map(|t| t.partitions.iter().map(|p| (t.name.0.to_string(), *p))).collect();
    let image = broker.metadata.image();
    let unknown: Vec<bool> =
        partitions.iter().map(|(t, p)| image.topic_by_name(t).is_none_or(|t| !t.partitions.contains_key(p))).collect();
    if unknown.iter().any(|u| *u) {
        return partitions
            .into_iter()
            .zip(unknown)
            .map(|(tp, u)| (tp, if u { E::UnknownTopicOrPartition.code() } else { E::OperationNotAttempted.code() }))
            .collect();
    }
    let coordinator = &broker.txn_coordinator;
    if verify_only {
        return match coordinator.verify_partitions(transactional_id, producer_id, producer_epoch, &partitions) {
            Ok(found) => partitions
                .into_iter()
                .zip(found)
                .map(|(tp, f)| (tp, if f { 0 } else { E::TransactionAbortable.code() }))
                .collect(),
            Err(e) => {
                let code = e.kafka_code_at(version, PRODUCER_FENCED_FROM);
                partitions.into_iter().map(|tp| (tp, code)).collect()
            }
        };
    }
    let code = match coordinator.add_partitions(transactional_id, producer_id, producer_epoch, &partitions).await {
        Ok(()) => 0,
        Err(e) => e.kafka_code_at(version, PRODUCER_FENCED_FROM),
    };
    partitions.into_iter().map(|tp| (tp, code)).collect()
}

fn results(codes: Vec<(TxnPartition, i16)>) -> Vec<AddPartitionsToTxnTopicResult> {
    let mut out: Vec<AddPartitionsToTxnTopicResult> = Vec::new();
    for ((topic, partition), code) in codes {
        let r = AddPartitionsToTxnPartitionResult::default()
            .with_partition_index(partition)
            .with_partition_error_code(code);
        match out.iter_mut().find(|t| t.name.0.as_str() == topic) {
            Some(t) => t.results_by_partition.push(r),
            None => out.push(
                AddPartitionsToTxnTopicResult::default()
                    .with_name(TopicName(str_bytes(topic)))
                    .with_results_by_partition(vec![r]),
            ),
        }
    }
    out
}
