//! Rust rdkafka (librdkafka) against real Weir brokers: admin, produce and
//! consume with every codec, idempotence, many partitions, large records,
//! and acknowledged data surviving clean and kill -9 restarts.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{BrokerProcess, TestBroker};
use rdkafka::admin::{AdminClient, AdminOptions, ConfigSource, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const TIMEOUT: Duration = Duration::from_secs(30);

fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("admin client")
}

fn producer(bootstrap: &str, extra: &[(&str, &str)]) -> FutureProducer {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap).set("linger.ms", "5").set("message.timeout.ms", "30000");
    for (k, v) in extra {
        c.set(*k, *v);
    }
    c.create().expect("producer")
}

async fn create_topic(bootstrap: &str, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let mut t = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (k, v) in configs {
        t = t.set(k, v);
    }
    let res = admin(bootstrap).create_topics([&t], &AdminOptions::new()).await.expect("create_topics");
    assert_eq!(res.len(), 1);
    assert!(res[0].is_ok(), "create {name}: {:?}", res[0]);
}

/// Produces `n` records `key-i` / `value-i` to `partition`, returning offsets.
async fn produce_n(p: &FutureProducer, topic: &str, partition: i32, n: usize, value_len: usize) -> Vec<i64> {
    let mut futures = Vec::with_capacity(n);
    for i in 0..n {
        let key = format!("key-{i}");
        let mut value = format!("value-{i}-").into_bytes();
        value.resize(value_len.max(value.len()), b'x');
        let headers = OwnedHeaders::new().insert(Header { key: "idx", value: Some(&i.to_string()) });
        let record = FutureRecord::to(topic).partition(partition).key(&key).payload(&value[..]).headers(headers);
        futures.push(enqueue(p, record).await);
    }
    let mut offsets = Vec::with_capacity(n);
    for f in futures {
        let delivery = f.await.expect("delivery not cancelled").expect("delivered");
        offsets.push(delivery.offset);
    }
    offsets
}

/// Enqueues without holding a borrow of the record (retries while the
/// client's queue is full).
async fn enqueue(p: &FutureProducer, mut record: FutureRecord<'_, String, [u8]>) -> rdkafka::producer::DeliveryFuture {
    loop {
        match p.send_result(record) {
            Ok(f) => return f,
            Err((e, r)) => {
                assert!(
                    matches!(
                        e,
                        rdkafka::error::KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull)
                    ),
                    "enqueue: {e}"
                );
                record = r;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
}

/// Consumes with assign() from the beginning until `expected` records.
fn consume(bootstrap: &str, topic: &str, partition: i32, expected: usize) -> Vec<(i64, String, Vec<u8>, String)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        // rust-rdkafka requires a group id even for assign(); with explicit
        // offsets and no commits, no group coordinator is ever needed.
        .set("group.id", "weir-tests-assign")
        .set("enable.auto.commit", "false")
        .set("fetch.message.max.bytes", "2097152")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Beginning).unwrap();
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let start = std::time::Instant::now();
    while out.len() < expected {
        assert!(start.elapsed() < TIMEOUT, "consumed {} of {expected} from {topic}-{partition}", out.len());
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let key = String::from_utf8(m.key().unwrap_or_default().to_vec()).unwrap();
                let header = m
                    .headers()
                    .and_then(|h| h.iter().find(|h| h.key == "idx"))
                    .and_then(|h| h.value.map(|v| String::from_utf8(v.to_vec()).unwrap()))
                    .unwrap_or_default();
                out.push((m.offset(), key, m.payload().unwrap_or_default().to_vec(), header));
            }
            Some(Err(e)) => panic!("consume error: {e}"),
            None => {}
        }
    }
    out
}

