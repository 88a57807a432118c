//! OffsetDelete (key 47), v0: deletes a group's committed offsets for
//! partitions of topics the group no longer subscribes to
//! (GROUP_SUBSCRIBED_TO_TOPIC otherwise).

use bytes::Bytes;
use kafka_protocol::messages::offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};
use kafka_protocol::ResponseError as E;

use crate::broker::Broker;
use crate::coordinator::group::GroupError;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::respond;

pub async fn handle(broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: OffsetDeleteRequest = req.decode()?;
    let image = broker.metadata.image();
    let mut wanted = Vec::new();
    let mut unknown = Vec::new();
    for t in &body.topics {
        for p in &t.partitions {
            let known = image.topic_by_name(&t.name.0).is_some_and(|tt| tt.partitions.contains_key(&p.partition_index));
            unknown.push(!known);
            if known {
                wanted.push((t.name.0.to_string(), p.partition_index));
            }
        }
    }
    let mut resp = OffsetDeleteResponse::default();
    match broker.group_coordinator.delete_offsets(&body.group_id.0, &wanted).await {
        Err(e) => resp.error_code = e.kafka_code(),
        Ok(outcomes) => {
            let mut outcomes = outcomes.into_iter();
            let mut unknown = unknown.into_iter();
            for t in &body.topics {
                let mut rt = OffsetDeleteResponseTopic::default().with_name(t.name.clone());
                for p in &t.partitions {
                    let code = if unknown.next().unwrap_or(true) {
                        E::UnknownTopicOrPartition.code()
                    } else {
                        outcomes.next().map_or(0, |o| GroupError::code(o.err().as_ref()))
                    };
                    rt.partitions.push(
                        OffsetDeleteResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(code),
                    );
                }
                resp.topics.push(rt);
            }
        }
    }
    respond(req, &resp)
}
