//! DescribeTopicPartitions (key 75), v0: topic partitions sorted by topic
//! name, paged with a cursor (topic, partition) and a partition limit
//! (at most 2000, Kafka's `max.request.partition.size.limit`). Each
//! partition carries the controller's ELR and last-known ELR (KIP-966),
//! which `kafka-topics --describe` prints as Elr and LastKnownElr.

use bytes::Bytes;
use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, TopicName};
use kafka_protocol::ResponseError;

use crate::broker::Broker;
use crate::controller_client::topic::validate_topic_name;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::metadata::offline_replicas;
use super::{is_internal_topic, respond, str_bytes, TOPIC_AUTHORIZED_OPERATIONS};

pub const MAX_REQUEST_PARTITION_SIZE_LIMIT: i32 = 2000;

pub async fn handle(broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: DescribeTopicPartitionsRequest = req.decode()?;
    let image = broker.metadata.image();
    let fetch_all = body.topics.is_empty();
    let cursor_topic = body.cursor.as_ref().map(|c| c.topic_name.0.to_string()).unwrap_or_default();
    let mut names: Vec<String> = if fetch_all {
        image.topic_ids.keys().filter(|n| **n >= cursor_topic).cloned().collect()
    } else {
        body.topics.iter().map(|t| t.name.0.to_string()).filter(|n| *n >= cursor_topic).collect()
    };
    names.sort();
    names.dedup();
    let mut resp = DescribeTopicPartitionsResponse::default();
    let invalid_cursor = body
        .cursor
        .as_ref()
        .is_some_and(|c| c.partition_index < 0 || (!fetch_all && !names.contains(&c.topic_name.0.to_string())));
    if invalid_cursor {
        for t in &body.topics {
            resp.topics.push(
                DescribeTopicPartitionsResponseTopic::default()
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_name(Some(t.name.clone())),
            );
        }
        return respond(req, &resp);
    }
    let mut remaining = body.response_partition_limit.clamp(1, MAX_REQUEST_PARTITION_SIZE_LIMIT) as usize;
    for name in names {
        if remaining == 0 {
            resp.next_cursor =
                Some(Cursor::default().with_topic_name(TopicName(str_bytes(name))).with_partition_index(0));
            break;
        }
        let Some(topic) = image.topic_by_name(&name) else {
            if !fetch_all {
                let code = if validate_topic_name(&name).is_err() {
                    ResponseError::InvalidTopicException.code()
                } else {
                    ResponseError::UnknownTopicOrPartition.code()
                };
                resp.topics.push(
                    DescribeTopicPartitionsResponseTopic::default()
                        .with_error_code(code)
                        .with_name(Some(TopicName(str_bytes(name.clone()))))
                        .with_is_internal(is_internal_topic(&name)),
                );
            }
            continue;
        };
        let start = if name == cursor_topic {
            body.cursor.as_ref().map_or(0, |c| c.partition_index.max(0) as usize)
        } else {
            0
        };
        let count = topic.partitions.len();
        let upper = count.min(start + remaining);
        let mut partitions = Vec::new();
        for index in start..upper {
            let Some(p) = topic.partitions.get(&(index as i32)) else {
                continue;
            };
            let offline = offline_replicas(&image, topic.id, index as i32, p);
            let leader_live = p.leader >= 0 && !offline.contains(&p.leader);
            partitions.push(
                DescribeTopicPartitionsResponsePartition::default()
                    .with_partition_index(index as i32)
                    .with_leader_id(BrokerId(if leader_live { p.leader } else { -1 }))
                    .with_leader_epoch(p.leader_epoch)
                    .with_replica_nodes(p.replicas.iter().map(|r| BrokerId(*r)).collect())
                    .with_isr_nodes(p.isr.iter().map(|r| BrokerId(*r)).collect())
                    .with_eligible_leader_replicas(Some(p.elr.iter().map(|r| BrokerId(*r)).collect()))
                    .with_last_known_elr(Some(p.last_known_elr.iter().map(|r| BrokerId(*r)).collect()))
                    .with_offline_replicas(offline.into_iter().map(BrokerId).collect()),
            );
        }
        let returned = partitions.len();
        resp.topics.push(
            DescribeTopicPartitionsResponseTopic::default()
                .with_name(Some(TopicName(str_bytes(name.clone()))))
                .with_topic_id(topic.id)
                .with_is_internal(is_internal_topic(&name))
                .with_partitions(partitions)
                .with_topic_authorized_operations(TOPIC_AUTHORIZED_OPERATIONS),
        );
        if upper < count {
            resp.next_cursor =
                Some(Cursor::default().with_topic_name(TopicName(str_bytes(name))).with_partition_index(upper as i32));
            break;
        }
        remaining -= returned;
    }
    respond(req, &resp)
}
