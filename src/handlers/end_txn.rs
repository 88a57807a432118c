//! EndTxn (key 26), v0-4: commit or abort the ongoing transaction. The
//! answer comes once PrepareCommit/PrepareAbort is in `__transaction_state`;
//! the markers follow. (v5, transaction.version 2's epoch bump per
//! transaction, is not served.) PRODUCER_FENCED exists from v2.

use bytes::Bytes;
use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse};

use crate::broker::Broker;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::respond;

const PRODUCER_FENCED_FROM: i16 = 2;

pub async fn handle(broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: EndTxnRequest = req.decode()?;
    let mut resp = EndTxnResponse::default();
    if let Err(e) = broker
        .txn_coordinator
        .end_transaction(&body.transactional_id.0, body.producer_id.0, body.producer_epoch, body.committed, true)
        .await
    {
        resp.error_code = e.kafka_code_at(req.version, PRODUCER_FENCED_FROM);
    }
    respond(req, &resp)
}
