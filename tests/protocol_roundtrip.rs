//! A round trip of every API in `SUPPORTED_APIS` at every advertised
//! version, against an in-process broker, with the answers checked against
//! what Apache Kafka gives.
//!
//! `every_advertised_api_round_trips_at_every_advertised_version` walks the
//! advertised table itself: an API added to the table without a round trip
//! here fails it. The other tests cover the error paths of each API.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::delete_records_response::DeleteRecordsPartitionResult;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::describe_topic_partitions_request::{
    Cursor as RequestCursor, TopicRequest,
};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::incremental_alter_configs_request as incremental;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::list_offsets_response::ListOffsetsPartitionResponse;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, ApiKey, ApiVersionsRequest, ApiVersionsResponse,
    BrokerId, CreateTopicsRequest, CreateTopicsResponse, DeleteRecordsRequest,
    DeleteRecordsResponse, DeleteTopicsRequest, DeleteTopicsResponse, DescribeClusterRequest,
    DescribeClusterResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, FetchRequest, FetchResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, InitProducerIdRequest,
    InitProducerIdResponse, ListOffsetsRequest, ListOffsetsResponse, MetadataRequest,
    MetadataResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;
use weir::wire::batch::BatchIter;
use weir::wire::client::{decode_response, BrokerClient};
use weir::wire::records::{decode_records, BatchBuilder, Record};
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
    BrokerClient::connect(&addr.to_string(), "protocol-roundtrip")
        .await
        .expect("connect to broker")
}

fn advertised(key: ApiKey) -> RangeInclusive<i16> {
    let api = SUPPORTED_APIS
        .iter()
        .find(|a| a.key == key)
        .unwrap_or_else(|| panic!("{key:?} is not advertised"));
    api.min..=api.max
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn tn(v: &str) -> TopicName {
    TopicName(s(v))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
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
                .map(|(k, v)| {
                    CreatableTopicConfig::default()
                        .with_name(s(k))
                        .with_value(Some(s(v)))
                })
                .collect(),
        )
}

async fn create_topics(
    c: &mut BrokerClient,
    version: i16,
    topics: Vec<CreatableTopic>,
    validate_only: bool,
) -> CreateTopicsResponse {
    let req = CreateTopicsRequest::default()
        .with_topics(topics)
        .with_timeout_ms(10_000)
        .with_validate_only(validate_only);
    c.send(ApiKey::CreateTopics, version, &req)
        .await
        .unwrap_or_else(|e| panic!("CreateTopics v{version}: {e}"))
}

/// Creates a topic (CreateTopics v7) and returns its id.
async fn create_topic(
    c: &mut BrokerClient,
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> Uuid {
    let resp = create_topics(c, 7, vec![creatable(name, partitions, 1, configs)], false).await;
    let r = &resp.topics[0];
    assert_eq!(r.error_code, NONE, "creating {name}: {:?}", r.error_message);
    assert!(
        !r.topic_id.is_nil(),
        "{name} was created with a nil topic id"
    );
    r.topic_id
}

fn metadata_request(
    version: i16,
    topics: Option<Vec<MetadataRequestTopic>>,
    allow_auto: bool,
) -> MetadataRequest {
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
    MetadataRequestTopic::default()
        .with_name(None)
        .with_topic_id(id)
}

async fn metadata(c: &mut BrokerClient, version: i16, req: &MetadataRequest) -> MetadataResponse {
    c.send(ApiKey::Metadata, version, req)
        .await
        .unwrap_or_else(|e| panic!("Metadata v{version}: {e}"))
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
    common::wait_until(
        &format!("{name} to be unknown"),
        Duration::from_secs(10),
        || {
            let name = name.clone();
            async move {
                let mut c = connect(addr).await;
                topic_metadata(&mut c, &name).await.error_code == UNKNOWN_TOPIC_OR_PARTITION
            }
        },
    )
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
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(tn(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])])
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
        .send(
            ApiKey::Produce,
            version,
            &produce_request(acks, topic, partition, records),
        )
        .await
        .unwrap_or_else(|e| panic!("Produce v{version}: {e}"));
    assert_eq!(
        resp.responses.len(),
        1,
        "Produce v{version}: one topic answered"
    );
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
    assert_eq!(
        p.error_code, NONE,
        "produce to {topic}: {:?}",
        p.error_message
    );
    p.base_offset
}

fn fetch_request(
    version: i16,
    topic: &str,
    id: Uuid,
    partition: i32,
    offset: i64,
    max_wait_ms: i32,
) -> FetchRequest {
    let mut t = FetchTopic::default().with_partitions(vec![FetchPartition::default()
        .with_partition(partition)
        .with_fetch_offset(offset)
        .with_partition_max_bytes(1 << 20)]);
    if version >= 13 {
        t.topic_id = id;
    } else {
        t.topic = tn(topic);
    }
    FetchRequest::default()
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(4 << 20)
        .with_topics(vec![t])
}

