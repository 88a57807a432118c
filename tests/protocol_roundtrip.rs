//! A round trip of every API in `SUPPORTED_APIS` at every advertised
//! version, against an in-process broker, with the answers checked against
//! what Apache Kafka gives.
//!
//! `every_advertised_api_round_trips_at_every_advertised_version` walks the
//! advertised table itself: an API added to the table without a round trip
//! here fails it. The other tests cover the error paths of each API.

mod common;

// The round trips and error paths, by API family. Each file uses this
// one's harness and helpers (`use super::*`); what the table walk below
// and the other families use is `pub(crate)` and imported here.
#[path = "roundtrip/admin.rs"]
mod admin;
#[path = "roundtrip/api_versions.rs"]
mod api_versions;
#[path = "roundtrip/configs.rs"]
mod configs;
#[path = "roundtrip/describe.rs"]
mod describe;
#[path = "roundtrip/fetch.rs"]
mod fetch;
#[path = "roundtrip/groups.rs"]
mod groups;
#[path = "roundtrip/metadata.rs"]
mod metadata;
#[path = "roundtrip/produce.rs"]
mod produce;
#[path = "roundtrip/replication.rs"]
mod replication;
#[path = "roundtrip/topics.rs"]
mod topics;
#[path = "roundtrip/transactions.rs"]
mod transactions;
#[path = "roundtrip/txn_coordinator.rs"]
mod txn_coordinator;

use api_versions::*;
use configs::*;
use describe::*;
use fetch::*;
use groups::*;
use metadata::*;
use produce::*;
use topics::*;
use txn_coordinator::*;

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
use common::NONE;
use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
use kafka_protocol::messages::delete_records_response::DeleteRecordsPartitionResult;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{DescribeConfigsResourceResult, DescribeConfigsResult};
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::describe_topic_partitions_request::{Cursor as RequestCursor, TopicRequest};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::incremental_alter_configs_request as incremental;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::list_offsets_response::ListOffsetsPartitionResponse;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_delete_request::{OffsetDeleteRequestPartition, OffsetDeleteRequestTopic};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, ApiKey, ApiVersionsRequest, ApiVersionsResponse, BrokerId,
    CreateTopicsRequest, CreateTopicsResponse, DeleteRecordsRequest, DeleteRecordsResponse, DeleteTopicsRequest,
    DeleteTopicsResponse, DescribeClusterRequest, DescribeClusterResponse, DescribeConfigsRequest,
    DescribeConfigsResponse, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, FetchRequest,
    FetchResponse, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, InitProducerIdRequest,
    InitProducerIdResponse, ListOffsetsRequest, ListOffsetsResponse, MetadataRequest, MetadataResponse, ProduceRequest,
    ProduceResponse, TopicName,
};
use kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, GroupId, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse,
    LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse, OffsetCommitRequest,
    OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse, OffsetFetchRequest, OffsetFetchResponse,
    SyncGroupRequest, SyncGroupResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError as E;
use uuid::Uuid;
use weir::record::batch::BatchIter;
use weir::record::records::{decode_records, BatchBuilder, Record};
use weir::wire::client::{decode_response, BrokerClient};
use weir::wire::versions::{PRODUCE_MIN_DECODED, SUPPORTED_APIS};

// DescribeConfigs config sources and types (KIP-226, KIP-569).
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const DYNAMIC_BROKER_CONFIG: i8 = 2;
const DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
const STATIC_BROKER_CONFIG: i8 = 4;
const DEFAULT_CONFIG: i8 = 5;
const TYPE_STRING: i8 = 2;
const TYPE_INT: i8 = 3;
const TYPE_LONG: i8 = 5;
const TYPE_LIST: i8 = 7;

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;

/// The node id of the test broker (Weir's default `node.id`).
const NODE_ID: i32 = 1;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

struct Env {
    broker: common::TestBroker,
    _dir: tempfile::TempDir,
}

impl Env {
    async fn start(extra: &[(&str, &str)]) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let broker = common::TestBroker::start_in(dir.path(), extra).await;
        Env { broker, _dir: dir }
    }

    fn addr(&self) -> SocketAddr {
        self.broker.addr()
    }

    async fn client(&self) -> BrokerClient {
        connect(self.addr()).await
    }

    async fn stop(mut self) {
        self.broker.stop().await;
    }
}

