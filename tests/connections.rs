//! Connection behaviour over raw sockets: a ready response leaves at once
//! even with slower requests pipelined behind it; `connections.max.idle.ms`
//! closes idle connections and only those; `max.connections.per.ip` (and
//! its overrides) closes the extra connection at once; `max.connections`
//! makes a new client wait for a free slot, except on the protected
//! inter-broker listener, whose connections close the least recently used
//! connection of the other listeners instead (KIP-402); the limits change
//! live through IncrementalAlterConfigs.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, CreateTopicsRequest, CreateTopicsResponse, FetchRequest,
    FetchResponse, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, ProduceRequest, ProduceResponse,
    RequestHeader, TopicName,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};
use weir::record::records::{BatchBuilder, Record};
use weir::wire::client::decode_response;
use weir::wire::frame;

/// How long anything that should happen promptly may take (a loaded CI
/// machine included); never the thing a test measures.
const PROMPTLY: Duration = Duration::from_secs(10);

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn api_versions_request() -> ApiVersionsRequest {
    ApiVersionsRequest::default().with_client_software_name(s("weir-tests")).with_client_software_version(s("1.0.0"))
}

/// A complete request frame (size prefix included).
fn encode_request<Q: Encodable>(api_key: ApiKey, version: i16, corr: i32, body: &Q) -> Vec<u8> {
    let header = RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(version)
        .with_correlation_id(corr)
        .with_client_id(Some(s("connections")));
    let mut buf = BytesMut::new();
    header.encode(&mut buf, api_key.request_header_version(version)).expect("header");
    body.encode(&mut buf, version).expect("body");
    let mut out = (buf.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&buf);
    out
}

fn correlation_id(f: &Bytes) -> i32 {
    i32::from_be_bytes([f[0], f[1], f[2], f[3]])
}

/// What a read saw within its deadline.
#[derive(Debug)]
enum Read {
    Frame(Bytes),
    Closed,
    Nothing,
}

/// A raw client connection.
struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    next_corr: i32,
}

impl Conn {
    async fn connect(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Conn { stream, buf: BytesMut::new(), next_corr: 1 }
    }

    /// Connects from `local` (any 127.x address works on Linux loopback).
    async fn connect_from(local: IpAddr, addr: SocketAddr) -> Conn {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.bind(SocketAddr::new(local, 0)).expect("bind local address");
        let stream = socket.connect(addr).await.expect("connect");
        Conn { stream, buf: BytesMut::new(), next_corr: 1 }
    }

    async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    async fn read(&mut self, within: Duration) -> Read {
        match tokio::time::timeout(within, frame::read_frame(&mut self.stream, &mut self.buf, 1 << 30)).await {
            Err(_) => Read::Nothing,
            Ok(Ok(Some(f))) => Read::Frame(f),
            Ok(Ok(None)) | Ok(Err(_)) => Read::Closed,
        }
    }

    async fn expect_frame(&mut self, what: &str) -> Bytes {
        match self.read(PROMPTLY).await {
            Read::Frame(f) => f,
            other => panic!("{what}: expected a response, got {other:?}"),
        }
    }

    /// Sends ApiVersions and returns its answer, or what happened instead.
    async fn try_api_versions(&mut self, within: Duration) -> Read {
        let corr = self.next_corr;
        self.next_corr += 1;
        if self.stream.write_all(&encode_request(ApiKey::ApiVersions, 3, corr, &api_versions_request())).await.is_err()
        {
            return Read::Closed;
        }
        let r = self.read(within).await;
        if let Read::Frame(f) = &r {
            assert_eq!(correlation_id(f), corr);
            let resp: ApiVersionsResponse = decode_response(ApiKey::ApiVersions, 3, f.clone()).expect("decode");
            assert_eq!(resp.error_code, 0);
        }
        r
    }

    /// The connection is served: ApiVersions is answered.
    async fn assert_served(&mut self, what: &str) {
        match self.try_api_versions(PROMPTLY).await {
            Read::Frame(_) => {}
            other => panic!("{what}: expected an ApiVersions answer, got {other:?}"),
        }
    }