fn assert_records(records: &[(i64, String, Vec<u8>, String)], offsets: &[i64]) {
    assert_eq!(records.len(), offsets.len());
    for (i, (offset, key, value, header)) in records.iter().enumerate() {
        assert_eq!(*offset, offsets[i], "offset of record {i}");
        assert_eq!(key, &format!("key-{i}"));
        assert!(value.starts_with(format!("value-{i}-").as_bytes()), "value of record {i}");
        assert_eq!(header, &i.to_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_create_describe_delete() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = TestBroker::start_in(dir.path(), &[]).await;
    let bs = broker.bootstrap();
    create_topic(&bs, "orders", 3, &[("retention.ms", "3600000"), ("cleanup.policy", "delete")]).await;
    let a = admin(&bs);
    // Creating it again fails with TOPIC_ALREADY_EXISTS.
    let again =
        a.create_topics([&NewTopic::new("orders", 3, TopicReplication::Fixed(1))], &AdminOptions::new()).await.unwrap();
    assert!(matches!(&again[0], Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists))));
    // Replication factor beyond the live brokers.
    let rf = a
        .create_topics([&NewTopic::new("too-many", 1, TopicReplication::Fixed(3))], &AdminOptions::new())
        .await
        .unwrap();
    assert!(matches!(&rf[0], Err((_, rdkafka::types::RDKafkaErrorCode::InvalidReplicationFactor))));

    let metadata = {
        let c: BaseConsumer = ClientConfig::new().set("bootstrap.servers", &bs).create().unwrap();
        c.fetch_metadata(Some("orders"), TIMEOUT).unwrap()
    };
    assert_eq!(metadata.brokers().len(), 1);
    assert_eq!(metadata.topics()[0].partitions().len(), 3);
    for p in metadata.topics()[0].partitions() {
        assert_eq!(p.leader(), 1);
        assert_eq!(p.isr(), &[1]);
    }

    let configs = a.describe_configs([&ResourceSpecifier::Topic("orders")], &AdminOptions::new()).await.unwrap();
    let resource = configs[0].as_ref().expect("describe_configs");
    let entries = resource.entry_map();
    let retention = entries["retention.ms"];
    assert_eq!(retention.value.as_deref(), Some("3600000"));
    assert_eq!(retention.source, ConfigSource::DynamicTopic);
    let min_isr = entries["min.insync.replicas"];
    assert_eq!(min_isr.value.as_deref(), Some("1"));
    // A new cluster (ELR on) sets min.insync.replicas at cluster level
    // (Kafka 4.1), which topics inherit.
    assert_eq!(min_isr.source, ConfigSource::DynamicDefaultBroker);
    for name in ["segment.bytes", "cleanup.policy", "max.message.bytes", "message.timestamp.type", "compression.type"] {
        assert!(entries.contains_key(name), "{name} missing");
    }

    let deleted = a.delete_topics(&["orders"], &AdminOptions::new()).await.unwrap();
    assert!(deleted[0].is_ok());
    common::wait_until("topic dir removed", TIMEOUT, || {
        let gone = !dir.path().join("orders-0").exists();
        async move { gone }
    })
    .await;
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_and_consume_with_every_codec() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = TestBroker::start_in(dir.path(), &[]).await;
    let bs = broker.bootstrap();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("codec-{codec}");
        create_topic(&bs, &topic, 1, &[]).await;
        let p = producer(&bs, &[("compression.codec", codec), ("acks", "all")]);
        let offsets = produce_n(&p, &topic, 0, 500, 100).await;
        assert_eq!(offsets, (0..500).collect::<Vec<i64>>(), "{codec}");
        assert_records(&consume(&bs, &topic, 0, 500), &offsets);
    }
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_producer() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = TestBroker::start_in(dir.path(), &[]).await;
    let bs = broker.bootstrap();
    create_topic(&bs, "idem", 2, &[]).await;
    let p = producer(
        &bs,
        &[("enable.idempotence", "true"), ("max.in.flight.requests.per.connection", "5"), ("compression.codec", "lz4")],
    );
    let a = produce_n(&p, "idem", 0, 2000, 50).await;
    let b = produce_n(&p, "idem", 1, 1000, 50).await;
    assert_eq!(a, (0..2000).collect::<Vec<i64>>());
    assert_eq!(b, (0..1000).collect::<Vec<i64>>());
    assert_records(&consume(&bs, "idem", 0, 2000), &a);
    // The batches carry a producer id and sequences.
    let log = std::fs::read(dir.path().join("idem-0").join("00000000000000000000.log")).unwrap();
    let first = weir::record::batch::BatchView::parse_valid(&log).unwrap();
    assert!(first.producer_id() >= 0);
    assert_eq!(first.base_sequence(), 0);
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = TestBroker::start_in(dir.path(), &[]).await;
    let bs = broker.bootstrap();
    create_topic(&bs, "wide", 100, &[]).await;
    let p = producer(&bs, &[]);
    let mut futures = Vec::new();
    for part in 0..100 {
        for i in 0..10 {
            let key = format!("key-{i}");
            let value = format!("value-{i}-p{part}").into_bytes();
            let record = FutureRecord::to("wide").partition(part).key(&key).payload(&value[..]);
            futures.push((part, enqueue(&p, record).await));
        }
    }
    let mut per_partition: HashMap<i32, Vec<i64>> = HashMap::new();
    for (part, f) in futures {
        let d = f.await.expect("delivery not cancelled").expect("delivered");
        assert_eq!(d.partition, part);
        per_partition.entry(part).or_default().push(d.offset);
    }
    assert_eq!(per_partition.len(), 100);
    for offsets in per_partition.values() {
        assert_eq!(offsets, &(0..10).collect::<Vec<i64>>());
    }
    for part in [0, 37, 99] {
        let got = consume(&bs, "wide", part, 10);
        assert_eq!(got[9].2, format!("value-9-p{part}").into_bytes());
    }
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_megabyte_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = TestBroker::start_in(dir.path(), &[("message.max.bytes", "2000000")]).await;
    let bs = broker.bootstrap();
    create_topic(&bs, "big", 1, &[]).await;
    let p = producer(&bs, &[("message.max.bytes", "2000000")]);
    let offsets = produce_n(&p, "big", 0, 5, 1 << 20).await;
    let got = consume(&bs, "big", 0, 5);
    assert_records(&got, &offsets);
    assert!(got.iter().all(|r| r.2.len() == 1 << 20));
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_restart_keeps_data_at_the_same_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = TestBroker::start_in(dir.path(), &[]).await;
    let bs = broker.bootstrap();
    create_topic(&bs, "durable", 1, &[]).await;
    let offsets = produce_n(&producer(&bs, &[("acks", "all")]), "durable", 0, 300, 64).await;
    broker.stop().await;
    assert!(dir.path().join(".kafka_cleanshutdown").exists());
    let mut broker = TestBroker::start_in(dir.path(), &[]).await;
    let bs = broker.bootstrap();
    assert_records(&consume(&bs, "durable", 0, 300), &offsets);
    // New writes continue after the old ones.
    let more = produce_n(&producer(&bs, &[]), "durable", 0, 1, 8).await;
    assert_eq!(more, vec![300]);
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_keeps_acknowledged_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = BrokerProcess::spawn(dir.path(), &[]);
    let bs = broker.bootstrap();
    create_topic(&bs, "crash", 1, &[]).await;
    let p = producer(&bs, &[("acks", "all"), ("enable.idempotence", "true")]);
    let offsets = produce_n(&p, "crash", 0, 1000, 200).await;
    drop(p);
    broker.kill9();
    assert!(!dir.path().join(".kafka_cleanshutdown").exists());
    let broker = BrokerProcess::spawn(dir.path(), &[]);
    let bs = broker.bootstrap();
    assert_records(&consume(&bs, "crash", 0, 1000), &offsets);
    let more = produce_n(&producer(&bs, &[("enable.idempotence", "true")]), "crash", 0, 1, 8).await;
    assert_eq!(more, vec![1000]);
}
