//! A round trip of every API in `SUPPORTED_APIS` at every advertised
//! version, against an in-process broker, with the answers checked against
//! what Apache Kafka gives.
//!
//! `every_advertised_api_round_trips_at_every_advertised_version` walks the
//! advertised table itself: an API added to the table without a round trip
//! here fails it. The other tests cover the error paths of each API.

#[path = "roundtrip/admin.rs"]
mod admin;
mod common;
#[path = "roundtrip/replication.rs"]
mod replication;

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
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
use uuid::Uuid;
use weir::record::batch::BatchIter;
use weir::record::records::{decode_records, BatchBuilder, Record};
use weir::wire::client::{decode_response, BrokerClient};
use weir::wire::versions::{PRODUCE_MIN_DECODED, SUPPORTED_APIS};

// Kafka error codes used below (org.apache.kafka.common.protocol.Errors).
const NONE: i16 = 0;
const OFFSET_OUT_OF_RANGE: i16 = 1;
const MESSAGE_TOO_LARGE: i16 = 10;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const LEADER_NOT_AVAILABLE: i16 = 5;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const UNSUPPORTED_VERSION: i16 = 35;
const TOPIC_ALREADY_EXISTS: i16 = 36;
const INVALID_PARTITIONS: i16 = 37;
const INVALID_REPLICATION_FACTOR: i16 = 38;
const INVALID_CONFIG: i16 = 40;
const INVALID_REQUEST: i16 = 42;
const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const UNSUPPORTED_COMPRESSION_TYPE: i16 = 76;
const UNKNOWN_TOPIC_ID: i16 = 100;

// DescribeConfigs config sources and types (KIP-226, KIP-569).
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const DYNAMIC_BROKER_CONFIG: i8 = 2;
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
            topic_metadata(&mut c, &name).await.error_code == UNKNOWN_TOPIC_OR_PARTITION
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
            ApiKey::OffsetForLeaderEpoch => {
                tokio::spawn(replication::round_trip_offset_for_leader_epoch(addr, versions))
            }
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

// ---------------------------------------------------------------------------
// ApiVersions
// ---------------------------------------------------------------------------

fn advertised_table() -> Vec<(i16, i16, i16)> {
    let mut t: Vec<_> = SUPPORTED_APIS.iter().map(|a| (a.key as i16, a.min, a.max)).collect();
    t.sort();
    t
}

fn answered_table(resp: &ApiVersionsResponse) -> Vec<(i16, i16, i16)> {
    let mut t: Vec<_> = resp.api_keys.iter().map(|a| (a.api_key, a.min_version, a.max_version)).collect();
    t.sort();
    t
}

fn api_versions_request(version: i16) -> ApiVersionsRequest {
    let mut req = ApiVersionsRequest::default();
    if version >= 3 {
        req.client_software_name = s("weir-tests");
        req.client_software_version = s("1.0.0");
    }
    req
}

async fn round_trip_api_versions(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    for v in versions {
        let resp: ApiVersionsResponse = c
            .send(ApiKey::ApiVersions, v, &api_versions_request(v))
            .await
            .unwrap_or_else(|e| panic!("ApiVersions v{v}: {e}"));
        assert_eq!(resp.error_code, NONE, "ApiVersions v{v}");
        assert_eq!(answered_table(&resp), advertised_table(), "ApiVersions v{v} api_keys");
        if v >= 3 {
            assert!(!resp.supported_features.is_empty(), "v{v}: supported_features");
            for f in &resp.supported_features {
                assert!(f.min_version >= 1, "v{v}: feature {} min {} < 1", f.name.as_str(), f.min_version);
                assert!(f.max_version >= f.min_version, "v{v}: feature {}", f.name.as_str());
            }
            let mv = resp
                .supported_features
                .iter()
                .find(|f| f.name.as_str() == "metadata.version")
                .expect("metadata.version is a supported feature");
            for f in &resp.finalized_features {
                let sup = resp
                    .supported_features
                    .iter()
                    .find(|s| s.name == f.name)
                    .unwrap_or_else(|| panic!("finalized {} is not supported", f.name.as_str()));
                assert!(f.min_version_level >= sup.min_version && f.max_version_level <= sup.max_version);
            }
            let fin = resp
                .finalized_features
                .iter()
                .find(|f| f.name.as_str() == "metadata.version")
                .expect("metadata.version is finalized");
            assert!(fin.max_version_level >= mv.min_version);
            // Never finalize what is not implemented (FEATURES.md §1).
            for f in &resp.finalized_features {
                match f.name.as_str() {
                    "transaction.version" => {
                        assert!(f.max_version_level < 2, "v{v}: transaction.version {}", f.max_version_level)
                    }
                    "group.version" => panic!("v{v}: group.version must not be finalized"),
                    _ => {}
                }
            }
        } else {
            assert!(resp.supported_features.is_empty());
        }
    }
}

/// An ApiVersions request header at a version the broker does not know.
fn api_versions_frame(version: i16, correlation_id: i32) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_i32(0);
    b.put_i16(ApiKey::ApiVersions as i16);
    b.put_i16(version);
    b.put_i32(correlation_id);
    b.put_i16(4);
    b.put_slice(b"test");
    b.put_u8(0); // header tagged fields (request header v2)
                 // A v3-style body: compact strings, then tagged fields.
    b.put_u8(5);
    b.put_slice(b"java");
    b.put_u8(6);
    b.put_slice(b"9.9.9");
    b.put_u8(0);
    let size = (b.len() - 4) as i32;
    b[..4].copy_from_slice(&size.to_be_bytes());
    b.to_vec()
}

/// Kafka answers an ApiVersions request at an unknown version with
/// UNSUPPORTED_VERSION in the v0 layout, listing its ranges, and keeps the
/// connection open so the client can retry at a version it supports.
#[tokio::test]
async fn api_versions_at_an_unsupported_version_answers_v0_layout_with_the_table() {
    let env = Env::start(&[]).await;
    let mut c = env.client().await;
    for (version, corr) in [(5i16, 7001), (i16::MAX, 7002)] {
        c.write_raw(&api_versions_frame(version, corr)).await.unwrap();
        let frame = tokio::time::timeout(Duration::from_secs(10), c.read_frame())
            .await
            .expect("answer in time")
            .expect("read")
            .expect("the broker answers instead of closing");
        assert_eq!(&frame[..4], &corr.to_be_bytes(), "correlation id");
        let resp: ApiVersionsResponse =
            decode_response(ApiKey::ApiVersions, 0, frame).expect("the answer is a v0-layout ApiVersions response");
        assert_eq!(resp.error_code, UNSUPPORTED_VERSION, "v{version}");
        assert_eq!(answered_table(&resp), advertised_table(), "v{version}");
    }
    // The connection is still usable: the client retries at v3.
    let resp: ApiVersionsResponse = c.send(ApiKey::ApiVersions, 3, &api_versions_request(3)).await.unwrap();
    assert_eq!(resp.error_code, NONE);
    env.stop().await;
}

/// KIP-511: v3+ requires a valid client software name and version.
#[tokio::test]
async fn api_versions_v3_rejects_an_invalid_software_name() {
    let env = Env::start(&[]).await;
    let mut c = env.client().await;
    for v in advertised(ApiKey::ApiVersions).filter(|v| *v >= 3) {
        let req = ApiVersionsRequest::default()
            .with_client_software_name(s("bad name!"))
            .with_client_software_version(s("1.0"));
        let resp: ApiVersionsResponse = c.send(ApiKey::ApiVersions, v, &req).await.unwrap();
        assert_eq!(resp.error_code, INVALID_REQUEST, "v{v}");
    }
    env.stop().await;
}

// ---------------------------------------------------------------------------
// Metadata
// ---------------------------------------------------------------------------

fn assert_single_broker(resp: &MetadataResponse, addr: SocketAddr, v: i16) {
    assert_eq!(resp.brokers.len(), 1, "Metadata v{v}: exactly one broker");
    let b = &resp.brokers[0];
    assert_eq!(b.node_id.0, NODE_ID, "v{v}: broker id");
    assert_eq!(b.host.as_str(), addr.ip().to_string(), "v{v}: broker host");
    assert_eq!(b.port, addr.port() as i32, "v{v}: broker port");
}

fn assert_topic(t: &MetadataResponseTopic, name: &str, partitions: i32, v: i16) {
    assert_eq!(t.error_code, NONE, "Metadata v{v}: {name}");
    assert_eq!(t.name.as_ref().map(|n| n.0.as_str()), Some(name), "v{v}");
    assert!(!t.is_internal);
    let mut indexes: Vec<i32> = t.partitions.iter().map(|p| p.partition_index).collect();
    indexes.sort();
    assert_eq!(indexes, (0..partitions).collect::<Vec<_>>(), "v{v}: partitions of {name}");
    for p in &t.partitions {
        assert_eq!(p.error_code, NONE, "v{v}: partition {}", p.partition_index);
        assert_eq!(p.leader_id.0, NODE_ID, "v{v}: leader");
        assert_eq!(p.replica_nodes, vec![BrokerId(NODE_ID)], "v{v}: replicas");
        assert_eq!(p.isr_nodes, vec![BrokerId(NODE_ID)], "v{v}: isr");
        if v >= 5 {
            assert!(p.offline_replicas.is_empty(), "v{v}: offline replicas");
        }
        if v >= 7 {
            assert!(p.leader_epoch >= 0, "v{v}: leader epoch");
        }
    }
}

async fn round_trip_metadata(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    let name = "rt-metadata";
    let id = create_topic(&mut c, name, 2, &[]).await;
    let mut cluster_ids = HashSet::new();
    for v in versions {
        // By name.
        let req = metadata_request(v, Some(vec![by_name(name)]), false);
        let resp = metadata(&mut c, v, &req).await;
        assert_single_broker(&resp, addr, v);
        if v >= 1 {
            assert_eq!(resp.controller_id.0, NODE_ID, "v{v}: controller is the live broker");
        }
        if v >= 2 {
            let cid = resp.cluster_id.clone().expect("cluster id");
            assert!(!cid.is_empty(), "v{v}: cluster id is empty");
            cluster_ids.insert(cid.to_string());
        }
        if v >= 13 {
            assert_eq!(resp.error_code, NONE);
        }
        assert_eq!(resp.topics.len(), 1, "v{v}");
        assert_topic(&resp.topics[0], name, 2, v);
        if v >= 10 {
            assert_eq!(resp.topics[0].topic_id, id, "v{v}: topic id is the id CreateTopics returned");
        }

        // By id.
        if v >= 12 {
            let req = metadata_request(v, Some(vec![by_id(id)]), false);
            let resp = metadata(&mut c, v, &req).await;
            assert_eq!(resp.topics.len(), 1, "v{v} by id");
            assert_topic(&resp.topics[0], name, 2, v);
            assert_eq!(resp.topics[0].topic_id, id);
            let unknown = metadata_request(v, Some(vec![by_id(Uuid::new_v4())]), false);
            let resp = metadata(&mut c, v, &unknown).await;
            assert_eq!(resp.topics[0].error_code, UNKNOWN_TOPIC_ID, "v{v}: unknown id");
        }

        // All topics: null from v1, empty in v0.
        let all = if v == 0 { Some(Vec::new()) } else { None };
        let resp = metadata(&mut c, v, &metadata_request(v, all, false)).await;
        let t = resp
            .topics
            .iter()
            .find(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some(name))
            .unwrap_or_else(|| panic!("v{v}: {name} missing from all-topics metadata"));
        assert_topic(t, name, 2, v);

        // Unknown topic, auto-creation not allowed (the flag exists from v4).
        if v >= 4 {
            let missing = format!("rt-metadata-missing-v{v}");
            let req = metadata_request(v, Some(vec![by_name(&missing)]), false);
            let resp = metadata(&mut c, v, &req).await;
            assert_eq!(resp.topics.len(), 1);
            assert_eq!(resp.topics[0].error_code, UNKNOWN_TOPIC_OR_PARTITION, "v{v}: {missing}");
            assert_eq!(topic_metadata(&mut c, &missing).await.error_code, UNKNOWN_TOPIC_OR_PARTITION);
        }

        // Authorized operations, when asked for (v8+), are filled in on
        // every entry, unknown topics too: kafka-python decodes them
        // even for an error entry (bit 31 alone is not an operation).
        if v >= 8 {
            let missing = format!("rt-metadata-ops-missing-v{v}");
            let mut req = metadata_request(v, Some(vec![by_name(name), by_name(&missing)]), false);
            req.include_topic_authorized_operations = true;
            let resp = metadata(&mut c, v, &req).await;
            assert_eq!(resp.topics.len(), 2, "v{v}");
            for t in &resp.topics {
                assert!(
                    t.topic_authorized_operations > 0,
                    "v{v}: {:?} authorized operations {:#x}",
                    t.name,
                    t.topic_authorized_operations
                );
            }
            assert_eq!(
                resp.topics[0].topic_authorized_operations, resp.topics[1].topic_authorized_operations,
                "v{v}: no authorizer, so the same operations for every topic"
            );
        }
    }
    assert_eq!(cluster_ids.len(), 1, "cluster id is stable across versions: {cluster_ids:?}");
}

/// Metadata auto-creates an unknown topic when the broker and the request
/// allow it (implicitly before v4).
#[tokio::test]
async fn metadata_auto_creates_topics_when_allowed() {
    let env = Env::start(&[("num.partitions", "2")]).await;
    let mut c = env.client().await;
    for v in advertised(ApiKey::Metadata).filter(|v| *v >= 1) {
        let name = format!("rt-auto-v{v}");
        let resp = metadata(&mut c, v, &metadata_request(v, Some(vec![by_name(&name)]), true)).await;
        let code = resp.topics[0].error_code;
        assert!(code == NONE || code == LEADER_NOT_AVAILABLE, "v{v}: auto-created topic answered {code}");
        let addr = env.addr();
        let n = name.clone();
        common::wait_until(&format!("{name} to exist"), Duration::from_secs(10), || {
            let n = n.clone();
            async move {
                let t = topic_metadata(&mut connect(addr).await, &n).await;
                t.error_code == NONE && t.partitions.len() == 2
            }
        })
        .await;
    }
    env.stop().await;
}

#[tokio::test]
async fn metadata_does_not_auto_create_when_the_broker_forbids_it() {
    let env = Env::start(&[("auto.create.topics.enable", "false")]).await;
    let mut c = env.client().await;
    for v in advertised(ApiKey::Metadata).filter(|v| *v >= 1) {
        let name = format!("rt-no-auto-v{v}");
        let resp = metadata(&mut c, v, &metadata_request(v, Some(vec![by_name(&name)]), true)).await;
        assert_eq!(resp.topics[0].error_code, UNKNOWN_TOPIC_OR_PARTITION, "v{v}");
    }
    env.stop().await;
}

#[tokio::test]
async fn metadata_reports_invalid_topic_names() {
    let env = Env::start(&[]).await;
    let mut c = env.client().await;
    for v in advertised(ApiKey::Metadata).filter(|v| *v >= 4) {
        for allow in [false, true] {
            let resp = metadata(&mut c, v, &metadata_request(v, Some(vec![by_name("bad name")]), allow)).await;
            assert_eq!(resp.topics[0].error_code, INVALID_TOPIC_EXCEPTION, "v{v} allow_auto={allow}");
        }
    }
    env.stop().await;
}

// ---------------------------------------------------------------------------
// CreateTopics
// ---------------------------------------------------------------------------

