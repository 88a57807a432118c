//! DescribeGroups (key 15), v0-5: state, protocol and members (metadata
//! while Stable; assignments of the last generation in every state, as
//! Kafka's describeNoMetadata). An unknown group is described as Dead.

use bytes::Bytes;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

use crate::broker::Broker;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::{respond, str_bytes, AUTHORIZED_OPERATIONS_OMITTED};

/// Group operations allowed without an authorizer, as Kafka 4.x lists them:
/// READ, DELETE, DESCRIBE, and (group configs, KIP-848) DESCRIBE_CONFIGS,
/// ALTER_CONFIGS.
const GROUP_AUTHORIZED_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8) | (1 << 10) | (1 << 11);

pub async fn handle(broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: DescribeGroupsRequest = req.decode()?;
    let v = req.version;
    let mut resp = DescribeGroupsResponse::default();
    for id in &body.groups {
        let mut g = DescribedGroup::default().with_group_id(id.clone());
        match broker.group_coordinator.describe_group(&id.0) {
            Err(e) => {
                g.error_code = e.kafka_code();
                g.group_state = str_bytes("Dead");
            }
            Ok(d) => {
                g.group_state = str_bytes(d.state);
                g.protocol_type = str_bytes(d.protocol_type);
                g.protocol_data = str_bytes(d.protocol);
                g.members = d
                    .members
                    .into_iter()
                    .map(|m| {
                        let mut dm = DescribedGroupMember::default()
                            .with_member_id(str_bytes(m.member_id))
                            .with_client_id(str_bytes(m.client_id))
                            .with_client_host(str_bytes(m.client_host))
                            .with_member_metadata(m.metadata)
                            .with_member_assignment(m.assignment);
                        if v >= 4 {
                            dm.group_instance_id = m.group_instance_id.map(str_bytes);
                        }
                        dm
                    })
                    .collect();
            }
        }
        g.authorized_operations = if v >= 3 && body.include_authorized_operations {
            GROUP_AUTHORIZED_OPERATIONS
        } else {
            AUTHORIZED_OPERATIONS_OMITTED
        };
        resp.groups.push(g);
    }
    respond(req, &resp)
}