    /// The broker closes this connection without answering anything.
    async fn assert_closed(&mut self, within: Duration, what: &str) {
        match self.read(within).await {
            Read::Closed => {}
            other => panic!("{what}: expected the broker to close the connection, got {other:?}"),
        }
    }
}

async fn start(dir: &std::path::Path, extra: &[(&str, &str)]) -> common::TestBroker {
    common::TestBroker::start_in(dir, extra).await
}

async fn create_topic(c: &mut Conn, name: &str) {
    let req = CreateTopicsRequest::default().with_timeout_ms(10_000).with_topics(vec![CreatableTopic::default()
        .with_name(TopicName(s(name)))
        .with_num_partitions(1)
        .with_replication_factor(1)]);
    c.write(&encode_request(ApiKey::CreateTopics, 7, 9_000, &req)).await;
    let f = c.expect_frame("CreateTopics").await;
    let resp: CreateTopicsResponse = decode_response(ApiKey::CreateTopics, 7, f).expect("decode");
    assert_eq!(resp.topics[0].error_code, 0, "create {name}: {:?}", resp.topics[0].error_message);
}

fn fetch(topic: &str, max_wait_ms: i32) -> FetchRequest {
    FetchRequest::default().with_max_wait_ms(max_wait_ms).with_min_bytes(1).with_topics(vec![FetchTopic::default()
        .with_topic(TopicName(s(topic)))
        .with_partitions(vec![FetchPartition::default()
            .with_partition(0)
            .with_fetch_offset(0)
            .with_partition_max_bytes(1 << 20)])])
}

fn produce_one(topic: &str) -> ProduceRequest {
    let ts = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as i64;
    let mut b = BatchBuilder::new(0, ts);
    b.push(Record::new(None, Some(b"wake".to_vec()), ts));
    ProduceRequest::default().with_acks(-1).with_timeout_ms(10_000).with_topic_data(vec![TopicProduceData::default()
        .with_name(TopicName(s(topic)))
        .with_partition_data(vec![PartitionProduceData::default().with_index(0).with_records(Some(b.build()))])])
}

// ---------------------------------------------------------------------------
// A ready response goes out at once
// ---------------------------------------------------------------------------

/// Three requests pipelined on one connection: a short long-poll, a Fetch
/// that can only complete once a record arrives (or after 60 s), and an
/// ApiVersions. The first answer must reach the client while the second
/// request is still waiting: the test produces the record that completes
/// the second only after reading the first, so a broker that holds the
/// first answer until the second is handled fails here. The answers still
/// come in request order.
#[tokio::test]
async fn ready_response_is_sent_while_a_later_request_waits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut broker = start(dir.path(), &[]).await;
    let mut admin = Conn::connect(broker.addr()).await;
    create_topic(&mut admin, "waiting").await;

    let mut c = Conn::connect(broker.addr()).await;
    let mut bytes = Vec::new();
    // Handled while the rest is already read ahead.
    bytes.extend(encode_request(ApiKey::Fetch, 12, 1, &fetch("waiting", 200)));
    bytes.extend(encode_request(ApiKey::Fetch, 12, 2, &fetch("waiting", 60_000)));
    bytes.extend(encode_request(ApiKey::ApiVersions, 3, 3, &api_versions_request()));
    c.write(&bytes).await;

    // Well within the second fetch's 60 s wait.
    let first = c.expect_frame("the first fetch's answer while the second fetch waits").await;
    assert_eq!(correlation_id(&first), 1);
    let r: FetchResponse = decode_response(ApiKey::Fetch, 12, first).expect("decode");
    assert_eq!(r.responses[0].partitions[0].error_code, 0);

    // Now complete the second fetch.
    admin.write(&encode_request(ApiKey::Produce, 9, 9_001, &produce_one("waiting"))).await;
    let p: ProduceResponse =
        decode_response(ApiKey::Produce, 9, admin.expect_frame("produce").await).expect("decode produce");
    assert_eq!(p.responses[0].partition_responses[0].error_code, 0);

    let second = c.expect_frame("the second fetch, once a record arrived").await;
    assert_eq!(correlation_id(&second), 2, "answers in request order");
    let r: FetchResponse = decode_response(ApiKey::Fetch, 12, second).expect("decode");
    assert_eq!(r.responses[0].partitions[0].error_code, 0);
    assert!(r.responses[0].partitions[0].records.as_ref().is_some_and(|b| !b.is_empty()), "the record woke the fetch");
    let third = c.expect_frame("ApiVersions after the fetches").await;
    assert_eq!(correlation_id(&third), 3, "answers in request order");
    broker.stop().await;
}

