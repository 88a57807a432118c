//! DeleteGroups (key 42), v0-2: removes empty groups and their committed
//! offsets (NON_EMPTY_GROUP while members remain, GROUP_ID_NOT_FOUND for
//! unknown groups).

use bytes::Bytes;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use crate::broker::Broker;
use crate::coordinator::group::GroupError;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::respond;

pub async fn handle(broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: DeleteGroupsRequest = req.decode()?;
    let mut resp = DeleteGroupsResponse::default();
    for id in &body.groups_names {
        let code = GroupError::code(broker.group_coordinator.delete_group(&id.0).await.err().as_ref());
        resp.results.push(DeletableGroupResult::default().with_group_id(id.clone()).with_error_code(code));
    }
    respond(req, &resp)
}
