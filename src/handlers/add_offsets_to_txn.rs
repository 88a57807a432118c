//! AddOffsetsToTxn (key 25), v0-4: the group's `__consumer_offsets`
//! partition joins the transaction, so its TxnOffsetCommit records get the
//! transaction's marker. PRODUCER_FENCED exists from v2.

use bytes::Bytes;
use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use crate::broker::Broker;
use crate::coordinator::group::GROUP_METADATA_TOPIC;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::respond;

const PRODUCER_FENCED_FROM: i16 = 2;

pub async fn handle(broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: AddOffsetsToTxnRequest = req.decode()?;
    let mut resp = AddOffsetsToTxnResponse::default();
    let partition = broker.group_coordinator.partition_for(&body.group_id.0);
    // The offsets topic must exist for its partition to take a marker.
    if let Err(msg) = broker.ensure_offsets_topic().await {
        tracing::info!(error = %msg, "AddOffsetsToTxn before __consumer_offsets exists");
        resp.error_code = kafka_protocol::ResponseError::CoordinatorNotAvailable.code();
        return respond(req, &resp);
    }
    let partitions = [(GROUP_METADATA_TOPIC.to_string(), partition)];
    if let Err(e) = broker
        .txn_coordinator
        .add_partitions(&body.transactional_id.0, body.producer_id.0, body.producer_epoch, &partitions)
        .await
    {
        resp.error_code = e.kafka_code_at(req.version, PRODUCER_FENCED_FROM);
    }
    respond(req, &resp)
}
