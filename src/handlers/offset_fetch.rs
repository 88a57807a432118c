//! OffsetFetch (key 9), v1-9: committed offsets for one group (v1-7) or a
//! batch of groups (v8+); all partitions when topics are null (v2+). A
//! partition without a commit answers offset -1 with no error. With
//! `require_stable` (v7+), a partition holding an open transaction's offset
//! answers UNSTABLE_OFFSET_COMMIT (offset -1), as Kafka does.

use bytes::Bytes;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};

use crate::broker::Broker;
use crate::coordinator::group::classic::CommittedOffset;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::{respond, str_bytes};

type Fetched = crate::coordinator::group::FetchedOffsets;

/// One topic's committed offsets by partition.
type TopicOffsets = (String, Vec<(i32, Option<CommittedOffset>)>);

/// Groups the fetched offsets by topic, keeping first-seen topic order.
fn by_topic(fetched: Fetched) -> Vec<TopicOffsets> {
    let mut out: Vec<TopicOffsets> = Vec::new();
    for ((topic, p), o) in fetched {
        match out.iter_mut().find(|(t, _)| *t == topic) {
            Some((_, v)) => v.push((p, o)),
            None => out.push((topic, vec![(p, o)])),
        }
    }
    out
}

fn values(o: &Option<CommittedOffset>, v: i16) -> (i64, i32, String) {
    match o {
        Some(c) => (c.offset, if v >= 5 { c.leader_epoch } else { -1 }, c.metadata.clone()),
        None => (-1, -1, String::new()),
    }
}

pub async fn handle(broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: OffsetFetchRequest = req.decode()?;
    let v = req.version;
    let coord = &broker.group_coordinator;
    let mut resp = OffsetFetchResponse::default();
    if v >= 8 {
        for g in &body.groups {
            let wanted = g.topics.as_ref().map(|ts| {
                ts.iter().flat_map(|t| t.partition_indexes.iter().map(move |p| (t.name.0.to_string(), *p))).collect()
            });
            let mut group = OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone());
            match coord.fetch_offsets(&g.group_id.0, wanted) {
                Err(e) => group.error_code = e.kafka_code(),
                Ok(fetched) => {
                    group.topics = by_topic(fetched)
                        .into_iter()
                        .map(|(t, parts)| {
                            OffsetFetchResponseTopics::default().with_name(TopicName(str_bytes(t))).with_partitions(
                                parts
                                    .into_iter()
                                    .map(|(p, o)| {
                                        let (offset, epoch, metadata) = values(&o, v);
                                        OffsetFetchResponsePartitions::default()
                                            .with_partition_index(p)
                                            .with_committed_offset(offset)
                                            .with_committed_leader_epoch(epoch)
                                            .with_metadata(Some(str_bytes(metadata)))
                                    })
                                    .collect(),
                            )
                        })
                        .collect();
                }
            }
            if body.require_stable {
                for t in &mut group.topics {
                    for p in &mut t.partitions {
                        if unstable(broker, &g.group_id.0, &t.name.0, p.partition_index) {
                            p.error_code = UNSTABLE_OFFSET_COMMIT;
                            p.committed_offset = -1;
                            p.committed_leader_epoch = -1;
                            p.metadata = Some(str_bytes(""));
                        }
                    }
                }
            }
            resp.groups.push(group);
        }
        return respond(req, &resp);
    }
    let wanted = body.topics.as_ref().map(|ts| {
        ts.iter().flat_map(|t| t.partition_indexes.iter().map(move |p| (t.name.0.to_string(), *p))).collect()
    });
    match coord.fetch_offsets(&body.group_id.0, wanted) {
        Err(e) => {
            let code = e.kafka_code();
            if v >= 2 {
                resp.error_code = code;
            }
            // v1 has no top-level error: every requested partition carries it.
            for t in body.topics.iter().flatten() {
                resp.topics.push(
                    OffsetFetchResponseTopic::default().with_name(t.name.clone()).with_partitions(
                        t.partition_indexes
                            .iter()
                            .map(|p| {
                                OffsetFetchResponsePartition::default()
                                    .with_partition_index(*p)
                                    .with_committed_offset(-1)
                                    .with_metadata(Some(str_bytes("")))
                                    .with_error_code(code)
                            })
                            .collect(),
                    ),
                );
            }
        }
        Ok(fetched) => {
            resp.topics = by_topic(fetched)
                .into_iter()
                .map(|(t, parts)| {
                    OffsetFetchResponseTopic::default().with_name(TopicName(str_bytes(t))).with_partitions(
                        parts
                            .into_iter()
                            .map(|(p, o)| {
                                let (offset, epoch, metadata) = values(&o, v);
                                OffsetFetchResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_committed_offset(offset)
                                    .with_committed_leader_epoch(epoch)
                                    .with_metadata(Some(str_bytes(metadata)))
                            })
                            .collect(),
                    )
                })
                .collect();
            if v >= 7 && body.require_stable {
                for t in &mut resp.topics {
                    for p in &mut t.partitions {
                        if unstable(broker, &body.group_id.0, &t.name.0, p.partition_index) {
                            p.error_code = UNSTABLE_OFFSET_COMMIT;
                            p.committed_offset = -1;
                            p.committed_leader_epoch = -1;
                            p.metadata = Some(str_bytes(""));
                        }
                    }
                }
            }
        }
    }
    respond(req, &resp)
}

const UNSTABLE_OFFSET_COMMIT: i16 = kafka_protocol::ResponseError::UnstableOffsetCommit.code();

/// An open transaction holds an offset of this partition.
fn unstable(broker: &Broker, group: &str, topic: &str, partition: i32) -> bool {
    broker.group_coordinator.has_pending_txn_offsets(group, Some(&[(topic.to_string(), partition)]))
}
