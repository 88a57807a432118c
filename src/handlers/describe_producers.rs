//! DescribeProducers (key 61), v0: the active producers of each partition
//! this broker hosts (what `kafka-transactions.sh describe-producers` and
//! `Admin.describeProducers` show): producer id and epoch, last sequence
//! and timestamp, coordinator epoch, and the first offset of the open
//! transaction (-1 without one), from the partition's producer state.
//! Like Kafka, any replica with the log answers; a partition not hosted
//! here answers NOT_LEADER_OR_FOLLOWER or UNKNOWN_TOPIC_OR_PARTITION.

use bytes::Bytes;
use kafka_protocol::messages::describe_producers_response::{PartitionResponse, ProducerState, TopicResponse};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};

use crate::broker::Broker;
use crate::storage::TopicPartition;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::respond;

pub async fn handle(broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: DescribeProducersRequest = req.decode()?;
    let image = broker.metadata.image();
    let mut resp = DescribeProducersResponse::default();
    for t in &body.topics {
        let mut tr = TopicResponse::default().with_name(t.name.clone());
        for &index in &t.partition_indexes {
            let tp = TopicPartition::new(t.name.0.as_str(), index);
            let mut pr = PartitionResponse::default().with_partition_index(index);
            match broker.replica_manager.hosted_partition(&image, &tp) {
                Ok(p) => {
                    pr.active_producers = p
                        .active_producers()
                        .into_iter()
                        .map(|e| {
                            let last = e.batches.back();
                            ProducerState::default()
                                .with_producer_id(ProducerId(e.producer_id))
                                .with_producer_epoch(e.epoch as i32)
                                .with_last_sequence(last.map_or(-1, |b| b.last_seq))
                                .with_last_timestamp(last.map_or(-1, |b| b.timestamp))
                                .with_coordinator_epoch(e.coordinator_epoch)
                                .with_current_txn_start_offset(e.current_txn_first_offset.unwrap_or(-1))
                        })
                        .collect();
                }
                Err(e) => pr.error_code = e.kafka_code(),
            }
            tr.partitions.push(pr);
        }
        resp.topics.push(tr);
    }
    respond(req, &resp)
}