async fn round_trip_create_topics(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    for v in versions {
        let name = format!("rt-create-v{v}");
        let resp = create_topics(&mut c, v, vec![creatable(&name, 3, 1, &[("retention.ms", "1234")])], false).await;
        assert_eq!(resp.topics.len(), 1);
        let r = &resp.topics[0];
        assert_eq!(r.name.0.as_str(), name);
        assert_eq!(r.error_code, NONE, "CreateTopics v{v}: {:?}", r.error_message);
        if v >= 5 {
            assert_eq!(r.num_partitions, 3, "v{v}: num_partitions");
            assert_eq!(r.replication_factor, 1, "v{v}: replication_factor");
            assert_eq!(r.topic_config_error_code, NONE);
            let configs = r.configs.as_ref().expect("v5+ returns configs");
            let retention =
                configs.iter().find(|c| c.name.as_str() == "retention.ms").expect("retention.ms in configs");
            assert_eq!(retention.value.as_deref(), Some("1234"), "v{v}");
            assert_eq!(retention.config_source, DYNAMIC_TOPIC_CONFIG, "v{v}: retention.ms source");
            let segment =
                configs.iter().find(|c| c.name.as_str() == "segment.bytes").expect("segment.bytes in configs");
            assert_eq!(segment.value.as_deref(), Some("1073741824"));
            assert_eq!(segment.config_source, DEFAULT_CONFIG, "v{v}: segment.bytes source");
        }
        let meta = topic_metadata(&mut c, &name).await;
        assert_topic(&meta, &name, 3, 12);
        if v >= 7 {
            assert!(!r.topic_id.is_nil(), "v{v}: topic id");
            assert_eq!(r.topic_id, meta.topic_id, "v{v}: CreateTopics and Metadata agree on the id");
        }

        // The same name again.
        let again = create_topics(&mut c, v, vec![creatable(&name, 3, 1, &[])], false).await;
        let r = &again.topics[0];
        assert_eq!(r.error_code, TOPIC_ALREADY_EXISTS, "v{v}: repeat");
        assert!(r.error_message.as_ref().is_some_and(|m| !m.is_empty()), "v{v}: error message");
        if v >= 5 {
            assert_eq!((r.num_partitions, r.replication_factor), (-1, -1), "v{v}: failed result fields");
        }
    }
}

#[tokio::test]
async fn create_topics_validate_only_creates_nothing() {
    let env = Env::start(&[]).await;
    let mut c = env.client().await;
    for v in advertised(ApiKey::CreateTopics) {
        let name = format!("rt-validate-v{v}");
        let resp = create_topics(&mut c, v, vec![creatable(&name, 3, 1, &[("retention.ms", "1234")])], true).await;
        let r = &resp.topics[0];
        assert_eq!(r.error_code, NONE, "v{v}: {:?}", r.error_message);
        if v >= 5 {
            assert_eq!((r.num_partitions, r.replication_factor), (3, 1), "v{v}");
        }
        assert_eq!(
            topic_metadata(&mut c, &name).await.error_code,
            UNKNOWN_TOPIC_OR_PARTITION,
            "v{v}: validate_only created {name}"
        );
        // Validation still applies.
        let bad = create_topics(&mut c, v, vec![creatable(&name, 0, 1, &[])], true).await;
        assert_eq!(bad.topics[0].error_code, INVALID_PARTITIONS, "v{v}");
    }
    env.stop().await;
}

#[tokio::test]
async fn create_topics_rejects_invalid_requests_with_kafka_codes() {
    let env = Env::start(&[]).await;
    let mut c = env.client().await;
    let long_name = "x".repeat(250);
    for v in advertised(ApiKey::CreateTopics) {
        let cases: Vec<(CreatableTopic, i16)> = vec![
            (creatable("a b", 1, 1, &[]), INVALID_TOPIC_EXCEPTION),
            (creatable("..", 1, 1, &[]), INVALID_TOPIC_EXCEPTION),
            (creatable(".", 1, 1, &[]), INVALID_TOPIC_EXCEPTION),
            (creatable(&long_name, 1, 1, &[]), INVALID_TOPIC_EXCEPTION),
            (creatable(&format!("rt-zero-v{v}"), 0, 1, &[]), INVALID_PARTITIONS),
            (creatable(&format!("rt-rf3-v{v}"), 1, 3, &[]), INVALID_REPLICATION_FACTOR),
            (creatable(&format!("rt-unknown-config-v{v}"), 1, 1, &[("no.such.config", "1")]), INVALID_CONFIG),
            (creatable(&format!("rt-bad-value-v{v}"), 1, 1, &[("retention.ms", "forever")]), INVALID_CONFIG),
            (creatable(&format!("rt-bad-policy-v{v}"), 1, 1, &[("cleanup.policy", "shred")]), INVALID_CONFIG),
        ];
        let names: Vec<String> = cases.iter().map(|(t, _)| t.name.0.to_string()).collect();
        let resp = create_topics(&mut c, v, cases.iter().map(|(t, _)| t.clone()).collect(), false).await;
        assert_eq!(resp.topics.len(), cases.len());
        for ((topic, expected), r) in cases.iter().zip(&resp.topics) {
            assert_eq!(r.name, topic.name, "v{v}: results in request order");
            assert_eq!(
                r.error_code,
                *expected,
                "CreateTopics v{v} {}: {:?}",
                &topic.name.0[..topic.name.0.len().min(40)],
                r.error_message
            );
            assert_failed_result(r, v);
        }
        for n in names.iter().filter(|n| n.starts_with("rt-")) {
            assert_eq!(topic_metadata(&mut c, n).await.error_code, UNKNOWN_TOPIC_OR_PARTITION, "v{v}: {n} was created");
        }
    }
    env.stop().await;
}

fn assert_failed_result(r: &CreatableTopicResult, v: i16) {
    assert!(r.error_message.as_ref().is_some_and(|m| !m.is_empty()), "v{v}: failed results carry a message");
    if v >= 7 {
        assert!(r.topic_id.is_nil(), "v{v}: failed result has no topic id");
    }
}

// ---------------------------------------------------------------------------
// Produce
// ---------------------------------------------------------------------------

/// A legacy (magic 0/1) message set of one message, as Produce v0-2
/// clients send. The CRC is CRC-32 (IEEE) over magic..end.
fn legacy_message_set(magic: u8, key: Option<&[u8]>, value: &[u8], timestamp: i64) -> Vec<u8> {
    let mut m = Vec::new();
    m.push(magic);
    m.push(0); // attributes: no compression
    if magic >= 1 {
        m.extend_from_slice(&timestamp.to_be_bytes());
    }
    match key {
        None => m.extend_from_slice(&(-1i32).to_be_bytes()),
        Some(k) => {
            m.extend_from_slice(&(k.len() as i32).to_be_bytes());
            m.extend_from_slice(k);
        }
    }
    m.extend_from_slice(&(value.len() as i32).to_be_bytes());
    m.extend_from_slice(value);
    let crc = crc32_ieee(&m);
    let mut out = Vec::new();
    out.extend_from_slice(&0i64.to_be_bytes());
    out.extend_from_slice(&((m.len() + 4) as i32).to_be_bytes());
    out.extend_from_slice(&crc.to_be_bytes());
    out.extend_from_slice(&m);
    out
}

fn crc32_ieee(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// Produce v0-2 (no transactional id), hand-encoded: the codec does not
/// know these versions any more.
fn legacy_produce_frame(version: i16, corr: i32, acks: i16, topic: &str, partition: i32, records: &[u8]) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_i32(0);
    b.put_i16(ApiKey::Produce as i16);
    b.put_i16(version);
    b.put_i32(corr);
    b.put_i16(6);
    b.put_slice(b"legacy");
    b.put_i16(acks);
    b.put_i32(10_000);
    b.put_i32(1);
    b.put_i16(topic.len() as i16);
    b.put_slice(topic.as_bytes());
    b.put_i32(1);
    b.put_i32(partition);
    b.put_i32(records.len() as i32);
    b.put_slice(records);
    let size = (b.len() - 4) as i32;
    b[..4].copy_from_slice(&size.to_be_bytes());
    b.to_vec()
}

/// A big-endian reader over a response frame.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        assert!(self.0.len() >= n, "response truncated");
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        head
    }
    fn i16(&mut self) -> i16 {
        i16::from_be_bytes(self.take(2).try_into().unwrap())
    }
    fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.take(4).try_into().unwrap())
    }
    fn i64(&mut self) -> i64 {
        i64::from_be_bytes(self.take(8).try_into().unwrap())
    }
}

/// Reads a Produce v0-2 response (header v0) and returns
/// (topic, partition, error, base_offset) for its single partition.
fn parse_legacy_produce_response(version: i16, corr: i32, frame: &[u8]) -> (String, i32, i16, i64) {
    let mut r = Reader(frame);
    assert_eq!(r.i32(), corr, "correlation id");
    assert_eq!(r.i32(), 1, "one topic");
    let len = r.i16() as usize;
    let topic = String::from_utf8(r.take(len).to_vec()).unwrap();
    assert_eq!(r.i32(), 1, "one partition");
    let partition = r.i32();
    let error = r.i16();
    let base_offset = r.i64();
    if version >= 2 {
        assert_eq!(r.i64(), -1, "log_append_time");
    }
    if version >= 1 {
        assert_eq!(r.i32(), 0, "throttle_time_ms");
    }
    assert!(r.0.is_empty(), "Produce v{version} response has {} trailing bytes", r.0.len());
    (topic, partition, error, base_offset)
}

async fn round_trip_produce(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    let topic = "rt-produce";
    let id = create_topic(&mut c, topic, 1, &[]).await;
    let mut expected: Vec<String> = Vec::new();
    for v in versions {
        if v < PRODUCE_MIN_DECODED {
            // Advertised for librdkafka's sake (KAFKA-18659) but answered
            // UNSUPPORTED_VERSION per partition in the old layout.
            let corr = 9000 + v as i32;
            let msg = legacy_message_set(if v == 2 { 1 } else { 0 }, None, b"legacy", now_ms());
            c.write_raw(&legacy_produce_frame(v, corr, 1, topic, 0, &msg)).await.unwrap();
            let frame = c.read_frame().await.unwrap().expect("Produce v0-2 is answered");
            let (t, p, error, base) = parse_legacy_produce_response(v, corr, &frame);
            assert_eq!((t.as_str(), p), (topic, 0));
            assert_eq!(error, UNSUPPORTED_VERSION, "Produce v{v}");
            assert_eq!(base, -1);
            continue;
        }
        for acks in [1i16, -1] {
            let values: Vec<String> = (0..3).map(|i| format!("v{v}-acks{acks}-{i}")).collect();
            let refs: Vec<&str> = values.iter().map(String::as_str).collect();
            let p = produce(&mut c, v, acks, topic, 0, batch(&refs, now_ms())).await;
            assert_eq!(p.error_code, NONE, "Produce v{v} acks={acks}: {:?}", p.error_message);
            assert_eq!(p.base_offset, expected.len() as i64, "Produce v{v} acks={acks}: base offset");
            assert_eq!(p.log_append_time_ms, -1, "CreateTime topic");
            if v >= 5 {
                assert_eq!(p.log_start_offset, 0, "v{v}: log start offset");
            }
            if v >= 8 {
                assert!(p.record_errors.is_empty());
                assert_eq!(p.error_message, None);
            }
            expected.extend(values);
        }
    }
    // Nothing from v0-2 was appended; everything else reads back in order.
    assert_eq!(latest_offset(&mut c, topic).await, expected.len() as i64);
    let data = fetch(&mut c, 13, topic, id, 0).await;
    let got: Vec<String> = fetched_records(&data).iter().map(value_of).collect();
    assert_eq!(got, expected);
}

/// Sets the compression bits of a built batch, replacing its records with
/// `payload`, and recomputes length and CRC-32C.
fn with_compression(batch: &[u8], codec: i16, payload: &[u8]) -> Bytes {
    let mut b = batch[..61].to_vec();
    b.extend_from_slice(payload);
    let len = (b.len() - 12) as i32;
    b[8..12].copy_from_slice(&len.to_be_bytes());
    let attributes = (i16::from_be_bytes([b[21], b[22]]) & !0x07) | codec;
    b[21..23].copy_from_slice(&attributes.to_be_bytes());
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(b)
}

fn zstd_batch(values: &[&str]) -> Bytes {
    let plain = batch(values, now_ms());
    let compressed = zstd::encode_all(&plain[61..], 3).expect("zstd");
    with_compression(&plain, 4, &compressed)
}

/// ZStandard needs Produce v7+ (KIP-110): older versions get
/// UNSUPPORTED_COMPRESSION_TYPE; v7+ stores the batch as sent.
#[tokio::test]
async fn produce_zstd_needs_v7() {
    let env = Env::start(&[]).await;
    let mut c = env.client().await;
    let topic = "rt-zstd";
    let id = create_topic(&mut c, topic, 1, &[]).await;
    let mut expected = Vec::new();
    for v in advertised(ApiKey::Produce).filter(|v| *v >= PRODUCE_MIN_DECODED) {
        let values = [format!("zstd-v{v}-0"), format!("zstd-v{v}-1")];
        let p = produce(&mut c, v, 1, topic, 0, zstd_batch(&[&values[0], &values[1]])).await;
        if v < 7 {
            assert_eq!(p.error_code, UNSUPPORTED_COMPRESSION_TYPE, "Produce v{v} with zstd");
        } else {
            assert_eq!(p.error_code, NONE, "Produce v{v} with zstd: {:?}", p.error_message);
            assert_eq!(p.base_offset, expected.len() as i64);
            expected.extend(values);
        }
    }
    let data = fetch(&mut c, 13, topic, id, 0).await;
    let got: Vec<String> = fetched_records(&data).iter().map(value_of).collect();
    assert_eq!(got, expected, "zstd batches read back");
    env.stop().await;
}

// ---------------------------------------------------------------------------
// Fetch
// ---------------------------------------------------------------------------

async fn round_trip_fetch(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    let topic = "rt-fetch";
    let id = create_topic(&mut c, topic, 1, &[]).await;
    let values = ["f0", "f1", "f2", "f3", "f4", "f5"];
    for pair in values.chunks(2) {
        produce_ok(&mut c, topic, batch(pair, now_ms())).await;
    }
    for v in versions {
        let p = fetch(&mut c, v, topic, id, 0).await;
        assert_eq!(p.error_code, NONE, "Fetch v{v}");
        assert_eq!(p.high_watermark, 6, "v{v}: high watermark");
        assert_eq!(p.last_stable_offset, 6, "v{v}: last stable offset");
        if v >= 5 {
            assert_eq!(p.log_start_offset, 0, "v{v}: log start offset");
        }
        let records = fetched_records(&p);
        let got: Vec<String> = records.iter().map(value_of).collect();
        assert_eq!(got, values, "Fetch v{v} from 0");
        assert_eq!(records.iter().map(|r| r.offset).collect::<Vec<_>>(), (0..6).collect::<Vec<_>>());

        // From the middle: the batch holding offset 2 onwards.
        let p = fetch(&mut c, v, topic, id, 2).await;
        let records = fetched_records(&p);
        assert_eq!(records.first().map(|r| r.offset), Some(2), "Fetch v{v} from 2");
        assert_eq!(records.iter().map(value_of).collect::<Vec<_>>(), &values[2..]);

        // At the end: nothing, after at most max_wait_ms.
        let p = fetch(&mut c, v, topic, id, 6).await;
        assert_eq!(p.error_code, NONE);
        assert!(fetched_records(&p).is_empty(), "Fetch v{v} at the log end");

        // Past the end.
        let p = fetch(&mut c, v, topic, id, 7).await;
        assert_eq!(p.error_code, OFFSET_OUT_OF_RANGE, "Fetch v{v} past the log end");
    }
}

