//! DescribeQuorum (key 55), v0-1: the metadata quorum's leader, epoch, high
//! watermark and voters' log end offsets (`kafka-metadata-quorum describe
//! --status`), answered by the active controller wherever it is asked.

use bytes::Bytes;
use kafka_protocol::messages::describe_quorum_response::{PartitionData, ReplicaState, TopicData};
use kafka_protocol::messages::{BrokerId, DescribeQuorumRequest, DescribeQuorumResponse};
use kafka_protocol::ResponseError as E;

use crate::broker::Broker;
use crate::metadata::METADATA_TOPIC;
use crate::util::clock::now_ms;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::respond;

/// Kafka answers only a request naming exactly `__cluster_metadata-0`;
/// anything else gets UNKNOWN_TOPIC_OR_PARTITION on every partition asked.
fn names_only_the_metadata_partition(body: &DescribeQuorumRequest) -> bool {
    matches!(body.topics.as_slice(), [t] if &*t.topic_name.0 == METADATA_TOPIC
        && matches!(t.partitions.as_slice(), [p] if p.partition_index == 0))
}

fn partition_errors(body: &DescribeQuorumRequest, code: i16) -> Vec<TopicData> {
    body.topics
        .iter()
        .map(|t| {
            TopicData::default().with_topic_name(t.topic_name.clone()).with_partitions(
                t.partitions
                    .iter()
                    .map(|p| PartitionData::default().with_partition_index(p.partition_index).with_error_code(code))
                    .collect(),
            )
        })
        .collect()
}

pub async fn handle(broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: DescribeQuorumRequest = req.decode()?;
    let mut resp = DescribeQuorumResponse::default();
    if !names_only_the_metadata_partition(&body) {
        resp.topics = partition_errors(&body, E::UnknownTopicOrPartition.code());
        return respond(req, &resp);
    }
    match broker.controller.describe_quorum().await {
        Err(e) => resp.topics = partition_errors(&body, e.kafka_code()),
        Ok(q) => {
            let now = now_ms();
            let mut pd = PartitionData::default()
                .with_partition_index(0)
                .with_leader_id(BrokerId(q.leader_id as i32))
                .with_leader_epoch(q.leader_epoch as i32)
                .with_high_watermark(q.high_watermark);
            pd.current_voters = q
                .voters
                .iter()
                .map(|(id, leo)| {
                    let mut r = ReplicaState::default().with_replica_id(BrokerId(*id as i32)).with_log_end_offset(*leo);
                    if req.version >= 1 && *id == q.leader_id {
                        // The leader is trivially caught up with itself; the
                        // followers' fetch times are not tracked (-1, unknown).
                        r.last_fetch_timestamp = now;
                        r.last_caught_up_timestamp = now;
                    }
                    r
                })
                .collect();
            resp.topics =
                vec![TopicData::default().with_topic_name(body.topics[0].topic_name.clone()).with_partitions(vec![pd])];
        }
    }
    respond(req, &resp)
}
