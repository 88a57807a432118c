//! TxnOffsetCommit (key 28), v0-4: offsets a transactional producer commits
//! for a group, pending until the transaction's COMMIT marker lands on the
//! group's `__consumer_offsets` partition (`coordinator::group::txn_offsets`).
//! v3+ carry the member, instance and generation, checked as Kafka checks
//! them (KIP-447); partitions of unknown topics answer
//! UNKNOWN_TOPIC_OR_PARTITION.

use bytes::Bytes;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use kafka_protocol::ResponseError as E;

use crate::broker::Broker;
use crate::coordinator::group::classic::CommittedOffset;
use crate::coordinator::group::txn_offsets::TxnCommit;
use crate::coordinator::group::GroupError;
use crate::util::clock::now_ms;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::respond;

pub async fn handle(broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: TxnOffsetCommitRequest = req.decode()?;
    let v = req.version;
    let image = broker.metadata.image();
    let now = now_ms();
    let mut codes: Vec<Vec<i16>> = Vec::with_capacity(body.topics.len());
    let mut to_commit = Vec::new();
    let mut slots = Vec::new();
    for (ti, t) in body.topics.iter().enumerate() {
        let topic = image.topic_by_name(&t.name.0);
        let mut row = Vec::with_capacity(t.partitions.len());
        for (pi, p) in t.partitions.iter().enumerate() {
            if !topic.is_some_and(|tt| tt.partitions.contains_key(&p.partition_index)) {
                row.push(E::UnknownTopicOrPartition.code());
                continue;
            }
            row.push(0);
            slots.push((ti, pi));
            to_commit.push((
                (t.name.0.to_string(), p.partition_index),
                CommittedOffset {
                    offset: p.committed_offset,
                    leader_epoch: if v >= 2 { p.committed_leader_epoch } else { -1 },
                    metadata: p.committed_metadata.as_deref().unwrap_or("").to_string(),
                    commit_timestamp: now,
                    expire_timestamp: -1,
                },
            ));
        }
        codes.push(row);
    }
    if !to_commit.is_empty() {
        let instance = body.group_instance_id.as_ref().map(|s| s.to_string());
        let (generation, member) =
            if v >= 3 { (body.generation_id, body.member_id.to_string()) } else { (-1, String::new()) };
        let commit = TxnCommit {
            group_id: &body.group_id.0,
            producer_id: body.producer_id.0,
            producer_epoch: body.producer_epoch,
            generation,
            member_id: &member,
            instance_id: if v >= 3 { instance.as_deref() } else { None },
        };
        let results = broker.group_coordinator.txn_commit_offsets(commit, to_commit).await;
        for ((ti, pi), outcome) in slots.into_iter().zip(results) {
            codes[ti][pi] = GroupError::code(outcome.err().as_ref());
        }
    }
    let mut resp = TxnOffsetCommitResponse::default();
    for (t, row) in body.topics.iter().zip(codes) {
        resp.topics.push(
            TxnOffsetCommitResponseTopic::default().with_name(t.name.clone()).with_partitions(
                t.partitions
                    .iter()
                    .zip(row)
                    .map(|(p, code)| {
                        TxnOffsetCommitResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(code)
                    })
                    .collect(),
            ),
        );
    }
    respond(req, &resp)
}
