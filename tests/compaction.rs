//! Log compaction seen through real clients: a broker whose cleaner runs
//! every few milliseconds, rdkafka producers writing many updates over few
//! keys, and rdkafka consumers reading the compacted log from the start.
//! Checks the latest value per key at the offset it was acknowledged at,
//! fetches and ListOffsets across offset gaps, tombstones kept until
//! `delete.retention.ms` and dropped after, the cleaner checkpoint and the
//! compacted log surviving clean and kill -9 restarts, and retention still
//! applying to `compact,delete`.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{wait_until, BrokerProcess, TestBroker};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const TIMEOUT: Duration = Duration::from_secs(60);
/// The cleaner looks for work every 50 ms; retention every 100 ms.
const BROKER: &[(&str, &str)] = &[("log.cleaner.backoff.ms", "50"), ("log.retention.check.interval.ms", "100")];

/// What a record was acknowledged as: offset -> (key, value).
type Acked = BTreeMap<i64, (String, Option<Vec<u8>>)>;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn admin(bs: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new().set("bootstrap.servers", bs).create().unwrap()
}

async fn create(bs: &str, name: &str, configs: &[(&str, &str)]) {
    let mut t = NewTopic::new(name, 1, TopicReplication::Fixed(1));
    for (k, v) in configs {
        t = t.set(k, v);
    }
    let r = admin(bs).create_topics([&t], &AdminOptions::new()).await.unwrap();
    assert!(r[0].is_ok(), "{:?}", r[0]);
}

fn producer(bs: &str, extra: &[(&str, &str)]) -> FutureProducer {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bs).set("linger.ms", "5").set("acks", "all").set("message.timeout.ms", "30000");
    for (k, v) in extra {
        c.set(*k, *v);
    }
    c.create().unwrap()
}

/// Sends every (key, value, timestamp) and waits for all acknowledgements;
/// records each acknowledged offset in `acked`.
async fn produce(p: &FutureProducer, topic: &str, records: Vec<(String, Option<Vec<u8>>, i64)>, acked: &mut Acked) {
    let mut pending = Vec::with_capacity(records.len());
    for (key, value, ts) in records {
        let fut = loop {
            let mut r: FutureRecord<String, Vec<u8>> = FutureRecord::to(topic).partition(0).key(&key).timestamp(ts);
            if let Some(v) = &value {
                r = r.payload(v);
            }
            match p.send_result(r) {
                Ok(f) => break f,
                Err((e, _)) => {
                    assert!(
                        matches!(
                            e,
                            rdkafka::error::KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull)
                        ),
                        "enqueue: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        };
        pending.push((key, value, fut));
    }
    for (key, value, fut) in pending {
        let offset = fut.await.expect("not cancelled").expect("delivered").offset;
        assert!(acked.insert(offset, (key, value)).is_none(), "offset {offset} acknowledged twice");
    }
}

/// `n` updates spread over `keys` keys, values of `size` bytes naming their
/// sequence number, timestamps `ts0 + i`.
fn updates(from: usize, n: usize, keys: usize, size: usize, ts0: i64) -> Vec<(String, Option<Vec<u8>>, i64)> {
    (from..from + n)
        .map(|i| {
            // Incompressible filler, so segments roll by size whatever the codec.
            let mut v = format!("update-{i}-").into_bytes();
            let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            while v.len() < size {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                v.push(x as u8);
            }
            (format!("key-{:04}", i % keys), Some(v), ts0 + i as i64)
        })
        .collect()
}

/// `n` updates of one key that is never deleted, to fill segments.
fn filler(from: usize, n: usize, ts0: i64) -> Vec<(String, Option<Vec<u8>>, i64)> {
    updates(from, n, 1, 1000, ts0).into_iter().map(|(_, v, ts)| ("filler".to_string(), v, ts)).collect()
}

fn consumer(bs: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bs)
        .set("group.id", "weir-compaction-tests")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap()
}

/// Everything a consumer reads from `start` to the partition's end.
fn consume_from(bs: &str, topic: &str, start: Offset) -> Acked {
    let c = consumer(bs);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, start).unwrap();
    c.assign(&tpl).unwrap();
    let (_, high) = c.fetch_watermarks(topic, 0, TIMEOUT).unwrap();
    let mut out = Acked::new();
    let started = std::time::Instant::now();
    loop {
        assert!(started.elapsed() < TIMEOUT, "consumed {} records of {topic}, never reached {high}", out.len());
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let key = String::from_utf8(m.key().expect("keyed").to_vec()).unwrap();
                assert!(out.insert(m.offset(), (key, m.payload().map(<[u8]>::to_vec))).is_none());
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_)))
                if c.position().unwrap().find_partition(topic, 0).unwrap().offset() == Offset::Offset(high) =>
            {
                return out;
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => {}
            Some(Err(e)) => panic!("consume {topic}: {e}"),
            None => {}
        }
    }
}

