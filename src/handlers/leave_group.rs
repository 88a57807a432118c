//! LeaveGroup (key 13), v0-5: one member (v0-2) or a batch of members
//! identified by member id or group instance id (v3+).

use bytes::Bytes;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use crate::broker::Broker;
use crate::coordinator::group::GroupError;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::respond;

pub async fn handle(broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: LeaveGroupRequest = req.decode()?;
    let v = req.version;
    let members: Vec<(String, Option<String>)> = if v >= 3 {
        body.members
            .iter()
            .map(|m| (m.member_id.to_string(), m.group_instance_id.as_ref().map(|s| s.to_string())))
            .collect()
    } else {
        vec![(body.member_id.to_string(), None)]
    };
    let mut resp = LeaveGroupResponse::default();
    match broker.group_coordinator.leave_group(&body.group_id.0, &members) {
        Err(e) => resp.error_code = e.kafka_code(),
        Ok(outcomes) => {
            let codes: Vec<i16> = outcomes.iter().map(|o| GroupError::code(o.as_ref().err())).collect();
            if v >= 3 {
                resp.members = body
                    .members
                    .iter()
                    .zip(codes)
                    .map(|(m, code)| {
                        MemberResponse::default()
                            .with_member_id(m.member_id.clone())
                            .with_group_instance_id(m.group_instance_id.clone())
                            .with_error_code(code)
                    })
                    .collect();
            } else {
                resp.error_code = codes[0];
            }
        }
    }
    respond(req, &resp)
}