async fn connect(addr: SocketAddr) -> BrokerClient {
    BrokerClient::connect(&addr.to_string(), "protocol-roundtrip").await.expect("connect to broker")
}

fn advertised(key: ApiKey) -> RangeInclusive<i16> {
    let api = SUPPORTED_APIS.iter().find(|a| a.key == key).unwrap_or_else(|| panic!("{key:?} is not advertised"));
    api.min..=api.max
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn tn(v: &str) -> TopicName {
    TopicName(s(v))
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis() as i64
}

// ---------------------------------------------------------------------------
// Request helpers
// ---------------------------------------------------------------------------

fn creatable(name: &str, partitions: i32, rf: i16, configs: &[(&str, &str)]) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(tn(name))
        .with_num_partitions(partitions)
        .with_replication_factor(rf)
        .with_configs(
            configs
                .iter()
                .map(|(k, v)| CreatableTopicConfig::default().with_name(s(k)).with_value(Some(s(v))))
                .collect(),
        )
}

async fn create_topics(
    c: &mut BrokerClient,
    version: i16,
    topics: Vec<CreatableTopic>,
    validate_only: bool,
) -> CreateTopicsResponse {
    let req =
        CreateTopicsRequest::default().with_topics(topics).with_timeout_ms(10_000).with_validate_only(validate_only);
    c.send(ApiKey::CreateTopics, version, &req).await.unwrap_or_else(|e| panic!("CreateTopics v{version}: {e}"))
}

/// Creates a topic (CreateTopics v7) and returns its id.
async fn create_topic(c: &mut BrokerClient, name: &str, partitions: i32, configs: &[(&str, &str)]) -> Uuid {
    let resp = create_topics(c, 7, vec![creatable(name, partitions, 1, configs)], false).await;
    let r = &resp.topics[0];
    assert_eq!(r.error_code, NONE, "creating {name}: {:?}", r.error_message);
    assert!(!r.topic_id.is_nil(), "{name} was created with a nil topic id");
    r.topic_id
}

fn metadata_request(version: i16, topics: Option<Vec<MetadataRequestTopic>>, allow_auto: bool) -> MetadataRequest {
    let mut req = MetadataRequest::default().with_topics(topics);
    if version >= 4 {
        req.allow_auto_topic_creation = allow_auto;
    }
    req
}

fn by_name(name: &str) -> MetadataRequestTopic {
    MetadataRequestTopic::default().with_name(Some(tn(name)))
}

fn by_id(id: Uuid) -> MetadataRequestTopic {
    MetadataRequestTopic::default().with_name(None).with_topic_id(id)
}

async fn metadata(c: &mut BrokerClient, version: i16, req: &MetadataRequest) -> MetadataResponse {
    c.send(ApiKey::Metadata, version, req).await.unwrap_or_else(|e| panic!("Metadata v{version}: {e}"))
}

/// Metadata v12 for one topic by name, without auto-creation.
async fn topic_metadata(c: &mut BrokerClient, name: &str) -> MetadataResponseTopic {
    let req = metadata_request(12, Some(vec![by_name(name)]), false);
    let mut resp = metadata(c, 12, &req).await;
    assert_eq!(resp.topics.len(), 1);
    resp.topics.remove(0)
}

/// Polls Metadata until `name` is unknown (Kafka's metadata is eventually
/// consistent, so tests poll rather than expect it at once).
async fn wait_until_unknown(addr: SocketAddr, name: &str) {
    let name = name.to_string();
    common::wait_until(&format!("{name} to be unknown"), Duration::from_secs(10), || {
        let name = name.clone();
        async move {
            let mut c = connect(addr).await;
            topic_metadata(&mut c, &name).await.error_code == E::UnknownTopicOrPartition.code()
        }
    })
    .await;
}

/// A batch of `values` with consecutive timestamps from `ts`.
fn batch(values: &[&str], ts: i64) -> Bytes {
    batch_at(values.iter().enumerate().map(|(i, v)| (*v, ts + i as i64)))
}