#[tokio::test]
async fn fetch_unknown_topics_answer_by_version() {
    let env = Env::start(&[]).await;
    let mut c = env.client().await;
    for v in advertised(ApiKey::Fetch) {
        let resp: FetchResponse =
            c.send(ApiKey::Fetch, v, &fetch_request(v, "rt-no-such-topic", Uuid::new_v4(), 0, 0, 0)).await.unwrap();
        let code = resp.responses[0].partitions[0].error_code;
        let expected = if v >= 13 { UNKNOWN_TOPIC_ID } else { UNKNOWN_TOPIC_OR_PARTITION };
        assert_eq!(code, expected, "Fetch v{v} of an unknown topic");
    }
    env.stop().await;
}

// ---------------------------------------------------------------------------
// ListOffsets
// ---------------------------------------------------------------------------

async fn round_trip_list_offsets(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    let topic = "rt-list-offsets";
    create_topic(&mut c, topic, 1, &[]).await;
    let base = now_ms() - 60_000;
    // Offsets 0..=4; the largest timestamp is at offset 2, not at the end.
    produce_ok(&mut c, topic, batch_at([("a", base), ("b", base + 10), ("c", base + 100)])).await;
    produce_ok(&mut c, topic, batch_at([("d", base + 20), ("e", base + 30)])).await;
    let epoch = topic_metadata(&mut c, topic).await.partitions[0].leader_epoch;
    for v in versions {
        let p = list_offset(&mut c, v, topic, EARLIEST).await;
        assert_eq!((p.error_code, p.offset, p.timestamp), (NONE, 0, -1), "ListOffsets v{v} earliest");

        let p = list_offset(&mut c, v, topic, LATEST).await;
        assert_eq!((p.error_code, p.offset, p.timestamp), (NONE, 5, -1), "ListOffsets v{v} latest");
        if v >= 4 {
            assert_eq!(p.leader_epoch, epoch, "v{v}: latest carries the leader epoch");
        }

        let p = list_offset(&mut c, v, topic, base).await;
        assert_eq!((p.error_code, p.offset, p.timestamp), (NONE, 0, base), "ListOffsets v{v} at the first timestamp");

        let p = list_offset(&mut c, v, topic, base + 5).await;
        assert_eq!((p.error_code, p.offset, p.timestamp), (NONE, 1, base + 10), "ListOffsets v{v} by timestamp");
        if v >= 4 {
            assert_eq!(p.leader_epoch, epoch, "v{v}: epoch of the found batch");
        }

        let p = list_offset(&mut c, v, topic, base + 101).await;
        assert_eq!((p.error_code, p.offset, p.timestamp), (NONE, -1, -1), "ListOffsets v{v} after every timestamp");

        if v >= 7 {
            let p = list_offset(&mut c, v, topic, MAX_TIMESTAMP).await;
            assert_eq!((p.error_code, p.offset, p.timestamp), (NONE, 2, base + 100), "ListOffsets v{v} max timestamp");
        }
    }
}

#[tokio::test]
async fn list_offsets_of_an_unknown_topic() {
    let env = Env::start(&[]).await;
    let mut c = env.client().await;
    for v in advertised(ApiKey::ListOffsets) {
        let p = list_offset(&mut c, v, "rt-no-such-topic", LATEST).await;
        assert_eq!(p.error_code, UNKNOWN_TOPIC_OR_PARTITION, "ListOffsets v{v}");
        assert_eq!(p.offset, -1);
    }
    env.stop().await;
}

// ---------------------------------------------------------------------------
// DeleteTopics
// ---------------------------------------------------------------------------

async fn delete_topics(c: &mut BrokerClient, v: i16, names: &[&str], ids: &[Uuid]) -> DeleteTopicsResponse {
    let mut req = DeleteTopicsRequest::default().with_timeout_ms(10_000);
    if v >= 6 {
        req.topics = names
            .iter()
            .map(|n| DeleteTopicState::default().with_name(Some(tn(n))))
            .chain(ids.iter().map(|id| DeleteTopicState::default().with_name(None).with_topic_id(*id)))
            .collect();
    } else {
        assert!(ids.is_empty(), "DeleteTopics by id needs v6");
        req.topic_names = names.iter().map(|n| tn(n)).collect();
    }
    c.send(ApiKey::DeleteTopics, v, &req).await.unwrap_or_else(|e| panic!("DeleteTopics v{v}: {e}"))
}

async fn round_trip_delete_topics(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    for v in versions {
        let name = format!("rt-delete-v{v}");
        let id = create_topic(&mut c, &name, 2, &[]).await;
        let resp = delete_topics(&mut c, v, &[&name], &[]).await;
        assert_eq!(resp.responses.len(), 1);
        let r = &resp.responses[0];
        assert_eq!(r.error_code, NONE, "DeleteTopics v{v}: {:?}", r.error_message);
        assert_eq!(r.name.as_ref().map(|n| n.0.as_str()), Some(name.as_str()));
        if v >= 6 {
            assert_eq!(r.topic_id, id, "v{v}: deleted topic's id");
        }
        wait_until_unknown(addr, &name).await;

        let resp = delete_topics(&mut c, v, &[&format!("rt-never-created-v{v}")], &[]).await;
        assert_eq!(resp.responses[0].error_code, UNKNOWN_TOPIC_OR_PARTITION, "v{v}: unknown name");

        if v >= 6 {
            let name = format!("rt-delete-by-id-v{v}");
            let id = create_topic(&mut c, &name, 1, &[]).await;
            let resp = delete_topics(&mut c, v, &[], &[id]).await;
            let r = &resp.responses[0];
            assert_eq!(r.error_code, NONE, "v{v} by id: {:?}", r.error_message);
            assert_eq!(r.topic_id, id);
            assert_eq!(r.name.as_ref().map(|n| n.0.as_str()), Some(name.as_str()), "v{v}: by id answers the name");
            wait_until_unknown(addr, &name).await;

            let resp = delete_topics(&mut c, v, &[], &[Uuid::new_v4()]).await;
            assert_eq!(resp.responses[0].error_code, UNKNOWN_TOPIC_ID, "v{v}: unknown id");
        }
    }
}

// ---------------------------------------------------------------------------
// DeleteRecords
// ---------------------------------------------------------------------------

async fn delete_records(c: &mut BrokerClient, v: i16, topic: &str, offset: i64) -> DeleteRecordsPartitionResult {
    let req = DeleteRecordsRequest::default().with_timeout_ms(10_000).with_topics(vec![DeleteRecordsTopic::default()
        .with_name(tn(topic))
        .with_partitions(vec![DeleteRecordsPartition::default().with_partition_index(0).with_offset(offset)])]);
    let resp: DeleteRecordsResponse =
        c.send(ApiKey::DeleteRecords, v, &req).await.unwrap_or_else(|e| panic!("DeleteRecords v{v}: {e}"));
    assert_eq!(resp.topics.len(), 1);
    assert_eq!(resp.topics[0].name.0.as_str(), topic);
    assert_eq!(resp.topics[0].partitions.len(), 1);
    let p = resp.topics[0].partitions[0].clone();
    assert_eq!(p.partition_index, 0);
    p
}

async fn round_trip_delete_records(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    for v in versions {
        let topic = format!("rt-delete-records-v{v}");
        let id = create_topic(&mut c, &topic, 1, &[]).await;
        produce_ok(&mut c, &topic, batch(&["r0", "r1"], now_ms())).await;
        produce_ok(&mut c, &topic, batch(&["r2", "r3", "r4"], now_ms())).await;

        let p = delete_records(&mut c, v, &topic, 2).await;
        assert_eq!((p.error_code, p.low_watermark), (NONE, 2), "DeleteRecords v{v} to 2");
        let earliest = list_offset(&mut c, 7, &topic, EARLIEST).await;
        assert_eq!(earliest.offset, 2, "v{v}: ListOffsets earliest after DeleteRecords");
        let below = fetch(&mut c, 12, &topic, id, 0).await;
        assert_eq!(below.error_code, OFFSET_OUT_OF_RANGE, "v{v}: fetch below the log start");
        let from = fetch(&mut c, 12, &topic, id, 2).await;
        assert_eq!(from.log_start_offset, 2);
        let values: Vec<String> = fetched_records(&from).iter().map(value_of).collect();
        assert_eq!(values, ["r2", "r3", "r4"], "v{v}: what is left");

        // Moving backwards is a no-op that reports the current start.
        let p = delete_records(&mut c, v, &topic, 1).await;
        assert_eq!((p.error_code, p.low_watermark), (NONE, 2), "DeleteRecords v{v} to 1");
        // -1: up to the high watermark.
        let p = delete_records(&mut c, v, &topic, -1).await;
        assert_eq!((p.error_code, p.low_watermark), (NONE, 5), "DeleteRecords v{v} to -1");
        assert_eq!(list_offset(&mut c, 7, &topic, EARLIEST).await.offset, 5);
        // Beyond the high watermark.
        let p = delete_records(&mut c, v, &topic, 6).await;
        assert_eq!((p.error_code, p.low_watermark), (OFFSET_OUT_OF_RANGE, -1), "DeleteRecords v{v} past the end");

        let p = delete_records(&mut c, v, "rt-no-such-topic", 0).await;
        assert_eq!((p.error_code, p.low_watermark), (UNKNOWN_TOPIC_OR_PARTITION, -1), "v{v}: unknown topic");
    }
}

// ---------------------------------------------------------------------------
// AlterConfigs and IncrementalAlterConfigs
// ---------------------------------------------------------------------------

/// AlterConfigs of one resource; returns (error code, message).
async fn alter_configs(
    c: &mut BrokerClient,
    v: i16,
    resource_type: i8,
    name: &str,
    configs: &[(&str, &str)],
    validate_only: bool,
) -> (i16, Option<String>) {
    let req = AlterConfigsRequest::default().with_validate_only(validate_only).with_resources(vec![
        AlterConfigsResource::default().with_resource_type(resource_type).with_resource_name(s(name)).with_configs(
            configs
                .iter()
                .map(|(k, val)| AlterableConfig::default().with_name(s(k)).with_value(Some(s(val))))
                .collect(),
        ),
    ]);
    let resp: AlterConfigsResponse =
        c.send(ApiKey::AlterConfigs, v, &req).await.unwrap_or_else(|e| panic!("AlterConfigs v{v}: {e}"));
    assert_eq!(resp.responses.len(), 1);
    let r = &resp.responses[0];
    assert_eq!((r.resource_type, r.resource_name.as_str()), (resource_type, name));
    (r.error_code, r.error_message.as_ref().map(|m| m.to_string()))
}

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

