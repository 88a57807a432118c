//! Disk faults on a real broker process: its log directory is a small
//! tmpfs (made and removed by the test; skipped with a message where
//! mounting is not permitted) that the test fills up. A produce that cannot
//! be written is refused with KAFKA_STORAGE_ERROR, the broker keeps
//! answering, nothing acknowledged is lost or damaged, and once space is
//! free again (and after a kill -9 and restart) the partition takes writes and serves
//! every acknowledged record at its offset.

mod common;

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, BrokerId, FetchRequest, FetchResponse, ProduceRequest,
    ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use weir::record::batch::BatchIter;
use weir::record::records::{decode_records, BatchBuilder, Record};
use weir::wire::client::BrokerClient;

use common::{BrokerProcess, Tmpfs};

const TIMEOUT: Duration = Duration::from_secs(30);
const RECORD: usize = 64 * 1024;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn tn(v: &str) -> TopicName {
    TopicName(StrBytes::from_string(v.to_string()))
}

fn value(i: usize) -> Vec<u8> {
    let mut v = format!("record-{i}-").into_bytes();
    v.resize(RECORD, (i % 251) as u8);
    v
}

async fn produce(c: &mut BrokerClient, i: usize) -> (i16, i64) {
    let mut b = BatchBuilder::new(0, now_ms());
    b.push(Record::new(None, Some(value(i)), now_ms()));
    let req = ProduceRequest::default().with_acks(-1).with_timeout_ms(10_000).with_topic_data(vec![
        TopicProduceData::default()
            .with_name(tn("full"))
            .with_partition_data(vec![PartitionProduceData::default().with_index(0).with_records(Some(b.build()))]),
    ]);
    let resp: ProduceResponse = tokio::time::timeout(TIMEOUT, c.send(ApiKey::Produce, 9, &req))
        .await
        .expect("produce answered in time")
        .expect("produce answered, connection open");
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// Every record of the partition from offset 0, by fetching.
async fn read_all(c: &mut BrokerClient) -> Vec<(i64, Vec<u8>)> {
    let mut out = Vec::new();
    loop {
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(0)
            .with_max_bytes(16 << 20)
            .with_topics(vec![FetchTopic::default().with_topic(tn("full")).with_partitions(vec![
                FetchPartition::default()
                    .with_partition(0)
                    .with_fetch_offset(out.len() as i64)
                    .with_partition_max_bytes(4 << 20),
            ])]);
        let resp: FetchResponse = c.send(ApiKey::Fetch, 12, &req).await.expect("fetch");
        let p = &resp.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "fetch error");
        let records = p.records.clone().unwrap_or_default();
        let before = out.len();
        for item in BatchIter::new(&records, true) {
            let (_, view) = match item {
                Ok(v) => v,
                Err(_) => break,
            };
            for r in decode_records(&view).expect("stored records decode") {
                if r.offset >= out.len() as i64 {
                    out.push((r.offset, r.value.unwrap_or_default()));
                }
            }
        }
        if out.len() == before || out.len() as i64 >= p.high_watermark {
            return out;
        }
    }
}

fn api_versions_request() -> ApiVersionsRequest {
    ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("weir-tests"))
        .with_client_software_version(StrBytes::from_static_str("1.0"))
}

