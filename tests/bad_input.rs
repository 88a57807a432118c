//! Bad input (FEATURES.md §1): malformed frames close that connection and
//! nothing else; batch-level problems in Produce are partition error codes
//! (as Kafka answers them), not closes; pipelined requests are answered in
//! order; acks=0 produces get no answer.
//!
//! Every connection-level case checks three things: the bad connection is
//! closed promptly, a fresh connection still gets a good ApiVersions answer,
//! and no broker code panicked (a panic hook records panics raised outside
//! this test file).

mod common;

use std::net::SocketAddr;
use std::sync::{Mutex, Once};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
use common::NONE;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, BrokerId, FetchRequest, FetchResponse, ListOffsetsRequest,
    ListOffsetsResponse, MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse, RequestHeader, TopicName,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafka_protocol::ResponseError as E;
use weir::record::records::{BatchBuilder, Record};
use weir::wire::client::{decode_response, BrokerClient};

/// Produce version used for the batch-level cases (flexible, current).
const PRODUCE_VERSION: i16 = 9;

const MAX_REQUEST: &str = "1048576";

// ---------------------------------------------------------------------------
// Panic watch
// ---------------------------------------------------------------------------

static BROKER_PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Records every panic raised outside the tests directory: with an
/// in-process broker, a panicking connection task would otherwise look
/// just like a clean close.
fn watch_for_broker_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let from_tests =
                info.location().is_some_and(|l| l.file().starts_with("tests/") || l.file().contains("/tests/"));
            if !from_tests {
                BROKER_PANICS.lock().unwrap_or_else(|p| p.into_inner()).push(info.to_string());
            }
            default(info);
        }));
    });
}

fn assert_no_broker_panic() {
    let panics = BROKER_PANICS.lock().unwrap_or_else(|p| p.into_inner());
    assert!(panics.is_empty(), "broker code panicked: {panics:#?}");
}

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

struct Env {
    broker: common::TestBroker,
    _dir: tempfile::TempDir,
}

impl Env {
    async fn start() -> Env {
        watch_for_broker_panics();
        let dir = tempfile::tempdir().expect("tempdir");
        let broker = common::TestBroker::start_in(dir.path(), &[("socket.request.max.bytes", MAX_REQUEST)]).await;
        Env { broker, _dir: dir }
    }

    fn addr(&self) -> SocketAddr {
        self.broker.addr()
    }

    async fn client(&self) -> BrokerClient {
        BrokerClient::connect(&self.addr().to_string(), "bad-input").await.expect("connect")
    }

    /// The broker still serves a separate, new connection, and nothing
    /// panicked; then stops it.
    async fn assert_healthy_and_stop(mut self) {
        let mut c = self.client().await;
        let resp: ApiVersionsResponse =
            tokio::time::timeout(Duration::from_secs(10), c.send(ApiKey::ApiVersions, 3, &api_versions_request()))
                .await
                .expect("ApiVersions answered in time")
                .expect("ApiVersions on a new connection");
        assert_eq!(resp.error_code, NONE);
        assert!(resp.api_keys.iter().any(|k| k.api_key == ApiKey::Metadata as i16));
        assert_no_broker_panic();
        self.broker.stop().await;
    }
}

/// The broker closed the connection: end of stream or a reset, within a
/// few seconds (never a response, never a hang).
async fn assert_closed(c: &mut BrokerClient, what: &str) {
    match tokio::time::timeout(Duration::from_secs(5), c.read_frame()).await {
        Err(_) => panic!("{what}: the connection was not closed within 5 s"),
        Ok(Ok(Some(frame))) => panic!("{what}: expected the connection to close, got a {}-byte response", frame.len()),
        Ok(Ok(None)) | Ok(Err(_)) => {}
    }
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn tn(v: &str) -> TopicName {
    TopicName(s(v))
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as i64
}

fn api_versions_request() -> ApiVersionsRequest {
    ApiVersionsRequest::default().with_client_software_name(s("weir-tests")).with_client_software_version(s("1.0.0"))
}

/// A size-prefixed frame around `payload`.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(payload);
    f
}