/// IncrementalAlterConfigs of one resource; returns (error code, message).
async fn incremental_alter(
    c: &mut BrokerClient,
    v: i16,
    resource_type: i8,
    name: &str,
    ops: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> (i16, Option<String>) {
    let req = IncrementalAlterConfigsRequest::default().with_validate_only(validate_only).with_resources(vec![
        incremental::AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(s(name))
            .with_configs(
                ops.iter()
                    .map(|(k, op, val)| {
                        incremental::AlterableConfig::default()
                            .with_name(s(k))
                            .with_config_operation(*op)
                            .with_value(val.map(s))
                    })
                    .collect(),
            ),
    ]);
    let resp: IncrementalAlterConfigsResponse = c
        .send(ApiKey::IncrementalAlterConfigs, v, &req)
        .await
        .unwrap_or_else(|e| panic!("IncrementalAlterConfigs v{v}: {e}"));
    assert_eq!(resp.responses.len(), 1);
    let r = &resp.responses[0];
    assert_eq!((r.resource_type, r.resource_name.as_str()), (resource_type, name));
    (r.error_code, r.error_message.as_ref().map(|m| m.to_string()))
}

/// (value, source) of one config of a resource (DescribeConfigs v4).
async fn described(c: &mut BrokerClient, resource_type: i8, name: &str, key: &str) -> (Option<String>, i8) {
    let r = describe_configs(c, 4, resource_type, name, Some(&[key]), false).await;
    assert_eq!(r.error_code, NONE, "DescribeConfigs {name}: {:?}", r.error_message);
    let e = config(&r, key);
    (e.value.as_ref().map(|v| v.to_string()), e.config_source)
}

fn dynamic(v: &str) -> (Option<String>, i8) {
    (Some(v.to_string()), DYNAMIC_TOPIC_CONFIG)
}

fn default_value(v: &str) -> (Option<String>, i8) {
    (Some(v.to_string()), DEFAULT_CONFIG)
}

async fn round_trip_alter_configs(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    for v in versions {
        let topic = format!("rt-alter-v{v}");
        create_topic(&mut c, &topic, 1, &[("retention.ms", "1234")]).await;
        let big = "x".repeat(2048);

        let set = [("retention.ms", "5000"), ("max.message.bytes", "1024")];
        assert_eq!(
            alter_configs(&mut c, v, RESOURCE_TOPIC, &topic, &set, false).await,
            (NONE, None),
            "AlterConfigs v{v}"
        );
        assert_eq!(described(&mut c, RESOURCE_TOPIC, &topic, "retention.ms").await, dynamic("5000"), "v{v}");
        assert_eq!(described(&mut c, RESOURCE_TOPIC, &topic, "max.message.bytes").await, dynamic("1024"), "v{v}");
        // Applied to the live log.
        let p = produce(&mut c, 9, 1, &topic, 0, batch(&[&big], now_ms())).await;
        assert_eq!(p.error_code, MESSAGE_TOO_LARGE, "v{v}: max.message.bytes=1024 is enforced");

        // AlterConfigs replaces the whole set of dynamic configs.
        let set = [("segment.bytes", "2097152")];
        assert_eq!(alter_configs(&mut c, v, RESOURCE_TOPIC, &topic, &set, false).await.0, NONE, "v{v}");
        assert_eq!(described(&mut c, RESOURCE_TOPIC, &topic, "segment.bytes").await, dynamic("2097152"), "v{v}");
        assert_eq!(
            described(&mut c, RESOURCE_TOPIC, &topic, "retention.ms").await,
            default_value("604800000"),
            "v{v}: replaced"
        );
        assert_eq!(
            described(&mut c, RESOURCE_TOPIC, &topic, "max.message.bytes").await,
            default_value("1048588"),
            "v{v}: replaced"
        );
        let p = produce(&mut c, 9, 1, &topic, 0, batch(&[&big], now_ms())).await;
        assert_eq!(p.error_code, NONE, "v{v}: the default max.message.bytes applies again");

        // validate_only changes nothing.
        let (code, _) = alter_configs(&mut c, v, RESOURCE_TOPIC, &topic, &[("retention.ms", "1")], true).await;
        assert_eq!(code, NONE, "v{v}: validate_only");
        assert_eq!(
            described(&mut c, RESOURCE_TOPIC, &topic, "retention.ms").await,
            default_value("604800000"),
            "v{v}: validate_only"
        );

        // Errors leave the configs as they were.
        for bad in [[("retention.ms", "soon")], [("no.such.config", "1")]] {
            let (code, msg) = alter_configs(&mut c, v, RESOURCE_TOPIC, &topic, &bad, false).await;
            assert_eq!(code, INVALID_CONFIG, "v{v}: {bad:?}");
            assert!(msg.is_some_and(|m| !m.is_empty()), "v{v}: error message");
        }
        assert_eq!(
            described(&mut c, RESOURCE_TOPIC, &topic, "segment.bytes").await,
            dynamic("2097152"),
            "v{v}: unchanged by errors"
        );
        let (code, _) =
            alter_configs(&mut c, v, RESOURCE_TOPIC, "rt-no-such-topic", &[("retention.ms", "1")], false).await;
        assert_eq!(code, UNKNOWN_TOPIC_OR_PARTITION, "v{v}: unknown topic");
    }
}

async fn round_trip_incremental_alter_configs(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    for v in versions {
        let topic = format!("rt-incremental-v{v}");
        create_topic(&mut c, &topic, 1, &[]).await;
        let ok = (NONE, None);

        let r =
            incremental_alter(&mut c, v, RESOURCE_TOPIC, &topic, &[("retention.ms", SET, Some("7000"))], false).await;
        assert_eq!(r, ok, "IncrementalAlterConfigs v{v} SET");
        let r =
            incremental_alter(&mut c, v, RESOURCE_TOPIC, &topic, &[("max.message.bytes", SET, Some("4096"))], false)
                .await;
        assert_eq!(r, ok, "v{v} SET");
        assert_eq!(described(&mut c, RESOURCE_TOPIC, &topic, "retention.ms").await, dynamic("7000"), "v{v}: kept");
        assert_eq!(described(&mut c, RESOURCE_TOPIC, &topic, "max.message.bytes").await, dynamic("4096"), "v{v}");

        let r = incremental_alter(&mut c, v, RESOURCE_TOPIC, &topic, &[("retention.ms", DELETE, None)], false).await;
        assert_eq!(r, ok, "v{v} DELETE");
        assert_eq!(
            described(&mut c, RESOURCE_TOPIC, &topic, "retention.ms").await,
            default_value("604800000"),
            "v{v}: deleted"
        );
        assert_eq!(
            described(&mut c, RESOURCE_TOPIC, &topic, "max.message.bytes").await,
            dynamic("4096"),
            "v{v}: untouched"
        );

        let r =
            incremental_alter(&mut c, v, RESOURCE_TOPIC, &topic, &[("cleanup.policy", APPEND, Some("compact"))], false)
                .await;
        assert_eq!(r, ok, "v{v} APPEND");
        assert_eq!(
            described(&mut c, RESOURCE_TOPIC, &topic, "cleanup.policy").await,
            dynamic("delete,compact"),
            "v{v}"
        );
        let r = incremental_alter(
            &mut c,
            v,
            RESOURCE_TOPIC,
            &topic,
            &[("cleanup.policy", SUBTRACT, Some("delete"))],
            false,
        )
        .await;
        assert_eq!(r, ok, "v{v} SUBTRACT");
        assert_eq!(described(&mut c, RESOURCE_TOPIC, &topic, "cleanup.policy").await, dynamic("compact"), "v{v}");

        // validate_only changes nothing.
        let r = incremental_alter(&mut c, v, RESOURCE_TOPIC, &topic, &[("retention.ms", SET, Some("1"))], true).await;
        assert_eq!(r, ok, "v{v}: validate_only");
        assert_eq!(
            described(&mut c, RESOURCE_TOPIC, &topic, "retention.ms").await,
            default_value("604800000"),
            "v{v}: validate_only"
        );

        // Errors.
        let cases: [(&str, i8, Option<&str>); 3] = [
            ("retention.ms", APPEND, Some("1")),
            ("retention.ms", SET, Some("soon")),
            ("no.such.config", SET, Some("1")),
        ];
        for case in cases {
            let (code, msg) = incremental_alter(&mut c, v, RESOURCE_TOPIC, &topic, &[case], false).await;
            assert_eq!(code, INVALID_CONFIG, "v{v}: {case:?}");
            assert!(msg.is_some_and(|m| !m.is_empty()), "v{v}: error message");
        }
        let (code, _) = incremental_alter(
            &mut c,
            v,
            RESOURCE_TOPIC,
            "rt-no-such-topic",
            &[("retention.ms", SET, Some("1"))],
            false,
        )
        .await;
        assert_eq!(code, UNKNOWN_TOPIC_OR_PARTITION, "v{v}: unknown topic");

        // A per-broker dynamic config: seen on the broker and, through the
        // synonym, on topics without an override.
        let broker = NODE_ID.to_string();
        let r = incremental_alter(
            &mut c,
            v,
            RESOURCE_BROKER,
            &broker,
            &[("log.retention.ms", SET, Some("123456789"))],
            false,
        )
        .await;
        assert_eq!(r, ok, "v{v}: broker SET");
        assert_eq!(
            described(&mut c, RESOURCE_BROKER, &broker, "log.retention.ms").await,
            (Some("123456789".into()), DYNAMIC_BROKER_CONFIG),
            "v{v}: broker config"
        );
        assert_eq!(
            described(&mut c, RESOURCE_TOPIC, &topic, "retention.ms").await,
            (Some("123456789".into()), DYNAMIC_BROKER_CONFIG),
            "v{v}: topic default follows the broker"
        );
        let r =
            incremental_alter(&mut c, v, RESOURCE_BROKER, &broker, &[("log.retention.ms", DELETE, None)], false).await;
        assert_eq!(r, ok, "v{v}: broker DELETE");
        assert_eq!(described(&mut c, RESOURCE_TOPIC, &topic, "retention.ms").await, default_value("604800000"), "v{v}");
    }
}

// ---------------------------------------------------------------------------
// InitProducerId and idempotence
// ---------------------------------------------------------------------------

async fn init_producer_id(c: &mut BrokerClient, v: i16) -> (i64, i16) {
    let req = InitProducerIdRequest::default().with_transactional_id(None).with_transaction_timeout_ms(60_000);
    let resp: InitProducerIdResponse =
        c.send(ApiKey::InitProducerId, v, &req).await.unwrap_or_else(|e| panic!("InitProducerId v{v}: {e}"));
    assert_eq!(resp.error_code, NONE, "InitProducerId v{v}");
    (resp.producer_id.0, resp.producer_epoch)
}

async fn round_trip_init_producer_id(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    let mut seen = HashSet::new();
    for v in versions {
        let (pid, epoch) = init_producer_id(&mut c, v).await;
        assert!(pid >= 0, "v{v}: producer id {pid}");
        assert_eq!(epoch, 0, "v{v}: a new idempotent producer starts at epoch 0");
        assert!(seen.insert(pid), "v{v}: producer id {pid} handed out twice");
    }
}

#[tokio::test]
async fn idempotent_duplicate_batch_gets_its_original_offset() {
    let env = Env::start(&[]).await;
    let mut c = env.client().await;
    let topic = "rt-idem-dup";
    create_topic(&mut c, topic, 1, &[]).await;
    let (pid, epoch) = init_producer_id(&mut c, 4).await;
    produce_ok(&mut c, topic, batch(&["warm-up"], now_ms())).await;
    let first = idempotent_batch(&["a", "b", "c"], pid, epoch, 0);
    assert_eq!(produce_ok(&mut c, topic, first.clone()).await, 1);
    // The retry of the very same batch: acknowledged with the original offset.
    for v in advertised(ApiKey::Produce).filter(|v| *v >= PRODUCE_MIN_DECODED) {
        let p = produce(&mut c, v, -1, topic, 0, first.clone()).await;
        assert_eq!(p.error_code, NONE, "duplicate at v{v}: {:?}", p.error_message);
        assert_eq!(p.base_offset, 1, "duplicate at v{v} gets the original base offset");
    }
    assert_eq!(latest_offset(&mut c, topic).await, 4, "the duplicate was not appended");
    assert_eq!(produce_ok(&mut c, topic, idempotent_batch(&["d"], pid, epoch, 3)).await, 4);
    assert_eq!(latest_offset(&mut c, topic).await, 5);
    env.stop().await;
}

#[tokio::test]
async fn idempotent_sequence_gap_is_out_of_order() {
    let env = Env::start(&[]).await;
    let mut c = env.client().await;
    let topic = "rt-idem-gap";
    create_topic(&mut c, topic, 1, &[]).await;
    let (pid, epoch) = init_producer_id(&mut c, 4).await;
    assert_eq!(produce_ok(&mut c, topic, idempotent_batch(&["a", "b"], pid, epoch, 0)).await, 0);
    let p = produce(&mut c, 9, -1, topic, 0, idempotent_batch(&["z"], pid, epoch, 5)).await;
    assert_eq!(p.error_code, OUT_OF_ORDER_SEQUENCE_NUMBER, "sequence 5 after 1");
    assert_eq!(latest_offset(&mut c, topic).await, 2);
    // The expected sequence still works.
    assert_eq!(produce_ok(&mut c, topic, idempotent_batch(&["c"], pid, epoch, 2)).await, 2);
    env.stop().await;
}

#[tokio::test]
async fn idempotent_older_epoch_is_fenced() {
    let env = Env::start(&[]).await;
    let mut c = env.client().await;
    let topic = "rt-idem-epoch";
    create_topic(&mut c, topic, 1, &[]).await;
    let (pid, _) = init_producer_id(&mut c, 4).await;
    assert_eq!(produce_ok(&mut c, topic, idempotent_batch(&["a"], pid, 0, 0)).await, 0);
    assert_eq!(produce_ok(&mut c, topic, idempotent_batch(&["b"], pid, 1, 0)).await, 1);
    let p = produce(&mut c, 9, -1, topic, 0, idempotent_batch(&["c"], pid, 0, 1)).await;
    assert_eq!(p.error_code, INVALID_PRODUCER_EPOCH, "epoch 0 after epoch 1");
    assert_eq!(latest_offset(&mut c, topic).await, 2);
    env.stop().await;
}

// ---------------------------------------------------------------------------
// DescribeConfigs
// ---------------------------------------------------------------------------

async fn round_trip_describe_configs(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    let topic = "rt-describe-configs";
    create_topic(&mut c, topic, 1, &[("retention.ms", "1234")]).await;
    for v in versions {
        let r = describe_configs(&mut c, v, RESOURCE_TOPIC, topic, None, true).await;
        assert_eq!(r.error_code, NONE, "DescribeConfigs v{v}: {:?}", r.error_message);
        let names: HashSet<&str> = r.configs.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names.len(), r.configs.len(), "v{v}: each config once");
        let expected: BTreeMap<&str, (&str, i8, i8)> = [
            ("retention.ms", ("1234", DYNAMIC_TOPIC_CONFIG, TYPE_LONG)),
            ("min.insync.replicas", ("1", DEFAULT_CONFIG, TYPE_INT)),
            ("segment.bytes", ("1073741824", DEFAULT_CONFIG, TYPE_INT)),
            ("cleanup.policy", ("delete", DEFAULT_CONFIG, TYPE_LIST)),
            ("max.message.bytes", ("1048588", DEFAULT_CONFIG, TYPE_INT)),
            ("message.timestamp.type", ("CreateTime", DEFAULT_CONFIG, TYPE_STRING)),
        ]
        .into_iter()
        .collect();
        for (name, (value, source, ty)) in &expected {
            let e = config(&r, name);
            assert_eq!(e.value.as_deref(), Some(*value), "v{v}: {name}");
            assert_eq!(e.config_source, *source, "v{v}: {name} source");
            assert!(!e.is_sensitive && !e.read_only, "v{v}: {name} flags");
            if v >= 3 {
                assert_eq!(e.config_type, *ty, "v{v}: {name} type");
                assert!(e.documentation.as_ref().is_some_and(|d| !d.is_empty()), "v{v}: {name} documentation");
            }
            // Synonyms, most specific first, ending at the default.
            assert!(!e.synonyms.is_empty(), "v{v}: {name} synonyms");
            assert!(e.synonyms.iter().any(|s| s.source == DEFAULT_CONFIG), "v{v}: {name} default synonym");
        }
        let retention = config(&r, "retention.ms");
        let first = &retention.synonyms[0];
        assert_eq!(
            (first.name.as_str(), first.value.as_deref(), first.source),
            ("retention.ms", Some("1234"), DYNAMIC_TOPIC_CONFIG),
            "v{v}"
        );
        let segment = config(&r, "segment.bytes");
        assert!(
            segment
                .synonyms
                .iter()
                .any(|s| s.name.as_str() == "log.segment.bytes" && s.value.as_deref() == Some("1073741824")),
            "v{v}: segment.bytes synonym log.segment.bytes"
        );

        // Without synonyms; with a key filter.
        let r =
            describe_configs(&mut c, v, RESOURCE_TOPIC, topic, Some(&["retention.ms", "segment.bytes"]), false).await;
        assert_eq!(r.error_code, NONE);
        let mut names: Vec<&str> = r.configs.iter().map(|c| c.name.as_str()).collect();
        names.sort();
        assert_eq!(names, ["retention.ms", "segment.bytes"], "v{v}: configuration_keys filter");
        assert!(r.configs.iter().all(|c| c.synonyms.is_empty()), "v{v}: no synonyms unless asked");

        // The broker.
        let r = describe_configs(&mut c, v, RESOURCE_BROKER, &NODE_ID.to_string(), None, true).await;
        assert_eq!(r.error_code, NONE, "v{v}: broker configs: {:?}", r.error_message);
        let max_bytes = config(&r, "socket.request.max.bytes");
        assert_eq!((max_bytes.value.as_deref(), max_bytes.config_source), (Some("104857600"), DEFAULT_CONFIG), "v{v}");
        let log_dirs = config(&r, "log.dirs");
        assert_eq!(log_dirs.config_source, STATIC_BROKER_CONFIG, "v{v}: log.dirs is set in the broker's properties");
        assert_eq!(config(&r, "num.partitions").value.as_deref(), Some("1"));

        // Unknown topic.
        let r = describe_configs(&mut c, v, RESOURCE_TOPIC, "rt-no-such-topic", None, false).await;
        assert_eq!(r.error_code, UNKNOWN_TOPIC_OR_PARTITION, "v{v}: unknown topic");
        assert!(r.configs.is_empty());
    }
}

// ---------------------------------------------------------------------------
// DescribeCluster
// ---------------------------------------------------------------------------

async fn round_trip_describe_cluster(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    let cluster_id =
        metadata(&mut c, 12, &metadata_request(12, Some(Vec::new()), false)).await.cluster_id.expect("cluster id");
    for v in versions {
        let mut req = DescribeClusterRequest::default();
        if v >= 2 {
            req.include_fenced_brokers = true;
        }
        let resp: DescribeClusterResponse =
            c.send(ApiKey::DescribeCluster, v, &req).await.unwrap_or_else(|e| panic!("DescribeCluster v{v}: {e}"));
        assert_eq!(resp.error_code, NONE, "DescribeCluster v{v}: {:?}", resp.error_message);
        assert_eq!(resp.cluster_id, cluster_id, "v{v}: same cluster id as Metadata");
        assert_eq!(resp.controller_id.0, NODE_ID, "v{v}: controller id");
        assert_eq!(resp.cluster_authorized_operations, i32::MIN, "v{v}: operations not requested");
        if v >= 1 {
            assert_eq!(resp.endpoint_type, 1, "v{v}: broker endpoints");
        }
        assert_eq!(resp.brokers.len(), 1, "v{v}: one broker");
        let b = &resp.brokers[0];
        assert_eq!(b.broker_id.0, NODE_ID);
        assert_eq!(b.host.as_str(), addr.ip().to_string());
        assert_eq!(b.port, addr.port() as i32);
        assert!(!b.is_fenced, "v{v}: live broker is not fenced");
    }
}

// ---------------------------------------------------------------------------
// DescribeTopicPartitions
// ---------------------------------------------------------------------------

async fn describe_topic_partitions(
    c: &mut BrokerClient,
    v: i16,
    topics: &[&str],
    limit: i32,
    cursor: Option<(String, i32)>,
) -> DescribeTopicPartitionsResponse {
    let req = DescribeTopicPartitionsRequest::default()
        .with_topics(topics.iter().map(|t| TopicRequest::default().with_name(tn(t))).collect())
        .with_response_partition_limit(limit)
        .with_cursor(cursor.map(|(t, p)| RequestCursor::default().with_topic_name(tn(&t)).with_partition_index(p)));
    c.send(ApiKey::DescribeTopicPartitions, v, &req)
        .await
        .unwrap_or_else(|e| panic!("DescribeTopicPartitions v{v}: {e}"))
}

