//! The log managing itself, seen through real clients: retention by time
//! and size, DeleteRecords, and dynamic topic/broker configs that apply
//! live and survive restarts.

mod common;

use std::time::Duration;

use common::{wait_until, TestBroker};
use rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const TIMEOUT: Duration = Duration::from_secs(30);

fn admin(bs: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new().set("bootstrap.servers", bs).create().unwrap()
}

fn consumer(bs: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bs)
        .set("group.id", "weir-tests-assign")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap()
}

async fn create(bs: &str, name: &str, configs: &[(&str, &str)]) {
    let mut t = NewTopic::new(name, 1, TopicReplication::Fixed(1));
    for (k, v) in configs {
        t = t.set(k, v);
    }
    let r = admin(bs).create_topics([&t], &AdminOptions::new()).await.unwrap();
    assert!(r[0].is_ok(), "{:?}", r[0]);
}

/// Produces `n` records of `size` bytes, `acks=all`; returns the last offset.
async fn produce(bs: &str, topic: &str, n: usize, size: usize) -> i64 {
    let p: FutureProducer =
        ClientConfig::new().set("bootstrap.servers", bs).set("linger.ms", "5").set("acks", "all").create().unwrap();
    let value = vec![b'v'; size];
    let mut last = -1;
    for _ in 0..n {
        let d =
            p.send(FutureRecord::<(), _>::to(topic).partition(0).payload(&value), TIMEOUT).await.expect("delivered");
        last = d.offset;
    }
    last
}

fn watermarks(bs: &str, topic: &str) -> (i64, i64) {
    consumer(bs).fetch_watermarks(topic, 0, TIMEOUT).unwrap()
}