/// Request header v1 (non-flexible): key, version, correlation id, client id.
fn header_v1(api_key: i16, version: i16, corr: i32) -> Vec<u8> {
    let mut h = BytesMut::new();
    h.put_i16(api_key);
    h.put_i16(version);
    h.put_i32(corr);
    h.put_i16(4);
    h.put_slice(b"test");
    h.to_vec()
}

/// Request header v2 (flexible): v1 plus an empty tagged-field section.
fn header_v2(api_key: i16, version: i16, corr: i32) -> Vec<u8> {
    let mut h = header_v1(api_key, version, corr);
    h.push(0);
    h
}

/// A complete request frame encoded by the codec at `version`.
fn encode_request<Q: Encodable>(api_key: ApiKey, version: i16, corr: i32, body: &Q) -> Vec<u8> {
    let header = RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(version)
        .with_correlation_id(corr)
        .with_client_id(Some(s("pipeline")));
    let mut buf = BytesMut::new();
    header.encode(&mut buf, api_key.request_header_version(version)).expect("header");
    body.encode(&mut buf, version).expect("body");
    frame(&buf)
}

/// Deterministic pseudo-random bytes (xorshift).
fn garbage(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Connection-level bad input: the connection closes, nothing else happens
// ---------------------------------------------------------------------------

/// A size over `socket.request.max.bytes` closes at once, from the size
/// prefix alone: the broker must not wait for (or allocate) the body.
#[tokio::test]
async fn frame_over_socket_request_max_bytes_is_closed_at_once() {
    let env = Env::start().await;
    let mut c = env.client().await;
    c.write_raw(&(2 * 1024 * 1024i32).to_be_bytes()).await.unwrap();
    assert_closed(&mut c, "2 MiB frame announced with a 1 MiB limit").await;
    env.assert_healthy_and_stop().await;
}

/// A frame of exactly `socket.request.max.bytes` is still served (the
/// limit is inclusive, as Kafka's `receiveSize > maxSize`), so the close
/// above is about the size, not about large frames.
#[tokio::test]
async fn frame_of_exactly_socket_request_max_bytes_is_served() {
    let env = Env::start().await;
    let mut c = env.client().await;
    common::create_topic_raw(&mut c, "at-the-limit", &[]).await;
    let max: usize = MAX_REQUEST.parse().unwrap();
    let request = |value_len: usize| {
        let records = batch(&[&"v".repeat(value_len)]);
        encode_request(ApiKey::Produce, PRODUCE_VERSION, 1, &produce_request(1, "at-the-limit", Some(records)))
    };
    // Grow the record until the frame (size prefix excluded) is exactly max.
    let mut value_len = 1000;
    let mut bytes = request(value_len);
    for _ in 0..10 {
        let payload = bytes.len() - 4;
        if payload == max {
            break;
        }
        value_len = (value_len as i64 + max as i64 - payload as i64) as usize;
        bytes = request(value_len);
    }
    assert_eq!(bytes.len() - 4, max, "built a frame of exactly the limit");
    c.write_raw(&bytes).await.unwrap();
    let f = tokio::time::timeout(Duration::from_secs(10), c.read_frame())
        .await
        .expect("in time")
        .unwrap()
        .expect("a frame at the limit is answered");
    let r: ProduceResponse = decode_response(ApiKey::Produce, PRODUCE_VERSION, f).unwrap();
    let p = &r.responses[0].partition_responses[0];
    assert_eq!((p.error_code, p.base_offset), (NONE, 0), "{:?}", p.error_message);
    // One byte more is too much.
    let mut c = env.client().await;
    c.write_raw(&((max + 1) as i32).to_be_bytes()).await.unwrap();
    assert_closed(&mut c, "a frame one byte over the limit").await;
    env.assert_healthy_and_stop().await;
}

#[tokio::test]
async fn negative_frame_size_is_closed() {
    let env = Env::start().await;
    let mut c = env.client().await;
    c.write_raw(&(-1i32).to_be_bytes()).await.unwrap();
    assert_closed(&mut c, "frame size -1").await;
    let mut c = env.client().await;
    c.write_raw(&i32::MIN.to_be_bytes()).await.unwrap();
    assert_closed(&mut c, "frame size i32::MIN").await;
    env.assert_healthy_and_stop().await;
}

#[tokio::test]
async fn truncated_request_header_is_closed() {
    let env = Env::start().await;
    let mut c = env.client().await;
    c.write_raw(&frame(&[0, 3, 0])).await.unwrap();
    assert_closed(&mut c, "3-byte frame").await;
    let mut c = env.client().await;
    c.write_raw(&frame(&[])).await.unwrap();
    assert_closed(&mut c, "empty frame").await;
    env.assert_healthy_and_stop().await;
}

/// A client id whose length runs past the end of the frame.
#[tokio::test]
async fn client_id_longer_than_the_frame_is_closed() {
    let env = Env::start().await;
    let mut c = env.client().await;
    let mut payload = header_v1(ApiKey::Metadata as i16, 1, 1);
    payload[8..10].copy_from_slice(&1000i16.to_be_bytes());
    c.write_raw(&frame(&payload)).await.unwrap();
    assert_closed(&mut c, "client id of 1000 bytes in a 14-byte frame").await;
    env.assert_healthy_and_stop().await;
}

#[tokio::test]
async fn garbage_metadata_v12_body_is_closed() {
    let env = Env::start().await;
    for seed in [1u64, 42, 0x5eed] {
        let mut c = env.client().await;
        let mut payload = header_v2(ApiKey::Metadata as i16, 12, 1);
        payload.extend(garbage(64, seed));
        c.write_raw(&frame(&payload)).await.unwrap();
        assert_closed(&mut c, &format!("Metadata v12 with random body (seed {seed})")).await;
    }
    env.assert_healthy_and_stop().await;
}

#[tokio::test]
async fn unknown_api_key_is_closed() {
    let env = Env::start().await;
    for key in [9999i16, -1, 67] {
        let mut c = env.client().await;
        let mut payload = header_v1(key, 0, 1);
        payload.extend([0, 0, 0, 0]);
        c.write_raw(&frame(&payload)).await.unwrap();
        assert_closed(&mut c, &format!("api key {key}")).await;
    }
    env.assert_healthy_and_stop().await;
}

#[tokio::test]
async fn unsupported_version_of_a_known_api_is_closed() {
    let env = Env::start().await;
    // Fetch v3 (below the floor), with a plausible v3 body.
    let mut c = env.client().await;
    let mut payload = header_v1(ApiKey::Fetch as i16, 3, 1);
    let mut body = BytesMut::new();
    body.put_i32(-1); // replica id
    body.put_i32(100); // max wait
    body.put_i32(1); // min bytes
    body.put_i32(1 << 20); // max bytes
    body.put_i32(0); // no topics
    payload.extend_from_slice(&body);
    c.write_raw(&frame(&payload)).await.unwrap();
    assert_closed(&mut c, "Fetch v3").await;

    // Metadata v14 (above the ceiling), flexible header and body.
    let mut c = env.client().await;
    let mut payload = header_v2(ApiKey::Metadata as i16, 14, 1);
    payload.extend([0x01, 0x00, 0x00, 0x00]); // no topics, flags, tags
    c.write_raw(&frame(&payload)).await.unwrap();
    assert_closed(&mut c, "Metadata v14").await;
    env.assert_healthy_and_stop().await;
}

/// Tiny frames whose array counts claim billions of elements: closed, and
/// the broker neither allocates for them nor dies.
#[tokio::test]
async fn huge_array_count_in_a_tiny_frame_is_closed_without_allocating() {
    let env = Env::start().await;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("Metadata v0 claiming 2^31-1 topics", {
            let mut p = header_v1(ApiKey::Metadata as i16, 0, 1);
            p.extend([0x7f, 0xff, 0xff, 0xff]);
            p
        }),
        ("Metadata v12 claiming 2^32-2 topics", {
            let mut p = header_v2(ApiKey::Metadata as i16, 12, 1);
            p.extend([0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x00, 0x00]);
            p
        }),
        ("Produce v3 claiming 2^31-1 topics", {
            let mut p = header_v1(ApiKey::Produce as i16, 3, 1);
            p.extend([0xff, 0xff]); // null transactional id
            p.extend(1i16.to_be_bytes()); // acks
            p.extend(1000i32.to_be_bytes()); // timeout
            p.extend([0x7f, 0xff, 0xff, 0xff]);
            p
        }),
        ("Produce v3 with 2^31-1 bytes of records", {
            let mut p = header_v1(ApiKey::Produce as i16, 3, 1);
            p.extend([0xff, 0xff]);
            p.extend(1i16.to_be_bytes());
            p.extend(1000i32.to_be_bytes());
            p.extend(1i32.to_be_bytes());
            p.extend(1i16.to_be_bytes());
            p.push(b't');
            p.extend(1i32.to_be_bytes());
            p.extend(0i32.to_be_bytes());
            p.extend([0x7f, 0xff, 0xff, 0xff]);
            p
        }),
    ];
    for (what, payload) in cases {
        let mut c = env.client().await;
        c.write_raw(&frame(&payload)).await.unwrap();
        assert_closed(&mut c, what).await;
    }
    env.assert_healthy_and_stop().await;
}

