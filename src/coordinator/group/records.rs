//! Building `__consumer_offsets` records and appending them: Kafka's
//! `GroupCoordinatorRecordHelpers`, and the runtime's write path (append
//! with acks=all, wait for the high watermark).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::record::records::{BatchBuilder, Record};
use crate::replica::ReplicaError;
use crate::storage::TopicPartition;
use crate::util::clock::now_ms;

use super::super::record_schemas::{self as schema, GroupRecordKey};
use super::classic::{self, ClassicGroup, CommittedOffset, Effect};
use super::service::GroupCoordinator;
use super::{GroupError, GROUP_METADATA_TOPIC};

/// A record for `__consumer_offsets`: key and value (None: tombstone).
pub(super) type KeyValue = (Vec<u8>, Option<Vec<u8>>);

/// Encoding fails only for strings longer than the schema allows (a
/// client-chosen id over 32767 bytes); such a change is refused.
pub(super) fn encoding_error(e: schema::SchemaError) -> GroupError {
    tracing::warn!(error = %e, "cannot encode group coordinator record");
    GroupError::InvalidRequest
}

pub(super) fn offset_record(
    group: &str,
    topic: &str,
    partition: i32,
    o: Option<&CommittedOffset>,
) -> Result<KeyValue, GroupError> {
    let key = schema::encode_key(&GroupRecordKey::OffsetCommit {
        group: group.to_string(),
        topic: topic.to_string(),
        partition,
    })
    .map_err(encoding_error)?;
    let value = match o {
        None => None,
        Some(o) => Some(
            schema::encode_offset_commit_value(&schema::OffsetCommitValue {
                offset: o.offset,
                leader_epoch: o.leader_epoch,
                metadata: o.metadata.clone(),
                commit_timestamp: o.commit_timestamp,
                expire_timestamp: o.expire_timestamp,
            })
            .map_err(encoding_error)?,
        ),
    };
    Ok((key, value))
}

pub(super) fn group_record(group_id: &str, snapshot: Option<classic::GroupSnapshot>) -> Result<KeyValue, GroupError> {
    let key =
        schema::encode_key(&GroupRecordKey::GroupMetadata { group: group_id.to_string() }).map_err(encoding_error)?;
    let value = match snapshot {
        None => None,
        Some(s) => Some(
            schema::encode_group_metadata_value(&schema::GroupMetadataValue {
                protocol_type: s.protocol_type,
                generation: s.generation,
                protocol: s.protocol,
                leader: s.leader,
                current_state_timestamp: s.state_timestamp,
                members: s
                    .members
                    .into_iter()
                    .map(|m| schema::MemberMetadata {
                        member_id: m.member_id,
                        group_instance_id: m.instance_id,
                        client_id: m.client_id,
                        client_host: m.client_host,
                        rebalance_timeout: m.rebalance_timeout_ms,
                        session_timeout: m.session_timeout_ms,
                        subscription: m.subscription.to_vec(),
                        assignment: m.assignment.to_vec(),
                    })
                    .collect(),
            })
            .map_err(encoding_error)?,
        ),
    };
    Ok((key, value))
}

impl GroupCoordinator {
    /// Appends records to the group's `__consumer_offsets` partition and
    /// waits until they are committed (high watermark past them).
    pub(super) async fn append(&self, partition: i32, records: Vec<KeyValue>) -> Result<(), ReplicaError> {
        if records.is_empty() {
            return Ok(());
        }
        let tp = TopicPartition::new(GROUP_METADATA_TOPIC, partition);
        let p = self.replica_manager.get(&tp).ok_or(ReplicaError::NotLeaderOrFollower)?;
        let now = now_ms();
        let mut b = BatchBuilder::new(0, now);
        for (k, v) in records {
            b.push(Record::new(Some(k), v, now));
        }
        let batch = b.build();
        let info = p.append_records_to_leader(&batch, -1, now)?;
        let deadline = Instant::now() + Duration::from_millis(self.config.commit_timeout_ms);
        p.wait_for_high_watermark(info.last_offset + 1, deadline).await
    }

    /// Runs effects a transition asked for (persisting group metadata).
    pub(super) fn run_effects(self: &Arc<Self>, partition: i32, group: &ClassicGroup, effects: Vec<Effect>) {
        if effects.contains(&Effect::StoreGroup) {
            let Ok(record) = group_record(&group.id, Some(group.snapshot(None))) else { return };
            let this = self.clone();
            let id = group.id.clone();
            tokio::spawn(async move {
                if let Err(e) = this.append(partition, vec![record]).await {
                    tracing::warn!(group = %id, error = %e, "failed to store group metadata");
                }
            });
        }
    }
}
