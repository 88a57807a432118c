//! OffsetForLeaderEpoch (key 23), v2-4: for each partition, the largest
//! leader epoch <= the requested one that the leader's log knows and the
//! offset where it ends (the start of the next epoch, or the log end offset
//! for the current one), or -1/-1 when undefined. Followers use it to find
//! where their log diverged, consumers to validate a position after a
//! leader change (KIP-101, KIP-279, KIP-320). Answered by the leader only,
//! with the client's current leader epoch checked.

use bytes::Bytes;
use kafka_protocol::messages::offset_for_leader_epoch_response::{EpochEndOffset, OffsetForLeaderTopicResult};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use crate::broker::Broker;
use crate::replica::ReplicaError;
use crate::storage::TopicPartition;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::respond;

pub async fn handle(broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: OffsetForLeaderEpochRequest = req.decode()?;
    let image = broker.metadata.image();
    let mut resp = OffsetForLeaderEpochResponse::default();
    for t in &body.topics {
        let mut tr = OffsetForLeaderTopicResult::default().with_topic(t.topic.clone());
        for p in &t.partitions {
            let tp = TopicPartition::new(t.topic.0.as_str(), p.partition);
            let mut out =
                EpochEndOffset::default().with_partition(p.partition).with_leader_epoch(-1).with_end_offset(-1);
            let found = broker.replica_manager.leader_partition(&image, &tp).and_then(|part| {
                part.check_leader_epoch(p.current_leader_epoch)?;
                let log = part.log().lock().expect("log lock");
                Ok::<_, ReplicaError>(log.end_offset_for_epoch(p.leader_epoch))
            });
            match found {
                Ok(Some((epoch, end_offset))) => {
                    out.leader_epoch = epoch;
                    out.end_offset = end_offset;
                }
                Ok(None) => {}
                Err(e) => out.error_code = e.kafka_code(),
            }
            tr.partitions.push(out);
        }
        resp.topics.push(tr);
    }
    respond(req, &resp)
}