// ---------------------------------------------------------------------------
// connections.max.idle.ms
// ---------------------------------------------------------------------------

#[tokio::test]
async fn idle_connection_is_closed_after_connections_max_idle_ms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut broker = start(dir.path(), &[("connections.max.idle.ms", "500")]).await;
    let mut c = Conn::connect(broker.addr()).await;
    c.assert_served("a fresh connection").await;
    // Silent from here on: the broker closes it (well before PROMPTLY).
    c.assert_closed(PROMPTLY, "a connection idle past connections.max.idle.ms").await;
    // A connection that never sent anything is idle too.
    let mut silent = Conn::connect(broker.addr()).await;
    silent.assert_closed(PROMPTLY, "a connection that never sent a request").await;
    // The broker still serves new connections.
    Conn::connect(broker.addr()).await.assert_served("a new connection").await;
    broker.stop().await;
}

/// A connection that keeps sending requests is never idle, however long
/// it lives; an idle one next to it is closed meanwhile.
#[tokio::test]
async fn busy_connection_is_not_closed_by_connections_max_idle_ms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut broker = start(dir.path(), &[("connections.max.idle.ms", "1000")]).await;
    let mut busy = Conn::connect(broker.addr()).await;
    let mut idle = Conn::connect(broker.addr()).await;
    idle.assert_served("the idle connection's only request").await;
    let started = Instant::now();
    let mut idle_closed = false;
    // Three idle timeouts' worth of requests, one every 100 ms.
    while started.elapsed() < Duration::from_secs(3) {
        busy.assert_served("a connection that keeps sending requests").await;
        if !idle_closed {
            idle_closed = matches!(idle.read(Duration::from_millis(100)).await, Read::Closed);
        } else {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    if !idle_closed {
        idle.assert_closed(PROMPTLY, "the idle connection next to the busy one").await;
    }
    busy.assert_served("the busy connection at the end").await;
    broker.stop().await;
}

// ---------------------------------------------------------------------------
// max.connections.per.ip and its overrides
// ---------------------------------------------------------------------------

/// Over its address's limit, a new connection is closed at once (Kafka's
/// acceptor closes it without reading anything); closing one frees the
/// place for the next.
#[tokio::test]
async fn connection_over_max_connections_per_ip_is_closed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut broker = start(dir.path(), &[("max.connections.per.ip", "2")]).await;
    let mut a = Conn::connect(broker.addr()).await;
    let mut b = Conn::connect(broker.addr()).await;
    a.assert_served("first connection").await;
    b.assert_served("second connection").await;
    let mut extra = Conn::connect(broker.addr()).await;
    extra.assert_closed(PROMPTLY, "a third connection from the same address").await;
    a.assert_served("first connection, after the refusal").await;

    // Once the broker has seen one close, the next connection is served.
    drop(b);
    let addr = broker.addr();
    common::wait_until("a new connection to be served after one closed", PROMPTLY, || async move {
        let mut c = Conn::connect(addr).await;
        matches!(c.try_api_versions(Duration::from_secs(2)).await, Read::Frame(_))
    })
    .await;
    broker.stop().await;
}

/// `max.connections.per.ip.overrides` sets the limit of one address; the
/// others keep `max.connections.per.ip`.
#[tokio::test]
async fn per_ip_override_sets_the_limit_of_that_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut broker =
        start(dir.path(), &[("max.connections.per.ip", "1"), ("max.connections.per.ip.overrides", "127.0.0.1:3")])
            .await;
    let addr = broker.addr();
    let mut overridden = Vec::new();
    for i in 0..3 {
        let mut c = Conn::connect_from("127.0.0.1".parse().unwrap(), addr).await;
        c.assert_served(&format!("127.0.0.1 connection {i} (override 3)")).await;
        overridden.push(c);
    }
    Conn::connect_from("127.0.0.1".parse().unwrap(), addr)
        .await
        .assert_closed(PROMPTLY, "a fourth connection from 127.0.0.1")
        .await;
    let mut other = Conn::connect_from("127.0.0.2".parse().unwrap(), addr).await;
    other.assert_served("127.0.0.2's first connection (default 1)").await;
    Conn::connect_from("127.0.0.2".parse().unwrap(), addr)
        .await
        .assert_closed(PROMPTLY, "a second connection from 127.0.0.2")
        .await;
    broker.stop().await;
}

