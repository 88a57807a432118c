//! JoinGroup (key 11), v0-9: the classic group protocol's join phase.
//! From v4 a member without id is answered MEMBER_ID_REQUIRED with its new
//! id; the leader receives every member's metadata.

use bytes::Bytes;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use crate::broker::Broker;
use crate::coordinator::group::{GroupError, JoinArgs};
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::context::RequestContext;
use super::{respond, str_bytes};

pub async fn handle(broker: &Broker, ctx: &RequestContext, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: JoinGroupRequest = req.decode()?;
    let v = req.version;
    let args = JoinArgs {
        group_id: body.group_id.0.to_string(),
        member_id: body.member_id.to_string(),
        group_instance_id: body.group_instance_id.as_ref().map(|s| s.to_string()),
        require_known_member_id: v >= 4,
        support_skipping_assignment: v >= 9,
        client_id: req.client_id().to_string(),
        client_host: format!("/{}", ctx.peer.ip()),
        // v0 has no rebalance timeout: the session timeout serves.
        rebalance_timeout_ms: if v >= 1 { body.rebalance_timeout_ms } else { body.session_timeout_ms },
        session_timeout_ms: body.session_timeout_ms,
        protocol_type: body.protocol_type.to_string(),
        protocols: body.protocols.iter().map(|p| (p.name.to_string(), p.metadata.clone())).collect(),
    };
    let r = broker.group_coordinator.join_group(args).await;
    let mut resp = JoinGroupResponse::default()
        .with_error_code(GroupError::code(r.error.as_ref()))
        .with_generation_id(r.generation)
        .with_leader(str_bytes(r.leader))
        .with_member_id(str_bytes(r.member_id))
        .with_members(
            r.members
                .into_iter()
                .map(|(id, instance, metadata)| {
                    let mut m =
                        JoinGroupResponseMember::default().with_member_id(str_bytes(id)).with_metadata(metadata);
                    if v >= 5 {
                        m.group_instance_id = instance.map(str_bytes);
                    }
                    m
                })
                .collect(),
        );
    if v >= 7 {
        resp.protocol_type = r.protocol_type.map(str_bytes);
        resp.protocol_name = r.protocol_name.map(str_bytes);
    } else {
        // Before v7 the protocol name is a non-null string.
        resp.protocol_name = Some(str_bytes(r.protocol_name.unwrap_or_default()));
    }
    if v >= 9 {
        resp.skip_assignment = r.skip_assignment;
    }
    respond(req, &resp)
}