// ---------------------------------------------------------------------------
// Ordering: pipelined requests and acks=0
// ---------------------------------------------------------------------------

fn metadata_request(version: i16, topic: &str) -> MetadataRequest {
    let mut req =
        MetadataRequest::default().with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(tn(topic)))]));
    if version >= 4 {
        req.allow_auto_topic_creation = false;
    }
    req
}

/// Five requests written at once, one of them a Fetch that long-polls:
/// the answers come back in request order with matching correlation ids.
#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let env = Env::start().await;
    let mut c = env.client().await;
    common::create_topic_raw(&mut c, "pipelined", &[]).await;
    let fetch =
        FetchRequest::default().with_max_wait_ms(300).with_min_bytes(1).with_topics(vec![FetchTopic::default()
            .with_topic(tn("pipelined"))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    let mut bytes = Vec::new();
    bytes.extend(encode_request(ApiKey::ApiVersions, 3, 101, &api_versions_request()));
    bytes.extend(encode_request(ApiKey::Metadata, 12, 102, &metadata_request(12, "pipelined")));
    bytes.extend(encode_request(ApiKey::Fetch, 12, 103, &fetch));
    bytes.extend(encode_request(ApiKey::ApiVersions, 0, 104, &ApiVersionsRequest::default()));
    bytes.extend(encode_request(ApiKey::Metadata, 1, 105, &metadata_request(1, "pipelined")));
    c.write_raw(&bytes).await.unwrap();

    let mut frames = Vec::new();
    for _ in 0..5 {
        let f = tokio::time::timeout(Duration::from_secs(10), c.read_frame())
            .await
            .expect("response in time")
            .expect("read")
            .expect("response, not a close");
        frames.push(f);
    }
    let corrs: Vec<i32> = frames.iter().map(|f| i32::from_be_bytes([f[0], f[1], f[2], f[3]])).collect();
    assert_eq!(corrs, [101, 102, 103, 104, 105], "responses in request order");

    let mut frames = frames.into_iter();
    let r: ApiVersionsResponse = decode_response(ApiKey::ApiVersions, 3, frames.next().unwrap()).unwrap();
    assert_eq!(r.error_code, NONE);
    let r: MetadataResponse = decode_response(ApiKey::Metadata, 12, frames.next().unwrap()).unwrap();
    assert_eq!(r.topics[0].error_code, NONE);
    let r: FetchResponse = decode_response(ApiKey::Fetch, 12, frames.next().unwrap()).unwrap();
    assert_eq!(r.responses[0].partitions[0].error_code, NONE);
    let r: ApiVersionsResponse = decode_response(ApiKey::ApiVersions, 0, frames.next().unwrap()).unwrap();
    assert_eq!(r.error_code, NONE);
    let r: MetadataResponse = decode_response(ApiKey::Metadata, 1, frames.next().unwrap()).unwrap();
    assert_eq!(r.topics[0].error_code, NONE);
    env.assert_healthy_and_stop().await;
}

fn produce_request(acks: i16, topic: &str, records: Option<Bytes>) -> ProduceRequest {
    ProduceRequest::default().with_acks(acks).with_timeout_ms(10_000).with_topic_data(vec![TopicProduceData::default()
        .with_name(tn(topic))
        .with_partition_data(vec![PartitionProduceData::default().with_index(0).with_records(records)])])
}

async fn latest_offset(c: &mut BrokerClient, topic: &str) -> i64 {
    let req =
        ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![ListOffsetsTopic::default()
            .with_name(tn(topic))
            .with_partitions(vec![ListOffsetsPartition::default().with_partition_index(0).with_timestamp(-1)])]);
    let resp: ListOffsetsResponse = c.send(ApiKey::ListOffsets, 7, &req).await.unwrap();
    let p = &resp.topics[0].partitions[0];
    assert_eq!(p.error_code, NONE);
    p.offset
}

