//! ListTransactions (key 66), v0-1: the transactions this broker
//! coordinates, filtered by state names (unknown names are echoed back in
//! `unknown_state_filters`), producer ids and, from v1, by running longer
//! than `duration_filter` ms (Kafka's `TransactionStateManager.listTransactionStates`).

use std::collections::HashSet;

use bytes::Bytes;
use kafka_protocol::messages::list_transactions_response::TransactionState as Listed;
use kafka_protocol::messages::{ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId};

use crate::broker::Broker;
use crate::coordinator::record_schemas::TransactionState;
use crate::util::clock::now_ms;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::{respond, str_bytes};

const STATES: [TransactionState; 8] = [
    TransactionState::Empty,
    TransactionState::Ongoing,
    TransactionState::PrepareCommit,
    TransactionState::PrepareAbort,
    TransactionState::CompleteCommit,
    TransactionState::CompleteAbort,
    TransactionState::Dead,
    TransactionState::PrepareEpochFence,
];

pub async fn handle(broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: ListTransactionsRequest = req.decode()?;
    let mut resp = ListTransactionsResponse::default();
    let mut states: HashSet<TransactionState> = HashSet::new();
    for f in &body.state_filters {
        match STATES.iter().find(|s| s.name() == f.as_str()) {
            Some(s) => {
                states.insert(*s);
            }
            None => resp.unknown_state_filters.push(f.clone()),
        }
    }
    let pids: HashSet<i64> = body.producer_id_filters.iter().map(|p| p.0).collect();
    let (err, all) = broker.txn_coordinator.list();
    if let Some(e) = err {
        resp.error_code = e.kafka_code();
        return respond(req, &resp);
    }
    let now = now_ms();
    let min_duration = if req.version >= 1 { body.duration_filter } else { -1 };
    for v in all {
        if !body.state_filters.is_empty() && !states.contains(&v.state) {
            continue;
        }
        if !pids.is_empty() && !pids.contains(&v.producer_id) {
            continue;
        }
        // Against the start of the current transaction, as Kafka does (one
        // that never started, -1, counts as very old).
        if min_duration >= 0 && now - v.start_timestamp <= min_duration {
            continue;
        }
        resp.transaction_states.push(
            Listed::default()
                .with_transactional_id(TransactionalId(str_bytes(v.transactional_id)))
                .with_producer_id(ProducerId(v.producer_id))
                .with_transaction_state(str_bytes(v.state.name())),
        );
    }
    respond(req, &resp)
}