// ---------------------------------------------------------------------------
// max.connections
// ---------------------------------------------------------------------------

/// At `max.connections`, Kafka's acceptor waits for a connection to close:
/// the new client is connected (the OS accepted it) but neither served nor
/// closed until a slot frees, then served.
#[tokio::test]
async fn client_over_max_connections_waits_for_a_free_slot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut broker = start(dir.path(), &[("max.connections", "2")]).await;
    let mut a = Conn::connect(broker.addr()).await;
    let mut b = Conn::connect(broker.addr()).await;
    a.assert_served("first connection").await;
    b.assert_served("second connection").await;

    let mut waiting = Conn::connect(broker.addr()).await;
    match waiting.try_api_versions(Duration::from_secs(1)).await {
        Read::Nothing => {}
        other => panic!("a third connection over max.connections=2 must wait, got {other:?}"),
    }
    drop(a);
    // Its request was sent already: the answer comes once it is admitted.
    match waiting.read(PROMPTLY).await {
        Read::Frame(f) => assert_eq!(correlation_id(&f), 1),
        other => panic!("the waiting connection once a slot freed: {other:?}"),
    }
    b.assert_served("second connection, still open").await;
    broker.stop().await;
}

/// An idle connection does not hold its `max.connections` slot forever:
/// once closed for idleness, the client waiting for the slot is served.
#[tokio::test]
async fn idle_connection_frees_its_slot_for_a_waiting_client() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut broker = start(dir.path(), &[("max.connections", "1"), ("connections.max.idle.ms", "1000")]).await;
    let mut idle = Conn::connect(broker.addr()).await;
    idle.assert_served("the only connection max.connections allows").await;
    let mut waiting = Conn::connect(broker.addr()).await;
    let corr = waiting.next_corr;
    waiting.write(&encode_request(ApiKey::ApiVersions, 3, corr, &api_versions_request())).await;
    idle.assert_closed(PROMPTLY, "the idle connection").await;
    match waiting.read(PROMPTLY).await {
        Read::Frame(f) => assert_eq!(correlation_id(&f), corr),
        other => panic!("the waiting client once the idle connection closed: {other:?}"),
    }
    broker.stop().await;
}

/// KIP-402: with more than one listener, the inter-broker listener is not
/// held to `max.connections`; a connection there is served at once, and
/// the least recently used connection of the other listener is closed to
/// bring the total back within the limit.
#[tokio::test]
async fn inter_broker_listener_is_exempt_and_closes_the_lru_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut broker = start(
        dir.path(),
        &[
            ("listeners", "PLAINTEXT://127.0.0.1:0,INTERNAL://127.0.0.1:0"),
            ("listener.security.protocol.map", "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT"),
            ("inter.broker.listener.name", "INTERNAL"),
            ("max.connections", "2"),
        ],
    )
    .await;
    let addrs = broker.server.as_ref().expect("running").addrs.clone();
    let client = addrs.iter().find(|(n, _)| n == "PLAINTEXT").expect("PLAINTEXT listener").1;
    let internal = addrs.iter().find(|(n, _)| n == "INTERNAL").expect("INTERNAL listener").1;

    let mut older = Conn::connect(client).await;
    older.assert_served("first client connection").await;
    let mut recent = Conn::connect(client).await;
    recent.assert_served("second client connection").await;
    // The client listener is full.
    let mut waiting = Conn::connect(client).await;
    match waiting.try_api_versions(Duration::from_secs(1)).await {
        Read::Nothing => {}
        other => panic!("a third client connection must wait, got {other:?}"),
    }
    // `recent` is now the more recently active of the two.
    recent.assert_served("second client connection, active again").await;

    let mut inter_broker = Conn::connect(internal).await;
    inter_broker.assert_served("the inter-broker listener over max.connections").await;
    older.assert_closed(PROMPTLY, "the least recently used client connection").await;
    recent.assert_served("the more recently used client connection").await;
    // The total is at the limit again: the waiting client still waits.
    match waiting.read(Duration::from_secs(1)).await {
        Read::Nothing => {}
        other => panic!("the waiting client while the total is at the limit: {other:?}"),
    }
    drop(inter_broker);
    match waiting.read(PROMPTLY).await {
        Read::Frame(f) => assert_eq!(correlation_id(&f), 1),
        other => panic!("the waiting client once the inter-broker connection closed: {other:?}"),
    }
    broker.stop().await;
}

