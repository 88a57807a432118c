//! DeleteRecords (key 21), v0-2: moves each partition's log start offset
//! forward (-1 means "up to the high watermark"); segments wholly below it
//! are deleted. Fetches below the new start get OFFSET_OUT_OF_RANGE and
//! ListOffsets earliest reports it.

use bytes::Bytes;
use kafka_protocol::messages::delete_records_response::{DeleteRecordsPartitionResult, DeleteRecordsTopicResult};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use crate::broker::Broker;
use crate::storage::TopicPartition;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::respond;

pub async fn handle(broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: DeleteRecordsRequest = req.decode()?;
    let image = broker.metadata.image();
    let mut resp = DeleteRecordsResponse::default();
    for t in &body.topics {
        let mut tr = DeleteRecordsTopicResult::default().with_name(t.name.clone());
        for p in &t.partitions {
            let tp = TopicPartition::new(t.name.0.as_str(), p.partition_index);
            let mut pr = DeleteRecordsPartitionResult::default().with_partition_index(p.partition_index);
            match broker.replica_manager.leader_partition(&image, &tp).and_then(|part| part.delete_records(p.offset)) {
                Ok(low) => pr.low_watermark = low,
                Err(e) => {
                    pr.error_code = e.kafka_code();
                    pr.low_watermark = -1;
                }
            }
            tr.partitions.push(pr);
        }
        resp.topics.push(tr);
    }
    respond(req, &resp)
}
