//! OffsetCommit (key 8), v2-9: committed offsets with leader epoch (v6+)
//! and metadata, checked against the member and generation (generation -1
//! with no member commits for a group that uses no coordination).

use bytes::Bytes;
use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};
use kafka_protocol::ResponseError as E;

use crate::broker::Broker;
use crate::coordinator::group::classic::CommittedOffset;
use crate::coordinator::group::GroupError;
use crate::util::clock::now_ms;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::respond;

pub async fn handle(broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: OffsetCommitRequest = req.decode()?;
    let v = req.version;
    let image = broker.metadata.image();
    let now = now_ms();
    // retention_time_ms (v2-4) sets an explicit expiry; -1 means the default.
    let expire = if v <= 4 && body.retention_time_ms >= 0 { now + body.retention_time_ms } else { -1 };
    let mut codes: Vec<Vec<i16>> = Vec::with_capacity(body.topics.len());
    let mut to_commit = Vec::new();
    let mut slots = Vec::new();
    for (ti, t) in body.topics.iter().enumerate() {
        let topic = image.topic_by_name(&t.name.0);
        let mut row = Vec::with_capacity(t.partitions.len());
        for (pi, p) in t.partitions.iter().enumerate() {
            let known = topic.is_some_and(|tt| tt.partitions.contains_key(&p.partition_index));
            if !known {
                row.push(E::UnknownTopicOrPartition.code());
                continue;
            }
            row.push(0);
            slots.push((ti, pi));
            to_commit.push((
                (t.name.0.to_string(), p.partition_index),
                CommittedOffset {
                    offset: p.committed_offset,
                    leader_epoch: if v >= 6 { p.committed_leader_epoch } else { -1 },
                    metadata: p.committed_metadata.as_deref().unwrap_or("").to_string(),
                    commit_timestamp: now,
                    expire_timestamp: expire,
                },
            ));
        }
        codes.push(row);
    }
    if !to_commit.is_empty() {
        let instance = body.group_instance_id.as_ref().map(|s| s.to_string());
        let results = broker
            .group_coordinator
            .commit_offsets(
                &body.group_id.0,
                body.generation_id_or_member_epoch,
                &body.member_id,
                instance.as_deref(),
                to_commit,
            )
            .await;
        for ((ti, pi), outcome) in slots.into_iter().zip(results) {
            codes[ti][pi] = GroupError::code(outcome.err().as_ref());
        }
    }
    let mut resp = OffsetCommitResponse::default();
    for (t, row) in body.topics.iter().zip(codes) {
        resp.topics.push(
            OffsetCommitResponseTopic::default().with_name(t.name.clone()).with_partitions(
                t.partitions
                    .iter()
                    .zip(row)
                    .map(|(p, code)| {
                        OffsetCommitResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(code)
                    })
                    .collect(),
            ),
        );
    }
    respond(req, &resp)
}
