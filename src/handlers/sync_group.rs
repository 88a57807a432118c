//! SyncGroup (key 14), v0-5: the leader sends every member's assignment;
//! each member receives its own once the assignment is stored.

use bytes::Bytes;
use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use crate::broker::Broker;
use crate::coordinator::group::{GroupError, SyncArgs};
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::{respond, str_bytes};

pub async fn handle(broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: SyncGroupRequest = req.decode()?;
    let v = req.version;
    let args = SyncArgs {
        group_id: body.group_id.0.to_string(),
        generation: body.generation_id,
        member_id: body.member_id.to_string(),
        group_instance_id: body.group_instance_id.as_ref().map(|s| s.to_string()),
        protocol_type: if v >= 5 { body.protocol_type.as_ref().map(|s| s.to_string()) } else { None },
        protocol_name: if v >= 5 { body.protocol_name.as_ref().map(|s| s.to_string()) } else { None },
        assignments: body.assignments.iter().map(|a| (a.member_id.to_string(), a.assignment.clone())).collect(),
    };
    let r = broker.group_coordinator.sync_group(args).await;
    let mut resp =
        SyncGroupResponse::default().with_error_code(GroupError::code(r.error.as_ref())).with_assignment(r.assignment);
    if v >= 5 {
        resp.protocol_type = r.protocol_type.map(str_bytes);
        resp.protocol_name = r.protocol_name.map(str_bytes);
    }
    respond(req, &resp)
}