/// acks=0: no response at all; the next frame on the connection answers
/// the request after it.
#[tokio::test]
async fn acks_zero_produce_gets_no_response() {
    let env = Env::start().await;
    let mut c = env.client().await;
    common::create_topic_raw(&mut c, "fire-and-forget", &[]).await;
    let mut bytes = Vec::new();
    for (i, corr) in [201, 202].into_iter().enumerate() {
        let records = batch(&[&format!("silent-{i}")]);
        bytes.extend(encode_request(
            ApiKey::Produce,
            PRODUCE_VERSION,
            corr,
            &produce_request(0, "fire-and-forget", Some(records)),
        ));
    }
    bytes.extend(encode_request(ApiKey::ApiVersions, 3, 203, &api_versions_request()));
    c.write_raw(&bytes).await.unwrap();
    let f = tokio::time::timeout(Duration::from_secs(10), c.read_frame())
        .await
        .expect("in time")
        .unwrap()
        .expect("a response");
    assert_eq!(&f[..4], &203i32.to_be_bytes(), "the first answer is the ApiVersions one");
    let r: ApiVersionsResponse = decode_response(ApiKey::ApiVersions, 3, f).unwrap();
    assert_eq!(r.error_code, NONE);
    // Both records were appended.
    assert_eq!(latest_offset(&mut c, "fire-and-forget").await, 2);
    env.assert_healthy_and_stop().await;
}