/// Sets one dynamic config of broker `resource` ("" for all brokers) on
/// `c`, expecting success.
async fn set_broker_config(c: &mut Conn, resource: &str, key: &str, value: &str) {
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
        .with_resource_type(4)
        .with_resource_name(s(resource))
        .with_configs(vec![AlterableConfig::default()
            .with_name(s(key))
            .with_config_operation(0)
            .with_value(Some(s(value)))])]);
    c.write(&encode_request(ApiKey::IncrementalAlterConfigs, 1, 9_100, &req)).await;
    let f = c.expect_frame("IncrementalAlterConfigs").await;
    let resp: IncrementalAlterConfigsResponse =
        decode_response(ApiKey::IncrementalAlterConfigs, 1, f).expect("decode IncrementalAlterConfigs");
    assert_eq!(resp.responses[0].error_code, 0, "{key}={value}: {:?}", resp.responses[0].error_message);
}

/// `max.connections` is a dynamic broker config, as in Kafka: raising it
/// admits the client waiting for a slot; lowering it closes the least
/// recently used connections down to the new limit.
#[tokio::test]
async fn max_connections_changes_apply_live() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut broker = start(dir.path(), &[("max.connections", "2")]).await;
    let mut admin = Conn::connect(broker.addr()).await;
    admin.assert_served("the admin connection").await;
    let mut b = Conn::connect(broker.addr()).await;
    b.assert_served("second connection").await;
    let mut waiting = Conn::connect(broker.addr()).await;
    match waiting.try_api_versions(Duration::from_secs(1)).await {
        Read::Nothing => {}
        other => panic!("a third connection over max.connections=2 must wait, got {other:?}"),
    }

    // As the cluster-wide default first, then for this broker (node 1).
    set_broker_config(&mut admin, "", "max.connections", "3").await;
    match waiting.read(PROMPTLY).await {
        Read::Frame(f) => assert_eq!(correlation_id(&f), 1),
        other => panic!("the waiting client once max.connections rose to 3: {other:?}"),
    }

    // The admin connection is the most recently active while its request
    // is handled: the other two are closed.
    set_broker_config(&mut admin, "1", "max.connections", "1").await;
    b.assert_closed(PROMPTLY, "a least recently used connection after max.connections fell to 1").await;
    waiting.assert_closed(PROMPTLY, "the other least recently used connection").await;
    admin.assert_served("the most recently used connection").await;
    broker.stop().await;
}

/// `max.connections.per.ip` changes apply to new connections; the open
/// ones stay (Kafka checks the limit only when it accepts).
#[tokio::test]
async fn max_connections_per_ip_changes_apply_to_new_connections() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut broker = start(dir.path(), &[]).await;
    let mut admin = Conn::connect(broker.addr()).await;
    let mut b = Conn::connect(broker.addr()).await;
    b.assert_served("second connection").await;
    set_broker_config(&mut admin, "1", "max.connections.per.ip", "2").await;
    Conn::connect(broker.addr()).await.assert_closed(PROMPTLY, "a third connection once the limit is 2").await;
    b.assert_served("an open connection stays").await;
    set_broker_config(&mut admin, "1", "max.connections.per.ip.overrides", "127.0.0.1:3").await;
    Conn::connect(broker.addr()).await.assert_served("a third connection once 127.0.0.1 may have 3").await;
    broker.stop().await;
}