/// Fetches one partition and returns its data.
async fn fetch(
    c: &mut BrokerClient,
    version: i16,
    topic: &str,
    id: Uuid,
    offset: i64,
) -> PartitionData {
    let resp: FetchResponse = c
        .send(
            ApiKey::Fetch,
            version,
            &fetch_request(version, topic, id, 0, offset, 100),
        )
        .await
        .unwrap_or_else(|e| panic!("Fetch v{version}: {e}"));
    assert_eq!(resp.error_code, NONE, "Fetch v{version} top-level error");
    assert_eq!(resp.responses.len(), 1);
    let t = &resp.responses[0];
    if version >= 13 {
        assert_eq!(t.topic_id, id, "Fetch v{version} answers by topic id");
    } else {
        assert_eq!(
            t.topic.0.as_str(),
            topic,
            "Fetch v{version} answers by name"
        );
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

async fn list_offset(
    c: &mut BrokerClient,
    version: i16,
    topic: &str,
    timestamp: i64,
) -> ListOffsetsPartitionResponse {
    let mut req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(tn(topic))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(timestamp)])]);
    if version >= 10 {
        req.timeout_ms = 10_000;
    }
    let resp: ListOffsetsResponse = c
        .send(ApiKey::ListOffsets, version, &req)
        .await
        .unwrap_or_else(|e| panic!("ListOffsets v{version}: {e}"));
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
    let mut req =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
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
    let env = Env::start(&[]).await;
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
            ApiKey::IncrementalAlterConfigs => {
                tokio::spawn(round_trip_incremental_alter_configs(addr, versions))
            }
            ApiKey::InitProducerId => tokio::spawn(round_trip_init_producer_id(addr, versions)),
            ApiKey::DescribeConfigs => tokio::spawn(round_trip_describe_configs(addr, versions)),
            ApiKey::DescribeCluster => tokio::spawn(round_trip_describe_cluster(addr, versions)),
            ApiKey::DescribeTopicPartitions => {
                tokio::spawn(round_trip_describe_topic_partitions(addr, versions))
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
    assert!(
        failures.is_empty(),
        "round trips failed:\n{}",
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------
// ApiVersions
// ---------------------------------------------------------------------------

fn advertised_table() -> Vec<(i16, i16, i16)> {
    let mut t: Vec<_> = SUPPORTED_APIS
        .iter()
        .map(|a| (a.key as i16, a.min, a.max))
        .collect();
    t.sort();
    t
}

fn answered_table(resp: &ApiVersionsResponse) -> Vec<(i16, i16, i16)> {
    let mut t: Vec<_> = resp
        .api_keys
        .iter()
        .map(|a| (a.api_key, a.min_version, a.max_version))
        .collect();
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
        assert_eq!(
            answered_table(&resp),
            advertised_table(),
            "ApiVersions v{v} api_keys"
        );
        if v >= 3 {
            assert!(
                !resp.supported_features.is_empty(),
                "v{v}: supported_features"
            );
            for f in &resp.supported_features {
                assert!(
                    f.min_version >= 1,
                    "v{v}: feature {} min {} < 1",
                    f.name.as_str(),
                    f.min_version
                );
                assert!(
                    f.max_version >= f.min_version,
                    "v{v}: feature {}",
                    f.name.as_str()
                );
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
                assert!(
                    f.min_version_level >= sup.min_version
                        && f.max_version_level <= sup.max_version
                );
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
                    "transaction.version" => assert!(
                        f.max_version_level < 2,
                        "v{v}: transaction.version {}",
                        f.max_version_level
                    ),
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
        c.write_raw(&api_versions_frame(version, corr))
            .await
            .unwrap();
        let frame = tokio::time::timeout(Duration::from_secs(10), c.read_frame())
            .await
            .expect("answer in time")
            .expect("read")
            .expect("the broker answers instead of closing");
        assert_eq!(&frame[..4], &corr.to_be_bytes(), "correlation id");
        let resp: ApiVersionsResponse = decode_response(ApiKey::ApiVersions, 0, frame)
            .expect("the answer is a v0-layout ApiVersions response");
        assert_eq!(resp.error_code, UNSUPPORTED_VERSION, "v{version}");
        assert_eq!(answered_table(&resp), advertised_table(), "v{version}");
    }
    // The connection is still usable: the client retries at v3.
    let resp: ApiVersionsResponse = c
        .send(ApiKey::ApiVersions, 3, &api_versions_request(3))
        .await
        .unwrap();
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
    assert_eq!(
        indexes,
        (0..partitions).collect::<Vec<_>>(),
        "v{v}: partitions of {name}"
    );
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
            assert_eq!(
                resp.controller_id.0, NODE_ID,
                "v{v}: controller is the live broker"
            );
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
            assert_eq!(
                resp.topics[0].topic_id, id,
                "v{v}: topic id is the id CreateTopics returned"
            );
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
            assert_eq!(
                resp.topics[0].error_code, UNKNOWN_TOPIC_ID,
                "v{v}: unknown id"
            );
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
            assert_eq!(
                resp.topics[0].error_code, UNKNOWN_TOPIC_OR_PARTITION,
                "v{v}: {missing}"
            );
            assert_eq!(
                topic_metadata(&mut c, &missing).await.error_code,
                UNKNOWN_TOPIC_OR_PARTITION
            );
        }
    }
    assert_eq!(
        cluster_ids.len(),
        1,
        "cluster id is stable across versions: {cluster_ids:?}"
    );
}

/// Metadata auto-creates an unknown topic when the broker and the request
/// allow it (implicitly before v4).
#[tokio::test]
async fn metadata_auto_creates_topics_when_allowed() {
    let env = Env::start(&[("num.partitions", "2")]).await;
    let mut c = env.client().await;
    for v in advertised(ApiKey::Metadata).filter(|v| *v >= 1) {
        let name = format!("rt-auto-v{v}");
        let resp = metadata(
            &mut c,
            v,
            &metadata_request(v, Some(vec![by_name(&name)]), true),
        )
        .await;
        let code = resp.topics[0].error_code;
        assert!(
            code == NONE || code == LEADER_NOT_AVAILABLE,
            "v{v}: auto-created topic answered {code}"
        );
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
        let resp = metadata(
            &mut c,
            v,
            &metadata_request(v, Some(vec![by_name(&name)]), true),
        )
        .await;
        assert_eq!(
            resp.topics[0].error_code, UNKNOWN_TOPIC_OR_PARTITION,
            "v{v}"
        );
    }
    env.stop().await;
}

#[tokio::test]
async fn metadata_reports_invalid_topic_names() {
    let env = Env::start(&[]).await;
    let mut c = env.client().await;
    for v in advertised(ApiKey::Metadata).filter(|v| *v >= 4) {
        for allow in [false, true] {
            let resp = metadata(
                &mut c,
                v,
                &metadata_request(v, Some(vec![by_name("bad name")]), allow),
            )
            .await;
            assert_eq!(
                resp.topics[0].error_code, INVALID_TOPIC_EXCEPTION,
                "v{v} allow_auto={allow}"
            );
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
        let resp = create_topics(
            &mut c,
            v,
            vec![creatable(&name, 3, 1, &[("retention.ms", "1234")])],
            false,
        )
        .await;
        assert_eq!(resp.topics.len(), 1);
        let r = &resp.topics[0];
        assert_eq!(r.name.0.as_str(), name);
        assert_eq!(
            r.error_code, NONE,
            "CreateTopics v{v}: {:?}",
            r.error_message
        );
        if v >= 5 {
            assert_eq!(r.num_partitions, 3, "v{v}: num_partitions");
            assert_eq!(r.replication_factor, 1, "v{v}: replication_factor");
            assert_eq!(r.topic_config_error_code, NONE);
            let configs = r.configs.as_ref().expect("v5+ returns configs");
            let retention = configs
                .iter()
                .find(|c| c.name.as_str() == "retention.ms")
                .expect("retention.ms in configs");
            assert_eq!(retention.value.as_deref(), Some("1234"), "v{v}");
            assert_eq!(
                retention.config_source, DYNAMIC_TOPIC_CONFIG,
                "v{v}: retention.ms source"
            );
            let segment = configs
                .iter()
                .find(|c| c.name.as_str() == "segment.bytes")
                .expect("segment.bytes in configs");
            assert_eq!(segment.value.as_deref(), Some("1073741824"));
            assert_eq!(
                segment.config_source, DEFAULT_CONFIG,
                "v{v}: segment.bytes source"
            );
        }
        let meta = topic_metadata(&mut c, &name).await;
        assert_topic(&meta, &name, 3, 12);
        if v >= 7 {
            assert!(!r.topic_id.is_nil(), "v{v}: topic id");
            assert_eq!(
                r.topic_id, meta.topic_id,
                "v{v}: CreateTopics and Metadata agree on the id"
            );
        }

        // The same name again.
        let again = create_topics(&mut c, v, vec![creatable(&name, 3, 1, &[])], false).await;
        let r = &again.topics[0];
        assert_eq!(r.error_code, TOPIC_ALREADY_EXISTS, "v{v}: repeat");
        assert!(
            r.error_message.as_ref().is_some_and(|m| !m.is_empty()),
            "v{v}: error message"
        );
        if v >= 5 {
            assert_eq!(
                (r.num_partitions, r.replication_factor),
                (-1, -1),
                "v{v}: failed result fields"
            );
        }
    }
}

#[tokio::test]
async fn create_topics_validate_only_creates_nothing() {
    let env = Env::start(&[]).await;
    let mut c = env.client().await;
    for v in advertised(ApiKey::CreateTopics) {
        let name = format!("rt-validate-v{v}");
        let resp = create_topics(
            &mut c,
            v,
            vec![creatable(&name, 3, 1, &[("retention.ms", "1234")])],
            true,
        )
        .await;
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
            (
                creatable(&format!("rt-zero-v{v}"), 0, 1, &[]),
                INVALID_PARTITIONS,
            ),
            (
                creatable(&format!("rt-rf3-v{v}"), 1, 3, &[]),
                INVALID_REPLICATION_FACTOR,
            ),
            (
                creatable(
                    &format!("rt-unknown-config-v{v}"),
                    1,
                    1,
                    &[("no.such.config", "1")],
                ),
                INVALID_CONFIG,
            ),
            (
                creatable(
                    &format!("rt-bad-value-v{v}"),
                    1,
                    1,
                    &[("retention.ms", "forever")],
                ),
                INVALID_CONFIG,
            ),
            (
                creatable(
                    &format!("rt-bad-policy-v{v}"),
                    1,
                    1,
                    &[("cleanup.policy", "shred")],
                ),
                INVALID_CONFIG,
            ),
        ];
        let names: Vec<String> = cases.iter().map(|(t, _)| t.name.0.to_string()).collect();
        let resp = create_topics(
            &mut c,
            v,
            cases.iter().map(|(t, _)| t.clone()).collect(),
            false,
        )
        .await;
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
            assert_eq!(
                topic_metadata(&mut c, n).await.error_code,
                UNKNOWN_TOPIC_OR_PARTITION,
                "v{v}: {n} was created"
            );
        }
    }
    env.stop().await;
}

