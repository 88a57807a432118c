//! One match from API key to handler. Handlers decode their own body and
//! encode their response at the request's version. Produce requests can
//! also be started ([`start`]): appended at once, answered later.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

use crate::broker::Broker;
use crate::handlers::{self, context::RequestContext};
use crate::wire::request::{self, ApiRequest, Parsed};
use crate::wire::response::ResponseFrame;
use crate::wire::WireError;

/// A produce request whose batches are appended: resolves to its answer
/// (none for acks=0) once what its acks require has happened.
pub type ProduceCompletion = Pin<Box<dyn Future<Output = Result<Option<ResponseFrame>, WireError>> + Send>>;

/// How the connection goes on with one frame.
pub enum Started {
    /// A produce request, appended already.
    Produce(ProduceCompletion),
    /// Anything else: for [`handle`], once every earlier request is answered.
    Other(Bytes),
}

/// Appends a produce request's batches now and returns the rest of its
/// handling; leaves any other request to [`handle`].
pub fn start(broker: &Broker, frame: Bytes, received_ns: u64) -> Result<Started, WireError> {
    let is_produce = request::peek_header(&frame).is_ok_and(|h| h.api_key == ApiKey::Produce as i16);
    if !is_produce {
        return Ok(Started::Other(frame));
    }
    let frame_copy = frame.clone();
    let mut req = match request::parse(frame)? {
        Parsed::Request(r) => r,
        // Only ApiVersions falls back; a produce frame never does.
        Parsed::ApiVersionsFallback { .. } => return Err(WireError::UnknownApiKey(ApiKey::Produce as i16)),
    };
    req.received_ns = received_ns;
    if handlers::produce::needs_verification(broker, &req) {
        // KIP-890: the transaction coordinator is asked first, so this one
        // is handled in turn, after the started ones are answered.
        return Ok(Started::Other(frame_copy));
    }
    let flight = handlers::produce::begin(broker, &req)?;
    Ok(Started::Produce(Box::pin(async move { flight.complete().await.map(|r| r.map(ResponseFrame::from)) })))
}

/// Handles one frame: `Ok(None)` when no response is due (acks=0).
pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    frame: Bytes,
    received_ns: u64,
) -> Result<Option<ResponseFrame>, WireError> {
    let mut req = match request::parse(frame)? {
        Parsed::ApiVersionsFallback { correlation_id } => {
            return handlers::api_versions::fallback(correlation_id).map(|b| Some(b.into()))
        }
        Parsed::Request(r) => r,
    };
    req.received_ns = received_ns;
    if req.api_key == ApiKey::Fetch {
        // Record sets leave uncopied (see `encode_with_payloads`).
        return handlers::fetch::handle(broker, &req).await.map(Some);
    }
    Ok(route(broker, ctx, &req).await?.map(ResponseFrame::from))
}

async fn route(broker: &Broker, ctx: &RequestContext, req: &ApiRequest) -> Result<Option<Bytes>, WireError> {
    match req.api_key {
        ApiKey::ApiVersions => handlers::api_versions::handle(broker, req).map(Some),
        ApiKey::Metadata => handlers::metadata::handle(broker, ctx, req).await.map(Some),
        ApiKey::Produce => handlers::produce::handle(broker, req).await,
        ApiKey::ListOffsets => handlers::list_offsets::handle(broker, req).await.map(Some),
        ApiKey::CreateTopics => handlers::create_topics::handle(broker, req).await.map(Some),
        ApiKey::DeleteRecords => handlers::delete_records::handle(broker, req).await.map(Some),
        ApiKey::OffsetForLeaderEpoch => handlers::offset_for_leader_epoch::handle(broker, req).await.map(Some),
        ApiKey::DeleteTopics => handlers::delete_topics::handle(broker, req).await.map(Some),
        ApiKey::InitProducerId => handlers::init_producer_id::handle(broker, req).await.map(Some),
        ApiKey::AddPartitionsToTxn => handlers::add_partitions_to_txn::handle(broker, req).await.map(Some),
        ApiKey::AddOffsetsToTxn => handlers::add_offsets_to_txn::handle(broker, req).await.map(Some),
        ApiKey::EndTxn => handlers::end_txn::handle(broker, req).await.map(Some),
        ApiKey::TxnOffsetCommit => handlers::txn_offset_commit::handle(broker, req).await.map(Some),
        ApiKey::DescribeTransactions => handlers::describe_transactions::handle(broker, req).await.map(Some),
        ApiKey::ListTransactions => handlers::list_transactions::handle(broker, req).await.map(Some),
        ApiKey::AlterConfigs => handlers::alter_configs::handle_alter(broker, req).await.map(Some),
        ApiKey::IncrementalAlterConfigs => handlers::alter_configs::handle_incremental(broker, req).await.map(Some),
        ApiKey::DescribeConfigs => handlers::describe_configs::handle(broker, req).await.map(Some),
        ApiKey::DescribeCluster => handlers::describe_cluster::handle(broker, ctx, req).await.map(Some),
        ApiKey::DescribeTopicPartitions => handlers::describe_topic_partitions::handle(broker, req).await.map(Some),
        ApiKey::FindCoordinator => handlers::find_coordinator::handle(broker, ctx, req).await.map(Some),
        ApiKey::JoinGroup => handlers::join_group::handle(broker, ctx, req).await.map(Some),
        ApiKey::SyncGroup => handlers::sync_group::handle(broker, req).await.map(Some),
        ApiKey::Heartbeat => handlers::heartbeat::handle(broker, req).await.map(Some),
        ApiKey::LeaveGroup => handlers::leave_group::handle(broker, req).await.map(Some),
        ApiKey::OffsetCommit => handlers::offset_commit::handle(broker, req).await.map(Some),
        ApiKey::OffsetFetch => handlers::offset_fetch::handle(broker, req).await.map(Some),
        ApiKey::DescribeGroups => handlers::describe_groups::handle(broker, req).await.map(Some),
        ApiKey::ListGroups => handlers::list_groups::handle(broker, req).await.map(Some),
        ApiKey::DeleteGroups => handlers::delete_groups::handle(broker, req).await.map(Some),
        ApiKey::OffsetDelete => handlers::offset_delete::handle(broker, req).await.map(Some),
        ApiKey::CreatePartitions => handlers::create_partitions::handle(broker, req).await.map(Some),
        ApiKey::ElectLeaders => handlers::elect_leaders::handle(broker, req).await.map(Some),
        ApiKey::DescribeQuorum => handlers::describe_quorum::handle(broker, req).await.map(Some),
        ApiKey::DescribeProducers => handlers::describe_producers::handle(broker, req).await.map(Some),
        ApiKey::WriteTxnMarkers => handlers::write_txn_markers::handle(broker, req).await.map(Some),
        ApiKey::ListPartitionReassignments => {
            handlers::list_partition_reassignments::handle(broker, req).await.map(Some)
        }
        other => Err(WireError::UnknownApiKey(other as i16)),
    }
}