/// Pages through `topics` `limit` partitions at a time; returns every
/// (topic, partition) in the order received.
async fn page_through(
    c: &mut BrokerClient,
    v: i16,
    topics: &[&str],
    limit: i32,
    ids: &BTreeMap<String, Uuid>,
) -> Vec<(String, i32)> {
    let mut seen = Vec::new();
    let mut cursor = None;
    for _page in 0..100 {
        let resp = describe_topic_partitions(c, v, topics, limit, cursor.clone()).await;
        let in_page: usize = resp.topics.iter().map(|t| t.partitions.len()).sum();
        assert!(in_page <= limit as usize, "v{v}: page of {in_page} partitions exceeds the limit {limit}");
        for t in &resp.topics {
            let name = t.name.as_ref().expect("topic name").0.to_string();
            assert_eq!(t.error_code, NONE, "v{v}: {name}");
            assert_eq!(Some(&t.topic_id), ids.get(&name), "v{v}: {name} id");
            assert!(!t.is_internal);
            for p in &t.partitions {
                assert_eq!(p.error_code, NONE);
                assert_eq!(p.leader_id.0, NODE_ID);
                assert!(p.leader_epoch >= 0);
                assert_eq!(p.replica_nodes, vec![BrokerId(NODE_ID)]);
                assert_eq!(p.isr_nodes, vec![BrokerId(NODE_ID)]);
                assert!(p.offline_replicas.is_empty());
                seen.push((name.clone(), p.partition_index));
            }
        }
        match resp.next_cursor {
            None => return seen,
            Some(next) => {
                let next = (next.topic_name.0.to_string(), next.partition_index);
                assert!(Some(&next) != cursor.as_ref(), "v{v}: cursor {next:?} does not advance");
                assert!(in_page > 0, "v{v}: empty page with a cursor");
                cursor = Some(next);
            }
        }
    }
    panic!("v{v}: the cursor never ends");
}

async fn round_trip_describe_topic_partitions(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    let mut ids = BTreeMap::new();
    for (name, n) in [("rt-dtp-a", 5), ("rt-dtp-b", 3)] {
        ids.insert(name.to_string(), create_topic(&mut c, name, n, &[]).await);
    }
    let expect = |topics: &[(&str, i32)]| -> Vec<(String, i32)> {
        topics.iter().flat_map(|(t, n)| (0..*n).map(move |p| (t.to_string(), p))).collect()
    };
    for v in versions {
        let one = page_through(&mut c, v, &["rt-dtp-a"], 2, &ids).await;
        assert_eq!(one, expect(&[("rt-dtp-a", 5)]), "v{v}: one topic in pages of 2");
        let two = page_through(&mut c, v, &["rt-dtp-b", "rt-dtp-a"], 2, &ids).await;
        assert_eq!(two, expect(&[("rt-dtp-a", 5), ("rt-dtp-b", 3)]), "v{v}: two topics in pages of 2");
        let whole = page_through(&mut c, v, &["rt-dtp-a", "rt-dtp-b"], 2000, &ids).await;
        assert_eq!(whole, expect(&[("rt-dtp-a", 5), ("rt-dtp-b", 3)]), "v{v}: one page");

        let resp = describe_topic_partitions(&mut c, v, &["rt-no-such-topic"], 10, None).await;
        assert_eq!(resp.topics.len(), 1);
        assert_eq!(resp.topics[0].error_code, UNKNOWN_TOPIC_OR_PARTITION, "v{v}: unknown topic");
        assert!(resp.next_cursor.is_none());
    }
}

// ---------------------------------------------------------------------------
// Consumer groups
// ---------------------------------------------------------------------------
//
// Every group API at every version takes part in a full member life cycle
// (`group_cycle`): FindCoordinator, JoinGroup (MEMBER_ID_REQUIRED from v4),
// SyncGroup, Heartbeat, OffsetCommit, OffsetFetch, DescribeGroups,
// ListGroups, a second member's join (REBALANCE_IN_PROGRESS, the rebalance,
// ILLEGAL_GENERATION for the old generation), LeaveGroup down to an Empty
// group whose offsets remain, and an admin commit with generation -1. The
// API under test speaks each of its versions; the others speak their
// highest. Each API then checks its own error paths.

const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const NOT_COORDINATOR: i16 = 16;
const OFFSET_METADATA_TOO_LARGE: i16 = 12;
const ILLEGAL_GENERATION: i16 = 22;
const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
const INVALID_GROUP_ID: i16 = 24;
const UNKNOWN_MEMBER_ID: i16 = 25;
const INVALID_SESSION_TIMEOUT: i16 = 26;
const REBALANCE_IN_PROGRESS: i16 = 27;
const NON_EMPTY_GROUP: i16 = 68;
const GROUP_ID_NOT_FOUND: i16 = 69;
const MEMBER_ID_REQUIRED: i16 = 79;
const FENCED_INSTANCE_ID: i16 = 82;
const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;

/// `group.min.session.timeout.ms` default.
const SESSION_MS: i32 = 6_000;
const REBALANCE_MS: i32 = 10_000;
/// A blocking group request (JoinGroup, SyncGroup) must answer in this.
const GROUP_TIMEOUT: Duration = Duration::from_secs(20);
const CLIENT_ID: &str = "protocol-roundtrip";
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

/// The versions one group cycle speaks.
#[derive(Debug, Clone, Copy)]
struct GroupVersions {
    find: i16,
    join: i16,
    sync: i16,
    heartbeat: i16,
    leave: i16,
    commit: i16,
    fetch: i16,
    describe: i16,
    list: i16,
}

impl GroupVersions {
    fn max() -> Self {
        let max = |k| *advertised(k).end();
        GroupVersions {
            find: max(ApiKey::FindCoordinator),
            join: max(ApiKey::JoinGroup),
            sync: max(ApiKey::SyncGroup),
            heartbeat: max(ApiKey::Heartbeat),
            leave: max(ApiKey::LeaveGroup),
            commit: max(ApiKey::OffsetCommit),
            fetch: max(ApiKey::OffsetFetch),
            describe: max(ApiKey::DescribeGroups),
            list: max(ApiKey::ListGroups),
        }
    }
}

fn gid(v: &str) -> GroupId {
    GroupId(s(v))
}

/// ConsumerProtocolSubscription v0 for `topics`.
fn subscription(topics: &[&str]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    b.put_i32(topics.len() as i32);
    for t in topics {
        b.put_i16(t.len() as i16);
        b.put_slice(t.as_bytes());
    }
    b.put_i32(-1);
    b.freeze()
}

/// ConsumerProtocolAssignment v0.
fn assignment(parts: &[(&str, &[i32])]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    b.put_i32(parts.len() as i32);
    for (t, ps) in parts {
        b.put_i16(t.len() as i16);
        b.put_slice(t.as_bytes());
        b.put_i32(ps.len() as i32);
        for p in *ps {
            b.put_i32(*p);
        }
    }
    b.put_i32(-1);
    b.freeze()
}

async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(GROUP_TIMEOUT, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {GROUP_TIMEOUT:?}"))
}

/// (error, node id, host, port) per key: one key before v4, a batch after.
async fn find_coordinator(c: &mut BrokerClient, v: i16, keys: &[&str]) -> Vec<(i16, i32, String, i32)> {
    let mut req = FindCoordinatorRequest::default();
    if v >= 4 {
        req.coordinator_keys = keys.iter().map(|k| s(k)).collect();
    } else {
        assert_eq!(keys.len(), 1, "FindCoordinator v{v} takes one key");
        req.key = s(keys[0]);
    }
    let resp: FindCoordinatorResponse =
        c.send(ApiKey::FindCoordinator, v, &req).await.unwrap_or_else(|e| panic!("FindCoordinator v{v}: {e}"));
    if v >= 4 {
        assert_eq!(resp.coordinators.len(), keys.len(), "v{v}: one answer per key");
        for (c, k) in resp.coordinators.iter().zip(keys) {
            assert_eq!(c.key.as_str(), *k, "v{v}: answers in key order");
        }
        resp.coordinators.iter().map(|c| (c.error_code, c.node_id.0, c.host.to_string(), c.port)).collect()
    } else {
        vec![(resp.error_code, resp.node_id.0, resp.host.to_string(), resp.port)]
    }
}

fn assert_is_this_broker(found: &(i16, i32, String, i32), addr: SocketAddr, what: &str) {
    assert_eq!(
        found,
        &(NONE, NODE_ID, addr.ip().to_string(), addr.port() as i32),
        "{what}: the coordinator is this broker"
    );
}

/// Waits until the group's coordinator answers (the first FindCoordinator
/// creates `__consumer_offsets`, whose partitions then load).
async fn wait_for_coordinator(addr: SocketAddr, group: &str) {
    let group = group.to_string();
    common::wait_until(&format!("coordinator of {group}"), Duration::from_secs(20), || {
        let group = group.clone();
        async move {
            let mut c = connect(addr).await;
            let found = find_coordinator(&mut c, 0, &[group.as_str()]).await;
            if found[0].0 != NONE {
                return false;
            }
            let resp = offset_fetch(&mut c, 8, &group, None).await;
            let code = resp.groups[0].error_code;
            assert!(
                [NONE, COORDINATOR_LOAD_IN_PROGRESS, NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE].contains(&code),
                "OffsetFetch while the coordinator loads: {code}"
            );
            code == NONE
        }
    })
    .await;
}

struct JoinSpec<'a> {
    group: &'a str,
    member_id: &'a str,
    instance: Option<&'a str>,
    session_ms: i32,
    protocol_type: &'a str,
    protocols: Vec<(&'a str, Bytes)>,
}

impl<'a> JoinSpec<'a> {
    fn new(group: &'a str, member_id: &'a str, topics: &[&str]) -> Self {
        JoinSpec {
            group,
            member_id,
            instance: None,
            session_ms: SESSION_MS,
            protocol_type: "consumer",
            protocols: vec![("range", subscription(topics))],
        }
    }

    fn request(&self, v: i16) -> JoinGroupRequest {
        let mut req = JoinGroupRequest::default()
            .with_group_id(gid(self.group))
            .with_session_timeout_ms(self.session_ms)
            .with_member_id(s(self.member_id))
            .with_protocol_type(s(self.protocol_type))
            .with_protocols(
                self.protocols
                    .iter()
                    .map(|(n, m)| JoinGroupRequestProtocol::default().with_name(s(n)).with_metadata(m.clone()))
                    .collect(),
            );
        if v >= 1 {
            req.rebalance_timeout_ms = REBALANCE_MS;
        }
        if v >= 5 {
            req.group_instance_id = self.instance.map(s);
        }
        if v >= 8 {
            req.reason = Some(s("protocol round trip"));
        }
        req
    }
}

async fn join_group(c: &mut BrokerClient, v: i16, spec: &JoinSpec<'_>) -> JoinGroupResponse {
    bounded(&format!("JoinGroup v{v}"), c.send(ApiKey::JoinGroup, v, &spec.request(v)))
        .await
        .unwrap_or_else(|e| panic!("JoinGroup v{v}: {e}"))
}

/// A new member's join: from v4 a dynamic member is first told
/// MEMBER_ID_REQUIRED with its id, and joins again with it.
async fn join_new(c: &mut BrokerClient, v: i16, spec: JoinSpec<'_>) -> JoinGroupResponse {
    assert!(spec.member_id.is_empty());
    let first = join_group(c, v, &spec).await;
    if v < 4 || (v >= 5 && spec.instance.is_some()) {
        return first;
    }
    assert_eq!(first.error_code, MEMBER_ID_REQUIRED, "JoinGroup v{v} without member id");
    assert_eq!(first.generation_id, -1, "v{v}");
    assert!(!first.member_id.is_empty(), "v{v}: MEMBER_ID_REQUIRED carries the id");
    assert!(first.members.is_empty());
    let id = first.member_id.to_string();
    assert!(id.starts_with(CLIENT_ID), "v{v}: member id {id} starts with the client id");
    join_group(c, v, &JoinSpec { member_id: &id, ..spec }).await
}

fn protocol_name(r: &JoinGroupResponse) -> &str {
    r.protocol_name.as_deref().unwrap_or("")
}

/// Checks a successful join response at `v`.
fn assert_joined(r: &JoinGroupResponse, v: i16, generation: i32, leader: &str, members: usize) {
    assert_eq!(r.error_code, NONE, "JoinGroup v{v}");
    assert_eq!(r.generation_id, generation, "JoinGroup v{v} generation");
    assert_eq!(r.leader.as_str(), leader, "JoinGroup v{v} leader");
    assert_eq!(protocol_name(r), "range", "JoinGroup v{v} protocol");
    if v >= 7 {
        assert_eq!(r.protocol_type.as_deref(), Some("consumer"), "v{v}");
    }
    assert!(!r.skip_assignment, "v{v}");
    assert_eq!(r.members.len(), members, "JoinGroup v{v} member list");
}

async fn sync_group(
    c: &mut BrokerClient,
    v: i16,
    group: &str,
    generation: i32,
    member_id: &str,
    assignments: &[(&str, Bytes)],
) -> SyncGroupResponse {
    let mut req = SyncGroupRequest::default()
        .with_group_id(gid(group))
        .with_generation_id(generation)
        .with_member_id(s(member_id))
        .with_assignments(
            assignments
                .iter()
                .map(|(m, a)| SyncGroupRequestAssignment::default().with_member_id(s(m)).with_assignment(a.clone()))
                .collect(),
        );
    if v >= 5 {
        req.protocol_type = Some(s("consumer"));
        req.protocol_name = Some(s("range"));
    }
    bounded(&format!("SyncGroup v{v}"), c.send(ApiKey::SyncGroup, v, &req))
        .await
        .unwrap_or_else(|e| panic!("SyncGroup v{v}: {e}"))
}

fn assert_synced(r: &SyncGroupResponse, v: i16, expected: &Bytes) {
    assert_eq!(r.error_code, NONE, "SyncGroup v{v}");
    assert_eq!(&r.assignment, expected, "SyncGroup v{v} assignment");
    if v >= 5 {
        assert_eq!(r.protocol_type.as_deref(), Some("consumer"), "v{v}");
        assert_eq!(r.protocol_name.as_deref(), Some("range"), "v{v}");
    }
}

async fn heartbeat(
    c: &mut BrokerClient,
    v: i16,
    group: &str,
    generation: i32,
    member_id: &str,
    instance: Option<&str>,
) -> i16 {
    let mut req = HeartbeatRequest::default()
        .with_group_id(gid(group))
        .with_generation_id(generation)
        .with_member_id(s(member_id));
    if v >= 3 {
        req.group_instance_id = instance.map(s);
    }
    let resp: HeartbeatResponse =
        c.send(ApiKey::Heartbeat, v, &req).await.unwrap_or_else(|e| panic!("Heartbeat v{v}: {e}"));
    resp.error_code
}

/// LeaveGroup for `members` (member id, instance id): the per-member codes
/// (v3+) or the one top-level code (v0-2), plus the top-level code.
async fn leave_group(c: &mut BrokerClient, v: i16, group: &str, members: &[(&str, Option<&str>)]) -> (i16, Vec<i16>) {
    let mut req = LeaveGroupRequest::default().with_group_id(gid(group));
    if v >= 3 {
        req.members = members
            .iter()
            .map(|(m, i)| {
                let mut id = MemberIdentity::default().with_member_id(s(m)).with_group_instance_id(i.map(s));
                if v >= 5 {
                    id.reason = Some(s("done"));
                }
                id
            })
            .collect();
    } else {
        assert_eq!(members.len(), 1);
        req.member_id = s(members[0].0);
    }
    let resp: LeaveGroupResponse =
        c.send(ApiKey::LeaveGroup, v, &req).await.unwrap_or_else(|e| panic!("LeaveGroup v{v}: {e}"));
    if v >= 3 {
        assert_eq!(resp.members.len(), members.len(), "v{v}: one answer per member");
        for (r, (m, i)) in resp.members.iter().zip(members) {
            assert_eq!(r.member_id.as_str(), *m, "v{v}");
            assert_eq!(r.group_instance_id.as_deref(), *i, "v{v}");
        }
        (resp.error_code, resp.members.iter().map(|m| m.error_code).collect())
    } else {
        (resp.error_code, vec![resp.error_code])
    }
}

