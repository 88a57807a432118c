//! WriteTxnMarkers (key 27), v1 (the version the vendored protocol crate
//! and Kafka 4.x serve; v0 went with KIP-896): the transaction
//! coordinator asks this broker, as leader of each named partition, to
//! end producer `producer_id`'s transaction there with a COMMIT or ABORT
//! control batch carrying the coordinator epoch
//! (`Partition::append_marker_as_leader`). Each partition is answered once
//! the marker is replicated to the ISR (the high watermark passed it), as
//! Kafka appends markers with acks=all; a marker from an older coordinator
//! epoch answers TRANSACTION_COORDINATOR_FENCED, an older producer epoch
//! INVALID_PRODUCER_EPOCH, a partition led elsewhere
//! NOT_LEADER_OR_FOLLOWER, and the coordinator retries.
//!
//! Markers for `__consumer_offsets` partitions are written like any other;
//! materialising transactional offset commits on them belongs to the
//! transaction/group coordinator side.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};

use crate::broker::Broker;
use crate::record::control::EndTxnMarker;
use crate::storage::TopicPartition;
use crate::util::clock::now_ms;
use crate::wire::request::ApiRequest;
use crate::wire::WireError;

use super::respond;

/// Kafka appends markers with its `request.timeout.ms` (default 30 s) as
/// the replication timeout.
const MARKER_REPLICATION_TIMEOUT: Duration = Duration::from_millis(30_000);

pub async fn handle(broker: &Broker, req: &ApiRequest) -> Result<Bytes, WireError> {
    let body: WriteTxnMarkersRequest = req.decode()?;
    let image = broker.metadata.image();
    let deadline = tokio::time::Instant::now() + MARKER_REPLICATION_TIMEOUT;
    let now = now_ms();
    // Append every marker first, then wait for all of them together.
    let mut pending = Vec::new();
    let mut resp = WriteTxnMarkersResponse::default();
    for m in &body.markers {
        let marker = EndTxnMarker { commit: m.transaction_result, coordinator_epoch: m.coordinator_epoch };
        let mut result = WritableTxnMarkerResult::default().with_producer_id(m.producer_id);
        for t in &m.topics {
            let mut tr = WritableTxnMarkerTopicResult::default().with_name(t.name.clone());
            for &index in &t.partition_indexes {
                let tp = TopicPartition::new(t.name.0.as_str(), index);
                let appended = broker.replica_manager.leader_partition(&image, &tp).and_then(|p| {
                    let info = p.append_marker_as_leader(m.producer_id.0, m.producer_epoch, marker, now)?;
                    Ok((p, info.last_offset + 1))
                });
                let error = match appended {
                    Ok(wait) => {
                        pending.push((resp.markers.len(), result.topics.len(), tr.partitions.len(), wait));
                        0
                    }
                    Err(e) => {
                        tracing::debug!(partition = %tp, producer_id = m.producer_id.0, error = %e, "transaction marker refused");
                        e.kafka_code()
                    }
                };
                tr.partitions.push(
                    WritableTxnMarkerPartitionResult::default().with_partition_index(index).with_error_code(error),
                );
            }
            result.topics.push(tr);
        }
        resp.markers.push(result);
    }
    for (mi, ti, pi, (partition, required)) in pending {
        // Not known replicated (timeout, lost leadership, ISR too small):
        // the coordinator retries; a repeated marker completes nothing.
        if let Err(e) = partition.wait_for_high_watermark(required, deadline).await {
            resp.markers[mi].topics[ti].partitions[pi].error_code = e.kafka_code();
        }
    }
    respond(req, &resp)
}