fn batch_at<'a>(records: impl IntoIterator<Item = (&'a str, i64)>) -> Bytes {
    let records: Vec<_> = records.into_iter().collect();
    let mut b = BatchBuilder::new(0, records[0].1);
    for (v, ts) in records {
        b.push(Record::new(None, Some(v.as_bytes().to_vec()), ts));
    }
    b.build()
}

fn idempotent_batch(values: &[&str], pid: i64, epoch: i16, seq: i32) -> Bytes {
    let ts = now_ms();
    let mut b = BatchBuilder::new(0, ts).producer(pid, epoch, seq);
    for v in values {
        b.push(Record::new(None, Some(v.as_bytes().to_vec()), ts));
    }
    b.build()
}

fn produce_request(acks: i16, topic: &str, partition: i32, records: Bytes) -> ProduceRequest {
    ProduceRequest::default().with_acks(acks).with_timeout_ms(10_000).with_topic_data(vec![TopicProduceData::default()
        .with_name(tn(topic))
        .with_partition_data(vec![PartitionProduceData::default().with_index(partition).with_records(Some(records))])])
}

/// Produces one batch and returns the single partition response.
async fn produce(
    c: &mut BrokerClient,
    version: i16,
    acks: i16,
    topic: &str,
    partition: i32,
    records: Bytes,
) -> PartitionProduceResponse {
    let resp: ProduceResponse = c
        .send(ApiKey::Produce, version, &produce_request(acks, topic, partition, records))
        .await
        .unwrap_or_else(|e| panic!("Produce v{version}: {e}"));
    assert_eq!(resp.responses.len(), 1, "Produce v{version}: one topic answered");
    let t = &resp.responses[0];
    assert_eq!(t.name.0.as_str(), topic);
    assert_eq!(t.partition_responses.len(), 1);
    let p = t.partition_responses[0].clone();
    assert_eq!(p.index, partition);
    p
}

/// Produces and asserts success; returns the base offset.
async fn produce_ok(c: &mut BrokerClient, topic: &str, records: Bytes) -> i64 {
    let p = produce(c, 9, -1, topic, 0, records).await;
    assert_eq!(p.error_code, NONE, "produce to {topic}: {:?}", p.error_message);
    p.base_offset
}

fn fetch_request(version: i16, topic: &str, id: Uuid, partition: i32, offset: i64, max_wait_ms: i32) -> FetchRequest {
    let mut t = FetchTopic::default().with_partitions(vec![FetchPartition::default()
        .with_partition(partition)
        .with_fetch_offset(offset)
        .with_partition_max_bytes(1 << 20)]);
    if version >= 13 {
        t.topic_id = id;
    } else {
        t.topic = tn(topic);
    }
    FetchRequest::default().with_max_wait_ms(max_wait_ms).with_min_bytes(1).with_max_bytes(4 << 20).with_topics(vec![t])
}

/// Fetches one partition and returns its data.
async fn fetch(c: &mut BrokerClient, version: i16, topic: &str, id: Uuid, offset: i64) -> PartitionData {
    let resp: FetchResponse = c
        .send(ApiKey::Fetch, version, &fetch_request(version, topic, id, 0, offset, 100))
        .await
        .unwrap_or_else(|e| panic!("Fetch v{version}: {e}"));
    assert_eq!(resp.error_code, NONE, "Fetch v{version} top-level error");
    assert_eq!(resp.responses.len(), 1);
    let t = &resp.responses[0];
    if version >= 13 {
        assert_eq!(t.topic_id, id, "Fetch v{version} answers by topic id");
    } else {
        assert_eq!(t.topic.0.as_str(), topic, "Fetch v{version} answers by name");
    }
    assert_eq!(t.partitions.len(), 1);
    let p = t.partitions[0].clone();
    assert_eq!(p.partition_index, 0);
    p
}

/// Every record in a fetch response, CRCs checked.
fn fetched_records(p: &PartitionData) -> Vec<Record> {
    let bytes = p.records.clone().unwrap_or_default();
    let mut out = Vec::new();
    for item in BatchIter::new(&bytes, true) {
        let (_, view) = item.expect("fetched batch is valid");
        out.extend(decode_records(&view).expect("fetched records decode"));
    }
    out
}