/// The latest record of each key below `clean_end`, and every record from it.
fn expected_after_compaction(acked: &Acked, clean_end: i64, drop_tombstones: bool) -> Acked {
    let mut latest: HashMap<&str, i64> = HashMap::new();
    for (o, (k, _)) in acked.range(..clean_end) {
        latest.insert(k, *o);
    }
    let mut out: Acked =
        latest.values().map(|o| (*o, acked[o].clone())).filter(|(_, (_, v))| !drop_tombstones || v.is_some()).collect();
    out.extend(acked.range(clean_end..).map(|(o, r)| (*o, r.clone())));
    out
}

/// The topic's entry in the cleaner-offset-checkpoint file.
fn cleaner_checkpoint(dir: &Path, topic: &str) -> Option<i64> {
    let text = std::fs::read_to_string(dir.join("cleaner-offset-checkpoint")).ok()?;
    text.lines().skip(2).find_map(|l| {
        let mut parts = l.split_whitespace();
        (parts.next() == Some(topic) && parts.next() == Some("0")).then(|| parts.next()?.parse().ok())?
    })
}

/// Base offsets of the partition's segments, and their total size.
fn segments(dir: &Path, topic: &str) -> (Vec<i64>, u64) {
    let mut bases = Vec::new();
    let mut size = 0;
    for e in std::fs::read_dir(dir.join(format!("{topic}-0"))).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".log") {
            bases.push(stem.parse::<i64>().unwrap());
            size += e.metadata().map(|m| m.len()).unwrap_or(0);
        }
    }
    bases.sort_unstable();
    (bases, size)
}

/// Waits until everything below the active segment has been cleaned:
/// returns that offset (the cleaner checkpoint).
async fn wait_compacted(dir: &Path, topic: &str, at_least: i64) -> i64 {
    let mut done = 0;
    wait_until("the cleaner to reach the active segment", TIMEOUT, || {
        let (bases, _) = segments(dir, topic);
        let active = *bases.last().unwrap();
        let cp = cleaner_checkpoint(dir, topic).unwrap_or(-1);
        done = cp;
        async move { cp >= at_least && cp == active }
    })
    .await;
    done
}

const COMPACTED: &[(&str, &str)] =
    &[("cleanup.policy", "compact"), ("segment.bytes", "1048576"), ("min.cleanable.dirty.ratio", "0.01")];

