//! ListOffsets (key 2), v1-10: earliest (-2), latest (-1, the high
//! watermark or the last stable offset), max timestamp (-3, v7+), earliest
//! local (-4, v8+), latest tiered (-5, v9+: none without tiered storage),
//! and the first offset at or after a timestamp, through the time index.

use bytes::Bytes;
use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use crate::broker::Broker;
use crate::replica::{Partition, ReplicaError};
use crate::storage::TopicPartition;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::respond;

pub const LATEST: i64 = -1;
pub const EARLIEST: i64 = -2;
pub const MAX_TIMESTAMP: i64 = -3;
pub const EARLIEST_LOCAL: i64 = -4;
pub const LATEST_TIERED: i64 = -5;

/// `(timestamp, offset, leader epoch)`; offset -1 when nothing matches.
fn lookup(p: &Partition, timestamp: i64, last_fetchable: Option<i64>) -> Result<(i64, i64, i32), ReplicaError> {
    let log = p.log().lock().expect("log lock");
    let fetchable = last_fetchable.unwrap_or_else(|| log.log_end_offset());
    let epoch_at = |offset: i64| -> i32 {
        log.leader_epoch_cache().entries().iter().rev().find(|&&(_, start)| start <= offset).map_or(-1, |&(e, _)| e)
    };
    Ok(match timestamp {
        LATEST => (-1, fetchable, p.leader_epoch()),
        EARLIEST | EARLIEST_LOCAL => {
            let start = log.log_start_offset();
            (-1, start, epoch_at(start))
        }
        LATEST_TIERED => (-1, -1, -1),
        MAX_TIMESTAMP => match log.max_timestamp_and_offset()? {
            Some((ts, off, epoch)) if off < fetchable => (ts, off, epoch),
            _ => (-1, -1, -1),
        },
        ts if ts >= 0 => match log.offset_for_timestamp(ts)? {
            Some((off, found_ts, epoch)) if off < fetchable => (found_ts, off, epoch),
            _ => (-1, -1, -1),
        },
        _ => (-1, -1, -1),
    })
}

pub async fn handle(broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: ListOffsetsRequest = req.decode()?;
    let v = req.version;
    let image = broker.metadata.image();
    let read_committed = v >= 2 && body.isolation_level == 1;
    let from_consumer = body.replica_id.0 < 0;
    let mut resp = ListOffsetsResponse::default();
    for t in &body.topics {
        let mut tr = ListOffsetsTopicResponse::default().with_name(t.name.clone());
        for part in &t.partitions {
            let tp = TopicPartition::new(t.name.0.as_str(), part.partition_index);
            let mut pr = ListOffsetsPartitionResponse::default().with_partition_index(part.partition_index);
            let outcome = broker.replica_manager.leader_partition(&image, &tp).and_then(|p| {
                p.check_leader_epoch(if v >= 4 { part.current_leader_epoch } else { -1 })?;
                // Consumers see up to the high watermark (LSO under
                // read_committed, equal until transactions exist).
                let offsets = p.offsets();
                let last_fetchable = from_consumer.then_some(if read_committed {
                    offsets.last_stable_offset
                } else {
                    offsets.high_watermark
                });
                lookup(&p, part.timestamp, last_fetchable)
            });
            match outcome {
                Ok((ts, off, epoch)) => {
                    pr.timestamp = ts;
                    pr.offset = off;
                    if v >= 4 {
                        pr.leader_epoch = epoch;
                    }
                }
                Err(e) => {
                    pr.error_code = e.kafka_code();
                    pr.timestamp = -1;
                    pr.offset = -1;
                }
            }
            tr.partitions.push(pr);
        }
        resp.topics.push(tr);
    }
    respond(req, &resp)
}