fn value_of(r: &Record) -> String {
    String::from_utf8(r.value.clone().expect("record has a value")).expect("utf-8 value")
}

async fn list_offset(c: &mut BrokerClient, version: i16, topic: &str, timestamp: i64) -> ListOffsetsPartitionResponse {
    let mut req =
        ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![ListOffsetsTopic::default()
            .with_name(tn(topic))
            .with_partitions(vec![ListOffsetsPartition::default().with_partition_index(0).with_timestamp(timestamp)])]);
    if version >= 10 {
        req.timeout_ms = 10_000;
    }
    let resp: ListOffsetsResponse =
        c.send(ApiKey::ListOffsets, version, &req).await.unwrap_or_else(|e| panic!("ListOffsets v{version}: {e}"));
    assert_eq!(resp.topics.len(), 1);
    assert_eq!(resp.topics[0].name.0.as_str(), topic);
    assert_eq!(resp.topics[0].partitions.len(), 1);
    let p = resp.topics[0].partitions[0].clone();
    assert_eq!(p.partition_index, 0);
    p
}

/// The log end offset a consumer sees (ListOffsets v7, latest).
async fn latest_offset(c: &mut BrokerClient, topic: &str) -> i64 {
    let p = list_offset(c, 7, topic, LATEST).await;
    assert_eq!(p.error_code, NONE);
    p.offset
}

async fn describe_configs(
    c: &mut BrokerClient,
    version: i16,
    resource_type: i8,
    name: &str,
    keys: Option<&[&str]>,
    synonyms: bool,
) -> DescribeConfigsResult {
    let mut req = DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
        .with_resource_type(resource_type)
        .with_resource_name(s(name))
        .with_configuration_keys(keys.map(|k| k.iter().map(|k| s(k)).collect()))]);
    req.include_synonyms = synonyms;
    if version >= 3 {
        req.include_documentation = true;
    }
    let mut resp: DescribeConfigsResponse = c
        .send(ApiKey::DescribeConfigs, version, &req)
        .await
        .unwrap_or_else(|e| panic!("DescribeConfigs v{version}: {e}"));
    assert_eq!(resp.results.len(), 1);
    let r = resp.results.remove(0);
    assert_eq!(r.resource_type, resource_type);
    assert_eq!(r.resource_name.as_str(), name);
    r
}

fn config<'a>(r: &'a DescribeConfigsResult, name: &str) -> &'a DescribeConfigsResourceResult {
    r.configs
        .iter()
        .find(|c| c.name.as_str() == name)
        .unwrap_or_else(|| panic!("config {name} missing from DescribeConfigs"))
}

fn panic_message(e: tokio::task::JoinError) -> String {
    if !e.is_panic() {
        return e.to_string();
    }
    let p = e.into_panic();
    if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else {
        "panic".into()
    }
}

// ---------------------------------------------------------------------------
// The table walk
// ---------------------------------------------------------------------------