/// Leaves one member; the member's code.
async fn leave_one(c: &mut BrokerClient, v: i16, group: &str, member_id: &str) -> i16 {
    let (top, codes) = leave_group(c, v, group, &[(member_id, None)]).await;
    if v >= 3 {
        assert_eq!(top, NONE, "LeaveGroup v{v} top level");
    }
    codes[0]
}

/// (topic, partition, offset, metadata)
type Commit<'a> = (&'a str, i32, i64, &'a str);

/// The committed leader epoch the tests use (sent from OffsetCommit v6).
const COMMITTED_EPOCH: i32 = 3;

async fn offset_commit(
    c: &mut BrokerClient,
    v: i16,
    group: &str,
    generation: i32,
    member_id: &str,
    offsets: &[Commit<'_>],
) -> Vec<(String, i32, i16)> {
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for (t, p, o, m) in offsets {
        let mut part = OffsetCommitRequestPartition::default()
            .with_partition_index(*p)
            .with_committed_offset(*o)
            .with_committed_metadata(Some(s(m)));
        if v >= 6 {
            part.committed_leader_epoch = COMMITTED_EPOCH;
        }
        match topics.iter_mut().find(|x| x.name.0.as_str() == *t) {
            Some(x) => x.partitions.push(part),
            None => topics.push(OffsetCommitRequestTopic::default().with_name(tn(t)).with_partitions(vec![part])),
        }
    }
    let req = OffsetCommitRequest::default()
        .with_group_id(gid(group))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member_id))
        .with_topics(topics);
    let resp: OffsetCommitResponse =
        c.send(ApiKey::OffsetCommit, v, &req).await.unwrap_or_else(|e| panic!("OffsetCommit v{v}: {e}"));
    let mut out = Vec::new();
    for t in &resp.topics {
        for p in &t.partitions {
            out.push((t.name.0.to_string(), p.partition_index, p.error_code));
        }
    }
    assert_eq!(out.len(), offsets.len(), "OffsetCommit v{v}: one answer per partition");
    out
}