async fn healthy(c: &mut BrokerClient) {
    let r: ApiVersionsResponse = c.send(ApiKey::ApiVersions, 3, &api_versions_request()).await.expect("broker answers");
    assert_eq!(r.error_code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_log_dir_refuses_writes_and_loses_nothing() {
    let root = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&root.path().join("data"), 24) else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root); disk-fault test not run");
        return;
    };
    let data = fs.0.clone();
    let meta = root.path().join("meta");
    let overrides = [
        ("metadata.log.dir", meta.to_str().unwrap()),
        ("log.dirs", data.to_str().unwrap()),
        ("log.segment.bytes", "4194304"),
    ];
    let mut broker = BrokerProcess::spawn(&data, &overrides);
    let mut c = BrokerClient::connect(&broker.bootstrap(), "disk-faults").await.unwrap();
    common::create_topic_raw(&mut c, "full", &[]).await;

    // Leave a few MiB free, held by a filler file the test removes later.
    let filler = fs.fill("filler", 3 << 20);

    // Produce until the disk refuses.
    let mut acked: Vec<(i64, usize)> = Vec::new();
    let mut refused = 0;
    for i in 0..200 {
        let (code, offset) = produce(&mut c, i).await;
        if code == 0 {
            assert_eq!(offset, acked.len() as i64, "offsets stay dense");
            acked.push((offset, i));
        } else {
            assert_eq!(code, ResponseError::KafkaStorageError.code(), "a full disk answers KAFKA_STORAGE_ERROR");
            refused += 1;
            if refused >= 3 {
                break;
            }
        }
    }
    assert!(refused >= 3, "the disk never filled ({} records acknowledged)", acked.len());
    assert!(!acked.is_empty());
    healthy(&mut c).await;
    // What was acknowledged is still served, exactly.
    let got = read_all(&mut c).await;
    assert_eq!(got.len(), acked.len(), "served records = acknowledged records while the disk is full");
    for ((o, v), (ao, i)) in got.iter().zip(&acked) {
        assert_eq!((o, v), (ao, &value(*i)), "record at offset {ao}");
    }

    // Space again: writes succeed (at once, or after a restart), and the
    // log holds exactly the acknowledged records followed by the new ones.
    std::fs::remove_file(&filler).unwrap();
    let mut next = 1_000;
    let mut recovered = false;
    for _ in 0..3 {
        let (code, offset) = produce(&mut c, next).await;
        if code == 0 {
            assert_eq!(offset, acked.len() as i64, "the first write after the fault continues the log");
            acked.push((offset, next));
            next += 1;
            recovered = true;
            break;
        }
    }
    eprintln!(
        "{} records acknowledged, {refused} refused with KAFKA_STORAGE_ERROR; writes resumed without a restart: {recovered}",
        acked.len()
    );
    // kill -9: recovery must find the acknowledged records intact.
    broker.kill9();
    let mut broker = BrokerProcess::spawn(&data, &overrides);
    let mut c = BrokerClient::connect(&broker.bootstrap(), "disk-faults").await.unwrap();
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let (code, offset) = produce(&mut c, next).await;
        if code == 0 {
            assert_eq!(offset, acked.len() as i64, "after restart the log continues at the acknowledged end");
            acked.push((offset, next));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no write accepted after restart: error {code}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = read_all(&mut c).await;
    let want: Vec<(i64, Vec<u8>)> = acked.iter().map(|(o, i)| (*o, value(*i))).collect();
    assert_eq!(got.len(), want.len(), "recovered without restart: {recovered}");
    assert!(got == want, "served records differ from the acknowledged ones");
    broker.kill9();
}

/// A metadata log damaged past what recovery can keep stops the node with
/// an error that says so, not with the Raft engine's "Failed to get log
/// entries".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_metadata_log_is_reported_in_plain_words() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let mut broker = BrokerProcess::spawn(&data, &[]);
    let mut c = BrokerClient::connect(&broker.bootstrap(), "disk-faults").await.unwrap();
    common::create_topic_raw(&mut c, "full", &[]).await;
    broker.terminate();

    // Flip a byte inside the first batch of the metadata log: recovery
    // must cut the log there, losing committed entries.
    let segment = data.join("__cluster_metadata-0").join("00000000000000000000.log");
    let mut bytes = std::fs::read(&segment).unwrap();
    assert!(bytes.len() > 100, "metadata log holds entries");
    bytes[80] ^= 0xff;
    std::fs::write(&segment, bytes).unwrap();

    let out = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
            .arg("serve")
            .arg("--override")
            .arg("listeners=PLAINTEXT://127.0.0.1:0")
            .arg("--override")
            .arg(format!("log.dirs={}", data.display()))
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn weir");
        let deadline = std::time::Instant::now() + TIMEOUT;
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("a node with a damaged metadata log kept running");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the metadata log is damaged"), "stderr: {stderr}");
}