/// `delete.retention.ms` of the tombstone test.
const DELETE_RETENTION_MS: i64 = 5000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_keeps_the_latest_value_per_key_at_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = TestBroker::start_in(dir.path(), BROKER).await;
    let bs = broker.bootstrap();
    create(&bs, "compacted", COMPACTED).await;
    let p = producer(&bs, &[("enable.idempotence", "true"), ("compression.codec", "lz4"), ("batch.num.messages", "8")]);
    let mut acked = Acked::new();
    let ts0 = now_ms() - 600_000;
    // ~4.5 MB of updates over 20 keys: four full segments and an active one.
    produce(&p, "compacted", updates(0, 4500, 20, 1000, ts0), &mut acked).await;
    // Tombstones for two keys, then more updates so they land in a
    // cleanable segment.
    let tombstones = vec![("key-0003".to_string(), None, ts0 + 5000), ("key-0007".to_string(), None, ts0 + 5001)];
    produce(&p, "compacted", tombstones, &mut acked).await;
    produce(&p, "compacted", filler(6000, 1200, ts0 + 6000), &mut acked).await;

    let clean_end = wait_compacted(dir.path(), "compacted", 4000).await;
    // About 6 MB written; left: the active segment (< 1 MiB) and the
    // latest record of each key.
    let (_, size_after) = segments(dir.path(), "compacted");
    assert!(size_after < 2 << 20, "{size_after} bytes left");

    // A consumer from the start sees exactly the latest record per key
    // (tombstones included, delete.retention.ms has not passed yet), each
    // at the offset it was acknowledged at, then the active segment.
    let expected = expected_after_compaction(&acked, clean_end, false);
    let consumed = consume_from(&bs, "compacted", Offset::Beginning);
    assert_eq!(consumed.len(), expected.len());
    assert_eq!(consumed, expected);
    assert!(consumed.values().any(|(k, v)| k == "key-0003" && v.is_none()), "tombstone kept");

    // A fetch from an offset compaction removed starts at the next record.
    let removed = (0..clean_end).find(|o| !expected.contains_key(o)).unwrap();
    let next = *expected.range(removed..).next().unwrap().0;
    let from_gap = consume_from(&bs, "compacted", Offset::Offset(removed));
    assert_eq!(from_gap.keys().next(), Some(&next));
    // ListOffsets by timestamp answers the first remaining record at or after it.
    let c = consumer(&bs);
    let mut q = TopicPartitionList::new();
    q.add_partition_offset("compacted", 0, Offset::Offset(ts0 + removed)).unwrap();
    let found = c.offsets_for_times(q, TIMEOUT).unwrap();
    assert_eq!(found.find_partition("compacted", 0).unwrap().offset(), Offset::Offset(next));
    assert_eq!(c.fetch_watermarks("compacted", 0, TIMEOUT).unwrap(), (0, *acked.keys().last().unwrap() + 1));

    // The idempotent producer goes on after compaction without a sequence error.
    produce(&p, "compacted", updates(9000, 10, 20, 100, ts0 + 9000), &mut acked).await;

    // The compacted log and the checkpoint survive a restart.
    broker.stop().await;
    let mut broker = TestBroker::start_in(dir.path(), &[("log.cleaner.enable", "false")]).await;
    let bs = broker.bootstrap();
    assert_eq!(cleaner_checkpoint(dir.path(), "compacted"), Some(clean_end));
    let expected = expected_after_compaction(&acked, clean_end, false);
    assert_eq!(consume_from(&bs, "compacted", Offset::Beginning), expected);
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tombstones_go_after_delete_retention() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = TestBroker::start_in(dir.path(), BROKER).await;
    let bs = broker.bootstrap();
    let retention = DELETE_RETENTION_MS.to_string();
    let mut configs = COMPACTED.to_vec();
    configs.push(("delete.retention.ms", &retention));
    create(&bs, "deletes", &configs).await;
    let p = producer(&bs, &[("compression.codec", "zstd")]);
    let mut acked = Acked::new();
    let ts0 = now_ms() - 600_000;
    produce(&p, "deletes", updates(0, 600, 10, 1000, ts0), &mut acked).await;
    let tombstones: Vec<_> = (0..5).map(|k| (format!("key-{k:04}"), None, ts0 + 700)).collect();
    produce(&p, "deletes", tombstones, &mut acked).await;
    produce(&p, "deletes", filler(1000, 600, ts0 + 1000), &mut acked).await;
    let first = wait_compacted(dir.path(), "deletes", 600).await;
    let seen_at = now_ms();
    let consumed = consume_from(&bs, "deletes", Offset::Beginning);
    assert_eq!(consumed, expected_after_compaction(&acked, first, false));
    assert_eq!(consumed.values().filter(|(_, v)| v.is_none()).count(), 5);

    // Once delete.retention.ms has passed since the cleaning that first kept
    // them, the next cleaning drops them (new data makes the log dirty).
    wait_until("the delete horizon to pass", TIMEOUT, || async move { now_ms() > seen_at + DELETE_RETENTION_MS }).await;
    produce(&p, "deletes", filler(2000, 1200, ts0 + 2000), &mut acked).await;
    let second = wait_compacted(dir.path(), "deletes", first + 1).await;
    let consumed = consume_from(&bs, "deletes", Offset::Beginning);
    assert_eq!(consumed, expected_after_compaction(&acked, second, true));
    assert!(consumed.values().all(|(_, v)| v.is_some()), "tombstones removed");
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compacted_log_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut extra: Vec<(&str, &str)> = BROKER.to_vec();
    // Keep the recovery-point checkpoint from covering the cleaned
    // segments: after the kill, recovery rescans them, offset gaps and all.
    extra.push(("log.flush.offset.checkpoint.interval.ms", "3600000"));
    let mut broker = BrokerProcess::spawn(dir.path(), &extra);
    let bs = broker.bootstrap();
    create(&bs, "crashy", COMPACTED).await;
    // Small batches: compaction drops whole batches, leaving offset gaps.
    let p = producer(&bs, &[("batch.num.messages", "4")]);
    let mut acked = Acked::new();
    produce(&p, "crashy", updates(0, 3000, 15, 1000, now_ms() - 60_000), &mut acked).await;
    let clean_end = wait_compacted(dir.path(), "crashy", 2000).await;
    let expected = expected_after_compaction(&acked, clean_end, false);
    assert_eq!(consume_from(&bs, "crashy", Offset::Beginning), expected);
    drop(p);
    broker.kill9();
    let mut broker = BrokerProcess::spawn(dir.path(), &[("log.cleaner.enable", "false")]);
    let bs = broker.bootstrap();
    assert_eq!(consume_from(&bs, "crashy", Offset::Beginning), expected);
    broker.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compact_delete_still_applies_retention() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = TestBroker::start_in(dir.path(), BROKER).await;
    let bs = broker.bootstrap();
    let mut configs = COMPACTED.to_vec();
    configs[0] = ("cleanup.policy", "compact,delete");
    configs.push(("retention.ms", "600000"));
    create(&bs, "both", &configs).await;
    let p = producer(&bs, &[]);
    let mut acked = Acked::new();
    // Two hours old: past retention.ms. Distinct keys, so that compaction
    // (which may run first) keeps every record with its old timestamp: an
    // emptied segment would be judged by its file's modification time, as
    // in Kafka.
    produce(&p, "both", updates(0, 2500, 2500, 1000, now_ms() - 7_200_000), &mut acked).await;
    let end = *acked.keys().last().unwrap() + 1;
    wait_until("retention to delete every old segment", TIMEOUT, || {
        let (low, high) = consumer(&bs).fetch_watermarks("both", 0, TIMEOUT).unwrap();
        async move { low == end && high == end }
    })
    .await;
    // Fresh data is kept, and compacted.
    acked.clear();
    produce(&p, "both", updates(5000, 2500, 10, 1000, now_ms()), &mut acked).await;
    let clean_end = wait_compacted(dir.path(), "both", end + 1000).await;
    let consumed = consume_from(&bs, "both", Offset::Beginning);
    assert_eq!(consumed, expected_after_compaction(&acked, clean_end, false));
    assert!(*consumed.keys().next().unwrap() >= end);
    broker.stop().await;
}
