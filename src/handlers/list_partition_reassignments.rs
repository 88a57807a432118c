//! ListPartitionReassignments (key 46), v0: Weir performs no replica
//! reassignments, so none are ever in progress; the answer is empty, as
//! Kafka's is when nothing is moving (`kafka-topics --describe` asks).

use bytes::Bytes;
use kafka_protocol::messages::{ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse};

use crate::broker::Broker;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::respond;

pub async fn handle(_broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
    let _body: ListPartitionReassignmentsRequest = req.decode()?;
    let mut resp = ListPartitionReassignmentsResponse::default();
    resp.error_message = None;
    respond(req, &resp)
}
