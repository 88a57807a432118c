//! InitProducerId (key 22), v0-5, for idempotent producers: a fresh
//! producer id with epoch 0 from a block reserved by the controller.
//! Transactional ids need the transaction coordinator, which this broker
//! does not run: such requests are answered NOT_COORDINATOR.

use bytes::Bytes;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use kafka_protocol::ResponseError;

use crate::broker::Broker;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::respond;

pub async fn handle(broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: InitProducerIdRequest = req.decode()?;
    let mut resp = InitProducerIdResponse::default();
    if body.transactional_id.is_some() {
        // Kafka reaches InitProducerId with a transactional id only via
        // FindCoordinator(TRANSACTION), which is not advertised; a client
        // that skips it gets the error Kafka gives a non-coordinator.
        resp.error_code = ResponseError::NotCoordinator.code();
        resp.producer_id = ProducerId(-1);
        resp.producer_epoch = -1;
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
            resp.producer_id = ProducerId(-1);
            resp.producer_epoch = -1;
        }
    }
    respond(req, &resp)
}