/// Kafka closes the connection when an acks=0 produce fails, since it has
/// no other way to tell the client.
#[tokio::test]
async fn acks_zero_produce_error_closes_the_connection() {
    let env = Env::start().await;
    let mut c = env.client().await;
    common::create_topic_raw(&mut c, "fire-and-fail", &[]).await;
    let mut bytes = encode_request(
        ApiKey::Produce,
        PRODUCE_VERSION,
        301,
        &produce_request(0, "fire-and-fail", Some(corrupt_crc(batch(&["x"])))),
    );
    bytes.extend(encode_request(ApiKey::ApiVersions, 3, 302, &api_versions_request()));
    c.write_raw(&bytes).await.unwrap();
    assert_closed(&mut c, "acks=0 produce with a corrupt batch").await;
    env.assert_healthy_and_stop().await;
}

// ---------------------------------------------------------------------------
// Produce: batch-level errors are partition error codes
// ---------------------------------------------------------------------------

fn batch(values: &[&str]) -> Bytes {
    let ts = now_ms();
    let mut b = BatchBuilder::new(0, ts);
    for v in values {
        b.push(Record::new(None, Some(v.as_bytes().to_vec()), ts));
    }
    b.build()
}

fn recompute_crc(b: &mut [u8]) {
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
}

fn corrupt_crc(batch: Bytes) -> Bytes {
    let mut b = batch.to_vec();
    let last = b.len() - 1;
    b[last] ^= 0x55;
    Bytes::from(b)
}