/// The first offset a consumer from the beginning receives.
fn first_consumed(bs: &str, topic: &str) -> i64 {
    let c = consumer(bs);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning).unwrap();
    c.assign(&tpl).unwrap();
    let start = std::time::Instant::now();
    loop {
        assert!(start.elapsed() < TIMEOUT, "nothing consumed");
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            use rdkafka::Message;
            return m.expect("message").offset();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_by_time_deletes_old_segments_and_moves_the_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = TestBroker::start_in(dir.path(), &[("log.retention.check.interval.ms", "100")]).await;
    let bs = broker.bootstrap();
    create(&bs, "expiring", &[("retention.ms", "1500")]).await;
    let last = produce(&bs, "expiring", 20, 100).await;
    assert_eq!(last, 19);
    // Everything expires: the active segment is rolled and deleted too.
    wait_until("log start offset to reach 20", TIMEOUT, || {
        let (low, high) = watermarks(&bs, "expiring");
        async move { low == 20 && high == 20 }
    })
    .await;
    // New writes continue at the old end and are consumable.
    assert_eq!(produce(&bs, "expiring", 1, 10).await, 20);
    assert_eq!(first_consumed(&bs, "expiring"), 20);
    broker.stop().await;
    // The log start offset survives a restart (log-start-offset-checkpoint).
    let mut broker = TestBroker::start_in(dir.path(), &[]).await;
    let (low, high) = watermarks(&broker.bootstrap(), "expiring");
    assert_eq!((low, high), (20, 21));
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_by_size_keeps_the_newest_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = TestBroker::start_in(dir.path(), &[("log.retention.check.interval.ms", "100")]).await;
    let bs = broker.bootstrap();
    // 1 MiB segments (Kafka's minimum), keep about 2 MiB.
    create(&bs, "sized", &[("segment.bytes", "1048576"), ("retention.bytes", "2097152")]).await;
    produce(&bs, "sized", 5 * 1024, 1000).await;
    wait_until("oldest segments deleted", TIMEOUT, || {
        let (low, _) = watermarks(&bs, "sized");
        async move { low > 0 }
    })
    .await;
    let (low, high) = watermarks(&bs, "sized");
    assert_eq!(high, 5 * 1024);
    // At most retention.bytes plus the active segment remain.
    let size: u64 = std::fs::read_dir(dir.path().join("sized-0"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(size <= 3 * 1048576, "{size} bytes left");
    assert!(size >= 2 * 1048576 - 100_000, "too much deleted: {size} bytes left");
    assert_eq!(first_consumed(&bs, "sized"), low);
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_records_moves_the_log_start_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = TestBroker::start_in(dir.path(), &[]).await;
    let bs = broker.bootstrap();
    create(&bs, "trimmed", &[]).await;
    produce(&bs, "trimmed", 50, 10).await;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("trimmed", 0, Offset::Offset(30)).unwrap();
    let res = admin(&bs).delete_records(&tpl, &AdminOptions::new()).await.unwrap();
    let p = res.find_partition("trimmed", 0).unwrap();
    assert!(p.error().is_ok(), "{:?}", p.error());
    assert_eq!(p.offset(), Offset::Offset(30));
    assert_eq!(watermarks(&bs, "trimmed"), (30, 50));
    assert_eq!(first_consumed(&bs, "trimmed"), 30);
    // Beyond the high watermark is OFFSET_OUT_OF_RANGE.
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("trimmed", 0, Offset::Offset(51)).unwrap();
    let res = admin(&bs).delete_records(&tpl, &AdminOptions::new()).await;
    let failed = match res {
        Ok(list) => list.find_partition("trimmed", 0).unwrap().error().is_err(),
        Err(_) => true,
    };
    assert!(failed);
    broker.stop().await;
    let mut broker = TestBroker::start_in(dir.path(), &[]).await;
    assert_eq!(watermarks(&broker.bootstrap(), "trimmed"), (30, 50));
    broker.stop().await;
}

async fn topic_config(bs: &str, topic: &str, name: &str) -> (Option<String>, String) {
    let r = admin(bs).describe_configs([&ResourceSpecifier::Topic(topic)], &AdminOptions::new()).await.unwrap();
    let res = r[0].as_ref().unwrap();
    let e = res.get(name).unwrap();
    (e.value.clone(), format!("{:?}", e.source))
}

/// IncrementalAlterConfigs SET of one key; returns the resource's error code.
async fn incremental_alter(bs: &str, resource_type: i8, resource: &str, key: &str, value: &str) -> i16 {
    use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    use kafka_protocol::messages::{ApiKey, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
    use kafka_protocol::protocol::StrBytes;
    let mut c = weir::wire::client::BrokerClient::connect(bs, "test").await.unwrap();
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
        .with_resource_type(resource_type)
        .with_resource_name(StrBytes::from_string(resource.into()))
        .with_configs(vec![AlterableConfig::default()
            .with_name(StrBytes::from_string(key.into()))
            .with_config_operation(0)
            .with_value(Some(StrBytes::from_string(value.into())))])]);
    let resp: IncrementalAlterConfigsResponse = c.send(ApiKey::IncrementalAlterConfigs, 1, &req).await.unwrap();
    resp.responses[0].error_code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_topic_configs_apply_live_and_persist() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = TestBroker::start_in(dir.path(), &[("log.retention.check.interval.ms", "100")]).await;
    let bs = broker.bootstrap();
    create(&bs, "tuned", &[]).await;
    assert_eq!(topic_config(&bs, "tuned", "retention.ms").await, (Some("604800000".into()), "Default".to_string()));
    let alter = AlterConfig::new(ResourceSpecifier::Topic("tuned")).set("retention.ms", "1000");
    let r = admin(&bs).alter_configs([&alter], &AdminOptions::new()).await.unwrap();
    assert!(r[0].is_ok(), "{:?}", r[0]);
    assert_eq!(topic_config(&bs, "tuned", "retention.ms").await, (Some("1000".into()), "DynamicTopic".to_string()));
    // Invalid values are refused with INVALID_CONFIG (rust-rdkafka drops
    // per-resource errors of AlterConfigs, so ask at the protocol level).
    assert_eq!(incremental_alter(&bs, 2, "tuned", "retention.ms", "soon").await, 40);
    assert_eq!(topic_config(&bs, "tuned", "retention.ms").await.0.as_deref(), Some("1000"));
    // The new retention applies on the next check.
    produce(&bs, "tuned", 5, 10).await;
    wait_until("retention applies", TIMEOUT, || {
        let (low, _) = watermarks(&bs, "tuned");
        async move { low == 5 }
    })
    .await;
    broker.stop().await;
    let mut broker = TestBroker::start_in(dir.path(), &[]).await;
    let bs = broker.bootstrap();
    assert_eq!(topic_config(&bs, "tuned", "retention.ms").await, (Some("1000".into()), "DynamicTopic".to_string()));
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_broker_default_reaches_topics() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = TestBroker::start_in(dir.path(), &[]).await;
    let bs = broker.bootstrap();
    create(&bs, "inherits", &[]).await;
    let alter = AlterConfig::new(ResourceSpecifier::Broker(1)).set("log.retention.ms", "7200000");
    let r = admin(&bs).alter_configs([&alter], &AdminOptions::new()).await.unwrap();
    assert!(r[0].is_ok(), "{:?}", r[0]);
    assert_eq!(
        topic_config(&bs, "inherits", "retention.ms").await,
        (Some("7200000".into()), "DynamicBroker".to_string())
    );
    // A static-only broker config cannot be changed at runtime.
    assert_eq!(incremental_alter(&bs, 4, "1", "listeners", "PLAINTEXT://:1").await, 42);
    // The cluster-wide default (resource name "") applies too.
    assert_eq!(incremental_alter(&bs, 4, "", "log.retention.ms", "3600000").await, 0);
    broker.stop().await;
}

/// `flush.messages=1`: every acknowledged record is already on disk (the
/// recovery point has passed it) when its acknowledgement arrives; the
/// fsyncs are grouped, never run under the log lock per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_messages_acknowledges_only_durable_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = TestBroker::start_in(dir.path(), &[]).await;
    let bs = broker.bootstrap();
    create(&bs, "durable", &[("flush.messages", "1")]).await;
    let partition = {
        let b = broker.server.as_ref().unwrap().broker.as_ref().unwrap();
        let tp = weir::storage::TopicPartition::new("durable", 0);
        let rm = b.replica_manager.clone();
        wait_until("the partition is hosted", TIMEOUT, || {
            let rm = rm.clone();
            let tp = tp.clone();
            async move { rm.get(&tp).is_some() }
        })
        .await;
        rm.get(&tp).unwrap()
    };
    for acks in ["1", "all"] {
        let p: FutureProducer =
            ClientConfig::new().set("bootstrap.servers", &bs).set("linger.ms", "0").set("acks", acks).create().unwrap();
        // Concurrent sends, so appends share group commits.
        let values: Vec<String> = (0..200).map(|i| format!("v{i}")).collect();
        let sends: Vec<_> = values
            .iter()
            .map(|v| p.send(FutureRecord::<(), _>::to("durable").partition(0).payload(v), TIMEOUT))
            .collect();
        for s in sends {
            let d = s.await.expect("delivered");
            let durable = partition.log().lock().unwrap().recovery_point();
            assert!(
                durable > d.offset,
                "acks={acks}: offset {} acknowledged before it was flushed ({durable})",
                d.offset
            );
        }
    }
    broker.stop().await;
}