/// Every (api, version) the broker advertises gets a realistic request and
/// a decoded, checked response. An advertised API without a round trip
/// here fails the test. Each API runs in its own task so one failure does
/// not hide the others.
#[tokio::test]
async fn every_advertised_api_round_trips_at_every_advertised_version() {
    // Group joins complete without the initial rebalance delay.
    let env = Env::start(&[("group.initial.rebalance.delay.ms", "0")]).await;
    let addr = env.addr();
    let mut failures = Vec::new();
    for api in SUPPORTED_APIS {
        let versions = api.min..=api.max;
        let task = match api.key {
            ApiKey::ApiVersions => tokio::spawn(round_trip_api_versions(addr, versions)),
            ApiKey::Metadata => tokio::spawn(round_trip_metadata(addr, versions)),
            ApiKey::CreateTopics => tokio::spawn(round_trip_create_topics(addr, versions)),
            ApiKey::Produce => tokio::spawn(round_trip_produce(addr, versions)),
            ApiKey::Fetch => tokio::spawn(round_trip_fetch(addr, versions)),
            ApiKey::ListOffsets => tokio::spawn(round_trip_list_offsets(addr, versions)),
            ApiKey::DeleteTopics => tokio::spawn(round_trip_delete_topics(addr, versions)),
            ApiKey::DeleteRecords => tokio::spawn(round_trip_delete_records(addr, versions)),
            ApiKey::AlterConfigs => tokio::spawn(round_trip_alter_configs(addr, versions)),
            ApiKey::IncrementalAlterConfigs => tokio::spawn(round_trip_incremental_alter_configs(addr, versions)),
            ApiKey::InitProducerId => tokio::spawn(round_trip_init_producer_id(addr, versions)),
            ApiKey::DescribeConfigs => tokio::spawn(round_trip_describe_configs(addr, versions)),
            ApiKey::DescribeCluster => tokio::spawn(round_trip_describe_cluster(addr, versions)),
            ApiKey::DescribeTopicPartitions => tokio::spawn(round_trip_describe_topic_partitions(addr, versions)),
            ApiKey::FindCoordinator => tokio::spawn(round_trip_find_coordinator(addr, versions)),
            ApiKey::JoinGroup => tokio::spawn(round_trip_join_group(addr, versions)),
            ApiKey::SyncGroup => tokio::spawn(round_trip_sync_group(addr, versions)),
            ApiKey::Heartbeat => tokio::spawn(round_trip_heartbeat(addr, versions)),
            ApiKey::LeaveGroup => tokio::spawn(round_trip_leave_group(addr, versions)),
            ApiKey::OffsetCommit => tokio::spawn(round_trip_offset_commit(addr, versions)),
            ApiKey::OffsetFetch => tokio::spawn(round_trip_offset_fetch(addr, versions)),
            ApiKey::DescribeGroups => tokio::spawn(round_trip_describe_groups(addr, versions)),
            ApiKey::ListGroups => tokio::spawn(round_trip_list_groups(addr, versions)),
            ApiKey::DeleteGroups => tokio::spawn(round_trip_delete_groups(addr, versions)),
            ApiKey::OffsetDelete => tokio::spawn(round_trip_offset_delete(addr, versions)),
            ApiKey::CreatePartitions => tokio::spawn(admin::round_trip_create_partitions(addr, versions)),
            ApiKey::ElectLeaders => tokio::spawn(admin::round_trip_elect_leaders(addr, versions)),
            ApiKey::ListPartitionReassignments => {
                tokio::spawn(admin::round_trip_list_partition_reassignments(addr, versions))
            }
            ApiKey::DescribeQuorum => tokio::spawn(admin::round_trip_describe_quorum(addr, versions)),
            ApiKey::DescribeProducers => tokio::spawn(transactions::round_trip_describe_producers(addr, versions)),
            ApiKey::WriteTxnMarkers => tokio::spawn(transactions::round_trip_write_txn_markers(addr, versions)),
            ApiKey::OffsetForLeaderEpoch => {
                tokio::spawn(replication::round_trip_offset_for_leader_epoch(addr, versions))
            }
            ApiKey::AddPartitionsToTxn => tokio::spawn(round_trip_add_partitions_to_txn(addr, versions)),
            ApiKey::AddOffsetsToTxn => tokio::spawn(round_trip_add_offsets_to_txn(addr, versions)),
            ApiKey::EndTxn => tokio::spawn(round_trip_end_txn(addr, versions)),
            ApiKey::TxnOffsetCommit => tokio::spawn(round_trip_txn_offset_commit(addr, versions)),
            ApiKey::DescribeTransactions => tokio::spawn(round_trip_describe_transactions(addr, versions)),
            ApiKey::ListTransactions => tokio::spawn(round_trip_list_transactions(addr, versions)),
            other => panic!(
                "{other:?} v{}-{} is advertised but tests/protocol_roundtrip.rs has no round trip for it",
                api.min, api.max
            ),
        };
        if let Err(e) = task.await {
            failures.push(format!("{:?}: {}", api.key, panic_message(e)));
        }
    }
    env.stop().await;
    assert!(failures.is_empty(), "round trips failed:\n{}", failures.join("\n"));
}