fn assert_failed_result(r: &CreatableTopicResult, v: i16) {
    assert!(
        r.error_message.as_ref().is_some_and(|m| !m.is_empty()),
        "v{v}: failed results carry a message"
    );
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
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Produce v0-2 (no transactional id), hand-encoded: the codec does not
/// know these versions any more.
fn legacy_produce_frame(
    version: i16,
    corr: i32,
    acks: i16,
    topic: &str,
    partition: i32,
    records: &[u8],
) -> Vec<u8> {
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
    assert!(
        r.0.is_empty(),
        "Produce v{version} response has {} trailing bytes",
        r.0.len()
    );
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
            c.write_raw(&legacy_produce_frame(v, corr, 1, topic, 0, &msg))
                .await
                .unwrap();
            let frame = c
                .read_frame()
                .await
                .unwrap()
                .expect("Produce v0-2 is answered");
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
            assert_eq!(
                p.error_code, NONE,
                "Produce v{v} acks={acks}: {:?}",
                p.error_message
            );
            assert_eq!(
                p.base_offset,
                expected.len() as i64,
                "Produce v{v} acks={acks}: base offset"
            );
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
        let p = produce(
            &mut c,
            v,
            1,
            topic,
            0,
            zstd_batch(&[&values[0], &values[1]]),
        )
        .await;
        if v < 7 {
            assert_eq!(
                p.error_code, UNSUPPORTED_COMPRESSION_TYPE,
                "Produce v{v} with zstd"
            );
        } else {
            assert_eq!(
                p.error_code, NONE,
                "Produce v{v} with zstd: {:?}",
                p.error_message
            );
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
        assert_eq!(
            records.iter().map(|r| r.offset).collect::<Vec<_>>(),
            (0..6).collect::<Vec<_>>()
        );

        // From the middle: the batch holding offset 2 onwards.
        let p = fetch(&mut c, v, topic, id, 2).await;
        let records = fetched_records(&p);
        assert_eq!(
            records.first().map(|r| r.offset),
            Some(2),
            "Fetch v{v} from 2"
        );
        assert_eq!(
            records.iter().map(value_of).collect::<Vec<_>>(),
            &values[2..]
        );

        // At the end: nothing, after at most max_wait_ms.
        let p = fetch(&mut c, v, topic, id, 6).await;
        assert_eq!(p.error_code, NONE);
        assert!(fetched_records(&p).is_empty(), "Fetch v{v} at the log end");

        // Past the end.
        let p = fetch(&mut c, v, topic, id, 7).await;
        assert_eq!(
            p.error_code, OFFSET_OUT_OF_RANGE,
            "Fetch v{v} past the log end"
        );
    }
}

#[tokio::test]
async fn fetch_unknown_topics_answer_by_version() {
    let env = Env::start(&[]).await;
    let mut c = env.client().await;
    for v in advertised(ApiKey::Fetch) {
        let resp: FetchResponse = c
            .send(
                ApiKey::Fetch,
                v,
                &fetch_request(v, "rt-no-such-topic", Uuid::new_v4(), 0, 0, 0),
            )
            .await
            .unwrap();
        let code = resp.responses[0].partitions[0].error_code;
        let expected = if v >= 13 {
            UNKNOWN_TOPIC_ID
        } else {
            UNKNOWN_TOPIC_OR_PARTITION
        };
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
    produce_ok(
        &mut c,
        topic,
        batch_at([("a", base), ("b", base + 10), ("c", base + 100)]),
    )
    .await;
    produce_ok(
        &mut c,
        topic,
        batch_at([("d", base + 20), ("e", base + 30)]),
    )
    .await;
    let epoch = topic_metadata(&mut c, topic).await.partitions[0].leader_epoch;
    for v in versions {
        let p = list_offset(&mut c, v, topic, EARLIEST).await;
        assert_eq!(
            (p.error_code, p.offset, p.timestamp),
            (NONE, 0, -1),
            "ListOffsets v{v} earliest"
        );

        let p = list_offset(&mut c, v, topic, LATEST).await;
        assert_eq!(
            (p.error_code, p.offset, p.timestamp),
            (NONE, 5, -1),
            "ListOffsets v{v} latest"
        );
        if v >= 4 {
            assert_eq!(
                p.leader_epoch, epoch,
                "v{v}: latest carries the leader epoch"
            );
        }

        let p = list_offset(&mut c, v, topic, base).await;
        assert_eq!(
            (p.error_code, p.offset, p.timestamp),
            (NONE, 0, base),
            "ListOffsets v{v} at the first timestamp"
        );

        let p = list_offset(&mut c, v, topic, base + 5).await;
        assert_eq!(
            (p.error_code, p.offset, p.timestamp),
            (NONE, 1, base + 10),
            "ListOffsets v{v} by timestamp"
        );
        if v >= 4 {
            assert_eq!(p.leader_epoch, epoch, "v{v}: epoch of the found batch");
        }

        let p = list_offset(&mut c, v, topic, base + 101).await;
        assert_eq!(
            (p.error_code, p.offset, p.timestamp),
            (NONE, -1, -1),
            "ListOffsets v{v} after every timestamp"
        );

        if v >= 7 {
            let p = list_offset(&mut c, v, topic, MAX_TIMESTAMP).await;
            assert_eq!(
                (p.error_code, p.offset, p.timestamp),
                (NONE, 2, base + 100),
                "ListOffsets v{v} max timestamp"
            );
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

async fn delete_topics(
    c: &mut BrokerClient,
    v: i16,
    names: &[&str],
    ids: &[Uuid],
) -> DeleteTopicsResponse {
    let mut req = DeleteTopicsRequest::default().with_timeout_ms(10_000);
    if v >= 6 {
        req.topics = names
            .iter()
            .map(|n| DeleteTopicState::default().with_name(Some(tn(n))))
            .chain(ids.iter().map(|id| {
                DeleteTopicState::default()
                    .with_name(None)
                    .with_topic_id(*id)
            }))
            .collect();
    } else {
        assert!(ids.is_empty(), "DeleteTopics by id needs v6");
        req.topic_names = names.iter().map(|n| tn(n)).collect();
    }
    c.send(ApiKey::DeleteTopics, v, &req)
        .await
        .unwrap_or_else(|e| panic!("DeleteTopics v{v}: {e}"))
}

async fn round_trip_delete_topics(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    for v in versions {
        let name = format!("rt-delete-v{v}");
        let id = create_topic(&mut c, &name, 2, &[]).await;
        let resp = delete_topics(&mut c, v, &[&name], &[]).await;
        assert_eq!(resp.responses.len(), 1);
        let r = &resp.responses[0];
        assert_eq!(
            r.error_code, NONE,
            "DeleteTopics v{v}: {:?}",
            r.error_message
        );
        assert_eq!(r.name.as_ref().map(|n| n.0.as_str()), Some(name.as_str()));
        if v >= 6 {
            assert_eq!(r.topic_id, id, "v{v}: deleted topic's id");
        }
        wait_until_unknown(addr, &name).await;

        let resp = delete_topics(&mut c, v, &[&format!("rt-never-created-v{v}")], &[]).await;
        assert_eq!(
            resp.responses[0].error_code, UNKNOWN_TOPIC_OR_PARTITION,
            "v{v}: unknown name"
        );

        if v >= 6 {
            let name = format!("rt-delete-by-id-v{v}");
            let id = create_topic(&mut c, &name, 1, &[]).await;
            let resp = delete_topics(&mut c, v, &[], &[id]).await;
            let r = &resp.responses[0];
            assert_eq!(r.error_code, NONE, "v{v} by id: {:?}", r.error_message);
            assert_eq!(r.topic_id, id);
            assert_eq!(
                r.name.as_ref().map(|n| n.0.as_str()),
                Some(name.as_str()),
                "v{v}: by id answers the name"
            );
            wait_until_unknown(addr, &name).await;

            let resp = delete_topics(&mut c, v, &[], &[Uuid::new_v4()]).await;
            assert_eq!(
                resp.responses[0].error_code, UNKNOWN_TOPIC_ID,
                "v{v}: unknown id"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// DeleteRecords
// ---------------------------------------------------------------------------

async fn delete_records(
    c: &mut BrokerClient,
    v: i16,
    topic: &str,
    offset: i64,
) -> DeleteRecordsPartitionResult {
    let req = DeleteRecordsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![DeleteRecordsTopic::default()
            .with_name(tn(topic))
            .with_partitions(vec![DeleteRecordsPartition::default()
                .with_partition_index(0)
                .with_offset(offset)])]);
    let resp: DeleteRecordsResponse = c
        .send(ApiKey::DeleteRecords, v, &req)
        .await
        .unwrap_or_else(|e| panic!("DeleteRecords v{v}: {e}"));
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
        assert_eq!(
            (p.error_code, p.low_watermark),
            (NONE, 2),
            "DeleteRecords v{v} to 2"
        );
        let earliest = list_offset(&mut c, 7, &topic, EARLIEST).await;
        assert_eq!(
            earliest.offset, 2,
            "v{v}: ListOffsets earliest after DeleteRecords"
        );
        let below = fetch(&mut c, 12, &topic, id, 0).await;
        assert_eq!(
            below.error_code, OFFSET_OUT_OF_RANGE,
            "v{v}: fetch below the log start"
        );
        let from = fetch(&mut c, 12, &topic, id, 2).await;
        assert_eq!(from.log_start_offset, 2);
        let values: Vec<String> = fetched_records(&from).iter().map(value_of).collect();
        assert_eq!(values, ["r2", "r3", "r4"], "v{v}: what is left");

        // Moving backwards is a no-op that reports the current start.
        let p = delete_records(&mut c, v, &topic, 1).await;
        assert_eq!(
            (p.error_code, p.low_watermark),
            (NONE, 2),
            "DeleteRecords v{v} to 1"
        );
        // -1: up to the high watermark.
        let p = delete_records(&mut c, v, &topic, -1).await;
        assert_eq!(
            (p.error_code, p.low_watermark),
            (NONE, 5),
            "DeleteRecords v{v} to -1"
        );
        assert_eq!(list_offset(&mut c, 7, &topic, EARLIEST).await.offset, 5);
        // Beyond the high watermark.
        let p = delete_records(&mut c, v, &topic, 6).await;
        assert_eq!(
            (p.error_code, p.low_watermark),
            (OFFSET_OUT_OF_RANGE, -1),
            "DeleteRecords v{v} past the end"
        );

        let p = delete_records(&mut c, v, "rt-no-such-topic", 0).await;
        assert_eq!(
            (p.error_code, p.low_watermark),
            (UNKNOWN_TOPIC_OR_PARTITION, -1),
            "v{v}: unknown topic"
        );
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
    let req = AlterConfigsRequest::default()
        .with_validate_only(validate_only)
        .with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(s(name))
            .with_configs(
                configs
                    .iter()
                    .map(|(k, val)| {
                        AlterableConfig::default()
                            .with_name(s(k))
                            .with_value(Some(s(val)))
                    })
                    .collect(),
            )]);
    let resp: AlterConfigsResponse = c
        .send(ApiKey::AlterConfigs, v, &req)
        .await
        .unwrap_or_else(|e| panic!("AlterConfigs v{v}: {e}"));
    assert_eq!(resp.responses.len(), 1);
    let r = &resp.responses[0];
    assert_eq!(
        (r.resource_type, r.resource_name.as_str()),
        (resource_type, name)
    );
    (
        r.error_code,
        r.error_message.as_ref().map(|m| m.to_string()),
    )
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
    let req = IncrementalAlterConfigsRequest::default()
        .with_validate_only(validate_only)
        .with_resources(vec![incremental::AlterConfigsResource::default()
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
            )]);
    let resp: IncrementalAlterConfigsResponse = c
        .send(ApiKey::IncrementalAlterConfigs, v, &req)
        .await
        .unwrap_or_else(|e| panic!("IncrementalAlterConfigs v{v}: {e}"));
    assert_eq!(resp.responses.len(), 1);
    let r = &resp.responses[0];
    assert_eq!(
        (r.resource_type, r.resource_name.as_str()),
        (resource_type, name)
    );
    (
        r.error_code,
        r.error_message.as_ref().map(|m| m.to_string()),
    )
}

/// (value, source) of one config of a resource (DescribeConfigs v4).
async fn described(
    c: &mut BrokerClient,
    resource_type: i8,
    name: &str,
    key: &str,
) -> (Option<String>, i8) {
    let r = describe_configs(c, 4, resource_type, name, Some(&[key]), false).await;
    assert_eq!(
        r.error_code, NONE,
        "DescribeConfigs {name}: {:?}",
        r.error_message
    );
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
        assert_eq!(
            described(&mut c, RESOURCE_TOPIC, &topic, "retention.ms").await,
            dynamic("5000"),
            "v{v}"
        );
        assert_eq!(
            described(&mut c, RESOURCE_TOPIC, &topic, "max.message.bytes").await,
            dynamic("1024"),
            "v{v}"
        );
        // Applied to the live log.
        let p = produce(&mut c, 9, 1, &topic, 0, batch(&[&big], now_ms())).await;
        assert_eq!(
            p.error_code, MESSAGE_TOO_LARGE,
            "v{v}: max.message.bytes=1024 is enforced"
        );

        // AlterConfigs replaces the whole set of dynamic configs.
        let set = [("segment.bytes", "2097152")];
        assert_eq!(
            alter_configs(&mut c, v, RESOURCE_TOPIC, &topic, &set, false)
                .await
                .0,
            NONE,
            "v{v}"
        );
        assert_eq!(
            described(&mut c, RESOURCE_TOPIC, &topic, "segment.bytes").await,
            dynamic("2097152"),
            "v{v}"
        );
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
        assert_eq!(
            p.error_code, NONE,
            "v{v}: the default max.message.bytes applies again"
        );

        // validate_only changes nothing.
        let (code, _) = alter_configs(
            &mut c,
            v,
            RESOURCE_TOPIC,
            &topic,
            &[("retention.ms", "1")],
            true,
        )
        .await;
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
        let (code, _) = alter_configs(
            &mut c,
            v,
            RESOURCE_TOPIC,
            "rt-no-such-topic",
            &[("retention.ms", "1")],
            false,
        )
        .await;
        assert_eq!(code, UNKNOWN_TOPIC_OR_PARTITION, "v{v}: unknown topic");
    }
}

async fn round_trip_incremental_alter_configs(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    for v in versions {
        let topic = format!("rt-incremental-v{v}");
        create_topic(&mut c, &topic, 1, &[]).await;
        let ok = (NONE, None);

        let r = incremental_alter(
            &mut c,
            v,
            RESOURCE_TOPIC,
            &topic,
            &[("retention.ms", SET, Some("7000"))],
            false,
        )
        .await;
        assert_eq!(r, ok, "IncrementalAlterConfigs v{v} SET");
        let r = incremental_alter(
            &mut c,
            v,
            RESOURCE_TOPIC,
            &topic,
            &[("max.message.bytes", SET, Some("4096"))],
            false,
        )
        .await;
        assert_eq!(r, ok, "v{v} SET");
        assert_eq!(
            described(&mut c, RESOURCE_TOPIC, &topic, "retention.ms").await,
            dynamic("7000"),
            "v{v}: kept"
        );
        assert_eq!(
            described(&mut c, RESOURCE_TOPIC, &topic, "max.message.bytes").await,
            dynamic("4096"),
            "v{v}"
        );

        let r = incremental_alter(
            &mut c,
            v,
            RESOURCE_TOPIC,
            &topic,
            &[("retention.ms", DELETE, None)],
            false,
        )
        .await;
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

        let r = incremental_alter(
            &mut c,
            v,
            RESOURCE_TOPIC,
            &topic,
            &[("cleanup.policy", APPEND, Some("compact"))],
            false,
        )
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
        assert_eq!(
            described(&mut c, RESOURCE_TOPIC, &topic, "cleanup.policy").await,
            dynamic("compact"),
            "v{v}"
        );

        // validate_only changes nothing.
        let r = incremental_alter(
            &mut c,
            v,
            RESOURCE_TOPIC,
            &topic,
            &[("retention.ms", SET, Some("1"))],
            true,
        )
        .await;
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
            let (code, msg) =
                incremental_alter(&mut c, v, RESOURCE_TOPIC, &topic, &[case], false).await;
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
        let r = incremental_alter(
            &mut c,
            v,
            RESOURCE_BROKER,
            &broker,
            &[("log.retention.ms", DELETE, None)],
            false,
        )
        .await;
        assert_eq!(r, ok, "v{v}: broker DELETE");
        assert_eq!(
            described(&mut c, RESOURCE_TOPIC, &topic, "retention.ms").await,
            default_value("604800000"),
            "v{v}"
        );
    }
}

// ---------------------------------------------------------------------------
// InitProducerId and idempotence
// ---------------------------------------------------------------------------

async fn init_producer_id(c: &mut BrokerClient, v: i16) -> (i64, i16) {
    let req = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000);
    let resp: InitProducerIdResponse = c
        .send(ApiKey::InitProducerId, v, &req)
        .await
        .unwrap_or_else(|e| panic!("InitProducerId v{v}: {e}"));
    assert_eq!(resp.error_code, NONE, "InitProducerId v{v}");
    (resp.producer_id.0, resp.producer_epoch)
}

async fn round_trip_init_producer_id(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    let mut seen = HashSet::new();
    for v in versions {
        let (pid, epoch) = init_producer_id(&mut c, v).await;
        assert!(pid >= 0, "v{v}: producer id {pid}");
        assert_eq!(
            epoch, 0,
            "v{v}: a new idempotent producer starts at epoch 0"
        );
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
        assert_eq!(
            p.error_code, NONE,
            "duplicate at v{v}: {:?}",
            p.error_message
        );
        assert_eq!(
            p.base_offset, 1,
            "duplicate at v{v} gets the original base offset"
        );
    }
    assert_eq!(
        latest_offset(&mut c, topic).await,
        4,
        "the duplicate was not appended"
    );
    assert_eq!(
        produce_ok(&mut c, topic, idempotent_batch(&["d"], pid, epoch, 3)).await,
        4
    );
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
    assert_eq!(
        produce_ok(&mut c, topic, idempotent_batch(&["a", "b"], pid, epoch, 0)).await,
        0
    );
    let p = produce(
        &mut c,
        9,
        -1,
        topic,
        0,
        idempotent_batch(&["z"], pid, epoch, 5),
    )
    .await;
    assert_eq!(
        p.error_code, OUT_OF_ORDER_SEQUENCE_NUMBER,
        "sequence 5 after 1"
    );
    assert_eq!(latest_offset(&mut c, topic).await, 2);
    // The expected sequence still works.
    assert_eq!(
        produce_ok(&mut c, topic, idempotent_batch(&["c"], pid, epoch, 2)).await,
        2
    );
    env.stop().await;
}

#[tokio::test]
async fn idempotent_older_epoch_is_fenced() {
    let env = Env::start(&[]).await;
    let mut c = env.client().await;
    let topic = "rt-idem-epoch";
    create_topic(&mut c, topic, 1, &[]).await;
    let (pid, _) = init_producer_id(&mut c, 4).await;
    assert_eq!(
        produce_ok(&mut c, topic, idempotent_batch(&["a"], pid, 0, 0)).await,
        0
    );
    assert_eq!(
        produce_ok(&mut c, topic, idempotent_batch(&["b"], pid, 1, 0)).await,
        1
    );
    let p = produce(&mut c, 9, -1, topic, 0, idempotent_batch(&["c"], pid, 0, 1)).await;
    assert_eq!(
        p.error_code, INVALID_PRODUCER_EPOCH,
        "epoch 0 after epoch 1"
    );
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
        assert_eq!(
            r.error_code, NONE,
            "DescribeConfigs v{v}: {:?}",
            r.error_message
        );
        let names: HashSet<&str> = r.configs.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names.len(), r.configs.len(), "v{v}: each config once");
        let expected: BTreeMap<&str, (&str, i8, i8)> = [
            ("retention.ms", ("1234", DYNAMIC_TOPIC_CONFIG, TYPE_LONG)),
            ("min.insync.replicas", ("1", DEFAULT_CONFIG, TYPE_INT)),
            ("segment.bytes", ("1073741824", DEFAULT_CONFIG, TYPE_INT)),
            ("cleanup.policy", ("delete", DEFAULT_CONFIG, TYPE_LIST)),
            ("max.message.bytes", ("1048588", DEFAULT_CONFIG, TYPE_INT)),
            (
                "message.timestamp.type",
                ("CreateTime", DEFAULT_CONFIG, TYPE_STRING),
            ),
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
                assert!(
                    e.documentation.as_ref().is_some_and(|d| !d.is_empty()),
                    "v{v}: {name} documentation"
                );
            }
            // Synonyms, most specific first, ending at the default.
            assert!(!e.synonyms.is_empty(), "v{v}: {name} synonyms");
            assert!(
                e.synonyms.iter().any(|s| s.source == DEFAULT_CONFIG),
                "v{v}: {name} default synonym"
            );
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
                .any(|s| s.name.as_str() == "log.segment.bytes"
                    && s.value.as_deref() == Some("1073741824")),
            "v{v}: segment.bytes synonym log.segment.bytes"
        );

        // Without synonyms; with a key filter.
        let r = describe_configs(
            &mut c,
            v,
            RESOURCE_TOPIC,
            topic,
            Some(&["retention.ms", "segment.bytes"]),
            false,
        )
        .await;
        assert_eq!(r.error_code, NONE);
        let mut names: Vec<&str> = r.configs.iter().map(|c| c.name.as_str()).collect();
        names.sort();
        assert_eq!(
            names,
            ["retention.ms", "segment.bytes"],
            "v{v}: configuration_keys filter"
        );
        assert!(
            r.configs.iter().all(|c| c.synonyms.is_empty()),
            "v{v}: no synonyms unless asked"
        );

        // The broker.
        let r =
            describe_configs(&mut c, v, RESOURCE_BROKER, &NODE_ID.to_string(), None, true).await;
        assert_eq!(
            r.error_code, NONE,
            "v{v}: broker configs: {:?}",
            r.error_message
        );
        let max_bytes = config(&r, "socket.request.max.bytes");
        assert_eq!(
            (max_bytes.value.as_deref(), max_bytes.config_source),
            (Some("104857600"), DEFAULT_CONFIG),
            "v{v}"
        );
        let log_dirs = config(&r, "log.dirs");
        assert_eq!(
            log_dirs.config_source, STATIC_BROKER_CONFIG,
            "v{v}: log.dirs is set in the broker's properties"
        );
        assert_eq!(config(&r, "num.partitions").value.as_deref(), Some("1"));

        // Unknown topic.
        let r = describe_configs(&mut c, v, RESOURCE_TOPIC, "rt-no-such-topic", None, false).await;
        assert_eq!(
            r.error_code, UNKNOWN_TOPIC_OR_PARTITION,
            "v{v}: unknown topic"
        );
        assert!(r.configs.is_empty());
    }
}

