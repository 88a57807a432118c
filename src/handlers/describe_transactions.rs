//! DescribeTransactions (key 65), v0: the state of transactional ids this
//! broker coordinates (what `kafka-transactions.sh describe` prints);
//! TRANSACTIONAL_ID_NOT_FOUND for an unknown id, NOT_COORDINATOR /
//! COORDINATOR_LOAD_IN_PROGRESS for ids coordinated elsewhere or loading.

use bytes::Bytes;
use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName, TransactionalId,
};

use crate::broker::Broker;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::{respond, str_bytes};

pub async fn handle(broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: DescribeTransactionsRequest = req.decode()?;
    let mut resp = DescribeTransactionsResponse::default();
    for id in &body.transactional_ids {
        let mut s = TransactionState::default()
            .with_transactional_id(TransactionalId(str_bytes(id.0.to_string())))
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
            .with_transaction_start_time_ms(-1);
        match broker.txn_coordinator.describe(&id.0) {
            Ok(v) => {
                let mut topics: Vec<TopicData> = Vec::new();
                for (topic, p) in &v.partitions {
                    match topics.iter_mut().find(|t| t.topic.0.as_str() == topic) {
                        Some(t) => t.partitions.push(*p),
                        None => topics.push(
                            TopicData::default()
                                .with_topic(TopicName(str_bytes(topic.clone())))
                                .with_partitions(vec![*p]),
                        ),
                    }
                }
                s = s
                    .with_transaction_state(str_bytes(v.state.name()))
                    .with_transaction_timeout_ms(v.timeout_ms)
                    .with_transaction_start_time_ms(v.start_timestamp)
                    .with_producer_id(ProducerId(v.producer_id))
                    .with_producer_epoch(v.producer_epoch)
                    .with_topics(topics);
            }
            Err(e) => s = s.with_error_code(e.kafka_code()),
        }
        resp.transaction_states.push(s);
    }
    respond(req, &resp)
}
