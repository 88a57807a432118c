//! ListGroups (key 16), v0-5: the groups this broker coordinates, with a
//! state filter (v4+) and a type filter (v5+: only "classic" exist here).

use bytes::Bytes;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use crate::broker::Broker;
use crate::coordinator::group::GroupError;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::{respond, str_bytes};

pub async fn handle(broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: ListGroupsRequest = req.decode()?;
    let v = req.version;
    let states: Vec<String> =
        if v >= 4 { body.states_filter.iter().map(|s| s.to_string()).collect() } else { Vec::new() };
    let types_ok =
        v < 5 || body.types_filter.is_empty() || body.types_filter.iter().any(|t| t.eq_ignore_ascii_case("classic"));
    let (error, groups) = broker.group_coordinator.list_groups(&states);
    let mut resp = ListGroupsResponse::default().with_error_code(GroupError::code(error.as_ref()));
    if types_ok {
        resp.groups = groups
            .into_iter()
            .map(|(id, protocol_type, state)| {
                let mut g = ListedGroup::default()
                    .with_group_id(GroupId(str_bytes(id)))
                    .with_protocol_type(str_bytes(protocol_type));
                if v >= 4 {
                    g.group_state = str_bytes(state);
                }
                if v >= 5 {
                    g.group_type = str_bytes("classic");
                }
                g
            })
            .collect();
    }
    respond(req, &resp)
}