// ---------------------------------------------------------------------------
// DescribeCluster
// ---------------------------------------------------------------------------

async fn round_trip_describe_cluster(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    let cluster_id = metadata(&mut c, 12, &metadata_request(12, Some(Vec::new()), false))
        .await
        .cluster_id
        .expect("cluster id");
    for v in versions {
        let mut req = DescribeClusterRequest::default();
        if v >= 2 {
            req.include_fenced_brokers = true;
        }
        let resp: DescribeClusterResponse = c
            .send(ApiKey::DescribeCluster, v, &req)
            .await
            .unwrap_or_else(|e| panic!("DescribeCluster v{v}: {e}"));
        assert_eq!(
            resp.error_code, NONE,
            "DescribeCluster v{v}: {:?}",
            resp.error_message
        );
        assert_eq!(
            resp.cluster_id, cluster_id,
            "v{v}: same cluster id as Metadata"
        );
        assert_eq!(resp.controller_id.0, NODE_ID, "v{v}: controller id");
        assert_eq!(
            resp.cluster_authorized_operations,
            i32::MIN,
            "v{v}: operations not requested"
        );
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
        .with_topics(
            topics
                .iter()
                .map(|t| TopicRequest::default().with_name(tn(t)))
                .collect(),
        )
        .with_response_partition_limit(limit)
        .with_cursor(cursor.map(|(t, p)| {
            RequestCursor::default()
                .with_topic_name(tn(&t))
                .with_partition_index(p)
        }));
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
        assert!(
            in_page <= limit as usize,
            "v{v}: page of {in_page} partitions exceeds the limit {limit}"
        );
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
                assert!(
                    Some(&next) != cursor.as_ref(),
                    "v{v}: cursor {next:?} does not advance"
                );
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
        topics
            .iter()
            .flat_map(|(t, n)| (0..*n).map(move |p| (t.to_string(), p)))
            .collect()
    };
    for v in versions {
        let one = page_through(&mut c, v, &["rt-dtp-a"], 2, &ids).await;
        assert_eq!(
            one,
            expect(&[("rt-dtp-a", 5)]),
            "v{v}: one topic in pages of 2"
        );
        let two = page_through(&mut c, v, &["rt-dtp-b", "rt-dtp-a"], 2, &ids).await;
        assert_eq!(
            two,
            expect(&[("rt-dtp-a", 5), ("rt-dtp-b", 3)]),
            "v{v}: two topics in pages of 2"
        );
        let whole = page_through(&mut c, v, &["rt-dtp-a", "rt-dtp-b"], 2000, &ids).await;
        assert_eq!(
            whole,
            expect(&[("rt-dtp-a", 5), ("rt-dtp-b", 3)]),
            "v{v}: one page"
        );

        let resp = describe_topic_partitions(&mut c, v, &["rt-no-such-topic"], 10, None).await;
        assert_eq!(resp.topics.len(), 1);
        assert_eq!(
            resp.topics[0].error_code, UNKNOWN_TOPIC_OR_PARTITION,
            "v{v}: unknown topic"
        );
        assert!(resp.next_cursor.is_none());
    }
}