/// The codes of a commit, in request order.
async fn commit_codes(
    c: &mut BrokerClient,
    v: i16,
    group: &str,
    generation: i32,
    member_id: &str,
    offsets: &[Commit<'_>],
) -> Vec<i16> {
    offset_commit(c, v, group, generation, member_id, offsets).await.into_iter().map(|(_, _, code)| code).collect()
}

/// OffsetFetch for one group (v8+ batches it). `topics` None: all.
async fn offset_fetch(
    c: &mut BrokerClient,
    v: i16,
    group: &str,
    topics: Option<&[(&str, &[i32])]>,
) -> OffsetFetchResponse {
    offset_fetch_groups(c, v, &[(group, topics)]).await
}

/// A group and the partitions asked for (None: all), by topic.
type GroupQuery<'a> = (&'a str, Option<&'a [(&'a str, &'a [i32])]>);

async fn offset_fetch_groups(c: &mut BrokerClient, v: i16, groups: &[GroupQuery<'_>]) -> OffsetFetchResponse {
    let mut req = OffsetFetchRequest::default();
    if v >= 8 {
        req.groups = groups
            .iter()
            .map(|(g, topics)| {
                OffsetFetchRequestGroup::default().with_group_id(gid(g)).with_topics(topics.map(|ts| {
                    ts.iter()
                        .map(|(t, ps)| {
                            OffsetFetchRequestTopics::default().with_name(tn(t)).with_partition_indexes(ps.to_vec())
                        })
                        .collect()
                }))
            })
            .collect();
    } else {
        assert_eq!(groups.len(), 1, "OffsetFetch v{v} takes one group");
        let (g, topics) = groups[0];
        req.group_id = gid(g);
        req.topics = topics.map(|ts| {
            ts.iter()
                .map(|(t, ps)| OffsetFetchRequestTopic::default().with_name(tn(t)).with_partition_indexes(ps.to_vec()))
                .collect()
        });
    }
    let resp: OffsetFetchResponse =
        c.send(ApiKey::OffsetFetch, v, &req).await.unwrap_or_else(|e| panic!("OffsetFetch v{v}: {e}"));
    if v >= 8 {
        assert_eq!(resp.groups.len(), groups.len(), "v{v}: one answer per group");
    }
    resp
}

/// (topic, partition) -> (offset, leader epoch, metadata, error), and the
/// group-level error, for group `i` of the response.
type Fetched = (i16, BTreeMap<(String, i32), (i64, i32, String, i16)>);

fn fetched(resp: &OffsetFetchResponse, v: i16, i: usize) -> Fetched {
    let mut out = BTreeMap::new();
    if v >= 8 {
        let g = &resp.groups[i];
        for t in &g.topics {
            for p in &t.partitions {
                let md = p.metadata.as_deref().unwrap_or("").to_string();
                out.insert(
                    (t.name.0.to_string(), p.partition_index),
                    (p.committed_offset, p.committed_leader_epoch, md, p.error_code),
                );
            }
        }
        (g.error_code, out)
    } else {
        for t in &resp.topics {
            for p in &t.partitions {
                let md = p.metadata.as_deref().unwrap_or("").to_string();
                out.insert(
                    (t.name.0.to_string(), p.partition_index),
                    (p.committed_offset, p.committed_leader_epoch, md, p.error_code),
                );
            }
        }
        (resp.error_code, out)
    }
}

/// The epoch a fetch at `fetch_v` shows for a commit at `commit_v`.
fn expected_epoch(commit_v: i16, fetch_v: i16) -> i32 {
    if commit_v >= 6 && fetch_v >= 5 {
        COMMITTED_EPOCH
    } else {
        -1
    }
}

async fn describe_groups(c: &mut BrokerClient, v: i16, groups: &[&str], include_ops: bool) -> DescribeGroupsResponse {
    let mut req = DescribeGroupsRequest::default().with_groups(groups.iter().map(|g| gid(g)).collect());
    if v >= 3 {
        req.include_authorized_operations = include_ops;
    }
    let resp: DescribeGroupsResponse =
        c.send(ApiKey::DescribeGroups, v, &req).await.unwrap_or_else(|e| panic!("DescribeGroups v{v}: {e}"));
    assert_eq!(resp.groups.len(), groups.len(), "v{v}: one answer per group");
    resp
}

async fn describe_one(c: &mut BrokerClient, v: i16, group: &str) -> DescribedGroup {
    let mut resp = describe_groups(c, v, &[group], false).await;
    let g = resp.groups.remove(0);
    assert_eq!(g.error_code, NONE, "DescribeGroups v{v}");
    assert_eq!(g.group_id.0.as_str(), group);
    g
}

async fn list_groups(c: &mut BrokerClient, v: i16, states: &[&str], types: &[&str]) -> Vec<ListedGroup> {
    let mut req = ListGroupsRequest::default();
    if v >= 4 {
        req.states_filter = states.iter().map(|x| s(x)).collect();
    }
    if v >= 5 {
        req.types_filter = types.iter().map(|x| s(x)).collect();
    }
    let resp: ListGroupsResponse =
        c.send(ApiKey::ListGroups, v, &req).await.unwrap_or_else(|e| panic!("ListGroups v{v}: {e}"));
    assert_eq!(resp.error_code, NONE, "ListGroups v{v}");
    resp.groups
}

async fn listed(c: &mut BrokerClient, v: i16, group: &str, states: &[&str], types: &[&str]) -> Option<ListedGroup> {
    list_groups(c, v, states, types).await.into_iter().find(|g| g.group_id.0.as_str() == group)
}

async fn delete_groups(c: &mut BrokerClient, v: i16, groups: &[&str]) -> Vec<i16> {
    let req = DeleteGroupsRequest::default().with_groups_names(groups.iter().map(|g| gid(g)).collect());
    let resp: DeleteGroupsResponse =
        c.send(ApiKey::DeleteGroups, v, &req).await.unwrap_or_else(|e| panic!("DeleteGroups v{v}: {e}"));
    assert_eq!(resp.results.len(), groups.len(), "v{v}: one answer per group");
    groups
        .iter()
        .map(|g| {
            resp.results
                .iter()
                .find(|r| r.group_id.0.as_str() == *g)
                .unwrap_or_else(|| panic!("v{v}: no answer for {g}"))
                .error_code
        })
        .collect()
}

/// OffsetDelete v0: (group error, per-partition codes in request order).
async fn offset_delete(c: &mut BrokerClient, group: &str, parts: &[(&str, i32)]) -> (i16, Vec<i16>) {
    let mut topics: Vec<OffsetDeleteRequestTopic> = Vec::new();
    for (t, p) in parts {
        let part = OffsetDeleteRequestPartition::default().with_partition_index(*p);
        match topics.iter_mut().find(|x| x.name.0.as_str() == *t) {
            Some(x) => x.partitions.push(part),
            None => topics.push(OffsetDeleteRequestTopic::default().with_name(tn(t)).with_partitions(vec![part])),
        }
    }
    let req = OffsetDeleteRequest::default().with_group_id(gid(group)).with_topics(topics);
    let resp: OffsetDeleteResponse =
        c.send(ApiKey::OffsetDelete, 0, &req).await.unwrap_or_else(|e| panic!("OffsetDelete v0: {e}"));
    let mut codes = Vec::new();
    for (t, p) in parts {
        if let Some(x) = resp
            .topics
            .iter()
            .find(|x| x.name.0.as_str() == *t)
            .and_then(|x| x.partitions.iter().find(|x| x.partition_index == *p))
        {
            codes.push(x.error_code);
        }
    }
    (resp.error_code, codes)
}

/// Heartbeats until the member hears of the rebalance.
async fn await_rebalance_notice(c: &mut BrokerClient, v: i16, group: &str, generation: i32, member: &str) {
    let start = std::time::Instant::now();
    loop {
        match heartbeat(c, v, group, generation, member, None).await {
            NONE => {}
            REBALANCE_IN_PROGRESS => return,
            other => panic!("Heartbeat v{v} while a member joins: {other}"),
        }
        assert!(start.elapsed() < GROUP_TIMEOUT, "no REBALANCE_IN_PROGRESS");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One member's life in a group, then a second member, a rebalance, leaves.
async fn group_cycle(addr: SocketAddr, gv: GroupVersions, tag: &str) {
    let group = format!("rt-group-{tag}");
    let topic = format!("rt-group-{tag}");
    let g = group.as_str();
    let t = topic.as_str();
    let mut admin = connect(addr).await;
    create_topic(&mut admin, t, 3, &[]).await;
    wait_for_coordinator(addr, g).await;
    let found = find_coordinator(&mut admin, gv.find, &[g]).await;
    assert_is_this_broker(&found[0], addr, &format!("FindCoordinator v{}", gv.find));

    // The first member: leader of generation 1.
    let mut a = connect(addr).await;
    let ja = join_new(&mut a, gv.join, JoinSpec::new(g, "", &[t])).await;
    let a_id = ja.member_id.to_string();
    assert_joined(&ja, gv.join, 1, &a_id, 1);
    assert_eq!(ja.members[0].member_id.as_str(), a_id);
    assert_eq!(ja.members[0].metadata, subscription(&[t]));
    assert_eq!(ja.members[0].group_instance_id, None);
    let all = assignment(&[(t, &[0, 1, 2])]);
    let sa = sync_group(&mut a, gv.sync, g, 1, &a_id, &[(&a_id, all.clone())]).await;
    assert_synced(&sa, gv.sync, &all);

    // Heartbeats: current, stale generation, unknown member.
    let hv = gv.heartbeat;
    assert_eq!(heartbeat(&mut a, hv, g, 1, &a_id, None).await, NONE, "Heartbeat v{hv}");
    assert_eq!(heartbeat(&mut a, hv, g, 0, &a_id, None).await, ILLEGAL_GENERATION, "v{hv}");
    assert_eq!(heartbeat(&mut a, hv, g, 1, "no-such-member", None).await, UNKNOWN_MEMBER_ID, "v{hv}");

    // Commits by the member of the current generation.
    let cv = gv.commit;
    let codes = commit_codes(&mut a, cv, g, 1, &a_id, &[(t, 0, 5, "m0"), (t, 1, 7, "")]).await;
    assert_eq!(codes, vec![NONE, NONE], "OffsetCommit v{cv}");
    let codes = commit_codes(&mut a, cv, g, 0, &a_id, &[(t, 0, 6, "")]).await;
    assert_eq!(codes, vec![ILLEGAL_GENERATION], "OffsetCommit v{cv} stale generation");
    let codes = commit_codes(&mut a, cv, g, 1, "no-such-member", &[(t, 0, 6, "")]).await;
    assert_eq!(codes, vec![UNKNOWN_MEMBER_ID], "OffsetCommit v{cv} unknown member");
    // A commit without generation is refused while the group has members.
    let codes = commit_codes(&mut admin, cv, g, -1, "", &[(t, 0, 6, "")]).await;
    assert_eq!(codes, vec![UNKNOWN_MEMBER_ID], "OffsetCommit v{cv} gen -1 to a live group");
    let codes = commit_codes(&mut a, cv, g, 1, &a_id, &[(t, 9, 1, ""), (t, 2, 1, "x")]).await;
    assert_eq!(codes, vec![UNKNOWN_TOPIC_OR_PARTITION, NONE], "OffsetCommit v{cv} unknown partition");

    // Fetch: committed partitions, -1 with no error for the others.
    let fv = gv.fetch;
    let epoch = expected_epoch(cv, fv);
    let parts: &[(&str, &[i32])] = &[(t, &[0, 1, 2]), ("rt-no-such-topic", &[0])];
    let (err, got) = fetched(&offset_fetch(&mut admin, fv, g, Some(parts)).await, fv, 0);
    assert_eq!(err, NONE, "OffsetFetch v{fv}");
    let expect: BTreeMap<(String, i32), (i64, i32, String, i16)> = [
        ((t.to_string(), 0), (5, epoch, "m0".to_string(), NONE)),
        ((t.to_string(), 1), (7, epoch, String::new(), NONE)),
        ((t.to_string(), 2), (1, epoch, "x".to_string(), NONE)),
        (("rt-no-such-topic".to_string(), 0), (-1, -1, String::new(), NONE)),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, expect, "OffsetFetch v{fv} (commit v{cv})");
    if fv >= 2 {
        let (err, all_offsets) = fetched(&offset_fetch(&mut admin, fv, g, None).await, fv, 0);
        assert_eq!(err, NONE);
        let mut committed = expect.clone();
        committed.remove(&("rt-no-such-topic".to_string(), 0));
        assert_eq!(all_offsets, committed, "OffsetFetch v{fv} of all partitions");
    }

    // Describe and list a stable group.
    let dv = gv.describe;
    let d = describe_one(&mut admin, dv, g).await;
    assert_eq!(d.group_state.as_str(), "Stable", "DescribeGroups v{dv}");
    assert_eq!(d.protocol_type.as_str(), "consumer");
    assert_eq!(d.protocol_data.as_str(), "range");
    assert_eq!(d.members.len(), 1);
    let m = &d.members[0];
    assert_eq!(m.member_id.as_str(), a_id);
    assert_eq!(m.client_id.as_str(), CLIENT_ID);
    assert_eq!(m.client_host.as_str(), "/127.0.0.1");
    assert_eq!(m.member_metadata, subscription(&[t]));
    assert_eq!(m.member_assignment, all);
    assert_eq!(m.group_instance_id, None);
    let lv = gv.list;
    let l = listed(&mut admin, lv, g, &[], &[]).await.expect("listed");
    assert_eq!(l.protocol_type.as_str(), "consumer", "ListGroups v{lv}");
    if lv >= 4 {
        assert_eq!(l.group_state.as_str(), "Stable", "ListGroups v{lv}");
        assert!(listed(&mut admin, lv, g, &["stable"], &[]).await.is_some());
        assert!(listed(&mut admin, lv, g, &["Empty"], &[]).await.is_none());
    }
    if lv >= 5 {
        assert_eq!(l.group_type.as_str(), "classic");
        assert!(listed(&mut admin, lv, g, &[], &["classic"]).await.is_some());
        assert!(listed(&mut admin, lv, g, &[], &["consumer"]).await.is_none());
    }

    // A second member joins: the first hears REBALANCE_IN_PROGRESS and
    // rejoins; the join phase completes when both are in.
    let jv = gv.join;
    let topic_b = t.to_string();
    let group_b = g.to_string();
    let joining = tokio::spawn(async move {
        let mut b = connect(addr).await;
        let r = join_new(&mut b, jv, JoinSpec::new(&group_b, "", &[topic_b.as_str()])).await;
        (b, r)
    });
    await_rebalance_notice(&mut a, hv, g, 1, &a_id).await;
    let sv = gv.sync;
    let r = sync_group(&mut a, sv, g, 1, &a_id, &[]).await;
    assert_eq!(r.error_code, REBALANCE_IN_PROGRESS, "SyncGroup v{sv} while preparing");
    // Commits of the current generation are accepted while preparing.
    let codes = commit_codes(&mut a, cv, g, 1, &a_id, &[(t, 0, 6, "m0b")]).await;
    assert_eq!(codes, vec![NONE], "OffsetCommit v{cv} while preparing");
    // The last member's rejoin completes the join phase at once, not at
    // the rebalance timeout.
    let rejoined = std::time::Instant::now();
    let ja = join_group(&mut a, jv, &JoinSpec::new(g, &a_id, &[t])).await;
    assert!(
        rejoined.elapsed() < Duration::from_millis(REBALANCE_MS as u64 / 2),
        "JoinGroup v{jv}: the rebalance waited {:?} although every member had joined",
        rejoined.elapsed()
    );
    let (mut b, jb) = bounded("second member's join", joining).await.expect("join task");
    let b_id = jb.member_id.to_string();
    assert_ne!(a_id, b_id);
    assert_joined(&ja, jv, 2, &a_id, 2);
    assert_joined(&jb, jv, 2, &a_id, 0);
    let mut ids: Vec<&str> = ja.members.iter().map(|m| m.member_id.as_str()).collect();
    ids.sort();
    let mut want = vec![a_id.as_str(), b_id.as_str()];
    want.sort();
    assert_eq!(ids, want, "the leader sees every member");
    // Before the leader's SyncGroup, commits get REBALANCE_IN_PROGRESS.
    let codes = commit_codes(&mut b, cv, g, 2, &b_id, &[(t, 2, 1, "")]).await;
    assert_eq!(codes, vec![REBALANCE_IN_PROGRESS], "OffsetCommit v{cv} while completing");
    // The follower's SyncGroup waits for the leader's.
    let assign_a = assignment(&[(t, &[0, 1])]);
    let assign_b = assignment(&[(t, &[2])]);
    let (group_b, b_sync) = (g.to_string(), b_id.clone());
    let following = tokio::spawn(async move {
        let r = sync_group(&mut b, sv, &group_b, 2, &b_sync, &[]).await;
        (b, r)
    });
    let sa = sync_group(&mut a, sv, g, 2, &a_id, &[(&a_id, assign_a.clone()), (&b_id, assign_b.clone())]).await;
    assert_synced(&sa, sv, &assign_a);
    let (mut b, sb) = bounded("follower's sync", following).await.expect("sync task");
    assert_synced(&sb, sv, &assign_b);
    assert_eq!(heartbeat(&mut a, hv, g, 1, &a_id, None).await, ILLEGAL_GENERATION, "v{hv} old generation");
    assert_eq!(heartbeat(&mut a, hv, g, 2, &a_id, None).await, NONE, "v{hv}");
    assert_eq!(heartbeat(&mut b, hv, g, 2, &b_id, None).await, NONE, "v{hv}");
    let codes = commit_codes(&mut a, cv, g, 1, &a_id, &[(t, 0, 7, "")]).await;
    assert_eq!(codes, vec![ILLEGAL_GENERATION], "OffsetCommit v{cv} of the old generation");
    let d = describe_one(&mut admin, dv, g).await;
    assert_eq!(d.group_state.as_str(), "Stable");
    assert_eq!(d.members.len(), 2, "DescribeGroups v{dv}");
    for m in &d.members {
        let expected = if m.member_id.as_str() == a_id { &assign_a } else { &assign_b };
        assert_eq!(&m.member_assignment, expected, "DescribeGroups v{dv} assignment");
    }

    // b leaves; a rejoins alone; a leaves: the group is empty.
    let lgv = gv.leave;
    assert_eq!(leave_one(&mut b, lgv, g, &b_id).await, NONE, "LeaveGroup v{lgv}");
    assert_eq!(leave_one(&mut b, lgv, g, &b_id).await, UNKNOWN_MEMBER_ID, "LeaveGroup v{lgv} again");
    assert_eq!(heartbeat(&mut b, hv, g, 2, &b_id, None).await, UNKNOWN_MEMBER_ID);
    await_rebalance_notice(&mut a, hv, g, 2, &a_id).await;
    let rejoined = std::time::Instant::now();
    let ja = join_group(&mut a, jv, &JoinSpec::new(g, &a_id, &[t])).await;
    assert_joined(&ja, jv, 3, &a_id, 1);
    assert!(rejoined.elapsed() < Duration::from_millis(REBALANCE_MS as u64 / 2));
    let sa = sync_group(&mut a, sv, g, 3, &a_id, &[(&a_id, all.clone())]).await;
    assert_synced(&sa, sv, &all);
    assert_eq!(leave_one(&mut a, lgv, g, &a_id).await, NONE, "LeaveGroup v{lgv}");
    let d = describe_one(&mut admin, dv, g).await;
    assert_eq!(d.group_state.as_str(), "Empty", "DescribeGroups v{dv} after leaves");
    assert!(d.members.is_empty());
    assert_eq!(d.protocol_data.as_str(), "");
    if lv >= 4 {
        let l = listed(&mut admin, lv, g, &["Empty"], &[]).await.expect("listed as Empty");
        assert_eq!(l.group_state.as_str(), "Empty");
    }
    assert_eq!(heartbeat(&mut a, hv, g, 3, &a_id, None).await, UNKNOWN_MEMBER_ID);

    // The offsets outlive the members, and an empty group accepts an
    // admin commit (generation -1), as `kafka-consumer-groups
    // --reset-offsets` sends.
    let (_, got) = fetched(&offset_fetch(&mut admin, fv, g, Some(&[(t, &[0])])).await, fv, 0);
    assert_eq!(got[&(t.to_string(), 0)].0, 6, "OffsetFetch v{fv} after the group emptied");
    let codes = commit_codes(&mut admin, cv, g, -1, "", &[(t, 0, 1, "reset")]).await;
    assert_eq!(codes, vec![NONE], "OffsetCommit v{cv} reset of an empty group");
    let (_, got) = fetched(&offset_fetch(&mut admin, fv, g, Some(&[(t, &[0])])).await, fv, 0);
    assert_eq!(got[&(t.to_string(), 0)], (1, epoch, "reset".to_string(), NONE));
}

async fn round_trip_find_coordinator(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    wait_for_coordinator(addr, "rt-find").await;
    for v in versions {
        let found = find_coordinator(&mut c, v, &["rt-find"]).await;
        assert_is_this_broker(&found[0], addr, &format!("FindCoordinator v{v}"));
        if v >= 4 {
            // Batched keys (KIP-699), each answered.
            let keys = ["rt-find-a", "rt-find-b", "rt-find-c"];
            let found = find_coordinator(&mut c, v, &keys).await;
            for (f, k) in found.iter().zip(keys) {
                assert_is_this_broker(f, addr, &format!("FindCoordinator v{v} {k}"));
            }
        }
        group_cycle(addr, GroupVersions { find: v, ..GroupVersions::max() }, &format!("find-v{v}")).await;
    }
}

async fn round_trip_join_group(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    for v in versions {
        group_cycle(addr, GroupVersions { join: v, ..GroupVersions::max() }, &format!("join-v{v}")).await;
        let g = format!("rt-join-errors-v{v}");
        wait_for_coordinator(addr, &g).await;
        // Session timeouts outside [group.min.session.timeout.ms,
        // group.max.session.timeout.ms].
        for session_ms in [SESSION_MS - 1, 1_800_001] {
            let r = join_group(&mut c, v, &JoinSpec { session_ms, ..JoinSpec::new(&g, "", &["t"]) }).await;
            assert_eq!(r.error_code, INVALID_SESSION_TIMEOUT, "JoinGroup v{v} session {session_ms}");
            assert_eq!(r.generation_id, -1);
        }
        // A member id the group never issued, for a group that does not exist.
        let r = join_group(&mut c, v, &JoinSpec::new(&g, "made-up-member", &["t"])).await;
        assert_eq!(r.error_code, UNKNOWN_MEMBER_ID, "JoinGroup v{v} unknown member");
        // An empty group id.
        let r = join_group(&mut c, v, &JoinSpec::new("", "", &["t"])).await;
        assert_eq!(r.error_code, INVALID_GROUP_ID, "JoinGroup v{v} empty group id");
        // A member with a protocol the group does not use.
        let r = join_new(&mut c, v, JoinSpec::new(&g, "", &["t"])).await;
        assert_joined(&r, v, 1, r.member_id.as_str(), 1);
        let member = r.member_id.to_string();
        let s1 = sync_group(&mut c, 5, &g, 1, &member, &[]).await;
        assert_eq!(s1.error_code, NONE);
        let mut other = connect(addr).await;
        let spec =
            JoinSpec { protocols: vec![("cooperative-sticky", subscription(&["t"]))], ..JoinSpec::new(&g, "", &["t"]) };
        let r = join_group(&mut other, v, &spec).await;
        let r = if r.error_code == MEMBER_ID_REQUIRED {
            join_group(&mut other, v, &JoinSpec { member_id: r.member_id.as_str(), ..spec }).await
        } else {
            r
        };
        assert_eq!(r.error_code, INCONSISTENT_GROUP_PROTOCOL, "JoinGroup v{v} other protocol");
        let spec = JoinSpec { protocol_type: "connect", ..JoinSpec::new(&g, "", &["t"]) };
        let r = join_group(&mut other, v, &spec).await;
        assert_eq!(r.error_code, INCONSISTENT_GROUP_PROTOCOL, "JoinGroup v{v} other protocol type");
        // The leader rejoining a stable group, even with the same
        // metadata, starts a new generation (leaders rejoin to trigger
        // assignments).
        let r = join_group(&mut c, v, &JoinSpec::new(&g, &member, &["t"])).await;
        assert_joined(&r, v, 2, &member, 1);
        assert_eq!(leave_one(&mut c, 5, &g, &member).await, NONE);
        if v >= 5 {
            static_membership(addr, v).await;
        }
    }
}

/// Static membership (JoinGroup v5+): a restarted instance gets a new
/// member id without a rebalance, and the old id is fenced.
async fn static_membership(addr: SocketAddr, v: i16) {
    let g = format!("rt-static-v{v}");
    let t = "rt-static";
    wait_for_coordinator(addr, &g).await;
    let mut c = connect(addr).await;
    let spec = JoinSpec { instance: Some("instance-1"), ..JoinSpec::new(&g, "", &[t]) };
    // No MEMBER_ID_REQUIRED for a static member.
    let r = join_group(&mut c, v, &spec).await;
    let old = r.member_id.to_string();
    assert_joined(&r, v, 1, &old, 1);
    assert!(old.starts_with("instance-1-"), "v{v}: static member id {old}");
    assert_eq!(r.members[0].group_instance_id.as_deref(), Some("instance-1"));
    let a = assignment(&[(t, &[0])]);
    let mut sreq = SyncGroupRequest::default()
        .with_group_id(gid(&g))
        .with_generation_id(1)
        .with_member_id(s(&old))
        .with_group_instance_id(Some(s("instance-1")))
        .with_assignments(vec![SyncGroupRequestAssignment::default()
            .with_member_id(s(&old))
            .with_assignment(a.clone())]);
    sreq.protocol_type = Some(s("consumer"));
    sreq.protocol_name = Some(s("range"));
    let sr: SyncGroupResponse = c.send(ApiKey::SyncGroup, 5, &sreq).await.unwrap();
    assert_eq!(sr.error_code, NONE);
    let d = describe_one(&mut c, 5, &g).await;
    assert_eq!(d.members[0].group_instance_id.as_deref(), Some("instance-1"));
    // The instance restarts: same instance id, no member id.
    let mut c2 = connect(addr).await;
    let r = join_group(&mut c2, v, &spec).await;
    assert_eq!(r.error_code, NONE, "JoinGroup v{v} static rejoin");
    let new = r.member_id.to_string();
    assert_ne!(new, old);
    assert_eq!(r.generation_id, 1, "v{v}: no rebalance for a static member's restart");
    if v >= 9 {
        // The leader learns it leads, and that it must not assign.
        assert_eq!(r.leader.as_str(), new);
        assert!(r.skip_assignment, "v{v}");
        assert_eq!(r.members.len(), 1);
    } else {
        // The old leader id, so the new member does not assign.
        assert_eq!(r.leader.as_str(), old, "v{v}");
        assert!(r.members.is_empty());
    }
    let d = describe_one(&mut c, 5, &g).await;
    assert_eq!(d.group_state.as_str(), "Stable");
    assert_eq!(d.members.len(), 1);
    assert_eq!(d.members[0].member_id.as_str(), new);
    assert_eq!(d.members[0].member_assignment, a, "the assignment stays");
    // The old incarnation is fenced.
    let code = heartbeat(&mut c, 4, &g, 1, &old, Some("instance-1")).await;
    assert_eq!(code, FENCED_INSTANCE_ID, "Heartbeat of the replaced static member");
    assert_eq!(heartbeat(&mut c2, 4, &g, 1, &new, Some("instance-1")).await, NONE);
    // The new incarnation's SyncGroup returns the kept assignment.
    let mut sreq = sreq.clone();
    sreq.member_id = s(&new);
    sreq.assignments.clear();
    let sr: SyncGroupResponse = c2.send(ApiKey::SyncGroup, 5, &sreq).await.unwrap();
    assert_eq!((sr.error_code, sr.assignment), (NONE, a));
    // An admin removes it by instance id (LeaveGroup v3+).
    let (top, codes) = leave_group(&mut c, 5, &g, &[("", Some("instance-1"))]).await;
    assert_eq!((top, codes), (NONE, vec![NONE]));
    assert_eq!(describe_one(&mut c, 5, &g).await.group_state.as_str(), "Empty");
}

async fn round_trip_sync_group(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    for v in versions {
        group_cycle(addr, GroupVersions { sync: v, ..GroupVersions::max() }, &format!("sync-v{v}")).await;
        let g = format!("rt-sync-errors-v{v}");
        wait_for_coordinator(addr, &g).await;
        // Unknown group, empty group id.
        let r = sync_group(&mut c, v, &g, 1, "nobody", &[]).await;
        assert_eq!(r.error_code, UNKNOWN_MEMBER_ID, "SyncGroup v{v} unknown group");
        let r = sync_group(&mut c, v, "", 1, "nobody", &[]).await;
        assert_eq!(r.error_code, INVALID_GROUP_ID, "SyncGroup v{v} empty group id");
        let r = join_new(&mut c, 9, JoinSpec::new(&g, "", &["t"])).await;
        let member = r.member_id.to_string();
        let r = sync_group(&mut c, v, &g, 7, &member, &[]).await;
        assert_eq!(r.error_code, ILLEGAL_GENERATION, "SyncGroup v{v} wrong generation");
        let r = sync_group(&mut c, v, &g, 1, "nobody", &[]).await;
        assert_eq!(r.error_code, UNKNOWN_MEMBER_ID, "SyncGroup v{v} unknown member");
        if v >= 5 {
            let mut req =
                SyncGroupRequest::default().with_group_id(gid(&g)).with_generation_id(1).with_member_id(s(&member));
            req.protocol_type = Some(s("consumer"));
            req.protocol_name = Some(s("roundrobin"));
            let r: SyncGroupResponse = c.send(ApiKey::SyncGroup, v, &req).await.unwrap();
            assert_eq!(r.error_code, INCONSISTENT_GROUP_PROTOCOL, "SyncGroup v{v} other protocol");
        }
        let r = sync_group(&mut c, v, &g, 1, &member, &[]).await;
        assert_eq!(r.error_code, NONE);
        assert!(r.assignment.is_empty(), "v{v}: a member the leader left out gets an empty assignment");
        assert_eq!(leave_one(&mut c, 5, &g, &member).await, NONE);
    }
}

async fn round_trip_heartbeat(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    wait_for_coordinator(addr, "rt-heartbeat-errors").await;
    for v in versions {
        group_cycle(addr, GroupVersions { heartbeat: v, ..GroupVersions::max() }, &format!("heartbeat-v{v}")).await;
        assert_eq!(heartbeat(&mut c, v, "rt-heartbeat-errors", 1, "m", None).await, UNKNOWN_MEMBER_ID, "v{v}");
        assert_eq!(heartbeat(&mut c, v, "", 1, "m", None).await, INVALID_GROUP_ID, "v{v}");
    }
}

async fn round_trip_leave_group(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    for v in versions {
        group_cycle(addr, GroupVersions { leave: v, ..GroupVersions::max() }, &format!("leave-v{v}")).await;
        let g = format!("rt-leave-errors-v{v}");
        wait_for_coordinator(addr, &g).await;
        // Unknown group: the member is unknown.
        assert_eq!(leave_one(&mut c, v, &g, "nobody").await, UNKNOWN_MEMBER_ID, "LeaveGroup v{v}");
        if v >= 3 {
            // Two members leave in one request (KIP-345 batch), one unknown.
            let mut a = connect(addr).await;
            let ja = join_new(&mut a, 9, JoinSpec::new(&g, "", &["t"])).await;
            let a_id = ja.member_id.to_string();
            let sa = sync_group(&mut a, 5, &g, 1, &a_id, &[]).await;
            assert_eq!(sa.error_code, NONE);
            let (top, codes) = leave_group(&mut c, v, &g, &[(&a_id, None), ("nobody", None)]).await;
            assert_eq!(top, NONE, "LeaveGroup v{v}");
            assert_eq!(codes, vec![NONE, UNKNOWN_MEMBER_ID], "LeaveGroup v{v} batch");
            assert_eq!(describe_one(&mut c, 5, &g).await.group_state.as_str(), "Empty");
        }
    }
}

async fn round_trip_offset_commit(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    create_topic(&mut c, "rt-offset-commit", 2, &[]).await;
    for v in versions {
        group_cycle(addr, GroupVersions { commit: v, ..GroupVersions::max() }, &format!("commit-v{v}")).await;
        // A group that only stores offsets (no members): generation -1.
        let g = format!("rt-commit-simple-v{v}");
        wait_for_coordinator(addr, &g).await;
        let codes =
            commit_codes(&mut c, v, &g, -1, "", &[("rt-offset-commit", 0, 10, "a"), ("rt-offset-commit", 1, 20, "b")])
                .await;
        assert_eq!(codes, vec![NONE, NONE], "OffsetCommit v{v}");
        let (_, got) = fetched(&offset_fetch(&mut c, 9, &g, None).await, 9, 0);
        let epoch = expected_epoch(v, 9);
        assert_eq!(
            got.into_iter().collect::<Vec<_>>(),
            vec![
                (("rt-offset-commit".to_string(), 0), (10, epoch, "a".to_string(), NONE)),
                (("rt-offset-commit".to_string(), 1), (20, epoch, "b".to_string(), NONE)),
            ],
            "OffsetFetch after OffsetCommit v{v}"
        );
        // A positive generation for a group that does not exist.
        let none = format!("rt-commit-none-v{v}");
        wait_for_coordinator(addr, &none).await;
        let codes = commit_codes(&mut c, v, &none, 1, "m", &[("rt-offset-commit", 0, 1, "")]).await;
        assert_eq!(codes, vec![ILLEGAL_GENERATION], "OffsetCommit v{v} to an unknown group");
        // Metadata over offset.metadata.max.bytes (4096).
        let big = "x".repeat(4097);
        let codes = commit_codes(&mut c, v, &g, -1, "", &[("rt-offset-commit", 0, 11, &big)]).await;
        assert_eq!(codes, vec![OFFSET_METADATA_TOO_LARGE], "OffsetCommit v{v} large metadata");
        let (_, got) = fetched(&offset_fetch(&mut c, 9, &g, Some(&[("rt-offset-commit", &[0])])).await, 9, 0);
        assert_eq!(got[&("rt-offset-commit".to_string(), 0)].0, 10, "v{v}: the refused commit changed nothing");
    }
}

async fn round_trip_offset_fetch(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    create_topic(&mut c, "rt-offset-fetch", 2, &[]).await;
    wait_for_coordinator(addr, "rt-fetch-known").await;
    let codes = commit_codes(&mut c, 9, "rt-fetch-known", -1, "", &[("rt-offset-fetch", 1, 42, "meta")]).await;
    assert_eq!(codes, vec![NONE]);
    let want = |o: i64, e: i32, m: &str| (o, e, m.to_string(), NONE);
    for v in versions {
        group_cycle(addr, GroupVersions { fetch: v, ..GroupVersions::max() }, &format!("fetch-v{v}")).await;
        let epoch = if v >= 5 { COMMITTED_EPOCH } else { -1 };
        // An unknown group: -1 and no error for each requested partition.
        wait_for_coordinator(addr, "rt-fetch-unknown").await;
        let (err, got) =
            fetched(&offset_fetch(&mut c, v, "rt-fetch-unknown", Some(&[("rt-offset-fetch", &[0, 1])])).await, v, 0);
        assert_eq!(err, NONE, "OffsetFetch v{v} unknown group");
        assert_eq!(got.len(), 2);
        assert!(got.values().all(|x| *x == want(-1, -1, "")), "OffsetFetch v{v}: {got:?}");
        if v >= 2 {
            let (err, got) = fetched(&offset_fetch(&mut c, v, "rt-fetch-unknown", None).await, v, 0);
            assert_eq!((err, got.len()), (NONE, 0), "OffsetFetch v{v} all of an unknown group");
        }
        if v >= 8 {
            // Several groups in one request (KIP-709).
            let resp = offset_fetch_groups(
                &mut c,
                v,
                &[
                    ("rt-fetch-known", Some(&[("rt-offset-fetch", &[0, 1])])),
                    ("rt-fetch-unknown", None),
                    ("rt-fetch-known", None),
                ],
            )
            .await;
            let ids: Vec<&str> = resp.groups.iter().map(|g| g.group_id.0.as_str()).collect();
            assert_eq!(ids, vec!["rt-fetch-known", "rt-fetch-unknown", "rt-fetch-known"]);
            let (e0, g0) = fetched(&resp, v, 0);
            let (e1, g1) = fetched(&resp, v, 1);
            let (e2, g2) = fetched(&resp, v, 2);
            assert_eq!((e0, e1, e2), (NONE, NONE, NONE));
            assert_eq!(g0[&("rt-offset-fetch".to_string(), 0)], want(-1, -1, ""));
            assert_eq!(g0[&("rt-offset-fetch".to_string(), 1)], want(42, epoch, "meta"));
            assert!(g1.is_empty());
            assert_eq!(g2.len(), 1);
            assert_eq!(g2[&("rt-offset-fetch".to_string(), 1)], want(42, epoch, "meta"));
        } else {
            let (err, got) =
                fetched(&offset_fetch(&mut c, v, "rt-fetch-known", Some(&[("rt-offset-fetch", &[1])])).await, v, 0);
            assert_eq!(err, NONE);
            assert_eq!(got[&("rt-offset-fetch".to_string(), 1)], want(42, epoch, "meta"), "OffsetFetch v{v}");
        }
    }
}

async fn round_trip_describe_groups(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    wait_for_coordinator(addr, "rt-describe-unknown").await;
    for v in versions {
        group_cycle(addr, GroupVersions { describe: v, ..GroupVersions::max() }, &format!("describe-v{v}")).await;
        // An unknown group is described as Dead, without error.
        let d = describe_one(&mut c, v, "rt-describe-unknown").await;
        assert_eq!(d.group_state.as_str(), "Dead", "DescribeGroups v{v}");
        assert!(d.members.is_empty());
        assert_eq!(d.protocol_type.as_str(), "");
        // Authorized operations only when asked (v3+).
        let r = describe_groups(&mut c, v, &["rt-describe-unknown", "rt-group-describe-v0"], v >= 3).await;
        for g in &r.groups {
            if v >= 3 {
                assert_ne!(g.authorized_operations, AUTHORIZED_OPERATIONS_OMITTED, "v{v}");
                // READ (3), DESCRIBE (8), DELETE (6) at least.
                for op in [3, 6, 8] {
                    assert!(g.authorized_operations & (1 << op) != 0, "v{v}: operation {op}");
                }
            } else {
                assert_eq!(g.authorized_operations, AUTHORIZED_OPERATIONS_OMITTED, "v{v}");
            }
        }
        assert_eq!(r.groups[1].group_state.as_str(), "Empty", "v{v}: a group emptied by its cycle");
    }
}

async fn round_trip_list_groups(addr: SocketAddr, versions: RangeInclusive<i16>) {
    for v in versions {
        group_cycle(addr, GroupVersions { list: v, ..GroupVersions::max() }, &format!("list-v{v}")).await;
    }
}

async fn round_trip_delete_groups(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    create_topic(&mut c, "rt-delete-groups", 1, &[]).await;
    for v in versions {
        let (g, live) = (format!("rt-delete-v{v}"), format!("rt-delete-live-v{v}"));
        wait_for_coordinator(addr, &g).await;
        wait_for_coordinator(addr, &live).await;
        let codes = commit_codes(&mut c, 9, &g, -1, "", &[("rt-delete-groups", 0, 3, "")]).await;
        assert_eq!(codes, vec![NONE]);
        // A group with a member cannot be deleted.
        let mut m = connect(addr).await;
        let r = join_new(&mut m, 9, JoinSpec::new(&live, "", &["rt-delete-groups"])).await;
        let member = r.member_id.to_string();
        assert_eq!(sync_group(&mut m, 5, &live, 1, &member, &[]).await.error_code, NONE);
        let codes = delete_groups(&mut c, v, &[&g, &live, "rt-delete-never-existed"]).await;
        assert_eq!(codes, vec![NONE, NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND], "DeleteGroups v{v}");
        // The deleted group's offsets are gone, and so is the group.
        let (_, got) = fetched(&offset_fetch(&mut c, 9, &g, Some(&[("rt-delete-groups", &[0])])).await, 9, 0);
        assert_eq!(got[&("rt-delete-groups".to_string(), 0)].0, -1, "v{v}: offsets deleted");
        assert_eq!(describe_one(&mut c, 5, &g).await.group_state.as_str(), "Dead");
        assert!(listed(&mut c, 5, &g, &[], &[]).await.is_none());
        assert_eq!(delete_groups(&mut c, v, &[&g]).await, vec![GROUP_ID_NOT_FOUND], "v{v} again");
        // Once its member left, the other group can go.
        assert_eq!(leave_one(&mut m, 5, &live, &member).await, NONE);
        assert_eq!(delete_groups(&mut c, v, &[&live]).await, vec![NONE], "DeleteGroups v{v}");
    }
}

async fn round_trip_offset_delete(addr: SocketAddr, versions: RangeInclusive<i16>) {
    assert_eq!(versions, 0..=0);
    let mut c = connect(addr).await;
    let (t, u) = ("rt-offset-delete-t", "rt-offset-delete-u");
    create_topic(&mut c, t, 2, &[]).await;
    create_topic(&mut c, u, 1, &[]).await;
    let g = "rt-offset-delete";
    wait_for_coordinator(addr, g).await;
    // A member subscribed to t (not u) commits both.
    let mut m = connect(addr).await;
    let r = join_new(&mut m, 9, JoinSpec::new(g, "", &[t])).await;
    let member = r.member_id.to_string();
    assert_eq!(sync_group(&mut m, 5, g, 1, &member, &[]).await.error_code, NONE);
    let codes = commit_codes(&mut m, 9, g, 1, &member, &[(t, 0, 1, ""), (t, 1, 2, ""), (u, 0, 3, "")]).await;
    assert_eq!(codes, vec![NONE, NONE, NONE]);
    // Offsets of a subscribed topic cannot be deleted; others can.
    let (err, codes) = offset_delete(&mut c, g, &[(t, 0), (u, 0), ("rt-no-such-topic", 0)]).await;
    assert_eq!(err, NONE, "OffsetDelete v0");
    assert_eq!(
        codes,
        vec![GROUP_SUBSCRIBED_TO_TOPIC, NONE, UNKNOWN_TOPIC_OR_PARTITION],
        "OffsetDelete v0 per partition"
    );
    let (_, got) = fetched(&offset_fetch(&mut c, 9, g, None).await, 9, 0);
    let keys: Vec<_> = got.keys().cloned().collect();
    assert_eq!(keys, vec![(t.to_string(), 0), (t.to_string(), 1)], "u's offset is gone");
    // Once the group is empty, any offset can go.
    assert_eq!(leave_one(&mut m, 5, g, &member).await, NONE);
    let (err, codes) = offset_delete(&mut c, g, &[(t, 0)]).await;
    assert_eq!((err, codes), (NONE, vec![NONE]), "OffsetDelete v0 of an empty group");
    let (_, got) = fetched(&offset_fetch(&mut c, 9, g, Some(&[(t, &[0, 1])])).await, 9, 0);
    assert_eq!(got[&(t.to_string(), 0)].0, -1);
    assert_eq!(got[&(t.to_string(), 1)].0, 2);
    // Unknown group; no group id (Kafka's isValidGroupId: OffsetDelete,
    // unlike OffsetCommit and OffsetFetch, needs one).
    let (err, codes) = offset_delete(&mut c, "rt-offset-delete-unknown", &[(t, 0)]).await;
    assert_eq!(err, GROUP_ID_NOT_FOUND, "OffsetDelete v0 unknown group");
    assert!(codes.is_empty());
    let (err, codes) = offset_delete(&mut c, "", &[(t, 0)]).await;
    assert_eq!(err, INVALID_GROUP_ID, "OffsetDelete v0 empty group id");
    assert!(codes.is_empty());
}