/// A legacy (magic 0/1) message set of one small message, as a pre-0.11
/// client sends it. The CRC is CRC-32 (IEEE) over magic..end.
fn legacy_message_set(magic: u8, key: &[u8], value: &[u8]) -> Bytes {
    let mut m = vec![magic, 0];
    if magic >= 1 {
        m.extend(now_ms().to_be_bytes());
    }
    m.extend((key.len() as i32).to_be_bytes());
    m.extend_from_slice(key);
    m.extend((value.len() as i32).to_be_bytes());
    m.extend_from_slice(value);
    let mut crc = 0xffff_ffffu32;
    for &b in &m {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    let mut out = Vec::new();
    out.extend(0i64.to_be_bytes());
    out.extend(((m.len() + 4) as i32).to_be_bytes());
    out.extend((!crc).to_be_bytes());
    out.extend(m);
    Bytes::from(out)
}

/// Produces `records` (acks=1) and returns the partition's answer. The
/// connection must stay open: a second request on it still works.
async fn produce_answer(
    c: &mut BrokerClient,
    acks: i16,
    topic: &str,
    records: Option<Bytes>,
) -> PartitionProduceResponse {
    let resp: ProduceResponse = tokio::time::timeout(
        Duration::from_secs(10),
        c.send(ApiKey::Produce, PRODUCE_VERSION, &produce_request(acks, topic, records)),
    )
    .await
    .expect("answered in time")
    .expect("a Produce response, not a closed connection");
    assert_eq!(resp.responses.len(), 1);
    assert_eq!(resp.responses[0].partition_responses.len(), 1);
    let p = resp.responses[0].partition_responses[0].clone();
    let still_open: ApiVersionsResponse = c
        .send(ApiKey::ApiVersions, 3, &api_versions_request())
        .await
        .expect("the connection stays open after a batch-level error");
    assert_eq!(still_open.error_code, NONE);
    p
}

/// Produces a bad batch to a fresh topic and checks the partition error
/// code, that nothing was appended, and that the broker is fine.
async fn assert_rejected(records: Option<Bytes>, expected: i16, what: &str) {
    assert_rejected_on(&[], records, expected, what).await;
}

async fn assert_rejected_on(configs: &[(&str, &str)], records: Option<Bytes>, expected: i16, what: &str) {
    let env = Env::start().await;
    let mut c = env.client().await;
    common::create_topic_raw(&mut c, "bad-batches", configs).await;
    let p = produce_answer(&mut c, 1, "bad-batches", records).await;
    assert_eq!(p.error_code, expected, "{what}: {:?}", p.error_message);
    assert_eq!(p.base_offset, -1, "{what}: no base offset for a rejected batch");
    assert_eq!(latest_offset(&mut c, "bad-batches").await, 0, "{what}: nothing appended");
    // A good batch is still accepted afterwards.
    let p = produce_answer(&mut c, 1, "bad-batches", Some(batch(&["good"]))).await;
    assert_eq!((p.error_code, p.base_offset), (NONE, 0), "{what}: then a good batch");
    env.assert_healthy_and_stop().await;
}

#[tokio::test]
async fn produce_corrupt_crc_is_corrupt_message() {
    assert_rejected(Some(corrupt_crc(batch(&["a", "b"]))), E::CorruptMessage.code(), "flipped record byte").await;
}

/// Kafka's ProduceRequest.validateRecords: v3+ only takes magic 2 batches
/// (InvalidRecordException, checked before the CRC).
#[tokio::test]
async fn produce_magic_1_batch_is_invalid_record() {
    let mut b = batch(&["a", "b"]).to_vec();
    b[16] = 1;
    assert_rejected(Some(Bytes::from(b)), E::InvalidRecord.code(), "v2 batch with magic byte 1").await;
}

/// What a pre-0.11 client really sends: a small magic-1 message set.
/// Kafka reads its 4-byte size (>= 14, the v0 record overhead), sees magic
/// 1 and answers INVALID_RECORD, however small the message is.
#[tokio::test]
async fn produce_legacy_magic_1_message_set_is_invalid_record() {
    assert_rejected(Some(legacy_message_set(1, b"k", b"v")), E::InvalidRecord.code(), "magic 1 message set").await;
}

#[tokio::test]
async fn produce_legacy_magic_0_message_set_is_invalid_record() {
    assert_rejected(Some(legacy_message_set(0, b"k", b"v")), E::InvalidRecord.code(), "magic 0 message set").await;
}

#[tokio::test]
async fn produce_batch_over_max_message_bytes_is_message_too_large() {
    let big = "x".repeat(2048);
    assert_rejected_on(
        &[("max.message.bytes", "1024")],
        Some(batch(&[&big])),
        E::MessageTooLarge.code(),
        "2 KiB batch, max.message.bytes=1024",
    )
    .await;
}

#[tokio::test]
async fn produce_two_batches_in_one_partition_is_invalid_record() {
    let mut both = batch(&["a"]).to_vec();
    both.extend_from_slice(&batch(&["b"]));
    assert_rejected(Some(Bytes::from(both)), E::InvalidRecord.code(), "two batches").await;
}

/// Kafka: a batch cut short is not a batch at all: the batch iterator
/// stops (ByteBufferLogInputStream.nextBatch returns null when fewer bytes
/// remain than the batch length says), so validateRecords finds no batch
/// and answers INVALID_RECORD ("must have at least one record batch").
#[tokio::test]
async fn produce_truncated_batch_is_invalid_record() {
    let full = batch(&["a", "b", "c"]);
    let cut = full.slice(..full.len() - 5);
    assert_rejected(Some(cut), E::InvalidRecord.code(), "batch missing its last 5 bytes").await;
}

/// A batch whose length field is below the smallest legal record overhead
/// is corrupt for Kafka too (CorruptRecordException from the iterator).
#[tokio::test]
async fn produce_batch_length_below_minimum_is_corrupt_message() {
    let mut b = batch(&["a"]).to_vec();
    b[8..12].copy_from_slice(&5i32.to_be_bytes());
    assert_rejected(Some(Bytes::from(b)), E::CorruptMessage.code(), "batch length 5").await;
}

#[tokio::test]
async fn produce_records_count_mismatch_is_invalid_record() {
    let mut b = batch(&["a", "b"]).to_vec();
    b[57..61].copy_from_slice(&3i32.to_be_bytes());
    recompute_crc(&mut b);
    assert_rejected(Some(Bytes::from(b)), E::InvalidRecord.code(), "records_count 3, lastOffsetDelta 1").await;
}

#[tokio::test]
async fn produce_without_records_is_invalid_record() {
    assert_rejected(None, E::InvalidRecord.code(), "null records").await;
    assert_rejected(Some(Bytes::new()), E::InvalidRecord.code(), "empty records").await;
}

#[tokio::test]
async fn produce_acks_2_is_invalid_required_acks() {
    assert_rejected_acks(2).await;
    assert_rejected_acks(-2).await;
}

async fn assert_rejected_acks(acks: i16) {
    let env = Env::start().await;
    let mut c = env.client().await;
    common::create_topic_raw(&mut c, "bad-acks", &[]).await;
    let p = produce_answer(&mut c, acks, "bad-acks", Some(batch(&["a"]))).await;
    assert_eq!(p.error_code, E::InvalidRequiredAcks.code(), "acks={acks}");
    assert_eq!(latest_offset(&mut c, "bad-acks").await, 0, "acks={acks}: nothing appended");
    env.assert_healthy_and_stop().await;
}

#[tokio::test]
async fn produce_to_unknown_topic_is_unknown_topic_or_partition() {
    let env = Env::start().await;
    let mut c = env.client().await;
    let p = produce_answer(&mut c, 1, "no-such-topic", Some(batch(&["a"]))).await;
    assert_eq!(p.error_code, E::UnknownTopicOrPartition.code());
    // Produce never auto-creates.
    let meta: MetadataResponse = c.send(ApiKey::Metadata, 12, &metadata_request(12, "no-such-topic")).await.unwrap();
    assert_eq!(meta.topics[0].error_code, E::UnknownTopicOrPartition.code());
    env.assert_healthy_and_stop().await;
}
