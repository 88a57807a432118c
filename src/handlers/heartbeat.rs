//! Heartbeat (key 12), v0-4: keeps a member's session alive and tells it
//! when a rebalance is in progress.

use bytes::Bytes;
use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use crate::broker::Broker;
use crate::coordinator::group::GroupError;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::respond;

pub async fn handle(broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: HeartbeatRequest = req.decode()?;
    let instance = body.group_instance_id.as_ref().map(|s| s.to_string());
    let outcome =
        broker.group_coordinator.heartbeat(&body.group_id.0, &body.member_id, instance.as_deref(), body.generation_id);
    respond(req, &HeartbeatResponse::default().with_error_code(GroupError::code(outcome.err().as_ref())))
}
