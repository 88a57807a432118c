//! InitProducerId (key 22), v0-5. Without a transactional id (idempotent
//! producers): a fresh producer id with epoch 0 from a block reserved by
//! the controller. With one: the transaction coordinator's answer (the
//! id's producer id and its bumped epoch; v3+ carry the producer's current
//! id and epoch for KIP-360's bump after an error). PRODUCER_FENCED exists
//! from v4; older versions get INVALID_PRODUCER_EPOCH for it.

use bytes::Bytes;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use kafka_protocol::ResponseError;

use crate::broker::Broker;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::respond;

const PRODUCER_FENCED_FROM: i16 = 4;

pub async fn handle(broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: InitProducerIdRequest = req.decode()?;
    let mut resp = InitProducerIdResponse::default();
    resp.producer_id = ProducerId(-1);
    resp.producer_epoch = -1;
    if let Some(id) = &body.transactional_id {
        // v3+: -1/-1 means "no current producer".
        let expected =
            (req.version >= 3 && body.producer_id.0 >= 0).then_some((body.producer_id.0, body.producer_epoch));
        match broker.txn_coordinator.init_producer_id(id, body.transaction_timeout_ms, expected).await {
            Ok((pid, epoch)) => {
                resp.producer_id = ProducerId(pid);
                resp.producer_epoch = epoch;
            }
            Err(e) => resp.error_code = e.kafka_code_at(req.version, PRODUCER_FENCED_FROM),
        }
        return respond(req, &resp);
    }
    match broker.producer_ids.generate().await {
        Ok(id) => {
            resp.producer_id = ProducerId(id);
            resp.producer_epoch = 0;
        }
        Err(e) => {
            tracing::error!(error = %e, "producer id allocation failed");
            resp.error_code = ResponseError::CoordinatorNotAvailable.code();
        }
    }
    respond(req, &resp)
}
